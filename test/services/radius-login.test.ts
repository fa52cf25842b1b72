// Router logins through RADIUS (/user aaa use-radius=yes) against a real FreeRADIUS 3.2: the
// group of Mikrotik-Group or default-group, a local user always winning, the failure rules of
// services/auth.ts (delay, /log line, per-address lockout), rights re-checked at each command,
// and the BlastRADIUS rule (a reply without a valid Message-Authenticator is refused) against a
// tiny fake server.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import * as dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { LOG_PATH } from '../../src/menus/log.js';
import { LOGIN_FAILURES_PATH } from '../../src/services/auth.js';
import { startFreeRadius, type FreeRadius } from '../support/freeradius.js';
import { needs } from '../support/tools.js';
import { passwordAuth, ssh, startSshApp, type SshApp } from './ssh-support.js';
import { ApiClient, attrs, basic, startServiceApp, type ServiceApp } from './support.js';

const skip = needs('freeradius', 'ssh');

const USERS = [
  { name: 'alice', password: 'alice-pw', group: 'full' },
  { name: 'bob', password: 'bob-pw', group: 'read' },
  { name: 'carol', password: 'carol-pw' },
  { name: 'dave', password: 'dave-radius', group: 'full' },
  { name: 'erin', password: 'erin-pw', group: 'ops' },
  { name: 'frank', password: 'frank-pw', group: 'no-such-group' },
  { name: 'gina', password: 'gina-pw', group: 'full' },
];

const DELAY_MS = 300;

