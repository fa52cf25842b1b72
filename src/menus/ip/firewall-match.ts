// The firewall's rule language as pure functions (services spec §7.5): the matcher values
// `/ip firewall filter` and `address-list` accept (addresses, ranges, ports, protocols, each
// negatable with `!`), and the decision of a chain for one connection. Nothing here reads the
// store or the network: `/ip firewall filter` keeps the rules, and rospki's own listeners ask
// decide() whether the `input` chain lets a new connection in (issue 13 §6, services/firewall.ts).

import { IpAddress, IpPrefix } from '../../menu/values.js';

// ---------------------------------------------------------------------------------------------
// Matcher values

/** A matcher value with its optional `!` (RouterOS negation: `dst-port=!80`). */
export function negation(text: string): { not: boolean; value: string } {
  return text.startsWith('!') ? { not: true, value: text.slice(1) } : { not: false, value: text };
}

/** Address forms of src-address/dst-address: `1.2.3.4`, `10.0.0.0/8`, `10.0.0.1-10.0.0.9` (v4 or v6). */
export type AddressMatcher =
  | { kind: 'prefix'; prefix: IpPrefix }
  | { kind: 'range'; from: IpAddress; to: IpAddress };

/** Parses an address, prefix or range; undefined when it is none of them. */
export function parseAddressMatcher(text: string): AddressMatcher | undefined {
  const dash = text.indexOf('-');
  if (dash > 0) {
    const from = IpAddress.parse(text.slice(0, dash).trim());
    const to = IpAddress.parse(text.slice(dash + 1).trim());
    if (!from || !to || from.family !== to.family || compareBytes(from.bytes, to.bytes) > 0) return undefined;
    return { kind: 'range', from, to };
  }
  const prefix = IpPrefix.parse(text.trim());
  return prefix ? { kind: 'prefix', prefix } : undefined;
}

/** The canonical text RouterOS shows: host prefixes as bare addresses, networks as `net/len`. */
export function formatAddressMatcher(m: AddressMatcher): string {
  if (m.kind === 'range') return `${m.from}-${m.to}`;
  const full = m.prefix.address.family === 4 ? 32 : 128;
  return m.prefix.length === full ? m.prefix.address.toString() : m.prefix.toString();
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** An address as a connection reports it; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) counts as IPv4. */
export function connectionAddress(text: string): IpAddress | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  return IpAddress.parse(mapped ? mapped[1]! : text.replace(/%.*$/, ''));
}

export function addressMatches(m: AddressMatcher, ip: IpAddress): boolean {
  if (m.kind === 'prefix') return m.prefix.contains(ip);
  return ip.family === m.from.family && compareBytes(ip.bytes, m.from.bytes) >= 0 && compareBytes(ip.bytes, m.to.bytes) <= 0;
}

/** Port lists: `80`, `80,443`, `8000-8080`, mixed, up to 15 entries (RouterOS limit). */
export type PortRange = readonly [number, number];

export function parsePorts(text: string): PortRange[] | undefined {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.length > 15) return undefined;
  const out: PortRange[] = [];
  for (const p of parts) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(p);
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > 65535 || to > 65535 || from > to) return undefined;
    out.push([from, to]);
  }
  return out;
}

export const formatPorts = (ranges: readonly PortRange[]): string =>
  ranges.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(',');

/** Protocol names RouterOS offers, with their IP protocol numbers. */
export const PROTOCOLS: ReadonlyMap<string, number> = new Map([
  ['icmp', 1], ['igmp', 2], ['ggp', 3], ['ip-encap', 4], ['st', 5], ['tcp', 6], ['egp', 8], ['pup', 12],
  ['udp', 17], ['hmp', 20], ['xns-idp', 22], ['rdp', 27], ['iso-tp4', 29], ['dccp', 33], ['xtp', 36],
  ['ddp', 37], ['idpr-cmtp', 38], ['ipv6-encap', 41], ['ipv6-route', 43], ['ipv6-frag', 44], ['rsvp', 46],
  ['gre', 47], ['ipsec-esp', 50], ['ipsec-ah', 51], ['icmpv6', 58], ['ipv6-nonxt', 59], ['ipv6-opts', 60],
  ['rspf', 73], ['vmtp', 81], ['ospf', 89], ['ipip', 94], ['etherip', 97], ['encap', 98], ['pim', 103],
  ['vrrp', 112], ['l2tp', 115], ['sctp', 132], ['udp-lite', 136],
]);

/** Protocols whose packets carry ports (dst-port/src-port need one of them). */
export const PORT_PROTOCOLS: readonly string[] = ['tcp', 'udp', 'udp-lite', 'dccp', 'sctp'];

