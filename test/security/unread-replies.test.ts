// No peer fills the daemon's memory with answers it never reads. Before any login, `/x` on the
// API (4 bytes with its tag) is answered with a `!trap` and a `!done` several times longer: a
// client that sent without reading made rospki buffer 100 MB within seconds, per connection
// (16 may wait to log in). Reading now waits while 1 MiB of answers is unsent
// (src/services/pacing.ts, also on FTP, whose 64-command queue closes a fast flood anyway);
// DNS over TCP has its own bound (dns-tcp.test.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServiceApp, type ServiceApp } from '../services/support.js';
import { PythonClient } from '../support/python-client.js';
import { needs } from '../support/tools.js';

const skip = needs('python3');

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
  ];
  const base = process.memoryUsage().arrayBuffers;
  const client = new PythonClient(script);
  try {
    await client.printed('sent', 120_000);
    await new Promise((r) => setTimeout(r, 1000));
    return process.memoryUsage().arrayBuffers - base;
  } finally {
    await client.finish('go', 0);
  }
}

test('API before login: /x sentences sent without reading hold at most a few MB of !trap answers', { skip }, async () => {
  // 2048 sentences `/x` with a 40-byte tag per write: 100 KB asked, ~400 KB answered each time.
  const held = await unreadFlood(s.ports.api, `(b"\\x02/x" + bytes([45]) + b".tag=" + b"t" * 40 + b"\\x00") * 2048`, 300);
  assert.ok(held < 16 * 1024 * 1024, `the server holds ${Math.round(held / 1024)} KiB of unread answers`);
});
