// The command executor: every front end (console, scripts, REST, API, SSH, and the web page,
// SCEP and ACME to come) hands it a Command {path, command, args, session} and gets a
// CommandResult or a RosError (design.md). It owns the contract of every command:
//
//  1. the menu and the command exist (exact names: front ends resolve their own abbreviations
//     of menus and commands with the same prefix rule, matchArgName);
//  2. the user may run it (policies);
//  3. every argument is parsed through its declared type, once, with one prefix rule (args.ts);
//     commands receive typed values;
//  4. the command runs; its writes are acknowledged only once durable (the store's contract);
//  5. anything thrown leaves as one RosError (failures.ts); refused file names are logged.

import { notEnoughPermissions, RosError } from '../errors.js';
import { UnsafeFileName } from '../store/files.js';
import { parseArgs, parsingReadsStore } from './args.js';
import { toRosError } from './failures.js';
import { typeContext } from './generic.js';
import type { Registry } from './registry.js';
import type { CommandResult, Environment, RowPredicate, Session } from './types.js';
import type { Value } from './values.js';

export interface CommandRequest {
  /** Menu path: `/certificate`. */
  readonly path: string;
  /** Full command name: `print`. */
  readonly command: string;
  /**
   * Arguments as the front end has them: names full or abbreviated, values as console text,
   * typed script values or REST/API strings; null unsets (`!name`).
   */
  readonly args: ReadonlyMap<string, Value>;
  readonly where?: RowPredicate;
  readonly session: Session;
}

export class Executor {
  constructor(readonly env: Environment & { readonly registry: Registry }) {}

  get registry(): Registry {
    return this.env.registry;
  }

  /** Any error as the user sees it, for edges that ran code outside run() (the console language). */
  toRosError(e: unknown, where: string): RosError {
    return toRosError(e, this.env.reportInternalError, where);
  }

  async run(req: CommandRequest): Promise<CommandResult> {
    try {
      return await this.runChecked(req);
    } catch (e) {
      if (e instanceof UnsafeFileName) await this.logRefusal(req.session, e);
      throw toRosError(e, this.env.reportInternalError, `${req.path} ${req.command}`);
    }
  }

  private async runChecked(req: CommandRequest): Promise<CommandResult> {
    const { env } = this;
    const menu = this.registry.menu(req.path);
    if (!menu) throw new RosError('argument', `no such command or directory (${req.path.split('/').pop()})`, 0);
    const command = this.registry.command(req.path, req.command);
    if (!command) throw new RosError('argument', `no such command or directory (${req.command})`, 0);
    if (!req.session.policies.has(command.policy)) throw notEnoughPermissions();
    if (req.session.signal?.aborted) throw new RosError('interrupted', 'interrupted');
    await menu.prepare?.(env);
    const args = parsingReadsStore(command, req.args)
      ? await env.store.read((tx) => parseArgs(command, req.args, typeContext(env, tx)))
      : parseArgs(command, req.args, typeContext(env, env.store.view()));
    for (const decl of command.args) {
      if (decl.policy && args.has(decl) && !req.session.policies.has(decl.policy)) throw notEnoughPermissions();
    }
    return command.run({ menu, command, args, where: req.where, session: req.session, env });
  }

  private async logRefusal(session: Session, e: UnsafeFileName): Promise<void> {
    await logFileRefusal(this.env, session, e);
  }
}

/** A refused file name is logged in its own transaction (the command's own one changed nothing). */
export async function logFileRefusal(env: Environment, session: Pick<Session, 'user' | 'via'>, e: UnsafeFileName): Promise<void> {
  await env.store.write((tx) => env.log(tx, 'system,error', `file access refused for ${session.user} (${session.via}): ${e.message}`)).catch(() => {});
}
