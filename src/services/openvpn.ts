// OpenVPN servers (/interface ovpn-server server) and clients (/interface ovpn-client) on
// Debian's openvpn 2.6, one supervised daemon per enabled row (supervisor.ts): its configuration
// (openvpn-config.ts), the bound certificate and key, the CAs trusted for `ovpn` and their CRLs
// (daemon-trust.ts) in the row's private runtime folder. A changed setting or certificate
// restarts the daemon; a changed CRL is rewritten in place (OpenVPN reads --crl-verify again
// at every new connection, so a revoked client is refused at its next connection without
// dropping the others).
//
// Logins: every client of a server also logs in with a /ppp secret (RouterOS has no
// certificate-only login, services spec §2.6). openvpn hands each login to rospki over its
// management socket (openvpn-management.ts); rospki answers after pppLogin.
//
// State: `running` and `status` written into the rows (service-state.ts); /log topic `ovpn`
// gets logins, logouts, refused certificates and passwords, TLS failures and why a daemon
// stopped (openvpn-log.ts), nothing else of openvpn's chatter.

import { createHmac, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Environment } from '../menu/types.js';
import { propValue } from '../menu/generic.js';
import { isHostName } from '../menu/proptypes.js';
import { CRL_MENU_PATH } from '../menus/certificate/crl.js';
import { CERT_PATH } from '../menus/certificate/properties.js';
import { SETTINGS_PATH } from '../menus/certificate/settings.js';
import { OPENVPN, programName } from '../menus/host/programs.js';
import {
  CLIENT, OVPN_CLIENT_PATH, OVPN_SERVER_PATH, SERVER, clientEnabled, serverEnabled,
} from '../menus/interface/ovpn.js';
import { SERVICE_STATUS, type ReportedState } from '../menus/interface/service-state.js';
import { pppLogin, recordPppSession } from '../menus/ppp/secret.js';
import type { ReadTx, RowData, StoredRow } from '../store/store.js';
import type { ServiceContext } from './context.js';
import { daemonTrust, firstCertificatePem, type DaemonTrust } from './daemon-trust.js';
import type { ManagedService } from './managed.js';
import { OVPN_FILES, clientConfig, serverConfig, type ClientSettings } from './openvpn-config.js';
import { OvpnLogReader } from './openvpn-log.js';
import { ManagementClient, type ClientAuthRequest } from './openvpn-management.js';
import { Supervisor, runPlan, type DaemonPlan, type DaemonSpec, type DaemonState } from './supervisor.js';
import { DaemonService } from './daemon-service.js';
import { RowStates } from './row-states.js';
import { planTls } from './tls.js';

/** The trust-store component OpenVPN asks for (services spec §1.4). */
const COMPONENT = 'ovpn';
/** How long openvpn may take to open its management socket after it started. */
const MANAGEMENT_WAIT_MS = 15_000;
/** A unix socket path longer than this does not fit sockaddr_un. */
const MAX_SOCKET_PATH = 107;
/** The menus the plans are made of (rows, certificates and their blobs, CRLs, trust settings). */
const PLAN_INPUTS = [OVPN_SERVER_PATH, OVPN_CLIENT_PATH, CERT_PATH, CRL_MENU_PATH, SETTINGS_PATH];
/** Plans are made afresh at least this often (local CRLs renewed when due). */
const PLAN_REFRESH_MS = 60_000;
/** What a server of ours answers a wrong login (AUTH_FAILED,<this>), and a client's status then. */
const PASSWORD_REFUSED = 'authentication failed';

/** What one enabled row should run: a daemon spec, or why it cannot. */
interface Plan extends DaemonPlan {
  /** A client's login (given over the management socket, never written to a file). */
  readonly login?: { user: string; password: string };
}

type Kind = 'server' | 'client';

// ---------------------------------------------------------------------------------------------
// Plans: what the store says each row should run

