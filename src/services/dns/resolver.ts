// The resolver behind rospki's DNS listener (`/ip dns`, services spec §6): a query is answered
// from `/ip dns static`, else from the cache, else by the upstream — the DoH server when
// `use-doh-server` is set and its host name resolves (then the only upstream, spec §6.3), else the
// plain `servers`. A failing upstream answers SERVFAIL (no fallback from DoH to plain servers).
// At most max-concurrent-queries questions are with an upstream at once; identical questions
// asked meanwhile share one upstream query; more are answered SERVFAIL at once, so no client can
// make rospki hold unbounded state.

import { DnsCache, cacheKey, type CachedAnswer } from './cache.js';
import { DohClient, DohError, DohUnresolved, type DohSettings } from './doh.js';
import { entryRecordType, matchStatic, staticPtr, type StaticEntry } from './static.js';
import { PlainUpstream, UpstreamError, answers, upstreamQuery, type PlainServer } from './upstream.js';
import {
  CLASS_ANY, CLASS_IN, canonicalName, decodeMessage, encodeMessage, MAX_MESSAGE, message, messageId, nameToWire, RCODE, TYPE, WireError,
  type Message, type Question, type ResourceRecord,
} from './wire.js';

export interface ForwarderConfig {
  readonly servers: readonly PlainServer[];
  readonly doh: readonly DohSettings[];
}

export interface ResolverConfig {
  readonly servers: readonly PlainServer[];
  readonly doh?: DohSettings;
  readonly statics: readonly StaticEntry[];
  readonly forwarders: ReadonlyMap<string, ForwarderConfig>;
  /** Port FWD entries with an address use (53; tests use another). */
  readonly upstreamPort: number;
  readonly cacheSizeKiB: number;
  readonly cacheMaxTtlSeconds: number;
  readonly maxUdpPacketSize: number;
  readonly queryServerTimeoutMs: number;
  readonly queryTotalTimeoutMs: number;
  readonly maxConcurrentQueries: number;
}

export interface ResolverDeps {
  /** The trust engine's verdict on a DoH server's chain (`dns`): undefined when trusted. */
  verify(chain: Buffer[], host: string): Promise<string | undefined>;
  /** A /log line (topics `dns,error` …). */
  log(topics: string, message: string): void;
}

/** How deep a chain of static CNAME entries is followed. */
const MAX_CNAME_DEPTH = 8;
/** The UDP payload size rospki announces upstream (the DNS flag day 2020 value). */
const UPSTREAM_UDP_SIZE = 1232;

const SERVFAIL: CachedAnswer = { rcode: RCODE.SERVFAIL, answers: [], authorities: [], additionals: [] };

