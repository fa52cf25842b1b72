// Rows of menus that are not configuration but facts: singletons that a data directory made
// before the menu existed does not have yet, and lists that mirror something outside the store
// (this host's interfaces, addresses, routes, file system), brought up to date before each
// command (MenuDecl.prepare) so their ids stay stable while the facts stay true.

import { BUILTIN, genericCommands, newRowData, typeContext } from '../../menu/generic.js';
import { failure } from '../../errors.js';
import type { CommandDecl, Environment, MenuDecl } from '../../menu/types.js';
import type { RowData, StoredRow } from '../../store/store.js';

/** The singleton's row with its declared defaults, made when missing (old data directories). */
export async function ensureSingletonRow(env: Environment, menu: MenuDecl): Promise<void> {
  if (await env.store.read((tx) => tx.get(menu.path, 1) !== undefined)) return;
  await env.store.write((tx) => {
    if (!tx.get(menu.path, 1)) tx.insert(menu.path, newRowData(menu, typeContext(env, tx)));
  });
}

const same = (a: RowData, b: RowData): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Makes the rows of `menu` that mirror facts equal to `facts` (matched by `identity`): new facts
 * are added, gone ones removed, changed ones updated; nothing is written when nothing changed.
 * These rows are marked as the system's own (BUILTIN), so an export writes nothing for them, and
 * they are dynamic; rows a user added (static configuration) are left alone.
 */
export async function mirrorRows(env: Environment, menu: MenuDecl, facts: readonly RowData[], identity: (row: RowData) => string): Promise<void> {
  const wanted = new Map(facts.map((f) => [identity(f), f] as const));
  const mirrored = (rows: readonly StoredRow[]) => rows.filter((r) => r.data[BUILTIN] !== undefined);
  const stale = await env.store.read((tx) => {
    const rows = mirrored(tx.list(menu.path));
    if (rows.length !== wanted.size) return true;
    return rows.some((r) => {
      const fact = wanted.get(identity(r.data));
      return !fact || !same({ ...fact, [BUILTIN]: fact }, r.data);
    });
  });
  if (!stale) return;
  await env.store.write((tx) => {
    const seen = new Set<string>();
    for (const row of mirrored(tx.list(menu.path))) {
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

/** A row that mirrors a fact of the host (mirrorRows), not one a user added. */
export const isHostFact = (row: RowData): boolean => row[BUILTIN] !== undefined;

/**
 * Where the host's facts (dynamic) and a user's static entries share a list: a fact can not be
 * changed (MenuDecl.validate gets the row as it would be stored) or removed, as RouterOS says.
 */
export function refuseFactChange(row: RowData): void {
  if (isHostFact(row)) throw failure('can not change dynamic entry');
}

export function refuseFactRemoval(path: string): NonNullable<MenuDecl['beforeRemove']> {
  return (id, tx) => {
    const row = tx.get(path, id);
    if (row && isHostFact(row.data)) throw failure('can not remove dynamic entry');
  };
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
