// The DNS service (issue 13 §3, services spec §6): a ManagedService that follows /ip dns,
// /ip dns static and /ip dns forwarders. While `allow-remote-requests=yes` it answers on UDP and
// TCP at ServiceOptions.dnsPort (53 as RouterOS; tests move it) on the daemon's listen address;
// with `no` nothing listens — the router itself still asks it (`:resolve`, LiveResolver.lookup);
// rospki's other lookups use the host's resolver (docs/compatibility.md). A port it can not open shows in `/ip dns status`
// and /log (`dns,error`).
//
// Limits (no peer can exhaust it): UDP queries beyond max-concurrent-queries get SERVFAIL at
// once (resolver.ts). Over TCP (RFC 7766 §6.2), each connection may have PIPELINE_LIMIT queries
// in flight and one message of answers the peer has not taken (reading pauses beyond), buffers
// at most one message, is closed TCP_IDLE_MS after its last complete answer (or its connect)
// with nothing in flight, and lives at most TCP_LIFETIME_MS. A new connection beyond
// max-concurrent-tcp-sessions is not refused: it closes the connection idle the longest, of the
// address holding the most (§6.2.3), so slow askers can not hold every slot.

import dgram from 'node:dgram';
import net from 'node:net';
import { listRows, propValue } from '../../menu/generic.js';
import {
  DNS, DNS_FORWARDERS_PATH, DNS_PATH, dnsStaticMenu, LIVE_RESOLVER, type LiveResolver,
} from '../../menus/ip/dns.js';
import type { Appliance } from '../../appliance.js';
import type { ReadTx, RowData } from '../../store/store.js';
import { failureSource } from '../auth.js';
import { bindReason, type ServiceContext } from '../context.js';
import type { ManagedService } from '../managed.js';
import type { DohSettings } from './doh.js';
import { Resolver, type ForwarderConfig, type ResolverConfig } from './resolver.js';
import { staticEntry, type StaticEntry } from './static.js';
import { MAX_MESSAGE, RCODE, rdataText, TYPE, typeName } from './wire.js';

/**
 * A TCP connection with no query in flight is closed this long after its last complete answer
 * (or its connect): counted from the answer, not the last byte, so a question trickled a byte at
 * a time does not hold it (RFC 7766 §6.2.3).
 */
const TCP_IDLE_MS = 10_000;
/**
 * A TCP connection reads no new question after this long, and closes once it has answered the
 * ones it read: a question every few seconds does not hold a slot for ever (RFC 7766 §6.2.3).
 */
const TCP_LIFETIME_MS = 60_000;
/** Queries of one TCP connection in flight at once (RFC 7766 §6.2.1.1 pipelining). */
const PIPELINE_LIMIT = 16;

/** `1.1.1.1`, `2001:db8::53@main` → the address (only the main VRF exists). */
const serverAddress = (text: string): string => text.replace(/@.*$/, '');

function dohSettings(url: string, verify: boolean, row: RowData): DohSettings {
  return {
    url, verify,
    maxConnections: propValue(DNS.dohMaxServerConnections, row),
    maxConcurrent: propValue(DNS.dohMaxConcurrentQueries, row),
    timeoutMs: propValue(DNS.dohTimeout, row) / 1e6,
  };
}

interface Wanted {
  readonly config: ResolverConfig;
  readonly listen: boolean;
  readonly maxTcpSessions: number;
}

