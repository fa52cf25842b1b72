// EC P-256 issuance on PostgreSQL (issue 17 "Speed"): add + sign through REST of running daemons,
// 4 clients per instance —
//   * SQLite: one daemon on a data directory (the default store), the reference;
//   * PostgreSQL, one instance: `rospki serve --store postgres://…` (aim ≥ 0.5× SQLite);
//   * PostgreSQL, two instances on the same database (aim ≥ 1.6× one instance).
// The cluster is private (test/support/postgres.ts) and durable (fsync on, synchronous_commit on:
// every acknowledged COMMIT is on disk, as SQLite's WAL is written before acknowledging). The
// second instance listens on 127.0.0.2: both take the same /ip service configuration from the store.
// Each ratio compares two arrangements measured in alternating rounds (SQLite and one instance;
// then one instance and two), all daemons running throughout, so that the load other work puts
// on the machine from minute to minute weighs on both sides of a ratio alike.
//
// Beside each rate it prints the CPU time spent per certificate by each daemon, by the PostgreSQL
// server (every process of the cluster) and by this client, from /proc: on a machine whose cores
// they all share, that tells where the time goes. ROSPKI_BENCH_PROFILE=<dir> runs the daemons
// with --cpu-prof into <dir>; ROSPKI_BENCH_PARTS=sqlite,two picks the comparisons (both by default);
// ROSPKI_BENCH_BIN=<bin/rospki.js of another build> measures that build; ROSPKI_BENCH_PGSTATS=<n>
// loads pg_stat_statements and prints, after each PostgreSQL part, the n statements that took the
// server longest (calls per certificate, planning and execution time per call).
//
// `latency` (a part of its own) times the store alone, in this process: a write then a read of
// it, one after another, on one instance (the sole writer: one round trip per write, none per
// read, postgres-writers.ts), beside the plain driver committing one row per round trip.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres.js';
import { postgresMissing, startPgCluster } from '../test/support/postgres.js';
import { BIN as OWN_BIN, freePort, nowMs, requestJson, type Line } from './support.js';

/** ROSPKI_BENCH_BIN=<bin/rospki.js of another build> measures that build the same way (before/after). */
const BIN = process.env.ROSPKI_BENCH_BIN ?? OWN_BIN;

/**
 * Timed issuances per instance and arrangement (after WARM_UP per instance), in ROUNDS rounds
 * that alternate with the arrangement it is compared with.
 */
const ROUNDS = 4;
const PER_ROUND = 150;
/**
 * Issuances through each daemon before it is measured: a daemon's rate keeps rising over its
 * first several hundred certificates (V8 compiling its hot paths); after 200, SQLite's measured
 * 380–490/s, after 800 700–720/s, and the daemon's CPU per certificate fell from 2.3–3.0 to 1.6 ms.
 */
const WARM_UP = 800;
const CLIENTS_PER_INSTANCE = 4;
const AUTH = `Basic ${Buffer.from('admin:bench').toString('base64')}`;

const TICK_MS = 1000 / (Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100);

/** CPU time (ms) a process has used; with `children`, also that of its children it has reaped. */
function cpuMs(pid: number, children = false, kernelOnly = false): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    // utime, stime, cutime, cstime are fields 14-17 of proc(5); f starts at field 3.
    if (kernelOnly) return (f[12]! + (children ? f[14]! : 0)) * TICK_MS;
    return (f[11]! + f[12]! + (children ? f[13]! + f[14]! : 0)) * TICK_MS;
  } catch {
    return 0; // gone
  }
}

/**
 * CPU time used so far by each daemon, by the PostgreSQL server and by this client; `… kernel`:
 * the part spent in the kernel (system calls: sockets, fsync), which the total includes.
 */
function cpuSnapshot(daemons: readonly number[], server: () => number[]): Map<string, number> {
  const out = new Map<string, number>();
  daemons.forEach((pid, i) => out.set(`daemon ${i + 1}`, cpuMs(pid)));
  out.set('daemons kernel', daemons.reduce((sum, pid) => sum + cpuMs(pid, false, true), 0));
  const [postmaster, ...backends] = server();
  if (postmaster) {
    out.set('PostgreSQL', cpuMs(postmaster, true) + backends.reduce((sum, pid) => sum + cpuMs(pid), 0));
    out.set('PostgreSQL kernel', cpuMs(postmaster, true, true) + backends.reduce((sum, pid) => sum + cpuMs(pid, false, true), 0));
  }
  const own = process.cpuUsage();
  out.set('bench client', (own.user + own.system) / 1000);
  return out;
}

