// /system script (scripts kept in the store and run by name) and the root command
// `/import file-name=X.rsc` (a script from /file). Both run through the console interpreter,
// like RouterOS: the whole text is parsed and checked first, then run, stopping at the first
// error, which is reported as `Script Error: <console text> (line L column C)` (spec §6.1).
//
// A script runs with the policies of its `policy` property; the user who runs it must have
// all of them unless `dont-require-permissions=yes` (RouterOS rule). Its output (`:put`) is
// printed when it ends. Global variables of scripts are shared by every script and import
// run in this process, as RouterOS globals are shared system-wide.

import { notEnoughPermissions, RosError } from '../../errors.js';
import { Interpreter } from '../../console/interpreter.js';
import { Executor } from '../../menu/executor.js';
import { renderPrint } from '../../menu/render.js';
import { anyType, boolType, dateType, enumSetType, intType, presenceType, stringType } from '../../menu/proptypes.js';
import { genericCommands, resolveItems } from '../../menu/generic.js';
import type { Registry } from '../../menu/registry.js';
import type { CommandCall, CommandDecl, CommandResult, Environment, MenuDecl, Policy, Session } from '../../menu/types.js';
import { POLICIES } from '../../menu/types.js';
import { valueToString, type Value } from '../../menu/values.js';
import { guarded, matchFileName, readStoreFile } from '../file/files.js';

export const SCRIPT_PATH = '/system/script';

/** RouterOS's default policy of a new script. */
const DEFAULT_POLICY: Policy[] = ['ftp', 'reboot', 'read', 'write', 'policy', 'test', 'password', 'sniff', 'sensitive', 'romon'];

const scriptGlobals = new WeakMap<object, Map<string, Value>>();

function globalsOf(env: Environment): Map<string, Value> {
  let g = scriptGlobals.get(env.store);
  if (!g) scriptGlobals.set(env.store, (g = new Map()));
  return g;
}

export interface ScriptRun {
  source: string;
  session: Session;
  env: Environment;
  /** Parse and check only. */
  dryRun?: boolean;
}

/**
 * Runs script text in a fresh interpreter. Returns what it printed; a failure is thrown as
 * `Script Error: …` with the output printed before it kept in front (so the console shows both).
 */
export async function runScriptText(run: ScriptRun): Promise<string> {
  const env = run.env as Environment & { registry: Registry };
  let printed = '';
  const interpreter = new Interpreter({
    registry: env.registry,
    executor: new Executor(env),
    session: { ...run.session, lastPrint: new Map(), prompt: undefined, progress: undefined },
    output: (text) => { printed += text; },
    log: (topic, message) => { env.store.write((tx) => env.log(tx, `script,${topic}`, message)).catch(() => {}); },
    globals: globalsOf(env),
  });
  try {
    if (run.dryRun) interpreter.compile(run.source);
    else await interpreter.run(run.source);
  } catch (e) {
    if (e instanceof RosError && e.kind === 'interrupted') throw e;
    const text = e instanceof RosError ? e.consoleText() : `failure: ${(e as Error).message ?? String(e)}`;
    const err = new RosError('script', `${printed}Script Error: ${text}`);
    throw err;
  }
  return printed;
}

const outputMessages = (text: string): string[] => (text === '' ? [] : text.replace(/\n$/, '').split('\n'));

const runCommand: CommandDecl = {
  name: 'run',
  help: 'Run a script',
  policy: 'test',
  args: [{ name: 'number', type: anyType, positional: 0, required: true, help: 'Script name or number' }],
  async run(call: CommandCall): Promise<CommandResult> {
    const { env, session } = call;
    const row = await env.store.read((tx) => {
      const ids = resolveItems(call.menu, call.args.get('number'), session, tx);
      if (ids.length !== 1) throw new RosError('argument', 'no such item');
      return tx.get(SCRIPT_PATH, ids[0]!)!;
    });
    const policy = (row.data.policy as Policy[] | undefined) ?? [];
    if (!row.data['dont-require-permissions'] && policy.some((p) => !session.policies.has(p))) throw notEnoughPermissions();
    await env.store.write((tx) => {
      const now = tx.get(SCRIPT_PATH, row.id);
      if (now) tx.update(SCRIPT_PATH, row.id, { ...now.data, 'run-count': Number(now.data['run-count'] ?? 0) + 1, 'last-started': env.clock.now() });
    });
    const printed = await runScriptText({ source: String(row.data.source ?? ''), env, session: { ...session, policies: new Set(policy), via: 'script' } });
    return { messages: outputMessages(printed) };
  },
};

