// The PostgreSQL backend of the Store (store.ts; issue 17): several rospki instances share one
// database and behave as one router. It keeps the Store's interface — read(fn) and write(fn)
// return Promises while fn runs synchronously over an in-memory copy of the rows — so no menu
// knows which backend it runs on.
//
// The copy. Every row and blob is loaded when the store opens (fn is synchronous: it cannot
// wait for a row, nor for a blob, so all of them must be at hand; the SQLite backend loads a
// menu on first use instead). Each row carries the version of the commit that last wrote it and
// a removal leaves a tombstone with its version, as in SQLite. Versions grow by one per commit,
// in commit order, because every write transaction first locks the one head row (postgres-
// schema.ts) and only then reads what changed; so "every row or tombstone with a version above
// the one I have seen" is exactly what I miss, read in one statement (CATCH_UP below).
//
// Reads are never stale: each read() first catches up in one round trip, so it sees every write
// any instance acknowledged before the read was called. Reads called together share one
// catch-up, or are answered by a batch's (runBatch). The later reads of one request (a refresh
// begun after its mark has completed: Store.mark, read's `since`) run at once on the copy; while a
// batch's COMMIT is under way they settle at once only if they saw none of its changes
// (readFresh). LISTEN/NOTIFY is only a wake-up: another instance's commit makes this one catch
// up and tell its onChange listeners (services reconcile at once), never a reason to skip a
// catch-up.
//
// Alone: an instance that is the sole writer (postgres-writers.ts: an exclusive advisory lock,
// held only while no other instance is connected, trusted within a lease) knows its copy is the
// database's state, so its reads skip the catch-up and its batches skip the head lock's round trip.
//
// Writes: the writes called meanwhile form a batch (group commit, as in SQLite). The batch takes
// the head lock and catches up (BEGIN; SELECT … FOR UPDATE; CATCH_UP: one round trip), runs each
// fn on the caught-up copy (each all or nothing on its own: a throw undoes only its changes),
// then sends the changes, the new head version, its token and a NOTIFY, and COMMIT (one round
// trip). Each write resolves only after that COMMIT succeeded (PostgreSQL's own durability:
// with the default synchronous_commit=on the commit is on the server's disk). While a batch
// holds the head lock no other instance commits, so fn always sees the newest state and no
// command can interleave with another: every write is serializable, and nothing is ever re-run.
// test/store/postgres.test.ts measures it (concurrent read-modify-write commands on two instances
// lose nothing and get distinct ids); `npm run bench -- pg` measures issuance (docs/postgresql.md).
//
// Failures: a write whose connection broke before COMMIT was sent changed nothing and says so
// (StoreUnavailable); one whose connection broke while COMMIT was under way is unknown until
// the connection is back: then the batch's token in rospki_commits tells, and the write resolves
// or fails accordingly (or says it may have been saved, if the database stays away). In every
// case the copy is put back as before the batch and the next catch-up brings what was saved.
//
// Singleton duties (duty.ts): session-level advisory locks on the store's connection, tried
// every DUTY_POLL_MS; a lost connection ends them at once (here and on the server), so the
// holder stops before another instance can start.

