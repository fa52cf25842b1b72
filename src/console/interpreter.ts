// The console interpreter (design.md: "The console interpreter is one front end on top of the
// executor; it adds the scripting language"). One instance per console session: it keeps the
// current menu (the prompt), global variables and the session's print numbering.
//
// run() works in two steps, as RouterOS does: the whole text is parsed and checked first
// (command names, argument names, declared variables — spec §7; errors carry line/column),
// then it runs, stopping at the first error. Menu commands go to the executor; their result is
// printed with renderConsole and their value (`ret`) flows into `[ … ]`.

import v8 from 'node:v8';
import { systemClock } from '../clock.js';
import { RosError } from '../errors.js';
import { matchArgName } from '../menu/args.js';
import { renderConsole } from '../menu/render.js';
import type {
  ArgDecl, CommandDecl, CommandResult, MenuDecl, RowPredicate, RowView, Session,
} from '../menu/types.js';
import {
  Duration, IpAddress, IpPrefix, ItemId, parseDuration, RosArray, type Value,
} from '../menu/values.js';
import type { BraceExpr, CommandStmt, Expr, Pos, Program, Stmt } from './ast.js';
import {
  BUILTINS, builtinParamNames, ExitSignal, LoopSignal, nameOf, QuitSignal, ReturnSignal, Scope, type BuiltinHost, type BuiltinSpec,
} from './builtins.js';
import {
  binaryOp, cloneValue, CodeValue, compareValues, inPrefix, literalValue, posixRegExp, toBool, toBoolConv,
  toNum, toScriptString, toTime, unaryOp, valuesEqual,
} from './expr.js';
import { GlobalVariables, nestedSetGrowth, valueSize } from './globals.js';
import { ConsoleSyntaxError, positionOf } from './lexer.js';
import { parse, parseFilter } from './parser.js';
import type { NameLookup } from './resolve.js';

// ---------------------------------------------------------------------------------------------
// The menu layer as the console sees it (src/menu/registry.ts, executor.ts implement these)

export interface RegistryLike {
  menu(path: string): MenuDecl | undefined;
  children(path: string): string[];
  commands(path: string): CommandDecl[];
  command(path: string, name: string): CommandDecl | undefined;
}

export interface CommandRequestLike {
  path: string;
  command: string;
  args: ReadonlyMap<string, Value>;
  where?: RowPredicate;
  session: Session;
}

export interface ExecutorLike {
  run(req: CommandRequestLike): Promise<CommandResult>;
}

export interface InterpreterOptions {
  readonly registry: RegistryLike;
  readonly executor: ExecutorLike;
  readonly session: Session;
  /** Console text: `:put` lines and rendered command results (each ends with a newline). */
  readonly output: (text: string) => void;
  /** `:log <topic> <message>`; without it `:log` is silently dropped. */
  readonly log?: (topic: string, message: string) => void;
  /** How a command result is printed; defaults to renderConsole. */
  readonly render?: (result: CommandResult, session: Session) => string;
  /** Global variables; pass one map to share them between sessions. */
  readonly globals?: Map<string, Value>;
  /** Initial menu path (the prompt). */
  readonly path?: string;
  /** `:delay`; injectable for tests. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Milliseconds clock for `:time`. */
  readonly now?: () => number;
  /** The router clock (epoch milliseconds) for `:timestamp`; the host clock when not given. */
  readonly clock?: () => number;
  /** What `:jobname` answers: the name of the script that runs. */
  readonly jobName?: string;
  /**
   * Variables the script finds declared when it starts (netwatch gives its scripts the entry's
   * results: `$"rtt-avg"`), as if `:local` had set them before its first line.
   */
  readonly locals?: ReadonlyMap<string, Value>;
  /** The router's DNS resolver for `:resolve`, asked when it is needed (the service may start later). */
  readonly lookup?: () => NameLookup | undefined;
}

// ---------------------------------------------------------------------------------------------
// Resolution of command lines (cached on the CommandStmt)

interface MenuArg {
  readonly name: string;
  readonly decl: ArgDecl;
  readonly kind: 'value' | 'flag' | 'unset';
  readonly value?: Expr;
}

type Resolved =
  | { readonly kind: 'cd'; readonly path: string }
  /** `/system/script { run a; run b }`: a block that runs in that menu. */
  | { readonly kind: 'menu-block'; readonly path: string; readonly body: Stmt[] }
  /** A command that did not resolve inside code that runs later: the error waits for the run. */
  | { readonly kind: 'error'; readonly error: ConsoleSyntaxError }
  | { readonly kind: 'menu'; readonly path: string; readonly command: CommandDecl; readonly args: MenuArg[]; readonly where?: Expr }
  | { readonly kind: 'builtin'; readonly spec: BuiltinSpec; readonly args: Map<string, Expr | undefined> }
  | { readonly kind: 'call'; readonly head: Expr; readonly positional: Expr[]; readonly named: Array<[string, Expr | undefined]> };

/**
 * Variable names the checker has seen declared in this text. One set for the whole text, not
 * one per block: RouterOS refuses a name never declared (`syntax error` at the `$name`), but a
 * name declared in a block that has ended only reads as nothing there (M-SCRIPT "Scopes":
 * `{ :local a 3; { :global b 4; } :put ($a+$b); }` outputs 3).
 */
class DeclScope {
  readonly names = new Set<string>();
  has(name: string): boolean {
    return this.names.has(name);
  }
}

interface CheckCtx {
  /** Current menu; a cell so that a bare path inside a `{}` block carries on after it. */
  readonly path: { value: string };
  readonly vars: DeclScope | undefined;
  /**
   * Code that runs later, if at all (`do={…}` bodies, functions, `:parse`): a name that is not
   * a command fails when that command runs, not before (RouterOS: `bad command name routerboard`
   * surfaces only when the `:if` branch naming it runs).
   */
  readonly deferred: boolean;
  /** Inside code that runs later: `$names` are looked up when it runs, not checked now. */
  readonly lateVars?: boolean;
  /** Inside the arguments of a command that did not resolve: nothing here can be resolved yet. */
  readonly opaque?: boolean;
}

const posError = (message: string, pos: Pos): ConsoleSyntaxError => new ConsoleSyntaxError(message, pos);

