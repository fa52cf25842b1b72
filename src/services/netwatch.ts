// /tool netwatch probes (manual "Netwatch"): the daemon tests every enabled entry each `interval`,
// the first time `start-delay` after the entry was added, enabled or changed, and not before
// `startup-delay` after the daemon started. A test is one probe of the entry's type:
//
//   simple     one ICMP echo; up when it is answered within `timeout`
//   icmp       packet-count echoes packet-interval apart; down when a threshold is passed
//              (thr-loss-count, thr-loss-percent, thr-avg, thr-max, thr-jitter, thr-stdev);
//              accept-icmp-time-exceeded counts an ICMP time exceeded as an answer, and
//              early-failure-/early-success-detection end the train once its verdict is known
//              (icmpVerdict, icmpForeseen)
//   tcp-conn   a TCP connection to host:port; down when refused, late (timeout) or slower than
//              thr-tcp-conn-time
//   http-get,  a GET / to host:port; up when the status is in http-codes (else
//   https-get  http-code-min..http-code-max) within thr-http-time; https-get with
//              check-certificate judges the server's chain with the trust engine for the
//              trust-store `netwatch`, and presents `certificate` when the server asks for one
//   dns        a query for host (record-type) to dns-server (else the first of /ip dns servers);
//              up when the answer has records of that type
//
// ICMP goes through the host's `ping` (iputils, as /ping does: node opens no raw sockets).
// A src-address that is not an address of this host makes every test fail, as the manual says.
//
// The outcome is written into the entry's row (status, since, done-tests, failed-tests and the
// results of the type): every front end and every instance of the store reads it there. A change
// of status logs `netwatch,info event up|down [ type: T, host: H ]` and runs up-script or
// down-script; test-script runs after every test. They run as jobs of *sys with the policies
// read, write, test and reboot (the manual), each entry's one after the other, and find the
// results declared as variables (`$status`, `$"rtt-avg"`: the manual's advice to use the rtt-*
// names in scripts) beside the entry's name, comment, host, type, interval and timeout (the
// manual's "Generic" variables); a failure goes to /log. One daemon of a store probes: it is a
// singleton duty (store/duty.ts), like /system scheduler, and the one that takes it over starts
// with every status unknown again.
//
// Bounds (a `write` user makes the daemon connect out; docs/security.md): an entry is tested at
// most once a second, one test of an entry at a time, MAX_STARTS_PER_SECOND tests start a second
// in all, MAX_RUNNING run at once (MAX_PINGS of them ping processes), a probe waits at most
// MAX_TIMEOUT_MS, and an HTTP probe reads only the status line.

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { RosError } from '../errors.js';
import { propValue, storedValue, typeContext } from '../menu/generic.js';
import { commentProperty } from '../menu/common-props.js';
import type { Environment, PropertyDecl, PropType, Session } from '../menu/types.js';
import type { Value } from '../menu/values.js';
import { DNS, DNS_PATH } from '../menus/ip/dns.js';
import { isTimeExceeded, runPing, type PingReply } from '../menus/ping.js';
import { logScriptFailure, runAsJob } from '../menus/system/script-job.js';
import { httpRequest } from '../menus/certificate/http-client.js';
import { tlsMaterial } from '../menus/certificate/tls-material.js';
import {
  NETWATCH_PATH, NETWATCH_SCRIPT_POLICIES, NW, RESULT, RESULT_NAMES, TEST_RESULT_NAMES, probeKey,
} from '../menus/tool/netwatch.js';
import { DutyLoop } from '../store/duty-loop.js';
import type { RowData, StoredRow } from '../store/store.js';
import { PlainUpstream } from './dns/upstream.js';
import { CLASS_IN, RCODE, TYPE, rdataText } from './dns/wire.js';

/** The duty's name: one prober among the daemons of a store. */
export const NETWATCH_DUTY = 'netwatch';
/** An entry is tested at most this often, whatever its interval. */
export const MIN_INTERVAL_MS = 1000;
/** Tests under way at once (the rest wait for a free place). */
export const MAX_RUNNING = 32;
/** Of those, host ping processes at once. */
export const MAX_PINGS = 8;
/** Tests started per second in all: many entries are tested late rather than all at once. */
export const MAX_STARTS_PER_SECOND = 50;
/** No probe waits longer for its answer than this, whatever its timeout. */
export const MAX_TIMEOUT_MS = 60_000;

