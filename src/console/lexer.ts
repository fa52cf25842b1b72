// Lexer of the RouterOS console language (M-SCRIPT "Line structure", "Constant escape
// sequences"; spec §7.2). The language is context dependent: a command line is made of words
// (`name=cert-1`, `/certificate/print`, `0,1`) while `( … )` and `where` hold expressions with
// operators and typed literals. The parser therefore asks for the next token in one of two
// modes: command mode (words) or expression mode (operators, literals, identifiers).
//
// Line joins (`\` at the end of a line: M-SCRIPT "Line joining", spec §7.2) are taken out of
// the text before it is read (sourceText), everywhere — between words, inside a word, right
// after `name=`, inside strings — so export's wrapped lines read back as they were written.
// `#` at the start of a token begins a comment that runs to the end of the line; a comment is
// never continued.

import { RosError } from '../errors.js';
import { parseIpv6 } from '../menu/values.js';
import type { Pos, SourceText } from './ast.js';

export type TokenKind =
  | 'eof' | 'eol'
  | 'lbrace' | 'rbrace' | 'lparen' | 'rparen' | 'lbrack' | 'rbrack'
  | 'eq'       // `=` in command mode
  | 'word'     // command-mode word, or a where value word
  | 'string'   // "…"
  | 'var'      // $name, $"name"
  | 'op'       // expression operator (incl. and/or/not/in)
  | 'literal'  // expression literal: number, time, ip, prefix, id, bool
  | 'ident';   // expression identifier

export interface StringPartVar { readonly kind: 'var'; readonly name: string; readonly pos: Pos }
export interface StringPartCode { readonly kind: 'expr' | 'cmd'; readonly start: number; readonly end: number; readonly pos: Pos }
export type StringPart = string | StringPartVar | StringPartCode;

export interface Token extends Pos {
  readonly kind: TokenKind;
  /** Source text of the token (for strings: without quotes, escapes not applied). */
  readonly text: string;
  /** Offset just past the token. */
  readonly end: number;
  /** Whitespace (or a line join) came before it. */
  readonly spaceBefore: boolean;
  /** `$(` / `$[` opener. */
  readonly dollar?: boolean;
  /** Parts of a string token. */
  readonly parts?: StringPart[];
}

/** A syntax-kind RosError carrying its position; `incomplete` when the input just ended early. */
export class ConsoleSyntaxError extends RosError {
  constructor(message: string, pos: Pos, readonly incomplete = false, readonly offset = pos.offset) {
    super('syntax', message);
    this.line = pos.line;
    this.column = pos.col;
  }
}

export const syntaxError = (pos: Pos, incomplete = false): ConsoleSyntaxError =>
  new ConsoleSyntaxError('syntax error', pos, incomplete);

/** Characters that end a command-mode word. */
const WORD_STOP = new Set([' ', '\t', '\r', '\n', ';', '(', ')', '[', ']', '{', '}', '"', '$', '=']);
const VAR_CHAR = /[A-Za-z0-9_]/;

// Expression literals, tried in this order at an operand position (sticky regexes).
const RE_ID = /\*[0-9A-Fa-f]+/y;
const RE_IP6 = /[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(?:\/\d{1,3})?/y;
const RE_CLOCK = /(?:\d+w)?(?:\d+d)?\d+:\d{1,2}(?::\d{1,2}(?:\.\d{1,9})?)?/y;
const RE_IP4 = /\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:\/\d{1,2})?/y;
const RE_HEX = /0x[0-9A-Fa-f]+/y;
const RE_UNITS = /(?:\d+(?:\.\d+)?(?:ms|us|ns|w|d|h|m|s))+/y;
const RE_DEC = /\d+/y;
const RE_IDENT = /[A-Za-z_][A-Za-z0-9_-]*/y;
const RE_DOT_IDENT = /\.[A-Za-z][A-Za-z0-9_-]*/y;
const RE_OPS = /->|<=|>=|!=|&&|\|\||<<|>>|[-+*/%.,=<>!~&|^]/y;
const IDENT_TAIL = /[A-Za-z0-9_]/;

const SINGLE_TOKENS: Record<string, TokenKind> = {
  '\n': 'eol', ';': 'eol', '{': 'lbrace', '}': 'rbrace', '(': 'lparen', ')': 'rparen', '[': 'lbrack', ']': 'rbrack',
};

