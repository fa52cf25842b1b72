// /system routerboard — rospki runs on no RouterBOARD hardware, like a CHR: `routerboard: no`.
// Ansible's network_cli (community.routeros cliconf) reads it when it connects over SSH and
// fails on `bad command name`, so the menu must exist.
import { boolType } from '../../menu/proptypes.js';
import type { MenuDecl } from '../../menu/types.js';

export const routerboardMenu: MenuDecl = {
  path: '/system/routerboard',
  kind: 'singleton',
  help: 'RouterBOARD information',
  verbs: ['print', 'get'],
  properties: [
    { name: 'routerboard', type: boolType, access: 'ro', compute: () => false },
  ],
  async prepare(env) {
    // A computed-only singleton still needs its row for print/get.
    const has = await env.store.read((tx) => !!tx.get('/system/routerboard', 1));
    if (!has) await env.store.write((tx) => { if (!tx.get('/system/routerboard', 1)) tx.insert('/system/routerboard', {}); });
  },
};
