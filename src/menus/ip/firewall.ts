// /ip firewall filter, /ip firewall nat and /ip firewall address-list (services spec §7.5). The rules are
// configuration kept in order (`move`, `place-before`); print is record style, showing only what
// a rule sets; `print stats` shows the counters. rospki forwards no packets, so only the `input`
// chain means something here: rospki's own listeners ask it whether to take a connection
// (src/services/firewall.ts, over filterRules() and addressLists() and the pure decide() of
// firewall-match.ts) and count it with addCounts() and recordEffects(). NAT rules are
// configuration only (rospki translates no address): VPN setup guides add a masquerade rule and
// must not fail on it.

import { alreadyHave, failure, invalidValue } from '../../errors.js';
import { genericCommands, listRows, propValue, resolveItems } from '../../menu/generic.js';
import { renderPrint } from '../../menu/render.js';
import {
  boolType, dateType, enumSetType, enumType, intType, itemsType, MAX_TIME_NS, presenceType, stringType,
} from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, PropType, PropertyDecl, TypeContext } from '../../menu/types.js';
import { Duration, parseDuration, valueToString, type Value } from '../../menu/values.js';
import type { ReadTx, RowData, WriteTx } from '../../store/store.js';
import {
  decide, formatAddressMatcher, formatPorts, negation, parseAddressMatcher, parsePorts, parseProtocol, PORT_PROTOCOLS,
  PROTOCOLS, type AddressListEntry, type Connection, type Decision, type FilterRule,
} from './firewall-match.js';

export const FILTER_PATH = '/ip/firewall/filter';
export const NAT_PATH = '/ip/firewall/nat';
export const ADDRESS_LIST_PATH = '/ip/firewall/address-list';

const ACTIONS = [
  'accept', 'add-dst-to-address-list', 'add-src-to-address-list', 'drop', 'fasttrack-connection', 'jump',
  'log', 'passthrough', 'reject', 'return', 'tarpit',
] as const;

const REJECT_WITH = [
  'icmp-admin-prohibited', 'icmp-host-prohibited', 'icmp-host-unreachable', 'icmp-net-prohibited',
  'icmp-network-unreachable', 'icmp-port-unreachable', 'icmp-protocol-unreachable', 'tcp-reset',
] as const;

const NAT_ACTIONS = [
  'accept', 'add-dst-to-address-list', 'add-src-to-address-list', 'dst-nat', 'endpoint-independent-nat', 'jump',
  'log', 'masquerade', 'netmap', 'passthrough', 'redirect', 'return', 'same', 'src-nat',
] as const;

const CONNECTION_STATES = ['established', 'invalid', 'new', 'related', 'untracked'] as const;

const bare = (help: string): PropType<string> => ({ ...stringType, quoted: false, help });

/** A chain: the table's built-in chains or a chain of one's own (taken as written, no prefixes). */
const chainTypeOf = (builtIn: readonly string[]): PropType<string> => ({
  ...bare(`${builtIn.join(' | ')} | name of a chain`),
  parse(v, _ctx, name) {
    const text = valueToString(v).trim();
    if (text === '' || /\s/.test(text)) throw invalidValue(name);
    return text;
  },
  choices: () => [...builtIn],
});
const chainType = chainTypeOf(['input', 'forward', 'output']);

/**
 * A matcher value with an optional leading `!`, checked and written the way RouterOS shows it
 * (`dst-port=!80`, `src-address=10.0.0.0/8`): `inner` gives the canonical text or undefined.
 */
function negatable(help: string, inner: (text: string) => string | undefined, choices?: PropType['choices']): PropType<string> {
  return {
    ...bare(`[!]${help}`),
    parse(v, _ctx, name) {
      const { not, value } = negation(valueToString(v).trim());
      const canonical = inner(value);
      if (canonical === undefined) throw invalidValue(name);
      return `${not ? '!' : ''}${canonical}`;
    },
    ...(choices ? { choices } : {}),
  };
}

