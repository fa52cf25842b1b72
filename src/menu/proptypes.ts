// The value types of menu properties and arguments. Each one parses what any front end sends
// (console text, typed script values, REST/API strings) and renders for each of them.

import { formatDate, localToEpoch, parseDay, parseTimeOfDay } from '../clock.js';
import { argumentError, invalidValue, noMatch, outOfRange } from '../errors.js';
import { matchChoice } from './args.js';
import type { PropType, ReferenceDecl, TypeContext } from './types.js';
import { Duration, IpAddress, IpPrefix, ItemId, RosArray, parseDuration, type Value, valueToString } from './values.js';

const asText = (v: Value): string => valueToString(v);

export { matchChoice };

export const stringType: PropType<string> = {
  help: 'string',
  quoted: true,
  parse: (v) => asText(v),
  display: (v) => v,
  api: (v) => v,
  script: (v) => v,
  isEmpty: (v) => v === '',
};

/** Like stringType but printed without quotes in detail (hex ids, issuer lists). */
export const bareStringType: PropType<string> = { ...stringType, quoted: false };

/** A DNS name: labels of letters, digits, `-` and `_`, dot-separated, at most 253 characters. */
const DNS_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** Whether text is an IP address or a DNS name: one word, nothing a configuration file could read as more. */
export function isHostName(text: string): boolean {
  return DNS_NAME.test(text) || /^[0-9A-Fa-f:.]+$/.test(text) && (IpAddress.parse(text) !== undefined);
}

/**
 * An IP address or a DNS name (`connect-to=` of a VPN client). Anything else is refused where it
 * is given: such values end up in the configuration files of host daemons (OpenVPN), where a line
 * break or a blank would add directives of the writer's choice.
 */
export const hostType: PropType<string> = {
  ...bareStringType,
  help: 'IP address or DNS name',
  parse(v, _ctx, name) {
    const t = asText(v).trim();
    if (!isHostName(t)) throw invalidValue(name);
    return t;
  },
};

export function parseBool(v: Value, argName: string): boolean {
  if (typeof v === 'boolean') return v;
  const t = asText(v).toLowerCase();
  if (t === 'yes' || t === 'true') return true;
  if (t === 'no' || t === 'false') return false;
  // Prefixes work as for other enums (`disabled=y`).
  const hit = ['yes', 'no', 'true', 'false'].filter((c) => t !== '' && c.startsWith(t));
  if (hit.length === 1) return hit[0] === 'yes' || hit[0] === 'true';
  throw invalidValue(argName);
}

export const boolType: PropType<boolean> = {
  help: 'yes | no',
  parse: (v, _ctx, name) => parseBool(v, name),
  display: (v) => (v ? 'yes' : 'no'),
  api: (v) => (v ? 'true' : 'false'),
  script: (v) => v,
  choices: () => ['yes', 'no'],
};

export function intType(min: number, max: number, opts: { numeric?: boolean } = {}): PropType<number> {
  return {
    help: `integer: ${min}..${max}`,
    numeric: opts.numeric ?? false,
    parse(v, _ctx, name) {
      let n: number;
      if (typeof v === 'number') n = v;
      else {
        const t = asText(v).trim();
        if (/^-?\d+$/.test(t)) n = Number(t);
        else if (/^0x[0-9a-f]+$/i.test(t)) n = parseInt(t, 16);
        else throw invalidValue(name);
      }
      if (!Number.isInteger(n)) throw invalidValue(name);
      if (n < min || n > max) throw outOfRange(name, String(min), String(max));
      return n;
    },
    display: (v) => String(v),
    api: (v) => String(v),
    script: (v) => v,
  };
}

export function enumType(values: readonly string[]): PropType<string> {
  return {
    help: values.join(' | '),
    parse: (v, _ctx, name) => matchChoice(asText(v), values, name),
    display: (v) => v,
    api: (v) => v,
    script: (v) => v,
    choices: () => [...values],
  };
}

