// Periodic CRL work (issue 6): local CAs' CRLs are signed again well before next-update (a
// missed renewal warns in /log before the CRL expires), and with crl-download=yes the CRLs of
// trusted certificates are downloaded every hour. The daemon starts it; every timer is unref'd,
// one pass runs at a time, and stop() ends it (aborting a download in flight): a DutyLoop
// (store/duty-loop.ts) whose look is the pass.
//
// It is a singleton duty (store/duty.ts, issue 17): of several instances on one PostgreSQL
// store, one runs it, and another takes over when that one stops or dies.

import type { Environment } from '../../menu/types.js';
import { DutyLoop } from '../../store/duty-loop.js';
import { renewDueCrls, CRL_WARN_BEFORE_MS } from './crl-publish.js';
import { CRL_MENU_PATH, CRL_REFRESH_MS, downloadCrl, reconcileCrlRows } from './crl.js';
import { readSettings } from './settings.js';

export interface CrlSchedulerOptions {
  /** How often a pass runs (default 5 minutes; tests use less). */
  intervalMs?: number;
  /** How long after the last attempt a CRL is downloaded again (default 1 hour). */
  refreshMs?: number;
}

/** One pass: renew local CRLs, then refresh due downloads. Returns what it did. */
export async function crlPass(env: Environment, signal?: AbortSignal, refreshMs = CRL_REFRESH_MS): Promise<{ signed: number; downloaded: number; failed: number }> {
  const signed = await renewDueCrls(env);
  let downloaded = 0;
  let failed = 0;
  const settings = await env.store.read((tx) => readSettings(tx));
  if (settings.crlDownload) {
    await reconcileCrlRows(env);
    const now = env.clock.now();
    const due = await env.store.read((tx) => tx.list(CRL_MENU_PATH).filter((r) => {
      const tried = typeof r.data['.tried'] === 'number' ? r.data['.tried'] : 0;
      const next = typeof r.data['next-update'] === 'number' ? r.data['next-update'] : 0;
      return now - tried >= refreshMs || now < tried || (next !== 0 && next - now < CRL_WARN_BEFORE_MS && now - tried >= 60_000);
    }).map((r) => r.id));
    for (const id of due) {
      if (signal?.aborted) break;
      const r = await downloadCrl(env, id, signal);
      if (r.ok) downloaded++; else failed++;
    }
  }
  return { signed, downloaded, failed };
}

/** The duty's name: one CRL scheduler among the instances of a store. */
export const CRL_DUTY = 'crl-scheduler';

export function startCrlScheduler(app: { readonly env: Environment }, opts: CrlSchedulerOptions = {}): { stop(): void; readonly running: boolean } {
  const interval = opts.intervalMs ?? 5 * 60_000;
  // One pass at a time, each the loop's look; the look's signal aborts a download in flight
  // when the duty is lost, and the loss awaits the pass.
  const loop: DutyLoop<never> = new DutyLoop(app.env.store, {
    duty: CRL_DUTY,
    // First pass soon after start (the daemon, or the instance that held the duty, may have
    // been down past a renewal).
    firstLookMs: Math.min(interval, 1000),
    async look(signal) {
      if (!loop.active) return;
      try {
        await crlPass(app.env, signal, opts.refreshMs);
      } catch (e) {
        // A closed store during shutdown, a full disk, an unreachable database: try again next time.
        if (loop.active) process.emitWarning(`rospki CRL scheduler: ${(e as Error).message}`);
      }
      loop.wake(interval);
    },
    report: (e) => { if (!loop.stopped) process.emitWarning(`rospki CRL scheduler: ${(e as Error).message}`); },
  });
  return {
    get running() { return loop.active; },
    stop() { void loop.stop(); },
  };
}
