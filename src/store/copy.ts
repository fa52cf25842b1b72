// `rospki store copy --from SRC --to DST` (issue 17 §4): moves a whole store between a data
// directory (SQLite) and a PostgreSQL database, in either direction, and proves that it arrived:
// every row, removed id (tombstone), blob and /file entry is read back from the target and
// compared byte for byte with the source, and every sealed key is opened with the secret on
// both sides. /log is rows like any other and travels with them.
//
// The secret does not move into PostgreSQL: it stays in the data directories (the source's, or
// the one given with --data when the source is PostgreSQL), and a target data directory gets a
// copy of it. The target must be empty, and no rospki may use either end while it runs (a
// data directory's daemon answers on its control socket; a database's instances show in
// pg_stat_activity): a copy of a store that changes under it would not be one.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openDataDir, SECRET_LENGTH } from './datadir.js';
import { DiskFileStore, type FileEntry, type FileStore } from './files.js';
import { PgFileStore } from './pg-files.js';
import { reasonOf, redactUrl } from './postgres-link.js';
import { PostgresStore } from './postgres.js';
import { Sealer } from './seal.js';
import { SqliteStore } from './sqlite.js';

export type StoreEnd = { readonly kind: 'dir'; readonly dir: string } | { readonly kind: 'postgres'; readonly url: string };

/** Everything a store holds, as copied and compared. */
interface Contents {
  rows: { menu: string; id: number; data: string }[];
  tombstones: { menu: string; id: number }[];
  blobs: { menu: string; id: number; name: string; value: Buffer }[];
  files: { entry: FileEntry; data?: Buffer }[];
}

export interface CopyReport {
  rows: number;
  menus: number;
  tombstones: number;
  blobs: number;
  /** Blobs that are sealed with the secret (private keys, SSH host keys, ACME accounts …), opened on both sides. */
  keys: number;
  files: number;
}

/** What went wrong, for the user (no passwords, no stacks). */
export class CopyError extends Error {}

export function describeEnd(end: StoreEnd): string {
  return end.kind === 'dir' ? end.dir : redactUrl(end.url);
}

/**
 * Copies `from` into the empty `to` and verifies it. `secretDir`: the data directory whose
 * secret.key seals the store (the source's when it is a data directory).
 */
export async function copyStore(from: StoreEnd, to: StoreEnd, secretDir: string, say: (line: string) => void = () => {}): Promise<CopyReport> {
  if (from.kind === 'dir' && to.kind === 'dir') throw new CopyError('copy between a data directory and a postgres:// database (one of each)');
  if (from.kind === 'postgres' && to.kind === 'postgres') throw new CopyError('copy between a data directory and a postgres:// database (one of each)');
  const secret = readSecret(from.kind === 'dir' ? from.dir : secretDir);
  const sealer = new Sealer(secret);
  for (const end of [from, to]) await refuseWhenInUse(end);

  say(`reading ${describeEnd(from)}`);
  const source = await readContents(from, secret);
  say(`writing ${describeEnd(to)}`);
  await writeContents(to, source, secret);
  say('verifying');
  const copied = await readContents(to, secret);
  const differences = compare(source, copied);
  if (differences.length) throw new CopyError(`the copy differs from the source:\n  ${differences.slice(0, 20).join('\n  ')}`);
  const keys = countKeys(source, copied, sealer);
  return {
    rows: source.rows.length, menus: new Set(source.rows.map((r) => r.menu)).size, tombstones: source.tombstones.length,
    blobs: source.blobs.length, keys, files: source.files.length,
  };
}

function readSecret(dir: string): Buffer {
  const file = path.join(path.resolve(dir), 'secret.key');
  let secret: Buffer;
  try {
    secret = fs.readFileSync(file);
  } catch {
    throw new CopyError(`${file} is missing: the secret that seals the store's keys is needed (give the data directory of an instance with --data)`);
  }
  if (secret.length !== SECRET_LENGTH) throw new CopyError(`${file} is damaged: expected ${SECRET_LENGTH} bytes, found ${secret.length}`);
  return secret;
}

async function refuseWhenInUse(end: StoreEnd): Promise<void> {
  if (end.kind === 'dir') {
    if (fs.existsSync(path.join(end.dir, 'control.sock'))) {
      // A socket file alone may be left by a killed daemon: ask whether something answers.
      const answers = await new Promise<boolean>((resolve) => {
        const s = net.connect(path.join(end.dir, 'control.sock'));
        s.once('connect', () => { s.destroy(); resolve(true); });
        s.once('error', () => resolve(false));
      });
      if (answers) throw new CopyError(`a rospki daemon runs on ${end.dir}: stop it first`);
    }
    return;
  }
  const client = await connect(end.url);
  try {
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'rospki%' AND pid <> pg_backend_pid()");
    if ((rows[0]?.n ?? 0) > 0) throw new CopyError(`rospki instances are connected to ${redactUrl(end.url)}: stop them first`);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A connection and the file store of a PostgreSQL store whose seal check `secret` passed
 * (opening the store checks it, and migrates an old schema).
 */
async function openChecked(url: string, secret: Buffer): Promise<{ client: pg.Client; files: PgFileStore }> {
  const store = await openPostgres(url, secret);
  store.close();
  await store.whenClosed();
  return { client: await connect(url), files: new PgFileStore(url) };
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'store copy' });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw new CopyError(`cannot connect to ${redactUrl(url)}: ${reasonOf(e)}`);
  }
  return client;
}