/**
 * A set of enum names given comma-separated (or as an array), kept and printed in the
 * declared canonical order, not input order (spec §1.2 key-usage).
 */
export function enumSetType(values: readonly string[], opts: { nonEmpty?: boolean } = {}): PropType<string[]> {
  return {
    help: values.join(' | '),
    parse(v, _ctx, name) {
      const parts = v instanceof RosArray ? v.values().map(asText) : asText(v).split(',');
      const chosen = new Set<string>();
      for (const p of parts.map((s) => s.trim()).filter((s) => s !== '')) chosen.add(matchChoice(p, values, name));
      // A set a service can not run without (ciphers, digests): empty matches no value, as an
      // empty single choice does.
      if (opts.nonEmpty && chosen.size === 0) throw noMatch(name);
      return values.filter((x) => chosen.has(x));
    },
    display: (v) => v.join(','),
    api: (v) => v.join(','),
    script: (v) => (v.length === 1 ? v[0] : RosArray.of(v)),
    choices: () => [...values],
    multiple: true,
    isEmpty: (v) => v.length === 0,
  };
}

/** A comma-separated list of free strings. */
export const stringListType: PropType<string[]> = {
  help: 'string[,string…]',
  multiple: true,
  parse: (v) => (v instanceof RosArray ? v.values().map(asText) : asText(v).split(',')).map((s) => s.trim()).filter((s) => s !== ''),
  display: (v) => v.join(','),
  api: (v) => v.join(','),
  script: (v) => (v.length === 1 ? v[0] : RosArray.of(v)),
  isEmpty: (v) => v.length === 0,
};

/** The longest RouterOS `time` a property takes: 2^32-1 seconds. */
export const MAX_TIME_NS = 4294967295e9;

/**
 * RouterOS `time`, stored as nanoseconds. A property's time is never negative nor longer than
 * MAX_TIME_NS unless its declaration says otherwise: `-1s` is out of range, not stored.
 */
export function durationType(min = 0, max = MAX_TIME_NS): PropType<number> {
  return {
    help: 'time',
    parse(v, _ctx, name) {
      const d = v instanceof Duration ? v : typeof v === 'number' ? Duration.fromSeconds(v) : parseDuration(asText(v));
      if (!d) throw invalidValue(name);
      if (d.ns < min || d.ns > max) throw outOfRange(name, new Duration(min).toString(), new Duration(max).toString());
      return d.ns;
    },
    display: (v) => new Duration(v).toString(),
    api: (v) => new Duration(v).toString(),
    script: (v) => new Duration(v),
  };
}

/**
 * Dates are stored as epoch milliseconds and shown as `YYYY-MM-DD HH:MM:SS` (7.10+, spec §2.2)
 * in the router's time zone (/system clock); input is read in that zone too.
 */
export const dateType: PropType<number> = {
  help: 'date',
  parse(v, ctx, name) {
    if (typeof v === 'number') return v;
    const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})$/.exec(asText(v).trim());
    const day = m ? parseDay(m[1]!) : undefined;
    const time = m ? parseTimeOfDay(m[2]!) : undefined;
    if (day === undefined || time === undefined) throw invalidValue(name);
    return localToEpoch(day + time, ctx.zone);
  },
  display: (v, ctx) => formatDate(v, ctx.zone),
  api: (v, ctx) => formatDate(v, ctx.zone),
  script: (v, ctx) => formatDate(v, ctx.zone),
};

export { formatDate, formatDate as dateFormat };

