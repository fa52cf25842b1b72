// /ip service (spec §10.1, services spec §8): the fixed list of management services. www,
// www-ssl, api, api-ssl, ssh, ftp and telnet are real listeners (src/services/); winbox and
// reverse-proxy exist as rows only and can not be enabled (rospki has neither a WinBox server nor
// a reverse proxy: a row saying it listens would be a lie). The daemon writes the run-time state back into the
// rows: `invalid` (flag I) and the reason in `comment` (`cannot bind to port 80: Address in use
// (12)`), and one dynamic connection row (flags D and c, with LOCAL and REMOTE) for every open
// connection to its services, as RouterOS 7.23 shows them in a plain print.

import { failure } from '../../errors.js';
import { BUILTIN, genericCommands, newRowData, typeContext } from '../../menu/generic.js';
import { boolType, enumType, intType, prefixListType, refType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, PropType, PropertyDecl } from '../../menu/types.js';
import { valueToString } from '../../menu/values.js';
import type { ReadTx, RowData, StoredRow } from '../../store/store.js';
import { CERT_PATH } from '../certificate/properties.js';

export const SERVICE_PATH = '/ip/service';

/** Services that take a certificate and a TLS version. */
export const TLS_SERVICES: ReadonlySet<string> = new Set(['www-ssl', 'api-ssl', 'reverse-proxy']);
/** Services rospki actually runs. */
export const IMPLEMENTED_SERVICES: ReadonlySet<string> = new Set(['www', 'www-ssl', 'api', 'api-ssl', 'ssh', 'ftp', 'telnet']);

/** Rows rospki has no server for, and what it would have to be: `disabled=no` is refused. */
const UNSERVED: ReadonlyMap<string, string> = new Map([
  ['winbox', 'WinBox server'],
  ['reverse-proxy', 'reverse proxy'],
]);

export const TLS_VERSIONS = ['any', 'only-1.2', 'only-1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

/**
 * The fixed rows in the order a data directory gets them (their ids), with default ports;
 * www-ssl starts disabled (CHR 7.23), reverse-proxy is 7.22+. Print orders them by port.
 */
const DEFAULT_ROWS: ReadonlyArray<{ name: string; port: number; disabled: boolean }> = [
  { name: 'telnet', port: 23, disabled: true },
  { name: 'ftp', port: 21, disabled: true },
  { name: 'www', port: 80, disabled: false },
  { name: 'ssh', port: 22, disabled: true },
  { name: 'www-ssl', port: 443, disabled: true },
  { name: 'api', port: 8728, disabled: false },
  { name: 'winbox', port: 8291, disabled: true },
  { name: 'api-ssl', port: 8729, disabled: false },
  { name: 'reverse-proxy', port: 443, disabled: true },
];

/** What a built-in row has beyond the declared defaults (which newRowData fills in). */
function defaultRow(name: string, port: number, disabled: boolean): RowData {
  const row: RowData = { name, port, disabled };
  if (TLS_SERVICES.has(name)) {
    row.certificate = 0;
    row['tls-version'] = 'any';
  }
  return row;
}

/** `main`, or empty: `set ftp vrf=""` leaves the VRF cell empty (7.2x capture, issue 12). */
const vrfType: PropType<string> = (() => {
  const vrfs = enumType(['main']);
  return { ...vrfs, parse: (v, ctx, name) => (valueToString(v) === '' ? '' : vrfs.parse(v, ctx, name)) };
})();

/** Addresses, LOCAL and REMOTE: bare in detail like the allow-list. */
const addressText: PropType<string> = { ...stringType, quoted: false };

/** A row that the daemon keeps (a connection), not one a user configures. */
export const isDynamicService = (row: RowData): boolean => row.dynamic === true;

/**
 * The run-time state of the services of each instance of a shared store (issue 17): one row per
 * instance and service, `key` (`<instance>/<service name>`), `instance`, `invalid` and `reason`.
 * Each instance can bind what another cannot, so each shows its own state in its /ip service
 * (`invalid`, `comment`) instead of all writing theirs into the shared rows, where they overwrote
 * each other and each overwrite made the other write again. Internal: no menu lists it.
 */
export const SERVICE_STATE_PATH = '/.ip-service-state';

/** The key of an instance's state row of a service. */
export const serviceStateKey = (instance: string, name: string): string => `${instance}/${name}`;

/** A service's state as this instance shows it: its own state row on a shared store, else the row's. */
export function serviceState(tx: ReadTx, instance: string | undefined, row: RowData): { invalid: boolean; reason: string | undefined } {
  if (instance === undefined || isDynamicService(row)) {
    return { invalid: row.invalid === true, reason: typeof row.comment === 'string' ? row.comment : undefined };
  }
  const own = tx.findBy(SERVICE_STATE_PATH, 'key', serviceStateKey(instance, String(row.name)))[0]?.data;
  return { invalid: own?.invalid === true, reason: typeof own?.reason === 'string' ? own.reason : undefined };
}

/** A flag the system sets: read-only, shown as a flag only, false when the row lacks it. */
const stateFlag = (name: string, letter: string, rank: number, sharesColumnWith?: string, compute?: PropertyDecl['compute']): PropertyDecl => ({
  name, type: boolType, access: 'ro', detail: 'never', compute: compute ?? ((row) => row[name] === true),
  flag: { letter, rank, sharesColumnWith },
});

const properties: PropertyDecl[] = [
  { name: 'name', type: stringType, access: 'ro' },
  { name: 'port', type: intType(1, 65535, { numeric: true }), help: 'Port the service listens on' },
  // Every listener rospki runs is TCP (RouterOS lists udp for resolver, dhcp, …).
  { name: 'proto', type: enumType(['tcp', 'udp']), access: 'ro', compute: (row) => row.proto ?? 'tcp' },
  { name: 'address', type: prefixListType, default: [], help: 'Prefixes the service accepts connections from (7.24: available-from)' },
  { name: 'certificate', type: refType(CERT_PATH, { none: true }), help: 'Certificate of the TLS service' },
  { name: 'tls-version', type: enumType(TLS_VERSIONS), help: 'Allowed TLS versions' },
  { name: 'vrf', type: vrfType, default: 'main' },
  { name: 'max-sessions', type: intType(1, 1000, { numeric: true }), default: 20 },
  { name: 'local', type: addressText, access: 'ro', help: 'Local address of a connection' },
  { name: 'remote', type: addressText, access: 'ro', help: 'Remote address and port of a connection' },
  // Legend order D; X, I; c (7.23.1 capture: `Flags: D - DYNAMIC; X - DISABLED, I - INVALID; c - CONNECTION`).
  { name: 'disabled', type: boolType, default: false, flag: { letter: 'X', rank: 2 }, detail: 'never' },
  // Records carry invalid, dynamic and connection as false too (REST samples of 7.x).
  stateFlag('invalid', 'I', 3, 'X', (row, ctx) => serviceState(ctx.tx, ctx.env.store.instances?.self, row).invalid),
  stateFlag('dynamic', 'D', 1),
  stateFlag('connection', 'c', 4),
  { name: 'comment', type: stringType, access: 'ro', compute: (row, ctx) => serviceState(ctx.tx, ctx.env.store.instances?.self, row).reason },
];

const base: MenuDecl = {
  path: SERVICE_PATH,
  kind: 'list',
  help: 'IP services',
  key: 'name',
  verbs: ['print', 'get', 'find', 'enable', 'disable', 'export'],
  // 7.19+ columns; a column no printed row has a value in is left out (spec §3.6).
  columns: ['name', 'port', 'proto', 'address', 'certificate', 'vrf', 'max-sessions', 'local', 'remote'],
  legendStyle: 'column',
  properties,
  defaults: DEFAULT_ROWS.map((r) => defaultRow(r.name, r.port, r.disabled)),
  /**
   * By port, a service's connections after it (the 7.2x captures: ftp 21, ssh 22, its `D c`
   * connection, telnet 23, … api-ssl 8729), ties in id order.
   */
  sortRows(rows: readonly StoredRow[]): StoredRow[] {
    const key = (r: StoredRow) => [Number(r.data.port) || 0, r.data.connection === true ? 1 : 0, r.id];
    return [...rows].sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
    });
  },
  async prepare(env) {
    await ensureServiceRows(env);
  },
  validate(row) {
    if (isDynamicService(row)) throw failure('can not change dynamic entry');
    const name = String(row.name);
    const missing = UNSERVED.get(name);
    if (missing && row.disabled === false) {
      throw failure(`rospki has no ${missing}: nothing would answer on port ${String(row.port)}, so ${name} can not be enabled`);
    }
    if (!TLS_SERVICES.has(name) && (row.certificate !== undefined || row['tls-version'] !== undefined)) {
      throw failure(`${name} does not use a certificate`);
    }
  },
};

