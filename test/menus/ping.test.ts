// /ping: iputils' output read into RouterOS's table and records (pure), and the real host ping
// of 127.0.0.1 through the console (the only address these tests ping).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { isTimeExceeded, parsePingLine, pingRecords, pingTable, totals, type PingReply } from '../../src/menus/ping.js';
import { openTestApp, type TestApp } from '../support/app.js';
import { missingTools, needs } from '../support/tools.js';

const skip = needs('ping');

test('iputils lines become replies numbered from 0; errors and late packets get a status', () => {
  assert.deepEqual(parsePingLine('64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms', '127.0.0.1', 56),
    { seq: 0, host: '127.0.0.1', size: 56, ttl: 64, time: 45_000 });
  assert.deepEqual(parsePingLine('64 bytes from ::1: icmp_seq=3 ttl=64 time=12.5 ms', '::1', 56),
    { seq: 2, host: '::1', size: 56, ttl: 64, time: 12_500_000 });
  assert.deepEqual(parsePingLine('no answer yet for icmp_seq=2', '10.0.0.9', 56), { seq: 1, host: '10.0.0.9', status: 'timeout' });
  assert.deepEqual(parsePingLine('From 10.0.0.1 icmp_seq=4 Destination Host Unreachable', '10.0.0.9', 56), { seq: 3, host: '10.0.0.1', status: 'host unreachable' });
  assert.equal(parsePingLine('PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.', '127.0.0.1', 56), undefined);
  assert.equal(parsePingLine('3 packets transmitted, 3 received, 0% packet loss, time 2003ms', '127.0.0.1', 56), undefined);
});

test('ICMP time exceeded in each of iputils\' texts (ping.c pr_icmph, ping6_common.c), and no other error', () => {
  const exceeded = (line: string) => isTimeExceeded(parsePingLine(line, '198.51.100.7', 56)!);
  assert.equal(exceeded('From 192.0.2.1 icmp_seq=1 Time to live exceeded'), true);
  assert.equal(parsePingLine('From 192.0.2.1 icmp_seq=1 Time to live exceeded', '198.51.100.7', 56)!.status, 'TTL exceeded');
  assert.equal(exceeded('From 192.0.2.1 icmp_seq=1 Frag reassembly time exceeded'), true);
  assert.equal(exceeded('From 2001:db8::1 icmp_seq=1 Time exceeded: Hop limit'), true);
  assert.equal(exceeded('From 2001:db8::1 icmp_seq=1 Time exceeded: Defragmentation failure'), true);
  assert.equal(exceeded('From 192.0.2.1 icmp_seq=1 Destination Host Unreachable'), false);
  assert.equal(exceeded('From 2001:db8::1 icmp_seq=1 Destination unreachable: No route'), false);
  assert.equal(exceeded('no answer yet for icmp_seq=1'), false);
  assert.equal(exceeded('64 bytes from 198.51.100.7: icmp_seq=1 ttl=64 time=0.045 ms'), false);
});

const replies: PingReply[] = [
  { seq: 0, host: '10.0.0.9', size: 56, ttl: 63, time: 13_374_000 },
  { seq: 1, host: '10.0.0.9', status: 'timeout' },
  { seq: 2, host: '10.0.0.9', size: 56, ttl: 63, time: 900_000 },
];

test('the table: RouterOS columns, TIME as wide as its values, the summary line', () => {
  assert.equal(pingTable(replies), [
    '  SEQ HOST                                     SIZE TTL TIME      STATUS',
    '    0 10.0.0.9                                   56  63 13ms374us ',
    '    1 10.0.0.9                                                    timeout',
    '    2 10.0.0.9                                   56  63 900us     ',
    '    sent=3 received=2 packet-loss=33% min-rtt=900us avg-rtt=7ms137us max-rtt=13ms374us ',
  ].join('\n'));
  // Nothing back: no rtt values at all.
  assert.equal(pingTable([{ seq: 0, host: '10.0.0.9', status: 'timeout' }]).split('\n').at(-1), '    sent=1 received=0 packet-loss=100% ');
  assert.deepEqual(totals([]), { sent: 0, received: 0, packetLoss: 0 });
});

