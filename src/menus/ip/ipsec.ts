// IPsec (services spec §4): `/ip ipsec identity` (whose `certificate` is a LIST of certificates
// and `remote-certificate` one), `peer`, `profile` and `proposal` (built-in `default`),
// `policy` (built-in template) with its `group`s, and `mode-config` (built-in `request-only`).
// All print as records, like the `peer` capture of spec §4.9 and the `policy` one of §4.5.
//
// IKE runs on strongSwan's charon, configured over vici by src/services/ipsec/ (issue 13). The
// daemon writes what runs back into these menus: peer and identity `status`, policy flag A,
// and the dynamic rows of `active-peers` and `installed-sa`. Enabling a peer needs charon
// installed (CHARON below); without it the command fails naming the Debian package.

import fs from 'node:fs';
import { failure, invalidValue } from '../../errors.js';
import {
  boolType, dateType, durationType, enumSetType, enumType, intType, ipAddressType, prefixListType, refListType, refType, stringListType, stringType, bareStringType,
} from '../../menu/proptypes.js';
import type { MenuDecl, PropType, PropertyDecl, TypeContext } from '../../menu/types.js';
import type { RowData } from '../../store/store.js';
import { IpAddress, IpPrefix, Duration, valueToString } from '../../menu/values.js';
import { CERT_PATH } from '../certificate/properties.js';
import {
  addressListType, builtinRef, commentProperty, defaultFlag, disabledNo, enabledRow, ensureBuiltinRows, nextName,
  orderedEnumListType, quietBoolType, recordPrint, refuseBuiltinRemove,
} from '../interface/common.js';

export const IPSEC_GROUP_PATH = '/ip/ipsec/policy/group';
export const IPSEC_PROPOSAL_PATH = '/ip/ipsec/proposal';
export const IPSEC_PROFILE_PATH = '/ip/ipsec/profile';
export const IPSEC_PEER_PATH = '/ip/ipsec/peer';
export const IPSEC_MODE_CONFIG_PATH = '/ip/ipsec/mode-config';
export const IPSEC_IDENTITY_PATH = '/ip/ipsec/identity';
export const IPSEC_POLICY_PATH = '/ip/ipsec/policy';
export const IPSEC_SETTINGS_PATH = '/ip/ipsec/settings';
export const IPSEC_ACTIVE_PEERS_PATH = '/ip/ipsec/active-peers';
export const IPSEC_INSTALLED_SA_PATH = '/ip/ipsec/installed-sa';

/**
 * The IKE daemon rospki runs for IPsec: strongSwan's charon from Debian. ROSPKI_CHARON names
 * another program (tests use a path that does not exist to see the refusal).
 */
export const CHARON = {
  program: () => process.env.ROSPKI_CHARON || '/usr/lib/ipsec/charon',
  package: 'strongswan-charon',
} as const;

export function charonInstalled(): boolean {
  try {
    fs.accessSync(CHARON.program(), fs.constants.X_OK);
    return fs.statSync(CHARON.program()).isFile();
  } catch {
    return false;
  }
}

/** What a user sees when IPsec is enabled on a host without charon. */
export const CHARON_MISSING = `IPsec needs strongSwan's charon, which is not installed (Debian package ${CHARON.package})`;

/** The menus with built-in rows, in the order their rows must exist (a policy names a group and a proposal). */
const BUILTIN_PATHS = [IPSEC_SETTINGS_PATH, IPSEC_GROUP_PATH, IPSEC_PROPOSAL_PATH, IPSEC_PROFILE_PATH, IPSEC_MODE_CONFIG_PATH, IPSEC_POLICY_PATH];
const prepare = async (env: Parameters<NonNullable<MenuDecl['prepare']>>[0]): Promise<void> => ensureBuiltinRows(env, ...BUILTIN_PATHS);

const VERBS = ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'comment', 'export'];
const VERBS_WITH_DISABLE = [...VERBS, 'enable', 'disable'];

