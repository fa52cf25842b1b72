// The embedded SQLite backend of the Store (store.ts).
//
// Every row carries the global commit version that last wrote it; removals leave a tombstone
// with their version. A transaction that finds the database's version above the one its cache
// reflects reads only what changed since (rows and tombstones with a higher version), so the
// cache follows other processes cheaply; PRAGMA data_version tells whether another connection
// committed at all, so that query runs only then, and a read served wholly from the cache needs
// no transaction of its own (readNow). Writes go to SQLite as they happen, inside a
// BEGIN IMMEDIATE transaction that holds the database's one write lock; the cache changes are
// journaled so a throw can undo them exactly.
//
// Group commit with durable acknowledgement: the writes of one event-loop turn form a batch,
// one SQLite transaction with a savepoint per write (but the first), committed at the end of the turn
// (setImmediate). A write's promise resolves only after that COMMIT; a failed COMMIT fails every
// write of the batch and undoes them in the cache. Ways to end a batch, measured with EC P-256
// add+sign through the executor (4 concurrent loops / 1 sequential loop, certificates/s): a 2 ms
// timer 740–820 / 210 (every command waits for it), a 0 ms timer ~990, process.nextTick
// 2,400–3,650 / 1,860–2,110, setImmediate 2,890–4,120 / 2,010–2,430. A sequential client now pays
// a COMMIT per command (25–60 µs here, see checkpointer.ts), which acknowledging early hid.
//
// A read made while a batch is open does not wait for its COMMIT unless it looked at what the
// batch changed (ChangeSet, Footprint: changes.ts): concurrent commands check policies and
// arguments in reads of their own, and when each of those waited for whichever batch another
// command had just opened, the commands' writes fell into separate batches. After the COMMIT the
// batch's ChangeSet is what onChange announces.

