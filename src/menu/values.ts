// The values that flow between menus and front ends: the RouterOS script data types
// (M-SCRIPT "Data types": num, bool, str, ip, ip-prefix, ip6, ip6-prefix, id, time, array,
// nil, nothing, code). Plain JS values where one fits; small classes where RouterOS
// distinguishes a type that JS would not.
//
//   str     → string          num  → number (integer; RouterOS uses 64-bit signed)
//   bool    → boolean         nil  → null        nothing → undefined
//   time    → Duration        id   → ItemId
//   ip/ip6  → IpAddress       ip-prefix/ip6-prefix → IpPrefix
//   array   → RosArray        code → ScriptCode (owned by the console interpreter)

/** RouterOS `time`: a duration, kept in nanoseconds so `us` and `ms` parts survive. */
export class Duration {
  constructor(readonly ns: number) {}
  static fromMs(ms: number): Duration { return new Duration(Math.round(ms * 1e6)); }
  static fromSeconds(s: number): Duration { return new Duration(Math.round(s * 1e9)); }
  get ms(): number { return this.ns / 1e6; }
  get seconds(): number { return this.ns / 1e9; }
  /** `521w2d23h56m20s`, `1s500ms`, `0s` (spec §2.2). */
  toString(): string { return formatDuration(this.ns); }
}

const UNITS: Array<[string, number]> = [
  ['w', 604800e9], ['d', 86400e9], ['h', 3600e9], ['m', 60e9], ['s', 1e9], ['ms', 1e6], ['us', 1e3], ['ns', 1],
];

export function formatDuration(ns: number): string {
  if (ns === 0) return '0s';
  let rest = Math.abs(Math.round(ns));
  let out = ns < 0 ? '-' : '';
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

const DURATION_UNIT_NS: Record<string, number> = Object.fromEntries(UNITS);

/**
 * Parses the duration forms RouterOS accepts: `3w2d`, `10s`, `500ms`, `1d00:00:00`,
 * `00:10:00`, `00:00:00.020`, a bare number (seconds). Returns undefined when text is not one.
 */
export function parseDuration(text: string): Duration | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  let sign = 1;
  let s = t;
  if (s.startsWith('-')) { sign = -1; s = s.slice(1); }
  // [Nw][Nd]HH:MM[:SS[.fff]]
  const clock = /^(?:(\d+)w)?(?:(\d+)d)?(\d+):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?$/.exec(s);
  if (clock) {
    const [, w, d, h, m, sec, frac] = clock;
    let ns = (Number(w ?? 0) * 604800 + Number(d ?? 0) * 86400 + Number(h) * 3600 + Number(m) * 60 + Number(sec ?? 0)) * 1e9;
    if (frac) ns += Number(frac.padEnd(9, '0'));
    return new Duration(sign * ns);
  }
  if (/^\d+(\.\d+)?$/.test(s)) return new Duration(sign * Math.round(Number(s) * 1e9));
  const re = /(\d+(?:\.\d+)?)(ms|us|ns|w|d|h|m|s)/gy;
  let ns = 0;
  let pos = 0;
  let match: RegExpExecArray | null;
  while ((match = re.exec(s)) !== null) {
    ns += Number(match[1]) * DURATION_UNIT_NS[match[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== s.length || pos === 0) return undefined;
  return new Duration(sign * Math.round(ns));
}

/** RouterOS internal item id `*1A`. */
export class ItemId {
  constructor(readonly n: number) {}
  toString(): string { return `*${this.n.toString(16).toUpperCase()}`; }
  static parse(text: string): ItemId | undefined {
    const m = /^\*([0-9a-fA-F]{1,8})$/.exec(text);
    return m ? new ItemId(parseInt(m[1]!, 16)) : undefined;
  }
}

/** An IPv4 or IPv6 address. */
export class IpAddress {
  constructor(readonly family: 4 | 6, readonly bytes: Uint8Array) {}
  toString(): string {
    if (this.family === 4) return Array.from(this.bytes).join('.');
    return formatIpv6(this.bytes);
  }
  static parse(text: string): IpAddress | undefined {
    const v4 = parseIpv4(text);
    if (v4) return new IpAddress(4, v4);
    const v6 = parseIpv6(text);
    return v6 ? new IpAddress(6, v6) : undefined;
  }
}

/** An address prefix `192.168.0.0/24`; a bare address is a host prefix. */
export class IpPrefix {
  constructor(readonly address: IpAddress, readonly length: number) {}
  toString(): string { return `${this.address}/${this.length}`; }
  contains(ip: IpAddress): boolean {
    if (ip.family !== this.address.family) return false;
    let bits = this.length;
    for (let i = 0; i < ip.bytes.length && bits > 0; i++) {
      const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
      if ((ip.bytes[i]! & mask) !== (this.address.bytes[i]! & mask)) return false;
      bits -= 8;
    }
    return true;
  }
  static parse(text: string): IpPrefix | undefined {
    const slash = text.indexOf('/');
    const addr = IpAddress.parse(slash < 0 ? text : text.slice(0, slash));
    if (!addr) return undefined;
    const max = addr.family === 4 ? 32 : 128;
    if (slash < 0) return new IpPrefix(addr, max);
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText)) return undefined;
    const len = Number(lenText);
    if (len > max) return undefined;
    // RouterOS keeps the network address: 10.1.2.3/8 is stored as 10.0.0.0/8.
    const bytes = Uint8Array.from(addr.bytes);
    let bits = len;
    for (let i = 0; i < bytes.length; i++) {
      const keep = bits >= 8 ? 8 : Math.max(bits, 0);
      bytes[i]! &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
      bits -= 8;
    }
    return new IpPrefix(new IpAddress(addr.family, bytes), len);
  }
}

