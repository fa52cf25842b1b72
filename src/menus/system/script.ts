// /system script (scripts kept in the store and run by name) and the root command
// `/import file-name=X.rsc` (a script from /file). Both run through the console interpreter,
// like RouterOS: the whole text is parsed and checked first, then run, stopping at the first
// error, which is reported as `Script Error: <console text> (line L column C)` (spec §6.1).
//
// Scripts run through the environment's script runner (env.scripts, the console language).
// The user who runs a script must have all of its `policy` unless `dont-require-permissions=yes`
// (RouterOS rule). It runs with the runner's permissions, or with its own `policy` when run with
// `use-script-permissions` (RouterOS 7.15+, M-SCRIPT "Script permissions") or when it has
// dont-require-permissions=yes; always as its owner, so it never does more than the owner
// holds. Its output (`:put`) is printed when it ends. Global variables of scripts are shared by every script and import
// run in this process, as RouterOS globals are shared system-wide.

import { notEnoughPermissions } from '../../errors.js';
import { holdsSecret } from '../../menu/secret-files.js';
import { renderPrint } from '../../menu/render.js';
import { boolType, dateType, enumSetType, enumType, intType, itemsType, presenceType, stringType } from '../../menu/proptypes.js';
import { genericCommands, resolveItem } from '../../menu/generic.js';
import type { ArgDecl, CommandCall, CommandDecl, CommandResult, Environment, MenuDecl, Policy, Session } from '../../menu/types.js';
import type { StoredRow } from '../../store/store.js';
import { runAsJob } from './script-job.js';
import { POLICIES } from '../../menu/types.js';
import { holdsAll, mayActFor } from '../user/user.js';
import type { Value } from '../../menu/values.js';
import { executeCommand } from './execute.js';

export const SCRIPT_PATH = '/system/script';

/** RouterOS's default policy of a new script. */
export const DEFAULT_POLICY: readonly Policy[] = ['ftp', 'reboot', 'read', 'write', 'policy', 'test', 'password', 'sniff', 'sensitive', 'romon'];

const outputMessages = (text: string): string[] => (text === '' ? [] : text.replace(/\n$/, '').split('\n'));

const scriptArg: ArgDecl<Value> = { name: 'number', type: itemsType, positional: 0, required: true, help: 'Script name or number' };
const ownPermissionsArg: ArgDecl = { name: 'use-script-permissions', type: presenceType, flagOnly: true, help: 'Run with the policies of the script instead of your own' };

const runCommand: CommandDecl = {
  name: 'run',
  help: 'Run a script',
  policy: 'test',
  args: [scriptArg, ownPermissionsArg],
  async run(call: CommandCall): Promise<CommandResult> {
    const row = await call.env.store.read((tx) => {
      return tx.get(SCRIPT_PATH, resolveItem(call.menu, call.args.get(scriptArg), call.session, tx))!;
    });
    return { messages: outputMessages(await runStoredScript(call.env, row, call, call.args.flag(ownPermissionsArg))) };
  },
};

/**
 * Runs a stored script for a caller (`/system script run`, the scheduler): the caller must hold
 * the script's policies unless it has dont-require-permissions=yes; the script acts as its
 * owner with its own policies, narrowed by the caller's unless dont-require-permissions=yes,
 * and the executor narrows them by the owner's group at every command. It runs as a job of
 * /system script job. Returns what the script printed.
 */
/**
 * Runs a stored script as a job. It acts as its owner — the executor narrows it by the owner's
 * group at every command — with the runner's policies, or with its own policy when run with
 * use-script-permissions or when it has dont-require-permissions=yes (what that property is for:
 * services with few policies run scripts that need more).
 */
export async function runStoredScript(
  env: Environment, row: StoredRow, caller: Pick<CommandCall, 'session' | 'policies'>, ownPermissions = false,
): Promise<string> {
  const { session } = caller;
  const policy = (row.data.policy as Policy[] | undefined) ?? [];
  const unchecked = row.data['dont-require-permissions'] === true;
  if (!unchecked && policy.some((p) => !caller.policies.has(p))) throw notEnoughPermissions();
  await env.store.write((tx) => {
    const now = tx.get(SCRIPT_PATH, row.id);
    if (now) tx.update(SCRIPT_PATH, row.id, { ...now.data, 'run-count': Number(now.data['run-count'] ?? 0) + 1, 'last-started': env.clock.now() });
  });
  const policies = ownPermissions || unchecked
    ? new Set(unchecked ? policy : policy.filter((p) => caller.policies.has(p)))
    : new Set(caller.policies);
  const owner = typeof row.data.owner === 'string' && row.data.owner !== '' ? row.data.owner : session.user;
  const name = String(row.data.name ?? '');
  const job = { script: name, type: 'command', owner, policy: [...policies] } as const;
  // A session's credential stamp is its own user's: acting as another owner it would never
  // match (every command refused); acting as the caller it stays, so their password change ends it.
  const stamp = owner === session.user ? session.stamp : undefined;
  return runAsJob(env, job, session.signal, (signal) => env.scripts.run(String(row.data.source ?? ''), {
    ...session, user: owner, policies, operator: false, channel: undefined, via: 'script', signal, stamp,
  }, { name, plainErrors: true }));
}

