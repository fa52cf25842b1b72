// 802.1X supplicants (/interface dot1x client, services spec §5.1) on Debian's wpa_supplicant
// (`-D wired`, the driver for Ethernet ports), one supervised daemon per enabled row
// (supervisor.ts): its configuration (dot1xConfig below), the client certificate with its
// intermediates and key, and the CAs trusted for `dot1x` (daemon-trust.ts) in the row's private
// runtime folder. A changed row, certificate or trust restarts the daemon.
//
// 802.1X authenticators (/interface dot1x server, spec §5.2) on Debian's hostapd (driver=wired):
// the port's EAP is relayed to the first enabled /radius server whose `service` names dot1x, as
// RouterOS does (the authenticator holds no certificate of its own). Its clients are the rows of
// `/interface dot1x server state` (authenticating, authorized, rejected) while they are there.
//
// State: wpa_supplicant prints its control events on stdout (`CTRL-EVENT-EAP-STARTED`,
// `…-EAP-SUCCESS`, `…-EAP-FAILURE`, `…-EAP-TLS-CERT-ERROR`); they become the row's `status`
// (RouterOS's words: authenticating, authenticated, rejected) and /log lines (topic `dot1x`).
// Why a row cannot run (no certificate, no trusted CA, no such interface, wpa_supplicant
// missing) is `not running: <why>`, as the other services say it.

import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import type { Environment } from '../menu/types.js';
import { propValue } from '../menu/generic.js';
import { CRL_MENU_PATH } from '../menus/certificate/crl.js';
import { CERT_PATH } from '../menus/certificate/properties.js';
import { SETTINGS_PATH } from '../menus/certificate/settings.js';
import { tlsMaterial } from '../menus/certificate/tls-material.js';
import { HOSTAPD, RADSECPROXY, WPA_SUPPLICANT, findProgram, missingProgramText, programName } from '../menus/host/programs.js';
import {
  DOT1X_CLIENT, DOT1X_CLIENT_PATH, DOT1X_SERVER, DOT1X_SERVER_PATH, DOT1X_STATE_PATH, DOT1X_STATE_STATUS, DOT1X_STATUS,
  dot1xClientEnabled, dot1xServerEnabled,
} from '../menus/interface/dot1x.js';
import { RADIUS, RADIUS_PATH, radiusServes } from '../menus/radius.js';
import { SERVICE_STATUS, type ReportedState } from '../menus/interface/service-state.js';
import type { ReadTx, RowData, StoredRow } from '../store/store.js';
import type { ServiceContext } from './context.js';
import { daemonTrust, type DaemonTrust } from './daemon-trust.js';
import type { ManagedService } from './managed.js';
import { DaemonService } from './daemon-service.js';
import { RowStates } from './row-states.js';
import { Supervisor, runPlan, type DaemonPlan, type DaemonState } from './supervisor.js';

/** The trust-store components 802.1X and RadSec ask for (services spec §1.4). */
const COMPONENT = 'dot1x';
const RADSEC_COMPONENT = 'radius';
/** The menus the plans are made of. */
const PLAN_INPUTS = [DOT1X_CLIENT_PATH, DOT1X_SERVER_PATH, RADIUS_PATH, CERT_PATH, CRL_MENU_PATH, SETTINGS_PATH];
/** Plans are made afresh at least this often (an interface that appeared, trust that changed). */
const PLAN_REFRESH_MS = 10_000;
const SYS_NET = '/sys/class/net';

