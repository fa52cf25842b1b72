// OpenVPN (services spec §2): `/interface ovpn-server server` (the 7.17+ list of servers),
// `/interface ovpn-server` (static per-user bindings), `/interface ovpn-client`, and
// `export-client-configuration` (a .ovpn file for a client, written to /file).
//
// The daemon runs what these rows say with Debian's openvpn (src/services/openvpn.ts) and writes
// its state back: `running` (a server is flagged I, inactive, while it does not run; a client R
// while connected) and `status` (`running`, `starting`, `not running: <why>`). Enabling a server
// or client where openvpn is not installed fails with the package to install, and changes nothing.
//
// The form of 7.16 and before keeps working (docs/compatibility.md): `set` and `get` without an
// item number act on the one server there is, `set` creates it as `ovpn-server1` (the name the
// 7.17 upgrade gives the migrated server) when there is none, and `enabled=yes|no` stands for
// `disabled=no|yes`.

import { argumentError, failure, invalidValue, noSuchItem } from '../../errors.js';
import { applyArgs, checkRow, genericCommands, newRowData, propByName, propValue, resolveItem, typeContext } from '../../menu/generic.js';
import { bareStringType, boolType, enumSetType, enumType, hostType, intType, matchChoice, refType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandCall, CommandDecl, MenuDecl, PropType, PropertyDecl } from '../../menu/types.js';
import { IpAddress, IpPrefix, ItemId, RosArray, type Value, valueToString } from '../../menu/values.js';
import { containsPrivateKey, isPem, pemDecode, pemEncode } from '../../pki/pem.js';
import type { ReadTx, RowData } from '../../store/store.js';
import { CERT_PATH } from '../certificate/properties.js';
import { OPENVPN, requireProgram } from '../host/programs.js';
import {
  builtinRef, commentProperty, disabledNo, disabledYes, enabledRow, ensureBuiltinRows, intOrDisabledType,
  macAddressType, nextName, randomMac, recordPrint, tlsVersionType,
} from './common.js';
import { isRunning, runningProperty, serviceStatusProperty } from './service-state.js';

export const OVPN_SERVER_PATH = '/interface/ovpn-server/server';
export const OVPN_BINDING_PATH = '/interface/ovpn-server';
export const OVPN_CLIENT_PATH = '/interface/ovpn-client';
/** `/ppp profile`, by path: the PPP menus are declared apart (src/menus/ppp). */
const PPP_PROFILE = '/ppp/profile';

/** The name the 7.17 upgrade gives the server it migrates from the old singleton (M-OVPN). */
export const LEGACY_SERVER_NAME = 'ovpn-server1';

/** Ciphers and HMACs in RouterOS's order (a set prints in this order, spec §2.2). */
export const CIPHERS = ['blowfish128', 'aes128-cbc', 'aes192-cbc', 'aes256-cbc', 'aes128-gcm', 'aes192-gcm', 'aes256-gcm', 'null'] as const;
export const AUTHS = ['sha1', 'md5', 'sha256', 'sha384', 'sha512', 'null'] as const;
/** v6-era cipher names still found in scripts (spec §2.2; UNCONFIRMED on 7.15+): the CBC ciphers. */
const LEGACY_CIPHERS: Record<string, string> = { aes128: 'aes128-cbc', aes192: 'aes192-cbc', aes256: 'aes256-cbc' };

/** A cipher set or one cipher, accepting the v6 names `aes128`, `aes192`, `aes256`. */
function cipherType(base: PropType<string[]> | PropType<string>): PropType<any> {
  return {
    ...base,
    parse(v: Value, ctx, name) {
      const parts = v instanceof RosArray ? v.values().map(valueToString) : valueToString(v).split(',');
      return base.parse(parts.map((p) => LEGACY_CIPHERS[p.trim()] ?? p.trim()).join(','), ctx, name);
    },
  };
}

/** An OpenVPN `route-gateway` keyword that stands for a gateway the client knows. */
const ROUTE_GATEWAY_WORDS = ['vpn_gateway', 'net_gateway', 'remote_host'];
/** A contiguous dotted IPv4 netmask (255.255.255.0). */
const isNetmask = (ip: IpAddress): boolean => ip.family === 4 && /^1*0*$/.test(Array.from(ip.bytes, (b) => b.toString(2).padStart(8, '0')).join(''));

