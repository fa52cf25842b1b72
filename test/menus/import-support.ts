// Helpers for the /file, import, export and request tests: files in the store, rows by name,
// and material made by the real openssl CLI.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Value } from '../../src/menu/values.js';
import { RosArray } from '../../src/menu/values.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import type { TestApp } from '../support/app.js';

export const C = CERT_PATH;

export function putFile(t: TestApp, name: string, data: string | Buffer): void {
  const full = path.join(t.app.dataDir.filesDir, name);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, data);
}

export function fileOf(t: TestApp, name: string): Buffer {
  return fs.readFileSync(path.join(t.app.dataDir.filesDir, name));
}

export function filePath(t: TestApp, name: string): string {
  return path.join(t.app.dataDir.filesDir, name);
}

export async function rows(t: TestApp): Promise<Array<Record<string, unknown>>> {
  return t.app.store.read((tx) => tx.list(C).map((r) => ({ id: r.id, ...r.data })));
}

export async function row(t: TestApp, name: string): Promise<Record<string, unknown> | undefined> {
  return (await rows(t)).find((r) => r.name === name);
}

export async function derOf(t: TestApp, name: string): Promise<Buffer> {
  return t.app.store.read((tx) => certificateDer(tx, tx.findBy(C, 'name', name)[0]!.id)!);
}

export async function importFile(t: TestApp, args: Record<string, Value>): Promise<Record<string, number>> {
  const r = await t.run(C, 'import', args);
  const out: Record<string, number> = {};
  for (const [k, v] of (r.block ?? [])) out[k] = Number(v);
  if (r.ret instanceof RosArray && !r.block) for (const [k, v] of r.ret.entries()) out[String(k)] = Number(v);
  return out;
}

export const summary = (certs: number, keys: number, files: number, failures = 0, lonely = 0) => ({
  'certificates-imported': certs, 'private-keys-imported': keys, 'files-imported': files,
  'decryption-failures': failures, 'keys-with-no-certificate': lonely,
});

/** openssl in a working folder; returns stdout. */
export function ossl(cwd: string, args: string[], input?: string | Buffer): string {
  return execFileSync('openssl', args, { cwd, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

export function osslStatus(cwd: string, args: string[]): { status: number; output: string } {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

export function certtool(cwd: string, args: string[]): { status: number; output: string } {
  const r = spawnSync('certtool', args, { cwd, encoding: 'utf8' });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/**
 * A small PKI made by openssl in `dir`: root CA, intermediate, EC leaf (key in several formats),
 * an RSA leaf, chain files and PKCS#12 bundles.
 */
export function makeOpensslPki(dir: string): void {
  const o = (args: string[]) => ossl(dir, args);
  o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'root.key', '-out', 'root.pem',
    '-subj', '/CN=Test Root', '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  o(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=Test Intermediate']);
  fs.writeFileSync(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  o(['x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-out', 'int.pem', '-days', '1000', '-extfile', 'ca.ext']);
  o(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=leaf.example.com']);
  fs.writeFileSync(path.join(dir, 'leaf.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:leaf.example.com\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  o(['x509', '-req', '-in', 'leaf.csr', '-CA', 'int.pem', '-CAkey', 'int.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '365', '-extfile', 'leaf.ext']);
  fs.writeFileSync(path.join(dir, 'chain.pem'), fs.readFileSync(path.join(dir, 'leaf.pem'), 'utf8') + fs.readFileSync(path.join(dir, 'int.pem'), 'utf8') + fs.readFileSync(path.join(dir, 'root.pem'), 'utf8'));
  // The leaf key in every format clients upload.
  o(['ec', '-in', 'leaf.key', '-out', 'leaf-sec1.pem']);
  o(['ec', '-in', 'leaf.key', '-aes256', '-passout', 'pass:secret', '-out', 'leaf-sec1-enc.pem']);
  o(['pkcs8', '-topk8', '-in', 'leaf.key', '-v2', 'aes-256-cbc', '-passout', 'pass:secret', '-out', 'leaf-pkcs8-enc.pem']);
  o(['pkcs8', '-topk8', '-in', 'leaf.key', '-nocrypt', '-outform', 'DER', '-out', 'leaf-pkcs8.der']);
  o(['pkcs8', '-topk8', '-in', 'leaf.key', '-v2', 'aes-256-cbc', '-passout', 'pass:secret', '-outform', 'DER', '-out', 'leaf-pkcs8-enc.der']);
  o(['x509', '-in', 'leaf.pem', '-outform', 'DER', '-out', 'leaf.der']);
  fs.writeFileSync(path.join(dir, 'combined.pem'), fs.readFileSync(path.join(dir, 'leaf.key'), 'utf8') + fs.readFileSync(path.join(dir, 'chain.pem'), 'utf8'));
  // RSA leaf with a PKCS#1 key, plain and DES3-encrypted.
  o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa.key', '-out', 'rsa.pem', '-subj', '/CN=rsa.example.com', '-days', '30']);
  o(['rsa', '-in', 'rsa.key', '-traditional', '-out', 'rsa-pkcs1.pem']);
  o(['rsa', '-in', 'rsa.key', '-traditional', '-des3', '-passout', 'pass:secret', '-out', 'rsa-pkcs1-enc.pem']);
  o(['rsa', '-in', 'rsa.key', '-traditional', '-outform', 'DER', '-out', 'rsa-pkcs1.der']);
  // PKCS#12: OpenSSL 3 default (PBES2/AES-256, SHA-256 MAC), -legacy (RC2-40 + 3DES, SHA-1), 3DES only.
  const p12 = (out: string, extra: string[]) => o(['pkcs12', '-export', '-in', 'leaf.pem', '-inkey', 'leaf.key', '-certfile', 'int.pem',
    '-name', 'leaf', '-passout', 'pass:secret', '-out', out, ...extra]);
  p12('modern.p12', []);
  p12('legacy.p12', ['-legacy']);
  p12('des.p12', ['-certpbe', 'PBE-SHA1-3DES', '-keypbe', 'PBE-SHA1-3DES', '-macalg', 'sha1']);
}