export const DOT1X_FILES = { config: 'wpa_supplicant.conf', ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem', hostapd: 'hostapd.conf', radsec: 'radsecproxy.conf' } as const;

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

type Kind = 'client' | 'server' | 'radsec';

/** What one enabled row should run: a daemon spec, or why it cannot. */
type Plan = DaemonPlan;

const daemonName = (kind: Kind, id: number): string => `dot1x-${kind}-${id}`;

/** An interface name the kernel could have (IFNAMSIZ 16 with the NUL; no `/`, no blank). */
const isInterfaceName = (name: string): boolean => /^[^\s/:]{1,15}$/.test(name) && name !== '.' && name !== '..';

/** Why a host interface cannot be used, or undefined. */
const missingInterface = (iface: string): string | undefined =>
  (!isInterfaceName(iface) || !fs.existsSync(path.join(SYS_NET, iface)) ? `interface ${iface} does not exist on this host` : undefined);

function clientPlan(env: Environment, tx: ReadTx, row: StoredRow, trust: DaemonTrust, runRoot: string): Plan {
  const d = row.data;
  const iface = propValue(DOT1X_CLIENT.interface, d);
  const label = iface;
  const missing = missingInterface(iface);
  if (missing) return { label, reason: missing };
  const methods = propValue(DOT1X_CLIENT.eapMethods, d);
  if (methods.length === 0) return { label, reason: 'no eap-methods' };
  const run = path.join(runRoot, daemonName('client', row.id));
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

export interface AuthenticatorSettings {
  readonly iface: string;
  readonly radius: { address: string; authPort: number; acctPort?: number; secret: string };
  /** Seconds between re-authentications; 0: none (the RADIUS server's Session-Timeout rules). */
  readonly reauthSeconds: number;
  /** Seconds between interim accounting updates; 0: none. */
  readonly interimSeconds: number;
}

/** A value hostapd reads to the end of its line: a line break would end it and add a directive. */
const isLineValue = (v: string): boolean => !/[\x00-\x1f\x7f]/.test(v);

/** hostapd's configuration of one authenticator: a wired port, EAP relayed to RADIUS. */
export function authenticatorConfig(s: AuthenticatorSettings): string {
  const lines = [
    '# Written by rospki for /interface dot1x server; removed when the server stops.',
    `interface=${s.iface}`,
    'driver=wired',
    'ieee8021x=1',
    'eapol_version=2',
    // EAPOL to the PAE group address (IEEE 802.1X-2004 §7.8): a port has no association to answer.
    'use_pae_group_addr=1',
    `auth_server_addr=${s.radius.address}`,
    `auth_server_port=${s.radius.authPort}`,
    `auth_server_shared_secret=${s.radius.secret}`,
    ...(s.radius.acctPort !== undefined
      ? [`acct_server_addr=${s.radius.address}`, `acct_server_port=${s.radius.acctPort}`, `acct_server_shared_secret=${s.radius.secret}`]
      : []),
    ...(s.interimSeconds > 0 ? [`radius_acct_interim_interval=${Math.max(60, s.interimSeconds)}`] : []),
    ...(s.reauthSeconds > 0 ? [`eap_reauth_period=${s.reauthSeconds}`] : []),
    'logger_stdout=-1',
    // Level 1 (debug) names each client's identity and the port's authorization.
    'logger_stdout_level=1',
  ];
  return `${lines.join('\n')}\n`;
}

/** Where hostapd sends RADIUS for a /radius row spoken over RadSec: the local end of its relay. */
export interface RadsecRelay {
  readonly port: number;
  readonly secret: string;
  /** Why the relay cannot run, if it cannot. */
  readonly reason?: string;
}

export function serverPlan(tx: ReadTx, row: StoredRow, relay: (radius: StoredRow) => RadsecRelay | undefined = () => undefined): Plan {
  const d = row.data;
  const iface = propValue(DOT1X_SERVER.interface, d);
  const label = iface;
  const missing = missingInterface(iface);
  if (missing) return { label, reason: missing };
  if (!propValue(DOT1X_SERVER.authTypes, d).includes('dot1x')) return { label, reason: 'auth-types mac-auth alone is not supported' };
  const radius = tx.list(RADIUS_PATH).find((r) => radiusServes(r.data, 'dot1x'));
  if (!radius) return { label, reason: 'no RADIUS server for dot1x (/radius service=dot1x)' };
  const accounting = propValue(DOT1X_SERVER.accounting, d);
  let server: AuthenticatorSettings['radius'];
  if (propValue(RADIUS.protocol, radius.data) === 'radsec') {
    // RadSec: hostapd speaks UDP RADIUS to a local radsecproxy, which carries it over TLS.
    const r = relay(radius);
    if (!r || r.reason) return { label, reason: `RadSec: ${r?.reason ?? 'no relay'}` };
    server = { address: '127.0.0.1', authPort: r.port, secret: r.secret, ...(accounting ? { acctPort: r.port } : {}) };
  } else {
    const secret = propValue(RADIUS.secret, radius.data);
    if (!secret || !isLineValue(secret)) return { label, reason: 'the RADIUS secret is empty or holds control characters' };
    server = {
      address: propValue(RADIUS.address, radius.data), authPort: propValue(RADIUS.authenticationPort, radius.data), secret,
      ...(accounting ? { acctPort: propValue(RADIUS.accountingPort, radius.data) } : {}),
    };
  }
  const conf = authenticatorConfig({
    iface,
    radius: server,
    reauthSeconds: Math.round((propValue(DOT1X_SERVER.reauthTimeout, d) ?? 0) / 1e9),
    interimSeconds: Math.round(propValue(DOT1X_SERVER.interimUpdate, d) / 1e9),
  });
  return {
    label,
    spec: { program: programName(HOSTAPD), package: HOSTAPD.package, args: [DOT1X_FILES.hostapd], files: { [DOT1X_FILES.hostapd]: conf } },
  };
}

/** RadSec's port (RFC 6614 §2.2); a /radius row left at RADIUS's 1812 means it. */
const RADSEC_PORT = 2083;
/** The shared secret of RadSec when none is set (RFC 6614 §2.3). */
const RADSEC_SECRET = 'radsec';

/** A radsecproxy string value: quoted, so blanks are kept (radsecPlan refuses `"`, `\\` and control characters). */
const radsecValue = (v: string): string => `"${v}"`;

/**
 * radsecproxy's configuration of the relay of one /radius row: UDP from hostapd on 127.0.0.1
 * (with a secret of this process), TLS to the server with the row's certificate, the server
 * judged by the CAs trusted for `radius` (its name is not checked: RouterOS checks the chain).
 */
export function radsecConfig(s: { listenPort: number; localSecret: string; host: string; port: number; secret: string; run: string }): string {
  const lines = [
    '# Written by rospki for /radius protocol=radsec; removed when the relay stops.',
    `ListenUDP 127.0.0.1:${s.listenPort}`,
    'LogLevel 3',
    'tls default {',
    `    CACertificateFile ${path.join(s.run, DOT1X_FILES.ca)}`,
    `    CertificateFile ${path.join(s.run, DOT1X_FILES.cert)}`,
    `    CertificateKeyFile ${path.join(s.run, DOT1X_FILES.key)}`,
    '}',
    'client hostapd {',
    '    host 127.0.0.1',
    '    type udp',
    `    secret ${radsecValue(s.localSecret)}`,
    '}',
    'server radsec {',
    `    host ${s.host.includes(':') ? `[${s.host}]` : s.host}`,
    `    port ${s.port}`,
    '    type tls',
    `    secret ${radsecValue(s.secret)}`,
    '    CertificateNameCheck off',
    '}',
    'realm * {',
    '    server radsec',
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

export function radsecPlan(env: Environment, tx: ReadTx, radius: StoredRow, trust: DaemonTrust, runRoot: string, relay: { port: number; secret: string }): Plan {
  const label = `radius ${propValue(RADIUS.address, radius.data)}`;
  if (!findProgram(programName(RADSECPROXY))) return { label, reason: missingProgramText(RADSECPROXY.program, RADSECPROXY.package) };
  const certId = propValue(RADIUS.certificate, radius.data);
  if (!certId) return { label, reason: 'no certificate (RadSec needs /radius certificate=)' };
  const material = tlsMaterial(env, tx, certId);
  if (material.kind === 'none') return { label, reason: material.reason };
  if (!trust.anchorsPem) return { label, reason: 'no CA certificate is trusted for radius' };
  const secret = propValue(RADIUS.secret, radius.data) || RADSEC_SECRET;
  // A quote or backslash would end or escape radsecproxy's quoted value: refused, never altered.
  if (!isLineValue(secret) || /["\\]/.test(secret)) return { label, reason: 'the RADIUS secret holds control characters, a quote or a backslash' };
  const given = propValue(RADIUS.authenticationPort, radius.data);
  const conf = radsecConfig({
    listenPort: relay.port, localSecret: relay.secret, host: propValue(RADIUS.address, radius.data),
    port: given === 1812 ? RADSEC_PORT : given, secret, run: path.join(runRoot, daemonName('radsec', radius.id)),
  });
  return {
    label,
    spec: {
      program: programName(RADSECPROXY), package: RADSECPROXY.package, args: ['-f', '-c', DOT1X_FILES.radsec],
      files: { [DOT1X_FILES.radsec]: conf, [DOT1X_FILES.ca]: trust.anchorsPem, [DOT1X_FILES.cert]: material.cert, [DOT1X_FILES.key]: material.key },
    },
  };
}

/** A client of an authenticator, as its state row shows it. */
interface Supplicant {
  status: string;
  user: string;
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

/** `ether1: CTRL-EVENT-EAP-SUCCESS 3e:7c:e9:4c:59:56` and `ether1: STA 3e:… IEEE 802.1X: …` lines of hostapd. */
const MAC = '([0-9a-f]{2}(?::[0-9a-f]{2}){5})';
const HOSTAPD_LINES: ReadonlyArray<[RegExp, (s: Supplicant | undefined, m: RegExpExecArray) => Supplicant | null | undefined]> = [
  [new RegExp(`CTRL-EVENT-EAP-STARTED ${MAC}`), (s) => ({ status: DOT1X_STATE_STATUS.authenticating, user: s?.user ?? '' })],
  [new RegExp(`STA ${MAC} IEEE 802\\.1X: STA identity '([^']*)'`), (s, m) => ({ status: s?.status ?? DOT1X_STATE_STATUS.authenticating, user: m[2]! })],
  [new RegExp(`STA ${MAC} IEEE 802\\.1X: authorizing port`), (s) => ({ status: DOT1X_STATE_STATUS.authorized, user: s?.user ?? '' })],
  // FAILURE2: a RADIUS server rejected (hostapd 2.10 names it so); FAILURE: hostapd's own EAP server.
  [new RegExp(`CTRL-EVENT-EAP-FAILURE2? ${MAC}`), (s) => ({ status: DOT1X_STATE_STATUS.rejected, user: s?.user ?? '' })],
  [new RegExp(`AP-STA-DISCONNECTED ${MAC}`), () => null],
];

/** At most this many clients are kept per port (a flood of forged source addresses stays bounded). */
const MAX_SUPPLICANTS = 256;

class Dot1xDaemon {
  private readonly supervisor: Supervisor;
  private plan: Plan | undefined;
  private missing: string | undefined;
  /** Client: the last EAP state wpa_supplicant reported (RouterOS's words). */
  private eap: string = DOT1X_STATUS.authenticating;
  /** Server: hostapd is up (AP-ENABLED), and its clients by MAC address. */
  private enabled = false;
  readonly supplicants = new Map<string, Supplicant>();
  /** The last lines it wrote, for why it stopped. */
  private lastLine = '';
  /** The port has no carrier (its peer is down or unplugged): nothing can authenticate on it. */
  private linkDown = false;
  /** RadSec relay: the last TLS outcome, logged when it changes (radsecproxy retries on its own). */
  private tls = '';

  constructor(private readonly owner: Dot1xService, readonly kind: Kind, readonly id: number, runRoot: string) {
    this.supervisor = new Supervisor(runRoot, daemonName(kind, id), owner.ctx.daemonClock, {
      output: (line) => this.output(line),
      changed: (state) => this.changed(state),
    });
  }

  get label(): string {
    return this.plan?.label ?? daemonName(this.kind, this.id);
  }

  private get program(): string {
    return { client: 'wpa_supplicant', server: 'hostapd', radsec: 'radsecproxy' }[this.kind];
  }

  async apply(plan: Plan): Promise<void> {
    const before = this.plan;
    this.plan = plan;
    this.missing = await runPlan(this.supervisor, plan, before, this.missing, (message) => this.owner.batch.log('dot1x,error', message));
  }

  state(): ReportedState {
    if (this.plan?.reason) return { running: false, status: SERVICE_STATUS.notRunning(this.plan.reason) };
    if (this.missing) return { running: false, status: SERVICE_STATUS.notRunning(this.missing) };
    const s = this.supervisor.state;
    if (s.state === 'stopped') return { running: false, status: SERVICE_STATUS.notRunning('stopped') };
    if (s.state === 'failed') return { running: false, status: SERVICE_STATUS.notRunning(this.lastLine || `${this.program} ${s.reason}`) };
    if (this.kind === 'server') return this.enabled ? { running: true, status: SERVICE_STATUS.running } : { running: false, status: SERVICE_STATUS.starting };
    if (this.linkDown) return { running: false, status: DOT1X_STATUS.interfaceDown };
    return { running: this.eap === DOT1X_STATUS.authenticated, status: this.eap };
  }

  /**
   * Looks at the port's carrier (wpa_supplicant and hostapd say nothing when it goes): a client
   * shows `interface is down`, an authenticator's clients are gone with it.
   */
  checkLink(): void {
    if (this.kind === 'radsec' || !this.plan?.spec) return;
    let state = 'unknown';
    try {
      state = fs.readFileSync(path.join(SYS_NET, this.plan.label, 'operstate'), 'utf8').trim();
    } catch {
      state = 'down'; // gone: the next plan says so
    }
    const down = state === 'down' || state === 'lowerlayerdown' || state === 'notpresent';
    if (down === this.linkDown) return;
    this.linkDown = down;
    if (down) this.supplicants.clear();
    this.owner.batch.log('dot1x,info', `${this.label}: link ${down ? 'down' : 'up'}`);
    this.owner.states.changed();
  }

  stop(): Promise<void> {
    this.supplicants.clear();
    return this.supervisor.apply(undefined);
  }

  private output(line: string): void {
    if (this.supervisor.stopping) return;
    if (this.kind === 'server') this.serverOutput(line);
    else if (this.kind === 'radsec') this.radsecOutput(line);
    else this.clientOutput(line);
  }

  private radsecOutput(line: string): void {
    const m = /tlsconnect: TLS connection to \S+ \((.*?)\)(?:, subject (.*?) up| failed: (.*))$/.exec(line);
    if (!m) {
      if (/error|failed/i.test(line)) this.lastLine = line.replace(/^\w{3} \w{3} +\d+ [\d:]+ \d{4}: /, '').trim().slice(0, 200);
      return;
    }
    const outcome = m[2] !== undefined ? `up, ${m[2]}` : `failed: ${m[3]}`;
    if (outcome === this.tls) return;
    this.tls = outcome;
    if (m[2] !== undefined) this.owner.batch.log('radius,info', `${this.label}: RadSec connection to ${m[1]} up, server ${m[2]}`);
    else this.owner.batch.log('radius,error', `${this.label}: RadSec connection to ${m[1]} failed: ${m[3]}`);
  }

  private serverOutput(line: string): void {
    if (/AP-ENABLED/.test(line)) {
      this.enabled = true;
      this.owner.states.changed();
      return;
    }
    if (/RADIUS No response from Authentication server/.test(line)) {
      this.owner.batch.log('dot1x,error', `${this.label}: no answer from the RADIUS server`);
      return;
    }
    for (const [re, next] of HOSTAPD_LINES) {
      const m = re.exec(line);
      if (!m) continue;
      const mac = m[1]!;
      const before = this.supplicants.get(mac);
      const after = next(before, m);
      if (after === null) this.supplicants.delete(mac);
      else if (after && (before || this.supplicants.size < MAX_SUPPLICANTS)) this.supplicants.set(mac, after);
      if (after && after.status !== before?.status) {
        if (after.status === DOT1X_STATE_STATUS.authorized) this.owner.batch.log('dot1x,info', `${this.label}: ${mac} ${after.user} authorized`);
        if (after.status === DOT1X_STATE_STATUS.rejected) this.owner.batch.log('dot1x,error', `${this.label}: ${mac} ${after.user} rejected`);
      }
      this.owner.states.changed();
      return;
    }
    if (!/^\S+: /.test(line) && line.trim() !== '') this.lastLine = line.trim().slice(0, 200);
  }

  private clientOutput(line: string): void {
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
      this.enabled = false;
      this.supplicants.clear();
      this.lastLine = '';
    } else if (state.state === 'failed') {
      this.enabled = false;
      this.supplicants.clear();
      this.owner.batch.log('dot1x,error', `${this.label}: ${this.program} ${state.reason}${this.lastLine ? `: ${this.lastLine}` : ''}`);
    }
    this.owner.states.changed();
  }
}

// ---------------------------------------------------------------------------------------------
// The service

type Planned = { kind: Kind; id: number; plan: Plan };

export class Dot1xService extends DaemonService<Plan, Planned, Dot1xDaemon> {
  readonly states: RowStates;

  constructor(ctx: ServiceContext) {
    super(ctx, 'dot1x', 'dot1x-', PLAN_REFRESH_MS);
    this.states = new RowStates(ctx.app.store, [DOT1X_CLIENT_PATH, DOT1X_SERVER_PATH],
      (p, row) => this.daemons.get(`${p === DOT1X_SERVER_PATH ? 'server' : 'client'}${row.id}`)?.state(), ctx.internalError,
      () => new Map([[DOT1X_STATE_PATH, this.stateRows()]]));
  }

  /** `/interface dot1x server state`: every authenticator's clients, by interface then address. */
  private stateRows(): RowData[] {
    const rows: RowData[] = [];
    const servers = [...this.daemons.values()].filter((d) => d.kind === 'server').sort((a, b) => a.id - b.id);
    for (const d of servers) {
      for (const [mac, s] of [...d.supplicants].sort(([a], [b]) => (a < b ? -1 : 1))) {
        rows.push({ interface: d.label, 'client-mac': mac.toUpperCase(), status: s.status, ...(s.user ? { 'user-name': s.user } : {}) });
      }
    }
    return rows;
  }

  /** Every poll: a carrier change is no row of the store. */
  protected override poll(): void {
    for (const daemon of this.daemons.values()) daemon.checkLink();
  }

  protected inputLists(tx: ReadTx): { lists: ReadonlyArray<readonly StoredRow[]>; busy: boolean } {
    const own = [tx.list(DOT1X_CLIENT_PATH), tx.list(DOT1X_SERVER_PATH)];
    const busy = own[0]!.some((r) => dot1xClientEnabled(r.data)) || own[1]!.some((r) => dot1xServerEnabled(r.data));
    return busy ? { lists: PLAN_INPUTS.map((p) => tx.list(p)), busy } : { lists: own, busy };
  }

  protected make({ kind, id }: Planned): Dot1xDaemon {
    return new Dot1xDaemon(this, kind, id, this.runRoot);
  }

  /** The local end of each RadSec relay, by /radius row: kept, so a relay is not moved at every plan. */
  private readonly relays = new Map<number, { port: number; secret: string }>();

  protected async plans(): Promise<Map<string, Planned>> {
    const { env } = this.ctx.app;
    const out = new Map<string, Planned>();
    const wanted = await env.store.read((tx) => ({
      clients: tx.list(DOT1X_CLIENT_PATH).some((r) => dot1xClientEnabled(r.data)),
      servers: tx.list(DOT1X_SERVER_PATH).some((r) => dot1xServerEnabled(r.data)),
      radsec: tx.list(RADIUS_PATH).filter((r) => radiusServes(r.data, 'dot1x') && propValue(RADIUS.protocol, r.data) === 'radsec').map((r) => r.id),
    }));
    if (!wanted.clients && !wanted.servers) return out;
    const trust = wanted.clients ? await daemonTrust(env, COMPONENT) : undefined;
    const radsecTrust = wanted.servers && wanted.radsec.length > 0 ? await daemonTrust(env, RADSEC_COMPONENT) : undefined;
    for (const id of this.relays.keys()) if (!radsecTrust || !wanted.radsec.includes(id)) this.relays.delete(id);
    if (radsecTrust) {
      for (const id of wanted.radsec) {
        if (!this.relays.has(id)) this.relays.set(id, { port: await freeLocalUdpPort(), secret: randomBytes(16).toString('hex') });
      }
    }
    await env.store.read((tx) => {
      for (const row of tx.list(DOT1X_CLIENT_PATH)) {
        if (dot1xClientEnabled(row.data)) out.set(`client${row.id}`, { kind: 'client', id: row.id, plan: clientPlan(env, tx, row, trust!, this.runRoot) });
      }
      const relay = (radius: StoredRow): RadsecRelay | undefined => {
        const local = this.relays.get(radius.id);
        if (!local || !radsecTrust) return undefined;
        const key = `radsec${radius.id}`;
        if (!out.has(key)) out.set(key, { kind: 'radsec', id: radius.id, plan: radsecPlan(env, tx, radius, radsecTrust, this.runRoot, local) });
        return { ...local, ...(out.get(key)!.plan.reason ? { reason: out.get(key)!.plan.reason } : {}) };
      };
      for (const row of tx.list(DOT1X_SERVER_PATH)) {
        if (dot1xServerEnabled(row.data)) out.set(`server${row.id}`, { kind: 'server', id: row.id, plan: serverPlan(tx, row, relay) });
      }
    });
    return out;
  }
}

/** A UDP port of 127.0.0.1 free now (the relay binds it next; it is this host's loopback only). */
function freeLocalUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

export const dot1xService = (ctx: ServiceContext): ManagedService => new Dot1xService(ctx);
