// Certificate requests (spec §1.5, §1.6):
//  * create-certificate-request template= [key-passphrase=] [challenge-passphrase=]: a new key
//    and a PKCS#10 request from a template, written to /file as `certificate-request.pem` and
//    `certificate-request_key.pem`; the template is consumed (spec §6.2 rule 1).
//  * sign-certificate-request ca= file-name= [days-valid=] [digest-algorithm=]: signs a PKCS#10
//    request from /file with a local CA (its signature checked first) and stores the result as
//    an issued certificate row without a key.

import { failure } from '../../errors.js';
import { resolveItem } from '../../menu/generic.js';
import { itemsType, presenceType, refType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandCall, CommandDecl, CommandResult, Environment } from '../../menu/types.js';
import { RosArray, type Value } from '../../menu/values.js';
import type { ReadTx, RowData, WriteTx } from '../../store/store.js';
import {
  PEM_LABEL, importPkcs8Der, isPem, isPkiError, issueCertificate, parseCertificate, pemDecode,
  pemEncode, type CertInfo, type Digest, type KeyUsageName,
} from '../../pki/index.js';
import { createCsr, parseCsr, type CsrInfo } from '../../pki/csr.js';
import { certificateFacts } from './facts.js';
import { DER_BLOB, generateKeyUnlessCancelled, openSigningCa, type OpenedCa } from './keys.js';
import { CERT, CERT_PATH, isTemplate, templateOf } from './properties.js';
import { crlUrl } from './sign.js';

export const REQUEST_FILE = 'certificate-request.pem';
export const REQUEST_KEY_FILE = 'certificate-request_key.pem';

const DAY_MS = 86_400_000;
const asValueArg: ArgDecl<boolean> = { name: 'as-value', type: presenceType, flagOnly: true };

function done(call: CommandCall): CommandResult {
  return call.args.flag(asValueArg) ? { ret: RosArray.fromRecord([['progress', 'done']]) } : { block: [['progress', 'done']] };
}

const templateArg: ArgDecl<Value> = { name: 'template', type: itemsType, required: true, positional: 0, help: 'Template to turn into a request' };
const keyPassphraseArg: ArgDecl<string> = { name: 'key-passphrase', type: stringType, sensitive: true, help: 'Encrypts the key file (PKCS#8, AES-256); empty: not encrypted' };
const challengeArg: ArgDecl<string> = { name: 'challenge-passphrase', type: stringType, sensitive: true, help: 'challengePassword attribute of the request' };

export const createCertificateRequestCommand: CommandDecl = {
  name: 'create-certificate-request',
  help: 'Make a key and a PKCS#10 request from a template (files certificate-request.pem and certificate-request_key.pem)',
  policy: 'write',
  args: [templateArg, keyPassphraseArg, challengeArg, asValueArg],
  async run(call) {
    const { env, session, args } = call;
    const { id, template } = await env.store.read((tx) => {
      const row = tx.get(CERT_PATH, resolveItem(call.menu, args.get(templateArg), session, tx))!;
      if (!isTemplate(row.data)) throw failure('certificate is already signed');
      return { id: row.id, template: row.data };
    });
    // Refuse early if the files can not be written.
    env.files.check(REQUEST_FILE);
    env.files.check(REQUEST_KEY_FILE);
    const keyPassphrase = args.get(keyPassphraseArg) ?? '';
    const challenge = args.get(challengeArg) ?? '';
    session.progress?.([['progress', 'generating key']]);
    const spec = templateOf(template);
    const key = await generateKeyUnlessCancelled(spec.keySize, session.signal);
    const privateKey = importPkcs8Der(key.pkcs8);
    const csr = createCsr({
      subject: spec.subject,
      subjectAltName: spec.subjectAltName,
      keyUsage: spec.keyUsage,
      challengePassword: challenge || undefined,
      digest: spec.digest,
      privateKey, publicKey: key.spki,
    });
    const keyPem = keyPassphrase !== ''
      ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: keyPassphrase }) as string
      : pemEncode(PEM_LABEL.PRIVATE_KEY, key.pkcs8);
    // Both files are written aside first and appear only once the template is consumed, so the
    // command happens whole or not at all.
    const files = [
      { name: REQUEST_FILE, data: pemEncode(PEM_LABEL.CERTIFICATE_REQUEST, csr) },
      { name: REQUEST_KEY_FILE, data: keyPem },
    ];
    const writers = await Promise.all(files.map((f) => env.files.writer(f.name)));
    try {
      for (let i = 0; i < files.length; i++) await writers[i]!.write(Buffer.from(files[i]!.data));
      await env.store.write((tx) => {
        if (tx.get(CERT_PATH, id)?.data !== template) throw failure('the template changed while the key was generated; run the command again');
        // The template is consumed (spec §6.2 rule 1): the signed certificate comes back by import.
        tx.remove(CERT_PATH, id);
        env.log(tx, 'certificate,info', `certificate request for ${String(template.name)} written to ${REQUEST_FILE} by ${session.user}`);
      });
    } catch (e) {
      await Promise.all(writers.map((w) => w.abort()));
      throw e;
    }
    const now = env.clock.now();
    for (const w of writers) await w.commit(now);
    return done(call);
  },
};