function managementPath(runRoot: string, kind: Kind, id: number): string {
  return path.join(runRoot, daemonName(kind, id), OVPN_FILES.management);
}

const daemonName = (kind: Kind, id: number): string => `ovpn-${kind}-${id}`;

function daemonSpec(files: Record<string, string>, crlPem: string): DaemonSpec {
  return {
    program: programName(OPENVPN), package: OPENVPN.package,
    args: ['--config', OVPN_FILES.config],
    files,
    ...(crlPem ? { liveFiles: { [OVPN_FILES.crl]: crlPem } } : {}),
  };
}

/** The bound certificate as files (chain and key), or why there is none usable. */
function tlsFiles(env: Environment, tx: ReadTx, certId: number): { certPem: string; keyPem: string } | { reason: string } {
  if (!certId) return { reason: 'no certificate' };
  const tls = planTls(env, tx, COMPONENT, certId, undefined);
  if (tls.kind !== 'cert') return { reason: tls.kind === 'none' ? tls.reason : 'no certificate' };
  return { certPem: String(tls.options.cert), keyPem: String(tls.options.key) };
}

function serverPlan(env: Environment, tx: ReadTx, row: StoredRow, trust: DaemonTrust, host: string, runRoot: string): Plan {
  const d = row.data;
  const label = String(d.name);
  const socket = managementPath(runRoot, 'server', row.id);
  if (socket.length > MAX_SOCKET_PATH) return { label, reason: 'the data directory path is too long for a management socket' };
  const tls = tlsFiles(env, tx, propValue(SERVER.certificate, d));
  if ('reason' in tls) return { label, reason: tls.reason };
  const requireClientCertificate = propValue(SERVER.requireClientCertificate, d);
  if (requireClientCertificate && !trust.anchorsPem) return { label, reason: `no CA certificate is trusted for ${COMPONENT}` };
  const conf = serverConfig({
    port: propValue(SERVER.port, d),
    protocol: propValue(SERVER.protocol, d) === 'udp' ? 'udp' : 'tcp',
    mode: propValue(SERVER.mode, d) === 'ethernet' ? 'ethernet' : 'ip',
    host,
    requireClientCertificate,
    ciphers: propValue(SERVER.cipher, d),
    auths: propValue(SERVER.auth, d),
    tlsVersion: propValue(SERVER.tlsVersion, d),
    renegSec: propValue(SERVER.renegSec, d),
    keepaliveTimeout: propValue(SERVER.keepaliveTimeout, d),
    maxMtu: propValue(SERVER.maxMtu, d),
    crl: trust.crlPem !== '',
  }, socket);
  // OpenVPN insists on a CA file even when it asks no client for a certificate; then it judges
  // nothing with it, and the server's own certificate stands in.
  const ca = trust.anchorsPem || firstCertificatePem(tls.certPem);
  return {
    label,
    spec: daemonSpec({
      [OVPN_FILES.config]: conf, [OVPN_FILES.cert]: tls.certPem, [OVPN_FILES.key]: tls.keyPem, [OVPN_FILES.ca]: ca,
    }, trust.crlPem),
  };
}

/** tls-auth or tls-crypt of a client row, when it has its static key. */
function tlsKeySettings(d: RowData): Pick<ClientSettings, 'tlsKey'> {
  if (!propValue(CLIENT.tlsKey, d)) return {};
  if (propValue(CLIENT.tlsCrypt, d)) return { tlsKey: { use: 'tls-crypt' } };
  if (!propValue(CLIENT.tlsAuth, d)) return {};
  const direction = propValue(CLIENT.keyDirection, d) as 0 | 1 | undefined;
  return { tlsKey: { use: 'tls-auth', ...(direction !== undefined ? { direction } : {}) } };
}

/** Salt of the login fingerprints in client configurations (this process only). */
const LOGIN_SALT = randomBytes(32);

