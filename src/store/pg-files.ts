// The /file store of a PostgreSQL store (issue 17 §1): files and folders are rows of
// rospki_files (postgres-schema.ts), so every instance of the CA sees the same /file. Names go
// through the same rule as on disk (files.ts normaliseName: no `..`, NUL, backslashes …); there
// are no symbolic links to refuse. A folder is a row of its own; writing a file makes the
// folders on its way, as on disk. Each change is one transaction, so a file appears whole or not
// at all and a rename moves a folder with everything in it at once.
//
// `space()` reports the file system of the data directory, as /disk does for SQLite (the bytes
// live in PostgreSQL, whose disk rospki does not see).

import pg from 'pg';
import { failure, noSuchItem, RosError } from '../errors.js';
import {
  CONTENTS_LIMIT, DiskFileStore, fileType, fsError, normaliseName, textContents,
  type FileEntry, type FileReader, type FileStat, type FileStore, type FileSystemSpace, type FileUpload, type FileWriter,
} from './files.js';
import { connectionLost, reasonOf, StoreUnavailable } from './postgres-link.js';

/** Component-wise order, each folder before its contents (as the disk store lists). */
function byPath(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** The folders on the way to a name: `a/b/c` → `a`, `a/b`. */
function parentsOf(name: string): string[] {
  const parts = name.split('/');
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

const parentOf = (name: string): string | undefined => (name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : undefined);

interface Row {
  name: string;
  directory: boolean;
  size: number | null;
  mtime: number;
}

export class PgFileStore implements FileStore {
  private readonly pool: pg.Pool;
  /** The data directory's file system, for space(). */
  private readonly local: DiskFileStore | undefined;

  constructor(url: string, filesDir?: string) {
    this.pool = new pg.Pool({
      connectionString: url, max: 4, application_name: 'rospki files', keepAlive: true,
      connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000, query_timeout: 60_000,
      types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text'))) as pg.CustomTypesConfig['getTypeParser'] },
    });
    // An idle connection that breaks must not end the process; the next use gets a new one.
    this.pool.on('error', () => {});
    this.local = filesDir === undefined ? undefined : new DiskFileStore(filesDir);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }

  check(name: string): string {
    return normaliseName(name);
  }

  async kind(name: string): Promise<'file' | 'directory' | undefined> {
    const clean = normaliseName(name);
    const { rows } = await this.query<{ directory: boolean }>('SELECT directory FROM rospki_files WHERE name = $1', [clean]);
    return rows[0] === undefined ? undefined : rows[0].directory ? 'directory' : 'file';
  }

  async read(name: string, limit = 64 * 1024 * 1024): Promise<Buffer> {
    const clean = normaliseName(name);
    const { rows } = await this.query<{ directory: boolean; size: number | null; data: Buffer | null }>(
      'SELECT directory, octet_length(data) AS size, CASE WHEN octet_length(data) <= $2::bigint THEN data END AS data FROM rospki_files WHERE name = $1',
      [clean, limit]);
    const row = rows[0];
    if (!row) throw noSuchItem();
    if (row.directory) throw failure(`${clean} is a directory`);
    if ((row.size ?? 0) > limit) throw failure(`${clean} is too large (${row.size} bytes, at most ${limit})`);
    return row.data ?? Buffer.alloc(0);
  }

  async text(name: string): Promise<string | undefined> {
    try {
      return textContents(await this.read(name, CONTENTS_LIMIT - 1));
    } catch {
      return undefined;
    }
  }

  async write(name: string, data: Buffer | string, mtime?: number): Promise<string> {
    const clean = normaliseName(name);
    await this.put(clean, Buffer.isBuffer(data) ? data : Buffer.from(data), mtime ?? Date.now());
    return clean;
  }

  async writer(name: string, limit = Number.MAX_SAFE_INTEGER): Promise<FileWriter> {
    const clean = normaliseName(name);
    if (await this.kind(clean) === 'directory') throw failure(`${clean} is a directory`);
    // Held in memory until commit: one row is written whole (uploads are bounded by their limit).
    const chunks: Buffer[] = [];
    let bytes = 0;
    let open = true;
    return {
      get bytes() { return bytes; },
      write: async (chunk) => {
        if (!open) throw failure(`${clean}: the file is closed`);
        if (bytes + chunk.length > limit) { open = false; chunks.length = 0; throw failure(`${clean} is too large (at most ${limit} bytes)`); }
        chunks.push(Buffer.from(chunk));
        bytes += chunk.length;
      },
      commit: async (mtime) => {
        if (!open) throw failure(`${clean}: the file is closed`);
        open = false;
        await this.put(clean, Buffer.concat(chunks), mtime ?? Date.now());
        return clean;
      },
      abort: async () => { open = false; chunks.length = 0; },
    };
  }

  async mkdir(name: string, mtime?: number): Promise<string> {
    const clean = normaliseName(name);
    await this.transaction(async (c) => {
      await this.makeFolders(c, [...parentsOf(clean), clean], clean, mtime ?? Date.now());
    });
    return clean;
  }

  /** Removes files or folders in one transaction: all or none. */
  async remove(names: readonly string[], mtime?: number): Promise<void> {
    const clean = names.map(normaliseName);
    await this.transaction(async (c) => {
      for (const name of clean) {
        await c.query('DELETE FROM rospki_files WHERE name = $1 OR starts_with(name, $2)', [name, `${name}/`]);
        if (mtime !== undefined) await this.touchFolders(c, name, mtime);
      }
    });
  }

  async rename(from: string, to: string, mtime?: number): Promise<string> {
    const a = normaliseName(from);
    const b = normaliseName(to);
    if (a === b) return b;
    if (b.startsWith(`${a}/`)) throw failure('a folder can not be moved into itself');
    await this.transaction(async (c) => {
      const found = await c.query('SELECT name FROM rospki_files WHERE name = $1 OR name = $2 FOR UPDATE', [a, b]);
      const names = new Set(found.rows.map((r: { name: string }) => r.name));
      if (!names.has(a)) throw noSuchItem();
      if (names.has(b)) throw failure(`${b} already exists`);
      const when = mtime ?? Date.now();
      await this.makeFolders(c, parentsOf(b), b, when);
      await c.query(
        `UPDATE rospki_files SET name = $2 || substr(name, length($1) + 1) WHERE name = $1 OR starts_with(name, $1 || '/')`, [a, b]);
      if (mtime !== undefined) {
        await this.touchFolders(c, a, mtime);
        await this.touchFolders(c, b, mtime);
      }
    });
    return b;
  }

  async list(): Promise<FileEntry[]> {
    const { rows } = await this.query<Row>('SELECT name, directory, octet_length(data) AS size, mtime FROM rospki_files');
    return rows.sort((x, y) => byPath(x.name, y.name)).map((r) => (r.directory
      ? { name: r.name, type: 'directory', mtime: r.mtime }
      : { name: r.name, type: fileType(r.name, false), size: r.size ?? 0, mtime: r.mtime }));
  }

  async match(input: string, argName = 'file-name'): Promise<string> {
    const clean = normaliseName(input);
    const { rows } = await this.query<{ name: string }>(
      'SELECT name FROM rospki_files WHERE NOT directory AND starts_with(name, $1) ORDER BY name LIMIT 2', [clean]);
    if (rows.some((r) => r.name === clean)) return clean;
    if (rows.length === 1) return rows[0]!.name;
    if (rows.length > 1) throw new RosError('argument', `ambiguous value of ${argName}, more than one possible value matches input`);
    throw new RosError('argument', `input does not match any value of ${argName}`);
  }

  async space(): Promise<FileSystemSpace | undefined> {
    return this.local?.space();
  }

  async stat(name: string): Promise<FileStat | undefined> {
    if (name === '') {
      const { rows } = await this.query<{ mtime: number | null }>('SELECT max(mtime) AS mtime FROM rospki_files');
      return { kind: 'directory', size: 0, mtime: rows[0]?.mtime ?? 0 };
    }
    const { rows } = await this.query<Row>('SELECT name, directory, octet_length(data) AS size, mtime FROM rospki_files WHERE name = $1', [normaliseName(name)]);
    return rows[0] && statOf(rows[0]);
  }

  async readdir(folder: string): Promise<{ name: string; stat: FileStat }[]> {
    const prefix = folder === '' ? '' : `${normaliseName(folder)}/`;
    if (prefix) {
      const kind = await this.kind(folder);
      if (kind === undefined) throw fsError('ENOENT');
      if (kind === 'file') throw fsError('ENOTDIR');
    }
    const { rows } = await this.query<Row>(
      `SELECT name, directory, octet_length(data) AS size, mtime FROM rospki_files
       WHERE starts_with(name, $1) AND strpos(substr(name, length($1) + 1), '/') = 0`, [prefix]);
    return rows.map((r) => ({ name: r.name.slice(prefix.length), stat: statOf(r) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async openRead(name: string): Promise<FileReader> {
    const clean = normaliseName(name);
    const { rows } = await this.query<{ directory: boolean; data: Buffer | null; mtime: number }>(
      'SELECT directory, data, mtime FROM rospki_files WHERE name = $1', [clean]);
    const row = rows[0];
    if (!row) throw fsError('ENOENT');
    if (row.directory) throw fsError('EISDIR');
    const data = row.data ?? Buffer.alloc(0);
    return {
      size: data.length, mtime: row.mtime,
      read: async (offset, length) => data.subarray(Math.min(offset, data.length), Math.min(offset + length, data.length)),
      close: async () => {},
    };
  }

  async upload(name: string, limit: number, keep = false): Promise<FileUpload> {
    const clean = normaliseName(name);
    const { rows } = await this.query<{ directory: boolean; size: number | null; data: Buffer | null }>(
      'SELECT directory, octet_length(data) AS size, CASE WHEN $2 AND octet_length(data) <= $3 THEN data END AS data FROM rospki_files WHERE name = $1',
      [clean, keep, limit]);
    const existing = rows[0];
    if (existing?.directory) throw fsError('EISDIR', 'is a directory');
    if (keep && existing && (existing.size ?? 0) > limit) throw fsError('EFBIG');
    return new MemoryUpload(clean, limit, keep && existing?.data ? Buffer.from(existing.data) : Buffer.alloc(0),
      (data, mtime) => this.put(clean, data, mtime));
  }

  async unlink(name: string): Promise<void> {
    const clean = normaliseName(name);
    const { rowCount } = await this.query('DELETE FROM rospki_files WHERE name = $1 AND NOT directory', [clean]);
    if (rowCount === 0) throw fsError(await this.kind(clean) ? 'EISDIR' : 'ENOENT');
  }

  async rmdir(name: string): Promise<void> {
    const clean = normaliseName(name);
    await this.transaction(async (c) => {
      const { rows } = await c.query<{ directory: boolean }>('SELECT directory FROM rospki_files WHERE name = $1 FOR UPDATE', [clean]);
      if (!rows[0]) throw fsError('ENOENT');
      if (!rows[0].directory) throw fsError('ENOTDIR');
      const inside = await c.query('SELECT 1 FROM rospki_files WHERE starts_with(name, $1) LIMIT 1', [`${clean}/`]);
      if (inside.rowCount) throw fsError('ENOTEMPTY');
      await c.query('DELETE FROM rospki_files WHERE name = $1', [clean]);
    });
  }

  async mkdirOne(name: string, mtime?: number): Promise<void> {
    const clean = normaliseName(name);
    const parent = parentOf(clean);
    const when = mtime ?? Date.now();
    await this.transaction(async (c) => {
      if (parent !== undefined) {
        const { rows } = await c.query<{ directory: boolean }>('SELECT directory FROM rospki_files WHERE name = $1 FOR SHARE', [parent]);
        if (!rows[0]) throw fsError('ENOENT');
        if (!rows[0].directory) throw fsError('ENOTDIR');
      }
      const { rowCount } = await c.query(
        'INSERT INTO rospki_files (name, directory, data, mtime) VALUES ($1, true, NULL, $2) ON CONFLICT (name) DO NOTHING', [clean, when]);
      if (rowCount === 0) throw fsError('EEXIST');
      await this.touchFolders(c, clean, when);
    });
  }

  async touch(name: string, mtime: number): Promise<void> {
    if (name === '') return;
    const clean = normaliseName(name);
    await this.query('UPDATE rospki_files SET mtime = $2 WHERE name = ANY($1)', [[...parentsOf(clean), clean], mtime]);
  }

  /** Writes a file whole, with the folders on its way. */
  private async put(name: string, data: Buffer, mtime: number): Promise<void> {
    await this.transaction(async (c) => {
      await this.makeFolders(c, parentsOf(name), name, mtime);
      const { rows } = await c.query<{ directory: boolean }>('SELECT directory FROM rospki_files WHERE name = $1 FOR UPDATE', [name]);
      if (rows[0]?.directory) throw failure(`${name} is a directory`);
      await c.query(
        `INSERT INTO rospki_files (name, directory, data, mtime) VALUES ($1, false, $2, $3)
         ON CONFLICT (name) DO UPDATE SET data = excluded.data, mtime = excluded.mtime`, [name, data, mtime]);
      await this.touchFolders(c, name, mtime);
    });
  }

  /** Creates the folders (in order) that do not exist; a file in their place is an error. */
  private async makeFolders(c: pg.PoolClient, folders: readonly string[], name: string, mtime: number): Promise<void> {
    if (folders.length === 0) return;
    await c.query(
      'INSERT INTO rospki_files (name, directory, data, mtime) SELECT f, true, NULL, $2 FROM unnest($1::text[]) AS f ON CONFLICT (name) DO NOTHING',
      [folders, mtime]);
    const { rows } = await c.query<{ name: string }>('SELECT name FROM rospki_files WHERE name = ANY($1) AND NOT directory', [folders]);
    if (rows.length) throw failure(`${name}: a folder on the way is a file`);
  }

  /** The folders holding `name` show the time of the change (the router clock), as on disk. */
  private async touchFolders(c: pg.PoolClient, name: string, mtime: number): Promise<void> {
    const parent = parentOf(name);
    if (parent === undefined) return;
    await c.query('UPDATE rospki_files SET mtime = $2 WHERE name = ANY($1) AND directory', [[...parentsOf(parent), parent], mtime]);
  }

  private async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (e) {
      throw translate(e);
    }
  }

  private async transaction(fn: (c: pg.PoolClient) => Promise<void>): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw translate(e);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      await fn(client);
      await client.query('COMMIT');
    } catch (e) {
      broken = connectionLost(e);
      if (!broken) await client.query('ROLLBACK').catch(() => { broken = true; });
      throw translate(e);
    } finally {
      client.release(broken);
    }
  }
}

function statOf(r: Row): FileStat {
  return r.directory ? { kind: 'directory', size: 0, mtime: r.mtime } : { kind: 'file', size: r.size ?? 0, mtime: r.mtime };
}

/**
 * An upload held in memory until it is committed as one row (uploads are bounded by their limit,
 * 64 MiB for the file transfers): writes may come at any offset, the gaps read as zeros.
 */
class MemoryUpload implements FileUpload {
  private length: number;
  private broken: unknown;
  private done = false;

  constructor(readonly name: string, private readonly limit: number, private data: Buffer,
    private readonly save: (data: Buffer, mtime: number) => Promise<void>) {
    this.length = data.length;
  }

  async write(chunk: Uint8Array, offset: number): Promise<void> {
    this.usable();
    if (offset + chunk.length > this.limit) this.fail(fsError('EFBIG'));
    this.grow(offset + chunk.length);
    this.data.set(chunk, offset);
    this.length = Math.max(this.length, offset + chunk.length);
  }

  async truncate(length: number): Promise<void> {
    this.usable();
    if (length > this.limit) this.fail(fsError('EFBIG'));
    this.grow(length);
    if (length > this.length) this.data.fill(0, this.length, length);
    this.length = length;
  }

  size(): number {
    return this.length;
  }

  async commit(mtime: number): Promise<void> {
    if (this.broken !== undefined) { await this.abort(); throw this.broken; }
    if (this.done) throw fsError('EBADF');
    this.done = true;
    const data = Buffer.from(this.data.subarray(0, this.length));
    this.data = Buffer.alloc(0);
    await this.save(data, mtime);
  }

  async abort(): Promise<void> {
    this.done = true;
    this.data = Buffer.alloc(0);
  }

  private usable(): void {
    if (this.broken !== undefined) throw this.broken;
    if (this.done) throw fsError('EBADF');
  }

  private fail(e: Error): never {
    this.broken = e;
    this.data = Buffer.alloc(0);
    throw e;
  }

  private grow(size: number): void {
    if (size <= this.data.length) return;
    const next = Buffer.alloc(Math.min(this.limit, Math.max(size, this.data.length * 2, 64 * 1024)));
    this.data.copy(next, 0, 0, this.length);
    this.data = next;
  }
}

/** RosErrors and file-system-like failures stay; the database's failures say what happened, never more. */
function translate(e: unknown): Error {
  if (e instanceof RosError) return e;
  if ((e as { fileStore?: boolean } | undefined)?.fileStore) return e as Error;
  if (connectionLost(e)) return new StoreUnavailable(reasonOf(e));
  return failure(`file operation failed: ${reasonOf(e)}`);
}
