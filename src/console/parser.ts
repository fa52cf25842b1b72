// Parser of the RouterOS console language (M-SCRIPT "Line structure", "Expressions";
// spec §7). Commands are separated by `;` or newlines; `{}` blocks, `()` expressions, `[]`
// command substitution; `name=value` arguments (no blanks around `=`); `where <expr>` filters.
// The parser knows nothing of menus: it keeps every word of a command line and lets the
// interpreter decide (with the registry) which words are path, command and arguments.

import type {
  ArgItem, ArrayElement, BinaryOp, BraceExpr, CommandStmt, Expr, Pos, Program, SourceText, Stmt,
  StringExpr, WhereClause,
} from './ast.js';
import { literalValue } from './expr.js';
import { Lexer, matchClose, pendingInput, sourceText, syntaxError, type Token, type TokenKind } from './lexer.js';

/** Parses a whole script or console line. Throws ConsoleSyntaxError (`syntax error (line L column C)`). */
export function parse(source: string): Program {
  const src = sourceText(source);
  const p = new Parser(src, new Lexer(src));
  const body = p.statements('eof');
  return { kind: 'program', src, body };
}

/**
 * Parses `source[start, end)` as a filter expression (the arguments of `find`, with or
 * without a leading `where`). Returns undefined when the range is empty.
 */
export function parseFilter(src: SourceText, start: number, end: number): Expr | undefined {
  const p = new Parser(src, new Lexer(src, start, end));
  return p.filterOnly();
}

/** Whether console text is unfinished (an open bracket or string, a trailing `\`): the REPL reads on. */
export function isIncomplete(source: string): boolean {
  return pendingInput(source) !== undefined;
}

type Closer = 'rbrace' | 'rbrack' | 'rparen' | 'eof';
const CLOSERS: ReadonlySet<TokenKind> = new Set(['rbrace', 'rbrack', 'rparen']);

const BINARY: Record<string, { bp: number; op: BinaryOp }> = {
  ',': { bp: 1, op: ',' },
  '||': { bp: 2, op: '||' }, or: { bp: 2, op: '||' },
  '&&': { bp: 3, op: '&&' }, and: { bp: 3, op: '&&' },
  '=': { bp: 5, op: '=' }, '!=': { bp: 5, op: '!=' }, '<': { bp: 5, op: '<' }, '>': { bp: 5, op: '>' },
  '<=': { bp: 5, op: '<=' }, '>=': { bp: 5, op: '>=' }, '~': { bp: 5, op: '~' }, in: { bp: 5, op: 'in' },
  '|': { bp: 6, op: '|' }, '^': { bp: 7, op: '^' }, '&': { bp: 8, op: '&' },
  '<<': { bp: 9, op: '<<' }, '>>': { bp: 9, op: '>>' },
  '.': { bp: 10, op: '.' },
  '+': { bp: 11, op: '+' }, '-': { bp: 11, op: '-' },
  '*': { bp: 12, op: '*' }, '/': { bp: 12, op: '/' }, '%': { bp: 12, op: '%' },
  '->': { bp: 14, op: '->' },
};
const COMPARISON_BP = 5;
const AND_BP = 3;
const UNARY_BP = 13;

interface ExprMode {
  /** Newlines are blanks (inside parentheses). */
  readonly newlines: boolean;
  /** A `where`/`find` filter: juxtaposed terms AND-ed, bare words after comparisons are values. */
  readonly where: boolean;
}

class Parser {
  constructor(readonly src: SourceText, readonly lx: Lexer) {}

  private pos(t: Pos): Pos { return { offset: t.offset, line: t.line, col: t.col }; }

  private peekCommand(): Token {
    const save = this.lx.pos;
    const t = this.lx.nextCommand();
    this.lx.pos = save;
    return t;
  }

  private fail(t: Token): never {
    throw syntaxError(this.pos(t), t.kind === 'eof');
  }

  // -------------------------------------------------------------------------------------------
  // Statements

