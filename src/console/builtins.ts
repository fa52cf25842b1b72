// The `:` commands of the console (M-SCRIPT "Global commands", spec §7.5): variables, flow
// control, functions, conversions, `:serialize`/`:deserialize`, `:log`, `:delay`, `:execute`…
//
// Each builtin declares its parameters (positional order, named, flags) and which of them are
// code, so the interpreter can check a script before running it (as RouterOS does: an unknown
// argument or undeclared variable fails the whole line before anything runs).

import crypto from 'node:crypto';
import { RosError } from '../errors.js';
import type { Session } from '../menu/types.js';
import { Duration, IpAddress, RosArray, typeOf, type Value } from '../menu/values.js';
import type { CommandStmt, Expr } from './ast.js';
import { convert } from './convert.js';
import {
  CodeValue, cloneValue, deserializeJson, literalValue, serializeJson, toArray, toBool, toBoolConv, toId,
  toIp, toNum, toScriptString, toTime, valuesEqual,
} from './expr.js';
import { RESOLVE_TYPES, resolveName, type NameLookup, type ResolveType } from './resolve.js';

/** A variable scope: `{}` blocks, loop bodies and function calls each get one. */
export class Scope {
  readonly vars = new Map<string, Value>();
  constructor(readonly parent?: Scope) {}
  lookup(name: string): Scope | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) if (s.vars.has(name)) return s;
    return undefined;
  }
}

/** `:return` unwinding to the function (or script) boundary. */
export class ReturnSignal {
  constructor(readonly value: Value) {}
}

/** `:exit`: the script ends here, quietly. */
export class ExitSignal {}
/** `/quit`: ends the script like `:exit`, and a terminal's console session after it. */
export class QuitSignal extends ExitSignal {}

/** `:break` / `:continue`: unwinding to the innermost loop. */
export class LoopSignal {
  constructor(readonly kind: 'break' | 'continue') {}
}

/** What builtins need from the interpreter. */
export interface BuiltinHost {
  readonly session: Session;
  readonly globals: Map<string, Value>;
  output(text: string): void;
  log(topic: string, message: string): void;
  /** Typed value of an expression. */
  eval(expr: Expr, scope: Scope): Promise<Value>;
  /** Runs a code argument (`do={…}`, or a value holding code) in a child of `scope`. */
  runCode(expr: Expr, scope: Scope, vars?: Iterable<[string, Value]>): Promise<Value>;
  /** `:set target value` where target is a name or `($arr->key…)`. */
  assign(target: Expr, value: Value, scope: Scope): Promise<void>;
  /** `:parse`: compiles text into a function at the current menu. */
  parseCode(source: string): CodeValue;
  /** `:execute`: runs text as a separate script; returns its output when asString. */
  execute(source: string, asString: boolean, file?: string): Promise<Value>;
  sleep(ms: number): Promise<void>;
  /** Milliseconds of a monotonic clock (`:time`). */
  now(): number;
  /** The router clock, epoch milliseconds (`:timestamp`). */
  epochMs(): number;
  /** The router's DNS resolver (`:resolve`), when one runs in this process. */
  routerLookup(): NameLookup | undefined;
  /** Name of the script that runs (`:jobname`). */
  jobName(): string;
  /** Before each pass of a loop: stops a stopped job, lets the event loop have its turn. */
  checkpoint(): Promise<void>;
}

export interface BuiltinCall {
  readonly stmt: CommandStmt;
  /** Canonical parameter name → expression (undefined for `name=` with no value). */
  readonly args: ReadonlyMap<string, Expr | undefined>;
  readonly scope: Scope;
}

export interface BuiltinSpec {
  readonly name: string;
  /** Unnamed parameters in order (each may also be given by name). */
  readonly params: readonly string[];
  /** Parameters only given as `name=value`. */
  readonly named?: readonly string[];
  /** Bare words that are flags (`as-string`). */
  readonly flags?: readonly string[];
  /** Parameters whose `{…}` is code run in the current scope chain. */
  readonly code?: readonly string[];
  /** Parameter whose word names loop/handler variables (`k,v`, `i`, `e`) visible in the code. */
  readonly counters?: string;
  /** Parameter whose word declares a variable in the current scope (`:local`, `:global`). */
  readonly declares?: string;
  /** Parameter naming a variable that must already exist (`:set`). */
  readonly sets?: string;
  run(host: BuiltinHost, call: BuiltinCall): Promise<Value>;
}

