// IPsec (services spec §4) on strongSwan's charon: rospki is the control plane, charon the IKE
// daemon. The service
//  - runs charon under a Supervisor with its own strongswan.conf in the private runtime folder
//    (run/ipsec/: ports from /ip ipsec settings, the vici socket, only the plugins it needs),
//    in a private mount namespace where it can (charon's pid file is fixed at /run/charon.pid,
//    so a second charon on the host — strongSwan's own, or a test's peer — would refuse to start);
//  - loads over vici what the store says: the identities' certificates and keys, or their
//    pre-shared keys (keys and secrets only over the socket, never on disk), the CAs trusted
//    for `ipsec`, the CRLs rospki publishes or downloaded (with crl-use=yes, like the trust
//    engine), the address pools of mode-configs, and one connection per identity (IKEv2 or
//    IKEv1) with its peer, profile, proposals, policies and generated-policy templates; a
//    change reloads over vici, no restart;
//  - writes back what runs: peer and identity `status`, policy flag A, the rows of
//    /ip ipsec active-peers and installed-sa (from list-sas), and /log lines (log.ts).
// Only what /ip ipsec asks for runs: without an enabled peer (ike2, main or aggressive) with a
// usable identity there is no charon.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  CHARON, CHARON_MISSING, IDENTITY, IPSEC_ACTIVE_PEERS_PATH, IPSEC_GROUP_PATH, IPSEC_IDENTITY_PATH, IPSEC_INSTALLED_SA_PATH, IPSEC_MODE_CONFIG_PATH, IPSEC_PEER_PATH,
  IPSEC_POLICY_PATH, IPSEC_PROFILE_PATH, IPSEC_PROPOSAL_PATH, IPSEC_SETTINGS_PATH, MODE_CONFIG, PEER, POLICY, PROFILE, PROPOSAL, SETTINGS,
  charonInstalled,
} from '../../menus/ip/ipsec.js';
import { builtinRowId } from '../../menus/interface/common.js';
import { DNS, DNS_PATH } from '../../menus/ip/dns.js';
import { POOL_PATH } from '../../menus/ip/pool.js';
import { CERT_PATH } from '../../menus/certificate/properties.js';
import { certificateDer, privateKey } from '../../menus/certificate/keys.js';
import { publishedCrl } from '../../menus/certificate/crl-publish.js';
import { CRL_MENU_PATH, loadedCrl } from '../../menus/certificate/crl.js';
import { builtinRoots } from '../../menus/certificate/builtin.js';
import { builtinsTrustedFor, readSettings } from '../../menus/certificate/settings.js';
import { trustAnchors } from '../../menus/certificate/trust-sources.js';
import { propValue } from '../../menu/generic.js';
import { parseCertificate, type CertInfo } from '../../pki/index.js';
import type { ReadTx, RowData, WriteTx } from '../../store/store.js';
import type { ServiceContext } from '../context.js';
import type { ManagedService } from '../managed.js';
import { replaceRows, sameRows } from '../row-states.js';
import { DaemonMissing, Supervisor, findProgram, type DaemonSpec, type DaemonState } from '../supervisor.js';
import {
  ConfigProblem, REQUIRED_PLUGINS, connectionSection, espProposals, ikeProposal, localIdentity, peerAddresses, poolSection, remoteIdentity,
  secretBytes, sharedKeyOwners, strongswanConf, trafficSelector, type AuthKind, type CertIdentity, type ChildSpec, type PoolSpec,
} from './config.js';
import { CharonLog } from './log.js';
import { ViciClient, ViciError, assertSuccess, type ViciMessage } from './vici.js';

/** The trust-store component whose CAs IPsec trusts (spec §1.4). */
const COMPONENT = 'ipsec';
const RUN_NAME = 'ipsec';
const VICI_SOCKET = 'charon.vici';
const CONF_FILE = 'strongswan.conf';
/** Connection and child names in charon: `identity-<id>`, `policy-<id>`. */
const connName = (identityId: number): string => `identity-${identityId}`;
const childName = (policyId: number): string => `policy-${policyId}`;
/** A CHILD_SA generated from a policy template (generate-policy): `template-<id>`. */
const templateName = (policyId: number): string => `template-${policyId}`;

/** exchange-mode → IKE version (RFC 7296 for ike2; RFC 2409 §5 Main and Aggressive Mode). */
const IKE_VERSIONS: Readonly<Record<string, { version: 1 | 2; aggressive: boolean }>> = {
  ike2: { version: 2, aggressive: false },
  main: { version: 1, aggressive: false },
  aggressive: { version: 1, aggressive: true },
};

/** auth-method → how charon authenticates both ends (swanctl.conf(5) `auth`). */
const AUTH_KINDS: Readonly<Record<string, AuthKind>> = { 'digital-signature': 'pubkey', 'pre-shared-key': 'psk' };

interface ConnInfo {
  peerId: number;
  peerName: string;
  identityId: number;
  /** Child name → policy id. */
  policies: Map<string, number>;
  /** Child name → the template it was generated from (generate-policy), as stored. */
  templates: Map<string, { id: number; data: RowData }>;
}

interface Plan {
  ports: { ike: number; natT: number };
  /** Key and certificate material, in load order. */
  keys: Buffer[];
  /** Pre-shared keys (vici load-shared), only ever in memory and on the socket. */
  shared: Array<{ data: Buffer; owners: string[] }>;
  certs: Array<{ der: Buffer; ca: boolean }>;
  /** Address pools of mode-config (vici load-pool), by name. */
  pools: Map<string, ViciMessage>;
  crls: Buffer[];
  conns: Map<string, ViciMessage>;
  info: Map<string, ConnInfo>;
  /** Problems and states to show, by row id. */
  peerStatus: Map<number, string>;
  identityStatus: Map<number, string>;
}

