// The network services the daemon runs (/ip service, spec §10.1): www, www-ssl (HTTP, REST),
// api, api-ssl (binary API), ssh (console, SCP, SFTP: ssh.ts), ftp (the /file store: ftp.ts) and
// telnet (the console: telnet.ts). They follow the store: a change to /ip service or to a bound
// certificate is applied to the running listeners without a restart and without dropping
// open connections (a new port opens a new listener and closes only the old listening socket;
// a new certificate replaces the TLS context, used by the next handshake).
//
// Every connection a listener accepts passes, in this order, the firewall's input chain
// (/ip firewall filter: firewall.ts; a drop closes it silently, a reject resets it), the
// service's `address` allow-list, and then reaches the service's handler.
//
// Changes made in this process (console, control socket, REST, API) are announced by the
// store's onChange hook with what they changed; only the reconciles that read it run again, at
// once (inputs.ts): a certificate no service uses costs the services nothing. Changes by other
// processes, the clock and what is not in the store (a daemon that died, a busy port) are
// found by a poll that reconciles everything.
//
// Open connections show in /ip service as dynamic connection rows (flags D and c, LOCAL and
// REMOTE: the 7.23.1 capture, services spec §8). They are kept in the store, so every front end
// and every process sees them: written in one transaction at most every CONNECTION_SYNC_MS,
// removed when the daemon starts (rows an earlier daemon left) and when it stops. Daemons sharing
// a PostgreSQL store (issue 17) each keep their own rows (tagged with Store.instances.self) and
// remove at start only those of daemons that are no longer connected.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type { Appliance } from '../appliance.js';
import {
  IMPLEMENTED_SERVICES, SERVICE_PATH, SERVICE_STATE_PATH, TLS_SERVICES, ensureServiceRows, isDynamicService, serviceState,
  serviceStateKey, type TlsVersion,
} from '../menus/ip/service.js';
import type { ReadTx, RowData, Store, StoredRow, WriteTx } from '../store/store.js';
import { serveApiConnection } from './api.js';
import { Authenticator, addressAllowed, plainAddress } from './auth.js';
import { bindReason, DEFAULT_SERVICE_OPTIONS, type ServiceContext, type ServiceOptions } from './context.js';
import { ConnectionGate } from './gate.js';
import { DaemonClock } from './daemon-clock.js';
import { InputFirewall } from './firewall.js';
import { FtpService } from './ftp.js';
import { checkContinue, httpHandler } from './http.js';
import { planTls, type TlsPlan } from './tls.js';
import { ensureHostKeys } from '../menus/ip/ssh.js';
import { Reconciler } from './inputs.js';
import { MANAGED_SERVICES, type ManagedService } from './managed.js';
import { SshService } from './ssh.js';
import { TelnetService } from './telnet.js';

export type { ServiceOptions } from './context.js';

export interface RunningServices {
  stop(): Promise<void>;
  /** Applies the store's current state now (tests; normally automatic). */
  reconcile(): Promise<void>;
  /** Port a service listens on now, or undefined. */
  port(name: string): number | undefined;
}

type ServiceName = 'www' | 'www-ssl' | 'api' | 'api-ssl' | 'ssh' | 'ftp' | 'telnet';
/** The services whose connections go through a ConnectionGate (ssh.ts keeps its own limits). */
type GatedService = Exclude<ServiceName, 'ssh'>;

interface Listener {
  name: ServiceName;
  port: number;
  server: net.Server;
  /** TLS context signature in use (TLS services). */
  tlsSignature?: string;
}

interface Wanted {
  name: ServiceName;
  id: number;
  port: number;
  disabled: boolean;
  address: string[];
  maxSessions: number;
  tls?: TlsPlan;
}

interface State {
  invalid: boolean;
  reason?: string;
}

