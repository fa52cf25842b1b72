// `/ping` (and `/tool ping`): ICMP echo, answered like RouterOS's table (M-PING):
//
//     SEQ HOST                                     SIZE TTL TIME  STATUS
//       0 127.0.0.1                                  56  64 45us
//       sent=1 received=1 packet-loss=0% min-rtt=45us avg-rtt=45us max-rtt=45us
//
// rospki runs unprivileged and can not open raw ICMP sockets itself, so it runs the host's
// `ping` (Debian's iputils-ping, which holds cap_net_raw) and reads its replies; without it the
// command says so. `[/ping … count=3]` returns the number of replies, as scripts use it. REST and
// the API get one record per packet with the running totals (M-REST ping example). Without
// count= it pings until interrupted (Ctrl-C, API /cancel), which needs a session that can be.

import { spawn } from 'node:child_process';
import { argumentError, failure, invalidValue } from '../errors.js';
import { boolType, durationType, enumType, intType, presenceType, stringType } from '../menu/proptypes.js';
import type { ArgDecl, CommandDecl, CommandResult, PropType } from '../menu/types.js';
import { IpAddress, formatDuration, valueToString } from '../menu/values.js';

/** An IP address or a DNS name (never something the host's ping could take as an option). */
const targetType: PropType<string> = {
  ...stringType,
  quoted: false,
  help: 'IP address | DNS name',
  parse(v, _ctx, name) {
    const text = valueToString(v).trim();
    if (IpAddress.parse(text.replace(/%[\w.-]+$/, ''))) return text;
    if (/^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(text)) return text;
    throw invalidValue(name);
  },
};

const ADDRESS: ArgDecl<string> = { name: 'address', type: targetType, positional: 0, required: true, help: 'IP address or DNS name of the host' };
const COUNT: ArgDecl<number> = { name: 'count', type: intType(1, 4294967295), help: 'How many packets (default: until interrupted)' };
const INTERVAL: ArgDecl<number> = { name: 'interval', type: durationType(10e6, 5e9), help: 'Time between packets (10ms..5s, default 1s)' };
const SIZE: ArgDecl<number> = { name: 'size', type: intType(14, 65507), help: 'Bytes of ICMP data (default 56)' };
const TTL: ArgDecl<number> = { name: 'ttl', type: intType(1, 255), help: 'Time to live of the packets' };
const DSCP: ArgDecl<number> = { name: 'dscp', type: intType(0, 63), help: 'DSCP of the packets' };
const DONT_FRAGMENT: ArgDecl<boolean> = { name: 'do-not-fragment', type: presenceType, flagOnly: true, help: 'Set the don\'t-fragment bit' };
const SRC_ADDRESS: ArgDecl<string> = { name: 'src-address', type: targetType, help: 'Source address of the packets' };
const INTERFACE: ArgDecl<string> = { name: 'interface', type: { ...stringType, quoted: false }, help: 'Interface to send from' };
const ARP_PING: ArgDecl<boolean> = { name: 'arp-ping', type: boolType, help: 'Ping with ARP requests (not possible on rospki)' };
const VRF: ArgDecl<string> = { name: 'vrf', type: enumType(['main']), help: 'Routing table to use' };
const ROUTING_TABLE: ArgDecl<string> = { name: 'routing-table', type: enumType(['main']), help: 'Routing table to use' };

const DEFAULT_INTERVAL_NS = 1e9;
const DEFAULT_SIZE = 56;
/** How long a reply may take (RouterOS waits 1s by default). */
const REPLY_WAIT_S = 1;

// ---------------------------------------------------------------------------------------------
// Reading iputils ping's output (pure, unit-tested)

export interface PingReply {
  /** RouterOS numbers from 0 (iputils' icmp_seq - 1). */
  readonly seq: number;
  readonly host: string;
  readonly size?: number;
  readonly ttl?: number;
  /** Round trip in ns. */
  readonly time?: number;
  /** `timeout`, `host unreachable`, … (absent for a normal reply). */
  readonly status?: string;
}

/** One line of `ping -n -O` output as a reply, or undefined for any other line. */
export function parsePingLine(line: string, host: string, size: number): PingReply | undefined {
  const reply = /^\d+ bytes from ([^\s:]+|[0-9a-f:.]+): icmp_seq=(\d+) ttl=(\d+) time=([\d.]+) ms/.exec(line);
  if (reply) return { seq: Number(reply[2]) - 1, host: reply[1]!, size, ttl: Number(reply[3]), time: Math.round(Number(reply[4]) * 1e6) };
  const late = /^no answer yet for icmp_seq=(\d+)/.exec(line);
  if (late) return { seq: Number(late[1]) - 1, host, status: 'timeout' };
  const error = /^From (\S+?):? icmp_seq=(\d+) (.*)$/.exec(line);
  if (error) return { seq: Number(error[2]) - 1, host: error[1]!, status: icmpStatus(error[3]!) };
  return undefined;
}