/**
 * `push-routes` (family 4) and `push-routes-ipv6` (6): routes pushed to clients, comma
 * separated, each `network[/len] [mask] [gateway] [metric]` (services spec §2.2: ≤ 1400
 * characters, ≤ 37 routes); IPv4 takes a dotted mask when the network has no `/len`; a gateway is
 * an address of the family or OpenVPN's vpn_gateway/net_gateway/remote_host. Anything else is
 * refused where it is given: the routes end up in OpenVPN's `push "route …"` lines. Kept as given,
 * one blank between words, a prefix as its network address (`10.1.2.3/8` → `10.0.0.0/8`).
 */
function pushRoutesType(family: 4 | 6): PropType<string> {
  const route = (text: string, name: string): string => {
    const words = text.trim().split(/\s+/);
    const net = IpPrefix.parse(words[0] ?? '');
    if (!net || net.address.family !== family) throw invalidValue(name);
    const out = [words[0]!.includes('/') ? net.toString() : net.address.toString()];
    let i = 1;
    // Positional, as OpenVPN's `route`: without /len an IPv4 address after the network is its mask.
    const mask = family === 4 && !words[0]!.includes('/') && words[1] !== undefined ? IpAddress.parse(words[1]) : undefined;
    if (mask) {
      if (!isNetmask(mask)) throw invalidValue(name);
      out.push(mask.toString());
      i++;
    }
    const gw = words[i];
    if (gw !== undefined && !/^\d+$/.test(gw)) {
      const ip = IpAddress.parse(gw);
      if (!(ip?.family === family || ROUTE_GATEWAY_WORDS.includes(gw))) throw invalidValue(name);
      out.push(ip ? ip.toString() : gw);
      i++;
    }
    const metric = words[i];
    if (metric !== undefined) {
      if (!/^\d{1,10}$/.test(metric) || Number(metric) > 2 ** 31 - 1) throw invalidValue(name);
      out.push(String(Number(metric)));
      i++;
    }
    if (i !== words.length) throw invalidValue(name);
    return out.join(' ');
  };
  return {
    ...stringType,
    help: family === 4 ? 'network[/len] [mask] [gateway] [metric][,…]' : 'network/len [gateway] [metric][,…]',
    parse(v, _ctx, name) {
      const text = v instanceof RosArray ? v.values().map(valueToString).join(',') : valueToString(v);
      if (text.trim() === '') return '';
      const routes = text.split(',').map((r) => route(r, name));
      const joined = routes.join(',');
      if (routes.length > 37 || joined.length > 1400) throw invalidValue(name);
      return joined;
    },
  };
}

const profileRef = () => ({ type: refType(PPP_PROFILE), default: builtinRef(PPP_PROFILE, 'default') });
const certificateRef = (help: string): PropertyDecl => ({ name: 'certificate', type: refType(CERT_PATH, { none: true }), default: 0, help });

// ---------------------------------------------------------------------------------------------
// /interface ovpn-server server