/** `set … available-from=` (7.24's name of `address`) sets address; both are accepted. */
const availableFromArg: ArgDecl<string[]> = { name: 'available-from', type: prefixListType, help: 'The 7.24 name of address' };
const genericSet = genericCommands({ ...base, verbs: ['set'] })[0]!;
const setCommand: CommandDecl = {
  ...genericSet,
  args: [...genericSet.args, availableFromArg],
  async run(call) {
    let args = call.args;
    if (args.has(availableFromArg)) {
      const from = args.value(availableFromArg.name); // null: `!available-from`
      args = args.only(args.names().filter((n) => n !== availableFromArg.name));
      if (!args.has('address')) args = args.with([['address', from]]);
    }
    return genericSet.run({ ...call, command: genericSet, args });
  },
};

export const serviceMenu: MenuDecl = { ...base, commands: [setCommand] };

/**
 * Data directories made before /ip service existed (or before a row such as reverse-proxy did)
 * get the missing rows on first use (fresh ones get them from the menu's defaults when created).
 */
export async function ensureServiceRows(env: Environment): Promise<void> {
  const fixedNames = (rows: readonly StoredRow[]) => new Set(rows.filter((r) => !isDynamicService(r.data)).map((r) => String(r.data.name)));
  const missing = await env.store.read((tx) => {
    const have = fixedNames(tx.list(SERVICE_PATH));
    return DEFAULT_ROWS.some((r) => !have.has(r.name));
  });
  if (!missing) return;
  await env.store.write((tx) => {
    const ctx = typeContext(env, tx);
    const have = fixedNames(tx.list(SERVICE_PATH));
    for (const r of DEFAULT_ROWS) {
      if (have.has(r.name)) continue;
      const data = { ...newRowData(serviceMenu, ctx), ...defaultRow(r.name, r.port, r.disabled) };
      tx.insert(SERVICE_PATH, { ...data, [BUILTIN]: data });
    }
  });
}
