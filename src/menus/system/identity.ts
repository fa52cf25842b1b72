// /system identity — the router's name, shown in the prompt `[admin@<identity>] >`.
import { stringType } from '../../menu/proptypes.js';
import type { MenuDecl } from '../../menu/types.js';

export const identityMenu: MenuDecl = {
  path: '/system/identity',
  kind: 'singleton',
  help: 'System identity',
  verbs: ['print', 'get', 'set', 'export'],
  properties: [
    { name: 'name', type: stringType, default: 'MikroTik', help: 'System name' },
  ],
};