/** A protocol name, or a number 0..255 shown by name when it has one. */
export function parseProtocol(text: string): string | undefined {
  if (PROTOCOLS.has(text)) return text;
  if (!/^\d{1,3}$/.test(text) || Number(text) > 255) return undefined;
  const n = Number(text);
  for (const [name, number] of PROTOCOLS) if (number === n) return name;
  return String(n);
}

function protocolNumber(name: string): number | undefined {
  return PROTOCOLS.get(name) ?? (/^\d+$/.test(name) ? Number(name) : undefined);
}

// ---------------------------------------------------------------------------------------------
// Rules and the decision

/** Actions that end the evaluation of a packet. */
export type Verdict = 'accept' | 'drop' | 'reject';

/** A rule without an action acts as `accept` (spec §7.5: "prints none and acts as accept"). */
export const IMPLIED_ACTION = 'accept';

export interface FilterRule {
  readonly id: number;
  readonly chain: string;
  readonly action?: string;
  readonly disabled?: boolean;
  /** Each matcher as stored: text with an optional leading `!`. */
  readonly protocol?: string;
  readonly srcAddress?: string;
  readonly dstAddress?: string;
  readonly srcPort?: string;
  readonly dstPort?: string;
  readonly srcAddressList?: string;
  readonly dstAddressList?: string;
  readonly inInterface?: string;
  readonly connectionState?: readonly string[];
  readonly jumpTarget?: string;
  readonly log?: boolean;
  readonly logPrefix?: string;
  readonly addressList?: string;
  /** ns; 0 or absent: the entry stays. */
  readonly addressListTimeout?: number;
}

export interface AddressListEntry {
  readonly list: string;
  /** Address, prefix or range (a DNS name never matches: rospki resolves none). */
  readonly address: string;
  readonly disabled?: boolean;
}

/**
 * Address lists ready for matching: host addresses in a set per list, prefixes and ranges
 * parsed once. A listener asks for every new connection, so lists of thousands of entries (a
 * blocklist filled by add-src-to-address-list) must not be parsed and walked each time.
 */
export class AddressListIndex {
  private readonly hosts = new Map<string, Set<string>>();
  private readonly networks = new Map<string, AddressMatcher[]>();

  constructor(entries: readonly AddressListEntry[]) {
    for (const e of entries) this.add(e);
  }

  /** Adds one entry (disabled entries and DNS names match nothing and are left out). */
  add(e: AddressListEntry): void {
    if (e.disabled) return;
    const m = parseAddressMatcher(e.address);
    if (!m) return;
    if (m.kind === 'prefix' && m.prefix.length === (m.prefix.address.family === 4 ? 32 : 128)) {
      let set = this.hosts.get(e.list);
      if (!set) this.hosts.set(e.list, (set = new Set()));
      set.add(m.prefix.address.toString());
      return;
    }
    let list = this.networks.get(e.list);
    if (!list) this.networks.set(e.list, (list = []));
    list.push(m);
  }

  contains(list: string, ip: IpAddress): boolean {
    if (this.hosts.get(list)?.has(ip.toString())) return true;
    return this.networks.get(list)?.some((m) => addressMatches(m, ip)) ?? false;
  }
}

/**
 * Matcher values parsed once: rules are walked for every connection, their texts rarely change.
 * Bounded: a store of many distinct texts only empties the memo now and then.
 */
function memo<T>(parse: (text: string) => T | undefined): (text: string) => T | undefined {
  const seen = new Map<string, T | null>();
  return (text) => {
    let hit = seen.get(text);
    if (hit === undefined) {
      if (seen.size >= 4096) seen.clear();
      hit = parse(text) ?? null;
      seen.set(text, hit);
    }
    return hit ?? undefined;
  };
}
const addressMatcherOf = memo(parseAddressMatcher);
const portsOf = memo(parsePorts);

/** A connection arriving at one of rospki's listeners. */
export interface Connection {
  readonly protocol: string;
  readonly srcAddress: string;
  readonly srcPort?: number;
  readonly dstAddress?: string;
  readonly dstPort: number;
  /** The host interface the connection came in on, when known. */
  readonly inInterface?: string;
  /** Connection tracking state; a connection being accepted is `new`. */
  readonly state?: 'new' | 'established' | 'related' | 'invalid' | 'untracked';
}

export interface Decision {
  readonly verdict: Verdict;
  /** The rule that decided, or undefined when the chain ended (its policy: accept). */
  readonly rule?: number;
  /** Every rule that matched, in order: their counters go up. */
  readonly matched: readonly number[];
  /** `log=yes` and `action=log` rules that matched: a /log line each. */
  readonly logs: ReadonlyArray<{ rule: number; prefix: string }>;
  /** `add-src-to-address-list` / `add-dst-to-address-list` rules that matched. */
  readonly listed: ReadonlyArray<{ rule: number; list: string; address: string; timeout: number }>;
}

