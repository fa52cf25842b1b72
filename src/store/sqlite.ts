// The embedded SQLite backend of the Store (store.ts).
//
// Every row carries the global commit version that last wrote it; removals leave a tombstone
// with their version. A transaction that finds the database's version above the one its cache
// reflects reads only what changed since (rows and tombstones with a higher version), so the
// cache follows other processes cheaply. Writes go to SQLite as they happen, inside a
// BEGIN IMMEDIATE transaction that holds the database's one write lock; the cache changes are
// journaled so a throw can undo them exactly.

import Database from 'better-sqlite3';
import { MenuRows, normalizeData, rowFromJson } from './cache.js';
import { migrate } from './migrations.js';
import { Sealer } from './seal.js';
import type { ReadTx, RowData, Store, StoredRow, WriteTx } from './store.js';

/** Where a store lives; a DataDir (datadir.ts) is one. */
export interface StoreLocation {
  readonly dbPath: string;
  readonly secret: Buffer;
}

type Statement = Database.Statement<unknown[]>;

/** Every statement the store runs, prepared once. */
function prepareStatements(db: Database.Database) {
  const p = (sql: string): Statement => db.prepare(sql);
  return {
    beginWrite: p('BEGIN IMMEDIATE'),
    beginRead: p('BEGIN'),
    commit: p('COMMIT'),
    rollback: p('ROLLBACK'),
    savepoint: p('SAVEPOINT command'),
    release: p('RELEASE command'),
    rollbackTo: p('ROLLBACK TO command'),
    version: p(`SELECT max((SELECT coalesce(max(version), 0) FROM rows),
                           (SELECT coalesce(max(version), 0) FROM tombstones))`).pluck(),
    loadMenu: p('SELECT id, data FROM rows WHERE menu = ? ORDER BY id'),
    changedRows: p('SELECT menu, id, data FROM rows WHERE version > ? ORDER BY menu, id'),
    changedTombstones: p('SELECT menu, id FROM tombstones WHERE version > ?'),
    insertRow: p('INSERT INTO rows (menu, id, version, data) VALUES (?, ?, ?, ?)'),
    updateRow: p('UPDATE rows SET version = ?, data = ? WHERE menu = ? AND id = ?'),
    deleteRow: p('DELETE FROM rows WHERE menu = ? AND id = ?'), // blobs go by ON DELETE CASCADE
    insertTombstone: p('INSERT OR REPLACE INTO tombstones (menu, id, version) VALUES (?, ?, ?)'),
    lastId: p(`SELECT max((SELECT coalesce(max(id), 0) FROM rows WHERE menu = ?),
                          (SELECT coalesce(max(id), 0) FROM tombstones WHERE menu = ?))`).pluck(),
    getBlob: p('SELECT value FROM blobs WHERE menu = ? AND id = ? AND name = ?').pluck(),
    setBlob: p('INSERT INTO blobs (menu, id, name, value) VALUES (?, ?, ?, ?) ON CONFLICT (menu, id, name) DO UPDATE SET value = excluded.value'),
    deleteBlob: p('DELETE FROM blobs WHERE menu = ? AND id = ? AND name = ?'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** The connection and the cache; shared by the store and its transactions. */
class Core {
  readonly sql: Statements;
  /** Menus touched so far; a menu is loaded the first time a transaction touches it. */
  private readonly menus = new Map<string, MenuRows>();
  /** The commit version the cache reflects. */
  seen: number;

  constructor(readonly db: Database.Database) {
    this.sql = prepareStatements(db);
    this.seen = this.sql.version.get() as number;
  }

  /** Must run inside a transaction, so the loaded rows belong to the version `seen`. */
  menu(name: string): MenuRows {
    let rows = this.menus.get(name);
    if (!rows) {
      rows = new MenuRows();
      for (const r of this.sql.loadMenu.iterate(name) as Iterable<{ id: number; data: string }>) {
        rows.put(rowFromJson(r.id, r.data));
      }
      this.menus.set(name, rows);
    }
    return rows;
  }

  /** Brings the cache up to the database's version. Must run inside a transaction. */
  refresh(): void {
    const version = this.sql.version.get() as number;
    if (version === this.seen) return;
    if (version < this.seen) this.menus.clear(); // database replaced by an older copy: start over
    else this.applyChangesSince(this.seen);
    this.seen = version;
  }

  private applyChangesSince(seen: number): void {
    // Menus not loaded yet are skipped: they will be read whole when first touched.
    for (const r of this.sql.changedRows.iterate(seen) as Iterable<{ menu: string; id: number; data: string }>) {
      this.menus.get(r.menu)?.put(rowFromJson(r.id, r.data));
    }
    for (const r of this.sql.changedTombstones.iterate(seen) as Iterable<{ menu: string; id: number }>) {
      this.menus.get(r.menu)?.delete(r.id);
    }
  }
}

/** What a row looked like before a transaction changed it, for undo. */
interface Undo {
  rows: MenuRows;
  id: number;
  before: StoredRow | undefined;
}

const hexId = (id: number) => `*${id.toString(16).toUpperCase()}`;

/** One transaction's view; read-only when version is 0. Dead once its transaction ends. */
class Tx implements WriteTx {
  private readonly undo: Undo[] = [];
  private readonly nextIds = new Map<string, number>();
  private live = true;
  /** Whether a row or tombstone carries this transaction's version (blobs do not). */
  stamped = false;

  /** version: the commit version this write transaction stamps on what it writes. */
  constructor(private readonly core: Core, readonly version: number) {}

  list(menu: string): readonly StoredRow[] {
    return this.rows(menu).list();
  }

  get(menu: string, id: number): StoredRow | undefined {
    return this.rows(menu).get(id);
  }

  findBy(menu: string, field: string, value: unknown): readonly StoredRow[] {
    return this.rows(menu).findBy(field, value);
  }

  getBlob(menu: string, id: number, name: string): Buffer | undefined {
    this.check();
    return this.core.sql.getBlob.get(menu, id, name) as Buffer | undefined;
  }

  insert(menu: string, data: RowData): number {
    const rows = this.rowsToWrite(menu);
    const row = normalizeData(data);
    const id = this.allocateId(menu);
    this.core.sql.insertRow.run(menu, id, this.version, row.json);
    this.change(rows, Object.freeze({ id, data: row.data }));
    return id;
  }

  update(menu: string, id: number, data: RowData): void {
    const rows = this.rowsToWrite(menu);
    this.existing(menu, rows, id);
    const row = normalizeData(data);
    this.core.sql.updateRow.run(this.version, row.json, menu, id);
    this.change(rows, Object.freeze({ id, data: row.data }));
  }

  remove(menu: string, id: number): void {
    const rows = this.rowsToWrite(menu);
    this.existing(menu, rows, id);
    this.core.sql.deleteRow.run(menu, id);
    this.core.sql.insertTombstone.run(menu, id, this.version);
    this.undo.push({ rows, id, before: rows.get(id) });
    rows.delete(id);
    this.stamped = true;
  }

  setBlob(menu: string, id: number, name: string, value: Buffer | undefined): void {
    this.existing(menu, this.rowsToWrite(menu), id);
    // Blobs are not cached: SQLite's own rollback is all the undo they need.
    if (value === undefined) this.core.sql.deleteBlob.run(menu, id, name);
    else this.core.sql.setBlob.run(menu, id, name, value);
  }

  /** After a throw: puts the cache back as it was before this transaction. */
  rollback(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) {
      const { rows, id, before } = this.undo[i];
      if (before) rows.put(before);
      else rows.delete(id);
    }
    this.live = false;
  }

  end(): void {
    this.live = false;
  }

  private change(rows: MenuRows, row: StoredRow): void {
    this.undo.push({ rows, id: row.id, before: rows.get(row.id) });
    rows.put(row);
    this.stamped = true;
  }

  private allocateId(menu: string): number {
    const id = this.nextIds.get(menu) ?? (this.core.sql.lastId.get(menu, menu) as number) + 1;
    this.nextIds.set(menu, id + 1);
    return id;
  }

  private existing(menu: string, rows: MenuRows, id: number): void {
    if (!rows.get(id)) throw new Error(`store: ${menu} has no row ${hexId(id)}`);
  }

  private rows(menu: string): MenuRows {
    this.check();
    return this.core.menu(menu);
  }

  private rowsToWrite(menu: string): MenuRows {
    if (this.version === 0) throw new Error('store: cannot change rows in a read transaction');
    return this.rows(menu);
  }

  private check(): void {
    if (!this.live) throw new Error('store: transaction is over (tx used outside its read()/write() callback)');
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

function rejectAsync(result: unknown, verb: string): void {
  if (!isThenable(result)) return;
  Promise.resolve(result).catch(() => {}); // its failure is moot: we fail the transaction here
  throw new Error(`store.${verb}(): the callback must be synchronous (it returned a Promise)`);
}

/** Commit a batch of writes after at most this long (group commit; see write()). */
const FLUSH_AFTER_MS = 2;
/** …or once this many commands wrote in it. */
const FLUSH_AFTER_WRITES = 500;

/** Stores open in this process by database path: one must flush before another takes the lock. */
const openStores = new Map<string, Set<SqliteStore>>();

interface Batch {
  /** The commit version every write of the batch stamps. */
  readonly version: number;
  /** Finished transactions, for undo should the final COMMIT fail. */
  readonly txs: Tx[];
  timer: NodeJS.Timeout;
}

export class SqliteStore implements Store {
  private readonly core: Core;
  private readonly sealer: Sealer;
  private readonly path: string;
  private busy = false;
  private closed = false;
  private batch: Batch | undefined;
  private readonly listeners = new Set<() => void>();
  private notifyQueued = false;

  /** Opens (creating and migrating as needed) the database of a data directory. */
  static open(where: StoreLocation): SqliteStore {
    const db = new Database(process.env.ROSPKI_MEMDB ? ':memory:' : where.dbPath, { timeout: 10_000 });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL'); // WAL + NORMAL: durable across crashes of the process, not of the OS
      db.pragma('foreign_keys = ON');
      // Savepoint (statement) journals in memory: as temp files they cost system calls per command.
      db.pragma('temp_store = MEMORY');
      migrate(db);
      return new SqliteStore(db, where.secret, where.dbPath);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private constructor(db: Database.Database, secret: Buffer, dbPath: string) {
    this.core = new Core(db);
    this.sealer = new Sealer(secret);
    this.path = dbPath;
    const peers = openStores.get(dbPath) ?? new Set();
    peers.add(this);
    openStores.set(dbPath, peers);
  }

  read<T>(fn: (tx: ReadTx) => T): Promise<T> {
    this.enter();
    try {
      return Promise.resolve(this.runRead(fn));
    } catch (e) {
      return Promise.reject(e);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Each call is atomic on its own (a SAVEPOINT inside the batch). Writes that follow each
   * other within FLUSH_AFTER_MS share one COMMIT (group commit): the per-commit page writes
   * dominate the cost of a command on this hardware. The returned promise resolves when the
   * write is applied and visible in this process; other processes see it after the batch
   * commits, at most FLUSH_AFTER_MS later (close() and flush() commit at once).
   */
  write<T>(fn: (tx: WriteTx) => T): Promise<T> {
    this.enter();
    try {
      return Promise.resolve(this.runWrite(fn, () => this.changed()));
    } catch (e) {
      return Promise.reject(e);
    } finally {
      this.busy = false;
    }
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  private changed(): void {
    if (this.notifyQueued || this.listeners.size === 0) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      for (const listener of [...this.listeners]) {
        try { listener(); } catch (e) { process.emitWarning(`rospki store: change listener failed: ${(e as Error).message}`); }
      }
    });
  }

  view(): ReadTx {
    if (this.closed) throw new Error('store: the store is closed');
    // A read-only Tx that is never ended: it reads the cache (and loads a menu on first use).
    return new Tx(this.core, 0);
  }

  seal(plain: Buffer): Buffer {
    return this.sealer.seal(plain);
  }

  unseal(sealed: Buffer): Buffer {
    return this.sealer.unseal(sealed);
  }

  /** Commits the pending batch now. */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    clearTimeout(batch.timer);
    const { core } = this;
    try {
      core.sql.commit.run();
      if (batch.txs.some((tx) => tx.stamped)) core.seen = batch.version;
    } catch (e) {
      // The batch is lost as a whole (disk full, I/O error): put the cache back to match.
      for (let i = batch.txs.length - 1; i >= 0; i--) batch.txs[i]!.rollback();
      if (core.db.inTransaction) core.sql.rollback.run();
      process.emitWarning(`rospki store: commit failed, ${batch.txs.length} change(s) lost: ${(e as Error).message}`);
    }
  }

  close(): void {
    if (this.busy) throw new Error('store: close() called inside a transaction');
    if (this.closed) return;
    this.flush();
    this.closed = true;
    openStores.get(this.path)?.delete(this);
    this.core.db.close();
  }

  /**
   * Throws synchronously (not as a rejected Promise) when called from inside a transaction's
   * callback: the error must unwind through that callback and abort the outer transaction.
   */
  private enter(): void {
    if (this.closed) throw new Error('store: the store is closed');
    if (this.busy) throw new Error('store: read()/write() called inside another transaction of the same store');
    this.busy = true;
  }

  private runRead<T>(fn: (tx: ReadTx) => T): T {
    const { core } = this;
    // Inside an open batch this connection holds the write lock: nothing newer exists.
    const own = !this.batch;
    // Another store of this process on the same file may hold uncommitted writes: commit them.
    if (own) for (const peer of openStores.get(this.path) ?? []) if (peer !== this) peer.flush();
    // A read transaction pins one snapshot, so menus loaded lazily by fn match the refresh.
    if (own) core.sql.beginRead.run();
    const tx = new Tx(core, 0);
    try {
      if (own) core.refresh();
      const result = fn(tx);
      rejectAsync(result, 'read');
      return result;
    } finally {
      tx.end();
      if (own && core.db.inTransaction) core.sql.commit.run();
    }
  }

  private beginBatch(): Batch {
    const { core } = this;
    // Another store of this process on the same file would make BEGIN IMMEDIATE wait for a
    // lock that only this (blocked) thread could release.
    for (const peer of openStores.get(this.path) ?? []) if (peer !== this) peer.flush();
    core.sql.beginWrite.run(); // waits (busy_timeout) while another process writes
    try {
      core.refresh();
    } catch (e) {
      core.sql.rollback.run();
      throw e;
    }
    const timer = setTimeout(() => this.flush(), FLUSH_AFTER_MS);
    return (this.batch = { version: core.seen + 1, txs: [], timer });
  }

  private runWrite<T>(fn: (tx: WriteTx) => T, onStamped?: () => void): T {
    const { core } = this;
    const batch = this.batch ?? this.beginBatch();
    core.sql.savepoint.run();
    const tx = new Tx(core, batch.version);
    try {
      const result = fn(tx);
      rejectAsync(result, 'write');
      tx.end();
      core.sql.release.run();
      batch.txs.push(tx);
      if (batch.txs.length >= FLUSH_AFTER_WRITES) this.flush();
      if (tx.stamped) onStamped?.();
      return result;
    } catch (e) {
      tx.rollback();
      if (core.db.inTransaction) {
        core.sql.rollbackTo.run();
        core.sql.release.run();
      } else {
        // SQLite already rolled the whole transaction back (I/O errors): undo the batch too.
        this.batch = undefined;
        clearTimeout(batch.timer);
        for (let i = batch.txs.length - 1; i >= 0; i--) batch.txs[i]!.rollback();
      }
      throw e;
    }
  }
}