/** A list of IPv4/IPv6 prefixes (allow-lists: /user address, /ip service address). */
export const prefixListType: PropType<string[]> = {
  help: 'IP/prefix[,IP/prefix…]',
  multiple: true,
  parse(v, _ctx, name) {
    const parts = v instanceof RosArray ? v.values() : asText(v).split(',');
    return parts.map((p) => {
      if (p instanceof IpPrefix) return p.toString();
      if (p instanceof IpAddress) return new IpPrefix(p, p.family === 4 ? 32 : 128).toString();
      const t = asText(p).trim();
      if (t === '') return '';
      const prefix = IpPrefix.parse(t);
      if (!prefix) throw invalidValue(name);
      return prefix.toString();
    }).filter((s) => s !== '');
  },
  display: (v) => v.join(','),
  api: (v) => v.join(','),
  // Tables put each prefix on its own line (the 7.2x /ip service capture, spec §3.6 rule 7).
  tableText: (v) => v.join('\n'),
  script: (v) => (v.length === 1 ? IpPrefix.parse(v[0]!) : RosArray.of(v.map((s) => IpPrefix.parse(s)))),
  isEmpty: (v) => v.length === 0,
};

/** A item id value (`.id`). */
export const idType: PropType<number> = {
  help: 'id',
  parse(v, _ctx, name) {
    if (v instanceof ItemId) return v.n;
    const id = ItemId.parse(asText(v));
    if (!id) throw invalidValue(name);
    return id.n;
  },
  display: (v) => new ItemId(v).toString(),
  api: (v) => new ItemId(v).toString(),
  script: (v) => new ItemId(v),
};

/**
 * A reference to a row of another menu by id (so renaming the target keeps the binding,
 * clients.md). Shown as the target's name; `none` when allowed and unset (stored as 0). Input:
 * an `*ID`, the exact name, or a prefix of exactly one name (spec §7.1, the one prefix rule).
 * `onRemove` says what removing the target does to the rows that point at it (ReferenceDecl).
 */
export function refType(menuPath: string, opts: { none?: boolean; onRemove?: ReferenceDecl['onRemove'] } = {}): PropType<number> {
  const keyOf = (ctx: TypeContext): string => ctx.registry.menu(menuPath)?.key ?? 'name';
  const nameOf = (id: number, ctx: TypeContext): string => {
    if (id === 0) return 'none';
    const row = ctx.tx.get(menuPath, id);
    if (!row) return new ItemId(id).toString();
    return String(row.data[keyOf(ctx)] ?? '');
  };
  const names = (ctx: TypeContext): string[] => ctx.tx.list(menuPath).map((r) => String(r.data[keyOf(ctx)]));
  return {
    help: opts.none ? `${menuPath.slice(1)} name | none` : `${menuPath.slice(1)} name`,
    readsStore: true,
    reference: { target: menuPath, onRemove: opts.onRemove ?? (opts.none ? 'none' : 'refuse') },
    parse(v, ctx, name) {
      if (v instanceof ItemId) {
        if (!ctx.tx.get(menuPath, v.n)) throw noMatch(name);
        return v.n;
      }
      const text = asText(v);
      if (opts.none && text === 'none') return 0;
      const id = ItemId.parse(text);
      if (id && ctx.tx.get(menuPath, id.n)) return id.n;
      const exact = ctx.tx.findBy(menuPath, keyOf(ctx), text)[0];
      if (exact) return exact.id;
      const chosen = matchChoice(text, names(ctx), name);
      return ctx.tx.findBy(menuPath, keyOf(ctx), chosen)[0]!.id;
    },
    display: nameOf,
    api: nameOf,
    script: (v, ctx) => nameOf(v, ctx),
    choices(ctx) {
      return opts.none ? ['none', ...names(ctx)] : names(ctx);
    },
    isEmpty: (v) => v === 0 && !opts.none,
  };
}

/** Reference-list types made by refListType (the generic remove treats their values as lists). */
const referenceLists = new WeakSet<PropType>();

/** Whether a property's type is a list of references (refListType), so its value is an id array. */
export const isReferenceList = (type: PropType): boolean => referenceLists.has(type);

