// What each of the daemon's reconciles (the listeners of index.ts, every managed service) read
// from the store, so that a commit runs only the reconciles whose inputs it changed (issue 10:
// issuing a certificate no service uses made every service re-read its menus, plan TLS and
// compare its state rows after every command).
//
// Each reconcile reads the store through its own TappedStore, which records every read (list,
// get, findBy with what it found, blob) into the Footprint of its current run. The store
// announces each commit with what it changed (Store.onChange, ChangeSet); a reconcile runs again
// when that meets its footprint (ChangeSet.seenBy, the store's one rule), at once: the next
// connection after a command that changed what a service serves finds it applied. Reads are
// recorded whoever makes them through the tapped store (a service's own timers, its connection
// handlers): more reads only mean more runs, never a missed one.
//
// Inputs that are not rows (the clock, a daemon that died, a port that was busy) make every
// reconcile run: the ServiceManager's poll, the clock's onChange, and a store that announces
// `everything`. Other instances' commits on PostgreSQL are announced as rows too.

import type { Appliance } from '../appliance.js';
import { ChangeSet, Footprint } from '../store/changes.js';
import { claimDuty } from '../store/duty.js';
import type { Duty, ReadMark, ReadTx, Store, WriteTx } from '../store/store.js';
import type { ServiceContext } from './context.js';

/** A store that records what is read through it into `footprint` (writes pass through). */
class TappedStore implements Store {
  footprint = new Footprint();

  constructor(private readonly inner: Store) {}

  get instances() { return this.inner.instances; }

  read<T>(fn: (tx: ReadTx) => T, since?: ReadMark): Promise<T> {
    return this.inner.read((tx) => fn(this.footprint.tap(tx)), since);
  }

  mark(): ReadMark { return this.inner.mark(); }

  write<T>(fn: (tx: WriteTx) => T): Promise<T> {
    return this.inner.write((tx) => fn(this.footprint.tap(tx)));
  }

  view(): ReadTx {
    const view = this.inner.view();
    // Recorded into the footprint of the moment of each read, not of the view() call.
    return {
      list: (menu) => this.footprint.tap(view).list(menu),
      count: (menu) => this.footprint.tap(view).count(menu),
      get: (menu, id) => this.footprint.tap(view).get(menu, id),
      findBy: (menu, field, value) => this.footprint.tap(view).findBy(menu, field, value),
      getBlob: (menu, id, name) => this.footprint.tap(view).getBlob(menu, id, name),
    };
  }

  onChange(listener: (change: ChangeSet) => void): () => void {
    return this.inner.onChange?.(listener) ?? (() => {});
  }

  /** Claimed on the store itself: one election per store, however many taps it has. */
  duty(name: string): Duty {
    return claimDuty(this.inner, name);
  }

  seal(plain: Buffer): Buffer { return this.inner.seal(plain); }
  unseal(sealed: Buffer): Buffer { return this.inner.unseal(sealed); }
  close(): void { this.inner.close(); }
}

/**
 * One reconcile (the listeners, or one managed service) and what its last run read. Runs one at a
 * time; asked while running, it runs again right after.
 */
export class Reconciler {
  private readonly tapped: TappedStore;
  /** Must run: never ran, or something it read changed since its run began. */
  private dirty = true;
  private running: Promise<void> | undefined;

  constructor(store: Store, private readonly work: () => Promise<void>, private readonly internalError: (e: unknown) => void) {
    this.tapped = new TappedStore(store);
  }

  /**
   * The appliance as this reconcile sees it: app.store and app.env.store are the tapped store
   * (helpers that take env read through it too); everything else is the appliance itself.
   */
  appliance(app: Appliance): Appliance {
    const env = { ...app.env, store: this.tapped as Store };
    return Object.create(app, { store: { value: this.tapped }, env: { value: env } }) as Appliance;
  }

  /** A service context whose appliance is this reconcile's (appliance()). */
  context(ctx: ServiceContext): ServiceContext {
    return { ...ctx, app: this.appliance(ctx.app) };
  }

  /** The store this reconcile reads through. */
  get reads(): Store {
    return this.tapped;
  }

  /**
   * A commit changed `change`: run again if it meets what the current or last run read. A read
   * the current run makes after this saw the change already, so checking what it read so far is
   * enough.
   */
  changed(change: ChangeSet): Promise<void> | undefined {
    if (!this.dirty && !change.seenBy(this.tapped.footprint)) return undefined;
    return this.request();
  }

  /** Runs now (or again right after the running one), whatever changed. */
  request(): Promise<void> {
    this.dirty = true;
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        while (this.dirty) {
          this.dirty = false;
          this.tapped.footprint = new Footprint();
          await this.work().catch((e: unknown) => this.internalError(e));
        }
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Stops running on changes; a run under way finishes. */
  stop(): Promise<void> {
    this.dirty = false;
    return this.running ?? Promise.resolve();
  }
}