export interface NetwatchOptions {
  /** The longest wait between two looks at the entries (default 1 s). */
  pollMs?: number;
  /** Port of the DNS servers asked by type=dns (53; tests use another). */
  dnsPort?: number;
}

export interface RunningNetwatch {
  /** Whether this process probes now (it holds the duty). */
  readonly probing: boolean;
  /** Resolves once no test (and none of its scripts) runs. */
  idle(): Promise<void>;
  /** Stops: no new tests; running ones are stopped and awaited. */
  stop(): Promise<void>;
}

/** Starts netwatch for an appliance (the daemon does, beside /system scheduler). */
export function startNetwatch(app: { readonly env: Environment }, opts: NetwatchOptions = {}): RunningNetwatch {
  return new Netwatch(app.env, opts.pollMs ?? 1000, opts.dnsPort ?? 53);
}

/** The outcome of one test: up or down, and the results it shows. */
export interface Outcome {
  readonly ok: boolean;
  readonly values: RowData;
}

interface EntryPlan {
  /** What was probed (probeKey): a change starts the entry anew. */
  key: string;
  /** When the next test is due (performance.now()). */
  next: number;
}

class Netwatch implements RunningNetwatch {
  /** When this daemon started netwatch: startup-delay counts from it. */
  private readonly boot = performance.now();
  private readonly plans = new Map<number, EntryPlan>();
  /** When the tests of the last second started (performance.now()), oldest first. */
  private readonly starts: number[] = [];
  /** The timer, the one look at a time and the running tests (tagged: it pings), while it holds the duty. */
  private readonly loop: DutyLoop<number, boolean>;

  constructor(private readonly env: Environment, private readonly pollMs: number, private readonly dnsPort: number) {
    this.loop = new DutyLoop(env.store, {
      duty: NETWATCH_DUTY,
      look: () => this.lookNow(),
      activate: () => this.activate(),
      deactivate: () => this.deactivate(),
      // A test that ends frees a place: an entry due meanwhile starts now, not a poll later.
      wakeOnJobEnd: true,
      report: (e) => this.report(e),
    });
  }

  get probing(): boolean {
    return this.loop.active;
  }