export const scriptMenu: MenuDecl = {
  path: SCRIPT_PATH,
  kind: 'list',
  help: 'Scripts',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'remove', 'find', 'comment', 'export'],
  /**
   * Nobody reaches more through a script than they hold (issue 11): its policy must be ones the
   * caller has; it belongs to the caller unless a policy user gives it to someone who holds no
   * more than they do; and a script of someone who holds more can not be changed or removed.
   */
  authorize({ before, after }, tx, call) {
    // A script without an owner is the caller's.
    const allowed = (owner: unknown): boolean => owner === undefined || mayActFor(tx, call, String(owner));
    if (before && !allowed(before.owner)) throw notEnoughPermissions();
    if (!after) return;
    if (!holdsAll(call.policies, (after.policy as Policy[] | undefined) ?? [])) throw notEnoughPermissions();
    if (!allowed(after.owner)) throw notEnoughPermissions();
  },
  properties: [
    { name: 'name', type: stringType, required: true, unique: true, default: '' },
    { name: 'owner', type: stringType, help: 'User that owns the script' },
    { name: 'policy', type: enumSetType(POLICIES), default: DEFAULT_POLICY, help: 'Policies the script runs with' },
    { name: 'dont-require-permissions', type: boolType, default: false, policy: 'policy', help: 'Run even when the user lacks some of the policies' },
    { name: 'last-started', type: dateType, access: 'ro' },
    { name: 'run-count', type: intType(0, 2 ** 53, { numeric: true }), access: 'ro', default: 0, detail: 'always' },
    { name: 'source', type: stringType, default: '', detail: 'always', help: 'The script' },
    { name: 'comment', type: stringType },
    { name: 'invalid', type: boolType, access: 'ro', flag: { letter: 'I' }, detail: 'never' },
  ],
  // RouterOS prints scripts in the detail layout (there are no table columns for them).
  printTable: (print) => renderPrint({ ...print, mode: 'detail' }, { width: 80 } as Session),
  validate(row, _tx, env) {
    // `invalid` (flag I): the source does not parse or refers to unknown commands.
    try {
      env.scripts.check(String(row.source ?? ''));
      delete row.invalid;
    } catch {
      row.invalid = true;
    }
  },
  commands: [runCommand],
};

/**
 * The generic add, with `owner` defaulting to the user who adds the script and `policy` to
 * RouterOS's default narrowed to what that user holds (nobody writes a script with more).
 */
const genericAdd = genericCommands({ ...scriptMenu, verbs: ['add'] })[0]!;
(scriptMenu.commands as CommandDecl[]).push({
  ...genericAdd,
  run(call) {
    const defaults: Array<[string, unknown]> = [];
    if (!call.args.has('owner')) defaults.push(['owner', call.session.user]);
    if (!call.args.has('policy')) defaults.push(['policy', DEFAULT_POLICY.filter((p) => call.policies.has(p))]);
    return genericAdd.run({ ...call, args: call.args.with(defaults) });
  },
});

const importFileArg: ArgDecl<string> = { name: 'file-name', type: stringType, required: true, positional: 0, help: 'Script file in /file' };
const dryRunArg: ArgDecl = { name: 'dry-run', type: presenceType, flagOnly: true, help: 'Check the script without running it; list every error' };
const fromLineArg: ArgDecl<number> = { name: 'from-line', type: intType(1, 2 ** 31), help: 'Run the script from this line on' };

/**
 * `/import file-name=X.rsc [verbose=] [dry-run] [from-line=]`: runs a script file from /file.
 * A dry run checks the whole file and lists every error (RouterOS 7.16+): `#line N`, the line,
 * the error, then `Script Error: found N error(s) in import file`; a clean file gives
 * `No syntax errors found in the import file`.
 */
export const importCommand: CommandDecl = {
  name: 'import',
  help: 'Run a script file (.rsc) from /file',
  policy: 'write',
  args: [
    importFileArg,
    { name: 'verbose', type: enumType(['no', 'progress', 'yes']), help: 'Accepted; output is the same' },
    dryRunArg,
    fromLineArg,
  ],
  async run(call: CommandCall): Promise<CommandResult> {
    const { env, session } = call;
    const file = await env.files.match(call.args.get(importFileArg)!);
    const bytes = await env.files.read(file);
    // A key file is no script, and its errors would show its lines (a dry run lists them all):
    // reading a file holding a secret takes `sensitive`, as its contents and downloads do.
    if (!call.policies.has('sensitive') && holdsSecret(bytes, env.registry)) throw notEnoughPermissions();
    let source = bytes.toString('utf8');
    const fromLine = call.args.get(fromLineArg);
    if (fromLine !== undefined) {
      // Lines before it stay as empty lines: errors keep the file's line numbers.
      const lines = source.split('\n');
      source = [...lines.slice(0, fromLine - 1).map(() => ''), ...lines.slice(fromLine - 1)].join('\n');
    }
    if (call.args.flag(dryRunArg)) {
      await env.scripts.run(source, { ...session, via: 'script' }, { dryRun: true });
      return { messages: ['No syntax errors found in the import file'] };
    }
    const printed = await env.scripts.run(source, { ...session, via: 'script' });
    return { messages: [...outputMessages(printed), 'Script file loaded and executed successfully'] };
  },
};

/** Commands at the root menu (`/import`, `/execute`). */
export const rootMenu: MenuDecl = {
  path: '/',
  kind: 'dir',
  properties: [],
  verbs: [],
  commands: [importCommand, executeCommand],
};