export const SERVER = {
  name: { name: 'name', type: stringType, unique: true, default: nextName(OVPN_SERVER_PATH, 'ovpn-server'), help: 'Server name' } as PropertyDecl<string>,
  port: { name: 'port', type: intType(1, 65535), default: 1194 } as PropertyDecl<number>,
  mode: { name: 'mode', type: enumType(['ip', 'ethernet']), default: 'ip', help: 'ip (tun) or ethernet (tap)' } as PropertyDecl<string>,
  protocol: { name: 'protocol', type: enumType(['tcp', 'udp']), default: 'tcp' } as PropertyDecl<string>,
  certificate: certificateRef('Certificate the server presents') as PropertyDecl<number>,
  requireClientCertificate: { name: 'require-client-certificate', type: boolType, default: false, help: 'Ask every client for a certificate of a trusted CA' } as PropertyDecl<boolean>,
  auth: { name: 'auth', type: enumSetType(AUTHS, { nonEmpty: true }), default: ['sha1', 'md5', 'sha256', 'sha512'] } as PropertyDecl<string[]>,
  cipher: { name: 'cipher', type: cipherType(enumSetType(CIPHERS, { nonEmpty: true })), default: ['blowfish128', 'aes128-cbc'] } as PropertyDecl<string[]>,
  tlsVersion: { name: 'tls-version', type: tlsVersionType, default: 'any' } as PropertyDecl<string>,
  keepaliveTimeout: { name: 'keepalive-timeout', type: intOrDisabledType(1, 4294967295), default: 60 } as PropertyDecl<number | 'disabled'>,
  maxMtu: { name: 'max-mtu', type: intType(64, 65535), default: 1500 } as PropertyDecl<number>,
  renegSec: { name: 'reneg-sec', type: intType(0, 4294967295), default: 3600 } as PropertyDecl<number>,
  disabled: disabledYes,
};

export const serverEnabled = enabledRow(SERVER.disabled);

/**
 * Enabling a server or client needs the openvpn program (issue 13: the message names the Debian
 * package, and nothing changes). Rows already enabled are not checked again on other changes.
 */
function requireOpenvpnWhenEnabled(path: string, enabled: (row: RowData) => boolean) {
  return (row: RowData, tx: ReadTx, id: number | undefined): void => {
    if (!enabled(row)) return;
    const before = id !== undefined ? tx.get(path, id)?.data : undefined;
    if (before && enabled(before)) return;
    requireProgram(OPENVPN);
  };
}
const checkServerProgram = requireOpenvpnWhenEnabled(OVPN_SERVER_PATH, serverEnabled);

const serverBase: MenuDecl = {
  path: OVPN_SERVER_PATH,
  kind: 'list',
  help: 'OpenVPN servers',
  key: 'name',
  // set, get and add are the generic ones wrapped for the 7.16 form (below).
  verbs: ['print', 'unset', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  // Detail order of the 7.16 singleton print, then the properties 7.17+ added.
  properties: [
    SERVER.name,
    SERVER.port,
    SERVER.mode,
    SERVER.protocol,
    { name: 'netmask', type: intType(0, 32), default: 24 },
    { name: 'mac-address', type: macAddressType, default: randomMac },
    SERVER.maxMtu,
    SERVER.keepaliveTimeout,
    { name: 'default-profile', ...profileRef(), help: 'PPP profile for users without their own' },
    SERVER.certificate,
    SERVER.requireClientCertificate,
    SERVER.auth,
    SERVER.cipher,
    SERVER.tlsVersion,
    { name: 'user-auth-method', type: enumType(['pap', 'mschap2']), default: 'pap' },
    { name: 'redirect-gateway', type: enumSetType(['def1', 'disabled', 'ipv6']), default: ['disabled'] },
    SERVER.renegSec,
    { name: 'push-routes', type: pushRoutesType(4), default: '' },
    { name: 'push-routes-ipv6', type: pushRoutesType(6), default: '' },
    { name: 'enable-tun-ipv6', type: boolType, default: false },
    { name: 'ipv6-prefix-len', type: intType(1, 128), default: 64 },
    { name: 'tun-server-ipv6', type: bareStringType, default: '::' },
    { name: 'vrf', type: enumType(['main']), default: 'main' },
    SERVER.disabled,
    {
      name: 'inactive', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'I', sharesColumnWith: 'X' },
      compute: (row) => serverEnabled(row) && !isRunning(row), help: 'Enabled but not running (see status)',
    },
    runningProperty(serverEnabled),
    commentProperty,
    serviceStatusProperty('OpenVPN', serverEnabled),
  ],
  printTable: recordPrint,
  validate(row, tx, _env, id) {
    checkServerProgram(row, tx, id);
  },
  async prepare(env) {
    await ensureBuiltinRows(env, PPP_PROFILE);
  },
};

/**
 * The server a command of the pre-7.17 form (no item number) means: the only one. None → undefined
 * (set creates it); several → the item number is needed.
 */
