// The row cache: findBy() hands out snapshots, like list(), so a caller may change rows while it
// walks a result (the generic remove cascades through the rows that refer to a removed one).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MenuRows } from '../../src/store/cache.js';

const row = (id: number, data: Record<string, unknown>) => Object.freeze({ id, data: Object.freeze(data) });

test('findBy results do not change when rows change under them', () => {
  const rows = new MenuRows();
  for (let id = 1; id <= 3; id++) rows.put(row(id, { ca: 7 }));
  const found = rows.findBy('ca', 7);
  const seen: number[] = [];
  for (const r of found) {
    seen.push(r.id);
    rows.delete(r.id); // what a cascade does while it walks
  }
  assert.deepEqual(seen, [1, 2, 3]);
  assert.deepEqual(rows.findBy('ca', 7), []);
  rows.put(row(4, { ca: 7 }));
  assert.deepEqual(found.map((r) => r.id), [1, 2, 3]);
  assert.deepEqual(rows.findBy('ca', 7).map((r) => r.id), [4]);
});

test('findBy stays in id order when an undo re-adds an older row', () => {
  const rows = new MenuRows();
  rows.put(row(5, { k: 'x' }));
  rows.put(row(9, { k: 'x' }));
  rows.findBy('k', 'x');
  rows.put(row(2, { k: 'x' }));
  assert.deepEqual(rows.findBy('k', 'x').map((r) => r.id), [2, 5, 9]);
});
