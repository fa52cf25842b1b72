// The daemon's ACME renewal loop (issue 14 §4): every ACME-managed certificate is renewed when
// it is due (acme-state.ts: 80 % of its validity, or the CA's renewal window of RFC 9773, or the
// back-off after a failure), judged by the router clock, so moving /system clock triggers it.
// It is a ManagedService, so one runs per daemon (and a second start of the services on the same
// appliance leaves the first in charge); it wakes on every store change, when
// the clock is moved and on its own timer, and starts at most one job per certificate (a command's job for the same
// certificate is the same job). Failures are recorded by the job (row, /log) with their retry.

import { CERT_PATH } from '../menus/certificate/properties.js';
import { ACME, ACME_KIND, acmeDueAt } from '../menus/certificate/acme-state.js';
import { abortJobs, jobRunning, refreshRenewalInfo, rowJob, rowJobKey } from '../menus/certificate/acme-issue.js';
import { acmeResponder } from '../menus/certificate/acme-responder.js';
import type { Environment } from '../menu/types.js';
import type { ServiceContext } from './context.js';
import type { ManagedService } from './managed.js';

/** The loop looks again at least this often (the router clock may be moved in between). */
const MAX_SLEEP_MS = 60_000;

interface Due {
  id: number;
  due: number;
  /** When the renewal information is to be asked for again (servers with RFC 9773). */
  ariCheck?: number;
}

export class AcmeRenewal implements ManagedService {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly asking = new Set<number>();
  private readonly unsubscribe: (() => void) | undefined;
  /** Another loop already renews this appliance's certificates (services started twice): this one stays idle. */
  private readonly idle: boolean;

  constructor(private readonly env: Environment) {
    const loops = env.cache.table<string, AcmeRenewal>('acme.loop');
    this.idle = loops.has('active');
    if (!this.idle) loops.set('active', this);
    // `/system clock set` moves the router clock: what is due changes at once.
    this.unsubscribe = this.idle ? undefined : env.clock.onChange?.(() => { void this.reconcile().catch(() => {}); });
  }

  async reconcile(): Promise<void> {
    if (this.stopped || this.idle) return;
    const { env } = this;
    const now = env.clock.now();
    const rows = await env.store.read((tx): Due[] => ['ssl', 'client'].flatMap((kind) => tx.findBy(CERT_PATH, ACME_KIND, kind)).map((r) => ({
      id: r.id,
      due: acmeDueAt(r.data) ?? Infinity,
      ariCheck: r.data[ACME.ari] === true && r.data.fingerprint !== undefined ? Number(r.data[ACME.ariCheck] ?? 0) : undefined,
    })));
    let next = Infinity;
    for (const r of rows) {
      if (jobRunning(env, rowJobKey(r.id))) continue;
      if (r.due <= now) {
        rowJob(env, r.id); // its outcome is recorded in the row and /log
        continue;
      }
      next = Math.min(next, r.due);
      if (r.ariCheck === undefined) continue;
      if (r.ariCheck <= now) this.ask(r.id); else next = Math.min(next, r.ariCheck);
    }
    this.arm(Math.min(MAX_SLEEP_MS, Math.max(1000, next - now)));
  }

  private ask(id: number): void {
    if (this.asking.has(id)) return;
    this.asking.add(id);
    void refreshRenewalInfo(this.env, id).catch(() => {}).finally(() => this.asking.delete(id));
  }

  private arm(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { void this.reconcile().catch(() => {}); }, ms);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.idle) return;
    this.env.cache.table<string, AcmeRenewal>('acme.loop').delete('active');
    this.unsubscribe?.();
    clearTimeout(this.timer);
    abortJobs(this.env);
    acmeResponder(this.env).closeAll();
  }
}

export const acmeRenewalService = (ctx: ServiceContext): ManagedService => new AcmeRenewal(ctx.app.env);