/** The request inside a file: PEM (`CERTIFICATE REQUEST` / `NEW CERTIFICATE REQUEST`) or DER. */
export function readRequest(file: string, data: Buffer): CsrInfo {
  try {
    if (isPem(data)) {
      const block = pemDecode(data).find((b) => b.label === 'CERTIFICATE REQUEST' || b.label === 'NEW CERTIFICATE REQUEST');
      if (!block) throw failure(`${file} holds no certificate request`);
      return parseCsr(block.der);
    }
    return parseCsr(data);
  } catch (e) {
    // The file name gives the PKI error its context.
    if (isPkiError(e)) throw failure(`unable to read ${file}: ${e.message}`);
    throw e;
  }
}

const EKU_NAMES: readonly KeyUsageName[] = ['tls-server', 'tls-client', 'code-sign', 'email-protect', 'timestamp', 'ocsp-sign', 'dvcs'];
const LEAF_DEFAULT: readonly KeyUsageName[] = ['digital-signature', 'key-encipherment', 'tls-server', 'tls-client'];

/**
 * The key usage granted for a request: what it asks for, except that CA rights (key-cert-sign,
 * crl-sign) are given only when it asks for basicConstraints cA and the CA's own path length
 * allows a sub-CA, and extended key usages are limited to the CA's own when it has any.
 */
export function grantedKeyUsage(csr: CsrInfo, ca: { keyUsage: readonly string[]; pathLen?: number }): KeyUsageName[] {
  const subCaAllowed = csr.requestsCA && (ca.pathLen === undefined || ca.pathLen > 0);
  let names: KeyUsageName[] = csr.requestsKeyUsage ? [...csr.keyUsage] : [...LEAF_DEFAULT];
  names = names.filter((n) => n !== 'key-cert-sign' && n !== 'crl-sign');
  if (subCaAllowed) names.push('key-cert-sign', 'crl-sign');
  const caEku = ca.keyUsage.filter((n) => (EKU_NAMES as readonly string[]).includes(n));
  if (caEku.length) names = names.filter((n) => !(EKU_NAMES as readonly string[]).includes(n) || caEku.includes(n));
  return names;
}

/** A local CA ready to sign requests (read inside a transaction): sign-certificate-request, SCEP. */
export interface RequestSigner {
  caId: number;
  caName: string;
  opened: OpenedCa;
  /** The CA's CRL distribution point, when it publishes one (sign.ts crlUrl). */
  cdp?: string;
}

/** The local CA `caId` as a RequestSigner at `now` (refused as openSigningCa refuses). */
export function requestSigner(env: Environment, tx: ReadTx, caId: number, now: number): RequestSigner {
  const ca = tx.get(CERT_PATH, caId);
  if (!ca) throw failure('the CA was removed');
  const opened = openSigningCa(env, tx, caId, now);
  const host = ca.data['ca-crl-host'];
  return { caId, caName: String(ca.data.name), opened, cdp: typeof host === 'string' && host !== '' ? crlUrl(host, caId) : undefined };
}

