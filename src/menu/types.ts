// The menu model (design.md "menus"): each menu DECLARES its properties and commands once;
// the generic verbs, print layouts, REST JSON, API words, validation, prefix matching, `?` help
// and tab completion all come from that one declaration.

import type { Clock, TimeZone } from '../clock.js';
import type { FileStore } from '../store/files.js';
import type { ReadMark, ReadTx, RowData, Store, StoredRow, WriteTx } from '../store/store.js';
import type { TrustEngine } from '../trust/engine.js';
import type { Args } from './args.js';
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
  /** The router's time zone (/system clock) in this transaction: every date is shown in it. */
  readonly zone: TimeZone;
  readonly registry: RegistryView;
  /** The appliance's shared services (the /file store for `contents`, caches). */
  readonly env: Environment;
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
  /**
   * Table cell text where it differs from display(): `\n` puts each further value on a
   * continuation line under its column (a second address, spec §3.6 rule 7).
   */
  tableText?(value: S, ctx: TypeContext): string;
  /** Values offered by completion and used for prefix matching (enums, references). */
  choices?(ctx: TypeContext): string[];
  /** The value is a comma list (key-usage, address lists): a form offers several choices at once. */
  readonly multiple?: boolean;
  isEmpty?(value: S): boolean;
  /** parse() reads rows (references, item lists): the executor parses it in a fresh read. */
  readonly readsStore?: boolean;
  /** A reference to rows of another menu (refType): what removing such a row does to it. */
  readonly reference?: ReferenceDecl;
}

/**
 * A property that points at a row of another menu (by id, so a rename keeps it). When that row
 * is removed, the generic remove applies `onRemove` to every row pointing at it (one rule for
 * every consumer, design.md): `none` sets the reference to none and logs a warning, `cascade`
 * removes the pointing row too, `refuse` refuses the removal while it is in use.
 */
export interface ReferenceDecl {
  readonly target: string;
  /** `disable`: as `none`, and the referrer is disabled too (a pin whose loss would let more in). */
  readonly onRemove: 'none' | 'disable' | 'cascade' | 'refuse';
}

export interface FlagDecl {
  /** Letter in the flag column: `K`, `A`, `X`. */
  readonly letter: string;
  /** Legend title; defaults to the property name in upper case (`PRIVATE-KEY`). */
  readonly title?: string;
  /** Letter of the flag whose column this one shares (R shares I's column, spec §3.1). */
  readonly sharesColumnWith?: string;
  /**
   * Place in the flag legend, where it differs from the declaration (detail) order: the flags of
   * a menu with ranks come in rank order (certificate: K L C A I R E T a D, spec §3.1).
   */
  readonly rank?: number;
}

export interface PropertyDecl<S = any> {
  readonly name: string;
  readonly type: PropType<S>;
  /**
   * Value a new row gets when add does not set it; also what propValue() reads for a row that
   * lacks it (templates made before a property existed). A function is called per add.
   */
  readonly default?: S | ((ctx: TypeContext) => S);
  /**
   * The default depends on when the row is added (a scheduler's start-date: today): no default
   * for an import on another day, so /export always writes the value.
   */
  readonly defaultVaries?: boolean;
  /** `ro`: set only by the system or commands; `wo`: never shown (passwords). */
  readonly access?: 'rw' | 'ro' | 'wo';
  /** Hidden in print and export unless `show-sensitive`. */
  readonly sensitive?: boolean;
  /**
   * Secret for some rows only (the `contents` of a private key file): shown only to callers with
   * the `sensitive` policy, left out for everyone else.
   */
  readonly secretWhen?: (row: RowData, ctx: TypeContext) => boolean;
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
  /**
   * An empty value means the property does not apply (an imported certificate without a
   * key-usage extension): storedValue() reads it as unset, so REST, the API, `get`, `as-value`,
   * `where` and print detail all leave it out alike (clients.md #11), rows stored empty by older
   * versions included. Not with `detail: 'always'`, whose empty value is shown.
   */
  readonly absentWhenEmpty?: boolean;
  /** Only add/set may give it on rows matching this (templates vs signed certificates). */
  readonly writableWhen?: (row: RowData) => boolean;
  /** Message when set is refused by writableWhen. */
  readonly notWritableMessage?: string;
  /** Policy needed, beyond the command's, to give this property (`group` of /user: `policy`). */
  readonly policy?: Policy;
  readonly help?: string;
}

