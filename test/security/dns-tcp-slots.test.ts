// No unauthenticated DNS peer can hold every TCP slot (RFC 7766 §6.2.3): clients that ask one
// question every second or two kept their connections, so max-concurrent-tcp-sessions of them
// made the listener close every new connection on accept. Now a new connection closes the one
// idle the longest (of the address holding the most), the idle timeout counts from the last
// answer (not the last byte), and UDP is not concerned.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cli, digAnswers, digStatus, startDnsApp, type DnsApp } from '../interop/doh-support.js';
import { run } from '../services/support.js';
import { PythonClient } from '../support/python-client.js';
import { needs, PYTHON } from '../support/tools.js';

const skip = needs('python3', 'dig');
/** More holders than slots (max-concurrent-tcp-sessions is 20 by default). */
const HOLDERS = 24;
const SLOTS = 20;

let t: DnsApp;
before(async () => {
  t = await startDnsApp();
  await cli(t, '/ip dns static add name=hold.router.test address=192.0.2.7');
  await t.services.reconcile();
});
after(async () => { await t?.stop(); });

/** Python: HOLDERS connections, each asking a question at once and then every 1.5 s; a status line a round. */
const holderScript = (port: number) => [
  'import socket, struct, sys, time, select',
  'name = b"".join(bytes([len(p)]) + p for p in b"hold.router.test".split(b".")) + b"\\0"',
  'def q(i): return struct.pack(">H", 12 + len(name) + 4) + struct.pack(">HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)',
  'socks = []',
  `for i in range(${HOLDERS}):`,
  `    s = socket.create_connection(("127.0.0.1", ${port}), timeout=10)`,
  '    s.sendall(q(i))',
  '    socks.append(s)',
  'answers = 0; closed = 0; n = 0',
  'deadline = time.time() + 90',
  'last = time.time()',
  'while time.time() < deadline and socks:',
  '    r, _, _ = select.select(socks + [sys.stdin], [], [], 0.2)',
  '    if sys.stdin in r: break',
  '    for s in r:',
  '        try: d = s.recv(4096)',
  '        except OSError: d = b""',
  '        if not d:',
  '            socks.remove(s); s.close(); closed += 1',
  '        else: answers += 1',
  '    if time.time() - last >= 1.5:',
  '        last = time.time()',
  '        for s in list(socks):',
  '            n += 1',
  '            try: s.sendall(q(n))',
  '            except OSError: socks.remove(s); s.close(); closed += 1',
  '        print(f"round open={len(socks)} closed={closed} answers={answers}", flush=True)',
  'print(f"end open={len(socks)} closed={closed} answers={answers}", flush=True)',
];

test('slow TCP askers holding every slot do not keep a new dig +tcp from its answer; UDP unaffected', { skip }, async () => {
  const holders = new PythonClient(holderScript(t.dnsPort));
  const rounds = () => [...holders.out.matchAll(/round open=(\d+) closed=(\d+) answers=(\d+)/g)].map((m) => m.slice(1).map(Number));
  try {
    // Two rounds of questions: the holders that kept their connections fill every slot (the
    // ones beyond the slots were closed to make room for the later ones, not refused).
    await holders.waitFor('two rounds of the holders', () => rounds().length >= 2);
    const [open, closed] = rounds().at(-1)!;
    assert.equal(open, SLOTS, `the holders hold every slot: ${holders.out}`);
    assert.equal(closed, HOLDERS - SLOTS);
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const r = await run('dig', ['@127.0.0.1', '-p', String(t.dnsPort), '+tcp', '+time=5', '+tries=1', 'hold.router.test', 'A'], { timeoutMs: 20_000 });
      assert.equal(digStatus(r.stdout), 'NOERROR', `dig +tcp answered while the slots are held: ${r.stdout}${r.stderr}`);
      assert.deepEqual(digAnswers(r.stdout).map((l) => l.split(' ').at(-1)), ['192.0.2.7']);
      assert.ok(Date.now() - started < 10_000, 'answered within its 5 s timeout');
    }
    const udp = await t.dig('hold.router.test', 'A');
    assert.equal(digStatus(udp), 'NOERROR', udp);
    // The holders are still being answered (only the displaced ones lost their connection).
    const answersBefore = rounds().at(-1)![2]!;
    await holders.waitFor('more answers to the holders', () => rounds().at(-1)![2]! > answersBefore);
  } finally {
    await holders.finish('stop');
  }
});

test('a question trickled a byte a second is closed by the idle timeout, counted from the last answer', { skip }, async () => {
  // A 64-byte question announced, then a byte a second of it: before, the idle timer counted
  // from the last byte, so this held the slot for ever.
  const script = [
    'import socket, sys, time',
    `s = socket.create_connection(("127.0.0.1", ${t.dnsPort}), timeout=5)`,
    's.sendall(b"\\x00\\x40")',
    'start = time.time()',
    'while time.time() - start < 60:',
    '    try:',
    '        s.sendall(b"\\x00")',
    '        s.settimeout(1)',
    '        d = s.recv(100)',
    '        if not d: break',
    '    except socket.timeout: pass',
    '    except OSError: break',
    'print(f"closed after {time.time() - start:.1f}", flush=True)',
  ].join('\n');
  const r = await run(PYTHON, ['-c', script], { timeoutMs: 90_000 });
  const m = /closed after ([\d.]+)/.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  const seconds = Number(m[1]);
  assert.ok(seconds >= 8 && seconds < 30, `closed after ${seconds} s (10 s idle from connect, no answer)`);
});
