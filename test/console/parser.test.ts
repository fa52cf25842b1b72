import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { CommandStmt, Expr } from '../../src/console/ast.js';
import { ConsoleSyntaxError } from '../../src/console/lexer.js';
import { isIncomplete, parse } from '../../src/console/parser.js';
import { Duration, IpPrefix } from '../../src/menu/values.js';

function cmd(src: string, i = 0): CommandStmt {
  const s = parse(src).body[i]!;
  assert.equal(s.kind, 'command');
  return s as CommandStmt;
}

/** Compact S-expression of an expression tree. */
function sx(e: Expr | undefined): string {
  if (!e) return '_';
  switch (e.kind) {
    case 'word': return `w:${e.text}`;
    case 'literal': return `l:${e.raw}`;
    case 'ident': return `i:${e.name}`;
    case 'var': return `$${e.name}`;
    case 'string': return `"${e.parts.map((p) => (typeof p === 'string' ? p : `{${sx(p)}}`)).join('')}"`;
    case 'concat': return `(cat ${e.parts.map(sx).join(' ')})`;
    case 'paren': return sx(e.expr);
    case 'subst': return `[${e.body.length}]`;
    case 'brace': return e.elements ? `{${e.elements.map((x) => (x.key ? `${x.key}=` : '') + sx(x.value)).join(';')}}` : `{code ${e.body.length}}`;
    case 'unary': return `(${e.op} ${sx(e.operand)})`;
    case 'binary': return `(${e.implicit ? 'AND' : e.op} ${sx(e.left)} ${sx(e.right)})`;
  }
}

function parenExpr(src: string): string {
  const c = cmd(`:put (${src})`);
  const item = c.items[1]!;
  assert.equal(item.kind, 'value');
  return sx(item.kind === 'value' ? item.value : undefined);
}

function syntaxErrorAt(src: string): string {
  try {
    parse(src);
  } catch (e) {
    assert.ok(e instanceof ConsoleSyntaxError);
    return e.consoleText();
  }
  throw new Error('parsed');
}

describe('parser: command lines', () => {
  it('splits commands on ; and newlines, and keeps blocks', () => {
    const p = parse(':put 1; :put 2\n{ :local a 1; :put $a }\n\n');
    assert.deepEqual(p.body.map((s) => s.kind), ['command', 'command', 'block']);
  });

  it('reads named, positional and unset arguments', () => {
    const c = cmd('/certificate set 0 name=x !comment trusted=yes common-name=');
    assert.deepEqual(c.items.map((i) => i.kind), ['value', 'value', 'value', 'named', 'unset', 'named', 'named']);
    const named = c.items.filter((i) => i.kind === 'named');
    assert.deepEqual(named.map((n) => [n.name, n.kind === 'named' ? sx(n.value) : '']), [['name', 'w:x'], ['trusted', 'w:yes'], ['common-name', '_']]);
  });

  it('gives name= the value after blanks, so a second = is a stray one (RouterOS)', () => {
    const c = cmd('/certificate set 0 comment= disabled=no');
    const named = c.items.filter((i) => i.kind === 'named');
    assert.deepEqual(named.map((n) => [n.name, n.kind === 'named' ? sx(n.value) : '']), [['comment', 'w:disabled']]);
    assert.equal(c.deferredError?.message, 'expected end of command');
    assert.equal(c.deferredError?.pos.col, 37);
    assert.deepEqual(named.length, 1);
  });

  it('glues adjacent pieces into one value', () => {
    const c = cmd(':put cert$i."x"');
    assert.equal(sx((c.items[1] as { value: Expr }).value), '(cat w:cert $i w:. "x")');
  });

  it('reads strings with interpolation', () => {
    const c = cmd(':put "a=$a b=$(1+2) c=$[:len x]"');
    assert.equal(sx((c.items[1] as { value: Expr }).value), '"a={$a} b={(+ l:1 l:2)} c={[1]}"');
  });

  it('tells arrays from code in braces', () => {
    assert.equal(sx((cmd(':local a {1;2;3}').items[2] as { value: Expr }).value), '{w:1;w:2;w:3}');
    assert.equal(sx((cmd(':local a {a=1;b="x"}').items[2] as { value: Expr }).value), '{a=w:1;b="x"}');
    assert.equal(sx((cmd(':if (1) do={ :put 1; :put 2 }').items[2] as { value: Expr }).value), '{code 2}');
    assert.equal(sx((cmd(':local a {}').items[2] as { value: Expr }).value), '{}');
  });

  it('parses where filters with juxtaposed terms', () => {
    const c = cmd('/certificate print where !revoked expires-after<3w (common-name or subject-alt-name)');
    assert.equal(sx(c.where!.expr), '(AND (AND (! i:revoked) (< i:expires-after l:3w)) (|| i:common-name i:subject-alt-name))');
  });

  it('accepts a blank before = inside where, and value words after comparisons', () => {
    const c = cmd('print where name =ca.crt and size>1000');
    assert.equal(sx(c.where!.expr), '(&& (= i:name l:ca.crt) (> i:size l:1000))');
  });

  it('remembers a stray = for later (it is fine in find)', () => {
    const c = cmd('find common-name =x');
    assert.equal(c.deferredError?.message, 'expected end of command');
    assert.equal(c.deferredError?.pos.col, 18);
  });
});