function soleServer(tx: ReadTx, argName: string): { id: number; data: RowData } | undefined {
  const rows = tx.list(OVPN_SERVER_PATH);
  if (rows.length > 1) throw argumentError(`missing =${argName}=`);
  return rows[0];
}

/** `enabled=yes|no` (7.16 and before) as `disabled=no|yes`. */
const enabledArg: ArgDecl<boolean> = { name: 'enabled', type: boolType, help: 'Before 7.17: yes means disabled=no' };

function withoutEnabled(call: CommandCall): CommandCall['args'] {
  let args = call.args;
  const enabled = args.get(enabledArg);
  if (enabled === undefined) return args;
  args = args.only(args.names().filter((n) => n !== enabledArg.name));
  return args.has('disabled') ? args : args.with([['disabled', !enabled]]);
}

const [genericSet, genericGet, genericAdd] = genericCommands({ ...serverBase, verbs: ['set', 'get', 'add'] });

const serverSet: CommandDecl = {
  ...genericSet!,
  args: [...genericSet!.args.map((a) => (a.name === 'numbers' ? { ...a, required: false } : a)), enabledArg],
  async run(call) {
    const args = withoutEnabled(call);
    if (args.has('numbers')) return genericSet!.run({ ...call, command: genericSet!, args });
    const changes = args.entries();
    if (changes.length === 0) return {};
    // The 7.16 form: the one server, made (disabled, as the 7.17 migration makes it) when missing.
    await call.env.store.write((tx) => {
      const ctx = typeContext(call.env, tx);
      const sole = soleServer(tx, 'numbers');
      const before = sole?.data ?? { ...newRowData(serverMenu, ctx), name: LEGACY_SERVER_NAME };
      const after = applyArgs(serverMenu, before, changes, ctx, sole !== undefined);
      checkRow(serverMenu, sole?.id, after, tx, call.env);
      if (sole) tx.update(OVPN_SERVER_PATH, sole.id, after);
      else tx.insert(OVPN_SERVER_PATH, after);
      call.env.log(tx, 'system,info', `interface ovpn-server server ${String(after.name)} ${sole ? 'changed' : 'added'} by ${call.session.user}`);
    });
    return {};
  },
};

const serverAdd: CommandDecl = {
  ...genericAdd!,
  args: [...genericAdd!.args, enabledArg],
  run: (call) => genericAdd!.run({ ...call, command: genericAdd!, args: withoutEnabled(call) }),
};

const GETTABLE = serverBase.properties.filter((p) => p.access !== 'wo').map((p) => p.name);
const getNumberArg: ArgDecl<Value> = { ...genericGet!.args.find((a) => a.name === 'number')!, required: false };
/** The generic value-name, plus `enabled` (7.16). */
const getValueNameArg: ArgDecl<string> = { ...genericGet!.args.find((a) => a.name === 'value-name')!, type: enumType([...GETTABLE, 'enabled']) };

const serverGet: CommandDecl = {
  ...genericGet!,
  args: [getNumberArg, getValueNameArg],
  async run(call) {
    const number = call.args.get(getNumberArg);
    let valueName = call.args.get(getValueNameArg);
    // `get certificate`: the 7.16 form names a property where 7.17+ names a server.
    const legacy = number === undefined || (valueName === undefined && (await namesProperty(call, number)));
    if (legacy && number !== undefined) valueName = matchChoice(valueToString(number), [...GETTABLE, 'enabled'], 'value-name');
    const { row, defaults } = await call.env.store.read((tx) => {
      const ctx = typeContext(call.env, tx);
      if (!legacy) {
        const id = resolveItem(serverMenu, number!, call.session, tx);
        return { row: tx.get(OVPN_SERVER_PATH, id), defaults: {} as RowData };
      }
      return { row: soleServer(tx, 'number'), defaults: newRowData(serverMenu, ctx) };
    });
    if (valueName === 'enabled') return { ret: serverEnabled(row?.data ?? defaults) };
    if (row) {
      const args = call.args.with([['number', new ItemId(row.id)], ...(valueName ? [['value-name', valueName] as [string, unknown]] : [])]);
      return genericGet!.run({ ...call, args });
    }
    // No server yet (the 7.16 form): what a new one would have.
    if (!valueName) return { ret: RosArray.of([]) };
    const prop = propByName(serverMenu, valueName)!;
    const v = defaults[prop.name];
    return { ret: v === undefined ? undefined : prop.type.script(v, typeContext(call.env, call.env.store.view())) };
  },
};

