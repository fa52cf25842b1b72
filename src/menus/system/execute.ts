// `/execute script=… [as-string]` at the root: REST `POST /rest/execute` and API `/execute`
// (spec §8.4). Console text runs as the caller, with the caller's policies — the executor checks
// every command inside — through the environment's script runner (env.scripts), like RouterOS's
// `:execute`, which scripts write with a colon and which the console language keeps for itself.
//
// - `as-string` runs it now and returns what it printed, line ends CRLF (`{"ret":"hello\r\n"}`);
//   a script error is returned as text too, not as an error, with where it failed (REST answers
//   200: `{"ret":"input does not match any value of certificate (/ip/service/set (certificate);
//   line 1)"}`, routeros-services.md §1.2). Presence alone counts:
//   `"as-string":"false"` or `0` runs it now as well (RSK captures, routeros-services.md §1.2).
// - `file=` (as `:execute` has it) also writes what it printed to that /file entry.
// - without as-string, it runs as a background job and the command returns the job's id at once
//   (`{"ret":"*126"}`), the id of its row in /system script job; what it prints is dropped, a
//   failure goes to /log (topics script,error). No job starts while MAX_RUNNING_JOBS run, nor
//   for a user who has MAX_JOBS_PER_USER running.

import { failure, notEnoughPermissions, RosError } from '../../errors.js';
import { effectivePolicies } from '../../menu/executor.js';
import { presenceType, stringType } from '../../menu/proptypes.js';
import { networkText } from '../../menu/render.js';
import type { ArgDecl, CommandDecl, Environment, Session } from '../../menu/types.js';
import { ItemId } from '../../menu/values.js';
import { runningJobs, startJob } from './script-job.js';

const scriptArg: ArgDecl<string> = { name: 'script', type: stringType, positional: 0, required: true, help: 'Console text to run' };
/** Writing into /file takes the write policy, whichever command does it (issue 11; as `print file=`). */
const fileArg: ArgDecl<string> = { name: 'file', type: stringType, policy: 'write', help: 'File that receives what the script prints' };
const asStringArg: ArgDecl<boolean> = {
  name: 'as-string', type: presenceType, flagOnly: true, help: 'Run now and return the output instead of a job id',
};

/** What the script runner prefixes to a failure (ScriptRunner.run: `<printed>Script Error: <text>`). */
const SCRIPT_ERROR = 'Script Error: ';

/** Jobs running at once beyond which no background job starts (nobody fills the memory with jobs). */
export const MAX_RUNNING_JOBS = 64;
/**
 * Jobs one user may have running at once beyond which that user starts no background job: a read
 * user's 64 `:execute ":delay 1h"` took every slot, and nobody else could start one.
 */
export const MAX_JOBS_PER_USER = 16;

/**
 * Starts console text as a background job of `session`'s user (`/execute`, `:execute`): listed
 * in /system script job, stopped by its `remove`; returns the job's id at once. What it prints
 * goes to `file` (a /file entry, written when it ends) or nowhere; a failure goes to /log.
 */
export async function startBackgroundScript(env: Environment, session: Session, source: string, opts: { file?: string } = {}): Promise<ItemId> {
  // Parse and check it now: a script that can not run is the caller's error, not a job's.
  env.scripts.check(source);
  if (opts.file !== undefined) env.files.check(opts.file);
  const running = runningJobs(env);
  if (running.length >= MAX_RUNNING_JOBS || running.filter((j) => j.owner === session.user).length >= MAX_JOBS_PER_USER) {
    throw failure('too many jobs running');
  }
  const runner: Session = { ...session, via: 'script', prompt: undefined, progress: undefined };
  const info = { script: '', type: 'command', owner: session.user, policy: [...session.policies] } as const;
  // The job outlives the request that started it: no caller's signal.
  const job = await startJob(env, info, undefined, async (signal) => {
    let printed = '';
    try {
      printed = await env.scripts.run(source, { ...runner, signal });
    } catch (e) {
      if (e instanceof RosError && e.kind === 'interrupted') return;
      // /log gets the error alone, never what the job printed (RosError.scriptError); the file gets both.
      const logged = e instanceof RosError ? (e.scriptError ?? e).scriptText() : 'internal error';
      await env.store.write((tx) => env.log(tx, 'script,error', `script error: ${logged.replace(/\s+$/, '')}`)).catch(() => {});
      printed = e instanceof RosError ? failureText(e) : 'internal error';
    }
    if (opts.file === undefined) return;
    try {
      // The job may outlive its user's rights: the file is written only if they still may.
      if (!(await env.store.read((tx) => effectivePolicies(env, tx, session))).has('write')) throw notEnoughPermissions();
      await env.files.write(opts.file, printed);
    } catch (e) {
      const text = e instanceof RosError ? e.message : 'internal error';
      await env.store.write((tx) => env.log(tx, 'script,error', `script output not written: ${text}`)).catch(() => {});
    }
  });
  job.done.catch(() => {});
  return new ItemId(job.id);
}

/**
 * A failed script's text without the runner's prefix: what it printed, then the error as a
 * script reports it, with where it failed (`boom (:error; line 1)`, `input does not match any
 * value of certificate (/ip/service/set (certificate); line 1)`: RosError.scriptText,
 * routeros-services.md §1.2).
 */
function failureText(e: RosError): string {
  const text = e.scriptText();
  const at = text.indexOf(SCRIPT_ERROR);
  return at < 0 ? text : text.slice(0, at) + text.slice(at + SCRIPT_ERROR.length);
}

export const executeCommand: CommandDecl = {
  name: 'execute',
  help: 'Run console text as a background job, or now with as-string',
  // Nothing of its own: every command inside is checked against the caller's policies.
  policy: [],
  args: [scriptArg, fileArg, asStringArg],
  async run(call) {
    const { env, session } = call;
    const source = call.args.get(scriptArg)!;
    const runner: Session = { ...session, via: 'script', prompt: undefined, progress: undefined };
    // RouterOS keeps the name as a C string: it ends at the first NUL. eworm's scripts rely on it
    // (`file=($Name . ".conf\00")`, backup-upload) to keep RouterOS from adding `.txt`.
    const file = call.args.get(fileArg)?.split('\0')[0];
    if (call.args.has(asStringArg)) {
      let printed: string;
      try {
        printed = await env.scripts.run(source, runner);
      } catch (e) {
        if (!(e instanceof RosError && e.kind === 'script')) throw e;
        printed = failureText(e);
      }
      if (file !== undefined) await env.files.write(file, printed);
      return { ret: networkText(printed) };
    }
    return { ret: await startBackgroundScript(env, session, source, { file }) };
  },
};
