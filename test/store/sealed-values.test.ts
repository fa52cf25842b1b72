// Values of sensitive properties are sealed at rest (src/store/sealed-values.ts): written sealed,
// read open, and a database written before (values in the clear) is sealed when it is opened,
// with no copy of the old values left in its free pages or WAL.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/index.js';
import type { SealedFields } from '../../src/store/sealed-values.js';
import { tempDir } from './helpers.js';

const FIELDS: SealedFields = new Map([['/ppp/secret', ['password']]]);

/** The database file and its WAL, as `strings` would read them. */
function onDisk(dbPath: string): string {
  return [dbPath, `${dbPath}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f).toString('latin1')).join('');
}

test('a declared field is written sealed and read open; other fields and menus stay as they are', async (t) => {
  const dbPath = path.join(tempDir(t), 'rospki.db');
  const location = { dbPath, secret: randomBytes(32) };
  const store = SqliteStore.open(location, FIELDS);
  await store.write((tx) => {
    tx.insert('/ppp/secret', { name: 'alice', password: 'pw-alice-51f0' });
    tx.insert('/ppp/secret', { name: 'bob' });
    tx.insert('/other', { password: 'not-declared-9a' });
  });
  const disk = onDisk(dbPath);
  assert.ok(!disk.includes('pw-alice-51f0'), 'the WAL holds no open value');
  assert.ok(disk.includes('alice') && disk.includes('not-declared-9a'));
  assert.deepEqual(await store.read((tx) => tx.findBy('/ppp/secret', 'password', 'pw-alice-51f0').map((r) => r.data.name)), ['alice']);
  store.close();
  assert.ok(!onDisk(dbPath).includes('pw-alice-51f0'), 'the database holds no open value');
  const raw = new Database(dbPath, { readonly: true });
  const stored = JSON.parse(raw.prepare("SELECT data FROM rows WHERE menu = '/ppp/secret' AND id = 1").pluck().get() as string);
  raw.close();
  assert.equal(typeof stored.password.$sealed, 'string');
  // Another process's store (no list of fields, as `store copy`) reads it open too.
  for (const fields of [FIELDS, undefined]) {
    const fresh = SqliteStore.open(location, fields);
    assert.deepEqual(await fresh.read((tx) => tx.list('/ppp/secret').map((r) => r.data)), [{ name: 'alice', password: 'pw-alice-51f0' }, { name: 'bob' }]);
    fresh.close();
  }
  // With another secret the value does not open.
  assert.throws(() => { const s = SqliteStore.open({ dbPath, secret: randomBytes(32) }); try { s.view().list('/ppp/secret'); } finally { s.close(); } },
    /the sealed password of \/ppp\/secret \*1 cannot be opened/);
});

test('values written before the field was sealed are sealed on opening, with no old copy left in the file', async (t) => {
  const dbPath = path.join(tempDir(t), 'rospki.db');
  const location = { dbPath, secret: randomBytes(32) };
  const old = SqliteStore.open(location); // as an older rospki: nothing sealed
  await old.write((tx) => {
    tx.insert('/ppp/secret', { name: 'alice', password: 'pw-old-alice-77' });
    const gone = tx.insert('/ppp/secret', { name: 'gone', password: 'pw-old-gone-88' });
    for (let i = 0; i < 200; i++) tx.insert('/filler', { text: 'x'.repeat(500) });
    tx.remove('/ppp/secret', gone);
  });
  old.close();
  assert.ok(onDisk(dbPath).includes('pw-old-alice-77') && onDisk(dbPath).includes('pw-old-gone-88'), 'the test starts from open values, a removed one in free space');
  const store = SqliteStore.open(location, FIELDS);
  assert.ok(!onDisk(dbPath).includes('pw-old-alice-77'), 'the value is sealed');
  assert.ok(!onDisk(dbPath).includes('pw-old-gone-88'), 'a removed row\'s value is not left in a free page');
  assert.equal(await store.read((tx) => tx.get('/ppp/secret', 1)?.data.password), 'pw-old-alice-77');
  store.close();
  const raw = new Database(dbPath, { readonly: true });
  assert.deepEqual(raw.prepare('SELECT menu, field FROM sealed_fields').all(), [{ menu: '/ppp/secret', field: 'password' }]);
  raw.close();
});
