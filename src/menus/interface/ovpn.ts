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
import { applyImport, parseImportFile, type ParsedImport } from '../certificate/import.js';
import { CERT_PATH } from '../certificate/properties.js';
import { OPENVPN, requireProgram } from '../host/programs.js';
import {
  builtinRef, commentProperty, disabledNo, disabledYes, enabledRow, ensureBuiltinRows, intOrDisabledType,
  macAddressType, nextName, randomMac, recordPrint, tlsVersionType,
} from './common.js';
import { parseOvpn, type OvpnProfile } from './ovpn-file.js';
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
  routeNopull: { name: 'route-nopull', type: boolType, default: false } as PropertyDecl<boolean>,
  // tls-auth and tls-crypt (7.17rc3+) are set only by import-ovpn-configuration (spec §2.4): a
  // static key kept sealed like a password (sensitive), the flags Ta and Tc (CLI-REF), and the
  // direction of a tls-auth key. A row has one or the other, so Tc shares Ta's flag column.
  tlsAuth: {
    name: 'tls-auth', type: boolType, access: 'ro', default: false, detail: 'never', flag: { letter: 'Ta' },
    help: 'The control channel is authenticated with tls-key (set by import-ovpn-configuration)',
  } as PropertyDecl<boolean>,
  tlsCrypt: {
    name: 'tls-crypt', type: boolType, access: 'ro', default: false, detail: 'never', flag: { letter: 'Tc', sharesColumnWith: 'Ta' },
    help: 'The control channel is encrypted with tls-key (set by import-ovpn-configuration)',
  } as PropertyDecl<boolean>,
  tlsKey: {
    name: 'tls-key', type: stringType, access: 'ro', sensitive: true, absentWhenEmpty: true,
    help: 'OpenVPN static key of tls-auth or tls-crypt',
  } as PropertyDecl<string>,
  keyDirection: { name: 'key-direction', type: intType(0, 1), access: 'ro', help: 'Direction of the tls-auth key (none: both)' } as PropertyDecl<number>,
  disabled: disabledYes,
};

export const clientEnabled = enabledRow(CLIENT.disabled);
const checkClientProgram = requireOpenvpnWhenEnabled(OVPN_CLIENT_PATH, clientEnabled);

// import-ovpn-configuration (spec §2.4)

const ovpnFileArg: ArgDecl<string> = { name: 'file-name', type: stringType, required: true, help: '.ovpn file in /file' };
const keyPassphraseArg: ArgDecl<string> = { name: 'key-passphrase', type: stringType, sensitive: true, help: 'Passphrase of the encrypted <key>' };
const ovpnUserArg: ArgDecl<string> = { name: 'ovpn-user', type: stringType, help: 'User name for auth-user-pass' };
const ovpnPasswordArg: ArgDecl<string> = { name: 'ovpn-password', type: stringType, sensitive: true, help: 'Password for auth-user-pass' };
const skipCertImportArg: ArgDecl<boolean> = { name: 'skip-cert-import', type: boolType, help: 'Import no certificate or key (the client gets certificate=none)' };

/** The RouterOS name of an OpenVPN cipher or digest name (`AES-256-GCM` → aes256-gcm), by the one table. */
const routerosName = (table: Record<string, string>, openvpn: string): string | undefined =>
  Object.keys(table).find((k) => table[k]!.toUpperCase() === openvpn.toUpperCase());

/** OpenVPN 2.6's defaults when a file names no cipher (its data-ciphers start so) or no auth. */
const OPENVPN_DEFAULT_CIPHER = 'aes256-gcm';
const OPENVPN_DEFAULT_AUTH = 'sha1';

/** Names of imported clients: `ovpn-import1`, … (RouterOS's own naming is UNCONFIRMED). */
const IMPORTED_CLIENT_PREFIX = 'ovpn-import';

/** The client row's settings from a profile; fails on a cipher or digest rospki has not. */
function importedSettings(file: string, p: OvpnProfile): RowData {
  const cipher = p.ciphers.length === 0 ? OPENVPN_DEFAULT_CIPHER : p.ciphers.map((c) => routerosName(OPENVPN_CIPHER, c)).find((c) => c !== undefined);
  if (!cipher) throw failure(`unable to import ${file}: none of its ciphers is supported (${p.ciphers.join(', ')})`);
  const auth = p.auth === undefined ? OPENVPN_DEFAULT_AUTH : routerosName(OPENVPN_AUTH, p.auth);
  if (!auth) throw failure(`unable to import ${file}: auth ${p.auth} is not supported`);
  // rospki checks that connect-to is in the server certificate's CN or SAN: only a
  // verify-x509-name naming that host asks for the same; otherwise the chain alone is checked.
  const x509 = p.verifyX509Name;
  const namesHost = x509?.type === 'name' ? x509.name === p.host : x509?.type === 'subject' && x509.name.split(/,\s*/).includes(`CN=${p.host}`);
  return {
    [CLIENT.port.name]: p.port,
    [CLIENT.protocol.name]: p.protocol,
    [CLIENT.mode.name]: p.mode,
    [CLIENT.cipher.name]: cipher,
    [CLIENT.auth.name]: auth,
    [CLIENT.tlsVersion.name]: p.tlsAtMost12 ? 'only-1.2' : 'any',
    [CLIENT.verifyServerCertificate.name]: namesHost,
    [CLIENT.routeNopull.name]: p.routeNopull,
    [CLIENT.tlsAuth.name]: p.tlsAuth !== undefined,
    [CLIENT.tlsCrypt.name]: p.tlsCrypt !== undefined,
    ...(p.tlsAuth || p.tlsCrypt ? { [CLIENT.tlsKey.name]: (p.tlsAuth ?? p.tlsCrypt)!.key } : {}),
    ...(p.tlsAuth?.direction !== undefined ? { [CLIENT.keyDirection.name]: p.tlsAuth.direction } : {}),
  };
}

