// What commits changed (ChangeSet) and what a read looked at (Footprint), and the one rule that
// tells whether a read saw a change (ChangeSet.seenBy). Two users:
// - the SQLite store: a read made while a batch is open waits for the batch's COMMIT only when it
//   saw what the batch changed (sqlite.ts, readDuringBatch);
// - the services: a commit is announced with what it changed (Store.onChange), and a service
//   reconciles only when that meets what its last reconcile read (services/inputs.ts), so that
//   issuing a certificate no service uses costs the services nothing.

import { indexById } from './cache.js';
import type { ReadTx, StoredRow, WriteTx } from './store.js';

/** What a read looked at: whole menus, rows by id, findBy lookups, blobs. */
export class Footprint {
  readonly lists = new Set<string>();
  readonly gets = new Map<string, Set<number>>();
  /** Per menu: field, value, and what the lookup found (a stable snapshot, cache.ts). */
  readonly finds = new Map<string, Array<readonly [string, unknown, readonly StoredRow[]]>>();
  /** Per menu and row id: the blob names read. */
  readonly blobs: BlobNames = new Map();

  list(menu: string): void {
    this.lists.add(menu);
  }

  get(menu: string, id: number): void {
    let ids = this.gets.get(menu);
    if (!ids) this.gets.set(menu, (ids = new Set()));
    ids.add(id);
  }

  find(menu: string, field: string, value: unknown, found: readonly StoredRow[]): void {
    let finds = this.finds.get(menu);
    if (!finds) this.finds.set(menu, (finds = []));
    finds.push([field, value, found]);
  }

  blob(menu: string, id: number, name: string): void {
    addBlobName(this.blobs, menu, id, name);
  }

  /** tx, recording here what is read through it (writes pass through unrecorded). */
  tap<T extends ReadTx>(tx: T): T {
    const taps: ReadTx = {
      list: (menu) => { this.list(menu); return tx.list(menu); },
      count: (menu) => { this.list(menu); return tx.count(menu); },
      get: (menu, id) => { this.get(menu, id); return tx.get(menu, id); },
      findBy: (menu, field, value) => {
        const found = tx.findBy(menu, field, value);
        this.find(menu, field, value, found);
        return found;
      },
      getBlob: (menu, id, name) => { this.blob(menu, id, name); return tx.getBlob(menu, id, name); },
    };
    if (!('insert' in tx)) return taps as T;
    const w = tx as unknown as WriteTx;
    const writes: WriteTx = {
      ...taps,
      insert: (menu, data) => w.insert(menu, data),
      update: (menu, id, data) => w.update(menu, id, data),
      remove: (menu, id) => w.remove(menu, id),
      setBlob: (menu, id, name, value) => w.setBlob(menu, id, name, value),
      put: (menu, id, data) => w.put(menu, id, data),
      menus: () => w.menus(),
      blobNames: (menu, id) => w.blobNames(menu, id),
    };
    return writes as unknown as T;
  }
}

/** A row a change touched: before it (undefined: it did not exist, or is not known) and after it (undefined: removed). */
export interface RowChange {
  readonly before: StoredRow | undefined;
  after: StoredRow | undefined;
}

/** Whether rows (in id order, as the store hands them out) hold id. */
const holds = (rows: readonly StoredRow[], id: number): boolean => rows[indexById(rows, id)]?.id === id;

/**
 * What one or more commits changed: each row with its first before and its newest after, and the
 * blobs set or deleted. `everything`: anything may have changed (another process committed, or
 * the store was read afresh); every read counts as having seen it.
 */
export class ChangeSet {
  readonly rows = new Map<string, Map<number, RowChange>>();
  /** Per menu and row id: the blob names set or deleted. */
  readonly blobs: BlobNames = new Map();

  constructor(readonly everything = false) {}

  /** Takes in a change of a row: the first before stays, the after is the newest. */
  row(menu: string, id: number, before: StoredRow | undefined, after: StoredRow | undefined): void {
    let rows = this.rows.get(menu);
    if (!rows) this.rows.set(menu, (rows = new Map()));
    const known = rows.get(id);
    if (known) known.after = after;
    else rows.set(id, { before, after });
  }

  blob(menu: string, id: number, name: string): void {
    addBlobName(this.blobs, menu, id, name);
  }

  get empty(): boolean {
    return !this.everything && this.rows.size === 0 && this.blobs.size === 0;
  }

  /** These changes followed by `later`'s, as one. */
  merge(later: ChangeSet): ChangeSet {
    if (this.everything) return this;
    if (later.everything) return later;
    const out = new ChangeSet();
    for (const set of [this, later]) {
      for (const [menu, rows] of set.rows) for (const [id, c] of rows) out.row(menu, id, c.before, c.after);
      for (const [menu, rows] of set.blobs) for (const [id, names] of rows) for (const name of names) out.blob(menu, id, name);
    }
    return out;
  }

  /**
   * Whether a read with footprint f saw any of these changes, or would read something else now:
   * a menu it listed, a row it got or whose blob it read, a blob it read, or a findBy whose
   * answer the change may alter (the row was found, or matches before or after the change).
   */
  seenBy(f: Footprint): boolean {
    if (this.everything) return true;
    for (const [menu, rows] of this.rows) {
      if (f.lists.has(menu)) return true;
      const gets = f.gets.get(menu);
      const blobs = f.blobs.get(menu);
      const finds = f.finds.get(menu);
      if (!gets && !blobs && !finds) continue;
      for (const [id, { before, after }] of rows) {
        // A removed row took its blobs with it: any change of the row counts for them.
        if (gets?.has(id) || blobs?.has(id)) return true;
        if (!finds) continue;
        for (const [field, value, found] of finds) {
          if (before?.data[field] === value || after?.data[field] === value || holds(found, id)) return true;
        }
      }
    }
    for (const [menu, rows] of this.blobs) {
      const read = f.blobs.get(menu);
      if (!read) continue;
      for (const [id, names] of rows) {
        const readNames = read.get(id);
        if (readNames) for (const name of names) if (readNames.has(name)) return true;
      }
    }
    return false;
  }
}

/** Blob names by menu and row id, as a read records them and a change announces them. */
type BlobNames = Map<string, Map<number, Set<string>>>;

function addBlobName(blobs: BlobNames, menu: string, id: number, name: string): void {
  let rows = blobs.get(menu);
  if (!rows) blobs.set(menu, (rows = new Map()));
  let names = rows.get(id);
  if (!names) rows.set(id, (names = new Set()));
  names.add(name);
}

/**
 * A store's onChange listeners: the changes committed within one microtask are merged and told
 * once (a turn of group commit, or several batches, reach each listener as one ChangeSet).
 */
export class ChangeAnnouncer {
  private readonly listeners = new Set<(change: ChangeSet) => void>();
  /** What committed since the listeners were last told. */
  private unannounced: ChangeSet | undefined;

  /** Whether anyone listens (a store need not work out what changed otherwise). */
  get heard(): boolean {
    return this.listeners.size > 0;
  }

  listen(listener: (change: ChangeSet) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  announce(change: ChangeSet): void {
    if (this.listeners.size === 0) return;
    if (this.unannounced) { this.unannounced = this.unannounced.merge(change); return; }
    this.unannounced = change;
    queueMicrotask(() => {
      const announced = this.unannounced!;
      this.unannounced = undefined;
      for (const listener of [...this.listeners]) {
        try { listener(announced); } catch (e) { process.emitWarning(`rospki store: change listener failed: ${(e as Error).message}`); }
      }
    });
  }
}
