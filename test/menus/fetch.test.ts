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
    await assert.rejects(fetch(t, { url: 'tftp://127.0.0.1/x' }), /tftp mode is not supported/);
    // ftp and sftp are spoken (test/interop/fetch-ftp-sftp.test.ts): here nothing listens.
    await assert.rejects(fetch(t, { url: 'ftp://127.0.0.1:1/x' }), (e: RosError) => e.message === 'closing connection: <connection failed> 127.0.0.1:1 (140)');
    await assert.rejects(fetch(t, { url: 'http://127.0.0.1:1/x', output: 'user' }), (e: RosError) => e.message === 'closing connection: <connection failed> 127.0.0.1:1 (140)');
  });

  test('an HTTP error carries the status and header lines that `:onerror err,attr` binds', async () => {
    srv.routes.set('/gone', (_q, r) => { r.statusCode = 404; r.statusMessage = 'Not Found'; r.setHeader('Cache-Control', 'no-store'); r.setHeader('X-Frame-Options', 'sameorigin'); r.end('no such page'); });
    const e = await fetch(t, { url: srv.url('/gone'), 'as-value': '', output: 'user' }).then(() => undefined, (x: RosError) => x);
    assert.ok(e instanceof RosError);
    assert.equal(e.consoleText(), 'failure: Status 404, Not Found');
    assert.equal(e.attributes?.code, 404);
    const lines = e.attributes?.['http-headers'] as string[];
    assert.ok(Array.isArray(lines));
    assert.ok(lines.includes('Cache-Control: no-store'), lines.join(';'));
    assert.ok(lines.includes('X-Frame-Options: sameorigin'), 'names as the server wrote them');
    assert.ok(lines.includes('Content-Length: 12'));
    // A failure before any answer has nothing to bind.
    const refused = await fetch(t, { url: 'http://127.0.0.1:1/x', output: 'user' }).then(() => undefined, (x: RosError) => x);
    assert.equal(refused?.attributes, undefined);
  });

  test('a redirect loop fails with the last status line; redirects off name the target', async () => {
    srv.routes.set('/loop301', (_q, r) => { r.statusCode = 301; r.setHeader('Location', '/loop301'); r.end(); });
    srv.routes.set('/loop302', (_q, r) => { r.statusCode = 302; r.setHeader('Location', '/loop302'); r.end(); });
    await assert.rejects(fetch(t, { url: srv.url('/loop301'), output: 'user' }), (e: RosError) =>
      e.consoleText() === 'failure: 301 Moved Permanently' && e.attributes?.code === 301);
    await assert.rejects(fetch(t, { url: srv.url('/loop302'), output: 'user', 'http-max-redirect-count': '5' }), (e: RosError) =>
      e.consoleText() === 'failure: 302 Found');
    const hops = srv.requests.filter((r) => r === 'GET /loop302').length;
    assert.equal(hops, 6, 'five redirects followed, the sixth answer fails');
    await assert.rejects(fetch(t, { url: srv.url('/loop301'), output: 'user', 'http-max-redirect-count': '0' }), (e: RosError) =>
      e.consoleText() === 'failure: Fetch failed with status 301 (Location: "/loop301")');
  });

  test('more data than a variable holds: maximum message size exceeded (user, user-with-headers, compressed)', async () => {
    srv.routes.set('/30k', (_q, r) => r.end(Buffer.alloc(30 * 1024, 0x42)));
    srv.routes.set('/gz-bomb', (_q, r) => { r.setHeader('Content-Encoding', 'gzip'); r.end(zlib.gzipSync(Buffer.alloc(200 * 1024, 0x43))); });
    const tooBig = (e: RosError) => e.consoleText() === 'failure: maximum message size exceeded';
    // 30 KiB fits output=user (64512 bytes) but not user-with-headers (20480).
    const fits = await fetch(t, { url: srv.url('/30k'), output: 'user', 'as-value': '' });
    assert.equal(String((fits.ret as RosArray).get('data')).length, 30 * 1024);
    await assert.rejects(fetch(t, { url: srv.url('/30k'), output: 'user-with-headers', 'as-value': '' }), tooBig);
    await assert.rejects(fetch(t, { url: srv.url('/gz-bomb'), output: 'user', 'as-value': '' }), tooBig);
    // To a file, the same bytes are fine.
    await fetch(t, { url: srv.url('/gz-bomb'), 'dst-path': 'bomb.bin' });
    assert.equal(fs.statSync(path.join(t.app.dataDir.filesDir, 'bomb.bin')).size, 200 * 1024);
  });

  test('user-with-headers gives the header lines as a list', async () => {
    const r = await fetch(t, { url: srv.url('/hello.txt'), output: 'user-with-headers', 'as-value': '' });
    const a = r.ret as RosArray;
    assert.equal(a.get('data'), 'hello world');
    const headers = (a.get('http-headers') as RosArray).values();
    assert.ok(headers.includes('Content-Length: 11'), headers.join(';'));
  });

  test('while it runs: connecting, then downloading once a second, then finished (console fields and API records)', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    srv.routes.set('/stalling', (_q, r) => {
      r.setHeader('Content-Length', String(40 * 1024));
      r.write(Buffer.alloc(20 * 1024, 0x44));
      void released.then(() => r.end(Buffer.alloc(20 * 1024, 0x44)));
    });
    const seen: Array<{ fields: Array<[string, unknown]>; record?: Readonly<Record<string, string>> }> = [];
    let sawTwoTicks!: () => void;
    const twoTicks = new Promise<void>((r) => { sawTwoTicks = r; });
    const session = {
      ...t.session,
      progress: (fields: Array<[string, unknown]>, record?: Readonly<Record<string, string>>) => {
        seen.push({ fields, record });
        if (seen.filter((s) => s.record?.status === 'downloading').length === 2) sawTwoTicks();
      },
    };
    const run = t.app.executor.run({ path: F, command: 'fetch', args: new Map([['url', srv.url('/stalling')], ['output', 'none']]), session });
    // The server holds back half of the body until two reports of the stalled download came.
    await Promise.race([twoTicks, new Promise((_, rej) => setTimeout(() => rej(new Error('no progress reports')), 20_000).unref())]);
    release();
    const r = await run;
    assert.deepEqual(seen[0], { fields: [['status', 'connecting']], record: { status: 'connecting' } });
    const [first, second] = seen.filter((s) => s.record?.status === 'downloading');
    assert.deepEqual(first!.fields, [['status', 'downloading'], ['downloaded', '20KiB'], ['total', '40KiB'], ['duration', '0s']]);
    assert.deepEqual(first!.record, { status: 'downloading', downloaded: '20', total: '40', duration: '0s' });
    assert.equal(second!.record?.downloaded, '20');
    assert.match(second!.record!.duration!, /^[1-9]\d*s$/, 'the second report comes a second later');
    assert.deepEqual(r.block?.slice(0, 3), [['status', 'finished'], ['downloaded', '40KiB'], ['total', '40KiB']]);
    assert.deepEqual(r.records?.[0] && Object.keys(r.records[0]), ['status', 'downloaded', 'total', 'duration']);
    assert.equal(r.records?.[0]?.downloaded, '40');
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
