// The menu model (design.md "menus"): each menu DECLARES its properties and commands once;
// the generic verbs, print layouts, REST JSON, API words, validation, prefix matching, `?` help
// and tab completion all come from that one declaration.

import type { Clock } from '../clock.js';
import type { ReadTx, RowData, Store, StoredRow, WriteTx } from '../store/store.js';
import type { Value } from './values.js';

/** RouterOS user-group policy names (spec /user group). */
export const POLICIES = [
  'local', 'telnet', 'ssh', 'ftp', 'reboot', 'read', 'write', 'policy', 'test', 'winbox',
  'password', 'web', 'sniff', 'sensitive', 'api', 'romon', 'rest-api',
] as const;
export type Policy = (typeof POLICIES)[number];

/** Context available to value types while parsing or displaying. */
export interface TypeContext {
  readonly tx: ReadTx;
  readonly clock: Clock;
  readonly registry: RegistryView;
}

/**
 * A value type of a property or argument. S is the JSON-able form kept in the store.
 * parse() accepts console text, REST/API strings and typed script values alike.
 */
export interface PropType<S = unknown> {
  /** How `?` help names the type: `string`, `yes | no`, `integer: 1..65535`, `time`. */
  readonly help: string;
  parse(input: Value, ctx: TypeContext, argName: string): S;
  /** Console text (print, detail, terse, export). */
  display(value: S, ctx: TypeContext): string;
  /** REST/API string: like display, except booleans are `true`/`false`. */
  api(value: S, ctx: TypeContext): string;
  /** Typed value for `get`, `print as-value` and `where`. */
  script(value: S, ctx: TypeContext): Value;
  /** Detail mode wraps the value in quotes (string-typed values, spec §3.6 rule 9). */
  readonly quoted?: boolean;
  /** Right-aligned in tables (PORT, SIZE). */
  readonly numeric?: boolean;
  /** Values offered by completion and used for prefix matching (enums, references). */
  choices?(ctx: TypeContext): string[];
  isEmpty?(value: S): boolean;
}

export interface FlagDecl {
  /** Letter in the flag column: `K`, `A`, `X`. */
  readonly letter: string;
  /** Legend title; defaults to the property name in upper case (`PRIVATE-KEY`). */
  readonly title?: string;
  /** Letter of the flag whose column this one shares (R shares I's column, spec §3.1). */
  readonly sharesColumnWith?: string;
}

export interface PropertyDecl {
  readonly name: string;
  readonly type: PropType<any>;
  /** Value a new row gets when add does not set it. A function is called per add. */
  readonly default?: unknown | ((ctx: TypeContext) => unknown);
  /** `ro`: set only by the system or commands; `wo`: never shown (passwords). */
  readonly access?: 'rw' | 'ro' | 'wo';
  /** Hidden in print and export unless `show-sensitive`. */
  readonly sensitive?: boolean;
  /** Must be given to add. */
  readonly required?: boolean;
  /** No two rows may share a value (`failure: already have such entry`). */
  readonly unique?: boolean;
  /** Derived, not stored: expires-after, expired. */
  readonly compute?: (row: RowData, ctx: TypeContext) => unknown;
  readonly flag?: FlagDecl;
  /**
   * Whether detail/terse show it: `always` (even empty, e.g. subject-alt-name), `non-empty`
   * (default) or `never` (flag-only booleans show as flags).
   */
  readonly detail?: 'always' | 'non-empty' | 'never';
  /** Only add/set may give it on rows matching this (templates vs signed certificates). */
  readonly writableWhen?: (row: RowData) => boolean;
  /** Message when set is refused by writableWhen. */
  readonly notWritableMessage?: string;
  readonly help?: string;
}

export interface ArgDecl {
  readonly name: string;
  readonly type: PropType<any>;
  readonly required?: boolean;
  /** Index among the unnamed (positional) arguments: `set 0 …`, `sign myCA`, `fetch "url"`. */
  readonly positional?: number;
  /** A bare word without `=`: `detail`, `as-value`, `count-only`. */
  readonly flagOnly?: boolean;
  readonly sensitive?: boolean;
  readonly help?: string;
}

/** Who runs a command, and per-session console state. */
export interface Session {
  readonly user: string;
  readonly policies: ReadonlySet<Policy>;
  /** Front end, for /log and policy checks: console, script, rest, api, ssh. */
  readonly via: string;
  /** Remote address for logs (network front ends). */
  readonly address?: string;
  /** Row numbers of the last print per menu path: index → item id (spec §7.3). */
  readonly lastPrint: Map<string, number[]>;
  /** Terminal width for layouts. */
  readonly width: number;
  /** Interactive prompt (masked input), present only on a terminal: `passphrase: `. */
  prompt?(question: string, masked: boolean): Promise<string>;
  /** Monitor output while a command runs (`progress:` lines). */
  progress?(fields: Array<[string, Value]>): void;
  /** Cancellation (Ctrl-C, API /cancel, REST timeout). */
  readonly signal?: AbortSignal;
}

