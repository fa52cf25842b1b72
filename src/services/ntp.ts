// The NTP client of `/system ntp client` (issue 13 §4, services spec §7.4): an SNTP client (RFC
// 4330; the client side of RFC 5905) over UDP that moves rospki's clock — the OffsetClock every
// expiry check, CRL next-update, renewal and the scheduler read — and never the host's. The new
// offset is kept in /system clock like `/system clock set` keeps it, so a restart starts from it.
//
// Each poll asks every server (the `servers` setting and the enabled `servers` rows; `host`,
// `host:port` or `[v6]:port` — the port is a rospki addition for servers that are not on 123) and
// takes the answer with the least round-trip delay. An answer counts only from the address asked,
// in server mode, synchronised (LI ≠ 3, stratum 1..15; stratum 0 is a kiss-o'-death), echoing the
// random transmit timestamp rospki sent (RFC 5905 §8's origin check, RFC 4330 §5). Polls start at
// once, follow 2 s apart while a burst runs (iburst, and after a step), then every 2^min-poll s,
// doubling while the server stays good up to 2^max-poll. What it does shows in the client's
// status, synced-server, synced-stratum, system-offset and freq-drift, and in /log: a step as
// RouterOS writes it (`ntp change time <old> => <new>`, topics system,clock,critical,info) and the
// changes of state under `ntp`.
//
// It is a singleton duty (store/duty.ts): of several daemons on one PostgreSQL store (issue 17),
// which share one router clock, one runs the client, and another takes over when it stops or dies.
// A DutyLoop (store/duty-loop.ts) keeps the timer of the next poll, one reconcile at a time and
// the polls under way, and awaits them when the duty is lost.

import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { formatDate } from '../clock.js';
import { propValue } from '../menu/generic.js';
import { CLOCK_PATH } from '../menus/system/clock.js';
import { NTP_CLIENT_PATH, NTP_ENABLED, NTP_SERVERS_PATH, NTP_STATE, ntpServerAddress, type NtpState } from '../menus/system/ntp.js';
import { DutyLoop } from '../store/duty-loop.js';
import type { RowData, WriteTx } from '../store/store.js';
import type { ServiceContext } from './context.js';
import type { ManagedService } from './managed.js';

/** Seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
const NTP_UNIX_OFFSET = 2_208_988_800;
const PACKET = 48;

export interface NtpServer {
  /** As configured (`time.example.com`, `127.0.0.1:12300`). */
  readonly text: string;
  readonly host: string;
  readonly port: number;
  readonly minPoll: number;
  readonly maxPoll: number;
  readonly iburst: boolean;
}

/** A server of the settings (ntpServerAddress) with the polling settings it is asked with. */
export function parseServer(text: string, defaults: { minPoll: number; maxPoll: number; iburst: boolean }): NtpServer | undefined {
  const address = ntpServerAddress(text);
  return address && { text: text.trim(), ...address, ...defaults };
}

// ---------------------------------------------------------------------------------------------
// Packets

/** An NTP timestamp (64-bit, seconds since 1900 + fraction) as Unix milliseconds (RFC 4330 §3: eras). */
export function ntpToMs(buf: Buffer, at: number): number {
  const seconds = buf.readUInt32BE(at);
  const fraction = buf.readUInt32BE(at + 4);
  // RFC 4330 §3: a time with the top bit clear is in era 1 (from 2036-02-07 on).
  const era = seconds & 0x80000000 ? 0 : 0x100000000;
  return (seconds + era - NTP_UNIX_OFFSET) * 1000 + (fraction / 0x100000000) * 1000;
}

/** A client request (LI 0, version 4, mode 3) whose transmit timestamp is `nonce` (RFC 5905 §9.1 data minimisation). */
export function ntpRequest(nonce: Buffer): Buffer {
  const b = Buffer.alloc(PACKET);
  b[0] = (0 << 6) | (4 << 3) | 3;
  nonce.copy(b, 40, 0, 8);
  return b;
}

export interface NtpReply {
  readonly stratum: number;
  /** Server receive (T2) and transmit (T3) times, Unix ms. */
  readonly receive: number;
  readonly transmit: number;
}