/** iputils' ICMP error texts in RouterOS's words. */
function icmpStatus(text: string): string {
  const t = text.toLowerCase();
  if (t.includes('host unreachable')) return 'host unreachable';
  if (t.includes('net unreachable')) return 'net unreachable';
  if (t.includes('port unreachable')) return 'port unreachable';
  if (t.includes('time to live exceeded')) return 'TTL exceeded';
  if (t.includes('prohibited')) return 'administratively prohibited';
  return t;
}

/**
 * Whether a reply is an ICMP Time Exceeded message (RFC 792 type 11, RFC 4443 §3.3): iputils
 * writes `Time to live exceeded`, `Frag reassembly time exceeded`, `Time exceeded, Bad Code: N`
 * (IPv4) and `Time exceeded: Hop limit` or `…: Defragmentation failure` (IPv6); no other ICMP
 * message's text says "exceeded". Netwatch's accept-icmp-time-exceeded counts them as answers.
 */
export function isTimeExceeded(r: PingReply): boolean {
  return r.time === undefined && r.status !== undefined && /exceeded/i.test(r.status);
}

export interface PingTotals {
  readonly sent: number;
  readonly received: number;
  readonly packetLoss: number;
  readonly min?: number;
  readonly avg?: number;
  readonly max?: number;
}

export function totals(replies: readonly PingReply[]): PingTotals {
  const times = replies.filter((r) => r.time !== undefined).map((r) => r.time!);
  const sent = replies.length;
  const received = times.length;
  const packetLoss = sent === 0 ? 0 : Math.round(((sent - received) * 100) / sent);
  if (received === 0) return { sent, received, packetLoss };
  return {
    sent, received, packetLoss,
    min: Math.min(...times), max: Math.max(...times), avg: Math.round(times.reduce((a, b) => a + b, 0) / received),
  };
}

const rtt = (ns: number): string => (ns === 0 ? '0ms' : formatDuration(Math.round(ns / 1e3) * 1e3));

/** The summary line's pairs, without the rtt ones when nothing came back. */
function summaryPairs(t: PingTotals): Array<[string, string]> {
  const pairs: Array<[string, string]> = [['sent', String(t.sent)], ['received', String(t.received)], ['packet-loss', `${t.packetLoss}%`]];
  if (t.min !== undefined) pairs.push(['min-rtt', rtt(t.min)], ['avg-rtt', rtt(t.avg!)], ['max-rtt', rtt(t.max!)]);
  return pairs;
}

/** RouterOS's console table (M-PING): fixed columns, TIME as wide as its longest value. */
export function pingTable(replies: readonly PingReply[]): string {
  const time = (r: PingReply) => (r.time === undefined ? '' : rtt(r.time));
  const timeWidth = Math.max(4, ...replies.map((r) => time(r).length));
  const lines = [`  SEQ ${'HOST'.padEnd(40)} SIZE TTL ${'TIME'.padEnd(timeWidth)} STATUS`];
  for (const r of replies) {
    lines.push(`${String(r.seq).padStart(5)} ${r.host.padEnd(40)} ${(r.size === undefined ? '' : String(r.size)).padStart(4)} `
      + `${(r.ttl === undefined ? '' : String(r.ttl)).padStart(3)} ${time(r).padEnd(timeWidth)} ${r.status ?? ''}`);
  }
  lines.push(`    ${summaryPairs(totals(replies)).map(([k, v]) => `${k}=${v}`).join(' ')} `);
  return lines.join('\n');
}

/** One API/REST record per packet, with the totals so far (M-REST: packet-loss without `%`). */
export function pingRecords(replies: readonly PingReply[]): Array<Record<string, string>> {
  return replies.map((r, i) => {
    const t = totals(replies.slice(0, i + 1));
    const rec: Record<string, string> = { seq: String(r.seq), host: r.host };
    if (r.size !== undefined) rec.size = String(r.size);
    if (r.ttl !== undefined) rec.ttl = String(r.ttl);
    if (r.time !== undefined) rec.time = rtt(r.time);
    if (r.status) rec.status = r.status;
    rec.sent = String(t.sent);
    rec.received = String(t.received);
    rec['packet-loss'] = String(t.packetLoss);
    if (t.min !== undefined) { rec['min-rtt'] = rtt(t.min); rec['avg-rtt'] = rtt(t.avg!); rec['max-rtt'] = rtt(t.max!); }
    return rec;
  });
}

// ---------------------------------------------------------------------------------------------
// Running the host's ping

export interface PingOptions {
  address: string;
  count?: number;
  intervalNs: number;
  size: number;
  ttl?: number;
  dscp?: number;
  dontFragment: boolean;
  source?: string;
  signal?: AbortSignal;
  /** How long a reply may take, in seconds (default REPLY_WAIT_S; netwatch gives its timeout). */
  replyWaitS?: number;
  /** Told each reply as its line arrives (`no answer yet` too), e.g. to stop early through signal. */
  onReply?: (r: PingReply) => void;
}