/** An open connection as its /ip service row shows it. */
interface OpenConnection {
  name: ServiceName;
  /** The port it came in on. */
  port: number;
  /** Local address, without the port (`192.168.200.1`). */
  local: string;
  /** Remote address and port (`192.168.202.128:64748`, IPv6 as `[2001:db8::1]:51595`). */
  remote: string;
}

/** Connection rows follow open connections after at most this long (one write for a burst). */
const CONNECTION_SYNC_MS = 100;

function remoteText(socket: net.Socket): string {
  const address = plainAddress(socket.remoteAddress);
  return address.includes(':') ? `[${address}]:${socket.remotePort ?? 0}` : `${address}:${socket.remotePort ?? 0}`;
}

/** What tells connections apart: service, local address, remote address and port. */
const connectionKey = (c: { readonly name?: unknown; readonly local?: unknown; readonly remote?: unknown }): string =>
  `${String(c.name)} ${String(c.local)} ${String(c.remote)}`;

/**
 * A connection row. On a store several daemons share (PostgreSQL, issue 17) it carries the name of
 * the daemon whose connection it is: each daemon keeps its own rows and leaves the others' alone.
 */
function connectionRow(c: OpenConnection, instance: string | undefined): RowData {
  return { name: c.name, port: c.port, proto: 'tcp', local: c.local, remote: c.remote, dynamic: true, connection: true, ...(instance ? { instance } : {}) };
}

/** Whether a dynamic row is this daemon's (always, on a store with one daemon). */
const ownRow = (store: Store, row: RowData): boolean => !store.instances || row.instance === store.instances.self;

/**
 * TCP connections a listener accepts. ssh counts max-sessions itself, over logged-in connections
 * only, beside a small pool of connections still logging in (ssh.ts), so that idle TCP
 * connections cannot lock it out.
 */