export interface ArgDecl<S = any> {
  readonly name: string;
  readonly type: PropType<S>;
  readonly required?: boolean;
  /** Index among the unnamed (positional) arguments: `set 0 …`, `sign myCA`, `fetch "url"`. */
  readonly positional?: number;
  /** A bare word without `=`: `detail`, `as-value`, `count-only`. */
  readonly flagOnly?: boolean;
  readonly sensitive?: boolean;
  /** Policy needed, beyond the command's, to give this argument. */
  readonly policy?: Policy;
  readonly help?: string;
}

/** Who runs a command, and per-session console state. */
export interface Session {
  readonly user: string;
  /**
   * The most this session may ever do: the user's policies when it logged in, narrowed for a
   * script to the script's own. Every command runs with this intersected with what the user's
   * group grants at that moment (executor), so a disabled, demoted or removed user loses rights
   * at once and a session never gains any.
   */
  readonly policies: ReadonlySet<Policy>;
  /**
   * The host's operator (the local terminal, `-e`, `.rsc` files, the control socket): owns the
   * data directory, so the session's policies are not narrowed by the user's group.
   */
  readonly operator?: boolean;
  /** The policy the front end itself needs on every command (`api`, `rest-api`, `ssh`, `web`). */
  readonly channel?: Policy;
  /**
   * The user's credential stamp at login (AccessControl.policiesOf): when the password changes,
   * every session that logged in before has no rights any more. A RADIUS login's stamp names its
   * group (menus/user/aaa.ts), whose policies the session then has.
   */
  readonly stamp?: string;
  /** Front end, for /log and policy checks: console, script, rest, api, ssh. */
  readonly via: string;
  /** Remote address for logs (network front ends). */
  readonly address?: string;
  /** The rows of the last print per menu path, in numbering order: index → item (spec §7.3). */
  readonly lastPrint: Map<string, readonly StoredRow[]>;
  /** Terminal width for layouts. */
  readonly width: number;
  /** Interactive prompt (masked input), present only on a terminal: `passphrase: `. */
  prompt?(question: string, masked: boolean): Promise<string>;
  /** Forgets the command history of the terminal (`/console clear-history`); present only on a terminal. */
  clearHistory?(): void;
  /**
   * Monitor output while a command runs (`progress:` lines). A monitor command (fetch) also
   * gives the same state as its API/REST record (`downloaded=731`, no units), which the API
   * sends as a `!re` at once and REST adds to its array (spec §8.4, §9.3).
   */
  progress?(fields: Array<[string, Value]>, record?: Readonly<Record<string, string>>): void;
  /**
   * Output of a command that goes on until it is stopped (`print follow`, `follow-only`,
   * `interval=`, the API's `listen`, spec §3.5, §9.4): each part as soon as it is ready. The
   * console shows a part as it shows a result; the API sends its rows as `!re` at once (a removed
   * row as `.dead=yes`). Absent where nothing can be streamed (REST).
   */
  stream?(part: CommandResult): void;
  /** Cancellation (Ctrl-C, API /cancel, REST timeout). */
  readonly signal?: AbortSignal;
  /**
   * How deeply the script that runs a command is nested (blocks, calls, scripts run from
   * scripts, `/import` of an import): a script run with this session starts there, so no chain
   * of scripts nests without end (the console's MAX_SCRIPT_DEPTH).
   */
  readonly scriptDepth?: number;
  /**
   * Output the console's client has not taken yet (SSH, telnet): a promise that settles once it
   * has, else undefined. A script that runs waits for it at its next statement, so a client
   * that never reads can not make the daemon hold an endless `:put` loop's output.
   */
  readonly outputDrained?: () => Promise<void> | undefined;
}

/** A row as filters see it: property values as typed script values. */
export interface RowView {
  readonly id: number;
  get(name: string): Value;
}

/**
 * A `where` filter. `equals`, when present, is implied by it: every row it accepts has that
 * text stored under that property (`where name="x"`, alone or and-ed with more), so a menu may
 * test only the rows its index finds for it (generic.ts candidateRows).
 */
export type RowPredicate = ((row: RowView) => boolean | Promise<boolean>) & { readonly equals?: { readonly name: string; readonly text: string } };

