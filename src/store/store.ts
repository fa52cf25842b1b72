// The Store interface (design.md "store"): every menu keeps its rows here. The embedded SQLite
// backend (sqlite.ts) implements it, and so does the PostgreSQL backend (postgres.ts), which
// several rospki instances share (issue 17); menus do not know which one they use.
//
// Model: each menu path (e.g. '/certificate', '/user') owns a list of rows with stable numeric
// ids (shown as *1, *2A …) and a JSON-able data object. Singleton menus ('/system/identity')
// keep one row with id 1. Large binary values (certificate DER, sealed private keys) live beside
// the row as named blobs and are read only when needed.
//
// Every command runs in one write transaction (design.md rule 4): all of it is committed or
// none of it, and it is reported done only once it is committed and durable, so nothing that
// was acknowledged is ever rolled back. Rows are cached in memory; a transaction first brings
// the cache up to date with what other processes committed (so two processes never lose each
// other's changes).
//
// Durable means: the change survives the rospki process being killed or crashing at any
// moment after the acknowledgement. The SQLite backend writes each COMMIT to its write-ahead
// log before acknowledging (WAL, synchronous=NORMAL); a crash or power loss of the whole
// machine may lose the last commits, never corrupt the database (docs/compatibility.md, Store).

import type { ChangeSet } from './changes.js';

export type RowData = Record<string, unknown>;

export interface StoredRow {
  readonly id: number;
  readonly data: RowData;
}

export interface ReadTx {
  /**
   * All rows of a menu in id order: a stable snapshot (later writes do not change it). The
   * returned array and rows must not be mutated.
   */
  list(menu: string): readonly StoredRow[];
  get(menu: string, id: number): StoredRow | undefined;
  /** How many rows a menu has (what list() would give, without handing out the list). */
  count(menu: string): number;
  /**
   * Rows whose data[field] strictly equals value, in id order: names, references. Served by
   * an index kept beside the cache, so it stays fast with 100,000 rows.
   */
  findBy(menu: string, field: string, value: unknown): readonly StoredRow[];
  getBlob(menu: string, id: number, name: string): Buffer | undefined;
}

export interface WriteTx extends ReadTx {
  /** Adds a row and returns its new id (ids are never reused within a menu). */
  insert(menu: string, data: RowData): number;
  /** Replaces the data of an existing row. */
  update(menu: string, id: number, data: RowData): void;
  /** Removes a row and its blobs. */
  remove(menu: string, id: number): void;
  /** Sets (or with undefined, deletes) a blob of a row. */
  setBlob(menu: string, id: number, name: string, value: Buffer | undefined): void;
  /**
   * Writes a row under a given id: it becomes `data` with no blobs (set them after), whether it
   * existed or not, even under an id a removed row had. Only for putting a saved state back
   * (`/system backup load`): rows refer to each other by id, so a restored row must get its old
   * one. Later inserts take ids above it.
   */
  put(menu: string, id: number, data: RowData): void;
  /** The names of a row's blobs. */
  blobNames(menu: string, id: number): string[];
  /** Every menu that holds rows now (in this transaction), in no particular order. */
  menus(): string[];
}

/** A moment in a store's refreshes (Store.mark). */
export type ReadMark = number;

