// Issue 11: twenty idle TCP connections locked a service out (max-sessions counted connections
// that never logged in, and www-ssl and api-ssl never timed them out). Now connections waiting
// to log in have a pool of their own and a deadline; max-sessions counts sessions. Judged with
// curl and python3-librouteros.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../support/app.js';
import { ApiClient, basic, makeChain, run, startServiceApp, type ServiceApp } from '../services/support.js';
import { mayUse } from '../support/tools.js';

const SERVICES = ['www', 'www-ssl', 'api', 'api-ssl'] as const;
type Service = typeof SERVICES[number];

/** A TCP connection that says nothing; resolves once connected. */
function idle(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Starts a TLS handshake and stalls in it: a record header announcing 512 bytes, 4 of them sent. */
async function stalledHandshake(port: number): Promise<net.Socket> {
  const socket = await idle(port);
  socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]));
  return socket;
}

/** Resolves when the server closed the socket (end, reset or close). */
function closedByServer(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) { resolve(); return; }
    socket.on('error', () => {});
    socket.once('close', () => resolve());
    socket.once('end', () => resolve());
  });
}

function isOpen(socket: net.Socket): boolean {
  return !socket.destroyed && socket.readable;
}

const LIBROUTEROS = String.raw`
import ssl, sys
from librouteros import connect
port, tls, cafile = int(sys.argv[1]), sys.argv[2] == 'tls', sys.argv[3]
kw = dict(port=port, timeout=15)
if tls:
    ctx = ssl.create_default_context(cafile=cafile)
    kw['ssl_wrapper'] = lambda s: ctx.wrap_socket(s, server_hostname='router.test')
api = connect(host='127.0.0.1', username='admin', password='secret', **kw)
print(list(api('/system/identity/print'))[0]['name'])
`;

