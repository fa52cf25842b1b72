// The PostgreSQL schema of the store (issue 17): the same model as the SQLite one (migrations.ts)
// — rows stamped with the commit version that last wrote them, tombstones of removed rows, blobs
// beside their row — plus what several instances of one CA share:
//
//  - rospki_head: one row holding the version of the last commit. A write transaction locks it
//    (SELECT … FOR UPDATE) before it reads what changed, so the writes of every instance happen
//    one after the other, each on the newest state, and versions grow in commit order (a reader
//    that has seen version v has seen every commit up to v: see postgres.ts).
//  - rospki_meta: the schema version and the seal check (a value sealed with the data
//    directory's secret when the database was created: an instance started with another
//    secret.key refuses to start instead of failing to open keys later).
//  - rospki_commits: the random token of each of the last commits, so a writer whose connection
//    broke while its COMMIT was under way can learn afterwards whether it was saved.
//  - rospki_files: the /file store of a PostgreSQL store (pg-files.ts).
//
// Tables carry the prefix rospki_ in the connection's default schema (the first of its
// search_path: a URL's `options=-c search_path=…` puts them elsewhere).

/** Append only: never edit a migration that has shipped. */
export const PG_MIGRATIONS: readonly string[] = [
  // 1: the store.
  `CREATE TABLE rospki_head (
     one boolean PRIMARY KEY DEFAULT true CHECK (one),
     version bigint NOT NULL);
   INSERT INTO rospki_head (version) VALUES (0);
   CREATE TABLE rospki_rows (
     menu text NOT NULL, id bigint NOT NULL, version bigint NOT NULL, data text NOT NULL,
     PRIMARY KEY (menu, id));
   CREATE INDEX rospki_rows_version ON rospki_rows (version);
   CREATE TABLE rospki_tombstones (
     menu text NOT NULL, id bigint NOT NULL, version bigint NOT NULL,
     PRIMARY KEY (menu, id));
   CREATE INDEX rospki_tombstones_version ON rospki_tombstones (version);
   CREATE TABLE rospki_blobs (
     menu text NOT NULL, id bigint NOT NULL, name text NOT NULL, value bytea NOT NULL,
     PRIMARY KEY (menu, id, name),
     FOREIGN KEY (menu, id) REFERENCES rospki_rows (menu, id) ON DELETE CASCADE);
   CREATE TABLE rospki_commits (
     version bigint PRIMARY KEY, token bytea NOT NULL);
   CREATE TABLE rospki_files (
     name text PRIMARY KEY,
     directory boolean NOT NULL,
     data bytea,
     mtime bigint NOT NULL);`,
  // 2: which sealed fields (sealed-values.ts) have had the values stored before them sealed
  // (postgres.ts sealOpenValues): each field once, also one declared sensitive later.
  `CREATE TABLE rospki_sealed_fields (
     menu text NOT NULL, field text NOT NULL,
     PRIMARY KEY (menu, field));`,
  // 3: the head moves one version at a time, or the batch fails (postgres.ts SQL.apply). A batch
  // of the sole writer is sent without locking the head first (postgres-writers.ts): should
  // another instance have committed meanwhile after all, the transaction ends in a serialization
  // failure instead of writing over it.
  `CREATE FUNCTION rospki_advance_head(next bigint) RETURNS void LANGUAGE plpgsql AS $$
   BEGIN
     UPDATE rospki_head SET version = next WHERE version = next - 1;
     IF NOT FOUND THEN
       RAISE EXCEPTION 'another instance wrote to the database meanwhile' USING ERRCODE = 'serialization_failure';
     END IF;
   END $$;`,
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** The advisory lock class of every lock rospki takes (pg_advisory_lock(class, key)). */
export const LOCK_CLASS = 0x726f73; // 'ros'
/** Key of the lock that serialises migrations (taken per transaction). */
export const MIGRATION_LOCK = 0;
/** Key of the writers' lock: held shared by each writing instance, exclusively by a sole one (postgres-writers.ts). */
export const WRITERS_LOCK = 1;

/** The meta table exists before any migration: it records which ones ran. */
export const META_TABLE = `CREATE TABLE IF NOT EXISTS rospki_meta (key text PRIMARY KEY, value text NOT NULL)`;