const sha256 = (...parts: Array<Buffer | string>): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
};

const seconds = (ns: number): number => Math.round(ns / 1e9);

export function ipsecService(ctx: ServiceContext): ManagedService {
  return new IpsecService(ctx);
}

class IpsecService implements ManagedService {
  private readonly supervisor: Supervisor;
  private vici: ViciClient | undefined;
  /** What charon (this pid) has loaded: signatures of the credentials and of each connection. */
  private loaded: { pid: number; creds?: string; conns: Map<string, string>; pools: Map<string, string> } | undefined;
  private daemon: DaemonState = { state: 'stopped' };
  private readonly charonLog = new CharonLog(() => this.ctx.app.clock.now(), (conn) => this.versions.get(conn) ?? 2);
  /** IKE version of each loaded connection, for the log's words. */
  private versions = new Map<string, 1 | 2>();
  private pendingLog: Array<{ topics: string; message: string }> = [];
  private logFlush: NodeJS.Timeout | undefined;
  /** First-seen instants of SAs (by charon's unique id), so rows do not move with rounding. */
  private readonly firstSeen = new Map<string, number>();
  /** The last vici problem, logged once. */
  private lastError: string | undefined;
  private stopped = false;

  constructor(private readonly ctx: ServiceContext) {
    this.supervisor = new Supervisor(path.join(ctx.app.dataDir.root, 'run'), RUN_NAME, ctx.daemonClock, {
      output: (line) => this.output(line),
      changed: (state) => {
        this.daemon = state;
        if (state.state !== 'running') this.disconnect();
      },
    });
  }

  private get env() {
    return this.ctx.app.env;
  }