function clientPlan(env: Environment, tx: ReadTx, row: StoredRow, trust: DaemonTrust, runRoot: string): Plan {
  const d = row.data;
  const label = String(d.name);
  const socket = managementPath(runRoot, 'client', row.id);
  if (socket.length > MAX_SOCKET_PATH) return { label, reason: 'the data directory path is too long for a management socket' };
  const certId = propValue(CLIENT.certificate, d);
  const tls = certId ? tlsFiles(env, tx, certId) : undefined;
  if (tls && 'reason' in tls) return { label, reason: tls.reason };
  const verify = propValue(CLIENT.verifyServerCertificate, d);
  // OpenVPN always checks the server's chain: without verify-server-certificate it may end at
  // any CA of /certificate, with it only at one trusted for ovpn (and the name must match).
  const ca = verify ? trust.anchorsPem : trust.allCasPem;
  if (!ca) return { label, reason: verify ? `no CA certificate is trusted for ${COMPONENT}` : 'no CA certificate to check the server with' };
  const connectTo = propValue(CLIENT.connectTo, d);
  // A row from before connect-to was checked: never written into the configuration.
  if (!isHostName(connectTo)) return { label, reason: 'connect-to is not an IP address or a DNS name' };
  const conf = clientConfig({
    connectTo,
    port: propValue(CLIENT.port, d),
    protocol: propValue(CLIENT.protocol, d) === 'udp' ? 'udp' : 'tcp',
    mode: propValue(CLIENT.mode, d) === 'ethernet' ? 'ethernet' : 'ip',
    certificate: tls !== undefined,
    verifyName: verify,
    cipher: propValue(CLIENT.cipher, d),
    auth: propValue(CLIENT.auth, d),
    tlsVersion: propValue(CLIENT.tlsVersion, d),
    ...tlsKeySettings(d),
  }, socket);
  const login = { user: propValue(CLIENT.user, d), password: propValue(CLIENT.password, d) };
  // The login goes over the management socket, never into a file; its keyed fingerprint in the
  // configuration makes a new user or password restart the client, as any other setting does.
  const fingerprint = createHmac('sha256', LOGIN_SALT).update(`${login.user}\0${login.password}`).digest('hex');
  const files: Record<string, string> = { [OVPN_FILES.config]: `${conf}# login ${fingerprint}\n`, [OVPN_FILES.ca]: ca };
  if (tls) Object.assign(files, { [OVPN_FILES.cert]: tls.certPem, [OVPN_FILES.key]: tls.keyPem });
  // The static key of tls-auth or tls-crypt, beside key.pem (mode 0600, removed with the folder).
  const tlsKey = propValue(CLIENT.tlsKey, d);
  if (tlsKey) files[OVPN_FILES.tlsKey] = tlsKey;
  return { label, spec: daemonSpec(files, ''), login };
}

// ---------------------------------------------------------------------------------------------
// One daemon

class OvpnDaemon {
  private readonly supervisor: Supervisor;
  private readonly reader: OvpnLogReader;
  private management: ManagementClient | undefined;
  /** Changes with every start: an attach of an earlier run gives up. */
  private generation = 0;
  private plan: Plan | undefined;
  private missing: string | undefined;
  /** Server: logins by client id, until they disconnect. */
  private readonly sessions = new Map<string, { user: string; ip: string; established: boolean }>();
  /** Client: the last state openvpn reported, and refused logins in a row. */
  private clientState: { running: boolean; status: string } = { running: false, status: SERVICE_STATUS.starting };
  private refusals = 0;
  /** Client: why the server refused the last login (its AUTH_FAILED text), until connected. */
  private refusal: string | undefined;
  private passwordTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Why the last run ended, shown while the next one starts (until it is up). */
  private lastFailure: string | undefined;

