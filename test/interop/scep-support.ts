// Helpers of the SCEP tests: an appliance with an RSA CA and a SCEP server on a free port of
// 127.0.0.1, the real SCEP clients (certmonger, micromdm scepclient, strongSwan pki) as
// ../shared/peers.md §2 drives them, and bounded waits.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { startServiceApp, run, type ServiceApp } from '../services/support.js';
import { tempDir, toPem } from '../support/app.js';
import type { ServiceOptions } from '../../src/services/index.js';

export const SCEP_SUBMIT = '/usr/lib/certmonger/scep-submit';
/** strongSwan's pki with only the plugins it needs (peers.md §2). */
export const STRONGSWAN_CONF = path.resolve(import.meta.dirname, 'strongswan-pki.conf');

export interface ScepApp extends ServiceApp {
  url: string;
  dir: string;
  caPem: string;
  /** A fresh one-time password (valid 10 minutes). */
  otp(): Promise<string>;
  /** Names of the certificates the CA issued. */
  issued(): Promise<string[]>;
}

/** An appliance with CA `ca` (RSA-2048, CRL on www) and the SCEP server /scep/test. */
export async function startScepApp(opts: { services?: Partial<ServiceOptions>; keySize?: string } = {}): Promise<ScepApp> {
  const t = await startServiceApp({ services: opts.services });
  await t.run(CERT_PATH, 'add', { name: 'ca', 'common-name': 'rospki SCEP CA', organization: 'rospki tests', 'key-size': opts.keySize ?? '2048', 'key-usage': 'key-cert-sign,crl-sign', 'days-valid': '30' });
  await t.run(CERT_PATH, 'sign', { number: 'ca', 'ca-crl-host': `127.0.0.1:${t.ports.www}` });
  await t.run('/certificate/scep-server', 'add', { 'ca-cert': 'ca', path: '/scep/test' });
  const caPem = await t.app.store.read((tx) => toPem(certificateDer(tx, tx.findBy(CERT_PATH, 'name', 'ca')[0]!.id)!));
  const dir = tempDir('rospki-scep-');
  fs.writeFileSync(path.join(dir, 'ca.pem'), caPem);
  return {
    ...t, dir, caPem, url: `http://127.0.0.1:${t.ports.www}/scep/test`,
    async otp() { return String((await t.run('/certificate/scep-server/otp', 'generate', { 'minutes-valid': '10' })).ret); },
    async issued() { return t.app.store.read((tx) => tx.list(CERT_PATH).filter((r) => typeof r.data.ca === 'number' && r.data.ca !== 0).map((r) => String(r.data.name))); },
    async stop() { await t.stop(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

/** Waits (bounded) until check() holds. */
export async function until(check: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `openssl verify -CAfile ca.pem cert.pem` (throws with its output when it fails). */
export async function opensslVerify(caFile: string, certFile: string, purpose?: string): Promise<void> {
  const r = await run('openssl', ['verify', ...(purpose ? ['-purpose', purpose] : []), '-CAfile', caFile, certFile]);
  if (r.status !== 0 || !r.stdout.includes(': OK')) throw new Error(`openssl verify failed: ${r.stdout}${r.stderr}`);
}

/** micromdm scepclient in its own folder (it writes csr.pem there); returns its output. */
export async function scepclient(url: string, dir: string, args: { cn: string; challenge?: string }): Promise<{ status: number; out: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const argv = ['-server-url', url, '-private-key', 'key.pem', '-certificate', 'cert.pem', '-cn', args.cn, '-keySize', '2048'];
  if (args.challenge !== undefined) argv.push('-challenge', args.challenge);
  const r = await runIn(dir, 'scepclient', argv, 60_000);
  return { status: r.status, out: r.out };
}

/** strongSwan `pki --scep` (RSA key made first unless one is there); the certificate is written to cert.pem. */
export async function strongswanEnrol(url: string, dir: string, args: { cn: string; password?: string; cipher?: 'aes' | 'des3'; oldCert?: string; oldKey?: string; maxPollSeconds?: number; caFile: string }): Promise<{ status: number; out: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const env = { STRONGSWAN_CONF };
  const key = path.join(dir, 'key.pem');
  if (!fs.existsSync(key)) {
    const g = await run('pki', ['--gen', '--type', 'rsa', '--size', '2048', '--outform', 'pem'], { env });
    fs.writeFileSync(key, g.stdout);
  }
  const argv = ['--scep', '--url', url, '--in', key, '--dn', `CN=${args.cn}`, '--san', args.cn,
    '--cacert-enc', args.caFile, '--cacert-sig', args.caFile, '--cacert', args.caFile, '--cipher', args.cipher ?? 'aes',
    '--outform', 'pem', '--interval', '1', '--maxpolltime', String(args.maxPollSeconds ?? 10)];
  if (args.password !== undefined) argv.push('--password', args.password);
  if (args.oldCert) argv.push('--cert', args.oldCert, '--key', args.oldKey!);
  const r = await run('pki', argv, { env, timeoutMs: ((args.maxPollSeconds ?? 10) + 30) * 1000 });
  fs.writeFileSync(path.join(dir, 'cert.pem'), r.stdout);
  return { status: r.status, out: r.stderr };
}

/** A program run in a folder, bounded; never throws. */
export function runIn(cwd: string, cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<{ status: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ status: code ?? (signal ? -1 : 0), out }); });
  });
}

/**
 * certmonger's enrolment: a private daemon (no D-Bus, no systemd: -n -L -P) runs inner.sh,
 * which adds the SCEP CA and requests a certificate (peers.md §2). Returns `getcert list`.
 */
export async function certmongerEnrol(url: string, dir: string, args: { cn: string; challenge?: string; caFile: string; raFile?: string; extra?: string }): Promise<{ status: number; out: string; cert: string }> {
  const cm = path.join(dir, 'certmonger');
  for (const d of ['config', 'requests', 'cas', 'local', 'tmp', 'out']) fs.mkdirSync(path.join(cm, d), { recursive: true });
  const challenge = args.challenge !== undefined ? `-L "${args.challenge}"` : '';
  fs.writeFileSync(path.join(cm, 'inner.sh'), `set -u
getcert add-scep-ca -c peers -u "${url}" -r "${args.raFile ?? args.caFile}" -N "${args.caFile}" || exit 10
for i in $(seq 1 40); do getcert list-cas -c peers | grep -q thumbprint && break; sleep 0.25; done
getcert request -c peers -f "${cm}/out/cert.pem" -k "${cm}/out/key.pem" -N "CN=${args.cn}" -D ${args.cn} ${challenge} -w --wait-timeout=30
${args.extra ?? ''}
getcert list
`);
  const env = {
    CERTMONGER_CONFIG_DIR: `${cm}/config`, CERTMONGER_REQUESTS_DIR: `${cm}/requests`, CERTMONGER_CAS_DIR: `${cm}/cas`,
    CERTMONGER_LOCAL_CA_DIR: `${cm}/local`, CERTMONGER_TMPDIR: `${cm}/tmp`, CERTMONGER_SYSTEM_LOCK_FILE: `${cm}/lock`,
  };
  const r = await runIn(cm, 'certmonger', ['-n', '-L', '-P', `${cm}/cm.sock`, '-c', `bash ${cm}/inner.sh`], 90_000, env);
  const certFile = path.join(cm, 'out', 'cert.pem');
  return { ...r, cert: certFile };
}
