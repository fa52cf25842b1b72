// The loop of a singleton duty (duty.ts) that looks at its work now and then and starts jobs
// from it: /system scheduler (its events), netwatch (its tests), the CRL scheduler (its passes),
// the ACME renewal loop (its renewals), the SCEP client work and the NTP client (its polls). It
// keeps what they need alike: the timer of the next look, one look at a time, the running jobs
// with their abort switches, and the stop that ends them all when the duty is lost.

import { holdDuty, type HeldDuty } from './duty.js';
import type { Store } from './store.js';

export interface DutyLoopOptions {
  /** The duty's name (one loop among the daemons of a store). */
  readonly duty: string;
  /**
   * One look at the work: starts what is due (DutyLoop.run) and plans the next look
   * (DutyLoop.wake). It checks `active` itself: a look asked for by a caller runs also when
   * the loop does not. `signal` is aborted when the duty is lost (already, outside a holding):
   * for work a look does itself (the CRL scheduler's pass), which stop then awaits.
   */
  look(signal: AbortSignal): Promise<void>;
  /**
   * It holds the duty now, before its first look; the looks wait for the promise. It may run
   * inside the DutyLoop's constructor (the duty is held at once): it must not reach its loop
   * before it returns, only from callbacks that run later.
   */
  activate?(): Promise<void> | void;
  /** It lost the duty: called once its last look and every job have ended. */
  deactivate?(): Promise<void> | void;
  /** Look again when a job ends (its place is free). */
  wakeOnJobEnd?: boolean;
  /** How long after it gets the duty the loop looks first (default at once). */
  firstLookMs?: number;
  /** A failure no caller awaits: of a look the timer started, of activate. */
  report(e: unknown): void;
}

interface Job<T> {
  readonly promise: Promise<void>;
  readonly abort: AbortController;
  readonly tag: T;
}

/**
 * Runs looks while this process holds the duty. `K` names a job (one at a time per name), `T`
 * is what its starter keeps of it (netwatch: whether it pings).
 */
export class DutyLoop<K, T = undefined> {
  private readonly jobs = new Map<K, Job<T>>();
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private ready: Promise<void> = Promise.resolve();
  private isActive = false;
  private isStopped = false;
  /** Aborted when the duty is lost; a new one for each holding (none yet: an aborted one). */
  private holding = abortedController();
  private readonly duty: HeldDuty;

  constructor(store: Store, private readonly opts: DutyLoopOptions) {
    // holdDuty may start at once: every field above is set by now.
    this.duty = holdDuty(store, opts.duty, { start: () => this.activate(), stop: () => this.deactivate() });
  }

  /** This process holds the duty: its loop runs. */
  get active(): boolean {
    return this.isActive;
  }

  /** stop() was called: what fails now is the shutdown's doing. */
  get stopped(): boolean {
    return this.isStopped;
  }

  /** How many jobs run. */
  get size(): number {
    return this.jobs.size;
  }

  /** Whether the job of `key` runs. */
  has(key: K): boolean {
    return this.jobs.has(key);
  }

  /** The tags of the running jobs. */
  tags(): T[] {
    return [...this.jobs.values()].map((j) => j.tag);
  }

  /** Plans the next look in `ms` (replacing the one planned); nothing while the loop does not run. */
  wake(ms: number): void {
    if (!this.isActive || this.isStopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.look().catch((e) => this.opts.report(e)); }, Math.max(0, ms));
    // A planned look keeps no process alive.
    this.timer.unref();
  }

  /**
   * One look at a time; the looks asked for meanwhile share the one that follows it (what they
   * want to see may have changed after the current one read it).
   */
  look(): Promise<void> {
    if (!this.current) {
      this.current = this.ready.then(() => this.opts.look(this.holding.signal)).finally(() => { this.current = undefined; });
      return this.current;
    }
    this.queued ??= this.current.catch(() => {}).then(() => { this.queued = undefined; return this.look(); });
    return this.queued;
  }

  /**
   * Starts the job of `key` with its own abort signal; it leaves the running ones when it ends.
   * Nothing starts once the duty is lost or given up (a look under way when it was found the
   * running jobs already aborted): another process may hold the duty by now.
   */
  run(key: K, job: (signal: AbortSignal) => Promise<void>, tag: T): Promise<void> {
    if (!this.isActive || this.isStopped) return Promise.resolve();
    const abort = new AbortController();
    const promise = job(abort.signal).finally(() => {
      this.jobs.delete(key);
      if (this.opts.wakeOnJobEnd) this.wake(0);
    });
    this.jobs.set(key, { promise, abort, tag });
    return promise;
  }

  /** Resolves once no job runs (also the ones started while it waits). */
  async idle(): Promise<void> {
    while (this.jobs.size > 0) await Promise.all([...this.jobs.values()].map((j) => j.promise));
  }

  /** No new looks; running jobs are aborted and awaited, and the duty is given up. */
  async stop(): Promise<void> {
    this.isStopped = true;
    await this.duty.release();
  }

  private activate(): void {
    this.isActive = true;
    this.holding = new AbortController();
    this.ready = (async () => this.opts.activate?.())().catch((e) => this.opts.report(e));
    this.wake(this.opts.firstLookMs ?? 0);
  }

  /** Lost or given up: nothing new starts, what runs is aborted, and everything is awaited. */
  private async deactivate(): Promise<void> {
    this.isActive = false;
    if (this.timer) clearTimeout(this.timer);
    this.holding.abort();
    for (const j of this.jobs.values()) j.abort.abort();
    await this.current?.catch(() => {});
    await this.idle();
    await this.opts.deactivate?.();
  }
}

function abortedController(): AbortController {
  const c = new AbortController();
  c.abort();
  return c;
}