  constructor(private readonly owner: OpenVpnService, readonly kind: Kind, readonly id: number, runRoot: string) {
    this.supervisor = new Supervisor(runRoot, daemonName(kind, id), owner.ctx.daemonClock, {
      output: (line) => this.output(line),
      changed: (state) => this.changed(state),
    });
    this.reader = new OvpnLogReader(daemonName(kind, id), this.supervisor.runDir);
  }

  get label(): string {
    return this.plan?.label ?? daemonName(this.kind, this.id);
  }

  async apply(plan: Plan): Promise<void> {
    const before = this.plan;
    this.plan = plan;
    this.reader.label = plan.label;
    this.missing = await runPlan(this.supervisor, plan, before, this.missing, (message) => this.owner.batch.log('ovpn,error', message));
  }


  state(): ReportedState {
    if (this.plan?.reason) return { running: false, status: SERVICE_STATUS.notRunning(this.plan.reason) };
    if (this.missing) return { running: false, status: SERVICE_STATUS.notRunning(this.missing) };
    const s = this.supervisor.state;
    switch (s.state) {
      case 'stopped':
        return { running: false, status: SERVICE_STATUS.notRunning('stopped') };
      case 'failed':
        return { running: false, status: SERVICE_STATUS.notRunning(this.lastFailure ?? `openvpn ${s.reason}`) };
      default:
        if (this.kind === 'client') return this.clientState;
        if (this.reader.initialized) return { running: true, status: SERVICE_STATUS.running };
        return { running: false, status: this.lastFailure ? SERVICE_STATUS.notRunning(this.lastFailure) : SERVICE_STATUS.starting };
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.passwordTimer);
    this.management?.close();
    this.management = undefined;
    await this.supervisor.apply(undefined);
  }

  private output(line: string): void {
    // What openvpn says while rospki stops it (a changed row restarts it) is no news: a client
    // waiting for its password ends with "could not read Auth username/password…".
    if (this.supervisor.stopping) return;
    const wasUp = this.reader.initialized;
    for (const entry of this.reader.read(line)) this.owner.batch.log(entry.topics, entry.message);
    if (this.reader.initialized !== wasUp) {
      this.lastFailure = undefined;
      this.owner.stateChanged();
    }
  }

  private changed(state: DaemonState): void {
    if (state.state === 'starting') {
      this.generation++;
      // A new run is a new configuration (or a crash): its first login is tried at once, not
      // after the back-off that the refusals of the old configuration built up.
      this.refusals = 0;
      this.refusal = undefined;
      this.reader.restart();
      this.sessions.clear();
      this.clientState = { running: false, status: SERVICE_STATUS.starting };
    } else if (state.state === 'running') {
      void this.attach(this.generation);
    } else {
      this.management?.close();
      this.management = undefined;
      if (state.state === 'failed') {
        this.lastFailure = this.reader.fatal ?? `openvpn ${state.reason}`;
        // A fatal line of openvpn's own was logged as it came; otherwise say how it ended.
        if (!this.reader.fatal) this.owner.batch.log('ovpn,error', `${this.label}: openvpn ${state.reason}`);
      } else {
        this.lastFailure = undefined;
      }
    }
    this.owner.stateChanged();
  }

  /** Connects to the management socket of the run `generation` and releases its hold. */
  private async attach(generation: number): Promise<void> {
    const socket = path.join(this.supervisor.runDir, OVPN_FILES.management);
    const current = () => this.stopped || generation !== this.generation;
    const client = await ManagementClient.connect(socket, {
      clientAuth: (request) => this.login(client!, request),
      established: (cid, env) => this.established(cid, env),
      disconnected: (cid) => this.disconnected(cid),
      passwordNeeded: () => this.passwordNeeded(client!),
      passwordRefused: (reason) => this.passwordRefused(reason),
      state: (name, detail) => this.clientStateChanged(name, detail),
    }, Date.now() + MANAGEMENT_WAIT_MS, current);
    if (current()) { client?.close(); return; }
    if (!client) {
      this.owner.batch.log('ovpn,error', `${this.label}: openvpn did not open its management socket`);
      return;
    }
    this.management = client;
    if (this.kind === 'client') client.send('state on');
  }

