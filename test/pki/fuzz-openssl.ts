// OpenSSL's side of the differential tests, run in bulk: a fresh `openssl` per input costs
// ~20 ms (provider and decoder set-up), so thousands of inputs go through a few long-running
// commands instead.
//  * `openssl storeutl -r DIR/` loads every file of a directory with OpenSSL's own loaders
//    (the ones `x509`, `crl` and `pkey` use) and prints, per file name, what it found: the
//    accept/refuse verdict and the text (certificates) or PEM (keys, PKCS#12 contents) of each.
//  * names and CRLs are printed precisely (`-nameopt oneline`) by one `openssl pkcs7
//    -print_certs` over a PKCS#7 bundle of everything storeutl accepted.
//  * requests, which storeutl does not load, go through `openssl req`, two at a time (xargs -P2).
import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  certFactsFromText, crlFactsFromText, csrFactsFromText, type Facts, type Kind,
} from './fuzz-facts.js';
import { CMS_RECIPIENT } from './fixtures.js';

export interface OpensslVerdict {
  accepted: boolean;
  /** Facts of the first object found (absent when refused). */
  facts?: Facts;
}

function run(cmd: string, args: string[], opts: { timeoutMs: number; input?: Buffer }): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'latin1', maxBuffer: 1 << 30, timeout: opts.timeoutMs }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException & { killed?: boolean }).killed) reject(new Error(`${cmd} ${args[0]} did not finish within ${opts.timeoutMs} ms`));
      else resolve({ stdout, stderr, code: typeof err?.code === 'number' ? err.code : 0 });
    });
    if (opts.input) child.stdin!.end(opts.input);
  });
}

/** Splits storeutl -r output into the objects found per file (text after each `  N: Type` line). */
function storeutlSections(out: string): Map<string, Array<{ type: string; text: string }>> {
  const files = new Map<string, Array<{ type: string; text: string }>>();
  let current: Array<{ type: string; text: string }> | undefined;
  let obj: { type: string; text: string } | undefined;
  for (const line of out.split('\n')) {
    const name = /^\d+: Name: (.*)$/.exec(line);
    if (name) { current = []; files.set(path.basename(name[1]!), current); obj = undefined; continue; }
    const head = /^ {2}\d+: (\w[\w ]*)$/.exec(line);
    if (head && current) { obj = { type: head[1]!, text: '' }; current.push(obj); continue; }
    if (/^ {2}Total found: \d+$/.test(line)) { obj = undefined; continue; }
    if (obj) obj.text += `${line}\n`;
  }
  return files;
}