/** Everything a command implementation gets. */
export interface CommandCall {
  readonly menu: MenuDecl;
  readonly command: CommandDecl;
  /**
   * Arguments by full name, each already parsed by its declared type (the executor did it, with
   * one prefix rule for every front end); null stands for an unset (`!name`).
   */
  readonly args: Args;
  readonly where?: RowPredicate;
  readonly session: Session;
  /** What the session may do for this command (checked live by the executor). */
  readonly policies: ReadonlySet<Policy>;
  readonly env: Environment;
  /** When the request began (Store.mark): give it to the command's store.read() calls. */
  readonly since: ReadMark;
  /**
   * What the session may do now, for a command that runs on (print follow): checked again as the
   * executor checked it at the start; throws `not enough permissions` once the command's own
   * policies are gone (the user was disabled, demoted or changed password meanwhile).
   */
  policiesNow(tx: ReadTx): ReadonlySet<Policy>;
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
  /** The caller holds the `sensitive` policy: values secret for some rows (secretWhen) are shown. */
  readonly readsSecrets: boolean;
  /** Typed context to turn stored values into text; valid while rendering. */
  readonly ctx: TypeContext;
  /**
   * Rows that follow an earlier print of the same command (print follow): the console leaves out
   * what that print already showed above them (the legend, `Columns:`, the header).
   */
  readonly continued?: boolean;
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
  /**
   * A whole text the command shows (an export script): the console prints it as it is; REST
   * and the API hand it over as the command's `ret` (`{"ret":"# … by RouterOS …"}`,
   * `!done =ret=…`), line ends CRLF as RouterOS sends console text over the network.
   */
  text?: string;
  /** Names of the /file entries the command wrote (export-certificate): the web page offers them for download. */
  files?: string[];
  /** `/quit`: the console stops here; the rest of its input (an SSH exec line, `-e`, a pipe) is not run. */
  quit?: boolean;
  /**
   * A streamed part only (Session.stream): rows shown before that are gone now. The API sends
   * each as `!re =.id=*N =.dead=yes` (spec §9.4); the console shows nothing for them.
   */
  removed?: PrintOutput;
  /** A streamed part only: the whole print again (`print interval=`); a terminal clears the screen first. */
  redraw?: boolean;
}

export interface CommandDecl {
  readonly name: string;
  readonly help?: string;
  readonly args: readonly ArgDecl[];
  /** Policies the user needs (read for print/get/find, write for changes; all of them). */
  readonly policy: Policy | readonly Policy[];
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
  /** The properties, in the order detail, terse and help show them (one declaration each). */
  readonly properties: readonly PropertyDecl[];
  /** Default table columns (property names), in order. */
  readonly columns?: readonly string[];
  /** How the table legend names shared flag columns (layout.ts LegendStyle); default `present`. */
  readonly legendStyle?: 'present' | 'column' | 'column-short';
  /** Property that names an item (`name`), used to refer to rows by name. */
  readonly key?: string;
  /**
   * Rows have a place of their own (firewall rules, whose order decides): print numbers them in
   * that order, add takes `place-before=`, and the generic `move` verb reorders them.
   */
  readonly ordered?: boolean;
  /** Which generic verbs exist (print, get, set, add, remove, find, enable, disable, move, …). */
  readonly verbs: readonly string[];
  /** Policies its generic changing verbs need beyond `write` (/user, /user group: `policy`). */
  readonly writePolicy?: readonly Policy[];
  /** Menu-specific commands (sign, import, …). */
  readonly commands?: readonly CommandDecl[];
  /**
   * The order rows are numbered, printed and found in, where it is not id order (/ip service:
   * by port, spec services §8). Returns a new array.
   */
  sortRows?(rows: readonly StoredRow[]): StoredRow[];
  /**
   * A menu whose plain `print` is not a table: /log prints one line per entry, firewall rules
   * print as records (the session gives the terminal width).
   */
  printTable?(print: PrintOutput, session: Session): string;
  /** Rows present on a fresh data directory (RouterOS defaults). */
  readonly defaults?: readonly RowData[];
  /**
   * Runs before every command of this menu, outside any transaction: menus whose rows mirror
   * something outside the store (the /file store on disk) bring the store up to date here.
   */
  prepare?(env: Environment): Promise<void>;
  /**
   * Fills properties that follow from others when not given (an address's `network`), before
   * the row is checked and stored by add/set.
   */
  derive?(row: RowData): void;
  /** Checks a row before add/set store it (throws RosError); `id` is the row's on set, undefined on add. */
  validate?(row: RowData, tx: WriteTx, env: Environment, id?: number): void;
  /**
   * Whether the caller may make this change (add: before undefined; remove: after undefined),
   * beyond the verb's policies: the rule that nobody grants or touches more than they hold
   * (/user, /user group, /system script, /user ssh-keys). Throws `not enough permissions`.
   */
  authorize?(change: { before?: RowData; after?: RowData }, tx: ReadTx, call: Pick<CommandCall, 'session' | 'policies'>): void;
  /**
   * Called inside the transaction before a row is removed (its own refusals). Rows of other
   * menus that refer to it are handled by their reference's `onRemove` (ReferenceDecl).
   */
  beforeRemove?(id: number, tx: WriteTx, env: Environment): void;
}