  // -- server: logins --------------------------------------------------------------------------

  private login(management: ManagementClient, request: ClientAuthRequest): void {
    const user = request.env.get('username') ?? '';
    const password = request.env.get('password') ?? '';
    const ip = request.env.get('untrusted_ip') ?? '';
    const peer = `${ip}:${request.env.get('untrusted_port') ?? ''}`;
    const { env } = this.owner.ctx.app;
    void (async () => {
      const verdict = await env.store.read((tx) => pppLogin(tx, user, password, 'ovpn'));
      if (verdict.ok) {
        if (request.kind === 'CONNECT') this.session(request.cid, { user, ip, established: false });
        management.allow(request);
        return;
      }
      // Refusals are answered late, as /user logins are (auth.ts): guessing passwords is slow.
      await new Promise((r) => setTimeout(r, this.owner.ctx.options.loginFailureDelayMs));
      management.deny(request, verdict.reason, PASSWORD_REFUSED);
      this.owner.batch.log('ovpn,error', `${this.label}: ${peer}: ${verdict.reason}`);
    })().catch((e) => this.owner.ctx.internalError(e));
  }

  private session(cid: string, s: { user: string; ip: string; established: boolean }): void {
    if (this.sessions.size >= 65_536) this.sessions.clear(); // bounded (ids are reused by nobody)
    this.sessions.set(cid, s);
  }

  private established(cid: string, env: ReadonlyMap<string, string>): void {
    const s = this.sessions.get(cid);
    if (!s) return;
    s.established = true;
    const ip = env.get('trusted_ip') ?? s.ip;
    this.owner.batch.log('ovpn,info', `${this.label}: ${s.user} logged in, ${ip}`);
    this.owner.batch.add((tx) => recordPppSession(tx, s.user, { callerId: ip }));
  }

  private disconnected(cid: string): void {
    const s = this.sessions.get(cid);
    this.sessions.delete(cid);
    if (!s?.established) return;
    const now = this.owner.ctx.app.env.clock.now();
    this.owner.batch.log('ovpn,info', `${this.label}: ${s.user} logged out`);
    this.owner.batch.add((tx) => recordPppSession(tx, s.user, { loggedOut: now, reason: 'disconnected' }));
  }

  // -- client: password and state ------------------------------------------------------------

  private passwordNeeded(management: ManagementClient): void {
    const login = this.plan?.login;
    if (!login) return;
    // After a refused login, ask the server again later and later (5 s … 60 s), not at once.
    const delay = this.refusals === 0 ? 0 : Math.min(60_000, 5000 * 2 ** (this.refusals - 1));
    clearTimeout(this.passwordTimer);
    this.passwordTimer = setTimeout(() => management.givePassword(login.user, login.password), delay);
    this.passwordTimer.unref();
  }

  private passwordRefused(reason: string): void {
    this.refusals++;
    // A server refuses more than passwords (no shared data cipher, …): its reason, when it gave
    // one other than the password's, says what to change.
    const why = reason === '' || reason === PASSWORD_REFUSED ? PASSWORD_REFUSED : reason;
    this.refusal = why;
    this.clientState = { running: false, status: SERVICE_STATUS.notRunning(why) };
    const detail = why === PASSWORD_REFUSED ? '' : `: ${why}`;
    this.owner.batch.log('ovpn,error', `${this.label}: the server refused user ${this.plan?.login?.user ?? ''}${detail}`);
    this.owner.stateChanged();
  }

