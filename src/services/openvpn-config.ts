// OpenVPN 2.6 configuration files for what the /interface ovpn-server server and ovpn-client rows
// say (pure: no store, no files; src/services/openvpn.ts writes them into the private runtime
// folder and runs openvpn on them).
//
// A server runs OpenVPN's multi-client `mode server` on a tun (ip) or tap (ethernet) device that
// is opened but never configured (--ifconfig-noexec, --route-noexec): no address, no route, no
// pushed route or address. The TLS and user/password control plane is real; the data plane is
// out of scope (docs/compatibility.md). `mode server` is what user/password logins need: a
// point-to-point `--dev null` server can neither take a password (clients need --pull) nor
// answer it (management client-auth is multi-client only).
//
// User/password: `--management-client-auth` hands every login to rospki over the management
// socket (CLIENT:CONNECT with the username and password in its ENV lines); rospki answers
// client-auth-nt or client-deny after checking /ppp secret. No script, no password file.
// A client gets its password the same way (`--management-query-passwords`).

import { isHostName } from '../menu/proptypes.js';
import {
  AUTH_PREFERENCE, CIPHER_PREFERENCE, OPENVPN_AUTH, OPENVPN_CIPHER, firstOf,
} from '../menus/interface/ovpn.js';

/**
 * A host as one word of a directive (`remote`, `local`, `verify-x509-name`): an IP address or a
 * DNS name, nothing else. A line break or a blank in it would add directives of whoever set it
 * (a `write` user's `connect-to="x\nscript-security 2\nup …"` ran programs as rospki's user).
 */
export function assertHostWord(what: string, host: string): string {
  if (!isHostName(host)) throw new Error(`${what} is not an IP address or a DNS name`);
  return host;
}

/** File names inside the runtime folder (the daemon's working directory). */
export const OVPN_FILES = {
  config: 'openvpn.conf',
  cert: 'cert.pem',
  key: 'key.pem',
  ca: 'ca.pem',
  /** The static key of tls-auth or tls-crypt. */
  tlsKey: 'tls.key',
  crl: 'crl.pem',
  management: 'management.sock',
} as const;

export interface TlsMaterial {
  /** The certificate and the intermediates the store holds for it (PEM). */
  readonly certPem: string;
  /** Its private key (PKCS#8 PEM). */
  readonly keyPem: string;
}

export interface ServerSettings {
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
  readonly mode: 'ip' | 'ethernet';
  /** Address to listen on: `::` (or empty) is every address, both families. */
  readonly host: string;
  readonly requireClientCertificate: boolean;
  /** RouterOS names, in any order (`aes128-cbc`, `aes256-gcm` …). */
  readonly ciphers: readonly string[];
  readonly auths: readonly string[];
  readonly tlsVersion: string;
  readonly renegSec: number;
  readonly keepaliveTimeout: number | 'disabled';
  readonly maxMtu: number;
  /** Whether a CRL file is given (--crl-verify). */
  readonly crl: boolean;
}

export interface ClientSettings {
  readonly connectTo: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
  readonly mode: 'ip' | 'ethernet';
  /** A client certificate and key are given. */
  readonly certificate: boolean;
  /** Check that the server certificate names connect-to (the chain is always checked). */
  readonly verifyName: boolean;
  readonly cipher: string;
  readonly auth: string;
  readonly tlsVersion: string;
  /** tls-auth (with its key direction, none: both) or tls-crypt with the static key in OVPN_FILES.tlsKey. */
  readonly tlsKey?: { readonly use: 'tls-auth'; readonly direction?: 0 | 1 } | { readonly use: 'tls-crypt' };
}

const isWildcard = (host: string): boolean => host === '' || host === '::' || host === '0.0.0.0';

/** OpenVPN's cipher names of a RouterOS set, strongest first (the order of export-client-configuration). */
export function dataCiphers(ciphers: readonly string[]): string[] {
  return CIPHER_PREFERENCE.filter((c) => ciphers.includes(c)).map((c) => OPENVPN_CIPHER[c]!);
}

/** Blowfish lives in OpenSSL 3's legacy provider. */
const needsLegacy = (ciphers: readonly string[]): boolean => ciphers.includes('blowfish128');

function tlsVersionLines(tlsVersion: string): string[] {
  // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level: `any` starts at 1.2.
  return tlsVersion === 'only-1.2' ? ['tls-version-min 1.2', 'tls-version-max 1.2'] : ['tls-version-min 1.2'];
}

/** Lines every daemon rospki runs shares: its log on stdout without timestamps (rospki adds /log's own). */
const COMMON = ['suppress-timestamps', 'verb 3', 'mute-replay-warnings', 'ifconfig-noexec', 'route-noexec'];