function pingArgs(o: PingOptions): string[] {
  const args = ['-n', '-O', '-W', String(o.replyWaitS ?? REPLY_WAIT_S), '-i', (o.intervalNs / 1e9).toFixed(3), '-s', String(o.size)];
  if (o.count !== undefined) args.push('-c', String(o.count));
  if (o.ttl !== undefined) args.push('-t', String(o.ttl));
  if (o.dscp !== undefined) args.push('-Q', String(o.dscp << 2));
  if (o.dontFragment) args.push('-M', 'do');
  if (o.source !== undefined) args.push('-I', o.source);
  args.push('--', o.address);
  return args;
}

/** What the host's ping printed on its error stream, in words that name no host path. */
function pingFailure(stderr: string): Error {
  if (/Name or service not known|Temporary failure in name resolution|No address associated/i.test(stderr)) return failure('could not resolve dns name');
  if (/Operation not permitted|Permission denied|socket:/i.test(stderr)) return failure('this host does not let rospki send ICMP packets (its ping has no permission)');
  if (/Network is unreachable/i.test(stderr)) return failure('network is unreachable');
  if (/invalid argument|bad value|invalid|unknown iface|Cannot assign requested address/i.test(stderr)) return failure('the host\'s ping refused these arguments');
  return failure('ping failed on this host');
}

/** Runs the host's ping and collects its replies (the lost ones as `timeout`). */
export async function runPing(o: PingOptions): Promise<PingReply[]> {
  const replies = new Map<number, PingReply>();
  let stderr = '';
  let started = false;
  const child = spawn('ping', pingArgs(o), { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } });
  const exited = new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('PING ')) started = true;
      const r = parsePingLine(line, o.address, o.size);
      // A late reply replaces the `no answer yet` of its packet, never the other way round.
      if (!r || (r.status === 'timeout' && replies.has(r.seq) && replies.get(r.seq)!.status !== 'timeout')) continue;
      replies.set(r.seq, r);
      o.onReply?.(r);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { if (stderr.length < 4096) stderr += chunk; });
  // Ctrl-C / API cancel: iputils stops on SIGINT and the replies so far are the answer.
  const stop = () => child.kill('SIGINT');
  o.signal?.addEventListener('abort', stop, { once: true });
  // A bound on a count-limited run in case the host's ping hangs: every packet's interval and wait, and slack.
  const bound = o.count !== undefined ? setTimeout(() => child.kill('SIGKILL'), o.count * (o.intervalNs / 1e6) + (o.replyWaitS ?? REPLY_WAIT_S) * 1000 + 10_000) : undefined;
  try {
    const { code, error } = await exited;
    if (error?.code === 'ENOENT') throw failure('ping is not installed on this host (Debian: apt-get install iputils-ping)');
    if (error) throw failure('ping could not be started on this host');
    if (!started && code !== 0 && !o.signal?.aborted) throw pingFailure(stderr);
  } finally {
    clearTimeout(bound);
    o.signal?.removeEventListener('abort', stop);
  }
  // Packets sent but never answered (the last ones get no `no answer yet` line).
  const last = o.count !== undefined && !o.signal?.aborted ? o.count : Math.max(-1, ...replies.keys()) + 1;
  for (let seq = 0; seq < last; seq++) if (!replies.has(seq)) replies.set(seq, { seq, host: o.address, status: 'timeout' });
  return [...replies.values()].sort((a, b) => a.seq - b.seq);
}

const pingCommand: CommandDecl = {
  name: 'ping',
  help: 'Send ICMP echo requests',
  policy: 'test',
  args: [ADDRESS, COUNT, INTERVAL, SIZE, TTL, DSCP, DONT_FRAGMENT, SRC_ADDRESS, INTERFACE, ARP_PING, VRF, ROUTING_TABLE],
  async run(call): Promise<CommandResult> {
    const { args, session } = call;
    if (args.get(ARP_PING)) throw failure('arp-ping is not possible on rospki: it sends no ARP requests');
    if (args.has(INTERFACE) && args.has(SRC_ADDRESS)) throw argumentError('give either interface or src-address');
    const count = args.get(COUNT);
    if (count === undefined && !session.signal) throw failure('ping without count= needs a session that can interrupt it');
    const replies = await runPing({
      address: args.get(ADDRESS)!,
      count,
      intervalNs: args.get(INTERVAL) ?? DEFAULT_INTERVAL_NS,
      size: args.get(SIZE) ?? DEFAULT_SIZE,
      ttl: args.get(TTL),
      dscp: args.get(DSCP),
      dontFragment: args.flag(DONT_FRAGMENT),
      source: args.get(SRC_ADDRESS) ?? args.get(INTERFACE),
      signal: session.signal,
    });
    return { ret: totals(replies).received, records: pingRecords(replies), messages: [pingTable(replies)] };
  },
};

export { pingCommand };
