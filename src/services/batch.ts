// /log lines and small row updates of a busy service, written together: at most one store
// transaction every BATCH_MS, whatever the connection rate (a VPN server under load must not
// spend its time in fsync). Bounded: beyond MAX_PENDING entries the rest are counted and dropped.

import type { Appliance } from '../appliance.js';
import type { WriteTx } from '../store/store.js';

// One second: a /log line of a login may appear up to a second late, and a burst of set-ups costs
// one fsync a second (npm run bench -- openvpn: at 100 ms every other set-up met one).
const BATCH_MS = 1000;
const MAX_PENDING = 2000;

export class StoreBatch {
  private pending: Array<(tx: WriteTx) => void> = [];
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(private readonly app: Appliance, private readonly topics: string, private readonly internalError: (e: unknown) => void) {}

  log(topics: string, message: string): void {
    this.add((tx) => this.app.env.log(tx, topics, message));
  }

  /** A change made in the next batch's transaction (it must not throw). */
  add(change: (tx: WriteTx) => void): void {
    if (this.pending.length >= MAX_PENDING) {
      this.dropped++;
    } else {
      this.pending.push(change);
    }
    if (!this.timer) {
      this.timer = setTimeout(() => { this.timer = undefined; void this.flush(); }, BATCH_MS);
      this.timer.unref();
    }
  }

  /** Writes what is pending now (one transaction). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const run = async (): Promise<void> => {
      await this.flushing;
      const changes = this.pending;
      const dropped = this.dropped;
      this.pending = [];
      this.dropped = 0;
      if (changes.length === 0 && dropped === 0) return;
      await this.app.store.write((tx) => {
        for (const change of changes) change(tx);
        if (dropped > 0) this.app.env.log(tx, `${this.topics},warning`, `${dropped} log lines dropped (too many at once)`);
      }).catch((e) => this.internalError(e));
    };
    const flushing = run();
    this.flushing = flushing;
    return flushing;
  }
}
