// CRL benchmarks (issue 6): regenerating a 100,000-entry CRL beside `openssl ca -gencrl` over the
// same index, one more revocation in a CA that already lists 100,000, and loading a downloaded
// 100,000-entry CRL with O(1) lookups afterwards. Every figure has a reference from the same run.

import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Appliance } from '../src/appliance.js';
import { FixedClock } from '../src/clock.js';
import { CERT_PATH } from '../src/menus/certificate/properties.js';
import { CRL_ENTRIES_BLOB, CRL_STATE, publishedCrl } from '../src/menus/certificate/crl-publish.js';
import { issueCertificate } from '../src/pki/certificate.js';
import { buildCrl, encodeCrlEntry, parseCrl } from '../src/pki/crl.js';

export interface CrlBenchResult { what: string; value: number; unit: string; reference: number; referenceName: string; aim: string }

const DAY = 86_400_000;

/** n random 16-byte serials (hex, positive). */
export function serials(n: number): string[] {
  const pool = randomBytes(16 * n);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    pool[i * 16] = (pool[i * 16]! & 0x7f) | 0x01;
    out.push(pool.toString('hex', i * 16, i * 16 + 16).toUpperCase());
  }
  return out;
}

function ms(start: bigint): number { return Number(process.hrtime.bigint() - start) / 1e6; }

