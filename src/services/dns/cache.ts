// The resolver's cache (`/ip dns cache-size`, `cache-max-ttl`; `/ip dns cache`): answers kept by
// question, for the shortest TTL among their records (RFC 1035 §7.3; negative answers for the
// SOA's TTL/MINIMUM, RFC 2308 §5), never longer than cache-max-ttl. Its size is bounded by
// cache-size (the least recently used answers go first), so no client can grow it further.
//
// TTLs are durations: they count on the monotonic clock, so moving the router's clock
// (/system clock set, NTP) neither expires nor prolongs what is cached.

import { performance } from 'node:perf_hooks';
import { canonicalName, RCODE, TYPE, type Question, type ResourceRecord } from './wire.js';

export interface CachedAnswer {
  readonly rcode: number;
  readonly answers: readonly ResourceRecord[];
  readonly authorities: readonly ResourceRecord[];
  readonly additionals: readonly ResourceRecord[];
}

interface Entry extends CachedAnswer {
  readonly question: Question;
  readonly storedAt: number;
  readonly expiresAt: number;
  readonly size: number;
}

/** What a cached answer costs: its records on the wire plus bookkeeping. */
const ENTRY_OVERHEAD = 96;

function recordSize(r: ResourceRecord): number {
  return r.name.length + 12 + r.data.length + 48;
}

export function cacheKey(q: Question): string {
  return `${canonicalName(q.name)}|${q.type}|${q.class}`;
}

/** The record as the cache hands it out: its TTL less the time it has been cached. */
function aged(r: ResourceRecord, elapsed: number): ResourceRecord {
  return { ...r, ttl: Math.max(0, r.ttl - elapsed) };
}

export interface CacheRecordView {
  readonly name: string;
  readonly type: number;
  /** Undefined for a negative entry (NXDOMAIN or no data). */
  readonly record?: ResourceRecord;
  /** Seconds left. */
  readonly ttl: number;
}

export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private used = 0;
  private maxBytes = 2048 * 1024;
  private maxTtl = 7 * 86400;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** cache-size (KiB) and cache-max-ttl (seconds); shrinking drops the oldest answers. */
  configure(sizeKiB: number, maxTtlSeconds: number): void {
    this.maxBytes = sizeKiB * 1024;
    this.maxTtl = Math.max(0, Math.floor(maxTtlSeconds));
    this.evict();
  }

  get usedBytes(): number {
    return this.used;
  }

  get(q: Question): CachedAnswer | undefined {
    const key = cacheKey(q);
    const e = this.entries.get(key);
    if (!e) return undefined;
    const now = this.now();
    if (now >= e.expiresAt) {
      this.delete(key, e);
      return undefined;
    }
    // Most recently used last (Map keeps insertion order).
    this.entries.delete(key);
    this.entries.set(key, e);
    const elapsed = Math.floor((now - e.storedAt) / 1000);
    return {
      rcode: e.rcode, answers: e.answers.map((r) => aged(r, elapsed)), authorities: e.authorities.map((r) => aged(r, elapsed)),
      additionals: e.additionals.map((r) => aged(r, elapsed)),
    };
  }

  /** Keeps an upstream answer when it may be cached (NOERROR or NXDOMAIN, a TTL above 0). */
  put(q: Question, a: CachedAnswer): void {
    const ttl = this.ttlOf(a);
    if (ttl <= 0) return;
    const size = ENTRY_OVERHEAD + q.name.length + [...a.answers, ...a.authorities, ...a.additionals].reduce((n, r) => n + recordSize(r), 0);
    if (size > this.maxBytes) return;
    const key = cacheKey(q);
    const old = this.entries.get(key);
    if (old) this.delete(key, old);
    const now = this.now();
    const clamp = (r: ResourceRecord) => (r.ttl > ttl ? { ...r, ttl } : r);
    const entry: Entry = {
      question: q, rcode: a.rcode, answers: a.answers.map(clamp), authorities: a.authorities.map(clamp), additionals: a.additionals.map(clamp),
      storedAt: now, expiresAt: now + ttl * 1000, size,
    };
    this.entries.set(key, entry);
    this.used += size;
    this.evict();
  }

  /** The seconds an answer may be kept: 0 for one that must not be. */
  private ttlOf(a: CachedAnswer): number {
    if (a.rcode !== RCODE.NOERROR && a.rcode !== RCODE.NXDOMAIN) return 0;
    let ttl: number;
    if (a.rcode === RCODE.NOERROR && a.answers.length > 0) {
      ttl = Math.min(...a.answers.map((r) => r.ttl));
    } else {
      // RFC 2308 §5: a negative answer lives for the SOA's TTL, at most its MINIMUM field.
      const soa = a.authorities.find((r) => r.type === TYPE.SOA && r.data.length >= 20);
      if (!soa) return 0;
      ttl = Math.min(soa.ttl, soa.data.readUInt32BE(soa.data.length - 4));
    }
    return Math.min(ttl, this.maxTtl);
  }

  flush(): void {
    this.entries.clear();
    this.used = 0;
  }

  private delete(key: string, e: Entry): void {
    this.entries.delete(key);
    this.used -= e.size;
  }

  private evict(): void {
    for (const [key, e] of this.entries) {
      if (this.used <= this.maxBytes) break;
      this.delete(key, e);
    }
  }

  /** Every live record (and negative entry), for `/ip dns cache print`. */
  records(): CacheRecordView[] {
    const now = this.now();
    const out: CacheRecordView[] = [];
    for (const [key, e] of [...this.entries]) {
      if (now >= e.expiresAt) { this.delete(key, e); continue; }
      const elapsed = Math.floor((now - e.storedAt) / 1000);
      if (e.answers.length === 0) {
        out.push({ name: canonicalName(e.question.name), type: e.question.type, ttl: Math.max(0, Math.ceil((e.expiresAt - now) / 1000)) });
        continue;
      }
      for (const r of e.answers) out.push({ name: canonicalName(r.name), type: r.type, record: r, ttl: Math.max(0, r.ttl - elapsed) });
    }
    return out;
  }
}
