// `remove` of rows that belong to a user (/system script job, /system script environment):
// one's own, or another user's only with the `policy` policy and every policy that user holds
// (mayActFor: nobody reaches more through someone else's things than they hold, issue 11).

import { notEnoughPermissions } from '../../errors.js';
import { resolveItems } from '../../menu/generic.js';
import { itemsType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandCall, CommandDecl } from '../../menu/types.js';
import type { Value } from '../../menu/values.js';
import type { StoredRow, WriteTx } from '../../store/store.js';
import { mayActFor } from '../user/user.js';

/**
 * A `remove` command over `path` whose rows name their user in `ownerKey`; `forget` undoes
 * what the row stands for (stops a job, drops a variable) before the row goes. Every row is
 * checked before any is touched: one refused leaves them all as they were.
 */
export function ownedRemoveCommand(opts: {
  path: string; ownerKey: string; help: string; itemsHelp: string;
  forget(call: CommandCall, tx: WriteTx, row: StoredRow): void;
}): CommandDecl {
  const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: opts.itemsHelp };
  return {
    name: 'remove',
    help: opts.help,
    policy: 'write',
    args: [numbersArg],
    async run(call) {
      await call.env.store.write((tx) => {
        const rows = resolveItems(call.menu, call.args.get(numbersArg), call.session, tx).map((id) => tx.get(opts.path, id)!);
        if (rows.some((row) => !mayActFor(tx, call, String(row.data[opts.ownerKey])))) throw notEnoughPermissions();
        for (const row of rows) {
          opts.forget(call, tx, row);
          tx.remove(opts.path, row.id);
        }
      });
      return {};
    },
  };
}