/** `openssl ca -gencrl` over an index of n revoked serials, and ours over the same serials. */
export function benchRegenerate(n: number): CrlBenchResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-crlbench-'));
  try {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const now = Date.now();
    const ca = issueCertificate({ subject: { commonName: 'bench CA' }, keyUsage: 'key-cert-sign,crl-sign', daysValid: 3650, digest: 'sha256', notBefore: now - DAY, subjectPublicKey: publicKey, issuer: { kind: 'self', privateKey } });
    const list = serials(n);
    const revokedAt = now - 3600_000;
    const rev = new Date(revokedAt).toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
    fs.writeFileSync(path.join(dir, 'index.txt'), list.map((s) => `R\t351231235959Z\t${rev}\t${s}\tunknown\t/CN=x`).join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'crlnumber'), '01\n');
    fs.writeFileSync(path.join(dir, 'ca.pem'), `-----BEGIN CERTIFICATE-----\n${ca.der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`);
    fs.writeFileSync(path.join(dir, 'ca.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    fs.writeFileSync(path.join(dir, 'ca.cnf'), `[ca]\ndefault_ca=x\n[x]\ndatabase=${dir}/index.txt\ncrlnumber=${dir}/crlnumber\ndefault_md=sha256\ndefault_crl_days=1\ncertificate=${dir}/ca.pem\nprivate_key=${dir}/ca.key\n`);
    let start = process.hrtime.bigint();
    execFileSync('openssl', ['ca', '-gencrl', '-config', path.join(dir, 'ca.cnf'), '-out', path.join(dir, 'crl.pem')], { stdio: 'ignore' });
    const ref = ms(start);
    // Warm the JIT on a small list, then the full regeneration: encode every entry, build, sign.
    for (let r = 0; r < 2; r++) buildCrl({ issuerNameDer: ca.subjectNameDer, authorityKeyId: ca.skidBytes, privateKey, thisUpdate: now, nextUpdate: now + DAY, crlNumber: 1, entries: Buffer.concat(list.slice(0, 5000).map((s) => encodeCrlEntry(s, revokedAt))) });
    start = process.hrtime.bigint();
    const entries = Buffer.concat(list.map((s) => encodeCrlEntry(s, revokedAt)));
    const der = buildCrl({ issuerNameDer: ca.subjectNameDer, authorityKeyId: ca.skidBytes, privateKey, thisUpdate: now, nextUpdate: now + DAY, crlNumber: 2, entries });
    const ours = ms(start);
    if (parseCrl(der).revoked.size !== n) throw new Error('bench: CRL lost entries');
    return { what: `regenerate a CRL of ${n} entries`, value: ours, unit: 'ms', reference: ref, referenceName: 'openssl ca -gencrl', aim: '≤ 1×' };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** issued-revoke through the command layer in a CA whose CRL already lists n entries. */
export async function benchOneMoreRevocation(n: number): Promise<CrlBenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-crlbench-'));
  const app = await Appliance.open(dir, { clock: new FixedClock(Date.now()) });
  try {
    const session = await app.session('admin', 'bench');
    const run = (command: string, args: Record<string, string>) => app.executor.run({ path: CERT_PATH, command, args: new Map(Object.entries(args)), session });
    await run('add', { name: 'ca', 'common-name': 'bench CA', 'key-size': 'prime256v1', 'key-usage': 'key-cert-sign,crl-sign' });
    await run('sign', { number: 'ca', 'ca-crl-host': '127.0.0.1' });
    const now = app.clock.now();
    // n earlier revocations, as issued-revoke would have left them.
    const prior = Buffer.concat(serials(n).map((s) => encodeCrlEntry(s, now - 3600_000)));
    await app.store.write((tx) => {
      const row = tx.findBy(CERT_PATH, 'name', 'ca')[0]!;
      tx.setBlob(CERT_PATH, row.id, CRL_ENTRIES_BLOB, prior);
      tx.update(CERT_PATH, row.id, { ...row.data, crl: true, [CRL_STATE]: { number: 1, thisUpdate: now, nextUpdate: now + DAY, count: n } });
    });
    const rounds = 5;
    for (let i = 0; i < rounds + 1; i++) {
      await run('add', { name: `u${i}`, 'common-name': `u${i}`, 'key-size': 'prime256v1', 'key-usage': 'tls-server' });
      await run('sign', { number: `u${i}`, ca: 'ca' });
    }
    await run('issued-revoke', { numbers: 'u0' }); // warm up
    const times: number[] = [];
    for (let i = 1; i <= rounds; i++) {
      const start = process.hrtime.bigint();
      await run('issued-revoke', { numbers: `u${i}` });
      times.push(ms(start));
    }
    times.sort((a, b) => a - b);
    const caId = await app.store.read((tx) => tx.findBy(CERT_PATH, 'name', 'ca')[0]!.id);
    const size = parseCrl((await publishedCrl(app, `/crl/${caId}.crl`))!).revoked.size;
    if (size !== n + rounds + 1) throw new Error(`bench: CRL has ${size} entries`);
    // Reference: a bare store write of the same two blobs (the floor of any revocation).
    const crl = (await publishedCrl(app, `/crl/${caId}.crl`))!;
    const start = process.hrtime.bigint();
    await app.store.write((tx) => { tx.setBlob(CERT_PATH, caId, 'bench-a', prior); tx.setBlob(CERT_PATH, caId, 'bench-b', crl); });
    const ref = ms(start);
    return { what: `issued-revoke with ${n} already revoked (median)`, value: times[Math.floor(rounds / 2)]!, unit: 'ms', reference: ref, referenceName: 'bare blob write', aim: '≪ 1 s' };
  } finally {
    app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Loading a downloaded n-entry CRL, beside `openssl crl -noout` reading the same file. */
export function benchLoad(n: number): { load: CrlBenchResult; lookupNs: number } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const now = Date.now();
  const ca = issueCertificate({ subject: { commonName: 'bench CA' }, keyUsage: 'key-cert-sign,crl-sign', daysValid: 3650, digest: 'sha256', notBefore: now - DAY, subjectPublicKey: publicKey, issuer: { kind: 'self', privateKey } });
  const list = serials(n);
  const der = buildCrl({ issuerNameDer: ca.subjectNameDer, authorityKeyId: ca.skidBytes, privateKey, thisUpdate: now, nextUpdate: now + DAY, crlNumber: 1, entries: Buffer.concat(list.map((s) => encodeCrlEntry(s, now))) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-crlbench-'));
  try {
    const file = path.join(dir, 'crl.der');
    fs.writeFileSync(file, der);
    let start = process.hrtime.bigint();
    execFileSync('openssl', ['crl', '-inform', 'DER', '-in', file, '-noout'], { stdio: 'ignore' });
    const ref = ms(start);
    parseCrl(der); // warm up
    start = process.hrtime.bigint();
    const info = parseCrl(der);
    const load = ms(start);
    const probes = 1_000_000;
    start = process.hrtime.bigint();
    let hits = 0;
    for (let i = 0; i < probes; i++) if (info.revoked.has(list[i % n]!)) hits++;
    const lookupNs = (ms(start) * 1e6) / probes;
    if (hits !== probes) throw new Error('bench: lookups missed');
    return { load: { what: `load a ${n}-entry CRL (${(der.length / 1048576).toFixed(1)} MiB)`, value: load, unit: 'ms', reference: ref, referenceName: 'openssl crl -noout', aim: '< 500 ms' }, lookupNs };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

import type { Line } from './support.js';

/** The `crl` section of npm run bench. */
export async function benchCrl(line: Line): Promise<void> {
  const n = 100_000;
  const show = (r: CrlBenchResult) => line(r.what, `${r.value.toFixed(1)} ${r.unit}`, `${r.referenceName} ${r.reference.toFixed(1)} ${r.unit}`, r.value / Math.max(r.reference, 0.01), r.aim);
  show(benchRegenerate(n));
  show(await benchOneMoreRevocation(n));
  const { load, lookupNs } = benchLoad(n);
  show(load);
  console.log(`${'  then "is serial X revoked" (Set lookup)'.padEnd(52)} ${`${lookupNs.toFixed(0)} ns`.padStart(14)}`);
}
