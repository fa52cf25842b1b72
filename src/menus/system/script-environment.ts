// /system script environment — the global variables of scripts and consoles (`:global`), one
// row per user and name, as RouterOS lists them; `remove` forgets one. Globals live in memory
// (env.scripts.globalsOf), so the menu mirrors their names into the store before each command, as
// /system script job mirrors its jobs. Values often hold tokens (eworm's global-config keeps
// notification credentials there): only callers with the `sensitive` policy see them, and they
// are read from memory when shown, never written into the database (RouterOS keeps globals in
// RAM only; a token must not outlive its variable in rospki.db or its WAL).

import { stringType } from '../../menu/proptypes.js';
import type { Environment, MenuDecl } from '../../menu/types.js';
import { valueToString } from '../../menu/values.js';
import { ownedRemoveCommand } from './owned-remove.js';

export const ENVIRONMENT_PATH = '/system/script/environment';

/** The rows now in the store become the globals now in memory, names only (when they differ). */
async function mirrorGlobals(env: Environment): Promise<void> {
  const now: Array<{ user: string; name: string }> = [];
  for (const [user, vars] of env.scripts.allGlobals()) {
    for (const name of vars.keys()) now.push({ user, name });
  }
  const same = await env.store.read((tx) => {
    const rows = tx.list(ENVIRONMENT_PATH);
    return rows.length === now.length && rows.every((r, i) => r.data.user === now[i]!.user && r.data.name === now[i]!.name && r.data.value === undefined);
  });
  if (same) return;
  await env.store.write((tx) => {
    for (const r of tx.list(ENVIRONMENT_PATH)) tx.remove(ENVIRONMENT_PATH, r.id);
    for (const row of now) tx.insert(ENVIRONMENT_PATH, row);
  });
}

/** Forgets globals: one's own, or another user's with `policy` and every policy they hold. */
const removeCommand = ownedRemoveCommand({
  path: ENVIRONMENT_PATH, ownerKey: 'user', help: 'Remove a global variable', itemsHelp: 'Variables to remove',
  forget: ({ env }, _tx, row) => { env.scripts.globalsOf(String(row.data.user)).delete(String(row.data.name)); },
});

export const environmentMenu: MenuDecl = {
  path: ENVIRONMENT_PATH,
  kind: 'list',
  help: 'Global variables of scripts',
  verbs: ['print', 'get', 'find'],
  columns: ['name', 'user', 'value'],
  properties: [
    { name: 'name', type: stringType, access: 'ro' },
    { name: 'user', type: stringType, access: 'ro' },
    {
      name: 'value', type: stringType, access: 'ro', secretWhen: () => true,
      compute: (row, ctx) => {
        const value = ctx.env.scripts.allGlobals().get(String(row.user))?.get(String(row.name));
        return value === undefined ? undefined : valueToString(value);
      },
    },
  ],
  commands: [removeCommand],
  prepare: mirrorGlobals,
};
