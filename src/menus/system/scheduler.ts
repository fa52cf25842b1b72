// /system scheduler — runs scripts at a time, every interval, or at start-up (the Scheduler page
// of the RouterOS manual), so the renewal scripts people schedule on RouterOS run here.
//
// The schedule: the first run is at start-date + start-time (local time in the router's zone;
// both default to the moment the entry is added), then every `interval`, aligned to that start
// (a start in the past sets the rhythm); `interval=0s` runs once. `start-time=startup` runs when
// the daemon starts, or with an interval one interval after start and then every interval.
// It follows /system clock: moving the clock or changing the zone reschedules at once.
//
// Each run executes `on-event` as the entry's owner with the entry's policies (narrowed by the
// owner's group at every command). When on-event names a /system script, that script runs by
// the rule of /system script run, with the entry as its caller. A run is a job of /system script
// job; an entry never runs twice at once; a failure goes to /log (script,error) and the scheduler
// carries on. The daemon (`rospki serve`, the appliance with its console) runs the scheduler,
// as a singleton duty (store/duty.ts): of several instances on one PostgreSQL store (issue 17)
// one runs the entries, and another takes over when it stops or dies (start-up entries then run
// there: its scheduler starts).

import {
  formatDate, localToEpoch, parseDay, parseTimeOfDay, type TimeZone,
} from '../../clock.js';
import { invalidValue, RosError } from '../../errors.js';
import {
  applyArgs, checkRow, genericCommands, newRowData, propValue, typeContext,
} from '../../menu/generic.js';
import {
  boolType, dateType, durationType, enumSetType, intType, matchChoice, stringType,
} from '../../menu/proptypes.js';
import type { CommandDecl, Environment, MenuDecl, Policy, PropertyDecl, PropType, Session, TypeContext } from '../../menu/types.js';
import { POLICIES } from '../../menu/types.js';
import { Duration, ItemId, valueToString } from '../../menu/values.js';
import { DutyLoop } from '../../store/duty-loop.js';
import type { RowData, StoredRow } from '../../store/store.js';
import { logScriptFailure, runAsJob } from './script-job.js';
import { DEFAULT_POLICY, runStoredScript, SCRIPT_PATH, scriptMenu } from './script.js';

export const SCHEDULER_PATH = '/system/scheduler';
const STARTUP = 'startup';

/** `start-date`: `2026-03-04` (7.10+); `mar/04/2026` is read too (older scripts write it). */
const startDateType: PropType<string> = {
  ...stringType,
  quoted: false,
  help: 'YYYY-MM-DD',
  parse(v, _ctx, name) {
    const day = parseDay(valueToString(v));
    if (day === undefined) throw invalidValue(name);
    return formatDate(day).slice(0, 10);
  },
};

/** `start-time`: `HH:MM:SS`, or `startup`; a time value from a script is a time of day. */
const startTimeType: PropType<string> = {
  ...stringType,
  quoted: false,
  help: 'HH:MM:SS | startup',
  parse(v, _ctx, name) {
    if (v instanceof Duration) return formatDate(((v.ms % 86_400_000) + 86_400_000) % 86_400_000).slice(11);
    const text = valueToString(v).trim();
    const ms = parseTimeOfDay(text);
    if (ms !== undefined) return formatDate(ms).slice(11);
    return matchChoice(text, [STARTUP], name);
  },
  script: (v) => (v === STARTUP ? v : Duration.fromMs(parseTimeOfDay(v) ?? 0)),
  choices: () => [STARTUP],
};

const today = (ctx: TypeContext): string => formatDate(ctx.clock.now(), ctx.zone);