/** `bad command name X`: a name that is neither a menu nor a command here. */
class UnknownCommandError extends ConsoleSyntaxError {}
const badCommand = (name: string, pos: Pos): ConsoleSyntaxError => new UnknownCommandError(`bad command name ${name}`, pos);
const endOfCommand = (pos: Pos): ConsoleSyntaxError => posError('expected end of command', pos);

function parentPath(path: string): string {
  if (path === '/') return '/';
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Cursor home, then erase the screen (ECMA-48 CUP, ED): a terminal's next round of `print interval=`. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';
const joinPath = (base: string, name: string): string => (base === '/' ? `/${name}` : `${base}/${name}`);

/** Exact name, else the only one it is a prefix of (the menu layer's one prefix rule). */
function matchName<T extends { name: string }>(input: string, items: readonly T[]): T | undefined {
  return matchArgName(items, input);
}

/**
 * How long a script runs before it gives the event loop a turn (ms). The daemon serves every
 * connection, job and service on one thread: a loop that never waits (`:while (true) do={}`)
 * would stop all of them, so a script is only ever paused here, never cut.
 */
export const SCRIPT_SLICE_MS = 10;
/**
 * Blocks and calls nested at most (docs/compatibility.md): a function that calls itself without
 * end stops with an error instead of exhausting the daemon's memory.
 */
export const MAX_SCRIPT_DEPTH = 1000;
/**
 * Share of the JavaScript heap's limit beyond which a script that runs is stopped at its next
 * turn (a loop growing an array without end would otherwise end the whole daemon). Half, because
 * V8 gives up well before its limit (the young generation counts in it, and collections that
 * free too little end the process at about 80 % of the old generation).
 */
const HEAP_STOP_SHARE = 0.5;
const heapLimit = v8.getHeapStatistics().heap_size_limit;

/**
 * Whether the daemon's heap is nearly full (checked once per turn, not per statement). The same
 * figure as process.memoryUsage().heapUsed, which also reads the resident set size from /proc:
 * 10× slower (20 µs here), and a busy script pays it about once per command.
 */
function heapNearlyFull(): boolean {
  return v8.getHeapStatistics().used_heap_size > heapLimit * HEAP_STOP_SHARE;
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve, reject) => {
  if (signal?.aborted) { reject(new RosError('interrupted', 'interrupted')); return; }
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, Math.max(0, ms));
  const onAbort = (): void => { clearTimeout(t); reject(new RosError('interrupted', 'interrupted')); };
  signal?.addEventListener('abort', onAbort, { once: true });
});

// ---------------------------------------------------------------------------------------------

export class Interpreter implements BuiltinHost {
  readonly registry: RegistryLike;
  readonly executor: ExecutorLike;
  readonly session: Session;
  readonly globals: Map<string, Value>;
  /** The menu the prompt shows: `/`, `/certificate`. */
  currentPath: string;
  private readonly opts: InterpreterOptions;
  /** Depth of `[ … ]` being evaluated: there a command's value replaces its printed output. */
  private substDepth = 0;
  /** Blocks and calls being run, one inside the other (MAX_SCRIPT_DEPTH). */
  private depth = 0;
  /** When this script last gave the event loop a turn (performance.now()). */
  private sliceStart = performance.now();

  constructor(opts: InterpreterOptions) {
    this.opts = opts;
    this.registry = opts.registry;
    this.executor = opts.executor;
    this.session = opts.session;
    this.globals = opts.globals ?? new Map();
    this.currentPath = opts.path ?? '/';
    this.depth = opts.session.scriptDepth ?? 0;
  }

  /** The session a command of this script runs with: it carries how deeply the script is nested. */
  private commandSession(): Session {
    return this.depth === 0 ? this.session : { ...this.session, scriptDepth: this.depth };
  }

  /**
   * The session a menu command runs with: what a following print streams (Session.stream) is
   * printed as its result would be, where this interpreter prints. Inside `[ … ]` a command's
   * value is its output, so nothing streams there.
   */
  private streamingSession(): Session {
    const session = this.commandSession();
    if (this.substDepth > 0) return session;
    const render = this.opts.render ?? renderConsole;
    // `print interval=` on a terminal draws each round over the last one (a RouterOS monitor).
    const terminal = session.prompt !== undefined;
    return {
      ...session,
      stream: (part) => {
        const text = render(part, session);
        if (!text) return;
        this.output(`${part.redraw && terminal ? CLEAR_SCREEN : ''}${text.endsWith('\n') ? text : `${text}\n`}`);
      },
    };
  }

  /**
   * Runs a console line or a whole script. Throws RosError (syntax errors with line/column).
   * Answers 'quit' when `/quit` ended it (a terminal then ends its session).
   */
  async run(source: string): Promise<'quit' | undefined> {
    const program = parse(source);
    this.check(program);
    try {
      const scope = new Scope();
      for (const [name, value] of this.opts.locals ?? []) scope.vars.set(name, value);
      await this.execStmts(program.body, scope);
    } catch (e) {
      // `:return`, `:exit`, `/quit` (and a `:break` outside any loop) end the script quietly.
      if (e instanceof QuitSignal) return 'quit';
      if (e instanceof ReturnSignal || e instanceof ExitSignal || e instanceof LoopSignal) return undefined;
      throw e;
    }
    return undefined;
  }

  /** Parses and checks without running (for `:parse`, import dry runs, tests). */
  compile(source: string, asFunction = false): Program {
    const program = parse(source);
    this.check(program, asFunction);
    return program;
  }

  // -------------------------------------------------------------------------------------------
  // BuiltinHost

  output(text: string): void {
    this.opts.output(text);
  }

  log(topic: string, message: string): void {
    this.opts.log?.(topic, message);
  }

  sleep(ms: number): Promise<void> {
    return (this.opts.sleep ?? defaultSleep)(ms, this.session.signal);
  }

  now(): number {
    return this.opts.now ? this.opts.now() : performance.now();
  }

  epochMs(): number {
    return this.opts.clock ? this.opts.clock() : systemClock.now();
  }

  routerLookup(): NameLookup | undefined {
    return this.opts.lookup?.();
  }

  jobName(): string {
    return this.opts.jobName ?? 'console';
  }

