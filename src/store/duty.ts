// Singleton duties (issue 17 §2): work that must run in exactly one process of a store at a time —
// the CRL scheduler, the ACME renewal loop, /system scheduler, the NTP client and the SCEP client loop (services/scep.ts).
// Each claims its duty by name and runs only while it holds it (holdDuty below). A PostgreSQL
// store elects the holder among its instances with an advisory lock, and another instance takes
// over within a second or two when the holder stops or dies (postgres.ts). A store without
// duties of its own (SQLite: one daemon per data directory) gets process-local ones here: the
// first claimer holds the name, the next takes over when it releases it.
// A duty that looks at its work now and then and runs jobs from it uses a DutyLoop (duty-loop.ts).

import type { Duty, Store } from './store.js';

/** Claims a duty on a store: the store's own election, else a process-local one. */
export function claimDuty(store: Store, name: string): Duty {
  return store.duty?.(name) ?? localClaim(store, name);
}

export interface DutyRole {
  /** This process became the holder: start the work. */
  start(): void;
  /** It is no longer the holder (released, or the claim was lost): stop the work. */
  stop(): void | Promise<void>;
}

export interface HeldDuty {
  /** Whether the role runs here now. */
  readonly held: boolean;
  /** Stops the role (when it runs) and gives the duty up. */
  release(): Promise<void>;
}

/**
 * Runs `role` while this process holds the duty: start() at once when it holds it already, else
 * when it gets it; stop() when it loses it or releases it. start and stop alternate, each stop
 * finishing before the next start.
 */
export function holdDuty(store: Store, name: string, role: DutyRole): HeldDuty {
  const duty = claimDuty(store, name);
  let running = false;
  let released = false;
  let stopping: Promise<void> = Promise.resolve();
  const stop = (): Promise<void> => {
    if (!running) return stopping;
    running = false;
    stopping = stopping.then(() => role.stop()).catch((e: unknown) => {
      process.emitWarning(`rospki duty ${name}: stop failed: ${(e as Error).message}`);
    });
    return stopping;
  };
  const start = (): void => {
    if (running || released) return;
    running = true;
    role.start();
  };
  const unsubscribe = duty.onChange((held) => {
    if (held) void stopping.then(() => { if (duty.held) start(); });
    else void stop();
  });
  if (duty.held) start();
  return {
    get held() { return running; },
    async release() {
      if (released) return stopping;
      released = true;
      unsubscribe();
      await stop();
      duty.release();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Process-local duties

const localDuties = new WeakMap<Store, Map<string, LocalDuty[]>>();

function localClaim(store: Store, name: string): Duty {
  let names = localDuties.get(store);
  if (!names) localDuties.set(store, (names = new Map()));
  let claims = names.get(name);
  if (!claims) names.set(name, (claims = []));
  const duty = new LocalDuty(claims);
  claims.push(duty);
  return duty;
}

/** The first claim in the list holds the duty; releasing it hands the duty to the next. */
class LocalDuty implements Duty {
  private readonly listeners = new Set<(held: boolean) => void>();

  constructor(private readonly claims: LocalDuty[]) {}

  get held(): boolean {
    return this.claims[0] === this;
  }

  onChange(listener: (held: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  release(): void {
    const at = this.claims.indexOf(this);
    if (at < 0) return;
    this.claims.splice(at, 1);
    const next = this.claims[0];
    if (at === 0 && next) queueMicrotask(() => next.announce());
  }

  private announce(): void {
    if (!this.held) return;
    for (const l of [...this.listeners]) l(true);
  }
}
