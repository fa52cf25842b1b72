import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore, openDataDir, type ReadTx, type Store } from '../../src/store/index.js';
import type { Checkpointer } from '../../src/store/checkpointer.js';
import { startWorkerWith, tempDir } from './helpers.js';

function open(t: { after(fn: () => void): void }, dir = tempDir(t), secret = randomBytes(32)) {
  const location = { dbPath: path.join(dir, 'rospki.db'), secret };
  const store = SqliteStore.open(location);
  t.after(() => store.close());
  return { store, location };
}

/** Two stores of this process on one data directory (as two connections, or two processes). */
function twoStores(t: { after(fn: () => void): void }) {
  const dir = tempDir(t);
  const secret = randomBytes(32);
  return { dir, secret, a: open(t, dir, secret).store, b: open(t, dir, secret).store };
}

const snapshot = (store: Store, menu: string) => store.read((tx) => tx.list(menu).map((r) => ({ ...r })));

test('insert, get, list in id order, update, remove', async (t) => {
  const { store } = open(t);
  const ids = await store.write((tx) => [tx.insert('/user', { name: 'a' }), tx.insert('/user', { name: 'b' })]);
  assert.deepEqual(ids, [1, 2]);
  await store.write((tx) => tx.update('/user', 1, { name: 'A' }));
  await store.write((tx) => tx.remove('/user', 2));
  assert.deepEqual(await snapshot(store, '/user'), [{ id: 1, data: { name: 'A' } }]);
  assert.equal(await store.read((tx) => tx.count('/user')), 1);
  assert.equal(await store.read((tx) => tx.count('/nothing')), 0);
  assert.equal(await store.read((tx) => tx.get('/user', 2)), undefined);
  assert.deepEqual(await store.read((tx) => tx.list('/nothing')), []);
});

test('a write that throws changes neither the database nor the cache', async (t) => {
  const { store, location } = open(t);
  await store.write((tx) => {
    tx.insert('/c', { name: 'one' });
    tx.insert('/c', { name: 'two' });
    tx.setBlob('/c', 1, 'der', Buffer.from('keep'));
  });
  const before = await snapshot(store, '/c');

  await assert.rejects(
    store.write((tx) => {
      tx.insert('/c', { name: 'three' });
      tx.update('/c', 1, { name: 'ONE' });
      tx.remove('/c', 2);
      tx.setBlob('/c', 1, 'der', Buffer.from('changed'));
      tx.insert('/other', { x: 1 });
      throw new Error('boom');
    }),
    /boom/,
  );

  assert.deepEqual(await snapshot(store, '/c'), before);
  assert.deepEqual(await store.read((tx) => tx.list('/other')), []);
  assert.deepEqual(await store.read((tx) => tx.getBlob('/c', 1, 'der')), Buffer.from('keep'));
  const fresh = SqliteStore.open(location);
  t.after(() => fresh.close());
  assert.deepEqual(await snapshot(fresh, '/c'), before);
  assert.deepEqual(await fresh.read((tx) => tx.getBlob('/c', 1, 'der')), Buffer.from('keep'));
  // The connection is not left inside a transaction: the next write works.
  assert.equal(await store.write((tx) => tx.insert('/c', { name: 'three' })), 3);
});

test('a failed write leaves the row order intact after undoing a removal', async (t) => {
  const { store } = open(t);
  await store.write((tx) => { for (let i = 0; i < 5; i++) tx.insert('/m', { i }); });
  await assert.rejects(store.write((tx) => { tx.remove('/m', 2); tx.remove('/m', 4); throw new Error('no'); }));
  assert.deepEqual((await snapshot(store, '/m')).map((r) => r.id), [1, 2, 3, 4, 5]);
});

test('ids are never reused after remove', async (t) => {
  const { store, location } = open(t);
  await store.write((tx) => { tx.insert('/m', {}); tx.insert('/m', {}); tx.insert('/m', {}); });
  await store.write((tx) => { tx.remove('/m', 3); tx.remove('/m', 2); });
  assert.equal(await store.write((tx) => tx.insert('/m', {})), 4);
  await store.write((tx) => tx.remove('/m', 4));
  const fresh = SqliteStore.open(location);
  t.after(() => fresh.close());
  assert.equal(await fresh.write((tx) => tx.insert('/m', {})), 5);
  assert.equal(await fresh.write((tx) => tx.insert('/other', {})), 1, 'each menu counts on its own');
});

