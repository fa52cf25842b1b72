// What API query words imply (src/services/query.ts impliedEquality): an equality every
// matching record has, or nothing when the words can match a record without it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileQuery, impliedEquality } from '../../src/services/query.js';

describe('impliedEquality', () => {
  test('the first equality of words that are and-ed', () => {
    assert.deepEqual(impliedEquality(['?name=a']), { name: 'name', text: 'a' });
    assert.deepEqual(impliedEquality(['?=name=a']), { name: 'name', text: 'a' });
    assert.deepEqual(impliedEquality(['?>days-valid=3', '?-comment', '?name=a=b']), { name: 'name', text: 'a=b' });
    assert.deepEqual(impliedEquality(['name=a', 'common-name=b']), { name: 'name', text: 'a' });
  });

  test('nothing where a record may match without it', () => {
    for (const words of [
      ['?name=a', '?name=b', '?#|'], ['?name=a', '?#!'], ['?name='], ['?name'], ['?-name'],
      ['?<name=a'], ['?>name=a'], ['?name=true'], ['?name=false'], ['?name=yes'], ['?name=no'], [],
    ]) assert.equal(impliedEquality(words), undefined, words.join(' '));
  });

  test('a record the query accepts has the implied text', () => {
    const words = ['?name=a', '?comment=x'];
    const q = compileQuery(words)!;
    const { name, text } = impliedEquality(words)!;
    const records: Record<string, string>[] = [{ name: 'a', comment: 'x' }, { name: 'b', comment: 'x' }, { name: 'a' }, { comment: 'x' }];
    for (const rec of records) if (q(rec)) assert.equal(rec[name], text);
    assert.equal(q({ name: 'a', comment: 'x' }), true);
  });
});