import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { RosError } from '../errors.js';
import { MenuRows } from './cache.js';
import { ChangeAnnouncer, ChangeSet, Footprint } from './changes.js';
import { answerBesideBatch, rejectAsync, runRead, settle } from './reads.js';
import { PgLink, StoreUnavailable, connectionLost, reasonOf, redactUrl } from './postgres-link.js';
import { LOCK_CLASS, META_TABLE, MIGRATION_LOCK, PG_MIGRATIONS } from './postgres-schema.js';
import { WriterLock } from './postgres-writers.js';
import { Sealer } from './seal.js';
import { NO_SEALED_FIELDS, RowCodec, type SealedFields } from './sealed-values.js';
import type { Duty, ReadMark, ReadTx, RowData, Store, StoreInstances, StoredRow, WriteTx } from './store.js';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database?…` (libpq's parameters, as pg reads them). */
  readonly url: string;
  /** The data directory's secret (seal.ts): every instance of one CA has the same. */
  readonly secret: Buffer;
  /** How often unheld duties are tried for (ms; default 1000). */
  readonly dutyPollMs?: number;
  /** The row fields sealed at rest (sealed-values.ts), from the menu declarations. */
  readonly sealedFields?: SealedFields;
}

/** The sealing key of the data directory is not the one this database's keys were sealed with. */
export class WrongSecret extends Error {
  constructor() {
    super('the data directory\'s secret.key is not the one this database was sealed with');
  }
}

/**
 * Every row, blob and tombstone written after version $1, and the head. Prepared, it runs one
 * generic plan (postgres-link.ts, plan_cache_mode): for `version > $1` alone PostgreSQL guesses
 * that a third of the table matches and scans whole tables (with two instances, 16 ms of its CPU
 * per certificate); bounded on both sides (`version > $1 AND version <= $2`, $2 = UNBOUNDED) it
 * guesses a small range and scans the version index. Each changed row's blobs are looked up by
 * key: `OFFSET 0` keeps PostgreSQL from turning that lookup into a join, which it planned as a
 * scan of every blob (hashed) whenever it guessed more than a few changed rows (a young database,
 * not yet analysed: 1 ms a catch-up). load() has it planned for its values instead (it reads
 * everything).
 */
export const CATCH_UP = `
  WITH changed AS (SELECT menu, id, version, data FROM rospki_rows WHERE version > $1 AND version <= $2)
  SELECT 'h' AS k, NULL::text AS menu, NULL::bigint AS id, version, NULL::text AS data, NULL::text AS name, NULL::bytea AS value FROM rospki_head
  UNION ALL SELECT 'r', menu, id, version, data, NULL, NULL FROM changed
  UNION ALL SELECT 'b', c.menu, c.id, NULL, NULL, b.name, b.value FROM changed c CROSS JOIN LATERAL (SELECT name, value FROM rospki_blobs WHERE menu = c.menu AND id = c.id OFFSET 0) b
  UNION ALL SELECT 't', menu, id, version, NULL, NULL, NULL FROM rospki_tombstones WHERE $1 > 0 AND version > $1 AND version <= $2`;
/** The upper bound of every catch-up: no version comes near it. */
export const UNBOUNDED = Number.MAX_SAFE_INTEGER;
const catchUpFrom = (from: number) => ({ text: CATCH_UP, values: [from, UNBOUNDED] });
/** The highest id each menu ever had among removed rows (ids are never reused). */
const TOMBSTONE_IDS = 'SELECT menu, max(id) AS id FROM rospki_tombstones GROUP BY menu';

/** The NOTIFY channel every instance listens on. */
const CHANNEL = 'rospki';

const SQL = {
  /**
   * Everything a batch writes, in one statement (one parse, bind and answer instead of one per
   * kind of change): removed rows and their tombstones, new and changed rows, blobs, the head
   * (one version on, else the statement fails: postgres-schema.ts migration 3),
   * the commit token (and, every 256th commit, the pruning of old ones: $20 = 0 skips the scan of
   * the generic plan otherwise), the NOTIFY. Each row appears in one of the
   * row lists at most, so no two parts touch the same row; the foreign key of a new row's blobs
   * is checked at the end of the statement, when the row is there. Its joins of those lists with
   * the tables are index lookups because sessions run with enable_seqscan off (postgres-link.ts;
   * the test of the plan: test/store/postgres.test.ts).
   */
  apply: `WITH
    del AS (DELETE FROM rospki_rows r USING unnest($2::text[], $3::bigint[]) AS u(m, i) WHERE r.menu = u.m AND r.id = u.i),
    tomb AS (INSERT INTO rospki_tombstones (menu, id, version) SELECT u.m, u.i, $1 FROM unnest($4::text[], $5::bigint[]) AS u(m, i)
             ON CONFLICT (menu, id) DO UPDATE SET version = excluded.version),
    ins AS (INSERT INTO rospki_rows (menu, id, version, data) SELECT u.m, u.i, $1, u.d FROM unnest($6::text[], $7::bigint[], $8::text[]) AS u(m, i, d)),
    upd AS (UPDATE rospki_rows r SET version = $1, data = u.d FROM unnest($9::text[], $10::bigint[], $11::text[]) AS u(m, i, d) WHERE r.menu = u.m AND r.id = u.i),
    bdel AS (DELETE FROM rospki_blobs b USING unnest($12::text[], $13::bigint[], $14::text[]) AS u(m, i, n) WHERE b.menu = u.m AND b.id = u.i AND b.name = u.n),
    bset AS (INSERT INTO rospki_blobs (menu, id, name, value) SELECT * FROM unnest($15::text[], $16::bigint[], $17::text[], $18::bytea[])
             ON CONFLICT (menu, id, name) DO UPDATE SET value = excluded.value),
    token AS (INSERT INTO rospki_commits (version, token) VALUES ($1, $19)),
    pruned AS (DELETE FROM rospki_commits WHERE $20 > 0 AND version <= $20)
    SELECT rospki_advance_head($1), pg_notify('${CHANNEL}', $21)`,
  wasCommitted: 'SELECT 1 FROM rospki_commits WHERE version = $1 AND token = $2',
};
/** A batch's statement (exported for the test of its plan). */
export const BATCH_APPLY = SQL.apply;
/** Other instances' commits are announced to listeners at most this often (othersChanged). */
const PEER_ANNOUNCE_MS = 100;
/** Commit tokens kept (a writer asks about its own right after reconnecting). */
const TOKENS_KEPT = 1000;
/** A batch also ends at this many writes (bounds a transaction and its undo). */
const MAX_BATCH_WRITES = 500;
/** How long a write whose COMMIT's fate is unknown waits for the database to tell. */
const RESOLVE_MS = 15_000;
const RESOLVE_RETRY_MS = 250;

type CatchUpRow =
  | { k: 'h'; version: number }
  | { k: 'r'; menu: string; id: number; version: number; data: string }
  | { k: 'b'; menu: string; id: number; name: string; value: Buffer }
  | { k: 't'; menu: string; id: number; version: number };

const blobKey = (menu: string, id: number): string => `${menu}\n${id}`;
const hexId = (id: number) => `*${id.toString(16).toUpperCase()}`;

/** Why a write was not acknowledged: its batch's COMMIT failed or may have failed. */
export class PgCommitError extends RosError {
  constructor(message: string, readonly uncertain = false) {
    super('failure', message);
  }
}

/** The database was migrated by a newer rospki: this one does not know its schema and leaves it alone. */
export class NewerSchema extends Error {
  constructor(found: number) {
    super(`database schema version ${found} is newer than this rospki (${PG_MIGRATIONS.length}): upgrade rospki`);
  }
}

/** The database holds an older history than this copy (it was restored from a backup): start over. */
class Rewound extends Error {}

/** The in-memory copy of the whole store. */
class PgCache {
  constructor(readonly codec: RowCodec) {}

  readonly menus = new Map<string, MenuRows>();
  readonly blobs = new Map<string, Map<string, Buffer>>();
  /** The highest id each menu has had (rows and tombstones): the next insert takes one more. */
  readonly lastIds = new Map<string, number>();
  /** The commit version the copy reflects. */
  seen = 0;

  menu(name: string): MenuRows {
    let rows = this.menus.get(name);
    if (!rows) this.menus.set(name, (rows = new MenuRows()));
    return rows;
  }

  noteId(menu: string, id: number): void {
    if (id > (this.lastIds.get(menu) ?? 0)) this.lastIds.set(menu, id);
  }

  clear(): void {
    this.menus.clear();
    this.blobs.clear();
    this.lastIds.clear();
    this.seen = 0;
  }

  /**
   * Applies a catch-up; returns what it changed (rows with their data after, before unknown as
   * for the batch's own changes; the blobs they carry), or undefined when nothing changed.
   * Throws Rewound when the head went back.
   */
  apply(rows: readonly CatchUpRow[]): ChangeSet | undefined {
    let head = this.seen;
    let changed: ChangeSet | undefined;
    for (const r of rows) {
      if (r.k === 'h') head = r.version;
    }
    if (head < this.seen) throw new Rewound();
    // A row put back under the id of a removed one (WriteTx.put) keeps that id's older
    // tombstone: when both are new to this copy, the later version wins.
    const rowVersions = new Map<string, number>();
    for (const r of rows) if (r.k === 'r') rowVersions.set(blobKey(r.menu, r.id), r.version);
    for (const r of rows) {
      if (r.k === 'r') {
        const row = this.codec.decode(r.menu, r.id, r.data);
        this.menu(r.menu).put(row);
        this.blobs.delete(blobKey(r.menu, r.id));
        this.noteId(r.menu, r.id);
        (changed ??= new ChangeSet()).row(r.menu, r.id, undefined, row);
      } else if (r.k === 't') {
        if ((rowVersions.get(blobKey(r.menu, r.id)) ?? 0) > r.version) continue;
        this.menus.get(r.menu)?.delete(r.id);
        this.blobs.delete(blobKey(r.menu, r.id));
        this.noteId(r.menu, r.id);
        (changed ??= new ChangeSet()).row(r.menu, r.id, undefined, undefined);
      }
    }
    for (const r of rows) {
      if (r.k !== 'b') continue;
      const key = blobKey(r.menu, r.id);
      let named = this.blobs.get(key);
      if (!named) this.blobs.set(key, (named = new Map()));
      named.set(r.name, r.value);
      changed?.blob(r.menu, r.id, r.name);
    }
    this.seen = head;
    return changed;
  }
}

/** What one row becomes when the batch commits. */
interface RowChange {
  readonly menu: string;
  readonly id: number;
  /** It existed before the batch (update, delete) or is new (insert). */
  readonly existed: boolean;
  /** The row as it was before the batch (undefined: new). */
  readonly before: StoredRow | undefined;
  /** Its data as JSON, or undefined when it is removed. */
  readonly json: string | undefined;
  /** Blob changes (undefined: deleted); ignored for a removed row. */
  readonly blobs: ReadonlyMap<string, Buffer | undefined>;
}

/** The changes of a batch, keyed by row; each write's tx records how to undo its part. */
class BatchChanges {
  readonly rows = new Map<string, RowChange>();
  readonly token = randomBytes(16);

  constructor(readonly version: number) {}

  get empty(): boolean {
    return this.rows.size === 0;
  }

  /** `row`: the row as the copy holds it before this change (what the batch's first change of it keeps as before). */
  change(menu: string, id: number, row: StoredRow | undefined, journal: (() => void)[], edit: (c: RowChange) => RowChange): void {
    const key = blobKey(menu, id);
    const before = this.rows.get(key);
    journal.push(() => { if (before) this.rows.set(key, before); else this.rows.delete(key); });
    this.rows.set(key, edit(before ?? { menu, id, existed: row !== undefined, before: row, json: undefined, blobs: new Map() }));
  }

  /** What the batch changed, as onChange tells it: rows before it and as the copy holds them after it. */
  changeSet(cache: PgCache): ChangeSet {
    const out = new ChangeSet();
    for (const c of this.rows.values()) {
      out.row(c.menu, c.id, c.before, c.json === undefined ? undefined : cache.menus.get(c.menu)?.get(c.id));
      for (const name of c.blobs.keys()) out.blob(c.menu, c.id, name);
    }
    return out;
  }

  /** The statement that writes the batch (SQL.apply; COMMIT not included), announced as `instance version` (PgListener). */
  statement(instance: string): { text: string; values: unknown[] } {
    const v = this.version;
    const inserts = { m: [] as string[], i: [] as number[], d: [] as string[] };
    const updates = { m: [] as string[], i: [] as number[], d: [] as string[] };
    const deletes = { m: [] as string[], i: [] as number[] };
    const tombstones = { m: [] as string[], i: [] as number[] };
    const setBlobs = { m: [] as string[], i: [] as number[], n: [] as string[], v: [] as Buffer[] };
    const deleteBlobs = { m: [] as string[], i: [] as number[], n: [] as string[] };
    for (const c of this.rows.values()) {
      if (c.json === undefined) {
        if (c.existed) { deletes.m.push(c.menu); deletes.i.push(c.id); }
        tombstones.m.push(c.menu); tombstones.i.push(c.id);
        continue;
      }
      const target = c.existed ? updates : inserts;
      target.m.push(c.menu); target.i.push(c.id); target.d.push(c.json);
      for (const [name, value] of c.blobs) {
        if (value) { setBlobs.m.push(c.menu); setBlobs.i.push(c.id); setBlobs.n.push(name); setBlobs.v.push(value); }
        else if (c.existed) { deleteBlobs.m.push(c.menu); deleteBlobs.i.push(c.id); deleteBlobs.n.push(name); }
      }
    }
    return {
      text: SQL.apply,
      values: [
        v, deletes.m, deletes.i, tombstones.m, tombstones.i, inserts.m, inserts.i, inserts.d, updates.m, updates.i, updates.d,
        deleteBlobs.m, deleteBlobs.i, deleteBlobs.n, setBlobs.m, setBlobs.i, setBlobs.n, setBlobs.v,
        this.token, v % 256 === 0 ? v - TOKENS_KEPT : 0, `${instance} ${v}`,
      ],
    };
  }
}

/** One transaction's view of the copy; writable inside a batch. Dead once its fn returned. */
class PgTx implements WriteTx {
  /** Undo steps, run in reverse when fn throws or the batch fails. */
  readonly journal: (() => void)[] = [];
  private live = true;

  constructor(private readonly cache: PgCache, private readonly batch: BatchChanges | undefined, private readonly lasting = false) {}

  list(menu: string): readonly StoredRow[] {
    this.check();
    return this.cache.menus.get(menu)?.list() ?? [];
  }

  count(menu: string): number {
    this.check();
    return this.cache.menus.get(menu)?.size ?? 0;
  }

  get(menu: string, id: number): StoredRow | undefined {
    this.check();
    return this.cache.menus.get(menu)?.get(id);
  }

  findBy(menu: string, field: string, value: unknown): readonly StoredRow[] {
    this.check();
    return this.cache.menus.get(menu)?.findBy(field, value) ?? [];
  }

  getBlob(menu: string, id: number, name: string): Buffer | undefined {
    this.check();
    return this.cache.blobs.get(blobKey(menu, id))?.get(name);
  }

  insert(menu: string, data: RowData): number {
    const batch = this.writable();
    const row = this.cache.codec.encode(menu, data);
    const { cache } = this;
    const last = cache.lastIds.get(menu);
    const id = (last ?? 0) + 1;
    cache.lastIds.set(menu, id);
    this.journal.push(() => { if (last === undefined) cache.lastIds.delete(menu); else cache.lastIds.set(menu, last); });
    this.putRow(menu, Object.freeze({ id, data: row.data }));
    batch.change(menu, id, undefined, this.journal, (c) => ({ ...c, json: row.json }));
    return id;
  }

  update(menu: string, id: number, data: RowData): void {
    const batch = this.writable();
    const before = this.existing(menu, id);
    const row = this.cache.codec.encode(menu, data);
    this.putRow(menu, Object.freeze({ id, data: row.data }));
    batch.change(menu, id, before, this.journal, (c) => ({ ...c, json: row.json }));
  }

  put(menu: string, id: number, data: RowData): void {
    const batch = this.writable();
    if (this.cache.menus.get(menu)?.get(id)) {
      for (const name of this.blobNames(menu, id)) this.setBlob(menu, id, name, undefined);
      this.update(menu, id, data);
      return;
    }
    if (!Number.isSafeInteger(id) || id < 1) throw new Error(`store: bad row id ${id}`);
    const row = this.cache.codec.encode(menu, data);
    const { cache } = this;
    const last = cache.lastIds.get(menu);
    if (last === undefined || last < id) {
      cache.lastIds.set(menu, id);
      this.journal.push(() => { if (last === undefined) cache.lastIds.delete(menu); else cache.lastIds.set(menu, last); });
    }
    this.putRow(menu, Object.freeze({ id, data: row.data }));
    // An older tombstone of the id may stay: PgCache.apply lets the newer row win.
    batch.change(menu, id, undefined, this.journal, (c) => ({ ...c, json: row.json }));
  }

  blobNames(menu: string, id: number): string[] {
    this.check();
    return [...(this.cache.blobs.get(blobKey(menu, id))?.keys() ?? [])];
  }

  menus(): string[] {
    this.writable();
    return [...this.cache.menus].filter(([, rows]) => rows.size > 0).map(([name]) => name);
  }

  remove(menu: string, id: number): void {
    const batch = this.writable();
    this.existing(menu, id);
    const rows = this.cache.menu(menu);
    const before = rows.get(id)!;
    rows.delete(id);
    const key = blobKey(menu, id);
    const blobs = this.cache.blobs.get(key);
    this.cache.blobs.delete(key);
    this.journal.push(() => {
      rows.put(before);
      if (blobs) this.cache.blobs.set(key, blobs);
    });
    batch.change(menu, id, before, this.journal, (c) => ({ ...c, json: undefined }));
  }

  setBlob(menu: string, id: number, name: string, value: Buffer | undefined): void {
    const batch = this.writable();
    const row = this.existing(menu, id);
    const key = blobKey(menu, id);
    const { blobs } = this.cache;
    const named = blobs.get(key);
    const before = named?.get(name);
    if (value === undefined && before === undefined) return;
    // The copy keeps its own buffer: a caller may reuse the one it passed.
    const kept = value === undefined ? undefined : Buffer.from(value);
    const next = new Map(named);
    if (kept) next.set(name, kept); else next.delete(name);
    blobs.set(key, next);
    this.journal.push(() => { if (named) blobs.set(key, named); else blobs.delete(key); });
    // A blob change stamps its row too, so other instances fetch the row with its blobs.
    batch.change(menu, id, row, this.journal, (c) => {
      const changed = new Map(c.blobs);
      changed.set(name, kept);
      return { ...c, json: c.json ?? JSON.stringify(row.data), blobs: changed };
    });
  }

  /** After a throw, or when the batch failed: puts the copy back as before this transaction. */
  rollback(): void {
    for (let i = this.journal.length - 1; i >= 0; i--) this.journal[i]!();
    this.journal.length = 0;
    this.live = false;
  }

  end(): void {
    this.live = this.lasting;
  }

  private putRow(menu: string, row: StoredRow): void {
    const rows = this.cache.menu(menu);
    const before = rows.get(row.id);
    rows.put(row);
    this.journal.push(() => { if (before) rows.put(before); else rows.delete(row.id); });
  }

  private existing(menu: string, id: number): StoredRow {
    const row = this.cache.menus.get(menu)?.get(id);
    if (!row) throw new Error(`store: ${menu} has no row ${hexId(id)}`);
    return row;
  }

  private writable(): BatchChanges {
    this.check();
    if (!this.batch) throw new Error('store: cannot change rows in a read transaction');
    return this.batch;
  }

  private check(): void {
    if (!this.live) throw new Error('store: transaction is over (tx used outside its read()/write() callback)');
  }
}

interface PendingRead {
  readonly fn: (tx: ReadTx) => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

interface PendingWrite {
  readonly fn: (tx: WriteTx) => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** A write that ran in the batch, waiting for the COMMIT. */
interface Applied {
  readonly write: PendingWrite;
  readonly tx: PgTx;
  readonly result: unknown;
}

export class PostgresStore implements Store {
  private readonly cache: PgCache;
  private readonly sealer: Sealer;
  private readonly link: PgLink;
  private readonly listener: PgListener;
  private readonly instance = randomBytes(8).toString('hex');
  private readonly writes: PendingWrite[] = [];
  private readonly reads: PendingRead[] = [];
  /**
   * The batch whose COMMIT is under way: the copy holds its changes before they are committed.
   * Reads that need no catch-up run meanwhile and settle at once if they saw none of those
   * changes, else when the COMMIT is known (readFresh).
   */
  private committing: { readonly changes: ChangeSet; readonly readers: ((committed: boolean) => void)[] } | undefined;
  /**
   * Refreshes (the catch-ups of load, of reads and of batches) begun so far, and the number of
   * the newest one that completed: one connection answers them in order, so every refresh with a
   * number up to that one is done (Store.mark, read's `since`).
   */
  private refreshesBegun = 0;
  private refreshedUpTo = 0;
  /** Work on the connection between batches and catch-ups (duty locks); urgent work comes before batches. */
  private readonly tasks: (() => Promise<void>)[] = [];
  private readonly urgentTasks: (() => Promise<void>)[] = [];
  private pumping = false;
  private pumpQueued: NodeJS.Immediate | undefined;
  /** A read's or write's fn runs now: a nested read()/write() is a bug (as in SQLite). */
  private busy = false;
  private closing = false;
  private closedPromise: Promise<void> | undefined;
  /** What close() leaves to be done once the queued work has finished. */
  private afterPump: (() => void) | undefined;
  private readonly announcer = new ChangeAnnouncer();
  /** When the listeners were last told (performance.now()), and the timer of a deferred announcement. */
  private announcedAt = -Infinity;
  private peerTimer: NodeJS.Timeout | undefined;
  /** Other instances' changes not yet announced (othersChanged). */
  private peerChanges: ChangeSet | undefined;
  private readonly duties: PgDuties;
  /** Whether this instance writes alone (its copy then needs no round trip to be current). */
  private readonly writers: WriterLock;
  /** `postgres://user@host:port/db`, for messages. */
  readonly shownUrl: string;

  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(opts);
    try {
      await store.prepare();
    } catch (e) {
      await store.shutdown();
      if (e instanceof WrongSecret || e instanceof NewerSchema) throw e;
      throw new StoreUnavailable(e instanceof StoreUnavailable ? e.reason : reasonOf(e));
    }
    store.listener.start();
    store.writers.start();
    return store;
  }

  private constructor(opts: PostgresStoreOptions) {
    this.sealer = new Sealer(opts.secret);
    this.cache = new PgCache(new RowCodec(this.sealer, opts.sealedFields ?? NO_SEALED_FIELDS));
    this.shownUrl = redactUrl(opts.url);
    this.duties = new PgDuties(this, opts.dutyPollMs ?? 1000);
    this.link = new PgLink({
      url: opts.url, applicationName: `rospki ${this.instance}`,
      onLost: () => { this.duties.lost(); this.writers.lost(); },
    });
    this.writers = new WriterLock({
      link: this.link, instance: this.instance, channel: CHANNEL,
      runTask: (task, urgent) => this.runTask(task, urgent),
      refreshesBegun: () => this.refreshesBegun, refreshedUpTo: () => this.refreshedUpTo,
    }, opts.dutyPollMs ?? 1000);
    this.listener = new PgListener(opts.url, this.instance, (version) => this.othersCommitted(version), () => this.writers.joinRequested());
  }

  /** Migrates the schema, checks the seal, loads everything. */
  private async prepare(): Promise<void> {
    await this.migrate();
    await this.checkSeal();
    await this.sealOpenValues();
    await this.load();
  }

  /**
   * Seals the values of declared fields still open in the database (written before rospki sealed
   * them, or before the property was declared sensitive); rospki_sealed_fields records which
   * fields were done, so each is looked at once (as sqlite.ts sealOpenValues). The rows keep
   * their version: what the caches hold does not change. PostgreSQL keeps the old row versions
   * until VACUUM reclaims them (docs/security.md).
   */
  private async sealOpenValues(): Promise<void> {
    const { codec } = this.cache;
    if (codec.fields.size === 0) return;
    const [, , done] = await this.link.pipeline([
      { text: 'BEGIN' },
      { text: 'SELECT pg_advisory_xact_lock($1, $2)', values: [LOCK_CLASS, MIGRATION_LOCK] },
      { text: 'SELECT menu, field FROM rospki_sealed_fields' },
    ]).catch(async (e: unknown) => { this.link.send('ROLLBACK'); throw e; });
    const recorded = new Set((done!.rows as { menu: string; field: string }[]).map((r) => `${r.menu}\0${r.field}`));
    const todo = new Map<string, string[]>();
    for (const [menu, fields] of codec.fields) {
      const fresh = fields.filter((f) => !recorded.has(`${menu}\0${f}`));
      if (fresh.length) todo.set(menu, fresh);
    }
    try {
      if (todo.size === 0) { await this.link.query('COMMIT'); return; }
      const { rows } = await this.link.query<{ menu: string; id: string; data: string }>(
        'SELECT menu, id, data FROM rospki_rows WHERE menu = ANY($1::text[])', [[...todo.keys()]]);
      const update = { m: [] as string[], i: [] as string[], d: [] as string[] };
      for (const r of rows) {
        if (!codec.hasOpenValue(r.menu, r.data, todo.get(r.menu)!)) continue;
        update.m.push(r.menu); update.i.push(r.id);
        update.d.push(codec.encode(r.menu, codec.decode(r.menu, Number(r.id), r.data).data).json);
      }
      const pairs = [...todo].flatMap(([menu, fields]) => fields.map((f) => [menu, f] as const));
      await this.link.pipeline([
        ...(update.m.length ? [{
          text: `UPDATE rospki_rows r SET data = u.d FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(m, i, d)
                 WHERE r.menu = u.m AND r.id = u.i`,
          values: [update.m, update.i, update.d],
        }] : []),
        {
          text: 'INSERT INTO rospki_sealed_fields (menu, field) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING',
          values: [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
        },
        { text: 'COMMIT' },
      ]);
    } catch (e) {
      this.link.send('ROLLBACK');
      throw e;
    }
  }

  private async migrate(): Promise<void> {
    const [, , , version] = await this.link.pipeline([
      { text: 'BEGIN' },
      { text: 'SELECT pg_advisory_xact_lock($1, $2)', values: [LOCK_CLASS, MIGRATION_LOCK] },
      { text: META_TABLE },
      { text: "SELECT value FROM rospki_meta WHERE key = 'schema'" },
    ]).catch(async (e: unknown) => { this.link.send('ROLLBACK'); throw e; });
    const from = Number((version!.rows[0] as { value?: string } | undefined)?.value ?? 0);
    if (from > PG_MIGRATIONS.length) {
      this.link.send('ROLLBACK');
      throw new NewerSchema(from);
    }
    const steps = PG_MIGRATIONS.slice(from).map((text) => ({ text }));
    await this.link.pipeline([
      ...steps,
      { text: "INSERT INTO rospki_meta (key, value) VALUES ('schema', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value", values: [String(PG_MIGRATIONS.length)] },
      { text: 'COMMIT' },
    ]).catch((e: unknown) => { this.link.send('ROLLBACK'); throw e; });
  }

  /** The seal check: made with this secret when the database is new, else it must open. */
  private async checkSeal(): Promise<void> {
    const probe = Buffer.from('rospki seal check');
    await this.link.query("INSERT INTO rospki_meta (key, value) VALUES ('seal-check', $1) ON CONFLICT (key) DO NOTHING", [this.sealer.seal(probe).toString('base64')]);
    const { rows } = await this.link.query<{ value: string }>("SELECT value FROM rospki_meta WHERE key = 'seal-check'");
    let opened: Buffer | undefined;
    try { opened = this.sealer.unseal(Buffer.from(rows[0]!.value, 'base64')); } catch { opened = undefined; }
    if (!opened?.equals(probe)) throw new WrongSecret();
  }

  /** Whether the database already has a seal check (an instance joining it needs its secret.key). */
  static async sealed(url: string): Promise<boolean> {
    const link = new PgLink({ url, applicationName: 'rospki', pipeline: false });
    try {
      const { rows } = await link.query<{ found: boolean }>(
        "SELECT to_regclass('rospki_meta') IS NOT NULL AS found");
      if (!rows[0]?.found) return false;
      return (await link.query("SELECT 1 FROM rospki_meta WHERE key = 'seal-check'")).rowCount === 1;
    } finally {
      await link.close();
    }
  }

  /** Loads every row and blob (and the highest removed ids) from one snapshot. */
  private async load(): Promise<void> {
    const refresh = ++this.refreshesBegun;
    const results = await this.link.pipeline([
      { text: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' },
      // Everything is read: a plan made for that (whole tables, hashed) beats the generic one.
      { text: 'SET LOCAL plan_cache_mode = force_custom_plan' },
      { text: 'SET LOCAL enable_seqscan = on' },
      catchUpFrom(0),
      { text: TOMBSTONE_IDS },
      { text: 'COMMIT' },
    ]).catch((e: unknown) => { this.link.send('ROLLBACK'); throw e; });
    this.cache.clear();
    this.cache.apply(results[3]!.rows as CatchUpRow[]);
    for (const r of results[4]!.rows as { menu: string; id: number }[]) this.cache.noteId(r.menu, r.id);
    this.refreshed(refresh);
  }

  private refreshed(refresh: number): void {
    if (refresh > this.refreshedUpTo) this.refreshedUpTo = refresh;
  }

  mark(): ReadMark {
    return this.refreshesBegun;
  }

  read<T>(fn: (tx: ReadTx) => T, since?: ReadMark): Promise<T> {
    this.usable();
    if (this.writers.trusted() || (since !== undefined && this.refreshedUpTo > since)) return this.readFresh(fn);
    return new Promise<T>((resolve, reject) => {
      this.reads.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.kick();
    });
  }

  /**
   * A read of a request for which a refresh begun after the request's mark has completed: the
   * copy holds everything committed before the request began, so the read runs at once, as on
   * SQLite. While a batch's COMMIT is under way the copy also holds that batch's changes: the
   * read records what it looks at and settles at once only if it saw none of them (what it read
   * is then committed state: the copy as the batch's lock found it, when no instance could
   * commit); otherwise once the COMMIT succeeded, or it runs again after a catch-up if the batch
   * was not saved.
   */
  private readFresh<T>(fn: (tx: ReadTx) => T): Promise<T> {
    const committing = this.committing;
    const footprint = committing ? new Footprint() : undefined;
    const tx = new PgTx(this.cache, undefined);
    const outcome = runRead((t: PgTx) => fn(footprint ? footprint.tap<ReadTx>(t) : t), tx, (on) => { this.busy = on; });
    if (!committing) return settle(outcome);
    // Not saved: the copy is back as before the batch; the read waits for a catch-up.
    return answerBesideBatch(outcome, footprint!, committing.changes, committing.readers, () => new Promise<T>((resolve, reject) => {
      this.reads.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.kick();
    }));
  }

  write<T>(fn: (tx: WriteTx) => T): Promise<T> {
    this.usable();
    return new Promise<T>((resolve, reject) => {
      this.writes.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.kick();
    });
  }

  view(): ReadTx {
    if (this.closing) throw new Error('store: the store is closed');
    return new PgTx(this.cache, undefined, true);
  }

  onChange(listener: (change: ChangeSet) => void): () => void {
    return this.announcer.listen(listener);
  }

  duty(name: string): Duty {
    return this.duties.claim(name);
  }

  /** Instances are named by their store connection's application_name (`rospki <instance>`). */
  readonly instances: StoreInstances = {
    self: this.instance,
    live: () => new Promise<ReadonlySet<string>>((resolve, reject) => {
      // Between batches (runTask): a statement sent during a batch would join its transaction.
      this.runTask(async () => {
        try {
          const { rows } = await this.link.query<{ name: string }>(
            "SELECT substr(application_name, 8) AS name FROM pg_stat_activity WHERE datname = current_database() AND application_name ~ '^rospki [0-9a-f]+$'");
          resolve(new Set(rows.map((r) => r.name)));
        } catch (e) {
          reject(e);
        }
      });
      if (this.closing) reject(new StoreUnavailable('the store is closed'));
    }),
  };

  seal(plain: Buffer): Buffer {
    return this.sealer.seal(plain);
  }

  unseal(sealed: Buffer): Buffer {
    return this.sealer.unseal(sealed);
  }

  /** Finishes what is queued, then closes the connections (closing() resolves when done). */
  close(): void {
    if (this.busy) throw new Error('store: close() called inside a transaction');
    if (this.closing) return;
    this.closing = true;
    this.closedPromise = new Promise<void>((resolve) => {
      const finish = () => { void this.shutdown().then(resolve); };
      if (!this.pumping && !this.pumpQueued) finish(); else this.afterPump = finish;
    });
  }

  /** Resolves once close() has finished (the connections are closed). */
  whenClosed(): Promise<void> {
    return this.closedPromise ?? Promise.resolve();
  }

  private async shutdown(): Promise<void> {
    this.duties.stop();
    this.writers.stop();
    clearTimeout(this.peerTimer);
    await Promise.all([this.listener.stop(), this.link.close()]);
  }

  private usable(): void {
    if (this.closing) throw new Error('store: the store is closed');
    if (this.busy) throw new Error('store: read()/write() called inside another transaction of the same store');
  }

  /** Runs work on the connection between batches (duties); urgent work before the next batch. */
  runTask(task: () => Promise<void>, urgent = false): void {
    if (this.closing) return;
    (urgent ? this.urgentTasks : this.tasks).push(task);
    this.kick();
  }

  /** The connection, for duty queries (only inside runTask). */
  get connection(): PgLink {
    return this.link;
  }

  private kick(): void {
    if (this.pumping || this.pumpQueued) return;
    // The end of this event-loop turn: writes made in the same turn share one batch.
    this.pumpQueued = setImmediate(() => {
      this.pumpQueued = undefined;
      void this.pump();
    });
  }

  /** One thing at a time on the connection: a write batch, a catch-up for reads, or a task. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        if (this.urgentTasks.length) await this.urgentTasks.shift()!().catch(() => {});
        else if (this.writes.length) await this.runBatch();
        else if (this.reads.length) await this.runReads();
        else if (this.tasks.length) await this.tasks.shift()!().catch(() => {});
        else break;
      }
    } finally {
      this.pumping = false;
      if (this.afterPump && !this.pumpQueued) { const f = this.afterPump; this.afterPump = undefined; f(); }
    }
  }

  /** Catches up, then runs the reads called so far. */
  private async runReads(): Promise<void> {
    const reads = this.reads.splice(0);
    let changed: ChangeSet | undefined;
    try {
      changed = await this.catchUp();
    } catch (e) {
      for (const r of reads) r.reject(e);
      return;
    }
    this.runQueuedReads(reads);
    if (changed) this.othersChanged(changed);
  }

  private runQueuedReads(reads: readonly PendingRead[]): void {
    for (const r of reads) {
      const outcome = runRead(r.fn, new PgTx(this.cache, undefined), (on) => { this.busy = on; });
      if ('error' in outcome) r.reject(outcome.error); else r.resolve(outcome.value);
    }
  }

  /** Brings the copy up to the database; what changed. */
  private async catchUp(): Promise<ChangeSet | undefined> {
    const refresh = ++this.refreshesBegun;
    const { text, values } = catchUpFrom(this.cache.seen);
    const { rows } = await this.link.query(text, values);
    const changed = await this.applyCatchUp(rows as CatchUpRow[]);
    this.refreshed(refresh);
    return changed;
  }

  private async applyCatchUp(rows: CatchUpRow[]): Promise<ChangeSet | undefined> {
    try {
      return this.cache.apply(rows);
    } catch (e) {
      if (!(e instanceof Rewound)) throw e;
      // The database was put back to an older state: read it all again.
      await this.load();
      return new ChangeSet(true);
    }
  }

  /**
   * One batch: lock the head and catch up, run every queued write's fn on the copy, write what
   * they changed and COMMIT; acknowledge them only then. The writes called while the lock was
   * awaited join the batch (their fns run after the catch-up like the others): with two busy
   * instances the lock is often held by the other, and the batches grow instead of queueing
   * behind one another. The reads queued meanwhile run once the lock is held, on the caught-up
   * copy before the fns: nothing can be committed between this batch's catch-up and its COMMIT.
   *
   * The sole writer (postgres-writers.ts) whose copy is trusted skips the first round trip: its
   * copy is the database's state, and no other instance can commit before this one's COMMIT, so
   * BEGIN, the changes and COMMIT go out together.
   */
  private async runBatch(): Promise<void> {
    const waiting = Math.min(this.writes.length, MAX_BATCH_WRITES);
    try {
      await this.writers.ready();
    } catch (e) {
      const error = e instanceof RosError ? e : new PgCommitError(`the change could not be saved: ${reasonOf(e)}`);
      for (const w of this.writes.splice(0, waiting)) w.reject(error);
      return;
    }
    const alone = this.writers.trusted();
    let othersChanged: ChangeSet | undefined;
    if (!alone) {
      const locked = await this.lockHead(waiting);
      if (!locked) return;
      othersChanged = locked.othersChanged;
    }
    const writes = this.writes.splice(0, MAX_BATCH_WRITES);
    // The reads called so far are answered now, before the batch's fns change the copy: from the
    // moment the head lock was granted until this batch's COMMIT no other instance can commit, so
    // the caught-up copy is the database's state at every instant of that span, and each of these
    // reads was called before the lock's reply came (it began before the read returns). They need
    // not wait for the COMMIT's round trip. (The sole writer's copy is that state already.)
    this.runQueuedReads(this.reads.splice(0));
    const batch = new BatchChanges(this.cache.seen + 1);
    const applied: Applied[] = [];
    for (const write of writes) {
      const tx = new PgTx(this.cache, batch);
      this.busy = true;
      try {
        const result = write.fn(tx);
        rejectAsync(result, 'write');
        tx.end();
        applied.push({ write, tx, result });
      } catch (e) {
        tx.rollback();
        write.reject(e);
      } finally {
        this.busy = false;
      }
    }
    if (othersChanged) this.othersChanged(othersChanged);
    if (batch.empty) {
      if (!alone) this.link.send('ROLLBACK');
      for (const a of applied) a.write.resolve(a.result);
      this.runQueuedReads(this.reads.splice(0));
      return;
    }
    // A read called since the lock (by a change listener) is answered after the COMMIT from this
    // copy: nothing can be committed between the lock and the COMMIT. A read called once the
    // COMMIT is on its way is not: another instance may commit after the server ran it and before
    // its reply is read here (its client told, then asking this instance), so such reads wait
    // for a catch-up.
    const readsBeforeCommit = this.reads.splice(0);
    const changes = batch.changeSet(this.cache);
    const committing = { changes, readers: [] as ((committed: boolean) => void)[] };
    this.committing = committing;
    let committed = false;
    let failure: unknown;
    try {
      const results = await this.link.pipeline([
        ...(alone ? [{ text: 'BEGIN' }] : []),
        batch.statement(this.instance),
        { text: 'COMMIT' },
      ]);
      committed = results[results.length - 1]!.command === 'COMMIT';
      if (!committed) failure = new Error('the transaction was rolled back');
    } catch (e) {
      failure = e;
    }
    this.committing = undefined;
    if (committed) {
      this.cache.seen = batch.version;
      for (const a of applied) a.write.resolve(a.result);
      this.changed(changes);
      this.runQueuedReads(readsBeforeCommit);
      for (const settle of committing.readers) settle(true);
      return;
    }
    // Not saved, or not known to be: the copy goes back to the state before the batch (what was
    // saved comes back with the next catch-up), and the reads wait for that catch-up.
    this.reads.unshift(...readsBeforeCommit);
    for (let i = applied.length - 1; i >= 0; i--) applied[i]!.tx.rollback();
    for (const settle of committing.readers) settle(false);
    if (connectionLost(failure)) {
      void this.resolveUncertain(batch, applied);
    } else {
      this.link.send('ROLLBACK');
      // The head had moved (rospki_advance_head): another instance wrote after all.
      if ((failure as { code?: string } | undefined)?.code === '40001') this.writers.distrust();
      const error = new PgCommitError(`the change could not be saved: ${reasonOf(failure)}`);
      process.emitWarning(`rospki store: commit failed, ${applied.length} change(s) not saved: ${reasonOf(failure)}`);
      for (const a of applied) a.write.reject(error);
    }
  }

  /**
   * The first round trip of a batch that does not write alone: BEGIN, the head lock, the catch-up.
   * What the catch-up brought, or undefined when it failed (the waiting writes are then rejected).
   */
  private async lockHead(waiting: number): Promise<{ othersChanged: ChangeSet | undefined } | undefined> {
    let locked: pg.QueryResult[];
    const refresh = ++this.refreshesBegun;
    try {
      locked = await this.link.pipeline([
        { text: 'BEGIN' },
        { text: 'SELECT version FROM rospki_head FOR UPDATE' },
        catchUpFrom(this.cache.seen),
      ]);
    } catch (e) {
      this.link.send('ROLLBACK');
      const error = e instanceof RosError ? e : new PgCommitError(`the change could not be saved: ${reasonOf(e)}`);
      for (const w of this.writes.splice(0, waiting)) w.reject(error);
      return undefined;
    }
    try {
      const othersChanged = this.cache.apply(locked[2]!.rows as CatchUpRow[]);
      this.refreshed(refresh);
      return { othersChanged };
    } catch (e) {
      this.link.send('ROLLBACK');
      if (e instanceof Rewound) await this.load().catch(() => {});
      for (const w of this.writes.splice(0, MAX_BATCH_WRITES)) w.reject(new StoreUnavailable('the database changed under this instance; try again'));
      return undefined;
    }
  }

  /**
   * The connection broke while the batch's COMMIT was under way: ask the database (once it is
   * back) whether the batch's token was committed.
   */
  private async resolveUncertain(batch: BatchChanges, applied: readonly Applied[]): Promise<void> {
    const deadline = Date.now() + RESOLVE_MS;
    for (;;) {
      try {
        const { rowCount } = await this.link.query(SQL.wasCommitted, [batch.version, batch.token]);
        if (rowCount === 1) {
          // Saved: the copy catches up on it before the writes are acknowledged.
          await new Promise<void>((resolve) => { this.reads.push({ fn: () => undefined, resolve: () => resolve(), reject: () => resolve() }); this.kick(); });
          for (const a of applied) a.write.resolve(a.result);
        } else {
          const error = new PgCommitError('the change could not be saved: the connection to the database was lost');
          for (const a of applied) a.write.reject(error);
        }
        return;
      } catch {
        if (Date.now() >= deadline || this.closing) break;
        await new Promise((r) => setTimeout(r, RESOLVE_RETRY_MS));
      }
    }
    const error = new PgCommitError('the connection to the database was lost while the change was being saved: it may or may not have been saved', true);
    for (const a of applied) a.write.reject(error);
  }

  /**
   * Another instance committed `version` (its NOTIFY; NaN: some commit): catch up, so listeners
   * learn of it, unless a catch-up made since brought it already (with two busy instances, most
   * notifications arrive after a read or batch of this one has caught up on them).
   */
  private othersCommitted(version: number): void {
    if (this.closing || this.cache.seen >= version || this.reads.length || this.writes.length) return;
    this.reads.push({ fn: () => undefined, resolve: () => {}, reject: () => {} });
    this.kick();
  }

  /**
   * A catch-up brought other instances' commits. Listeners (services reconcile when a change meets
   * what they read) hear of them at once when they last heard something PEER_ANNOUNCE_MS ago or
   * more, else at the end of that time, merged: with two busy instances every batch brings the
   * peer's commits, and announcing each made every instance reconcile without pause, its reads
   * queued before the commands' on the one connection. Reads see the changes at once either way
   * (each catches up).
   */
  private othersChanged(change: ChangeSet): void {
    if (!this.announcer.heard) return;
    this.peerChanges = this.peerChanges ? this.peerChanges.merge(change) : change;
    if (this.peerTimer) return;
    const announce = () => {
      const merged = this.peerChanges;
      this.peerChanges = undefined;
      if (merged && !this.closing) this.changed(merged);
    };
    const wait = this.announcedAt + PEER_ANNOUNCE_MS - performance.now();
    if (wait <= 0) { announce(); return; }
    this.peerTimer = setTimeout(() => { this.peerTimer = undefined; announce(); }, wait);
    this.peerTimer.unref();
  }

  /** Tells the listeners what changed (once per microtask at most, merged). */
  private changed(change: ChangeSet): void {
    if (!this.announcer.heard) return;
    this.announcedAt = performance.now();
    this.announcer.announce(change);
  }

}

/**
 * The LISTEN connection: another instance's commit wakes this one. Only a hint: it reconnects
 * by itself (every second while the server is away) and nothing depends on it for correctness.
 */
class PgListener {
  private link: PgLink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  /**
   * wake(version): another instance committed that version (NaN: some commit, or maybe some while
   * away); join(): another instance waits for the sole writer to let it write (postgres-writers.ts).
   */
  constructor(
    private readonly url: string, private readonly instance: string,
    private readonly wake: (version: number) => void, private readonly join: () => void,
  ) {}

  start(): void {
    if (this.stopped) return;
    const link = new PgLink({ url: this.url, applicationName: `rospki ${this.instance} listen`, pipeline: false, onLost: () => this.retry() });
    this.link = link;
    link.connect().then(async (client) => {
      client.on('notification', (n: pg.Notification) => {
        // `instance version` (SQL.apply) or `instance join`; the instance alone from a rospki before that.
        const [from, version] = (n.payload ?? '').split(' ');
        if (from === this.instance) return;
        if (version === 'join') this.join();
        else this.wake(version ? Number(version) : NaN);
      });
      await link.query(`LISTEN ${CHANNEL}`);
      // Commits made while this connection was away are caught up by the next read anyway.
      this.wake(NaN);
    }).catch(() => this.retry());
  }

  private retry(): void {
    if (this.stopped || this.timer) return;
    const old = this.link;
    this.link = undefined;
    void old?.close();
    this.timer = setTimeout(() => { this.timer = undefined; this.start(); }, 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.link?.close();
  }
}

/** Advisory-lock keys of duty names (FNV-1a, as a signed 32-bit integer). */
function dutyKey(name: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(`duty:${name}`)) h = Math.imul(h ^ byte, 0x01000193);
  return h | 0;
}

class PgDuty implements Duty {
  held = false;
  readonly key: number;
  private readonly listeners = new Set<(held: boolean) => void>();

  constructor(readonly name: string, private readonly owner: PgDuties) {
    this.key = dutyKey(name);
  }

  onChange(listener: (held: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  release(): void {
    this.owner.release(this);
  }

  set(held: boolean): void {
    if (this.held === held) return;
    this.held = held;
    queueMicrotask(() => { for (const l of [...this.listeners]) l(held); });
  }
}

/**
 * The duties claimed on one PostgreSQL store. The session holds one advisory lock per name; in
 * this process the first claim of a name holds it, the next takes over when it is released.
 */
class PgDuties {
  private readonly claims: PgDuty[] = [];
  /** Keys whose lock the store's current session holds. */
  private readonly locked = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly store: PostgresStore, private readonly pollMs: number) {}

  claim(name: string): Duty {
    const duty = new PgDuty(name, this);
    this.claims.push(duty);
    this.update();
    this.schedule(0);
    return duty;
  }

  release(duty: PgDuty): void {
    const at = this.claims.indexOf(duty);
    if (at < 0) return;
    this.claims.splice(at, 1);
    duty.set(false);
    if (this.locked.has(duty.key) && !this.candidate(duty.key)) this.unlock(duty.key);
    this.update();
  }

  /** The connection is gone, and its locks with it. */
  lost(): void {
    this.locked.clear();
    this.update();
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.locked.clear();
    for (const d of this.claims) d.set(false);
    this.claims.length = 0;
  }

  private candidate(key: number): PgDuty | undefined {
    return this.claims.find((d) => d.key === key);
  }

  private update(): void {
    for (const d of this.claims) d.set(this.locked.has(d.key) && this.candidate(d.key) === d);
  }

  private unlock(key: number): void {
    this.locked.delete(key);
    this.store.runTask(async () => {
      await this.store.connection.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, key]).catch(() => {});
    });
  }

  private schedule(ms: number): void {
    if (this.stopped || this.claims.length === 0) return;
    if (this.timer) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Ahead of queued batches: under steady load plain tasks wait for a pause, and a busy
      // instance must still take over a duty whose holder died.
      this.store.runTask(() => this.tryAll(), true);
    }, ms);
    this.timer.unref();
  }

  /**
   * Tries the locks of the names not held; when all are held, a cheap statement checks the
   * connection (a silent failure would otherwise go unnoticed until the next write).
   */
  private async tryAll(): Promise<void> {
    try {
      const link = this.store.connection;
      const wanted = [...new Set(this.claims.map((d) => d.key))].filter((k) => !this.locked.has(k));
      if (wanted.length === 0) {
        if (this.claims.length) await link.query('SELECT 1');
        return;
      }
      const { rows } = await link.query<{ key: number; got: boolean }>(
        'SELECT k AS key, pg_try_advisory_lock($1, k) AS got FROM unnest($2::int[]) AS k', [LOCK_CLASS, wanted]);
      for (const r of rows) {
        if (!r.got) continue;
        if (this.candidate(r.key) && !this.stopped) this.locked.add(r.key);
        else this.unlock(r.key); // released meanwhile
      }
      this.update();
    } catch {
      // Unreachable: nothing is held (lost() said so); tried again on the next poll.
    } finally {
      this.schedule(this.pollMs);
    }
  }
}
