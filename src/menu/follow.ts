// Prints that go on until they are stopped (spec §3.5; M-LOG "print follow … until Ctrl+C is
// pressed"; spec §9.4 `listen`): `print follow` shows what print shows, then each row added or
// changed as it happens; `follow-only` only what happens from now on (the API's `listen`);
// `interval=` the whole print again every interval. The parts go out through Session.stream, the
// one way a command's output reaches every front end while it runs (console, SSH, the API).
//
// What follows a commit is the store's own announcement of what it changed (Store.onChange,
// ChangeSet: PostgreSQL instances announce each other's commits too), so a follower costs nothing
// while its menu does not change. It is bounded whatever the client reads: changes wait as a set
// of row ids (a row changed ten times while the client did not read is shown once, as it is
// then), and nothing is sent while the client has not taken what was sent before
// (Session.outputDrained). It ends when the session's signal aborts (Ctrl-C, API /cancel, the
// connection closed), and then leaves no listener and no timer behind.

import { setTimeout as sleep } from 'node:timers/promises';
import { failure, RosError } from '../errors.js';
import type { ChangeSet } from '../store/changes.js';
import type { StoredRow } from '../store/store.js';
import type { CommandCall, CommandResult, PrintOutput } from './types.js';

/** What the follower asks of print: its rows as they are now, and how it shows them. */
export interface FollowView {
  /**
   * The rows print shows now among `ids` (every row print shows, without ids), in print order,
   * and which of `ids` still exist. Throws `not enough permissions` once the session may no
   * longer print (CommandCall.policiesNow).
   */
  read(ids?: ReadonlySet<number>): Promise<FollowRead>;
}

export interface FollowRead {
  readonly rows: readonly StoredRow[];
  /** Whether a row is still in the menu (printed or not) as this read saw it. */
  exists(id: number): boolean;
  /** These rows (of this read, or gone ones as last shown) as print shows them. */
  output(rows: readonly StoredRow[], continued: boolean): PrintOutput;
}

export interface FollowPlan {
  /** `follow`: the rows print shows now come first; `follow-only` (and `listen`): only changes. */
  readonly initial: boolean;
  /** `interval=` in nanoseconds: the whole print again every interval instead of the changes. */
  readonly intervalNs?: number;
}

/** Runs a following print until the session's signal aborts; then fails as `interrupted`. */
export async function followPrint(call: CommandCall, plan: FollowPlan, view: FollowView): Promise<never> {
  const { session, env, menu } = call;
  const stream = session.stream;
  const signal = session.signal;
  // A print that never ends needs someone to show it to and a way to stop it (REST has neither).
  if (!stream || !signal) throw failure('follow, follow-only and interval need a console or the API');
  if (plan.intervalNs !== undefined) return repeat(call, plan.intervalNs, view, stream, signal);
  const onChange = env.store.onChange?.bind(env.store);
  if (!onChange) throw failure('this store can not follow changes');

  // Listening before the first read: nothing committed between that read and the first change
  // is missed (a row both read and announced is shown once more, as it is then).
  let pending = new Set<number>();
  let rescan = false;
  let wake: (() => void) | undefined;
  const unlisten = onChange((change: ChangeSet) => {
    if (change.everything) rescan = true;
    else {
      const rows = change.rows.get(menu.path);
      if (!rows) return;
      for (const id of rows.keys()) pending.add(id);
    }
    wake?.();
  });
  const [stopped, unstop] = abortion(signal);
  // A follow never ends on its own (RouterOS keeps running it, also in a script): nothing else may
  // keep a process alive while it waits (`rospki -e '/log print follow'`), so this does.
  const alive = setInterval(() => {}, 0x7fffffff);
  try {
    // Each row print showed last, as it was then: whether a change is news, and what a removed
    // row was (the API's query decides on it whether the client hears of its removal).
    const shown = new Map<number, StoredRow>();
    const first = await view.read();
    for (const row of first.rows) shown.set(row.id, row);
    // The first part shown carries the header (follow-only has shown nothing above its first).
    let headed = plan.initial && first.rows.length > 0;
    if (headed) stream({ print: first.output(first.rows, false) });
    while (!signal.aborted) {
      if (pending.size === 0 && !rescan) {
        await Promise.race([stopped, new Promise<void>((resolve) => { wake = resolve; })]);
        wake = undefined;
        continue;
      }
      // Sent parts the client has not taken hold the next one back; changes meanwhile coalesce.
      await Promise.race([stopped, session.outputDrained?.()]);
      if (signal.aborted) break;
      const ids = pending;
      const all = rescan;
      pending = new Set();
      rescan = false;
      const now = await view.read(all ? undefined : ids);
      const changed: StoredRow[] = [];
      const seen = new Set<number>();
      for (const row of now.rows) {
        seen.add(row.id);
        const before = shown.get(row.id);
        // A whole rescan (another process committed, or the store was read afresh) shows only
        // rows that differ from what was shown; an announced change is shown as it is.
        if (all && before && JSON.stringify(before.data) === JSON.stringify(row.data)) continue;
        shown.set(row.id, row);
        changed.push(row);
      }
      const gone: StoredRow[] = [];
      for (const id of all ? [...shown.keys()] : ids) {
        if (seen.has(id)) continue;
        const before = shown.get(id);
        if (!before) continue;
        shown.delete(id);
        // Still there but no longer printed (a `where` it left): nothing to tell; removed: told.
        if (!now.exists(id)) gone.push(before);
      }
      if (changed.length === 0 && gone.length === 0) continue;
      const part: CommandResult = {};
      if (changed.length > 0) part.print = now.output(changed, headed);
      if (gone.length > 0) part.removed = now.output(gone, true);
      headed ||= changed.length > 0;
      stream(part);
    }
  } finally {
    clearInterval(alive);
    unlisten();
    unstop();
    wake = undefined;
  }
  throw new RosError('interrupted', 'interrupted');
}

/** A promise that settles when `signal` aborts, and how to stop listening for it. */
function abortion(signal: AbortSignal): [Promise<void>, () => void] {
  let onAbort = (): void => {};
  const stopped = new Promise<void>((resolve) => { onAbort = () => resolve(); });
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return [stopped, () => signal.removeEventListener('abort', onAbort)];
}

/** `print interval=`: the whole print, again every interval, until stopped. */
async function repeat(call: CommandCall, intervalNs: number, view: FollowView, stream: (part: CommandResult) => void, signal: AbortSignal): Promise<never> {
  const ms = Math.max(1, Math.round(intervalNs / 1e6));
  const [stopped, unstop] = abortion(signal);
  let first = true;
  try {
    while (!signal.aborted) {
      const now = await view.read();
      stream({ print: now.output(now.rows, false), redraw: !first });
      first = false;
      await sleep(ms, undefined, { signal });
      await Promise.race([stopped, call.session.outputDrained?.()]);
    }
  } catch (e) {
    if (!(e instanceof Error && e.name === 'AbortError')) throw e;
  } finally {
    unstop();
  }
  throw new RosError('interrupted', 'interrupted');
}