import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import { MenuRows } from './cache.js';
import { ChangeAnnouncer, ChangeSet, Footprint } from './changes.js';
import { answerBesideBatch, type ReadOutcome, rejectAsync, runRead } from './reads.js';
import { BACKSTOP_AUTOCHECKPOINT_PAGES, Checkpointer } from './checkpointer.js';
import { migrate } from './migrations.js';
import { Sealer } from './seal.js';
import { NO_SEALED_FIELDS, RowCodec, type SealedFields } from './sealed-values.js';
import type { ReadMark, ReadTx, RowData, Store, StoredRow, WriteTx } from './store.js';

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
    // Changes whenever another connection (another process, `store copy`, another store of this
    // process) committed since this connection last looked, never for this connection's own
    // commits; read inside a transaction, it is that snapshot's (it starts the read transaction).
    dataVersion: p('PRAGMA data_version').pluck(),
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
    deleteTombstone: p('DELETE FROM tombstones WHERE menu = ? AND id = ?'),
    menus: p('SELECT DISTINCT menu FROM rows').pluck(),
    blobNames: p('SELECT name FROM blobs WHERE menu = ? AND id = ?').pluck(),
    checkpointPassive: p('PRAGMA wal_checkpoint(PASSIVE)'),
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
  /**
   * PRAGMA data_version when the cache was last brought up to date: while it reads the same, no
   * other connection committed since, and the cache holds the newest committed state. A
   * checkpoint (checkpointer.ts) changes no content and leaves it; a spurious change would only
   * cost one refresh query, a missed one cannot happen (SQLite bumps it whenever a new read
   * transaction finds the WAL index header changed, which every commit of another connection does).
   */
  private dataVersion: number;
  /**
   * How many times data_version was asked (upToDate, refresh): each answer is followed by a
   * refresh when it shows another connection's commit, so once a question asked after a
   * request's mark (SqliteStore.mark) is answered, the cache holds what was committed before it.
   */
  checks = 0;
  /**
   * The next id of each menu, once asked (then kept instead of asking the database per insert).
   * Forgotten when another process changed the database.
   */
  private readonly nextIds = new Map<string, number>();

  constructor(readonly db: Database.Database, readonly codec: RowCodec) {
    this.sql = prepareStatements(db);
    // One snapshot for both, so no commit falls between them.
    this.sql.beginRead.run();
    try {
      this.dataVersion = this.sql.dataVersion.get() as number;
      this.seen = this.sql.version.get() as number;
    } finally {
      this.sql.commit.run();
    }
  }

  /** Whether a menu's rows are in the cache (reading them needs no database access). */
  loaded(name: string): boolean {
    return this.menus.has(name);
  }

  /**
   * Outside a transaction: whether no other connection committed since the cache was last
   * brought up to date (one PRAGMA, its own short read transaction). Inside one: the same, as
   * of its snapshot.
   */
  upToDate(): boolean {
    this.checks++;
    return this.sql.dataVersion.get() === this.dataVersion;
  }

  /** Must run inside a transaction, so the loaded rows belong to the version `seen`. */
  menu(name: string): MenuRows {
    let rows = this.menus.get(name);
    if (!rows) {
      rows = new MenuRows();
      for (const r of this.sql.loadMenu.iterate(name) as Iterable<{ id: number; data: string }>) {
        rows.put(this.codec.decode(name, r.id, r.data));
      }
      this.menus.set(name, rows);
    }
    return rows;
  }

  /** A new id in `menu`. Must run inside a write transaction. */
  allocateId(menu: string): number {
    const id = this.nextIds.get(menu) ?? (this.sql.lastId.get(menu, menu) as number) + 1;
    this.nextIds.set(menu, id + 1);
    return id;
  }

  /** A row was put under `id` (Tx.put): later allocations go above it. */
  noteId(menu: string, id: number): void {
    const next = this.nextIds.get(menu);
    if (next !== undefined && next <= id) this.nextIds.set(menu, id + 1);
  }

  /** Forgets the next id of a menu: the next allocation asks the database again. */
  forgetIds(menu: string): void {
    this.nextIds.delete(menu);
  }

  /** Undoes allocations from `id` on: the next add gets the id an undone one had. */
  releaseIds(menu: string, id: number): void {
    if (this.nextIds.has(menu)) this.nextIds.set(menu, id);
  }

  /**
   * Brings the cache up to the database's version. Must run inside a transaction. Asks for the
   * version (max over rows and tombstones) only when another connection committed.
   */
  refresh(): void {
    this.checks++;
    const dataVersion = this.sql.dataVersion.get() as number;
    if (dataVersion === this.dataVersion) return;
    const version = this.sql.version.get() as number;
    if (version !== this.seen) {
      if (version < this.seen) this.menus.clear(); // database replaced by an older copy: start over
      else this.applyChangesSince(this.seen);
      this.nextIds.clear();
      this.seen = version;
    }
    this.dataVersion = dataVersion;
  }

  private applyChangesSince(seen: number): void {
    // Menus not loaded yet are skipped: they will be read whole when first touched.
    for (const r of this.sql.changedRows.iterate(seen) as Iterable<{ menu: string; id: number; data: string }>) {
      this.menus.get(r.menu)?.put(this.codec.decode(r.menu, r.id, r.data));
    }
    for (const r of this.sql.changedTombstones.iterate(seen) as Iterable<{ menu: string; id: number }>) {
      this.menus.get(r.menu)?.delete(r.id);
    }
  }
}

/** What a row looked like before a transaction changed it, for undo. */
interface Undo {
  menu: string;
  rows: MenuRows;
  id: number;
  before: StoredRow | undefined;
}

const hexId = (id: number) => `*${id.toString(16).toUpperCase()}`;

/** One transaction's view; read-only when version is 0. Dead once its transaction ends. */
class Tx implements WriteTx {
  private readonly undo: Undo[] = [];
  /** The first id this transaction took in each menu: given back when it is undone. */
  private firstIds: Map<string, number> | undefined;
  /** Menus where put() may have moved the next id: asked afresh when this is undone. */
  private putMenus: Set<string> | undefined;
  private live = true;
  /** Whether a row or tombstone carries this transaction's version (blobs do not). */
  stamped = false;
  /** Whether it changed anything at all (rows or blobs). */
  touched = false;

  /** Blobs this transaction set or deleted. */
  readonly blobsChanged: Array<readonly [string, number, string]> = [];

  /**
   * version: the commit version this write transaction stamps on what it writes; footprint:
   * where a read records what it looks at; toDatabase: called before the transaction reads the
   * database itself (a menu not in the cache yet, a blob), for a read served from the cache
   * outside a transaction (SqliteStore.readNow).
   */
  constructor(
    private readonly core: Core, readonly version: number, readonly footprint?: Footprint,
    private readonly toDatabase?: () => void,
  ) {}

