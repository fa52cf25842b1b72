// rospki's side of the differential tests: what rospki's own parsers make of a file, as the
// facts of fuzz-facts.ts. Run as a program it is the fuzz test's worker: one JSON job per
// line on stdin ({ id, kind, file, password }), one JSON verdict per line on stdout, so the
// test can stop it and name the input when a parse does not end (a hang).
import { createHash, createPrivateKey } from 'node:crypto';
import { readFileSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { PkiError, exportPkcs8Der, exportSpkiDer, importPkcs8Der, importPrivateKey, isPem, keyInfo, nameAttributes, parseCertificate, pemDecode } from '../../src/pki/index.js';
import { parseCrl } from '../../src/pki/crl.js';
import { parseCsr } from '../../src/pki/csr.js';
import { parsePkcs12 } from '../../src/pki/pkcs12.js';
import { berToDer, needsNormalising } from '../../src/pki/ber.js';
import { decryptEnvelopedData, parseEnvelopedData, parseSignedData, signerCertificate, verifySigner, certificatePublicKey } from '../../src/pki/cms.js';
import { parsePkiMessage } from '../../src/pki/scep-message.js';
import { CMS_RECIPIENT } from './fixtures.js';
import { sanEntry, type Facts, type Kind, type Name } from './fuzz-facts.js';

export type Verdict =
  | { outcome: 'ok'; facts: Facts; ms: number }
  | { outcome: 'reject'; error: string; ms: number }
  /** Anything but a PkiError: a bug. */
  | { outcome: 'crash'; error: string; ms: number };

const CERT_LABELS = ['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE'];
const CSR_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];

/** The DER of the first PEM block with one of `labels`, or the input itself when it is not PEM. */
function derOf(data: Buffer, labels: string[]): Buffer {
  if (!isPem(data)) return data;
  const block = pemDecode(data).find((b) => labels.includes(b.label));
  if (!block) throw new PkiError('bad-pem', `no ${labels[0]} PEM block`);
  return block.der;
}

function nameOf(der: Buffer): Name {
  const out: Name = [];
  for (const a of nameAttributes(der)) (out[a.rdn] ??= []).push({ type: a.oid, value: a.value });
  return out.filter((rdn) => rdn !== undefined);
}

