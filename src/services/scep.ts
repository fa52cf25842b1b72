// The SCEP work of the daemon beyond answering requests (the servers answer in http.ts): the
// certificates of /certificate add-scep (and of the RAs of scep-server ra) whose requests wait at
// their server are asked about again, requests that could not be sent are sent again, and
// certificates are renewed at 75 % of their validity (menus/certificate/scep-client.ts does the
// work). A ManagedService: it plans
// a timer for the earliest row that wants attention whenever the store or the clock changes.
// It is a singleton duty (store/duty.ts, issue 17): of several daemons on one PostgreSQL store,
// one asks and renews; another takes over when it stops or dies (work it had started is aborted
// and picked up again from the rows by the new holder).

import { nextClientWork, runDueClients } from '../menus/certificate/scep-client.js';
import { prepareRas } from '../menus/certificate/scep-ra.js';
import { runAsJob } from '../menus/system/script-job.js';
import { holdDuty, type HeldDuty } from '../store/duty.js';
import type { ServiceContext } from './context.js';
import type { ManagedService } from './managed.js';

/** The longest wait between two looks (a clock moved by another process is noticed by then). */
const MAX_WAIT_MS = 60_000;
/** The duty's name: one SCEP client loop among the daemons of a store. */
export const SCEP_DUTY = 'scep-client';

export class ScepWork implements ManagedService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Aborts the work started while this daemon held the duty (a new one per holding). */
  private abort = new AbortController();
  private unsubscribe: (() => void) | undefined;
  /** This daemon holds the duty: it asks and renews. */
  private active = false;
  private readonly duty: HeldDuty;

  constructor(private readonly ctx: ServiceContext) {
    this.duty = holdDuty(ctx.app.store, SCEP_DUTY, {
      start: () => {
        this.active = true;
        this.abort = new AbortController();
        // Moving the clock (or a test moving its FixedClock) makes work due at once.
        this.unsubscribe = ctx.app.env.clock.onChange?.(() => { void this.reconcile(); });
        void this.reconcile();
      },
      stop: async () => {
        this.active = false;
        this.unsubscribe?.();
        this.unsubscribe = undefined;
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        this.abort.abort();
        await this.running;
      },
    });
  }

  async reconcile(): Promise<void> {
    if (this.stopped || !this.active) return;
    const env = this.ctx.app.env;
    let next: number | undefined;
    try {
      // An RA's certificate is enrolled like any SCEP certificate.
      await prepareRas(env);
      next = await nextClientWork(env);
    } catch (e) {
      if (!this.stopped) this.ctx.internalError(e);
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (next === undefined || this.stopped || !this.active) return;
    this.timer = setTimeout(() => this.run(), Math.max(0, Math.min(next - env.clock.now(), MAX_WAIT_MS)));
    this.timer.unref();
  }

  private run(): void {
    if (this.running || this.stopped || !this.active) return;
    this.running = (async () => {
      try {
        const env = this.ctx.app.env;
        // Each piece of work is a job of /system script job while it runs (stoppable there).
        const { signal } = this.abort;
        await runDueClients(env, signal, (info, fn) =>
          runAsJob(env, { script: info.script, type: 'command', owner: info.owner, policy: ['read', 'write'] }, signal, fn));
      } catch (e) {
        if (!this.stopped) this.ctx.internalError(e);
      } finally {
        this.running = undefined;
      }
      await this.reconcile();
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.duty.release();
  }
}