  async reconcile(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.reconcileOnce();
    } catch (e) {
      this.ctx.internalError(e);
    }
  }

  private async reconcileOnce(): Promise<void> {
    const plan = await this.readPlan();
    if (plan.conns.size === 0) {
      await this.halt();
      await this.writeState(plan, []);
      return;
    }
    const missing = charonInstalled() ? missingPlugin() : CHARON_MISSING;
    if (missing) {
      await this.halt();
      await this.writeState(this.allPeers(plan, missing), []);
      return;
    }
    try {
      await this.supervisor.apply(this.daemonSpec(plan));
    } catch (e) {
      if (!(e instanceof DaemonMissing)) throw e;
      await this.writeState(this.allPeers(plan, CHARON_MISSING), []);
      return;
    }
    const vici = await this.connect();
    if (!vici) {
      const why = this.daemon.state === 'failed' ? `charon ${this.daemon.reason}` : 'charon is starting';
      await this.writeState(this.allPeers(plan, why), []);
      return;
    }
    let sas: ViciMessage[];
    this.versions = new Map([...plan.conns].map(([name, section]) => [name, section.version === '1' ? 1 : 2]));
    try {
      await this.load(vici, plan);
      sas = (await vici.stream('list-sas', 'list-sa')).events;
      this.lastError = undefined;
    } catch (e) {
      if (!(e instanceof ViciError)) throw e;
      this.disconnect();
      const why = e.message.replace(/^vici: /, '');
      if (why !== this.lastError) this.queueLog({ topics: 'ipsec,error', message: `charon: ${why}` });
      this.lastError = why;
      await this.writeState(this.allPeers(plan, `charon: ${why}`), []);
      return;
    }
    await this.writeState(plan, sas);
  }

  /** Every peer of the plan shows `why` (the daemon is not there to ask). */
  private allPeers(plan: Plan, why: string): Plan {
    const ids = new Set([...plan.info.values()].map((i) => i.peerId));
    const peerStatus = new Map(plan.peerStatus);
    for (const id of ids) peerStatus.set(id, why);
    return { ...plan, peerStatus };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.logFlush);
    await this.halt();
    this.flushLog();
    await this.env.store.write((tx) => {
      clearDynamicRows(tx);
      replaceGenerated(tx, []);
      for (const p of [IPSEC_PEER_PATH, IPSEC_IDENTITY_PATH]) {
        for (const row of tx.list(p)) if (row.data.status !== undefined) tx.update(p, row.id, without(row.data, 'status'));
      }
      for (const row of tx.list(IPSEC_POLICY_PATH)) if (row.data.active !== undefined) tx.update(IPSEC_POLICY_PATH, row.id, without(row.data, 'active'));
    }).catch(() => {});
  }

  private async halt(): Promise<void> {
    this.disconnect();
    this.loaded = undefined;
    // Asked on every poll: nothing to do when nothing runs.
    if (this.daemon.state !== 'stopped') await this.supervisor.apply(undefined);
  }

  private disconnect(): void {
    this.vici?.close();
    this.vici = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // The daemon

  private daemonSpec(plan: Plan): DaemonSpec {
    const runDir = this.supervisor.runDir;
    const conf = strongswanConf({ ikePort: plan.ports.ike, natTPort: plan.ports.natT, viciSocket: path.join(runDir, VICI_SOCKET) });
    const env = { STRONGSWAN_CONF: path.join(runDir, CONF_FILE) };
    const charon = CHARON.program();
    if (!privateRunAvailable(runDir)) return { program: charon, package: CHARON.package, args: [], files: { [CONF_FILE]: conf }, env };
    // A private /run for charon's fixed pid file: `unshare --mount` keeps the mount to charon.
    return {
      program: 'unshare', package: 'util-linux', files: { [CONF_FILE]: conf }, env,
      args: ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', 'mount -t tmpfs -o size=1m,mode=0755 rospki-ipsec /run && exec "$0"', charon],
    };
  }

  /** A vici connection to the running charon, or undefined while it is not (yet) there. */
  private async connect(): Promise<ViciClient | undefined> {
    if (this.daemon.state !== 'running') return undefined;
    const pid = this.daemon.pid;
    if (this.vici && !this.vici.closed && this.loaded?.pid === pid) return this.vici;
    this.disconnect();
    try {
      this.vici = await ViciClient.connect(path.join(this.supervisor.runDir, VICI_SOCKET), { timeoutMs: 10_000 });
    } catch {
      return undefined; // charon has not opened its socket yet: the next poll tries again
    }
    if (this.loaded?.pid !== pid) this.loaded = { pid, conns: new Map(), pools: new Map() };
    return this.vici;
  }

  private output(line: string): void {
    const entries = /^\d+\[\w+\] /.test(line) ? this.charonLog.line(line) : [{ topics: 'ipsec,error', message: `charon: ${line}` }];
    for (const e of entries) this.queueLog(e);
  }

  private queueLog(entry: { topics: string; message: string }): void {
    if (this.pendingLog.length >= 1000) return; // a daemon in a loop does not fill the log
    this.pendingLog.push(entry);
    this.logFlush ??= setTimeout(() => { this.logFlush = undefined; this.flushLog(); }, 50);
  }

  private flushLog(): void {
    const entries = this.pendingLog;
    this.pendingLog = [];
    if (entries.length === 0) return;
    this.env.store.write((tx) => { for (const e of entries) this.env.log(tx, e.topics, e.message); }).catch(() => {});
  }

  // -------------------------------------------------------------------------------------------
  // Loading over vici

  private async load(vici: ViciClient, plan: Plan): Promise<void> {
    const loaded = this.loaded!;
    const creds = sha256(
      ...plan.keys, ...plan.certs.map((c) => Buffer.concat([c.der, Buffer.from([c.ca ? 1 : 0])])), '|', ...plan.crls,
      '|', ...plan.shared.map((k) => sha256(k.data, ...k.owners)),
    );
    if (loaded.creds !== creds) {
      // clear-creds drops what vici loaded and charon's cache of checked signatures, so a
      // new CRL or a CA that is no longer trusted counts from the next IKE_AUTH on.
      assertSuccess('clear-creds', await vici.request('clear-creds'));
      for (const key of plan.keys) assertSuccess('load-key', await vici.request('load-key', { type: 'any', data: key }));
      for (const c of plan.certs) assertSuccess('load-cert', await vici.request('load-cert', { type: 'x509', flag: c.ca ? 'ca' : 'none', data: c.der }));
      for (const crl of plan.crls) assertSuccess('load-cert', await vici.request('load-cert', { type: 'x509crl', flag: 'none', data: crl }));
      for (const k of plan.shared) assertSuccess('load-shared', await vici.request('load-shared', { type: 'IKE', data: k.data, owners: k.owners }));
      loaded.creds = creds;
    }
    // Pools before the connections that name them. A pool whose addresses change is unloaded
    // first (charon refuses another base for a loaded name). charon keeps a pool that still has
    // clients online (unload-pool fails): it stays as it was and the next reconcile tries again.
    const poolsPresent = Object.keys(await vici.request('get-pools'));
    for (const name of poolsPresent) {
      if (plan.pools.has(name)) continue;
      if ((await vici.request('unload-pool', { name })).success === 'yes') loaded.pools.delete(name);
    }
    for (const [name, section] of plan.pools) {
      const signature = sha256(JSON.stringify(section));
      if (poolsPresent.includes(name) && loaded.pools.get(name) === signature) continue;
      if (poolsPresent.includes(name) && (await vici.request('unload-pool', { name })).success !== 'yes') continue;
      assertSuccess('load-pool', await vici.request('load-pool', { [name]: section }));
      loaded.pools.set(name, signature);
    }
    const present = await vici.request('get-conns');
    const names = Array.isArray(present.conns) ? present.conns.map(String) : [];
    for (const name of names) {
      if (plan.conns.has(name)) continue;
      assertSuccess('unload-conn', await vici.request('unload-conn', { name }));
      loaded.conns.delete(name);
    }
    for (const [name, section] of plan.conns) {
      const signature = sha256(JSON.stringify(section, (_k, v: unknown) => (isBufferJson(v) ? Buffer.from(v.data).toString('hex') : v)));
      if (names.includes(name) && loaded.conns.get(name) === signature) continue;
      assertSuccess('load-conn', await vici.request('load-conn', { [name]: section }));
      loaded.conns.set(name, signature);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reading the store

  private async readPlan(): Promise<Plan> {
    const { env } = this;
    const draft = await env.store.read((tx) => readDraft(env, tx));
    // CRLs of local CAs are renewed when due, outside the read (publishedCrl may write).
    const crls = [...draft.crls];
    if (draft.crlUse) {
      for (const id of draft.localCas) {
        const der = await publishedCrl({ env }, `/crl/${id}.crl`);
        if (der) crls.push(der);
      }
    }
    return { ...draft.plan, crls };
  }

  // -------------------------------------------------------------------------------------------
  // Writing what runs

  private async writeState(plan: Plan, sas: readonly ViciMessage[]): Promise<void> {
    const now = this.env.clock.now();
    const peers: RowData[] = [];
    const installed: RowData[] = [];
    const activePolicies = new Set<number>();
    const generated: RowData[] = [];
    const upConns = new Set<string>();
    const seenIds = new Set<string>();
    const stableTime = (key: string, value: number): number => {
      seenIds.add(key);
      const known = this.firstSeen.get(key);
      if (known !== undefined && Math.abs(known - value) <= 2000) return known;
      this.firstSeen.set(key, value);
      return value;
    };
    for (const event of sas) {
      for (const [conn, raw] of Object.entries(event)) {
        if (typeof raw !== 'object' || Array.isArray(raw) || Buffer.isBuffer(raw)) continue;
        const sa = raw as ViciMessage;
        const info = plan.info.get(conn);
        const text = (k: string): string | undefined => (typeof sa[k] === 'string' ? (sa[k] as string) : undefined);
        const state = (text('state') ?? '').toLowerCase();
        if (state === 'established') upConns.add(conn);
        const children = (sa['child-sas'] && typeof sa['child-sas'] === 'object' && !Array.isArray(sa['child-sas']) ? sa['child-sas'] : {}) as ViciMessage;
        let rxBytes = 0, txBytes = 0, rxPackets = 0, txPackets = 0, ph2 = 0;
        for (const rawChild of Object.values(children)) {
          const child = rawChild as ViciMessage;
          const c = (k: string): string | undefined => (typeof child[k] === 'string' ? (child[k] as string) : undefined);
          const n = (k: string): number => Number(c(k) ?? 0) || 0;
          ph2++;
          rxBytes += n('bytes-in'); txBytes += n('bytes-out'); rxPackets += n('packets-in'); txPackets += n('packets-out');
          const childState = (c('state') ?? '').toLowerCase();
          const policyId = info?.policies.get(c('name') ?? '');
          if (childState === 'installed' && policyId !== undefined) activePolicies.add(policyId);
          const template = info?.templates.get(c('name') ?? '');
          if (childState === 'installed' && template && info) {
            const list = (k: string): string[] => (Array.isArray(child[k]) ? (child[k] as unknown[]).map(String) : []);
            for (const l of list('local-ts')) for (const r of list('remote-ts')) {
              generated.push(generatedPolicy(template.data, info.peerId, l, r, (c('mode') ?? '').toLowerCase() === 'tunnel', text('local-host'), text('remote-host')));
            }
          }
          const key = `child ${c('uniqueid') ?? ''}`;
          const installedAt = stableTime(`${key} installed`, now - n('install-time') * 1000);
          const expiresAt = stableTime(`${key} expires`, now + n('life-time') * 1000);
          const common = {
            state: childState === 'installed' ? 'mature' : childState,
            'auth-algorithm': integrityName(c('integ-alg')), 'enc-algorithm': cipherName(c('encr-alg')),
            'enc-key-size': n('encr-keysize'), mode: (c('mode') ?? '').toLowerCase(), peer: info?.peerName ?? conn,
            installed: installedAt, expires: expiresAt, dynamic: true,
          };
          const local = text('local-host') ?? '', remote = text('remote-host') ?? '';
          installed.push(clean({ spi: `0x${(c('spi-in') ?? '').toUpperCase()}`, 'src-address': remote, 'dst-address': local, ...common, 'current-bytes': n('bytes-in'), 'current-packets': n('packets-in') }));
          installed.push(clean({ spi: `0x${(c('spi-out') ?? '').toUpperCase()}`, 'src-address': local, 'dst-address': remote, ...common, 'current-bytes': n('bytes-out'), 'current-packets': n('packets-out') }));
        }
        const vips = Array.isArray(sa['remote-vips']) ? sa['remote-vips'].map(String) : [];
        const established = text('established');
        peers.push(clean({
          id: text('remote-id'), peer: info?.peerName ?? conn, 'local-address': text('local-host'),
          port: Number(text('remote-port') ?? 0) || undefined, 'remote-address': text('remote-host'), state,
          side: text('initiator') === 'yes' ? 'initiator' : 'responder',
          established: established !== undefined ? stableTime(`ike ${text('uniqueid') ?? ''}`, now - Number(established) * 1000) : undefined,
          'ph2-total': ph2, 'dynamic-address': vips[0], spii: text('initiator-spi'), spir: text('responder-spi'),
          'rx-bytes': rxBytes, 'tx-bytes': txBytes, 'rx-packets': rxPackets, 'tx-packets': txPackets,
          'natt-peer': text('nat-remote') === 'yes', dynamic: true,
        }));
      }
    }
    for (const key of [...this.firstSeen.keys()]) if (!seenIds.has(key)) this.firstSeen.delete(key);

    // Statuses: a problem found while planning wins; else established or ready.
    const peerStatus = new Map(plan.peerStatus);
    const identityStatus = new Map(plan.identityStatus);
    for (const [conn, info] of plan.info) {
      const up = upConns.has(conn);
      if (!identityStatus.has(info.identityId)) identityStatus.set(info.identityId, up ? 'established' : 'ready');
      if (!peerStatus.has(info.peerId) || (up && peerStatus.get(info.peerId) === 'ready')) peerStatus.set(info.peerId, up ? 'established' : 'ready');
    }
    const sortKey = (r: RowData): string => JSON.stringify(r);
    peers.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));
    installed.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));
    generated.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));

    const changed = await this.env.store.read((tx) =>
      !sameRows(tx, IPSEC_ACTIVE_PEERS_PATH, peers) || !sameRows(tx, IPSEC_INSTALLED_SA_PATH, installed)
      || statusDiffers(tx, IPSEC_PEER_PATH, peerStatus) || statusDiffers(tx, IPSEC_IDENTITY_PATH, identityStatus)
      || !sameGenerated(tx, generated)
      || configuredPolicies(tx).some((r) => (r.data.active === true) !== activePolicies.has(r.id)));
    if (!changed || this.stopped) return;
    await this.env.store.write((tx) => {
      if (!sameRows(tx, IPSEC_ACTIVE_PEERS_PATH, peers)) replaceRows(tx, IPSEC_ACTIVE_PEERS_PATH, peers);
      if (!sameRows(tx, IPSEC_INSTALLED_SA_PATH, installed)) replaceRows(tx, IPSEC_INSTALLED_SA_PATH, installed);
      writeStatus(tx, IPSEC_PEER_PATH, peerStatus);
      writeStatus(tx, IPSEC_IDENTITY_PATH, identityStatus);
      if (!sameGenerated(tx, generated)) replaceGenerated(tx, generated);
      for (const r of configuredPolicies(tx)) {
        const active = activePolicies.has(r.id);
        if ((r.data.active === true) !== active) tx.update(IPSEC_POLICY_PATH, r.id, active ? { ...r.data, active: true } : without(r.data, 'active'));
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Store → plan

interface Draft {
  plan: Omit<Plan, 'crls'>;
  crls: Buffer[];
  crlUse: boolean;
  /** Local CAs whose published CRL charon gets (crl-use=yes). */
  localCas: number[];
}

const enabled = (row: RowData): boolean => row.disabled !== true;

function readDraft(env: ServiceContext['app']['env'], tx: ReadTx): Draft {
  const settings = tx.get(IPSEC_SETTINGS_PATH, 1)?.data ?? {};
  const certSettings = readSettings(tx);
  const crlUse = certSettings.crlUse;
  const plan: Omit<Plan, 'crls'> = {
    ports: { ike: propValue(SETTINGS.ikePort, settings), natT: propValue(SETTINGS.natTPort, settings) },
    keys: [], shared: [], certs: [], pools: new Map(), conns: new Map(), info: new Map(), peerStatus: new Map(), identityStatus: new Map(),
  };
  const keyOf = new Set<string>();
  const certInfo = new Map<number, CertInfo>();
  const parsed = (id: number): { info: CertInfo; der: Buffer } | undefined => {
    const der = certificateDer(tx, id);
    if (!der) return undefined;
    let info = certInfo.get(id);
    if (!info) {
      try { info = parseCertificate(der); } catch { return undefined; }
      certInfo.set(id, info);
    }
    return { info, der };
  };
  const certName = (id: number): string => String(tx.get(CERT_PATH, id)?.data.name ?? `*${id.toString(16).toUpperCase()}`);

  const defaultProfile = builtinRowId(tx, IPSEC_PROFILE_PATH, 'default');
  const defaultProposal = builtinRowId(tx, IPSEC_PROPOSAL_PATH, 'default');
  const defaultGroup = builtinRowId(tx, IPSEC_GROUP_PATH, 'default');
  const encrypting = tx.list(IPSEC_POLICY_PATH)
    .filter((r) => enabled(r.data) && r.data[POLICY.dynamic.name] !== true && propValue(POLICY.action, r.data) === 'encrypt');
  const policies = encrypting.filter((r) => !propValue(POLICY.template, r.data));
  const templates = encrypting.filter((r) => propValue(POLICY.template, r.data));

  for (const peerRow of tx.list(IPSEC_PEER_PATH)) {
    const peer = peerRow.data;
    if (propValue(PEER.disabled, peer)) continue;
    const identities = tx.list(IPSEC_IDENTITY_PATH).filter((r) => r.data[IDENTITY.peer.name] === peerRow.id && enabled(r.data));
    const mode = propValue(PEER.exchangeMode, peer);
    // ike2 is IKEv2 (RFC 7296); main and aggressive are IKEv1's two Phase 1 exchanges (RFC 2409
    // §5). strongSwan has no Base Mode.
    const version = IKE_VERSIONS[mode];
    if (version === undefined) {
      plan.peerStatus.set(peerRow.id, `exchange-mode ${mode} is not supported, only ${Object.keys(IKE_VERSIONS).join(', ')}`);
      continue;
    }
    if (identities.length === 0) { plan.peerStatus.set(peerRow.id, 'no identity'); continue; }
    const profileRow = tx.get(IPSEC_PROFILE_PATH, Number(peer[PEER.profile.name] ?? defaultProfile ?? 0))?.data ?? {};
    let ike: string;
    try {
      ike = ikeProposal({
        hash: propValue(PROFILE.hashAlgorithm, profileRow), prf: propValue(PROFILE.prfAlgorithm, profileRow),
        enc: propValue(PROFILE.encAlgorithm, profileRow), dh: propValue(PROFILE.dhGroup, profileRow),
      });
    } catch (e) {
      if (!(e instanceof ConfigProblem)) throw e;
      plan.peerStatus.set(peerRow.id, `profile ${String(profileRow.name ?? '')}: ${e.message}`);
      continue;
    }
    const dpd = propValue(PROFILE.dpdInterval, profileRow);
    const address = peer[PEER.address.name] as string | undefined;
    const passive = propValue(PEER.passive, peer);
    const single = address !== undefined && peerAddresses(address) !== '%any' && !/\//.test(peerAddresses(address));
    const remoteAddrs = peerAddresses(address);

    // Children: the peer's policies (tunnel or transport, their proposal's ESP suites).
    const children: ChildSpec[] = [];
    const policyOf = new Map<string, number>();
    let policyProblem: string | undefined;
    for (const p of policies.filter((r) => r.data[POLICY.peer.name] === peerRow.id)) {
      const child = policyChild(tx, p, childName(p.id), defaultProposal, { start: !passive && single });
      if (typeof child === 'string') { policyProblem = child; continue; }
      policyOf.set(child.name, p.id);
      children.push(child);
    }

    let usable = 0;
    for (const idRow of identities) {
      const identity = idRow.data;
      const method = propValue(IDENTITY.authMethod, identity);
      const auth = AUTH_KINDS[method];
      if (auth === undefined) {
        plan.identityStatus.set(idRow.id, `auth-method ${method} is not supported yet, only ${Object.keys(AUTH_KINDS).join(', ')}`);
        continue;
      }
      let problem: string | undefined;
      let localId: string | undefined;
      let remoteId: string;
      const own: Array<{ der: Buffer; info: CertInfo }> = [];
      let remote: { info: CertInfo; der: Buffer } | undefined;
      const identityOf = (info: CertInfo): CertIdentity => ({ subjectDer: info.subjectDer, san: info.subjectAltNames.map((n) => `${n.type}:${n.value}`) });
      if (auth === 'pubkey') {
        // Own certificates with their keys (spec §4.7); the key goes to charon over vici only.
        for (const certId of propValue(IDENTITY.certificate, identity)) {
          const row = tx.get(CERT_PATH, certId);
          const c = row && parsed(certId);
          if (!row || !c) { problem ??= `certificate ${certName(certId)} is missing`; continue; }
          const key = typeof row.data.fingerprint === 'string' ? privateKey(env, tx, certId, row.data.fingerprint) : undefined;
          if (!key) { problem ??= `certificate ${certName(certId)} has no private key`; continue; }
          const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
          const sig = sha256(pkcs8);
          if (!keyOf.has(sig)) { keyOf.add(sig); plan.keys.push(pkcs8); }
          own.push(c);
        }
        if (own.length === 0) {
          plan.identityStatus.set(idRow.id, problem ?? 'no certificate');
          continue;
        }
        const remoteCertId = Number(identity[IDENTITY.remoteCertificate.name] ?? 0);
        remote = remoteCertId ? parsed(remoteCertId) : undefined;
        if (remoteCertId && !remote) {
          plan.identityStatus.set(idRow.id, `remote-certificate ${certName(remoteCertId)} is missing`);
          continue;
        }
        localId = localIdentity(propValue(IDENTITY.myId, identity), identityOf(own[0]!.info));
        remoteId = remoteIdentity(propValue(IDENTITY.remoteId, identity), remote && identityOf(remote.info));
      } else {
        // The secret goes to charon over vici only (load-shared), like certificates' keys.
        const secret = propValue(IDENTITY.secret, identity);
        if (secret === '') {
          plan.identityStatus.set(idRow.id, 'pre-shared-key without secret');
          continue;
        }
        const myId = propValue(IDENTITY.myId, identity);
        // my-id auto (and dn, which needs a certificate) leave charon its default: the local
        // address, what RouterOS sends with a PSK.
        localId = myId === 'auto' || myId === 'dn' ? undefined : localIdentity(myId, undefined);
        remoteId = remoteIdentity(propValue(IDENTITY.remoteId, identity), undefined);
        plan.shared.push({ data: secretBytes(secret), owners: sharedKeyOwners(version.version, remoteId, remoteAddrs) });
      }

      // Policies generated from the identity's template group (generate-policy), and the
      // addresses its mode-config hands out (spec §4.6).
      const connChildren = [...children];
      const templateOf = new Map<string, { id: number; data: RowData }>();
      const modeConfigId = propValue(IDENTITY.modeConfig, identity);
      const modeConfig = tx.get(IPSEC_MODE_CONFIG_PATH, modeConfigId)?.data;
      const pools = modeConfig && propValue(MODE_CONFIG.responder, modeConfig) ? modeConfigPools(tx, modeConfig) : undefined;
      if (typeof pools === 'string') {
        plan.identityStatus.set(idRow.id, pools);
        continue;
      }
      const poolNames: string[] = [];
      for (const [i, pool] of (pools ?? []).entries()) {
        // Named by the mode-config: identities sharing one share its leases.
        const name = `mode-config-${modeConfigId}-${i}`;
        plan.pools.set(name, poolSection(pool));
        poolNames.push(name);
      }
      const generate = propValue(IDENTITY.generatePolicy, identity);
      if (generate !== 'no') {
        const group = Number(identity[IDENTITY.policyTemplateGroup.name] ?? defaultGroup ?? 0);
        for (const t of templates.filter((r) => Number(r.data[POLICY.group.name] ?? defaultGroup ?? 0) === group)) {
          const child = policyChild(tx, t, templateName(t.id), defaultProposal, {
            start: false, ports: generate === 'port-strict', dynamicRemote: poolNames.length > 0,
          });
          if (typeof child === 'string') { problem ??= child; continue; }
          connChildren.push(child);
          templateOf.set(child.name, t);
        }
        if (connChildren.length === children.length) problem ??= 'generate-policy: no template in policy-template-group';
      }

      const name = connName(idRow.id);
      plan.conns.set(name, connectionSection({
        version: version.version,
        aggressive: version.aggressive,
        localAddrs: peer[PEER.localAddress.name] as string | undefined,
        remoteAddrs,
        remotePort: peer[PEER.port.name] as number | undefined,
        ike,
        ikeLifetime: seconds(propValue(PROFILE.lifetime, profileRow)),
        dpdDelay: dpd === 'disable-dpd' ? 0 : seconds(dpd),
        auth,
        localCerts: own.map((c) => c.der),
        localId,
        remoteId,
        remoteCerts: remote ? [remote.der] : [],
        revocation: crlUse ? 'strict' : 'relaxed',
        pools: poolNames,
        children: connChildren,
      }));
      plan.info.set(name, { peerId: peerRow.id, peerName: String(peer.name ?? ''), identityId: idRow.id, policies: policyOf, templates: templateOf });
      if (problem) plan.identityStatus.set(idRow.id, problem);
      usable++;
    }
    if (usable === 0) plan.peerStatus.set(peerRow.id, 'no usable identity');
    else if (policyProblem) plan.peerStatus.set(peerRow.id, policyProblem);
  }
  // With no connection charon is stopped and needs no trust anchors or CRLs: a reconcile follows
  // every commit, and reading every certificate's DER each time made issuing O(n) per certificate.
  if (plan.conns.size === 0) return { plan, crls: [], crlUse, localCas: [] };
  // Trust anchors for ipsec (spec §1.4): trusted, not revoked, trust-store admits ipsec, and a CA
  // or self-signed (a trusted leaf given to charon would let its holder in without its CA).
  for (const row of trustAnchors(tx, COMPONENT)) {
    const der = certificateDer(tx, row.id);
    if (der) plan.certs.push({ der, ca: row.data.authority === true });
  }
  // The built-in roots when builtin-trust-store names ipsec (spec §1.4 rule 3: not by default).
  if (builtinsTrustedFor(certSettings, COMPONENT)) for (const root of builtinRoots()) plan.certs.push({ der: root.der, ca: true });
  const localCas = crlUse
    ? tx.list(CERT_PATH).filter((r) => r.data.authority === true && r.data['private-key'] === true).map((r) => r.id)
    : [];
  const crls = crlUse
    ? tx.list(CRL_MENU_PATH).map((r) => loadedCrl(env, tx, r.id)?.der).filter((d): d is Buffer => d !== undefined)
    : [];
  return { plan, crls, crlUse, localCas };
}

/**
 * The CHILD_SA of one policy, or what is wrong with its proposal. A template (generate-policy)
 * is matched against what the initiator asks for: charon narrows the selectors to the peer's
 * (RFC 7296 §2.9). Its `::/0` (the built-in template) stands for every address of both
 * families, as RouterOS's default template matches IPv4 peers too; port-override drops the
 * template's ports ("any port", the manual), port-strict keeps them; with a mode-config
 * handing out addresses the remote side is the address the peer was given (`dynamic`).
 */
function policyChild(
  tx: ReadTx, p: { id: number; data: RowData }, name: string, defaultProposal: number | undefined,
  opts: { start: boolean; ports?: boolean; dynamicRemote?: boolean },
): ChildSpec | string {
  const proposalRow = tx.get(IPSEC_PROPOSAL_PATH, Number(p.data[POLICY.proposal.name] ?? defaultProposal ?? 0))?.data ?? {};
  let esp: string[];
  try {
    esp = espProposals({ auth: propValue(PROPOSAL.authAlgorithms, proposalRow), enc: propValue(PROPOSAL.encAlgorithms, proposalRow), pfs: propValue(PROPOSAL.pfsGroup, proposalRow) });
  } catch (e) {
    if (!(e instanceof ConfigProblem)) throw e;
    return `proposal ${String(proposalRow.name ?? '')}: ${e.message}`;
  }
  const template = propValue(POLICY.template, p.data);
  const protocol = propValue(POLICY.protocol, p.data);
  const side = (prefix: string | undefined, port: number | 'any'): string[] => {
    const usePort = opts.ports === false ? 'any' : port;
    const nets = template && (prefix === undefined || prefix === '::/0') ? ['0.0.0.0/0', '::/0'] : [prefix];
    return nets.map((n) => trafficSelector(n, protocol, usePort));
  };
  return {
    name, tunnel: propValue(POLICY.tunnel, p.data), esp, lifetime: seconds(propValue(PROPOSAL.lifetime, proposalRow)),
    localTs: side(p.data[POLICY.srcAddress.name] as string | undefined, propValue(POLICY.srcPort, p.data)),
    remoteTs: opts.dynamicRemote ? ['dynamic'] : side(p.data[POLICY.dstAddress.name] as string | undefined, propValue(POLICY.dstPort, p.data)),
    start: opts.start,
  };
}

/**
 * The pools a responder's mode-config hands addresses from (spec §4.6): the ranges of its
 * `address-pool` (an /ip pool by name, then its next-pool chain), else its one `address`;
 * with them the DNS servers (`static-dns`, else the router's own /ip dns servers when
 * `system-dns=yes`), `split-include` as INTERNAL_IP4_SUBNET and `address-prefix-length` as
 * INTERNAL_IP4_NETMASK. A string says what is wrong.
 */
function modeConfigPools(tx: ReadTx, mc: RowData): PoolSpec[] | string {
  const ranges: string[] = [];
  const poolName = mc[MODE_CONFIG.addressPool.name] as string | undefined;
  if (poolName !== undefined) {
    let pool: { id: number; data: RowData } | undefined = tx.findBy(POOL_PATH, 'name', poolName)[0];
    if (!pool) return `mode-config ${String(mc.name ?? '')}: address-pool ${poolName} does not exist`;
    const seen = new Set<number>();
    while (pool && !seen.has(pool.id)) {
      seen.add(pool.id);
      ranges.push(...(pool.data.ranges as string[] | undefined ?? []));
      pool = tx.get(POOL_PATH, Number(pool.data['next-pool'] ?? 0));
    }
  } else if (mc[MODE_CONFIG.address.name] !== undefined) {
    ranges.push(String(mc[MODE_CONFIG.address.name]));
  } else {
    return `mode-config ${String(mc.name ?? '')}: neither address-pool nor address`;
  }
  const staticDns = propValue(MODE_CONFIG.staticDns, mc) ?? [];
  const systemDns = propValue(MODE_CONFIG.systemDns, mc) ? propValue(DNS.servers, tx.get(DNS_PATH, 1)?.data ?? {}) ?? [] : [];
  const dns = (staticDns.length ? staticDns : systemDns).map((d) => d.replace(/@.*$/, ''));
  const subnets = propValue(MODE_CONFIG.splitInclude, mc) ?? [];
  // charon's pools are one subnet or range each (swanctl.conf(5) "pools"); a single address is a host subnet.
  const prefixLength = mc[MODE_CONFIG.addressPrefixLength.name] as number | undefined;
  return ranges.map((r) => ({ addrs: /[-/]/.test(r) ? r : `${r}/${r.includes(':') ? 128 : 32}`, dns, subnets, prefixLength }));
}

// ---------------------------------------------------------------------------------------------
// Rows

function without(data: RowData, key: string): RowData {
  const copy = { ...data };
  delete copy[key];
  return copy;
}

function clean(data: Record<string, unknown>): RowData {
  const out: RowData = {};
  for (const [k, v] of Object.entries(data)) if (v !== undefined && v !== '') out[k] = v as RowData[string];
  return out;
}

/** The policies a user configured (not generated: those are written whole). */
const configuredPolicies = (tx: ReadTx) => tx.list(IPSEC_POLICY_PATH).filter((r) => r.data[POLICY.dynamic.name] !== true);
const generatedPolicies = (tx: ReadTx) => tx.list(IPSEC_POLICY_PATH).filter((r) => r.data[POLICY.dynamic.name] === true);

function sameGenerated(tx: ReadTx, rows: readonly RowData[]): boolean {
  const have = generatedPolicies(tx);
  return have.length === rows.length && have.every((r, i) => JSON.stringify(r.data) === JSON.stringify(rows[i]));
}

function replaceGenerated(tx: WriteTx, rows: readonly RowData[]): void {
  for (const r of generatedPolicies(tx)) tx.remove(IPSEC_POLICY_PATH, r.id);
  for (const r of rows) tx.insert(IPSEC_POLICY_PATH, r);
}

/**
 * The policy RouterOS shows for an installed CHILD_SA generated from a template (flags D A): the
 * selectors charon agreed (`10.0.0.0/8`, `10.0.0.0/8[tcp/80]`), the SA's addresses, and the
 * template's group and proposal.
 */
function generatedPolicy(template: RowData, peerId: number, localTs: string, remoteTs: string, tunnel: boolean, local?: string, remote?: string): RowData {
  const selector = (ts: string): { net: string; proto?: string; port: number | 'any' } => {
    const m = /^([^[]+)(?:\[([^/\]]*)(?:\/([^\]]*))?\])?$/.exec(ts);
    const proto = m?.[2] && m[2] !== '%any' ? m[2] : undefined;
    const port = m?.[3] && /^\d+$/.test(m[3]) ? Number(m[3]) : 'any';
    return { net: m?.[1] ?? ts, proto, port };
  };
  const l = selector(localTs), r = selector(remoteTs);
  return clean({
    [POLICY.peer.name]: peerId,
    [POLICY.group.name]: template[POLICY.group.name] as number | undefined,
    [POLICY.srcAddress.name]: l.net,
    [POLICY.srcPort.name]: l.port,
    [POLICY.dstAddress.name]: r.net,
    [POLICY.dstPort.name]: r.port,
    [POLICY.protocol.name]: l.proto ?? r.proto ?? propValue(POLICY.protocol, template),
    [POLICY.action.name]: 'encrypt',
    level: template.level as string | undefined,
    'ipsec-protocols': template['ipsec-protocols'] as string[] | undefined,
    [POLICY.tunnel.name]: tunnel,
    'sa-src-address': local,
    'sa-dst-address': remote,
    [POLICY.proposal.name]: template[POLICY.proposal.name] as number | undefined,
    [POLICY.dynamic.name]: true,
    active: true,
  });
}

function clearDynamicRows(tx: WriteTx): void {
  replaceRows(tx, IPSEC_ACTIVE_PEERS_PATH, []);
  replaceRows(tx, IPSEC_INSTALLED_SA_PATH, []);
}

function statusDiffers(tx: ReadTx, p: string, status: ReadonlyMap<number, string>): boolean {
  return tx.list(p).some((r) => (r.data.status ?? undefined) !== status.get(r.id));
}

function writeStatus(tx: WriteTx, p: string, status: ReadonlyMap<number, string>): void {
  for (const r of tx.list(p)) {
    const s = status.get(r.id);
    if ((r.data.status ?? undefined) === s) continue;
    tx.update(p, r.id, s === undefined ? without(r.data, 'status') : { ...r.data, status: s });
  }
}

function isBufferJson(v: unknown): v is { type: 'Buffer'; data: number[] } {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data);
}

/** charon's algorithm names in RouterOS's words: AES_GCM_16 → aes-gcm, HMAC_SHA2_256_128 → sha256. */
function cipherName(alg: string | undefined): string | undefined {
  if (!alg) return undefined;
  const m = /^(AES|CAMELLIA)_(CBC|CTR|GCM|CCM)/.exec(alg);
  if (m) return `${m[1]!.toLowerCase()}-${m[2]!.toLowerCase()}`;
  if (alg === 'CHACHA20_POLY1305') return 'chacha20poly1305';
  return alg.toLowerCase().replace(/_cbc$/, '').replace(/_/g, '-');
}

function integrityName(alg: string | undefined): string | undefined {
  if (!alg) return undefined;
  const m = /^HMAC_(MD5|SHA1|SHA2_(\d+))/.exec(alg);
  if (m) return m[2] ? `sha${m[2]}` : m[1]!.toLowerCase();
  return alg.toLowerCase();
}

/** A plugin charon needs that is not installed beside it: what to tell the user, or undefined. */
function missingPlugin(): string | undefined {
  const dir = path.join(path.dirname(CHARON.program()), 'plugins');
  for (const [plugin, pkg] of Object.entries(REQUIRED_PLUGINS)) {
    if (!fs.existsSync(path.join(dir, `libstrongswan-${plugin}.so`))) return `charon's ${plugin} plugin is not installed (Debian package ${pkg})`;
  }
  return undefined;
}

/**
 * Whether charon can get a private /run (root, util-linux's unshare, a kernel that allows mount
 * namespaces, and a runtime folder outside /run). Asked once per process.
 */
let privateRun: boolean | undefined;
function privateRunAvailable(runDir: string): boolean {
  if (/^\/(?:var\/)?run\//.test(runDir)) return false;
  if (privateRun === undefined) {
    privateRun = process.getuid?.() === 0 && findProgram('unshare') !== undefined
      && spawnSync('unshare', ['--mount', '--', 'true'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  }
  return privateRun;
}
