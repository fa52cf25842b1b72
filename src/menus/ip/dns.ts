// /ip dns (services spec §6): the resolver settings (a singleton printed as the 7.23.1 key: value
// block), including DNS-over-HTTPS (`use-doh-server`, `verify-doh-cert`: a DoH server's
// certificate is checked against the trust store, no certificate reference); `/ip dns static`
// and `/ip dns forwarders`.
//
// rospki answers no DNS queries and sends none of its own through these settings yet
// (issue 13): when remote requests or a DoH server are asked for, `status` says the resolver
// does not run; `cache-used` is 0KiB and there are no dynamic servers.

import { argumentError, invalidValue } from '../../errors.js';
import { boolType, durationType, enumType, intType, stringListType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropType, PropertyDecl } from '../../menu/types.js';
import { IpAddress, type Value, valueToString } from '../../menu/values.js';
import type { RowData } from '../../store/store.js';
import { addressListType, commentProperty, disabledNo, ensureBuiltinRows, notRunning } from '../interface/common.js';

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

const DNS = {
  useDohServer: { name: 'use-doh-server', type: dohUrlType, default: '', help: 'DNS-over-HTTPS server; when set, the only upstream' } as PropertyDecl<string>,
  allowRemoteRequests: { name: 'allow-remote-requests', type: boolType, default: false, help: 'Answer queries from the network' } as PropertyDecl<boolean>,
};

/** The resolver would run: it answers the network, or queries go over DoH. */
const resolverWanted = (row: RowData): boolean => row[DNS.allowRemoteRequests.name] === true || (typeof row[DNS.useDohServer.name] === 'string' && row[DNS.useDohServer.name] !== '');

export const dnsMenu: MenuDecl = {
  path: DNS_PATH,
  kind: 'singleton',
  help: 'DNS resolver',
  verbs: ['print', 'get', 'set', 'export'],
  // The order of the 7.23.1 print (spec §6.1).
  properties: [
    { name: 'servers', type: addressListType, default: [], help: 'Upstream DNS servers (IP[@vrf])' },
    { name: 'dynamic-servers', type: addressListType, access: 'ro', compute: () => [] },
    DNS.useDohServer,
    { name: 'verify-doh-cert', type: boolType, default: false, help: 'Check the DoH server certificate against the trust store' },
    { name: 'doh-max-server-connections', type: intType(1, 1000), default: 5 },
    { name: 'doh-max-concurrent-queries', type: intType(1, 1000), default: 50 },
    { name: 'doh-timeout', type: durationType(), default: 5e9 },
    DNS.allowRemoteRequests,
    { name: 'max-udp-packet-size', type: intType(50, 65507), default: 4096 },
    { name: 'query-server-timeout', type: durationType(), default: 2e9 },
    { name: 'query-total-timeout', type: durationType(), default: 10e9 },
    { name: 'max-concurrent-queries', type: intType(1, 100000), default: 100 },
    { name: 'max-concurrent-tcp-sessions', type: intType(1, 100000), default: 20 },
    { name: 'cache-size', type: kibType(64, 4294967295), default: 2048 },
    { name: 'cache-max-ttl', type: durationType(), default: 7 * 86400e9 },
    { name: 'address-list-extra-time', type: durationType(), default: 0 },
    { name: 'vrf', type: enumType(['main']), default: 'main' },
    { name: 'mdns-repeat-ifaces', type: stringListType, default: [] },
    { name: 'cache-used', type: kibType(0, 4294967295), access: 'ro', compute: () => 0 },
    { name: 'status', type: stringType, access: 'ro', compute: (row) => (resolverWanted(row) ? notRunning('the DNS resolver') : undefined) },
  ],
  async prepare(env) {
    await ensureBuiltinRows(env, DNS_PATH);
  },
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
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
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
      try { new RegExp(regexp); } catch { throw invalidValue('regexp'); }
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

export const DNS_MENUS: readonly MenuDecl[] = [dnsMenu, dnsStaticMenu, dnsForwardersMenu];