function pemBlocks(text: string): Array<{ label: string; der: Buffer }> {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----\n([\s\S]*?)-----END \1-----/g)]
    .map((m) => ({ label: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64') }));
}

/** Length of the first BER element of `b` (definite or indefinite), or b.length when unreadable. */
export function firstElementLength(b: Buffer, at = 0, depth = 0): number {
  if (depth > 64 || at + 2 > b.length) return b.length - at;
  let p = at + 1;
  if ((b[at]! & 0x1f) === 0x1f) { while (p < b.length && b[p]! & 0x80) p++; p++; }
  const l = b[p++]!;
  if (l === 0x80) {
    while (p + 1 < b.length && !(b[p] === 0 && b[p + 1] === 0)) p += firstElementLength(b, p, depth + 1);
    return p + 2 - at;
  }
  let len = l;
  if (l & 0x80) { len = 0; for (let i = 0; i < (l & 0x7f); i++) len = len * 256 + (b[p++] ?? 0); }
  return Math.min(b.length, p + len) - at;
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...parts: Buffer[]) => { const c = Buffer.concat(parts); return Buffer.concat([Buffer.from([tag]), derLength(c.length), c]); };

/** A degenerate PKCS#7 SignedData (RFC 2315 §9.1) carrying certificates [0] or CRLs [1] as given. */
function pkcs7Bundle(items: Buffer[], field: 0 | 1): Buffer {
  const signedData = tlv(0x30,
    Buffer.from('020101', 'hex'), Buffer.from('3100', 'hex'), Buffer.from('300b06092a864886f70d010701', 'hex'),
    tlv(0xa0 | field, ...items), Buffer.from('3100', 'hex'));
  return tlv(0x30, Buffer.from('06092a864886f70d010702', 'hex'), tlv(0xa0, signedData));
}

/** The DER OpenSSL read from a file: the first PEM block of `labels`, or the file's first element. */
function firstObjectDer(data: Buffer, labels: string[]): Buffer {
  if (data.includes('-----BEGIN ')) {
    const b = pemBlocks(data.toString('latin1').replace(/\r/g, '')).find((x) => labels.includes(x.label));
    if (b) return b.der.subarray(0, firstElementLength(b.der));
  }
  return data.subarray(0, firstElementLength(data));
}

const keyFacts = (pem: string): Facts => {
  let key;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    // A key OpenSSL printed but node's copy of it cannot read back (a DSA key with bad numbers).
    return { kind: 'key', keyType: `unreadable (${(e as Error).message})`, keySize: '', spki: '' };
  }
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const d = key.asymmetricKeyDetails ?? {};
  const type = key.asymmetricKeyType ?? '';
  return {
    kind: 'key', keyType: type, keySize: type === 'ec' ? String(d.namedCurve) : String(d.modulusLength ?? ''),
    spki: spki.toString('hex'),
  };
};

/**
 * OpenSSL's verdict on every file of `dir` (one kind, one password for all). Certificates and
 * CRLs: accepted when storeutl finds one; keys: a private key; PKCS#12: a MAC that verifies and
 * contents that load; requests: `openssl req` exits 0.
 */
export async function opensslVerdicts(kind: Kind, dir: string, password = '', timeoutMs = 120_000): Promise<Map<string, OpensslVerdict>> {
  const files = fs.readdirSync(dir).sort();
  const out = new Map<string, OpensslVerdict>();
  if (files.length === 0) return out;
  if (kind === 'csr') return requestVerdicts(dir, files, timeoutMs);
  if (kind === 'p7s' || kind === 'p7m') return cmsVerdicts(kind, dir, files, timeoutMs);
  const typeArgs = { cert: ['-certs', '-noout', '-text'], crl: ['-crls', '-noout'], key: ['-keys'], p12: ['-provider', 'legacy', '-provider', 'default'] }[kind];
  const r = await run('openssl', ['storeutl', '-r', ...typeArgs, '-passin', `pass:${password}`, `${dir}/`], { timeoutMs });
  const sections = storeutlSections(r.stdout);
  const accepted: string[] = [];
  for (const f of files) {
    const objs = sections.get(f);
    if (objs === undefined) throw new Error(`storeutl did not report ${f}:\n${r.stderr.slice(0, 2000)}`);
    const ok = kind === 'p12' ? objs.length > 0 : objs.some((o) => o.type === { cert: 'Certificate', crl: 'CRL', key: 'Pkey' }[kind]);
    out.set(f, { accepted: ok });
    if (!ok) continue;
    accepted.push(f);
    if (kind === 'key') {
      const pem = pemBlocks(objs.find((o) => o.type === 'Pkey')!.text)[0];
      out.get(f)!.facts = pem
        ? keyFacts(`-----BEGIN ${pem.label}-----\n${pem.der.toString('base64')}\n-----END ${pem.label}-----\n`)
        : { kind: 'key', keyType: 'not printable by OpenSSL', keySize: '', spki: '' };
    } else if (kind === 'p12') {
      const certs = objs.filter((o) => o.type === 'Certificate').map((o) => pemBlocks(o.text)[0]!.der);
      const key = objs.find((o) => o.type === 'Pkey');
      out.get(f)!.facts = {
        kind: 'p12',
        certificates: certs.map((c) => createHash('sha256').update(c).digest('hex')).sort(),
        firstKey: key ? (keyFacts(key.text.slice(key.text.indexOf('-----BEGIN'))) as { spki: string }).spki : '',
      };
    }
  }
  if ((kind === 'cert' || kind === 'crl') && accepted.length > 0) {
    const labels = kind === 'cert' ? ['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE'] : ['X509 CRL'];
    const printed = await printBundled(kind, accepted.map((f) => path.join(dir, f)), labels, timeoutMs);
    accepted.forEach((f, i) => {
      const p = printed[i]!;
      if (kind === 'crl') { out.get(f)!.facts = crlFactsFromText(p); return; }
      const names = /^subject=(.*)\nissuer=(.*)\n/m.exec(p)!;
      const text = sections.get(f)!.find((o) => o.type === 'Certificate')!.text;
      out.get(f)!.facts = certFactsFromText(text, { subject: names[1]!, issuer: names[2]! });
    });
  }
  return out;
}

/**
 * `openssl pkcs12`'s verdict on one file. storeutl finds nothing both in a refused PKCS#12 file
 * and in an empty one, and its loader insists on a MAC that `openssl pkcs12` (like RFC 7292 §4)
 * treats as optional: asked about the files storeutl found nothing in but rospki read.
 */
export async function pkcs12Verdict(file: string, password: string, timeoutMs = 60_000): Promise<OpensslVerdict> {
  const p = await run('openssl', ['pkcs12', '-in', file, '-passin', `pass:${password}`, '-nodes', '-legacy'], { timeoutMs });
  if (p.code !== 0) return { accepted: false };
  const blocks = pemBlocks(p.stdout);
  const key = blocks.find((b) => b.label === 'PRIVATE KEY');
  return {
    accepted: true,
    facts: {
      kind: 'p12',
      certificates: blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => createHash('sha256').update(b.der).digest('hex')).sort(),
      firstKey: key ? (keyFacts(`-----BEGIN PRIVATE KEY-----\n${key.der.toString('base64')}\n-----END PRIVATE KEY-----\n`) as { spki: string }).spki : '',
    },
  };
}

