// What rospki tells charon: its strongswan.conf, and the vici `load-conn` sections built from
// `/ip ipsec` rows (services spec §4). Pure functions over plain data; the service (service.ts)
// reads the store into these shapes.
//
// The names of algorithms are RouterOS's on one side (spec §4.3, §4.4) and strongSwan's
// proposal keywords on the other (swanctl.conf(5) "proposals", strongSwan's IKEv2 cipher suites).

import type { ViciMessage } from './vici.js';

/**
 * The plugins charon loads (`load_modular = no`): crypto from OpenSSL, certificates and keys
 * (x509, pem, pkcs1, pkcs8), CRL checks (revocation), the IKE sockets, vici, nonces, the
 * KDF of IKEv2 (kdf, needed since 5.9.8), and IPsec in user space (kernel-libipsec, a TUN
 * device) before the kernel's (kernel-netlink, which also gives addresses and interfaces):
 * libipsec never changes the host's XFRM policies or routes, and works on kernels without
 * ESP. No fetcher is loaded: charon never downloads a CRL or asks OCSP itself.
 */
export const CHARON_PLUGINS = [
  'openssl', 'pem', 'pkcs1', 'pkcs8', 'x509', 'revocation', 'kernel-libipsec', 'kernel-netlink', 'socket-default', 'vici', 'nonce', 'random', 'kdf',
] as const;

/**
 * Plugins charon cannot do without here, and the Debian package of each (charon itself comes
 * with libstrongswan's: pem, pkcs1, pkcs8, x509, revocation, kernel-netlink, nonce, random,
 * kdf). Without kernel-libipsec charon falls back to the kernel's IPsec.
 */
export const REQUIRED_PLUGINS: Readonly<Record<string, string>> = {
  vici: 'strongswan-swanctl',
  openssl: 'libstrongswan-standard-plugins',
};

export interface CharonConfig {
  ikePort: number;
  natTPort: number;
  /** The vici unix socket (in the private runtime folder). */
  viciSocket: string;
}

/**
 * strongswan.conf for rospki's charon (strongswan.conf(5)). Virtual IPs are not installed and
 * kernel-netlink installs no routes; kernel-libipsec routes a CHILD_SA's remote networks into
 * its TUN device in charon's own routing table (220, strongSwan's default, looked up after the
 * `local` table), never for the IKE peer itself. Log lines go to standard error, where the
 * supervisor hands them to the service (spec §4.8 texts).
 */
