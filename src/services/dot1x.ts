// 802.1X supplicants (/interface dot1x client, services spec §5.1) on Debian's wpa_supplicant
// (`-D wired`, the driver for Ethernet ports), one supervised daemon per enabled row
// (supervisor.ts): its configuration (dot1xConfig below), the client certificate with its
// intermediates and key, and the CAs trusted for `dot1x` (daemon-trust.ts) in the row's private
// runtime folder. A changed row, certificate or trust restarts the daemon.
//
// State: wpa_supplicant prints its control events on stdout (`CTRL-EVENT-EAP-STARTED`,
// `…-EAP-SUCCESS`, `…-EAP-FAILURE`, `…-EAP-TLS-CERT-ERROR`); they become the row's `status`
// (RouterOS's words: authenticating, authenticated, rejected) and /log lines (topic `dot1x`).
// Why a row cannot run (no certificate, no trusted CA, no such interface, wpa_supplicant
// missing) is `not running: <why>`, as the other services say it.

import fs from 'node:fs';
import path from 'node:path';
import type { Environment } from '../menu/types.js';
import { propValue } from '../menu/generic.js';
import { CRL_MENU_PATH } from '../menus/certificate/crl.js';
import { CERT_PATH } from '../menus/certificate/properties.js';
import { SETTINGS_PATH } from '../menus/certificate/settings.js';
import { tlsMaterial } from '../menus/certificate/tls-material.js';
import { WPA_SUPPLICANT, programName } from '../menus/host/programs.js';
import { DOT1X_CLIENT, DOT1X_CLIENT_PATH, DOT1X_STATUS, dot1xClientEnabled } from '../menus/interface/dot1x.js';
import { SERVICE_STATUS, type ReportedState } from '../menus/interface/service-state.js';
import type { ReadTx, StoredRow } from '../store/store.js';
import { StoreBatch } from './batch.js';
import type { ServiceContext } from './context.js';
import { daemonTrust, type DaemonTrust } from './daemon-trust.js';
import type { ManagedService } from './managed.js';
import { RowStates } from './row-states.js';
import { DaemonMissing, Supervisor, reapLeftovers, type DaemonSpec, type DaemonState } from './supervisor.js';

/** The trust-store component 802.1X asks for (services spec §1.4). */
const COMPONENT = 'dot1x';
/** The menus the plans are made of. */
const PLAN_INPUTS = [DOT1X_CLIENT_PATH, CERT_PATH, CRL_MENU_PATH, SETTINGS_PATH];
/** Plans are made afresh at least this often (an interface that appeared, trust that changed). */
const PLAN_REFRESH_MS = 10_000;
const SYS_NET = '/sys/class/net';