test('blobs round-trip, can be deleted, and go with their row', async (t) => {
  const { store } = open(t);
  const der = randomBytes(1500);
  const id = await store.write((tx) => {
    const id = tx.insert('/certificate', { name: 'c' });
    tx.setBlob('/certificate', id, 'der', der);
    tx.setBlob('/certificate', id, 'key', Buffer.from('k'));
    assert.deepEqual(tx.getBlob('/certificate', id, 'der'), der, 'visible inside its own transaction');
    return id;
  });
  assert.deepEqual(await store.read((tx) => tx.getBlob('/certificate', id, 'der')), der);
  await store.write((tx) => tx.setBlob('/certificate', id, 'key', undefined));
  assert.equal(await store.read((tx) => tx.getBlob('/certificate', id, 'key')), undefined);
  await store.write((tx) => tx.remove('/certificate', id));
  assert.equal(await store.read((tx) => tx.getBlob('/certificate', id, 'der')), undefined);
  await assert.rejects(store.write((tx) => tx.setBlob('/certificate', id, 'der', der)), /no row \*1/);
});

test('row data is frozen, normalized like JSON, and update replaces it', async (t) => {
  const { store } = open(t);
  const input = { name: 'x', when: new Date(0), gone: undefined, list: [1, { a: 2 }] };
  await store.write((tx) => tx.insert('/m', input));
  const row = (await store.read((tx) => tx.get('/m', 1)))!;
  assert.deepEqual(row.data, { name: 'x', when: '1970-01-01T00:00:00.000Z', list: [1, { a: 2 }] });
  assert.ok(Object.isFrozen(row) && Object.isFrozen(row.data) && Object.isFrozen((row.data.list as object[])[1]));
  assert.throws(() => { (row.data as Record<string, unknown>).name = 'y'; }, TypeError);
  const list = await store.read((tx) => tx.list('/m'));
  await store.write((tx) => tx.update('/m', 1, { ...row.data, name: 'y' }));
  assert.equal(row.data.name, 'x', 'an update does not change objects handed out before');
  assert.equal(list.length, 1);
  assert.equal((await store.read((tx) => tx.get('/m', 1)))!.data.name, 'y');
});

test('list() hands out a stable array: inserting while iterating it terminates', async (t) => {
  const { store } = open(t);
  await store.write((tx) => { tx.insert('/m', {}); tx.insert('/m', {}); });
  await store.write((tx) => { for (const r of tx.list('/m')) tx.insert('/m', { copyOf: r.id }); });
  assert.equal((await store.read((tx) => tx.list('/m'))).length, 4);
});

test('programming errors: nested transactions, async callbacks, stale tx, misuse', async (t) => {
  const { store } = open(t);
  await assert.rejects(store.write(() => { void store.write(() => 1); }), /inside another transaction/);
  await assert.rejects(store.read(() => { void store.read(() => 1); }), /inside another transaction/);
  await assert.rejects(store.write(async (tx) => tx.insert('/m', {})), /must be synchronous/);
  assert.deepEqual(await store.read((tx) => tx.list('/m')), [], 'the async callback\'s insert was undone');
  let leaked: unknown;
  await store.write((tx) => { leaked = tx; });
  assert.throws(() => (leaked as { list(m: string): unknown }).list('/m'), /transaction is over/);
  await assert.rejects(store.read((tx) => (tx as unknown as { insert(m: string, d: object): void }).insert('/m', {})), /read transaction/);
  await assert.rejects(store.write((tx) => tx.update('/m', 42, {})), /no row \*2A/);
  await assert.rejects(store.write((tx) => tx.insert('/m', [] as unknown as Record<string, unknown>)), /plain object/);
  assert.equal(await store.write((tx) => tx.insert('/m', {})), 1);
});