const DH_GROUPS = ['modp8192', 'modp6144', 'modp4096', 'modp3072', 'modp2048', 'modp1536', 'modp1024', 'modp768', 'ecp521', 'ecp384', 'ecp256', 'ec2n185', 'ec2n155', 'x25519'];
/** Phase 1 ciphers, strongest first, so the default prints `aes-128,3des` (spec §4.3). */
const PROFILE_CIPHERS = ['aes-256', 'aes-192', 'aes-128', 'camellia-256', 'camellia-192', 'camellia-128', 'blowfish', '3des', 'des'];
/** Phase 2 ciphers, so the default prints `aes-256-cbc,aes-192-cbc,aes-128-cbc` (spec §4.4). */
const PROPOSAL_CIPHERS = [
  'aes-256-cbc', 'aes-192-cbc', 'aes-128-cbc', 'aes-256-ctr', 'aes-192-ctr', 'aes-128-ctr', 'aes-256-gcm', 'aes-192-gcm', 'aes-128-gcm',
  'camellia-256', 'camellia-192', 'camellia-128', 'chacha20poly1305', 'blowfish', 'twofish', '3des', 'des', 'null',
];
const HASHES = ['sha512', 'sha384', 'sha256', 'sha1', 'md5'];

const nameProperty = (path: string, prefix?: string): PropertyDecl<string> => ({
  name: 'name', type: stringType, unique: true, required: prefix === undefined, ...(prefix ? { default: nextName(path, prefix) } : {}),
});

// ---------------------------------------------------------------------------------------------
// Value types of these menus

/** A time as every time property takes it (never negative, durationType's range). */
const anyTime = durationType();

/** `2m`, or `disable-dpd` (profile dpd-interval). */
const dpdIntervalType: PropType<number | 'disable-dpd'> = {
  help: 'time | disable-dpd',
  parse(v, ctx, name) {
    const t = valueToString(v).trim();
    if (t !== '' && 'disable-dpd'.startsWith(t)) return 'disable-dpd';
    return anyTime.parse(v, ctx, name);
  },
  display: (v) => (v === 'disable-dpd' ? v : new Duration(v).toString()),
  api: (v) => (v === 'disable-dpd' ? v : new Duration(v).toString()),
  script: (v) => (v === 'disable-dpd' ? v : new Duration(v)),
  choices: () => ['disable-dpd'],
};

/** One prefix `10.0.0.0/8` (a bare address is a host prefix), kept as its network address. */
const prefixType: PropType<string> = {
  help: 'IP/prefix',
  parse(v, _ctx, name) {
    const p = v instanceof IpPrefix ? v : IpPrefix.parse(valueToString(v).trim());
    if (!p) throw invalidValue(name);
    return p.toString();
  },
  display: (v) => v,
  api: (v) => v,
  script: (v) => IpPrefix.parse(v) ?? v,
};

/** A peer's `address`: a prefix, or a DNS name (spec §4.2). */
const prefixOrNameType: PropType<string> = {
  ...prefixType,
  help: 'IP/prefix | DNS name',
  parse(v, ctx, name) {
    const t = valueToString(v).trim();
    if (/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(t) && /[A-Za-z]/.test(t)) return t.toLowerCase();
    return prefixType.parse(v, ctx, name);
  },
};

/** An IPv4 or IPv6 address. */
const addressType = ipAddressType;

/** A port `500`, or `any`. */
const portOrAnyType: PropType<number | 'any'> = {
  help: 'integer: 0..65535 | any',
  parse(v, _ctx, name) {
    const t = valueToString(v).trim();
    if (t !== '' && 'any'.startsWith(t)) return 'any';
    if (!/^\d+$/.test(t) || Number(t) > 65535) throw invalidValue(name);
    return Number(t);
  },
  display: (v) => String(v),
  api: (v) => String(v),
  script: (v) => v,
  choices: () => ['any'],
};

