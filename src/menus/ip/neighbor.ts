// /ip neighbor: the routers found by MNDP, CDP and LLDP. rospki runs no discovery protocol, so the
// list is always empty, as on a router whose discovery is off (`/ip neighbor discovery-settings
// set discover-interface-list=none`); it exists for scripts that look for a neighbour (eworm's
// check-routeros-update: `find where platform="MikroTik" version~…`) and then find none.

import { stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropType } from '../../menu/types.js';

const ro = (name: string, type: PropType = stringType) => ({ name, type, access: 'ro' as const });

export const neighborMenu: MenuDecl = {
  path: '/ip/neighbor',
  kind: 'list',
  help: 'Discovered neighbors (none: rospki runs no discovery)',
  verbs: ['print', 'get', 'find'],
  columns: ['interface', 'address', 'mac-address', 'identity', 'version', 'board'],
  // The properties of the manual's "Neighbor discovery" list.
  properties: [
    'interface', 'address', 'address4', 'address6', 'mac-address', 'identity', 'platform', 'version', 'board',
    'software-id', 'uptime', 'age', 'interface-name', 'system-description', 'system-caps', 'system-caps-enabled', 'discovered-by',
  ].map((n) => ro(n)),
};