  idle(): Promise<void> {
    return this.loop.idle();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** It holds the duty: every entry starts unknown (what this daemon has not tested, it does not know). */
  private activate(): Promise<void> {
    this.plans.clear();
    return this.forgetResults();
  }

  /** It lost the duty; the loop stopped its running tests. */
  private async deactivate(): Promise<void> {
    this.plans.clear();
    // A daemon that stops leaves no status behind that nobody keeps up to date.
    if (this.loop.stopped) await this.forgetResults().catch(() => {});
  }

  private forgetResults(): Promise<void> {
    return this.env.store.write((tx) => {
      for (const r of tx.list(NETWATCH_PATH)) {
        if (!RESULT_NAMES.some((n) => r.data[n] !== undefined)) continue;
        const data = { ...r.data };
        for (const n of RESULT_NAMES) delete data[n];
        tx.update(NETWATCH_PATH, r.id, data);
      }
    });
  }

  private async lookNow(): Promise<void> {
    if (!this.loop.active) return;
    const rows = await this.env.store.read((tx) => tx.list(NETWATCH_PATH));
    if (!this.loop.active) return;
    const now = performance.now();
    const seen = new Set<number>();
    let earliest = Infinity;
    for (const row of rows) {
      if (propValue(NW.disabled, row.data)) continue;
      seen.add(row.id);
      const key = probeKey(row.data);
      let plan = this.plans.get(row.id);
      if (!plan || plan.key !== key) {
        const first = Math.max(now + ms(propValue(NW.startDelay, row.data)), this.boot + ms(propValue(NW.startupDelay, row.data)));
        plan = { key, next: first };
        this.plans.set(row.id, plan);
      }
      if (this.loop.has(row.id)) continue;
      if (plan.next > now) { earliest = Math.min(earliest, plan.next); continue; }
      // Due: it starts when there is room, else when a running test ends (it wakes the loop)
      // or, past the rate, when the oldest start of the last second is a second old.
      const ping = isPing(row.data);
      if (this.loop.size >= MAX_RUNNING || (ping && this.loop.tags().filter((p) => p).length >= MAX_PINGS)) continue;
      while (this.starts.length > 0 && this.starts[0]! <= now - 1000) this.starts.shift();
      if (this.starts.length >= MAX_STARTS_PER_SECOND) { earliest = Math.min(earliest, this.starts[0]! + 1000); continue; }
      this.starts.push(now);
      plan.next = now + Math.max(MIN_INTERVAL_MS, ms(propValue(NW.interval, row.data)));
      earliest = Math.min(earliest, plan.next);
      void this.loop.run(row.id, (signal) => this.test(row, key, signal).catch((e) => this.report(e)), ping);
    }
    for (const id of this.plans.keys()) if (!seen.has(id)) this.plans.delete(id);
    this.loop.wake(Math.min(this.pollMs, earliest - performance.now()));
  }

  /** One test of an entry: probe, record, scripts. */
  private async test(row: StoredRow, key: string, signal: AbortSignal): Promise<void> {
    const outcome = await this.probe(row.data, signal);
    if (signal.aborted) return;
    const { env } = this;
    const recorded = await env.store.write((tx) => {
      const now = tx.get(NETWATCH_PATH, row.id);
      // Removed, disabled or changed while it was probed: this result is of something else.
      if (!now || propValue(NW.disabled, now.data) || probeKey(now.data) !== key) return undefined;
      const before = String(now.data[RESULT.status.name] ?? 'unknown');
      const status = outcome.ok ? 'up' : 'down';
      const data: RowData = { ...now.data };
      for (const n of TEST_RESULT_NAMES) delete data[n];
      Object.assign(data, outcome.values);
      data[RESULT.status.name] = status;
      data[RESULT.doneTests.name] = Number(now.data[RESULT.doneTests.name] ?? 0) + 1;
      data[RESULT.failedTests.name] = Number(now.data[RESULT.failedTests.name] ?? 0) + (outcome.ok ? 0 : 1);
      if (before !== status) {
        data[RESULT.since.name] = env.clock.now();
        // The manual's "Logs": `netwatch,info event down [ type: simple, host: 10.155.101.1 ]`.
        env.log(tx, 'netwatch,info', `event ${status} [ type: ${propValue(NW.type, data)}, host: ${propValue(NW.host, data)} ]`);
      }
      tx.update(NETWATCH_PATH, row.id, data);
      return { changed: before !== status, status, data };
    });
    if (!recorded) return;
    if (recorded.changed) await this.runScript(recorded.data, recorded.status === 'up' ? NW.upScript.name : NW.downScript.name, signal);
    await this.runScript(recorded.data, NW.testScript.name, signal);
  }

  /** An entry's script as a job of *sys with netwatch's policies (manual: "Netwatch executes scripts as *sys user"). */
  private async runScript(data: RowData, which: string, signal: AbortSignal): Promise<void> {
    const source = String(data[which] ?? '');
    if (source.trim() === '' || signal.aborted) return;
    const { env } = this;
    const policies = new Set(NETWATCH_SCRIPT_POLICIES);
    // *sys is no user of /user: its policies are the ones above, not narrowed by a group.
    const session: Session = { user: '*sys', via: 'netwatch', policies, operator: true, lastPrint: new Map(), width: 80, signal };
    // The script reads the results as variables (`$"rtt-avg"`, `$status`), typed as `get` gives them,
    // and the entry's own (`$host`, `$name`; SCRIPT_SETTINGS), declared even without a value.
    const locals = await env.store.read((tx) => {
      const ctx = typeContext(env, tx);
      const vars = new Map<string, Value>();
      const typed = (decl: PropertyDecl, v: unknown): Value => (v === undefined || v === null ? undefined : (decl.type as PropType<unknown>).script(v, ctx));
      for (const decl of SCRIPT_SETTINGS) vars.set(decl.name, typed(decl, storedValue(decl, data, ctx)));
      for (const decl of Object.values(RESULT)) {
        const v = typed(decl, storedValue(decl, data, ctx));
        if (v !== undefined) vars.set(decl.name, v);
      }
      return vars;
    });
    try {
      await runAsJob(env, { script: '', type: 'command', owner: '*sys', policy: [...policies] }, signal, (s) => env.scripts.run(source, { ...session, signal: s }, { locals }));
    } catch (e) {
      if (e instanceof RosError && e.kind === 'interrupted') return;
      await logScriptFailure(env, e, `executing script ${which} of netwatch ${entryLabel(data)}`, `netwatch:${entryLabel(data)}`, `netwatch ${which}`)
        .catch((err) => this.report(err));
    }
  }

  // -------------------------------------------------------------------------------------------
  // The probes

  private async probe(data: RowData, signal: AbortSignal): Promise<Outcome> {
    const timeoutMs = Math.min(MAX_TIMEOUT_MS, Math.max(1, ms(propValue(NW.timeout, data))));
    const host = address(propValue(NW.host, data));
    const src = data[NW.srcAddress.name] ? address(String(data[NW.srcAddress.name])) : undefined;
    try {
      switch (propValue(NW.type, data)) {
        case 'tcp-conn': return await this.tcpConn(data, host, src, timeoutMs, signal);
        case 'http-get': case 'https-get': return await this.httpGet(data, host, src, timeoutMs, signal);
        case 'dns': return await this.dns(data, timeoutMs, signal);
        case 'icmp': return await this.icmp(data, host, src, timeoutMs, signal);
        default: return await this.simple(host, src, timeoutMs, signal);
      }
    } catch {
      // Refused, unreachable, timed out, a src-address not of this host, a refused certificate: down.
      return { ok: false, values: {} };
    }
  }

  private async tcpConn(data: RowData, host: string, src: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
    const port = data[NW.port.name] === undefined ? 80 : propValue(NW.port, data);
    const elapsed = await tcpConnect(host, port, src, timeoutMs, signal);
    const ns = Math.round(elapsed * 1e6);
    return { ok: ns <= propValue(NW.thrTcpConnTime, data), values: { [RESULT.tcpConnectTime.name]: ns } };
  }

  private async httpGet(data: RowData, host: string, src: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
    const { env } = this;
    const https = propValue(NW.type, data) === 'https-get';
    const port = data[NW.port.name] === undefined ? (https ? 443 : 80) : propValue(NW.port, data);
    const check = propValue(NW.checkCertificate, data);
    const certId = propValue(NW.certificate, data);
    let clientCert: { cert: string; key: string } | undefined;
    if (https && certId) {
      const material = await env.store.read((tx) => tlsMaterial(env, tx, certId));
      // A client certificate that can not be presented (no key, removed): the test fails.
      if (material.kind !== 'cert') return { ok: false, values: {} };
      clientCert = material;
    }
    const started = performance.now();
    const res = await httpRequest({
      url: `${https ? 'https' : 'http'}://${net.isIPv6(host) ? `[${host}]` : host}:${port}/`,
      method: 'GET', maxBytes: 0, idleTimeoutMs: timeoutMs, totalTimeoutMs: timeoutMs, maxRedirects: 0,
      statusOnly: true, signal, localAddress: src, clientCert,
      verifyTls: !https || check === 'no' ? undefined
        : (chain, peer) => env.trust.assertTrusted({ chain, host: peer, service: 'netwatch', mode: check as 'yes' | 'yes-without-crl' }),
    });
    const ns = Math.round((performance.now() - started) * 1e6);
    const ok = codeAccepted(res.status, data) && ns <= propValue(NW.thrHttpTime, data);
    return { ok, values: { [RESULT.httpStatusCode.name]: res.status, [RESULT.httpRespTime.name]: ns } };
  }

  private async simple(host: string, src: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
    const replies = await runPing({
      address: host, count: 1, intervalNs: 1e9, size: 56, dontFragment: false, source: src, signal, replyWaitS: timeoutMs / 1000,
    });
    return { ok: replies.some((r) => r.time !== undefined), values: {} };
  }

  private async icmp(data: RowData, host: string, src: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
    const rules = icmpRules(data, timeoutMs);
    // early-*-detection: the train is judged as its lines come (and, for a loss, when a packet's
    // timeout passes without one); once its verdict is known, ping is stopped.
    const train = new IcmpTrain(rules);
    let early: Packet[] | undefined;
    const stop = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const look = () => {
      if (early) return;
      const now = performance.now();
      train.settle(now);
      const foreseen = icmpForeseen(train.packets, rules);
      if ((foreseen === 'up' && rules.earlySuccess) || (foreseen === 'down' && rules.earlyFailure)) {
        early = train.packets;
        stop.abort();
        return;
      }
      clearTimeout(timer);
      const due = rules.earlyFailure ? train.nextLoss() : undefined;
      if (due !== undefined) timer = setTimeout(look, Math.max(0, due - now));
    };
    // packet-size is the whole IP packet (IPv4 header 20, IPv6 40, ICMP 8); iputils wants the
    // data, at least 16 octets for the timestamp that gives the round trip.
    const header = net.isIPv6(host) ? 48 : 28;
    let replies: PingReply[];
    try {
      replies = await runPing({
        address: host, count: rules.count, intervalNs: propValue(NW.packetInterval, data),
        size: Math.max(16, propValue(NW.packetSize, data) - header), ttl: data[NW.ttl.name] === undefined ? undefined : propValue(NW.ttl, data),
        dontFragment: false, source: src, signal: AbortSignal.any([signal, stop.signal]), replyWaitS: timeoutMs / 1000,
        onReply: rules.earlyFailure || rules.earlySuccess ? (r) => { if (!early) { train.reply(r, performance.now()); look(); } } : undefined,
      });
    } finally {
      clearTimeout(timer);
    }
    return icmpVerdict(early ?? replies.map((r) => judgePacket(r, rules)), rules);
  }

  private async dns(data: RowData, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
    const { env } = this;
    let server = String(data[NW.dnsServer.name] ?? '');
    if (server === '') server = (await env.store.read((tx) => propValue(DNS.servers, tx.get(DNS_PATH, 1)?.data ?? {})))[0] ?? '';
    if (server === '') return { ok: false, values: {} };
    const recordType = propValue(NW.recordType, data) as 'A' | 'AAAA' | 'MX' | 'NS';
    const type = TYPE[recordType];
    const upstream = new PlainUpstream([{ address: address(server), port: this.dnsPort }], { serverTimeoutMs: timeoutMs, totalTimeoutMs: timeoutMs, udpSize: 1232 });
    const reply = await abortable(upstream.query({ name: propValue(NW.host, data), type, class: CLASS_IN }), signal);
    const found = reply.answers.filter((r) => r.type === type).map((r) => rdataText(type, r.data));
    // MX answers read `10 mail.example.com.`: the servers are the names.
    const names = recordType === 'MX' ? found.map((t) => t.split(' ')[1] ?? t) : found;
    const into = { A: RESULT.ip, AAAA: RESULT.ip6, MX: RESULT.mailServers, NS: RESULT.nameServers }[recordType];
    const values: RowData = names.length > 0 ? { [into.name]: names.join(',') } : {};
    return { ok: reply.rcode === RCODE.NOERROR && names.length > 0, values };
  }

  private report(e: unknown): void {
    // A closed store during shutdown: nothing to tell anyone.
    if (!this.loop.stopped) process.emitWarning(`rospki netwatch: ${(e as Error).message}`);
  }
}

const ms = (ns: number): number => ns / 1e6;

// ---------------------------------------------------------------------------------------------
// The icmp verdict (pure: test/services/netwatch-icmp.test.ts)

/** What an icmp test judges by: the entry's settings, read once a test. */
export interface IcmpRules {
  readonly count: number;
  /** ns: a later answer is no answer (the manual's timeout: "Max time limit to wait for a response"). */
  readonly timeout: number;
  readonly acceptTimeExceeded: boolean;
  readonly earlyFailure: boolean;
  readonly earlySuccess: boolean;
  readonly thrLossCount: number;
  readonly thrLossPercent: number;
  readonly thrAvg: number;
  readonly thrMax: number;
  readonly thrJitter: number;
  readonly thrStdev: number;
}

export function icmpRules(data: RowData, timeoutMs: number): IcmpRules {
  return {
    count: propValue(NW.packetCount, data), timeout: timeoutMs * 1e6,
    acceptTimeExceeded: propValue(NW.acceptIcmpTimeExceeded, data),
    earlyFailure: propValue(NW.earlyFailureDetection, data), earlySuccess: propValue(NW.earlySuccessDetection, data),
    thrLossCount: propValue(NW.thrLossCount, data), thrLossPercent: propValue(NW.thrLossPercent, data),
    thrAvg: propValue(NW.thrAvg, data), thrMax: propValue(NW.thrMax, data), thrJitter: propValue(NW.thrJitter, data), thrStdev: propValue(NW.thrStdev, data),
  };
}

/** One echo request as judged: answered (with its round trip, ns, when there is one) or lost. */
export interface Packet {
  readonly answered: boolean;
  readonly rtt?: number;
}

const LOST: Packet = { answered: false };

/**
 * A reply of the host's ping as a packet: an echo reply within timeout is answered; with
 * accept-icmp-time-exceeded so is an ICMP time exceeded (iputils prints no round trip for it, so
 * it adds to response-count but not to rtt-*); anything else (`timeout`, unreachable, …) is lost.
 */
export function judgePacket(r: PingReply, rules: IcmpRules): Packet {
  if (r.time !== undefined) return r.time <= rules.timeout ? { answered: true, rtt: r.time } : LOST;
  return rules.acceptTimeExceeded && isTimeExceeded(r) ? { answered: true } : LOST;
}

/**
 * A train while it runs, for early-*-detection: the packets answered or lost so far (`packets`).
 * A packet iputils reports `no answer yet` for (-O: before it sends the next) is lost once
 * timeout has passed since that line, which came after it was sent: a sure loss, maybe a little
 * late. Times are ms on one clock (performance.now()).
 */
export class IcmpTrain {
  private readonly judged = new Map<number, Packet>();
  /** Packets sent and not yet answered: seq → by when they were surely sent. */
  private readonly pending = new Map<number, number>();