describe('parser: expressions', () => {
  it('follows operator precedence', () => {
    assert.equal(parenExpr('1+2*3'), '(+ l:1 (* l:2 l:3))');
    assert.equal(parenExpr('"a" . 1 + 2'), '(. "a" (+ l:1 l:2))');
    assert.equal(parenExpr('$a = 1 && $b != 2 || !$c'), '(|| (&& (= $a l:1) (!= $b l:2)) (! $c))');
    assert.equal(parenExpr('$a->"x"->0'), '(-> (-> $a "x") l:0)');
    assert.equal(parenExpr('-1 - -2'), '(- (- l:1) (- l:2))');
    assert.equal(parenExpr('$a, 5'), '(, $a l:5)');
    assert.equal(parenExpr('1.1.1.1 in 1.0.0.0/8'), '(in l:1.1.1.1 l:1.0.0.0/8)');
    assert.equal(parenExpr('"abc" ~ "^a"'), '(~ "abc" "^a")');
  });

  it('types literals', () => {
    const c = cmd(':put (1d+10.0.0.1/8)');
    const e = (c.items[1] as { value: Expr }).value;
    assert.equal(e.kind, 'paren');
    const b = (e as { expr: Expr }).expr;
    assert.ok(b.kind === 'binary' && b.left.kind === 'literal' && b.left.value instanceof Duration);
    assert.ok(b.kind === 'binary' && b.right.kind === 'literal' && b.right.value instanceof IpPrefix);
  });

  it('allows newlines inside parentheses', () => {
    assert.equal(parenExpr('1 +\n 2'), '(+ l:1 l:2)');
  });
});

describe('parser: errors and positions', () => {
  it('reports syntax errors with 1-based line and column', () => {
    assert.equal(syntaxErrorAt(':put (1 + )'), 'syntax error (line 1 column 11)');
    assert.equal(syntaxErrorAt(':put 1\n:put (2 3)'), 'syntax error (line 2 column 9)');
    assert.equal(syntaxErrorAt('{ :put 1 ]'), 'syntax error (line 1 column 10)');
  });

  it('keeps node positions', () => {
    const c = cmd('\n  /certificate print');
    assert.deepEqual([c.line, c.col], [2, 3]);
    assert.deepEqual([c.items[1]!.line, c.items[1]!.col], [2, 16]);
  });

  it('knows when input is unfinished', () => {
    assert.equal(isIncomplete(':if (1) do={'), true);
    assert.equal(isIncomplete(':put "abc'), true);
    assert.equal(isIncomplete('/certificate add \\'), true);
    assert.equal(isIncomplete(':put (1 +'), true);
    assert.equal(isIncomplete(':put 1'), false);
    assert.equal(isIncomplete(':put (1 + )'), false);
  });
});