  /**
   * Called before every statement and every pass of a loop: stops a script whose job was
   * stopped (Ctrl-C, `/system script job remove`), and once the script has run SCRIPT_SLICE_MS
   * gives the event loop a turn, so nothing else waits for it longer than that.
   */
  async checkpoint(): Promise<void> {
    if (this.session.signal?.aborted) throw new RosError('interrupted', 'interrupted');
    const backedUp = this.session.outputDrained?.();
    if (backedUp) await this.untilOrStopped(backedUp);
    if (performance.now() - this.sliceStart < SCRIPT_SLICE_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
    if (this.session.signal?.aborted) throw new RosError('interrupted', 'interrupted');
    if (heapNearlyFull()) throw new RosError('interrupted', 'not enough memory: script stopped');
  }

  /** Waits for `p` unless the job is stopped first (Ctrl-C, job remove, connection closed). */
  private async untilOrStopped(p: Promise<void>): Promise<void> {
    const signal = this.session.signal;
    if (!signal) { await p; return; }
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([p, new Promise<void>((resolve) => { onAbort = () => resolve(); signal.addEventListener('abort', onAbort, { once: true }); })]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
    if (signal.aborted) throw new RosError('interrupted', 'interrupted');
  }

  eval(expr: Expr, scope: Scope): Promise<Value> {
    return this.evalExpr(expr, scope, false);
  }

  async runCode(expr: Expr, scope: Scope, vars?: Iterable<[string, Value]>): Promise<Value> {
    const child = new Scope(scope);
    // Arrays are values (RouterOS): a loop variable is a copy, never a global's array itself.
    for (const [k, v] of vars ?? []) child.vars.set(k, cloneValue(v));
    if (expr.kind === 'brace') return this.execStmts(expr.body, child);
    const v = await this.evalExpr(expr, scope, false);
    if (v instanceof CodeValue) return this.execStmts(v.body, child);
    if (typeof v === 'string') return this.execStmts(this.parseCode(v).body, child);
    return v;
  }

  async assign(target: Expr, value: Value, scope: Scope): Promise<void> {
    // `:set name value` (also written `:set $name value`)
    const name = target.kind === 'var' ? target.name : nameOf(target);
    if (name !== undefined) {
      const owner = scope.lookup(name);
      if (owner) owner.vars.set(name, value);
      else if (this.globals.has(name)) this.globals.set(name, value);
      else throw posError('syntax error', target);
      return;
    }
    // `:set ($arr->k1->k2) value`
    let e: Expr = target;
    while (e.kind === 'paren') e = e.expr;
    const keys: Expr[] = [];
    while (e.kind === 'binary' && e.op === '->') { keys.unshift(e.right); e = e.left; }
    if (e.kind !== 'var' || keys.length === 0) throw posError('syntax error', target);
    const varName = e.name;
    const owner = scope.lookup(varName);
    if (!owner && !this.globals.has(varName)) throw posError('syntax error', e);
    const root = owner ? owner.vars.get(varName) : this.globals.get(varName);
    // Every key first, then a global's budget, then the change: a refused :set changes nothing.
    const path: Array<string | number> = [];
    let level: Value = root;
    for (let k = 0; k < keys.length; k++) {
      const keyExpr = keys[k]!;
      const arr = level instanceof RosArray ? level : new RosArray();
      const key = arrayKey(keyExpr.kind === 'ident' ? keyExpr.name : await this.evalExpr(keyExpr, scope, false), arr);
      path.push(key);
      // Not at the last key: RosArray.get past the list part walks every element.
      if (k < keys.length - 1) level = arr.get(key);
    }
    const budgeted = !owner && this.globals instanceof GlobalVariables ? this.globals : undefined;
    let cur = root instanceof RosArray ? root : new RosArray();
    const growth = budgeted ? nestedSetGrowth(cur, path, value, budgeted.budget + 1) : 0;
    budgeted?.reserve(growth + (cur === root ? 0 : valueSize(cur) - valueSize(root)));
    if (cur !== root) { if (owner) owner.vars.set(varName, cur); else this.globals.set(varName, cur); }
    for (let k = 0; k < path.length; k++) {
      const key = path[k]!;
      if (k === path.length - 1) { cur.set(key, value); break; }
      let nextArr: Value = cur.get(key);
      if (!(nextArr instanceof RosArray)) { nextArr = new RosArray(); cur.set(key, nextArr); }
      cur = nextArr;
    }
    budgeted?.grew(varName, growth);
  }

  parseCode(source: string): CodeValue {
    const program = this.compile(source, true);
    return new CodeValue(source, program.body, this.currentPath);
  }

  /**
   * `:execute`: with as-string, runs the text now (in this menu, with these globals) and returns
   * what it printed. Otherwise, or with `file=`, it is the root `/execute` command (checked and
   * run by the executor like any other): a background job of this user, listed in /system script
   * job, whose id it returns; `file=` receives its output when it ends.
   */
  async execute(source: string, asString: boolean, file?: string): Promise<Value> {
    if (!asString || file !== undefined) {
      const args = new Map<string, Value>([['script', source]]);
      if (file !== undefined) args.set('file', file);
      if (asString) args.set('as-string', '');
      return (await this.executor.run({ path: '/', command: 'execute', args, session: this.commandSession() })).ret;
    }
    let captured = '';
    const child = new Interpreter({
      ...this.opts,
      globals: this.globals,
      path: this.currentPath,
      output: (t) => { captured += t; },
    });
    child.depth = this.depth;
    await child.run(source);
    return captured;
  }

  // -------------------------------------------------------------------------------------------
  // Checking (before anything runs)

  private check(program: Program, asFunction = false): void {
    const ctx: CheckCtx = { path: { value: this.currentPath }, vars: asFunction ? undefined : this.declaredAtStart(), deferred: asFunction, lateVars: asFunction };
    this.checkStmts(program.body, ctx);
  }

  /** The names a script starts with (InterpreterOptions.locals). */
  private declaredAtStart(): DeclScope {
    const vars = new DeclScope();
    for (const name of this.opts.locals?.keys() ?? []) vars.names.add(name);
    return vars;
  }

  /**
   * Every problem `compile` would find, not just the first (`/import … dry-run`): after an error
   * the text is read again from the next line, as RouterOS's import check does, keeping the menu
   * and the variables declared before it. At most `limit` problems are collected.
   */
  checkAll(source: string, limit = 1000): ConsoleSyntaxError[] {
    const problems: ConsoleSyntaxError[] = [];
    const ctx: CheckCtx = { path: { value: this.currentPath }, vars: this.declaredAtStart(), deferred: false };
    const lines = source.split('\n');
    let from = 0;
    while (from < lines.length && problems.length < limit) {
      // Earlier lines stay as empty lines, so positions are those of the whole file.
      const text = '\n'.repeat(from) + lines.slice(from).join('\n');
      try {
        this.checkStmts(parse(text).body, ctx);
        break;
      } catch (e) {
        if (!(e instanceof ConsoleSyntaxError)) throw e;
        problems.push(e);
        from = Math.max(from + 1, e.line ?? from + 1);
      }
    }
    return problems;
  }

  private checkStmts(stmts: readonly Stmt[], ctx: CheckCtx): void {
    for (const s of stmts) {
      if (s.kind === 'block') this.checkStmts(s.body, ctx);
      else this.checkCommand(s, ctx);
    }
  }

  /**
   * A `$name` the checker accepts: declared earlier in the text, or a global. In code that runs
   * later a name is looked up when it runs (published scripts `:set $x` names declared nowhere
   * in branches RouterOS loads without complaint).
   */
  private varKnown(name: string, ctx: CheckCtx): boolean {
    return !ctx.vars || ctx.lateVars === true || ctx.vars.has(name) || this.globals.has(name);
  }

  private checkExpr(e: Expr | undefined, ctx: CheckCtx): void {
    if (!e) return;
    switch (e.kind) {
      case 'var':
        if (!this.varKnown(e.name, ctx)) throw posError('syntax error', e);
        return;
      case 'string': for (const p of e.parts) if (typeof p !== 'string') this.checkExpr(p, ctx); return;
      case 'concat': for (const p of e.parts) this.checkExpr(p, ctx); return;
      case 'paren': this.checkExpr(e.expr, ctx); return;
      case 'unary': this.checkExpr(e.operand, ctx); return;
      case 'binary': this.checkExpr(e.left, ctx); this.checkExpr(e.right, ctx); return;
      case 'subst':
        // Commands inside `[ ]` resolve when they run: only a line's own commands must exist
        // before it runs (a script may name a menu in a branch it never takes).
        this.checkStmts(e.body, { path: { value: ctx.path.value }, vars: ctx.vars, deferred: true, lateVars: ctx.lateVars, opaque: ctx.opaque });
        return;
      case 'brace': this.checkValueBrace(e, ctx); return;
      default: return;
    }
  }

  /** A `{…}` used as a value: array elements, or a function body (not checked for variables). */
  private checkValueBrace(e: BraceExpr, ctx: CheckCtx): void {
    if (e.elements) { for (const el of e.elements) this.checkExpr(el.value, ctx); return; }
    this.checkStmts(e.body, { path: { value: ctx.path.value }, vars: undefined, deferred: true, lateVars: true, opaque: ctx.opaque });
  }

  private checkCommand(stmt: CommandStmt, ctx: CheckCtx): void {
    let r: Resolved;
    try {
      r = this.resolve(stmt, ctx.path.value, ctx.deferred);
    } catch (e) {
      const waits = ctx.deferred && (e instanceof UnknownCommandError || (ctx.opaque && e instanceof ConsoleSyntaxError));
      if (!waits) throw e;
      stmt.resolved = { kind: 'error', error: e as ConsoleSyntaxError } satisfies Resolved;
      // Its arguments are still read (for the variables they declare); `[find …]` inside them
      // belongs to the unknown menu, so nothing in them resolves now either.
      const inner: CheckCtx = { ...ctx, path: { value: ctx.path.value }, opaque: true };
      for (const it of stmt.items) if (it.kind !== 'unset') this.checkExpr(it.value, inner);
      return;
    }
    stmt.resolved = r;
    switch (r.kind) {
      case 'cd':
        ctx.path.value = r.path;
        return;
      case 'error':
        return;
      case 'menu-block':
        this.checkStmts(r.body, { ...ctx, path: { value: r.path } });
        return;
      case 'menu': {
        // `[find …]` inside a command's arguments works in that command's menu.
        const inner: CheckCtx = { ...ctx, path: { value: r.path } };
        for (const a of r.args) this.checkExpr(a.value, inner);
        this.checkExpr(r.where, inner);
        return;
      }
      case 'call':
        this.checkExpr(r.head, ctx);
        for (const p of r.positional) this.checkExpr(p, ctx);
        for (const [, v] of r.named) this.checkExpr(v, ctx);
        return;
      case 'builtin':
        this.checkBuiltin(r.spec, r.args, ctx);
    }
  }

  private checkBuiltin(spec: BuiltinSpec, args: Map<string, Expr | undefined>, ctx: CheckCtx): void {
    const counters = spec.counters ? (nameOf(args.get(spec.counters)) ?? '').split(',').filter((s) => s) : [];
    for (const [name, e] of args) {
      if (!e) continue;
      if (name === spec.declares || name === spec.counters) continue;
      if (name === spec.sets) {
        const n = nameOf(e);
        if (n !== undefined) { if (!this.varKnown(n, ctx)) throw posError('syntax error', e); } else this.checkExpr(e, ctx);
        continue;
      }
      if (spec.code?.includes(name) && e.kind === 'brace') {
        for (const c of counters) ctx.vars?.names.add(c);
        this.checkStmts(e.body, { path: { value: ctx.path.value }, vars: ctx.vars, deferred: true, lateVars: true, opaque: ctx.opaque });
        continue;
      }
      this.checkExpr(e, ctx);
    }
    if (spec.declares) {
      const n = nameOf(args.get(spec.declares));
      if (n !== undefined) ctx.vars?.names.add(n);
    }
  }

  /**
   * How a command line resolves in menu `startPath`. `later` (code that runs later): an unknown
   * name is taken for a command whose words after it are its arguments, and only a path going
   * on after it (`/nonsense/command`) is a syntax error now (RouterOS: `:parse` of that text is
   * `syntax error (line 1 column 10)`, the column of the second `/`).
   */
  private resolve(stmt: CommandStmt, startPath: string, later = false): Resolved {
    const items = stmt.items;
    const first = items[0];
    const stray = stmt.deferredError;
    if (!first) throw endOfCommand(stmt);
    if (first.kind !== 'value' || first.value.kind !== 'word') {
      if (stray) throw posError(stray.message, stray.pos);
      if (first.kind === 'named') throw badCommand(first.name, first);
      if (first.kind === 'unset') throw badCommand(`!${first.name}`, first);
      if (stmt.where) throw endOfCommand(stmt.where);
      const positional: Expr[] = [];
      const named: Array<[string, Expr | undefined]> = [];
      for (const it of items.slice(1)) {
        if (it.kind === 'value') positional.push(it.value);
        else if (it.kind === 'named') named.push([it.name, it.value]);
        else positional.push({ kind: 'word', ...posOf(it), text: `!${it.name}` });
      }
      return { kind: 'call', head: first.value, positional, named };
    }

    // `:put …`
    if (first.value.text.startsWith(':')) {
      if (stray) throw posError(stray.message, stray.pos);
      const name = first.value.text.slice(1);
      const namePos = { offset: first.offset + 1, line: first.line, col: first.col + 1 };
      const spec = BUILTINS.get(name) ?? matchName(name, [...BUILTINS.values()]);
      if (!spec || name === '') throw badCommand(name, namePos);
      return this.builtinCall(spec, stmt, 1);
    }

    // Path words, then the command.
    let path = startPath;
    let i = 0;
    for (; i < items.length; i++) {
      const it = items[i]!;
      if (it.kind !== 'value' || it.value.kind !== 'word') break;
      const w = it.value;
      if (w.text.startsWith('/')) path = '/';
      const segs = segments(w.text);
      for (let s = 0; s < segs.length; s++) {
        const seg = segs[s]!;
        const segPos = positionOf(stmt.src, w.offset + seg.index);
        if (seg.name === '..') { path = parentPath(path); continue; }
        const hit = this.lookupWord(path, seg.name, i === 0 && s === 0 && !w.text.startsWith('/'));
        if (!hit) {
          if (stray && stray.offsetOfItem < segPos.offset) throw posError(stray.message, stray.pos);
          if (later && s < segs.length - 1) throw posError('syntax error', positionOf(stmt.src, w.offset + seg.index + seg.name.length));
          throw badCommand(seg.name, segPos);
        }
        if (hit.kind === 'menu') { path = hit.path; continue; }
        if (s < segs.length - 1) {
          throw endOfCommand(positionOf(stmt.src, w.offset + segs[s + 1]!.index));
        }
        if (hit.kind === 'builtin') {
          if (stray) throw posError(stray.message, stray.pos);
          return this.builtinCall(hit.spec, stmt, i + 1);
        }
        return this.menuCall(path, hit.command, stmt, i + 1, w.offset + w.text.length);
      }
    }
    if (stray) throw posError(stray.message, stray.pos);
    const rest = items[i];
    if (rest?.kind === 'value' && rest.value.kind === 'brace' && i > 0 && i === items.length - 1 && !stmt.where) {
      return { kind: 'menu-block', path, body: rest.value.body };
    }
    if (rest) {
      if (rest.kind === 'named') throw badCommand(rest.name, rest);
      throw badCommand(rest.kind === 'unset' ? `!${rest.name}` : exprText(rest.value), rest);
    }
    if (stmt.where) throw badCommand('where', stmt.where);
    return { kind: 'cd', path };
  }

  private lookupWord(path: string, name: string, allowBuiltin: boolean):
    | { kind: 'menu'; path: string } | { kind: 'command'; command: CommandDecl } | { kind: 'builtin'; spec: BuiltinSpec } | undefined {
    const children = this.registry.children(path);
    const commands = this.registry.commands(path);
    if (children.includes(name)) return { kind: 'menu', path: joinPath(path, name) };
    const exact = commands.find((c) => c.name === name);
    if (exact) return { kind: 'command', command: exact };
    if (allowBuiltin && BUILTINS.has(name)) return { kind: 'builtin', spec: BUILTINS.get(name)! };
    const menus = children.filter((c) => c.startsWith(name));
    const cmds = commands.filter((c) => c.name.startsWith(name));
    if (menus.length + cmds.length !== 1) return undefined;
    return menus.length ? { kind: 'menu', path: joinPath(path, menus[0]!) } : { kind: 'command', command: cmds[0]! };
  }

  private builtinCall(spec: BuiltinSpec, stmt: CommandStmt, from: number): Resolved {
    const args = new Map<string, Expr | undefined>();
    const names = builtinParamNames(spec).map((name) => ({ name }));
    let next = 0;
    const items = stmt.items.slice(from);
    for (let k = 0; k < items.length; k++) {
      const it = items[k]!;
      if (it.kind === 'named') {
        const m = matchName(it.name, names);
        if (!m) throw endOfCommand(it);
        args.set(m.name, it.value);
        continue;
      }
      const value: Expr = it.kind === 'unset' ? { kind: 'word', ...posOf(it), text: `!${it.name}` } : it.value;
      // `:if (c) do { … } else { … }`: a code parameter's name, a blank, then its block, as
      // published RouterOS scripts write it (the IKEv2 setup scripts) — read as `do={ … }`.
      const following = items[k + 1];
      if (value.kind === 'word' && spec.code?.includes(value.text) && !spec.params.includes(value.text)
        && following?.kind === 'value' && following.value.kind === 'brace' && !args.has(value.text)) {
        args.set(value.text, following.value);
        k++;
        continue;
      }
      if (value.kind === 'word' && spec.flags?.includes(value.text)) {
        args.set(value.text, { kind: 'literal', ...posOf(it), value: true, raw: 'yes' });
        continue;
      }
      while (next < spec.params.length && args.has(spec.params[next]!)) next++;
      if (next >= spec.params.length) throw endOfCommand(it);
      args.set(spec.params[next++]!, value);
    }
    if (stmt.where) throw endOfCommand(stmt.where);
    return { kind: 'builtin', spec, args };
  }

  private menuCall(path: string, command: CommandDecl, stmt: CommandStmt, from: number, commandEnd: number): Resolved {
    const decls = command.args.filter((a) => a.name !== 'where');
    const takesWhere = command.args.some((a) => a.name === 'where');
    if (command.name === 'find') {
      const filter = parseFilter(stmt.src, commandEnd, stmt.end);
      return { kind: 'menu', path, command, args: [], where: filter };
    }
    if (stmt.deferredError) throw posError(stmt.deferredError.message, stmt.deferredError.pos);
    const positional = decls.filter((a) => a.positional !== undefined).sort((a, b) => a.positional! - b.positional!);
    const flags = decls.filter((a) => a.flagOnly);
    const given = new Set<string>();
    const args: MenuArg[] = [];
    let next = 0;
    for (const it of stmt.items.slice(from)) {
      if (it.kind === 'named' || it.kind === 'unset') {
        const decl = matchName(it.name, decls);
        if (!decl) throw endOfCommand(it);
        given.add(decl.name);
        args.push(it.kind === 'unset'
          ? { name: decl.name, decl, kind: 'unset' }
          : { name: decl.name, decl, kind: decl.flagOnly && !it.value ? 'flag' : 'value', value: it.value ?? emptyString(it) });
        continue;
      }
      const word = it.value.kind === 'word' ? it.value.text : undefined;
      const exactFlag = word !== undefined ? flags.find((f) => f.name === word) : undefined;
      if (exactFlag) { args.push({ name: exactFlag.name, decl: exactFlag, kind: 'flag' }); continue; }
      while (next < positional.length && given.has(positional[next]!.name)) next++;
      if (next < positional.length) {
        const decl = positional[next++]!;
        given.add(decl.name);
        args.push({ name: decl.name, decl, kind: 'value', value: it.value });
        continue;
      }
      const flag = word !== undefined ? matchName(word, flags) : undefined;
      if (flag) { args.push({ name: flag.name, decl: flag, kind: 'flag' }); continue; }
      throw endOfCommand(it);
    }
    if (stmt.where && !takesWhere) throw endOfCommand(stmt.where);
    return { kind: 'menu', path, command, args, where: stmt.where?.expr };
  }

  // -------------------------------------------------------------------------------------------
  // Running

  private async execStmts(stmts: readonly Stmt[], scope: Scope): Promise<Value> {
    if (this.depth >= MAX_SCRIPT_DEPTH) throw new RosError('failure', 'too many nested calls');
    this.depth++;
    try {
      let v: Value;
      for (const s of stmts) v = await this.execStmt(s, scope);
      return v;
    } finally {
      this.depth--;
    }
  }

  private async execStmt(stmt: Stmt, scope: Scope): Promise<Value> {
    await this.checkpoint();
    if (stmt.kind === 'block') return this.execStmts(stmt.body, new Scope(scope));
    let r = stmt.resolved as Resolved | undefined;
    if (!r) {
      // Not reached by the checker (e.g. code built at run time): resolve now.
      this.checkCommand(stmt, { path: { value: this.currentPath }, vars: undefined, deferred: true });
      r = stmt.resolved as Resolved;
    }
    switch (r.kind) {
      case 'cd':
        this.currentPath = r.path;
        return undefined;
      case 'error':
        throw r.error;
      case 'menu-block': {
        const saved = this.currentPath;
        this.currentPath = r.path;
        try {
          return await this.execStmts(r.body, new Scope(scope));
        } finally {
          this.currentPath = saved;
        }
      }
      case 'menu':
        return this.located(`${r.path.replace(/\/$/, '')}/${r.command.name}`, stmt, () => this.runMenu(r, scope));
      case 'builtin':
        return this.located(`:${r.spec.name}`, stmt, () => r.spec.run(this, { stmt, args: r.args, scope }));
      case 'call':
        return this.runCall(r, scope);
    }
  }

  /**
   * Runs one command; an error it raises (not one of a command inside it, which is located
   * already) records the command and its line, which a failing script reports (RosError.scriptText).
   */
  private async located(command: string, stmt: Pos, run: () => Promise<Value>): Promise<Value> {
    try {
      return await run();
    } catch (e) {
      if (e instanceof RosError && e.kind !== 'interrupted' && !e.complete && e.scriptLocation === undefined) e.scriptLocation = { command, line: stmt.line };
      throw e;
    }
  }

  private async runCall(r: Extract<Resolved, { kind: 'call' }>, scope: Scope): Promise<Value> {
    const head = await this.evalExpr(r.head, scope, false);
    if (!(head instanceof CodeValue)) return head;
    const vars = new Scope();
    vars.vars.set('0', r.head.kind === 'var' ? `$${r.head.name}` : head.source);
    let n = 1;
    // Arrays are values (RouterOS): an argument is a copy, so a function changing it changes no
    // caller's (or global's) array.
    for (const p of r.positional) vars.vars.set(String(n++), cloneValue(await this.evalExpr(p, scope, false)));
    for (const [name, e] of r.named) vars.vars.set(name, e ? cloneValue(await this.evalExpr(e, scope, false)) : '');
    try {
      await this.execStmts(head.body, vars);
      return undefined;
    } catch (e) {
      if (e instanceof ReturnSignal) return e.value;
      throw e;
    }
  }

  private async runMenu(r: Extract<Resolved, { kind: 'menu' }>, scope: Scope): Promise<Value> {
    const args = new Map<string, Value>();
    for (const a of r.args) {
      if (a.kind === 'flag') { args.set(a.name, true); continue; }
      if (a.kind === 'unset') { args.set(a.name, null); continue; }
      args.set(a.name, await this.evalExpr(a.value!, scope, true));
    }
    // On a terminal a missing required argument is asked for (`number: `), as RouterOS does.
    const ask = this.session.prompt;
    if (ask) {
      for (const d of r.command.args ?? []) {
        if (d.required && !args.has(d.name) && !(d.positional === 0 && r.where)) args.set(d.name, await ask(`${d.name}: `, false));
      }
    }
    const where = r.where ? await this.compileWhere(r.where, scope) : undefined;
    const result = await this.executor.run({ path: r.path, command: r.command.name, args, where, session: this.streamingSession() });
    if (result.quit) throw new QuitSignal();
    // `:local n [print count-only]` prints nothing: inside [ ] the value is the output.
    if (this.substDepth > 0 && result.ret !== undefined && !result.print) return result.ret;
    const text = (this.opts.render ?? renderConsole)(result, this.session);
    if (text) this.output(text.endsWith('\n') ? text : `${text}\n`);
    return result.ret;
  }

  // -------------------------------------------------------------------------------------------
  // Expressions

  /**
   * Value of an expression. `raw` (menu arguments): bare words stay the text as written, so the
   * menu's own types parse them (`name=0123` stays a name). Otherwise words are typed literals.
   */
  private async evalExpr(e: Expr, scope: Scope, raw: boolean): Promise<Value> {
    switch (e.kind) {
      // In `:` commands a comma list is an array (`:put [:serialize value=a,b,c to=json]`).
      case 'word': return raw ? e.text : wordValue(e.text);
      case 'literal': return e.value;
      case 'ident': return e.name;
      case 'string': {
        let s = '';
        for (const p of e.parts) s += typeof p === 'string' ? p : toScriptString(await this.evalExpr(p, scope, false));
        return s;
      }
      case 'var': return this.lookupVar(e.name, scope);
      case 'concat': {
        let s = '';
        for (const p of e.parts) s += toScriptString(await this.evalExpr(p, scope, true));
        return s;
      }
      case 'paren': return this.evalExpr(e.expr, scope, false);
      case 'subst': {
        this.substDepth++;
        try {
          return await this.execStmts(e.body, new Scope(scope));
        } finally {
          this.substDepth--;
        }
      }
      case 'brace': {
        if (!e.elements) return new CodeValue(e.source, e.body, this.currentPath);
        const arr = new RosArray();
        for (const el of e.elements) {
          const v = cloneValue(await this.evalExpr(el.value, scope, false));
          if (el.key !== undefined) arr.set(el.key, v); else arr.set(arr.list.length, v);
        }
        return arr;
      }
      case 'unary': return unaryOp(e.op, await this.evalExpr(e.operand, scope, false));
      case 'binary': {
        if (e.op === '&&') return toBool(await this.evalExpr(e.left, scope, false)) && toBool(await this.evalExpr(e.right, scope, false));
        if (e.op === '||') return toBool(await this.evalExpr(e.left, scope, false)) || toBool(await this.evalExpr(e.right, scope, false));
        const left = await this.evalExpr(e.left, scope, false);
        const right = await this.evalExpr(e.right, scope, false);
        return binaryOp(e.op, left, right);
      }
    }
  }

  private lookupVar(name: string, scope: Scope): Value {
    const owner = scope.lookup(name);
    if (owner) return owner.vars.get(name);
    return this.globals.get(name);
  }

  // -------------------------------------------------------------------------------------------
  // `where` filters (spec §7.4) → RowPredicate
  //
  // Variables and `[ … ]` inside a filter are evaluated once, before the rows are read; the
  // predicate itself is synchronous (100,000 rows filter in a few milliseconds).

  async compileWhere(e: Expr, scope: Scope): Promise<RowPredicate> {
    return this.filterBool(e, scope);
  }

  private async filterBool(e: Expr, scope: Scope): Promise<RowTest> {
    switch (e.kind) {
      case 'ident': {
        const name = e.name;
        return (row) => present(row.get(name));
      }
      case 'paren': return this.filterBool(e.expr, scope);
      case 'unary':
        if (e.op === '!') { const inner = await this.filterBool(e.operand, scope); return (row) => !inner(row); }
        break;
      case 'binary': {
        if (e.op === '&&' || e.op === '||') {
          const l = await this.filterBool(e.left, scope);
          const r = await this.filterBool(e.right, scope);
          if (e.op === '||') return (row) => l(row) || r(row);
          // An equality either side implies, the conjunction implies (RowPredicate.equals).
          const equals = l.equals ?? r.equals;
          return Object.assign((row: RowView) => l(row) && r(row), equals ? { equals } : {});
        }
        if (['=', '!=', '<', '>', '<=', '>=', '~', 'in'].includes(e.op)) return this.filterCompare(e.op, e.left, e.right, scope);
        break;
      }
    }
    const v = await this.filterValue(e, scope, 'operand');
    if (v.constant) { const b = toBool(v.value); return () => b; }
    return (row) => toBool(v.fn(row));
  }

  private async filterValue(e: Expr, scope: Scope, side: 'lhs' | 'rhs' | 'operand'): Promise<FilterValue> {
    switch (e.kind) {
      case 'ident': {
        if (side === 'rhs') return constant(e.name, e.name);
        const name = e.name;
        return { fn: (row) => row.get(name) };
      }
      case 'literal': return constant(e.value, e.raw);
      case 'string': {
        const name = side === 'lhs' ? propertyNamed(e) : undefined;
        if (name !== undefined) return { fn: (row) => row.get(name) };
        return constant(await this.evalExpr(e, scope, false));
      }
      case 'word': return constant(literalValue(e.text), e.text);
      case 'paren': {
        const inner = e.expr;
        if (isBoolean(inner)) {
          const b = await this.filterBool(inner, scope);
          return { fn: (row) => b(row) };
        }
        return this.filterValue(inner, scope, side === 'rhs' ? 'operand' : side);
      }
      case 'unary': {
        if (e.op === '!') { const b = await this.filterBool(e, scope); return { fn: (row) => b(row) }; }
        const inner = await this.filterValue(e.operand, scope, 'operand');
        if (inner.constant) return constant(unaryOp(e.op, inner.value));
        const op = e.op;
        return { fn: (row) => unaryOp(op, inner.fn(row)) };
      }
      case 'binary': {
        if (isBoolean(e)) { const b = await this.filterBool(e, scope); return { fn: (row) => b(row) }; }
        const l = await this.filterValue(e.left, scope, 'operand');
        const r = e.op === '->' && e.right.kind === 'ident' ? constant(e.right.name) : await this.filterValue(e.right, scope, 'operand');
        const op = e.op;
        if (l.constant && r.constant) return constant(binaryOp(op, l.value, r.value));
        return { fn: (row) => binaryOp(op, l.fn(row), r.fn(row)) };
      }
      default:
        return constant(await this.evalExpr(e, scope, false));
    }
  }

  private async filterCompare(op: string, left: Expr, right: Expr, scope: Scope): Promise<RowTest> {
    const l = await this.filterValue(left, scope, 'lhs');
    const r = await this.filterValue(right, scope, 'rhs');
    if (!r.constant) {
      return (row) => toBool(op === '~' || op === 'in' ? binaryOp(op, l.fn(row), r.fn(row)) : compareLoose(op, l.fn(row), r.fn(row)));
    }
    if (op === '~') {
      const re = posixRegExp(toScriptString(r.value));
      if (!re) return () => false;
      return (row) => re.test(filterText(l.fn(row)));
    }
    if (op === 'in') {
      const target = r.value;
      return (row) => inPrefix(l.fn(row), target);
    }
    // Coerce the constant once per type of the row value (`trusted=yes`, `expires-after<3w`).
    const cache = new Map<string, Value>();
    const rv = r.value, raw = r.raw;
    // `name="text"`: rows holding a text value match only when it is that text, so the rows an
    // index finds for it are all the rows that can match (RowPredicate.equals).
    const property = propertyNamed(left);
    const text = op === '=' && property !== undefined ? coerce('', rv, raw) : undefined;
    const equals = typeof text === 'string' && text !== '' ? { name: property!, text } : undefined;
    const coerced = (sample: Value): Value => {
      const tag = typeTag(sample);
      let c = cache.get(tag);
      if (c === undefined && !cache.has(tag)) { c = coerce(sample, rv, raw); cache.set(tag, c); }
      return c;
    };
    return Object.assign((row: RowView) => {
      const v = l.fn(row);
      return compareLoose(op, v, coerced(v));
    }, equals ? { equals } : {});
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** The property a filter's left-hand side names: `name` or `"common-name"` (no variables in it). */
function propertyNamed(e: Expr): string | undefined {
  if (e.kind === 'ident') return e.name;
  if (e.kind === 'string' && e.parts.every((p) => typeof p === 'string')) return (e.parts as string[]).join('');
  return undefined;
}

/** A compiled filter, with the `name="text"` it implies when it implies one (RowPredicate.equals). */
type RowTest = ((row: RowView) => boolean) & { readonly equals?: NonNullable<RowPredicate['equals']> };

interface FilterValue {
  readonly fn: (row: RowView) => Value;
  readonly constant?: boolean;
  readonly value?: Value;
  readonly raw?: string;
}

function constant(value: Value, raw?: string): FilterValue {
  return { fn: () => value, constant: true, value, raw };
}

function isBoolean(e: Expr): boolean {
  if (e.kind === 'unary') return e.op === '!';
  if (e.kind === 'binary') return ['&&', '||', '=', '!=', '<', '>', '<=', '>=', '~', 'in'].includes(e.op);
  if (e.kind === 'paren') return isBoolean(e.expr);
  return false;
}

/** A bare property in a filter: flags set, other properties non-empty. */
function present(v: Value): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') return v !== '';
  if (v instanceof RosArray) return v.size > 0;
  return true;
}

function filterText(v: Value): string {
  if (v instanceof RosArray) return v.values().map(toScriptString).join(',');
  return toScriptString(v);
}

function typeTag(v: Value): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'nil';
  if (typeof v === 'object') return v.constructor.name;
  return typeof v;
}

/** The constant of a comparison in the type of the row value. */
function coerce(sample: Value, v: Value, raw: string | undefined): Value {
  const text = raw ?? (typeof v === 'string' ? v : undefined);
  if (typeof sample === 'boolean') return typeof v === 'boolean' ? v : (toBoolConv(text ?? v) ?? v);
  if (typeof sample === 'number') return typeof v === 'number' ? v : (toNum(text ?? v) ?? v);
  if (typeof sample === 'string') return text ?? toScriptString(v);
  if (sample instanceof Duration) {
    if (v instanceof Duration) return v;
    return (text !== undefined ? parseDuration(text) : undefined) ?? toTime(v) ?? v;
  }
  if (sample instanceof IpAddress) return v instanceof IpAddress ? v : ((text !== undefined ? IpAddress.parse(text) : undefined) ?? v);
  if (sample instanceof IpPrefix) return v instanceof IpPrefix ? v : ((text !== undefined ? IpPrefix.parse(text) : undefined) ?? v);
  if (sample instanceof ItemId) return v instanceof ItemId ? v : ((text !== undefined ? ItemId.parse(text) : undefined) ?? v);
  return v;
}

/** Comparison in a filter: an unset property equals "" and `[]`; lists compare as `a,b`. */
function compareLoose(op: string, l: Value, r: Value): boolean {
  if (op === '=' || op === '!=') {
    let eq: boolean;
    if (l === undefined || l === null) eq = r === undefined || r === null || r === '' || (r instanceof RosArray && r.size === 0);
    else if (l === '' && (r === undefined || r === null)) eq = true;
    else if (l instanceof RosArray && !(r instanceof RosArray)) eq = filterText(l) === toScriptString(r);
    else eq = valuesEqual(l, r);
    return op === '=' ? eq : !eq;
  }
  if (l === undefined || l === null) return false;
  const c = compareValues(l, r);
  if (c === undefined) return false;
  switch (op) {
    case '<': return c < 0;
    case '>': return c > 0;
    case '<=': return c <= 0;
    default: return c >= 0;
  }
}

function wordValue(text: string): Value {
  if (text.length > 1 && text.includes(',') && !text.startsWith(',') && !text.endsWith(',')) {
    return RosArray.of(text.split(',').map((part) => literalValue(part, false)));
  }
  return literalValue(text, false);
}

function arrayKey(k: Value, arr: RosArray): string | number {
  if (typeof k === 'number') return k;
  const s = toScriptString(k);
  if (/^\d+$/.test(s) && Number(s) <= arr.list.length && arr.map.size === 0) return Number(s);
  return s;
}

function segments(text: string): Array<{ name: string; index: number }> {
  const out: Array<{ name: string; index: number }> = [];
  const re = /[^/]+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) out.push({ name: m[0], index: m.index });
  return out;
}

function posOf(p: Pos): Pos {
  return { offset: p.offset, line: p.line, col: p.col };
}

function emptyString(p: Pos): Expr {
  return { kind: 'string', ...posOf(p), parts: [''] };
}

function exprText(e: Expr): string {
  switch (e.kind) {
    case 'word': return e.text;
    case 'var': return `$${e.name}`;
    case 'string': return e.parts.map((p) => (typeof p === 'string' ? p : '')).join('');
    default: return '';
  }
}