  list(menu: string): readonly StoredRow[] {
    this.footprint?.list(menu);
    return this.rows(menu).list();
  }

  count(menu: string): number {
    this.footprint?.list(menu);
    return this.rows(menu).size;
  }

  get(menu: string, id: number): StoredRow | undefined {
    this.footprint?.get(menu, id);
    return this.rows(menu).get(id);
  }

  findBy(menu: string, field: string, value: unknown): readonly StoredRow[] {
    const found = this.rows(menu).findBy(field, value);
    this.footprint?.find(menu, field, value, found);
    return found;
  }

  getBlob(menu: string, id: number, name: string): Buffer | undefined {
    this.check();
    this.footprint?.blob(menu, id, name);
    this.toDatabase?.();
    return this.core.sql.getBlob.get(menu, id, name) as Buffer | undefined;
  }

  /** The row changes of this (completed) write, for its batch. */
  get journal(): readonly Undo[] {
    return this.undo;
  }

  insert(menu: string, data: RowData): number {
    const rows = this.rowsToWrite(menu);
    const row = this.core.codec.encode(menu, data);
    const id = this.core.allocateId(menu);
    this.firstIds ??= new Map();
    if (!this.firstIds.has(menu)) this.firstIds.set(menu, id);
    this.core.sql.insertRow.run(menu, id, this.version, row.json);
    this.change(menu, rows, Object.freeze({ id, data: row.data }));
    return id;
  }

  update(menu: string, id: number, data: RowData): void {
    const rows = this.rowsToWrite(menu);
    this.existing(menu, rows, id);
    const row = this.core.codec.encode(menu, data);
    this.core.sql.updateRow.run(this.version, row.json, menu, id);
    this.change(menu, rows, Object.freeze({ id, data: row.data }));
  }

  put(menu: string, id: number, data: RowData): void {
    const rows = this.rowsToWrite(menu);
    if (rows.get(id)) {
      for (const name of this.blobNames(menu, id)) this.setBlob(menu, id, name, undefined);
      this.update(menu, id, data);
      return;
    }
    if (!Number.isSafeInteger(id) || id < 1) throw new Error(`store: bad row id ${id}`);
    const row = this.core.codec.encode(menu, data);
    // The id's tombstone goes: a process catching up must not find the row and its removal
    // both newer than what it saw (the removal would win: changedTombstones runs last).
    this.core.sql.deleteTombstone.run(menu, id);
    this.core.sql.insertRow.run(menu, id, this.version, row.json);
    (this.putMenus ??= new Set()).add(menu);
    this.core.noteId(menu, id);
    this.change(menu, rows, Object.freeze({ id, data: row.data }));
  }

  blobNames(menu: string, id: number): string[] {
    this.check();
    return this.core.sql.blobNames.all(menu, id) as string[];
  }

  menus(): string[] {
    this.check();
    if (this.version === 0) throw new Error('store: menus() needs a write transaction');
    return this.core.sql.menus.all() as string[];
  }

  remove(menu: string, id: number): void {
    const rows = this.rowsToWrite(menu);
    this.existing(menu, rows, id);
    this.core.sql.deleteRow.run(menu, id);
    this.core.sql.insertTombstone.run(menu, id, this.version);
    this.undo.push({ menu, rows, id, before: rows.get(id) });
    rows.delete(id);
    this.stamped = this.touched = true;
  }

  setBlob(menu: string, id: number, name: string, value: Buffer | undefined): void {
    this.existing(menu, this.rowsToWrite(menu), id);
    this.touched = true;
    this.blobsChanged.push([menu, id, name]);
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
    for (const [menu, id] of this.firstIds ?? []) this.core.releaseIds(menu, id);
    for (const menu of this.putMenus ?? []) this.core.forgetIds(menu);
    this.live = false;
  }

  end(): void {
    this.live = false;
  }

  private change(menu: string, rows: MenuRows, row: StoredRow): void {
    this.undo.push({ menu, rows, id: row.id, before: rows.get(row.id) });
    rows.put(row);
    this.stamped = this.touched = true;
  }

  private existing(menu: string, rows: MenuRows, id: number): void {
    if (!rows.get(id)) throw new Error(`store: ${menu} has no row ${hexId(id)}`);
  }