export function strongswanConf(c: CharonConfig): string {
  return [
    'charon {',
    `  port = ${c.ikePort}`,
    `  port_nat_t = ${c.natTPort}`,
    '  install_routes = no',
    '  install_virtual_ip = no',
    '  retransmit_tries = 3',
    // RouterOS answers IKEv1 Aggressive Mode with a pre-shared key when a peer says
    // exchange-mode=aggressive; strongSwan refuses it unless told (the key's hash goes out
    // before the peer is authenticated, open to offline guessing: RFC 2409 §5.4).
    '  i_dont_care_about_security_and_use_aggressive_mode_psk = yes',
    '  load_modular = no',
    `  load = ${CHARON_PLUGINS.join(' ')}`,
    '  plugins {',
    '    vici {',
    `      socket = unix://${c.viciSocket}`,
    '    }',
    '    revocation {',
    '      enable_ocsp = no',
    '    }',
    '  }',
    '  filelog {',
    '    stderr {',
    '      default = 1',
    '      ike_name = yes',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Proposals

/** RouterOS phase 1 cipher → strongSwan keyword (ciphers strongSwan lacks map to nothing). */
const IKE_CIPHERS: Readonly<Record<string, string>> = {
  'aes-256': 'aes256', 'aes-192': 'aes192', 'aes-128': 'aes128',
  'camellia-256': 'camellia256', 'camellia-192': 'camellia192', 'camellia-128': 'camellia128',
  blowfish: 'blowfish128', '3des': '3des', des: 'des',
};
const HASHES: Readonly<Record<string, string>> = { md5: 'md5', sha1: 'sha1', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };
const PRFS: Readonly<Record<string, string>> = { md5: 'prfmd5', sha1: 'prfsha1', sha256: 'prfsha256', sha384: 'prfsha384', sha512: 'prfsha512' };
/** DH groups; ec2n* (RFC 2409 groups 3, 4) strongSwan does not implement. */
const DH: Readonly<Record<string, string>> = {
  modp768: 'modp768', modp1024: 'modp1024', modp1536: 'modp1536', modp2048: 'modp2048', modp3072: 'modp3072',
  modp4096: 'modp4096', modp6144: 'modp6144', modp8192: 'modp8192', ecp256: 'ecp256', ecp384: 'ecp384', ecp521: 'ecp521',
  x25519: 'curve25519',
};
/** Phase 2 ciphers: plain ones, and AEAD ones (which carry their own integrity). */
const ESP_CIPHERS: Readonly<Record<string, string>> = {
  'aes-256-cbc': 'aes256', 'aes-192-cbc': 'aes192', 'aes-128-cbc': 'aes128',
  'aes-256-ctr': 'aes256ctr', 'aes-192-ctr': 'aes192ctr', 'aes-128-ctr': 'aes128ctr',
  'camellia-256': 'camellia256', 'camellia-192': 'camellia192', 'camellia-128': 'camellia128',
  blowfish: 'blowfish128', '3des': '3des', des: 'des', null: 'null',
};
const ESP_AEAD: Readonly<Record<string, string>> = {
  'aes-256-gcm': 'aes256gcm16', 'aes-192-gcm': 'aes192gcm16', 'aes-128-gcm': 'aes128gcm16', chacha20poly1305: 'chacha20poly1305',
};
const ESP_INTEGRITY: Readonly<Record<string, string>> = { ...HASHES };

export interface ProfileSpec {
  hash: string;
  prf: string;
  enc: readonly string[];
  dh: readonly string[];
}

const known = (table: Readonly<Record<string, string>>, names: readonly string[]): string[] =>
  names.map((n) => table[n]).filter((n): n is string => n !== undefined);

/** A problem with a profile or proposal: shown as the status of the rows that use it. */
export class ConfigProblem extends Error {}

/** IKE proposal of a profile: `aes128-3des-sha1-modp2048-modp1024` (one proposal, every combination). */
export function ikeProposal(p: ProfileSpec): string {
  const enc = known(IKE_CIPHERS, p.enc);
  const dh = known(DH, p.dh);
  if (enc.length === 0) throw new ConfigProblem(`no enc-algorithm of the profile is supported (${p.enc.join(',')})`);
  if (dh.length === 0) throw new ConfigProblem(`no dh-group of the profile is supported (${p.dh.join(',')})`);
  const prf = p.prf === 'auto' ? [] : [PRFS[p.prf]!];
  return [...enc, HASHES[p.hash]!, ...prf, ...dh].join('-');
}

export interface ProposalSpec {
  auth: readonly string[];
  enc: readonly string[];
  pfs: string;
}

/** ESP proposals of a phase 2 proposal: AEAD ciphers and the others go in separate proposals. */
export function espProposals(p: ProposalSpec): string[] {
  const pfs = p.pfs === 'none' ? [] : known(DH, [p.pfs]);
  if (p.pfs !== 'none' && pfs.length === 0) throw new ConfigProblem(`pfs-group ${p.pfs} is not supported`);
  const out: string[] = [];
  const aead = known(ESP_AEAD, p.enc);
  if (aead.length) out.push([...aead, ...pfs].join('-'));
  const plain = known(ESP_CIPHERS, p.enc);
  const integ = known(ESP_INTEGRITY, p.auth);
  if (plain.length && (integ.length || plain.includes('null'))) out.push([...plain, ...(integ.length ? integ : ['sha256']), ...pfs].join('-'));
  if (out.length === 0) throw new ConfigProblem(`no enc-algorithms of the proposal are supported (${p.enc.join(',')})`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Identities (spec §4.1 my-id, remote-id; §4.7)

/** What the own certificate says about itself, for my-id=auto and dn. */
export interface CertIdentity {
  /** The subject as DER (asn1dn: identities keep the exact encoding). */
  subjectDer: Buffer;
  /** SAN entries in certificate order: `DNS:a`, `IP:1.2.3.4`, `email:x@y`. */
  san: readonly string[];
}

const asn1dn = (der: Buffer): string => `asn1dn:#${der.toString('hex')}`;

function sanIdentity(entry: string): string | undefined {
  const m = /^(DNS|IP|email|RFC822):(.+)$/i.exec(entry);
  if (!m) return undefined;
  const kind = m[1]!.toUpperCase();
  if (kind === 'DNS') return `fqdn:${m[2]}`;
  if (kind === 'IP') return m[2]!;
  return `email:${m[2]}`;
}

/** The strongSwan identity of a RouterOS `my-id` / `remote-id` value other than auto/ignore/dn. */
function typedIdentity(id: string): string {
  const m = /^(address|fqdn|user-fqdn|key-id):(.*)$/.exec(id);
  if (!m) return id;
  switch (m[1]) {
    case 'address': return m[2]!;
    case 'fqdn': return `fqdn:${m[2]}`;
    case 'user-fqdn': return `email:${m[2]}`;
    default: return `keyid:${m[2]}`;
  }
}

/** my-id: auto sends the certificate's first SAN, else its DN (spec §4.7); dn its DN. */
export function localIdentity(myId: string, cert: CertIdentity | undefined): string | undefined {
  if (myId === 'auto' || myId === 'dn') {
    if (!cert) return undefined;
    if (myId === 'auto') {
      for (const entry of cert.san) {
        const id = sanIdentity(entry);
        if (id) return id;
      }
    }
    return asn1dn(cert.subjectDer);
  }
  return typedIdentity(myId);
}

/**
 * remote-id: auto and ignore accept any identity (charon still requires the peer's certificate
 * to carry the identity it claims); dn asks for the DN of remote-certificate when one is set.
 */
export function remoteIdentity(remoteId: string, remoteCert: CertIdentity | undefined): string {
  if (remoteId === 'auto' || remoteId === 'ignore') return '%any';
  if (remoteId === 'dn') return remoteCert ? asn1dn(remoteCert.subjectDer) : '%any';
  return typedIdentity(remoteId);
}

// ---------------------------------------------------------------------------------------------
// Addresses and traffic selectors

/** A peer's `address` (a prefix or a name) as charon's remote_addrs: a host prefix is the address. */
export function peerAddresses(address: string | undefined): string {
  if (!address || address === '0.0.0.0/0' || address === '::/0') return '%any';
  const host = /^(.+)\/(32|128)$/.exec(address);
  return host ? host[1]! : address;
}

/** A policy side as a traffic selector: `10.0.0.0/8[tcp/80]` (swanctl.conf local_ts). */
export function trafficSelector(prefix: string | undefined, protocol: string, port: number | 'any'): string {
  const net = prefix ?? '0.0.0.0/0';
  const proto = protocol === 'all' ? '' : protocol === 'ipsec-esp' ? 'esp' : protocol === 'ipsec-ah' ? 'ah' : protocol;
  if (!proto && port === 'any') return net;
  return `${net}[${proto || '%any'}${port === 'any' ? '' : `/${port}`}]`;
}

// ---------------------------------------------------------------------------------------------
// Connections

export interface ChildSpec {
  /** Unique within the connection. */
  name: string;
  /** Selectors; `dynamic` on the remote side is the virtual IP charon hands the peer (mode-config). */
  localTs: readonly string[];
  remoteTs: readonly string[];
  tunnel: boolean;
  esp: readonly string[];
  /** Seconds before the CHILD_SA is rekeyed (proposal lifetime). */
  lifetime: number;
  /** Bring it up as soon as it is loaded (an initiating peer). */
  start: boolean;
}

/** How both ends authenticate: certificates (digital-signature) or a pre-shared key. */
export type AuthKind = 'pubkey' | 'psk';

export interface ConnectionSpec {
  /** IKE version: 1 for exchange-mode main and aggressive, 2 for ike2. */
  version: 1 | 2;
  /** IKEv1 Aggressive Mode (exchange-mode=aggressive). */
  aggressive?: boolean;
  localAddrs?: string;
  remoteAddrs: string;
  remotePort?: number;
  ike: string;
  /** Seconds (profile lifetime); 0: never rekeyed. */
  ikeLifetime: number;
  /** Seconds; 0: no dead peer detection. */
  dpdDelay: number;
  auth: AuthKind;
  /** PEM or DER of the own certificates (digital-signature). */
  localCerts: readonly Buffer[];
  localId?: string;
  remoteId: string;
  /** The one certificate the peer must present (remote-certificate). */
  remoteCerts: readonly Buffer[];
  /** CRL policy of every remote certificate: strict with crl-use=yes (trust engine's rule), else none. */
  revocation: 'strict' | 'relaxed';
  /** Names of the address pools (vici load-pool) this connection hands virtual IPs from. */
  pools?: readonly string[];
  children: readonly ChildSpec[];
}

/** The vici load-conn section of one connection (swanctl.conf(5) "connections"). */
export function connectionSection(c: ConnectionSpec): ViciMessage {
  const children: ViciMessage = {};
  for (const child of c.children) {
    children[child.name] = {
      local_ts: [...child.localTs],
      remote_ts: [...child.remoteTs],
      mode: child.tunnel ? 'tunnel' : 'transport',
      esp_proposals: [...child.esp],
      rekey_time: `${child.lifetime}s`,
      start_action: child.start ? 'start' : 'none',
      dpd_action: 'clear',
    };
  }
  const remote: ViciMessage = { auth: c.auth, id: c.remoteId };
  const local: ViciMessage = { auth: c.auth };
  if (c.auth === 'pubkey') {
    remote.revocation = c.revocation;
    if (c.remoteCerts.length) remote.certs = [...c.remoteCerts];
    local.certs = [...c.localCerts];
  }
  if (c.localId) local.id = c.localId;
  const section: ViciMessage = {
    version: String(c.version),
    remote_addrs: [c.remoteAddrs],
    proposals: [c.ike],
    rekey_time: `${c.ikeLifetime}s`,
    dpd_delay: `${c.dpdDelay}s`,
    // RouterOS answers a peer behind NAT on 4500 and keeps ESP in UDP there (RFC 3948);
    // libipsec can only do that form anyway.
    encap: 'yes',
    mobike: 'no',
    'local-1': local,
    'remote-1': remote,
    children,
  };
  if (c.aggressive) section.aggressive = 'yes';
  if (c.pools?.length) section.pools = [...c.pools];
  if (c.localAddrs) section.local_addrs = [c.localAddrs];
  if (c.remotePort !== undefined) section.remote_port = String(c.remotePort);
  return section;
}

// ---------------------------------------------------------------------------------------------
// Pre-shared keys (identity `secret`, spec §4.1)

/** The bytes of a `secret`: `0x…` is hex (spec §4.1), anything else the text itself. */
export function secretBytes(secret: string): Buffer {
  return /^0x(?:[0-9a-f]{2})+$/i.test(secret) ? Buffer.from(secret.slice(2), 'hex') : Buffer.from(secret, 'utf8');
}

/**
 * The identities a pre-shared key belongs to (vici load-shared `owners`). charon picks a PSK
 * by the two IKE identities, never by connection, taking the best match: so a key names its
 * peer — the remote-id when it is a typed one, else the peer's single address (what a RouterOS
 * peer sends with my-id=auto) — and a peer with neither owns none (any identity matches).
 * For IKEv2 `%any` is added: a peer on that address sending another identity still finds its
 * key, the key owned by its exact identity winning. IKEv1 Main Mode looks the key up before
 * identities are exchanged, by the configured ids (`%any` here) and then by the two addresses
 * (charon's ikev1 phase1.c): without `%any` the address lookup finds the peer's own key.
 */
export function sharedKeyOwners(version: 1 | 2, remoteId: string, remoteAddrs: string): string[] {
  const specific = remoteId !== '%any' ? remoteId : remoteAddrs !== '%any' && !remoteAddrs.includes('/') ? remoteAddrs : undefined;
  if (specific === undefined) return [];
  return version === 2 ? [specific, '%any'] : [specific];
}

// ---------------------------------------------------------------------------------------------
// Mode-config (spec §4.6): address pools a responder hands out (vici load-pool)

/** One charon pool: a subnet or a `from-to` range (swanctl.conf(5) "pools": one per pool). */
export interface PoolSpec {
  addrs: string;
  dns: readonly string[];
  /** INTERNAL_IP4_SUBNET / IP6 (RFC 7296 §3.15.1): the networks behind the responder (split-include). */
  subnets: readonly string[];
  /** INTERNAL_IP4_NETMASK (RFC 7296 §3.15.1) of an IPv4 pool: address-prefix-length. */
  prefixLength?: number;
}

export function poolSection(p: PoolSpec): ViciMessage {
  const out: ViciMessage = { addrs: p.addrs };
  if (p.prefixLength !== undefined && !p.addrs.includes(':') && p.prefixLength <= 32) {
    const mask = p.prefixLength === 0 ? 0 : (0xffffffff << (32 - p.prefixLength)) >>> 0;
    out.netmask = [[24, 16, 8, 0].map((shift) => (mask >>> shift) & 0xff).join('.')];
  }
  if (p.dns.length) out.dns = [...p.dns];
  if (p.subnets.length) out.subnet = [...p.subnets];
  return out;
}