function sameSettings(a: DohSettings | undefined, b: DohSettings | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export class Resolver {
  readonly cache = new DnsCache();
  private config: ResolverConfig | undefined;
  private plain = new PlainUpstream([], { serverTimeoutMs: 2000, totalTimeoutMs: 10_000, udpSize: UPSTREAM_UDP_SIZE });
  /** DoH clients by URL: use-doh-server and the forwarders' DoH servers. */
  private readonly dohClients = new Map<string, DohClient>();
  private readonly inflight = new Map<string, Promise<CachedAnswer>>();
  private pending = 0;

  constructor(private readonly deps: ResolverDeps) {}

  /** Applies the /ip dns configuration; called on every change of the store. */
  configure(config: ResolverConfig): void {
    const old = this.config;
    this.config = config;
    this.cache.configure(config.cacheSizeKiB, config.cacheMaxTtlSeconds);
    if (!old || JSON.stringify(old.servers) !== JSON.stringify(config.servers) || old.queryServerTimeoutMs !== config.queryServerTimeoutMs
      || old.queryTotalTimeoutMs !== config.queryTotalTimeoutMs) {
      this.plain = new PlainUpstream(config.servers, { serverTimeoutMs: config.queryServerTimeoutMs, totalTimeoutMs: config.queryTotalTimeoutMs, udpSize: UPSTREAM_UDP_SIZE });
    }
    const wanted = new Map<string, DohSettings>();
    if (config.doh) wanted.set(config.doh.url, config.doh);
    for (const f of config.forwarders.values()) for (const d of f.doh) if (!wanted.has(d.url)) wanted.set(d.url, d);
    for (const [url, client] of this.dohClients) {
      if (!sameSettings(client.settings, wanted.get(url))) {
        client.close();
        this.dohClients.delete(url);
      } else {
        // Trusted CAs, CRLs or settings may have changed: judge connections again before use.
        client.trustChanged();
      }
    }
    for (const [url, settings] of wanted) {
      if (this.dohClients.has(url)) continue;
      this.dohClients.set(url, new DohClient(settings, {
        resolve: (host) => this.resolveHost(host),
        verify: (chain, host) => this.deps.verify(chain, host),
        log: (text) => this.deps.log('dns,error', text),
      }));
    }
  }

  /** The router's clock moved: certificates' validity must be judged again. */
  trustChanged(): void {
    for (const c of this.dohClients.values()) c.trustChanged();
  }

  close(): void {
    for (const c of this.dohClients.values()) c.close();
    this.dohClients.clear();
  }

  /**
   * The reply to a query's bytes, or undefined when nothing should be sent back (not a query, or
   * too broken to name its ID).
   */
  async answer(bytes: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let query: Message;
    try {
      query = decodeMessage(bytes);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      const id = messageId(bytes);
      // A header we can read that is a query gets FORMERR (RFC 1035 §4.1.1); anything else nothing.
      if (id === undefined || (bytes[2]! & 0x80) !== 0) return undefined;
      return encodeMessage(message({ id, response: true, rcode: RCODE.FORMERR, recursionAvailable: true, recursionDesired: (bytes[2]! & 1) !== 0 }));
    }
    if (query.response) return undefined;
    const limit = transport === 'tcp' ? MAX_MESSAGE : Math.min(query.edns?.udpSize ?? 512, this.config?.maxUdpPacketSize ?? 4096);
    const reply = (a: CachedAnswer, extra: Partial<Message> = {}) => encodeMessage(message({
      id: query.id, response: true, opcode: query.opcode, recursionDesired: query.recursionDesired, recursionAvailable: true,
      checkingDisabled: query.checkingDisabled, rcode: a.rcode & 0xf, questions: query.questions.slice(0, 1),
      answers: a.answers, authorities: a.authorities, additionals: a.additionals,
      edns: query.edns ? { udpSize: Math.max(512, this.config?.maxUdpPacketSize ?? 4096), version: 0, dnssecOk: false, extendedRcode: a.rcode >> 4 } : undefined,
      ...extra,
    }), limit);
    const none = { rcode: RCODE.NOERROR, answers: [], authorities: [], additionals: [] };
    if (query.opcode !== 0) return reply({ ...none, rcode: RCODE.NOTIMP });
    // RFC 6891 §6.1.3: only EDNS version 0 is known; BADVERS is the extended RCODE 16.
    if (query.edns && query.edns.version > 0) return reply({ ...none, rcode: 16 });
    if (query.questions.length !== 1) return reply({ ...none, rcode: RCODE.FORMERR });
    const q = query.questions[0]!;
    if (q.class !== CLASS_IN && q.class !== CLASS_ANY) return reply({ ...none, rcode: RCODE.NOTIMP });
    if (!this.config) return reply(SERVFAIL);
    return reply(await this.resolve({ name: q.name, type: q.type, class: CLASS_IN }, query.checkingDisabled, 0));
  }

  /** The answer to one question: static entries, cache, upstream. */
  private async resolve(q: Question, cd: boolean, depth: number): Promise<CachedAnswer> {
    const config = this.config!;
    const entries = matchStatic(config.statics, q.name);
    if (entries.length === 0) {
      if (q.type === TYPE.PTR) {
        const ptr = staticPtr(config.statics, q.name);
        if (ptr.length > 0) return { rcode: RCODE.NOERROR, answers: ptr, authorities: [], additionals: [] };
      }
      return this.upstream(q, cd);
    }
    const first = entries[0]!;
    if (first.type === 'NXDOMAIN') return { rcode: RCODE.NXDOMAIN, answers: [], authorities: [], additionals: [] };
    if (first.type === 'FWD') return this.forward(first.forwardTo ?? '', q, cd);
    const record = (e: StaticEntry): ResourceRecord => ({ name: q.name, type: entryRecordType(e)!, class: CLASS_IN, ttl: e.ttl, data: e.data! });
    const own = entries.filter((e) => e.data && (entryRecordType(e) === q.type || (q.type === TYPE.ANY && entryRecordType(e) !== undefined)));
    if (own.length > 0) return { rcode: RCODE.NOERROR, answers: own.map(record), authorities: [], additionals: [] };
    const cname = entries.find((e) => e.type === 'CNAME' && e.cname !== undefined);
    if (cname && depth < MAX_CNAME_DEPTH) {
      const target = await this.resolve({ name: cname.cname!, type: q.type, class: CLASS_IN }, cd, depth + 1);
      return { rcode: target.rcode, answers: [record(cname), ...target.answers], authorities: target.authorities, additionals: [] };
    }
    // The name is ours but this type is not: upstream's records if it has any, else "ok" — also
    // when no upstream answers (manual, "DNS Static").
    const upstream = await this.upstream(q, cd);
    if (upstream.rcode === RCODE.NOERROR && upstream.answers.length > 0) return upstream;
    return { rcode: RCODE.NOERROR, answers: [], authorities: [], additionals: [] };
  }

  /** The default upstream: DoH when set and its host resolves, else the plain servers. */
  private upstream(q: Question, cd: boolean): Promise<CachedAnswer> {
    const config = this.config!;
    const cached = this.cache.get(q);
    if (cached) return Promise.resolve(cached);
    return this.shared(q, async () => {
      const doh = config.doh ? this.dohClients.get(config.doh.url) : undefined;
      if (doh) {
        try {
          return await this.viaDoh(doh, q, cd);
        } catch (e) {
          if (!(e instanceof DohUnresolved)) throw e;
        }
      }
      return this.viaPlain(this.plain, q, cd);
    });
  }

  /** FWD: the entry's server address or /ip dns forwarders entry (DoH servers first, then its plain servers). */
  private async forward(target: string, q: Question, cd: boolean): Promise<CachedAnswer> {
    const config = this.config!;
    const forwarder = config.forwarders.get(target);
    return this.limited(async () => {
      try {
        if (!forwarder) {
          const server = target.replace(/@.*$/, '');
          return await this.viaPlain(new PlainUpstream([{ address: server, port: config.upstreamPort }], this.plainOptions()), q, cd);
        }
        for (const d of forwarder.doh) {
          const client = this.dohClients.get(d.url);
          if (!client) continue;
          try {
            return await this.viaDoh(client, q, cd);
          } catch (e) {
            if (!(e instanceof DohUnresolved) && !(e instanceof DohError) && !(e instanceof WireError)) throw e;
          }
        }
        if (forwarder.servers.length === 0) return SERVFAIL;
        return await this.viaPlain(new PlainUpstream(forwarder.servers, this.plainOptions()), q, cd);
      } catch (e) {
        if (e instanceof DohError || e instanceof UpstreamError || e instanceof WireError) return SERVFAIL;
        throw e;
      }
    });
  }

  private plainOptions() {
    const c = this.config!;
    return { serverTimeoutMs: c.queryServerTimeoutMs, totalTimeoutMs: c.queryTotalTimeoutMs, udpSize: UPSTREAM_UDP_SIZE };
  }

  private async viaDoh(client: DohClient, q: Question, cd: boolean): Promise<CachedAnswer> {
    // RFC 8484 §4.1: the ID is 0 (the answer is matched by the HTTP exchange).
    const reply = decodeMessage(await client.query(upstreamQuery(0, q, MAX_MESSAGE, cd)));
    if (!answers(reply, 0, q)) throw new DohError('answer does not match the query');
    return this.keep(q, reply);
  }

  private async viaPlain(plain: PlainUpstream, q: Question, cd: boolean): Promise<CachedAnswer> {
    return this.keep(q, await plain.query(q, cd));
  }

  /** The upstream's answer as rospki passes it on (and caches it). */
  private keep(q: Question, reply: Message): CachedAnswer {
    const a: CachedAnswer = {
      rcode: reply.rcode | ((reply.edns?.extendedRcode ?? 0) << 4), answers: reply.answers, authorities: reply.authorities,
      additionals: reply.additionals,
    };
    if (!reply.truncated) this.cache.put(q, a);
    return a;
  }

  /** One upstream query per question at a time; failures become SERVFAIL. */
  private shared(q: Question, ask: () => Promise<CachedAnswer>): Promise<CachedAnswer> {
    const key = cacheKey(q);
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.limited(async () => {
      try {
        return await ask();
      } catch (e) {
        if (e instanceof DohError || e instanceof UpstreamError || e instanceof WireError) return SERVFAIL;
        throw e;
      }
    }).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** Runs an upstream query within max-concurrent-queries; beyond it, SERVFAIL at once. */
  private async limited(ask: () => Promise<CachedAnswer>): Promise<CachedAnswer> {
    if (this.pending >= (this.config?.maxConcurrentQueries ?? 100)) return SERVFAIL;
    this.pending++;
    try {
      return await ask();
    } finally {
      this.pending--;
    }
  }

  /**
   * The router's own question (`:resolve`): the A or AAAA addresses of a name by the same path
   * as a client's query (static entries, cache, upstream), with the answer's rcode. A name that
   * can not be written on the wire has no addresses (NXDOMAIN).
   */
  async lookup(name: string, family: 4 | 6): Promise<{ rcode: number; addresses: string[] }> {
    if (!this.config) return { rcode: RCODE.SERVFAIL, addresses: [] };
    const q = addressQuestion(name, family);
    if (!q) return { rcode: RCODE.NXDOMAIN, addresses: [] };
    return addressesOf(await this.resolve(q, false, 0), q);
  }

  /**
   * `:resolve … server=`: the A or AAAA addresses of a name from that one server (no static
   * entries, no cache), with its rcode; no answer in time is SERVFAIL.
   */
  async askServer(server: PlainServer, name: string, family: 4 | 6): Promise<{ rcode: number; addresses: string[] }> {
    const q = addressQuestion(name, family);
    if (!q) return { rcode: RCODE.NXDOMAIN, addresses: [] };
    const upstream = new PlainUpstream([server], {
      serverTimeoutMs: this.config?.queryServerTimeoutMs ?? 2000,
      totalTimeoutMs: this.config?.queryTotalTimeoutMs ?? 10_000,
      udpSize: UPSTREAM_UDP_SIZE,
    });
    try {
      return addressesOf(await upstream.query(q), q);
    } catch (e) {
      if (e instanceof UpstreamError) return { rcode: RCODE.SERVFAIL, addresses: [] };
      throw e;
    }
  }

  /**
   * An address for a DoH server's host name: static A/AAAA entries, the cache, then the plain
   * servers — never DoH itself (spec §6.3: a plain server or a static entry resolves it).
   */
  async resolveHost(host: string): Promise<string | undefined> {
    const config = this.config;
    if (!config) return undefined;
    for (const type of [TYPE.A, TYPE.AAAA]) {
      const q: Question = { name: canonicalName(host), type, class: CLASS_IN };
      const own = matchStatic(config.statics, host).find((e) => entryRecordType(e) === type && e.data);
      if (own) return addressText(own.data!);
      let a = this.cache.get(q);
      if (!a && !this.plain.empty) {
        try { a = await this.viaPlain(this.plain, q, false); } catch { a = undefined; }
      }
      const rr = a?.answers.find((r) => r.type === type);
      if (rr) return addressText(rr.data);
    }
    return undefined;
  }
}

function addressText(data: Buffer): string {
  if (data.length === 4) return Array.from(data).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(data.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/** The A (4) or AAAA (6) question for a name; undefined when the name can not be written on the wire. */
function addressQuestion(name: string, family: 4 | 6): Question | undefined {
  try {
    nameToWire(name);
  } catch (e) {
    if (e instanceof WireError) return undefined;
    throw e;
  }
  return { name: canonicalName(name), type: family === 4 ? TYPE.A : TYPE.AAAA, class: CLASS_IN };
}

/** An answer's rcode and the addresses of the question's type in it. */
function addressesOf(a: { rcode: number; answers: readonly ResourceRecord[] }, q: Question): { rcode: number; addresses: string[] } {
  return { rcode: a.rcode, addresses: a.answers.filter((r) => r.type === q.type).map((r) => addressText(r.data)) };
}
