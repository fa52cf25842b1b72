// The appliance: one data directory opened with its store, every menu, the clock and the
// executor. The console, the daemon and (later) the network services all run on one of these.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { FixedClock, OffsetClock, systemClock, type Clock } from './clock.js';
import { ConsoleScriptRunner } from './console/scripts.js';
import { routerLookup } from './console/resolve.js';
import { Executor } from './menu/executor.js';
import { BUILTIN, newRowData, typeContext } from './menu/generic.js';
import { Registry } from './menu/registry.js';
import { sealedFields } from './menu/sealed.js';
import type { Environment, MenuDecl, Policy, Session } from './menu/types.js';
import { POLICIES } from './menu/types.js';
import { ALL_MENUS } from './menus/index.js';
import { certificateTrustSources } from './menus/certificate/trust-sources.js';
import { appendLog } from './menus/log.js';
import { CLOCK_PATH, routerZone } from './menus/system/clock.js';
import { GROUP_PATH } from './menus/user/group.js';
import { USER_PATH } from './menus/user/user.js';
import { sessionPolicies } from './menus/user/aaa.js';
import * as path from 'node:path';
import { octalMode, openDataDir, type DataDir } from './store/datadir.js';
import { DiskFileStore, type FileStore } from './store/files.js';
import { VolumeFileStore } from './store/volumes.js';
import { emptyTmpfsDisks, tmpfsVolumes } from './menus/disk.js';
import { SqliteStore } from './store/sqlite.js';
import type { RowData, Store, WriteTx } from './store/store.js';
import { TrustEngine } from './trust/engine.js';
import { IDENTITY_PATH, routerIdentity } from './menus/system/identity.js';

export interface ApplianceOptions {
  /** Base clock; ROSPKI_FAKE_TIME (ISO date) pins it for reproducible transcripts. */
  clock?: Clock;
  menus?: readonly MenuDecl[];
  /** Where stacks of unexpected errors go (the operator's log); default: standard error. */
  operatorLog?: (text: string) => void;
  /**
   * Where the store lives: undefined for SQLite in the data directory, or a `postgres://` URL
   * (issue 17: several instances of one CA on one PostgreSQL database; the data directory then
   * holds the sealing secret, histories and the control socket).
   */
  store?: string;
  /** PostgreSQL: how often an instance tries for a singleton duty it does not hold (ms). */
  dutyPollMs?: number;
}

/** `postgres://…` or `postgresql://…`: a PostgreSQL store (otherwise SQLite in the data directory). */
export function isPostgresUrl(store: string | undefined): store is string {
  return store !== undefined && /^postgres(ql)?:\/\//i.test(store);
}

/** One memo table per name, per appliance (ApplianceCache). */
class MemoTables {
  private readonly tables = new Map<string, Map<unknown, unknown>>();
  table<K, V>(name: string): Map<K, V> {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new Map()));
    return t as Map<K, V>;
  }
}

export class Appliance {
  readonly registry: Registry;
  readonly executor: Executor;
  readonly env: Environment & { registry: Registry };
  readonly clock: OffsetClock;
  /** The /file store (env.files): the data directory's files/, or PostgreSQL's rospki_files. */
  readonly files: FileStore;

