// /ip dns (services spec §6): the resolver settings (a singleton printed as the 7.23.1 key: value
// block), including DNS-over-HTTPS (`use-doh-server`, `verify-doh-cert`: a DoH server's
// certificate is checked against the trust store, no certificate reference); `/ip dns static`
// and `/ip dns forwarders`.
//
// The daemon's DNS service (src/services/dns/) answers queries on UDP and TCP while
// `allow-remote-requests=yes`, from static entries, its cache and the upstream (DoH or plain
// servers). It shows what it does here: `status` (a rospki addition) when it can not listen,
// `cache-used`, and `/ip dns cache` (`print`, `all print`, `flush`), read from the running
// resolver through the appliance's memo table LIVE_RESOLVER (menus import no service). Without a
// daemon nothing resolves: the cache is empty. There are no dynamic servers (no DHCP client).

import { argumentError, invalidValue } from '../../errors.js';
import { boolType, durationType, enumType, intType, stringListType, stringType } from '../../menu/proptypes.js';
import type { CommandDecl, Environment, MenuDecl, PropType, PropertyDecl } from '../../menu/types.js';
import { IpAddress, type Value, valueToString } from '../../menu/values.js';
import { addressListType, commentProperty, disabledNo, ensureBuiltinRows } from '../interface/common.js';
import { mirrorRows } from '../host/rows.js';
import { linearRegExp } from '../../menu/regex.js';

export const DNS_PATH = '/ip/dns';
export const DNS_STATIC_PATH = '/ip/dns/static';
export const DNS_FORWARDERS_PATH = '/ip/dns/forwarders';

/** Sizes in KiB, printed `2048KiB` (spec §6.1); input `2048` or `2048KiB`. */
function kibType(min: number, max: number): PropType<number> {
  return {
    help: `integer: ${min}..${max} (KiB)`,
    parse(v, _ctx, name) {
      const m = /^(\d+)(KiB)?$/i.exec(typeof v === 'number' ? String(v) : valueToString(v).trim());
      if (!m) throw invalidValue(name);
      const n = Number(m[1]);
      if (n < min || n > max) throw invalidValue(name);
      return n;
    },
    display: (v) => `${v}KiB`,
    api: (v) => `${v}KiB`,
    script: (v) => v,
  };
}

/** An `https://` URL (DoH servers); empty for none. */
function parseDohUrl(text: string, name: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidValue(name);
  }
  if (url.protocol !== 'https:' || url.hostname === '') throw invalidValue(name);
  return text;
}

const dohUrlType: PropType<string> = {
  ...stringType,
  help: 'https://… URL',
  parse(v, _ctx, name) {
    const t = valueToString(v).trim();
    return t === '' ? '' : parseDohUrl(t, name);
  },
};

const dohUrlListType: PropType<string[]> = {
  ...stringListType,
  help: 'https://… URL[,URL…]',
  parse(v, ctx, name) {
    return stringListType.parse(v, ctx, name).map((u) => parseDohUrl(u, name));
  },
};

