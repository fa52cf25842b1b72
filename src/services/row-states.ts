// The state a service reports of its rows (`running`, `status`: menus/interface/service-state.ts),
// and the rows it keeps of what runs (the clients of an authenticator …), written into the store
// so that every front end and every process reads the same. A burst of changes is one write,
// soon after the first; writes never overlap.

import { stateDiffers, withState, type ReportedState } from '../menus/interface/service-state.js';
import type { ReadTx, RowData, Store, StoredRow, WriteTx } from '../store/store.js';

/** Whether menu `p` holds exactly `rows`, in order. */
export function sameRows(tx: ReadTx, p: string, rows: readonly RowData[]): boolean {
  const have = tx.list(p);
  return have.length === rows.length && have.every((r, i) => JSON.stringify(r.data) === JSON.stringify(rows[i]));
}

/** Menu `p` made to hold `rows` (new ids: what ran before is gone). */
export function replaceRows(tx: WriteTx, p: string, rows: readonly RowData[]): void {
  for (const r of tx.list(p)) tx.remove(p, r.id);
  for (const r of rows) tx.insert(p, r);
}

/** How long after a change the rows are written (one write for a burst). */
const SOON_MS = 20;

export class RowStates {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  /**
   * `desired(path, row)`: what the service reports of the row now, undefined when it runs
   * nothing for it (the state is then removed from the row). `kept()`: menus whose rows the
   * service keeps whole, and the rows they should hold now (none when it stops).
   */
  constructor(
    private readonly store: Store,
    private readonly paths: readonly string[],
    private readonly desired: (path: string, row: StoredRow) => ReportedState | undefined,
    private readonly internalError: (e: unknown) => void,
    private readonly kept: () => ReadonlyMap<string, readonly RowData[]> = () => new Map(),
  ) {}

  /** A state changed: the rows are written soon. */
  changed(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => { this.timer = undefined; void this.write(); }, SOON_MS);
    this.timer.unref();
  }

  /** Writes the rows whose state differs (after a write under way, once more). */
  write(): Promise<void> {
    if (this.writing) { this.again = true; return this.writing; }
    this.writing = (async () => {
      try {
        do {
          this.again = false;
          await this.writeNow();
        } while (this.again && !this.stopped);
      } catch (e) {
        this.internalError(e);
      } finally {
        this.writing = undefined;
      }
    })();
    return this.writing;
  }

  /** No more writes but a last one, after what is under way: call once the service runs nothing. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.writing;
    await this.writeNow();
  }

  private async writeNow(): Promise<void> {
    const stale = (p: string, row: StoredRow): boolean => stateDiffers(row.data, this.desired(p, row));
    const kept = this.kept();
    const changed = await this.store.read((tx) => this.paths.some((p) => tx.list(p).some((r) => stale(p, r)))
      || [...kept].some(([p, rows]) => !sameRows(tx, p, rows)));
    if (!changed) return;
    await this.store.write((tx) => {
      for (const [p, rows] of kept) if (!sameRows(tx, p, rows)) replaceRows(tx, p, rows);
      for (const p of this.paths) {
        for (const row of tx.list(p)) {
          const want = this.desired(p, row);
          if (stateDiffers(row.data, want)) tx.update(p, row.id, withState(row.data, want));
        }
      }
    });
  }
}
