// /system history: the configuration changes RouterOS can undo. rospki has no undo (every
// command is one transaction, committed for good), so the list is empty and stays empty; what
// changed, and who changed it, is in /log (docs/compatibility.md).

import { boolType, dateType, enumSetType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl } from '../../menu/types.js';
import { POLICIES } from '../../menu/types.js';

export const historyMenu: MenuDecl = {
  path: '/system/history',
  kind: 'list',
  help: 'Undoable configuration changes',
  verbs: ['print', 'get', 'find'],
  columns: ['action', 'by', 'policy'],
  properties: [
    { name: 'action', type: stringType, access: 'ro' },
    { name: 'by', type: { ...stringType, quoted: false }, access: 'ro' },
    { name: 'policy', type: enumSetType(POLICIES), access: 'ro' },
    { name: 'time', type: dateType, access: 'ro' },
    { name: 'undoable', type: boolType, access: 'ro', flag: { letter: 'U' }, detail: 'never' },
    { name: 'redoable', type: boolType, access: 'ro', flag: { letter: 'R' }, detail: 'never' },
    { name: 'floating-undo', type: boolType, access: 'ro', flag: { letter: 'F' }, detail: 'never' },
  ],
};