  private constructor(readonly dataDir: DataDir, readonly store: Store, files: FileStore | undefined, opts: ApplianceOptions) {
    this.registry = new Registry(opts.menus ?? ALL_MENUS);
    this.clock = new OffsetClock(0, opts.clock ?? clockFromEnvironment());
    const clock = this.clock;
    const log = (tx: WriteTx, topics: string, message: string): void => appendLog(tx, clock.now(), topics, message);
    const operatorLog = opts.operatorLog ?? ((text: string) => { process.stderr.write(text); });
    // /disk type=tmpfs folders: capped and kept apart on whichever store holds /file.
    this.files = new VolumeFileStore(files ?? new DiskFileStore(dataDir.filesDir), () => tmpfsVolumes(store.view()));
    const env: { -readonly [K in keyof Environment]: Environment[K] } & { registry: Registry } = {
      trust: undefined as unknown as TrustEngine, // set just below: the engine's sources read env
      store, clock, registry: this.registry, log,
      zone: (tx) => routerZone(tx, clock),
      files: this.files,
      cache: new MemoTables(),
      scripts: new ConsoleScriptRunner(this.registry, () => this.executor, (topic, message) => {
        store.write((tx) => log(tx, `script,${topic}`, message)).catch(() => {});
      }, clock, () => routerLookup(this.env)),
      access: { policiesOf: sessionPolicies },
      reportInternalError: (error: unknown, where: string): string => {
        const ref = randomBytes(4).toString('hex');
        operatorLog(`rospki: internal error ${ref} in ${where}: ${(error as Error)?.stack ?? String(error)}\n`);
        store.write((tx) => log(tx, 'system,error,critical', `internal error ${ref} in ${where}`)).catch(() => {});
        return ref;
      },
    };
    env.trust = new TrustEngine(certificateTrustSources(env), clock);
    this.env = env;
    this.executor = new Executor(this.env);
  }

  static async open(dir: string, opts: ApplianceOptions = {}): Promise<Appliance> {
    if (isPostgresUrl(opts.store)) return Appliance.openPostgres(dir, opts.store, opts);
    const dataDir = openDataDir(dir);
    // The operator of the host learns of loosened permissions here, with full paths.
    for (const t of dataDir.tightened) process.stderr.write(`rospki: tightened permissions of ${t.path} (was ${octalMode(t.was)})\n`);
    const store = SqliteStore.open(dataDir, sealedFields(opts.menus ?? ALL_MENUS));
    const app = new Appliance(dataDir, store, undefined, opts);
    await app.initialise();
    return app;
  }

  /**
   * An instance on a PostgreSQL database. Every instance of one CA seals with the same secret:
   * the first makes it (and the database's seal check); the others get a copy of secret.key in
   * their data directory, and one without it, or with another, refuses to start.
   */
  private static async openPostgres(dir: string, url: string, opts: ApplianceOptions): Promise<Appliance> {
    const { PostgresStore, WrongSecret } = await import('./store/postgres.js');
    const { PgFileStore } = await import('./store/pg-files.js');
    const { redactUrl } = await import('./store/postgres-link.js');
    const where = `the store ${redactUrl(url)}`;
    const secretPath = path.join(path.resolve(dir), 'secret.key');
    const cannot = (why: string) => new Error(`cannot open ${where}: ${why}`);
    if (!fs.existsSync(secretPath)) {
      let sealed: boolean;
      try { sealed = await PostgresStore.sealed(url); } catch (e) { throw cannot((e as Error).message); }
      if (sealed) throw cannot(`${secretPath} is missing: every instance of this CA needs the secret.key of the first one (copy it, mode 0600)`);
    }
    const dataDir = openDataDir(dir);
    for (const t of dataDir.tightened) process.stderr.write(`rospki: tightened permissions of ${t.path} (was ${octalMode(t.was)})\n`);
    let store: Awaited<ReturnType<typeof PostgresStore.open>>;
    try {
      store = await PostgresStore.open({ url, secret: dataDir.secret, dutyPollMs: opts.dutyPollMs, sealedFields: sealedFields(opts.menus ?? ALL_MENUS) });
    } catch (e) {
      if (e instanceof WrongSecret) throw cannot(`${dataDir.secretPath} is not the secret.key this database was sealed with: every instance of this CA needs the secret.key of the first one`);
      throw cannot((e as Error).message);
    }
    const files = new PgFileStore(url, dataDir.filesDir);
    const app = new Appliance(dataDir, store, files, opts);
    app.closers.push(() => store.whenClosed(), () => files.close());
    // `/system clock set` on another instance moves this one's router clock too (one router).
    const unfollow = store.onChange(() => app.followClock());
    app.closers.push(async () => unfollow());
    try {
      await app.initialise();
    } catch (e) {
      app.close();
      await app.closed();
      throw cannot((e as Error).message);
    }
    return app;
  }

