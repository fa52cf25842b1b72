// `:resolve` (M-SCRIPT "Global commands"): the address of a name. rospki answers from this
// host's own table first (/etc/hosts, and `localhost`), then — as RouterOS asks its own DNS
// resolver — from the router's resolver when the DNS service runs in this process (static
// entries, cache, the DoH server or plain `servers` of /ip dns: it sends only the queries a DNS
// client of the router could make it send). A name nobody knows fails as RouterOS fails for a
// name that does not exist (spec §6.1 `failure: dns name does not exist`); a failing upstream
// with `failure: dns server failure`.

import fs from 'node:fs/promises';
import { RosError } from '../errors.js';
import type { Environment } from '../menu/types.js';
import { IpAddress } from '../menu/values.js';
import { liveResolver } from '../menus/ip/dns.js';

export type ResolveType = 'any' | 'any6' | 'ipv4' | 'ipv6';
export const RESOLVE_TYPES: readonly ResolveType[] = ['any', 'any6', 'ipv4', 'ipv6'];

const HOSTS_FILE = '/etc/hosts';

/** Addresses of a name in a hosts table (`address name alias…` lines, `#` comments). */
export function hostsAddresses(table: string, name: string): IpAddress[] {
  const wanted = name.toLowerCase().replace(/\.$/, '');
  const out: IpAddress[] = [];
  for (const raw of table.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [address, ...names] = line.split(/\s+/);
    if (!names.some((n) => n.toLowerCase().replace(/\.$/, '') === wanted)) continue;
    const ip = IpAddress.parse(address!.replace(/%.*$/, ''));
    if (ip) out.push(ip);
  }
  return out;
}

function pick(addresses: IpAddress[], type: ResolveType): IpAddress | undefined {
  const v4 = addresses.find((a) => a.family === 4);
  const v6 = addresses.find((a) => a.family === 6);
  switch (type) {
    case 'ipv4': return v4;
    case 'ipv6': return v6;
    case 'any6': return v6 ?? v4;
    default: return v4 ?? v6;
  }
}

/** The router's resolver as `:resolve` asks it (LiveResolver.lookup); undefined when none runs here. */
export type NameLookup = (name: string, family: 4 | 6, server?: { address: string; port: number }) => Promise<{ failed: boolean; addresses: string[] }>;

/** The resolver of the DNS service running in this process (LIVE_RESOLVER), if one runs. */
export function routerLookup(env: Environment): NameLookup | undefined {
  const live = liveResolver(env);
  return live && ((name, family, server) => live.lookup(name, family, server));
}

/** Which address families a `type=` asks for, in the order it prefers them. */
const FAMILIES: Record<ResolveType, ReadonlyArray<4 | 6>> = { any: [4, 6], any6: [6, 4], ipv4: [4], ipv6: [6] };

/** `:resolve name [type=any|any6|ipv4|ipv6]`. */
export async function resolveName(name: string, type: ResolveType = 'any',
  opts: { lookup?: NameLookup; hostsFile?: string; server?: { address: string; port: number } } = {}): Promise<IpAddress> {
  const literal = IpAddress.parse(name.trim());
  if (literal) return literal;
  // server=: that server alone answers (RouterOS asks it instead of its own resolver).
  if (opts.server) return fromLookup(name, type, opts.lookup, opts.server);
  let table = '';
  try {
    table = await fs.readFile(opts.hostsFile ?? HOSTS_FILE, 'utf8');
  } catch {
    // No hosts file: only localhost is known.
  }
  const addresses = hostsAddresses(table, name);
  if (/^localhost\.?$/i.test(name.trim())) addresses.push(IpAddress.parse('127.0.0.1')!, IpAddress.parse('::1')!);
  const hit = pick(addresses, type);
  if (hit) return hit;
  return fromLookup(name, type, opts.lookup);
}

/** The first address the router's resolver (or, given, one server) has for the families `type` asks. */
async function fromLookup(name: string, type: ResolveType, lookup: NameLookup | undefined, server?: { address: string; port: number }): Promise<IpAddress> {
  let failed = false;
  if (lookup) {
    for (const family of FAMILIES[type]) {
      const r = await lookup(name.trim(), family, server);
      const found = r.addresses.map((a) => IpAddress.parse(a)).find((a) => a !== undefined);
      if (found) return found;
      failed ||= r.failed;
    }
  }
  // UNCONFIRMED: the text of a failing upstream (RouterOS logs `dns server failure`).
  throw new RosError('failure', failed || (server !== undefined && !lookup) ? 'dns server failure' : 'dns name does not exist');
}
