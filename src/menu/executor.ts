// The command executor: every front end (console, scripts, REST, API, SSH, and the web page,
// SCEP and ACME to come) hands it a Command {path, command, args, session} and gets a
// CommandResult or a RosError (design.md). It owns the contract of every command:
//
//  1. the menu and the command exist (exact names: front ends resolve their own abbreviations
//     of menus and commands with the same prefix rule, matchArgName);
//  2. the user may run it: the command's policies, the front end's own (`api`, `rest-api`, …) and
//     those of every argument given, checked against what the user's group grants at this very
//     moment (a disabled, demoted or removed user's open sessions lose their rights at once);
//  3. every argument is parsed through its declared type, once, with one prefix rule (args.ts);
//     commands receive typed values;
//  4. the command runs; its writes are acknowledged only once durable (the store's contract);
//  5. anything thrown leaves as one RosError (failures.ts); refused file names are logged.

import { notEnoughPermissions, RosError } from '../errors.js';
import { UnsafeFileName } from '../store/files.js';
import type { ReadMark, ReadTx } from '../store/store.js';
import { parseArgs } from './args.js';
import { toRosError } from './failures.js';
import { typeContext } from './generic.js';
import type { Registry } from './registry.js';
import type { CommandResult, Environment, Policy, RowPredicate, Session } from './types.js';
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
  /**
   * When the request reached the front end (Store.mark): the command's reads see everything
   * committed before then. Default: when the executor got it.
   */
  readonly since?: ReadMark;
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
    if (req.session.signal?.aborted) throw new RosError('interrupted', 'interrupted');
    const required = typeof command.policy === 'string' ? [command.policy] : command.policy;
    const check = (tx: ReadTx): ReadonlySet<Policy> => {
      const policies = effectivePolicies(env, tx, req.session);
      if (required.some((p) => !policies.has(p))) throw notEnoughPermissions();
      return policies;
    };
    const since = req.since ?? env.store.mark();
    if (menu.prepare) {
      // Only a user who may run the command brings the menu up to date (the /file mirror writes).
      await env.store.read(check, since);
      await menu.prepare(env);
    }
    const { policies, args } = await env.store.read((tx) => ({ policies: check(tx), args: parseArgs(command, req.args, typeContext(env, tx)) }), since);
    for (const decl of command.args) {
      if (decl.policy && args.has(decl) && !policies.has(decl.policy)) throw notEnoughPermissions();
    }
    return command.run({ menu, command, args, where: req.where, session: req.session, policies, env, since, policiesNow: check });
  }

  private async logRefusal(session: Session, e: UnsafeFileName): Promise<void> {
    await logFileRefusal(this.env, session, e);
  }
}

/**
 * What a session may do now: its ceiling (the policies it logged in with, or a script's), narrowed
 * by what the user's group grants at this moment — nothing for a disabled or removed user — and
 * nothing at all when the front end's own policy is gone. The host's operator is not narrowed.
 */
export function effectivePolicies(env: Environment, tx: ReadTx, session: Session): ReadonlySet<Policy> {
  if (session.operator) return session.policies;
  const live = env.access.policiesOf(tx, session.user, session.stamp);
  if (!live) return NONE;
  const out = new Set<Policy>();
  for (const p of session.policies) if (live.has(p)) out.add(p);
  if (session.channel && !out.has(session.channel)) return NONE;
  return out;
}

const NONE: ReadonlySet<Policy> = new Set();

/** A refused file name is logged in its own transaction (the command's own one changed nothing). */
export async function logFileRefusal(env: Environment, session: Pick<Session, 'user' | 'via'>, e: UnsafeFileName): Promise<void> {
  await env.store.write((tx) => env.log(tx, 'system,error', `file access refused for ${session.user} (${session.via}): ${e.message}`)).catch(() => {});
}
