// Helpers of the OpenVPN interop tests: certificates made in rospki as files for a real openvpn
// client (`--dev null`: no TUN on the client side), one bounded connection attempt, and waits.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { certificateDer, privateKey } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import type { TestApp } from '../support/app.js';
import { toPem } from '../support/app.js';

/** Writes certificate `name` (and its key) of the appliance as PEM files into `dir`. */
export async function exportPem(t: TestApp, name: string, dir: string): Promise<{ cert: string; key: string }> {
  const { cert, key } = await t.app.store.read((tx) => {
    const row = tx.findBy(CERT_PATH, 'name', name)[0]!;
    const k = privateKey(t.app.env, tx, row.id, String(row.data.fingerprint));
    return { cert: toPem(certificateDer(tx, row.id)!), key: k?.export({ type: 'pkcs8', format: 'pem' }) as string };
  });
  const files = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  fs.writeFileSync(files.cert, cert);
  if (key) fs.writeFileSync(files.key, key, { mode: 0o600 });
  return files;
}

export interface Attempt {
  /** The client reached `Initialization Sequence Completed` (logged in, configuration pulled). */
  connected: boolean;
  log: string;
}

/**
 * One connection of a real openvpn client (`--dev null`), ended as soon as the outcome is known:
 * connected, refused (AUTH_FAILED, or every attempt failed), or after `timeoutMs`.
 */
export function openvpnConnect(opts: {
  port: number; dir: string; ca: string; cert?: string; key?: string; user?: string; password?: string;
  extra?: string[]; timeoutMs?: number;
}): Promise<Attempt> {
  const args = [
    '--client', '--dev', 'null', '--proto', 'tcp-client', '--remote', '127.0.0.1', String(opts.port), '--nobind',
    '--ca', opts.ca, '--remote-cert-tls', 'server', '--ifconfig-noexec', '--route-noexec',
    '--connect-retry-max', '1', '--connect-timeout', '10', '--hand-window', '20', '--verb', '3',
    ...(opts.cert ? ['--cert', opts.cert, '--key', opts.key!] : []),
    ...(opts.extra ?? []),
  ];
  if (opts.user !== undefined) {
    const file = path.join(opts.dir, `up-${process.hrtime.bigint()}.txt`);
    fs.writeFileSync(file, `${opts.user}\n${opts.password ?? ''}\n`, { mode: 0o600 });
    args.push('--auth-user-pass', file);
  }
  return new Promise((resolve) => {
    const child = spawn('openvpn', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    let done = false;
    const finish = (connected: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGTERM');
      resolve({ connected, log });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 30_000);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes('Initialization Sequence Completed')) finish(true);
      else if (/AUTH_FAILED|Exiting due to fatal error|connect-retry-max \(\d+\) times unsuccessful/.test(log)) finish(false);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', () => finish(log.includes('Initialization Sequence Completed')));
  });
}

/** Waits (bounded) until `check` holds. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Processes whose working directory is inside `dir` (a daemon rospki left behind would be one). */
export function processesIn(dir: string): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/cwd`).startsWith(dir)) out.push(Number(pid));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}
