// REST request bodies stream in with a size limit (issue 11): a body over the limit is refused
// with 413 as soon as it passes it, and the connection closes instead of reading (draining) the
// rest; a body that does not come with accepted credentials is not read at all.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { tempDir } from '../support/app.js';
import { basic, run, startServiceApp, type ServiceApp } from './support.js';

const LIMIT = 256 * 1024;
let s: ServiceApp;
let dir: string;
before(async () => {
  s = await startServiceApp({ services: { maxBodyBytes: LIMIT } });
  dir = tempDir('rospki-body-');
});
after(async () => { await s.stop(); fs.rmSync(dir, { recursive: true, force: true }); });

const CHUNK = Buffer.alloc(64 * 1024, 0x20);
/** Far more than the limit: a server that drains it keeps the connection open all along. */
const ENDLESS = 256 * 1024 * 1024;

/**
 * Sends request headers, then body bytes until the server closes the connection or `ENDLESS`
 * bytes went out. Returns what was sent and the server's answer.
 */
async function pour(head: string, chunked: boolean): Promise<{ sent: number; answer: string }> {
  const socket = net.connect(s.ports.www, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let answer = '';
  let gone = false;
  socket.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
  const closed = new Promise<void>((resolve) => {
    const end = () => { gone = true; resolve(); };
    socket.once('close', end);
    socket.once('end', end);
    socket.on('error', end);
  });
  socket.write(head);
  let sent = 0;
  while (!gone && sent < ENDLESS) {
    const piece = chunked ? Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')]) : CHUNK;
    sent += CHUNK.length;
    if (!socket.write(piece)) {
      await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
    }
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))]);
  socket.destroy();
  return { sent, answer };
}

test('an endless chunked body with good credentials: 413 once past the limit, then the connection closes', async () => {
  const r = await pour(`POST /rest/system/identity/print HTTP/1.1\r\nHost: router\r\nAuthorization: ${basic()}\r\n`
    + 'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', true);
  assert.ok(r.sent < ENDLESS, 'the server stopped reading');
  assert.match(r.answer, /^HTTP\/1\.1 413 /);
  assert.match(r.answer, /\r\nConnection: close\r\n/i);
  assert.ok(r.answer.endsWith('{"detail":"request too large","error":413,"message":"Payload Too Large"}'), r.answer);
});

test('a large body without credentials is not read: 401 and the connection closes', async () => {
  const r = await pour('POST /rest/system/identity/print HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', true);
  assert.ok(r.sent < ENDLESS, 'the server stopped reading');
  assert.match(r.answer, /^HTTP\/1\.1 401 /);
});

test('a declared length over the limit is refused before the body is sent (Expect: 100-continue, curl)', async () => {
  const file = path.join(dir, 'big.json');
  fs.writeFileSync(file, `{"name":"${'x'.repeat(LIMIT)}"}`);
  const r = await run('curl', ['-sS', '-u', 'admin:secret', '-H', 'Content-Type: application/json', '-H', 'Expect: 100-continue',
    '--data-binary', `@${file}`, '-w', '\n%{http_code} %{size_upload}', `http://127.0.0.1:${s.ports.www}/rest/system/identity/set`]);
  assert.equal(r.status, 0, r.stderr);
  const [body, codes] = r.stdout.split('\n');
  assert.equal(body, '{"detail":"request too large","error":413,"message":"Payload Too Large"}');
  assert.equal(codes, '413 0', 'nothing of the body was uploaded');
});

test('a body within the limit still works', async () => {
  const r = await fetch(`http://127.0.0.1:${s.ports.www}/rest/system/identity/set`, {
    method: 'POST', headers: { authorization: basic(), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x'.repeat(1000) }),
  });
  assert.equal(r.status, 200);
  const after = await fetch(`http://127.0.0.1:${s.ports.www}/rest/system/identity`, { headers: { authorization: basic() } });
  assert.equal(((await after.json()) as { name: string }).name, 'x'.repeat(1000));
});
