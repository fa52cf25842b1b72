// The row cache: findBy() hands out snapshots, like list(), so a caller may change rows while it
// walks a result (the generic remove cascades through the rows that refer to a removed one).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MenuRows, normalizeData, rowFromJson } from '../../src/store/cache.js';

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

test('normalizeData gives exactly what a reload gives (JSON round trip), frozen, without aliasing the caller', () => {
  class WithToJson { toJSON(key: string) { return { key, n: 1 }; } }
  const samples: Record<string, unknown>[] = [
    { s: 'x', n: 1.5, neg0: -0, nan: NaN, inf: -Infinity, t: true, nul: null, u: undefined, f: () => 1, sym: Symbol('s') },
    { date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), list: [1, undefined, () => 2, NaN, 'a', [null, { x: undefined }]] },
    { boxed: [Object(1), Object('s'), Object(false)], custom: new WithToJson(), nested: { deeper: { list: [new Date(0)] } } },
    { '10': 'integer keys first', b: 1, '2': 'two', a: 2, buf: Buffer.from([1, 2, 3]) },
    JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as Record<string, unknown>,
    { lone: '\ud800 and \udfff', big: 1e21, tiny: 5e-324, int: 2 ** 53 },
  ];
  for (const data of samples) {
    const { json, data: cached } = normalizeData(data);
    assert.equal(json, JSON.stringify(data));
    const reload = JSON.parse(json) as Record<string, unknown>;
    assert.deepStrictEqual(cached, reload);
    assert.deepEqual(Object.keys(cached), Object.keys(reload));
    assert.equal(Object.getPrototypeOf(cached), Object.prototype);
    assert.equal(({} as { polluted?: boolean }).polluted, undefined);
    const deepFrozen = (v: unknown): boolean => typeof v !== 'object' || v === null || (Object.isFrozen(v) && Object.values(v).every(deepFrozen));
    assert.ok(deepFrozen(cached));
  }
  // A row made from a cached one shares its frozen parts; the caller's own objects are copied.
  const first = normalizeData({ list: ['a', 'b'], other: { k: 1 } }).data;
  const callers = { k: 2 };
  const second = normalizeData({ ...first, other: callers, name: 'n' }).data;
  assert.equal(second.list, first.list);
  assert.notEqual(second.other, callers);
  callers.k = 3;
  assert.deepEqual(second.other, { k: 2 });
  // Stored JSON read back is marked too: it is shared rather than copied again.
  const loaded = rowFromJson(7, '{"list":["x"],"n":1}');
  assert.equal(normalizeData({ ...loaded.data, n: 2 }).data.list, loaded.data.list);
});
