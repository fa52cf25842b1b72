// The SCEP work of the daemon beyond answering requests (the servers answer in http.ts): the
// certificates of /certificate add-scep (and of the RAs of scep-server ra) whose requests wait at
// their server are asked about again, requests that could not be sent are sent again, and
// certificates are renewed at 75 % of their validity (menus/certificate/scep-client.ts does the
// work). A ManagedService on a DutyLoop (store/duty-loop.ts): each look (whenever the store or
// the clock changes) plans the next one for the earliest row that wants attention, or runs the
// due work as the loop's job.
// It is a singleton duty (store/duty.ts, issue 17): of several daemons on one PostgreSQL store,
// one asks and renews; another takes over when it stops or dies (work it had started is aborted
// and picked up again from the rows by the new holder).

import { nextClientWork, runDueClients } from '../menus/certificate/scep-client.js';
import { prepareRas } from '../menus/certificate/scep-ra.js';
import { runAsJob } from '../menus/system/script-job.js';
import { DutyLoop } from '../store/duty-loop.js';
import type { ServiceContext } from './context.js';
import type { ManagedService } from './managed.js';

/** The longest wait between two looks (a clock moved by another process is noticed by then). */
const MAX_WAIT_MS = 60_000;
/** The duty's name: one SCEP client loop among the daemons of a store. */
export const SCEP_DUTY = 'scep-client';

/** The loop's one job: the due work of every SCEP row. */
const DUE_WORK = 0;

export class ScepWork implements ManagedService {
  private unsubscribe: (() => void) | undefined;
  /** The timer of the next look, one look at a time and the run of the due work, while it holds the duty. */
  private readonly loop: DutyLoop<typeof DUE_WORK>;

  constructor(private readonly ctx: ServiceContext) {
    this.loop = new DutyLoop(ctx.app.store, {
      duty: SCEP_DUTY,
      look: () => this.lookNow(),
      // Moving the clock (or a test moving its FixedClock) makes work due at once.
      activate: () => { this.unsubscribe = ctx.app.env.clock.onChange?.(() => { void this.reconcile(); }); },
      deactivate: () => {
        this.unsubscribe?.();
        this.unsubscribe = undefined;
      },
      // The run's end looks again: what it did not finish, and what came due meanwhile.
      wakeOnJobEnd: true,
      report: (e) => { if (!this.loop.stopped) this.ctx.internalError(e); },
    });
  }

  reconcile(): Promise<void> {
    return this.loop.look();
  }

  private async lookNow(): Promise<void> {
    if (!this.loop.active) return;
    const env = this.ctx.app.env;
    let next: number | undefined;
    try {
      // An RA's certificate is enrolled like any SCEP certificate.
      await prepareRas(env);
      next = await nextClientWork(env);
    } catch (e) {
      if (!this.loop.stopped) this.ctx.internalError(e);
      return;
    }
    // A run under way looks again when it ends.
    if (next === undefined || this.loop.has(DUE_WORK)) return;
    const wait = next - env.clock.now();
    if (wait > 0) this.loop.wake(Math.min(wait, MAX_WAIT_MS));
    else void this.loop.run(DUE_WORK, (signal) => this.runDue(signal), undefined);
  }

  private async runDue(signal: AbortSignal): Promise<void> {
    try {
      const env = this.ctx.app.env;
      // Each piece of work is a job of /system script job while it runs (stoppable there).
      await runDueClients(env, signal, (info, fn) =>
        runAsJob(env, { script: info.script, type: 'command', owner: info.owner, policy: ['read', 'write'] }, signal, fn));
    } catch (e) {
      if (!this.loop.stopped) this.ctx.internalError(e);
    }
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
