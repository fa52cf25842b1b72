// 802.1X (services spec §5.1, §5.2): `/interface dot1x client` (the supplicant, whose EAP-TLS
// client certificate is a certificate reference) and `/interface dot1x server` (the
// authenticator, relaying EAP to RADIUS; no certificate of its own).
//
// The daemon runs every enabled client on Debian's wpa_supplicant (src/services/dot1x.ts) and
// writes its state into the row (`status`: authenticating, authenticated, rejected, or
// `not running: <why>`); every enabled server on hostapd (driver=wired), which relays its
// clients' EAP to the /radius server for dot1x; the clients are rows of `server state`.
// Interfaces are the host's (`/interface` mirrors /sys/class/net).

import { boolType, durationType, enumSetType, enumType, intType, refType, stringType, bareStringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropertyDecl } from '../../menu/types.js';
import type { ReadTx, RowData } from '../../store/store.js';
import { CERT_PATH } from '../certificate/properties.js';
import { HOSTAPD, WPA_SUPPLICANT, requireProgram, type HostProgram } from '../host/programs.js';
import { commentProperty, disabledNo, enabledRow, orderedEnumListType, recordPrint } from './common.js';
import { STATUS_KEY, isRunning, serviceStatusProperty } from './service-state.js';

export const DOT1X_CLIENT_PATH = '/interface/dot1x/client';
export const DOT1X_SERVER_PATH = '/interface/dot1x/server';

export const EAP_METHODS = ['eap-tls', 'eap-ttls', 'eap-peap', 'eap-mschapv2'] as const;

/** The states of an 802.1X client, in RouterOS's words (spec §5.1 `status`). */
export const DOT1X_STATUS = {
  authenticating: 'authenticating', authenticated: 'authenticated', rejected: 'rejected', interfaceDown: 'interface is down',
} as const;

const enabled = enabledRow(disabledNo);
export const dot1xClientEnabled = enabled;

/** The properties the daemon reads (src/services/dot1x.ts). */
export const DOT1X_CLIENT = {
  interface: { name: 'interface', type: bareStringType, required: true, unique: true, help: 'Interface to authenticate on' } as PropertyDecl<string>,
  eapMethods: { name: 'eap-methods', type: orderedEnumListType(EAP_METHODS), default: [], help: 'EAP methods, tried in this order' } as PropertyDecl<string[]>,
  identity: { name: 'identity', type: stringType, default: '', help: 'User name (EAP-TLS: the certificate\'s common name when empty)' } as PropertyDecl<string>,
  password: { name: 'password', type: stringType, sensitive: true, default: '', help: 'Password for EAP-TTLS, EAP-PEAP and EAP-MSCHAPv2' } as PropertyDecl<string>,
  anonIdentity: { name: 'anon-identity', type: stringType, default: '', help: 'Outer identity for EAP-TTLS and EAP-PEAP' } as PropertyDecl<string>,
  certificate: { name: 'certificate', type: refType(CERT_PATH, { none: true }), default: 0, help: 'Client certificate for EAP-TLS' } as PropertyDecl<number>,
};

/**
 * Enabling a client or server needs its program (the message names the Debian package, and
 * nothing changes). Rows already enabled are not checked again on other changes.
 */
function requireWhenEnabled(path: string, program: HostProgram, row: RowData, tx: ReadTx, id: number | undefined): void {
  if (!enabled(row)) return;
  const before = id !== undefined ? tx.get(path, id)?.data : undefined;
  if (before && enabled(before)) return;
  requireProgram(program);
}

/** What the daemon wrote, `not running: the rospki daemon is not running` when none runs. */
const daemonStatus = serviceStatusProperty('802.1X', enabled);