/** The /ip dns settings the DNS service reads (one declaration each; read with propValue). */
export const DNS = {
  servers: { name: 'servers', type: addressListType, default: [], help: 'Upstream DNS servers (IP[@vrf])' } as PropertyDecl<string[]>,
  useDohServer: { name: 'use-doh-server', type: dohUrlType, default: '', help: 'DNS-over-HTTPS server; when set, the only upstream' } as PropertyDecl<string>,
  verifyDohCert: { name: 'verify-doh-cert', type: boolType, default: false, help: 'Check the DoH server certificate against the trust store' } as PropertyDecl<boolean>,
  dohMaxServerConnections: { name: 'doh-max-server-connections', type: intType(1, 1000), default: 5 } as PropertyDecl<number>,
  dohMaxConcurrentQueries: { name: 'doh-max-concurrent-queries', type: intType(1, 1000), default: 50 } as PropertyDecl<number>,
  dohTimeout: { name: 'doh-timeout', type: durationType(), default: 5e9 } as PropertyDecl<number>,
  allowRemoteRequests: { name: 'allow-remote-requests', type: boolType, default: false, help: 'Answer queries from the network' } as PropertyDecl<boolean>,
  maxUdpPacketSize: { name: 'max-udp-packet-size', type: intType(50, 65507), default: 4096 } as PropertyDecl<number>,
  queryServerTimeout: { name: 'query-server-timeout', type: durationType(), default: 2e9 } as PropertyDecl<number>,
  queryTotalTimeout: { name: 'query-total-timeout', type: durationType(), default: 10e9 } as PropertyDecl<number>,
  maxConcurrentQueries: { name: 'max-concurrent-queries', type: intType(1, 100000), default: 100 } as PropertyDecl<number>,
  maxConcurrentTcpSessions: { name: 'max-concurrent-tcp-sessions', type: intType(1, 100000), default: 20 } as PropertyDecl<number>,
  cacheSize: { name: 'cache-size', type: kibType(64, 4294967295), default: 2048 } as PropertyDecl<number>,
  cacheMaxTtl: { name: 'cache-max-ttl', type: durationType(), default: 7 * 86400e9 } as PropertyDecl<number>,
  /** Why the service does not listen (`cannot bind to port 53: …`); written by the service, absent when fine. */
  status: { name: 'status', type: stringType, access: 'ro' } as PropertyDecl<string>,
};

/** The running resolver as the menus see it (src/services/dns registers it; menus import no service). */
export interface LiveResolver {
  /** Cached records (`all`: every record and negative entry; else A, AAAA and CNAME). */
  records(all: boolean): Array<{ name: string; type: string; data: string; ttlSeconds: number; negative: boolean }>;
  usedKiB(): number;
  flush(): void;
  /**
   * The router's own lookup (`:resolve`): the IPv4 (4) or IPv6 (6) addresses of a name through
   * static entries, the cache and the upstream; `failed` when the upstream failed (SERVFAIL).
   * With `server` (`:resolve server= server-port=`) that server alone is asked, as RouterOS does.
   */
  lookup(name: string, family: 4 | 6, server?: { address: string; port: number }): Promise<{ failed: boolean; addresses: string[] }>;
}

/** The memo table (env.cache) and key under which the DNS service registers its LiveResolver. */
export const LIVE_RESOLVER = { table: 'dns', key: 'resolver' } as const;

export function liveResolver(env: Environment): LiveResolver | undefined {
  return env.cache.table<string, LiveResolver>(LIVE_RESOLVER.table).get(LIVE_RESOLVER.key);
}

export const dnsMenu: MenuDecl = {
  path: DNS_PATH,
  kind: 'singleton',
  help: 'DNS resolver',
  verbs: ['print', 'get', 'set', 'export'],
  // The order of the 7.23.1 print (spec §6.1).
  properties: [
    DNS.servers,
    { name: 'dynamic-servers', type: addressListType, access: 'ro', compute: () => [] },
    DNS.useDohServer,
    DNS.verifyDohCert,
    DNS.dohMaxServerConnections,
    DNS.dohMaxConcurrentQueries,
    DNS.dohTimeout,
    DNS.allowRemoteRequests,
    DNS.maxUdpPacketSize,
    DNS.queryServerTimeout,
    DNS.queryTotalTimeout,
    DNS.maxConcurrentQueries,
    DNS.maxConcurrentTcpSessions,
    DNS.cacheSize,
    DNS.cacheMaxTtl,
    { name: 'address-list-extra-time', type: durationType(), default: 0 },
    { name: 'vrf', type: enumType(['main']), default: 'main' },
    { name: 'mdns-repeat-ifaces', type: stringListType, default: [] },
    // Brought up to date from the running resolver before each command (prepare).
    { name: 'cache-used', type: kibType(0, 4294967295), access: 'ro', default: 0 },
    DNS.status,
  ],
  async prepare(env) {
    await ensureBuiltinRows(env, DNS_PATH);
    const used = liveResolver(env)?.usedKiB() ?? 0;
    if (await env.store.read((tx) => (tx.get(DNS_PATH, 1)?.data['cache-used'] ?? 0) === used)) return;
    await env.store.write((tx) => {
      const row = tx.get(DNS_PATH, 1);
      if (row) tx.update(DNS_PATH, row.id, { ...row.data, 'cache-used': used });
    });
  },
};

