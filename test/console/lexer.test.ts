import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Lexer, ConsoleSyntaxError, pendingInput, sourceText, type Token } from '../../src/console/lexer.js';

function commandTokens(src: string): Token[] {
  const lx = new Lexer(src);
  const out: Token[] = [];
  for (;;) {
    const t = lx.nextCommand();
    out.push(t);
    if (t.kind === 'eof') return out;
  }
}

function stringOf(src: string): string {
  const t = new Lexer(src).nextCommand();
  assert.equal(t.kind, 'string');
  return t.parts!.map((p) => (typeof p === 'string' ? p : `<${p.kind}>`)).join('');
}

describe('lexer: command mode', () => {
  it('splits words, = and separators with positions', () => {
    const toks = commandTokens('/certificate add name=ca;\n:put 1');
    assert.deepEqual(toks.map((t) => [t.kind, t.text, t.line, t.col]), [
      ['word', '/certificate', 1, 1], ['word', 'add', 1, 14], ['word', 'name', 1, 18], ['eq', '=', 1, 22],
      ['word', 'ca', 1, 23], ['eol', ';', 1, 25], ['eol', '\n', 1, 26], ['word', ':put', 2, 1], ['word', '1', 2, 6],
      ['eof', '', 2, 7],
    ]);
  });

  it('joins lines ending in a backslash', () => {
    const toks = commandTokens('add name=x \\\n    common-name=y');
    assert.deepEqual(toks.filter((t) => t.kind === 'word').map((t) => [t.text, t.line]), [
      ['add', 1], ['name', 1], ['x', 1], ['common-name', 2], ['y', 2],
    ]);
    assert.ok(!toks.some((t) => t.kind === 'eol'));
  });

  it('skips comments to the end of the line, and never continues them', () => {
    const toks = commandTokens('# comment \\\n:put 1 # trailing\n:put 2');
    assert.deepEqual(toks.map((t) => t.kind), ['eol', 'word', 'word', 'eol', 'word', 'word', 'eof']);
  });

  it('keeps # inside strings and words', () => {
    assert.equal(stringOf('"a # b"'), 'a # b');
    assert.equal(commandTokens('name=a#b')[2]!.text, 'a#b');
  });

  it('reads $var, $"name-with-dash", $( and $[', () => {
    const toks = commandTokens('$abc $"rx-bits" $(1) $[x]');
    assert.deepEqual(toks.map((t) => [t.kind, t.text]).slice(0, 3), [['var', 'abc'], ['var', 'rx-bits'], ['lparen', '$(']]);
    assert.equal(toks[2]!.dollar, true);
    assert.equal(toks.find((t) => t.kind === 'lbrack')!.dollar, true);
    // The position of a variable is that of its name.
    assert.equal(toks[0]!.col, 2);
  });

  it('marks blanks before a token', () => {
    const toks = commandTokens('a$b c');
    assert.deepEqual(toks.map((t) => t.spaceBefore).slice(0, 3), [false, false, true]);
  });
});

describe('lexer: strings', () => {
  it('applies every escape', () => {
    assert.equal(stringOf('"\\"\\\\\\n\\r\\t\\$\\?\\_\\a\\b\\f\\v"'), '"\\\n\r\t$? \x07\b\f\v');
  });

  it('reads \\XX hex bytes (upper case), decoding UTF-8 runs', () => {
    assert.equal(stringOf('"\\48\\45\\4C\\4C\\4F"'), 'HELLO');
    assert.equal(stringOf('"\\C3\\A4"'), 'ä');
    assert.equal(stringOf('"\\FF"'), '\xff');
  });

  it('keeps unknown escapes as written', () => {
    assert.equal(stringOf('"a\\.b"'), 'a\\.b');
  });

  it('joins continued lines without their indentation', () => {
    assert.equal(stringOf('"abc\\\n    def"'), 'abcdef');
  });

  it('finds $var, $(expr) and $[cmd] parts', () => {
    assert.equal(stringOf('"x=$x y=$(1+2) z=$[:len "a)"] \\$lit"'), 'x=<var> y=<expr> z=<cmd> $lit');
  });

  it('fails on an unterminated string, as incomplete input', () => {
    assert.throws(() => commandTokens(':put "abc'), (e: unknown) => e instanceof ConsoleSyntaxError && e.incomplete);
  });
});