const addressType = negatable('IP | IP/prefix | IP-IP', (t) => {
  const m = parseAddressMatcher(t);
  return m && formatAddressMatcher(m);
});
const portsType = negatable('port[-port][,port…]', (t) => {
  const p = parsePorts(t);
  return p && formatPorts(p);
});
/** NAT targets: an address or range, ports or a range; never negated. */
const toAddressesType: PropType<string> = {
  ...bare('IP | IP-IP'),
  parse(v, _ctx, name) {
    const m = parseAddressMatcher(valueToString(v).trim());
    if (!m) throw invalidValue(name);
    return formatAddressMatcher(m);
  },
};
const toPortsType: PropType<string> = {
  ...bare('port[-port]'),
  parse(v, _ctx, name) {
    const p = parsePorts(valueToString(v).trim());
    if (!p) throw invalidValue(name);
    return formatPorts(p);
  },
};
const protocolType = negatable('protocol name | 0..255', parseProtocol, () => [...PROTOCOLS.keys()]);
const nameType = (what: string, choices?: PropType['choices']) => negatable(what, (t) => (t !== '' && !/\s/.test(t) ? t : undefined), choices);
const listNames = (tx: ReadTx): string[] => [...new Set(tx.list(ADDRESS_LIST_PATH).map((r) => String(r.data.list)))];
const addressListRefType = nameType('address list name', (ctx) => listNames(ctx.tx));
const interfaceType = nameType('interface name', (ctx) => ctx.tx.list('/interface').map((r) => String(r.data.name)));

/** `none-dynamic` (0: the entry lasts until reboot), `none-static` (-1: it stays), or a time. */
const listTimeoutType: PropType<number> = {
  help: 'none-dynamic | none-static | time',
  parse(v, _ctx, name) {
    const text = valueToString(v).trim();
    if (text === 'none-dynamic') return 0;
    if (text === 'none-static') return -1;
    const d = v instanceof Duration ? v : parseDuration(text);
    if (!d || d.ns <= 0 || d.ns > MAX_TIME_NS) throw invalidValue(name);
    return d.ns;
  },
  display: (v) => (v === 0 ? 'none-dynamic' : v < 0 ? 'none-static' : new Duration(v).toString()),
  api: (v) => (v === 0 ? 'none-dynamic' : v < 0 ? 'none-static' : new Duration(v).toString()),
  script: (v) => (v === 0 ? 'none-dynamic' : v < 0 ? 'none-static' : new Duration(v)),
  choices: () => ['none-dynamic', 'none-static'],
};

const counter = intType(0, Number.MAX_SAFE_INTEGER, { numeric: true });

