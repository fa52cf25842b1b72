// /tool netwatch probes (services/netwatch.ts): tcp-conn, http-get, https-get with
// check-certificate, icmp/simple and dns against servers this test starts on 127.0.0.1 and ::1, the
// up/down/test scripts, the reset on a change, the policy rule for scripts and the singleton duty.
// Intervals are 1s (the floor) and every wait is for a condition, with a bound.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { describe, test } from 'node:test';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { Duration } from '../../src/menu/values.js';
import { codeAccepted, MAX_STARTS_PER_SECOND, startNetwatch } from '../../src/services/netwatch.js';
import { decodeMessage, encodeMessage, message, TYPE, CLASS_IN } from '../../src/services/dns/wire.js';
import { externalCa, putCertificate, startServer } from '../menus/crl-support.js';
import { T0, toPem } from '../support/app.js';
import { netwatchFixture, until } from './netwatch-support.js';
import { needs } from '../support/tools.js';

const NW = '/tool/netwatch';
/** Every entry here starts at once (the defaults wait 3s after an add and 5m after start-up). */
const NOW = 'interval=1s start-delay=0s startup-delay=0s timeout=1s';

/** A TCP listener on 127.0.0.1 that counts the connections it accepted. */
async function listener(): Promise<{ port: number; accepted: () => number; times: number[]; close: () => Promise<void> }> {
  let count = 0;
  const times: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => { count++; times.push(performance.now()); sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => count, times,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

describe('/tool netwatch probes', () => {
  const f = netwatchFixture();
  const { cli, get } = f;
  const logs = async (topic: string): Promise<string[]> => f.t.app.store.read((tx) => tx.list('/log')
    .filter((r) => (r.data.topics as string[]).join(',') === topic).map((r) => String(r.data.message)));
  const waitStatus = (name: string, status: string) => until(async () => (await get(name, 'status')) === status, `${name} ${status}`);

  test('tcp-conn: up while the port listens, down once it closes; up-, down- and test-script run as *sys', async () => {
    const srv = await listener();
    await cli(`${NW}/add name=web host=127.0.0.1 type=tcp-conn port=${srv.port} ${NOW} up-script=":log info nw-up" down-script=":log warning nw-down" `
      + 'test-script=":global nwTests; :set nwTests (\\$nwTests + 1)"');
    await waitStatus('web', 'up');
    assert.match(await get('web', 'since'), /^2026-01-01 00:00:00$/, 'since: the router clock at the change');
    assert.equal(await get('web', 'failed-tests'), '0');
    assert.ok(Number(await get('web', 'done-tests')) >= 1);
    assert.notEqual(await get('web', 'tcp-connect-time'), '');
    assert.ok(srv.accepted() >= 1);
    await cli(`${NW}/set [find name=web] comment=kept disabled=no`);
    assert.equal(await get('web', 'status'), 'up', 'a comment, or a value that does not change, keeps the status');
    await until(async () => (await logs('script,info')).includes('nw-up'), 'the up-script');
    assert.deepEqual(await logs('netwatch,info'), [`event up [ type: tcp-conn, host: 127.0.0.1 ]`]);
    await until(async () => Number(f.t.app.env.scripts.globalsOf('*sys').get('nwTests') ?? 0) >= 1, 'the test-script, with *sys globals');

    await srv.close();
    await waitStatus('web', 'down');
    await until(async () => (await logs('script,warning')).includes('nw-down'), 'the down-script');
    assert.deepEqual(await logs('netwatch,info'), ['event up [ type: tcp-conn, host: 127.0.0.1 ]', 'event down [ type: tcp-conn, host: 127.0.0.1 ]']);
    assert.ok(Number(await get('web', 'failed-tests')) >= 1);
    assert.equal(await get('web', 'tcp-connect-time'), '', 'a failed connect has no time');
    assert.equal((await logs('script,info')).filter((m) => m === 'nw-up').length, 1, 'the up-script ran once');
    await cli(`${NW}/disable [find name=web]`);
    assert.equal(await get('web', 'status'), 'unknown', 'disabled: nothing is known');
    assert.equal(await get('web', 'since'), '');
  });

  test('the first test waits start-delay after the add and startup-delay after netwatch started', async () => {
    const early = await listener();
    const late = await listener();
    await f.restart();
    const boot = performance.now();
    try {
      await cli(`${NW}/add name=late host=127.0.0.1 type=tcp-conn port=${late.port} interval=1s start-delay=0s startup-delay=2s`);
      const added = performance.now(); // before the add: netwatch sees the entry at the earliest then
      await cli(`${NW}/add name=early host=127.0.0.1 type=tcp-conn port=${early.port} interval=1s start-delay=1s startup-delay=0s`);
      await waitStatus('early', 'up');
      await waitStatus('late', 'up');
      // Lower bounds only: a busy machine makes them later, never earlier.
      assert.ok(early.times[0]! - added >= 950, `start-delay=1s: the first test ${(early.times[0]! - added).toFixed(0)} ms after the add`);
      assert.ok(late.times[0]! - boot >= 1950, `startup-delay=2s: the first test ${(late.times[0]! - boot).toFixed(0)} ms after the start`);
    } finally {
      await early.close();
      await late.close();
    }
  });

  test('http-get: the status decides against http-code-min..max or http-codes; a change starts the entry anew', async () => {
    const srv = await startServer();
    let code = 200;
    srv.routes.set('/', (_req, res) => { res.statusCode = code; res.end('x'.repeat(100_000)); });
    try {
      await cli(`${NW}/add name=h host=127.0.0.1 type=http-get port=${srv.port} ${NOW}`);
      await waitStatus('h', 'up');
      assert.equal(await get('h', 'http-status-code'), '200');
      assert.deepEqual(srv.requests.slice(0, 1), ['GET /']);
      code = 503;
      await waitStatus('h', 'down');
      assert.equal(await get('h', 'http-status-code'), '503');
      await cli(`${NW}/set [find name=h] http-codes=200,500-503`);
      assert.equal(await get('h', 'status'), 'unknown', 'what it probes changed: the last results are forgotten');
      assert.equal(await get('h', 'done-tests'), '');
      await waitStatus('h', 'up');
      assert.equal(await get('h', 'http-status-code'), '503');
    } finally {
      await srv.close();
    }
  });

  test('https-get with check-certificate: down while the server certificate is not trusted, up once its CA is', async () => {
    const ca = externalCa('netwatch test CA', T0);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const leaf = ca.leaf('127.0.0.1', { san: 'IP:127.0.0.1', publicKey });
    const server = https.createServer({
      cert: toPem(leaf.der) + toPem(ca.ca.der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    }, (_req, res) => { res.end('ok'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      await cli(`${NW}/add name=s host=127.0.0.1 type=https-get port=${port} ${NOW}`);
      await waitStatus('s', 'up');
      await cli(`${NW}/set [find name=s] check-certificate=yes`);
      await waitStatus('s', 'down');
      assert.equal(await get('s', 'http-status-code'), '', 'no request was sent to an untrusted server');
      await putCertificate(f.t, 'nw-ca', ca.ca.der);
      await waitStatus('s', 'up');
      assert.equal(await get('s', 'http-status-code'), '200');
      // The CA trusted only for other services is no anchor for netwatch.
      await cli('/certificate/set nw-ca trust-store=fetch');
      await waitStatus('s', 'down');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('https-get presents `certificate` to a server that asks for a client certificate', async () => {
    await cli('/certificate add name=nwca common-name=nw-ca key-usage=key-cert-sign,crl-sign key-size=prime256v1; /certificate sign nwca');
    await cli('/certificate add name=probe common-name=probe key-size=prime256v1 key-usage=digital-signature,tls-client; /certificate sign probe ca=nwca');
    const caDer = await f.t.app.store.read((tx) => certificateDer(tx, tx.findBy('/certificate', 'name', 'nwca')[0]!.id)!);
    const ext = externalCa('server CA', T0);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const leaf = ext.leaf('127.0.0.1', { san: 'IP:127.0.0.1', publicKey });
    const seen: string[] = [];
    const server = https.createServer({
      cert: toPem(leaf.der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      ca: [toPem(caDer)], requestCert: true, rejectUnauthorized: true,
    }, (req, res) => { seen.push(String((req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN)); res.end('ok'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      await cli(`${NW}/add name=c host=127.0.0.1 type=https-get port=${port} ${NOW}`);
      await waitStatus('c', 'down');
      await cli(`${NW}/set [find name=c] certificate=probe`);
      await waitStatus('c', 'up');
      assert.equal(seen[0], 'probe');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('icmp and simple: 127.0.0.1 answers; a src-address of no interface here is down', { skip: needs('ping') }, async () => {
    await cli(`${NW}/add name=i host=127.0.0.1 type=icmp packet-count=3 packet-interval=20ms ${NOW} `
      + 'test-script=":global nwSent \\$\\"sent-count\\"; :global nwRtt \\$\\"rtt-avg\\"; :global nwStatus \\$status"');
    await cli(`${NW}/add name=p host=127.0.0.1 ${NOW}`);
    await cli(`${NW}/add name=x host=127.0.0.1 src-address=192.0.2.1 ${NOW}`);
    await waitStatus('i', 'up');
    assert.equal(await get('i', 'sent-count'), '3');
    assert.equal(await get('i', 'response-count'), '3');
    assert.equal(await get('i', 'loss-percent'), '0.0%');
    assert.notEqual(await get('i', 'rtt-avg'), '');
    // The scripts find the results declared, typed as get gives them.
    const sys = f.t.app.env.scripts.globalsOf('*sys');
    await until(async () => sys.get('nwStatus') === 'up', 'the test-script');
    assert.equal(sys.get('nwSent'), 3);
    assert.ok(sys.get('nwRtt') instanceof Duration, `rtt-avg is a time: ${String(sys.get('nwRtt'))}`);
    await waitStatus('p', 'up');
    await waitStatus('x', 'down');
    assert.ok((await logs('netwatch,info')).includes('event down [ type: simple, host: 127.0.0.1 ]'));
  });

  test('IPv6: tcp-conn, http-get and icmp to ::1', { skip: needs('ping') }, async (ctx) => {
    const v6 = http.createServer((_req, res) => { res.end('ok'); });
    const listening = await new Promise<boolean>((r) => { v6.once('error', () => r(false)); v6.listen(0, '::1', () => r(true)); });
    try {
      if (!listening) { ctx.skip('no ::1 on this host'); return; }
      const port = (v6.address() as net.AddressInfo).port;
      await cli(`${NW}/add name=t6 host=::1 type=tcp-conn port=${port} ${NOW}`);
      await cli(`${NW}/add name=h6 host=::1 type=http-get port=${port} ${NOW}`);
      await cli(`${NW}/add name=i6 host=::1 type=icmp packet-count=2 packet-interval=20ms packet-size=74 ${NOW}`);
      await waitStatus('t6', 'up');
      await waitStatus('h6', 'up');
      await waitStatus('i6', 'up');
      assert.equal(await get('i6', 'response-count'), '2');
    } finally {
      v6.closeAllConnections();
      if (listening) await new Promise<void>((r) => v6.close(() => r()));
    }
  });

  test('dns: asks dns-server for the name and record-type; an empty answer is down', async () => {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (msg, rinfo) => {
      const q = decodeMessage(msg);
      const question = q.questions[0]!;
      const answers = question.name.replace(/\.$/, '') === 'up.example' && question.type === TYPE.A
        ? [{ name: question.name, type: TYPE.A, class: CLASS_IN, ttl: 60, data: Buffer.from([192, 0, 2, 7]) }] : [];
      sock.send(encodeMessage(message({ id: q.id, response: true, questions: q.questions, answers })), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    await f.restart({ dnsPort: sock.address().port });
    try {
      await cli(`${NW}/add name=d type=dns host=up.example dns-server=127.0.0.1 ${NOW}`);
      await cli(`${NW}/add name=n type=dns host=none.example dns-server=127.0.0.1 ${NOW}`);
      await waitStatus('d', 'up');
      assert.equal(await get('d', 'ip'), '192.0.2.7');
      await waitStatus('n', 'down');
    } finally {
      sock.close();
    }
  });

  test('one daemon of a store probes (the duty); another takes over when it stops', async () => {
    const srv = await listener();
    const second = startNetwatch(f.t.app, { pollMs: 100 });
    try {
      assert.equal(f.nw.probing, true);
      assert.equal(second.probing, false);
      await cli(`${NW}/add name=one host=127.0.0.1 type=tcp-conn port=${srv.port} ${NOW}`);
      await until(async () => Number(await get('one', 'done-tests')) >= 3, 'three tests');
      // Each test is one connection (one more may be under way); a second prober would double them.
      const done = Number(await get('one', 'done-tests'));
      assert.ok(srv.accepted() <= done + 1, `${srv.accepted()} connections for ${done} tests`);
      await f.nw.stop();
      await until(async () => second.probing && (await get('one', 'status')) === 'up', 'the second daemon to take over');
      await second.stop();
      assert.equal(await get('one', 'status'), 'unknown', 'a daemon that stops leaves no status behind');
      assert.equal(await get('one', 'done-tests'), '');
    } finally {
      await second.stop();
      await srv.close();
    }
  });

  test(`at most ${MAX_STARTS_PER_SECOND} tests start a second, however many entries there are`, async () => {
    const srv = await listener();
    try {
      await cli(`:for i from=1 to=${MAX_STARTS_PER_SECOND + 20} do={ ${NW}/add host=127.0.0.1 type=tcp-conn port=${srv.port} ${NOW} }`);
      await until(async () => srv.accepted() > MAX_STARTS_PER_SECOND, 'more tests than one second allows');
      // The first test past the rate starts a second after the first of all (load only delays it more).
      const gap = srv.times[MAX_STARTS_PER_SECOND]! - srv.times[0]!;
      assert.ok(gap >= 900, `test ${MAX_STARTS_PER_SECOND + 1} connected ${gap.toFixed(0)} ms after the first`);
    } finally {
      await srv.close();
    }
  });

  test('scripts: only a user holding read, write, test and reboot may give one; hosts are addresses but for dns', async () => {
    await cli('/user/group/add name=rw policy=read,write');
    await cli('/user/add name=limited group=rw password=secret1234');
    const session = await f.t.app.session('limited', 'test');
    const run = (args: Record<string, string>) => f.t.app.executor.run({ path: NW, command: 'add', args: new Map(Object.entries(args)), session });
    await assert.rejects(run({ host: '127.0.0.1', 'up-script': '/system/reboot' }), /not enough permissions/);
    await run({ host: '127.0.0.1', comment: 'no scripts' });
    assert.equal((await cli(`:put [:len [${NW}/find]]`)).trim(), '1');
    // An entry with scripts someone holding more wrote: the limited user may comment, disable
    // or remove it, not choose when its scripts run (another host, other timing, enabling it).
    await cli(`${NW}/add name=guarded host=127.0.0.1 interval=1h down-script=":log info guarded-down"`);
    const guarded = (await cli(`:put [${NW}/find name=guarded]`)).trim();
    const set = (args: Record<string, string>, command = 'set') =>
      f.t.app.executor.run({ path: NW, command, args: new Map(Object.entries({ numbers: guarded, ...args })), session });
    await assert.rejects(set({ host: '127.0.0.2' }), /not enough permissions/);
    await assert.rejects(set({ interval: '1s' }), /not enough permissions/);
    await assert.rejects(set({ type: 'tcp-conn' }), /not enough permissions/);
    assert.equal((await cli(`:put [${NW}/get [find name=guarded] host]`)).trim(), '127.0.0.1', 'nothing changed');
    await set({ comment: 'seen' });
    await set({}, 'disable');
    await assert.rejects(set({}, 'enable'), /not enough permissions/);
    assert.equal((await cli(`:put [${NW}/get [find name=guarded] disabled]`)).trim(), 'true');
    await cli(`${NW}/enable [find name=guarded]`);
    await set({ 'down-script': '' });
    await set({ host: '127.0.0.2' }); // no scripts left: an entry like any other
    await set({}, 'remove');
    assert.equal((await cli(`:put [:len [${NW}/find]]`)).trim(), '1');
    const r = await f.run(`${NW}/add host=router.example`);
    assert.equal(r.ok, false);
    assert.match(String(r.error), /invalid value for argument host/);
    assert.equal((await cli(`:put [:len [${NW}/find]]`)).trim(), '1', 'nothing added');
    await cli(`${NW}/add host=router.example type=dns`);
  });

  test('http-codes: single codes and ranges; empty falls back to min..max', () => {
    assert.equal(codeAccepted(204, {}), true);
    assert.equal(codeAccepted(301, {}), false);
    assert.equal(codeAccepted(301, { 'http-codes': '200,301-302' }), true);
    assert.equal(codeAccepted(303, { 'http-codes': '200,301-302' }), false);
    assert.equal(codeAccepted(404, { 'http-code-min': 400, 'http-code-max': 499 }), true);
  });
});