// /ip dns cache and /ip dns cache all (manual "DNS Cache"): what the running resolver holds,
// mirrored into the store before each command so print, where, count-only, REST and the API
// work as on every list; `flush` empties it.

export const DNS_CACHE_PATH = '/ip/dns/cache';
export const DNS_CACHE_ALL_PATH = '/ip/dns/cache/all';

const cacheProperties: PropertyDecl[] = [
  { name: 'name', type: stringType, access: 'ro' },
  { name: 'type', type: { ...stringType, quoted: false }, access: 'ro' },
  { name: 'data', type: stringType, access: 'ro' },
  { name: 'ttl', type: durationType(), access: 'ro' },
  { name: 'negative', type: boolType, access: 'ro', default: false, flag: { letter: 'N' }, detail: 'never' },
];

function mirrorCache(menu: MenuDecl, all: boolean) {
  return async (env: Environment): Promise<void> => {
    const records = liveResolver(env)?.records(all) ?? [];
    const facts = records.map((r) => ({
      name: r.name, type: r.type, data: r.data, ttl: r.ttlSeconds * 1e9, ...(r.negative ? { negative: true } : {}),
    }));
    await mirrorRows(env, menu, facts, (r) => `${String(r.name)} ${String(r.type)} ${String(r.data)}`);
  };
}

const flushCommand: CommandDecl = {
  name: 'flush',
  help: 'Empty the DNS cache',
  policy: 'write',
  args: [],
  async run(call) {
    liveResolver(call.env)?.flush();
    await mirrorCache(dnsCacheMenu, false)(call.env);
    await mirrorCache(dnsCacheAllMenu, true)(call.env);
    return {};
  },
};

export const dnsCacheMenu: MenuDecl = {
  path: DNS_CACHE_PATH,
  kind: 'list',
  help: 'Cached DNS records',
  verbs: ['print', 'get', 'find'],
  columns: ['name', 'type', 'data', 'ttl'],
  properties: cacheProperties,
  commands: [flushCommand],
  prepare: (env) => mirrorCache(dnsCacheMenu, false)(env),
};

export const dnsCacheAllMenu: MenuDecl = {
  path: DNS_CACHE_ALL_PATH,
  kind: 'list',
  help: 'Every cached DNS record',
  verbs: ['print', 'get', 'find'],
  columns: ['name', 'type', 'data', 'ttl'],
  properties: cacheProperties,
  prepare: (env) => mirrorCache(dnsCacheAllMenu, true)(env),
};

// /ip dns static (spec §6.2)

export const STATIC_TYPES = ['A', 'AAAA', 'CNAME', 'FWD', 'MX', 'NS', 'NXDOMAIN', 'SRV', 'TXT'] as const;
/** An entry without `type` is an A record (RouterOS leaves `type` out of A entries). */
const IMPLIED_TYPE = 'A';

const ipType = (family: 4 | 6 | undefined): PropType<string> => ({
  help: 'IP address',
  parse(v: Value, _ctx, name) {
    const a = IpAddress.parse(valueToString(v).trim());
    if (!a || (family && a.family !== family)) throw invalidValue(name);
    return a.toString();
  },
  display: (v) => v,
  api: (v) => v,
  script: (v) => IpAddress.parse(v) ?? v,
});