/** Whether `get X` names a property (the 7.16 form) rather than a server. */
async function namesProperty(call: CommandCall, number: Value): Promise<boolean> {
  if (typeof number !== 'string') return false;
  const text = number.trim();
  const isServer = await call.env.store.read((tx) => tx.findBy(OVPN_SERVER_PATH, 'name', text).length > 0 || ItemId.parse(text) !== undefined || /^\d+$/.test(text));
  if (isServer) return false;
  return [...GETTABLE, 'enabled'].some((n) => n.startsWith(text));
}

// export-client-configuration (spec §2.3, §9.3)

const serverArg: ArgDecl<number> = { name: 'server', type: refType(OVPN_SERVER_PATH), help: 'Server whose settings the file carries (7.17+)' };
const serverAddressArg: ArgDecl<string> = { name: 'server-address', type: hostType, required: true, help: 'Address or DNS name clients connect to' };
const caFileArg: ArgDecl<string> = { name: 'ca-certificate', type: stringType, required: true, help: 'File in /file with the CA certificate (PEM or DER)' };
const certFileArg: ArgDecl<string> = { name: 'client-certificate', type: stringType, required: true, help: 'File in /file with the client certificate (PEM or DER)' };
/** Putting a private key into a file is reading a secret: the `sensitive` policy (issue 11). */
const keyFileArg: ArgDecl<string> = { name: 'client-cert-key', type: stringType, policy: 'sensitive', help: 'File in /file with the client key (PEM)' };

/** OpenVPN's names of RouterOS ciphers and HMACs (openvpn --show-ciphers / --show-digests). */
export const OPENVPN_CIPHER: Record<string, string> = {
  blowfish128: 'BF-CBC', 'aes128-cbc': 'AES-128-CBC', 'aes192-cbc': 'AES-192-CBC', 'aes256-cbc': 'AES-256-CBC',
  'aes128-gcm': 'AES-128-GCM', 'aes192-gcm': 'AES-192-GCM', 'aes256-gcm': 'AES-256-GCM', null: 'none',
};
export const OPENVPN_AUTH: Record<string, string> = { sha1: 'SHA1', md5: 'MD5', sha256: 'SHA256', sha384: 'SHA384', sha512: 'SHA512', null: 'none' };
/** The client is offered the strongest of what the server allows. */
export const CIPHER_PREFERENCE = ['aes256-gcm', 'aes128-gcm', 'aes192-gcm', 'aes256-cbc', 'aes192-cbc', 'aes128-cbc', 'blowfish128', 'null'];
export const AUTH_PREFERENCE = ['sha512', 'sha384', 'sha256', 'sha1', 'md5', 'null'];

export const firstOf = (preference: readonly string[], allowed: readonly string[]): string => preference.find((c) => allowed.includes(c)) ?? allowed[0]!;

/** The certificates (or key) of a /file entry as PEM text: PEM blocks of `labels`, or a DER certificate. */
async function pemFromFile(call: CommandCall, arg: ArgDecl<string>, want: 'certificate' | 'key'): Promise<string> {
  const name = await call.env.files.match(call.args.get(arg)!, arg.name);
  const data = await call.env.files.read(name, 1 << 20);
  if (isPem(data)) {
    const text = data.toString('latin1');
    const blocks = want === 'key'
      ? (containsPrivateKey(text) ? pemDecode(text).filter((b) => b.label.endsWith('PRIVATE KEY')).map((b) => b.text) : [])
      : pemDecode(text).filter((b) => b.label === 'CERTIFICATE').map((b) => pemEncode('CERTIFICATE', b.der).trim());
    if (blocks.length > 0) return blocks.join('\n');
  } else if (want === 'certificate' && data[0] === 0x30) {
    return pemEncode('CERTIFICATE', data).trim();
  }
  throw failure(`${name} holds no ${want === 'key' ? 'private key' : 'certificate'}`);
}