  private rows(menu: string): MenuRows {
    this.check();
    if (this.toDatabase && !this.core.loaded(menu)) this.toDatabase();
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

/** Thrown into a read served from the cache that must start over in a transaction (readNow). */
class StaleCache extends Error {
  constructor() {
    super('store: another process committed while this read ran; it is run again');
  }
}

/** A read's answer now: its value, or what it threw, thrown. */
function unwrap<T>(outcome: ReadOutcome<T>): T {
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

/** A batch also commits at once when this many commands wrote in it (bounds its undo journal). */
const MAX_BATCH_WRITES = 500;

/** Stores open in this process by database path: one must commit before another takes the lock. */
const openStores = new Map<string, Set<SqliteStore>>();

/** A write applied inside the open batch, waiting for the batch's COMMIT to be acknowledged. */
interface PendingWrite {
  readonly tx: Tx;
  readonly acknowledge: () => void;
  readonly fail: (error: Error) => void;
}

/**
 * The writes of this process since the last COMMIT: one SQLite write transaction, each write a
 * savepoint inside it. They share one fate: all are acknowledged once the COMMIT succeeded, or
 * all fail.
 */
interface Batch {
  /** The commit version every write of the batch stamps. */
  readonly version: number;
  readonly writes: PendingWrite[];
  /** What its writes changed so far. */
  readonly changes: ChangeSet;
  /**
   * Reads made while the batch was open that saw its changes: called with true once it is
   * committed (they settle with what they read), with false when it is lost (they read again).
   */
  readonly readers: ((committed: boolean) => void)[];
  readonly commitAtEndOfTurn: NodeJS.Immediate;
}

/** Why a write was not acknowledged: the COMMIT of its batch failed. */
export class CommitError extends Error {
  constructor(override readonly cause: Error) {
    super(`the change could not be saved: ${cause.message}`);
  }
}

export class SqliteStore implements Store {
  private readonly core: Core;
  private readonly sealer: Sealer;
  /** The stores of this process open on the same file, this one included (openStores). */
  private readonly peers: Set<SqliteStore>;
  private busy = false;
  private closed = false;
  private batch: Batch | undefined;
  private readonly announcer = new ChangeAnnouncer();

  /**
   * Opens (creating and migrating as needed) the database of a data directory. The file is
   * created owner-only (0600) whatever the umask; SQLite gives its -wal and -shm files the
   * database's mode. sealedFields: the row fields sealed at rest (sealed-values.ts), from the
   * menu declarations; values written before a field was declared are sealed now.
   */
  static open(where: StoreLocation, sealedFields: SealedFields = NO_SEALED_FIELDS): SqliteStore {
    const memory = Boolean(process.env.ROSPKI_MEMDB);
    if (!memory) createPrivateFile(where.dbPath);
    const db = new Database(memory ? ':memory:' : where.dbPath, { timeout: 10_000 });
    try {
      db.pragma('journal_mode = WAL');
      // Durability: a COMMIT in WAL mode with synchronous=NORMAL has written its pages to the
      // WAL file (the operating system holds them) before it returns, so an acknowledged change
      // survives the process being killed (kill -9, a crash) but not a crash or power loss of the
      // whole machine; the WAL is fsynced at each checkpoint. synchronous=FULL (an fsync per
      // COMMIT) would survive those too, but measured here a COMMIT went from 10–50 µs to
      // 270–330 µs and sequential EC add+sign from ~2,000/s to 200–970/s: every command waits
      // for its COMMIT, so that is not affordable (docs/compatibility.md, Store).
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      // Savepoint (statement) journals in memory: as temp files they cost system calls per command.
      db.pragma('temp_store = MEMORY');
      migrate(db);
      const codec = new RowCodec(new Sealer(where.secret), sealedFields);
      sealOpenValues(db, codec, !memory);
      let checkpointer: Checkpointer | undefined;
      if (!memory) {
        db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
        checkpointer = new Checkpointer(where.dbPath);
      }
      return new SqliteStore(db, codec, where.dbPath, checkpointer);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private constructor(db: Database.Database, codec: RowCodec, dbPath: string, private readonly checkpointer?: Checkpointer) {
    this.core = new Core(db, codec);
    this.sealer = codec.sealer;
    let peers = openStores.get(dbPath);
    if (!peers) openStores.set(dbPath, (peers = new Set()));
    peers.add(this);
    this.peers = peers;
  }

  /**
   * Settles only with committed state. While a batch of this store is open (writes applied but
   * not yet committed), see readDuringBatch: a read of what the batch changed settles with its
   * COMMIT at the end of the current event-loop turn; any other read at once.
   */
  read<T>(fn: (tx: ReadTx) => T, since?: ReadMark): Promise<T> {
    this.usable();
    const batch = this.batch;
    if (batch) return this.readDuringBatch(batch, fn);
    try {
      return Promise.resolve(this.readNow(fn, since));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * A read while a batch is open runs at once on the cache (the batch holds the write lock, so no
   * other process changed anything since it began) and records what it looked at. If it saw
   * nothing the batch changed, what it read is committed state: it settles now, and concurrent
   * commands do not queue behind each other's COMMITs (their writes then share one). If it saw a
   * change of the batch, it settles once that is committed (what it read is then committed
   * state; later writes of the batch came after it), or reads again if the batch is lost.
   */
  private readDuringBatch<T>(batch: Batch, fn: (tx: ReadTx) => T): Promise<T> {
    const footprint = new Footprint();
    const outcome = runRead(fn, new Tx(this.core, 0, footprint), (on) => { this.busy = on; });
    return answerBesideBatch(outcome, footprint, batch.changes, batch.readers, () => new Promise<T>((resolve) => resolve(this.readNow(fn))));
  }

  /**
   * Each call is atomic on its own (a SAVEPOINT inside the open batch). Writes made in the same
   * event-loop turn share one COMMIT (group commit: the per-commit page writes dominate the cost
   * of a command), which runs at the end of that turn (setImmediate). The returned promise
   * resolves only after that COMMIT succeeded, so an acknowledged write is durable (see open())
   * and is never rolled back; if the COMMIT fails, every write of the batch rejects with a
   * CommitError and nothing of the batch remains (database and cache).
   */
  write<T>(fn: (tx: WriteTx) => T): Promise<T> {
    this.enter();
    let promise: Promise<T>;
    try {
      promise = this.runWrite(fn);
    } catch (e) {
      promise = Promise.reject(e);
    } finally {
      this.busy = false;
    }
    if (this.batch && this.batch.writes.length >= MAX_BATCH_WRITES) this.flush();
    return promise;
  }

  onChange(listener: (change: ChangeSet) => void): () => void {
    return this.announcer.listen(listener);
  }

  mark(): ReadMark {
    return this.core.checks;
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

  /**
   * Commits the open batch now (instead of at the end of the turn) and settles its writes:
   * acknowledged when the COMMIT succeeded; all failed, and undone in the cache, when not.
   * Then runs the reads that waited for it.
   */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    if (this.busy) throw new Error('store: flush() called inside a transaction');
    this.batch = undefined;
    clearImmediate(batch.commitAtEndOfTurn);
    const { core } = this;
    let failure: CommitError | undefined;
    try {
      core.sql.commit.run();
    } catch (e) {
      failure = new CommitError(e as Error);
      this.undoBatch(batch);
    }
    if (failure) {
      process.emitWarning(`rospki store: commit failed, ${batch.writes.length} change(s) not saved: ${failure.cause.message}`);
      for (const w of batch.writes) w.fail(failure);
    } else {
      const stamped = batch.writes.some((w) => w.tx.stamped);
      if (stamped) core.seen = batch.version;
      for (const w of batch.writes) w.acknowledge();
      if (!batch.changes.empty) this.announcer.announce(batch.changes);
      this.afterCommit();
    }
    for (const reader of batch.readers) reader(!failure);
  }

  /** WAL upkeep after a successful COMMIT (checkpointer.ts). */
  private afterCommit(): void {
    const { checkpointer } = this;
    if (!checkpointer) return;
    if (checkpointer.resetDue) {
      // Busy when another process checkpoints, failed on an I/O error: the change is committed
      // either way, and the checkpoint is tried again after the next COMMIT.
      try {
        const result = this.core.sql.checkpointPassive.get() as { busy: number } | undefined;
        if (!result?.busy) checkpointer.reset();
      } catch (e) {
        process.emitWarning(`rospki store: checkpoint failed: ${(e as Error).message}`);
      }
    }
    checkpointer.committed();
  }

  close(): void {
    if (this.busy) throw new Error('store: close() called inside a transaction');
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.peers.delete(this);
    // The worker's connection goes first, so that this one, the last, checkpoints the WAL and
    // removes it: a cleanly closed data directory is one self-contained rospki.db.
    this.checkpointer?.close();
    this.core.db.close();
  }

  /**
   * Throws synchronously (not as a rejected Promise) when called from inside a transaction's
   * callback: the error must unwind through that callback and abort the outer transaction.
   */
  private usable(): void {
    if (this.closed) throw new Error('store: the store is closed');
    if (this.busy) throw new Error('store: read()/write() called inside another transaction of the same store');
  }

  private enter(): void {
    this.usable();
    this.busy = true;
  }

  /** Another store of this process on the same file: commit its batch (it holds the lock). */
  private flushPeers(): void {
    if (this.peers.size === 1) return; // this store alone (each transaction asks)
    for (const peer of this.peers) if (peer !== this) peer.flush();
  }

  /**
   * Runs a read now; no batch of this store is open. When no other connection committed since
   * the cache was last brought up to date (PRAGMA data_version), the read is served from the
   * cache as it stands: the newest committed state, with no transaction (a BEGIN, a refresh
   * query and a COMMIT per read were most of a read's cost). Should it need the database (a menu
   * not loaded yet, a blob), it opens a read transaction then; if another connection committed
   * in between, what it read so far may not match that snapshot, so it starts over inside it.
   */
  private readNow<T>(fn: (tx: ReadTx) => T, since?: ReadMark): T {
    if (this.closed) throw new Error('store: the store is closed');
    this.busy = true;
    const { core } = this;
    try {
      this.flushPeers();
      // `since`: data_version was asked after the request's mark, so the cache is no older than
      // the request (Store.read): not asked again.
      if ((since !== undefined && core.checks > since) || core.upToDate()) {
        let stale = false;
        const toDatabase = (): void => {
          if (stale) throw new StaleCache();
          if (core.db.inTransaction) return;
          core.sql.beginRead.run(); // pins the snapshot the menu or blob is read from
          if (core.upToDate()) return;
          stale = true;
          throw new StaleCache();
        };
        const fromCache = runRead(fn, new Tx(core, 0, undefined, toDatabase));
        // A fn that caught StaleCache still read an inconsistent view: its outcome is void too.
        if (!stale) return unwrap(fromCache);
        // The read transaction is open: bring the cache up to it and read again.
      } else {
        // A read transaction pins one snapshot, so menus loaded lazily by fn match the refresh.
        core.sql.beginRead.run();
      }
      core.refresh();
      return unwrap(runRead(fn, new Tx(core, 0)));
    } finally {
      try {
        if (core.db.inTransaction) core.sql.commit.run();
      } finally {
        this.busy = false;
      }
    }
  }


  private beginBatch(): Batch {
    const { core } = this;
    // BEGIN IMMEDIATE would wait for a lock that only this (blocked) thread could release.
    this.flushPeers();
    core.sql.beginWrite.run(); // waits (busy_timeout) while another process writes
    try {
      core.refresh();
    } catch (e) {
      core.sql.rollback.run();
      throw e;
    }
    const batch: Batch = {
      version: core.seen + 1, writes: [], readers: [], changes: new ChangeSet(),
      commitAtEndOfTurn: setImmediate(() => this.flush()),
    };
    return (this.batch = batch);
  }

  /** Applies fn inside the batch; the promise settles when the batch does. */
  private runWrite<T>(fn: (tx: WriteTx) => T): Promise<T> {
    const { core } = this;
    const batch = this.batch ?? this.beginBatch();
    // The first write of a batch needs no savepoint: undoing it is rolling back the whole
    // transaction (endEmptyBatch), which the batch's refresh survives (it read committed state).
    // A savepoint costs two statements and a copy of every page the write changes.
    const first = batch.writes.length === 0;
    if (!first) core.sql.savepoint.run();
    const tx = new Tx(core, batch.version);
    let result: T;
    try {
      result = fn(tx);
      rejectAsync(result, 'write');
      tx.end();
      if (!first) core.sql.release.run();
    } catch (e) {
      tx.rollback();
      if (core.db.inTransaction) {
        if (first) this.endEmptyBatch(batch);
        else {
          core.sql.rollbackTo.run();
          core.sql.release.run();
        }
      } else {
        // SQLite already rolled the whole transaction back (I/O errors): the batch is lost.
        this.loseBatch(batch, e as Error);
      }
      throw e;
    }
    if (!tx.touched && batch.writes.length === 0) {
      // It changed nothing and saw nothing uncommitted: there is nothing to make durable.
      this.endEmptyBatch(batch);
      return Promise.resolve(result);
    }
    for (const u of tx.journal) batch.changes.row(u.menu, u.id, u.before, u.rows.get(u.id));
    for (const [menu, id, name] of tx.blobsChanged) batch.changes.blob(menu, id, name);
    return new Promise<T>((resolve, reject) => {
      batch.writes.push({ tx, acknowledge: () => resolve(result), fail: reject });
    });
  }

  /**
   * Ends a batch that holds no write yet: releases the write lock at once. The ROLLBACK also
   * undoes in SQLite what a failed first write did (runWrite undid it in the cache).
   */
  private endEmptyBatch(batch: Batch): void {
    this.batch = undefined;
    clearImmediate(batch.commitAtEndOfTurn);
    this.undoBatch(batch);
  }

  /** Puts the cache back as it was before the batch, and ends the SQLite transaction. */
  private undoBatch(batch: Batch): void {
    for (let i = batch.writes.length - 1; i >= 0; i--) batch.writes[i]!.tx.rollback();
    try {
      if (this.core.db.inTransaction) this.core.sql.rollback.run();
    } catch { /* the connection is broken; SQLite rolls back when it is closed or reused */ }
  }

  /** The batch's transaction is gone before its COMMIT: fail its writes, run its readers. */
  private loseBatch(batch: Batch, cause: Error): void {
    this.batch = undefined;
    clearImmediate(batch.commitAtEndOfTurn);
    this.undoBatch(batch);
    const failure = new CommitError(cause);
    queueMicrotask(() => {
      for (const w of batch.writes) w.fail(failure);
      for (const reader of batch.readers) reader(false);
    });
  }
}

/**
 * Seals the values of declared fields that are still open on disk: written before rospki sealed
 * them (or before the property was declared sensitive). The table sealed_fields records which
 * fields were done, so each is looked at once. Old copies of the open values must not stay in
 * the file either: the rewrite runs with secure_delete (freed space is zeroed), then VACUUM
 * rewrites the file (free pages of rows removed long ago), and the WAL is truncated.
 */
function sealOpenValues(db: Database.Database, codec: RowCodec, onDisk: boolean): void {
  const done = new Set(db.prepare("SELECT menu || char(0) || field FROM sealed_fields").pluck().all() as string[]);
  const todo = new Map<string, string[]>();
  for (const [menu, fields] of codec.fields) {
    const fresh = fields.filter((f) => !done.has(`${menu}\0${f}`));
    if (fresh.length) todo.set(menu, fresh);
  }
  if (todo.size === 0) return;
  let sealed = 0;
  db.pragma('secure_delete = ON');
  try {
    db.transaction(() => {
      const rows = db.prepare('SELECT id, data FROM rows WHERE menu = ?');
      // The version stays: the row's content (as the cache holds it) does not change.
      const update = db.prepare('UPDATE rows SET data = ? WHERE menu = ? AND id = ?');
      const record = db.prepare('INSERT OR IGNORE INTO sealed_fields (menu, field) VALUES (?, ?)');
      for (const [menu, fields] of todo) {
        for (const r of rows.all(menu) as { id: number; data: string }[]) {
          if (!codec.hasOpenValue(menu, r.data, fields)) continue;
          update.run(codec.encode(menu, codec.decode(menu, r.id, r.data).data).json, menu, r.id);
          sealed++;
        }
        for (const f of fields) record.run(menu, f);
      }
    }).immediate();
    if (onDisk && (sealed > 0 || (db.pragma('freelist_count', { simple: true }) as number) > 0)) {
      try {
        db.exec('VACUUM');
        db.pragma('wal_checkpoint(TRUNCATE)');
      } catch (e) {
        // The values are sealed; only old copies in free space stay until SQLite reuses it.
        process.emitWarning(`rospki store: could not compact the database after sealing: ${(e as Error).message}`);
      }
    }
  } finally {
    db.pragma('secure_delete = OFF');
  }
}

/** Creates file owner-only (0600) unless it exists; the umask cannot widen or narrow that. */
function createPrivateFile(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw e;
  }
  try {
    fs.fchmodSync(fd, 0o600);
  } finally {
    fs.closeSync(fd);
  }
}