const S = {
  name: { name: 'name', type: stringType, required: true, unique: true, help: 'Scheduled event name' } as PropertyDecl<string>,
  startDate: { name: 'start-date', type: startDateType, default: (ctx: TypeContext) => today(ctx).slice(0, 10), defaultVaries: true, help: 'Date of first execution' } as PropertyDecl<string>,
  startTime: { name: 'start-time', type: startTimeType, default: (ctx: TypeContext) => today(ctx).slice(11), defaultVaries: true, help: 'Time of first execution, or startup' } as PropertyDecl<string>,
  interval: { name: 'interval', type: durationType(0), default: 0, help: 'Interval between two executions; 0s runs once' } as PropertyDecl<number>,
  onEvent: { name: 'on-event', type: stringType, default: '', detail: 'always', help: 'Script name or the commands to run' } as PropertyDecl<string>,
  owner: { name: 'owner', type: stringType, access: 'ro' } as PropertyDecl<string>,
  policy: { name: 'policy', type: enumSetType(POLICIES), default: DEFAULT_POLICY, help: 'Policies the event runs with' } as PropertyDecl<Policy[]>,
  runCount: { name: 'run-count', type: intType(0, 2 ** 53, { numeric: true }), access: 'ro', default: 0, detail: 'always', help: 'Runs since the daemon started' } as PropertyDecl<number>,
  disabled: { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' } as PropertyDecl<boolean>,
};

// ---------------------------------------------------------------------------------------------
// The schedule of an entry

/** When an entry runs: its first moment and the interval after it (0: once). */
interface Schedule { readonly first: number; readonly interval: number }

/** `boot`: when the scheduler started (start-up entries count from it). */
function scheduleOf(data: RowData, zone: TimeZone, now: number, boot: number | undefined): Schedule | undefined {
  if (propValue(S.disabled, data)) return undefined;
  const interval = Math.round(propValue(S.interval, data) / 1e6);
  const time = String(data[S.startTime.name] ?? '00:00:00');
  if (time === STARTUP) return boot === undefined ? undefined : { first: boot + interval, interval };
  const day = parseDay(String(data[S.startDate.name] ?? '')) ?? parseDay(formatDate(now, zone).slice(0, 10))!;
  return { first: localToEpoch(day + (parseTimeOfDay(time) ?? 0), zone), interval };
}

/** The first run at or after `t`, or undefined when there is none. */
function atOrAfter(s: Schedule, t: number): number | undefined {
  if (t <= s.first) return s.first;
  if (s.interval <= 0) return undefined;
  return s.first + Math.ceil((t - s.first) / s.interval) * s.interval;
}

/** What the running scheduler knows of an entry (per appliance, env.cache). */
interface EntryState {
  /** The entry's name (next-run finds its plan by it). */
  name: string;
  /** The schedule it was planned with: a change of it plans anew. */
  key: string;
  next: number | undefined;
}

const stateOf = (env: Environment): Map<number, EntryState> => env.cache.table<number, EntryState>(SCHEDULER_PATH);

/** `next-run`: what the running scheduler plans, else what the schedule says. */
function nextRun(data: RowData, ctx: TypeContext): number | undefined {
  const planned = [...stateOf(ctx.env).values()].find((st) => st.name === data[S.name.name]);
  if (planned) return planned.next;
  const now = ctx.clock.now();
  const s = scheduleOf(data, ctx.zone, now, undefined);
  return s && atOrAfter(s, now);
}

// ---------------------------------------------------------------------------------------------
// The menu

const base: MenuDecl = {
  path: SCHEDULER_PATH,
  kind: 'list',
  help: 'Scheduled scripts',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  columns: ['name', 'start-date', 'start-time', 'interval', 'on-event', 'run-count'],
  properties: [
    S.name, S.startDate, S.startTime, S.interval, S.onEvent, S.owner, S.policy, S.runCount,
    { name: 'next-run', type: dateType, access: 'ro', compute: nextRun },
    S.disabled,
    { name: 'comment', type: stringType },
  ],
  /** The rule of /system script: nobody schedules more than they hold, nor touches an entry of someone who holds more. */
  authorize: (change, tx, call) => scriptMenu.authorize!(change, tx, call),
  validate(row, tx, env) {
    // A start-up entry has no start date (RouterOS shows none); a timed one always has one.
    if (row[S.startTime.name] === STARTUP) delete row[S.startDate.name];
    else if (row[S.startDate.name] === undefined) row[S.startDate.name] = formatDate(env.clock.now(), env.zone(tx)).slice(0, 10);
  },
};

/**
 * `add`: the entry belongs to the user who adds it, and its policy defaults to RouterOS's default
 * narrowed to what that user holds (Scheduler manual, "Permissions").
 */
const genericAdd = genericCommands({ ...base, verbs: ['add'] })[0]!;
const addCommand: CommandDecl = {
  ...genericAdd,
  args: genericAdd.args.filter((a) => a.name !== 'copy-from'),
  async run(call) {
    const { env, session } = call;
    const id = await env.store.write((tx) => {
      const ctx = typeContext(env, tx);
      const data = applyArgs(schedulerMenu, newRowData(schedulerMenu, ctx), call.args.entries(), ctx, false);
      data[S.owner.name] = session.user;
      if (!call.args.has(S.policy.name)) data[S.policy.name] = DEFAULT_POLICY.filter((p) => call.policies.has(p));
      checkRow(schedulerMenu, undefined, data, tx, env);
      schedulerMenu.authorize!({ after: data }, tx, call);
      const newId = tx.insert(SCHEDULER_PATH, data);
      env.log(tx, 'system,info', `system scheduler ${String(data.name)} added by ${session.user}`);
      return newId;
    });
    return { ret: new ItemId(id) };
  },
};

export const schedulerMenu: MenuDecl = { ...base, commands: [addCommand] };

// ---------------------------------------------------------------------------------------------
// The running scheduler

export interface SchedulerOptions {
  /** The longest wait between two looks at the entries (default 1 s: RouterOS runs to the second). */
  pollMs?: number;
}

export interface RunningScheduler {
  /** Looks at the entries now and starts what is due; resolves once no event runs. */
  check(): Promise<void>;
  /** Looks at the entries now and starts what is due, without waiting for the runs. */
  tick(): Promise<void>;
  /** Resolves once no event runs. */
  idle(): Promise<void>;
  /** Stops: no new runs; running events are stopped (their jobs aborted) and awaited. */
  stop(): Promise<void>;
}

/** The duty's name: one scheduler among the daemons of a store. */
export const SCHEDULER_DUTY = 'system-scheduler';

/**
 * Starts the scheduler of an appliance (the daemon does, beside the CRL scheduler). It runs the
 * entries while this process holds the scheduler's duty (at once, unless another holds it).
 */
export function startScheduler(app: { readonly env: Environment }, opts: SchedulerOptions = {}): RunningScheduler {
  return new Scheduler(app.env, opts.pollMs ?? 1000);
}

class Scheduler implements RunningScheduler {
  private boot = 0;
  private unsubscribe: (() => void) | undefined;
  /** The timer, the one look at a time and the running events (one per entry), while it holds the duty. */
  private readonly loop: DutyLoop<number>;

  constructor(private readonly env: Environment, private readonly pollMs: number) {
    this.loop = new DutyLoop(env.store, {
      duty: SCHEDULER_DUTY,
      look: () => this.lookNow(),
      activate: () => this.activate(),
      deactivate: () => this.deactivate(),
      report: (e) => this.report(e),
    });
  }

  /** It holds the duty now: its scheduler starts (start-up entries run, run-count counts from 0). */
  private activate(): Promise<void> {
    const { env } = this;
    this.boot = env.clock.now();
    stateOf(env).clear();
    // Moving the clock (or a test moving its FixedClock) reschedules at once.
    this.unsubscribe = env.clock.onChange?.(() => this.loop.wake(0));
    // run-count counts the runs since start-up (a reboot resets it, Scheduler manual).
    return env.store.write((tx) => {
      for (const r of tx.list(SCHEDULER_PATH)) if (r.data[S.runCount.name]) tx.update(SCHEDULER_PATH, r.id, { ...r.data, [S.runCount.name]: 0 });
    });
  }

  /** It lost the duty (stopped, or its store connection broke); the loop stopped its running events. */
  private deactivate(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    stateOf(this.env).clear();
  }

  async check(): Promise<void> {
    await this.loop.look();
    // Every run, also one an earlier look started: while it runs, its entry's next due run does
    // not start, so a caller that moves the clock next must not find it still running.
    await this.loop.idle();
  }

  async tick(): Promise<void> {
    await this.loop.look();
  }

  idle(): Promise<void> {
    return this.loop.idle();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async lookNow(): Promise<void> {
    if (this.loop.stopped || !this.loop.active) return;
    const { env } = this;
    const now = env.clock.now();
    const { rows, zone } = await env.store.read((tx) => ({ rows: tx.list(SCHEDULER_PATH), zone: env.zone(tx) }));
    // The duty may have been lost while the rows were read: its stop has aborted the runs it
    // found, so this look must start none (as netwatch's).
    if (this.loop.stopped || !this.loop.active) return;
    const state = stateOf(env);
    const due: StoredRow[] = [];
    const seen = new Set<number>();
    for (const row of rows) {
      const s = scheduleOf(row.data, zone, now, this.boot);
      if (!s) { state.delete(row.id); continue; }
      seen.add(row.id);
      const key = `${s.first}/${s.interval}`;
      let st = state.get(row.id);
      if (!st || st.key !== key) {
        // A new or changed entry: its first run counts from this second on.
        st = { name: String(row.data.name), key, next: atOrAfter(s, Math.floor(now / 1000) * 1000) };
        state.set(row.id, st);
      } else if (st.next !== undefined && st.next > now) {
        // The clock may have gone back: the next run is the first one after now.
        st.next = atOrAfter(s, now + 1);
      }
      st.name = String(row.data.name);
      if (st.next !== undefined && st.next <= now) {
        due.push(row);
        st.next = s.interval > 0 ? atOrAfter(s, now + 1) : undefined;
      }
    }
    for (const id of state.keys()) if (!seen.has(id)) state.delete(id);
    for (const row of due) if (!this.loop.has(row.id)) void this.loop.run(row.id, (signal) => this.runEvent(row, signal), undefined);
    let earliest: number | undefined;
    for (const st of state.values()) if (st.next !== undefined && (earliest === undefined || st.next < earliest)) earliest = st.next;
    this.loop.wake(Math.min(this.pollMs, earliest === undefined ? this.pollMs : earliest - env.clock.now()));
  }

  /** One run of an entry, as a job of the loop: at most one at a time per entry. */
  private async runEvent(row: StoredRow, signal: AbortSignal): Promise<void> {
    const { env } = this;
    const name = String(row.data.name);
    const owner = String(row.data[S.owner.name] ?? 'admin');
    const onEvent = propValue(S.onEvent, row.data);
    const { policies, script } = await env.store.write((tx) => {
      const now = tx.get(SCHEDULER_PATH, row.id);
      if (now) tx.update(SCHEDULER_PATH, row.id, { ...now.data, [S.runCount.name]: propValue(S.runCount, now.data) + 1 });
      // The entry's policies, as far as its owner's group grants them now.
      const granted = env.access.policiesOf(tx, owner) ?? new Set<Policy>();
      const policies = new Set(propValue(S.policy, row.data).filter((p) => granted.has(p)));
      return { policies, script: tx.findBy(SCRIPT_PATH, 'name', onEvent.trim())[0] };
    });
    const session: Session = { user: owner, via: 'scheduler', policies, lastPrint: new Map(), width: 80, signal };
    try {
      if (script) await runStoredScript(env, script, { session, policies });
      else await runAsJob(env, { script: name, type: 'command', owner, policy: [...policies] }, signal, (s) => env.scripts.run(onEvent, { ...session, signal: s }));
    } catch (e) {
      if (e instanceof RosError && e.kind === 'interrupted') return;
      await this.logFailure(name, script ? String(script.data.name) : name, e);
    }
  }

  /** `script,error executing script X` and the reason (Scheduler manual, "Log messages"). */
  private async logFailure(entry: string, script: string, e: unknown): Promise<void> {
    await logScriptFailure(this.env, e, `executing script ${script}`, `scheduler:${entry}`, `scheduler ${entry}`)
      .catch((err) => { this.report(err); });
  }

  private report(e: unknown): void {
    // A closed store during shutdown: nothing to tell anyone.
    if (!this.loop.stopped) process.emitWarning(`rospki scheduler: ${(e as Error).message}`);
  }
}
