// Supervising a mature daemon that rospki configures rather than re-implements (OpenVPN,
// strongSwan's charon, …; design: rospki is the control plane, like RouterOS). One Supervisor per
// daemon instance:
//
//  - the daemon's configuration and key material go into a private runtime folder of the data
//    directory (`run/<name>/`, mode 0700, files 0600), written afresh before each start and
//    removed when the daemon stops — keys exist unsealed on disk only while the daemon runs;
//  - apply(spec) starts it, restarts it when the spec (arguments, files) changed — a new bound
//    certificate, a new CRL, a new setting — and stops it for `undefined`;
//  - a daemon that dies is started again with a growing back-off (1 s … 60 s), each exit logged;
//  - its output lines go to a callback (the service decides which reach /log);
//  - a program that is not installed is reported with the Debian package that provides it;
//  - every daemon runs on the router clock, not the host's (daemon-clock.ts): the one place
//    daemons are started is the one place that rule is applied.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { findProgram, missingProgramText } from '../menus/host/programs.js';
import type { DaemonClock } from './daemon-clock.js';

export { findProgram } from '../menus/host/programs.js';

export interface DaemonSpec {
  /** Program name or absolute path (`openvpn`, `/usr/lib/ipsec/charon`). */
  readonly program: string;
  /** The Debian package that installs it, for the message when it is missing. */
  readonly package: string;
  /** Arguments; `{run}` is replaced by the runtime folder. */
  readonly args: readonly string[];
  /** Files written into the runtime folder before each start (name → contents). */
  readonly files?: Readonly<Record<string, string | Buffer>>;
  /**
   * Files the daemon re-reads by itself (OpenVPN's --crl-verify, checked at every new
   * connection): written at each start like `files`, but a change to them alone rewrites them in
   * place — each time with a newer modification time, so a daemon that compares it sees the
   * change even within one second — instead of restarting the daemon.
   */
  readonly liveFiles?: Readonly<Record<string, string | Buffer>>;
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory: the runtime folder unless given. */
  readonly cwd?: string;
}

export type DaemonState =
  | { readonly state: 'stopped' }
  | { readonly state: 'starting' | 'running'; readonly pid: number; readonly since: number }
  | { readonly state: 'failed'; readonly reason: string; readonly retryAt?: number };

export interface SupervisorHooks {
  /** One line the daemon wrote (stdout and stderr). */
  output?(line: string): void;
  /** The state changed (for the menu's running/status properties and /log). */
  changed?(state: DaemonState): void;
}

/** Thrown by apply() when the program is missing: the message names the package. */
export class DaemonMissing extends Error {
  constructor(readonly program: string, readonly pkg: string) {
    super(missingProgramText(program, pkg));
  }
}

const BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000, 60_000];

export class Supervisor {
  private child: ChildProcess | undefined;
  private signature: string | undefined;
  private spec: DaemonSpec | undefined;
  private current: DaemonState = { state: 'stopped' };
  private restarts = 0;
  private retry: NodeJS.Timeout | undefined;
  private stoppingPromise: Promise<void> | undefined;
  /** The live files as last written, and the modification time given to them. */
  private readonly live = new Map<string, { data: string | Buffer; mtime: number }>();