  statements(closer: Closer): Stmt[] {
    const out: Stmt[] = [];
    for (;;) {
      const save = this.lx.pos;
      const t = this.lx.nextCommand();
      if (t.kind === 'eol') continue;
      if (t.kind === closer) return out;
      if (t.kind === 'eof') this.fail(t);
      if (CLOSERS.has(t.kind)) this.fail(t);
      if (t.kind === 'lbrace') {
        out.push({ kind: 'block', ...this.pos(t), body: this.statements('rbrace') });
        continue;
      }
      this.lx.pos = save;
      out.push(this.command());
    }
  }

  private command(): CommandStmt {
    const first = this.peekCommand();
    const items: ArgItem[] = [];
    let where: WhereClause | undefined;
    let deferred: CommandStmt['deferredError'];
    let end = first.offset;
    const isBuiltin = first.kind === 'word' && first.text.startsWith(':');
    for (;;) {
      const save = this.lx.pos;
      const t = this.lx.nextCommand();
      if (t.kind === 'eol') break;
      if (t.kind === 'eof' || CLOSERS.has(t.kind)) { this.lx.pos = save; break; }
      if (deferred) {
        // Skip the rest of the line (brackets balanced) so the caller can still find its end.
        if (t.kind === 'lbrace' || t.kind === 'lparen' || t.kind === 'lbrack') {
          this.lx.pos = save;
          this.skipBalanced();
        }
        end = this.lx.pos;
        continue;
      }
      if (t.kind === 'eq') {
        deferred = { message: 'expected end of command', pos: this.pos(t), offsetOfItem: t.offset };
        end = t.end;
        continue;
      }
      if (t.kind === 'word' && t.text === 'where' && !isBuiltin && items.length > 0) {
        const expr = this.expr(0, { newlines: false, where: true });
        if (!expr) this.fail(this.peekCommand());
        where = { kind: 'where', ...this.pos(t), expr };
        end = this.lx.pos;
        const after = this.peekCommand();
        if (after.kind === 'eol') this.lx.nextCommand();
        else if (after.kind !== 'eof' && !CLOSERS.has(after.kind)) this.fail(after);
        break;
      }
      if ((t.kind === 'word' || t.kind === 'string') && this.lx.source[t.end] === '=' && t.end < this.lx.limit) {
        this.lx.nextCommand(); // '='
        const name = t.kind === 'word' ? t.text : this.constantString(t);
        // `name=` takes the next value even after blanks (RouterOS: `comment= disabled=no` is
        // `comment=disabled` and then a stray `=`); only the end of the command leaves it empty.
        const value = this.valueFollows() || this.valueAfterBlanks() ? this.gluedValue() : undefined;
        items.push({ kind: 'named', ...this.pos(t), name, value });
      } else if (t.kind === 'word' && t.text.length > 1 && t.text.startsWith('!') && !isBuiltin) {
        items.push({ kind: 'unset', ...this.pos(t), name: t.text.slice(1) });
      } else {
        this.lx.pos = save;
        items.push({ kind: 'value', ...this.pos(t), value: this.gluedValue() });
      }
      end = this.lx.pos;
    }
    return { kind: 'command', ...this.pos(first), src: this.src, items, where, end, deferredError: deferred };
  }

  private skipBalanced(): void {
    this.lx.skipSpace(false);
    const close = matchCloseFrom(this.lx.source, this.lx.pos, this.lx.limit);
    if (close < 0) throw syntaxError(this.lx.posAt(this.lx.limit), true);
    this.lx.pos = close + 1;
  }

  private constantString(t: Token): string {
    if (!t.parts!.every((p) => typeof p === 'string')) this.fail(t);
    return (t.parts as string[]).join('');
  }

  /** After `name=`: a value starts right here (no blank, not the end of the command). */
  private valueFollows(): boolean {
    const c = this.lx.ch();
    return c !== '' && !' \t\r\n;)]}'.includes(c);
  }

  /** After `name=` and blanks: a value comes before the end of the command. */
  private valueAfterBlanks(): boolean {
    const t = this.peekCommand();
    return t.kind === 'word' || t.kind === 'string' || t.kind === 'var' || t.kind === 'lparen' || t.kind === 'lbrack' || t.kind === 'lbrace';
  }

  // -------------------------------------------------------------------------------------------
  // Values in command mode