  private clientStateChanged(name: string, detail: string): void {
    if (name === 'CONNECTED') {
      this.refusals = 0;
      this.refusal = undefined;
      if (!this.clientState.running) this.owner.batch.log('ovpn,info', `${this.label}: connected`);
      this.clientState = { running: true, status: 'connected' };
    } else if (name === 'RECONNECTING' || name === 'EXITING') {
      if (this.clientState.running) this.owner.batch.log('ovpn,info', `${this.label}: disconnected (${detail})`);
      const why = detail === 'auth-failure' ? this.refusal ?? PASSWORD_REFUSED : detail === 'tls-error' ? 'TLS handshake failed' : detail;
      this.clientState = { running: false, status: SERVICE_STATUS.notRunning(why || 'disconnected') };
    } else if (!this.clientState.status.startsWith('not running')) {
      this.clientState = { running: false, status: 'connecting' };
    }
    this.owner.stateChanged();
  }
}

// ---------------------------------------------------------------------------------------------
// The service

type Planned = { kind: Kind; id: number; plan: Plan };

export class OpenVpnService extends DaemonService<Plan, Planned, OvpnDaemon> {
  protected readonly states: RowStates;
  private readonly unsubscribeClock: (() => void) | undefined;

  constructor(ctx: ServiceContext) {
    super(ctx, 'ovpn', 'ovpn-', PLAN_REFRESH_MS);
    this.states = new RowStates(ctx.app.store, [OVPN_SERVER_PATH, OVPN_CLIENT_PATH],
      (p, row) => this.daemons.get(`${p === OVPN_SERVER_PATH ? 's' : 'c'}${row.id}`)?.state(), ctx.internalError);
    // The router clock moved: a local CRL may be due now (openvpn runs on the router clock,
    // daemon-clock.ts, and would find the old one expired or not yet valid).
    this.unsubscribeClock = ctx.app.clock.onChange?.(() => { this.replan = true; });
  }

  protected override stopping(): void {
    this.unsubscribeClock?.();
  }

  protected inputLists(tx: ReadTx): { lists: ReadonlyArray<readonly StoredRow[]>; busy: boolean } {
    const own = [tx.list(OVPN_SERVER_PATH), tx.list(OVPN_CLIENT_PATH)];
    // Nothing enabled, nothing to plan: certificates and CRLs are not inputs then.
    const busy = own[0]!.some((r) => serverEnabled(r.data)) || own[1]!.some((r) => clientEnabled(r.data));
    return busy ? { lists: PLAN_INPUTS.map((p) => tx.list(p)), busy } : { lists: own, busy };
  }

  protected make({ kind, id }: Planned): OvpnDaemon {
    return new OvpnDaemon(this, kind, id, this.runRoot);
  }

  /** A daemon's state changed: write the rows soon (one write for a burst). */
  stateChanged(): void {
    this.states.changed();
  }

  protected async plans(): Promise<Map<string, Planned>> {
    const { env } = this.ctx.app;
    const wanted = await env.store.read((tx) => ({
      servers: tx.list(OVPN_SERVER_PATH).filter((r) => serverEnabled(r.data)).length,
      clients: tx.list(OVPN_CLIENT_PATH).filter((r) => clientEnabled(r.data)).length,
    }));
    const out = new Map<string, Planned>();
    if (wanted.servers + wanted.clients === 0) return out;
    const trust = await daemonTrust(env, COMPONENT);
    await env.store.read((tx) => {
      for (const row of tx.list(OVPN_SERVER_PATH)) {
        if (serverEnabled(row.data)) out.set(`s${row.id}`, { kind: 'server', id: row.id, plan: serverPlan(env, tx, row, trust, this.ctx.options.host, this.runRoot) });
      }
      for (const row of tx.list(OVPN_CLIENT_PATH)) {
        if (clientEnabled(row.data)) out.set(`c${row.id}`, { kind: 'client', id: row.id, plan: clientPlan(env, tx, row, trust, this.runRoot) });
      }
    });
    return out;
  }
}

export const openVpnService = (ctx: ServiceContext): ManagedService => new OpenVpnService(ctx);
