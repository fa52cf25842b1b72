// /ip address: this host's IPv4 addresses, read-only (os.networkInterfaces()). rospki configures
// no address, so each row is dynamic (D), like an address a DHCP client put there: it is the
// host's, and it comes and goes with the host. Scripts find an interface's address with
// `/ip address get [find interface=eth0] address`.

import os from 'node:os';
import { boolType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropType } from '../../menu/types.js';
import type { RowData } from '../../store/store.js';
import { IpPrefix } from '../../menu/values.js';
import { mirrorRows } from '../host/rows.js';

export const ADDRESS_PATH = '/ip/address';

const bare: PropType<string> = { ...stringType, quoted: false };

/** The host's IPv4 addresses as rows: `10.0.2.15/24`, its network, its interface. */
export function hostAddresses(): RowData[] {
  const out: RowData[] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4') continue;
      const length = Number(a.cidr?.split('/')[1] ?? 32);
      const network = IpPrefix.parse(`${a.address}/${length}`)!.address.toString();
      out.push({ address: `${a.address}/${length}`, network, interface: name, 'actual-interface': name });
    }
  }
  return out;
}

export const addressMenu: MenuDecl = {
  path: ADDRESS_PATH,
  kind: 'list',
  help: 'This host\'s IPv4 addresses',
  verbs: ['print', 'get', 'find', 'export'],
  columns: ['address', 'network', 'interface'],
  properties: [
    { name: 'address', type: bare, access: 'ro' },
    { name: 'network', type: bare, access: 'ro' },
    { name: 'interface', type: bare, access: 'ro' },
    { name: 'actual-interface', type: bare, access: 'ro' },
    { name: 'comment', type: stringType, access: 'ro' },
    { name: 'disabled', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'X' }, detail: 'never' },
    { name: 'invalid', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'I', sharesColumnWith: 'X' }, detail: 'never' },
    { name: 'dynamic', type: boolType, access: 'ro', compute: () => true, flag: { letter: 'D' }, detail: 'never' },
  ],
  async prepare(env) {
    await mirrorRows(env, addressMenu, hostAddresses(), (r) => `${String(r.address)} ${String(r.interface)}`);
  },
};