export const DOT1X_FILES = { config: 'wpa_supplicant.conf', ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem' } as const;

/** wpa_supplicant's EAP method names of RouterOS's (spec §5.1). */
const EAP_NAMES: Record<string, string> = { 'eap-tls': 'TLS', 'eap-ttls': 'TTLS', 'eap-peap': 'PEAP', 'eap-mschapv2': 'MSCHAPV2' };
/** Methods that run inside TLS and so judge the authentication server's certificate. */
const TLS_METHODS = ['eap-tls', 'eap-ttls', 'eap-peap'];
/** Methods that authenticate with identity and password. */
const PASSWORD_METHODS = ['eap-ttls', 'eap-peap', 'eap-mschapv2'];

export interface Dot1xSettings {
  /** RouterOS method names, in the order given. */
  readonly methods: readonly string[];
  readonly identity: string;
  readonly anonIdentity: string;
  readonly password: string;
  /** Absolute paths of the files in the runtime folder; ca absent for eap-mschapv2 alone. */
  readonly ca?: string;
  readonly cert?: { cert: string; key: string };
}

/**
 * A string as wpa_supplicant's configuration takes it without quoting: hex (wpa_config_parse_string
 * reads an unquoted even-length hex string as the bytes). A `"` or a line break in an identity or
 * password cannot end the value and add directives of whoever set it.
 */
const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

/** The wpa_supplicant configuration of one client (ap_scan=0: wired, no scanning). */
export function dot1xConfig(s: Dot1xSettings): string {
  const password = s.methods.some((m) => PASSWORD_METHODS.includes(m));
  const lines = [
    '# Written by rospki for /interface dot1x client; removed when the client stops.',
    'ap_scan=0',
    'network={',
    '\tkey_mgmt=IEEE8021X',
    `\teap=${s.methods.map((m) => EAP_NAMES[m]).join(' ')}`,
    // wpa_supplicant takes hex for an empty string too (zero bytes), but not an empty value.
    ...(s.identity ? [`\tidentity=${hex(s.identity)}`] : []),
    ...(s.anonIdentity ? [`\tanonymous_identity=${hex(s.anonIdentity)}`] : []),
    ...(password && s.password ? [`\tpassword=${hex(s.password)}`] : []),
    ...(s.ca ? [`\tca_cert="${s.ca}"`] : []),
    ...(s.cert ? [`\tclient_cert="${s.cert.cert}"`, `\tprivate_key="${s.cert.key}"`] : []),
    // Inside PEAP and TTLS: MS-CHAPv2 (PEAPv0's EAP-MSCHAPv2, TTLS's MS-CHAP-V2), what RouterOS's
    // eap-mschapv2 names and what Windows and FreeRADIUS set up by default.
    ...(s.methods.some((m) => m === 'eap-peap' || m === 'eap-ttls') ? ['\tphase2="auth=MSCHAPV2"'] : []),
    // No dynamic WEP keys on a wired port (IEEE 802.1X-2004 §8.1.8: EAPOL-Key is for wireless).
    '\teapol_flags=0',
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/** What one enabled row should run: a daemon spec, or why it cannot. */
interface Plan {
  readonly label: string;
  readonly spec?: DaemonSpec;
  readonly reason?: string;
}

const daemonName = (id: number): string => `dot1x-client-${id}`;

/** An interface name the kernel could have (IFNAMSIZ 16 with the NUL; no `/`, no blank). */
const isInterfaceName = (name: string): boolean => /^[^\s/:]{1,15}$/.test(name) && name !== '.' && name !== '..';

function clientPlan(env: Environment, tx: ReadTx, row: StoredRow, trust: DaemonTrust, runRoot: string): Plan {
  const d = row.data;
  const iface = propValue(DOT1X_CLIENT.interface, d);
  const label = iface;
  if (!isInterfaceName(iface) || !fs.existsSync(path.join(SYS_NET, iface))) return { label, reason: `interface ${iface} does not exist on this host` };
  const methods = propValue(DOT1X_CLIENT.eapMethods, d);
  if (methods.length === 0) return { label, reason: 'no eap-methods' };
  const run = path.join(runRoot, daemonName(row.id));
  const files: Record<string, string> = {};
  let cert: Dot1xSettings['cert'];
  let identity = propValue(DOT1X_CLIENT.identity, d);
  if (methods.includes('eap-tls')) {
    const certId = propValue(DOT1X_CLIENT.certificate, d);
    const material = tlsMaterial(env, tx, certId);
    if (material.kind === 'none') return { label, reason: material.reason };
    files[DOT1X_FILES.cert] = material.cert;
    files[DOT1X_FILES.key] = material.key;
    cert = { cert: path.join(run, DOT1X_FILES.cert), key: path.join(run, DOT1X_FILES.key) };
    // EAP-TLS proves who the client is by its certificate; its identity is only a name for the
    // server to find the user by: the certificate's common name when none is given.
    if (!identity) identity = String(tx.get(CERT_PATH, certId)?.data['common-name'] ?? '');
  }
  const password = propValue(DOT1X_CLIENT.password, d);
  if (!password && methods.every((m) => PASSWORD_METHODS.includes(m))) return { label, reason: 'no password' };
  let ca: string | undefined;
  if (methods.some((m) => TLS_METHODS.includes(m))) {
    // Spec §5.1: the TLS methods need a CA to judge the authentication server by; without one
    // wpa_supplicant would accept any server (and hand it the password).
    if (!trust.anchorsPem) return { label, reason: `no CA certificate is trusted for ${COMPONENT}` };
    files[DOT1X_FILES.ca] = trust.anchorsPem;
    ca = path.join(run, DOT1X_FILES.ca);
  }
  files[DOT1X_FILES.config] = dot1xConfig({ methods, identity, anonIdentity: propValue(DOT1X_CLIENT.anonIdentity, d), password, ca, cert });
  return {
    label,
    spec: {
      program: programName(WPA_SUPPLICANT), package: WPA_SUPPLICANT.package,
      args: ['-D', 'wired', '-i', iface, '-c', DOT1X_FILES.config],
      files,
    },
  };
}

/** One event of wpa_supplicant's output (`rpkB: CTRL-EVENT-EAP-SUCCESS EAP authentication completed successfully`). */
export function readEvent(line: string): { event: string; detail: string } | undefined {
  const m = /(?:^|: )(CTRL-EVENT-[A-Z0-9-]+)\s*(.*)$/.exec(line);
  return m ? { event: m[1]!, detail: m[2]!.trim() } : undefined;
}

/** `err='certificate has expired'` of a CTRL-EVENT-EAP-TLS-CERT-ERROR line. */
const certError = (detail: string): string => /err='([^']*)'/.exec(detail)?.[1] ?? detail;
const certSubject = (detail: string): string => /subject='([^']*)'/.exec(detail)?.[1] ?? '';

