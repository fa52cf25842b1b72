// /system script environment — the global variables of scripts and consoles (`:global`), one
// row per user and name, as RouterOS lists them; `remove` forgets one. Globals live in memory
// (env.scripts.globalsOf), so the menu mirrors their names into the store before each command, as
// /system script job mirrors its jobs. Values often hold tokens (eworm's global-config keeps
// notification credentials there): only callers with the `sensitive` policy see them, and they
// are read from memory when shown, never written into the database (RouterOS keeps globals in
// RAM only; a token must not outlive its variable in rospki.db or its WAL).

import { notEnoughPermissions } from '../../errors.js';
import { resolveItems } from '../../menu/generic.js';
import { itemsType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl } from '../../menu/types.js';
import { valueToString, type Value } from '../../menu/values.js';
import { mayActFor } from '../user/user.js';

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

const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'Variables to remove' };

/** Forgets globals: one's own, or another user's with `policy` and every policy they hold. */
const removeCommand: CommandDecl = {
  name: 'remove',
  help: 'Remove a global variable',
  policy: 'write',
  args: [numbersArg],
  async run(call) {
    const { env, session } = call;
    await env.store.write((tx) => {
      for (const id of resolveItems(call.menu, call.args.get(numbersArg), session, tx)) {
        const row = tx.get(ENVIRONMENT_PATH, id)!;
        const user = String(row.data.user);
        if (!mayActFor(tx, call, user)) {
          throw notEnoughPermissions();
        }
        env.scripts.globalsOf(user).delete(String(row.data.name));
        tx.remove(ENVIRONMENT_PATH, id);
      }
    });
    return {};
  },
};

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