/** Reads every row, tombstone, blob and file of a store. */
async function readContents(end: StoreEnd, secret: Buffer): Promise<Contents> {
  if (end.kind === 'dir') {
    const dataDir = openDataDir(end.dir);
    // Opening migrates it and leaves it consistent (a WAL is checkpointed on close).
    SqliteStore.open(dataDir).close();
    const db = new Database(dataDir.dbPath, { readonly: true });
    try {
      return {
        rows: db.prepare('SELECT menu, id, data FROM rows').all() as Contents['rows'],
        tombstones: db.prepare('SELECT menu, id FROM tombstones').all() as Contents['tombstones'],
        blobs: db.prepare('SELECT menu, id, name, value FROM blobs').all() as Contents['blobs'],
        files: await readFiles(new DiskFileStore(dataDir.filesDir)),
      };
    } finally {
      db.close();
    }
  }
  const { client, files } = await openChecked(end.url, secret);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const types = { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text'))) as pg.CustomTypesConfig['getTypeParser'] };
    const q = <R extends pg.QueryResultRow>(text: string) => client.query<R>({ text, types });
    const contents: Contents = {
      rows: (await q<Contents['rows'][number]>('SELECT menu, id, data FROM rospki_rows')).rows,
      tombstones: (await q<Contents['tombstones'][number]>('SELECT menu, id FROM rospki_tombstones')).rows,
      blobs: (await q<Contents['blobs'][number]>('SELECT menu, id, name, value FROM rospki_blobs')).rows,
      files: await readFiles(files),
    };
    await client.query('COMMIT');
    return contents;
  } finally {
    await client.end().catch(() => {});
    await files.close();
  }
}

async function openPostgres(url: string, secret: Buffer): Promise<PostgresStore> {
  try {
    return await PostgresStore.open({ url, secret });
  } catch (e) {
    const { WrongSecret } = await import('./postgres.js');
    if (e instanceof WrongSecret) throw new CopyError(`the secret.key given is not the one ${redactUrl(url)} was sealed with`);
    throw new CopyError(`cannot open ${redactUrl(url)}: ${(e as Error).message}`);
  }
}

async function readFiles(store: FileStore): Promise<Contents['files']> {
  const out: Contents['files'] = [];
  for (const entry of await store.list()) {
    out.push(entry.type === 'directory' ? { entry } : { entry, data: await store.read(entry.name, Number.MAX_SAFE_INTEGER) });
  }
  return out;
}

/** Writes everything into an empty target. */
async function writeContents(end: StoreEnd, c: Contents, secret: Buffer): Promise<void> {
  if (end.kind === 'dir') {
    const root = path.resolve(end.dir);
    const secretFile = path.join(root, 'secret.key');
    if (fs.existsSync(secretFile) && !fs.readFileSync(secretFile).equals(secret)) {
      throw new CopyError(`${secretFile} is another secret: copy into a new data directory`);
    }
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    if (!fs.existsSync(secretFile)) fs.writeFileSync(secretFile, secret, { mode: 0o600, flag: 'wx' });
    const dataDir = openDataDir(root);
    SqliteStore.open(dataDir).close();
    const disk = new DiskFileStore(dataDir.filesDir);
    const db = new Database(dataDir.dbPath);
    try {
      const count = (t: string) => (db.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number);
      if (count('rows') + count('tombstones') > 0 || (await disk.list()).length > 0) throw new CopyError(`${root} is not empty: copy into a new data directory`);
      db.transaction(() => {
        const row = db.prepare('INSERT INTO rows (menu, id, version, data) VALUES (?, ?, 1, ?)');
        for (const r of c.rows) row.run(r.menu, r.id, r.data);
        const tomb = db.prepare('INSERT INTO tombstones (menu, id, version) VALUES (?, ?, 1)');
        for (const t of c.tombstones) tomb.run(t.menu, t.id);
        const blob = db.prepare('INSERT INTO blobs (menu, id, name, value) VALUES (?, ?, ?, ?)');
        for (const b of c.blobs) blob.run(b.menu, b.id, b.name, b.value);
      }).immediate();
    } finally {
      db.close();
    }
    await writeFiles(disk, c.files);
    return;
  }
  const { client, files } = await openChecked(end.url, secret);
  try {
    await client.query('BEGIN');
    await client.query('LOCK TABLE rospki_head IN EXCLUSIVE MODE');
    const { rows } = await client.query<{ n: number }>(
      'SELECT (SELECT count(*) FROM rospki_rows) + (SELECT count(*) FROM rospki_tombstones) + (SELECT count(*) FROM rospki_files) AS n');
    if (Number(rows[0]?.n ?? 0) > 0) throw new CopyError(`${redactUrl(end.url)} is not empty: copy into a new database`);
    const batch = 1000;
    for (let i = 0; i < c.rows.length; i += batch) {
      const part = c.rows.slice(i, i + batch);
      await client.query('INSERT INTO rospki_rows (menu, id, version, data) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])',
        [part.map((r) => r.menu), part.map((r) => r.id), part.map(() => 1), part.map((r) => r.data)]);
    }
    for (let i = 0; i < c.tombstones.length; i += batch) {
      const part = c.tombstones.slice(i, i + batch);
      await client.query('INSERT INTO rospki_tombstones (menu, id, version) SELECT m, i, 1 FROM unnest($1::text[], $2::bigint[]) AS u(m, i)',
        [part.map((r) => r.menu), part.map((r) => r.id)]);
    }
    for (let i = 0; i < c.blobs.length; i += batch / 2) {
      const part = c.blobs.slice(i, i + batch / 2);
      await client.query('INSERT INTO rospki_blobs (menu, id, name, value) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bytea[])',
        [part.map((b) => b.menu), part.map((b) => b.id), part.map((b) => b.name), part.map((b) => b.value)]);
    }
    await client.query('UPDATE rospki_head SET version = 1');
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    if (e instanceof CopyError) throw e;
    throw new CopyError(`writing ${redactUrl(end.url)} failed: ${reasonOf(e)}`);
  } finally {
    await client.end().catch(() => {});
  }
  try {
    await writeFiles(files, c.files);
  } finally {
    await files.close();
  }
}