describe('lexer: expression mode', () => {
  function exprTokens(src: string): Array<[string, string]> {
    const lx = new Lexer(src);
    const out: Array<[string, string]> = [];
    let operand = true;
    for (;;) {
      const t = lx.nextExpr(operand, true);
      if (t.kind === 'eof') return out;
      out.push([t.kind, t.text]);
      operand = t.kind === 'op' || t.kind === 'lparen';
    }
  }

  it('reads typed literals', () => {
    assert.deepEqual(exprTokens('1d+2h'), [['literal', '1d'], ['op', '+'], ['literal', '2h']]);
    assert.deepEqual(exprTokens('00:10:00'), [['literal', '00:10:00']]);
    assert.deepEqual(exprTokens('1s500ms'), [['literal', '1s500ms']]);
    assert.deepEqual(exprTokens('10.0.0.0/8'), [['literal', '10.0.0.0/8']]);
    assert.deepEqual(exprTokens('2001:db8::/32'), [['literal', '2001:db8::/32']]);
    assert.deepEqual(exprTokens('fe80::1'), [['literal', 'fe80::1']]);
    assert.deepEqual(exprTokens('0x1F'), [['literal', '0x1F']]);
    assert.deepEqual(exprTokens('*1A'), [['literal', '*1A']]);
    assert.deepEqual(exprTokens('yes'), [['literal', 'yes']]);
  });

  it('tells operators from literals by position', () => {
    assert.deepEqual(exprTokens('2*3'), [['literal', '2'], ['op', '*'], ['literal', '3']]);
    assert.deepEqual(exprTokens('5-3'), [['literal', '5'], ['op', '-'], ['literal', '3']]);
    assert.deepEqual(exprTokens('10/2'), [['literal', '10'], ['op', '/'], ['literal', '2']]);
    assert.deepEqual(exprTokens('$a->"k"'), [['var', 'a'], ['op', '->'], ['string', 'k']]);
  });

  it('reads identifiers with dashes and keyword operators', () => {
    assert.deepEqual(exprTokens('expires-after<3w and not in'), [
      ['ident', 'expires-after'], ['op', '<'], ['literal', '3w'], ['op', 'and'], ['op', 'not'], ['op', 'in'],
    ]);
  });
});

describe('lexer: line joins (M-SCRIPT "Line joining")', () => {
  const words = (src: string): string[] => commandTokens(src).filter((t) => t.kind !== 'eof').map((t) => t.text);

  it('joins right after name=, inside a word, before = and inside strings, dropping the indentation', () => {
    assert.deepEqual(words('add policy=\\\n    read,write'), ['add', 'policy', '=', 'read,write']);
    assert.deepEqual(words('add owner=ad\\\n    min'), ['add', 'owner', '=', 'admin']);
    assert.deepEqual(words('add comment\\\n    =x'), ['add', 'comment', '=', 'x']);
    assert.equal(stringOf('"ab\\\r\n    cd"'), 'abcd');
  });

  it('keeps the lines and columns of the text as written', () => {
    const t = commandTokens('add a=b \\\n    c=d').find((x) => x.text === 'c')!;
    assert.deepEqual([t.line, t.col], [2, 5]);
  });

  it('never continues a comment, and a backslash in a string escape is no join', () => {
    assert.deepEqual(sourceText('# c \\\n:put 1').text, '# c \\\n:put 1');
    assert.deepEqual(sourceText(':put "a\\\\"\n:put 1').text, ':put "a\\\\"\n:put 1');
  });

  it('accepts blanks between the backslash and the line end outside strings', () => {
    assert.deepEqual(words(':put (1 + \\  \n 2)'), [':put', '(', '1', '+', '2', ')']);
  });

  it('tells an interactive console what is still open (M-CONSOLE continuation prompt)', () => {
    assert.deepEqual(pendingInput('{'), { open: '{', backslash: false });
    assert.deepEqual(pendingInput('{\n:put (\\'), { open: '{(', backslash: true });
    assert.deepEqual(pendingInput(':put "abc'), { open: '"', backslash: false });
    assert.deepEqual(pendingInput(':put "$[:len "x'), { open: '"["', backslash: false });
    assert.equal(pendingInput('{\n:put (\\\n1+2)}'), undefined);
    assert.equal(pendingInput(':put "a\\\\"'), undefined);
    assert.equal(pendingInput(':put 1 # not \\'), undefined);
  });
});
