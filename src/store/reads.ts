// What both backends (sqlite.ts, postgres.ts) do the same way with a transaction's callback and
// with a read run beside a batch whose changes are in the copy but not yet committed.

import type { ChangeSet, Footprint } from './changes.js';

/** A read's answer: what its fn returned, or what it threw. */
export type ReadOutcome<T> = { readonly value: T } | { readonly error: unknown };

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/** Store callbacks are synchronous (they run on the copy inside one transaction): a Promise is refused. */
export function rejectAsync(result: unknown, verb: string): void {
  if (!isThenable(result)) return;
  Promise.resolve(result).catch(() => {}); // its failure is moot: we fail the transaction here
  throw new Error(`store.${verb}(): the callback must be synchronous (it returned a Promise)`);
}

/** Runs a read's fn on tx (ended afterwards), with the store marked busy meanwhile if asked. */
export function runRead<T, X extends { end(): void }>(fn: (tx: X) => T, tx: X, busy?: (on: boolean) => void): ReadOutcome<T> {
  busy?.(true);
  try {
    const value = fn(tx);
    rejectAsync(value, 'read');
    return { value };
  } catch (error) {
    return { error };
  } finally {
    tx.end();
    busy?.(false);
  }
}

export function settle<T>(outcome: ReadOutcome<T>): Promise<T> {
  return 'error' in outcome ? Promise.reject(outcome.error) : Promise.resolve(outcome.value);
}

/**
 * The answer of a read that ran beside a batch not yet committed and recorded what it looked at:
 * if it saw none of the batch's changes it read committed state and settles now; else once the
 * batch's outcome is known (`readers`), with its own answer if the batch committed (what it read
 * is then committed state), or with `again()` if not.
 */
export function answerBesideBatch<T>(outcome: ReadOutcome<T>, footprint: Footprint, changes: ChangeSet,
  readers: ((committed: boolean) => void)[], again: () => Promise<T>): Promise<T> {
  if (!changes.seenBy(footprint)) return settle(outcome);
  return new Promise<T>((resolve, reject) => {
    readers.push((committed) => { (committed ? settle(outcome) : again()).then(resolve, reject); });
  });
}
