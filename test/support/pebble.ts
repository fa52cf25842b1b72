// Let's Encrypt's test ACME server for tests and the bench: Debian's `pebble` with
// `pebble-challtestsrv` as its DNS server (every A query answers 127.0.0.1, no AAAA), both on free
// ports of 127.0.0.1, with a temporary config and a throw-away "minica" made with openssl for
// pebble's own HTTPS listener (the Debian package ships no test certificates). Every challenge
// pebble validates therefore connects to 127.0.0.1 on the given HTTP-01 / TLS-ALPN-01 port.
// Pebble runs in its default hostile mode (5 % of nonces rejected) with authorization reuse off
// and no random validation sleep, so tests are deterministic and fast. stop() ends both daemons
// and removes the folder; both also end by themselves after `maxSeconds` (timeout(1)).
// "Off" is not quite off: pebble reuses a valid authorization when `rand.Intn(100) >
// PEBBLE_AUTHZREUSE` is false, so at 0 still for 1 order in 100 per name; a test that needs a
// challenge for a name it validated before calls forgetAuthorizations() first.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { signJws } from '../../src/acme/index.js';
import type { Appliance } from '../../src/appliance.js';
import { ACCOUNT_KEY_BLOB, ACCOUNT_PATH } from '../../src/menus/certificate/acme-issue.js';
import { importPkcs8Der } from '../../src/pki/index.js';
import { freePort } from '../services/support.js';
import { have, type ToolName } from './tools.js';

/** Whether pebble, its DNS and openssl are here (the tools of test/support/tools.ts). */
export const havePebble = (): boolean => PEBBLE_TOOLS.every(have);
export const PEBBLE_TOOLS = ['pebble', 'pebble-challtestsrv', 'openssl'] as const satisfies readonly ToolName[];

export interface PebbleOptions {
  /** Port pebble connects to for HTTP-01 (where rospki must answer). */
  httpPort?: number;
  /** Port pebble connects to for TLS-ALPN-01. */
  tlsPort?: number;
  /** External account binding keys (kid → base64url MAC key): binding becomes required. */
  eab?: Record<string, string>;
  /** Validity of issued certificates (default 90 days). */
  validitySeconds?: number;
  /** Extra environment for pebble (PEBBLE_WFE_NONCEREJECT=50, PEBBLE_VA_ALWAYS_VALID=1 …). */
  env?: Record<string, string>;
  maxSeconds?: number;
}

export interface Pebble {
  /** https://127.0.0.1:<port>/dir */
  directory: string;
  /** The CA of pebble's own HTTPS listener (trust it to talk ACME). */
  minicaPem: string;
  minicaFile: string;
  httpPort: number;
  tlsPort: number;
  folder: string;
  /** This run's issuing root and intermediate (pebble makes new ones at every start). */
  rootPem(): Promise<string>;
  intermediatePem(): Promise<string>;
  /** challtestsrv management API: `/set-servfail`, `/add-a`, … */
  challtest(route: string, body: unknown): Promise<void>;
  /** pebble's management API (`/cert-status-by-serial/<hex>`). */
  management(route: string): Promise<string>;
  log(): string;
  stop(): Promise<void>;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** minica root + a leaf for localhost / 127.0.0.1 / ::1, EC P-256, made with openssl. */
function makeMinica(dir: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650',
    '-subj', '/CN=rospki test pebble minica', '-keyout', 'minica.key.pem', '-out', 'minica.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost',
    '-keyout', 'key.pem', '-out', 'tls.csr'], dir);
  fs.writeFileSync(path.join(dir, 'tls.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', 'tls.csr', '-CA', 'minica.pem', '-CAkey', 'minica.key.pem', '-CAcreateserial',
    '-days', '825', '-out', 'cert.pem', '-extfile', 'tls.ext'], dir);
}

function get(url: string, ca: string, method = 'GET', body?: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, timeout: 5000, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8'), headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); }, 3000);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
}