test('two stores on one file see each other at once and lose no update', async (t) => {
  const { a, b } = twoStores(t);
  const id = await a.write((tx) => tx.insert('/counter', { counter: 0 }));
  assert.equal((await b.read((tx) => tx.get('/counter', id)))!.data.counter, 0);

  const increment = (s: Store) =>
    s.write((tx) => tx.update('/counter', id, { counter: (tx.get('/counter', id)!.data.counter as number) + 1 }));
  for (let i = 0; i < 200; i++) {
    await increment(a);
    await increment(b);
  }
  assert.equal((await a.read((tx) => tx.get('/counter', id)))!.data.counter, 400);
  assert.equal((await b.read((tx) => tx.get('/counter', id)))!.data.counter, 400);

  await b.write((tx) => { tx.remove('/counter', id); tx.insert('/counter', { counter: 7 }); });
  assert.deepEqual(await snapshot(a, '/counter'), [{ id: 2, data: { counter: 7 } }]);
  assert.equal(await a.write((tx) => tx.insert('/counter', {})), 3, 'ids allocated by the other store are respected');
});

test('a read served from the cache sees what another connection committed, menus loaded or not', async (t) => {
  const { a, b, dir } = twoStores(t);
  await a.write((tx) => tx.insert('/m', { n: 0 }));
  assert.equal(await a.read((tx) => tx.get('/m', 1)!.data.n), 0); // /m loaded in a
  for (let n = 1; n <= 50; n++) {
    await b.write((tx) => { tx.update('/m', 1, { n }); tx.insert('/late', { n }); });
    assert.equal(await a.read((tx) => tx.get('/m', 1)!.data.n), n);
    assert.equal(await a.read((tx) => tx.list('/late').length), n);
  }
  // A plain SQLite connection (another process, `store copy`) commits a row too.
  const other = new Database(path.join(dir, 'rospki.db'));
  t.after(() => other.close());
  other.prepare("UPDATE rows SET version = version + 1000, data = '{\"n\":99}' WHERE menu = '/m' AND id = 1").run();
  assert.equal(await a.read((tx) => tx.get('/m', 1)!.data.n), 99);
});

test('the reads of one request ask data_version once: the first sees what was committed before the request began', async (t) => {
  const { a, b, dir } = twoStores(t);
  await a.write((tx) => tx.insert('/m', { n: 0 }));
  assert.equal(await a.read((tx) => tx.get('/m', 1)!.data.n), 0);
  // Another connection's commit, acknowledged before the request begins.
  const other = new Database(path.join(dir, 'rospki.db'));
  t.after(() => other.close());
  other.prepare("UPDATE rows SET version = version + 1000, data = '{\"n\":1}' WHERE menu = '/m' AND id = 1").run();
  const since = a.mark();
  assert.equal(await a.read((tx) => tx.get('/m', 1)!.data.n, since), 1);
  // The request's later reads ask nothing of the database (the mark does not move)...
  const asked = a.mark();
  assert.equal(await a.read((tx) => tx.get('/m', 1)!.data.n, since), 1);
  assert.equal(a.mark(), asked);
  // ...while a read of a new request asks again and sees a commit made since.
  await b.write((tx) => tx.update('/m', 1, { n: 2 }));
  assert.equal(await a.read((tx) => tx.get('/m', 1)!.data.n, a.mark()), 2);
  assert.ok(a.mark() > asked);
});

test('a read from the cache that must load a menu after another connection committed starts over in one snapshot', async (t) => {
  const { a, b } = twoStores(t);
  await a.write((tx) => tx.insert('/m', { v: 'old' }));
  await b.write((tx) => { tx.insert('/late', { v: 'old' }); tx.setBlob('/late', 1, 'der', Buffer.from('old')); });
  // Commits in b between a's first look at the cache and its first database access.
  const commitInB = async (v: string) => {
    const written = b.write((tx) => { tx.update('/m', 1, { v }); tx.update('/late', 1, { v }); tx.setBlob('/late', 1, 'der', Buffer.from(v)); });
    b.flush();
    await written;
  };
  const cases: Array<[string, (tx: ReadTx) => unknown]> = [
    ['menu', (tx) => tx.get('/late', 1)!.data.v],
    ['blob', (tx) => tx.getBlob('/late', 1, 'der')!.toString()],
    // A read that swallows whatever is thrown at it is run again all the same.
    ['caught', (tx) => { try { return tx.getBlob('/late', 1, 'der')!.toString(); } catch { return 'swallowed'; } }],
  ];
  for (const [what, late] of cases) {
    await a.read((tx) => tx.get('/m', 1)); // a's cache is up to date: the next read starts from it
    let runs = 0;
    let committed: Promise<void> | undefined;
    const seen = await a.read((tx) => {
      runs++;
      const m = tx.get('/m', 1)!.data.v;
      if (runs === 1) committed = commitInB(what);
      return [m, late(tx)];
    });
    await committed;
    assert.deepEqual(seen, [what, what], `${what}: both rows from one snapshot`);
    assert.equal(runs, 2, `${what}: run again once`);
  }
});

