// Two `rospki serve --store postgres://…` daemons on one PostgreSQL database behave as one router
// (issue 17 §2, §5, §6): the real binary, a real private cluster (test/support/postgres.ts), REST
// with Node's fetch and curl, CRLs judged by openssl. Both instances take the same /ip service
// configuration from the store, so they listen on the same port of two loopback addresses:
// instance A on 127.0.0.1, instance B on 127.0.0.2 (as two hosts of one CA would).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { Sealer } from '../../src/store/seal.js';
import { basic, freePort, run } from '../services/support.js';
import { openssl, tempDir } from '../support/app.js';
import { postgresMissing, startPgCluster, type PgCluster } from '../support/postgres.js';

const skip = postgresMissing();
const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'rospki.js');

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Instance {
  readonly dir: string;
  readonly address: string;
  process?: ChildProcess;
  out: string;
  err: string;
}

describe('two daemons on one PostgreSQL database', { skip }, () => {
  let cluster: PgCluster;
  let url: string;
  let port: number;
  let root: string;
  let a: Instance;
  let b: Instance;

  const rospki = (dir: string, args: string[]) => spawnSync('node', [BIN, '--data', dir, '--store', url, ...args], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' },
  });

  async function start(i: Instance): Promise<void> {
    i.out = '';
    i.err = '';
    const child = spawn('node', [BIN, 'serve', '--data', i.dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ROSPKI_STORE: url, ROSPKI_LISTEN_ADDRESS: i.address },
    });
    i.process = child;
    child.stdout!.on('data', (c) => { i.out += c; });
    child.stderr!.on('data', (c) => { i.err += c; });
    await waitFor(() => i.out.includes('serving') || child.exitCode !== null, 'the daemon to start');
    assert.equal(child.exitCode, null, i.err);
    await waitFor(async () => (await rest(i, 'GET', '/rest/system/identity').catch(() => undefined))?.status === 200, 'www to answer');
  }

  async function kill(i: Instance, signal: NodeJS.Signals): Promise<number | null> {
    const child = i.process!;
    if (child.exitCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const code = await exited;
    i.process = undefined;
    return code;
  }

  async function rest(i: Instance, method: string, p: string, body?: unknown) {
    const r = await fetch(`http://${i.address}:${port}${p}`, {
      method,
      headers: { authorization: basic(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, text, json: text ? JSON.parse(text) : undefined };
  }

  async function ok(i: Instance, method: string, p: string, body?: unknown) {
    const r = await rest(i, method, p, body);
    assert.ok(r.status < 300, `${method} ${p} on ${i.address}: ${r.status} ${r.text}`);
    return r.json;
  }

  async function sql<R extends pg.QueryResultRow>(text: string): Promise<R[]> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try { return (await c.query<R>(text)).rows; } finally { await c.end(); }
  }

  /** Adds and signs a leaf through one instance's REST. */
  async function issue(i: Instance, name: string): Promise<void> {
    await ok(i, 'PUT', '/rest/certificate', { name, 'common-name': name, 'key-size': 'prime256v1', 'key-usage': 'digital-signature,tls-client' });
    await ok(i, 'POST', '/rest/certificate/sign', { number: name, ca: 'ca' });
  }

  before(async () => {
    cluster = await startPgCluster();
    url = await cluster.newDatabase();
    port = await freePort();
    root = tempDir('rospki-pg-daemons-');
    a = { dir: path.join(root, 'a'), address: '127.0.0.1', out: '', err: '' };
    b = { dir: path.join(root, 'b'), address: '127.0.0.2', out: '', err: '' };
  });
  after(async () => {
    for (const i of [a, b]) if (i?.process) await kill(i, 'SIGKILL');
    cluster?.destroy();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test('the first instance sets the CA up; the second needs its secret.key', () => {
    const setup = rospki(a.dir, ['-e', [
      '/user set admin password=secret',
      `/ip service set www port=${port}`,
      '/ip service disable api,api-ssl',
      '/certificate add name=ca common-name=ca key-usage=key-cert-sign,crl-sign key-size=prime256v1',
      `/certificate sign ca ca-crl-host=127.0.0.2:${port}`,
    ].join('\n')]);
    assert.equal(setup.stderr, '');
    assert.equal(setup.status, 0, setup.stdout);
    // Without the first instance's secret.key the second refuses, saying what to do.
    const missing = rospki(b.dir, ['-e', ':put [/system identity get name]']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /secret\.key is missing: every instance of this CA needs the secret\.key of the first one/);
    assert.doesNotMatch(missing.stderr, new RegExp(cluster.password));
    // With another one it refuses too.
    fs.mkdirSync(b.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(b.dir, 'secret.key'), Buffer.alloc(32, 7), { mode: 0o600 });
    assert.match(rospki(b.dir, ['-e', ':put x']).stderr, /is not the secret\.key this database was sealed with/);
    fs.copyFileSync(path.join(a.dir, 'secret.key'), path.join(b.dir, 'secret.key'));
    const joined = rospki(b.dir, ['-e', ':put [/certificate get ca issuer]']);
    assert.equal(joined.status, 0, joined.stderr);
    assert.match(joined.stdout, /CN=ca/);
  });

  test('both daemons serve; concurrent signing through REST on both gives distinct serials', async () => {
    await start(a);
    await start(b);
    const K = 8;
    const names = [...Array(K)].flatMap((_, n) => [`a${n}`, `b${n}`]);
    await Promise.all(names.map((name) => issue(name.startsWith('a') ? a : b, name)));
    const fromA = await ok(a, 'GET', '/rest/certificate') as Record<string, string>[];
    const fromB = await ok(b, 'GET', '/rest/certificate') as Record<string, string>[];
    const strip = (rows: Record<string, string>[]) => rows.map((r) => [r['.id'], r.name, r['serial-number'], r.fingerprint]);
    assert.deepEqual(strip(fromB), strip(fromA));
    const leaves = fromA.filter((r) => names.includes(r.name!));
    assert.equal(leaves.length, names.length);
    const serials = leaves.map((r) => r['serial-number']);
    assert.ok(serials.every(Boolean));
    assert.equal(new Set(serials).size, serials.length, `serials collide: ${serials.join(' ')}`);
    assert.equal(new Set(fromA.map((r) => r['.id'])).size, fromA.length);
  });

  test('each instance shows its own connections in /ip service and leaves the other\'s alone', async () => {
    // fetch keeps its connections open: one to each instance, seen from both.
    const local = (rows: Record<string, string>[]) => rows.filter((r) => r.dynamic === 'true').map((r) => r.local).sort();
    const want = ['127.0.0.1', '127.0.0.2'];
    await waitFor(async () => {
      const [fromA, fromB] = [await ok(a, 'GET', '/rest/ip/service'), await ok(b, 'GET', '/rest/ip/service')];
      return JSON.stringify([...new Set(local(fromA))]) === JSON.stringify(want) && JSON.stringify([...new Set(local(fromB))]) === JSON.stringify(want);
    }, 'both instances\' connections in /ip service');
    const rows = await ok(a, 'GET', '/rest/ip/service') as Record<string, string>[];
    assert.ok(rows.every((r) => !('instance' in r)), 'the owner tag is not shown');
  });

  test('the router clock moved on one instance moves on the other', async () => {
    await ok(a, 'POST', '/rest/system/clock/set', { date: '2030-01-02', time: '03:04:05' });
    await waitFor(async () => (await ok(b, 'GET', '/rest/system/clock')).date === '2030-01-02', 'B\'s clock to move');
    await ok(b, 'POST', '/rest/system/clock/set', { date: new Date().toISOString().slice(0, 10), time: new Date().toISOString().slice(11, 19) });
    await waitFor(async () => (await ok(a, 'GET', '/rest/system/clock')).date !== '2030-01-02', 'A\'s clock to move back');
  });

  test('a CRL fetched from the second instance after a revoke on the first lists it', async () => {
    await ok(a, 'POST', '/rest/certificate/issued-revoke', { numbers: 'a0' });
    const serial = (await ok(b, 'GET', '/rest/certificate/a0'))['serial-number'] as string;
    const ca = await ok(b, 'GET', '/rest/certificate/ca');
    // The URL the CA's certificates carry points at instance B.
    const crlUrl = `http://127.0.0.2:${port}/crl/${parseInt(String(ca['.id']).slice(1), 16)}.crl`;
    const file = path.join(root, 'ca.crl');
    const got = await run('curl', ['-sS', '-f', '-o', file, crlUrl]);
    assert.equal(got.status, 0, got.stderr);
    const text = openssl(['crl', '-inform', 'DER', '-in', file, '-noout', '-text']);
    assert.match(text, new RegExp(`Serial Number: ${serial.replace(/:/g, '').toUpperCase()}`, 'i'));
  });

  test('no private key is in the clear in PostgreSQL; each opens with the shared secret', async () => {
    const blobs = await sql<{ name: string; value: Buffer }>("SELECT name, value FROM rospki_blobs");
    const rows = await sql<{ data: string }>('SELECT data FROM rospki_rows');
    const files = await sql<{ data: Buffer | null }>('SELECT data FROM rospki_files');
    const sealer = new Sealer(fs.readFileSync(path.join(a.dir, 'secret.key')));
    let keys = 0;
    for (const blob of blobs) {
      assert.throws(() => createPrivateKey({ key: blob.value, format: 'der', type: 'pkcs8' }), `a ${blob.name} blob is a plain key`);
      if (blob.name !== 'key') continue;
      createPrivateKey({ key: sealer.unseal(blob.value), format: 'der', type: 'pkcs8' });
      keys++;
    }
    assert.ok(keys >= 17, `only ${keys} sealed keys`);
    for (const text of [...rows.map((r) => r.data), ...files.map((f) => f.data?.toString('latin1') ?? '')]) {
      assert.doesNotMatch(text, /PRIVATE KEY/);
    }
  });

  test('the scheduler runs on one instance and moves to the other when it is killed mid-sign', async () => {
    // B stops, so A surely holds the duty; B comes back and waits for it.
    assert.equal(await kill(b, 'SIGTERM'), 0);
    // B took its connection rows along, A's stay.
    const services = await ok(a, 'GET', '/rest/ip/service') as Record<string, string>[];
    assert.deepEqual([...new Set(services.filter((r) => r.dynamic === 'true').map((r) => r.local))], ['127.0.0.1']);
    await ok(a, 'PUT', '/rest/system/scheduler', { name: 'tick', interval: '1s', 'on-event': ':log info tick' });
    const ticks = async () => (await ok(a.process ? a : b, 'GET', '/rest/log?message=tick') as unknown[]).length;
    await waitFor(async () => await ticks() >= 2, 'the scheduler to tick on A');
    await start(b);
    // Signing under way on A when it is killed: none is left half done, B carries on.
    const inFlight = [...Array(6)].map((_, n) => issue(a, `k${n}`).then(() => true, () => false));
    await waitFor(async () => (await ok(b, 'GET', '/rest/certificate') as Record<string, string>[]).some((r) => r.name?.startsWith('k')), 'signing on A to begin');
    await kill(a, 'SIGKILL');
    await Promise.all(inFlight);
    const before = await ticks();
    await waitFor(async () => await ticks() >= before + 2, 'the scheduler to tick on B');
    const certs = await ok(b, 'GET', '/rest/certificate') as Record<string, string>[];
    for (const c of certs.filter((r) => r.name?.startsWith('k'))) {
      // Either signed whole (serial, fingerprint, private key) or still the unsigned template.
      if (c['serial-number']) assert.ok(c.fingerprint && c['private-key'] === 'true', JSON.stringify(c));
      else assert.equal(c.fingerprint, undefined, JSON.stringify(c));
    }
    await issue(b, 'after-kill');
    const serials = (await ok(b, 'GET', '/rest/certificate') as Record<string, string>[]).map((r) => r['serial-number']).filter(Boolean);
    assert.equal(new Set(serials).size, serials.length);
    await ok(b, 'POST', '/rest/system/scheduler/remove', { numbers: 'tick' });
  });

  test('PostgreSQL restarting under load: commands fail with a clear error, the daemon stays, then works again', async () => {
    const load = (async () => {
      const outcomes: number[] = [];
      for (let n = 0; n < 40; n++) outcomes.push((await rest(b, 'PUT', '/rest/system/script', { name: `load${n}`, source: ':put 1' }).catch(() => ({ status: -1 }))).status);
      return outcomes;
    })();
    await new Promise((r) => setTimeout(r, 100));
    cluster.stop('fast');
    let down;
    try {
      down = await rest(b, 'PUT', '/rest/system/script', { name: 'down', source: ':put 1' });
    } finally {
      cluster.start();
    }
    assert.notEqual(down.status, 201);
    assert.match(down.text, /database is not reachable|could not be saved/);
    assert.doesNotMatch(down.text, new RegExp(`${cluster.password}|/tmp/`));
    await load;
    assert.equal(b.process?.exitCode, null, 'the daemon exited');
    await waitFor(async () => (await rest(b, 'PUT', '/rest/system/script', { name: `up${Date.now()}`, source: ':put 1' })).status === 201, 'writes to work again');
    await issue(b, 'after-restart');
    assert.equal(await kill(b, 'SIGTERM'), 0);
  });
});
