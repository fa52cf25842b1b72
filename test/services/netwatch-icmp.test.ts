// /tool netwatch type=icmp options (services/netwatch.ts): accept-icmp-time-exceeded, early-failure-
// and early-success-detection, and the entry's own variables in its scripts. The verdict is read
// from lines of iputils' ping: echo replies as it printed them here for 127.0.0.1 and ::1, time
// exceeded lines in iputils' own formats (ping/ping.c ping4_receive_error_msg: "From %s
// icmp_seq=%u " then pr_icmph's "Time to live exceeded"; ping6_common.c: "Time exceeded: " "Hop
// limit"), since no router on 127.0.0.1 lets a ttl run out. The early options are also run
// against 127.0.0.1 with the host's ping; every wait is for a condition, with a bound.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parsePingLine, type PingReply } from '../../src/menus/ping.js';
import { NETWATCH_PATH, NW } from '../../src/menus/tool/netwatch.js';
import { Duration, IpAddress } from '../../src/menu/values.js';
import {
  IcmpTrain, icmpForeseen, icmpRules, icmpVerdict, judgePacket, type IcmpRules, type Packet,
} from '../../src/services/netwatch.js';
import type { RowData } from '../../src/store/store.js';
import { netwatchFixture, until } from './netwatch-support.js';
import { needs } from '../support/tools.js';

/** The rules of an entry with these settings (the rest defaults), timeout 1s. */
const rules = (settings: RowData = {}): IcmpRules => icmpRules(settings, 1000);

/** Lines of `ping -n -O` as replies (each must be one). */
function lines(host: string, ...text: string[]): PingReply[] {
  return text.map((l) => {
    const r = parsePingLine(l, host, 26);
    assert.ok(r, `not a reply line: ${l}`);
    return r;
  });
}

// Printed by `ping -n -O -W 1 -i 0.05 -s 26 -c 3 -- 127.0.0.1` (iputils 20221126) on this host.
const ECHO = lines('127.0.0.1',
  '34 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.025 ms',
  '34 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.044 ms',
  '34 bytes from 127.0.0.1: icmp_seq=3 ttl=64 time=0.044 ms');
// A router 1 hop away answering ttl=1 (`-t 1`): IPv4 and IPv6 as iputils prints them.
const EXCEEDED4 = lines('198.51.100.7',
  'From 192.0.2.1 icmp_seq=1 Time to live exceeded',
  'From 192.0.2.1 icmp_seq=2 Time to live exceeded',
  'From 192.0.2.1 icmp_seq=3 Time to live exceeded');
const EXCEEDED6 = lines('2001:db8:1::7', 'From 2001:db8::1 icmp_seq=1 Time exceeded: Hop limit');

const verdict = (replies: readonly PingReply[], r: IcmpRules) => icmpVerdict(replies.map((p) => judgePacket(p, r)), r);

