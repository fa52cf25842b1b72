// The rospki command (issue 2 §2, the process contract):
//
//   rospki [--data DIR]              the appliance: enabled services + the console on a terminal
//   rospki serve [--data DIR]        headless daemon; clean shutdown on SIGTERM/SIGINT
//   rospki [--data DIR] -e 'SCRIPT'  run console text as admin, exit 1 at the first error
//   rospki [--data DIR] FILE.rsc     the same for a file; piped stdin likewise
//
// When a daemon runs on DIR, scripts and consoles go through its control socket.

import fs from 'node:fs';
import path from 'node:path';
import { connectControl, type ConsoleBackend } from './control.js';
import type { TerminalAsker } from './console/repl.js';
import { resolveDataDir } from './store/datadir.js';
import { ROSPKI_VERSION } from './version.js';

interface Args {
  data?: string;
  serve: boolean;
  script?: string;
  file?: string;
  help: boolean;
  version: boolean;
}

const USAGE = `Usage:
  rospki [--data DIR]                start the appliance (services + console on a terminal)
  rospki serve [--data DIR]          run headless until SIGTERM/SIGINT
  rospki [--data DIR] -e 'SCRIPT'    run console commands and exit
  rospki [--data DIR] FILE.rsc       run a script file and exit
  command | rospki [--data DIR]      run commands from standard input and exit

The data directory is --data DIR, else $ROSPKI_DATA, else ./rospki-data.
`;

function parseArgs(argv: string[]): Args {
  const args: Args = { serve: false, help: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--data' || a === '-d') args.data = next();
    else if (a.startsWith('--data=')) args.data = a.slice(7);
    else if (a === '-e' || a === '--execute') args.script = next();
    else if (a === '-h' || a === '--help') args.help = true;
    else if (a === '-V' || a === '--version') args.version = true;
    else if (a === 'serve' && !args.serve && args.file === undefined) args.serve = true;
    else if (!a.startsWith('-') && args.file === undefined) args.file = a;
    else throw new UsageError(`unknown argument ${a}`);
  }
  return args;
}

class UsageError extends Error {}

/**
 * Standard output whose reader may leave (`rospki -e '/log print' | head -3`): the rest of the
 * output is dropped and the script runs to its end, as it does through a daemon, so a closed
 * pipe never leaves a script half done; no EPIPE trace, the exit status is the script's. Any
 * other write error (a full disk) is said once on stderr and makes the exit status 1.
 */
let stdoutGone = false;
let stdoutFailed = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (stdoutGone) return;
  stdoutGone = true;
  if (e.code === 'EPIPE') return;
  stdoutFailed = true;
  process.stderr.write(`rospki: cannot write the output: ${e.code ?? e.message}\n`);
});

function writeOut(text: string): void {
  if (!stdoutGone) process.stdout.write(text);
}

/** Waits until what was written reached the pipe or file (or failed). */
function outputFlushed(): Promise<void> {
  return stdoutGone ? Promise.resolve() : new Promise((resolve) => process.stdout.write('', () => resolve()));
}

/** COLUMNS when set, else the width of the terminal on standard output, else 80. */
function terminalWidth(): number {
  const cols = Number(process.env.COLUMNS);
  if (Number.isInteger(cols) && cols > 0) return cols;
  return process.stdout.isTTY && process.stdout.columns > 0 ? process.stdout.columns : 80;
}

/** Tables follow a terminal that is resized, unless COLUMNS fixes the width. */
const followWidth = (): boolean => !(Number(process.env.COLUMNS) > 0);

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`rospki: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) { process.stdout.write(USAGE); return 0; }
  if (args.version) { process.stdout.write(`rospki ${ROSPKI_VERSION}\n`); return 0; }
  const dir = resolveDataDir(args.data);
  // All that rospki writes goes into the data directory, which holds keys: owner-only whatever
  // umask it was started with (issue 11 §4), also for files made without an explicit mode.
  process.umask(0o077);
  if (args.serve) return serve(dir, false);
  if (args.script !== undefined) return runScript(dir, args.script);
  if (args.file !== undefined) {
    let source: string;
    try {
      source = fs.readFileSync(args.file, 'utf8');
    } catch (e) {
      process.stderr.write(`rospki: cannot read ${args.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return 2;
    }
    return runScript(dir, source);
  }
  if (!process.stdin.isTTY) return runScript(dir, await readStdin());
  return serve(dir, true);
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c: string) => { text += c; });
    process.stdin.on('end', () => resolve(text));
    process.stdin.on('error', reject);
  });
}

