// A client's .ovpn file as `/interface ovpn-client import-ovpn-configuration` reads it (services
// spec §2.4): OpenVPN 2.6's configuration syntax (openvpn(8) "Configuration files" and
// "INLINE FILE SUPPORT"), reduced to what an ovpn-client row can hold. Pure: text in, a profile
// out, or a failure naming the line; the command (ovpn.ts) maps names and imports.
//
// A directive that changes how the connection is made or authenticated and that a row cannot
// hold (a PKCS#12 bundle, tls-crypt-v2, a file named instead of an inline block, a proxy, a
// static-key tunnel …) fails the import: connecting without it would not be what the file says.
// Directives of the data plane (routes, DNS, MTU, compression) and of openvpn's own process
// (persist-*, verb, user, scripts) are ignored: rospki runs the control plane only, and never
// runs a script of a file. Anything else unknown fails, as openvpn itself refuses an
// unrecognised option (docs/compatibility.md lists both sets).

import { failure } from '../../errors.js';
import { OPENVPN_STATIC_KEY_LABEL as STATIC_KEY_LABEL } from '../../pki/pem.js';

/** A tls-auth or tls-crypt static key: 2048 bits (openvpn --genkey secret). */
export const STATIC_KEY_BYTES = 256;

export interface OvpnProfile {
  /** The first `remote`'s host, and its port and protocol (or `port`/`proto`, else 1194/udp). */
  readonly host: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
  readonly mode: 'ip' | 'ethernet';
  /** Data ciphers by OpenVPN name, in the file's preference: data-ciphers, cipher, data-ciphers-fallback. */
  readonly ciphers: readonly string[];
  readonly auth?: string;
  /** `tls-version-max 1.2` (or lower): the server must not go above TLS 1.2. */
  readonly tlsAtMost12: boolean;
  readonly verifyX509Name?: { readonly name: string; readonly type: string };
  /** `auth-user-pass` (without a file): the server asks for a user name and password. */
  readonly authUserPass: boolean;
  /** An inline `<auth-user-pass>` block (OpenVPN 2.6): user on the first line, password on the second. */
  readonly login?: { readonly user: string; readonly password: string };
  readonly routeNopull: boolean;
  /** Inline PEM blocks. */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly extraCerts?: string;
  /** The tls-auth key and its direction (`key-direction`, or tls-auth's second argument). */
  readonly tlsAuth?: { readonly key: string; readonly direction?: 0 | 1 };
  readonly tlsCrypt?: { readonly key: string };
}

/** Inline blocks an ovpn-client row can hold (the PEM ones are imported into /certificate). */
const INLINE = new Set(['ca', 'cert', 'key', 'extra-certs', 'tls-auth', 'tls-crypt', 'auth-user-pass']);

/** What refuses the import, and why. */
const REFUSED: Record<string, string> = {
  pkcs12: 'PKCS#12 bundles (pkcs12) are not supported: give <ca>, <cert> and <key> inline',
  'tls-crypt-v2': 'tls-crypt-v2 is not supported (tls-crypt and tls-auth are)',
  secret: 'static-key tunnels (secret) are not supported: OpenVPN clients here use TLS',
  'http-proxy': 'connecting through an HTTP proxy (http-proxy) is not supported',
  'socks-proxy': 'connecting through a SOCKS proxy (socks-proxy) is not supported',
  connection: 'connection profiles (<connection>) are not supported',
  'static-challenge': 'a static challenge (static-challenge) can not be answered',
  'crl-verify': 'crl-verify is not supported: /certificate crl checks the server',
  mode: 'not a client configuration (mode)',
  server: 'not a client configuration (server)',
  'server-bridge': 'not a client configuration (server-bridge)',
  'tls-server': 'not a client configuration (tls-server)',
  'cryptoapicert': 'Windows certificate stores (cryptoapicert) are not supported',
  'pkcs11-id': 'PKCS#11 tokens (pkcs11-id) are not supported',
  'pkcs11-providers': 'PKCS#11 tokens (pkcs11-providers) are not supported',
  'management-external-key': 'external keys (management-external-key) are not supported',
  'management-external-cert': 'external certificates (management-external-cert) are not supported',
  'auth-user-pass-optional': 'not a client configuration (auth-user-pass-optional)',
};

