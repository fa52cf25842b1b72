// The sole writer of a PostgreSQL store (issue 17, "one instance"): an instance that knows no
// other instance can commit needs no round trip to be sure its copy is current. Its reads then
// run on the copy at once, as on SQLite, and a batch goes out in one round trip (BEGIN, its
// changes, COMMIT) instead of two (the head lock and catch-up first). With several instances
// nothing changes: every read catches up and every batch locks the head (postgres.ts).
//
// Knowing it is alone. Every instance holds the writers' advisory lock (session level) before it
// commits: shared while others write too, exclusively when it is the sole writer. An instance
// takes it exclusively only when no other instance's store connection is there (pg_stat_activity,
// the application_name `rospki <instance>`); one that finds it held exclusively asks the holder
// to let go (NOTIFY `<instance> join` on the store's channel, repeated) and retries until the
// holder has turned its lock into a shared one. Each instance looks every poll (the duties'
// period): a sole writer that sees another instance connected lets go; a shared writer that sees
// none takes the lock exclusively.
//
// The lease. A session's locks end with the session, possibly before its client learns of it (the
// server restarted, the backend was terminated): from then on another instance may write while
// this one still believes it is alone. So the copy is trusted only within LEASE_MS of sending a
// request that was answered on the session (PgLink.confirmedAt: the session, and the lock, still
// existed after that instant), and an instance that newly takes the lock (in either mode)
// commits nothing for GRACE_MS > LEASE_MS: by then a former sole writer stopped trusting its
// copy. Under load every batch renews the lease; an idle instance's first read catches up as
// before. The head advances one version per commit or the commit fails (postgres-schema.ts
// migration 3), so a bug here could fail a write, never overwrite another instance's.

import { StoreUnavailable, type PgLink } from './postgres-link.js';
import { LOCK_CLASS, WRITERS_LOCK } from './postgres-schema.js';

/** The copy is trusted this long after sending a request that was answered (ms). */
export const LEASE_MS = 100;
/** An instance that newly holds the writers' lock commits nothing before this (ms; > LEASE_MS). */
export const GRACE_MS = 150;
/** How often an instance waiting for the sole writer to let go asks again (ms). */
const JOIN_RETRY_MS = 25;
/** How long a write waits for the sole writer to let go (as the head lock's lock_timeout). */
const JOIN_TIMEOUT_MS = 20_000;

/** Another instance's store connection is there (the LISTEN connections are named `… listen`). */
const OTHERS = `EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
  AND application_name ~ '^rospki [0-9a-f]+$' AND pid <> pg_backend_pid())`;
const SQL = {
  /** Exclusively when alone, else shared, else not at all (a sole writer holds it). */
  acquire: `SELECT CASE
    WHEN (CASE WHEN ${OTHERS} THEN false ELSE pg_try_advisory_lock($1, $2) END) THEN 'sole'
    WHEN pg_try_advisory_lock_shared($1, $2) THEN 'shared'
    ELSE 'none' END AS mode`,
  /** From shared to exclusive, when no other instance is there (the shared lock is let go after). */
  upgrade: `SELECT CASE WHEN ${OTHERS} THEN false ELSE pg_try_advisory_lock($1, $2) END AS sole`,
  others: `SELECT ${OTHERS} AS others`,
  lockShared: 'SELECT pg_advisory_lock_shared($1, $2)',
  unlockShared: 'SELECT pg_advisory_unlock_shared($1, $2)',
  unlock: 'SELECT pg_advisory_unlock($1, $2)',
  join: 'SELECT pg_notify($1, $2)',
};
const KEY = [LOCK_CLASS, WRITERS_LOCK];

export type WriterMode = 'none' | 'shared' | 'sole';

/** What the writers' lock needs of its store. */
export interface WriterHost {
  readonly link: PgLink;
  /** This instance's name (`rospki <instance>`), and the store's NOTIFY channel. */
  readonly instance: string;
  readonly channel: string;
  /** Runs work on the connection between batches and catch-ups; urgent work first. */
  runTask(task: () => Promise<void>, urgent?: boolean): void;
  /** Refreshes begun so far, and the newest one completed (postgres.ts Store.mark). */
  refreshesBegun(): number;
  refreshedUpTo(): number;
}