/** The reply's times, or why it does not count. */
export function parseReply(b: Buffer, nonce: Buffer): NtpReply | string {
  if (b.length < PACKET) return 'short packet';
  const li = b[0]! >> 6;
  const version = (b[0]! >> 3) & 7;
  const mode = b[0]! & 7;
  const stratum = b[1]!;
  if (mode !== 4) return `not a server reply (mode ${mode})`;
  if (version < 1 || version > 4) return `unknown version ${version}`;
  if (!b.subarray(24, 32).equals(nonce)) return 'reply does not answer our request';
  if (stratum === 0) return `kiss of death ${b.subarray(12, 16).toString('latin1').replace(/[^\x20-\x7e]/g, '?')}`;
  if (li === 3 || stratum > 15) return 'server not synchronized';
  if (b.readUInt32BE(40) === 0 && b.readUInt32BE(44) === 0) return 'no transmit time';
  return { stratum, receive: ntpToMs(b, 32), transmit: ntpToMs(b, 40) };
}

export interface NtpSample {
  readonly server: NtpServer;
  readonly address: string;
  readonly stratum: number;
  /** How far the server's time is ahead of rospki's clock (θ, RFC 5905 §8), ms. */
  readonly offsetMs: number;
  /** Round-trip delay (δ), ms. */
  readonly delayMs: number;
}

/**
 * One SNTP exchange with a server: the offset of its time against `now()` (rospki's clock), or a
 * rejection (Error with the reason). T1 and T4 are read from `now()` and refined with the
 * monotonic clock, so a clock that stands still (tests) still measures.
 */
