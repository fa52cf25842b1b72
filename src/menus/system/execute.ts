// `/execute script=… [as-string]` at the root: REST `POST /rest/execute` and API `/execute`
// (spec §8.4). Console text runs as the caller, with the caller's policies — the executor checks
// every command inside — through the environment's script runner (env.scripts), like RouterOS's
// `:execute`, which scripts write with a colon and which the console language keeps for itself.
//
// - `as-string` runs it now and returns what it printed, line ends CRLF (`{"ret":"hello\r\n"}`);
//   a script error is returned as text too, not as an error (REST answers 200:
//   `{"ret":"input does not match any value of certificate (…)"}`). Presence alone counts:
//   `"as-string":"false"` or `0` runs it now as well (RSK captures, routeros-services.md §1.2).
// - without it, it runs as a background job and the command returns the job's id at once
//   (`{"ret":"*126"}`); what it prints is dropped, a failure goes to /log (topics script,error).
//   At most MAX_RUNNING_JOBS run at once (rospki's bound: nobody fills the memory with jobs).

import { failure, RosError } from '../../errors.js';
import { presenceType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, Session } from '../../menu/types.js';
import { ItemId } from '../../menu/values.js';

const scriptArg: ArgDecl<string> = { name: 'script', type: stringType, positional: 0, required: true, help: 'Console text to run' };
const asStringArg: ArgDecl<boolean> = {
  name: 'as-string', type: presenceType, flagOnly: true, help: 'Run now and return the output instead of a job id',
};

/** What the script runner prefixes to a failure (ScriptRunner.run: `<printed>Script Error: <text>`). */
const SCRIPT_ERROR = 'Script Error: ';

/** Background jobs of /execute running at once. */
export const MAX_RUNNING_JOBS = 64;

/** A background job started by /execute, until it ends. */
export interface ExecuteJob {
  readonly id: number;
  readonly owner: string;
  readonly source: string;
  /** Router time (env.clock) when it started, ms. */
  readonly started: number;
  /** Stops it (`:delay` and every command inside see the cancellation). */
  stop(): void;
}

/**
 * The running background jobs of this appliance, by id (ids are not reused). `/system script job`
 * is where RouterOS shows them.
 */
export function executeJobs(env: Environment): Map<number, ExecuteJob> {
  return env.cache.table<number, ExecuteJob>('execute.jobs');
}

function nextJobId(env: Environment): number {
  const counter = env.cache.table<'last', number>('execute.job-ids');
  const id = (counter.get('last') ?? 0) + 1;
  counter.set('last', id);
  return id;
}

/** Output as RouterOS hands it over the network: every line ended by CRLF. */
const crlf = (text: string): string => text.replace(/\r?\n/g, '\r\n');

/** A failed script's text without the runner's prefix: what it printed, then the error. */
function failureText(e: RosError): string {
  const at = e.message.indexOf(SCRIPT_ERROR);
  return at < 0 ? e.message : e.message.slice(0, at) + e.message.slice(at + SCRIPT_ERROR.length);
}

export const executeCommand: CommandDecl = {
  name: 'execute',
  help: 'Run console text as a background job, or now with as-string',
  // Nothing of its own: every command inside is checked against the caller's policies.
  policy: [],
  args: [scriptArg, asStringArg],
  async run(call) {
    const { env, session } = call;
    const source = call.args.get(scriptArg)!;
    const runner: Session = { ...session, via: 'script', prompt: undefined, progress: undefined };
    if (call.args.has(asStringArg)) {
      try {
        return { ret: crlf(await env.scripts.run(source, runner)) };
      } catch (e) {
        if (e instanceof RosError && e.kind === 'script') return { ret: crlf(failureText(e)) };
        throw e;
      }
    }
    // Parse and check it now: a script that can not run is the caller's error, not a job's.
    env.scripts.check(source);
    const jobs = executeJobs(env);
    if (jobs.size >= MAX_RUNNING_JOBS) throw failure('too many jobs running');
    // The job outlives the request that started it: it has a cancellation of its own.
    const controller = new AbortController();
    const job: ExecuteJob = { id: nextJobId(env), owner: session.user, source, started: env.clock.now(), stop: () => controller.abort() };
    jobs.set(job.id, job);
    env.scripts.run(source, { ...runner, signal: controller.signal })
      .catch(async (e: unknown) => {
        if (e instanceof RosError && e.kind === 'interrupted') return;
        const text = e instanceof RosError ? failureText(e) : 'internal error';
        await env.store.write((tx) => env.log(tx, 'script,error', `script error: ${text.replace(/\s+$/, '')}`)).catch(() => {});
      })
      .finally(() => jobs.delete(job.id));
    return { ret: new ItemId(job.id) };
  },
};