test('records: one per packet with the totals so far, packet-loss without %', () => {
  assert.deepEqual(pingRecords(replies), [
    { seq: '0', host: '10.0.0.9', size: '56', ttl: '63', time: '13ms374us', sent: '1', received: '1', 'packet-loss': '0', 'min-rtt': '13ms374us', 'avg-rtt': '13ms374us', 'max-rtt': '13ms374us' },
    { seq: '1', host: '10.0.0.9', status: 'timeout', sent: '2', received: '1', 'packet-loss': '50', 'min-rtt': '13ms374us', 'avg-rtt': '13ms374us', 'max-rtt': '13ms374us' },
    { seq: '2', host: '10.0.0.9', size: '56', ttl: '63', time: '900us', sent: '3', received: '2', 'packet-loss': '33', 'min-rtt': '900us', 'avg-rtt': '7ms137us', 'max-rtt': '13ms374us' },
  ]);
});

let t: TestApp;
before(async () => { t = await openTestApp(); });
after(() => t.close());

async function console(line: string): Promise<{ out: string; error?: string }> {
  let out = '';
  const cs = await ConsoleSession.open(t.app, { output: (s) => { out += s; } });
  const r = await cs.run(line);
  return { out, error: r.error };
}

test('without an address it fails at once; values are checked before anything runs', async () => {
  const started = Date.now();
  assert.equal((await console('/ping')).error, 'missing =address=');
  assert.match((await console('/ping "-f"')).error ?? '', /invalid value for argument address/);
  assert.match((await console('/ping 127.0.0.1 interval=1ms')).error ?? '', /interval/);
  assert.match((await console('/ping 127.0.0.1 count=0')).error ?? '', /count/);
  assert.ok(Date.now() - started < 10_000);
  // A script can not be interrupted: without count= it would never end.
  await assert.rejects(t.run('/', 'ping', { address: '127.0.0.1' }), /ping without count= needs a session that can interrupt it/);
});

test('pings 127.0.0.1 with the host\'s ping: the table, and the number of replies as its value', { skip }, async () => {
  const r = await console('/ping 127.0.0.1 count=3 interval=100ms size=100');
  assert.equal(r.error, undefined);
  const lines = r.out.split('\n');
  assert.match(lines[0]!, /^  SEQ HOST {37}SIZE TTL TIME +STATUS$/);
  for (let i = 0; i < 3; i++) assert.match(lines[i + 1]!, new RegExp(`^ {4}${i} 127\\.0\\.0\\.1 {32} 100  64 \\d+(ms|us)`));
  assert.match(lines[4]!, /^ {4}sent=3 received=3 packet-loss=0% min-rtt=\S+ avg-rtt=\S+ max-rtt=\S+ $/);
  assert.equal((await console(':put [/ping 127.0.0.1 count=2 interval=50ms]')).out, '2\n');
  assert.equal((await console(':put [/tool ping address=127.0.0.1 count=1]')).out, '1\n');
});

/** Whether this process has a `ping` child running now (Linux /proc). */
function pingChildRunning(): boolean {
  try {
    const kids = fs.readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.some((pid) => { try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'ping'; } catch { return false; } });
  } catch {
    return false;
  }
}

test('Ctrl-C ends a ping without count and shows what came back', { skip: skip || (!fs.existsSync('/proc/self/task') && missingTools('no /proc/<pid>/task to find the ping child in')) }, async () => {
  let out = '';
  const cs = await ConsoleSession.open(t.app, { output: (s) => { out += s; } });
  const running = cs.run('/ping 127.0.0.1 interval=50ms');
  // Interrupt once the host's ping runs (bounded wait), as a user's Ctrl-C would.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !pingChildRunning()) await new Promise((r) => setTimeout(r, 20));
  assert.ok(pingChildRunning(), 'the host\'s ping started');
  cs.interrupt();
  const r = await running;
  assert.equal(r.error, undefined, out);
  assert.match(out, /^ {2}SEQ HOST/);
  assert.match(out, /^ {4}sent=(\d+) received=\1 packet-loss=0% /m);
  assert.equal(pingChildRunning(), false, 'and it is gone');
});
