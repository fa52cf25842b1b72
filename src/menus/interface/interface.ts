// /interface: this host's network interfaces, read-only. On Linux each comes from
// /sys/class/net (name, kind, MTU, MAC address, up and running); elsewhere from
// os.networkInterfaces(), which knows less. The rows mirror the host before every command, so
// their ids stay stable while the facts stay true; rospki configures no interface, so there is
// nothing to set, add or export. A link that is administratively down shows X (disabled), one
// with a carrier R (running). Sub-menus (/interface ovpn-server, sstp-server, …) are menus
// of their own.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { boolType, intType, stringType } from '../../menu/proptypes.js';
import type { Environment, MenuDecl, PropType, TypeContext } from '../../menu/types.js';
import type { RowData } from '../../store/store.js';
import { mirrorRows } from '../host/rows.js';

export const INTERFACE_PATH = '/interface';

const SYS_NET = '/sys/class/net';

const bare: PropType<string> = { ...stringType, quoted: false };
const mtuType = intType(0, 65535, { numeric: true });
const countType = intType(0, Number.MAX_SAFE_INTEGER, { numeric: true });

/** Kernel interface kinds (uevent DEVTYPE) by the names RouterOS gives the same kinds. */
const KIND_NAMES: Readonly<Record<string, string>> = {
  bridge: 'bridge', vlan: 'vlan', wireguard: 'wg', veth: 'veth', bond: 'bond', macvlan: 'macvlan',
  vxlan: 'vxlan', wlan: 'wlan', ppp: 'ppp', l2tp: 'l2tp-ether',
};

/** ARPHRD_* link types (linux/if_arp.h) for interfaces without a DEVTYPE. */
const LINK_TYPES: Readonly<Record<number, string>> = {
  1: 'ether', 772: 'loopback', 768: 'ipip-tunnel', 769: 'ipipv6-tunnel', 776: '6to4-tunnel', 778: 'gre-tunnel',
  823: 'gre6-tunnel', 512: 'ppp', 65534: 'tun',
};

const IFF_UP = 0x1;

const COUNTERS = ['rx-byte', 'tx-byte', 'rx-packet', 'tx-packet', 'rx-drop', 'tx-drop', 'rx-error', 'tx-error'] as const;
/** /sys/class/net/<name>/statistics file of each counter. */
const COUNTER_FILES: Readonly<Record<(typeof COUNTERS)[number], string>> = {
  'rx-byte': 'rx_bytes', 'tx-byte': 'tx_bytes', 'rx-packet': 'rx_packets', 'tx-packet': 'tx_packets',
  'rx-drop': 'rx_dropped', 'tx-drop': 'tx_dropped', 'rx-error': 'rx_errors', 'tx-error': 'tx_errors',
};

