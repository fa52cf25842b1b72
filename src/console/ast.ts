// Syntax tree of the RouterOS console scripting language (M-SCRIPT "Line structure",
// "Expressions"; spec §7). The parser builds it without knowing the menu tree; the interpreter
// resolves command paths against the registry and caches the result on the nodes.
//
// Every node keeps its 1-based line and column (and the source offset) for error messages.

import type { Value } from '../menu/values.js';

export interface Pos {
  /** Offset into the source text. */
  readonly offset: number;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column (characters). */
  readonly col: number;
}

// ---------------------------------------------------------------------------------------------
// Statements

/**
 * The text a tree was parsed from (shared by all its nodes). `text` is the source with its line
 * joins (`\` + newline + the next line's indentation) taken out; offsets (Pos.offset) index it.
 * Lines and columns are those of the source as written (`lineStarts`, mapped through `joins`).
 */
export interface SourceText {
  readonly text: string;
  readonly lineStarts: number[];
  /** Where joins were taken out: offsets in `text`, and how many characters were removed there. */
  readonly joins?: { readonly at: readonly number[]; readonly removedUpTo: readonly number[] };
}

export interface Program {
  readonly kind: 'program';
  readonly src: SourceText;
  readonly body: Stmt[];
}

export type Stmt = BlockStmt | CommandStmt;

/** `{ … }` in command position: a local scope. */
export interface BlockStmt extends Pos {
  readonly kind: 'block';
  readonly body: Stmt[];
}

/**
 * One command line: `[prefix] [path] command [unnamed] [name=value]… [where <expr>]`.
 * The parser does not know which leading words are menus, which is the command and which are
 * arguments; the interpreter decides with the registry.
 */
export interface CommandStmt extends Pos {
  readonly kind: 'command';
  readonly src: SourceText;
  readonly items: ArgItem[];
  /** Filter after the `where` keyword (non-`:` commands only). */
  readonly where?: WhereClause;
  /** Offset just past the last character of the command (before `;`, newline or a closer). */
  readonly end: number;
  /**
   * A problem found while reading the items as ordinary arguments. It is raised only if the
   * command does not turn out to be `find` (whose arguments are one filter expression).
   */
  readonly deferredError?: { readonly message: string; readonly pos: Pos; readonly offsetOfItem: number };
  /** Interpreter cache: how this command resolved (set on first run). */
  resolved?: unknown;
}

export type ArgItem = ValueItem | NamedItem | UnsetItem;

/** An unnamed argument, or a path/command word. */
export interface ValueItem extends Pos {
  readonly kind: 'value';
  readonly value: Expr;
}

/** `name=value`; `value` undefined for `name=` followed by nothing. */
export interface NamedItem extends Pos {
  readonly kind: 'named';
  readonly name: string;
  readonly value: Expr | undefined;
}

/** `!name`: unset a property. */
export interface UnsetItem extends Pos {
  readonly kind: 'unset';
  readonly name: string;
}

export interface WhereClause extends Pos {
  readonly kind: 'where';
  readonly expr: Expr;
}

// ---------------------------------------------------------------------------------------------
// Expressions

export type Expr =
  | WordExpr | LiteralExpr | IdentExpr | StringExpr | VarExpr | ConcatExpr | ParenExpr
  | SubstExpr | BraceExpr | UnaryExpr | BinaryExpr;

/** A bare word in command position (`name=cert1`, `detail`, `0,1`): typed by context. */
export interface WordExpr extends Pos {
  readonly kind: 'word';
  readonly text: string;
}

/** A literal read in expression mode: number, time, address, prefix, id, bool. */
export interface LiteralExpr extends Pos {
  readonly kind: 'literal';
  readonly value: Value;
  readonly raw: string;
}

/** A bare identifier in expression mode: a string, or in `where` a row property. */
export interface IdentExpr extends Pos {
  readonly kind: 'ident';
  readonly name: string;
}

/** `"…"`: text parts and interpolated `$var`, `$(expr)`, `$[cmd]`. */
export interface StringExpr extends Pos {
  readonly kind: 'string';
  readonly parts: Array<string | Expr>;
}

/** `$name`, `$"name-with-dash"`, `$1`. The position is that of the name (after `$`). */
export interface VarExpr extends Pos {
  readonly kind: 'var';
  readonly name: string;
}

/** Adjacent pieces glued without spaces in command mode: `cert$i`, `"a"$b`. */
export interface ConcatExpr extends Pos {
  readonly kind: 'concat';
  readonly parts: Expr[];
}

export interface ParenExpr extends Pos {
  readonly kind: 'paren';
  readonly expr: Expr;
}

/** `[ cmd; … ]`: the value of the last command. */
export interface SubstExpr extends Pos {
  readonly kind: 'subst';
  readonly body: Stmt[];
}

/**
 * `{ … }` in value position. It is code (`do={…}`) or an array literal (`{1;2}`, `{a=1;b="x"}`)
 * depending on where it is used; `elements` is set when the content reads as an array.
 */
export interface BraceExpr extends Pos {
  readonly kind: 'brace';
  readonly body: Stmt[];
  readonly elements?: ArrayElement[];
  /** Source text between the braces (what `:put` of a function shows). */
  readonly source: string;
}

export interface ArrayElement {
  readonly key?: string;
  readonly value: Expr;
}

export type UnaryOp = '!' | '-' | '~';
export type BinaryOp =
  | '+' | '-' | '*' | '/' | '%' | '.' | ','
  | '=' | '!=' | '<' | '>' | '<=' | '>='
  | '&&' | '||' | '~' | 'in' | '->'
  | '&' | '|' | '^' | '<<' | '>>';

export interface UnaryExpr extends Pos {
  readonly kind: 'unary';
  readonly op: UnaryOp;
  readonly operand: Expr;
}

export interface BinaryExpr extends Pos {
  readonly kind: 'binary';
  readonly op: BinaryOp;
  readonly left: Expr;
  readonly right: Expr;
  /** In `where`: terms written side by side (AND-ed), not with `and`/`&&`. */
  readonly implicit?: boolean;
}
