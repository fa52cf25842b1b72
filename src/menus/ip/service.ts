// /ip service (spec §10.1): the fixed list of management services. www, www-ssl, api,
// api-ssl and ssh are real listeners (src/services/); telnet, ftp and winbox exist as rows only,
// disabled. The daemon writes the run-time state back into the rows: `invalid` (flag I) and
// the reason in `comment` (`cannot bind to port 80: Address in use (12)`), as RouterOS shows it.

import { failure } from '../../errors.js';
import { BUILTIN, newRowData, typeContext } from '../../menu/generic.js';
import { boolType, enumType, intType, prefixListType, refType, stringType } from '../../menu/proptypes.js';
import type { Environment, MenuDecl } from '../../menu/types.js';
import type { RowData } from '../../store/store.js';
import { CERT_PATH } from '../certificate/properties.js';

export const SERVICE_PATH = '/ip/service';

/** Services that take a certificate and a TLS version. */
export const TLS_SERVICES: ReadonlySet<string> = new Set(['www-ssl', 'api-ssl']);
/** Services rospki actually runs. */
export const IMPLEMENTED_SERVICES: ReadonlySet<string> = new Set(['www', 'www-ssl', 'api', 'api-ssl', 'ssh']);

export const TLS_VERSIONS = ['any', 'only-1.2', 'only-1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];


/** RouterOS order and default ports; www-ssl starts disabled (CHR 7.23). */
const DEFAULT_ROWS: ReadonlyArray<{ name: string; port: number; disabled: boolean }> = [
  { name: 'telnet', port: 23, disabled: true },
  { name: 'ftp', port: 21, disabled: true },
  { name: 'www', port: 80, disabled: false },
  { name: 'ssh', port: 22, disabled: true },
  { name: 'www-ssl', port: 443, disabled: true },
  { name: 'api', port: 8728, disabled: false },
  { name: 'winbox', port: 8291, disabled: true },
  { name: 'api-ssl', port: 8729, disabled: false },
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

export const serviceMenu: MenuDecl = {
  path: SERVICE_PATH,
  kind: 'list',
  help: 'IP services',
  key: 'name',
  verbs: ['print', 'get', 'set', 'find', 'enable', 'disable', 'export'],
  columns: ['name', 'port', 'certificate', 'vrf'],
  legendStyle: 'column',
  properties: [
    { name: 'name', type: stringType, access: 'ro' },
    { name: 'port', type: intType(1, 65535, { numeric: true }), help: 'Port the service listens on' },
    { name: 'address', type: prefixListType, default: [], help: 'Prefixes the service accepts connections from' },
    { name: 'certificate', type: refType(CERT_PATH, { none: true }), help: 'Certificate of the TLS service' },
    { name: 'tls-version', type: enumType(TLS_VERSIONS), help: 'Allowed TLS versions' },
    { name: 'vrf', type: enumType(['main']), default: 'main' },
    { name: 'max-sessions', type: intType(1, 1000, { numeric: true }), default: 20 },
    { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' },
    { name: 'invalid', type: boolType, access: 'ro', flag: { letter: 'I', sharesColumnWith: 'X' }, detail: 'never' },
    { name: 'comment', type: stringType, access: 'ro' },
  ],
  defaults: DEFAULT_ROWS.map((r) => defaultRow(r.name, r.port, r.disabled)),
  async prepare(env) {
    await ensureServiceRows(env);
  },
  validate(row) {
    const name = String(row.name);
    if (!TLS_SERVICES.has(name) && (row.certificate !== undefined || row['tls-version'] !== undefined)) {
      throw failure(`${name} does not use a certificate`);
    }
  },
};

/**
 * Data directories made before /ip service existed get its rows on first use (fresh ones get
 * them from the menu's defaults when created).
 */
export async function ensureServiceRows(env: Environment): Promise<void> {
  const missing = await env.store.read((tx) => {
    const have = new Set(tx.list(SERVICE_PATH).map((r) => String(r.data.name)));
    return DEFAULT_ROWS.some((r) => !have.has(r.name));
  });
  if (!missing) return;
  await env.store.write((tx) => {
    const ctx = typeContext(env, tx);
    const have = new Set(tx.list(SERVICE_PATH).map((r) => String(r.data.name)));
    for (const r of DEFAULT_ROWS) {
      if (have.has(r.name)) continue;
      const data = { ...newRowData(serviceMenu, ctx), ...defaultRow(r.name, r.port, r.disabled) };
      tx.insert(SERVICE_PATH, { ...data, [BUILTIN]: data });
    }
  });
}