  /** One argument value: pieces written together without blanks (`cert$i`, `"a"$b`). */
  private gluedValue(): Expr {
    const parts: Expr[] = [this.piece()];
    for (;;) {
      const t = this.peekCommand();
      if (t.spaceBefore) break;
      if (t.kind === 'word') {
        if (this.lx.source[t.end] === '=') break;
      } else if (!(t.kind === 'string' || t.kind === 'var' || t.kind === 'lparen' || t.kind === 'lbrack')) break;
      parts.push(this.piece());
    }
    if (parts.length === 1) return parts[0]!;
    return { kind: 'concat', ...this.pos(parts[0]!), parts };
  }

  private piece(): Expr {
    const t = this.lx.nextCommand();
    switch (t.kind) {
      case 'word': return { kind: 'word', ...this.pos(t), text: t.text };
      case 'string': return this.stringExpr(t);
      case 'var': return { kind: 'var', ...this.pos(t), name: t.text };
      case 'lparen': return this.parenRest(t, false);
      case 'lbrack': return { kind: 'subst', ...this.pos(t), body: this.statements('rbrack') };
      case 'lbrace': return this.braceRest(t);
      default: return this.fail(t);
    }
  }

  private parenRest(open: Token, where: boolean): Expr {
    const expr = this.expr(0, { newlines: true, where });
    const close = this.lx.nextExpr(false, true);
    if (!expr || close.kind !== 'rparen') this.fail(close);
    return { kind: 'paren', ...this.pos(open), expr };
  }

  private stringExpr(t: Token): StringExpr {
    const parts: Array<string | Expr> = [];
    for (const p of t.parts!) {
      if (typeof p === 'string') { parts.push(p); continue; }
      if (p.kind === 'var') { parts.push({ kind: 'var', ...p.pos, name: p.name }); continue; }
      const sub: Parser = new Parser(this.src, this.lx.sub(p.start, p.end));
      if (p.kind === 'cmd') {
        parts.push({ kind: 'subst', ...p.pos, body: sub.statements('eof') });
      } else {
        const e = sub.expr(0, { newlines: true, where: false });
        const rest = sub.lx.nextExpr(false, true);
        if (!e || rest.kind !== 'eof') sub.fail(rest);
        parts.push({ kind: 'paren', ...p.pos, expr: e });
      }
    }
    return { kind: 'string', ...this.pos(t), parts };
  }

  /** `{ … }` as a value: parsed as statements, and as array elements when it reads as one. */
  private braceRest(open: Token): BraceExpr {
    const start = this.lx.pos;
    const elements = this.tryArray();
    const afterArray = this.lx.pos;
    this.lx.pos = start;
    let body: Stmt[];
    if (elements) {
      try { body = this.statements('rbrace'); } catch { body = []; }
      this.lx.pos = afterArray;
    } else {
      body = this.statements('rbrace');
    }
    const source = this.lx.source.slice(start, this.lx.pos - 1);
    return { kind: 'brace', ...this.pos(open), body, elements, source };
  }

