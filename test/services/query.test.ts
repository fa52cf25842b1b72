// What API query words imply (src/services/query.ts, Query.equals): an equality every
// matching record has, or nothing when the words can match a record without it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileQuery } from '../../src/services/query.js';

const equalsOf = (words: string[]) => compileQuery(words)?.equals;

describe('Query.equals', () => {
  test('the first equality of words that are and-ed', () => {
    assert.deepEqual(equalsOf(['?name=a']), { name: 'name', text: 'a' });
    assert.deepEqual(equalsOf(['?=name=a']), { name: 'name', text: 'a' });
    assert.deepEqual(equalsOf(['?>days-valid=3', '?-comment', '?name=a=b']), { name: 'name', text: 'a=b' });
    assert.deepEqual(equalsOf(['name=a', 'common-name=b']), { name: 'name', text: 'a' });
  });

  test('nothing where a record may match without it', () => {
    for (const words of [
      ['?name=a', '?name=b', '?#|'], ['?name=a', '?#!'], ['?name='], ['?name'], ['?-name'],
      ['?<name=a'], ['?>name=a'], ['?name=true'], ['?name=false'], ['?name=yes'], ['?name=no'], [],
    ]) assert.equal(equalsOf(words), undefined, words.join(' '));
  });

  test('a record the query accepts has the implied text', () => {
    const words = ['?name=a', '?comment=x'];
    const q = compileQuery(words)!;
    const { name, text } = q.equals!;
    const records: Record<string, string>[] = [{ name: 'a', comment: 'x' }, { name: 'b', comment: 'x' }, { name: 'a' }, { comment: 'x' }];
    for (const rec of records) if (q(rec)) assert.equal(rec[name], text);
    assert.equal(q({ name: 'a', comment: 'x' }), true);
  });
});
