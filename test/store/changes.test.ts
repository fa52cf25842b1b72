// What the store announces after a commit (onChange with a ChangeSet) and the rule by which a
// read is known to have seen a change (ChangeSet.seenBy over a Footprint): the services reconcile
// by it (services/inputs.ts), so a miss here would leave a service serving stale state.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { test } from 'node:test';
import { ChangeSet, Footprint } from '../../src/store/changes.js';
import { SqliteStore } from '../../src/store/index.js';
import type { ReadTx } from '../../src/store/store.js';
import { tempDir } from './helpers.js';

function open(t: { after(fn: () => void): void }) {
  const store = SqliteStore.open({ dbPath: path.join(tempDir(t), 'rospki.db'), secret: randomBytes(32) });
  t.after(() => store.close());
  return store;
}

test('onChange tells each row with its data before and after, and the blobs; commits of one turn as one', async (t) => {
  const store = open(t);
  const told: ChangeSet[] = [];
  store.onChange((c) => told.push(c));
  const id = await store.write((tx) => tx.insert('/a', { n: 1 }));
  await new Promise((r) => setImmediate(r));
  assert.equal(told.length, 1);
  assert.deepEqual(told[0]!.rows.get('/a')!.get(id), { before: undefined, after: { id, data: { n: 1 } } });
  // Two writes in one turn share a COMMIT and one announcement: the first before, the last after.
  told.length = 0;
  await Promise.all([
    store.write((tx) => tx.update('/a', id, { n: 2 })),
    store.write((tx) => { tx.update('/a', id, { n: 3 }); tx.setBlob('/a', id, 'der', Buffer.from('x')); }),
  ]);
  await new Promise((r) => setImmediate(r));
  assert.equal(told.length, 1);
  const change = told[0]!.rows.get('/a')!.get(id)!;
  assert.deepEqual([change.before?.data, change.after?.data], [{ n: 1 }, { n: 3 }]);
  assert.deepEqual([...told[0]!.blobs.get('/a')!.get(id)!], ['der']);
  // A write that throws is not announced; a write that changed nothing neither.
  told.length = 0;
  await assert.rejects(store.write((tx) => { tx.update('/a', id, { n: 4 }); throw new Error('no'); }));
  await store.write((tx) => tx.get('/a', id));
  await new Promise((r) => setImmediate(r));
  assert.equal(told.length, 0);
  await store.write((tx) => tx.remove('/a', id));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(told[0]!.rows.get('/a')!.get(id)!.after, undefined);
});

/** What `fn` reads, recorded. */
function footprintOf(tx: ReadTx, fn: (tx: ReadTx) => void): Footprint {
  const f = new Footprint();
  fn(f.tap(tx));
  return f;
}

test('seenBy: a read saw a change when it listed the menu, got the row or its blob, or its findBy answer may differ', async (t) => {
  const store = open(t);
  const [ca, leaf] = await store.write((tx) => [
    tx.insert('/cert', { name: 'ca', skid: 'S1' }),
    tx.insert('/cert', { name: 'leaf', akid: 'S1', skid: 'S2' }),
  ]);
  const change = async (fn: Parameters<SqliteStore['write']>[0]): Promise<ChangeSet> => {
    let got: ChangeSet | undefined;
    const off = store.onChange((c) => { got = c; });
    await store.write(fn);
    await new Promise((r) => setImmediate(r));
    off();
    return got!;
  };
  const reads = await store.read((tx) => ({
    list: footprintOf(tx, (r) => r.list('/cert')),
    getLeaf: footprintOf(tx, (r) => r.get('/cert', leaf!)),
    blobOfCa: footprintOf(tx, (r) => r.getBlob('/cert', ca!, 'der')),
    // The issuer of leaf, as planTls finds it; and a lookup that found nothing.
    issuer: footprintOf(tx, (r) => r.findBy('/cert', 'skid', 'S1')),
    missing: footprintOf(tx, (r) => r.findBy('/cert', 'skid', 'S9')),
    other: footprintOf(tx, (r) => r.get('/other', 1)),
  }));
  const seen = (c: ChangeSet) => Object.entries(reads).filter(([, f]) => c.seenBy(f)).map(([k]) => k).sort();

  // A new, unrelated certificate: only a read of the whole menu saw it.
  assert.deepEqual(seen(await change((tx) => tx.insert('/cert', { name: 'x', skid: 'S3' }))), ['list']);
  // A new certificate whose skid a lookup found nothing for: that lookup would find it now.
  assert.deepEqual(seen(await change((tx) => tx.insert('/cert', { name: 'y', skid: 'S9' }))), ['list', 'missing']);
  // The found issuer changes (any field): the lookup found it (and a row change counts for its blobs).
  assert.deepEqual(seen(await change((tx) => tx.update('/cert', ca!, { name: 'ca2', skid: 'S1' }))), ['blobOfCa', 'issuer', 'list']);
  // Its blob only: who read that blob.
  assert.deepEqual(seen(await change((tx) => tx.setBlob('/cert', ca!, 'der', Buffer.from('d')))), ['blobOfCa']);
  assert.deepEqual(seen(await change((tx) => tx.setBlob('/cert', ca!, 'key', Buffer.from('k')))), []);
  // The row that was got.
  assert.deepEqual(seen(await change((tx) => tx.update('/cert', leaf!, { name: 'leaf', akid: 'S1', skid: 'S2', comment: 'c' }))), ['getLeaf', 'list']);
  // Removing the issuer: the lookup that found it, the blob read of the removed row, the list.
  assert.deepEqual(seen(await change((tx) => tx.remove('/cert', ca!))), ['blobOfCa', 'issuer', 'list']);
  // Another menu: none of them.
  assert.deepEqual(seen(await change((tx) => tx.insert('/log', { message: 'm' }))), []);
  // `everything`: all of them.
  assert.equal(seen(new ChangeSet(true)).length, Object.keys(reads).length);
  // Merged: the first before and the last after stay, so a value between them is not needed.
  const a = new ChangeSet();
  a.row('/cert', 7, { id: 7, data: { skid: 'S7' } }, { id: 7, data: { skid: 'S8' } });
  const b = new ChangeSet();
  b.row('/cert', 7, { id: 7, data: { skid: 'S8' } }, undefined);
  assert.deepEqual(a.merge(b).rows.get('/cert')!.get(7), { before: { id: 7, data: { skid: 'S7' } }, after: undefined });
});