const PROTOCOLS = ['all', 'icmp', 'igmp', 'tcp', 'udp', 'gre', 'ipsec-esp', 'ipsec-ah', 'icmpv6', 'ipv6-encap', 'ospf', 'sctp', 'l2tp'];
/** A protocol by name or number (0..255). */
const protocolType: PropType<string> = {
  help: `${PROTOCOLS.join(' | ')} | integer: 0..255`,
  parse(v, ctx, name) {
    const t = valueToString(v).trim();
    if (/^\d+$/.test(t)) {
      if (Number(t) > 255) throw invalidValue(name);
      return t;
    }
    return enumType(PROTOCOLS).parse(t, ctx, name);
  },
  display: (v) => v,
  api: (v) => v,
  script: (v) => v,
  choices: () => [...PROTOCOLS],
};

/**
 * An IKE identity (spec §4.1 my-id, remote-id): `auto`, `address:<ip>`, `fqdn:<name>`,
 * `user-fqdn:<a@b>`, `key-id:<text>`, plus `ignore` for remote-id.
 */
function ikeIdType(keywords: readonly string[]): PropType<string> {
  return {
    ...bareStringType,
    help: `${keywords.join(' | ')} | address:IP | fqdn:name | user-fqdn:user@name | key-id:text`,
    parse(v, _ctx, name) {
      const t = valueToString(v).trim();
      const keyword = keywords.find((k) => t !== '' && k.startsWith(t));
      if (keyword) return keyword;
      const m = /^(address|fqdn|user-fqdn|key-id):(.+)$/.exec(t);
      if (!m) throw invalidValue(name);
      if (m[1] === 'address' && !IpAddress.parse(m[2]!)) throw invalidValue(name);
      if (m[1] === 'user-fqdn' && !m[2]!.includes('@')) throw invalidValue(name);
      return `${m[1]}:${m[1] === 'address' ? IpAddress.parse(m[2]!)!.toString() : m[2]}`;
    },
    choices: () => [...keywords, 'address:', 'fqdn:', 'user-fqdn:', 'key-id:'],
  };
}

// ---------------------------------------------------------------------------------------------
// /ip ipsec settings (RouterOS's three, and where rospki's charon listens)

/** UDP ports of IKE (RFC 7296 §2: 500, and 4500 once NAT is found, RFC 3948). A rospki addition: RouterOS's are fixed. */
export const SETTINGS = {
  ikePort: { name: 'ike-port', type: intType(1, 65535), default: 500, help: 'UDP port IKE listens on (rospki)' } as PropertyDecl<number>,
  natTPort: { name: 'nat-t-port', type: intType(1, 65535), default: 4500, help: 'UDP port of IKE and ESP behind NAT (rospki)' } as PropertyDecl<number>,
};

export const ipsecSettingsMenu: MenuDecl = {
  path: IPSEC_SETTINGS_PATH,
  kind: 'singleton',
  help: 'IPsec settings',
  verbs: ['print', 'get', 'set', 'export'],
  properties: [
    { name: 'accounting', type: boolType, default: true },
    { name: 'interim-update', type: durationType(), default: 0 },
    { name: 'xauth-use-radius', type: boolType, default: false },
    SETTINGS.ikePort,
    SETTINGS.natTPort,
  ],
  prepare,
};

// ---------------------------------------------------------------------------------------------
// /ip ipsec policy group, proposal, profile

export const ipsecGroupMenu: MenuDecl = {
  path: IPSEC_GROUP_PATH,
  kind: 'list',
  help: 'IPsec policy template groups',
  key: 'name',
  verbs: VERBS,
  properties: [nameProperty(IPSEC_GROUP_PATH), commentProperty, defaultFlag],
  defaults: [{ name: 'default' }],
  printTable: recordPrint,
  beforeRemove: refuseBuiltinRemove(IPSEC_GROUP_PATH, 'group'),
  prepare,
};