describe('RADIUS logins (/user aaa use-radius=yes) with FreeRADIUS', { skip }, () => {
  let s: SshApp;
  let fr: FreeRadius;

  before(async () => {
    fr = await startFreeRadius(USERS);
    s = await startSshApp({ services: { loginFailureDelayMs: DELAY_MS } });
    await s.run('/radius', 'add', { service: 'login', address: '127.0.0.1', secret: fr.secret, 'authentication-port': String(fr.port), timeout: '300ms' });
    await s.run('/user/aaa', 'set', { 'use-radius': 'yes' });
    await s.run('/user/group', 'add', { name: 'ops', policy: 'read,write,api,rest-api,test' });
    // A local user whose name FreeRADIUS also knows, with another password.
    await s.run('/user', 'add', { name: 'dave', group: 'read', password: 'dave-local' });
  });
  after(async () => {
    await s?.stop();
    await fr?.stop();
  });

  const rest = async (user: string, password: string, method: string, p: string, body?: unknown) => {
    const r = await fetch(`http://127.0.0.1:${s.ports.www}/rest${p}`, {
      method, headers: { Authorization: basic(user, password), 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, text: await r.text() };
  };
  const logs = async () => (await s.run(LOG_PATH, 'print', {})).print!.rows.map((r) => String(r.data.message));
  const failures = () => s.app.store.read((tx) => Number(tx.findBy(LOGIN_FAILURES_PATH, 'source', '127.0.0.1')[0]?.data.count ?? 0));
  const clearFailures = () => s.app.store.write((tx) => { for (const r of tx.list(LOGIN_FAILURES_PATH)) tx.remove(LOGIN_FAILURES_PATH, r.id); });

  test('alice (Mikrotik-Group full) logs in over REST with full rights; a second request is cached', async () => {
    const before = fr.requestsFor('alice');
    const r = await rest('alice', 'alice-pw', 'GET', '/system/identity');
    assert.equal(r.status, 200, r.text);
    assert.equal(fr.requestsFor('alice'), before + 1, 'FreeRADIUS was asked once');
    const w = await rest('alice', 'alice-pw', 'POST', '/user/group/add', { name: 'by-alice', policy: 'read' });
    assert.equal(w.status, 200, w.text);
    assert.equal(fr.requestsFor('alice'), before + 1, 'the second request used the cached login');
    assert.ok((await logs()).some((l) => /user alice logged in from 127\.0\.0\.1 via rest/.test(l)));
  });

  test('bob (read) is refused a write command with not enough permissions; carol (no group) gets default-group read', async () => {
    assert.equal((await rest('bob', 'bob-pw', 'GET', '/system/identity')).status, 200);
    const w = await rest('bob', 'bob-pw', 'POST', '/system/identity/set', { name: 'by-bob' });
    assert.match(w.text, /not enough permissions/);
    assert.equal((await rest('carol', 'carol-pw', 'GET', '/system/identity')).status, 200);
    assert.match((await rest('carol', 'carol-pw', 'POST', '/system/identity/set', { name: 'by-carol' })).text, /not enough permissions/);
  });

  test('SSH (OpenSSH client): bob reads, and is refused a write command', async () => {
    const auth = passwordAuth(s, 'bob-pw');
    const read = await ssh(s, '/system identity print', auth, 'bob');
    assert.equal(read.status, 0, read.stderr);
    assert.match(read.stdout, /name: /);
    const write = await ssh(s, '/system identity set name=by-bob', auth, 'bob');
    assert.match(write.stdout + write.stderr, /not enough permissions/);
  });

  test('a wrong password fails after the delay, is logged and counts toward the lockout', async () => {
    await clearFailures();
    const start = Date.now();
    const r = await rest('alice', 'not-alice', 'GET', '/system/identity');
    assert.equal(r.status, 401);
    assert.ok(Date.now() - start >= DELAY_MS - 10, `answered after ${Date.now() - start} ms`);
    assert.ok((await logs()).some((l) => l === 'login failure for user alice from 127.0.0.1 via rest'));
    assert.equal(await failures(), 1);
    // A different password of a cached login is asked again (and refused).
    const n = fr.requestsFor('alice');
    assert.equal((await rest('alice', 'alice-pw2', 'GET', '/system/identity')).status, 401);
    assert.equal(fr.requestsFor('alice'), n + 1);
    await clearFailures();
  });

  test('a locked-out address never reaches RADIUS', async () => {
    await s.app.store.write((tx) => tx.insert(LOGIN_FAILURES_PATH, { source: '127.0.0.1', count: 50, last: Date.now(), 'locked-until': Date.now() + 600_000 }));
    const n = fr.requestsFor('gina');
    assert.equal((await rest('gina', 'gina-pw', 'GET', '/system/identity')).status, 401);
    assert.equal(fr.requestsFor('gina'), n);
    await clearFailures();
    assert.equal((await rest('gina', 'gina-pw', 'GET', '/system/identity')).status, 200);
    assert.equal(fr.requestsFor('gina'), n + 1);
  });

  test('a local user of the same name is checked locally only: RADIUS is never asked', async () => {
    assert.equal((await rest('dave', 'dave-radius', 'GET', '/system/identity')).status, 401);
    const local = await rest('dave', 'dave-local', 'GET', '/system/identity');
    assert.equal(local.status, 200);
    assert.match((await rest('dave', 'dave-local', 'POST', '/system/identity/set', { name: 'by-dave' })).text, /not enough permissions/);
    assert.equal(fr.requestsFor('dave'), 0, 'FreeRADIUS saw no request for dave');
    await clearFailures();
  });

  test('a group that does not exist refuses the login, and says so in /log', async () => {
    assert.equal((await rest('frank', 'frank-pw', 'GET', '/system/identity')).status, 401);
    assert.ok((await logs()).some((l) => /^login failure for user frank from 127\.0\.0\.1 via rest \(RADIUS group no-such-group does not exist/.test(l)));
    await clearFailures();
  });

  test('an API session of a RADIUS user loses its rights at the next command when its group goes or use-radius is turned off', async () => {
    const api = await ApiClient.connect(s.ports.api);
    try {
      assert.equal((await api.login('erin', 'erin-pw'))[0]![0], '!done');
      assert.equal((await api.talk('/system/identity/set', '=name=by-erin'))[0]![0], '!done');
      await s.run('/user/group', 'set', { numbers: 'ops', policy: 'read,api,rest-api' });
      const demoted = await api.talk('/system/identity/set', '=name=erin-again');
      assert.equal(demoted[0]![0], '!trap');
      assert.match(attrs(demoted[0]!).message!, /not enough permissions/);
      assert.equal((await api.talk('/system/identity/print'))[0]![0], '!re');
      await s.run('/user/group', 'remove', { numbers: 'ops' });
      const gone = await api.talk('/system/identity/print');
      assert.equal(gone[0]![0], '!trap', 'no rights without the group');
    } finally {
      api.close();
    }
    const api2 = await ApiClient.connect(s.ports.api);
    try {
      assert.equal((await api2.login('alice', 'alice-pw'))[0]![0], '!done');
      assert.equal((await api2.talk('/system/identity/print'))[0]![0], '!re');
      await s.run('/user/aaa', 'set', { 'use-radius': 'no' });
      assert.equal((await api2.talk('/system/identity/print'))[0]![0], '!trap', 'no rights once use-radius is off');
    } finally {
      api2.close();
      await s.run('/user/aaa', 'set', { 'use-radius': 'yes' });
    }
  });

  test('use-radius=no: RADIUS is never asked', async () => {
    await s.run('/user/aaa', 'set', { 'use-radius': 'no' });
    try {
      const n = fr.requestsFor('bob');
      // Not cached: bob's earlier login is still in the cache, so a new password is used.
      assert.equal((await rest('bob', 'bob-other', 'GET', '/system/identity')).status, 401);
      assert.equal((await rest('bob', 'bob-pw', 'GET', '/system/identity')).status, 401);
      assert.equal(fr.requestsFor('bob'), n);
    } finally {
      await s.run('/user/aaa', 'set', { 'use-radius': 'yes' });
      await clearFailures();
    }
  });
});

/** A UDP server on 127.0.0.1 that answers each request with `reply(request)` (or not at all). */
async function fakeServer(reply: (req: Buffer) => Buffer | undefined): Promise<{ port: number; received: () => number; close(): void }> {
  const sock = dgram.createSocket('udp4');
  let received = 0;
  sock.on('message', (msg, from) => {
    received++;
    const r = reply(msg);
    if (r) sock.send(r, from.port, from.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return { port: sock.address().port, received: () => received, close: () => sock.close() };
}

/** An Access-Accept to `req` with a right Response Authenticator; Message-Authenticator as `ma` says. */
function accept(req: Buffer, secret: string, ma: 'good' | 'bad' | 'none'): Buffer {
  const attrs = ma === 'none' ? Buffer.alloc(0) : Buffer.concat([Buffer.from([80, 18]), Buffer.alloc(16)]);
  const p = Buffer.concat([Buffer.from([2, req[1]!, 0, 0]), req.subarray(4, 20), attrs]);
  p.writeUInt16BE(p.length, 2);
  if (ma !== 'none') {
    const mac = createHmac('md5', secret).update(p).digest();
    if (ma === 'bad') mac[0]! ^= 1;
    mac.copy(p, 22);
  }
  createHash('md5').update(p.subarray(0, 4)).update(req.subarray(4, 20)).update(p.subarray(20)).update(secret).digest().copy(p, 4);
  return p;
}

describe('RADIUS logins against servers that do not behave', () => {
  let s: ServiceApp;
  before(async () => {
    s = await startServiceApp({ services: { loginFailureDelayMs: 50 } });
    await s.run('/user/aaa', 'set', { 'use-radius': 'yes' });
  });
  after(() => s?.stop());

  const login = async (user: string) => {
    const start = Date.now();
    const r = await fetch(`http://127.0.0.1:${s.ports.www}/rest/system/identity`, { headers: { Authorization: basic(user, 'pw') } });
    await r.text();
    return { status: r.status, ms: Date.now() - start };
  };
  const useServer = async (port: number, secret: string) => {
    const ids = await s.app.store.read((tx) => tx.list('/radius').map((r) => r.id));
    for (const id of ids) await s.run('/radius', 'remove', { numbers: `*${id.toString(16).toUpperCase()}` });
    await s.run('/radius', 'add', { service: 'login', address: '127.0.0.1', secret, 'authentication-port': String(port), timeout: '200ms' });
  };
  const logs = async () => (await s.run(LOG_PATH, 'print', {})).print!.rows.map((r) => String(r.data.message));

  test('a server that does not answer: the login fails within timeout × sends, after three sends', async () => {
    const server = await fakeServer(() => undefined);
    try {
      await useServer(server.port, 'x');
      const r = await login('silent');
      assert.equal(r.status, 401);
      assert.equal(server.received(), 3);
      assert.ok(r.ms >= 3 * 200 - 20 && r.ms < 3 * 200 + 3000, `${r.ms} ms`);
      assert.ok((await logs()).some((l) => /login failure for user silent .*no valid RADIUS answer: 127\.0\.0\.1: no answer/.test(l)));
    } finally {
      server.close();
    }
  });

  for (const ma of ['bad', 'none'] as const) {
    test(`an Access-Accept with ${ma === 'bad' ? 'a wrong' : 'no'} Message-Authenticator is refused (BlastRADIUS)`, async () => {
      const server = await fakeServer((req) => accept(req, 'fake-secret', ma));
      try {
        await useServer(server.port, 'fake-secret');
        assert.equal((await login(`mallory-${ma}`)).status, 401);
        const why = ma === 'bad' ? 'a reply with a wrong Message-Authenticator' : 'a reply without Message-Authenticator';
        assert.ok((await logs()).some((l) => l.includes(`login failure for user mallory-${ma}`) && l.includes(why)), why);
      } finally {
        server.close();
      }
    });
  }

  test('the same fake server with a valid Message-Authenticator is believed (the refusals above are for the attribute)', async () => {
    const server = await fakeServer((req) => accept(req, 'fake-secret', 'good'));
    try {
      await useServer(server.port, 'fake-secret');
      // No Mikrotik-Group: default-group read.
      assert.equal((await login('trusted')).status, 200);
    } finally {
      server.close();
    }
  });
});