// ---------------------------------------------------------------------------------------------
// One daemon

class Dot1xDaemon {
  private readonly supervisor: Supervisor;
  private plan: Plan | undefined;
  private missing: string | undefined;
  /** The last EAP state wpa_supplicant reported (RouterOS's words). */
  private eap: string = DOT1X_STATUS.authenticating;
  /** The last lines it wrote, for why it stopped. */
  private lastLine = '';

  constructor(private readonly owner: Dot1xService, readonly id: number, runRoot: string) {
    this.supervisor = new Supervisor(runRoot, daemonName(id), owner.ctx.daemonClock, {
      output: (line) => this.output(line),
      changed: (state) => this.changed(state),
    });
  }

  get label(): string {
    return this.plan?.label ?? daemonName(this.id);
  }

  async apply(plan: Plan): Promise<void> {
    const before = this.plan;
    this.plan = plan;
    if (!plan.spec) {
      this.missing = undefined;
      await this.supervisor.apply(undefined);
      if (before?.reason !== plan.reason) this.owner.batch.log('dot1x,error', `${plan.label}: not running: ${plan.reason}`);
      return;
    }
    try {
      await this.supervisor.apply(plan.spec);
      this.missing = undefined;
    } catch (e) {
      if (!(e instanceof DaemonMissing)) throw e;
      if (this.missing !== e.message) this.owner.batch.log('dot1x,error', `${plan.label}: ${e.message}`);
      this.missing = e.message;
    }
  }

  state(): ReportedState {
    if (this.plan?.reason) return { running: false, status: SERVICE_STATUS.notRunning(this.plan.reason) };
    if (this.missing) return { running: false, status: SERVICE_STATUS.notRunning(this.missing) };
    const s = this.supervisor.state;
    if (s.state === 'stopped') return { running: false, status: SERVICE_STATUS.notRunning('stopped') };
    if (s.state === 'failed') return { running: false, status: SERVICE_STATUS.notRunning(this.lastLine || `wpa_supplicant ${s.reason}`) };
    return { running: this.eap === DOT1X_STATUS.authenticated, status: this.eap };
  }

  stop(): Promise<void> {
    return this.supervisor.apply(undefined);
  }

  private output(line: string): void {
    if (this.supervisor.stopping) return;
    const e = readEvent(line);
    if (!e) {
      // Not an event: a start-up failure (`Could not read interface x flags: No such device`).
      if (line.trim() !== '' && !/^Successfully initialized/.test(line)) this.lastLine = line.trim().slice(0, 200);
      return;
    }
    const was = this.eap;
    switch (e.event) {
      case 'CTRL-EVENT-EAP-STARTED':
        this.eap = DOT1X_STATUS.authenticating;
        break;
      case 'CTRL-EVENT-EAP-SUCCESS':
        this.eap = DOT1X_STATUS.authenticated;
        break;
      case 'CTRL-EVENT-EAP-FAILURE':
        this.eap = DOT1X_STATUS.rejected;
        break;
      case 'CTRL-EVENT-EAP-TLS-CERT-ERROR':
        // The authentication server's certificate is not one of a CA trusted for dot1x.
        this.owner.batch.log('dot1x,error', `${this.label}: server certificate refused: ${certError(e.detail)}: ${certSubject(e.detail)}`);
        break;
      default:
        return;
    }
    if (this.eap !== was || e.event === 'CTRL-EVENT-EAP-FAILURE') {
      if (this.eap === DOT1X_STATUS.authenticated) this.owner.batch.log('dot1x,info', `${this.label}: authenticated`);
      if (e.event === 'CTRL-EVENT-EAP-FAILURE') this.owner.batch.log('dot1x,error', `${this.label}: authentication rejected`);
      this.owner.states.changed();
    }
  }