test('a failing write among several of one batch undoes only itself, first or not', async (t) => {
  const { store, location } = open(t);
  const committed = committedView(t, location.dbPath);
  const fail = (name: string) => store.write((tx) => {
    tx.insert('/m', { name });
    tx.setBlob('/m', 1, 'der', Buffer.from(name));
    throw new Error(`refused ${name}`);
  });
  await store.write((tx) => { tx.insert('/m', { name: 'a' }); tx.setBlob('/m', 1, 'der', Buffer.from('a')); });
  // The batch's first write fails, then two succeed and one fails, all in one turn.
  const outcomes = await Promise.allSettled([
    fail('x'), store.write((tx) => tx.insert('/m', { name: 'b' })), fail('y'), store.write((tx) => tx.insert('/m', { name: 'c' })),
  ]);
  assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'fulfilled', 'rejected', 'fulfilled']);
  assert.deepEqual(committed.names('/m'), ['a', 'b', 'c']);
  assert.deepEqual((await snapshot(store, '/m')).map((r) => [r.id, r.data.name]), [[1, 'a'], [2, 'b'], [3, 'c']]);
  assert.equal((await store.read((tx) => tx.getBlob('/m', 1, 'der')))!.toString(), 'a');
  // The first write of the next batch succeeds and the second fails: the first stays.
  const [kept, refused] = await Promise.allSettled([store.write((tx) => tx.insert('/m', { name: 'd' })), fail('z')]);
  assert.deepEqual([kept.status, refused.status], ['fulfilled', 'rejected']);
  assert.deepEqual(committed.names('/m'), ['a', 'b', 'c', 'd']);
  const fresh = SqliteStore.open(location);
  t.after(() => fresh.close());
  assert.deepEqual((await snapshot(fresh, '/m')).map((r) => r.data.name), ['a', 'b', 'c', 'd']);
  assert.equal((await fresh.read((tx) => tx.getBlob('/m', 1, 'der')))!.toString(), 'a');
});

test('seal and unseal with the store secret', async (t) => {
  const { store } = open(t);
  const key = Buffer.from('-----BEGIN PRIVATE KEY-----');
  const sealed = store.seal(key);
  assert.notDeepEqual(sealed.subarray(13, 13 + key.length), key);
  assert.deepEqual(store.unseal(sealed), key);
});

test('view() reads the cache outside a transaction and cannot write', async (t) => {
  const { store } = open(t);
  await store.write((tx) => tx.insert('/m', { name: 'a' }));
  const view = store.view();
  assert.equal(view.get('/m', 1)!.data.name, 'a');
  assert.deepEqual(view.list('/never-touched'), [], 'a menu can be loaded through a view');
  assert.throws(() => (view as unknown as { insert(m: string, d: object): void }).insert('/m', {}), /read transaction/);
});

test('a batch whose COMMIT fails rejects every write of it; none was acknowledged, nothing stays', async (t) => {
  // A real failure, not a mock: the worker runs under a file size limit that the batch's
  // COMMIT exceeds when it appends the batch to the WAL (EFBIG, "database or disk is full").
  const dir = tempDir(t);
  const out = await startWorkerWith({ fileSizeLimit: 512 * 1024 }, dir, 'commit-fails').done;
  const result = JSON.parse(out.split('\n')[0]!) as { events: string[]; after: number; names: string[] };
  // SQLite reports the short write as an I/O error (SQLITE_IOERR_WRITE).
  const failed = 'failed: the change could not be saved: disk I/O error';
  assert.deepEqual(result.events, [failed, failed, failed, 'read saw before'],
    'every write of the batch fails, none is acknowledged first, and the read made during the batch never saw them');
  assert.deepEqual(result.names, ['before', 'after'], 'the store works on; the cache holds no trace of the batch');
  const store = SqliteStore.open(openDataDir(dir));
  t.after(() => store.close());
  assert.deepEqual(await store.read((tx) => tx.list('/m').map((r) => r.data.name)), ['before', 'after']);
  assert.equal(await store.read((tx) => tx.getBlob('/m', 2, 'data')), undefined);
});

