// No peer fills the daemon's memory with answers it never reads. Before any login, `/x` on the
// API (4 bytes with its tag) is answered with a `!trap` and a `!done` several times longer: a
// client that sent without reading made rospki buffer 100 MB within seconds, per connection
// (16 may wait to log in). Reading now waits while 1 MiB of answers is unsent
// (src/services/pacing.ts, also on FTP, whose 64-command queue closes a fast flood anyway);
// DNS over TCP has its own bound (dns-tcp.test.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { startServiceApp, type ServiceApp } from '../services/support.js';

const PYTHON = '/usr/bin/python3';
const skip = fs.existsSync(PYTHON) ? false : 'python3 not installed';

let s: ServiceApp;
before(async () => {
  s = await startServiceApp({ services: { loginTimeoutMs: 60_000 } });
});
after(async () => { await s?.stop(); });

/**
 * Python sends `chunk` `times` times in small writes (a small receive buffer, never reading),
 * says "sent"; the test measures the server's Buffers, then lets the client go.
 */
async function unreadFlood(port: number, chunk: string, times: number): Promise<number> {
  const script = [
    'import socket, sys, time',
    's = socket.socket()',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)',
    `s.connect(('127.0.0.1', ${port}))`,
    `c = ${chunk}`,
    's.settimeout(5)',
    'sent = 0',
    `for i in range(${times}):`,
    '    try:',
    '        s.sendall(c)',
    '        sent += 1',
    '    except (socket.timeout, OSError):',
    '        break',
    '    time.sleep(0.0002)',
    'print("sent", sent, flush=True)',
    'sys.stdin.readline()',
  ].join('\n');
  const child = spawn(PYTHON, ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const base = process.memoryUsage().arrayBuffers;
  try {
    const until = Date.now() + 120_000;
    while (!out.includes('sent')) {
      assert.ok(Date.now() < until && child.exitCode === null, `the client sent (${err})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1000));
    return process.memoryUsage().arrayBuffers - base;
  } finally {
    child.stdin.end('go\n');
    child.kill();
    await exited;
  }
}

test('API before login: /x sentences sent without reading hold at most a few MB of !trap answers', { skip }, async () => {
  // 2048 sentences `/x` with a 40-byte tag per write: 100 KB asked, ~400 KB answered each time.
  const held = await unreadFlood(s.ports.api, `(b"\\x02/x" + bytes([45]) + b".tag=" + b"t" * 40 + b"\\x00") * 2048`, 300);
  assert.ok(held < 16 * 1024 * 1024, `the server holds ${Math.round(held / 1024)} KiB of unread answers`);
});
