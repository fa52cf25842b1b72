// /tool fetch over plain HTTP against a server on 127.0.0.1: output=user/file/none, as-value,
// methods, headers, auth, redirects, gzip, errors, limits, /file confinement.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { RosArray } from '../../src/menu/values.js';
import { openTestApp, type TestApp } from '../support/app.js';
import { startServer, type TestServer } from './crl-support.js';

const F = '/tool';
const fetch = (t: TestApp, args: Record<string, string>) => t.run(F, 'fetch', args);

describe('/tool fetch (http)', () => {
  let t: TestApp;
  let srv: TestServer;
  before(async () => {
    t = await openTestApp();
    srv = await startServer();
    srv.routes.set('/hello.txt', (_q, r) => r.end('hello world'));
    srv.routes.set('/big.bin', (_q, r) => r.end(Buffer.alloc(300 * 1024, 0x41)));
    srv.routes.set('/moved', (_q, r) => { r.statusCode = 302; r.setHeader('Location', '/hello.txt'); r.end(); });
    srv.routes.set('/gz', (_q, r) => { r.setHeader('Content-Encoding', 'gzip'); r.end(zlib.gzipSync('compressed body')); });
    srv.routes.set('/echo', (q, r, body) => r.end(JSON.stringify({ method: q.method, body: body.toString(), auth: q.headers.authorization ?? '', x: q.headers['x-test'] ?? '', ua: q.headers['user-agent'], ct: q.headers['content-type'] ?? '' })));
  });
  after(async () => { t.close(); await srv.close(); });

  test('output=user returns the body in the result block', async () => {
    const r = await fetch(t, { url: srv.url('/hello.txt'), output: 'user' });
    assert.deepEqual(r.block, [['status', 'finished'], ['downloaded', '0KiB'], ['total', '0KiB'], ['duration', '0s'], ['data', 'hello world']]);
  });

  test('as-value gives status, downloaded, total, duration, data', async () => {
    const r = await fetch(t, { url: srv.url('/big.bin'), output: 'none', 'as-value': '' });
    const a = r.ret as RosArray;
    assert.equal(a.get('status'), 'finished');
    assert.equal(a.get('downloaded'), 300);
    assert.equal(a.get('total'), 300);
    assert.equal(a.get('data'), undefined);
  });

  test('output=file (default) writes into /file, named after the URL or dst-path', async () => {
    const r = await fetch(t, { url: srv.url('/big.bin') });
    assert.deepEqual(r.block?.slice(0, 3), [['status', 'finished'], ['downloaded', '300KiB'], ['total', '300KiB']]);
    assert.equal(fs.statSync(path.join(t.app.dataDir.filesDir, 'big.bin')).size, 300 * 1024);
    await fetch(t, { url: srv.url('/hello.txt'), 'dst-path': 'dl/h.txt' });
    assert.equal(fs.readFileSync(path.join(t.app.dataDir.filesDir, 'dl/h.txt'), 'utf8'), 'hello world');
    await assert.rejects(fetch(t, { url: srv.url('/hello.txt'), 'dst-path': '../escape.txt' }), /outside of the file store/);
    assert.equal(fs.existsSync(path.join(t.app.dataDir.filesDir, '..', 'escape.txt')), false);
    await fetch(t, { url: srv.url('/hello.txt'), 'keep-result': 'no', 'dst-path': 'not-kept.txt' });
    assert.equal(fs.existsSync(path.join(t.app.dataDir.filesDir, 'not-kept.txt')), false);
  });

  test('methods, data, header fields, basic auth, user agent', async () => {
    const r = await fetch(t, { url: srv.url('/echo'), output: 'user', 'http-method': 'put', 'http-data': 'a=1', 'http-header-field': 'X-Test:yes,Content-Type:text/plain', user: 'u', password: 'p' });
    const got = JSON.parse(String(r.block!.find(([k]) => k === 'data')![1]));
    assert.deepEqual(got, { method: 'PUT', body: 'a=1', auth: `Basic ${Buffer.from('u:p').toString('base64')}`, x: 'yes', ua: 'RouterOS 7.23.3', ct: 'text/plain' });
    const post = JSON.parse(String((await fetch(t, { url: srv.url('/echo'), output: 'user', 'http-data': 'b=2' })).block!.at(-1)![1]));
    assert.equal(post.method, 'POST');
    assert.equal(post.ct, 'application/x-www-form-urlencoded');
  });

  test('redirects, gzip and errors', async () => {
    assert.equal((await fetch(t, { url: srv.url('/moved'), output: 'user' })).block!.at(-1)![1], 'hello world');
    await assert.rejects(fetch(t, { url: srv.url('/moved'), output: 'user', 'http-max-redirect-count': '0' }),
      (e: RosError) => e.consoleText() === 'failure: Fetch failed with status 302 (Location: "/hello.txt")');
    assert.equal((await fetch(t, { url: srv.url('/gz'), output: 'user' })).block!.at(-1)![1], 'compressed body');
    await assert.rejects(fetch(t, { url: srv.url('/nothing'), output: 'user' }), (e: RosError) => e.consoleText() === 'failure: Status 404, Not Found');
    await assert.rejects(fetch(t, { url: srv.url('/big.bin'), output: 'user' }), (e: RosError) => e.message === 'maximum message size exceeded');
    await assert.rejects(fetch(t, { url: 'ftp://127.0.0.1/x' }), /ftp mode is not supported/);
    await assert.rejects(fetch(t, { url: 'sftp://127.0.0.1/x' }), /sftp mode is not supported/);
    await assert.rejects(fetch(t, { url: 'http://127.0.0.1:1/x', output: 'user' }), (e: RosError) => e.message === 'closing connection: <connection failed> 127.0.0.1:1 (140)');
  });

  test('idle-timeout ends a silent server', async () => {
    srv.routes.set('/slow', (_q, r) => { r.write('x'); setTimeout(() => r.end(), 2000).unref(); });
    await assert.rejects(fetch(t, { url: srv.url('/slow'), output: 'user', 'idle-timeout': '200ms' }), (e: RosError) => e.message === 'connection timeout');
  });

  test('progress lines go to a terminal session', async () => {
    const seen: string[] = [];
    const session = { ...t.session, progress: (fields: Array<[string, unknown]>) => seen.push(String(fields[0]![1])) };
    await t.app.executor.run({ path: F, command: 'fetch', args: new Map([['url', srv.url('/big.bin')], ['output', 'none']]), session });
    assert.equal(seen[0], 'connecting');
  });

  test('the v6 form mode= address= src-path= port=', async () => {
    const r = await fetch(t, { mode: 'http', address: '127.0.0.1', port: String(srv.port), 'src-path': 'hello.txt', output: 'user' });
    assert.equal(r.block!.at(-1)![1], 'hello world');
  });
});