export class Lexer {
  pos: number;
  readonly source: string;
  readonly limit: number;
  readonly src: SourceText;

  /** Reads `src` (or plain text, joined here) from `start` to `limit`. */
  constructor(src: SourceText | string, start = 0, limit?: number) {
    this.src = typeof src === 'string' ? sourceText(src) : src;
    this.source = this.src.text;
    this.pos = start;
    this.limit = limit ?? this.source.length;
  }

  /** A lexer over a sub-range of the same source (positions stay those of the whole text). */
  sub(start: number, end: number): Lexer {
    return new Lexer(this.src, start, end);
  }

  posAt(offset: number): Pos {
    return positionOf(this.src, offset);
  }

  here(): Pos { return this.posAt(this.pos); }

  atEnd(): boolean { return this.pos >= this.limit; }

  ch(off = 0): string {
    const i = this.pos + off;
    return i < this.limit ? this.source[i]! : '';
  }

  /**
   * Skips blanks and comments. With `newlines`, newlines are blanks too (inside `( )`). Returns
   * whether anything was skipped.
   */
  skipSpace(newlines = false): boolean {
    let spaced = false;
    for (;;) {
      const c = this.ch();
      if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n')) { this.pos++; spaced = true; continue; }
      if (c === '#') {
        while (!this.atEnd() && this.ch() !== '\n') this.pos++;
        spaced = true;
        continue;
      }
      break;
    }
    return spaced;
  }

  private tok(kind: TokenKind, start: number, spaceBefore: boolean, dollar?: boolean): Token {
    return this.token(start, kind, this.source.slice(start, this.pos), spaceBefore, dollar);
  }

  /** Every token has the same shape (one hidden class: lexing 10,000 lines stays fast). */
  private token(at: number, kind: TokenKind, text: string, spaceBefore: boolean, dollar?: boolean, parts?: StringPart[]): Token {
    const p = this.posAt(at);
    return { offset: at, line: p.line, col: p.col, kind, text, end: this.pos, spaceBefore, dollar, parts };
  }

  /** Tokens both modes read alike: separators, brackets, strings, `$` references. */
  private commonToken(c: string, start: number, space: boolean): Token | undefined {
    const single = SINGLE_TOKENS[c];
    if (single) { this.pos++; return this.tok(single, start, space); }
    if (c === '"') return this.readString(space);
    if (c === '$') return this.readDollar(space);
    return undefined;
  }

  /** Next token in command mode. */
  nextCommand(): Token {
    const space = this.skipSpace(false);
    const start = this.pos;
    if (this.atEnd()) return this.tok('eof', start, space);
    const c = this.ch();
    if (c === '=') { this.pos++; return this.tok('eq', start, space); }
    const common = this.commonToken(c, start, space);
    if (common) return common;
    while (!this.atEnd() && !WORD_STOP.has(this.ch())) this.pos++;
    return this.tok('word', start, space);
  }

  /**
   * Next token in expression mode. `operand` tells whether an operand is expected (so `-`, `*`
   * and `.` read as sign, item id and `.id` rather than operators). Newlines are blanks when
   * `newlines` (inside parentheses); otherwise they end the expression (`eol`).
   */
  nextExpr(operand: boolean, newlines: boolean): Token {
    const space = this.skipSpace(newlines);
    const start = this.pos;
    if (this.atEnd()) return this.tok('eof', start, space);
    const common = this.commonToken(this.ch(), start, space);
    if (common) return common;
    if (operand) {
      const lit = this.readLiteral(space);
      if (lit) return lit;
    }
    const ident = this.sticky(RE_IDENT);
    if (ident !== undefined) {
      this.pos += ident.length;
      if (ident === 'and' || ident === 'or' || ident === 'not' || ident === 'in') return this.tok('op', start, space);
      if (ident === 'true' || ident === 'false' || ident === 'yes' || ident === 'no') return this.tok('literal', start, space);
      return this.tok('ident', start, space);
    }
    const op = this.sticky(RE_OPS);
    if (op !== undefined) {
      this.pos += op.length;
      return this.tok('op', start, space);
    }
    throw syntaxError(this.posAt(start));
  }

