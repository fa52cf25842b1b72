// The store shared with a real second process (test/store/fixtures/worker.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SqliteStore, openDataDir } from '../../src/store/index.js';
import { startWorker, tempDir } from './helpers.js';

test('rows written by another process are seen while the store is open', async (t) => {
  const dir = tempDir(t);
  const store = SqliteStore.open(openDataDir(dir));
  t.after(() => store.close());
  await store.write((tx) => tx.insert('/log', { n: -1 }));
  assert.equal((await store.read((tx) => tx.list('/log'))).length, 1, 'menu cached before the other process writes');

  await startWorker(dir, 'insert', '50', '/log').done;

  const rows = await store.read((tx) => tx.list('/log'));
  assert.equal(rows.length, 51);
  assert.deepEqual(rows.map((r) => r.id), Array.from({ length: 51 }, (_, i) => i + 1));
  assert.equal(await store.write((tx) => tx.insert('/log', {})), 52);
});

test('two processes incrementing one counter concurrently lose nothing', async (t) => {
  const dir = tempDir(t);
  const store = SqliteStore.open(openDataDir(dir));
  t.after(() => store.close());
  const id = await store.write((tx) => tx.insert('/counter', { counter: 0 }));
  const N = 1000;
  const worker = startWorker(dir, 'increment', String(N), '/counter', String(id));
  await worker.waitFor('ready');
  worker.send('go\n');

  let last = 0;
  let foreign = 0; // increments by the other process seen between two of ours: proves they overlapped
  for (let i = 0; i < N; i++) {
    const value = await store.write((tx) => {
      const counter = (tx.get('/counter', id)!.data.counter as number) + 1;
      tx.update('/counter', id, { counter });
      return counter;
    });
    // Each awaited write is committed before it resolves: the processes interleave commit by commit.
    if (value > last + 1) foreign++;
    last = value;
    // A pause between increments spreads both loops over the same second or so, so they overlap
    // whatever the scheduling (the check below needs real interleaving, not luck).
    await new Promise((r) => setTimeout(r, 1));
  }
  await worker.done;

  assert.equal((await store.read((tx) => tx.get('/counter', id)))!.data.counter, 2 * N);
  assert.ok(foreign > 0, 'the two processes never interleaved');
});
