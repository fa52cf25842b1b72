// The bound on users' regular expressions (src/menu/regex.ts): ordinary patterns match as any
// RegExp does, a pattern that would backtrack without end is finished by the linear engine, and
// what that engine can not run does not compile.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { linearRegExp } from '../../src/menu/regex.js';

describe('linearRegExp', () => {
  test('matches as a RegExp of the same source does', () => {
    const re = linearRegExp('^host9999[0-9]\\.example\\.(com|net)$');
    assert.equal(re.test('host99990.example.com'), true);
    assert.equal(re.test('host99990.example.org'), false);
  });

  test('a pattern that backtracks without end answers at once', () => {
    // Plain backtracking would take 2^n steps here (n = 30: minutes; 5,000: forever).
    for (const [pattern, subject, expected] of [
      ['(a+)+$', `${'a'.repeat(5000)}!`, false],
      ['^(a|aa)+$', 'a'.repeat(5000), true],
      ['(x+x+)+y', 'x'.repeat(5000), false],
    ] as const) {
      const start = performance.now();
      assert.equal(linearRegExp(pattern).test(subject), expected, pattern);
      assert.ok(performance.now() - start < 2000, `${pattern} took ${(performance.now() - start).toFixed(0)} ms`);
    }
  });

  test('what the linear engine can not run is refused', () => {
    assert.throws(() => linearRegExp('(a)\\1'), SyntaxError);
    assert.throws(() => linearRegExp('a(?=b)'), SyntaxError);
    assert.throws(() => linearRegExp('(?<=a)b'), SyntaxError);
  });
});
