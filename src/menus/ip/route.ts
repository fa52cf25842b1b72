// /ip route: this host's IPv4 routes, from the kernel's /proc/net/route (Linux; on other
// systems there are none, docs/compatibility.md), and routes a user adds. The host's are dynamic
// (D) and can not be changed; one that is up is active (A); one without a gateway reaches a
// directly connected network (c). Added routes (s, static) are configuration rospki keeps and
// exports but does not install — rospki routes nothing — so they stay inactive (I), their status
// saying why.
// eworm's global-functions ask `/ip route find where dst-address=0.0.0.0/0 active
// routing-table=main` whether a default route is there.

import fs from 'node:fs';
import os from 'node:os';
import { invalidValue } from '../../errors.js';
import { boolType, intType, ipv4NetworkType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropType } from '../../menu/types.js';
import { IpAddress, valueToString } from '../../menu/values.js';
import type { RowData } from '../../store/store.js';
import { isHostFact, mirrorRows, refuseFactChange, refuseFactRemoval } from '../host/rows.js';

export const ROUTE_PATH = '/ip/route';

const bare: PropType<string> = { ...stringType, quoted: false };

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

/** An IPv4 address in /proc/net/route's form: 8 hex digits in host byte order. */
function procAddress(hex: string): number[] {
  const bytes = [...Buffer.from(hex.padStart(8, '0'), 'hex')];
  return os.endianness() === 'LE' ? bytes.reverse() : bytes;
}

const prefixLength = (mask: number[]): number => mask.reduce((n, b) => n + b.toString(2).replace(/0/g, '').length, 0);

/** Parses /proc/net/route text into rows (exported for tests). */
export function parseProcRoutes(text: string): RowData[] {
  const out: RowData[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, gateway, flagsHex, , , , maskHex] = f as [string, string, string, string, string, string, string, string];
    const flags = parseInt(flagsHex, 16);
    const dst = `${procAddress(dest).join('.')}/${prefixLength(procAddress(maskHex))}`;
    const gw = procAddress(gateway).join('.');
    const viaGateway = (flags & RTF_GATEWAY) !== 0;
    out.push({
      'dst-address': dst,
      gateway: viaGateway ? gw : iface,
      'immediate-gw': viaGateway ? `${gw}%${iface}` : iface,
      'routing-table': 'main',
      active: (flags & RTF_UP) !== 0,
      connect: !viaGateway,
    });
  }
  return out;
}

async function hostRoutes(): Promise<RowData[]> {
  try {
    return parseProcRoutes(await fs.promises.readFile('/proc/net/route', 'utf8'));
  } catch {
    return [];
  }
}


/** A gateway: an IPv4 address, or an interface name (`gateway=ether1`), or `address%interface`. */
const gatewayType: PropType<string> = {
  ...bare,
  help: 'IP address | interface name',
  parse(v, _ctx, name) {
    const text = valueToString(v).trim();
    const [addr, via] = text.split('%');
    if (IpAddress.parse(addr ?? '')?.family === 4 && (via === undefined || via !== '')) return text;
    if (via === undefined && /^[A-Za-z][\w.-]*$/.test(text)) return text;
    throw invalidValue(name);
  },
};

export const routeMenu: MenuDecl = {
  path: ROUTE_PATH,
  kind: 'list',
  help: 'IPv4 routes: this host\'s, and routes kept as configuration',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  columns: ['dst-address', 'gateway', 'routing-table', 'distance'],
  properties: [
    { name: 'dst-address', type: ipv4NetworkType, default: '0.0.0.0/0' },
    { name: 'gateway', type: gatewayType, required: true },
    { name: 'immediate-gw', type: bare, access: 'ro' },
    // The host's metric is not RouterOS's distance: left out on its routes rather than made up.
    { name: 'distance', type: intType(1, 255, { numeric: true }), default: 1 },
    { name: 'routing-table', type: bare, default: 'main' },
    { name: 'comment', type: stringType },
    { name: 'status', type: stringType, access: 'ro', compute: (row) => (isHostFact(row) ? undefined : 'not installed: rospki routes nothing on this host') },
    { name: 'dynamic', type: boolType, access: 'ro', compute: isHostFact, flag: { letter: 'D' }, detail: 'never' },
    { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' },
    { name: 'inactive', type: boolType, access: 'ro', compute: (r) => r.active !== true, flag: { letter: 'I', sharesColumnWith: 'X' }, detail: 'never' },
    { name: 'active', type: boolType, access: 'ro', flag: { letter: 'A', sharesColumnWith: 'X' }, detail: 'never' },
    { name: 'connect', type: boolType, access: 'ro', flag: { letter: 'c' }, detail: 'never' },
    { name: 'static', type: boolType, access: 'ro', compute: (r) => !isHostFact(r), flag: { letter: 's', sharesColumnWith: 'c' }, detail: 'never' },
  ],
  async prepare(env) {
    await mirrorRows(env, routeMenu, await hostRoutes(), (r) => `${String(r['dst-address'])} ${String(r.gateway)}`);
  },
  validate: refuseFactChange,
  beforeRemove: refuseFactRemoval(ROUTE_PATH),
};