/**
 * A list of references to rows of another menu (IPsec identity `certificate`, services spec
 * §4.1): stored as ids, shown as names joined by `,`; empty means none (`""`, or `none`). Each
 * element is read like refType (an `*ID`, the exact name, or a prefix of exactly one name), so a
 * rename follows. Removing a target applies `onRemove` to the lists that hold it: `none` drops
 * it from the list (the generic remove, with a /log line like any other reference).
 */
export function refListType(menuPath: string, opts: { onRemove?: ReferenceDecl['onRemove'] } = {}): PropType<number[]> {
  const one = refType(menuPath);
  const names = (ids: readonly number[], ctx: TypeContext): string[] => ids.map((id) => one.display(id, ctx));
  const type: PropType<number[]> = {
    help: `${menuPath.slice(1)} name[,name…]`,
    readsStore: true,
    reference: { target: menuPath, onRemove: opts.onRemove ?? 'none' },
    parse(v, ctx, name) {
      const parts = v instanceof RosArray ? v.values() : asText(v).split(',');
      const ids: number[] = [];
      for (const part of parts) {
        if (!(part instanceof ItemId) && (asText(part).trim() === '' || asText(part).trim() === 'none')) continue;
        const id = one.parse(part instanceof ItemId ? part : asText(part).trim(), ctx, name);
        if (!ids.includes(id)) ids.push(id);
      }
      return ids;
    },
    display: (v, ctx) => names(v, ctx).join(','),
    api: (v, ctx) => names(v, ctx).join(','),
    script: (v, ctx) => (v.length === 1 ? one.display(v[0]!, ctx) : RosArray.of(names(v, ctx))),
    choices: (ctx) => one.choices!(ctx),
    multiple: true,
    isEmpty: (v) => v.length === 0,
  };
  referenceLists.add(type);
  return type;
}

/** Flag-only arguments (`detail`, `as-value`): present or not. */
export const presenceType: PropType<boolean> = {
  help: '',
  parse: (v) => v === undefined || v === '' || v === true || (typeof v === 'string' && v !== 'false' && v !== 'no'),
  display: (v) => (v ? 'yes' : 'no'),
  api: (v) => (v ? 'true' : 'false'),
  script: (v) => v,
};

/**
 * Item lists (`0,1`, names, `*ID`s, arrays from `[find]`, spec §7.3): kept as given, resolved by
 * the command inside its own transaction with resolveItems (generic.ts), so they name the rows
 * of that moment.
 */
export const itemsType: PropType<Value> = {
  help: 'list of item numbers',
  parse: (v) => v,
  display: (v) => valueToString(v),
  api: (v) => valueToString(v),
  script: (v) => v,
};

/** Raw values passed through untouched (monitor options). */
export const anyType: PropType<Value> = {
  help: 'value',
  parse: (v) => v,
  display: (v) => valueToString(v),
  api: (v) => valueToString(v),
  script: (v) => v,
};

export const requireText = (v: Value, name: string): string => {
  const t = asText(v);
  if (t === '') throw argumentError(`value of ${name} must not be empty`);
  return t;
};

/** An IPv4 or IPv6 address (`10.0.0.1`, `::1`); a script reads it back as an IP. */
export const ipAddressType: PropType<string> = {
  help: 'IP address',
  parse(v, _ctx, name) {
    const a = IpAddress.parse(valueToString(v).trim());
    if (!a) throw invalidValue(name);
    return a.toString();
  },
  display: (v) => v,
  api: (v) => v,
  script: (v) => IpAddress.parse(v) ?? v,
};

/** An IPv4 network `192.168.88.0/24`, kept as its network address as RouterOS does (a bare address is /32). */
export const ipv4NetworkType: PropType<string> = {
  ...bareStringType,
  help: 'IP/prefix',
  parse(v, _ctx, name) {
    const p = IpPrefix.parse(valueToString(v).trim());
    if (!p || p.address.family !== 4) throw invalidValue(name);
    return p.toString();
  },
};
