import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION, SqliteStore } from '../../src/store/index.js';
import { migrate, schemaVersion } from '../../src/store/migrations.js';
import { tempDir } from './helpers.js';

test('a fresh database gets the latest schema version', (t) => {
  const dbPath = path.join(tempDir(t), 'rospki.db');
  SqliteStore.open({ dbPath, secret: randomBytes(32) }).close();
  const db = new Database(dbPath);
  t.after(() => db.close());
  assert.equal(schemaVersion(db), SCHEMA_VERSION);
  assert.ok(SCHEMA_VERSION >= 1);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
});

test('a database from a newer rospki is refused', (t) => {
  const dbPath = path.join(tempDir(t), 'rospki.db');
  const db = new Database(dbPath);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  assert.throws(
    () => SqliteStore.open({ dbPath, secret: randomBytes(32) }),
    { message: `database schema version ${SCHEMA_VERSION + 1} is newer than this rospki (${SCHEMA_VERSION})` },
  );
});

test('migrations run in order, only the missing ones, all or nothing', (t) => {
  const db = new Database(':memory:');
  t.after(() => db.close());
  const ran: number[] = [];
  const list = [
    (d: Database.Database) => { ran.push(1); d.exec('CREATE TABLE a (x)'); },
    (d: Database.Database) => { ran.push(2); d.exec('CREATE TABLE b (x)'); },
  ];
  migrate(db, list.slice(0, 1));
  migrate(db, list);
  assert.deepEqual(ran, [1, 2]);
  assert.equal(schemaVersion(db), 2);

  const broken = [...list, (d: Database.Database) => { d.exec('CREATE TABLE c (x)'); throw new Error('bad migration'); }];
  assert.throws(() => migrate(db, broken), /bad migration/);
  assert.equal(schemaVersion(db), 2);
  assert.equal(db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'c'`).pluck().get(), 0);
});