/** A .ovpn client file for a RouterOS server (no NCP: the cipher is named, M-OVPN limitations). */
function clientConfiguration(server: RowData, address: string, ca: string, cert: string, key: string | undefined): string {
  const ciphers = propValue(SERVER.cipher, server);
  const auths = propValue(SERVER.auth, server);
  const cipher = firstOf(CIPHER_PREFERENCE, ciphers);
  const lines = [
    'client',
    `dev ${propValue(SERVER.mode, server) === 'ethernet' ? 'tap' : 'tun'}`,
    `proto ${propValue(SERVER.protocol, server) === 'udp' ? 'udp' : 'tcp-client'}`,
    `remote ${address} ${propValue(SERVER.port, server)}`,
    'tls-client',
    'nobind',
    'persist-key',
    'persist-tun',
    'auth-user-pass',
    `auth ${OPENVPN_AUTH[firstOf(AUTH_PREFERENCE, auths)]}`,
    `cipher ${OPENVPN_CIPHER[cipher]}`,
    `data-ciphers ${CIPHER_PREFERENCE.filter((c) => ciphers.includes(c)).map((c) => OPENVPN_CIPHER[c]).join(':')}`,
    'remote-cert-tls server',
    'verb 3',
    '<ca>', ca, '</ca>',
    '<cert>', cert, '</cert>',
    ...(key ? ['<key>', key, '</key>'] : []),
  ];
  return `${lines.join('\n')}\n`;
}

const exportClientConfiguration: CommandDecl = {
  name: 'export-client-configuration',
  help: 'Write a .ovpn client configuration file to /file',
  policy: ['read', 'write'],
  args: [serverArg, serverAddressArg, caFileArg, certFileArg, keyFileArg],
  async run(call) {
    const server = await call.env.store.read((tx) => {
      const id = call.args.get(serverArg);
      const row = id !== undefined ? tx.get(OVPN_SERVER_PATH, id) : soleServer(tx, 'server');
      if (!row) throw noSuchItem();
      return row.data;
    });
    // M-OVPN: "The server must have the required client certificate option enabled for export to work."
    if (!propValue(SERVER.requireClientCertificate, server)) {
      throw failure(`require-client-certificate is not enabled on ${String(server.name)}`);
    }
    const ca = await pemFromFile(call, caFileArg, 'certificate');
    const cert = await pemFromFile(call, certFileArg, 'certificate');
    const key = call.args.has(keyFileArg) ? await pemFromFile(call, keyFileArg, 'key') : undefined;
    const certFile = call.args.get(certFileArg)!;
    const fileName = `${certFile.replace(/\.[A-Za-z0-9]+$/, '')}.ovpn`;
    const written = await call.env.files.write(fileName, clientConfiguration(server, call.args.get(serverAddressArg)!, ca, cert, key), call.env.clock.now());
    await call.env.store.write((tx) => call.env.log(tx, 'system,info', `ovpn client configuration ${written} written by ${call.session.user}`));
    return {};
  },
};

export const serverMenu: MenuDecl = { ...serverBase, commands: [serverSet, serverGet, serverAdd, exportClientConfiguration] };

// ---------------------------------------------------------------------------------------------
// /interface ovpn-server: static interfaces for users (spec §2.4). rospki runs the OpenVPN
// control plane only (no data plane, no per-user interface), so no row is ever dynamic (D) or
// running (R).

export const bindingMenu: MenuDecl = {
  path: OVPN_BINDING_PATH,
  kind: 'list',
  help: 'OpenVPN server interfaces of users',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  columns: ['name', 'user', 'mtu', 'client-address', 'uptime', 'encoding'],
  properties: [
    { name: 'name', type: stringType, unique: true, default: nextName(OVPN_BINDING_PATH, 'ovpn-in'), help: 'Interface name' },
    { name: 'user', type: stringType, required: true, help: 'PPP user this interface is for' },
    { name: 'mtu', type: intType(0, 65535), access: 'ro' },
    { name: 'client-address', type: bareStringType, access: 'ro' },
    { name: 'uptime', type: bareStringType, access: 'ro' },
    { name: 'encoding', type: bareStringType, access: 'ro' },
    disabledNo,
    { name: 'dynamic', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'D' }, compute: () => false },
    { name: 'running', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'R' }, compute: () => false },
    commentProperty,
  ],
};

