// A console session: one user's interpreter with its current menu, globals and row numbers.
// The local terminal, `-e`/.rsc scripts, the daemon's control socket and (later) SSH all drive
// one of these, so they print exactly the same thing.

import type { Executor } from '../menu/executor.js';
import { printable } from '../menu/layout.js';
import type { Registry } from '../menu/registry.js';
import type { Environment } from '../menu/types.js';
import type { Store } from '../store/store.js';
import type { Session } from '../menu/types.js';
import { completeLine, helpAt, type Completion } from './complete.js';
import { Interpreter } from './interpreter.js';
import { routerLookup } from './resolve.js';

export interface RunOutcome {
  ok: boolean;
  /** Console text of the error, when not ok. */
  error?: string;
  /** `/quit` ended the text (also inside a longer line or a block): a terminal ends its session. */
  quit?: boolean;
}

/**
 * What a console needs of the appliance it runs on (the Appliance is one): the console is a
 * front end below the appliance that assembles it, so it names only what it uses.
 */
export interface ConsoleHost {
  readonly registry: Registry;
  readonly executor: Executor;
  readonly store: Store;
  readonly env: Environment;
  session(user: string, via: string, extra?: Partial<Session>): Promise<Session>;
  identity(): Promise<string>;
}

/** What a terminal front end needs from a console, wherever it runs (here, or behind the control socket). */
export interface ConsoleBackend {
  run(source: string, output: (text: string) => void): Promise<RunOutcome>;
  /** Ctrl-C while a command runs: abort it. */
  interrupt(): void;
  prompt(): Promise<string>;
  complete(line: string): Promise<Completion>;
  help(line: string): Promise<string>;
  /** The terminal changed its width: tables are laid out for the new one. */
  resize?(width: number): void;
  close(): void;
}

export class ConsoleSession {
  private readonly interpreter: Interpreter;
  /** A live progress line is on the screen (terminal only); the next output replaces it. */
  private progressShown = false;
  /** Cancellation of the whole session (the connection that carries it went away). */
  private outerSignal: AbortSignal | undefined;

  private constructor(readonly app: ConsoleHost, readonly session: Session, private output: (text: string) => void) {
    this.interpreter = new Interpreter({
      registry: app.registry,
      executor: app.executor,
      session,
      output: (text: string) => this.write(text),
      // `:log info "x"` lands in /log with the script topic, as on RouterOS.
      log: (topic: string, message: string) => {
        app.store.write((tx) => app.env.log(tx, `script,${topic}`, message)).catch(() => {});
      },
      clock: () => app.env.clock.now(),
      lookup: () => routerLookup(app.env),
      // the user's globals, shared with their scripts and other consoles
      globals: app.env.scripts.globalsOf(session.user),
    });
  }

  /**
   * liveProgress: on a terminal, long commands (RSA key generation) show a progress line that
   * is redrawn in place, like a RouterOS monitor; scripts only get the final block.
   */
  static async open(app: ConsoleHost, opts: {
    user?: string; via?: string; width?: number; output: (text: string) => void;
    prompt?: Session['prompt']; signal?: AbortSignal; liveProgress?: boolean;
    /** The terminal's history, for `/console clear-history` (terminals only). */
    clearHistory?: Session['clearHistory'];
    /** Remote address of a network console (ssh), for /log. */
    address?: string;
    /** The host's operator (local terminal, -e, control socket): all policies. */
    operator?: boolean;
    /** The front end's own policy, needed on every command (`ssh`). */
    channel?: Session['channel'];
    /** The credential stamp of the login (network consoles). */
    stamp?: string;
    /** Output the client has not taken yet (Session.outputDrained). */
    outputDrained?: Session['outputDrained'];
  }): Promise<ConsoleSession> {
    let self: ConsoleSession | undefined;
    const session = await app.session(opts.user ?? 'admin', opts.via ?? 'console', {
      width: opts.width ?? 80, prompt: opts.prompt, clearHistory: opts.clearHistory, signal: opts.signal, address: opts.address,
      operator: opts.operator, channel: opts.channel, stamp: opts.stamp,
      progress: opts.liveProgress ? (fields) => self?.showProgress(fields) : undefined,
    });
    if (opts.outputDrained) (session as { outputDrained?: Session['outputDrained'] }).outputDrained = opts.outputDrained;
    self = new ConsoleSession(app, session, opts.output);
    self.outerSignal = opts.signal;
    return self;
  }

  private write(text: string): void {
    if (this.progressShown) {
      this.progressShown = false;
      this.output(`\r\x1b[K${text}`);
    } else this.output(text);
  }

  private showProgress(fields: Array<[string, unknown]>): void {
    const line = fields.map(([k, v]) => `  ${k}: ${String(v)}`).join('  ');
    this.output(`\r\x1b[K${line}`);
    this.progressShown = true;
  }

  setOutput(output: (text: string) => void): void {
    this.output = output;
  }

  /** Columns of the terminal this console prints on. */
  setWidth(width: number): void {
    if (Number.isInteger(width) && width > 0) (this.session as { width: number }).width = width;
  }

  get path(): string {
    return this.interpreter.currentPath;
  }

  /** Aborts the command that runs now (Ctrl-C on a terminal); the next run starts afresh. */
  private running: AbortController | undefined;

  interrupt(): void {
    this.running?.abort();
  }

  /** Runs console text (a line or a whole script); stops at the first error. */
  async run(source: string): Promise<RunOutcome> {
    // Each run gets its own cancellation, tied to the session's own (connection closed).
    const controller = new AbortController();
    this.running = controller;
    const outer = this.outerSignal;
    const abort = () => controller.abort();
    if (outer?.aborted) controller.abort();
    else outer?.addEventListener('abort', abort, { once: true });
    (this.session as { signal?: AbortSignal }).signal = controller.signal;
    try {
      const ended = await this.interpreter.run(source);
      this.write('');
      return ended === 'quit' ? { ok: true, quit: true } : { ok: true };
    } catch (e) {
      this.write('');
      // Never a stack or an internal message: an unexpected error shows only its reference.
      return { ok: false, error: this.app.executor.toRosError(e, 'console').consoleText() };
    } finally {
      // One listener per run would pile up on a long session (a PTY shell runs one per line).
      outer?.removeEventListener('abort', abort);
    }
  }

  /**
   * `[admin@MikroTik] /certificate> ` (spec Appendix C). The identity (any `write` user's text)
   * and the user name show control characters as `\XX`, as print does: a write user's
   * `/system identity set name="\1B]0;…\07\1B[2J"` drove the terminal of every admin who logged in.
   */
  async prompt(): Promise<string> {
    const identity = printable(await this.app.identity());
    const user = printable(this.session.user);
    return this.path === '/' ? `[${user}@${identity}] > ` : `[${user}@${identity}] ${this.path}> `;
  }

  complete(line: string): Promise<Completion> {
    return completeLine(this.app, this.session, this.path, line);
  }

  help(line: string): Promise<string> {
    return helpAt(this.app, this.session, this.path, line);
  }
}

/** The ConsoleBackend of a console in this process. */
export class LocalConsole implements ConsoleBackend {
  constructor(private readonly session: ConsoleSession) {}
  async run(source: string, output: (text: string) => void): Promise<RunOutcome> {
    this.session.setOutput(output);
    return this.session.run(source);
  }
  prompt(): Promise<string> { return this.session.prompt(); }
  interrupt(): void { this.session.interrupt(); }
  complete(line: string): Promise<Completion> { return this.session.complete(line); }
  help(line: string): Promise<string> { return this.session.help(line); }
  resize(width: number): void { this.session.setWidth(width); }
  close(): void {}
}