function readConfig(tx: ReadTx, upstreamPort: number): Wanted {
  const row = tx.get(DNS_PATH, 1)?.data ?? {};
  // In list order (place-before, move): entries are tried in that order.
  const statics = listRows(dnsStaticMenu, tx).map((r) => staticEntry(r.data)).filter((e): e is StaticEntry => e !== undefined);
  const forwarders = new Map<string, ForwarderConfig>();
  for (const r of tx.list(DNS_FORWARDERS_PATH)) {
    const d = r.data;
    const list = (k: string) => (Array.isArray(d[k]) ? (d[k] as unknown[]).map(String) : []);
    forwarders.set(String(d.name), {
      servers: list('dns-servers').map((s) => ({ address: serverAddress(s), port: upstreamPort })),
      doh: list('doh-servers').map((u) => dohSettings(u, d['verify-doh-cert'] !== false, row)),
    });
  }
  const doh = propValue(DNS.useDohServer, row);
  return {
    listen: propValue(DNS.allowRemoteRequests, row),
    maxTcpSessions: propValue(DNS.maxConcurrentTcpSessions, row),
    config: {
      servers: propValue(DNS.servers, row).map((s) => ({ address: serverAddress(s), port: upstreamPort })),
      doh: doh !== '' ? dohSettings(doh, propValue(DNS.verifyDohCert, row), row) : undefined,
      statics, forwarders, upstreamPort,
      cacheSizeKiB: propValue(DNS.cacheSize, row),
      cacheMaxTtlSeconds: propValue(DNS.cacheMaxTtl, row) / 1e9,
      maxUdpPacketSize: propValue(DNS.maxUdpPacketSize, row),
      queryServerTimeoutMs: propValue(DNS.queryServerTimeout, row) / 1e6,
      queryTotalTimeoutMs: propValue(DNS.queryTotalTimeout, row) / 1e6,
      maxConcurrentQueries: propValue(DNS.maxConcurrentQueries, row),
    },
  };
}

/** One DNS-over-TCP client connection, as the slot policy sees it. */
interface TcpClient {
  readonly socket: net.Socket;
  /** Whose connections count together (failureSource: an IPv4 address or an IPv6 /64). */
  readonly source: string;
  /** When its last answer was written, or it connected (performance.now()). */
  lastAnswerAt: number;
  inflight: number;
}

interface Listening {
  readonly port: number;
  readonly udp: dgram.Socket;
  readonly tcp: net.Server;
}

/**
 * The router's own resolver in one process, published as LIVE_RESOLVER: what `:resolve` asks and
 * `/ip dns cache` shows. The DNS service configures it as it follows /ip dns; a process that runs
 * no DNS service (a console or `rospki -e` on the data directory, without the daemon) gets one
 * that reads the configuration before each lookup (processResolver), so a script's `:resolve`
 * finds the static entries it just added, as on the router.
 */
class RouterResolver {
  readonly resolver: Resolver;
  private readonly unsubscribeClock: () => void;

  constructor(private readonly app: Appliance, private readonly beforeLookup?: () => Promise<void>) {
    const { env } = app;
    this.resolver = new Resolver({
      verify: async (chain, host) => {
        const r = await env.trust.verify({ chain, host, service: 'dns', mode: 'yes' });
        return r.ok ? undefined : r.error;
      },
      log: (topics, message) => { void app.store.write((tx) => env.log(tx, topics, message)).catch(() => {}); },
    });
    env.cache.table<string, LiveResolver>(LIVE_RESOLVER.table).set(LIVE_RESOLVER.key, this.live());
    // A moved clock (/system clock set, NTP) may make the DoH server's certificate expired or valid.
    this.unsubscribeClock = app.clock.onChange(() => this.resolver.trustChanged());
  }