  /** Where-expression value after a comparison: a word up to a blank or a closer. */
  readValueWord(): Token | undefined {
    const space = this.skipSpace(false);
    const start = this.pos;
    const c = this.ch();
    if (c === '' || '"$([{'.includes(c)) { this.pos = start; return undefined; }
    while (!this.atEnd() && !' \t\r\n;)]}'.includes(this.ch())) this.pos++;
    if (this.pos === start) return undefined;
    return this.tok('word', start, space);
  }

  private sticky(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.source);
    if (!m || m.index !== this.pos || this.pos + m[0].length > this.limit) return undefined;
    return m[0];
  }

  private followedByWordChar(len: number, extra = ''): boolean {
    const n = this.pos + len < this.limit ? this.source[this.pos + len]! : '';
    return n !== '' && (IDENT_TAIL.test(n) || extra.includes(n));
  }

  private readLiteral(space: boolean): Token | undefined {
    const start = this.pos;
    const take = (len: number): Token => { this.pos += len; return this.tok('literal', start, space); };
    const c = this.ch();
    if (c === '*') {
      const m = this.sticky(RE_ID);
      if (m && !this.followedByWordChar(m.length)) return take(m.length);
      return undefined;
    }
    if (c === '.') {
      const m = this.sticky(RE_DOT_IDENT);
      if (m) { this.pos += m.length; return this.tok('ident', start, space); }
      return undefined;
    }
    if (!/[0-9A-Fa-f:]/.test(c)) return undefined;
    const ip6 = this.sticky(RE_IP6);
    if (ip6 && (ip6.match(/:/g)?.length ?? 0) >= 2 && !this.followedByWordChar(ip6.length)) {
      const addr = ip6.split('/')[0]!;
      if (parseIpv6(addr) && !RE_CLOCK_FULL.test(ip6)) return take(ip6.length);
    }
    if (!/\d/.test(c)) return undefined;
    const clock = this.sticky(RE_CLOCK);
    if (clock && !this.followedByWordChar(clock.length, ':.')) return take(clock.length);
    const ip4 = this.sticky(RE_IP4);
    if (ip4 && !this.followedByWordChar(ip4.length, '.')) return take(ip4.length);
    const hex = this.sticky(RE_HEX);
    if (hex && !this.followedByWordChar(hex.length)) return take(hex.length);
    const units = this.sticky(RE_UNITS);
    if (units && !this.followedByWordChar(units.length)) return take(units.length);
    const dec = this.sticky(RE_DEC);
    if (dec && !this.followedByWordChar(dec.length)) return take(dec.length);
    // Something like `3abc`: an identifier-like word.
    const word = /[0-9A-Za-z_][A-Za-z0-9_-]*/y;
    const w = this.sticky(word);
    if (w) { this.pos += w.length; return this.tok('ident', start, space); }
    return undefined;
  }

  /** `$name`, `$"name"`, `$(`, `$[`. */
  private readDollar(space: boolean): Token {
    const start = this.pos;
    this.pos++;
    const c = this.ch();
    if (c === '(') { this.pos++; return this.tok('lparen', start, space, true); }
    if (c === '[') { this.pos++; return this.tok('lbrack', start, space, true); }
    if (c === '"') {
      const nameStart = this.pos;
      const s = this.readString(false);
      const name = s.parts!.every((p) => typeof p === 'string') ? (s.parts as string[]).join('') : undefined;
      if (name === undefined) throw syntaxError(this.posAt(nameStart));
      return this.token(nameStart, 'var', name, space);
    }
    const nameStart = this.pos;
    while (!this.atEnd() && VAR_CHAR.test(this.ch())) this.pos++;
    if (this.pos === nameStart) throw syntaxError(this.posAt(nameStart), this.atEnd());
    return this.token(nameStart, 'var', this.source.slice(nameStart, this.pos), space);
  }

  /** A double-quoted string with escapes and `$` interpolation. */
  readString(space: boolean): Token {
    const start = this.pos;
    this.pos++; // opening quote
    const parts: StringPart[] = [];
    let text = '';
    let bytes: number[] = [];
    const flushBytes = (): void => {
      if (bytes.length) { text += decodeBytes(bytes); bytes = []; }
    };
    for (;;) {
      if (this.atEnd()) throw syntaxError(this.posAt(this.pos), true);
      const c = this.ch();
      if (c === '"') { this.pos++; break; }
      if (c === '\\') {
        const e = this.ch(1);
        if (e === '') throw syntaxError(this.posAt(this.pos + 1), true);
        const hex = this.source.slice(this.pos + 1, this.pos + 3);
        if (/^[0-9A-F]{2}$/.test(hex) && this.pos + 3 <= this.limit) {
          bytes.push(parseInt(hex, 16));
          this.pos += 3;
          continue;
        }
        flushBytes();
        const simple = ESCAPES[e];
        text += simple ?? `\\${e}`; // unknown escapes stay as written (regexes: "\.")
        this.pos += 2;
        continue;
      }
      flushBytes();
      if (c === '$') {
        const n = this.ch(1);
        if (n === '(' || n === '[') {
          const close = matchClose(this.source, this.pos + 1, this.limit);
          if (close < 0) throw syntaxError(this.posAt(this.limit), true);
          if (text) { parts.push(text); text = ''; }
          parts.push({ kind: n === '(' ? 'expr' : 'cmd', start: this.pos + 2, end: close, pos: this.posAt(this.pos + 2) });
          this.pos = close + 1;
          continue;
        }
        if (n !== '' && VAR_CHAR.test(n)) {
          const nameStart = this.pos + 1;
          this.pos++;
          while (!this.atEnd() && VAR_CHAR.test(this.ch())) this.pos++;
          if (text) { parts.push(text); text = ''; }
          parts.push({ kind: 'var', name: this.source.slice(nameStart, this.pos), pos: this.posAt(nameStart) });
          continue;
        }
      }
      text += c;
      this.pos++;
    }
    flushBytes();
    if (text || parts.length === 0) parts.push(text);
    return this.token(start, 'string', this.source.slice(start + 1, this.pos - 1), space, undefined, parts);
  }
}

