// /system script job — what runs now: /system script runs, scheduler events and (through
// runAsJob) every other script the appliance starts. `remove` stops one: its abort signal
// reaches the script's session, so it ends at its next command or `:delay`.
//
// Jobs live in memory (one table per appliance, env.cache), as RouterOS's do (a reboot ends
// them), each with its row in the store from its start to its end; rows left by a process that
// ended go before the next command. A job belongs to the process that runs it (the daemon, when
// one runs).

import { RosError } from '../../errors.js';
import { dateType, enumSetType, stringType } from '../../menu/proptypes.js';
import type { Environment, MenuDecl, Policy, PropType } from '../../menu/types.js';
import { POLICIES } from '../../menu/types.js';
import { ownedRemoveCommand } from './owned-remove.js';

export const JOB_PATH = '/system/script/job';

/** What a job is, as /system script job shows it. */
export interface JobInfo {
  /** The /system script or scheduler entry it runs (`:jobname`), or '' for other text. */
  readonly script: string;
  /** `command` for scripts; RouterOS also has `login` and `api-login` for sessions. */
  readonly type: 'command';
  readonly owner: string;
  readonly policy: readonly Policy[];
}

interface Job extends JobInfo {
  /** Its row in JOB_PATH: the id `:execute` returns and `remove` takes. */
  readonly id: number;
  readonly abort: AbortController;
}

/** A job that was started: its id at once, its end later. */
export interface StartedJob<T> {
  readonly id: number;
  readonly done: Promise<T>;
}

const jobTable = (env: Environment): Map<number, Job> => env.cache.table<number, Job>(JOB_PATH);

/**
 * Starts `fn` as a job: its row is written first (so its id can be handed out at once, as
 * `:execute` does), it is listed while it runs, stopped through the signal it gets (which also
 * follows `signal`, the caller's own, e.g. Ctrl-C on the console that started it), and its row
 * goes when it ends.
 */
export async function startJob<T>(env: Environment, info: JobInfo, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<StartedJob<T>> {
  const started = env.clock.now();
  const id = await env.store.write((tx) => tx.insert(JOB_PATH, {
    script: info.script, type: info.type, owner: info.owner, policy: [...info.policy], started,
  }));
  const job: Job = { ...info, id, abort: new AbortController() };
  jobTable(env).set(id, job);
  const done = (async () => {
    try {
      return await fn(signal ? AbortSignal.any([signal, job.abort.signal]) : job.abort.signal);
    } finally {
      jobTable(env).delete(id);
      await env.store.write((tx) => { if (tx.get(JOB_PATH, id)) tx.remove(JOB_PATH, id); }).catch(() => { /* the appliance closed */ });
    }
  })();
  return { id, done };
}

/** Runs `fn` as a job (see startJob) and waits for its end. */
export async function runAsJob<T>(env: Environment, info: JobInfo, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return (await startJob(env, info, signal, fn)).done;
}

/**
 * A background script that failed, in /log as RouterOS writes it (Scheduler manual, "Log
 * messages"): `script,error <heading>`, then under script,error,debug `(<source>) <the error>` —
 * the error alone, never what the script printed before it (RosError.scriptError); an unexpected
 * error by its reference only (its stack goes to the operator's log under `where`).
 */
export function logScriptFailure(env: Environment, e: unknown, heading: string, source: string, where: string): Promise<void> {
  const text = e instanceof RosError ? (e.scriptError ?? e).consoleText() : `failure: internal error (ref ${env.reportInternalError(e, where)})`;
  return env.store.write((tx) => {
    env.log(tx, 'script,error', heading);
    env.log(tx, 'script,error,debug', `(${source}) ${text}`);
  });
}

/** Stops a running job; false when it is not (or no longer) running here. */
export function stopJob(env: Environment, id: number): boolean {
  const job = jobTable(env).get(id);
  job?.abort.abort();
  return job !== undefined;
}

/** The jobs now running (tests, the scheduler, the bound on background jobs). */
export function runningJobs(env: Environment): Array<JobInfo & { readonly id: number }> {
  return [...jobTable(env).values()];
}

/** Rows of jobs that no longer run (the process that ran them ended) go before each command. */
async function dropEndedJobs(env: Environment): Promise<void> {
  const jobs = jobTable(env);
  const ended = await env.store.read((tx) => tx.list(JOB_PATH).some((r) => !jobs.has(r.id)));
  if (!ended) return;
  await env.store.write((tx) => {
    for (const r of tx.list(JOB_PATH)) if (!jobs.has(r.id)) tx.remove(JOB_PATH, r.id);
  });
}

const bare: PropType<string> = { ...stringType, quoted: false };
/**
 * `remove` stops jobs. Nobody stops more than they hold: a job of another user only with the
 * `policy` policy and every policy that user holds (the rule of /system script).
 */
const removeCommand = ownedRemoveCommand({
  path: JOB_PATH, ownerKey: 'owner', help: 'Stop a running job', itemsHelp: 'Jobs to stop',
  forget: ({ env, session }, tx, row) => {
    stopJob(env, row.id);
    env.log(tx, 'system,info', `script job ${row.data.script ? String(row.data.script) : `*${row.id.toString(16).toUpperCase()}`} stopped by ${session.user}`);
  },
});

export const jobMenu: MenuDecl = {
  path: JOB_PATH,
  kind: 'list',
  help: 'Running scripts',
  verbs: ['print', 'get', 'find'],
  columns: ['script', 'owner', 'started'],
  properties: [
    { name: 'script', type: stringType, access: 'ro', detail: 'non-empty' },
    { name: 'type', type: bare, access: 'ro' },
    { name: 'owner', type: stringType, access: 'ro' },
    { name: 'policy', type: enumSetType(POLICIES), access: 'ro' },
    { name: 'started', type: dateType, access: 'ro' },
  ],
  commands: [removeCommand],
  prepare: dropEndedJobs,
};