describe('netwatch icmp: the verdict', () => {
  test('accept-icmp-time-exceeded: an ICMP time exceeded is an answer only with it; other errors never are', () => {
    const off = rules();
    const on = rules({ [NW.acceptIcmpTimeExceeded.name]: true });
    assert.equal(off.acceptTimeExceeded, false, 'default no (the manual)');
    const without = verdict(EXCEEDED4, off);
    assert.equal(without.ok, false);
    assert.deepEqual(without.values, { 'sent-count': 3, 'response-count': 0, 'loss-count': 3, 'loss-percent': 100 });
    const withIt = verdict(EXCEEDED4, on);
    assert.equal(withIt.ok, true, 'the manual: "this response will be considered a success"');
    // iputils prints no round trip for an error, so there are none to show.
    assert.deepEqual(withIt.values, { 'sent-count': 3, 'response-count': 3, 'loss-count': 0, 'loss-percent': 0 });
    assert.equal(verdict(EXCEEDED6, on).ok, true, 'IPv6: hop limit exceeded');
    assert.equal(verdict(EXCEEDED6, off).ok, false);
    const unreachable = lines('198.51.100.7', 'From 192.0.2.1 icmp_seq=1 Destination Host Unreachable');
    assert.equal(verdict(unreachable, on).ok, false, 'an unreachable is no time exceeded');
    // Echo replies and time exceeded together: the round trips are the echo replies'.
    const mixed = verdict([ECHO[0]!, EXCEEDED4[1]!, EXCEEDED4[2]!], on);
    assert.equal(mixed.ok, true);
    assert.equal(mixed.values['response-count'], 3);
    assert.equal(mixed.values['rtt-avg'], 25_000);
    assert.equal(mixed.values['rtt-max'], 25_000);
  });

  test('the other thresholds still decide with time exceeded answers; an answer later than timeout is lost', () => {
    const on = rules({ [NW.acceptIcmpTimeExceeded.name]: true, [NW.thrLossCount.name]: 0 });
    const oneLost = lines('198.51.100.7', 'From 192.0.2.1 icmp_seq=1 Time to live exceeded', 'no answer yet for icmp_seq=2');
    assert.equal(verdict(oneLost, on).ok, false, 'thr-loss-count=0 and one lost');
    const late = lines('127.0.0.1', '34 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=1000.001 ms');
    assert.deepEqual(judgePacket(late[0]!, rules()), { answered: false }, 'timeout 1s: 1000.001 ms is too late');
    assert.deepEqual(judgePacket(ECHO[0]!, rules()), { answered: true, rtt: 25_000 });
  });

  test('early success: up once every threshold holds and losing the rest would too', () => {
    const A: Packet = { answered: true, rtt: 40_000 };
    const L: Packet = { answered: false };
    const def = rules(); // 10 packets, thr-loss-percent 85%, thr-loss-count max
    assert.equal(icmpForeseen([], def), undefined);
    assert.equal(icmpForeseen([A], def), undefined, '1 answer: losing 9 of 10 (90%) would be down');
    assert.equal(icmpForeseen([A, A], def), 'up', '2 answers: at most 80% lost');
    assert.equal(icmpForeseen([L, A], def), undefined, 'one lost, one answer: 9 of 10 could be');
    assert.equal(icmpForeseen([L, A, A], def), 'up', 'one lost, two answers: at most 8 of 10');
    const count1 = rules({ [NW.thrLossCount.name]: 1 });
    assert.equal(icmpForeseen(Array(8).fill(A), count1), undefined, 'thr-loss-count=1: 2 could still be lost');
    assert.equal(icmpForeseen(Array(9).fill(A), count1), 'up');
    // The answers so far must pass the round-trip thresholds (thr-avg 100ms).
    const slow: Packet = { answered: true, rtt: 150e6 };
    assert.equal(icmpForeseen([slow, slow], def), undefined);
    // The last packet: the verdict itself.
    assert.equal(icmpForeseen(Array(10).fill(A), def), 'up');
    assert.equal(icmpForeseen(Array(10).fill(L), def), 'down');
  });

  test('early failure: down once loss-count, the loss share of packet-count, rtt-max or rtt-jitter has passed', () => {
    const A: Packet = { answered: true, rtt: 40_000 };
    const L: Packet = { answered: false };
    assert.equal(icmpForeseen([L, L], rules({ [NW.thrLossCount.name]: 2 })), undefined);
    assert.equal(icmpForeseen([L, L, L], rules({ [NW.thrLossCount.name]: 2 })), 'down');
    assert.equal(icmpForeseen(Array(8).fill(L), rules()), undefined, '8 of 10 lost: 80% ≤ 85%');
    assert.equal(icmpForeseen(Array(9).fill(L), rules()), 'down', '9 of 10: 90%');
    assert.equal(icmpForeseen([{ answered: true, rtt: 2e9 }], rules()), 'down', 'rtt-max 2s > thr-max 1s');
    assert.equal(icmpForeseen([A, { answered: true, rtt: 40_000 + 2e6 }], rules({ [NW.thrJitter.name]: 1e6 })), 'down', 'jitter 2ms > 1ms');
    // rtt-avg above thr-avg can still come back: not yet.
    assert.equal(icmpForeseen([{ answered: true, rtt: 150e6 }], rules()), undefined);
    // Whatever is foreseen, the packets so far give the same verdict (the results agree with the status).
    for (const packets of [[L, L, L], Array(9).fill(L), [{ answered: true, rtt: 2e9 }]] as Packet[][]) {
      const r = rules({ [NW.thrLossCount.name]: 2 });
      if (icmpForeseen(packets, r) === 'down') assert.equal(icmpVerdict(packets, r).ok, false);
    }
    assert.equal(icmpVerdict([A, A], rules()).ok, true);
  });

  test('a running train: a packet without an answer is lost once timeout has passed since its `no answer yet`', () => {
    const r = rules({ [NW.earlyFailureDetection.name]: true, [NW.thrLossCount.name]: 1 });
    const train = new IcmpTrain(r);
    const [first, second] = lines('198.51.100.7', 'no answer yet for icmp_seq=1', 'no answer yet for icmp_seq=2');
    train.reply(first!, 50);
    train.reply(second!, 100);
    assert.equal(train.nextLoss(), 1050);
    train.settle(1049);
    assert.deepEqual(train.packets, [], 'not yet a second');
    train.settle(1050);
    assert.deepEqual(train.packets, [{ answered: false }]);
    assert.equal(icmpForeseen(train.packets, r), undefined, 'one lost: thr-loss-count=1 holds');
    // A late answer for a packet already lost stays lost; one in time counts.
    train.reply(lines('198.51.100.7', '34 bytes from 198.51.100.7: icmp_seq=1 ttl=64 time=1000.500 ms')[0]!, 1051);
    train.reply(lines('198.51.100.7', '34 bytes from 198.51.100.7: icmp_seq=3 ttl=64 time=0.500 ms')[0]!, 1060);
    assert.deepEqual(train.packets, [{ answered: false }, { answered: true, rtt: 500_000 }]);
    train.settle(1100);
    const lost = (): number => train.packets.filter((p) => !p.answered).length;
    assert.equal(lost(), 2);
    assert.equal(icmpForeseen(train.packets, r), 'down');
    assert.equal(train.nextLoss(), undefined);
  });
});