let statementsFrom = '0';
/**
 * With top = 0, resets pg_stat_statements (creating the extension first); else prints the `top`
 * statements that took the server longest since, per certificate and per call.
 */
async function statements(url: string, top: number, certs: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    if (top === 0) {
      await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      await client.query('SELECT pg_stat_statements_reset()');
      statementsFrom = (await client.query<{ version: string }>('SELECT version FROM rospki_head')).rows[0]!.version;
      return;
    }
    const written = await client.query<{ menu: string; n: string; commits: string }>(
      `SELECT menu, count(*) AS n, (SELECT version FROM rospki_head) - $1 AS commits FROM rospki_rows WHERE version > $1 GROUP BY menu ORDER BY 2 DESC`, [statementsFrom]);
    console.log(`    ${(Number(written.rows[0]?.commits ?? 0) / certs).toFixed(2)} commits/cert; rows last written since, by menu: ${written.rows.map((r) => `${r.menu} ${r.n}`).join(', ')}`);
    const { rows } = await client.query<{ calls: string; rows: string; plan: number; exec: number; query: string }>(
      `SELECT calls, rows, total_plan_time AS plan, total_exec_time AS exec, regexp_replace(query, '\\s+', ' ', 'g') AS query
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
       ORDER BY total_plan_time + total_exec_time DESC LIMIT $1`, [top]);
    for (const r of rows) {
      const calls = Number(r.calls);
      console.log(`    ${(calls / certs).toFixed(2)} calls/cert, ${(Number(r.rows) / calls).toFixed(1)} rows/call, plan ${(r.plan / calls).toFixed(3)} + exec ${(r.exec / calls).toFixed(3)} ms/call, ${((r.plan + r.exec) / certs).toFixed(3)} ms/cert: ${r.query.slice(0, 110)}`);
    }
  } finally {
    await client.end();
  }
}

/** One arrangement of daemons measured in rounds, and what its rounds summed up to. */
interface Tally {
  readonly what: string;
  readonly daemons: readonly { base: string; pid: number }[];
  readonly prefix: string;
  /** Whether its daemons run on PostgreSQL (what pg_stat_statements counts). */
  readonly onPostgres: boolean;
  certs: number;
  seconds: number;
  readonly rates: number[];
  /** CPU ms by process (cpuSnapshot's keys) over the rounds. */
  readonly cpu: Map<string, number>;
}

/** Keep-alive connections per instance, as many as its clients. */
const agents = new Map<string, http.Agent>();

async function call(base: string, method: string, url: string, body: unknown): Promise<void> {
  let agent = agents.get(base);
  if (!agent) agents.set(base, agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS_PER_INSTANCE }));
  const r = await requestJson(agent, base, method, url, body, AUTH);
  if (r.status !== 200 && r.status !== 201) throw new Error(`${method} ${url}: ${r.status} ${r.text.slice(0, 200)}`);
}

/** Issues `perInstance` certificates through each base URL, CLIENTS_PER_INSTANCE at a time each; certificates per second. */
async function issue(bases: readonly string[], prefix: string, perInstance: number): Promise<number> {
  const start = nowMs();
  await Promise.all(bases.map(async (base, b) => {
    let next = 0;
    await Promise.all(Array.from({ length: CLIENTS_PER_INSTANCE }, async () => {
      while (next < perInstance) {
        const name = `${prefix}${b}-${next++}`;
        await call(base, 'PUT', '/rest/certificate', { name, 'common-name': name, 'key-size': 'prime256v1' });
        await call(base, 'POST', '/rest/certificate/sign', { number: name, ca: 'ca' });
      }
    }));
  }));
  return (bases.length * perInstance) / ((nowMs() - start) / 1000);
}