/** Jumps deeper than this are taken as a loop and end the walk (RouterOS refuses jump loops). */
const MAX_JUMP_DEPTH = 16;

/**
 * Walks `chain` (with its jumps) for one connection and returns what happens to it. Disabled
 * rules are skipped; an unknown matcher value never matches; the built-in chains accept what no
 * rule decides, a jumped-to chain returns to its caller.
 */
export function decide(rules: readonly FilterRule[], chain: string, conn: Connection, lists: readonly AddressListEntry[] | AddressListIndex): Decision {
  const index = lists instanceof AddressListIndex ? lists : new AddressListIndex(lists);
  const matched: number[] = [];
  const logs: Array<{ rule: number; prefix: string }> = [];
  const listed: Array<{ rule: number; list: string; address: string; timeout: number }> = [];
  const src = connectionAddress(conn.srcAddress);
  const dst = conn.dstAddress !== undefined ? connectionAddress(conn.dstAddress) : undefined;

  const walk = (name: string, depth: number): { verdict: Verdict; rule: number } | undefined => {
    if (depth > MAX_JUMP_DEPTH) return undefined;
    for (const rule of rules) {
      if (rule.chain !== name || rule.disabled || !ruleMatches(rule, conn, src, dst, index)) continue;
      matched.push(rule.id);
      const action = rule.action ?? IMPLIED_ACTION;
      if (rule.log || action === 'log') logs.push({ rule: rule.id, prefix: rule.logPrefix ?? '' });
      switch (action) {
        case 'accept': return { verdict: 'accept', rule: rule.id };
        case 'drop': case 'tarpit': return { verdict: 'drop', rule: rule.id };
        case 'reject': return { verdict: 'reject', rule: rule.id };
        case 'return': return undefined;
        case 'jump': {
          if (!rule.jumpTarget) break;
          const inner = walk(rule.jumpTarget, depth + 1);
          if (inner) return inner;
          break;
        }
        case 'add-src-to-address-list': case 'add-dst-to-address-list': {
          const address = action === 'add-src-to-address-list' ? src : dst;
          if (rule.addressList && address) listed.push({ rule: rule.id, list: rule.addressList, address: address.toString(), timeout: rule.addressListTimeout ?? 0 });
          break;
        }
        // passthrough, log, fasttrack-connection (which marks, the next rule accepts): counted,
        // then on to the next rule.
        default: break;
      }
    }
    return undefined;
  };

  const end = walk(chain, 0);
  return { verdict: end?.verdict ?? 'accept', rule: end?.rule, matched, logs, listed };
}

function ruleMatches(rule: FilterRule, conn: Connection, src: IpAddress | undefined, dst: IpAddress | undefined, lists: AddressListIndex): boolean {
  // Plain calls, no closures: this runs for every rule of every connection.
  return check(rule.protocol, PROTOCOL, conn, undefined, undefined, lists)
    && check(rule.srcAddress, ADDRESS, conn, src, undefined, lists)
    && check(rule.dstAddress, ADDRESS, conn, dst, undefined, lists)
    && check(rule.srcPort, PORT, conn, undefined, conn.srcPort, lists)
    && check(rule.dstPort, PORT, conn, undefined, conn.dstPort, lists)
    && check(rule.srcAddressList, LIST, conn, src, undefined, lists)
    && check(rule.dstAddressList, LIST, conn, dst, undefined, lists)
    && check(rule.inInterface, INTERFACE, conn, undefined, undefined, lists)
    && (rule.connectionState === undefined || rule.connectionState.length === 0 || rule.connectionState.includes(conn.state ?? 'new'));
}

const PROTOCOL = 0;
const ADDRESS = 1;
const PORT = 2;
const LIST = 3;
const INTERFACE = 4;

/** One matcher of a rule (unset: matches), its `!` applied. */
function check(spec: string | undefined, kind: number, conn: Connection, ip: IpAddress | undefined, port: number | undefined, lists: AddressListIndex): boolean {
  if (spec === undefined || spec === '') return true;
  const not = spec.charCodeAt(0) === 0x21; // `!`
  const value = not ? spec.slice(1) : spec;
  let hit: boolean;
  switch (kind) {
    case PROTOCOL: hit = protocolNumber(value) === protocolNumber(conn.protocol); break;
    case ADDRESS: { const m = addressMatcherOf(value); hit = !!m && !!ip && addressMatches(m, ip); break; }
    case PORT: hit = port !== undefined && inRanges(portsOf(value), port); break;
    case LIST: hit = !!ip && lists.contains(value, ip); break;
    default: hit = conn.inInterface === value; break;
  }
  return hit !== not;
}

function inRanges(ranges: readonly PortRange[] | undefined, port: number): boolean {
  if (!ranges) return false;
  for (const [a, b] of ranges) if (port >= a && port <= b) return true;
  return false;
}
