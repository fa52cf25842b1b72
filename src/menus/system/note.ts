// /system note: a note for whoever logs in (7.x). Kept and exported like any setting.
// rospki's login banners do not show it yet (docs/compatibility.md).

import { boolType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl } from '../../menu/types.js';
import { ensureSingletonRow } from '../host/rows.js';

export const noteMenu: MenuDecl = {
  path: '/system/note',
  kind: 'singleton',
  help: 'Note shown at login',
  verbs: ['print', 'get', 'set', 'export'],
  properties: [
    { name: 'show-at-login', type: boolType, default: true, help: 'Show the note when a user logs in' },
    { name: 'show-at-cli-login', type: boolType, default: false, help: 'Show the note before a terminal login' },
    { name: 'note', type: stringType, default: '', help: 'The text of the note' },
  ],
  async prepare(env) {
    await ensureSingletonRow(env, noteMenu);
  },
};