export interface Store {
  /**
   * Reads a consistent, up-to-date view of committed data: every write this process has
   * acknowledged and whatever other processes committed. It never settles with a change that
   * could still be lost: while writes of this process are applied but their COMMIT is pending
   * (in the SQLite backend, until the end of the current event-loop turn), a read that looked at
   * what they changed settles once that COMMIT is done, or, if it failed, reads again without
   * them; a read that looked at none of it read committed state and settles at once. fn itself
   * is synchronous (it works on the cache); the Promise covers that wait and the refresh before it.
   *
   * `since`: the mark() taken when the request this read serves reached the front end. A read
   * must see everything committed before its request began, not before the read itself: once a
   * refresh begun after the mark has completed, the read skips its own (PostgreSQL: no round trip
   * for the second and later reads of one request; SQLite: no PRAGMA data_version; the request's
   * first read, or one of another request begun after the mark, refreshes). Without `since` the
   * read refreshes as above.
   */
  read<T>(fn: (tx: ReadTx) => T, since?: ReadMark): Promise<T>;
  /** This moment, for read()'s `since`: a front end takes it when a request arrives. */
  mark(): ReadMark;
  /**
   * Runs fn in one write transaction: all of it is kept or none of it.
   * - If fn throws, nothing it did is kept (database and cache) and the Promise rejects with
   *   that error at once.
   * - Otherwise the Promise resolves with fn's result only once the change is committed and
   *   durable (see above). A write that changed nothing and saw nothing uncommitted resolves
   *   without waiting for a COMMIT.
   * - Writes of this process may share one COMMIT (group commit) and then share its fate: if
   *   that COMMIT fails, every one of them rejects (SqliteStore: CommitError) and none of them
   *   remains; none was acknowledged before. Inside fn, tx sees the uncommitted writes of its
   *   batch, as they stand or fall together.
   * Transactions of one process run one at a time; other processes wait for the lock.
   * fn is synchronous: slow work (key generation) happens before, outside the transaction.
   */
  write<T>(fn: (tx: WriteTx) => T): Promise<T>;
  /**
   * A read-only view of the cache as this process last saw it, usable at any time: it never
   * waits and never refreshes. Unlike read(), it may include this process's writes whose COMMIT
   * is still pending (at most until the end of the current event-loop turn). So it serves to
   * render and filter rows obtained from read() or write() (names of referenced rows, filters
   * that await), never to decide or report that something was done; a command that needs the
   * newest committed state uses read().
   */
  view(): ReadTx;
  /**
   * Calls listener (asynchronously, once per microtask at most) after writes of this process
   * that changed rows or blobs were committed, with what they changed (every row with its data
   * before and after, the blobs; several commits merged into one); the change is then visible to
   * read() and view(). A store that does not know what changed says `everything` (PostgreSQL
   * after reading the whole database again); PostgreSQL announces other instances' commits with
   * the rows after them (their before is not known). The SQLite store does not announce changes
   * made by other processes: watchers poll read(), which refreshes cheaply when nothing changed.
   * Returns a function that removes the listener.
   */
  onChange?(listener: (change: ChangeSet) => void): () => void;
  /**
   * A singleton duty (the CRL scheduler, ACME renewals, /system scheduler …): among every process
   * that claims the same name on this store, one holds it at a time, and another takes it over
   * when the holder stops or dies. Without this method, a process-local duty stands in (duty.ts:
   * the first claimer in the process holds it): SQLite has one daemon per data directory.
   */
  duty?(name: string): Duty;
  /**
   * Several processes serve one store (PostgreSQL, issue 17): this process's name among them, and
   * the names of the processes connected now. Rows that belong to one process (its open
   * connections in /ip service) carry its name, so no other process takes them for its own and
   * those of a dead process can be told apart. Undefined for a store with one daemon (SQLite).
   */
  readonly instances?: StoreInstances;
  /** Seals private data (keys) with the data directory's secret: AES-256-GCM. */
  seal(plain: Buffer): Buffer;
  unseal(sealed: Buffer): Buffer;
  /** Commits what is pending (settling those writes as above), then closes. */
  close(): void;
}

/** A claim on a singleton duty (Store.duty; duty.ts). */
export interface Duty {
  /** Whether this process holds the duty now. It may turn false at any moment (a lost connection). */
  readonly held: boolean;
  /** Calls listener (asynchronously) whenever `held` changes. Returns a function that removes it. */
  onChange(listener: (held: boolean) => void): () => void;
  /** Gives the duty up (another process may take it) and stops competing for it. */
  release(): void;
}

/** The processes of a store (Store.instances). */
export interface StoreInstances {
  readonly self: string;
  /** The names of the processes connected to the store now (self included). */
  live(): Promise<ReadonlySet<string>>;
}