  constructor(private readonly rules: IcmpRules) {}

  /** A line of the host's ping about packet r.seq, read at `now`. */
  reply(r: PingReply, now: number): void {
    if (this.judged.has(r.seq)) return;
    // A line about a packet: it and every one before it were sent by now.
    for (let seq = 0; seq <= r.seq; seq++) if (!this.judged.has(seq) && !this.pending.has(seq)) this.pending.set(seq, now);
    if (r.status === 'timeout') return;
    this.pending.delete(r.seq);
    this.judged.set(r.seq, judgePacket(r, this.rules));
  }

  /** The pending packets whose timeout has passed by `now` are lost. */
  settle(now: number): void {
    for (const [seq, sentBy] of this.pending) {
      if (now >= sentBy + this.rules.timeout / 1e6) { this.pending.delete(seq); this.judged.set(seq, LOST); }
    }
  }

  /** When the next pending packet is surely lost, if one is pending. */
  nextLoss(): number | undefined {
    return this.pending.size === 0 ? undefined : Math.min(...this.pending.values()) + this.rules.timeout / 1e6;
  }

  get packets(): Packet[] {
    return [...this.judged.values()];
  }
}

/** loss-percent: one decimal, as thr-loss-percent (`85.0%`). */
const lossPercent = (lost: number, sent: number): number => (sent === 0 ? 100 : Math.round((lost * 1000) / sent) / 10);

/**
 * The outcome of a train: down without an answer or when a threshold is passed (loss-count,
 * loss-percent, and over the round trips there are: rtt-avg, rtt-max, rtt-jitter = max − min,
 * rtt-stdev). The manual on time exceeded: "If all other fail thresholds are not broken, this
 * response will be considered a success."
 */
export function icmpVerdict(packets: readonly Packet[], rules: IcmpRules): Outcome {
  const rtts = packets.filter((p) => p.rtt !== undefined).map((p) => p.rtt!);
  const sent = packets.length;
  const answered = packets.filter((p) => p.answered).length;
  const lost = sent - answered;
  const values: RowData = {
    [RESULT.sentCount.name]: sent, [RESULT.responseCount.name]: answered,
    [RESULT.lossCount.name]: lost, [RESULT.lossPercent.name]: lossPercent(lost, sent),
  };
  let ok = answered > 0 && lost <= rules.thrLossCount && lossPercent(lost, sent) <= rules.thrLossPercent;
  if (rtts.length > 0) {
    const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    const min = Math.min(...rtts);
    const max = Math.max(...rtts);
    const stdev = Math.sqrt(rtts.reduce((a, t) => a + (t - avg) ** 2, 0) / rtts.length);
    Object.assign(values, {
      [RESULT.rttAvg.name]: Math.round(avg), [RESULT.rttMin.name]: min, [RESULT.rttMax.name]: max,
      [RESULT.rttJitter.name]: max - min, [RESULT.rttStdev.name]: Math.round(stdev),
    });
    ok &&= avg <= rules.thrAvg && max <= rules.thrMax && max - min <= rules.thrJitter && stdev <= rules.thrStdev;
  }
  return { ok, values };
}

/**
 * Whether the train's verdict is already known from the packets answered or lost so far, the
 * rest of packet-count still to come (manual: early-failure-detection and early-success-detection
 * end the test "if it is already known that host will be considered as down" / "up"):
 *
 *   down  when what only grows has passed its threshold: loss-count > thr-loss-count, the losses
 *         as a share of packet-count > thr-loss-percent, rtt-max > thr-max, rtt-jitter > thr-jitter
 *         (rtt-avg and rtt-stdev can still come back, so they wait for the end)
 *   up    when the packets so far pass every threshold and losing all the rest would still pass
 *         thr-loss-count and thr-loss-percent (the rest are not sent, so their round trips count
 *         for nothing)
 *
 * Either way the verdict over the packets so far (icmpVerdict) is the same: the results shown
 * agree with the status.
 */
export function icmpForeseen(packets: readonly Packet[], rules: IcmpRules): 'up' | 'down' | undefined {
  const rest = rules.count - packets.length;
  const now = icmpVerdict(packets, rules);
  if (rest <= 0) return now.ok ? 'up' : 'down';
  const lost = packets.filter((p) => !p.answered).length;
  const rtts = packets.filter((p) => p.rtt !== undefined).map((p) => p.rtt!);
  const max = Math.max(...rtts);
  if (lost > rules.thrLossCount || lossPercent(lost, rules.count) > rules.thrLossPercent
    || (rtts.length > 0 && (max > rules.thrMax || max - Math.min(...rtts) > rules.thrJitter))) return 'down';
  if (now.ok && lost + rest <= rules.thrLossCount && lossPercent(lost + rest, rules.count) <= rules.thrLossPercent) return 'up';
  return undefined;
}

/** The address probed: `10.0.0.1@vrf` is 10.0.0.1 (rospki has the main table only). */
function address(host: string): string {
  return host.replace(/@[\w.-]+$/, '');
}

/**
 * The entry's settings its scripts find as variables beside the results: the manual's "Generic"
 * probe variables (name, comment, host, type, interval, timeout; "Probe statistics/variables").
 * A name or comment the entry has not is declared with nothing, as `get` gives it, so that
 * `$name` is no syntax error in a script shared by entries with and without one.
 */
const SCRIPT_SETTINGS: readonly PropertyDecl[] = [NW.name, commentProperty, NW.host, NW.type, NW.interval, NW.timeout];

const isPing = (data: RowData): boolean => ['simple', 'icmp'].includes(propValue(NW.type, data));

function entryLabel(data: RowData): string {
  return String(data[NW.name.name] ?? '') || propValue(NW.host, data);
}

/**
 * Whether an HTTP status counts as up: http-codes when given (`200,301-302`), else
 * http-code-min..http-code-max.
 */
export function codeAccepted(status: number, data: RowData): boolean {
  const codes = String(data[NW.httpCodes.name] ?? '').trim();
  if (codes === '') return status >= propValue(NW.httpCodeMin, data) && status <= propValue(NW.httpCodeMax, data);
  return codes.split(',').some((part) => {
    const m = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(part);
    return !!m && status >= Number(m[1]) && status <= Number(m[2] ?? m[1]);
  });
}

/** Connects and closes; resolves with the time it took (ms). */
function tcpConnect(host: string, port: number, localAddress: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect({ host, port, localAddress });
    const done = (e?: Error) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (e) reject(e); else resolve(performance.now() - started);
    };
    const onAbort = () => done(new Error('aborted'));
    const timer = setTimeout(() => done(new Error('timeout')), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done());
    socket.once('error', (e) => done(e));
  });
}

/** A promise that rejects when the signal fires (the query itself ends by its own timeout). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    if (signal.aborted) { onAbort(); return; }
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
