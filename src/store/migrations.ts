// Versioned schema. PRAGMA user_version records how many migrations a database has had;
// opening runs the missing ones in order, all in one transaction.

import type Database from 'better-sqlite3';

export type Migration = (db: Database.Database) => void;

/** Append only: never edit a migration that has shipped. */
export const migrations: readonly Migration[] = [
  // 1: rows stamped with the commit version that last wrote them (for incremental cache
  // refresh), tombstones of removed rows, blobs beside their row.
  //
  // Per-commit cost is dominated by the pages a commit writes, so nothing else is written per
  // commit: the global commit version is max(version) over rows and tombstones, and a menu's
  // next id is max(id) over its rows and tombstones + 1 (ids are never reused, so tombstones
  // are kept for good; they are 3 small columns). rows keeps its rowid: a certificate row is
  // about 1 KB of JSON, which a WITHOUT ROWID table spills into overflow pages (5× slower
  // inserts, measured).
  (db) => db.exec(`
    CREATE TABLE rows (
      menu TEXT NOT NULL, id INTEGER NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL,
      PRIMARY KEY (menu, id));
    CREATE INDEX rows_version ON rows (version);
    CREATE TABLE tombstones (
      menu TEXT NOT NULL, id INTEGER NOT NULL, version INTEGER NOT NULL,
      PRIMARY KEY (menu, id)) WITHOUT ROWID;
    CREATE INDEX tombstones_version ON tombstones (version);
    CREATE TABLE blobs (
      menu TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,
      PRIMARY KEY (menu, id, name),
      FOREIGN KEY (menu, id) REFERENCES rows (menu, id) ON DELETE CASCADE);
  `),
  // 2: which sealed fields (sealed-values.ts) have had the values stored before them sealed
  // (sqlite.ts sealOpenValues): each field once, also one declared sensitive later.
  (db) => db.exec(`
    CREATE TABLE sealed_fields (
      menu TEXT NOT NULL, field TEXT NOT NULL,
      PRIMARY KEY (menu, field)) WITHOUT ROWID;
  `),
];

export const SCHEMA_VERSION = migrations.length;

export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Brings the database to the latest schema; refuses one written by a newer rospki. */
export function migrate(db: Database.Database, list: readonly Migration[] = migrations): void {
  if (checkVersion(db, list) === list.length) return;
  db.transaction(() => {
    // Read again under the write lock: another process may have migrated meanwhile.
    const from = checkVersion(db, list);
    for (let v = from; v < list.length; v++) list[v](db);
    db.pragma(`user_version = ${list.length}`);
  }).immediate();
}

function checkVersion(db: Database.Database, list: readonly Migration[]): number {
  const current = schemaVersion(db);
  if (current > list.length) {
    throw new Error(`database schema version ${current} is newer than this rospki (${list.length})`);
  }
  return current;
}
