// One error type inside rospki (design.md rule 3). Each front end translates it:
// console `failure: ...` / `... (line L column C)`, REST {"error":400,...}, API !trap.

/** API trap categories (spec §9.3). */
export const enum ErrorCategory {
  MissingItem = 0,
  ArgumentValue = 1,
  Interrupted = 2,
  Script = 3,
  General = 4,
  Api = 5,
}

/**
 * The second variable of `:onerror err,attr` (fetch: `code` = the HTTP status as a number,
 * `http-headers` = the response's `Name: value` lines as a list). Plain data, because this
 * lowest layer imports nothing: the interpreter makes the array (a string[] becomes a list).
 */
export type ErrorAttributes = Readonly<Record<string, string | number | readonly string[]>>;

export type RosErrorKind =
  /** a runtime failure: console prints `failure: <message>` */
  | 'failure'
  /** argument/item problems printed bare: `no such item`, `input does not match any value of x` */
  | 'argument'
  /** console syntax problems carrying a position: `syntax error (line 1 column 7)` */
  | 'syntax'
  /** `not enough permissions (9)` */
  | 'permission'
  /** `interrupted` */
  | 'interrupted'
  /** raised by `:error` in scripts; printed bare */
  | 'script';

export class RosError extends Error {
  readonly kind: RosErrorKind;
  readonly category: ErrorCategory;
  /** 1-based position in the script text, for syntax-like errors. */
  line?: number;
  column?: number;
  /** Details a script reads with `:onerror e,attr` (e.g. a fetch's status and headers). */
  attributes?: ErrorAttributes;
  /** The argument whose value was refused (the executor names it while it parses arguments). */
  argument?: string;
  /** Where a running script failed: the command (`/ip/service/set`, `:error`) and its line. */
  scriptLocation?: { readonly command: string; readonly line: number };
  /**
   * No location is ever added: the text says where it failed already (a syntax error inside a
   * script that a command ran, `Script Error: bad command name x (line 1 column 2)`).
   */
  complete = false;
  /**
   * A failed script's own error, without what the script printed before it (the runner's
   * message carries that for its caller). /log takes this one: a script's output may be anything
   * its owner could read, a secret included, and /log is read by users who may not read it.
   */
  scriptError?: RosError;

  constructor(kind: RosErrorKind, message: string, category?: ErrorCategory) {
    super(message);
    this.name = 'RosError';
    this.kind = kind;
    this.category = category ?? defaultCategory(kind);
  }

  /** The text RouterOS prints for this error in the console. */
  consoleText(): string {
    const pos = this.line !== undefined ? ` (line ${this.line} column ${this.column ?? 1})` : '';
    // A script's own `:error` text is shown as the script wrote it; every other message may echo
    // what the caller sent, which is shown tamed (shownInError).
    const message = this.kind === 'script' ? this.message : shownInError(this.message);
    if (this.kind === 'failure') return `failure: ${message}${pos}`;
    return `${message}${pos}`;
  }

  /**
   * The text of a script's failure as `/execute … as-string` returns it: a runtime error names
   * the command, the refused argument and the line — `input does not match any value of
   * certificate (/ip/service/set (certificate); line 1)` (routeros-services.md §1.2, a CHR 7.23.3
   * capture of POST /rest/execute), `boom (:error; line 1)`. Errors with a position (`syntax
   * error (line 1 column 6)`) keep it. A console (terminal, SSH, `-e`) shows consoleText().
   */
  scriptText(): string {
    const at = this.scriptLocation;
    if (!at || this.line !== undefined || this.complete) return this.consoleText();
    const arg = this.argument !== undefined ? ` (${this.argument})` : '';
    return `${this.consoleText()} (${at.command}${arg}; line ${at.line})`;
  }
}

function defaultCategory(kind: RosErrorKind): ErrorCategory {
  switch (kind) {
    case 'argument': return ErrorCategory.ArgumentValue;
    case 'interrupted': return ErrorCategory.Interrupted;
    case 'script': case 'syntax': return ErrorCategory.Script;
    default: return ErrorCategory.General;
  }
}

/** How long a value echoed in an error message may be (the /file name rule's 64 characters). */
const ECHO_LIMIT = 64;
/** The most an error message says: a command refusing a 100 kB value does not send it back. */
const MESSAGE_LIMIT = 512;

/**
 * An error message as every front end shows it (console, REST, API, the web page): the values it
 * echoes from the caller have control characters as `?` (an ESC sequence sent as a value can
 * not reach the terminal of whoever reads the error), a quoted value is cut to 64 characters
 * and `…`, and the whole message to 512.
 */
export function shownInError(message: string): string {
  let out = message.replace(/"([^"]{65,})"/g, (_, v: string) => `"${[...v].slice(0, ECHO_LIMIT).join('')}…"`);
  out = out.replace(/[\x00-\x1f\x7f]/g, '?');
  return out.length > MESSAGE_LIMIT ? `${[...out].slice(0, MESSAGE_LIMIT).join('')}…` : out;
}

export const failure = (message: string) => new RosError('failure', message);
export const argumentError = (message: string) => new RosError('argument', message);
export const noSuchItem = () => new RosError('argument', 'no such item', ErrorCategory.MissingItem);
/** Several items where a command takes one (`get [find]` matching more than one row): RouterOS 7's text. */
export const invalidItemNumber = () => new RosError('argument', 'invalid internal item number', ErrorCategory.MissingItem);
export const noMatch = (arg: string) => new RosError('argument', `input does not match any value of ${arg}`);
export const ambiguous = (arg: string) =>
  new RosError('argument', `ambiguous value of ${arg}, more than one possible value matches input`);
export const outOfRange = (arg: string, min: string, max: string) =>
  new RosError('argument', `value of ${arg} is out of range (${min} .. ${max})`);
export const invalidValue = (arg: string) => new RosError('argument', `invalid value for argument ${arg}`);
export const alreadyHave = () => new RosError('failure', 'already have such entry');
export const notEnoughPermissions = () => new RosError('permission', 'not enough permissions (9)');