/**
 * Harmless for an ovpn-client row: the data plane (routes, DNS, MTU, compression, keepalives the
 * server pushes anyway), openvpn's process and logging, Windows-only options, and scripts (never
 * run). `ignore-unknown-option` adds to these.
 */
const IGNORED = new Set([
  'client', 'tls-client', 'pull', 'nobind', 'persist-key', 'persist-tun', 'persist-remote-ip', 'persist-local-ip',
  'resolv-retry', 'verb', 'mute', 'mute-replay-warnings', 'redirect-gateway', 'redirect-private', 'route', 'route-ipv6',
  'route-delay', 'route-method', 'route-metric', 'route-gateway', 'dhcp-option', 'block-outside-dns', 'block-ipv6',
  'comp-lzo', 'compress', 'allow-compression', 'comp-noadapt', 'auth-nocache', 'auth-retry', 'auth-token', 'remote-random',
  'remote-random-hostname', 'server-poll-timeout', 'connect-retry', 'connect-retry-max', 'connect-timeout',
  'explicit-exit-notify', 'float', 'fast-io', 'sndbuf', 'rcvbuf', 'mssfix', 'fragment', 'tun-mtu', 'link-mtu',
  'tun-mtu-extra', 'mtu-disc', 'mtu-test', 'keepalive', 'ping', 'ping-restart', 'ping-exit', 'ping-timer-rem', 'inactive',
  'reneg-sec', 'reneg-bytes', 'reneg-pkts', 'hand-window', 'tran-window', 'tls-timeout', 'tls-cipher', 'tls-ciphersuites',
  'tls-groups', 'ecdh-curve', 'key-method', 'user', 'group', 'setenv', 'setenv-safe', 'script-security', 'up', 'down',
  'route-up', 'route-pre-down', 'ipchange', 'up-delay', 'down-pre', 'up-restart', 'pull-filter', 'push-peer-info',
  'machine-readable-output', 'suppress-timestamps', 'log', 'log-append', 'status', 'writepid', 'daemon', 'disable-occ',
  'replay-window', 'txqueuelen', 'dhcp-renew', 'dhcp-release', 'register-dns', 'ip-win32', 'tap-sleep', 'win-sys',
  'allow-pull-fqdn', 'topology', 'nice', 'tun-ipv6', 'lport', 'bind', 'local', 'cd', 'dev-node', 'providers',
  'remote-cert-eku', 'remote-cert-ku', 'askpass', 'route-noexec', 'ifconfig-noexec', 'tls-exit',
  'single-session', 'engine', 'prng', 'data-ciphers-fallback-ignore', 'tls-cert-profile', 'opt-verify', 'mark',
  'dns', 'dns-updown', 'disable-dco', 'windows-driver', 'tun-mtu-max',
  // The chain of the server's certificate is always checked here; its key usage is not.
  'remote-cert-tls', 'ns-cert-type',
]);

/**
 * The words of one line, openvpn's way: blanks separate them; `"…"` (with `\\` and `\"`) and
 * `'…'` quote; a backslash outside quotes escapes the next character; `#` or `;` where a word
 * would start ends the line (a comment). undefined for an unclosed quote.
 */
export function lineWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) { quote = undefined; continue; }
      if (quote === '"' && c === '\\' && i + 1 < line.length) { word += line[++i]!; continue; }
      word += c;
    } else if (c === ' ' || c === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (word === undefined && (c === '#' || c === ';')) {
      break;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i]!;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) return undefined;
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * An `OpenVPN Static key V1` block (comment lines before it allowed) as its canonical text: the
 * BEGIN line, 16 lines of 32 hex digits, the END line. Anything else throws `why`.
 */
export function staticKeyText(text: string, what: string): string {
  const m = new RegExp(`-----BEGIN ${STATIC_KEY_LABEL}-----([\\s\\S]*?)-----END ${STATIC_KEY_LABEL}-----`).exec(text);
  const hex = m?.[1]!.replace(/\s+/g, '') ?? '';
  if (!m || !/^[0-9a-fA-F]*$/.test(hex) || hex.length !== 2 * STATIC_KEY_BYTES) {
    throw new Error(`<${what}> holds no ${STATIC_KEY_BYTES * 8} bit OpenVPN static key`);
  }
  const lines = hex.toLowerCase().match(/.{32}/g)!;
  return [`-----BEGIN ${STATIC_KEY_LABEL}-----`, ...lines, `-----END ${STATIC_KEY_LABEL}-----`, ''].join('\n');
}