  private tryArray(): ArrayElement[] | undefined {
    try {
      const out: ArrayElement[] = [];
      for (;;) {
        const before = this.lx.pos;
        const t = this.lx.nextCommand();
        if (t.kind === 'eol') continue;
        if (t.kind === 'rbrace') return out;
        let key: string | undefined;
        if ((t.kind === 'word' || t.kind === 'string') && this.lx.source[t.end] === '=') {
          key = t.kind === 'word' ? t.text : this.constantString(t);
          this.lx.nextCommand();
          if (!this.valueFollows()) {
            out.push({ key, value: { kind: 'string', ...this.lx.here(), parts: [''] } });
            continue;
          }
        } else {
          if (t.kind === 'word' && (t.text.startsWith(':') || t.text.startsWith('/'))) return undefined;
          if (!['word', 'string', 'var', 'lparen', 'lbrack', 'lbrace'].includes(t.kind)) return undefined;
          this.lx.pos = before;
        }
        out.push({ key, value: this.gluedValue() });
        const next = this.peekCommand();
        if (next.kind !== 'eol' && next.kind !== 'rbrace') return undefined;
      }
    } catch {
      return undefined;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Expressions (Pratt parser)

  /** The filter of `find` (optional leading `where`), up to the end of the range. */
  filterOnly(): Expr | undefined {
    const save = this.lx.pos;
    const t = this.lx.nextCommand();
    if (t.kind === 'eof') return undefined;
    if (!(t.kind === 'word' && t.text === 'where')) this.lx.pos = save;
    const e = this.expr(0, { newlines: false, where: true });
    const rest = this.lx.nextExpr(false, false);
    if (!e || rest.kind !== 'eof') this.fail(rest);
    return e;
  }

  expr(minBp: number, mode: ExprMode): Expr | undefined {
    let left = this.prefix(mode);
    if (!left) return undefined;
    for (;;) {
      const save = this.lx.pos;
      const t = this.lx.nextExpr(false, mode.newlines);
      const info = t.kind === 'op' ? BINARY[t.text] : undefined;
      if (info) {
        if (info.bp <= minBp) { this.lx.pos = save; return left; }
        let right: Expr | undefined;
        if (mode.where && info.bp === COMPARISON_BP) right = this.whereValue(mode);
        else right = info.op === '->' ? this.prefix(mode) : this.expr(info.bp, mode);
        if (!right) this.fail(this.lx.nextExpr(true, mode.newlines));
        left = { kind: 'binary', ...this.pos(left), op: info.op, left, right };
        continue;
      }
      // Juxtaposed terms in a filter are AND-ed: `!revoked expires-after<3w (a or b)`.
      if (mode.where && minBp < AND_BP && this.startsOperand(t)) {
        this.lx.pos = save;
        const right = this.expr(AND_BP, mode);
        if (!right) this.fail(t);
        left = { kind: 'binary', ...this.pos(left), op: '&&', left, right, implicit: true };
        continue;
      }
      this.lx.pos = save;
      return left;
    }
  }

  private startsOperand(t: Token): boolean {
    if (t.kind === 'op') return t.text === '!' || t.text === 'not';
    return ['ident', 'literal', 'string', 'var', 'lparen', 'lbrack', 'word'].includes(t.kind);
  }

  /** Right side of a comparison in a filter: a bare value word, or an ordinary operand. */
  private whereValue(mode: ExprMode): Expr | undefined {
    const w = this.lx.readValueWord();
    if (w) return { kind: 'literal', ...this.pos(w), value: literalValue(w.text), raw: w.text };
    return this.expr(COMPARISON_BP, mode);
  }

  private prefix(mode: ExprMode): Expr | undefined {
    const save = this.lx.pos;
    const t = this.lx.nextExpr(true, mode.newlines);
    switch (t.kind) {
      case 'literal': return { kind: 'literal', ...this.pos(t), value: literalValue(t.text), raw: t.text };
      case 'ident': return { kind: 'ident', ...this.pos(t), name: t.text };
      case 'string': return this.stringExpr(t);
      case 'var': return { kind: 'var', ...this.pos(t), name: t.text };
      case 'lparen': return this.parenRest(t, mode.where);
      case 'lbrack': return { kind: 'subst', ...this.pos(t), body: this.statements('rbrack') };
      case 'lbrace': return this.braceRest(t);
      case 'op': {
        if (t.text === '!' || t.text === 'not') {
          const operand = this.expr(COMPARISON_BP - 1, mode);
          if (!operand) this.fail(this.lx.nextExpr(true, mode.newlines));
          return { kind: 'unary', ...this.pos(t), op: '!', operand };
        }
        if (t.text === '-' || t.text === '~') {
          const operand = this.expr(UNARY_BP, mode);
          if (!operand) this.fail(this.lx.nextExpr(true, mode.newlines));
          return { kind: 'unary', ...this.pos(t), op: t.text, operand };
        }
        return this.fail(t);
      }
      default:
        this.lx.pos = save;
        if (t.kind === 'eof' || t.kind === 'eol' || CLOSERS.has(t.kind)) return undefined;
        return this.fail(t);
    }
  }
}

/** matchClose that accepts a leading `$` of `$(`/`$[`. */
function matchCloseFrom(source: string, at: number, limit: number): number {
  return matchClose(source, source[at] === '$' ? at + 1 : at, limit);
}