export const PROPOSAL = {
  authAlgorithms: { name: 'auth-algorithms', type: enumSetType([...HASHES, 'null'], { nonEmpty: true }), default: ['sha1'] } as PropertyDecl<string[]>,
  encAlgorithms: { name: 'enc-algorithms', type: enumSetType(PROPOSAL_CIPHERS, { nonEmpty: true }), default: ['aes-256-cbc', 'aes-192-cbc', 'aes-128-cbc'] } as PropertyDecl<string[]>,
  lifetime: { name: 'lifetime', type: durationType(), default: 30 * 60e9 } as PropertyDecl<number>,
  pfsGroup: { name: 'pfs-group', type: enumType(['none', ...DH_GROUPS]), default: 'modp1024' } as PropertyDecl<string>,
};

export const ipsecProposalMenu: MenuDecl = {
  path: IPSEC_PROPOSAL_PATH,
  kind: 'list',
  help: 'IPsec phase 2 proposals',
  key: 'name',
  verbs: VERBS_WITH_DISABLE,
  properties: [
    nameProperty(IPSEC_PROPOSAL_PATH),
    PROPOSAL.authAlgorithms,
    PROPOSAL.encAlgorithms,
    PROPOSAL.lifetime,
    { name: 'lifebytes', type: intType(0, 2 ** 53), default: 0 },
    PROPOSAL.pfsGroup,
    disabledNo,
    commentProperty,
    defaultFlag,
  ],
  defaults: [{ name: 'default' }],
  printTable: recordPrint,
  beforeRemove: refuseBuiltinRemove(IPSEC_PROPOSAL_PATH, 'proposal'),
  prepare,
};

export const PROFILE = {
  hashAlgorithm: { name: 'hash-algorithm', type: enumType(HASHES), default: 'sha1' } as PropertyDecl<string>,
  prfAlgorithm: { name: 'prf-algorithm', type: enumType(['auto', ...HASHES]), default: 'auto' } as PropertyDecl<string>,
  encAlgorithm: { name: 'enc-algorithm', type: enumSetType(PROFILE_CIPHERS, { nonEmpty: true }), default: ['aes-128', '3des'] } as PropertyDecl<string[]>,
  dhGroup: { name: 'dh-group', type: enumSetType(DH_GROUPS, { nonEmpty: true }), default: ['modp2048', 'modp1024'] } as PropertyDecl<string[]>,
  lifetime: { name: 'lifetime', type: durationType(), default: 86400e9 } as PropertyDecl<number>,
  dpdInterval: { name: 'dpd-interval', type: dpdIntervalType, default: 120e9 } as PropertyDecl<number | 'disable-dpd'>,
  dpdMaximumFailures: { name: 'dpd-maximum-failures', type: intType(1, 100), default: 5 } as PropertyDecl<number>,
};

export const ipsecProfileMenu: MenuDecl = {
  path: IPSEC_PROFILE_PATH,
  kind: 'list',
  help: 'IPsec phase 1 profiles',
  key: 'name',
  verbs: VERBS,
  properties: [
    nameProperty(IPSEC_PROFILE_PATH),
    PROFILE.hashAlgorithm,
    PROFILE.prfAlgorithm,
    PROFILE.encAlgorithm,
    PROFILE.dhGroup,
    PROFILE.lifetime,
    { name: 'lifebytes', type: intType(0, 2 ** 53), default: 0 },
    { name: 'proposal-check', type: enumType(['claim', 'exact', 'obey', 'strict']), default: 'obey' },
    { name: 'nat-traversal', type: boolType, default: true },
    PROFILE.dpdInterval,
    PROFILE.dpdMaximumFailures,
    { name: 'ppk', type: enumType(['no', 'psk', 'psk-ike-initial', 'qkd']), default: 'no' },
    commentProperty,
    defaultFlag,
  ],
  defaults: [{ name: 'default' }],
  printTable: recordPrint,
  beforeRemove: refuseBuiltinRemove(IPSEC_PROFILE_PATH, 'profile'),
  prepare,
};

/**
 * What the IPsec daemon says about a row (peer, identity): written by the service while it
 * runs, absent otherwise (a rospki addition; RouterOS shows state only in active-peers).
 */
const daemonStatus: PropertyDecl<string> = { name: 'status', type: stringType, access: 'ro', help: 'What the IKE daemon does with it (rospki)' };