const PROTOCOLS: Record<string, 'tcp' | 'udp'> = {
  udp: 'udp', udp4: 'udp', udp6: 'udp', tcp: 'tcp', tcp4: 'tcp', tcp6: 'tcp', 'tcp-client': 'tcp', 'tcp4-client': 'tcp', 'tcp6-client': 'tcp',
};

/** A file reference where an inline block is needed: `[inline]` (OpenVPN's own word) is no file. */
const isFileArg = (arg: string | undefined): boolean => arg !== undefined && arg !== '[inline]';

/**
 * The profile of a client .ovpn file. Fails (RouterOS style, naming `file` and the line) on a
 * syntax error, a directive that matters but can not be held, a file reference where an inline
 * block is needed, or an unknown directive.
 */
export function parseOvpn(file: string, text: string): OvpnProfile {
  const fail = (line: number, why: string) => failure(`unable to import ${file}: line ${line}: ${why}`);
  const blocks = new Map<string, string>();
  const ignored = new Set(IGNORED);
  let remote: { host: string; port?: string; proto?: string; line: number } | undefined;
  let port: string | undefined;
  let proto: string | undefined;
  let dev: string | undefined;
  let devType: string | undefined;
  let dataCiphers: string[] = [];
  let cipher: string | undefined;
  let fallback: string | undefined;
  let auth: string | undefined;
  let tlsMax: string | undefined;
  let verifyX509Name: { name: string; type: string } | undefined;
  let authUserPass = false;
  let keyDirection: 0 | 1 | undefined;
  let tlsAuthDirection: 0 | 1 | undefined;
  let tlsAuth = false;
  let tlsCrypt = false;
  let routeNopull = false;
  const direction = (line: number, word: string | undefined): 0 | 1 | undefined => {
    if (word === undefined) return undefined;
    if (word !== '0' && word !== '1') throw fail(line, `key direction ${word} is not 0 or 1`);
    return Number(word) as 0 | 1;
  };
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!.trim();
    const open = /^<([a-z0-9-]+)>$/.exec(raw);
    if (open) {
      const tag = open[1]!;
      if (REFUSED[tag]) throw fail(n, REFUSED[tag]!);
      if (!INLINE.has(tag)) throw fail(n, `unsupported inline block <${tag}>`);
      const end = lines.findIndex((l, j) => j > i && l.trim() === `</${tag}>`);
      if (end < 0) throw fail(n, `<${tag}> is not closed`);
      if (blocks.has(tag)) throw fail(n, `a second <${tag}>`);
      blocks.set(tag, lines.slice(i + 1, end).join('\n'));
      if (tag === 'tls-auth') tlsAuth = true;
      if (tag === 'tls-crypt') tlsCrypt = true;
      if (tag === 'auth-user-pass') authUserPass = true;
      i = end;
      continue;
    }
    if (/^<\/?[^>]*>$/.test(raw)) throw fail(n, `${raw} out of place`);
    const words = lineWords(raw);
    if (!words) throw fail(n, 'unclosed quote');
    if (words.length === 0) continue;
    const name = words[0]!.replace(/^--/, '');
    const args = words.slice(1);
    const refuseFile = () => { if (isFileArg(args[0])) throw fail(n, `${name} names a file (${args[0]}): give it inline as <${name}>`); };
    switch (name) {
      case 'remote':
        if (!args[0]) throw fail(n, 'remote without a host');
        // The first remote is the server; the others are fallbacks a row has no place for.
        remote ??= { host: args[0], port: args[1], proto: args[2], line: n };
        break;
      case 'port': case 'rport': port = args[0]; break;
      case 'proto': proto = args[0]; break;
      case 'dev': dev = args[0]; break;
      case 'dev-type': devType = args[0]; break;
      case 'cipher': cipher = args[0]; break;
      case 'data-ciphers': case 'ncp-ciphers': dataCiphers = (args[0] ?? '').split(':').filter((c) => c !== ''); break;
      case 'data-ciphers-fallback': fallback = args[0]; break;
      case 'auth': auth = args[0]; break;
      case 'tls-version-min': break; // a row has `any` (1.2 and up here) or `only-1.2`
      case 'tls-version-max': tlsMax = args[0]; break;
      case 'verify-x509-name':
        if (!args[0]) throw fail(n, 'verify-x509-name without a name');
        verifyX509Name = { name: args[0], type: args[1] ?? 'subject' };
        break;
      case 'auth-user-pass':
        refuseFile();
        authUserPass = true;
        break;
      case 'key-direction': keyDirection = direction(n, args[0] ?? ''); break;
      case 'tls-auth':
        refuseFile();
        tlsAuth = true;
        tlsAuthDirection = direction(n, args[1]);
        break;
      case 'tls-crypt': refuseFile(); tlsCrypt = true; break;
      case 'ca': case 'cert': case 'key': case 'extra-certs': refuseFile(); break;
      case 'route-nopull': routeNopull = true; break;
      case 'ignore-unknown-option': for (const a of args) ignored.add(a); break;
      default:
        if (REFUSED[name]) throw fail(n, REFUSED[name]!);
        if (!ignored.has(name)) throw fail(n, `unsupported directive ${name}`);
    }
  }
  if (!remote) throw failure(`unable to import ${file}: no remote`);
  if (tlsAuth && tlsCrypt) throw failure(`unable to import ${file}: both tls-auth and tls-crypt`);
  const protoWord = remote.proto ?? proto ?? 'udp';
  const protocol = PROTOCOLS[protoWord];
  if (!protocol) throw failure(`unable to import ${file}: protocol ${protoWord} is not a client's (udp or tcp-client)`);
  const portWord = remote.port ?? port ?? '1194';
  if (!/^\d{1,5}$/.test(portWord) || Number(portWord) < 1 || Number(portWord) > 65535) throw failure(`unable to import ${file}: invalid port ${portWord}`);
  const type = devType ?? (dev ?? 'tun').replace(/\d+$/, '');
  if (type !== 'tun' && type !== 'tap') throw failure(`unable to import ${file}: dev ${dev ?? devType} is neither tun nor tap`);
  const block = (tag: string): string | undefined => blocks.get(tag);
  const needBlock = (tag: string): string => {
    const b = block(tag);
    if (b === undefined) throw failure(`unable to import ${file}: ${tag} without an inline <${tag}> block`);
    return b;
  };
  const staticKey = (tag: string): string => {
    try {
      return staticKeyText(needBlock(tag), tag);
    } catch (e) {
      throw failure(`unable to import ${file}: ${(e as Error).message}`);
    }
  };
  let login: { user: string; password: string } | undefined;
  const loginBlock = block('auth-user-pass');
  if (loginBlock !== undefined) {
    const [user = '', password = ''] = loginBlock.split('\n');
    login = { user, password };
  }
  return {
    host: remote.host,
    port: Number(portWord),
    protocol,
    mode: type === 'tap' ? 'ethernet' : 'ip',
    ciphers: [...dataCiphers, ...(cipher ? [cipher] : []), ...(fallback ? [fallback] : [])],
    ...(auth !== undefined ? { auth } : {}),
    tlsAtMost12: tlsMax !== undefined && /^1\.[0-2]$/.test(tlsMax),
    ...(verifyX509Name ? { verifyX509Name } : {}),
    authUserPass,
    ...(login ? { login } : {}),
    routeNopull,
    ...(block('ca') !== undefined ? { ca: block('ca') } : {}),
    ...(block('cert') !== undefined ? { cert: block('cert') } : {}),
    ...(block('key') !== undefined ? { key: block('key') } : {}),
    ...(block('extra-certs') !== undefined ? { extraCerts: block('extra-certs') } : {}),
    ...(tlsAuth ? { tlsAuth: { key: staticKey('tls-auth'), ...((tlsAuthDirection ?? keyDirection) !== undefined ? { direction: (tlsAuthDirection ?? keyDirection)! } : {}) } } : {}),
    ...(tlsCrypt ? { tlsCrypt: { key: staticKey('tls-crypt') } } : {}),
  };
}
