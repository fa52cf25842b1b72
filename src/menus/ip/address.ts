// /ip address: this host's IPv4 addresses (os.networkInterfaces()), and addresses a user adds.
// The host's are dynamic (D), like an address a DHCP client put there: they come and go with
// the host and can not be changed. Added ones are configuration that rospki keeps, exports and
// lets scripts find (IKEv2 set-up scripts add `10.0.88.1/24` on their bridge), but does not put
// on the host — rospki configures no network — so they show I (invalid) with a status saying
// so. Scripts find an interface's address with `/ip address get [find interface=eth0] address`.

import os from 'node:os';
import { invalidValue } from '../../errors.js';
import { boolType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropType } from '../../menu/types.js';
import type { RowData } from '../../store/store.js';
import { IpAddress, IpPrefix, valueToString } from '../../menu/values.js';
import { isHostFact, mirrorRows, refuseFactChange, refuseFactRemoval } from '../host/rows.js';
import { interfaceNameType } from '../interface/bridge.js';

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

/** An interface address: `10.0.88.1/24` keeps its host part (a bare address is /32). */
const interfaceAddressType: PropType<string> = {
  ...bare,
  help: 'IP/prefix',
  parse(v, _ctx, name) {
    const text = valueToString(v).trim();
    const [addr, len = '32', extra] = text.split('/');
    const ip = IpAddress.parse(addr ?? '');
    if (!ip || ip.family !== 4 || extra !== undefined || !/^\d{1,2}$/.test(len) || Number(len) > 32) throw invalidValue(name);
    return `${ip}/${Number(len)}`;
  },
};

const ipv4Type: PropType<string> = {
  ...bare,
  help: 'IP address',
  parse(v, _ctx, name) {
    const ip = IpAddress.parse(valueToString(v).trim());
    if (!ip || ip.family !== 4) throw invalidValue(name);
    return ip.toString();
  },
};

/** Not on the host: what a user added (rospki does not configure the host's network). */
const NOT_APPLIED = 'not applied: rospki does not configure this host\'s addresses';

export const addressMenu: MenuDecl = {
  path: ADDRESS_PATH,
  kind: 'list',
  help: 'IPv4 addresses: this host\'s, and addresses kept as configuration',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  columns: ['address', 'network', 'interface'],
  properties: [
    { name: 'address', type: interfaceAddressType, required: true },
    // The network of the address unless given (derive below, as RouterOS fills it).
    { name: 'network', type: ipv4Type },
    { name: 'interface', type: interfaceNameType, required: true },
    { name: 'actual-interface', type: bare, access: 'ro', compute: (row) => row['actual-interface'] ?? row.interface },
    { name: 'comment', type: stringType },
    { name: 'status', type: stringType, access: 'ro', compute: (row) => (isHostFact(row) ? undefined : NOT_APPLIED) },
    { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' },
    { name: 'invalid', type: boolType, access: 'ro', compute: (row) => !isHostFact(row), flag: { letter: 'I', sharesColumnWith: 'X' }, detail: 'never' },
    { name: 'dynamic', type: boolType, access: 'ro', compute: isHostFact, flag: { letter: 'D' }, detail: 'never' },
  ],
  async prepare(env) {
    await mirrorRows(env, addressMenu, hostAddresses(), (r) => `${String(r.address)} ${String(r.interface)}`);
  },
  derive(row) {
    if (row.network === undefined && typeof row.address === 'string') row.network = IpPrefix.parse(row.address)?.address.toString();
  },
  validate: refuseFactChange,
  beforeRemove: refuseFactRemoval(ADDRESS_PATH),
};