/** Enabling IPsec needs charon (issue 13): refused, nothing changed, when it is not installed. */
function requireCharon(disabled: PropertyDecl<boolean>) {
  return (row: RowData): void => {
    if (enabledRow(disabled)(row) && !charonInstalled()) throw failure(CHARON_MISSING);
  };
}

// ---------------------------------------------------------------------------------------------
// /ip ipsec peer (spec §4.2: no certificate properties in v7)

const peerDisabled = disabledNo;

export const PEER = {
  address: { name: 'address', type: prefixOrNameType, help: 'Address, prefix or DNS name of the peer' } as PropertyDecl<string>,
  localAddress: { name: 'local-address', type: addressType } as PropertyDecl<string>,
  port: { name: 'port', type: intType(1, 65535), help: 'UDP port (500 when not set)' } as PropertyDecl<number>,
  profile: { name: 'profile', type: refType(IPSEC_PROFILE_PATH), default: builtinRef(IPSEC_PROFILE_PATH, 'default') } as PropertyDecl<number>,
  exchangeMode: { name: 'exchange-mode', type: enumType(['main', 'aggressive', 'base', 'ike2']), default: 'main' } as PropertyDecl<string>,
  passive: { name: 'passive', type: quietBoolType, default: false, help: 'Only answer, never start' } as PropertyDecl<boolean>,
  disabled: peerDisabled,
};

export const ipsecPeerMenu: MenuDecl = {
  path: IPSEC_PEER_PATH,
  kind: 'list',
  help: 'IPsec peers',
  key: 'name',
  verbs: VERBS_WITH_DISABLE,
  // The order of the 7.x record print (spec §4.9: `name=… address=… profile=… exchange-mode=… send-initial-contact=…`).
  properties: [
    nameProperty(IPSEC_PEER_PATH, 'peer'),
    PEER.address,
    PEER.localAddress,
    PEER.port,
    PEER.profile,
    PEER.exchangeMode,
    PEER.passive,
    { name: 'send-initial-contact', type: boolType, default: true },
    { name: 'ppk-secret', type: stringType, sensitive: true, help: 'Post-quantum pre-shared key (7.21+)' },
    peerDisabled,
    { name: 'dynamic', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'D' }, compute: () => false },
    { name: 'responder', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'R' }, compute: (row) => row.passive === true },
    commentProperty,
    daemonStatus,
  ],
  printTable: recordPrint,
  validate: requireCharon(peerDisabled),
  prepare,
};

// ---------------------------------------------------------------------------------------------
// /ip ipsec mode-config (spec §4.6)

/**
 * `responder` is yes for added rows: RouterOS exports of road-warrior servers (the manual's
 * `mode-config add address-pool=… name=rw-cfg split-include=…`) never set it, and such a row
 * hands out addresses; the built-in `request-only` is the asking side (responder=no).
 */
export const MODE_CONFIG = {
  responder: { name: 'responder', type: boolType, default: true, help: 'Hand out addresses (yes) or ask for one (no)' } as PropertyDecl<boolean>,
  addressPool: { name: 'address-pool', type: bareStringType, help: '/ip pool whose ranges are handed out' } as PropertyDecl<string>,
  address: { name: 'address', type: addressType, help: 'The one address handed out (without address-pool)' } as PropertyDecl<string>,
  addressPrefixLength: { name: 'address-prefix-length', type: intType(1, 128) } as PropertyDecl<number>,
  splitInclude: { name: 'split-include', type: prefixListType } as PropertyDecl<string[]>,
  staticDns: { name: 'static-dns', type: addressListType } as PropertyDecl<string[]>,
  systemDns: { name: 'system-dns', type: boolType, default: true } as PropertyDecl<boolean>,
};

