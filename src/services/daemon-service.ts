// A managed service made of supervised daemons, one per enabled row (OpenVPN, 802.1X): what is
// common to them — plans made only when what they are made of changed (or every refreshMs while
// something is enabled), daemons brought in line with the plans (supervisor.ts applyPlans), a
// killed rospki's leftovers reaped once, the rows' state written (row-states.ts), and a stop that
// leaves nothing running. Each service says what its plans are made of, what they are, and how
// a daemon is made.

import path from 'node:path';
import type { ReadTx, StoredRow } from '../store/store.js';
import { StoreBatch } from './batch.js';
import type { ServiceContext } from './context.js';
import type { ManagedService } from './managed.js';
import type { RowStates } from './row-states.js';
import { applyPlans, reapLeftovers } from './supervisor.js';

export interface ManagedDaemon<P> {
  apply(plan: P): Promise<void>;
  stop(): Promise<void>;
}

export abstract class DaemonService<P, V extends { readonly plan: P }, D extends ManagedDaemon<P>> implements ManagedService {
  /** /log lines and small row updates of the daemons, written together. */
  readonly batch: StoreBatch;
  protected readonly runRoot: string;
  protected readonly daemons = new Map<string, D>();
  protected stopped = false;
  /** Set when something that is no row changed (the clock moved): plan again at the next reconcile. */
  protected replan = false;
  private reaped = false;
  /** The lists the plans were made from, and when: see unchanged(). */
  private inputs: ReadonlyArray<readonly StoredRow[]> | undefined;
  private planned = 0;
  protected abstract readonly states: RowStates;

  /**
   * `topic`: of /log lines the batch writes for it; `folderPrefix`: its daemons' runtime folders
   * (`ovpn-`), whose leftovers are reaped; `refreshMs`: plans are made at least this often while
   * something is enabled (a local CRL due for renewal changes nothing in the store until renewed).
   */
  constructor(readonly ctx: ServiceContext, topic: string, private readonly folderPrefix: string, private readonly refreshMs: number) {
    this.runRoot = path.join(ctx.app.dataDir.root, 'run');
    this.batch = new StoreBatch(ctx.app, topic, ctx.internalError);
  }

  /**
   * The store's lists the plans are made of now; `busy` false when nothing is enabled (then only
   * the service's own lists are given, so that issuing certificates does not make it plan:
   * inputs.ts).
   */
  protected abstract inputLists(tx: ReadTx): { lists: ReadonlyArray<readonly StoredRow[]>; busy: boolean };
  /** What each enabled row should run, by daemon key. */
  protected abstract plans(): Promise<ReadonlyMap<string, V>>;
  protected abstract make(planned: V): D;
  /** At every reconcile (also every poll), before anything else: state that is no row of the store. */
  protected poll(): void {}
  /** Before the daemons stop. */
  protected stopping(): void {}

  async reconcile(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.reaped) {
        // A killed rospki's daemons would still hold their ports and interfaces.
        this.reaped = true;
        await reapLeftovers(this.runRoot, this.folderPrefix);
      }
      this.poll();
      if (await this.unchanged()) return;
      await applyPlans(this.daemons, await this.plans(), (planned) => this.make(planned), () => this.stopped);
      await this.states.write();
    } catch (e) {
      this.inputs = undefined; // try again at the next change or poll
      this.ctx.internalError(e);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping();
    await Promise.all([...this.daemons.values()].map((d) => d.stop().catch((e) => this.ctx.internalError(e))));
    this.daemons.clear();
    await this.states.stop(); // nothing runs: the rows say so
    await this.batch.flush();
  }

  /**
   * Whether nothing the plans are made of changed since the last ones: the store hands out the
   * same list of a menu until a row of it changes (store/cache.ts, copy on write), so busy menus
   * (/log, written at every login) cost nothing here.
   */
  private async unchanged(): Promise<boolean> {
    const { lists, busy } = await this.ctx.app.store.read((tx) => this.inputLists(tx));
    const same = this.inputs !== undefined && lists.length === this.inputs.length && lists.every((list, i) => list === this.inputs![i])
      && (!busy || Date.now() - this.planned < this.refreshMs) && !this.replan;
    this.replan = false;
    if (!same) {
      this.inputs = lists;
      this.planned = Date.now();
    }
    return same;
  }
}