export class WriterLock {
  private mode: WriterMode = 'none';
  /** The session (PgLink.generation) the lock is held in. */
  private generation = -1;
  /** performance.now() before which this instance commits nothing (GRACE_MS). */
  private writableAt = 0;
  /** The copy is current once a refresh numbered this or higher has completed in sole mode. */
  private soleFrom = Infinity;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly host: WriterHost, private readonly pollMs: number) {}

  /**
   * Whether the copy is the database's state now: this instance is the sole writer, its copy
   * caught up since it became so, and its session was seen within the lease.
   */
  trusted(): boolean {
    const { link } = this.host;
    return this.mode === 'sole' && this.current()
      && this.host.refreshedUpTo() >= this.soleFrom
      && performance.now() - link.confirmedAt < LEASE_MS;
  }

  /**
   * Before a batch (on the store's connection, inside its pump): holds the writers' lock in some
   * mode, asking a sole writer to let go if need be, and waits out the grace of a new hold.
   */
  async ready(): Promise<void> {
    if (!this.current()) {
      const deadline = performance.now() + JOIN_TIMEOUT_MS;
      while (!(await this.acquire())) {
        if (performance.now() > deadline) throw new StoreUnavailable('timed out waiting for another instance to let this one write');
        await this.host.link.query(SQL.join, [this.host.channel, `${this.host.instance} join`]);
        await sleep(JOIN_RETRY_MS);
      }
    }
    const wait = this.writableAt - performance.now();
    if (wait > 0) await sleep(wait);
  }

  /** Another instance asks to write (its NOTIFY): a sole writer lets go at once. */
  joinRequested(): void {
    this.letGo();
  }

  /** Something says another instance wrote after all (the head moved): stop trusting the copy. */
  distrust(): void {
    this.letGo();
  }

  /** The session is gone, and its locks with it. */
  lost(): void {
    this.mode = 'none';
    this.generation = -1;
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private current(): boolean {
    const { link } = this.host;
    return this.mode !== 'none' && link.connected && link.generation === this.generation;
  }

  /** Tries for the lock once; true when held. */
  private async acquire(): Promise<boolean> {
    const { link } = this.host;
    const { rows } = await link.query<{ mode: WriterMode }>(SQL.acquire, KEY);
    const mode = rows[0]!.mode;
    if (mode === 'none') return false;
    this.mode = mode;
    this.generation = link.generation;
    this.writableAt = performance.now() + GRACE_MS;
    this.soleFrom = mode === 'sole' ? this.host.refreshesBegun() + 1 : Infinity;
    return true;
  }

  /**
   * From sole to shared: the copy is not trusted from this moment (before the lock is let go, so
   * no read trusts it once another instance can write), then the session takes the shared lock
   * and lets the exclusive one go, ahead of queued batches (a busy instance would otherwise keep
   * the joining one waiting).
   */
  private letGo(): void {
    if (this.mode !== 'sole') return;
    this.mode = 'shared';
    this.soleFrom = Infinity;
    const generation = this.generation;
    this.host.runTask(async () => {
      const { link } = this.host;
      if (link.generation !== generation || !link.connected) return;
      await link.pipeline([{ text: SQL.lockShared, values: KEY }, { text: SQL.unlock, values: KEY }]).catch(() => {});
    }, true);
  }

  private schedule(): void {
    if (this.stopped) return;
    // Urgent: under steady load plain tasks wait for a pause, and a joining instance must not.
    this.timer = setTimeout(() => this.host.runTask(() => this.look(), true), this.pollMs);
    this.timer.unref();
  }

  /**
   * Every poll: a sole writer that sees another instance lets go; a shared one that sees none
   * becomes the sole writer; one without the lock takes it (reads trust the copy sooner).
   */
  private async look(): Promise<void> {
    const { link } = this.host;
    try {
      if (!this.current()) {
        if (link.connected) await this.acquire();
      } else if (this.mode === 'sole') {
        const { rows } = await link.query<{ others: boolean }>(SQL.others);
        if (rows[0]!.others) this.letGo();
      } else {
        const { rows } = await link.query<{ sole: boolean }>(SQL.upgrade, KEY);
        if (rows[0]!.sole && this.mode === 'shared' && this.current()) {
          this.mode = 'sole';
          this.soleFrom = this.host.refreshesBegun() + 1;
          await link.query(SQL.unlockShared, KEY);
        }
      }
    } catch {
      // The connection is gone (lost() said so) or the server refused: tried again next poll.
    } finally {
      this.schedule();
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
