// A private PostgreSQL cluster for tests and the bench (issue 17 §6): Debian's `postgresql`
// binaries, a cluster made by initdb in a temporary directory, listening on 127.0.0.1 at a free
// port (and a Unix socket in that directory), removed at the end.
//
// initdb and postgres refuse to run as root, so when the tests run as root (CI does) the cluster
// belongs to the unprivileged user `nobody` (runuser -u nobody): the temporary directory is
// handed to it and everything in the cluster runs as it. Run as another user, the cluster is
// that user's. The superuser is `rospki` with a random password (scram-sha-256 for every
// connection, so a wrong password is refused as it would be on a real server).

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { missingTools, needs, postgresBinaries } from './tools.js';

export interface PgCluster {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** A URL of a database of this cluster (default: a new empty one per call of newDatabase). */
  url(database: string, opts?: { password?: string | null; params?: string }): string;
  /** Creates an empty database and returns its URL. */
  newDatabase(opts?: { params?: string }): Promise<string>;
  /** Stops the server (`fast`: sessions are ended, as a restart does; `immediate`: like a crash). */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  /** Freezes and thaws the server (SIGSTOP/SIGCONT of every process: a silent network partition). */
  freeze(): void;
  thaw(): void;
  /** Whether the server accepts connections now. */
  running(): boolean;
  /** The server's processes: the postmaster first, then its children (the bench reads their CPU time). */
  pids(): number[];
  /** Stops the server and removes the cluster. */
  destroy(): void;
}

export { postgresBinaries };

/** Why the PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresMissing(): string | undefined {
  // In CI (ROSPKI_REQUIRE_TOOLS=1) these throw: the file fails instead of skipping.
  const tools = needs('initdb', 'pg_ctl', 'pgrep');
  if (tools) return tools;
  if (process.getuid?.() === 0 && spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status !== 0) return missingTools('runuser -u nobody does not work here');
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Makes and starts a cluster. `durable`: keep PostgreSQL's fsync (the bench measures with it);
 * tests run with fsync=off, as they never crash the machine.
 */
export async function startPgCluster(opts: { durable?: boolean; settings?: Record<string, string> } = {}): Promise<PgCluster> {
  const bin = postgresBinaries();
  if (!bin) throw new Error('Debian postgresql is not installed');
  const asRoot = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-pg-'));
  const data = path.join(dir, 'data');
  const password = randomBytes(12).toString('hex');
  const user = 'rospki';
  const run = (program: string, args: string[]): void => {
    const cmd = asRoot ? 'runuser' : path.join(bin, program);
    const full = asRoot ? ['-u', 'nobody', '--', path.join(bin, program), ...args] : args;
    const r = spawnSync(cmd, full, { encoding: 'utf8', cwd: dir, timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${program} failed: ${r.stderr || r.stdout}`);
  };
  if (asRoot) execFileSync('chown', ['nobody', dir]);
  fs.chmodSync(dir, 0o700);
  const pwfile = path.join(dir, 'pw');
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (asRoot) execFileSync('chown', ['nobody', pwfile]);
  run('initdb', ['-D', data, '-U', user, '-A', 'scram-sha-256', `--pwfile=${pwfile}`, '--no-sync', '-E', 'UTF8', '--locale=C']);
  fs.rmSync(pwfile);
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1', unix_socket_directories: dir, max_connections: '100',
    // Without fsync a COMMIT is still written (to the operating system) before it is acknowledged,
    // so even an immediate stop loses nothing acknowledged; only a crash of the machine would.
    ...(opts.durable ? {} : { fsync: 'off', full_page_writes: 'off' }),
    ...opts.settings,
  };
  let port = 0;
  const pids = (): number[] => {
    const r = spawnSync('pgrep', ['-f', `postgres.*${data}`], { encoding: 'utf8' });
    const first = Number(r.stdout.split('\n')[0]);
    if (!first) return [];
    const children = spawnSync('pgrep', ['-P', String(first)], { encoding: 'utf8' }).stdout.split('\n').map(Number).filter(Boolean);
    return [first, ...children];
  };
  const start = (): void => {
    const options = Object.entries({ ...settings, port: String(port) }).map(([k, v]) => `-c ${k}=${v}`).join(' ');
    run('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '60', '-o', options, 'start']);
  };
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      start();
      break;
    } catch (e) {
      if (attempt >= 3) throw e; // the port was taken meanwhile: try another
    }
  }
  const url = (database: string, o: { password?: string | null; params?: string } = {}): string => {
    const pw = o.password === null ? '' : `:${encodeURIComponent(o.password ?? password)}`;
    return `postgres://${user}${pw}@127.0.0.1:${port}/${database}${o.params ? `?${o.params}` : ''}`;
  };
  let databases = 0;
  const cluster: PgCluster = {
    port, user, password, url,
    async newDatabase(o = {}) {
      const name = `t${++databases}_${randomBytes(3).toString('hex')}`;
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name, { params: o.params });
    },
    stop(mode = 'fast') {
      run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
    },
    start,
    freeze() { for (const pid of pids()) process.kill(pid, 'SIGSTOP'); },
    thaw() { for (const pid of pids()) process.kill(pid, 'SIGCONT'); },
    pids,
    running() {
      return spawnSync(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-t', '1']).status === 0;
    },
    destroy() {
      try { cluster.thaw(); } catch { /* not frozen */ }
      try { run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']); } catch { /* not running */ }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
