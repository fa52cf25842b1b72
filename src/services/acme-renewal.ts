// The daemon's ACME renewal loop (issue 14 §4): every ACME-managed certificate is renewed when
// it is due (acme-state.ts: 80 % of its validity, or the CA's renewal window of RFC 9773, or the
// back-off after a failure), judged by the router clock, so moving /system clock triggers it.
// It is a ManagedService and a singleton duty (store/duty.ts): one loop runs among every daemon of
// the store — one per data directory for SQLite (a second start of the services in the same
// process waits), one among the instances of a PostgreSQL store (issue 17), and another takes over
// when that one stops or dies. It wakes on every store change, when the clock is moved and on its
// own timer, and starts at most one job per certificate (a command's job for the same certificate
// is the same job). Failures are recorded by the job (row, /log) with their retry. A loop that
// loses the duty (its database connection broke) stops the jobs it started: the new holder
// renews them (the loss awaits their end). The timer, the one look at a time and the jobs with
// their abort switches are a DutyLoop's (store/duty-loop.ts).

import { AcmeAborted } from '../acme/index.js';
import { CERT_PATH } from '../menus/certificate/properties.js';
import { ACME, ACME_KIND, acmeDueAt } from '../menus/certificate/acme-state.js';
import { abortJobs, jobRunning, refreshRenewalInfo, rowJob, rowJobKey } from '../menus/certificate/acme-issue.js';
import { acmeResponder } from '../menus/certificate/acme-responder.js';
import type { Environment } from '../menu/types.js';
import { DutyLoop } from '../store/duty-loop.js';
import type { ServiceContext } from './context.js';
import type { ManagedService } from './managed.js';

/** The loop looks again at least this often (the router clock may be moved in between). */
const MAX_SLEEP_MS = 60_000;
/** The duty's name: one renewal loop among the daemons of a store. */
export const ACME_DUTY = 'acme-renewal';

interface Due {
  id: number;
  due: number;
  /** When the renewal information is to be asked for again (servers with RFC 9773). */
  ariCheck?: number;
}

export class AcmeRenewal implements ManagedService {
  private readonly asking = new Set<number>();
  private unsubscribe: (() => void) | undefined;
  /** The timer, one look at a time and the renewals it started (one per row), while it holds the duty. */
  private readonly loop: DutyLoop<number>;

  constructor(private readonly env: Environment) {
    this.loop = new DutyLoop(env.store, {
      duty: ACME_DUTY,
      look: () => this.lookNow(),
      // `/system clock set` moves the router clock: what is due changes at once.
      activate: () => { this.unsubscribe = env.clock.onChange?.(() => { void this.reconcile().catch(() => {}); }); },
      deactivate: () => {
        this.unsubscribe?.();
        this.unsubscribe = undefined;
      },
      // A look that failed (the store) is tried again at the next change or poll; the jobs record their own failures.
      report: () => {},
    });
  }

  reconcile(): Promise<void> {
    return this.loop.look();
  }

  private async lookNow(): Promise<void> {
    if (!this.loop.active) return;
    const { env } = this;
    const now = env.clock.now();
    const rows = await env.store.read((tx): Due[] => ['ssl', 'client'].flatMap((kind) => tx.findBy(CERT_PATH, ACME_KIND, kind)).map((r) => ({
      id: r.id,
      due: acmeDueAt(r.data) ?? Infinity,
      ariCheck: r.data[ACME.ari] === true && r.data.fingerprint !== undefined ? Number(r.data[ACME.ariCheck] ?? 0) : undefined,
    })));
    let next = Infinity;
    for (const r of rows) {
      if (jobRunning(env, rowJobKey(r.id)) || this.loop.has(r.id)) continue;
      if (r.due <= now) {
        void this.loop.run(r.id, (signal) => this.renew(r.id, signal), undefined);
        continue;
      }
      next = Math.min(next, r.due);
      if (r.ariCheck === undefined) continue;
      if (r.ariCheck <= now) this.ask(r.id); else next = Math.min(next, r.ariCheck);
    }
    this.loop.wake(Math.min(MAX_SLEEP_MS, Math.max(1000, next - now)));
  }

  /** The row's job (acme-issue.ts), stopped when the loop loses the duty; its outcome is recorded in the row and /log. */
  private async renew(id: number, signal: AbortSignal): Promise<void> {
    const job = rowJob(this.env, id);
    const abort = () => job.controller.abort(new AcmeAborted());
    signal.addEventListener('abort', abort, { once: true });
    try {
      await job.promise;
    } catch {
      // Recorded by the job.
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  private ask(id: number): void {
    if (this.asking.has(id)) return;
    this.asking.add(id);
    void refreshRenewalInfo(this.env, id).catch(() => {}).finally(() => this.asking.delete(id));
  }

  async stop(): Promise<void> {
    const wasActive = this.loop.active;
    await this.loop.stop();
    if (!wasActive) return;
    // The daemon stops: every job of this appliance ends (a command's too), without counting a failure.
    abortJobs(this.env);
    acmeResponder(this.env).closeAll();
  }
}

export const acmeRenewalService = (ctx: ServiceContext): ManagedService => new AcmeRenewal(ctx.app.env);
