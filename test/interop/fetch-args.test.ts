// /tool fetch arguments against real peers on 127.0.0.1: certificate= (a client certificate
// presented to a node https server that asks for one), src-address= (the peer sees 127.0.0.2),
// http-auth-scheme=digest (a Digest server checked with curl --digest), http-content-encoding,
// ip-type (localhost to 127.0.0.1 or ::1), proplist and http-version (node's http2 servers).
// src-address over ftp and sftp: test/interop/fetch-ftp-sftp.test.ts.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import dns from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import type { RosArray } from '../../src/menu/values.js';
import { openTestApp, toPem, type TestApp } from '../support/app.js';
import { externalCa, putCertificate, startServer, type TestServer } from '../menus/crl-support.js';
import { run } from '../services/support.js';

const C = CERT_PATH;

/** A server certificate for 127.0.0.1 from a CA of the test's own. */
function serverCert(): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const leaf = externalCa('Server CA', Date.now()).leaf('127.0.0.1', { san: 'IP:127.0.0.1', publicKey });
  return { cert: toPem(leaf.der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** Listens on a free port of 127.0.0.1; resolves to the port. */
async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** A node https server on 127.0.0.1 that asks for a client certificate and answers what it saw. */
async function peerServer(caPem: string): Promise<{ server: https.Server; port: number }> {
  const server = https.createServer({ ...serverCert(), ca: [caPem], requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const sock = req.socket as TLSSocket;
    const peer = sock.getPeerCertificate();
    res.end(JSON.stringify({ cn: peer?.subject?.CN ?? null, authorized: sock.authorized, remote: sock.remoteAddress }));
  });
  return { server, port: await listen(server) };
}

/**
 * A Digest-protected server (RFC 7616, qop=auth): it offers `algorithms` and checks the answer
 * itself; curl --digest against it shows the check is right.
 */
async function digestServer(algorithms: string[]): Promise<{ server: http.Server; url: (p: string) => string; seen: string[] }> {
  const USER = 'alice';
  const PASS = 'Circle of Life';
  const REALM = 'rospki@test';
  const nonce = randomBytes(12).toString('hex');
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    const p = new Map([...auth.matchAll(/(\w+)=(?:"([^"]*)"|([^\s,]+))/g)].map((m) => [m[1]!, m[2] ?? m[3]!]));
    const alg = p.get('algorithm') ?? 'MD5';
    const hash = alg === 'SHA-256' ? 'sha256' : alg === 'MD5' ? 'md5' : undefined;
    if (auth.startsWith('Digest ') && hash && algorithms.includes(alg)) {
      const H = (s: string) => createHash(hash).update(s).digest('hex');
      const expected = H(`${H(`${USER}:${REALM}:${PASS}`)}:${nonce}:${p.get('nc')}:${p.get('cnonce')}:auth:${H(`${req.method}:${req.url}`)}`);
      if (p.get('username') === USER && p.get('realm') === REALM && p.get('nonce') === nonce && p.get('uri') === req.url
        && p.get('qop') === 'auth' && p.get('opaque') === 'op4que' && p.get('response') === expected) {
        seen.push(alg);
        res.end(`welcome ${alg} ${req.method}`);
        return;
      }
    }
    res.statusCode = 401;
    res.setHeader('WWW-Authenticate', algorithms.map((a) => `Digest realm="${REALM}", qop="auth", algorithm=${a}, nonce="${nonce}", opaque="op4que"`));
    res.end('no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { server, seen, url: (p) => `http://127.0.0.1:${port}${p}` };
}

/** One port answered on 127.0.0.1 and on ::1 (the address the client reached is the answer). */
async function dualStack(): Promise<{ port: number; close(): Promise<void> }> {
  const answer = (q: http.IncomingMessage, r: http.ServerResponse) => r.end(String(q.socket.localAddress));
  for (let attempt = 0; attempt < 10; attempt++) {
    const v4 = http.createServer(answer);
    await new Promise<void>((r) => v4.listen(0, '127.0.0.1', r));
    const port = (v4.address() as AddressInfo).port;
    const v6 = http.createServer(answer);
    const ok = await new Promise<boolean>((r) => { v6.once('error', () => r(false)); v6.listen(port, '::1', () => r(true)); });
    const close = async () => { for (const s of [v4, v6]) { s.closeAllConnections(); await new Promise<void>((r) => s.close(() => r())); } };
    if (ok) return { port, close };
    await new Promise<void>((r) => v4.close(() => r()));
  }
  throw new Error('no port free on both 127.0.0.1 and ::1');
}

describe('/tool fetch arguments', () => {
  let t: TestApp;
  let tlsPeer: { server: https.Server; port: number };
  let web: TestServer;
  let dual: { port: number; close(): Promise<void> };
  const fetch = (args: Record<string, string>) => t.run('/tool', 'fetch', { output: 'user', 'as-value': '', ...args });
  const data = async (args: Record<string, string>) => String(((await fetch(args)).ret as RosArray).get('data'));

  before(async () => {
    t = await openTestApp({ time: Date.now() });
    await t.run(C, 'add', { name: 'ca', 'common-name': 'Client CA', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1' });
    await t.run(C, 'sign', { number: 'ca' });
    await t.run(C, 'add', { name: 'client1', 'common-name': 'client1', 'key-size': 'prime256v1', 'key-usage': 'digital-signature,tls-client' });
    await t.run(C, 'sign', { number: 'client1', ca: 'ca' });
    const caDer = await t.app.store.read((tx) => certificateDer(tx, tx.findBy(C, 'name', 'ca')[0]!.id)!);
    tlsPeer = await peerServer(toPem(caDer));
    web = await startServer();
    web.routes.set('/who', (q, r) => r.end(String(q.socket.remoteAddress)));
    // Decodes what the Content-Encoding says (zlib's own decoders) and answers what it read.
    web.routes.set('/decode', (q, r, body) => {
      const enc = q.headers['content-encoding'];
      const plain = enc === 'gzip' ? zlib.gunzipSync(body) : enc === 'deflate' ? zlib.inflateSync(body) : body;
      r.end(JSON.stringify({ enc: enc ?? null, sent: body.length, text: plain.toString() }));
    });
    dual = await dualStack();
  });
  after(async () => {
    tlsPeer.server.closeAllConnections();
    await new Promise<void>((r) => tlsPeer.server.close(() => r()));
    await web.close();
    await dual.close();
    t.close();
  });

  test('certificate= presents the client certificate (and its key) to a server that asks', async () => {
    const url = `https://127.0.0.1:${tlsPeer.port}/`;
    assert.deepEqual(JSON.parse(await data({ url })), { cn: null, authorized: false, remote: '127.0.0.1' }, 'none without certificate=');
    // The server verifies it against rospki's CA: the chain and the key are the real ones.
    assert.deepEqual(JSON.parse(await data({ url, certificate: 'client1' })), { cn: 'client1', authorized: true, remote: '127.0.0.1' });
  });

  test('certificate= without a private key: RouterOS\'s SSL error, nothing sent', async () => {
    const ext = externalCa('Other CA', Date.now());
    await putCertificate(t, 'keyless', ext.leaf('keyless').der);
    await assert.rejects(data({ url: `https://127.0.0.1:${tlsPeer.port}/`, certificate: 'keyless' }), (e: RosError) => {
      assert.equal(e.consoleText(), 'failure: SSL: no key for certificate found (6)');
      return true;
    });
    await assert.rejects(data({ url: `https://127.0.0.1:${tlsPeer.port}/`, certificate: 'nosuch' }), /input does not match any value of certificate/);
  });

  test('http and https connect from src-address (the server sees it as the remote address)', async () => {
    assert.equal(await data({ url: web.url('/who') }), '127.0.0.1');
    assert.equal(await data({ url: web.url('/who'), 'src-address': '127.0.0.2' }), '127.0.0.2');
    assert.equal(JSON.parse(await data({ url: `https://127.0.0.1:${tlsPeer.port}/`, 'src-address': '127.0.0.2' })).remote, '127.0.0.2');
  });

  test('a src-address that is not this host\'s fails to connect, in fetch\'s form; a bad one is refused', async () => {
    for (const url of [web.url('/who'), `https://127.0.0.1:${tlsPeer.port}/`]) {
      await assert.rejects(data({ url, 'src-address': '192.0.2.1' }), (e: RosError) => {
        assert.match(e.consoleText(), /^failure: closing connection: <connection failed> 127\.0\.0\.1:\d+ \(140\)$/);
        return true;
      });
    }
    await assert.rejects(data({ url: web.url('/who'), 'src-address': 'not-an-ip' }), /invalid value for argument src-address/);
  });

  for (const algorithms of [['MD5'], ['SHA-256'], ['SHA-256', 'MD5']]) {
    test(`http-auth-scheme=digest answers a Digest challenge (${algorithms.join(', ')}); basic and a wrong password get 401`, async () => {
      const d = await digestServer(algorithms);
      try {
        // curl's own digest (RFC 7616) passes the server's check: the server is right.
        const curl = await run('curl', ['-s', '--digest', '-u', 'alice:Circle of Life', d.url('/secret?x=1')]);
        assert.match(curl.stdout, new RegExp(`^welcome (${algorithms.join('|')}) GET$`));
        const creds = { user: 'alice', password: 'Circle of Life' };
        assert.equal(await data({ url: d.url('/secret?x=1'), ...creds, 'http-auth-scheme': 'digest' }), `welcome ${algorithms[0]} GET`);
        assert.equal(await data({ url: d.url('/p'), ...creds, 'http-auth-scheme': 'digest', 'http-data': 'a=1' }), `welcome ${algorithms[0]} POST`);
        await assert.rejects(data({ url: d.url('/secret'), ...creds }), /Status 401, Unauthorized/);
        await assert.rejects(data({ url: d.url('/secret'), user: 'alice', password: 'wrong', 'http-auth-scheme': 'digest' }), /Status 401, Unauthorized/);
      } finally {
        d.server.closeAllConnections();
        await new Promise<void>((r) => d.server.close(() => r()));
      }
    });
  }

  test('http-content-encoding: gzip and deflate compress http-data and say so; the server decodes it', async () => {
    const text = 'a=' + 'rospki '.repeat(500);
    for (const enc of ['gzip', 'deflate']) {
      const got = JSON.parse(await data({ url: web.url('/decode'), 'http-data': text, 'http-content-encoding': enc }));
      assert.equal(got.enc, enc);
      assert.equal(got.text, text);
      assert.ok(got.sent < text.length / 10, `${enc} sent ${got.sent} bytes`);
    }
    assert.deepEqual(JSON.parse(await data({ url: web.url('/decode'), 'http-data': 'x=1' })), { enc: null, sent: 3, text: 'x=1' });
    await assert.rejects(data({ url: web.url('/decode'), 'http-data': 'x', 'http-content-encoding': 'br' }), /input does not match any value of http-content-encoding/);
  });

  test('ip-type= chooses the family localhost is resolved to', async () => {
    const url = `http://localhost:${dual.port}/`;
    assert.equal(await data({ url, 'ip-type': 'ipv4' }), '127.0.0.1');
    // Whether this host's localhost has ::1 too is its /etc/hosts' say: ask its resolver.
    const v6 = await dns.lookup('localhost', { family: 6 }).then(() => true, () => false);
    if (v6) assert.equal(await data({ url, 'ip-type': 'ipv6' }), '::1');
    else {
      await assert.rejects(data({ url, 'ip-type': 'ipv6' }), (e: RosError) => {
        assert.equal(e.consoleText(), `failure: closing connection: <connection failed> localhost:${dual.port} (140)`);
        return true;
      });
    }
    assert.match(await data({ url, 'ip-type': 'auto' }), v6 ? /^(127\.0\.0\.1|::1)$/ : /^127\.0\.0\.1$/);
    assert.equal(await data({ url: `http://[::1]:${dual.port}/` }), '::1');
    await assert.rejects(data({ url, 'ip-type': 'ipv5' }), /input does not match any value of ip-type/);
  });

  test('proplist= keeps only the result fields it names', async () => {
    const url = `http://127.0.0.1:${dual.port}/`;
    const r = (await fetch({ url, proplist: 'data,status' })).ret as RosArray;
    assert.deepEqual(r.entries().map(([k]) => k).sort(), ['data', 'status']);
    assert.equal(r.get('data'), '127.0.0.1');
    const all = (await fetch({ url })).ret as RosArray;
    assert.deepEqual(all.entries().map(([k]) => k).sort(), ['data', 'downloaded', 'duration', 'status', 'total']);
    const block = await t.run('/tool', 'fetch', { url, output: 'user', proplist: 'status' });
    assert.deepEqual(block.block, [['status', 'finished']]);
    assert.deepEqual(block.records, [{ status: 'finished' }]);
    await assert.rejects(fetch({ url, proplist: 'nosuch' }), /input does not match any value of proplist/);
  });

  test('http-version: http2 speaks HTTP/2 where the https server agrees, else HTTP/1.1; http2-forced only HTTP/2', async () => {
    // The version each request came in, its method and body: node's http2 compatibility API.
    const answer = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => { res.setHeader('X-Seen', 'yes'); res.end(`${req.httpVersion} ${req.method} ${Buffer.concat(parts).toString()}`); });
    };
    const h2 = http2.createSecureServer({ ...serverCert(), allowHTTP1: true }, answer);
    const h1 = https.createServer(serverCert(), answer);
    const h2c = http2.createServer(answer);
    const [p2, p1, pc] = [await listen(h2), await listen(h1), await listen(h2c)];
    try {
      assert.equal(await data({ url: `https://127.0.0.1:${p2}/` }), '1.1 GET ', 'http1_1 by default');
      assert.equal(await data({ url: `https://127.0.0.1:${p2}/`, 'http-version': 'http2' }), '2.0 GET ');
      assert.equal(await data({ url: `https://127.0.0.1:${p2}/`, 'http-version': 'http2-forced', 'http-data': 'a=1' }), '2.0 POST a=1');
      const r = (await fetch({ url: `https://127.0.0.1:${p2}/`, 'http-version': 'http2', output: 'user-with-headers' })).ret as RosArray;
      assert.ok((r.get('http-headers') as RosArray).values().includes('x-seen: yes'));
      assert.equal(await data({ url: `https://127.0.0.1:${p1}/`, 'http-version': 'http2' }), '1.1 GET ', 'falls back to HTTP/1.1');
      await assert.rejects(data({ url: `https://127.0.0.1:${p1}/`, 'http-version': 'http2-forced' }), (e: RosError) => {
        assert.equal(e.consoleText(), `failure: closing connection: <server does not speak http2> 127.0.0.1:${p1} (5)`);
        return true;
      });
      // Plain http: http2-forced with prior knowledge (h2c).
      assert.equal(await data({ url: `http://127.0.0.1:${pc}/`, 'http-version': 'http2-forced' }), '2.0 GET ');
    } finally {
      for (const s of [h2, h1, h2c]) await new Promise<void>((r) => s.close(() => r()));
    }
  });
});