/** A console: through the daemon when one runs on dir, else on dir directly. */
async function openConsole(dir: string, interactive: boolean): Promise<{ backend: ConsoleBackend; close: () => void }> {
  const socketPath = path.join(dir, 'control.sock');
  const ask = interactive ? await terminalAsk() : undefined;
  const remote = await connectControl(socketPath, { width: terminalWidth(), interactive, ask });
  if (remote) return { backend: remote, close: () => remote.close() };
  const { Appliance } = await import('./appliance.js');
  const { ConsoleSession } = await import('./console/session.js');
  const { LocalConsole } = await import('./control.js');
  const app = await Appliance.open(dir);
  const session = await ConsoleSession.open(app, {
    width: terminalWidth(), output: () => {}, via: interactive ? 'console' : 'script', operator: true,
    prompt: ask,
  });
  return { backend: new LocalConsole(session), close: () => app.close() };
}

/** Questions on this terminal: through the running console when there is one (see repl.ts). */
const terminalAsker: TerminalAsker = {};

async function terminalAsk(): Promise<((q: string, masked: boolean) => Promise<string>) | undefined> {
  if (!process.stdin.isTTY) return undefined;
  const { askMasked } = await import('./console/repl.js');
  return (q, masked) => (terminalAsker.ask ? terminalAsker.ask(q, masked) : askMasked(process.stdin, process.stdout, q, masked));
}

async function runScript(dir: string, source: string): Promise<number> {
  const { backend, close } = await openConsole(dir, false);
  try {
    const outcome = await backend.run(source, writeOut);
    if (!outcome.ok) writeOut(`${outcome.error ?? 'failure'}\n`);
    await outputFlushed();
    return !outcome.ok || stdoutFailed ? 1 : 0;
  } finally {
    close();
  }
}

/**
 * The daemon: opens the data directory, serves the control socket (and the enabled services),
 * and with a terminal runs the console until the user leaves.
 */
async function serve(dir: string, withConsole: boolean): Promise<number> {
  const socketPath = path.join(dir, 'control.sock');
  if (withConsole) {
    // A daemon already runs here: be a console of it rather than a second appliance.
    const remote = await connectControl(socketPath, {
      width: terminalWidth(), interactive: true, ask: await terminalAsk(), clearHistory: () => terminalAsker.clearHistory?.(),
    });
    if (remote) {
      const { runRepl } = await import('./console/repl.js');
      await runRepl(remote, { input: process.stdin, output: process.stdout, historyFile: path.join(dir, 'history'), asker: terminalAsker, followWidth: followWidth() });
      remote.close();
      return 0;
    }
  }
  const { Appliance } = await import('./appliance.js');
  const { serveControl, LocalConsole } = await import('./control.js');
  const app = await Appliance.open(dir);
  let stopControl: () => Promise<void>;
  try {
    stopControl = await serveControl(app, socketPath);
  } catch (e) {
    process.stderr.write(`rospki: ${(e as Error).message}\n`);
    app.close();
    return 1;
  }
  const { startServices } = await import('./services/index.js');
  const services = await startServices(app);
  // CRLs of local CAs are signed again before they expire; downloaded CRLs are refreshed.
  const { startCrlScheduler } = await import('./menus/certificate/crl-schedule.js');
  const crlScheduler = startCrlScheduler(app);
  // /system scheduler runs its entries (start-up ones now) while the daemon runs.
  const { startScheduler } = await import('./menus/system/scheduler.js');
  const scheduler = startScheduler(app);
  const shutdown = async () => {
    crlScheduler.stop();
    await scheduler.stop();
    await services.stop();
    await stopControl();
    app.close();
  };
  if (withConsole) {
    const { ConsoleSession } = await import('./console/session.js');
    const { runRepl } = await import('./console/repl.js');
    const session = await ConsoleSession.open(app, {
      width: terminalWidth(), output: () => {}, prompt: await terminalAsk(), liveProgress: true, operator: true,
      clearHistory: () => terminalAsker.clearHistory?.(),
    });
    await app.logLogin('admin', 'local');
    await runRepl(new LocalConsole(session), { input: process.stdin, output: process.stdout, historyFile: path.join(dir, 'history'), asker: terminalAsker, followWidth: followWidth() });
    await app.logLogin('admin', 'local', true);
    await shutdown();
    return 0;
  }
  process.stdout.write(`rospki ${ROSPKI_VERSION} serving ${dir}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await shutdown();
  process.stdout.write('rospki stopped\n');
  return 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (e: Error) => {
    process.stderr.write(`rospki: ${e.message}\n`);
    process.exitCode = 1;
  },
);