export const ipsecModeConfigMenu: MenuDecl = {
  path: IPSEC_MODE_CONFIG_PATH,
  kind: 'list',
  help: 'IPsec mode-config (address and DNS push)',
  key: 'name',
  verbs: VERBS,
  properties: [
    nameProperty(IPSEC_MODE_CONFIG_PATH),
    MODE_CONFIG.responder,
    MODE_CONFIG.addressPool,
    MODE_CONFIG.address,
    MODE_CONFIG.addressPrefixLength,
    MODE_CONFIG.splitInclude,
    { name: 'split-dns', type: stringListType },
    MODE_CONFIG.staticDns,
    MODE_CONFIG.systemDns,
    { name: 'src-address-list', type: bareStringType },
    { name: 'connection-mark', type: bareStringType },
    commentProperty,
    defaultFlag,
  ],
  defaults: [{ name: 'request-only', responder: false }],
  printTable: recordPrint,
  beforeRemove: refuseBuiltinRemove(IPSEC_MODE_CONFIG_PATH, 'mode-config'),
  prepare,
};

// ---------------------------------------------------------------------------------------------
// /ip ipsec identity (spec §4.1, §4.7)

export const AUTH_METHODS = ['pre-shared-key', 'digital-signature', 'eap', 'eap-radius', 'pre-shared-key-xauth', 'rsa-key', 'rsa-signature-hybrid'] as const;

const identityDisabled = disabledNo;

export const IDENTITY = {
  peer: { name: 'peer', type: refType(IPSEC_PEER_PATH), required: true, help: 'Peer this identity is for' } as PropertyDecl<number>,
  authMethod: { name: 'auth-method', type: enumType(AUTH_METHODS), default: 'pre-shared-key' } as PropertyDecl<string>,
  certificate: { name: 'certificate', type: refListType(CERT_PATH), default: [], help: 'Own certificate(s), with their keys (digital-signature, eap-tls, eap-radius)' } as PropertyDecl<number[]>,
  remoteCertificate: { name: 'remote-certificate', type: refType(CERT_PATH, { none: true, onRemove: 'disable' }), help: 'The certificate the peer must present (match-by=certificate)' } as PropertyDecl<number>,
  matchBy: { name: 'match-by', type: enumType(['remote-id', 'certificate']), default: 'remote-id' } as PropertyDecl<string>,
  myId: { name: 'my-id', type: ikeIdType(['auto', 'dn']), default: 'auto' } as PropertyDecl<string>,
  remoteId: { name: 'remote-id', type: ikeIdType(['auto', 'dn', 'ignore']), default: 'auto' } as PropertyDecl<string>,
  generatePolicy: { name: 'generate-policy', type: enumType(['no', 'port-override', 'port-strict']), default: 'no' } as PropertyDecl<string>,
  policyTemplateGroup: { name: 'policy-template-group', type: refType(IPSEC_GROUP_PATH, { none: true }), default: builtinRef(IPSEC_GROUP_PATH, 'default') } as PropertyDecl<number>,
  secret: { name: 'secret', type: stringType, default: '', sensitive: true, help: 'Pre-shared key (0x… for hex)' } as PropertyDecl<string>,
  modeConfig: { name: 'mode-config', type: refType(IPSEC_MODE_CONFIG_PATH, { none: true }), default: 0 } as PropertyDecl<number>,
  disabled: identityDisabled,
};

export const ipsecIdentityMenu: MenuDecl = {
  path: IPSEC_IDENTITY_PATH,
  kind: 'list',
  help: 'IPsec identities: how peers authenticate',
  verbs: VERBS_WITH_DISABLE,
  properties: [
    IDENTITY.peer,
    IDENTITY.authMethod,
    IDENTITY.certificate,
    IDENTITY.remoteCertificate,
    IDENTITY.matchBy,
    IDENTITY.myId,
    IDENTITY.remoteId,
    { name: 'eap-methods', type: orderedEnumListType(['eap-tls', 'eap-ttls', 'eap-peap', 'eap-mschapv2']), default: ['eap-tls'] },
    { name: 'username', type: stringType },
    { name: 'password', type: stringType, sensitive: true },
    IDENTITY.secret,
    IDENTITY.generatePolicy,
    IDENTITY.policyTemplateGroup,
    IDENTITY.modeConfig,
    { name: 'notrack-chain', type: stringType, default: '' },
    identityDisabled,
    { name: 'dynamic', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'D' }, compute: () => false },
    commentProperty,
    daemonStatus,
  ],
  printTable: recordPrint,
  prepare,
};

