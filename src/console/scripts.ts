// The console language as a service of the environment (env.scripts): /system script run,
// /import and the scheduler run script text through it without importing the console.
//
// Like RouterOS: the whole text is parsed and checked first, then run, stopping at the first
// error, reported as `Script Error: <console text> (line L column C)` by /import (spec §6.1)
// and as the bare console text by `/system script run` (M-SCRIPT "Script permissions",
// `not enough permissions (9)`; `bad command name routerboard (line 236 column 42)`); a runtime
// error keeps its command and line for /execute, which shows them (`… (/ip/service/set
// (certificate); line 1)`: RosError.scriptText). A dry run
// (`/import … dry-run`) lists every problem instead — `#line N`, the line, the error — and ends
// with `Script Error: found N error(s) in import file` (RouterOS 7.16+ import manual). Global
// variables belong to a user: every script, import, scheduler event and console of that user
// sees the same ones until the appliance stops, as RouterOS's global scope is per user.

import type { Clock } from '../clock.js';
import { RosError } from '../errors.js';
import type { Executor } from '../menu/executor.js';
import type { Registry } from '../menu/registry.js';
import type { ScriptRunner, Session } from '../menu/types.js';
import type { Value } from '../menu/values.js';
import { GlobalVariables } from './globals.js';
import { Interpreter } from './interpreter.js';
import type { NameLookup } from './resolve.js';

/** Characters of a script's output kept for its caller; what it prints beyond is dropped. */
export const SCRIPT_OUTPUT_LIMIT = 16 * 1024 * 1024;

export class ConsoleScriptRunner implements ScriptRunner {
  private readonly globals = new Map<string, GlobalVariables>();

  /** `executor` is a function: the appliance creates the executor after its environment. */
  constructor(
    private readonly registry: Registry,
    private readonly executor: () => Executor,
    private readonly log: (topic: string, message: string) => void,
    private readonly clock?: Clock,
    /** The router's DNS resolver for `:resolve` (the appliance's running DNS service). */
    private readonly lookup?: () => NameLookup | undefined,
  ) {}

  async run(source: string, session: Session, opts: { dryRun?: boolean; name?: string; plainErrors?: boolean; locals?: ReadonlyMap<string, Value> } = {}): Promise<string> {
    let printed = '';
    // A script run from a terminal may ask (a missing argument, `:return` without a value): what
    // it printed so far is shown before the question, and is then no longer part of its output.
    const ask = session.prompt;
    const prompt: Session['prompt'] = ask && !opts.dryRun
      ? (question, masked) => { const before = printed; printed = ''; return ask(before + question, masked); }
      : undefined;
    // What the script prints is kept for its caller up to a bound: a script that never ends
    // (`/log print follow` in a scheduled script) must not grow it without end.
    const keep = (text: string): void => { if (printed.length < SCRIPT_OUTPUT_LIMIT) printed += text; };
    const interpreter = this.interpreter({ ...session, lastPrint: new Map(), prompt, progress: undefined }, keep, opts.name, opts.locals);
    if (opts.dryRun) {
      const problems = interpreter.checkAll(source);
      if (problems.length === 0) return '';
      const lines = source.split('\n');
      const listing = problems.map((p) => `#line ${p.line}\n${(lines[(p.line ?? 1) - 1] ?? '').replace(/\r$/, '')}\n${p.consoleText()}\n`).join('');
      const found = new RosError('script', `${listing}Script Error: found ${problems.length} error(s) in import file`);
      found.complete = true;
      throw found;
    }
    try {
      await interpreter.run(source);
    } catch (e) {
      if (e instanceof RosError && e.kind === 'interrupted') throw e;
      const inner = e instanceof RosError ? e : this.executor().toRosError(e, 'script');
      const failed = new RosError('script', `${printed}${opts.plainErrors ? '' : 'Script Error: '}${inner.consoleText()}`);
      // Where it failed stays with it: a console shows the bare text, /execute the location
      // too (RosError.scriptText); the command that ran the script adds no location of its own.
      failed.argument = inner.argument;
      failed.scriptLocation = inner.line === undefined ? inner.scriptLocation : undefined;
      failed.complete = failed.scriptLocation === undefined;
      // The error alone, also through nested runs (`/system script run`, /import inside it).
      failed.scriptError = inner.scriptError ?? inner;
      throw failed;
    }
    return printed;
  }

  globalsOf(user: string): Map<string, Value> {
    let mine = this.globals.get(user);
    if (!mine) this.globals.set(user, mine = new GlobalVariables());
    return mine;
  }

  allGlobals(): ReadonlyMap<string, Map<string, Value>> {
    return this.globals;
  }

  check(source: string): void {
    const session: Session = { user: '', via: 'script', policies: new Set(), lastPrint: new Map(), width: 80 };
    this.interpreter(session, () => {}).compile(source);
  }

  private interpreter(session: Session, output: (text: string) => void, jobName?: string, locals?: ReadonlyMap<string, Value>): Interpreter {
    return new Interpreter({
      registry: this.registry, executor: this.executor(), session, output, log: this.log, globals: this.globalsOf(session.user),
      clock: this.clock ? () => this.clock!.now() : undefined, jobName, locals, lookup: this.lookup,
    });
  }
}