/** The inline certificates and key, parsed and decrypted (outside the store), client certificate first. */
async function importedPki(file: string, p: OvpnProfile, passphrase: string): Promise<{ parsed: ParsedImport; cert?: string }> {
  if (p.key !== undefined && p.cert === undefined) throw failure(`unable to import ${file}: <key> without <cert>`);
  if (p.cert !== undefined && p.key === undefined) throw failure(`unable to import ${file}: <cert> without <key>`);
  const parsed: ParsedImport = { certificates: [], keys: [], decryptionFailures: 0 };
  // The client's certificate is named <file>_0, as the certificate of a PKCS#12 key is (import.ts).
  for (const [tag, text] of [['cert', p.cert], ['ca', p.ca], ['extra-certs', p.extraCerts], ['key', p.key]] as const) {
    if (text === undefined) continue;
    const one = await parseImportFile(`${file} <${tag}>`, Buffer.from(text, 'utf8'), tag === 'key' ? passphrase : '');
    if (tag === 'key' ? one.certificates.length > 0 : one.keys.length + one.decryptionFailures > 0) {
      throw failure(`unable to import ${file}: <${tag}> holds ${tag === 'key' ? 'a certificate' : 'a private key'}`);
    }
    if (one.decryptionFailures > 0) throw failure(`unable to import ${file}: the <key> can not be decrypted (key-passphrase)`);
    parsed.certificates.push(...one.certificates);
    parsed.keys.push(...one.keys);
  }
  if (p.cert !== undefined && parsed.certificates.length === 0) throw failure(`unable to import ${file}: <cert> holds no certificate`);
  return { parsed, ...(p.cert !== undefined ? { cert: parsed.certificates[0]!.fingerprint } : {}) };
}

const importOvpnConfiguration: CommandDecl = {
  name: 'import-ovpn-configuration',
  help: 'Add a client from a .ovpn file in /file, importing its certificates and key',
  policy: ['read', 'write'],
  args: [ovpnFileArg, keyPassphraseArg, ovpnUserArg, ovpnPasswordArg, skipCertImportArg],
  async run(call) {
    const { env, args } = call;
    const file = await env.files.match(args.get(ovpnFileArg)!);
    const profile = parseOvpn(file, (await env.files.read(file, 1 << 20)).toString('utf8'));
    const settings = importedSettings(file, profile);
    const user = args.get(ovpnUserArg) ?? profile.login?.user;
    const password = args.get(ovpnPasswordArg) ?? profile.login?.password ?? '';
    if (user === undefined) {
      throw failure(profile.authUserPass ? 'ovpn-user is needed: the file asks for a user name and password (auth-user-pass)' : 'ovpn-user is needed: an OpenVPN client logs in with a user name');
    }
    const skip = args.get(skipCertImportArg) ?? false;
    const pki = skip ? undefined : await importedPki(file, profile, args.get(keyPassphraseArg) ?? '');
    // One write: the certificates, the key and the client, or nothing (design.md rule 4).
    await env.store.write((tx) => {
      const ctx = typeContext(env, tx);
      let certificate = 0;
      if (pki) {
        const counts = applyImport(call, tx, pki.parsed, { file });
        if (counts.keysWithoutCertificate > 0) throw failure(`unable to import ${file}: the <key> is not the key of the <cert>`);
        if (pki.cert) {
          const row = tx.findBy(CERT_PATH, 'fingerprint', pki.cert)[0]!;
          if (row.data['private-key'] !== true) throw failure(`unable to import ${file}: the <key> is not the key of the <cert>`);
          certificate = row.id;
        }
      }
      const data: RowData = {
        ...newRowData(clientMenu, ctx),
        name: nextName(OVPN_CLIENT_PATH, IMPORTED_CLIENT_PREFIX)(ctx),
        [CLIENT.connectTo.name]: CLIENT.connectTo.type.parse(profile.host, ctx, CLIENT.connectTo.name),
        [CLIENT.user.name]: user,
        [CLIENT.password.name]: password,
        [CLIENT.certificate.name]: certificate,
        ...settings,
        // RouterOS connects once the configuration is imported (UNCONFIRMED; docs/compatibility.md).
        [CLIENT.disabled.name]: false,
      };
      checkRow(clientMenu, undefined, data, tx, env);
      tx.insert(OVPN_CLIENT_PATH, data);
      env.log(tx, 'system,info', `interface ovpn-client ${String(data.name)} imported from ${file} by ${call.session.user}`);
    });
    return {};
  },
};

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
    CLIENT.routeNopull,
    { name: 'add-default-route', type: boolType, default: false },
    CLIENT.keyDirection,
    CLIENT.tlsKey,
    CLIENT.disabled,
    runningProperty(clientEnabled, { letter: 'R' }),
    CLIENT.tlsAuth,
    CLIENT.tlsCrypt,
    commentProperty,
    serviceStatusProperty('OpenVPN', clientEnabled),
  ],
  commands: [importOvpnConfiguration],
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