async function readText(file: string): Promise<string | undefined> {
  try {
    return (await fs.promises.readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

export interface HostInterface {
  readonly row: RowData;
  readonly counters: Partial<Record<(typeof COUNTERS)[number], number>>;
}

/** One interface from /sys/class/net. */
async function sysInterface(name: string): Promise<HostInterface> {
  const dir = path.join(SYS_NET, name);
  const read = (file: string) => readText(path.join(dir, file));
  const devtype = /^DEVTYPE=(.*)$/m.exec((await read('uevent')) ?? '')?.[1];
  const linkType = Number(await read('type'));
  const tun = (await read('tun_flags')) !== undefined;
  const type = (devtype && KIND_NAMES[devtype]) ?? devtype ?? (tun ? 'tun' : LINK_TYPES[linkType]) ?? 'unknown';
  const flags = parseInt((await read('flags')) ?? '0', 16);
  const mtu = Number(await read('mtu'));
  const mac = await read('address');
  const row: RowData = { name, 'default-name': name, type };
  if (Number.isInteger(mtu) && mtu > 0) { row.mtu = mtu; row['actual-mtu'] = mtu; }
  if (mac && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac)) row['mac-address'] = mac.toUpperCase();
  row.disabled = (flags & IFF_UP) === 0;
  // Running: the link has a carrier (sysfs flags do not carry IFF_RUNNING; carrier can not be
  // read while the link is down).
  row.running = !row.disabled && ((await read('carrier')) === '1' || (await read('operstate')) === 'up');
  const counters: HostInterface['counters'] = {};
  for (const c of COUNTERS) {
    const n = Number(await read(`statistics/${COUNTER_FILES[c]}`));
    if (Number.isSafeInteger(n)) counters[c] = n;
  }
  return { row, counters };
}

/** This host's interfaces, in the kernel's order (by ifindex) where it can be read. */
export async function hostInterfaces(): Promise<HostInterface[]> {
  let names: string[] | undefined;
  try {
    names = await fs.promises.readdir(SYS_NET);
  } catch {
    names = undefined;
  }
  if (names) {
    const all = await Promise.all(names.map(async (n) => ({ n, index: Number(await readText(path.join(SYS_NET, n, 'ifindex'))) })));
    all.sort((a, b) => a.index - b.index || (a.n < b.n ? -1 : 1));
    return Promise.all(all.map(({ n }) => sysInterface(n)));
  }
  // Not Linux: what Node knows (no MTU, no link state; an interface with addresses is up).
  return Object.entries(os.networkInterfaces()).map(([name, addrs]) => {
    const first = addrs?.[0];
    const row: RowData = { name, 'default-name': name, type: first?.internal ? 'loopback' : 'ether', disabled: false, running: true };
    if (first?.mac) row['mac-address'] = first.mac.toUpperCase();
    return { row, counters: {} };
  });
}

/** Traffic counters change all the time: kept in the appliance's cache, not in the rows. */
const countersOf = (env: Environment): Map<string, HostInterface['counters']> => env.cache.table('interface.counters');
const counterOf = (name: (typeof COUNTERS)[number]) => (row: RowData, ctx: TypeContext): number | undefined =>
  countersOf(ctx.env).get(String(row.name))?.[name];

export const interfaceMenu: MenuDecl = {
  path: INTERFACE_PATH,
  kind: 'list',
  help: 'This host\'s network interfaces',
  key: 'name',
  verbs: ['print', 'get', 'find', 'export'],
  columns: ['name', 'type', 'actual-mtu', 'l2mtu', 'max-l2mtu', 'mac-address'],
  properties: [
    { name: 'name', type: stringType, access: 'ro' },
    { name: 'default-name', type: stringType, access: 'ro' },
    { name: 'type', type: stringType, access: 'ro' },
    { name: 'mtu', type: mtuType, access: 'ro' },
    { name: 'actual-mtu', type: mtuType, access: 'ro' },
    // Not readable from the host: left out (and their columns with them).
    { name: 'l2mtu', type: mtuType, access: 'ro' },
    { name: 'max-l2mtu', type: mtuType, access: 'ro' },
    { name: 'mac-address', type: bare, access: 'ro' },
    ...COUNTERS.map((c) => ({ name: c, type: countType, access: 'ro' as const, compute: counterOf(c), detail: 'never' as const })),
    { name: 'disabled', type: boolType, access: 'ro', flag: { letter: 'X' }, detail: 'never' },
    { name: 'running', type: boolType, access: 'ro', flag: { letter: 'R', sharesColumnWith: 'X' }, detail: 'never' },
    { name: 'dynamic', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'D', rank: 0 }, detail: 'never' },
    { name: 'slave', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'S' }, detail: 'never' },
  ],
  async prepare(env) {
    const host = await hostInterfaces();
    const counters = countersOf(env);
    counters.clear();
    for (const i of host) counters.set(String(i.row.name), i.counters);
    await mirrorRows(env, interfaceMenu, host.map((i) => i.row), (r) => String(r.name));
  },
};