async function writeFiles(store: FileStore, files: Contents['files']): Promise<void> {
  // Folders before their contents (list order).
  for (const f of files) {
    if (f.data === undefined) await store.mkdir(f.entry.name, f.entry.mtime);
    else await store.write(f.entry.name, f.data, f.entry.mtime);
  }
  // Writing into a folder moved its time: set each folder's again, the deepest first (touch
  // moves the folders above too, whose own turn comes later).
  const folders = files.filter((f) => f.data === undefined).sort((a, b) => b.entry.name.split('/').length - a.entry.name.split('/').length);
  for (const f of folders) await store.touch(f.entry.name, f.entry.mtime);
}

function digest(b: Buffer | undefined): string {
  return b === undefined ? '-' : createHash('sha256').update(b).digest('hex');
}

/** What differs between the source and the copy (empty: nothing). */
function compare(a: Contents, b: Contents): string[] {
  const out: string[] = [];
  const keyed = <T>(list: T[], key: (x: T) => string, value: (x: T) => string) => new Map(list.map((x) => [key(x), value(x)]));
  const check = (what: string, x: Map<string, string>, y: Map<string, string>) => {
    for (const [k, v] of x) {
      if (!y.has(k)) out.push(`${what} ${k} is missing`);
      else if (y.get(k) !== v) out.push(`${what} ${k} differs`);
    }
    for (const k of y.keys()) if (!x.has(k)) out.push(`${what} ${k} is extra`);
  };
  const rowKey = (r: { menu: string; id: number }) => `${r.menu} *${r.id.toString(16).toUpperCase()}`;
  check('row', keyed(a.rows, rowKey, (r) => r.data), keyed(b.rows, rowKey, (r) => r.data));
  check('removed id', keyed(a.tombstones, rowKey, () => ''), keyed(b.tombstones, rowKey, () => ''));
  check('blob', keyed(a.blobs, (x) => `${rowKey(x)} ${x.name}`, (x) => digest(x.value)), keyed(b.blobs, (x) => `${rowKey(x)} ${x.name}`, (x) => digest(x.value)));
  // Times to the second: a file system keeps less than milliseconds exactly.
  const fileValue = (f: Contents['files'][number]) => `${f.entry.type} ${Math.floor(f.entry.mtime / 1000)} ${digest(f.data)}`;
  check('file', keyed(a.files, (f) => f.entry.name, fileValue), keyed(b.files, (f) => f.entry.name, fileValue));
  return out;
}

/** Sealed blobs: each must open with the secret on both sides, to the same bytes. */
function countKeys(a: Contents, b: Contents, sealer: Sealer): number {
  const copied = new Map(b.blobs.map((x) => [`${x.menu}\n${x.id}\n${x.name}`, x.value]));
  let keys = 0;
  for (const x of a.blobs) {
    let plain: Buffer;
    try { plain = sealer.unseal(x.value); } catch { continue; } // not sealed (a certificate, a CRL)
    const other = copied.get(`${x.menu}\n${x.id}\n${x.name}`);
    let again: Buffer | undefined;
    try { again = other && sealer.unseal(other); } catch { again = undefined; }
    if (!again?.equals(plain)) throw new CopyError(`the sealed key ${x.menu} *${x.id.toString(16).toUpperCase()} ${x.name} does not open in the copy`);
    keys++;
  }
  return keys;
}