// ---------------------------------------------------------------------------------------------
// /ip ipsec policy (spec §4.5)

const policyDisabled = disabledNo;

export const POLICY = {
  peer: { name: 'peer', type: refType(IPSEC_PEER_PATH, { none: true }), help: 'Peer whose SAs carry the traffic' } as PropertyDecl<number>,
  group: { name: 'group', type: refType(IPSEC_GROUP_PATH), default: builtinRef(IPSEC_GROUP_PATH, 'default') } as PropertyDecl<number>,
  srcAddress: { name: 'src-address', type: prefixType } as PropertyDecl<string>,
  srcPort: { name: 'src-port', type: portOrAnyType, default: 'any' } as PropertyDecl<number | 'any'>,
  dstAddress: { name: 'dst-address', type: prefixType } as PropertyDecl<string>,
  dstPort: { name: 'dst-port', type: portOrAnyType, default: 'any' } as PropertyDecl<number | 'any'>,
  protocol: { name: 'protocol', type: protocolType, default: 'all' } as PropertyDecl<string>,
  action: { name: 'action', type: enumType(['encrypt', 'discard', 'none']), default: 'encrypt' } as PropertyDecl<string>,
  tunnel: { name: 'tunnel', type: boolType, default: false } as PropertyDecl<boolean>,
  proposal: { name: 'proposal', type: refType(IPSEC_PROPOSAL_PATH), default: builtinRef(IPSEC_PROPOSAL_PATH, 'default') } as PropertyDecl<number>,
  template: { name: 'template', type: quietBoolType, default: false, flag: { letter: 'T' } } as PropertyDecl<boolean>,
  /** A policy the IPsec service generated from a template for a connected peer (generate-policy): flag D. */
  dynamic: { name: 'dynamic', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'D' } } as PropertyDecl<boolean>,
  disabled: policyDisabled,
};

const refuseDefaultPolicyRemove = refuseBuiltinRemove(IPSEC_POLICY_PATH, 'policy');

export const ipsecPolicyMenu: MenuDecl = {
  path: IPSEC_POLICY_PATH,
  kind: 'list',
  help: 'IPsec policies',
  verbs: VERBS_WITH_DISABLE,
  properties: [
    POLICY.peer,
    POLICY.group,
    POLICY.srcAddress,
    POLICY.srcPort,
    POLICY.dstAddress,
    POLICY.dstPort,
    POLICY.protocol,
    POLICY.action,
    { name: 'level', type: enumType(['require', 'use', 'unique']), default: 'require' },
    { name: 'ipsec-protocols', type: enumSetType(['esp', 'ah'], { nonEmpty: true }), default: ['esp'] },
    POLICY.tunnel,
    { name: 'sa-src-address', type: addressType },
    { name: 'sa-dst-address', type: addressType },
    POLICY.proposal,
    POLICY.template,
    policyDisabled,
    POLICY.dynamic,
    // Set by the IPsec service while a CHILD_SA of this policy is installed (spec §4.5 flag A).
    { name: 'active', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'A' } },
    commentProperty,
    defaultFlag,
  ],
  defaults: [{ template: true, 'src-address': '::/0', 'dst-address': '::/0' }],
  printTable: recordPrint,
  // Generated policies come and go with their peer's SA (the service keeps them).
  validate(row) {
    if (row[POLICY.dynamic.name] === true) throw failure('can not change dynamic entry');
  },
  beforeRemove(id, tx, env) {
    if (tx.get(IPSEC_POLICY_PATH, id)?.data[POLICY.dynamic.name] === true) throw failure('can not remove dynamic entry');
    refuseDefaultPolicyRemove(id, tx, env);
  },
  prepare,
};