// ---------------------------------------------------------------------------------------------
// /interface ovpn-client (spec §2.4)

/** The properties the daemon reads to connect (src/services/openvpn.ts). */
export const CLIENT = {
  connectTo: { name: 'connect-to', type: hostType, required: true, help: 'Address or DNS name of the server' } as PropertyDecl<string>,
  port: { name: 'port', type: intType(1, 65535), default: 1194 } as PropertyDecl<number>,
  mode: { name: 'mode', type: enumType(['ip', 'ethernet']), default: 'ip' } as PropertyDecl<string>,
  protocol: { name: 'protocol', type: enumType(['tcp', 'udp']), default: 'tcp' } as PropertyDecl<string>,
  user: { name: 'user', type: stringType, required: true, help: 'PPP user name (at most 27 characters)' } as PropertyDecl<string>,
  password: { name: 'password', type: stringType, default: '', sensitive: true, help: 'PPP password' } as PropertyDecl<string>,
  certificate: certificateRef('Certificate sent when the server asks for one') as PropertyDecl<number>,
  verifyServerCertificate: {
    name: 'verify-server-certificate', type: boolType, default: false, help: 'Check the server certificate and that it names connect-to',
  } as PropertyDecl<boolean>,
  tlsVersion: { name: 'tls-version', type: tlsVersionType, default: 'any' } as PropertyDecl<string>,
  auth: { name: 'auth', type: enumType(AUTHS), default: 'sha1' } as PropertyDecl<string>,
  cipher: { name: 'cipher', type: cipherType(enumType(CIPHERS)), default: 'blowfish128' } as PropertyDecl<string>,
  disabled: disabledYes,
};

export const clientEnabled = enabledRow(CLIENT.disabled);
const checkClientProgram = requireOpenvpnWhenEnabled(OVPN_CLIENT_PATH, clientEnabled);

export const clientMenu: MenuDecl = {
  path: OVPN_CLIENT_PATH,
  kind: 'list',
  help: 'OpenVPN clients',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  properties: [
    { name: 'name', type: stringType, unique: true, default: nextName(OVPN_CLIENT_PATH, 'ovpn-out'), help: 'Interface name' },
    { name: 'mac-address', type: macAddressType, default: randomMac },
    { name: 'max-mtu', type: intType(64, 65535), default: 1500 },
    CLIENT.connectTo,
    CLIENT.port,
    CLIENT.mode,
    CLIENT.protocol,
    CLIENT.user,
    CLIENT.password,
    { name: 'profile', ...profileRef() },
    CLIENT.certificate,
    CLIENT.verifyServerCertificate,
    CLIENT.tlsVersion,
    CLIENT.auth,
    CLIENT.cipher,
    { name: 'use-peer-dns', type: enumType(['yes', 'no', 'exclusively']), default: 'yes' },
    { name: 'route-nopull', type: boolType, default: false },
    { name: 'add-default-route', type: boolType, default: false },
    CLIENT.disabled,
    runningProperty(clientEnabled, { letter: 'R' }),
    commentProperty,
    serviceStatusProperty('OpenVPN', clientEnabled),
  ],
  printTable: recordPrint,
  validate(row, tx, _env, id) {
    // Usernames are limited to 27 characters, passwords to 1000 (M-OVPN).
    if (String(row.user ?? '').length > 27) throw failure('user name is longer than 27 characters');
    if (String(row.password ?? '').length > 1000) throw failure('password is longer than 1000 characters');
    checkClientProgram(row, tx, id);
  },
  async prepare(env) {
    await ensureBuiltinRows(env, PPP_PROFILE);
  },
};

export const OVPN_MENUS: readonly MenuDecl[] = [bindingMenu, serverMenu, clientMenu];