const RE_CLOCK_FULL = /^(?:\d+w)?(?:\d+d)?\d+:\d{1,2}(?::\d{1,2}(?:\.\d{1,9})?)?$/;

const ESCAPES: Record<string, string> = {
  '"': '"', '\\': '\\', n: '\n', r: '\r', t: '\t', $: '$', '?': '?', _: ' ',
  a: '\x07', b: '\b', f: '\f', v: '\v',
};

/** `\XX` runs: UTF-8 when they form valid UTF-8, else one character per byte. */
function decodeBytes(bytes: number[]): string {
  const buf = Buffer.from(bytes);
  if (bytes.some((b) => b >= 0x80)) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buf);
    } catch { /* not UTF-8 */ }
  }
  return buf.toString('latin1');
}

export function computeLineStarts(source: string): number[] {
  const starts = [0];
  for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** Source position (line, column as written) of an offset into the joined text. */
export function positionOf(src: SourceText, offset: number): Pos {
  let original = offset;
  const joins = src.joins;
  if (joins && joins.at.length > 0 && joins.at[0]! <= offset) {
    let lo = 0, hi = joins.at.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (joins.at[mid]! <= offset) lo = mid; else hi = mid - 1;
    }
    original += joins.removedUpTo[lo]!;
  }
  const starts = src.lineStarts;
  let lo = 0, hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= original) lo = mid; else hi = mid - 1;
  }
  return { offset, line: lo + 1, col: original - starts[lo]! + 1 };
}

// ---------------------------------------------------------------------------------------------
// Line joins and open brackets

/** What a pass over raw console text finds: its line joins and what is still open at its end. */
interface Structure {
  /** [offset, length] of each join in the raw text: `\`, the line end, the next line's indentation. */
  readonly joins: Array<[number, number]>;
  /** Brackets and quotes open at the end, innermost last: `{`, `(`, `[`, `"`. */
  readonly open: string[];
  /** The text ends in a `\` that joins the next line (REPL: more input comes). */
  readonly trailingBackslash: boolean;
}

const OPENERS: Record<string, string> = { '{': '}', '(': ')', '[': ']' };

/**
 * One pass over raw text that knows strings (with `$( )`/`$[ ]` inside them) and comments: a
 * `\` before the line end joins lines in code and in strings, never in a comment (M-SCRIPT:
 * "a backslash does not continue a comment"). Outside strings blanks may sit between the `\`
 * and the line end (the console manual's "backslash-white-space").
 */
