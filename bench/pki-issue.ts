// Bench: issuing EC P-256 leaf certificates (new key each) with a P-256 CA through
// issueCertificate(), beside the raw crypto limit measured in the same run
// (generateKeyPairSync P-256 + one crypto.sign of ~600 bytes per certificate).
// Leaf keys come from generateEcKeyRaw() (node's ECDH generator + DER written directly), which
// yields the SPKI and the PKCS#8 private key the store keeps, without KeyObjects.
// Usage: node --import tsx bench/pki-issue.ts [N=5000] [rounds=3]

import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { generateEcKeyRaw, generateKey, issueCertificate, parseCertificate, type IssuerSpec } from '../src/pki/index.js';

const N = Number(process.argv[2] ?? 5000);
const ROUNDS = Number(process.argv[3] ?? 3);
const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);

const ca = await generateKey('prime256v1');
const caCert = issueCertificate({
  subject: { country: 'LV', organization: 'rospki', commonName: 'bench CA' },
  keyUsage: 'key-cert-sign,crl-sign', daysValid: 3650, digest: 'sha256', notBefore: NOW,
  subjectPublicKey: ca.publicKey, issuer: { kind: 'self', privateKey: ca.privateKey },
});
const issuer: IssuerSpec = { kind: 'ca', nameDer: caCert.subjectNameDer, skid: caCert.skidBytes, privateKey: ca.privateKey };

function raw(n: number): number {
  const msg = randomBytes(600);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    sign('sha256', msg, ca.privateKey);
  }
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

let bytes = 0;
function issue(n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const k = generateEcKeyRaw('prime256v1'); // SPKI + PKCS#8 DER: what the store keeps
    const c = issueCertificate({
      subject: { commonName: `host${i}.example.lan` },
      subjectAltName: `DNS:host${i}.example.lan,IP:192.168.88.${i & 0xff}`,
      daysValid: 365, digest: 'sha256', notBefore: NOW,
      subjectPublicKey: k.spki, issuer,
      crlDistributionPoint: 'http://192.168.88.1/crl/1.crl',
      // keyUsage: default set (digital-signature ... tls-server,tls-client)
    });
    bytes += c.der.length;
  }
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

// sanity: one issued cert parses back
const probe = generateEcKeyRaw('prime256v1');
const sample = issueCertificate({ subject: { commonName: 'probe' }, subjectAltName: 'DNS:probe', daysValid: 1, digest: 'sha256', notBefore: NOW, subjectPublicKey: probe.spki, issuer });
if (parseCertificate(sample.der).akid !== caCert.skid) throw new Error('bench sanity check failed');

raw(500); issue(500); // warm-up
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const rawRates: number[] = [], issueRates: number[] = [], ratios: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const rr = raw(N);
  bytes = 0;
  const ir = issue(N);
  rawRates.push(rr); issueRates.push(ir); ratios.push(ir / rr);
  console.log(`round ${r + 1}: raw ${rr.toFixed(0)}/s  issueCertificate ${ir.toFixed(0)}/s  ratio ${(ir / rr).toFixed(2)}  (avg DER ${(bytes / N).toFixed(0)} B)`);
}
const ir = median(issueRates), rr = median(rawRates);
console.log(`pki-issue EC P-256, N=${N}, ${ROUNDS} rounds (median): ${ir.toFixed(0)} certs/s (${(1000 / ir).toFixed(3)} ms/cert); ` +
  `raw limit ${rr.toFixed(0)}/s (${(1000 / rr).toFixed(3)} ms); ratio ${median(ratios).toFixed(2)} (target >= 0.30)`);