describe('idle connections do not lock a service out', () => {
  let s: ServiceApp;
  let dir: string;
  let rootFile: string;
  const sockets: net.Socket[] = [];

  before(async () => {
    // A long login deadline: the idle connections must not be helped out by it here.
    s = await startServiceApp({ services: { loginTimeoutMs: 60_000, preAuthPool: 16 } });
    dir = tempDir('rospki-idle-');
    const chain = await makeChain(s);
    rootFile = path.join(dir, 'root.pem');
    fs.writeFileSync(rootFile, chain.rootPem);
    await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv', disabled: 'no' });
    await s.run('/ip/service', 'set', { numbers: 'api-ssl', certificate: 'srv' });
    await s.services.reconcile();
  });
  after(async () => {
    for (const c of sockets) c.destroy();
    await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('25 idle TCP connections (and 10 stalled TLS handshakes) per service, then curl and librouteros get in', async () => {
    const held = new Map<Service, net.Socket[]>();
    for (const name of SERVICES) {
      const mine: net.Socket[] = [];
      for (let i = 0; i < 25; i++) mine.push(await idle(s.ports[name]));
      if (name.endsWith('-ssl')) for (let i = 0; i < 10; i++) mine.push(await stalledHandshake(s.ports[name]));
      for (const c of mine) c.on('error', () => {});
      held.set(name, mine);
      sockets.push(...mine);
    }
    const rest = await run('curl', ['-sS', '--max-time', '20', '-u', 'admin:secret', `http://127.0.0.1:${s.ports.www}/rest/system/identity`]);
    assert.equal(rest.status, 0, rest.stderr);
    assert.equal(JSON.parse(rest.stdout).name, 'MikroTik');
    const rests = await run('curl', ['-sS', '--max-time', '20', '--cacert', rootFile, '--resolve', `router.test:${s.ports['www-ssl']}:127.0.0.1`,
      '-u', 'admin:secret', `https://router.test:${s.ports['www-ssl']}/rest/system/identity`]);
    assert.equal(rests.status, 0, rests.stderr);
    assert.equal(JSON.parse(rests.stdout).name, 'MikroTik');
    // The binary API: librouteros when installed, the bare client always.
    for (const name of ['api', 'api-ssl'] as const) {
      if (mayUse('librouteros')) {
        const r = await run('/usr/bin/python3', ['-c', LIBROUTEROS, String(s.ports[name]), name === 'api-ssl' ? 'tls' : 'plain', rootFile], { timeoutMs: 30_000 });
        assert.equal(r.status, 0, `${name}: ${r.stderr}`);
        assert.equal(r.stdout.trim(), 'MikroTik');
      }
    }
    const c = await ApiClient.connect(s.ports.api);
    assert.deepEqual(await c.login(), [['!done']]);
    c.close();
    // The pool keeps at most 16 waiting connections per service: the oldest idle ones went.
    for (const name of SERVICES) {
      const mine = held.get(name)!;
      const deadline = Date.now() + 15_000;
      while (mine.filter(isOpen).length > 16 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(mine.filter(isOpen).length <= 16, `${name}: ${mine.filter(isOpen).length} idle connections still open`);
      assert.ok(!isOpen(mine[0]!), `${name}: the oldest idle connection was displaced`);
    }
  });
});

/**
 * Long enough for a TLS handshake and a login (scrypt) on a loaded machine, which the sessions of
 * the second test must finish in; short enough that waiting for it costs the suite little.
 */
const LOGIN_DEADLINE = 5_000;

/** Resolves when the server closed every socket; fails (naming those still open) after `ms`. */
async function allClosedByServer(sockets: Array<[string, net.Socket]>, ms = LOGIN_DEADLINE + 30_000): Promise<void> {
  const outcome = await Promise.race([
    Promise.all(sockets.map(([, c]) => closedByServer(c))).then(() => 'closed'),
    new Promise((r) => setTimeout(() => r('timeout'), ms).unref()),
  ]);
  const open = sockets.filter(([, c]) => isOpen(c)).map(([n]) => n);
  assert.equal(outcome, 'closed', `still open: ${open.join(', ')}`);
}

describe('connections that do not log in in time are closed; sessions stay', () => {
  let s: ServiceApp;
  let dir: string;

  before(async () => {
    s = await startServiceApp({ services: { loginTimeoutMs: LOGIN_DEADLINE, idleTimeoutMs: 60_000 } });
    dir = tempDir('rospki-deadline-');
    await makeChain(s);
    await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv', disabled: 'no' });
    await s.run('/ip/service', 'set', { numbers: 'api-ssl', certificate: 'srv' });
    await s.services.reconcile();
  });
  after(async () => { await s.stop(); fs.rmSync(dir, { recursive: true, force: true }); });

  test('idle TCP, a stalled TLS handshake, trickled HTTP headers and an API connection without /login all close', async () => {
    const waiting: Array<[string, net.Socket]> = [];
    for (const name of SERVICES) waiting.push([`${name} idle`, await idle(s.ports[name])]);
    waiting.push(['www-ssl handshake', await stalledHandshake(s.ports['www-ssl'])]);
    waiting.push(['api-ssl handshake', await stalledHandshake(s.ports['api-ssl'])]);
    // Headers one byte every 100 ms: each byte is activity, none completes the request.
    const trickle = await idle(s.ports.www);
    const text = `GET / HTTP/1.1\r\nHost: router\r\nX-Slow: ${'a'.repeat(400)}\r\n\r\n`;
    let i = 0;
    const timer = setInterval(() => { if (!trickle.destroyed && i < text.length) trickle.write(text[i++]!); }, 100);
    waiting.push(['www trickled headers', trickle]);
    // An API connection that talks, but never logs in.
    const chatty = await ApiClient.connect(s.ports.api);
    const chatter = setInterval(() => { if (!chatty.closed) chatty.send('/system/identity/print'); }, 100);
    waiting.push(['api without /login', chatty.socket]);
    try {
      await allClosedByServer(waiting);
    } finally {
      clearInterval(timer);
      clearInterval(chatter);
      for (const [, c] of waiting) c.destroy();
    }
  });

  test('logged-in sessions outlive the login deadline: api, api-ssl, and REST keep-alive over www and www-ssl', async () => {
    const api = await ApiClient.connect(s.ports.api);
    const apiSsl = await ApiClient.connect(s.ports['api-ssl'], tls.connect({ port: s.ports['api-ssl'], host: '127.0.0.1', rejectUnauthorized: false }));
    for (const c of [api, apiSsl]) assert.deepEqual(await c.login(), [['!done']]);
    const web = await keepAlive(net.connect(s.ports.www, '127.0.0.1'));
    const webSsl = await keepAlive(tls.connect({ port: s.ports['www-ssl'], host: '127.0.0.1', rejectUnauthorized: false }));
    for (const w of [web, webSsl]) assert.match(await w.get(), /^HTTP\/1\.1 200 /);
    // Wait until connections opened after these have been closed by their deadline.
    const later: Array<[string, net.Socket]> = [];
    for (const name of SERVICES) later.push([name, await idle(s.ports[name])]);
    try {
      await allClosedByServer(later);
    } finally {
      for (const [, c] of later) c.destroy();
    }
    for (const c of [api, apiSsl]) {
      assert.equal((await c.talk('/system/identity/print'))[0]![0], '!re');
      c.close();
    }
    for (const w of [web, webSsl]) {
      assert.match(await w.get(), /^HTTP\/1\.1 200 /, 'the same connection, still open');
      w.socket.destroy();
    }
  });
});

/** An HTTP/1.1 keep-alive connection that sends authenticated GETs one after the other. */
async function keepAlive(socket: net.Socket): Promise<{ socket: net.Socket; get(): Promise<string> }> {
  await new Promise<void>((resolve, reject) => { socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', resolve); socket.once('error', reject); });
  return {
    socket,
    get: () => new Promise((resolve, reject) => {
      let text = '';
      const onData = (d: Buffer) => {
        text += d.toString();
        const m = /Content-Length: (\d+)\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/i.exec(text);
        if (m && Buffer.byteLength(m[2]!) >= Number(m[1])) { socket.off('data', onData); resolve(text); }
      };
      socket.on('data', onData);
      socket.once('close', () => reject(new Error(`closed after ${JSON.stringify(text)}`)));
      socket.write(`GET /rest/system/identity HTTP/1.1\r\nHost: router\r\nAuthorization: ${basic()}\r\n\r\n`);
    }),
  };
}

describe('max-sessions counts sessions, over REST too', () => {
  let s: ServiceApp;
  before(async () => { s = await startServiceApp(); });
  after(async () => { await s.stop(); });

  function get(agent: http.Agent): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: s.ports.www, path: '/rest/system/identity', agent, headers: { authorization: basic() } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
  }

  test('a second connection over max-sessions=1 gets 503; unauthenticated pages still answer', async () => {
    await s.run('/ip/service', 'set', { numbers: 'www', 'max-sessions': '1' });
    await s.services.reconcile();
    const first = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const second = new http.Agent({ keepAlive: false });
    try {
      assert.equal((await get(first)).status, 200);
      // The first agent's connection stays open (keep-alive) and holds the one session.
      const refused = await get(second);
      assert.equal(refused.status, 503);
      assert.deepEqual(JSON.parse(refused.body), { detail: 'too many sessions', error: 503, message: 'Service Unavailable' });
      assert.equal((await get(first)).status, 200, 'the session itself goes on');
      const landing = await fetch(`http://127.0.0.1:${s.ports.www}/`);
      assert.equal(landing.status, 200);
      first.destroy();
      let status = 0;
      for (const deadline = Date.now() + 30_000; status !== 200 && Date.now() < deadline;) {
        await new Promise((r) => setTimeout(r, 20));
        status = (await get(second)).status;
      }
      assert.equal(status, 200, 'the session ended: the next connection gets its place');
    } finally {
      first.destroy();
      second.destroy();
      await s.run('/ip/service', 'set', { numbers: 'www', 'max-sessions': '20' });
    }
  });
});