/** What each record type needs (spec §6.2). */
const NEEDS: Record<string, string | undefined> = {
  A: 'address', AAAA: 'address', CNAME: 'cname', FWD: 'forward-to', MX: 'mx-exchange', NS: 'ns', TXT: 'text', SRV: 'srv-target', NXDOMAIN: undefined,
};

export const dnsStaticMenu: MenuDecl = {
  path: DNS_STATIC_PATH,
  kind: 'list',
  help: 'Static DNS entries',
  key: 'name',
  // Ordered (spec §6.2): entries are tried in list order, and scripts place theirs with
  // `add place-before=` (eworm's ipsec-to-dns) and `move`.
  ordered: true,
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export', 'move'],
  columns: ['name', 'regexp', 'type', 'address', 'cname', 'forward-to', 'text', 'ttl'],
  properties: [
    { name: 'name', type: stringType, help: 'Domain name' },
    { name: 'regexp', type: stringType, help: 'Regular expression for names, instead of name' },
    { name: 'type', type: enumType(STATIC_TYPES), help: 'Record type (A when not set)' },
    { name: 'address', type: ipType(undefined) },
    { name: 'cname', type: stringType },
    { name: 'forward-to', type: stringType, help: 'Server address or /ip dns forwarders name (FWD)' },
    { name: 'mx-preference', type: intType(0, 65535) },
    { name: 'mx-exchange', type: stringType },
    { name: 'ns', type: stringType },
    { name: 'srv-priority', type: intType(0, 65535) },
    { name: 'srv-weight', type: intType(0, 65535) },
    { name: 'srv-port', type: intType(0, 65535) },
    { name: 'srv-target', type: stringType },
    { name: 'text', type: stringType },
    { name: 'ttl', type: durationType(0, 7 * 86400e9 * 1000), default: 86400e9 },
    { name: 'match-subdomain', type: boolType, default: false },
    { name: 'address-list', type: stringType },
    disabledNo,
    { name: 'dynamic', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'D' }, compute: () => false },
    commentProperty,
  ],
  validate(row) {
    const name = typeof row.name === 'string' ? row.name : '';
    const regexp = typeof row.regexp === 'string' ? row.regexp : '';
    if ((name === '') === (regexp === '')) throw argumentError(name === '' ? 'missing value of name or regexp' : 'name and regexp can not both be set');
    if (regexp !== '') {
      // Matched against every name anyone asks for: only patterns that run in linear time.
      try { linearRegExp(regexp); } catch { throw invalidValue('regexp'); }
    }
    const type = typeof row.type === 'string' ? row.type : IMPLIED_TYPE;
    const needs = NEEDS[type];
    if (needs && (row[needs] === undefined || row[needs] === '')) throw argumentError(`missing value of ${needs}`);
    if ((type === 'A' || type === 'AAAA') && typeof row.address === 'string') {
      const family = IpAddress.parse(row.address)?.family;
      if (family !== (type === 'A' ? 4 : 6)) throw invalidValue('address');
    }
  },
};

// /ip dns forwarders (spec §6.2): `verify-doh-cert` defaults to yes here, unlike /ip dns.

export const dnsForwardersMenu: MenuDecl = {
  path: DNS_FORWARDERS_PATH,
  kind: 'list',
  help: 'DNS forwarders for static FWD entries',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'comment', 'export'],
  columns: ['name', 'dns-servers', 'doh-servers', 'verify-doh-cert'],
  properties: [
    { name: 'name', type: stringType, required: true, unique: true },
    { name: 'dns-servers', type: addressListType, default: [] },
    { name: 'doh-servers', type: dohUrlListType, default: [] },
    { name: 'verify-doh-cert', type: boolType, default: true },
    commentProperty,
  ],
};

export const DNS_MENUS: readonly MenuDecl[] = [dnsMenu, dnsStaticMenu, dnsForwardersMenu, dnsCacheMenu, dnsCacheAllMenu];