function scanStructure(source: string, wantJoins: boolean): Structure {
  const joins: Array<[number, number]> = [];
  const open: string[] = [];
  const n = source.length;
  let trailing = false;
  let lastCode = '';
  const joinLength = (i: number, blanksFirst: boolean): number => {
    let j = i + 1;
    if (blanksFirst) while (j < n && (source[j] === ' ' || source[j] === '\t')) j++;
    if (j === n) { trailing = true; return 0; }
    if (source[j] === '\r' && source[j + 1] === '\n') j += 2;
    else if (source[j] === '\n') j += 1;
    else return 0;
    while (j < n && (source[j] === ' ' || source[j] === '\t')) j++;
    return j - i;
  };
  for (let i = 0; i < n;) {
    const c = source[i]!;
    trailing = false;
    if (open[open.length - 1] === '"') {
      if (c === '\\') {
        const len = joinLength(i, false);
        if (len > 0) { if (wantJoins) joins.push([i, len]); i += len; continue; }
        i += 2;
        continue;
      }
      if (c === '"') { open.pop(); i++; continue; }
      if (c === '$' && (source[i + 1] === '(' || source[i + 1] === '[')) {
        open.push(source[i + 1]!);
        i += 2;
        continue;
      }
      i++;
      continue;
    }
    if (c === '"') { open.push('"'); i++; lastCode = c; continue; }
    if (c === '#' && (lastCode === '' || ' \t\r\n;{}()[]'.includes(lastCode))) {
      while (i < n && source[i] !== '\n') i++;
      continue;
    }
    if (c === '\\') {
      const len = joinLength(i, true);
      if (len > 0) { if (wantJoins) joins.push([i, len]); i += len; continue; }
      if (trailing) break;
    } else if (OPENERS[c]) {
      open.push(c);
    } else if (c === '}' || c === ')' || c === ']') {
      // The bracket that closes a `$(`/`$[` inside a string leaves the string on top again.
      if (OPENERS[open[open.length - 1] ?? ''] === c) open.pop();
    }
    lastCode = c;
    i++;
  }
  return { joins, open, trailingBackslash: trailing };
}

/** Console text ready to lex: its line joins taken out, with the map back to lines and columns. */
export function sourceText(source: string): SourceText {
  const lineStarts = computeLineStarts(source);
  if (!source.includes('\\')) return { text: source, lineStarts };
  const { joins } = scanStructure(source, true);
  if (joins.length === 0) return { text: source, lineStarts };
  let text = '';
  let from = 0;
  let removed = 0;
  const at: number[] = [];
  const removedUpTo: number[] = [];
  for (const [start, len] of joins) {
    text += source.slice(from, start);
    removed += len;
    at.push(text.length);
    removedUpTo.push(removed);
    from = start + len;
  }
  text += source.slice(from);
  return { text, lineStarts, joins: { at, removedUpTo } };
}

/**
 * What an interactive console still waits for at the end of `source` (M-CONSOLE: the
 * continuation prompt "lists all open parentheses, braces, brackets and quotes, and also
 * trailing backslash"): the open brackets and quotes in order, and a final `\` that joins the
 * next line. Undefined when the text is complete.
 */
export function pendingInput(source: string): { open: string; backslash: boolean } | undefined {
  const { open, trailingBackslash } = scanStructure(source, false);
  if (open.length === 0 && !trailingBackslash) return undefined;
  return { open: open.join(''), backslash: trailingBackslash };
}

/**
 * Offset of the bracket closing the one at `open`, skipping nested brackets and strings;
 * -1 when the text ends first.
 */
export function matchClose(source: string, open: number, limit = source.length): number {
  const stack: string[] = [];
  const pairs: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
  for (let i = open; i < limit; i++) {
    const c = source[i]!;
    if (c === '"') {
      for (i++; i < limit && source[i] !== '"'; i++) if (source[i] === '\\') i++;
      if (i >= limit) return -1;
      continue;
    }
    if (pairs[c]) stack.push(pairs[c]!);
    else if (c === ')' || c === ']' || c === '}') {
      if (stack.pop() !== c) return -1;
      if (stack.length === 0) return i;
    }
  }
  return -1;
}
