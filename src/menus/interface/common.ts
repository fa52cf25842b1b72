// What the menus that consume certificates share (services spec §1–§7): the honest status of a
// service rospki does not run yet, built-in rows for data directories made before a menu
// existed, the `*` (default) flag, record-style printing, and a few value types these menus
// have in common (MAC addresses, `integer | disabled`, ordered EAP method lists, TLS versions).

import { failure, invalidValue, outOfRange } from '../../errors.js';
import { BUILTIN, newRowData, typeContext } from '../../menu/generic.js';
import { boolType, enumType, matchChoice } from '../../menu/proptypes.js';
import { renderPrint } from '../../menu/render.js';
import type { Environment, MenuDecl, PrintOutput, PropType, PropertyDecl, Session, TypeContext } from '../../menu/types.js';
import { IpAddress, RosArray, type Value, valueToString } from '../../menu/values.js';
import type { ReadTx, RowData, WriteTx } from '../../store/store.js';
import { randomBytes } from 'node:crypto';

// The status of what does not run yet is the menu layer's (certificate menus use it too).
export { notRunning, statusProperty } from '../../menu/not-running.js';

export { commentProperty, disabledNo, disabledYes, enabledRow } from '../../menu/common-props.js';

/**
 * The `*` flag of rows that come with the router (`default` in scripts: `[find default=yes]`,
 * spec §2.5 `Flags: * - DEFAULT`, §9.2 `set [ find default=yes ]`).
 */
export const defaultFlag: PropertyDecl<boolean> = {
  name: 'default', type: boolType, access: 'ro', detail: 'never', flag: { letter: '*' },
  compute: (row) => row[BUILTIN] !== undefined,
};

/** Built-in rows (flag `*`) can not be removed. */
export function refuseBuiltinRemove(path: string, what: string): NonNullable<MenuDecl['beforeRemove']> {
  return (id, tx) => {
    if (tx.get(path, id)?.data[BUILTIN] !== undefined) throw failure(`can not remove default ${what}`);
  };
}

/** The id of a built-in row by its original name (a default that refers to `default`). */
export function builtinRowId(tx: ReadTx, path: string, name: string): number | undefined {
  return tx.list(path).find((r) => (r.data[BUILTIN] as RowData | undefined)?.name === name)?.id;
}

/** A reference default: the built-in row `name` of `path` (`profile=default`). */
export const builtinRef = (path: string, name: string) => (ctx: TypeContext): number => builtinRowId(ctx.tx, path, name) ?? 0;

/**
 * The built-in rows (menu.defaults) a list lacks: by name, or for a list without names (the
 * IPsec policy template) those beyond the built-in rows it has.
 */
function missingDefaults(menu: MenuDecl, tx: ReadTx): RowData[] {
  const defaults = menu.defaults ?? [];
  if (!menu.key) return defaults.slice(tx.list(menu.path).filter((r) => r.data[BUILTIN] !== undefined).length);
  return defaults.filter((d) => builtinRowId(tx, menu.path, String(d[menu.key!])) === undefined);
}

/** What a menu needs on a data directory: its singleton row, or the built-in rows it lacks. */
function missingRows(menu: MenuDecl, tx: ReadTx): boolean {
  if (menu.kind === 'singleton') return !tx.get(menu.path, 1);
  return missingDefaults(menu, tx).length > 0;
}

function insertMissing(menu: MenuDecl, tx: WriteTx, env: Environment): void {
  const ctx = typeContext(env, tx);
  if (menu.kind === 'singleton') {
    if (!tx.get(menu.path, 1)) tx.insert(menu.path, newRowData(menu, ctx));
    return;
  }
  for (const d of missingDefaults(menu, tx)) {
    const data = { ...newRowData(menu, ctx), ...d };
    tx.insert(menu.path, { ...data, [BUILTIN]: data });
  }
}

/**
 * Data directories made before these menus existed get their singleton and built-in rows on
 * first use (fresh ones get them when created); `paths` in order, so a reference default
 * (`default-profile=default`) finds its row.
 */
export async function ensureBuiltinRows(env: Environment, ...paths: string[]): Promise<void> {
  const menus = paths.map((p) => env.registry.menu(p)).filter((m): m is MenuDecl => m !== undefined);
  const missing = await env.store.read((tx) => menus.some((m) => missingRows(m, tx)));
  if (!missing) return;
  await env.store.write((tx) => { for (const m of menus) insertMissing(m, tx, env); });
}

/**
 * Lists RouterOS prints as records, not as a table (`/ppp profile`, `/ip ipsec peer`, VPN
 * clients: spec §2.5, §3.2, §4.5): the plain print is the detail layout; an empty list prints
 * nothing, not even its legend (issue 12: empty lists print nothing).
 */