const hex = (b: Buffer) => b.toString('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The corpus's CMS recipient (read once per process). */
let recipient: { certificate: Buffer; key: ReturnType<typeof createPrivateKey> } | undefined;
function cmsRecipient() {
  recipient ??= {
    certificate: pemDecode(readFileSync(CMS_RECIPIENT.certificate))[0]!.der,
    key: createPrivateKey(readFileSync(CMS_RECIPIENT.key)),
  };
  return recipient;
}

/** The SKI of a certificate, for signers named by it. */
const skiOf = (c: Buffer): Buffer | undefined => {
  try { const s = parseCertificate(c).skid; return s ? Buffer.from(s, 'hex') : undefined; } catch { return undefined; }
};

/** rospki's facts of one file of a kind (throws what the parsers throw). */
export async function rospkiFacts(kind: Kind, data: Buffer, password = ''): Promise<Facts> {
  switch (kind) {
    case 'cert': {
      const c = parseCertificate(derOf(data, CERT_LABELS));
      return {
        kind, serial: c.serialNumber, notBefore: c.notBefore, notAfter: c.notAfter,
        subject: nameOf(c.subjectDer), issuer: nameOf(c.issuerDer),
        san: c.subjectAltNames.map((g) => sanEntry(g.type, g.value)), keyUsage: [...c.keyUsage].sort(), ca: c.isCA,
      };
    }
    case 'crl': {
      const c = parseCrl(derOf(data, ['X509 CRL']));
      return {
        kind, issuer: nameOf(c.issuerDer), thisUpdate: c.thisUpdate, nextUpdate: c.nextUpdate ?? null,
        crlNumber: c.crlNumber, revoked: [...c.revoked].sort(),
      };
    }
    case 'csr': {
      const c = parseCsr(derOf(data, CSR_LABELS));
      return {
        kind, subject: nameOf(c.subjectDer), san: c.subjectAltNames.map((g) => sanEntry(g.type, g.value)),
        keyUsage: [...c.keyUsage].sort(), keyType: c.keyType, keySize: c.keySize,
      };
    }
    case 'key': {
      const key = importPrivateKey(data, password);
      const info = keyInfo(key);
      return { kind, keyType: info.keyType, keySize: info.keySize, spki: hex(exportSpkiDer(key)) };
    }
    case 'p12': {
      const p = parsePkcs12(data, password);
      // As import does: every certificate is read, every key imported.
      for (const c of p.certificates) parseCertificate(c.der);
      // (import.ts's order: the PKCS#8 export refuses a key node's JWK export would abort on)
      const keys = p.keys.map((k) => { const key = importPkcs8Der(k.pkcs8); exportPkcs8Der(key); return hex(exportSpkiDer(key)); });
      return { kind, certificates: p.certificates.map((c) => sha256(c.der)).sort(), firstKey: keys[0] ?? '' };
    }
    case 'p7s': {
      // What the SCEP server and client read: BER rewritten as DER, then the strict reader.
      const der = needsNormalising(data) ? berToDer(data) : data;
      const sd = parseSignedData(der);
      // The SCEP reader over the same bytes: it may refuse (no SCEP attributes), never crash.
      try { parsePkiMessage(data); } catch (e) { if (!(e instanceof PkiError)) throw e; }
      const verified = sd.signers.length > 0 && sd.signers.every((signer) => {
        const cert = signerCertificate(sd, signer, skiOf);
        if (!cert) return false;
        try { return verifySigner(sd, signer, certificatePublicKey(cert)); } catch { return false; }
      });
      return { kind, verified, content: verified && sd.content && sd.content.length > 0 ? sha256(sd.content) : '', certificates: sd.certificates.map(sha256).sort() };
    }
    case 'p7m': {
      const env = parseEnvelopedData(needsNormalising(data) ? berToDer(data) : data);
      const r = cmsRecipient();
      const opened = await decryptEnvelopedData(env, { certificate: r.certificate, privateKey: r.key });
      // A bad key block gives a stand-in key (implicit rejection): its content is no content.
      if (!opened.keyValid) throw new PkiError('bad-key', 'the content cannot be decrypted (stand-in key)');
      return { kind, content: sha256(opened.content) };
    }
  }
}

/** Runs rospkiFacts and classifies the outcome: PkiError is a refusal, anything else a crash. */
export async function verdict(kind: Kind, data: Buffer, password?: string): Promise<Verdict> {
  const start = performance.now();
  try {
    const facts = await rospkiFacts(kind, data, password);
    return { outcome: 'ok', facts, ms: performance.now() - start };
  } catch (e) {
    const ms = performance.now() - start;
    if (e instanceof PkiError) return { outcome: 'reject', error: e.message, ms };
    const err = e as Error;
    return { outcome: 'crash', error: `${err?.name}: ${err?.message}\n${err?.stack?.split('\n').slice(1, 4).join('\n')}`, ms };
  }
}

/**
 * Writes to stdout at once (not queued as process.stdout does): an input that aborts the
 * process must not take the verdicts before it along.
 */
function writeAll(text: string): void {
  let b = Buffer.from(text);
  while (b.length) {
    try {
      b = b.subarray(writeSync(1, b));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // the pipe is full: the parent is reading
    }
  }
}

// Worker mode.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rl = createInterface({ input: process.stdin });
  // One job at a time, in order (a verdict may wait for a decryption).
  let queue = Promise.resolve();
  rl.on('line', (line) => {
    const job = JSON.parse(line) as { id: number; kind: Kind; file: string; password?: string };
    queue = queue.then(async () => {
      const v = await verdict(job.kind, readFileSync(job.file), job.password);
      writeAll(`${JSON.stringify({ id: job.id, ...v })}\n`);
    });
  });
}
