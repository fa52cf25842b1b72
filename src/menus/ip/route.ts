// /ip route: this host's IPv4 routes, read-only, from the kernel's /proc/net/route (Linux; on
// other systems the list is empty, docs/compatibility.md). Every route is the host's, so each is
// dynamic (D); a route that is up is active (A); one without a gateway reaches a directly
// connected network (c). rospki routes nothing itself: add, set and remove do not exist here.
// eworm's global-functions ask `/ip route find where dst-address=0.0.0.0/0 active
// routing-table=main` whether a default route is there.

import fs from 'node:fs';
import os from 'node:os';
import { boolType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropType } from '../../menu/types.js';
import type { RowData } from '../../store/store.js';
import { mirrorRows } from '../host/rows.js';

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

export const routeMenu: MenuDecl = {
  path: ROUTE_PATH,
  kind: 'list',
  help: 'This host\'s IPv4 routes',
  verbs: ['print', 'get', 'find', 'export'],
  columns: ['dst-address', 'gateway', 'routing-table', 'distance'],
  properties: [
    { name: 'dst-address', type: bare, access: 'ro' },
    { name: 'gateway', type: bare, access: 'ro' },
    { name: 'immediate-gw', type: bare, access: 'ro' },
    // The host's metric is not RouterOS's distance: left out rather than made up.
    { name: 'distance', type: bare, access: 'ro' },
    { name: 'routing-table', type: bare, access: 'ro' },
    { name: 'dynamic', type: boolType, access: 'ro', compute: () => true, flag: { letter: 'D' }, detail: 'never' },
    { name: 'disabled', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'X' }, detail: 'never' },
    { name: 'inactive', type: boolType, access: 'ro', compute: (r) => r.active !== true, flag: { letter: 'I', sharesColumnWith: 'X' }, detail: 'never' },
    { name: 'active', type: boolType, access: 'ro', flag: { letter: 'A', sharesColumnWith: 'X' }, detail: 'never' },
    { name: 'connect', type: boolType, access: 'ro', flag: { letter: 'c' }, detail: 'never' },
    { name: 'static', type: boolType, access: 'ro', compute: () => false, flag: { letter: 's', sharesColumnWith: 'c' }, detail: 'never' },
  ],
  async prepare(env) {
    await mirrorRows(env, routeMenu, await hostRoutes(), (r) => `${String(r['dst-address'])} ${String(r.gateway)}`);
  },
};