  private changed(state: DaemonState): void {
    if (state.state === 'starting') {
      this.eap = DOT1X_STATUS.authenticating;
      this.lastLine = '';
    } else if (state.state === 'failed') {
      this.owner.batch.log('dot1x,error', `${this.label}: wpa_supplicant ${state.reason}${this.lastLine ? `: ${this.lastLine}` : ''}`);
    }
    this.owner.states.changed();
  }
}

// ---------------------------------------------------------------------------------------------
// The service

export class Dot1xService implements ManagedService {
  readonly batch: StoreBatch;
  readonly states: RowStates;
  private readonly runRoot: string;
  private readonly daemons = new Map<number, Dot1xDaemon>();
  private stopped = false;
  private reaped = false;
  private inputs: ReadonlyArray<readonly StoredRow[]> | undefined;
  private planned = 0;

  constructor(readonly ctx: ServiceContext) {
    this.runRoot = path.join(ctx.app.dataDir.root, 'run');
    this.batch = new StoreBatch(ctx.app, 'dot1x', ctx.internalError);
    this.states = new RowStates(ctx.app.store, [DOT1X_CLIENT_PATH], (_p, row) => this.daemons.get(row.id)?.state(), ctx.internalError);
  }

  async reconcile(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.reaped) {
        // A killed rospki's supplicants would still hold their interfaces.
        this.reaped = true;
        await reapLeftovers(this.runRoot, 'dot1x-');
      }
      if (await this.unchanged()) return;
      const plans = await this.plans();
      for (const [id, daemon] of this.daemons) {
        if (plans.has(id)) continue;
        this.daemons.delete(id);
        await daemon.stop();
      }
      for (const [id, plan] of plans) {
        if (this.stopped) return;
        let daemon = this.daemons.get(id);
        if (!daemon) {
          daemon = new Dot1xDaemon(this, id, this.runRoot);
          this.daemons.set(id, daemon);
        }
        await daemon.apply(plan);
      }
      await this.states.write();
    } catch (e) {
      this.inputs = undefined; // try again at the next change or poll
      this.ctx.internalError(e);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.daemons.values()].map((d) => d.stop().catch((e) => this.ctx.internalError(e))));
    this.daemons.clear();
    await this.states.stop(); // nothing runs: the rows say so
    await this.batch.flush();
  }

  /**
   * Whether nothing the plans are made of changed since the last ones (the store hands out the
   * same list until a row of it changes); with no enabled client, certificates are not inputs.
   */
  private async unchanged(): Promise<boolean> {
    const inputs = await this.ctx.app.store.read((tx) => {
      const own = tx.list(DOT1X_CLIENT_PATH);
      return own.some((r) => dot1xClientEnabled(r.data)) ? PLAN_INPUTS.map((p) => tx.list(p)) : [own];
    });
    const idle = inputs.length === 1;
    const same = this.inputs !== undefined && inputs.length === this.inputs.length && inputs.every((list, i) => list === this.inputs![i])
      && (idle || Date.now() - this.planned < PLAN_REFRESH_MS);
    if (!same) {
      this.inputs = inputs;
      this.planned = Date.now();
    }
    return same;
  }

  private async plans(): Promise<Map<number, Plan>> {
    const { env } = this.ctx.app;
    const out = new Map<number, Plan>();
    const enabled = await env.store.read((tx) => tx.list(DOT1X_CLIENT_PATH).some((r) => dot1xClientEnabled(r.data)));
    if (!enabled) return out;
    const trust = await daemonTrust(env, COMPONENT);
    await env.store.read((tx) => {
      for (const row of tx.list(DOT1X_CLIENT_PATH)) {
        if (dot1xClientEnabled(row.data)) out.set(row.id, clientPlan(env, tx, row, trust, this.runRoot));
      }
    });
    return out;
  }
}

export const dot1xService = (ctx: ServiceContext): ManagedService => new Dot1xService(ctx);