export const scriptMenu: MenuDecl = {
  path: SCRIPT_PATH,
  kind: 'list',
  help: 'Scripts',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'remove', 'find', 'comment', 'export'],
  detailOrder: ['name', 'owner', 'policy', 'dont-require-permissions', 'last-started', 'run-count', 'source'],
  properties: [
    { name: 'name', type: stringType, required: true, unique: true, default: '' },
    { name: 'owner', type: stringType, help: 'User that owns the script' },
    { name: 'policy', type: enumSetType(POLICIES), default: DEFAULT_POLICY, help: 'Policies the script runs with' },
    { name: 'dont-require-permissions', type: boolType, default: false, help: 'Run even when the user lacks some of the policies' },
    { name: 'source', type: stringType, default: '', detail: 'always', help: 'The script' },
    { name: 'comment', type: stringType },
    { name: 'last-started', type: dateType, access: 'ro' },
    { name: 'run-count', type: intType(0, 2 ** 53, { numeric: true }), access: 'ro', default: 0, detail: 'always' },
    { name: 'invalid', type: boolType, access: 'ro', flag: { letter: 'I' }, detail: 'never' },
  ],
  // RouterOS prints scripts in the detail layout (there are no table columns for them).
  printTable: (print) => renderPrint({ ...print, mode: 'detail' }, { width: 80 } as Session),
  validate(row, tx, env) {
    // `invalid` (flag I): the source does not parse or refers to unknown commands.
    void tx;
    const e = env as Environment & { registry: Registry };
    try {
      new Interpreter({ registry: e.registry, executor: new Executor(e), session: { user: '', via: 'script', policies: new Set(), lastPrint: new Map(), width: 80 }, output: () => {} }).compile(String(row.source ?? ''));
      delete row.invalid;
    } catch {
      row.invalid = true;
    }
  },
  commands: [runCommand],
};

/** The generic add, with `owner` defaulting to the user who adds the script. */
const genericAdd = genericCommands({ ...scriptMenu, verbs: ['add'] })[0]!;
(scriptMenu.commands as CommandDecl[]).push({
  ...genericAdd,
  run(call) {
    if (call.args.has('owner')) return genericAdd.run(call);
    return genericAdd.run({ ...call, args: new Map([...call.args, ['owner', call.session.user]]) });
  },
});

/** `/import file-name=X.rsc [verbose=yes] [dry-run]`: runs a script file from /file. */
export const importCommand: CommandDecl = {
  name: 'import',
  help: 'Run a script file (.rsc) from /file',
  policy: 'write',
  args: [
    { name: 'file-name', type: stringType, required: true, positional: 0, help: 'Script file in /file' },
    { name: 'verbose', type: boolType, help: 'Accepted; output is the same' },
    { name: 'dry-run', type: presenceType, flagOnly: true, help: 'Check the script without running it' },
  ],
  async run(call: CommandCall): Promise<CommandResult> {
    const { env, session } = call;
    return guarded(env, session, async () => {
      const file = matchFileName(env.dataDir.filesDir, valueToString(call.args.get('file-name')));
      const { data } = readStoreFile(env.dataDir.filesDir, file);
      const dryRun = call.args.has('dry-run') && call.args.get('dry-run') !== false;
      const printed = await runScriptText({ source: data.toString('utf8'), env, session: { ...session, via: 'script' }, dryRun });
      return { messages: [...outputMessages(printed), 'Script file loaded and executed successfully'] };
    });
  },
};

/** Commands at the root menu (`/import`). */
export const rootMenu: MenuDecl = {
  path: '/',
  kind: 'dir',
  properties: [],
  verbs: [],
  commands: [importCommand],
};