export function parseIpv4(text: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return Uint8Array.from(parts);
}

export function parseIpv6(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length < 2) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const groups = s.split(':');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIpv4(g);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => { bytes[2 * i] = g >> 8; bytes[2 * i + 1] = g & 0xff; });
  return bytes;
}

/** RFC 5952 text form: lower case, longest zero run (≥ 2 groups) compressed. */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/**
 * RouterOS array: an ordered list whose elements may carry keys. Keyed elements are kept
 * sorted by key (RouterOS sorts them alphabetically); unkeyed elements keep their order and
 * come first.
 */
export class RosArray {
  readonly list: Value[] = [];
  readonly map = new Map<string, Value>();

  static of(values: Iterable<Value>): RosArray {
    const a = new RosArray();
    for (const v of values) a.list.push(v);
    return a;
  }
  static fromRecord(record: Iterable<[string, Value]>): RosArray {
    const a = new RosArray();
    for (const [k, v] of record) a.set(k, v);
    return a;
  }
  get size(): number { return this.list.length + this.map.size; }
  set(key: string | number, value: Value): void {
    if (typeof key === 'number') {
      if (key >= 0 && key < this.list.length) { this.list[key] = value; return; }
      if (key === this.list.length && this.map.size === 0) { this.list.push(value); return; }
      key = String(key);
    }
    this.map.set(key, value);
  }
  get(key: string | number): Value {
    if (typeof key === 'number') {
      if (key >= 0 && key < this.list.length) return this.list[key];
      const entries = this.entries();
      return key >= 0 && key < entries.length ? entries[key]![1] : undefined;
    }
    if (this.map.has(key)) return this.map.get(key);
    if (/^\d+$/.test(key)) return this.get(Number(key));
    return undefined;
  }
  /** All elements in RouterOS order: list elements, then keyed elements by key. */
  entries(): Array<[string | number, Value]> {
    const out: Array<[string | number, Value]> = this.list.map((v, i) => [i, v]);
    const keys = [...this.map.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const k of keys) out.push([k, this.map.get(k)]);
    return out;
  }
  values(): Value[] { return this.entries().map(([, v]) => v); }
}

/** A script function (`do={…}` bodies, `:parse` results). The interpreter defines the body. */
export interface ScriptCode {
  readonly kind: 'code';
  readonly source: string;
}

export type Value =
  | string | number | boolean | null | undefined
  | Duration | ItemId | IpAddress | IpPrefix | RosArray | ScriptCode;

/** `:typeof` names. */
export function typeOf(v: Value): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'nil';
  switch (typeof v) {
    case 'string': return 'str';
    case 'number': return 'num';
    case 'boolean': return 'bool';
  }
  if (v instanceof Duration) return 'time';
  if (v instanceof ItemId) return 'id';
  if (v instanceof IpAddress) return v.family === 4 ? 'ip' : 'ip6';
  if (v instanceof IpPrefix) return v.address.family === 4 ? 'ip-prefix' : 'ip6-prefix';
  if (v instanceof RosArray) return 'array';
  return 'code';
}

/** `:tostr` / `:put` rendering: arrays join elements with `;`, keyed ones as `k=v`. */
export function valueToString(v: Value): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (v instanceof RosArray) {
    return v.entries().map(([k, e]) => (typeof k === 'string' ? `${k}=${valueToString(e)}` : valueToString(e))).join(';');
  }
  if (v instanceof Duration || v instanceof ItemId || v instanceof IpAddress || v instanceof IpPrefix) return v.toString();
  return v.source;
}