// ---------------------------------------------------------------------------------------------
// Helpers

async function arg(host: BuiltinHost, call: BuiltinCall, name: string): Promise<Value> {
  const e = call.args.get(name);
  return e === undefined ? (call.args.has(name) ? '' : undefined) : host.eval(e, call.scope);
}

/** The literal text of a name-like argument (`:local name`, counters). */
export function nameOf(e: Expr | undefined): string | undefined {
  if (!e) return undefined;
  if (e.kind === 'word') return e.text;
  if (e.kind === 'string' && e.parts.every((p) => typeof p === 'string')) return (e.parts as string[]).join('');
  if (e.kind === 'ident') return e.name;
  return undefined;
}

async function nameArg(host: BuiltinHost, call: BuiltinCall, param: string): Promise<string> {
  const e = call.args.get(param);
  const fixed = nameOf(e);
  if (fixed !== undefined) return fixed;
  return toScriptString(await arg(host, call, param));
}

function intArg(v: Value, fallback: number): number {
  if (v === undefined || v === null || v === '') return fallback;
  const n = toNum(v);
  return typeof n === 'number' ? n : fallback;
}

/** Catchable by `on-error`: every runtime error except cancellation and the flow signals. */
export function catchable(e: unknown): boolean {
  if (e instanceof ReturnSignal || e instanceof ExitSignal || e instanceof LoopSignal) return false;
  if (e instanceof RosError && e.kind === 'interrupted') return false;
  return true;
}

/**
 * One loop pass: false when `:break` ended the loop. `:continue` ends just the pass.
 */
async function loopPass(body: () => Promise<unknown>): Promise<boolean> {
  try {
    await body();
    return true;
  } catch (e) {
    if (e instanceof LoopSignal) return e.kind === 'continue';
    throw e;
  }
}

/** A loop with `on-error={…}`: an error ends the loop and runs the handler instead. */
async function withOnError(host: BuiltinHost, call: BuiltinCall, run: () => Promise<Value>): Promise<Value> {
  const onError = call.args.get('on-error');
  if (!onError) return run();
  try {
    return await run();
  } catch (e) {
    if (!catchable(e)) throw e;
    return host.runCode(onError, call.scope);
  }
}

function errorText(e: unknown): string {
  if (e instanceof RosError) return e.consoleText();
  return e instanceof Error ? e.message : String(e);
}

/** `:delay 3s`, `:delay 500ms`, `:delay 2` (seconds). */
function delayMs(v: Value): number {
  if (v instanceof Duration) return v.ms;
  if (typeof v === 'number') return v * 1000;
  if (typeof v === 'string') {
    const t = toTime(literalValue(v, false) as Value);
    if (t instanceof Duration) return t.ms;
  }
  return 0;
}

function optionsOf(v: Value): Set<string> {
  return new Set(toScriptString(v).split(/[,;]/).map((s) => s.trim()).filter((s) => s !== ''));
}

// ---------------------------------------------------------------------------------------------
// The commands