  /** What `/ip dns cache`, `cache-used` and `:resolve` read. */
  private live(): LiveResolver {
    const cache = this.resolver.cache;
    const shown = new Set<number>([TYPE.A, TYPE.AAAA, TYPE.CNAME]);
    return {
      records: (all) => {
        const out: ReturnType<LiveResolver['records']> = [];
        const seen = new Set<string>();
        for (const r of cache.records()) {
          if (!all && (!r.record || !shown.has(r.type))) continue;
          const data = r.record ? rdataText(r.type, r.record.data) : '';
          const key = `${r.name} ${r.type} ${data}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push({ name: r.name, type: typeName(r.type), data, ttlSeconds: r.ttl, negative: !r.record });
        }
        return out;
      },
      usedKiB: () => Math.ceil(cache.usedBytes / 1024),
      flush: () => cache.flush(),
      lookup: async (name, family, server) => {
        await this.beforeLookup?.();
        const r = server ? await this.resolver.askServer(server, name, family) : await this.resolver.lookup(name, family);
        return { failed: r.rcode !== RCODE.NOERROR && r.rcode !== RCODE.NXDOMAIN, addresses: r.addresses };
      },
    };
  }

  close(): void {
    this.unsubscribeClock();
    this.resolver.close();
    this.app.env.cache.table(LIVE_RESOLVER.table).delete(LIVE_RESOLVER.key);
  }
}

/**
 * The router's resolver for a process without the DNS service (see RouterResolver); it listens on
 * nothing. Returns its close.
 */
export function processResolver(app: Appliance, upstreamPort = 53): () => void {
  const own: RouterResolver = new RouterResolver(app, async () => {
    const wanted = await app.store.read((tx) => readConfig(tx, upstreamPort));
    own.resolver.configure(wanted.config);
  });
  return () => own.close();
}

export class DnsService implements ManagedService {
  private readonly router: RouterResolver;
  private listening: Listening | undefined;
  private readonly connections = new Set<TcpClient>();
  private maxTcpSessions = 20;
  private stopped = false;

  constructor(private readonly ctx: ServiceContext) {
    this.router = new RouterResolver(ctx.app);
  }

  get resolver(): Resolver {
    return this.router.resolver;
  }

  async reconcile(): Promise<void> {
    if (this.stopped) return;
    const wanted = await this.ctx.app.store.read((tx) => readConfig(tx, this.ctx.options.dnsUpstreamPort));
    this.resolver.configure(wanted.config);
    this.maxTcpSessions = wanted.maxTcpSessions;
    let status: string | undefined;
    const port = this.ctx.options.dnsPort;
    if (!wanted.listen) {
      await this.close();
    } else if (!this.listening || this.listening.port !== port) {
      await this.close();
      try {
        this.listening = await this.listen(port);
      } catch (e) {
        status = bindReason(port, e as NodeJS.ErrnoException);
      }
    }
    if (this.stopped) { await this.close(); return; }
    await this.writeStatus(status);
  }

  /** Writes `status` when it changed (and logs a new reason). */
  private async writeStatus(status: string | undefined): Promise<void> {
    const store = this.ctx.app.store;
    const current = await store.read((tx) => tx.get(DNS_PATH, 1)?.data[DNS.status.name]);
    if (current === status) return;
    await store.write((tx) => {
      const row = tx.get(DNS_PATH, 1);
      if (!row) return;
      const data: RowData = { ...row.data };
      if (status === undefined) delete data[DNS.status.name]; else data[DNS.status.name] = status;
      tx.update(DNS_PATH, row.id, data);
      if (status !== undefined) this.ctx.app.env.log(tx, 'dns,error', status);
    });
  }

  private async listen(port: number): Promise<Listening> {
    const host = this.ctx.options.host;
    const udp = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', ipv6Only: false });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ port, address: host, exclusive: true }, () => { udp.off('error', reject); resolve(); });
    });
    udp.on('error', (e) => this.ctx.internalError(e));
    udp.on('message', (msg, rinfo) => {
      this.resolver.answer(msg, 'udp').then(
        (reply) => { if (reply && this.listening?.udp === udp) udp.send(reply, rinfo.port, rinfo.address); },
        (e) => this.ctx.internalError(e),
      );
    });
    const tcp = net.createServer((socket) => this.serveTcp(socket));
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ port, host, ipv6Only: false }, () => { tcp.off('error', reject); resolve(); });
      });
    } catch (e) {
      udp.close();
      throw e;
    }
    tcp.on('error', (e) => this.ctx.internalError(e));
    return { port, udp, tcp };
  }

  /** One TCP client: length-prefixed queries (RFC 1035 §4.2.2), pipelined, bounded. */
  private serveTcp(socket: net.Socket): void {
    const client: TcpClient = { socket, source: failureSource(socket.remoteAddress ?? ''), lastAnswerAt: performance.now(), inflight: 0 };
    while (this.connections.size >= Math.max(1, this.maxTcpSessions) && this.displaceOne());
    this.connections.add(client);
    let idleTimer: NodeJS.Timeout | undefined;
    let retiring = false;
    const lifetime = setTimeout(() => { retiring = true; retireWhenDone(); }, TCP_LIFETIME_MS);
    lifetime.unref();
    socket.on('close', () => {
      this.connections.delete(client);
      clearTimeout(idleTimer);
      clearTimeout(lifetime);
    });
    socket.on('error', () => {});
    // Idle means no query in flight either: a slow upstream does not cut its client off; the
    // answer (or its failure) checks again.
    const idleOver = (): boolean => client.inflight === 0 && performance.now() - client.lastAnswerAt >= TCP_IDLE_MS;
    const armIdle = (ms = TCP_IDLE_MS): void => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(checkIdle, ms);
      idleTimer.unref();
    };
    // Closes an idle connection; one not idle long enough yet is looked at again when it would
    // be (a timer can fire a little early by performance.now(): libuv counts from the loop's
    // cached time), one with a query in flight when that query ends. Returns whether it closed.
    const checkIdle = (): boolean => {
      if (socket.destroyed) return true;
      if (idleOver()) { socket.destroy(); return true; }
      if (client.inflight === 0) armIdle(Math.max(1, TCP_IDLE_MS - (performance.now() - client.lastAnswerAt)));
      return false;
    };
    // At the end of its lifetime the answers already owed are written, then the connection
    // ends; a peer that does not take them is cut TCP_IDLE_MS later.
    const retireWhenDone = (): void => {
      if (!retiring || client.inflight > 0 || socket.destroyed) return;
      socket.pause();
      socket.end();
      setTimeout(() => socket.destroy(), TCP_IDLE_MS).unref();
    };
    armIdle();
    let buffered: Buffer = Buffer.alloc(0);
    // Reading waits while PIPELINE_LIMIT queries are in flight or a whole message of answers is
    // not yet taken by the peer: a client that asks without reading (a 30-byte question, a
    // 64 KiB answer) holds at most that much of the server's memory (RFC 7766 §6.2.1.1).
    const busy = () => client.inflight >= PIPELINE_LIMIT || socket.writableLength >= MAX_MESSAGE;
    const next = (): void => {
      if (retiring) { socket.pause(); return; }
      while (buffered.length >= 2 && !busy() && !socket.destroyed) {
        const length = buffered.readUInt16BE(0);
        if (length < 12) { socket.destroy(); return; }
        if (buffered.length < 2 + length) break;
        const query = Buffer.from(buffered.subarray(2, 2 + length));
        buffered = buffered.subarray(2 + length);
        client.inflight++;
        this.resolver.answer(query, 'tcp').then((reply) => {
          if (!reply || socket.destroyed || reply.length > MAX_MESSAGE) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([len, reply]));
          client.lastAnswerAt = performance.now();
          armIdle();
        }, (e) => this.ctx.internalError(e)).finally(() => {
          client.inflight--;
          if (checkIdle()) return;
          retireWhenDone();
          flow();
        });
      }
      // At most one message (and one read) is kept: beyond it, the peer waits.
      if (busy() || buffered.length >= 2 + MAX_MESSAGE) socket.pause(); else socket.resume();
    };
    const flow = (): void => { if (!busy()) next(); };
    socket.on('drain', flow);
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      next();
    });
  }

  /**
   * Makes room for a new TCP connection (RFC 7766 §6.2.3: under pressure a server closes idle
   * connections first): of the connections with no query in flight (else of all), those of the
   * source holding the most, the one whose last answer is oldest. False when none is open.
   */
  private displaceOne(): boolean {
    const idle = [...this.connections].filter((c) => c.inflight === 0);
    const candidates = idle.length > 0 ? idle : [...this.connections];
    const perSource = new Map<string, number>();
    for (const c of candidates) perSource.set(c.source, (perSource.get(c.source) ?? 0) + 1);
    let victim: TcpClient | undefined;
    for (const c of candidates) {
      if (!victim) { victim = c; continue; }
      const more = perSource.get(c.source)! - perSource.get(victim.source)!;
      if (more > 0 || (more === 0 && c.lastAnswerAt < victim.lastAnswerAt)) victim = c;
    }
    if (!victim) return false;
    this.connections.delete(victim);
    victim.socket.destroy();
    return true;
  }

  private async close(): Promise<void> {
    const l = this.listening;
    this.listening = undefined;
    if (!l) return;
    l.udp.close();
    await new Promise<void>((resolve) => {
      l.tcp.close(() => resolve());
      for (const c of this.connections) c.socket.destroy();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.close();
    this.router.close();
    // Nothing listens any more: a console without the daemon shows no stale reason.
    await this.writeStatus(undefined).catch(() => {});
  }
}

export const dnsService = (ctx: ServiceContext): ManagedService => new DnsService(ctx);
