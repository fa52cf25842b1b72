// The Store interface (design.md "store"): every menu keeps its rows here. The embedded SQLite
// backend implements it; a PostgreSQL backend can implement it later without touching menus.
//
// Model: each menu path (e.g. '/certificate', '/user') owns a list of rows with stable numeric
// ids (shown as *1, *2A …) and a JSON-able data object. Singleton menus ('/system/identity')
// keep one row with id 1. Large binary values (certificate DER, sealed private keys) live beside
// the row as named blobs and are read only when needed.
//
// Every command runs in one write transaction (design.md rule 4): all of it is committed or
// none of it. Rows are cached in memory; a transaction first brings the cache up to date with
// what other processes committed (so two processes never lose each other's changes).

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
}

export interface Store {
  /**
   * Reads a consistent, up-to-date view. fn itself is synchronous (it works on the cache);
   * the refresh before it may be asynchronous in other backends, hence the Promise.
   */
  read<T>(fn: (tx: ReadTx) => T): Promise<T>;
  /**
   * Runs fn in one write transaction. If fn throws, nothing it did is kept (database and
   * cache). Transactions of one process run one at a time; other processes wait for the lock.
   * fn is synchronous: slow work (key generation) happens before, outside the transaction.
   */
  write<T>(fn: (tx: WriteTx) => T): Promise<T>;
  /**
   * A read-only view of the cache as last refreshed, usable at any time: for rendering results
   * after read() returned and for filters that await. It never waits and never refreshes, so
   * a command that needs the newest state uses read() first.
   */
  view(): ReadTx;
  /**
   * Calls listener (asynchronously, once per microtask at most) after a write of this process
   * changed rows; the change is then visible to read() and view(). Changes made by other
   * processes are not announced: watchers poll read(), which refreshes cheaply when nothing
   * changed. Returns a function that removes the listener.
   */
  onChange?(listener: () => void): () => void;
  /** Seals private data (keys) with the data directory's secret: AES-256-GCM. */
  seal(plain: Buffer): Buffer;
  unseal(sealed: Buffer): Buffer;
  close(): void;
}