  /** Takes the router clock's offset from the store when another instance moved it. */
  private followClock(): void {
    const row = this.store.view().get(CLOCK_PATH, 1);
    const offset = Number(row?.data['offset-ms'] ?? 0);
    if (offset !== this.clock.offsetMs) this.clock.offsetMs = offset;
  }

  /** What close() starts and closed() waits for (the PostgreSQL connections). */
  private readonly closers: (() => Promise<void>)[] = [];
  private closing: Promise<void> | undefined;

  /** A fresh data directory gets the RouterOS defaults: identity, groups, user admin. */
  private async initialise(): Promise<void> {
    await this.store.write((tx) => {
      // /log names what was tightened relative to the data directory: no host paths for users.
      for (const t of this.dataDir.tightened) {
        const what = path.relative(this.dataDir.root, t.path) || 'the data directory';
        this.env.log(tx, 'system,warning', `tightened permissions of ${what} (was ${octalMode(t.was)})`);
      }
      const clockRow = tx.get(CLOCK_PATH, 1);
      if (clockRow) this.clock.offsetMs = Number(clockRow.data['offset-ms'] ?? 0);
      if (tx.get(IDENTITY_PATH, 1)) return;
      const ctx = typeContext(this.env, tx);
      for (const menu of this.registry.all()) {
        if (menu.kind === 'singleton' && !menu.properties.every((p) => p.compute)) {
          tx.insert(menu.path, newRowData(menu, ctx));
        }
        for (const row of menu.defaults ?? []) insertBuiltin(tx, menu.path, { ...newRowData(menu, ctx), ...row });
      }
      const full = tx.findBy(GROUP_PATH, 'name', 'full')[0];
      insertBuiltin(tx, USER_PATH, {
        ...newRowData(this.registry.menu(USER_PATH)!, ctx),
        name: 'admin', group: full!.id, comment: 'system default user',
      });
      this.env.log(tx, 'system,info', 'data directory created with RouterOS defaults');
    });
    // A tmpfs does not keep its contents across a start.
    await emptyTmpfsDisks(this.env);
  }

  /**
   * A session acting as a user: with the policies the user's group grants now (its ceiling; the
   * executor narrows it further at every command), or all of them for the host's operator (the
   * local console, -e and the control socket act as admin).
   */
  async session(user: string, via: string, extra: Partial<Session> = {}): Promise<Session> {
    const policies = extra.operator ? ALL_POLICIES : await this.store.read((tx) => sessionPolicies(tx, user, extra.stamp));
    return {
      user, via, policies: policies ?? new Set<Policy>(), lastPrint: new Map(), width: 80, ...extra,
    };
  }

  /** `user admin logged in via local` / `logged out` in /log (topics system,info,account). */
  async logLogin(user: string, via: string, out = false, address?: string): Promise<void> {
    const from = address ? ` from ${address}` : '';
    await this.store.write((tx) => {
      this.env.log(tx, 'system,info,account', `user ${user} logged ${out ? 'out' : 'in'}${from} via ${via}`);
      const row = tx.findBy(USER_PATH, 'name', user)[0];
      if (row && !out) tx.update(USER_PATH, row.id, { ...row.data, 'last-logged-in': this.clock.now() });
    });
  }

  /** Identity for the prompt. */
  async identity(): Promise<string> {
    return this.store.read((tx) => routerIdentity(tx));
  }

  close(): void {
    if (this.closing) return;
    this.store.close();
    this.closing = Promise.all(this.closers.map((c) => c())).then(() => {});
  }

  /** Resolves once close() has finished (a PostgreSQL store closes its connections). */
  closed(): Promise<void> {
    return this.closing ?? Promise.resolve();
  }
}

/** A row that comes with the data directory: remembers its first values for /export. */
function insertBuiltin(tx: WriteTx, path: string, data: RowData): void {
  tx.insert(path, { ...data, [BUILTIN]: data });
}

export const ALL_POLICIES: ReadonlySet<Policy> = new Set(POLICIES);

function clockFromEnvironment(): Clock {
  const fake = process.env.ROSPKI_FAKE_TIME;
  if (fake) {
    const ms = Date.parse(fake);
    if (!Number.isNaN(ms)) return new FixedClock(ms);
  }
  return systemClock;
}