export const dot1xClientMenu: MenuDecl = {
  path: DOT1X_CLIENT_PATH,
  kind: 'list',
  help: '802.1X supplicants',
  key: 'interface',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  // The order of the manual's record print (spec §5.1), `certificate` as 7.12+ names it.
  properties: [
    DOT1X_CLIENT.interface,
    DOT1X_CLIENT.eapMethods,
    DOT1X_CLIENT.identity,
    DOT1X_CLIENT.password,
    DOT1X_CLIENT.anonIdentity,
    DOT1X_CLIENT.certificate,
    disabledNo,
    {
      // Inactive: enabled, but no supplicant runs for it (see status).
      name: 'inactive', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'I', sharesColumnWith: 'X' },
      compute: (row) => enabled(row) && !isRunning(row) && String(row[STATUS_KEY] ?? 'not running').startsWith('not running'),
    },
    commentProperty,
    {
      ...daemonStatus,
      // A disabled client says so (spec §5.1 lists `disabled` among the states).
      compute: (row, ctx) => (enabled(row) ? daemonStatus.compute!(row, ctx) : 'disabled'),
      help: 'authenticating, authenticated, rejected, interface is down, disabled, or not running: <why>',
    },
  ],
  printTable: recordPrint,
  validate(row, tx, _env, id) {
    requireWhenEnabled(DOT1X_CLIENT_PATH, WPA_SUPPLICANT, row, tx, id);
  },
};

/** The properties the authenticator reads (src/services/dot1x.ts). */
export const DOT1X_SERVER = {
  interface: { name: 'interface', type: bareStringType, required: true, unique: true, help: 'Interface whose port is authenticated' } as PropertyDecl<string>,
  authTypes: { name: 'auth-types', type: enumSetType(['dot1x', 'mac-auth']), default: ['dot1x'] } as PropertyDecl<string[]>,
  accounting: { name: 'accounting', type: boolType, default: true, help: 'Send RADIUS accounting' } as PropertyDecl<boolean>,
  reauthTimeout: { name: 'reauth-timeout', type: durationType(), help: 'Authenticate clients again this often (RADIUS Session-Timeout otherwise)' } as PropertyDecl<number>,
  interimUpdate: { name: 'interim-update', type: durationType(), default: 0 } as PropertyDecl<number>,
};

export const dot1xServerEnabled = enabled;

export const dot1xServerMenu: MenuDecl = {
  path: DOT1X_SERVER_PATH,
  kind: 'list',
  help: '802.1X authenticators',
  key: 'interface',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  properties: [
    DOT1X_SERVER.interface,
    DOT1X_SERVER.authTypes,
    DOT1X_SERVER.accounting,
    { name: 'auth-timeout', type: durationType(), default: 60e9 },
    { name: 'retrans-timeout', type: durationType(), default: 30e9 },
    DOT1X_SERVER.reauthTimeout,
    DOT1X_SERVER.interimUpdate,
    { name: 'guest-vlan-id', type: intType(1, 4094) },
    { name: 'reject-vlan-id', type: intType(1, 4094) },
    { name: 'server-fail-vlan-id', type: intType(1, 4094) },
    { name: 'mac-auth-mode', type: enumType(['mac-as-username', 'mac-as-username-and-password']), default: 'mac-as-username' },
    { name: 'radius-mac-format', type: enumType(['XX-XX-XX-XX-XX-XX', 'XX:XX:XX:XX:XX:XX', 'XXXXXXXXXXXX', 'xx-xx-xx-xx-xx-xx', 'xx:xx:xx:xx:xx:xx', 'xxxxxxxxxxxx']), default: 'XX:XX:XX:XX:XX:XX' },
    disabledNo,
    commentProperty,
    serviceStatusProperty('802.1X', enabled),
  ],
  printTable: recordPrint,
  validate(row, tx, _env, id) {
    requireWhenEnabled(DOT1X_SERVER_PATH, HOSTAPD, row, tx, id);
  },
};

/** The clients of the authenticators (rows the daemon keeps while a port has a supplicant). */
export const DOT1X_STATE_PATH = '/interface/dot1x/server/state';

export const DOT1X_STATE_STATUS = { authenticating: 'authenticating', authorized: 'authorized', rejected: 'rejected' } as const;

export const dot1xStateMenu: MenuDecl = {
  path: DOT1X_STATE_PATH,
  kind: 'list',
  help: 'Supplicants of the 802.1X authenticators',
  verbs: ['print', 'get', 'find'],
  columns: ['interface', 'client-mac', 'status', 'user-name'],
  properties: [
    { name: 'interface', type: stringType, access: 'ro' },
    { name: 'client-mac', type: stringType, access: 'ro' },
    { name: 'status', type: stringType, access: 'ro', help: 'authenticating, authorized or rejected' },
    { name: 'user-name', type: stringType, access: 'ro', help: 'The identity the supplicant gave' },
  ],
};

export const DOT1X_MENUS: readonly MenuDecl[] = [dot1xClientMenu, dot1xServerMenu, dot1xStateMenu];