/** A second, plain SQLite connection to the store's file: sees only what is committed. */
function committedView(t: { after(fn: () => void): void }, dbPath: string) {
  const db = new Database(dbPath, { readonly: true });
  t.after(() => db.close());
  return {
    names: (menu: string) => db.prepare('SELECT data FROM rows WHERE menu = ? ORDER BY id').pluck().all(menu)
      .map((d) => (JSON.parse(d as string) as { name: string }).name),
    versions: (menu: string) => db.prepare('SELECT version FROM rows WHERE menu = ? ORDER BY id').pluck().all(menu) as number[],
  };
}

test('a write is acknowledged only once it is committed', async (t) => {
  const { store, location } = open(t);
  const committed = committedView(t, location.dbPath);
  const seenAtAcknowledgement: string[][] = [];
  const writes = ['a', 'b', 'c'].map((name) =>
    store.write((tx) => tx.insert('/m', { name })).then(() => { seenAtAcknowledgement.push(committed.names('/m')); }));
  assert.deepEqual(committed.names('/m'), [], 'nothing is committed within the turn of the writes');
  await Promise.all(writes);
  assert.deepEqual(seenAtAcknowledgement, [['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c']]);
});

test('writes of one event-loop turn share one COMMIT; the next turn gets its own', async (t) => {
  const { store, location } = open(t);
  const committed = committedView(t, location.dbPath);
  await Promise.all([1, 2, 3].map((n) => store.write((tx) => tx.insert('/m', { name: `first${n}` }))));
  await Promise.all([1, 2].map((n) => store.write((tx) => tx.insert('/m', { name: `second${n}` }))));
  const [a, b, c, d, e] = committed.versions('/m');
  assert.ok(a === b && b === c, 'one commit version for the first turn');
  assert.ok(d === e && d! > c!, 'a later commit for the second turn');
});

test('a read made while a batch is open waits for its COMMIT, then sees it', async (t) => {
  const { store } = open(t);
  const order: string[] = [];
  const write = store.write((tx) => tx.insert('/m', { name: 'x' })).then(() => { order.push('write acknowledged'); });
  const read = store.read((tx) => tx.list('/m').map((r) => r.data.name)).then((names) => { order.push(`read saw ${names.join(',')}`); });
  await Promise.all([write, read]);
  assert.deepEqual(order, ['write acknowledged', 'read saw x']);
});

test('a read made while a batch is open that touches none of its changes settles at once, with committed state', async (t) => {
  const { store } = open(t);
  await store.write((tx) => { tx.insert('/m', { name: 'a' }); tx.insert('/m', { name: 'c' }); tx.setBlob('/m', 2, 'der', Buffer.from('c')); });
  const order: string[] = [];
  const write = store.write((tx) => {
    tx.update('/m', 1, { name: 'b' });
    tx.insert('/m', { name: 'new' });
    tx.setBlob('/m', 1, 'der', Buffer.from('b'));
  }).then(() => { order.push('write acknowledged'); });
  const reads = {
    // Untouched by the batch: settle before its COMMIT.
    otherMenu: store.read((tx) => tx.list('/other').length),
    otherName: store.read((tx) => tx.findBy('/m', 'name', 'c').map((r) => r.id)),
    otherRow: store.read((tx) => tx.get('/m', 2)?.data.name),
    otherBlob: store.read((tx) => tx.getBlob('/m', 2, 'der')?.toString()),
    // Saw the batch's changes: settle after its COMMIT, with them.
    list: store.read((tx) => tx.list('/m').length),
    oldName: store.read((tx) => tx.findBy('/m', 'name', 'a').length),
    newName: store.read((tx) => tx.findBy('/m', 'name', 'new').length),
    row: store.read((tx) => tx.get('/m', 1)?.data.name),
    blob: store.read((tx) => tx.getBlob('/m', 1, 'der')?.toString()),
  };
  const results = await Promise.all(Object.entries(reads).map(([what, p]) => p.then((v) => { order.push(what); return [what, v] as const; })));
  await write;
  assert.deepEqual(Object.fromEntries(results), {
    otherMenu: 0, otherName: [2], otherRow: 'c', otherBlob: 'c', list: 3, oldName: 0, newName: 1, row: 'b', blob: 'b',
  });
  assert.deepEqual(order, ['otherMenu', 'otherName', 'otherRow', 'otherBlob', 'write acknowledged', 'list', 'oldName', 'newName', 'row', 'blob']);
});

