// A real `rospki serve` daemon in its own process for the attacks of the security tests: an
// attack that stops the daemon's event loop must not stop the test with it. The data directory
// is prepared in this process (console lines as the operator), then the daemon serves it on
// 127.0.0.1 with www (REST) on a free port, and any other services the setup enabled.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { ConsoleSession } from '../../src/console/session.js';
import { openTestApp, tempDir } from '../support/app.js';
import { freePort } from '../services/support.js';
import { BIN, canConnect, waitUntil } from '../services/ssh-support.js';

export const ADMIN_PASSWORD = 'Adm1n-pass';

export interface Daemon {
  readonly dir: string;
  readonly www: number;
  readonly pid: number;
  /** What the daemon wrote on stderr so far. */
  stderr(): string;
  /** Whether the process still runs. */
  alive(): boolean;
  /** REST over curl: [status, body]; `maxSeconds` bounds the whole exchange. */
  rest(user: string, password: string, method: string, url: string, body?: unknown, maxSeconds?: number): Promise<[number, string]>;
  stop(): Promise<void>;
}

/** Runs console lines as the operator on a data directory (the daemon does not run yet). */
export async function prepare(dir: string, lines: string): Promise<void> {
  const t = await openTestApp({ dir, time: Date.now() });
  try {
    let out = '';
    const cs = await ConsoleSession.open(t.app, { output: (x) => { out += x; } });
    const r = await cs.run(lines);
    if (!r.ok) throw new Error(`setup failed: ${r.error}\n${out}`);
  } finally {
    t.close();
  }
}

/** Starts `rospki serve` on a fresh data directory after `setup` (console lines) ran on it. */
export async function startDaemon(setup = '', opts: { dir?: string; env?: Record<string, string> } = {}): Promise<Daemon> {
  const dir = opts.dir ?? tempDir('rospki-sec-');
  const www = await freePort();
  await prepare(dir, [
    `/user set admin password=${ADMIN_PASSWORD}`,
    `/ip service set www port=${www} disabled=no`,
    '/ip service disable api,api-ssl',
    setup,
  ].join('\n'));
  const child = spawn('node', [BIN, 'serve', '--data', dir], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1', ...opts.env },
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  let running = true;
  const exited = new Promise<void>((resolve) => child.once('exit', () => { running = false; resolve(); }));
  await waitUntil(async () => out.includes('serving') && await canConnect(www), 'the daemon to listen on www', 30_000);
  return {
    dir, www, pid: child.pid!,
    stderr: () => err,
    alive: () => running,
    rest: (user, password, method, url, body, maxSeconds = 30) => curlRest(www, user, password, method, url, body, maxSeconds),
    async stop() {
      if (running) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function curlRest(port: number, user: string, password: string, method: string, url: string, body: unknown, maxSeconds: number): Promise<[number, string]> {
  const args = ['-sS', '-m', String(maxSeconds), '-o', '-', '-w', '\n%{http_code}', '-u', `${user}:${password}`, '-X', method,
    '-H', 'content-type: application/json', ...(body === undefined ? [] : ['-d', JSON.stringify(body)]), `http://127.0.0.1:${port}/rest${url}`];
  const r = await new Promise<{ stdout: string; status: number | null }>((resolve) => {
    const c = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    c.once('close', (status) => resolve({ stdout, status }));
  });
  const nl = r.stdout.lastIndexOf('\n');
  const code = Number(r.stdout.slice(nl + 1));
  return [r.status === 0 ? code : 0, r.stdout.slice(0, Math.max(0, nl))];
}