// ---------------------------------------------------------------------------------------------
// /ip ipsec active-peers and installed-sa: dynamic rows the IPsec service keeps from charon's
// list-sas (read-only; gone when the daemon stops). Times are stored as instants of the router
// clock and shown relative to now, so the rows change only when an SA does.

const since = (field: string) => (row: RowData, ctx: TypeContext): number | undefined =>
  (typeof row[field] === 'number' ? Math.max(0, Math.floor((ctx.clock.now() - (row[field] as number)) / 1000)) * 1e9 : undefined);
const until = (field: string) => (row: RowData, ctx: TypeContext): number | undefined =>
  (typeof row[field] === 'number' ? Math.max(0, Math.floor(((row[field] as number) - ctx.clock.now()) / 1000)) * 1e9 : undefined);
const roCount = (name: string): PropertyDecl<number> => ({ name, type: intType(0, 2 ** 53), access: 'ro' });
const roText = (name: string, help?: string): PropertyDecl<string> => ({ name, type: stringType, access: 'ro', ...(help ? { help } : {}) });

export const ipsecActivePeersMenu: MenuDecl = {
  path: IPSEC_ACTIVE_PEERS_PATH,
  kind: 'list',
  help: 'IKE SAs that are up or being set up',
  verbs: ['print', 'get', 'find'],
  columns: ['id', 'state', 'uptime', 'ph2-total', 'remote-address', 'dynamic-address'],
  properties: [
    roText('id', 'The peer\'s IKE identity'),
    roText('peer', '/ip ipsec peer it belongs to'),
    roText('local-address'),
    { name: 'port', type: intType(0, 65535), access: 'ro' },
    roText('remote-address'),
    roText('state'),
    { name: 'side', type: enumType(['initiator', 'responder']), access: 'ro' },
    { name: 'established', type: dateType, access: 'ro', detail: 'never' },
    { name: 'uptime', type: durationType(), access: 'ro', compute: since('established') },
    roCount('ph2-total'),
    roText('dynamic-address'),
    roText('spii'),
    roText('spir'),
    roCount('rx-bytes'),
    roCount('tx-bytes'),
    roCount('rx-packets'),
    roCount('tx-packets'),
    { name: 'responder', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'R' }, compute: (row) => row.side === 'responder' },
    { name: 'natt-peer', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'N' } },
  ],
};

export const ipsecInstalledSaMenu: MenuDecl = {
  path: IPSEC_INSTALLED_SA_PATH,
  kind: 'list',
  help: 'IPsec SAs installed by IKE',
  verbs: ['print', 'get', 'find'],
  columns: ['spi', 'state', 'src-address', 'dst-address', 'auth-algorithm', 'enc-algorithm', 'enc-key-size'],
  properties: [
    roText('spi'),
    roText('src-address'),
    roText('dst-address'),
    roText('state'),
    roText('auth-algorithm'),
    roText('enc-algorithm'),
    { name: 'enc-key-size', type: intType(0, 65535), access: 'ro' },
    roText('mode'),
    roText('peer'),
    { name: 'installed', type: dateType, access: 'ro', detail: 'never' },
    { name: 'add-lifetime', type: durationType(), access: 'ro', compute: since('installed') },
    { name: 'expires', type: dateType, access: 'ro', detail: 'never' },
    { name: 'expires-in', type: durationType(), access: 'ro', compute: until('expires') },
    roCount('current-bytes'),
    roCount('current-packets'),
    { name: 'esp', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'E' }, compute: () => true },
    { name: 'seen-traffic', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'S' }, compute: (row) => Number(row['current-packets'] ?? 0) > 0 },
  ],
};

/** In registration order: a reference's target first. */
export const IPSEC_MENUS: readonly MenuDecl[] = [
  ipsecSettingsMenu, ipsecGroupMenu, ipsecProposalMenu, ipsecProfileMenu, ipsecModeConfigMenu, ipsecPeerMenu, ipsecIdentityMenu, ipsecPolicyMenu,
  ipsecActivePeersMenu, ipsecInstalledSaMenu,
];
