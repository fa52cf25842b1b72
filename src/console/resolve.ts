// `:resolve` (M-SCRIPT "Global commands"): the address of a name. rospki answers from this
// host's own table (/etc/hosts, and `localhost`) and never sends a DNS query, so a script can not
// make the appliance talk to the network; any other name fails as RouterOS fails for a name that
// does not exist (spec §6.1 `failure: dns name does not exist`).

import fs from 'node:fs/promises';
import { RosError } from '../errors.js';
import { IpAddress } from '../menu/values.js';

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

/** `:resolve name [type=any|any6|ipv4|ipv6]`. */
export async function resolveName(name: string, type: ResolveType = 'any', hostsFile = HOSTS_FILE): Promise<IpAddress> {
  const literal = IpAddress.parse(name.trim());
  if (literal) return literal;
  let table = '';
  try {
    table = await fs.readFile(hostsFile, 'utf8');
  } catch {
    // No hosts file: only localhost is known.
  }
  const addresses = hostsAddresses(table, name);
  if (/^localhost\.?$/i.test(name.trim())) addresses.push(IpAddress.parse('127.0.0.1')!, IpAddress.parse('::1')!);
  const hit = pick(addresses, type);
  if (!hit) throw new RosError('failure', 'dns name does not exist');
  return hit;
}