// Typed declarations that inputDecision() reads.
const F = {
  chain: { name: 'chain', type: chainType, required: true, help: 'Chain the rule belongs to' } as PropertyDecl<string>,
  action: { name: 'action', type: enumType(ACTIONS), help: 'What to do with a matching packet (accept when unset)' } as PropertyDecl<string>,
  jumpTarget: { name: 'jump-target', type: chainType, help: 'Chain to continue in (action=jump)' } as PropertyDecl<string>,
  rejectWith: { name: 'reject-with', type: enumType(REJECT_WITH), help: 'How to reject (action=reject)' } as PropertyDecl<string>,
  addressList: { name: 'address-list', type: bare('address list name'), help: 'List to add to (add-src/dst-to-address-list)' } as PropertyDecl<string>,
  addressListTimeout: { name: 'address-list-timeout', type: listTimeoutType, help: 'How long the added entry stays' } as PropertyDecl<number>,
  connectionState: { name: 'connection-state', type: enumSetType(CONNECTION_STATES), help: 'Connection tracking states' } as PropertyDecl<string[]>,
  srcAddress: { name: 'src-address', type: addressType, help: 'Source address, prefix or range' } as PropertyDecl<string>,
  dstAddress: { name: 'dst-address', type: addressType, help: 'Destination address, prefix or range' } as PropertyDecl<string>,
  srcAddressList: { name: 'src-address-list', type: addressListRefType, help: 'Source address is in this address list' } as PropertyDecl<string>,
  dstAddressList: { name: 'dst-address-list', type: addressListRefType, help: 'Destination address is in this address list' } as PropertyDecl<string>,
  protocol: { name: 'protocol', type: protocolType, help: 'IP protocol' } as PropertyDecl<string>,
  inInterface: { name: 'in-interface', type: interfaceType, help: 'Interface the packet came in on' } as PropertyDecl<string>,
  outInterface: { name: 'out-interface', type: interfaceType, help: 'Interface the packet leaves on' } as PropertyDecl<string>,
  srcPort: { name: 'src-port', type: portsType, help: 'Source ports (tcp, udp …)' } as PropertyDecl<string>,
  dstPort: { name: 'dst-port', type: portsType, help: 'Destination ports (tcp, udp …)' } as PropertyDecl<string>,
  log: { name: 'log', type: boolType, help: 'Log matching packets' } as PropertyDecl<boolean>,
  // Shown even empty (`log-prefix=""`, 7.23.1 capture) once a rule sets it.
  logPrefix: { name: 'log-prefix', type: stringType, detail: 'always', help: 'Prefix of the log lines' } as PropertyDecl<string>,
  disabled: { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' } as PropertyDecl<boolean>,
  bytes: { name: 'bytes', type: counter, access: 'ro', default: 0, detail: 'never' } as PropertyDecl<number>,
  packets: { name: 'packets', type: counter, access: 'ro', default: 0, detail: 'never' } as PropertyDecl<number>,
};

/**
 * Detail (and record-print) order: chain and action first, then what the action needs, then the
 * matchers (this tail, the same in every table); only what a rule sets is shown (no defaults are
 * filled in: a rule without action prints none). The order of matchers follows RouterOS prints
 * (UNCONFIRMED in full).
 */
const ruleTail: PropertyDecl[] = [
  F.connectionState, F.srcAddress, F.dstAddress, F.srcAddressList, F.dstAddressList, F.protocol, F.inInterface, F.outInterface,
  F.srcPort, F.dstPort, F.log, F.logPrefix,
  { name: 'comment', type: stringType, help: 'Short description' },
  F.disabled,
  // rospki's rules are all valid (add and set refuse what would not be) and none is dynamic;
  // the flags exist for the legend and for scripts that test them.
  { name: 'invalid', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'I', sharesColumnWith: 'X' }, detail: 'never' },
  { name: 'dynamic', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'D' }, detail: 'never' },
  F.bytes,
  F.packets,
];

const filterProperties: PropertyDecl[] = [
  F.chain, F.action, F.jumpTarget, F.rejectWith, F.addressList, F.addressListTimeout, ...ruleTail,
];

/** NAT rules: srcnat/dstnat chains, NAT actions and their targets (`to-addresses`, `to-ports`). */
const natProperties: PropertyDecl[] = [
  { ...F.chain, type: chainTypeOf(['srcnat', 'dstnat']) },
  { ...F.action, type: enumType(NAT_ACTIONS) },
  F.jumpTarget, F.addressList, F.addressListTimeout,
  { name: 'to-addresses', type: toAddressesType, help: 'Address or range to translate to' },
  { name: 'to-ports', type: toPortsType, help: 'Port or range to translate to' },
  ...ruleTail,
];

function validateRule(row: RowData): void {
  const action = row.action as string | undefined;
  if (action === 'jump' && !row['jump-target']) throw failure('action=jump needs jump-target');
  if ((action === 'add-src-to-address-list' || action === 'add-dst-to-address-list') && !row['address-list']) {
    throw failure(`action=${action} needs address-list`);
  }
  const protocol = negation(String(row.protocol ?? ''));
  for (const port of ['src-port', 'dst-port']) {
    if (row[port] === undefined) continue;
    if (protocol.not || !PORT_PROTOCOLS.includes(protocol.value)) {
      throw failure(`${port} needs protocol ${PORT_PROTOCOLS.slice(0, -1).join(', ')} or ${PORT_PROTOCOLS.at(-1)}`);
    }
  }
}

const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'List of item numbers' };