test('clients that read, then write, share COMMITs instead of queueing behind each other\'s', async (t) => {
  const { store, location } = open(t);
  const committed = committedView(t, location.dbPath);
  await store.write((tx) => tx.insert('/users', { name: 'admin' }));
  const clients = 4;
  const rounds = 25;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let k = 0; k < rounds; k++) {
      // What commands do: check the user (a read), an add writes at once, a sign reads its
      // template first; the clients are at different commands.
      await store.read((tx) => tx.findBy('/users', 'name', 'admin').length);
      if ((k + c) % 2 === 1) await store.read((tx) => tx.findBy('/m', 'name', `c${c}-${k - 1}`).length);
      await store.write((tx) => tx.insert('/m', { name: `c${c}-${k}` }));
    }
  }));
  const commits = new Set(committed.versions('/m')).size;
  assert.equal(committed.names('/m').length, clients * rounds);
  // One COMMIT per round of the four (38 when a read waited for every open batch).
  assert.ok(commits <= rounds * 1.2, `${commits} COMMITs for ${clients * rounds} writes of ${clients} clients`);
});

test('a write that changes nothing is acknowledged at once and holds no lock', async (t) => {
  const { store, location } = open(t);
  await store.write((tx) => tx.insert('/m', { name: 'x' }));
  const other = new Database(location.dbPath, { timeout: 0 });
  t.after(() => other.close());
  const name = await store.write((tx) => tx.get('/m', 1)!.data.name);
  assert.equal(name, 'x');
  other.exec('BEGIN IMMEDIATE; COMMIT'); // would fail with SQLITE_BUSY while the store held the write lock
  await assert.rejects(store.write((tx) => { tx.get('/m', 1); throw new Error('refused'); }), /refused/);
  other.exec('BEGIN IMMEDIATE; COMMIT');
});

test('a store reading the file commits the open batch of another store of this process first', async (t) => {
  const { a, b } = twoStores(t);
  const order: string[] = [];
  const write = a.write((tx) => tx.insert('/m', { name: 'from a' })).then(() => { order.push('a acknowledged'); });
  const names = await b.read((tx) => tx.list('/m').map((r) => r.data.name));
  order.push(`b saw ${names.join(',')}`);
  await write;
  assert.deepEqual(order, ['a acknowledged', 'b saw from a']);
});

test('reads waiting for a batch run when another store of this process commits it for its own read', async (t) => {
  const { a, b } = twoStores(t);
  const write = a.write((tx) => tx.insert('/m', { name: 'x' }));
  const waiting = a.read((tx) => tx.list('/m').length); // waits for a's batch
  assert.equal(await b.read((tx) => tx.list('/m').length), 1); // commits a's batch first
  assert.equal(await waiting, 1);
  assert.equal(await write, 1);
});

test('after many commits (checkpoints in a worker) a closed store leaves one self-contained file', async (t) => {
  const { store, location } = open(t);
  for (let i = 0; i < 300; i++) await store.write((tx) => tx.insert('/m', { name: `n${i}` }));
  // The worker has its own connection open once it checkpointed: close() must close it first.
  const { checkpointer } = store as unknown as { checkpointer: Checkpointer };
  for (let waited = 0; checkpointer.checkpoints === 0; waited += 10) {
    assert.ok(waited < 30_000, 'the worker never checkpointed');
    await new Promise((r) => setTimeout(r, 10));
  }
  store.close();
  const dir = path.dirname(location.dbPath);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['rospki.db'], 'no -wal or -shm left: everything is in rospki.db');
  const fresh = SqliteStore.open(location);
  t.after(() => fresh.close());
  assert.equal((await fresh.read((tx) => tx.list('/m'))).length, 300);
});