const specs: BuiltinSpec[] = [
  {
    name: 'put', params: ['message'],
    async run(host, call) {
      host.output(`${toScriptString(await arg(host, call, 'message'))}\n`);
      return undefined;
    },
  },
  {
    name: 'local', params: ['name', 'value'], named: ['do'], declares: 'name',
    async run(host, call) {
      const name = await nameArg(host, call, 'name');
      const value = call.args.has('do') ? await arg(host, call, 'do') : await arg(host, call, 'value');
      call.scope.vars.set(name, cloneValue(value));
      return undefined;
    },
  },
  {
    name: 'global', params: ['name', 'value'], named: ['do'], declares: 'name',
    async run(host, call) {
      const name = await nameArg(host, call, 'name');
      if (call.args.has('value') || call.args.has('do')) {
        const value = call.args.has('do') ? await arg(host, call, 'do') : await arg(host, call, 'value');
        host.globals.set(name, cloneValue(value));
      } else if (!host.globals.has(name)) {
        host.globals.set(name, undefined);
      }
      return undefined;
    },
  },
  {
    name: 'set', params: ['name', 'value'], named: ['do'], sets: 'name',
    async run(host, call) {
      const target = call.args.get('name');
      if (!target) throw new RosError('syntax', 'syntax error');
      const value = call.args.has('do') ? await arg(host, call, 'do') : await arg(host, call, 'value');
      await host.assign(target, cloneValue(value), call.scope);
      return undefined;
    },
  },
  {
    name: 'if', params: ['condition'], named: ['do', 'else'], code: ['do', 'else'],
    async run(host, call) {
      const cond = toBool(await arg(host, call, 'condition'));
      const branch = call.args.get(cond ? 'do' : 'else');
      return branch ? host.runCode(branch, call.scope) : undefined;
    },
  },
  {
    name: 'while', params: ['condition'], named: ['do'], code: ['do'],
    async run(host, call) {
      const body = call.args.get('do');
      while (toBool(await arg(host, call, 'condition'))) {
        await host.checkpoint();
        if (body && !(await loopPass(() => host.runCode(body, call.scope)))) break;
      }
      return undefined;
    },
  },
  {
    name: 'do', params: ['command'], named: ['on-error', 'while', 'if'], code: ['command', 'on-error'],
    async run(host, call) {
      const body = call.args.get('command');
      const loop = async (): Promise<Value> => {
        if (call.args.has('if') && !toBool(await arg(host, call, 'if'))) return undefined;
        if (!call.args.has('while')) return body ? host.runCode(body, call.scope) : undefined;
        // With `while=` it is a loop: `:break` and `:continue` act on it.
        let v: Value;
        do {
          await host.checkpoint();
          if (body && !(await loopPass(async () => { v = await host.runCode(body, call.scope); }))) break;
        } while (toBool(await arg(host, call, 'while')));
        return v;
      };
      return withOnError(host, call, loop);
    },
  },
  {
    // `:onerror e in={…} do={…}`, or with the code by position: `:onerror e {…} do={…}`.
    // `:onerror e,attr …` also binds the error's attributes (fetch: status and headers).
    name: 'onerror', params: ['error', 'in'], named: ['do'], code: ['in', 'do'], counters: 'error',
    async run(host, call) {
      const [name, attrName] = (await nameArg(host, call, 'error')).split(',');
      const body = call.args.get('in');
      try {
        if (body) await host.runCode(body, call.scope);
        return false;
      } catch (e) {
        if (!catchable(e)) throw e;
        const handler = call.args.get('do');
        if (handler) {
          const vars: Array<[string, Value]> = [[name!, e instanceof RosError && e.kind === 'script' ? e.message : errorText(e)]];
          if (attrName) {
            // strings and numbers as they are, a list of strings (e.g. headers) as an array
            const entries = Object.entries(e instanceof RosError ? e.attributes ?? {} : {});
            vars.push([attrName, RosArray.fromRecord(entries.map(([k, v]): [string, Value] => [k, typeof v === 'object' ? RosArray.of(v) : v]))]);
          }
          await host.runCode(handler, call.scope, vars);
        }
        return true;
      }
    },
  },
  {
    name: 'foreach', params: ['counter'], named: ['in', 'do', 'on-error'], code: ['do', 'on-error'], counters: 'counter',
    async run(host, call) {
      const names = (await nameArg(host, call, 'counter')).split(',');
      const over = await arg(host, call, 'in');
      const body = call.args.get('do');
      const entries: Array<[string | number, Value]> = over instanceof RosArray
        ? over.entries() : over === undefined ? [] : [[0, over]];
      return withOnError(host, call, async () => {
        for (const [k, v] of entries) {
          await host.checkpoint();
          const vars: Array<[string, Value]> = names.length >= 2 ? [[names[0]!, k], [names[1]!, v]] : [[names[0]!, v]];
          if (body && !(await loopPass(() => host.runCode(body, call.scope, vars)))) break;
        }
        return undefined;
      });
    },
  },
  {
    name: 'for', params: ['counter'], named: ['from', 'to', 'step', 'do', 'on-error'], code: ['do', 'on-error'], counters: 'counter',
    async run(host, call) {
      const name = await nameArg(host, call, 'counter');
      const from = intArg(await arg(host, call, 'from'), 0);
      const to = intArg(await arg(host, call, 'to'), 0);
      const step = intArg(await arg(host, call, 'step'), from <= to ? 1 : -1);
      const body = call.args.get('do');
      if (step === 0) throw new RosError('failure', 'step must not be 0');
      return withOnError(host, call, async () => {
        for (let i = from; step > 0 ? i <= to : i >= to; i += step) {
          await host.checkpoint();
          if (body && !(await loopPass(() => host.runCode(body, call.scope, [[name, i]])))) break;
        }
        return undefined;
      });
    },
  },
  {
    name: 'error', params: ['message'],
    async run(host, call) {
      throw new RosError('script', toScriptString(await arg(host, call, 'message')));
    },
  },
  {
    name: 'return', params: ['value'],
    async run(host, call) {
      // On a terminal a missing value is asked for (`value: `): scripts read input that way
      // (`:local ask do={ :put $1; :return }`).
      const ask = host.session.prompt;
      if (ask && !call.args.has('value')) throw new ReturnSignal(await ask('value: ', false));
      throw new ReturnSignal(await arg(host, call, 'value'));
    },
  },
  { name: 'exit', params: [], async run() { throw new ExitSignal(); } },
  { name: 'break', params: [], async run() { throw new LoopSignal('break'); } },
  { name: 'continue', params: [], async run() { throw new LoopSignal('continue'); } },
  // There is no speaker: `:beep` just takes its arguments.
  { name: 'beep', params: [], named: ['frequency', 'length'], flags: ['as-value'], async run() { return undefined; } },
  {
    name: 'delay', params: ['delay-time'],
    async run(host, call) {
      const v = await arg(host, call, 'delay-time');
      await host.sleep(v === undefined ? 0 : delayMs(v));
      return undefined;
    },
  },
  {
    name: 'log', params: ['topic', 'message'],
    async run(host, call) {
      const topic = await nameArg(host, call, 'topic');
      if (!['info', 'warning', 'error', 'debug', 'critical'].includes(topic)) {
        throw new RosError('syntax', 'bad command name ' + topic);
      }
      host.log(topic, toScriptString(await arg(host, call, 'message')));
      return undefined;
    },
  },
  {
    name: 'len', params: ['value'],
    async run(host, call) {
      const v = await arg(host, call, 'value');
      if (v instanceof RosArray) return v.size;
      return toScriptString(v).length;
    },
  },
  {
    name: 'pick', params: ['counter', 'begin', 'end'],
    async run(host, call) {
      const v = await arg(host, call, 'counter');
      const start = Math.max(0, intArg(await arg(host, call, 'begin'), 0));
      const endV = await arg(host, call, 'end');
      if (v instanceof RosArray) {
        const entries = v.entries();
        if (endV === undefined) return entries[start]?.[1];
        const out = new RosArray();
        for (const [k, e] of entries.slice(start, Math.max(start, intArg(endV, start)))) {
          if (typeof k === 'number') out.list.push(e); else out.map.set(k, e);
        }
        return out;
      }
      const s = toScriptString(v);
      if (endV === undefined) return start < s.length ? s[start] : undefined;
      return s.slice(start, Math.max(start, intArg(endV, start)));
    },
  },
  {
    name: 'find', params: ['in', 'key', 'from'],
    async run(host, call) {
      const v = await arg(host, call, 'in');
      const needle = await arg(host, call, 'key');
      const from = intArg(await arg(host, call, 'from'), -1) + 1;
      if (v instanceof RosArray) {
        const entries = v.entries();
        for (let i = Math.max(0, from); i < entries.length; i++) {
          if (valuesEqual(entries[i]![1], needle)) return entries[i]![0];
        }
        return null;
      }
      const i = toScriptString(v).indexOf(toScriptString(needle), Math.max(0, from));
      return i < 0 ? null : i;
    },
  },
  { name: 'typeof', params: ['value'], async run(host, call) { return typeOf(await arg(host, call, 'value')); } },
  { name: 'tostr', params: ['value'], async run(host, call) { return toScriptString(await arg(host, call, 'value')); } },
  { name: 'tonum', params: ['value'], async run(host, call) { return toNum(await arg(host, call, 'value')); } },
  { name: 'totime', params: ['value'], async run(host, call) { return toTime(await arg(host, call, 'value')); } },
  {
    name: 'toarray', params: ['value'], named: ['delimiter'],
    async run(host, call) {
      const v = await arg(host, call, 'value');
      if (!call.args.has('delimiter') || typeof v !== 'string') return toArray(v);
      const d = toScriptString(await arg(host, call, 'delimiter'));
      return toArray(v.split(d).join(','));
    },
  },
  { name: 'tonsec', params: ['value'], async run(host, call) { const t = toTime(await arg(host, call, 'value')); return t instanceof Duration ? t.ns : undefined; } },
  // CR LF ⇄ LF (7.19+): scripts fetched from the web arrive with either.
  { name: 'tolf', params: ['input'], async run(host, call) { return toScriptString(await arg(host, call, 'input')).replace(/\r\n/g, '\n'); } },
  { name: 'tocrlf', params: ['input'], async run(host, call) { return toScriptString(await arg(host, call, 'input')).replace(/\r?\n/g, '\r\n'); } },
  {
    name: 'convert', params: ['value'], named: ['from', 'to', 'transform', 'from-scheme', 'to-scheme', 'transform-scheme'],
    async run(host, call) {
      const word = async (name: string): Promise<string | undefined> =>
        (call.args.has(name) ? (await nameArg(host, call, name)) : undefined);
      return convert(await arg(host, call, 'value'), {
        from: await word('from'), to: await word('to'), transform: await word('transform'),
      });
    },
  },
  {
    name: 'resolve', params: ['domain-name'], named: ['server', 'server-port', 'type'],
    async run(host, call) {
      const type = call.args.has('type') ? await nameArg(host, call, 'type') : 'any';
      if (!RESOLVE_TYPES.includes(type as ResolveType)) throw new RosError('argument', 'input does not match any value of type');
      let server: { address: string; port: number } | undefined;
      if (call.args.has('server')) {
        const address = IpAddress.parse(toScriptString(await arg(host, call, 'server')).replace(/@[\w.-]+$/, ''));
        if (!address) throw new RosError('argument', 'invalid value for argument server');
        const port = call.args.has('server-port') ? Number(toScriptString(await arg(host, call, 'server-port'))) : 53;
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RosError('argument', 'invalid value for argument server-port');
        server = { address: address.toString(), port };
      }
      return resolveName(toScriptString(await arg(host, call, 'domain-name')), type as ResolveType, { lookup: host.routerLookup(), server });
    },
  },
  {
    name: 'timestamp', params: [], flags: ['use-tz'],
    // Time since the epoch by the router clock (rospki's clock is UTC, so use-tz adds nothing).
    async run(host) { return Duration.fromMs(host.epochMs()); },
  },
  { name: 'toip', params: ['value'], async run(host, call) { return toIp(await arg(host, call, 'value'), 4); } },
  { name: 'toip6', params: ['value'], async run(host, call) { return toIp(await arg(host, call, 'value'), 6); } },
  { name: 'tobool', params: ['value'], async run(host, call) { return toBoolConv(await arg(host, call, 'value')); } },
  { name: 'toid', params: ['value'], async run(host, call) { return toId(await arg(host, call, 'value')); } },
  { name: 'nothing', params: [], async run() { return undefined; } },
  {
    name: 'rndstr', params: [], named: ['from', 'length'],
    async run(host, call) {
      const from = call.args.has('from') ? toScriptString(await arg(host, call, 'from')) : 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
      const length = Math.max(0, intArg(await arg(host, call, 'length'), 16));
      const chars = [...from];
      if (chars.length === 0) return '';
      let out = '';
      for (let i = 0; i < length; i++) out += chars[crypto.randomInt(chars.length)];
      return out;
    },
  },
  {
    name: 'rndnum', params: [], named: ['from', 'to'],
    async run(host, call) {
      const from = intArg(await arg(host, call, 'from'), 0);
      const to = intArg(await arg(host, call, 'to'), from);
      return from + Math.floor(Math.random() * (to - from + 1));
    },
  },
  {
    name: 'serialize', params: ['value'], named: ['to', 'options', 'delimiter', 'order', 'file-name'],
    async run(host, call) {
      const to = toScriptString(await arg(host, call, 'to'));
      if (to !== 'json') throw new RosError('failure', `unsupported format ${to || '(none)'}`);
      const opts = optionsOf(await arg(host, call, 'options'));
      return serializeJson(await arg(host, call, 'value'), {
        pretty: opts.has('json.pretty'), noStringConversion: opts.has('json.no-string-conversion'),
      });
    },
  },
  {
    name: 'deserialize', params: ['value'], named: ['from', 'options', 'delimiter'],
    async run(host, call) {
      const from = toScriptString(await arg(host, call, 'from'));
      if (from !== 'json') throw new RosError('failure', `unsupported format ${from || '(none)'}`);
      return deserializeJson(toScriptString(await arg(host, call, 'value')));
    },
  },
  {
    name: 'parse', params: ['code'],
    async run(host, call) { return host.parseCode(toScriptString(await arg(host, call, 'code'))); },
  },
  {
    name: 'execute', params: ['script'], named: ['file'], flags: ['as-string'],
    async run(host, call) {
      const script = call.args.get('script');
      const source = script?.kind === 'brace' ? script.source : toScriptString(await arg(host, call, 'script'));
      const asString = call.args.has('as-string') && toBool(await arg(host, call, 'as-string'));
      const file = call.args.has('file') ? toScriptString(await arg(host, call, 'file')) : undefined;
      return host.execute(source, asString, file);
    },
  },
  {
    name: 'time', params: ['command'], code: ['command'],
    async run(host, call) {
      const body = call.args.get('command');
      const start = host.now();
      if (body) await host.runCode(body, call.scope);
      return Duration.fromMs(host.now() - start);
    },
  },
  {
    name: 'retry', params: ['command'], named: ['delay', 'max', 'on-error'], code: ['command', 'on-error'],
    async run(host, call) {
      const body = call.args.get('command');
      const max = Math.max(1, intArg(await arg(host, call, 'max'), 1));
      const delay = call.args.has('delay') ? delayMs(await arg(host, call, 'delay')) : 1000;
      for (let attempt = 1; ; attempt++) {
        await host.checkpoint();
        try {
          return body ? await host.runCode(body, call.scope) : undefined;
        } catch (e) {
          if (!catchable(e)) throw e;
          if (attempt >= max) {
            const onError = call.args.get('on-error');
            if (onError) return host.runCode(onError, call.scope);
            throw e;
          }
          await host.sleep(delay);
        }
      }
    },
  },
  {
    name: 'environment', params: ['command'],
    async run(host, call) {
      const cmd = nameOf(call.args.get('command')) ?? 'print';
      if (!'print'.startsWith(cmd)) throw new RosError('syntax', `bad command name ${cmd}`);
      let out = '';
      for (const [k, v] of host.globals) out += `${k}=${toScriptString(v)}\n`;
      host.output(out);
      return undefined;
    },
  },
  {
    name: 'jobname', params: [],
    async run(host) { return host.jobName(); },
  },
];

export const BUILTINS: ReadonlyMap<string, BuiltinSpec> = new Map(specs.map((s) => [s.name, s]));

/** Canonical parameter names a builtin accepts. */
export function builtinParamNames(spec: BuiltinSpec): string[] {
  return [...spec.params, ...(spec.named ?? []), ...(spec.flags ?? [])];
}