class ServiceManager implements RunningServices {
  private readonly listeners = new Map<ServiceName, Listener>();
  private readonly sockets = new Set<net.Socket>();
  /** Open connections, mirrored into /ip service as connection rows (syncConnections). */
  private readonly connections = new Map<net.Socket, OpenConnection>();
  private connectionTimer: NodeJS.Timeout | undefined;
  private connectionSync: Promise<void> | undefined;
  private connectionSyncAgain = false;
  /** Per-service settings the connection handlers read live (allow-list, max-sessions). */
  private readonly live = new Map<ServiceName, Wanted>();
  /** Waiting connections and sessions per service; kept across listener changes. */
  private readonly gates = new Map<GatedService, ConnectionGate>();
  private readonly ctx: ServiceContext;
  private readonly ssh: SshService;
  private readonly ftp: FtpService;
  private readonly telnet: TelnetService;
  /** The services of managed.ts (OpenVPN, IPsec, DNS, NTP …), each with its reconcile's inputs. */
  private readonly managed: Array<{ service: ManagedService; inputs: Reconciler }>;
  /** The listeners' reconcile (apply) and what it read. */
  private readonly inputs: Reconciler;
  private readonly unsubscribe: (() => void) | undefined;
  private readonly unsubscribeClock: () => void;
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly app: Appliance, private readonly options: ServiceOptions) {
    const internalError = (e: unknown) => process.stderr.write(`rospki: service error: ${(e as Error)?.stack ?? String(e)}\n`);
    this.ctx = {
      app, options, internalError,
      auth: new Authenticator(app, {
        failureDelayMs: options.loginFailureDelayMs, lockoutAfter: options.loginLockoutAfter, lockoutMs: options.loginLockoutMs,
      }),
      firewall: new InputFirewall(app.env, { flushMs: CONNECTION_SYNC_MS, internalError }),
      daemonClock: new DaemonClock(path.join(app.dataDir.root, 'run'), app.clock, (message) => {
        app.store.write((tx) => app.env.log(tx, 'system,warning', message)).catch(internalError);
      }),
    };
    this.ssh = new SshService(this.ctx);
    this.ftp = new FtpService(this.ctx);
    this.telnet = new TelnetService(this.ctx);
    this.inputs = new Reconciler(app.store, () => this.apply(), internalError);
    this.managed = MANAGED_SERVICES.map((make) => {
      let service: ManagedService | undefined;
      const inputs = new Reconciler(app.store, () => service!.reconcile(), internalError);
      service = make(inputs.context(this.ctx));
      return { service, inputs };
    });
    this.unsubscribe = app.store.onChange?.((change) => {
      if (this.stopped) return;
      for (const r of this.reconcilers()) void r.changed(change);
    });
    // Expiry, CRL next-update and what is due move with the clock: everything is looked at again.
    this.unsubscribeClock = app.clock.onChange(() => { void this.reconcile(); });
    this.timer = setInterval(() => { void this.reconcile(); }, options.pollMs);
    this.timer.unref();
  }

  private reconcilers(): Reconciler[] {
    return [this.inputs, ...this.managed.map((m) => m.inputs)];
  }

  private gate(name: GatedService): ConnectionGate {
    let gate = this.gates.get(name);
    if (!gate) {
      gate = new ConnectionGate({
        preAuthPool: this.options.preAuthPool,
        loginTimeoutMs: this.options.loginTimeoutMs,
        maxSessions: () => this.live.get(name)?.maxSessions ?? 20,
      });
      this.gates.set(name, gate);
    }
    return gate;
  }

  port(name: string): number | undefined {
    return this.listeners.get(name as ServiceName)?.port;
  }

  /**
   * Runs every reconcile (each one at a time; a request during one runs it again right after)
   * and resolves when all have run. Each runs independently: a slow one (a daemon starting) does
   * not hold back the others, so a swapped certificate is served at the next handshake.
   */
  reconcile(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return Promise.all(this.reconcilers().map((r) => r.request())).then(() => {});
  }

  private async wanted(): Promise<Wanted[]> {
    return this.inputs.reads.read((tx) => tx.list(SERVICE_PATH)
      .filter((r) => !isDynamicService(r.data) && IMPLEMENTED_SERVICES.has(String(r.data.name)))
      .map((r) => {
        const d = r.data;
        const name = String(d.name) as ServiceName;
        const w: Wanted = {
          name, id: r.id, port: Number(d.port), disabled: d.disabled === true,
          address: (d.address as string[] | undefined) ?? [], maxSessions: Number(d['max-sessions'] ?? 20),
        };
        if (TLS_SERVICES.has(name) && !w.disabled) {
          w.tls = planTls(this.app.env, tx, name, Number(d.certificate ?? 0), d['tls-version'] as TlsVersion | undefined);
        }
        return w;
      }));
  }

  private async apply(): Promise<void> {
    const states = new Map<number, State>();
    for (const w of await this.wanted()) {
      if (this.stopped) return;
      this.live.set(w.name, w);
      states.set(w.id, await this.applyOne(w));
    }
    await this.writeStates(states);
  }

  private async applyOne(w: Wanted): Promise<State> {
    const current = this.listeners.get(w.name);
    if (w.disabled || w.tls?.kind === 'none') {
      if (current) this.closeListener(current);
      return w.disabled ? { invalid: false } : { invalid: true, reason: w.tls?.kind === 'none' ? w.tls.reason : undefined };
    }
    const plan = w.tls?.kind === 'cert' || w.tls?.kind === 'anon' ? w.tls : undefined;
    if (current && current.port === w.port) {
      if (plan && current.tlsSignature !== plan.signature) {
        (current.server as tls.Server).setSecureContext(plan.options);
        current.tlsSignature = plan.signature;
      }
      return { invalid: false };
    }
    try {
      // Host keys are made on the first start of ssh (then kept, sealed, in the store).
      if (w.name === 'ssh') await ensureHostKeys(this.app.env);
      const listener = await this.listen(w, plan);
      if (current) this.closeListener(current);
      this.listeners.set(w.name, listener);
      return { invalid: false };
    } catch (e) {
      if (current) this.closeListener(current);
      return { invalid: true, reason: bindReason(w.port, e as NodeJS.ErrnoException) };
    }
  }

  private listen(w: Wanted, plan: TlsPlan & { kind: 'cert' | 'anon' } | undefined): Promise<Listener> {
    const { ctx } = this;
    const opts = this.options;
    let server: net.Server;
    // Headers, like the login, must come within loginTimeoutMs; Node checks that periodically.
    const httpOptions = { maxHeaderSize: 16 * 1024, connectionsCheckingInterval: Math.min(30_000, Math.max(250, opts.loginTimeoutMs / 4)) };
    const tlsOptions = { handshakeTimeout: opts.loginTimeoutMs };
    /** The service's own handler of a TCP connection, run once the connection passed the checks. */
    let handle: ((socket: net.Socket) => void) | undefined;
    switch (w.name) {
      case 'www': server = http.createServer(httpOptions); break;
      case 'www-ssl': server = https.createServer({ ...plan!.options, ...tlsOptions, ...httpOptions }); break;
      case 'api': server = net.createServer(); handle = (s) => serveApiConnection(s, ctx, 'api', this.gate('api')); break;
      case 'api-ssl': server = tls.createServer({ ...plan!.options, ...tlsOptions }, (s) => serveApiConnection(s, ctx, 'api-ssl', this.gate('api-ssl'))); break;
      case 'ssh': server = net.createServer(); handle = (s) => this.ssh.handle(s); break;
      case 'ftp': server = net.createServer(); handle = (s) => this.ftp.handle(s, this.gate('ftp')); break;
      case 'telnet': server = net.createServer(); handle = (s) => this.telnet.handle(s, this.gate('telnet')); break;
    }
    if (w.name === 'www' || w.name === 'www-ssl') {
      // https.Server is a tls.Server with the http.Server settings (not an http.Server).
      const web = server as http.Server;
      const handler = httpHandler(ctx, w.name, this.gate(w.name));
      web.on('request', handler);
      web.on('checkContinue', checkContinue(ctx, handler));
      web.headersTimeout = Math.min(opts.loginTimeoutMs, 60_000);
      web.requestTimeout = opts.restTimeoutMs + 5_000;
      web.keepAliveTimeout = 5_000;
      web.timeout = opts.idleTimeoutMs;
    }
    // ssh counts its sessions itself (ssh.ts); the others count them in their gate (gate.ts):
    // connections that never log in are not sessions.
    const gate = w.name === 'ssh' ? undefined : this.gate(w.name);
    server.on('connection', (socket: net.Socket) => {
      // The input chain first, as on a router: the packet meets the firewall before the service.
      // (www, www-ssl and api-ssl wrap the socket in their own listener, which ran before this
      // one; nothing was sent yet.)
      if (!ctx.firewall.admitConnection(socket)) return;
      // The service's allow-list (/ip service address), read live so changes apply at once.
      if (!addressAllowed(this.live.get(w.name)?.address, socket.remoteAddress ?? '')) { socket.destroy(); return; }
      this.sockets.add(socket);
      this.connections.set(socket, {
        name: w.name, port: socket.localPort ?? w.port, local: plainAddress(socket.localAddress), remote: remoteText(socket),
      });
      this.scheduleConnectionSync();
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.connections.delete(socket);
        this.scheduleConnectionSync();
      });
      gate?.admit(socket);
      handle?.(socket);
    });
    if (server instanceof tls.Server) server.on('tlsClientError', () => {});
    server.on('clientError', (_e: Error, socket: net.Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      server.once('error', onError);
      server.listen({ port: w.port, host: opts.host, ipv6Only: false }, () => {
        server.off('error', onError);
        server.on('error', (e) => ctx.internalError(e));
        const port = (server.address() as net.AddressInfo).port;
        resolve({ name: w.name, port, server, tlsSignature: plan?.signature });
      });
    });
  }

  /** Stops listening; open connections continue until they end. */
  private closeListener(l: Listener): void {
    if (this.listeners.get(l.name) === l) this.listeners.delete(l.name);
    l.server.close();
  }

  private scheduleConnectionSync(): void {
    if (this.stopped || this.connectionTimer) return;
    this.connectionTimer = setTimeout(() => {
      this.connectionTimer = undefined;
      void this.syncConnections();
    }, CONNECTION_SYNC_MS);
    this.connectionTimer.unref();
  }

  /** Brings the connection rows in line with the open connections (one sync at a time). */
  private syncConnections(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.connectionSync) { this.connectionSyncAgain = true; return this.connectionSync; }
    this.connectionSync = (async () => {
      try {
        do {
          this.connectionSyncAgain = false;
          await this.writeConnections();
        } while (this.connectionSyncAgain && !this.stopped);
      } catch (e) {
        this.ctx.internalError(e);
      } finally {
        this.connectionSync = undefined;
      }
    })();
    return this.connectionSync;
  }

  private async writeConnections(): Promise<void> {
    const open = new Map([...this.connections.values()].map((c) => [connectionKey(c), c] as const));
    const { store } = this.app;
    const connectionRows = (rows: readonly StoredRow[]) => rows.filter((r) => r.data.connection === true && ownRow(store, r.data));
    const stale = await this.app.store.read((tx) => {
      const rows = connectionRows(tx.list(SERVICE_PATH));
      return rows.length !== open.size || rows.some((r) => !open.has(connectionKey(r.data)));
    });
    if (!stale) return;
    await this.app.store.write((tx) => {
      const shown = new Set<string>();
      for (const r of connectionRows(tx.list(SERVICE_PATH))) {
        const key = connectionKey(r.data);
        if (open.has(key)) shown.add(key); else tx.remove(SERVICE_PATH, r.id);
      }
      for (const [key, c] of open) if (!shown.has(key)) tx.insert(SERVICE_PATH, connectionRow(c, store.instances?.self));
    });
  }

  /** Writes `invalid` and the reason (shown as the comment) when they changed; logs new reasons. */
  private async writeStates(states: Map<number, State>): Promise<void> {
    const store = this.inputs.reads;
    // A shared store: this instance's own state rows (service.ts SERVICE_STATE_PATH), never the
    // shared rows the other instances show too.
    const self = this.app.store.instances?.self;
    const changed = await store.read((tx) => [...states].filter(([id, s]) => {
      const row = tx.get(SERVICE_PATH, id);
      if (!row) return false;
      const shown = serviceState(tx, self, row.data);
      return shown.invalid !== s.invalid || shown.reason !== s.reason;
    }));
    if (changed.length === 0) return;
    await store.write((tx) => {
      for (const [id, s] of changed) {
        const row = tx.get(SERVICE_PATH, id);
        if (!row) continue;
        const before = serviceState(tx, self, row.data).reason;
        if (self === undefined) {
          const data: RowData = { ...row.data };
          if (s.invalid) data.invalid = true; else delete data.invalid;
          if (s.reason !== undefined) data.comment = s.reason; else delete data.comment;
          tx.update(SERVICE_PATH, id, data);
        } else {
          const key = serviceStateKey(self, String(row.data.name));
          const own = tx.findBy(SERVICE_STATE_PATH, 'key', key)[0];
          const data: RowData = { key, instance: self };
          if (s.invalid) data.invalid = true;
          if (s.reason !== undefined) data.reason = s.reason;
          if (own) tx.update(SERVICE_STATE_PATH, own.id, data); else tx.insert(SERVICE_STATE_PATH, data);
        }
        if (s.reason !== undefined && s.reason !== before) this.app.env.log(tx, 'system,error', `${String(row.data.name)}: ${s.reason}`);
      }
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribeClock();
    clearInterval(this.timer);
    clearTimeout(this.connectionTimer);
    await Promise.all(this.reconcilers().map((r) => r.stop()));
    await this.connectionSync;
    for (const { service } of [...this.managed].reverse()) await service.stop().catch((e) => this.ctx.internalError(e));
    this.ctx.daemonClock.stop();
    const closing = [...this.listeners.values()].map((l) => new Promise<void>((resolve) => l.server.close(() => resolve())));
    this.listeners.clear();
    for (const s of this.sockets) s.destroy();
    this.ftp.stop();
    await Promise.all(closing);
    await this.ctx.firewall.stop();
    // Nothing listens any more: a console without the daemon should not show stale reasons
    // nor connections.
    const { store } = this.app;
    await store.write((tx) => {
      removeInstanceRows(tx, (row) => ownRow(store, row));
      // The other daemons of a shared store still run: their reasons stay.
      if (store.instances) return;
      for (const row of tx.list(SERVICE_PATH)) {
        if (row.data.invalid === undefined && row.data.comment === undefined) continue;
        const data: RowData = { ...row.data };
        delete data.invalid;
        delete data.comment;
        tx.update(SERVICE_PATH, row.id, data);
      }
    }).catch(() => {});
  }
}

/**
 * The rows of /ip service an instance owns that `which` picks: dynamic ones (connections) and
 * state rows (shared store: one per instance and service), as [menu, id].
 */
function instanceRows(tx: ReadTx, which: (row: RowData) => boolean): Array<readonly [string, number]> {
  return [
    ...tx.list(SERVICE_PATH).filter((r) => isDynamicService(r.data) && which(r.data)).map((r) => [SERVICE_PATH, r.id] as const),
    ...tx.list(SERVICE_STATE_PATH).filter((r) => which(r.data)).map((r) => [SERVICE_STATE_PATH, r.id] as const),
  ];
}

/** Removes the rows instanceRows picks. */
function removeInstanceRows(tx: WriteTx, which: (row: RowData) => boolean): void {
  for (const [menu, id] of instanceRows(tx, which)) tx.remove(menu, id);
}

/** Rows (dynamic ones, state rows) nobody serves: all of them on a store with one daemon, else those of daemons that are gone. */
async function orphanedRows(store: Store): Promise<(row: RowData) => boolean> {
  if (!store.instances) return () => true;
  const live = await store.instances.live();
  return (row) => typeof row.instance !== 'string' || !live.has(row.instance);
}

/**
 * Data directories whose services run in this process. Two sets of services on one data
 * directory fight over its listeners and /ip service status rows: each writes its own `invalid`
 * and reason, each write starts its own reconcile again, and they livelock (found as a test that
 * spun for 20+ minutes). Another process is kept out by the daemon's control socket (control.ts).
 */
const servicesRunning = new Set<string>();

/** Starts every enabled service of the appliance and keeps them in line with the store. */
export async function startServices(app: Appliance, options: Partial<ServiceOptions> = {}): Promise<RunningServices> {
  const root = app.dataDir.root;
  if (servicesRunning.has(root)) throw new Error(`services already run on this data directory (${root})`);
  servicesRunning.add(root);
  try {
    const manager = await startManager(app, options);
    let stopping: Promise<void> | undefined;
    return {
      reconcile: () => manager.reconcile(),
      port: (name) => manager.port(name),
      // The data directory is free once this set has stopped (a second stop() waits for the first).
      stop: () => (stopping ??= manager.stop().finally(() => { servicesRunning.delete(root); })),
    };
  } catch (e) {
    servicesRunning.delete(root);
    throw e;
  }
}

async function startManager(app: Appliance, options: Partial<ServiceOptions>): Promise<ServiceManager> {
  await ensureServiceRows(app.env);
  // Connections an earlier daemon left behind (it was killed) are gone.
  const orphaned = await orphanedRows(app.store);
  if (await app.store.read((tx) => instanceRows(tx, orphaned).length > 0)) {
    await app.store.write((tx) => removeInstanceRows(tx, orphaned));
  }
  const manager = new ServiceManager(app, { ...DEFAULT_SERVICE_OPTIONS, ...options });
  await manager.reconcile();
  return manager;
}