export const recordPrint = (print: PrintOutput): string =>
  (print.rows.length === 0 ? '' : renderPrint({ ...print, mode: 'detail' }, { width: 80 } as Session));

/** The first free `<prefix><n>` name of a list (`ovpn-out1`, `sstp-out2`), as RouterOS names new interfaces. */
export const nextName = (path: string, prefix: string) => (ctx: TypeContext): string => {
  const taken = new Set(ctx.tx.list(path).map((r) => String(r.data.name)));
  let n = 1;
  while (taken.has(`${prefix}${n}`)) n++;
  return `${prefix}${n}`;
};

/** `any` | `only-1.2` (OpenVPN and SSTP, spec §2.2, §3.1). */
export const tlsVersionType = enumType(['any', 'only-1.2']);

/** A yes/no shown in detail only when yes (`passive` of an IPsec peer prints nothing when no). */
export const quietBoolType: PropType<boolean> = { ...boolType, isEmpty: (v) => v === false };

/** `integer | disabled` (keepalive-timeout, mrru), stored as the number or `disabled`. */
export function intOrDisabledType(min: number, max: number): PropType<number | 'disabled'> {
  return {
    help: `integer: ${min}..${max} | disabled`,
    parse(v, _ctx, name) {
      const t = typeof v === 'number' ? String(v) : valueToString(v).trim();
      if (t !== '' && 'disabled'.startsWith(t)) return 'disabled';
      if (!/^\d+$/.test(t)) throw invalidValue(name);
      const n = Number(t);
      if (n < min || n > max) throw outOfRange(name, String(min), String(max));
      return n;
    },
    display: (v) => String(v),
    api: (v) => String(v),
    script: (v) => v,
    choices: () => ['disabled'],
  };
}

/** A MAC address `FE:92:07:49:FF:30`, kept upper-case. */
export const macAddressType: PropType<string> = {
  help: 'MAC address',
  parse(v, _ctx, name) {
    const t = valueToString(v).trim().toUpperCase().replace(/-/g, ':');
    if (!/^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/.test(t)) throw invalidValue(name);
    return t;
  },
  display: (v) => v,
  api: (v) => v,
  script: (v) => v,
};

/** A MAC address for a new interface: locally administered, like RouterOS's `FE:…` ones. */
export const randomMac = (): string => ['FE', ...[...randomBytes(5)].map((b) => b.toString(16).padStart(2, '0'))].join(':').toUpperCase();

/** An ordered list of choices, kept in the order given (EAP methods are tried in that order). */
export function orderedEnumListType(values: readonly string[]): PropType<string[]> {
  return {
    help: values.join(' | '),
    parse(v, _ctx, name) {
      const parts = v instanceof RosArray ? v.values().map(valueToString) : valueToString(v).split(',');
      const out: string[] = [];
      for (const p of parts.map((s) => s.trim()).filter((s) => s !== '')) {
        const c = matchChoice(p, values, name);
        if (!out.includes(c)) out.push(c);
      }
      return out;
    },
    display: (v) => v.join(','),
    api: (v) => v.join(','),
    script: (v) => (v.length === 1 ? v[0] : RosArray.of(v)),
    choices: () => [...values],
    isEmpty: (v) => v.length === 0,
  };
}

/** IPv4/IPv6 addresses, each optionally `@vrf` (DNS servers, spec §6.1). */
export const addressListType: PropType<string[]> = {
  help: 'IP[@vrf][,IP[@vrf]…]',
  parse(v, _ctx, name) {
    const parts: Value[] = v instanceof RosArray ? v.values() : valueToString(v).split(',');
    return parts.map((p) => valueToString(p).trim()).filter((t) => t !== '').map((t) => {
      const [addr, vrf, more] = t.split('@');
      const ip = IpAddress.parse(addr!);
      if (!ip || more !== undefined || vrf === '') throw invalidValue(name);
      return vrf === undefined ? ip.toString() : `${ip.toString()}@${vrf}`;
    });
  },
  display: (v) => v.join(','),
  api: (v) => v.join(','),
  // An array of ip/ip6 values (`IP@vrf` stays text), one entry too: RouterOS gives a list
  // property's values to scripts as an array even when it holds one (a one-element `{"ether5"}`
  // for /ip neighbor interface), and eworm's netwatch-dns compares [/ip/dns/get servers] with an
  // array of netwatch hosts to set the servers only when they changed.
  script: (v) => RosArray.of(v.map((t): Value => IpAddress.parse(t) ?? t)),
  isEmpty: (v) => v.length === 0,
};
