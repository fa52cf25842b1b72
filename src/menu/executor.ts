// The command executor: every front end (console, REST, API) hands it a Command
// {path, command, args, user} and gets a CommandResult or a RosError (design.md).

import { argumentError, notEnoughPermissions, RosError } from '../errors.js';
import type { Registry } from './registry.js';
import type { CommandResult, Environment, RowPredicate, Session } from './types.js';
import type { Value } from './values.js';

export interface CommandRequest {
  /** Menu path: `/certificate`. */
  readonly path: string;
  /** Full command name: `print`. */
  readonly command: string;
  /** Arguments by full name. */
  readonly args: Map<string, Value>;
  readonly where?: RowPredicate;
  readonly session: Session;
}

export class Executor {
  constructor(readonly env: Environment & { readonly registry: Registry }) {}

  get registry(): Registry {
    return this.env.registry;
  }

  async run(req: CommandRequest): Promise<CommandResult> {
    const menu = this.registry.menu(req.path);
    if (!menu) throw new RosError('argument', `no such command or directory (${req.path.split('/').pop()})`, 0);
    const command = this.registry.command(req.path, req.command);
    if (!command) throw new RosError('argument', `no such command or directory (${req.command})`, 0);
    if (!req.session.policies.has(command.policy)) throw notEnoughPermissions();
    for (const name of req.args.keys()) {
      if (!command.args.some((a) => a.name === name)) throw argumentError(`unknown parameter ${name}`);
    }
    for (const a of command.args) {
      if (a.required && !req.args.has(a.name)) throw argumentError(`missing =${a.name}=`);
    }
    if (req.session.signal?.aborted) throw new RosError('interrupted', 'interrupted');
    await menu.prepare?.(this.env);
    return command.run({ menu, command, args: req.args, where: req.where, session: req.session, env: this.env });
  }
}