describe('netwatch icmp: the daemon', () => {
  const f = netwatchFixture();
  const { cli, get } = f;
  const tested = (name: string) => until(async () => Number(await get(name, 'done-tests') || 0) >= 1, `${name} tested`);
  /** Every entry starts at once; 10 echoes 100ms apart take about a second without an early end. */
  const TRAIN = 'type=icmp host=127.0.0.1 packet-count=10 packet-interval=100ms interval=1s start-delay=0s startup-delay=0s timeout=1s';

  test('the options: declared once, no by default, kept and exported', async () => {
    await cli(`${NETWATCH_PATH}/add name=o host=127.0.0.1`);
    for (const p of ['accept-icmp-time-exceeded', 'early-failure-detection', 'early-success-detection']) assert.equal(await get('o', p), 'false');
    await cli(`${NETWATCH_PATH}/set [find name=o] accept-icmp-time-exceeded=yes early-success-detection=yes`);
    assert.equal(await get('o', 'accept-icmp-time-exceeded'), 'true');
    assert.match(await cli(`${NETWATCH_PATH}/export`), /accept-icmp-time-exceeded=yes early-success-detection=yes/);
  });

  test('early-success-detection stops the train once up is sure: 2 of 10 with the default thresholds, 9 with thr-loss-count=1', { skip: needs('ping') }, async () => {
    await cli(`${NETWATCH_PATH}/add name=es ${TRAIN} early-success-detection=yes`);
    await cli(`${NETWATCH_PATH}/add name=es1 ${TRAIN} early-success-detection=yes thr-loss-count=1`);
    await cli(`${NETWATCH_PATH}/add name=all ${TRAIN}`);
    for (const n of ['es', 'es1', 'all']) await tested(n);
    assert.equal(await get('es', 'status'), 'up');
    assert.equal(await get('es', 'sent-count'), '2');
    assert.equal(await get('es', 'response-count'), '2');
    assert.equal(await get('es1', 'status'), 'up');
    assert.equal(await get('es1', 'sent-count'), '9');
    assert.equal(await get('all', 'status'), 'up');
    assert.equal(await get('all', 'sent-count'), '10', 'without it every packet is sent');
  });

  test('early-failure-detection stops the train once down is sure: rtt-max above thr-max=0 at the first answer', { skip: needs('ping') }, async () => {
    await cli(`${NETWATCH_PATH}/add name=ef ${TRAIN} thr-max=0s early-failure-detection=yes`);
    await cli(`${NETWATCH_PATH}/add name=all ${TRAIN} thr-max=0s`);
    for (const n of ['ef', 'all']) await tested(n);
    assert.notEqual(await get('all', 'rtt-max'), '00:00:00', 'a round trip on 127.0.0.1 takes some microseconds');
    assert.equal(await get('all', 'status'), 'down');
    assert.equal(await get('all', 'sent-count'), '10');
    assert.equal(await get('ef', 'status'), 'down');
    assert.equal(await get('ef', 'sent-count'), '1');
    assert.equal(await get('ef', 'response-count'), '1');
  });

  test('scripts find the entry\'s name, comment, host, type, interval and timeout (nothing for an unset name)', async () => {
    // Port 1 of 127.0.0.1 refuses: down, and test-script runs after every test.
    const common = 'type=tcp-conn host=127.0.0.1 port=1 interval=1s start-delay=0s startup-delay=0s timeout=1s';
    await cli(`${NETWATCH_PATH}/add name=named comment="a note" ${common} test-script=":global nwName \\$name; :global nwComment \\$comment; `
      + ':global nwHost \\$host; :global nwType \\$type; :global nwInterval \\$interval; :global nwTimeout \\$timeout"');
    await cli(`${NETWATCH_PATH}/add ${common} test-script=":global nwUnnamed [:typeof \\$name]; :global nwNoComment [:typeof \\$comment]"`);
    const sys = f.t.app.env.scripts.globalsOf('*sys');
    await until(async () => sys.get('nwTimeout') !== undefined && sys.get('nwUnnamed') !== undefined, 'both test-scripts');
    assert.equal(sys.get('nwName'), 'named');
    assert.equal(sys.get('nwComment'), 'a note');
    const host = sys.get('nwHost');
    assert.ok(host instanceof IpAddress && String(host) === '127.0.0.1', `host: an IP, as get gives it (${String(host)})`);
    assert.equal(sys.get('nwType'), 'tcp-conn');
    for (const n of ['nwInterval', 'nwTimeout']) {
      const v = sys.get(n);
      assert.ok(v instanceof Duration && v.ns === 1e9, `${n}: a time (${String(v)})`);
    }
    assert.equal(sys.get('nwUnnamed'), 'nothing', 'an unnamed entry: $name is declared, with nothing (as get gives it)');
    assert.equal(sys.get('nwNoComment'), 'nothing');
  });
});