/** A table of rules (filter, nat): ordered, record-style print with `stats`, counters to reset. */
function ruleMenu(path: string, help: string, properties: PropertyDecl[]): MenuDecl {
  const base: MenuDecl = {
    path,
    kind: 'list',
    ordered: true,
    help,
    verbs: ['get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export', 'move'],
    columns: ['chain', 'action', 'bytes', 'packets'],
    properties,
    // Record style (spec §7.5): the detail layout, only the properties a rule sets.
    printTable: (print, session) => renderPrint({ ...print, mode: 'detail' }, session),
    validate: validateRule,
  };
  /** print, plus `stats`: the counters as a table (CHAIN, ACTION, BYTES, PACKETS). */
  const genericPrint = genericCommands({ ...base, verbs: ['print'] })[0]!;
  const statsArg: ArgDecl<boolean> = { name: 'stats', type: presenceType, flagOnly: true, help: 'Print the counters' };
  const printCommand: CommandDecl = {
    ...genericPrint,
    args: [...genericPrint.args, statsArg],
    run(call) {
      const args = call.args.only(call.args.names().filter((n) => n !== statsArg.name));
      const withStats = call.args.flag(statsArg) && !args.has('proplist') ? args.with([['proplist', ['chain', 'action', 'bytes', 'packets']]]) : args;
      return genericPrint.run({ ...call, command: genericPrint, args: withStats });
    },
  };
  const resetCounters = (ids: (tx: WriteTx, call: Parameters<CommandDecl['run']>[0]) => number[]): CommandDecl['run'] => async (call) => {
    await call.env.store.write((tx) => {
      for (const id of ids(tx, call)) {
        const row = tx.get(path, id)!;
        tx.update(path, id, { ...row.data, bytes: 0, packets: 0 });
      }
    });
    return {};
  };
  return {
    ...base,
    commands: [
      printCommand,
      {
        name: 'reset-counters', help: 'Reset the counters of rules', policy: 'write', args: [numbersArg],
        run: resetCounters((tx, call) => resolveItems(call.menu, call.args.get(numbersArg), call.session, tx)),
      },
      {
        name: 'reset-counters-all', help: 'Reset the counters of every rule', policy: 'write', args: [],
        run: resetCounters((tx) => tx.list(path).map((r) => r.id)),
      },
    ],
  };
}

export const firewallFilterMenu = ruleMenu(FILTER_PATH, 'Firewall filter rules', filterProperties);
export const firewallNatMenu = ruleMenu(NAT_PATH, 'Firewall NAT rules', natProperties);

// ---------------------------------------------------------------------------------------------
// /ip firewall address-list

/**
 * An address-list entry: an address, prefix or range (shown canonical), or a DNS name. The IPv6
 * list takes IPv6 addresses and prefixes only (the manual: IP-IP ranges are IPv4 only).
 */
const listAddressTypeOf = (ipv6: boolean): PropType<string> => ({
  ...bare(ipv6 ? 'IPv6 | IPv6/prefix | DNS name' : 'IP | IP/prefix | IP-IP | DNS name'),
  parse(v, _ctx, name) {
    const text = valueToString(v).trim();
    const m = parseAddressMatcher(text);
    if (m && ipv6 && (m.kind === 'range' || m.prefix.address.family !== 6)) throw invalidValue(name);
    if (m) return formatAddressMatcher(m);
    // A DNS name: labels of letters, digits, `-` and `_`, the last one not all digits.
    if (/^(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_-]*[A-Za-z_][A-Za-z0-9_-]*\.?$/.test(text)) return text;
    throw invalidValue(name);
  },});

/**
 * `timeout`: kept as the moment the entry expires (epoch ms), given and shown as the time left,
 * so print counts down as on RouterOS and `set timeout=` starts again from now.
 */
const expiryType: PropType<number> = {
  help: 'time',
  parse(v, ctx, name) {
    const d = v instanceof Duration ? v : parseDuration(valueToString(v).trim());
    if (!d || d.ns <= 0 || d.ns > MAX_TIME_NS) throw invalidValue(name);
    return ctx.clock.now() + Math.ceil(d.ns / 1e6);
  },
  display: (v, ctx) => timeLeft(v, ctx).toString(),
  api: (v, ctx) => timeLeft(v, ctx).toString(),
  script: (v, ctx) => timeLeft(v, ctx),
};

