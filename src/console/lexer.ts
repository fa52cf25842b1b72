// Lexer of the RouterOS console language (M-SCRIPT "Line structure", "Constant escape
// sequences"; spec §7.2). The language is context dependent: a command line is made of words
// (`name=cert-1`, `/certificate/print`, `0,1`) while `( … )` and `where` hold expressions with
// operators and typed literals. The parser therefore asks for the next token in one of two
// modes: command mode (words) or expression mode (operators, literals, identifiers).
//
// Whitespace includes `\` + newline (line joining); `#` at the start of a token begins a
// comment that runs to the end of the line (a comment is never continued).

import { RosError } from '../errors.js';
import { parseIpv6 } from '../menu/values.js';
import type { Pos } from './ast.js';

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
  private readonly lineStarts: number[];

  constructor(readonly source: string, start = 0, readonly limit = source.length, lineStarts?: number[]) {
    this.pos = start;
    this.lineStarts = lineStarts ?? computeLineStarts(source);
  }

  /** A lexer over a sub-range of the same source (positions stay those of the whole text). */
  sub(start: number, end: number): Lexer {
    return new Lexer(this.source, start, end, this.lineStarts);
  }

  posAt(offset: number): Pos {
    let lo = 0, hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid; else hi = mid - 1;
    }
    return { offset, line: lo + 1, col: offset - this.lineStarts[lo]! + 1 };
  }

  here(): Pos { return this.posAt(this.pos); }

  atEnd(): boolean { return this.pos >= this.limit; }

  ch(off = 0): string {
    const i = this.pos + off;
    return i < this.limit ? this.source[i]! : '';
  }

  /**
   * Skips blanks, line joins and comments. With `newlines`, newlines are blanks too (inside
   * `( )`). Returns whether anything was skipped.
   */
  skipSpace(newlines = false): boolean {
    let spaced = false;
    for (;;) {
      const c = this.ch();
      if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n')) { this.pos++; spaced = true; continue; }
      if (this.skipLineJoin()) continue;
      if (c === '#') {
        while (!this.atEnd() && this.ch() !== '\n') this.pos++;
        spaced = true;
        continue;
      }
      break;
    }
    return spaced;
  }

  /**
   * A `\` at the end of a line joins the next line; that line's indentation is not a blank
   * (export writes `crl-use=\` and `    no` on the next line: spec §4.1). Returns whether one
   * was skipped.
   */
  private skipLineJoin(): boolean {
    if (this.ch() !== '\\') return false;
    const e = this.ch(1);
    if (e !== '\n' && !(e === '\r' && this.ch(2) === '\n')) return false;
    this.pos += e === '\n' ? 2 : 3;
    while (this.ch() === ' ' || this.ch() === '\t') this.pos++;
    return true;
  }

  private tok(kind: TokenKind, start: number, spaceBefore: boolean, extra: Partial<Token> = {}): Token {
    return { ...this.posAt(start), kind, text: this.source.slice(start, this.pos), end: this.pos, spaceBefore, ...extra };
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
    // A word may go on across a line join (`owner=ad\` / `    min`): the pieces are one word.
    let text = '';
    let piece = this.pos;
    while (!this.atEnd() && !WORD_STOP.has(this.ch())) {
      const at = this.pos;
      if (this.skipLineJoin()) {
        text += this.source.slice(piece, at);
        piece = this.pos;
        continue;
      }
      if (this.ch() === '\\' && this.ch(1) === '\r') break;
      this.pos++;
    }
    text += this.source.slice(piece, this.pos);
    return this.tok('word', start, space, { text });
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
    while (!this.atEnd() && !' \t\r\n;)]}'.includes(this.ch())) {
      if (this.ch() === '\\' && (this.ch(1) === '\n' || this.ch(1) === '\r')) break;
      this.pos++;
    }
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
    if (c === '(') { this.pos++; return this.tok('lparen', start, space, { dollar: true }); }
    if (c === '[') { this.pos++; return this.tok('lbrack', start, space, { dollar: true }); }
    if (c === '"') {
      const nameStart = this.pos;
      const s = this.readString(false);
      const name = s.parts!.every((p) => typeof p === 'string') ? (s.parts as string[]).join('') : undefined;
      if (name === undefined) throw syntaxError(this.posAt(nameStart));
      return { ...this.posAt(nameStart), kind: 'var', text: name, end: this.pos, spaceBefore: space };
    }
    const nameStart = this.pos;
    while (!this.atEnd() && VAR_CHAR.test(this.ch())) this.pos++;
    if (this.pos === nameStart) throw syntaxError(this.posAt(nameStart), this.atEnd());
    return { ...this.posAt(nameStart), kind: 'var', text: this.source.slice(nameStart, this.pos), end: this.pos, spaceBefore: space };
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
        if (e === '\n' || (e === '\r' && this.ch(2) === '\n')) {
          // Line join inside a string: the next line's indentation is not part of the text.
          this.pos += e === '\n' ? 2 : 3;
          while (this.ch() === ' ' || this.ch() === '\t') this.pos++;
          continue;
        }
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
    return { ...this.posAt(start), kind: 'string', text: this.source.slice(start + 1, this.pos - 1), end: this.pos, spaceBefore: space, parts };
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
  for (let i = 0; i < source.length; i++) if (source[i] === '\n') starts.push(i + 1);
  return starts;
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