export interface RegistryView {
  menu(path: string): MenuDecl | undefined;
  /** Every menu (the rules that read the declarations: secret-files.ts). */
  all(): MenuDecl[];
  children(path: string): string[];
  /** Every property of every menu that refers to rows of `path` (refType). */
  referencesTo(path: string): ReadonlyArray<{ readonly menu: MenuDecl; readonly prop: PropertyDecl }>;
}

/**
 * Runs console-language scripts (/system script, /import, the scheduler) for menus, which never
 * import the console themselves (design.md: data flows down). The console front end provides it.
 */
export interface ScriptRunner {
  /**
   * Runs `source` as `session` (its policies already narrowed to the script's); returns what the
   * script printed. A failure is a RosError of kind `script`: `Script Error: <text>`, or just
   * `<text>` with `plainErrors`. `name` is what `:jobname` answers; `locals` are variables the
   * script starts with (netwatch's results).
   */
  run(source: string, session: Session, opts?: { dryRun?: boolean; name?: string; plainErrors?: boolean; locals?: ReadonlyMap<string, Value> }): Promise<string>;
  /** Parses and checks `source` without running it; throws a positioned RosError. */
  check(source: string): void;
  /**
   * The global variables of one user: shared by that user's scripts (run as their owner),
   * consoles and scheduler events until the appliance stops — RouterOS's global scope is "all
   * scripts created by the same user" (manual: Scripting, Variables).
   */
  globalsOf(user: string): Map<string, Value>;
  /** Every user that has globals, with them (/system script environment). */
  allGlobals(): ReadonlyMap<string, Map<string, Value>>;
}

/** Per-appliance memo tables (opened CA keys, parsed certificates): one object per appliance. */
export interface ApplianceCache {
  /** The table called `name`, created empty on first use. */
  table<K, V>(name: string): Map<K, V>;
}

/** Where the executor learns, at each command, what a user's group grants now. */
export interface AccessControl {
  /**
   * The policies the user holds now; undefined for a user that is unknown or disabled. Given the
   * session's credential stamp (Session.stamp): undefined too once those credentials no longer
   * hold (the password changed; for a RADIUS login, its group or /user aaa use-radius is gone).
   */
  policiesOf(tx: ReadTx, user: string, stamp?: string): ReadonlySet<Policy> | undefined;
}

/** The shared services every command can use; menus reach each other's data only through these. */
export interface Environment {
  readonly store: Store;
  readonly clock: Clock;
  /** The router's time zone as /system clock says in `tx` (read it through TypeContext.zone). */
  zone(tx: ReadTx): TimeZone;
  readonly registry: RegistryView;
  /** The /file store: the one path-safety rule (src/store/files.ts). */
  readonly files: FileStore;
  readonly cache: ApplianceCache;
  readonly scripts: ScriptRunner;
  /** The one trust engine (src/trust) with this appliance's anchors and CRLs. */
  readonly trust: TrustEngine;
  readonly access: AccessControl;
  /** Appends to /log inside the current transaction. */
  log(tx: WriteTx, topics: string, message: string): void;
  /** An unexpected error: its stack goes to the operator's log; returns the reference users see. */
  reportInternalError(error: unknown, where: string): string;
}