/** A row as filters see it: property values as typed script values. */
export interface RowView {
  readonly id: number;
  get(name: string): Value;
}

export type RowPredicate = (row: RowView) => boolean | Promise<boolean>;

/** Everything a command implementation gets. */
export interface CommandCall {
  readonly menu: MenuDecl;
  readonly command: CommandDecl;
  /** Arguments with canonical (full) names; values as the front end gave them. */
  readonly args: ReadonlyMap<string, Value>;
  readonly where?: RowPredicate;
  readonly session: Session;
  readonly env: Environment;
}

/** Output of a print verb; each front end renders it (console layout, REST JSON, API !re). */
export interface PrintOutput {
  readonly menu: MenuDecl;
  readonly rows: readonly StoredRow[];
  /** Row numbers shown in the index column, parallel to rows. */
  readonly numbers: readonly number[];
  readonly mode: 'table' | 'detail' | 'terse' | 'brief' | 'value-list';
  /** Property names chosen by proplist=, or undefined for the menu's defaults. */
  readonly proplist?: readonly string[];
  readonly showIds: boolean;
  readonly showSensitive: boolean;
  /** `print file=x`: write the console text to x.txt in the /file store instead. */
  readonly file?: { readonly dir: string; readonly name: string };
  /** Typed context to turn stored values into text; valid while rendering. */
  readonly ctx: TypeContext;
}

export interface CommandResult {
  /** The value of the command (`:put [cmd]`, API `!done =ret=`, REST `{"ret":…}`). */
  ret?: Value;
  /** Console output of print verbs. */
  print?: PrintOutput;
  /** `!re` records for API/REST prints and monitors: key → API string. */
  records?: Array<Record<string, string>>;
  /** Right-aligned `key: value` block (import summary, `progress: done`). */
  block?: Array<[string, Value]>;
  /** Extra lines printed by the console (warnings). */
  messages?: string[];
}

export interface CommandDecl {
  readonly name: string;
  readonly help?: string;
  readonly args: readonly ArgDecl[];
  /** Policy the user needs (read for print/get/find, write for changes). */
  readonly policy: Policy;
  /**
   * A monitor-like command (fetch): REST and the API number its replies with `.section`
   * (spec §8.4, §9.3).
   */
  readonly monitor?: boolean;
  run(call: CommandCall): Promise<CommandResult>;
}

export type MenuKind = 'list' | 'singleton' | 'dir';

export interface MenuDecl {
  /** `/certificate`, `/system/identity`. The root is `/`. */
  readonly path: string;
  readonly kind: MenuKind;
  readonly help?: string;
  readonly properties: readonly PropertyDecl[];
  /** Default table columns (property names), in order. */
  readonly columns?: readonly string[];
  /** How the table legend names shared flag columns (layout.ts LegendStyle); default `present`. */
  readonly legendStyle?: 'present' | 'column' | 'column-short';
  /** Property order in detail/terse; defaults to declaration order. */
  readonly detailOrder?: readonly string[];
  /** Property that names an item (`name`), used to refer to rows by name. */
  readonly key?: string;
  /** Which generic verbs exist (print, get, set, add, remove, find, enable, disable, …). */
  readonly verbs: readonly string[];
  /** Menu-specific commands (sign, import, …). */
  readonly commands?: readonly CommandDecl[];
  /** A menu whose plain `print` is not a table (/log prints one line per entry). */
  printTable?(print: PrintOutput): string;
  /** Rows present on a fresh data directory (RouterOS defaults). */
  readonly defaults?: readonly RowData[];
  /**
   * Runs before every command of this menu, outside any transaction: menus whose rows mirror
   * something outside the store (the /file store on disk) bring the store up to date here.
   */
  prepare?(env: Environment): Promise<void>;
  /** Checks a row before add/set store it (throws RosError). */
  validate?(row: RowData, tx: WriteTx, env: Environment): void;
  /** Called inside the transaction before a row is removed (cascades). */
  beforeRemove?(id: number, tx: WriteTx, env: Environment): void;
}

export interface RegistryView {
  menu(path: string): MenuDecl | undefined;
  children(path: string): string[];
}

/** The shared services every command can use. */
export interface Environment {
  readonly store: Store;
  readonly clock: Clock;
  readonly registry: RegistryView;
  /** Data directory paths (files/ is the /file store). */
  readonly dataDir: { readonly root: string; readonly filesDir: string };
  /** Appends to /log inside the current transaction. */
  log(tx: WriteTx, topics: string, message: string): void;
}
