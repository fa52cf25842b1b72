// SSTP (services spec §3): `/interface sstp-server server` (a singleton, printed as the
// right-aligned key: value block of the 7.23.1 capture) and `/interface sstp-client`.
//
// The daemon runs the server (src/services/sstp.ts: TLS with the bound certificate and the SSTP
// call set-up with crypto binding; no PPP) and writes `running` and `status` back into its row.
// Clients are configuration only: a client never shows R (docs/compatibility.md).

import { failure } from '../../errors.js';
import { boolType, enumSetType, enumType, intType, refType, stringType, bareStringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropertyDecl } from '../../menu/types.js';
import type { RowData } from '../../store/store.js';
import { CERT_PATH } from '../certificate/properties.js';
import {
  builtinRef, commentProperty, disabledYes, enabledRow, ensureBuiltinRows, intOrDisabledType, nextName,
  recordPrint, statusProperty, tlsVersionType,
} from './common.js';
import { runningProperty, serviceStatusProperty } from './service-state.js';

export const SSTP_SERVER_PATH = '/interface/sstp-server/server';
export const SSTP_CLIENT_PATH = '/interface/sstp-client';
const PPP_PROFILE = '/ppp/profile';

const AUTHENTICATION = enumSetType(['pap', 'chap', 'mschap1', 'mschap2'], { nonEmpty: true });
const CIPHERS = enumSetType(['aes256-sha', 'aes256-gcm-sha384'], { nonEmpty: true });
const PFS = enumType(['no', 'yes', 'required']);

/** The settings the daemon reads (src/services/sstp.ts). */
export const SSTP_SERVER = {
  enabled: { name: 'enabled', type: boolType, default: false, help: 'Run the SSTP server' } as PropertyDecl<boolean>,
  port: { name: 'port', type: intType(1, 65535), default: 443 } as PropertyDecl<number>,
  keepaliveTimeout: { name: 'keepalive-timeout', type: intOrDisabledType(1, 4294967295), default: 60 } as PropertyDecl<number | 'disabled'>,
  certificate: { name: 'certificate', type: refType(CERT_PATH, { none: true }), default: 0, help: 'Certificate the server presents' } as PropertyDecl<number>,
  verifyClientCertificate: {
    name: 'verify-client-certificate', type: boolType, default: false, help: 'Ask clients for a certificate of a trusted CA',
  } as PropertyDecl<boolean>,
  pfs: { name: 'pfs', type: PFS, default: 'no' } as PropertyDecl<string>,
  tlsVersion: { name: 'tls-version', type: tlsVersionType, default: 'any' } as PropertyDecl<string>,
  ciphers: { name: 'ciphers', type: CIPHERS, default: ['aes256-sha', 'aes256-gcm-sha384'] } as PropertyDecl<string[]>,
};
const serverEnabled = (row: RowData): boolean => row[SSTP_SERVER.enabled.name] === true;

export const sstpServerMenu: MenuDecl = {
  path: SSTP_SERVER_PATH,
  kind: 'singleton',
  help: 'SSTP server',
  verbs: ['print', 'get', 'set', 'export'],
  // The order of the 7.23.1 print (spec §3.1).
  properties: [
    SSTP_SERVER.enabled,
    SSTP_SERVER.port,
    { name: 'max-mtu', type: intType(64, 65535), default: 1500 },
    { name: 'max-mru', type: intType(64, 65535), default: 1500 },
    { name: 'mrru', type: intOrDisabledType(512, 65535), default: 'disabled' },
    SSTP_SERVER.keepaliveTimeout,
    { name: 'default-profile', type: refType(PPP_PROFILE), default: builtinRef(PPP_PROFILE, 'default') },
    { name: 'authentication', type: AUTHENTICATION, default: ['pap', 'chap', 'mschap1', 'mschap2'] },
    SSTP_SERVER.certificate,
    SSTP_SERVER.verifyClientCertificate,
    SSTP_SERVER.pfs,
    SSTP_SERVER.tlsVersion,
    SSTP_SERVER.ciphers,
    runningProperty(serverEnabled),
    serviceStatusProperty('SSTP', serverEnabled),
  ],
  async prepare(env) {
    await ensureBuiltinRows(env, PPP_PROFILE, SSTP_SERVER_PATH);
  },
};

const clientEnabled = enabledRow(disabledYes);

export const sstpClientMenu: MenuDecl = {
  path: SSTP_CLIENT_PATH,
  kind: 'list',
  help: 'SSTP clients',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  // The order of the manual's record print of a client (spec §3.2).
  properties: [
    { name: 'name', type: stringType, unique: true, default: nextName(SSTP_CLIENT_PATH, 'sstp-out'), help: 'Interface name' },
    { name: 'max-mtu', type: intType(64, 65535), default: 1500 },
    { name: 'max-mru', type: intType(64, 65535), default: 1500 },
    { name: 'mrru', type: intOrDisabledType(512, 65535), default: 'disabled' },
    { name: 'connect-to', type: bareStringType, required: true, help: 'Address or DNS name of the server (`:port` allowed)' },
    { name: 'port', type: intType(1, 65535), default: 443 },
    { name: 'http-proxy', type: bareStringType, default: '::' },
    { name: 'proxy-port', type: intType(1, 65535), default: 443 },
    { name: 'user', type: stringType, required: true, help: 'PPP user name' },
    { name: 'password', type: stringType, default: '', sensitive: true, help: 'PPP password' },
    { name: 'profile', type: refType(PPP_PROFILE), default: builtinRef(PPP_PROFILE, 'default') },
    { name: 'keepalive-timeout', type: intOrDisabledType(1, 4294967295), default: 60 },
    { name: 'add-default-route', type: boolType, default: false },
    { name: 'dial-on-demand', type: boolType, default: false },
    { name: 'authentication', type: AUTHENTICATION, default: ['pap', 'chap', 'mschap1', 'mschap2'] },
    { name: 'certificate', type: refType(CERT_PATH, { none: true }), default: 0, help: 'Certificate sent when the server asks for one' },
    { name: 'verify-server-certificate', type: boolType, default: false },
    { name: 'verify-server-address-from-certificate', type: boolType, default: true },
    { name: 'add-sni', type: boolType, default: false },
    { name: 'pfs', type: PFS, default: 'no' },
    { name: 'tls-version', type: tlsVersionType, default: 'any' },
    { name: 'ciphers', type: CIPHERS, default: ['aes256-sha'] },
    disabledYes,
    { name: 'running', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'R' }, compute: () => false },
    commentProperty,
    statusProperty('SSTP', clientEnabled),
  ],
  printTable: recordPrint,
  validate(row) {
    if (String(row.password ?? '').length > 1000) throw failure('password is longer than 1000 characters');
  },
  async prepare(env) {
    await ensureBuiltinRows(env, PPP_PROFILE);
  },
};

export const SSTP_MENUS: readonly MenuDecl[] = [sstpServerMenu, sstpClientMenu];
