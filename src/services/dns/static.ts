// `/ip dns static` as the resolver reads it (services spec §6.2, manual "DNS Static"): entries are
// checked top to bottom, regular expressions first, then plain names; regular expressions match
// the lower-cased name without its final dot ("RouterOS converts DNS names to lowercase before
// matching any static entries"). An entry of another type than the one asked for still makes the
// name ours: the resolver asks upstream for that type and answers "ok" without records when
// upstream has none. Each static A and AAAA entry also answers the reverse (PTR) query for its
// address, as RouterOS adds a PTR record for it to the cache.

import { IpAddress } from '../../menu/values.js';
import { linearRegExp } from '../../menu/regex.js';
import { canonicalName, mxData, nameToWire, srvData, TYPE, txtData, type ResourceRecord } from './wire.js';

export interface StaticEntry {
  /** Canonical name (lower case, no final dot), or undefined for a regexp entry. */
  readonly name?: string;
  readonly regexp?: RegExp;
  readonly matchSubdomain: boolean;
  /** `A`, `AAAA`, `CNAME`, `FWD`, `MX`, `NS`, `NXDOMAIN`, `SRV`, `TXT`. */
  readonly type: string;
  /** The record's RDATA (undefined for FWD and NXDOMAIN). */
  readonly data?: Buffer;
  /** CNAME target (canonical). */
  readonly cname?: string;
  /** FWD: an address or a /ip dns forwarders name. */
  readonly forwardTo?: string;
  /** Seconds. */
  readonly ttl: number;
}

const RECORD_TYPES: Record<string, number> = { A: TYPE.A, AAAA: TYPE.AAAA, CNAME: TYPE.CNAME, MX: TYPE.MX, NS: TYPE.NS, SRV: TYPE.SRV, TXT: TYPE.TXT };

/** The DNS type a static entry answers, or undefined (FWD, NXDOMAIN). */
export function entryRecordType(e: StaticEntry): number | undefined {
  return RECORD_TYPES[e.type];
}

/** A stored /ip dns static row as the resolver uses it; undefined for one it can not use. */
export function staticEntry(row: Record<string, unknown>): StaticEntry | undefined {
  if (row.disabled === true) return undefined;
  const type = typeof row.type === 'string' ? row.type : 'A';
  const ttl = Math.floor(Number(row.ttl ?? 86400e9) / 1e9);
  const str = (k: string) => (typeof row[k] === 'string' ? (row[k] as string) : '');
  const num = (k: string) => (typeof row[k] === 'number' ? (row[k] as number) : 0);
  let regexp: RegExp | undefined;
  if (str('regexp') !== '') {
    try { regexp = linearRegExp(str('regexp')); } catch { return undefined; }
  }
  const name = str('name') !== '' ? canonicalName(str('name')) : undefined;
  if (!name && !regexp) return undefined;
  let data: Buffer | undefined;
  try {
    switch (type) {
      case 'A': case 'AAAA': {
        const ip = IpAddress.parse(str('address'));
        if (!ip || ip.family !== (type === 'A' ? 4 : 6)) return undefined;
        data = Buffer.from(ip.bytes);
        break;
      }
      case 'CNAME': data = nameToWire(str('cname')); break;
      case 'NS': data = nameToWire(str('ns')); break;
      case 'MX': data = mxData(num('mx-preference'), str('mx-exchange')); break;
      case 'SRV': data = srvData(num('srv-priority'), num('srv-weight'), num('srv-port'), str('srv-target')); break;
      case 'TXT': data = txtData(str('text')); break;
      case 'FWD': case 'NXDOMAIN': break;
      default: return undefined;
    }
  } catch {
    return undefined; // a name that is not one (too long, bad escape): the entry answers nothing
  }
  return {
    name, regexp, matchSubdomain: row['match-subdomain'] === true, type, data, ttl,
    cname: type === 'CNAME' ? canonicalName(str('cname')) : undefined,
    forwardTo: type === 'FWD' ? str('forward-to') : undefined,
  };
}

function matches(e: StaticEntry, name: string): boolean {
  if (e.regexp) {
    e.regexp.lastIndex = 0;
    return e.regexp.test(name);
  }
  return e.name === name || (e.matchSubdomain && name.endsWith(`.${e.name}`));
}

/** The entries for a name, in the order they decide: regular expressions first, then names. */
export function matchStatic(entries: readonly StaticEntry[], name: string): StaticEntry[] {
  const canonical = canonicalName(name);
  const out: StaticEntry[] = [];
  for (const e of entries) if (e.regexp && matches(e, canonical)) out.push(e);
  for (const e of entries) if (!e.regexp && matches(e, canonical)) out.push(e);
  return out;
}

/** The address a reverse name (`4.3.2.1.in-addr.arpa`, nibbles of `ip6.arpa`) stands for. */
export function reverseAddress(name: string): Buffer | undefined {
  const n = canonicalName(name);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(n);
  if (v4) {
    const bytes = v4.slice(1, 5).reverse().map(Number);
    return bytes.every((b) => b <= 255) ? Buffer.from(bytes) : undefined;
  }
  const v6 = /^((?:[0-9a-f]\.){32})ip6\.arpa$/.exec(n);
  if (v6) {
    const nibbles = v6[1]!.split('.').filter(Boolean).reverse();
    return Buffer.from(nibbles.join(''), 'hex');
  }
  return undefined;
}

/** PTR records the static A/AAAA entries give a reverse name. */
export function staticPtr(entries: readonly StaticEntry[], qname: string): ResourceRecord[] {
  const address = reverseAddress(qname);
  if (!address) return [];
  return entries
    .filter((e) => e.name && (e.type === 'A' || e.type === 'AAAA') && e.data?.equals(address))
    .map((e) => ({ name: qname, type: TYPE.PTR, class: 1, ttl: e.ttl, data: nameToWire(e.name!) }));
}