export async function querySntp(server: NtpServer, address: string, now: () => number, timeoutMs: number): Promise<NtpSample> {
  const nonce = randomBytes(8);
  const request = ntpRequest(nonce);
  const socket = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
  const base = now();
  const p0 = performance.now();
  try {
    return await new Promise<NtpSample>((resolve, reject) => {
      let t1 = base;
      const timer = setTimeout(() => reject(new Error('no answer')), timeoutMs);
      socket.on('error', (e) => { clearTimeout(timer); reject(new Error((e as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'connection refused' : e.message)); });
      socket.on('message', (msg, rinfo) => {
        if (rinfo.address !== address || rinfo.port !== server.port) return;
        const t4 = base + (performance.now() - p0);
        const reply = parseReply(msg, nonce);
        clearTimeout(timer);
        if (typeof reply === 'string') { reject(new Error(reply)); return; }
        resolve({
          server, address, stratum: reply.stratum,
          offsetMs: ((reply.receive - t1) + (reply.transmit - t4)) / 2,
          delayMs: (t4 - t1) - (reply.transmit - reply.receive),
        });
      });
      // A connected socket hears ICMP port unreachable as ECONNREFUSED.
      socket.connect(server.port, address, () => {
        t1 = base + (performance.now() - p0);
        socket.send(request);
      });
    });
  } finally {
    socket.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The service

/** How long one server has to answer. */
const ANSWER_TIMEOUT_MS = 2000;
/** Polls during a burst (iburst, after a step) come this far apart (RFC 5905 §13: 2 s). */
const BURST_MS = 2000;
const BURST_POLLS = 4;
/** RFC 5905 §10 STEPT: an offset beyond this is a step, logged as RouterOS does. */
const STEP_MS = 128;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** `Dec/11/2025 22:53:07`: the date form of RouterOS's `ntp change time` line. */
function oldDate(ms: number, zone: Parameters<typeof formatDate>[1]): string {
  const [day, time] = formatDate(ms, zone).split(' ') as [string, string];
  const [y, m, d] = day.split('-');
  return `${MONTHS[Number(m) - 1]}/${d}/${y} ${time}`;
}

interface Config {
  readonly enabled: boolean;
  readonly unicast: boolean;
  readonly servers: readonly NtpServer[];
}

function readConfig(client: RowData, rows: readonly RowData[]): Config {
  const servers: NtpServer[] = [];
  const defaults = { minPoll: 6, maxPoll: 10, iburst: true };
  const list = Array.isArray(client.servers) ? (client.servers as unknown[]).map(String) : [];
  for (const s of list) {
    const p = parseServer(s, defaults);
    if (p && !servers.some((x) => x.text === p.text)) servers.push(p);
  }
  for (const r of rows) {
    if (r.disabled === true) continue;
    const p = parseServer(String(r.address ?? ''), {
      minPoll: Number(r['min-poll'] ?? 6), maxPoll: Number(r['max-poll'] ?? 10), iburst: r.iburst !== false,
    });
    if (p && !servers.some((x) => x.text === p.text)) servers.push(p);
  }
  return { enabled: propValue(NTP_ENABLED, client), unicast: (client.mode ?? 'unicast') === 'unicast', servers };
}

export class NtpService implements ManagedService {
  private config: Config | undefined;
  private signature = '';
  /** When the next poll is due (performance.now()); none: nothing to poll. */
  private nextPoll: number | undefined;
  /** A new configuration (or holding) starts a new one: a poll of an older one records nothing. */
  private generation = 0;
  private burstLeft = 0;
  private interval = 64_000;
  /** The last good sample, and when (monotonic), for freq-drift. */
  private last: { at: number; sample: NtpSample } | undefined;
  private driftPpm: number | undefined;
  private synced = false;
  /** The last reason each server failed (logged when it changes). */
  private readonly reasons = new Map<string, string>();
  /**
   * While this daemon holds the duty (it polls and moves the clock): the timer of the next poll,
   * one reconcile at a time (each a look) and the polls (jobs, one per generation).
   */
  private readonly loop: DutyLoop<number>;

  constructor(private readonly ctx: ServiceContext) {
    this.loop = new DutyLoop(ctx.app.store, {
      duty: NTP_DUTY,
      look: () => this.lookNow(),
      // The first look after getting the duty reads the configuration afresh.
      activate: () => { this.signature = ''; },
      deactivate: () => {
        this.signature = '';
        this.generation++;
      },
      report: (e) => this.ctx.internalError(e),
    });
  }

  reconcile(): Promise<void> {
    return this.loop.look();
  }

  /** Reads the configuration (a new one starts polling afresh), then polls if one is due, or plans the next. */
  private async lookNow(): Promise<void> {
    if (!this.loop.active) return;
    const { client, rows } = await this.ctx.app.store.read((tx) => ({
      client: tx.get(NTP_CLIENT_PATH, 1)?.data ?? {},
      rows: tx.list(NTP_SERVERS_PATH).map((r) => r.data),
    }));
    // `reset-freq-drift` removed the drift from the row: measure it afresh.
    if (client['freq-drift'] === undefined && this.synced) this.driftPpm = undefined;
    const config = readConfig(client, rows);
    const signature = JSON.stringify(config);
    if (signature !== this.signature) {
      this.signature = signature;
      this.config = config;
      this.restart();
      try {
        if (!config.enabled) await this.writeState(undefined);
        else if (!this.synced) await this.writeState({ status: 'waiting' });
      } finally {
        // The new configuration's first poll (beside one of an older one still under way), after
        // its `waiting`: a quick answer's `synchronized` is not overwritten.
        this.pollIfDue();
      }
      return;
    }
    this.pollIfDue();
  }

  /** A new configuration: start polling from scratch (or stop). */
  private restart(): void {
    this.nextPoll = undefined;
    this.generation++;
    this.synced = false;
    this.last = undefined;
    this.reasons.clear();
    const c = this.config;
    if (!c?.enabled || !c.unicast || c.servers.length === 0) return;
    this.interval = 1000 * 2 ** Math.min(...c.servers.map((s) => s.minPoll));
    this.burstLeft = c.servers.some((s) => s.iburst) ? BURST_POLLS : 0;
    this.nextPoll = performance.now();
  }

  /** Starts the poll that is due (a poll under way plans the next when it ends), else plans it. */
  private pollIfDue(): void {
    const generation = this.generation;
    if (this.nextPoll === undefined || this.loop.has(generation)) return;
    const wait = this.nextPoll - performance.now();
    if (wait > 0) { this.loop.wake(wait); return; }
    void this.loop.run(generation, (signal) => this.poll(generation, signal).catch((e) => this.ctx.internalError(e)), undefined);
  }

  private async poll(generation: number, signal: AbortSignal): Promise<void> {
    const config = this.config!;
    const clock = this.ctx.app.clock;
    const results = await Promise.all(config.servers.map(async (server) => {
      try {
        const address = net.isIP(server.host) ? server.host : (await dns.lookup(server.host)).address;
        return await querySntp(server, address, () => clock.now(), ANSWER_TIMEOUT_MS);
      } catch (e) {
        return { server, reason: (e as Error).message };
      }
    }));
    // A new configuration, or the duty lost (or given up) meanwhile: this answer is of nothing now.
    if (generation !== this.generation || signal.aborted || this.loop.stopped) return;
    const samples = results.filter((r): r is NtpSample => 'offsetMs' in r);
    const failures = results.filter((r): r is { server: NtpServer; reason: string } => 'reason' in r);
    const notes: string[] = [];
    for (const f of failures) {
      if (this.reasons.get(f.server.text) !== f.reason) notes.push(`${f.server.text}: ${f.reason}`);
      this.reasons.set(f.server.text, f.reason);
    }
    for (const s of samples) this.reasons.delete(s.server.text);
    const best = samples.sort((a, b) => a.delayMs - b.delayMs)[0];
    const maxPoll = 1000 * 2 ** Math.max(...config.servers.map((s) => s.maxPoll));
    const minPoll = 1000 * 2 ** Math.min(...config.servers.map((s) => s.minPoll));
    if (!best) {
      const lost = this.synced;
      this.synced = false;
      this.interval = minPoll;
      await this.record(notes, lost);
    } else {
      await this.apply(best, notes);
      this.interval = Math.min(maxPoll, this.synced ? this.interval * 2 : minPoll);
    }
    if (this.burstLeft > 0) this.burstLeft--;
    const wait = this.burstLeft > 0 ? BURST_MS : this.interval;
    this.nextPoll = performance.now() + wait;
    this.loop.wake(wait);
  }

  /** Moves rospki's clock by the sample's offset and records what happened. */
  private async apply(sample: NtpSample, notes: string[]): Promise<void> {
    const clock = this.ctx.app.clock;
    const now = performance.now();
    // SNTP gives no frequency: the drift is what the offset grew by since the last correction.
    if (this.last && Math.abs(sample.offsetMs) < STEP_MS) {
      const ppm = (sample.offsetMs / (now - this.last.at)) * 1e6;
      this.driftPpm = this.driftPpm === undefined ? ppm : 0.75 * this.driftPpm + 0.25 * ppm;
    }
    this.last = { at: now, sample };
    const before = clock.now();
    clock.offsetMs = clock.offsetMs + sample.offsetMs;
    const after = clock.now();
    const step = Math.abs(sample.offsetMs) > STEP_MS;
    // After a step, a short burst confirms the new time (and shows the small offset left).
    if (step) this.burstLeft = Math.max(this.burstLeft, 2);
    const becameSynced = !this.synced;
    this.synced = true;
    await this.ctx.app.store.write((tx) => {
      const row = tx.get(CLOCK_PATH, 1);
      if (row) tx.update(CLOCK_PATH, row.id, { ...row.data, 'offset-ms': clock.offsetMs });
      const zone = this.ctx.app.env.zone(tx);
      if (step) this.ctx.app.env.log(tx, 'system,clock,critical,info', `ntp change time ${oldDate(before, zone)} => ${oldDate(after, zone)}`);
      for (const n of notes) this.ctx.app.env.log(tx, 'ntp,debug', n);
      if (becameSynced) this.ctx.app.env.log(tx, 'ntp,info', `synchronized with ${sample.server.text}, stratum ${sample.stratum}`);
      this.writeRow(tx, {
        status: 'synchronized', 'synced-server': sample.server.text, 'synced-stratum': sample.stratum,
        'system-offset': `${sample.offsetMs.toFixed(3)} ms`,
        ...(this.driftPpm !== undefined ? { 'freq-drift': `${this.driftPpm.toFixed(3)} PPM` } : {}),
      });
    });
  }

  /** No server answered this poll. */
  private async record(notes: string[], lost: boolean): Promise<void> {
    if (notes.length === 0 && !lost) return;
    await this.ctx.app.store.write((tx) => {
      for (const n of notes) this.ctx.app.env.log(tx, 'ntp,debug', n);
      if (lost) this.ctx.app.env.log(tx, 'ntp,info', 'no server answers: not synchronized');
      this.writeRow(tx, { status: 'waiting' });
    });
  }

  private writeRow(tx: WriteTx, state: NtpState | undefined): void {
    const row = tx.get(NTP_CLIENT_PATH, 1);
    if (!row) return;
    const data: RowData = { ...row.data };
    for (const k of NTP_STATE) delete data[k];
    if (state) Object.assign(data, state);
    if (JSON.stringify(data) !== JSON.stringify(row.data)) tx.update(NTP_CLIENT_PATH, row.id, data);
  }

  private async writeState(state: NtpState | undefined): Promise<void> {
    const current = await this.ctx.app.store.read((tx) => tx.get(NTP_CLIENT_PATH, 1)?.data);
    if (!current) return;
    const wanted: RowData = { ...current };
    for (const k of NTP_STATE) delete wanted[k];
    if (state) Object.assign(wanted, state);
    if (JSON.stringify(wanted) === JSON.stringify(current)) return;
    await this.ctx.app.store.write((tx) => this.writeRow(tx, state));
  }

  async stop(): Promise<void> {
    const wasActive = this.loop.active;
    await this.loop.stop();
    // Nothing polls any more: a console without the daemon shows no stale synchronisation.
    if (wasActive) await this.writeState(undefined).catch(() => {});
  }
}

/** The duty's name: one NTP client among the daemons of a store (they share one router clock). */
export const NTP_DUTY = 'ntp-client';

export const ntpService = (ctx: ServiceContext): ManagedService => new NtpService(ctx);
