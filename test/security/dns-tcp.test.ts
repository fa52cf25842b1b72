// An unauthenticated DNS peer can not make rospki hold its answers: over TCP, a client that
// pipelines questions and never reads the answers (30 bytes asked, 1.6 KB answered: fifty
// times more) got every answer buffered in the daemon's memory until it closed. Reading now
// waits while one message of answers is untaken or 16 questions are in flight (RFC 7766
// §6.2.1.1), and nothing is lost: once the client reads, every question is answered.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cli, startDnsApp, type DnsApp } from '../interop/doh-support.js';
import { run } from '../services/support.js';
import { PythonClient } from '../support/python-client.js';
import { needs } from '../support/tools.js';

const skip = needs('python3', 'dig');
const QUESTIONS = 20_000;

let t: DnsApp;
before(async () => {
  t = await startDnsApp();
  await cli(t, `/ip dns static add name=big.router.test type=TXT text="${'x'.repeat(1500)}"`);
  await t.services.reconcile();
});
after(async () => { await t?.stop(); });

test('a TCP client that never reads its answers holds no more than a message of them', { skip }, async () => {
  // Python: a small receive buffer (no autotuning), every question sent at once, then it
  // waits for a line on stdin before it reads and counts the answers.
  const script = [
    'import socket, struct, sys',
    's = socket.socket()',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)',
    `s.connect(('127.0.0.1', ${t.dnsPort}))`,
    'name = b"".join(bytes([len(p)]) + p for p in b"big.router.test".split(b".")) + b"\\0"',
    `q = b"".join(struct.pack(">H", 12 + len(name) + 4) + struct.pack(">HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 16, 1) for i in range(${QUESTIONS}))`,
    's.sendall(q)',
    'print("sent", flush=True)',
    'sys.stdin.readline()',
    's.settimeout(60)',
    'buf = b""',
    'count = 0',
    `while count < ${QUESTIONS}:`,
    '    d = s.recv(65536)',
    '    if not d: break',
    '    buf += d',
    '    while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:',
    '        buf = buf[2 + struct.unpack(">H", buf[:2])[0]:]',
    '        count += 1',
    'print(count, flush=True)',
  ];
  const before = process.memoryUsage().arrayBuffers;
  const client = new PythonClient(script);
  try {
    await client.printed('sent');
    // The server had time to read all it would; answers it holds show as Buffers in its memory.
    await new Promise((r) => setTimeout(r, 2000));
    const held = process.memoryUsage().arrayBuffers - before;
    assert.ok(held < 8 * 1024 * 1024, `the server holds ${Math.round(held / 1024)} KiB of answers for one client`);
    assert.equal(await client.finish('read', 90_000), 0, client.err);
    assert.equal(client.out.trim().split('\n').pop(), String(QUESTIONS), 'every question answered once the client reads');
  } finally {
    await client.kill();
  }
  // The listener still answers others.
  const r = await run('dig', ['@127.0.0.1', '-p', String(t.dnsPort), '+tcp', '+time=8', '+tries=1', 'big.router.test', 'TXT'], { timeoutMs: 30_000 });
  assert.match(r.stdout, /status: NOERROR/);
});