/** Whole seconds left until an expiry (`59m59s` right after `timeout=1h`). */
function timeLeft(expiry: number, ctx: TypeContext): Duration {
  return Duration.fromSeconds(Math.max(0, Math.floor((expiry - ctx.clock.now()) / 1000)));
}

const L = {
  list: { name: 'list', type: bare('address list name'), required: true, help: 'Name of the list' } as PropertyDecl<string>,
  address: { name: 'address', type: listAddressTypeOf(false), required: true, help: 'Address, prefix, range or DNS name' } as PropertyDecl<string>,
  timeout: { name: 'timeout', type: expiryType, help: 'How long the entry stays (a dynamic entry)' } as PropertyDecl<number>,
  disabled: { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' } as PropertyDecl<boolean>,
  /**
   * `add dynamic=yes` (7.x; eworm's netwatch-notify adds its probe entries so): an entry kept in
   * RAM, not in the configuration, as is every entry with a timeout (the manual); chosen on add
   * only, shown as flag D, never exported.
   */
  dynamic: {
    name: 'dynamic', type: boolType, default: false, flag: { letter: 'D' }, detail: 'never',
    writableWhen: () => false, notWritableMessage: 'can not change dynamic', help: 'Keep the entry out of the configuration',
  } as PropertyDecl<boolean>,
};

/** An address list: `/ip firewall address-list` (matched by rospki's firewall) or its IPv6 sibling (configuration only). */
function addressListMenuOf(path: string, ipv6: boolean): MenuDecl {
  return {
    path,
    kind: 'list',
    help: `Firewall address lists${ipv6 ? ' (IPv6)' : ''}`,
    verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
    columns: ['list', 'address', 'creation-time', 'timeout'],
    properties: [
      L.list, ipv6 ? { ...L.address, type: listAddressTypeOf(true) } : L.address,
      { name: 'creation-time', type: dateType, access: 'ro', default: (ctx: TypeContext) => ctx.clock.now() },
      L.timeout,
      { name: 'comment', type: stringType, help: 'Short description' },
      L.disabled,
      L.dynamic,
    ],
    derive(row) {
      if (row[L.timeout.name] !== undefined) row[L.dynamic.name] = true;
    },
    validate(row, tx, _env, id) {
      // One entry per address in a list (RouterOS: `already have such entry`).
      if (tx.findBy(path, 'address', row.address).some((r) => r.id !== id && r.data.list === row.list)) throw alreadyHave();
    },
    async prepare(env) {
      await removeExpired(env, path);
    },
  };
}

export const addressListMenu = addressListMenuOf(ADDRESS_LIST_PATH, false);
export const ipv6AddressListMenu = addressListMenuOf('/ipv6/firewall/address-list', true);

/** Entries whose timeout has run out are gone, as on RouterOS. */
async function removeExpired(env: Environment, path: string): Promise<void> {
  const now = env.clock.now();
  const expired = (tx: ReadTx) => tx.list(path).filter((r) => typeof r.data.timeout === 'number' && (r.data.timeout as number) <= now);
  if ((await env.store.read(expired)).length === 0) return;
  await env.store.write((tx) => { for (const r of expired(tx)) tx.remove(path, r.id); });
}

// ---------------------------------------------------------------------------------------------
// What rospki's own listeners ask (issue 13 §6; src/services/firewall.ts)

function ruleOf(id: number, row: RowData): FilterRule {
  const get = <S>(p: PropertyDecl<S>): S | undefined => row[p.name] as S | undefined;
  return {
    id, chain: propValue(F.chain, row), action: get(F.action), disabled: propValue(F.disabled, row),
    protocol: get(F.protocol), srcAddress: get(F.srcAddress), dstAddress: get(F.dstAddress), srcPort: get(F.srcPort),
    dstPort: get(F.dstPort), srcAddressList: get(F.srcAddressList), dstAddressList: get(F.dstAddressList),
    inInterface: get(F.inInterface), connectionState: get(F.connectionState), jumpTarget: get(F.jumpTarget),
    log: get(F.log), logPrefix: get(F.logPrefix), addressList: get(F.addressList), addressListTimeout: get(F.addressListTimeout),
  };
}

/** The live address-list entries (expired ones left out). */
function liveEntries(tx: ReadTx, now: number): AddressListEntry[] {
  return tx.list(ADDRESS_LIST_PATH)
    .filter((r) => typeof r.data.timeout !== 'number' || (r.data.timeout as number) > now)
    .map((r) => ({ list: propValue(L.list, r.data), address: propValue(L.address, r.data), disabled: propValue(L.disabled, r.data) }));
}

/** The filter rules in their order (every chain: jumps reach other chains). */
export function filterRules(tx: ReadTx): FilterRule[] {
  return listRows(firewallFilterMenu, tx).map((r) => ruleOf(r.id, r.data));
}

/**
 * The address lists as the firewall matches them now, and when the first of their entries
 * runs out (Infinity: none has a timeout), after which they must be read again.
 */
export function addressLists(tx: ReadTx, now: number): { entries: AddressListEntry[]; until: number } {
  let until = Infinity;
  for (const r of tx.list(ADDRESS_LIST_PATH)) {
    const t = r.data.timeout;
    if (typeof t === 'number' && t > now && t < until) until = t;
  }
  return { entries: liveEntries(tx, now), until };
}

/** What the `input` chain does with a new connection to one of rospki's listeners. */
export function inputDecision(tx: ReadTx, conn: Connection, now: number): Decision {
  return decide(filterRules(tx), 'input', conn, liveEntries(tx, now));
}

/** Packets and bytes to add to a rule's counters. */
export interface RuleCount {
  packets: number;
  bytes: number;
}

/** Adds to the counters of rules (a listener counts many connections in one write). */
export function addCounts(tx: WriteTx, counts: ReadonlyMap<number, RuleCount>): void {
  for (const [id, c] of counts) {
    const row = tx.get(FILTER_PATH, id);
    if (row) tx.update(FILTER_PATH, id, { ...row.data, packets: propValue(F.packets, row.data) + c.packets, bytes: propValue(F.bytes, row.data) + c.bytes });
  }
}

/**
 * Counts a decision (one packet and `bytes` on every rule that matched), writes the /log lines
 * of logging rules and adds the address-list entries of add-*-to-address-list rules.
 */
export function recordDecision(env: Environment, tx: WriteTx, decision: Decision, conn: Connection, bytes = 0): void {
  const counts = new Map<number, RuleCount>();
  for (const id of decision.matched) {
    const c = counts.get(id) ?? { packets: 0, bytes: 0 };
    c.packets++;
    c.bytes += bytes;
    counts.set(id, c);
  }
  addCounts(tx, counts);
  recordEffects(env, tx, decision, conn);
}

/** The /log lines and address-list entries of a decision (its counters aside). */
export function recordEffects(env: Environment, tx: WriteTx, decision: Decision, conn: Connection): void {
  for (const { prefix } of decision.logs) {
    env.log(tx, 'firewall,info', `${prefix ? `${prefix} ` : ''}input: proto ${conn.protocol.toUpperCase()}, ${conn.srcAddress}:${conn.srcPort ?? 0}->${conn.dstAddress ?? ''}:${conn.dstPort}`);
  }
  const now = env.clock.now();
  for (const { list, address, timeout } of decision.listed) {
    if (liveEntries(tx, now).some((e) => e.list === list && e.address === address)) continue;
    const entry: RowData = { list, address, 'creation-time': now, disabled: false };
    // Added by a rule: dynamic (in RAM) unless address-list-timeout=none-static (-1).
    entry[L.dynamic.name] = timeout >= 0;
    if (timeout > 0) entry.timeout = now + Math.ceil(timeout / 1e6);
    tx.insert(ADDRESS_LIST_PATH, entry);
  }
}
