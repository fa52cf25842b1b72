// The rospki command (issue 2 §2, the process contract):
//
//   rospki [--data DIR]              the appliance: enabled services + the console on a terminal
//   rospki serve [--data DIR]        headless daemon; clean shutdown on SIGTERM/SIGINT
//   rospki [--data DIR] -e 'SCRIPT'  run console text as admin, exit 1 at the first error
//   rospki [--data DIR] FILE.rsc     the same for a file; piped stdin likewise
//   rospki store copy --from A --to B  copy a whole store between DIR and postgres:// (issue 17)
//
// --store postgres://… (or ROSPKI_STORE) keeps the store in PostgreSQL instead of the data
// directory's SQLite file, shared by several instances (issue 17); the data directory still holds
// the sealing secret, histories and the control socket. When a daemon runs on DIR, scripts and
// consoles go through its control socket. The connection's password is never printed.

import fs from 'node:fs';
import path from 'node:path';
import { connectControl, type ConsoleBackend } from './control.js';
import type { TerminalAsker } from './console/repl.js';
import { resolveDataDir } from './store/datadir.js';
import { ROSPKI_VERSION } from './version.js';

interface Args {
  data?: string;
  store?: string;
  serve: boolean;
  script?: string;
  file?: string;
  help: boolean;
  version: boolean;
}