/**
 * `openssl pkcs7 -print_certs` over a bundle of the files' first objects: per file, its
 * `subject=`/`issuer=` lines (certificates) or its text (CRLs), names in oneline form. When
 * OpenSSL refuses a bundle (an object `x509` loads but PKCS#7 does not), the bundle is split
 * until the object is alone, which is then printed by `openssl x509`/`crl` itself.
 */
async function printBundled(kind: 'cert' | 'crl', files: string[], labels: string[], timeoutMs: number): Promise<string[]> {
  const dir = path.dirname(files[0]!);
  const bundle = path.join(dir, '..', `${path.basename(dir)}.p7`);
  fs.writeFileSync(bundle, pkcs7Bundle(files.map((f) => firstObjectDer(fs.readFileSync(f), labels)), kind === 'cert' ? 0 : 1));
  const p = await run('openssl', ['pkcs7', '-inform', 'DER', '-in', bundle, '-print_certs', '-noout'], { timeoutMs });
  if (p.code === 0) {
    const blocks = kind === 'cert'
      ? [...p.stdout.matchAll(/^subject=.*\nissuer=.*\n/gm)].map((m) => m[0])
      : p.stdout.split(/^(?=Certificate Revocation List \(CRL\):$)/m).filter((b) => b.startsWith('Certificate Revocation List'));
    if (blocks.length !== files.length) throw new Error(`pkcs7 printed ${blocks.length} ${kind}s for ${files.length}`);
    return blocks;
  }
  if (files.length === 1) {
    const inform = fs.readFileSync(files[0]!).includes('-----BEGIN ') ? 'PEM' : 'DER';
    const args = kind === 'cert' ? ['x509', '-noout', '-subject', '-issuer'] : ['crl', '-noout', '-text'];
    const one = await run('openssl', [...args, '-nameopt', 'oneline', '-inform', inform, '-in', files[0]!], { timeoutMs });
    if (one.code !== 0) throw new Error(`openssl ${args[0]} refused ${files[0]} after storeutl accepted it: ${one.stderr.slice(0, 500)}`);
    return [one.stdout];
  }
  const half = Math.ceil(files.length / 2);
  return [...await printBundled(kind, files.slice(0, half), labels, timeoutMs), ...await printBundled(kind, files.slice(half), labels, timeoutMs)];
}