export async function benchPg(line: Line): Promise<void> {
  const missing = postgresMissing();
  if (missing) {
    console.log(`PostgreSQL store: skipped (${missing})`);
    return;
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-pg-'));
  const stats = Number(process.env.ROSPKI_BENCH_PGSTATS ?? 0);
  const cluster = await startPgCluster({
    durable: true,
    settings: stats > 0 ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track_planning': 'on' } : {},
  });
  const children: ChildProcess[] = [];
  const port = await freePort();
  const cli = (dir: string, store: string | undefined, script: string) => {
    const r = spawnSync('node', [BIN, '--data', dir, ...(store ? ['--store', store] : []), '-e', script], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) throw new Error(`rospki -e failed: ${r.stdout}${r.stderr}`);
  };
  const profile = process.env.ROSPKI_BENCH_PROFILE;
  const parts = new Set((process.env.ROSPKI_BENCH_PARTS ?? 'sqlite,two,latency').split(','));
  const serve = async (dir: string, store: string | undefined, address: string): Promise<{ base: string; pid: number; stop(): Promise<void> }> => {
    const child = spawn('node', [...(profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profile)}`] : []), BIN, 'serve', '--data', dir], {
      stdio: 'ignore', env: { ...process.env, ROSPKI_LISTEN_ADDRESS: address, ROSPKI_STORE: store ?? '' },
    });
    children.push(child);
    const base = `http://${address}:${port}`;
    const end = Date.now() + 30_000;
    for (;;) {
      const up = await fetch(`${base}/rest/system/identity`, { headers: { authorization: AUTH } }).then((r) => r.ok, () => false);
      if (up) break;
      if (Date.now() > end || child.exitCode !== null) throw new Error(`the daemon on ${address} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      base,
      pid: child.pid!,
      async stop() {
        agents.get(base)?.destroy();
        agents.delete(base);
        if (child.exitCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      },
    };
  };
  const setup = `/user set admin password=bench; /ip service set www port=${port}; /ip service disable api,api-ssl;`
    + ' /certificate add name=ca common-name="bench CA" key-size=prime256v1 key-usage=key-cert-sign,crl-sign; /certificate sign ca';
  const server = () => cluster.pids();
  /** Issues through the daemons in rounds; where the CPU went is summed over the rounds. */
  const tally = (what: string, daemons: readonly { base: string; pid: number }[], prefix: string, onPostgres = true): Tally => ({ what, daemons, prefix, onPostgres, certs: 0, seconds: 0, rates: [], cpu: new Map() });
  const round = async (t: Tally, i: number): Promise<void> => {
    const before = cpuSnapshot(t.daemons.map((d) => d.pid), server);
    const rate = await issue(t.daemons.map((d) => d.base), `${t.prefix}${i}-`, PER_ROUND);
    const after = cpuSnapshot(t.daemons.map((d) => d.pid), server);
    const certs = PER_ROUND * t.daemons.length;
    t.certs += certs;
    t.seconds += certs / rate;
    t.rates.push(rate);
    for (const [k, v] of after) t.cpu.set(k, (t.cpu.get(k) ?? 0) + v - (before.get(k) ?? 0));
  };
  /**
   * Measures two arrangements in alternating rounds (A B, B A, A B, …: a drift of the machine's
   * load between minutes weighs on both alike), prints each, and returns their rates.
   */
  const compare = async (a: Tally, b: Tally, url?: string): Promise<[number, number]> => {
    if (url && stats > 0) await statements(url, 0, 0);
    for (let i = 0; i < ROUNDS; i++) {
      for (const t of i % 2 === 0 ? [a, b] : [b, a]) await round(t, i);
    }
    for (const t of [a, b]) {
      const cpu = [...t.cpu].map(([k, v]) => `${k} ${(v / t.certs).toFixed(2)}`).join(', ');
      console.log(`  ${t.what}: ${(t.certs / t.seconds).toFixed(1)}/s (rounds ${t.rates.map((r) => r.toFixed(0)).join(', ')}); CPU ms per certificate: ${cpu}; load ${os.loadavg()[0]!.toFixed(1)}`);
    }
    // Per certificate issued on PostgreSQL: SQLite's rounds run no statement there.
    if (url && stats > 0) await statements(url, stats, [a, b].reduce((n, t) => n + (t.onPostgres ? t.certs : 0), 0));
    return [a.certs / a.seconds, b.certs / b.seconds];
  };
  try {
    // SQLite, the reference, and PostgreSQL with one instance; then one instance against two
    // on the same database.
    const url = await cluster.newDatabase();
    const dirA = path.join(root, 'a');
    const dirB = path.join(root, 'b');
    cli(dirA, url, setup);
    fs.mkdirSync(dirB, { mode: 0o700 });
    fs.copyFileSync(path.join(dirA, 'secret.key'), path.join(dirB, 'secret.key'));
    const a = await serve(dirA, url, '127.0.0.1');
    await issue([a.base], 'w', WARM_UP);

    let sqliteRate: number | undefined;
    let one: number | undefined;
    if (parts.has('sqlite')) {
      const sqliteDir = path.join(root, 'sqlite');
      cli(sqliteDir, undefined, setup);
      const sqlite = await serve(sqliteDir, undefined, '127.0.0.3');
      await issue([sqlite.base], 'w', WARM_UP);
      [sqliteRate, one] = await compare(tally('SQLite', [sqlite], 's', false), tally('PostgreSQL, 1 instance', [a], 'p'), url);
      await sqlite.stop();
    }
    let two: number | undefined;
    let oneBesideTwo: number | undefined;
    if (parts.has('two')) {
      const b = await serve(dirB, url, '127.0.0.2');
      await issue([b.base], 'v', WARM_UP);
      [oneBesideTwo, two] = await compare(tally('PostgreSQL, 1 instance', [a], 'o'), tally('PostgreSQL, 2 instances', [a, b], 'q'), url);
      await b.stop();
    }
    await a.stop();
    const latency = parts.has('latency') ? await writeLatency(await cluster.newDatabase()) : undefined;

    if (latency) {
      line('PostgreSQL 1 instance: a write, then a read of it, ms', latency.store.toFixed(3), `driver commit ${latency.driver.toFixed(3)} ms`, latency.driver / latency.store, '— (≤ 1 round trip)');
    }
    if (one !== undefined && sqliteRate !== undefined) {
      line(`EC P-256 add+sign, REST ×${CLIENTS_PER_INSTANCE}, PostgreSQL 1 instance /s`, one.toFixed(0), `SQLite ${sqliteRate.toFixed(0)}/s`, one / sqliteRate, '≥ 0.5× SQLite');
    }
    if (oneBesideTwo !== undefined && two !== undefined) {
      line(`EC P-256 add+sign, REST ×${CLIENTS_PER_INSTANCE} each, PostgreSQL 2 instances /s`, two.toFixed(0), `1 instance ${oneBesideTwo.toFixed(0)}/s`, two / oneBesideTwo, `≥ 1.6× (${os.cpus().length} cores)`);
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
    cluster.destroy();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Writes timed one after another (after as many unmeasured). */
const SEQUENTIAL_WRITES = 1000;

/**
 * The median time of a store write followed by a read of what it wrote, one instance alone; and
 * of the plain driver committing one row per round trip (BEGIN; INSERT; COMMIT as one message).
 */
async function writeLatency(url: string): Promise<{ store: number; driver: number }> {
  const pad = 'x'.repeat(800); // about a certificate row's size
  const store = await PostgresStore.open({ url, secret: randomBytes(32) });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE bench_driver (id serial PRIMARY KEY, data text NOT NULL)');
    const timed = async (op: () => Promise<unknown>): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 2 * SEQUENTIAL_WRITES; i++) {
        const t0 = nowMs();
        await op();
        if (i >= SEQUENTIAL_WRITES) times.push(nowMs() - t0);
      }
      return times.sort((x, y) => x - y)[times.length >> 1]!;
    };
    const driver = await timed(() => client.query(`BEGIN; INSERT INTO bench_driver (data) VALUES ('${pad}'); COMMIT`));
    const ours = await timed(async () => {
      const id = await store.write((tx) => tx.insert('/bench', { pad }));
      await store.read((tx) => tx.get('/bench', id));
    });
    return { store: ours, driver };
  } finally {
    await client.end();
    store.close();
    await store.whenClosed();
  }
}
