// Rows of menus that are not configuration but facts: singletons that a data directory made
// before the menu existed does not have yet, and lists that mirror something outside the store
// (this host's interfaces, addresses, routes, file system), brought up to date before each
// command (MenuDecl.prepare) so their ids stay stable while the facts stay true.

import { BUILTIN, genericCommands, newRowData, typeContext } from '../../menu/generic.js';
import type { CommandDecl, Environment, MenuDecl } from '../../menu/types.js';
import type { RowData } from '../../store/store.js';

/** The singleton's row with its declared defaults, made when missing (old data directories). */
export async function ensureSingletonRow(env: Environment, menu: MenuDecl): Promise<void> {
  if (await env.store.read((tx) => tx.get(menu.path, 1) !== undefined)) return;
  await env.store.write((tx) => {
    if (!tx.get(menu.path, 1)) tx.insert(menu.path, newRowData(menu, typeContext(env, tx)));
  });
}

const same = (a: RowData, b: RowData): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Makes the rows of `menu` equal to `facts` (matched by `identity`): new facts are added, gone
 * ones removed, changed ones updated; nothing is written when nothing changed. The rows are
 * marked as the system's own (BUILTIN), so an export writes nothing for them.
 */
export async function mirrorRows(env: Environment, menu: MenuDecl, facts: readonly RowData[], identity: (row: RowData) => string): Promise<void> {
  const wanted = new Map(facts.map((f) => [identity(f), f] as const));
  const stale = await env.store.read((tx) => {
    const rows = tx.list(menu.path);
    if (rows.length !== wanted.size) return true;
    return rows.some((r) => {
      const fact = wanted.get(identity(r.data));
      return !fact || !same({ ...fact, [BUILTIN]: fact }, r.data);
    });
  });
  if (!stale) return;
  await env.store.write((tx) => {
    const seen = new Set<string>();
    for (const row of tx.list(menu.path)) {
      const key = identity(row.data);
      const fact = wanted.get(key);
      if (!fact || seen.has(key)) { tx.remove(menu.path, row.id); continue; }
      seen.add(key);
      const data = { ...fact, [BUILTIN]: fact };
      if (!same(data, row.data)) tx.update(menu.path, row.id, data);
    }
    for (const [key, fact] of wanted) if (!seen.has(key)) tx.insert(menu.path, { ...fact, [BUILTIN]: fact });
  });
}

/** `reset` of a settings menu (/ip cloud 7.21+, /system ntp client): every setting to its default. */
export function resetCommand(menu: MenuDecl): CommandDecl {
  const set = genericCommands({ ...menu, verbs: ['set'] })[0]!;
  const writable = menu.properties.filter((p) => p.access !== 'ro' && !p.compute).map((p) => p.name);
  return {
    name: 'reset', help: 'Reset the settings to their defaults', policy: set.policy, args: [],
    run: (call) => set.run({ ...call, command: set, args: call.args.with(writable.map((n) => [n, null])) }),
  };
}
