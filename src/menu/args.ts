// The arguments of a command as commands see them: every value already parsed by its declared
// type, once, by the executor, with one rule for names and prefixes for every front end
// (console, scripts, REST, API, SSH and whatever comes next). Spec §7.1: an argument name, an
// enum value and a reference may be abbreviated to any prefix that names exactly one choice;
// an exact name always wins over the longer names it is a prefix of.

import { ambiguous, argumentError, noMatch, RosError } from '../errors.js';
import type { ArgDecl, CommandDecl, TypeContext } from './types.js';
import type { Value } from './values.js';

/** Parsed arguments by full name. A null value stands for an unset (`!name`, set to default). */
export class Args {
  static readonly none = new Args(new Map());

  constructor(private readonly values: ReadonlyMap<string, unknown>) {}

  has(arg: string | ArgDecl): boolean {
    return this.values.has(typeof arg === 'string' ? arg : arg.name);
  }

  /** The parsed value of a declared argument, typed by its declaration. */
  get<S>(arg: ArgDecl<S>): S | undefined {
    return this.values.get(arg.name) as S | undefined;
  }

  /** The parsed value by name (generic code over property-typed arguments). */
  value(name: string): unknown {
    return this.values.get(name);
  }

  /** Whether a flag-only argument (`detail`, `as-value`) was given and not as `no`. */
  flag(arg: string | ArgDecl): boolean {
    return this.values.get(typeof arg === 'string' ? arg : arg.name) === true;
  }

  names(): string[] {
    return [...this.values.keys()];
  }

  entries(): Array<[string, unknown]> {
    return [...this.values];
  }

  /** A copy with some arguments replaced or added (already parsed values). */
  with(entries: Iterable<[string, unknown]>): Args {
    const m = new Map(this.values);
    for (const [k, v] of entries) m.set(k, v);
    return new Args(m);
  }

  /** A copy keeping only the named arguments. */
  only(names: readonly string[]): Args {
    return new Args(new Map([...this.values].filter(([k]) => names.includes(k))));
  }
}

/**
 * The one prefix rule (spec §7.1): the choice named exactly, else the only choice the input is a
 * prefix of. More than one → `ambiguous value of <arg>…`; none → `input does not match any
 * value of <arg>`.
 */
export function matchChoice(input: string, choices: readonly string[], argName: string): string {
  if (choices.includes(input)) return input;
  const hits = input === '' ? [] : choices.filter((c) => c.startsWith(input));
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw ambiguous(argName);
  throw noMatch(argName);
}

/** The declared argument an (abbreviated) name means, or undefined (unknown or ambiguous). */
export function matchArgName<A extends { readonly name: string }>(decls: readonly A[], input: string): A | undefined {
  const exact = decls.find((a) => a.name === input);
  if (exact) return exact;
  const hits = decls.filter((a) => a.name.startsWith(input));
  return hits.length === 1 ? hits[0] : undefined;
}

/** Whether parsing these raw arguments reads the store (references, item lists). */
export function parsingReadsStore(command: CommandDecl, raw: ReadonlyMap<string, Value>): boolean {
  for (const name of raw.keys()) {
    const decl = matchArgName(command.args, name);
    if (decl?.type.readsStore) return true;
  }
  return false;
}

/**
 * Parses the raw arguments of a command (names possibly abbreviated, values as any front end
 * gave them: console text, typed script values, REST/API strings) into Args. Throws RosError:
 * `unknown parameter x`, `missing =x=`, or the type's own message.
 */
export function parseArgs(command: CommandDecl, raw: ReadonlyMap<string, Value>, ctx: TypeContext): Args {
  const out = new Map<string, unknown>();
  for (const [name, value] of raw) {
    const decl = matchArgName(command.args, name);
    if (!decl) throw argumentError(`unknown parameter ${name}`);
    if (out.has(decl.name)) throw argumentError(`duplicate parameter ${decl.name}`);
    try {
      out.set(decl.name, value === null ? null : decl.type.parse(value, ctx, decl.name));
    } catch (e) {
      // A script's error names the argument: `… (/ip/service/set (certificate); line 1)`.
      if (e instanceof RosError && e.argument === undefined) e.argument = decl.name;
      throw e;
    }
  }
  for (const a of command.args) {
    if (a.required && !out.has(a.name)) throw argumentError(`missing =${a.name}=`);
  }
  return new Args(out);
}