/**
 * The one place a verified PKCS#10 request becomes a certificate (sign-certificate-request and
 * the SCEP server): its subject and names, the key usage grantedKeyUsage allows (or `keyUsage`),
 * valid for `daysValid` days but never past the CA.
 */
export function signRequest(csr: CsrInfo, signer: RequestSigner, opts: { daysValid: number; digest: Digest; now: number; keyUsage?: readonly KeyUsageName[] }): { der: Buffer; info: CertInfo } {
  // Never valid past the CA itself.
  const maxDays = Math.floor((signer.opened.info.notAfter - Math.floor(opts.now / 1000) * 1000) / DAY_MS);
  if (maxDays < 1) throw failure('CA certificate expires in less than a day');
  const der = issueCertificate({
    subject: csr.subject,
    subjectAltName: csr.subjectAltNames.filter((n) => ['DNS', 'IP', 'email', 'URI'].includes(n.type)),
    keyUsage: opts.keyUsage ?? grantedKeyUsage(csr, signer.opened.info),
    daysValid: Math.min(opts.daysValid, maxDays),
    digest: opts.digest,
    notBefore: opts.now,
    subjectPublicKey: csr.publicKey,
    issuer: signer.opened.issuer,
    crlDistributionPoint: signer.cdp,
  }).der;
  return { der, info: parseCertificate(der) };
}

/** Stores a certificate a local CA issued as a /certificate row (flag I, no key), inside the caller's write. */
export function storeIssuedCertificate(tx: WriteTx, issued: { name: string; der: Buffer; info: CertInfo; caId: number }): number {
  const data: RowData = {
    name: issued.name, 'trust-store': CERT.trustStore.default, ...certificateFacts(issued.info), trusted: true, 'private-key': false, ca: issued.caId,
  };
  const id = tx.insert(CERT_PATH, data);
  tx.setBlob(CERT_PATH, id, DER_BLOB, issued.der);
  return id;
}

const caArg: ArgDecl<number> = { name: 'ca', type: refType(CERT_PATH), required: true, help: 'Issuing CA (with its private key)' };
const requestFileArg: ArgDecl<string> = { name: 'file-name', type: stringType, required: true, help: 'Request file in /file' };
const daysValidArg: ArgDecl<number> = { name: 'days-valid', type: CERT.daysValid.type, help: 'Validity in days (default as for templates, never past the CA)' };
const digestArg: ArgDecl<string> = { name: 'digest-algorithm', type: CERT.digest.type, help: 'Signature digest (default as for templates)' };

export const signCertificateRequestCommand: CommandDecl = {
  name: 'sign-certificate-request',
  help: 'Sign a PKCS#10 request from /file with a local CA',
  policy: 'write',
  args: [caArg, requestFileArg, daysValidArg, digestArg, asValueArg],
  async run(call) {
    const { env, session, args } = call;
    const file = await env.files.match(args.get(requestFileArg)!);
    const csr = readRequest(file, await env.files.read(file));
    if (!csr.signatureValid) throw failure(`the signature of the request in ${file} is not valid`);
    if (csr.keyType !== 'rsa' && csr.keyType !== 'ec') throw failure(`requests for ${csr.keyType} keys are not supported (RSA and EC only)`);
    const now = env.clock.now();
    const signer = await env.store.read((tx) => requestSigner(env, tx, args.get(caArg)!, now));
    const { der, info } = signRequest(csr, signer, {
      daysValid: args.get(daysValidArg) ?? (CERT.daysValid.default as number),
      digest: (args.get(digestArg) ?? CERT.digest.default) as Digest,
      now,
    });
    await env.store.write((tx) => {
      if (!tx.get(CERT_PATH, signer.caId)) throw failure('the CA was removed while signing');
      const stem = csr.subject.commonName || file.replace(/^.*\//, '').replace(/\.(pem|csr|req|der)$/i, '') || 'certificate-request';
      let name = stem;
      for (let n = 1; tx.findBy(CERT_PATH, 'name', name).length > 0; n++) name = `${stem}_${n}`;
      storeIssuedCertificate(tx, { name, der, info, caId: signer.caId });
      env.log(tx, 'certificate,info', `certificate request ${file} signed by ${signer.caName} as ${name} by ${session.user}`);
    });
    return done(call);
  },
};
