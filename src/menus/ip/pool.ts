// /ip pool: named address ranges (DHCP server and VPN profiles hand out addresses from them).
// IPsec mode-config hands out addresses of a pool through charon (src/services/ipsec/), which
// keeps the leases itself: `/ip pool used` stays empty.

import { invalidValue } from '../../errors.js';
import { refType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropType } from '../../menu/types.js';
import { RosArray, valueToString } from '../../menu/values.js';
import { formatAddressMatcher, parseAddressMatcher } from './firewall-match.js';

export const POOL_PATH = '/ip/pool';

/** `10.0.0.2-10.0.0.254,10.1.0.0/24`: ranges, prefixes or single addresses, shown canonical. */
const rangesType: PropType<string[]> = {
  help: 'IP-IP | IP/prefix | IP [,…]',
  parse(v, _ctx, name) {
    const parts = v instanceof RosArray ? v.values().map(valueToString) : valueToString(v).split(',');
    return parts.map((p) => p.trim()).filter((p) => p !== '').map((p) => {
      const m = parseAddressMatcher(p);
      if (!m) throw invalidValue(name);
      return formatAddressMatcher(m);
    });
  },
  display: (v) => v.join(','),
  api: (v) => v.join(','),
  script: (v) => (v.length === 1 ? v[0] : RosArray.of(v)),
  isEmpty: (v) => v.length === 0,
};

export const poolMenu: MenuDecl = {
  path: POOL_PATH,
  kind: 'list',
  help: 'IP address pools',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'comment', 'export'],
  columns: ['name', 'ranges'],
  properties: [
    { name: 'name', type: stringType, required: true, unique: true, help: 'Name of the pool' },
    { name: 'ranges', type: rangesType, required: true, help: 'Addresses of the pool' },
    { name: 'next-pool', type: refType(POOL_PATH, { none: true }), help: 'Pool to use when this one is used up' },
    { name: 'comment', type: stringType },
  ],
};

/** `/ip pool used`: addresses handed out from pools. rospki lists none (IPsec's leases are charon's). */
export const poolUsedMenu: MenuDecl = {
  path: `${POOL_PATH}/used`,
  kind: 'list',
  help: 'Addresses in use from pools',
  verbs: ['print', 'get', 'find'],
  columns: ['pool', 'address', 'owner', 'info'],
  properties: [
    { name: 'pool', type: stringType, access: 'ro' },
    { name: 'address', type: stringType, access: 'ro' },
    { name: 'owner', type: stringType, access: 'ro' },
    { name: 'info', type: stringType, access: 'ro' },
  ],
};