const USAGE = `Usage:
  rospki [--data DIR] [--store URL]              start the appliance (services + console on a terminal)
  rospki serve [--data DIR] [--store URL]        run headless until SIGTERM/SIGINT
  rospki [--data DIR] [--store URL] -e 'SCRIPT'  run console commands and exit
  rospki [--data DIR] [--store URL] FILE.rsc     run a script file and exit
  command | rospki [--data DIR] [--store URL]    run commands from standard input and exit
  rospki store copy --from DIR|URL --to URL|DIR [--data DIR]
                                                 copy a whole store between a data directory and
                                                 PostgreSQL, and verify the copy

The data directory is --data DIR, else $ROSPKI_DATA, else ./rospki-data.
The store is SQLite in the data directory, or with --store (else $ROSPKI_STORE) a PostgreSQL
database: postgres://USER@HOST:PORT/DATABASE (the password from PGPASSWORD or ~/.pgpass keeps it
out of process listings). Every instance of one CA needs the same secret.key in its data directory.
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
    else if (a === '--store') args.store = next();
    else if (a.startsWith('--store=')) args.store = a.slice(8);
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

/** `--store`, else ROSPKI_STORE: a postgres:// URL, or undefined for SQLite in the data directory. */
function resolveStore(flag: string | undefined): string | undefined {
  const store = flag || process.env.ROSPKI_STORE || undefined;
  if (store !== undefined && !/^postgres(ql)?:\/\//i.test(store)) {
    throw new UsageError('--store takes a postgres:// URL (without it, the store is SQLite in the data directory)');
  }
  return store;
}

/** The store the commands of this process use (set once by main). */
let storeUrl: string | undefined;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv[0] === 'store') return storeCommand(argv.slice(1));
  let args: Args;
  try {
    args = parseArgs(argv);
    storeUrl = resolveStore(args.store);
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
async function openConsole(dir: string, interactive: boolean): Promise<{ backend: ConsoleBackend; close: () => void | Promise<void> }> {
  const socketPath = path.join(dir, 'control.sock');
  const ask = interactive ? await terminalAsk() : undefined;
  const remote = await connectControl(socketPath, { width: terminalWidth(), interactive, ask });
  if (remote) return { backend: remote, close: () => remote.close() };
  const { Appliance } = await import('./appliance.js');
  const { ConsoleSession } = await import('./console/session.js');
  const { LocalConsole } = await import('./control.js');
  const app = await Appliance.open(dir, { store: storeUrl });
  // No daemon runs the DNS service here: `:resolve` asks a resolver of this process instead.
  const closeResolver = await resolverOnFirstUse(app);
  const session = await ConsoleSession.open(app, {
    width: terminalWidth(), output: () => {}, via: interactive ? 'console' : 'script', operator: true,
    prompt: ask,
  });
  return { backend: new LocalConsole(session), close: () => { closeResolver(); app.close(); return app.closed(); } };
}

/**
 * The router's resolver of a console without the daemon (services/dns/service.ts
 * processResolver), loaded at the first `:resolve`: a script that resolves nothing does not pay
 * for loading the DNS code at start. Until then its cache is empty, as the real one's would be.
 */
async function resolverOnFirstUse(app: import('./appliance.js').Appliance): Promise<() => void> {
  const { LIVE_RESOLVER, liveResolver } = await import('./menus/ip/dns.js');
  let closeReal: (() => void) | undefined;
  let closed = false;
  let loading: Promise<NonNullable<ReturnType<typeof liveResolver>>> | undefined;
  // processResolver registers the real one in this stub's place.
  const load = () => (loading ??= import('./services/dns/service.js').then(({ processResolver }) => {
    closeReal = processResolver(app);
    const live = liveResolver(app.env)!;
    if (closed) closeReal();
    return live;
  }));
  app.env.cache.table<string, NonNullable<ReturnType<typeof liveResolver>>>(LIVE_RESOLVER.table).set(LIVE_RESOLVER.key, {
    records: () => [], usedKiB: () => 0, flush: () => {},
    lookup: async (name, family, server) => (await load()).lookup(name, family, server),
  });
  return () => {
    closed = true;
    if (closeReal) closeReal(); else app.env.cache.table(LIVE_RESOLVER.table).delete(LIVE_RESOLVER.key);
  };
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
  // Ctrl-C stops what runs (a `print follow` runs until then) and the store is closed cleanly; a
  // second one, for a command that does not stop, ends the process at once.
  let interrupted = false;
  const interrupt = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    backend.interrupt();
  };
  process.on('SIGINT', interrupt);
  try {
    const outcome = await backend.run(source, writeOut);
    if (!outcome.ok) writeOut(`${outcome.error ?? 'failure'}\n`);
    await outputFlushed();
    return !outcome.ok || stdoutFailed ? 1 : 0;
  } finally {
    process.off('SIGINT', interrupt);
    await close();
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
  // A SIGTERM/SIGINT that arrives while the daemon starts is kept, not fatal: start-up finishes
  // (so every daemon it launched, e.g. openvpn, is known) and then shuts down cleanly.
  const stopRequested = withConsole ? undefined : new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  const { Appliance } = await import('./appliance.js');
  const { serveControl, LocalConsole } = await import('./control.js');
  const app = await Appliance.open(dir, { store: storeUrl });
  let stopControl: () => Promise<void>;
  try {
    stopControl = await serveControl(app, socketPath);
  } catch (e) {
    process.stderr.write(`rospki: ${(e as Error).message}\n`);
    app.close();
    await app.closed();
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
  // /tool netwatch probes its entries, likewise as a singleton duty of the store.
  const { startNetwatch } = await import('./services/netwatch.js');
  const netwatch = startNetwatch(app);
  const shutdown = async () => {
    crlScheduler.stop();
    await netwatch.stop();
    await scheduler.stop();
    await services.stop();
    await stopControl();
    app.close();
    await app.closed();
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
  const { redactUrl } = storeUrl ? await import('./store/postgres-link.js') : { redactUrl: (u: string) => u };
  process.stdout.write(`rospki ${ROSPKI_VERSION} serving ${dir}${storeUrl ? ` (store ${redactUrl(storeUrl)})` : ''}\n`);
  await stopRequested;
  await shutdown();
  process.stdout.write('rospki stopped\n');
  return 0;
}

/** `rospki store copy --from A --to B [--data DIR]`. */
async function storeCommand(argv: string[]): Promise<number> {
  const usage = 'rospki store copy --from DIR|postgres://… --to postgres://…|DIR [--data DIR]\n';
  const opts: { from?: string; to?: string; data?: string } = {};
  if (argv[0] !== 'copy') { process.stderr.write(`rospki: unknown store command ${argv[0] ?? ''}\nUsage: ${usage}`); return 2; }
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = inline ?? argv[++i];
    if (value === undefined || !['--from', '--to', '--data'].includes(flag)) {
      process.stderr.write(`rospki: ${value === undefined ? `${flag} needs a value` : `unknown argument ${a}`}\nUsage: ${usage}`);
      return 2;
    }
    opts[flag.slice(2) as 'from' | 'to' | 'data'] = value;
  }
  if (!opts.from || !opts.to) { process.stderr.write(`rospki: --from and --to are needed\nUsage: ${usage}`); return 2; }
  process.umask(0o077);
  const { copyStore, CopyError, describeEnd } = await import('./store/copy.js');
  const end = (v: string) => (/^postgres(ql)?:\/\//i.test(v) ? { kind: 'postgres' as const, url: v } : { kind: 'dir' as const, dir: path.resolve(v) });
  const from = end(opts.from);
  const to = end(opts.to);
  try {
    const r = await copyStore(from, to, resolveDataDir(opts.data), (line) => process.stdout.write(`${line}\n`));
    process.stdout.write(`copied ${describeEnd(from)} to ${describeEnd(to)}: ${r.rows} rows of ${r.menus} menus, ${r.tombstones} removed ids, `
      + `${r.blobs} blobs (${r.keys} sealed keys opened on both sides), ${r.files} files and folders; every one verified\n`);
    return 0;
  } catch (e) {
    if (e instanceof CopyError) { process.stderr.write(`rospki: store copy failed: ${e.message}\n`); return 1; }
    throw e;
  }
}

main().then(
  (code) => { process.exitCode = code; },
  (e: Error) => {
    process.stderr.write(`rospki: ${e.message}\n`);
    process.exitCode = 1;
  },
);
