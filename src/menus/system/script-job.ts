// /system script job — what runs now: /system script runs, scheduler events and (through
// runAsJob) every other script the appliance starts. `remove` stops one: its abort signal
// reaches the script's session, so it ends at its next command or `:delay`.
//
// Jobs live in memory (one table per appliance, env.cache), as RouterOS's do (a reboot ends
// them); the menu mirrors them into the store before each command, like /file mirrors the disk.
// A job row belongs to the process that runs the job (the daemon, when one runs).

import { notEnoughPermissions } from '../../errors.js';
import { resolveItems } from '../../menu/generic.js';
import { dateType, enumSetType, itemsType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, Policy, PropType } from '../../menu/types.js';
import { POLICIES } from '../../menu/types.js';
import type { Value } from '../../menu/values.js';
import { holdsAll, userPolicies } from '../user/user.js';

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
  readonly seq: number;
  readonly started: number;
  readonly abort: AbortController;
}

/** Row field naming the job a row mirrors. */
const JOB_KEY = '.job';

const jobTable = (env: Environment): Map<number, Job> => env.cache.table<number, Job>(JOB_PATH);
const counter = (env: Environment): Map<'next', number> => env.cache.table<'next', number>(`${JOB_PATH}#next`);

/**
 * Runs `fn` as a job: listed while it runs, stopped through the signal it gets (which also
 * follows `signal`, the caller's own, e.g. Ctrl-C on the console that started it).
 */
export async function runAsJob<T>(env: Environment, info: JobInfo, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const seq = (counter(env).get('next') ?? 1);
  counter(env).set('next', seq + 1);
  const job: Job = { ...info, seq, started: env.clock.now(), abort: new AbortController() };
  jobTable(env).set(seq, job);
  try {
    return await fn(signal ? AbortSignal.any([signal, job.abort.signal]) : job.abort.signal);
  } finally {
    jobTable(env).delete(seq);
  }
}

/** Stops every job of the appliance (the daemon shutting down). */
export function stopAllJobs(env: Environment): void {
  for (const job of jobTable(env).values()) job.abort.abort();
}

/** The jobs now running (tests, the scheduler). */
export function runningJobs(env: Environment): JobInfo[] {
  return [...jobTable(env).values()];
}

/** The store's job rows become the jobs running now (rows of ended jobs go, new jobs come). */
async function mirrorJobs(env: Environment): Promise<void> {
  const jobs = jobTable(env);
  const differs = await env.store.read((tx) => {
    const rows = tx.list(JOB_PATH);
    return rows.length !== jobs.size || rows.some((r) => !jobs.has(Number(r.data[JOB_KEY])));
  });
  if (!differs) return;
  await env.store.write((tx) => {
    const mirrored = new Set<number>();
    for (const r of tx.list(JOB_PATH)) {
      const seq = Number(r.data[JOB_KEY]);
      if (jobs.has(seq)) mirrored.add(seq); else tx.remove(JOB_PATH, r.id);
    }
    for (const job of [...jobs.values()].sort((a, b) => a.seq - b.seq)) {
      if (mirrored.has(job.seq)) continue;
      tx.insert(JOB_PATH, {
        [JOB_KEY]: job.seq, script: job.script, type: job.type, owner: job.owner, policy: [...job.policy], started: job.started,
      });
    }
  });
}

const bare: PropType<string> = { ...stringType, quoted: false };
const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'Jobs to stop' };

/**
 * `remove` stops jobs. Nobody stops more than they hold: a job of another user only with the
 * `policy` policy and every policy that user holds (the rule of /system script).
 */
const removeCommand: CommandDecl = {
  name: 'remove',
  help: 'Stop a running job',
  policy: 'write',
  args: [numbersArg],
  async run(call) {
    const { env, session } = call;
    await env.store.write((tx) => {
      for (const id of resolveItems(call.menu, call.args.get(numbersArg), session, tx)) {
        const row = tx.get(JOB_PATH, id)!;
        const owner = String(row.data.owner);
        if (owner !== session.user && !(call.policies.has('policy') && holdsAll(call.policies, userPolicies(tx, owner) ?? []))) {
          throw notEnoughPermissions();
        }
        jobTable(env).get(Number(row.data[JOB_KEY]))?.abort.abort();
        tx.remove(JOB_PATH, id);
        env.log(tx, 'system,info', `script job ${row.data.script ? String(row.data.script) : `*${id.toString(16).toUpperCase()}`} stopped by ${session.user}`);
      }
    });
    return {};
  },
};

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
  prepare: mirrorJobs,
};