const quote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** The server's configuration file; `managementSocket` is an absolute path (rospki connects to it). */
export function serverConfig(s: ServerSettings, managementSocket: string): string {
  const ciphers = dataCiphers(s.ciphers);
  const wildcard = isWildcard(s.host);
  const proto = s.protocol === 'udp' ? (wildcard ? 'udp6' : 'udp') : (wildcard ? 'tcp6-server' : 'tcp-server');
  // Clients without cipher negotiation (RouterOS before 7.17, OpenVPN before 2.4) use the one
  // cipher export-client-configuration names: the strongest allowed.
  const fallback = OPENVPN_CIPHER[firstOf(CIPHER_PREFERENCE, s.ciphers)]!;
  const lines = [
    '# Written by rospki for /interface ovpn-server server; removed when the server stops.',
    'mode server',
    'tls-server',
    s.mode === 'ethernet' ? 'dev tap' : 'dev tun',
    ...(s.mode === 'ethernet' ? [] : ['topology subnet']),
    `proto ${proto}`,
    ...(wildcard ? [] : [`local ${assertHostWord('local', s.host)}`]),
    `port ${s.port}`,
    `ca ${OVPN_FILES.ca}`,
    `cert ${OVPN_FILES.cert}`,
    `key ${OVPN_FILES.key}`,
    'dh none',
    `verify-client-cert ${s.requireClientCertificate ? 'require' : 'none'}`,
    // RouterOS tells users apart by their PPP login, not their certificate: one certificate may
    // be in use by several clients at once (OpenVPN would drop the older session).
    'duplicate-cn',
    ...(s.crl ? [`crl-verify ${OVPN_FILES.crl}`] : []),
    `data-ciphers ${ciphers.join(':')}`,
    `data-ciphers-fallback ${fallback}`,
    `auth ${OPENVPN_AUTH[firstOf(AUTH_PREFERENCE, s.auths)]}`,
    ...(needsLegacy(s.ciphers) ? ['providers legacy default'] : []),
    ...tlsVersionLines(s.tlsVersion),
    `reneg-sec ${s.renegSec}`,
    // RouterOS: keepalives start after keepalive-timeout of silence; a peer silent for twice that is gone.
    ...(s.keepaliveTimeout === 'disabled' ? [] : [`keepalive ${s.keepaliveTimeout} ${2 * s.keepaliveTimeout}`]),
    `tun-mtu ${s.maxMtu}`,
    ...(s.protocol === 'udp' ? ['explicit-exit-notify 1'] : []),
    ...COMMON,
    `management ${quote(managementSocket)} unix`,
    'management-client-auth',
    // openvpn waits for rospki to attach before it takes any client.
    'management-hold',
  ];
  return `${lines.join('\n')}\n`;
}

function tlsKeyLines(tls: ClientSettings['tlsKey']): string[] {
  if (!tls) return [];
  if (tls.use === 'tls-crypt') return [`tls-crypt ${OVPN_FILES.tlsKey}`];
  return [`tls-auth ${OVPN_FILES.tlsKey}${tls.direction === undefined ? '' : ` ${tls.direction}`}`];
}

/** A client's configuration file (`--dev null`: the control plane only). */
export function clientConfig(c: ClientSettings, managementSocket: string): string {
  const cipher = OPENVPN_CIPHER[c.cipher]!;
  const lines = [
    '# Written by rospki for /interface ovpn-client; removed when the client stops.',
    'client',
    // No dev-type: with one, openvpn opens a real TUN/TAP device named "null" (so a second
    // client on the host fails with "Device or resource busy"); the consistency check it served
    // only warns in 2.6 (and said nothing against our tun and tap servers).
    'dev null',
    `proto ${c.protocol === 'udp' ? 'udp' : 'tcp-client'}`,
    `remote ${assertHostWord('connect-to', c.connectTo)} ${c.port}`,
    'nobind',
    'connect-retry 5 60',
    `ca ${OVPN_FILES.ca}`,
    ...(c.certificate ? [`cert ${OVPN_FILES.cert}`, `key ${OVPN_FILES.key}`] : []),
    ...(c.verifyName ? [`verify-x509-name ${quote(c.connectTo)} name`] : []),
    ...tlsKeyLines(c.tlsKey),
    'auth-user-pass',
    // A refused password is asked for again over the management socket (rospki gives the same).
    'auth-retry interact',
    `data-ciphers ${cipher}`,
    `data-ciphers-fallback ${cipher}`,
    `auth ${OPENVPN_AUTH[c.auth]}`,
    ...(c.cipher === 'blowfish128' ? ['providers legacy default'] : []),
    ...tlsVersionLines(c.tlsVersion),
    'route-nopull',
    ...COMMON,
    `management ${quote(managementSocket)} unix`,
    'management-query-passwords',
    'management-hold',
  ];
  return `${lines.join('\n')}\n`;
}

/** A quoted argument of a management command (`password "Auth" "p\"w"`). */
export const managementQuote = quote;