export async function startPebble(opts: PebbleOptions = {}): Promise<Pebble> {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-pebble-'));
  makeMinica(folder);
  const [acmePort, mgmtPort, dnsPort, ctsMgmtPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const httpPort = opts.httpPort ?? await freePort();
  const tlsPort = opts.tlsPort ?? await freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: path.join(folder, 'cert.pem'),
      privateKey: path.join(folder, 'key.pem'),
      httpPort, tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: opts.eab !== undefined,
      ...(opts.eab ? { externalAccountMACKeys: opts.eab } : {}),
      certificateValidityPeriod: opts.validitySeconds ?? 90 * 86400,
    },
  };
  fs.writeFileSync(path.join(folder, 'pebble.json'), JSON.stringify(config, null, 2));
  const max = String(opts.maxSeconds ?? 900);
  // Logs go to files, not pipes: a caller that blocks its event loop (spawnSync of a client in the
  // bench) must not stall pebble on a full pipe.
  const logFile = (name: string) => path.join(folder, `${name}.log`);
  const out = (name: string) => { const fd = fs.openSync(logFile(name), 'a'); return ['ignore', fd, fd] as const; };
  const challtestIo = out('challtestsrv');
  const challtest = spawn('timeout', [max, 'pebble-challtestsrv', '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-management', `127.0.0.1:${ctsMgmtPort}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''], { stdio: [...challtestIo] });
  const pebbleIo = out('pebble');
  const pebble = spawn('timeout', [max, 'pebble', '-config', path.join(folder, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`, '-strict=false'], {
    stdio: [...pebbleIo],
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0', ...opts.env },
  });
  fs.closeSync(challtestIo[1]);
  fs.closeSync(pebbleIo[1]);
  const readLog = (name: string) => { try { return fs.readFileSync(logFile(name), 'utf8'); } catch { return ''; } };
  const minicaPem = fs.readFileSync(path.join(folder, 'minica.pem'), 'utf8');
  const directory = `https://127.0.0.1:${acmePort}/dir`;
  const stop = async () => {
    await Promise.all([stopChild(pebble), stopChild(challtest)]);
    fs.rmSync(folder, { recursive: true, force: true });
  };
  // Up within 10 s (it makes an RSA root and intermediate at start), polled every 100 ms.
  const end = Date.now() + 10_000;
  for (;;) {
    const ok = await get(directory, minicaPem).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > end || pebble.exitCode !== null) {
      const text = readLog('pebble') + readLog('challtestsrv');
      await stop();
      throw new Error(`pebble did not come up:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const mgmt = `https://127.0.0.1:${mgmtPort}`;
  return {
    directory, minicaPem, minicaFile: path.join(folder, 'minica.pem'), httpPort, tlsPort, folder,
    rootPem: async () => (await get(`${mgmt}/roots/0`, minicaPem)).text,
    intermediatePem: async () => (await get(`${mgmt}/intermediates/0`, minicaPem)).text,
    async challtest(route, body) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request(`http://127.0.0.1:${ctsMgmtPort}${route}`, { method: 'POST' }, (res) => { res.resume(); res.on('end', () => resolve()); });
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
    },
    management: async (route) => (await get(`${mgmt}${route}`, minicaPem)).text,
    log: () => readLog('pebble'),
    stop,
  };
}

/** An appliance's valid ACME accounts: URL and (unsealed) key. */
export function acmeAccounts(app: Appliance): Promise<Array<{ key: KeyObject; url: string }>> {
  return app.store.read((tx) => tx.list(ACCOUNT_PATH).filter((a) => a.data.status === 'valid')
    .map((a) => ({ url: String(a.data.url), key: importPkcs8Der(app.store.unseal(tx.getBlob(ACCOUNT_PATH, a.id, ACCOUNT_KEY_BLOB)!)) })));
}

/**
 * forgetAccountAuthorizations for every valid ACME account of an appliance at this pebble: its
 * next orders get challenges for every name. Returns how many authorizations it deactivated.
 */
export async function forgetAuthorizations(pebble: Pebble, app: Appliance): Promise<number> {
  const origin = new URL(pebble.directory).origin;
  let n = 0;
  for (const account of await acmeAccounts(app)) if (account.url.startsWith(`${origin}/`)) n += await forgetAccountAuthorizations(pebble, account);
  return n;
}

/**
 * Deactivates (RFC 8555 §7.5.2) every valid authorization of an ACME account at pebble, so that
 * its next order for the same names gets new challenges: pebble's PEBBLE_AUTHZREUSE=0 still
 * reuses one now and then (see the top of this file). The account is found by its key and URL
 * (a test reads both from the appliance's store); its orders come from the account's `orders`
 * list (RFC 8555 §7.1.2.1), page by page. Returns how many authorizations it deactivated.
 */
export async function forgetAccountAuthorizations(pebble: Pebble, account: { key: KeyObject; url: string }): Promise<number> {
  const directory = JSON.parse((await get(pebble.directory, pebble.minicaPem)).text) as { newNonce: string };
  let nonce: string | undefined;
  /** A signed POST (POST-as-GET when payload is undefined); a refused nonce is retried with the fresh one. */
  const post = async (url: string, payload?: unknown): Promise<{ json: Record<string, unknown>; link: string }> => {
    for (let attempt = 0; attempt < 20; attempt++) {
      nonce ??= String((await get(directory.newNonce, pebble.minicaPem, 'HEAD')).headers['replay-nonce']);
      const jws = signJws(account.key, { nonce, url, kid: account.url }, payload);
      const r = await get(url, pebble.minicaPem, 'POST', JSON.stringify(jws), { 'Content-Type': 'application/jose+json' });
      const fresh = r.headers['replay-nonce'];
      nonce = typeof fresh === 'string' ? fresh : undefined;
      if (r.status === 400 && r.text.includes('badNonce')) continue;
      if (r.status >= 400) throw new Error(`pebble answered ${r.status} to ${url}: ${r.text}`);
      const link = [r.headers.link ?? []].flat().join(', ');
      return { json: r.text ? JSON.parse(r.text) as Record<string, unknown> : {}, link };
    }
    throw new Error(`pebble refused every nonce for ${url}`);
  };
  const orders: string[] = [];
  let page: string | undefined = String((await post(account.url)).json.orders);
  for (let pages = 0; page && pages < 1000; pages++) {
    const r = await post(page);
    orders.push(...(r.json.orders as string[]));
    page = /<([^>]+)>;\s*rel="next"/.exec(r.link)?.[1];
  }
  const authorizations = new Set<string>();
  for (const order of orders) for (const a of (await post(order)).json.authorizations as string[]) authorizations.add(a);
  let deactivated = 0;
  for (const a of authorizations) {
    if ((await post(a)).json.status !== 'valid') continue;
    await post(a, { status: 'deactivated' });
    deactivated++;
  }
  return deactivated;
}