/** `openssl req` per file, two at a time; exit status and text are left beside each input. */
async function requestVerdicts(dir: string, files: string[], timeoutMs: number): Promise<Map<string, OpensslVerdict>> {
  const script = 'for f; do openssl req -in "$f" -inform "$(head -c 11 "$f" | grep -q -- "-----BEGIN " && echo PEM || echo DER)" -noout -text -nameopt oneline > "$f.out" 2>&1; echo $? > "$f.rc"; done';
  const input = Buffer.from(files.map((f) => path.join(dir, f)).join('\0'));
  await run('xargs', ['-0', '-P2', '-n16', 'sh', '-c', script, 'sh'], { timeoutMs, input });
  const out = new Map<string, OpensslVerdict>();
  for (const f of files) {
    const base = path.join(dir, f);
    const rc = fs.readFileSync(`${base}.rc`, 'utf8').trim();
    const text = fs.readFileSync(`${base}.out`, 'latin1');
    fs.rmSync(`${base}.rc`);
    fs.rmSync(`${base}.out`);
    out.set(f, rc === '0' ? { accepted: true, facts: csrFactsFromText(text) } : { accepted: false });
  }
  return out;
}

/**
 * `openssl cms` per file, two at a time. SignedData: `-verify -noverify` (the signatures, not
 * the chain; a SignedData without content, a SCEP PENDING reply, is verified over the empty
 * content); exit status 2 is a message OpenSSL can not read, 4 one it read but did not verify.
 * EnvelopedData: `-decrypt` for the corpus's recipient (single DES needs the legacy provider).
 */
async function cmsVerdicts(kind: 'p7s' | 'p7m', dir: string, files: string[], timeoutMs: number): Promise<Map<string, OpensslVerdict>> {
  const script = kind === 'p7s'
    ? 'for f; do rm -f "$f.o" "$f.c"; openssl cms -verify -noverify -binary -inform DER -in "$f" -out "$f.o" -certsout "$f.c" > "$f.e" 2>&1; rc=$?; '
      + 'if [ $rc = 4 ] && grep -q "no content" "$f.e"; then openssl cms -verify -noverify -binary -inform DER -in "$f" -content /dev/null -out /dev/null > /dev/null 2>&1 && rc=0 && : > "$f.o"; fi; echo $rc > "$f.rc"; done'
    : `for f; do openssl cms -decrypt -binary -inform DER -in "$f" -inkey "${CMS_RECIPIENT.key}" -recip "${CMS_RECIPIENT.certificate}" -out "$f.o" -provider legacy -provider default > /dev/null 2>&1; echo $? > "$f.rc"; done`;
  const input = Buffer.from(files.map((f) => path.join(dir, f)).join('\0'));
  await run('xargs', ['-0', '-P2', '-n16', 'sh', '-c', script, 'sh'], { timeoutMs, input });
  const out = new Map<string, OpensslVerdict>();
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  for (const f of files) {
    const base = path.join(dir, f);
    const rc = fs.readFileSync(`${base}.rc`, 'utf8').trim();
    const content = fs.existsSync(`${base}.o`) ? fs.readFileSync(`${base}.o`) : undefined;
    const certs = fs.existsSync(`${base}.c`) ? pemBlocks(fs.readFileSync(`${base}.c`, 'latin1')).map((b) => sha256(b.der)).sort() : [];
    for (const ext of ['.rc', '.o', '.c', '.e']) fs.rmSync(`${base}${ext}`, { force: true });
    if (kind === 'p7m') {
      out.set(f, rc === '0' ? { accepted: true, facts: { kind, content: sha256(content ?? Buffer.alloc(0)) } } : { accepted: false });
    } else if (rc === '0' || rc === '4') {
      const verified = rc === '0';
      out.set(f, { accepted: true, facts: { kind, verified, content: verified && content && content.length ? sha256(content) : '', certificates: certs } });
    } else {
      out.set(f, { accepted: false });
    }
  }
  return out;
}