  /**
   * `runRoot`: the data directory's `run` folder; `name`: this daemon's folder in it
   * (`ovpn-server1`). The folder is made private and removed when the daemon stops. `clock`: the
   * router clock the daemon runs on (one per data directory).
   */
  constructor(
    readonly runRoot: string,
    readonly name: string,
    private readonly clock: DaemonClock,
    private readonly hooks: SupervisorHooks = {},
  ) {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`supervisor: unsafe name ${name}`);
  }

  /** A stop asked for is under way (the daemon got SIGTERM and has not exited yet). */
  get stopping(): boolean {
    return this.stoppingPromise !== undefined;
  }

  get runDir(): string {
    return path.join(this.runRoot, this.name);
  }

  get state(): DaemonState {
    return this.current;
  }

  /**
   * Makes the daemon run with `spec` (restarting it when anything in it changed), or stops it
   * for undefined. Throws DaemonMissing when the program is not installed (nothing started).
   */
  async apply(spec: DaemonSpec | undefined): Promise<void> {
    if (!spec) {
      this.spec = undefined;
      this.signature = undefined;
      await this.stop();
      return;
    }
    const program = findProgram(spec.program);
    if (!program) throw new DaemonMissing(spec.program, spec.package);
    const signature = signatureOf(program, spec);
    // The same spec: nothing to restart — also while a crashed daemon waits for its back-off.
    if (signature === this.signature && (this.child || this.retry)) {
      this.spec = { ...spec, program };
      this.writeLiveFiles(spec);
      return;
    }
    await this.stop();
    this.spec = { ...spec, program };
    this.signature = signature;
    this.restarts = 0;
    this.start();
  }

  /** Stops the daemon (SIGTERM, then SIGKILL after 5 s) and removes the runtime folder. */
  stop(): Promise<void> {
    clearTimeout(this.retry);
    this.retry = undefined;
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.cleanup();
      this.set({ state: 'stopped' });
      return Promise.resolve();
    }
    this.stoppingPromise ??= new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(kill);
        this.stoppingPromise = undefined;
        this.cleanup();
        this.set({ state: 'stopped' });
        resolve();
      });
      child.kill('SIGTERM');
    });
    return this.stoppingPromise;
  }

  private start(): void {
    const spec = this.spec!;
    this.prepare(spec);
    const args = spec.args.map((a) => a.replaceAll('{run}', this.runDir));
    const child = spawn(spec.program, args, {
      cwd: spec.cwd ?? this.runDir, env: { ...process.env, ...spec.env, ...this.clock.environment() }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.set({ state: 'starting', pid: child.pid ?? 0, since: Date.now() });
    for (const stream of [child.stdout, child.stderr]) {
      let buffered = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).replace(/\r$/, '');
          buffered = buffered.slice(nl + 1);
          if (line) this.hooks.output?.(line);
        }
        if (buffered.length > 64 * 1024) buffered = ''; // a line without an end: dropped, bounded
      });
    }
    child.once('spawn', () => { if (this.child === child) this.set({ state: 'running', pid: child.pid ?? 0, since: Date.now() }); });
    child.once('error', (e) => this.exited(child, `could not start ${path.basename(spec.program)}: ${e.message}`));
    child.once('exit', (code, signal) => this.exited(child, signal ? `stopped by ${signal}` : `exited with status ${code}`));
  }

  /** The daemon ended without being asked to: start it again after a growing pause. */
  private exited(child: ChildProcess, reason: string): void {
    if (this.child !== child) return; // stopped on purpose, or replaced
    this.child = undefined;
    const delay = BACKOFF_MS[Math.min(this.restarts, BACKOFF_MS.length - 1)]!;
    this.restarts++;
    this.set({ state: 'failed', reason, retryAt: Date.now() + delay });
    this.retry = setTimeout(() => { if (this.spec) this.start(); }, delay);
    this.retry.unref();
  }

  /** A fresh private runtime folder with the spec's files. */
  private prepare(spec: DaemonSpec): void {
    this.cleanup();
    fs.mkdirSync(this.runRoot, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.runDir, { mode: 0o700 });
    for (const [name, data] of Object.entries({ ...spec.files, ...spec.liveFiles })) {
      fs.writeFileSync(this.filePath(name), data, { mode: 0o600 });
    }
    this.live.clear();
    for (const [name, data] of Object.entries(spec.liveFiles ?? {})) this.live.set(name, { data, mtime: Math.floor(Date.now() / 1000) });
  }

  private filePath(name: string): string {
    if (name.includes('/') || name.startsWith('.')) throw new Error(`supervisor: unsafe file name ${name}`);
    return path.join(this.runDir, name);
  }

  /** Rewrites the live files that changed, in place (a new file renamed over the old one). */
  private writeLiveFiles(spec: DaemonSpec): void {
    for (const [name, data] of Object.entries(spec.liveFiles ?? {})) {
      const before = this.live.get(name);
      if (before && Buffer.from(before.data).equals(Buffer.from(data))) continue;
      const file = this.filePath(name);
      const fresh = `${file}.new`;
      fs.writeFileSync(fresh, data, { mode: 0o600 });
      // Daemons compare whole seconds (OpenVPN: st_mtime and st_size): always move forward.
      const mtime = Math.max(Math.floor(Date.now() / 1000), (before?.mtime ?? 0) + 1);
      fs.utimesSync(fresh, mtime, mtime);
      fs.renameSync(fresh, file);
      this.live.set(name, { data, mtime });
    }
  }

  private cleanup(): void {
    fs.rmSync(this.runDir, { recursive: true, force: true });
  }

  private set(state: DaemonState): void {
    this.current = state;
    this.hooks.changed?.(state);
  }
}

function signatureOf(program: string, spec: DaemonSpec): string {
  const h = createHash('sha256');
  h.update(program).update('\0').update(JSON.stringify(spec.args)).update('\0').update(JSON.stringify(spec.env ?? {}));
  for (const [name, data] of Object.entries(spec.files ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    h.update('\0').update(name).update('\0').update(data);
  }
  return h.digest('hex');
}

/**
 * Daemons an earlier rospki left running (it was killed before it could stop them) hold their
 * ports and interfaces: stop every process whose working directory is one of the runtime folders
 * named `<prefix>…`, then remove the folders. Linux /proc; elsewhere nothing is found.
 */
export async function reapLeftovers(runRoot: string, prefix: string): Promise<void> {
  let folders: string[];
  try {
    folders = fs.readdirSync(runRoot).filter((d) => d.startsWith(prefix)).map((d) => path.join(runRoot, d));
  } catch {
    return;
  }
  if (folders.length === 0) return;
  const pids: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (folders.includes(fs.readlinkSync(`/proc/${pid}/cwd`))) pids.push(Number(pid));
    } catch {
      // gone, or not ours
    }
  }
  // A zombie (its parent, the killed rospki, can no longer reap it) counts as stopped.
  const alive = (pid: number): boolean => {
    try {
      return !/^\d+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  for (const pid of pids) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
  for (let i = 0; i < 100 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids.filter(alive)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  for (const f of folders) fs.rmSync(f, { recursive: true, force: true });
}

/** What one row of a service should run: a daemon spec, or why it cannot (its status says so). */
export interface DaemonPlan {
  readonly label: string;
  readonly spec?: DaemonSpec;
  readonly reason?: string;
}

/**
 * Runs `plan` on `supervisor`, or stops it for a plan that cannot run. A new reason, and a
 * missing program, are logged once (`log`); returns the missing program's message, if any.
 */
export async function runPlan(
  supervisor: Supervisor, plan: DaemonPlan, before: DaemonPlan | undefined, missingBefore: string | undefined, log: (message: string) => void,
): Promise<string | undefined> {
  if (!plan.spec) {
    await supervisor.apply(undefined);
    if (before?.reason !== plan.reason) log(`${plan.label}: not running: ${plan.reason}`);
    return undefined;
  }
  try {
    await supervisor.apply(plan.spec);
    return undefined;
  } catch (e) {
    if (!(e instanceof DaemonMissing)) throw e;
    if (missingBefore !== e.message) log(`${plan.label}: ${e.message}`);
    return e.message;
  }
}

/**
 * Brings a service's daemons in line with its plans (by key): stops those no longer planned,
 * makes the new ones and applies every plan, one after the other, until `stopped()`.
 */
export async function applyPlans<V extends { readonly plan: P }, P, D extends { apply(plan: P): Promise<void>; stop(): Promise<void> }>(
  daemons: Map<string, D>, plans: ReadonlyMap<string, V>, make: (planned: V) => D, stopped: () => boolean,
): Promise<void> {
  for (const [key, daemon] of daemons) {
    if (plans.has(key)) continue;
    daemons.delete(key);
    await daemon.stop();
  }
  for (const [key, planned] of plans) {
    if (stopped()) return;
    let daemon = daemons.get(key);
    if (!daemon) {
      daemon = make(planned);
      daemons.set(key, daemon);
    }
    await daemon.apply(planned.plan);
  }
}
