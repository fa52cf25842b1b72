// One ACME certificate, from the directory to the stored row (issue 14; spec §5): the policy
// around the protocol of src/acme. An attempt is a job: at most one per certificate runs at a
// time, whoever asked for it (enable-ssl-certificate, add-acme, acme-renew, the daemon's renewal
// loop) waits for the same job, and a job outlives its waiters (a REST request that times out, a
// Ctrl-C): it ends with the certificate stored or with the failure recorded, never half way.
//
// The steps: the account (created once per directory, its key sealed like every private key,
// reused), the order, one challenge per name chosen from what the server offers and what this
// host can answer (HTTP-01 on port 80, else TLS-ALPN-01 on port 443; when the CA could not
// connect for HTTP-01, the order is tried again with TLS-ALPN-01), the CSR, the chain. Only then
// one write transaction stores the intermediates, the certificate and its key; a renewal swaps
// them into the same row (same id, so www-ssl and every other binding keep it; same name; new
// serial). A failure changes no certificate: the previous one stays bound and served.

import type { KeyObject } from 'node:crypto';
import {
  AcmeAborted, AcmeClient, AcmeProblem, AcmeTimeout, isToken, renewalCertId,
  type Authorization, type Challenge, type Directory, type HttpTransport, type Order, type RenewalInfo,
} from '../../acme/index.js';
import { formatDate, formatUtcStamp, type TimeZone } from '../../clock.js';
import { failure, RosError } from '../../errors.js';
import { toRosError } from '../../menu/failures.js';
import { propValue } from '../../menu/generic.js';
import type { Environment, Session } from '../../menu/types.js';
import { createCsr } from '../../pki/csr.js';
import {
  exportSpkiDer, generateKeyDer, importPkcs8Der, isKeySize, parseCertificate, pemDecode, type CertInfo, type KeySize,
} from '../../pki/index.js';
import type { ReadTx, RowData, WriteTx } from '../../store/store.js';
import { acmeResponder, challengePorts, shareHttp01, shareTlsAlpn, type ChallengePorts, type ChallengeType, type Reach } from './acme-responder.js';
import { ACME, ACME_KIND, acmeDueAt, acmeKind, backoffMs, isAcmeManaged, type AcmeKind, type AcmeStatus } from './acme-state.js';
import { certificateFacts } from './facts.js';
import { DER_BLOB, privateKey, storeKey } from './keys.js';
import { CERT, CERT_PATH, isTemplate } from './properties.js';

/** RouterOS's default directory (spec §5.1). */
export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

/** The trust-store component whose anchors judge the ACME server's HTTPS certificate. */
export const ACME_TRUST_COMPONENT = 'www';

/** Accounts, one per directory, outside every menu (nothing prints, exports or imports them). */
export const ACCOUNT_PATH = '/.acme-account';
export const ACCOUNT_KEY_BLOB = 'key';
/** External account binding (sealed) kept until an account exists: on the account, or on a waiting add-acme row. */
const EAB_BLOB = 'acme-eab';
/** /ip service, read by path: menus/ip refers to this folder, never the other way round. */
const SERVICE_PATH = '/ip/service';

/** A job ends within this, whatever the server does. */
const JOB_LIMIT_MS = 10 * 60_000;
/** Validation and issuance polls end within this. */
const POLL_LIMIT_MS = 3 * 60_000;

const EAB_REQUIRED = 'the ACME server requires external account binding: give eab-kid= and eab-hmac-key=';

export interface Eab {
  kid: string;
  macKey: Buffer;
}

/** What to get: the names, from where, and which row it renews (none: a new row). */
export interface IssueTarget {
  kind: AcmeKind;
  rowId?: number;
  names: readonly string[];
  directoryUrl: string;
  eab?: Eab;
  /** A new account key and a new certificate key (enable-ssl-certificate reset-private-key=yes). */
  reset?: boolean;
}

export interface IssueResult {
  rowId: number;
  name: string;
}

type Report = (line: string) => void;

// ---------------------------------------------------------------------------------------------
// Jobs: at most one per certificate

interface Job {
  readonly promise: Promise<IssueResult>;
  readonly listeners: Set<Report>;
  readonly controller: AbortController;
  last?: string;
}

const jobs = (env: Environment) => env.cache.table<string, Job>('acme.jobs');

/** The job under `key`: the running one, or a new one. */
function startJob(env: Environment, key: string, run: (report: Report, signal: AbortSignal) => Promise<IssueResult>): Job {
  const table = jobs(env);
  const running = table.get(key);
  if (running) return running;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new AcmeTimeout('the ACME order')), JOB_LIMIT_MS);
  timer.unref();
  const listeners = new Set<Report>();
  const job: Job = {
    listeners, controller,
    promise: Promise.resolve().then(() => run((line) => {
      job.last = line;
      for (const l of listeners) l(line);
    }, controller.signal)).finally(() => {
      clearTimeout(timer);
      if (table.get(key) === job) table.delete(key);
    }),
  };
  job.promise.catch(() => {}); // its waiters (if any) see the failure; it is recorded anyway
  table.set(key, job);
  return job;
}

/** Whether a job runs for `key` (the renewal loop starts none beside it). */
export const jobRunning = (env: Environment, key: string): boolean => jobs(env).has(key);

export const rowJobKey = (rowId: number): string => `row:${rowId}`;

/** Waits for a job, showing its progress to the session; the caller's cancel stops the wait only. */
export async function waitForJob(job: Job, session: Session): Promise<IssueResult> {
  const show: Report = (line) => session.progress?.([['progress', line]], { progress: line });
  if (job.last) show(job.last);
  job.listeners.add(show);
  try {
    const signal = session.signal;
    if (!signal) return await job.promise;
    if (signal.aborted) throw new RosError('interrupted', 'interrupted');
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new RosError('interrupted', 'interrupted'));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([job.promise, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort!);
    }
  } finally {
    job.listeners.delete(show);
  }
}

/** Stops every running job (the daemon stops); each records its interruption. */
export function abortJobs(env: Environment): void {
  for (const job of jobs(env).values()) job.controller.abort(new AcmeAborted());
}

/** Issuance for enable-ssl-certificate: renews its row in place, or makes a new one. */
export function sslJob(env: Environment, target: IssueTarget): Job {
  const key = target.rowId !== undefined ? rowJobKey(target.rowId) : `ssl:${target.names.join(',')}`;
  return startJob(env, key, (report, signal) => attempt(env, target, report, signal));
}

/** A renewal (or first issuance) of an ACME row as it is stored (add-acme, acme-renew, the daemon). */
export function rowJob(env: Environment, rowId: number): Job {
  return startJob(env, rowJobKey(rowId), async (report, signal) => {
    const target = await env.store.read((tx) => targetOfRow(env, tx, rowId));
    return attempt(env, target, report, signal);
  });
}

function targetOfRow(env: Environment, tx: ReadTx, rowId: number): IssueTarget {
  const row = tx.get(CERT_PATH, rowId);
  const kind = row ? acmeKind(row.data) : undefined;
  if (!row || !kind) throw failure('the certificate is not managed by ACME any more');
  const names = row.data[ACME.domainNames];
  const sealed = tx.getBlob(CERT_PATH, rowId, EAB_BLOB);
  return {
    kind, rowId,
    names: Array.isArray(names) ? names.map(String) : [],
    directoryUrl: String(row.data[ACME.directoryUrl] ?? LETS_ENCRYPT_DIRECTORY),
    eab: sealed ? unsealEab(env, sealed) : undefined,
  };
}

export function sealEab(env: Environment, eab: Eab): Buffer {
  return env.store.seal(Buffer.from(JSON.stringify({ kid: eab.kid, key: eab.macKey.toString('base64url') })));
}

function unsealEab(env: Environment, sealed: Buffer): Eab | undefined {
  try {
    const o = JSON.parse(env.store.unseal(sealed).toString('utf8')) as { kid?: string; key?: string };
    return o.kid && o.key ? { kid: o.kid, macKey: Buffer.from(o.key, 'base64url') } : undefined;
  } catch {
    return undefined;
  }
}

export { EAB_BLOB };

// ---------------------------------------------------------------------------------------------
// An attempt: status, the issuance, and the failure recorded

/** A failure of an attempt, with the wait the server asked for. */
class AttemptFailure extends RosError {
  constructor(message: string, readonly retryAfterMs?: number) {
    super('failure', message);
  }
}

async function attempt(env: Environment, target: IssueTarget, report: Report, signal: AbortSignal): Promise<IssueResult> {
  if (target.rowId !== undefined) await setStatus(env, target.rowId, 'processing');
  try {
    return await issue(env, target, report, signal);
  } catch (e) {
    const err = await explain(env, e, signal);
    // Stopped (the daemon ends): not a failure; the row waits for the next daemon as it was.
    if (err.kind === 'interrupted') {
      if (target.rowId !== undefined) await setStatus(env, target.rowId, undefined).catch(() => {});
    } else {
      await recordFailure(env, target, err);
    }
    throw err;
  }
}

/** Sets acme-status; undefined: what the row is without a job (valid with a certificate, else pending or failed). */
async function setStatus(env: Environment, rowId: number, status: AcmeStatus | undefined): Promise<void> {
  await env.store.write((tx) => {
    const row = tx.get(CERT_PATH, rowId);
    if (!row || !isAcmeManaged(row.data)) return;
    const settled: AcmeStatus = row.data[ACME.error] !== undefined ? 'failed' : row.data.fingerprint !== undefined ? 'valid' : 'pending';
    const next = status ?? settled;
    if (row.data[ACME.status] !== next) tx.update(CERT_PATH, rowId, { ...row.data, [ACME.status]: next });
  });
}

async function recordFailure(env: Environment, target: IssueTarget, err: RosError): Promise<void> {
  const retry = err instanceof AttemptFailure ? err.retryAfterMs : undefined;
  await env.store.write((tx) => {
    const row = target.rowId !== undefined ? tx.get(CERT_PATH, target.rowId) : undefined;
    const name = row ? String(row.data.name) : undefined;
    if (row && isAcmeManaged(row.data)) {
      const before = row.data[ACME.failures];
      const failures = (typeof before === 'number' ? before : 0) + 1;
      tx.update(CERT_PATH, row.id, {
        ...row.data, [ACME.status]: 'failed', [ACME.error]: err.message, [ACME.failures]: failures,
        [ACME.retryAt]: env.clock.now() + backoffMs(failures, retry),
      });
    }
    // RouterOS's log line, with the reason (spec §5.1).
    const what = target.kind === 'ssl' ? 'ssl certificate' : `certificate ${name ?? target.names.join(',')}`;
    env.log(tx, 'acme,error', `failed to update ${what}: ${err.message}`);
  }).catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// Transport: rospki's HTTP client, TLS judged by the trust engine

/** The ACME server could not be reached or was not trusted. */
class Unreachable extends Error {
  constructor(readonly url: string, readonly reason: string) {
    super(reason);
  }
}

function transport(env: Environment): HttpTransport {
  return async (req, signal) => {
    const { httpRequest } = await import('./http-client.js');
    try {
      const res = await httpRequest({
        url: req.url, method: req.method, headers: req.headers, body: req.body,
        maxBytes: 1024 * 1024, idleTimeoutMs: 20_000, totalTimeoutMs: 60_000, maxRedirects: 0, signal,
        verifyTls: (chain, host) => env.trust.assertTrusted({ chain, host, service: ACME_TRUST_COMPONENT, mode: 'yes-without-crl' }),
      });
      return { status: res.status, headers: res.headers, body: res.body };
    } catch (e) {
      if (e instanceof RosError && e.kind !== 'interrupted') throw new Unreachable(req.url, e.message);
      if (e instanceof RosError) throw new AcmeAborted();
      throw e;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Accounts

interface StoredAccount {
  id: number;
  url: string;
  key: KeyObject;
  eab?: Eab;
}

function storedAccount(env: Environment, tx: ReadTx, directoryUrl: string): StoredAccount | undefined {
  const row = tx.findBy(ACCOUNT_PATH, 'directory', directoryUrl).find((r) => r.data.status === 'valid');
  const sealed = row && tx.getBlob(ACCOUNT_PATH, row.id, ACCOUNT_KEY_BLOB);
  if (!row || !sealed) return undefined;
  const eab = tx.getBlob(ACCOUNT_PATH, row.id, EAB_BLOB);
  return { id: row.id, url: String(row.data.url), key: importPkcs8Der(env.store.unseal(sealed)), eab: eab ? unsealEab(env, eab) : undefined };
}

/** The binding an earlier account of the directory was made with (to register again after it was deactivated). */
function earlierEab(env: Environment, tx: ReadTx, directoryUrl: string): Eab | undefined {
  for (const row of tx.findBy(ACCOUNT_PATH, 'directory', directoryUrl)) {
    const sealed = tx.getBlob(ACCOUNT_PATH, row.id, EAB_BLOB);
    const eab = sealed && unsealEab(env, sealed);
    if (eab) return eab;
  }
  return undefined;
}

/** The client with this directory's account: the stored one, or a new key registered now. */
async function openAccount(env: Environment, target: IssueTarget, http: HttpTransport, report: Report, signal: AbortSignal): Promise<{ client: AcmeClient; dir: Directory }> {
  const stored = target.reset ? undefined : await env.store.read((tx) => storedAccount(env, tx, target.directoryUrl));
  if (stored) {
    const client = new AcmeClient({ directoryUrl: target.directoryUrl, http, accountKey: stored.key, accountUrl: stored.url, signal });
    return { client, dir: await client.directory() };
  }
  const keyDer = await generateKeyDer('prime256v1');
  const client = new AcmeClient({ directoryUrl: target.directoryUrl, http, accountKey: importPkcs8Der(keyDer.pkcs8), signal });
  const dir = await client.directory();
  const eab = target.eab ?? await env.store.read((tx) => earlierEab(env, tx, target.directoryUrl));
  if (dir.meta?.externalAccountRequired && !eab) throw new AttemptFailure(EAB_REQUIRED);
  report('registering account');
  try {
    await client.newAccount({ eab });
  } catch (e) {
    if (e instanceof AcmeProblem && e.is('externalAccountRequired')) throw new AttemptFailure(EAB_REQUIRED);
    if (e instanceof AcmeProblem && eab && (e.is('unauthorized') || e.is('malformed') || e.is('badSignatureAlgorithm'))) {
      throw new AttemptFailure(`the ACME server refused the external account binding (eab-kid=${eab.kid}): ${e.text()}`);
    }
    throw e;
  }
  await env.store.write((tx) => {
    // One valid account per directory: an earlier one (deactivated, or replaced by reset-private-key) is kept as history.
    for (const old of tx.findBy(ACCOUNT_PATH, 'directory', target.directoryUrl)) {
      if (old.data.status === 'valid') tx.update(ACCOUNT_PATH, old.id, { ...old.data, status: 'replaced' });
    }
    const id = tx.insert(ACCOUNT_PATH, { directory: target.directoryUrl, url: client.accountUrl!, status: 'valid', created: env.clock.now() });
    tx.setBlob(ACCOUNT_PATH, id, ACCOUNT_KEY_BLOB, env.store.seal(keyDer.pkcs8));
    if (eab) tx.setBlob(ACCOUNT_PATH, id, EAB_BLOB, sealEab(env, eab));
    env.log(tx, 'acme,info', `account registered at ${new URL(target.directoryUrl).host}`);
  });
  return { client, dir };
}

/** The server refused the account: when it says the account is gone, the next attempt registers anew. */
async function accountGone(env: Environment, client: AcmeClient, directoryUrl: string, e: AcmeProblem): Promise<AttemptFailure | undefined> {
  if (!e.is('unauthorized') && !e.is('accountDoesNotExist')) return undefined;
  let status: string;
  try {
    status = e.is('accountDoesNotExist') ? 'gone' : (await client.account()).status;
  } catch (again) {
    if (!(again instanceof AcmeProblem) || !(again.is('unauthorized') || again.is('accountDoesNotExist'))) return undefined;
    status = 'deactivated';
  }
  if (status === 'valid') return undefined;
  await env.store.write((tx) => {
    for (const row of tx.findBy(ACCOUNT_PATH, 'url', client.accountUrl)) {
      if (row.data.directory === directoryUrl) tx.update(ACCOUNT_PATH, row.id, { ...row.data, status });
    }
  });
  return new AttemptFailure(`the ACME account is ${status === 'gone' ? 'unknown to the server' : 'deactivated or revoked'} (${e.text()}); a new account is registered at the next attempt`);
}

// ---------------------------------------------------------------------------------------------
// The issuance

async function issue(env: Environment, target: IssueTarget, report: Report, signal: AbortSignal): Promise<IssueResult> {
  const names = [...target.names];
  if (names.length === 0) throw new AttemptFailure('no domain names');
  report(`connecting to ${new URL(target.directoryUrl).host}`);
  const http = transport(env);
  const { client, dir } = await openAccount(env, target, http, report, signal);

  // The certificate key: the row's own (a renewal keeps it), or a new one.
  const current = await env.store.read((tx) => currentOf(env, tx, target));
  let key = target.reset ? undefined : current?.key;
  let newKey: Buffer | undefined;
  if (!key) {
    report('generating key');
    const der = await generateKeyDer(current?.keySize ?? 'prime256v1');
    newKey = der.pkcs8;
    key = importPkcs8Der(der.pkcs8);
  }

  // RFC 9773 §5: a renewal names the certificate it replaces, where the server knows renewals.
  const replaces = dir.renewalInfo && current?.der ? renewalCertId(current.der) : undefined;
  const order = await orderAndAuthorize(env, client, target, names, replaces, report, signal);

  report('finalizing');
  const deadline = () => Date.now() + POLL_LIMIT_MS;
  let ready = order.order;
  if (ready.status === 'pending') ready = await client.waitOrder(order.url, ['pending'], deadline());
  if (ready.status !== 'ready' && ready.status !== 'valid') throw orderFailed(ready);
  const csr = createCsr({
    // RFC 8555 §7.4: the names go into subjectAltName; a common name only when it fits (64 characters).
    subject: names[0]!.length <= 64 ? { commonName: names[0] } : {},
    subjectAltName: names.map((n) => `DNS:${n}`).join(','), keyUsage: '', digest: 'sha256', privateKey: key,
  });
  let done = ready.status === 'valid' ? ready : await client.finalize(ready, csr);
  if (done.status !== 'valid') done = await client.waitOrder(order.url, ['ready', 'processing'], deadline());
  if (done.status !== 'valid' || !done.certificate) throw orderFailed(done);

  report('downloading certificate');
  const chain = parseChain(await client.certificateChain(done.certificate));
  if (!chain[0]!.publicKey.equals(exportSpkiDer(key))) throw new AttemptFailure('the ACME server returned a certificate for another key');

  let ari: RenewalInfo | undefined;
  if (dir.renewalInfo) {
    const id = renewalCertId(chain[0]!.der);
    if (id) ari = await client.renewalInfo(id).catch(() => undefined);
  }
  return env.store.write((tx) => storeIssued(env, tx, { target, names, chain, newKey, ari, offersAri: dir.renewalInfo !== undefined }));
}

/** The row's certificate, key and key size, when the target renews one. */
function currentOf(env: Environment, tx: ReadTx, target: IssueTarget): { key?: KeyObject; der?: Buffer; keySize?: KeySize } | undefined {
  if (target.rowId === undefined) return undefined;
  const row = tx.get(CERT_PATH, target.rowId);
  if (!row) throw new AttemptFailure('the certificate was removed');
  if (isTemplate(row.data)) {
    // An add-acme row before its first certificate: its key-size decides the key.
    const size = propValue(CERT.keySize, row.data);
    return { keySize: isKeySize(size) ? size : undefined };
  }
  const fingerprint = String(row.data.fingerprint);
  const key = row.data['private-key'] === true ? privateKey(env, tx, row.id, fingerprint) : undefined;
  return { key, der: tx.getBlob(CERT_PATH, row.id, DER_BLOB) };
}

/**
 * An order with every authorization valid. When the CA could not connect for HTTP-01 (port 80
 * closed: issue 14, Problem 3) and TLS-ALPN-01 is offered, a second order answers with that.
 */
async function orderAndAuthorize(
  env: Environment, client: AcmeClient, target: IssueTarget, names: string[], replaces: string | undefined, report: Report, signal: AbortSignal,
): Promise<{ url: string; order: Order }> {
  const ports = challengePorts();
  let first: ChallengeFailed | undefined;
  for (const excluded of [[], ['http-01']] as ChallengeType[][]) {
    report(`ordering certificate for ${names.join(', ')}`);
    const placed = await newOrder(env, client, target, names, replaces);
    try {
      await authorize(env, client, placed.order, ports, excluded, report, signal);
      return placed;
    } catch (e) {
      if (first && e instanceof AttemptFailure) throw new AttemptFailure(`${first.message}; then ${e.message}`);
      if (!(e instanceof ChallengeFailed) || e.type !== 'http-01' || !e.unreachable || !e.alternative) throw e;
      first = e;
      report(`the CA could not reach port ${e.port}: trying tls-alpn-01 on port ${ports['tls-alpn-01']}`);
    }
  }
  throw first!;
}

async function newOrder(env: Environment, client: AcmeClient, target: IssueTarget, names: string[], replaces: string | undefined): Promise<{ url: string; order: Order }> {
  try {
    try {
      return await client.newOrder(names, { replaces });
    } catch (e) {
      // A server that will not take this `replaces` (already replaced, another account's): order plainly.
      if (replaces && e instanceof AcmeProblem && (e.is('alreadyReplaced') || e.is('malformed'))) return await client.newOrder(names);
      throw e;
    }
  } catch (e) {
    if (e instanceof AcmeProblem) {
      const gone = await accountGone(env, client, target.directoryUrl, e);
      if (gone) throw gone;
    }
    throw e;
  }
}

function orderFailed(order: Order): AttemptFailure {
  const detail = order.error ? new AcmeProblem(order.error, 403).text() : `the order is ${order.status}`;
  return new AttemptFailure(`the ACME server did not issue the certificate: ${detail}`);
}

/** The PEM chain (RFC 8555 §7.4.2), leaf first. */
function parseChain(pem: string): CertInfo[] {
  let certs: CertInfo[];
  try {
    certs = pemDecode(pem).filter((b) => b.label === 'CERTIFICATE').map((b) => parseCertificate(b.der));
  } catch (e) {
    throw new AttemptFailure(`the ACME server returned an unreadable certificate: ${(e as Error).message}`);
  }
  if (certs.length === 0) throw new AttemptFailure('the ACME server returned no certificate');
  return certs;
}

// ---------------------------------------------------------------------------------------------
// Challenges

/** The challenges rospki answers, in the order it prefers them (HTTP-01 is RouterOS's). */
const ANSWERED: readonly ChallengeType[] = ['http-01', 'tls-alpn-01'];

/** A challenge the CA did not accept. */
class ChallengeFailed extends AttemptFailure {
  constructor(
    message: string, readonly type: ChallengeType, readonly port: number,
    /** The CA could not connect at all (a closed port, not a wrong answer). */
    readonly unreachable: boolean,
    /** The server offered a challenge of the other kind too. */
    readonly alternative: boolean,
  ) {
    super(message);
  }
}

/** Answers every pending authorization of an order and waits until the CA has judged them. */
async function authorize(
  env: Environment, client: AcmeClient, order: Order, ports: ChallengePorts, excluded: readonly ChallengeType[], report: Report, signal: AbortSignal,
): Promise<void> {
  const responder = acmeResponder(env);
  const reaches = new Map<ChallengeType, Promise<Reach>>();
  const reach = (type: ChallengeType): Promise<Reach> => {
    let r = reaches.get(type);
    if (!r) reaches.set(type, (r = responder.reach(type, ports, env.clock.now())));
    return r;
  };
  const cleanups: Array<() => void> = [];
  try {
    const waiting: Array<{ url: string; name: string; challenge: Challenge; type: ChallengeType; port: number; alternative: boolean }> = [];
    for (const url of order.authorizations) {
      if (signal.aborted) throw new AcmeAborted();
      const authz = await client.authorization(url);
      const name = nameOf(authz);
      if (authz.status === 'valid') continue;
      if (authz.status !== 'pending') throw new AttemptFailure(`${name}: the ACME server says the authorization is ${authz.status}`);
      const tried: Array<Reach & { ok: false }> = [];
      let chosen: { challenge: Challenge; reach: Reach & { ok: true } } | undefined;
      for (const type of ANSWERED) {
        if (excluded.includes(type)) continue;
        const challenge = authz.challenges.find((c) => c.type === type && c.token !== undefined && isToken(c.token));
        if (!challenge) continue;
        const r = await reach(type);
        if (r.ok) { chosen = { challenge, reach: r }; break; }
        tried.push(r);
      }
      if (!chosen) throw noChallenge(authz, tried);
      const { challenge } = chosen;
      const type = chosen.reach.type;
      const keyAuthorization = client.keyAuthorization(challenge.token!);
      cleanups.push(type === 'http-01'
        ? responder.addHttp(challenge.token!, keyAuthorization)
        : responder.addTlsAlpn(authz.identifier.value, keyAuthorization, env.clock.now()));
      // Every instance of a shared store answers (the CA may reach any of them).
      cleanups.push(type === 'http-01'
        ? await shareHttp01(env, challenge.token!, keyAuthorization)
        : await shareTlsAlpn(env, authz.identifier.value, keyAuthorization));
      const via = chosen.reach.via === 'temporary' ? 'a temporary listener' : type === 'http-01' ? 'www' : 'www-ssl';
      report(`validating ${name} (${type} on port ${chosen.reach.port} via ${via})`);
      if (challenge.status === 'pending') await client.respond(challenge);
      const alternative = authz.challenges.some((c) => c.type !== type && ANSWERED.includes(c.type as ChallengeType));
      waiting.push({ url, name, challenge, type, port: chosen.reach.port, alternative });
    }
    const deadline = Date.now() + POLL_LIMIT_MS;
    const judged = await Promise.allSettled(waiting.map((w) => client.waitAuthorization(w.url, deadline)));
    for (let i = 0; i < waiting.length; i++) {
      const w = waiting[i]!;
      const r = judged[i]!;
      if (r.status === 'rejected') {
        if (r.reason instanceof AcmeTimeout) throw new ChallengeFailed(`${w.name}: ${w.type} validation on port ${w.port} timed out`, w.type, w.port, false, false);
        throw r.reason;
      }
      if (r.value.status !== 'valid') throw challengeFailed(w.name, w.type, w.port, r.value, w.challenge.url, w.alternative);
    }
  } finally {
    for (const c of cleanups) c();
    for (const r of reaches.values()) void r.then((x) => { if (x.ok) x.release(); });
  }
}

const nameOf = (authz: Authorization): string => (authz.wildcard ? `*.${authz.identifier.value}` : authz.identifier.value);

function noChallenge(authz: Authorization, tried: ReadonlyArray<Reach & { ok: false }>): AttemptFailure {
  const name = nameOf(authz);
  const offered = authz.challenges.map((c) => c.type);
  if (tried.length === 0) {
    const why = authz.wildcard ? ' (a wildcard name is validated with dns-01, which rospki can not answer)' : '';
    return new AttemptFailure(`${name}: the ACME server offers ${offered.join(', ') || 'no challenge'}, rospki answers ${ANSWERED.join(' and ')}${why}`);
  }
  return new AttemptFailure(`${name}: no challenge can be answered: ${tried.map((t) => `${t.type} needs port ${t.port}, ${t.reason}`).join('; ')}`);
}

/** Problems meaning the CA could not connect to the port at all (RFC 8555 §6.7). */
const UNREACHABLE = new Set(['connection', 'tls']);
/** How CAs say the name did not resolve (Boulder: `dns` "DNS problem: NXDOMAIN …"; pebble: "could not resolve URL"). */
const UNRESOLVED = /\bDNS problem\b|could not resolve|no such host|NXDOMAIN|SERVFAIL/i;

function challengeFailed(name: string, type: ChallengeType, port: number, authz: Authorization, url: string, alternative: boolean): ChallengeFailed {
  const ch = authz.challenges.find((c) => c.url === url) ?? authz.challenges.find((c) => c.type === type);
  const problem = new AcmeProblem(ch?.error ?? { detail: `the authorization is ${authz.status}` }, 403);
  if (problem.is('dns') || UNRESOLVED.test(problem.text())) {
    // Every challenge needs the name: another kind would fail alike.
    return new ChallengeFailed(`${name}: the name does not resolve for the CA: ${problem.text()}`, type, port, false, false);
  }
  const unreachable = UNREACHABLE.has(problem.short);
  const hint = unreachable ? ` (the CA could not connect to port ${port})` : '';
  return new ChallengeFailed(`${name}: ${type} validation on port ${port} failed${hint}: ${problem.text()}`, type, port, unreachable, alternative);
}

// ---------------------------------------------------------------------------------------------
// Storing

interface Issued {
  target: IssueTarget;
  names: string[];
  chain: CertInfo[];
  /** PKCS#8 of a key made for this certificate (undefined: the row keeps its key). */
  newKey?: Buffer;
  ari?: RenewalInfo;
  offersAri: boolean;
}

/** `letsencrypt-autogen_2023-04-02T02:05:37Z` (spec §5.1): UTC, whole seconds. */
export const autogenName = (now: number): string => `letsencrypt-autogen_${formatUtcStamp(now)}`;

function uniqueName(tx: ReadTx, wanted: string): string {
  let name = wanted;
  for (let n = 1; tx.findBy(CERT_PATH, 'name', name).length > 0; n++) name = `${wanted}_${n}`;
  return name;
}

/** ARI: a random moment in the suggested window (RFC 9773 §4.2), and when to look again. */
function ariFields(info: RenewalInfo | undefined, offers: boolean, now: number): RowData {
  if (!offers) return {};
  const recheck = now + Math.min(Math.max(info?.retryAfterMs ?? 6 * 3_600_000, 60_000), 24 * 3_600_000);
  if (!info) return { [ACME.ari]: true, [ACME.ariCheck]: recheck };
  return { [ACME.ari]: true, [ACME.ariAt]: Math.max(now, Math.floor(info.start + Math.random() * (info.end - info.start))), [ACME.ariCheck]: recheck };
}

/** ACME fields a row drops when it stops being managed or is renewed. */
const ACME_PRIVATE = [ACME_KIND, ACME.status, ACME.error, ACME.retryAt, ACME.failures, ACME.ari, ACME.ariAt, ACME.ariCheck, ACME.issued];

function storeIssued(env: Environment, tx: WriteTx, p: Issued): IssueResult {
  const now = env.clock.now();
  const { target } = p;
  let before: RowData | undefined;
  if (target.rowId !== undefined) {
    const row = tx.get(CERT_PATH, target.rowId);
    if (!row || !isAcmeManaged(row.data)) throw new AttemptFailure('the certificate was removed while it was renewed');
    before = row.data;
  }
  // The intermediates beside it (each once, by fingerprint), never as trust anchors.
  for (const c of p.chain.slice(1)) {
    if (tx.findBy(CERT_PATH, 'fingerprint', c.fingerprint).length > 0) continue;
    const id = tx.insert(CERT_PATH, {
      name: uniqueName(tx, `${c.subject.commonName ?? 'intermediate'}_${Math.floor(now / 1000)}`),
      'trust-store': propValue(CERT.trustStore, {}), ...certificateFacts(c), trusted: false, 'private-key': false,
    });
    tx.setBlob(CERT_PATH, id, DER_BLOB, c.der);
  }
  const leaf = p.chain[0]!;
  const name = before ? String(before.name) : uniqueName(tx, autogenName(now));
  const data: RowData = {
    name,
    'trust-store': propValue(CERT.trustStore, before ?? {}),
    trusted: before?.trusted === true,
    ...certificateFacts(leaf),
    'private-key': true,
    [ACME_KIND]: target.kind,
    [ACME.domainNames]: p.names,
    [ACME.directoryUrl]: target.directoryUrl,
    [ACME.status]: 'valid',
    [ACME.issued]: now,
    ...ariFields(p.ari, p.offersAri, now),
  };
  let id = target.rowId;
  if (id === undefined) id = tx.insert(CERT_PATH, data); else tx.update(CERT_PATH, id, data);
  tx.setBlob(CERT_PATH, id, DER_BLOB, leaf.der);
  if (p.newKey) storeKey(env.store, tx, id, p.newKey);
  tx.setBlob(CERT_PATH, id, EAB_BLOB, undefined);
  if (target.kind === 'ssl') bindWwwSsl(env, tx, id, name);
  env.log(tx, 'acme,info', target.kind === 'ssl' ? 'ssl certificate updated' : `certificate ${name} updated`);
  const due = acmeDueAt(tx.get(CERT_PATH, id)!.data);
  // RouterOS writes this moment in UTC with its `Z` (spec §5.1), not in the router's zone.
  if (due !== undefined) env.log(tx, 'acme,info', `next cert update scheduled at ${formatUtcStamp(due)}`);
  return { rowId: id, name };
}

/**
 * www-ssl uses the certificate (spec §5.1: bound, the service not enabled). enable-ssl-certificate
 * keeps one certificate: an earlier one it made is no longer renewed (it stays, unbound).
 */
function bindWwwSsl(env: Environment, tx: WriteTx, id: number, name: string): void {
  const service = tx.findBy(SERVICE_PATH, 'name', 'www-ssl').find((r) => r.data.dynamic !== true);
  if (service && service.data.certificate !== id) tx.update(SERVICE_PATH, service.id, { ...service.data, certificate: id });
  for (const old of tx.findBy(CERT_PATH, ACME_KIND, 'ssl')) {
    if (old.id === id) continue;
    const data: RowData = { ...old.data };
    for (const f of ACME_PRIVATE) delete data[f];
    tx.update(CERT_PATH, old.id, data);
    env.log(tx, 'acme,info', `certificate ${String(old.data.name)} is no longer renewed: ${name} replaces it`);
  }
}

// ---------------------------------------------------------------------------------------------
// Renewal information (RFC 9773), asked for again when the server said

/** Asks the CA when to renew a row's certificate; a failure only moves the next question on by an hour. */
export async function refreshRenewalInfo(env: Environment, rowId: number): Promise<void> {
  const found = await env.store.read((tx) => {
    const row = tx.get(CERT_PATH, rowId);
    if (!row || !isAcmeManaged(row.data) || row.data[ACME.ari] !== true) return undefined;
    const directoryUrl = String(row.data[ACME.directoryUrl] ?? '');
    const account = storedAccount(env, tx, directoryUrl);
    const der = tx.getBlob(CERT_PATH, rowId, DER_BLOB);
    return account && der ? { directoryUrl, account, der } : undefined;
  });
  if (!found) return;
  const certId = renewalCertId(found.der);
  const client = new AcmeClient({ directoryUrl: found.directoryUrl, http: transport(env), accountKey: found.account.key, accountUrl: found.account.url });
  const info = certId ? await client.renewalInfo(certId).catch(() => undefined) : undefined;
  await env.store.write((tx) => {
    const row = tx.get(CERT_PATH, rowId);
    if (!row || !isAcmeManaged(row.data) || !tx.getBlob(CERT_PATH, rowId, DER_BLOB)?.equals(found.der)) return;
    const now = env.clock.now();
    const fields = info ? ariFields(info, true, now) : { [ACME.ariCheck]: now + 3_600_000 };
    tx.update(CERT_PATH, rowId, { ...row.data, ...fields });
  });
}

// ---------------------------------------------------------------------------------------------
// Errors users can act on

async function explain(env: Environment, e: unknown, signal: AbortSignal): Promise<RosError> {
  if (e instanceof RosError) return e;
  if (e instanceof AcmeAborted) {
    return signal.reason instanceof AcmeTimeout ? new AttemptFailure('the ACME order took longer than 10 minutes') : new RosError('interrupted', 'interrupted');
  }
  if (e instanceof AcmeTimeout) return new AttemptFailure(`the ACME server did not answer in time: ${e.message}`);
  if (e instanceof Unreachable) return new AttemptFailure(`ACME server ${new URL(e.url).host} is not reachable: ${e.reason}`);
  if (e instanceof AcmeProblem) {
    const zone = await env.store.read((tx) => env.zone(tx)).catch((): TimeZone | undefined => undefined);
    return new AttemptFailure(problemMessage(e, env.clock.now(), zone), e.retryAfterMs);
  }
  return toRosError(e, env.reportInternalError, 'acme');
}

function problemMessage(p: AcmeProblem, now: number, zone: TimeZone | undefined): string {
  if (p.is('rateLimited')) {
    const until = p.retryAfterMs !== undefined ? ` until ${formatDate(now + p.retryAfterMs, zone)}` : '';
    return `rate limited by the ACME server${until}: ${p.text()}`;
  }
  if (p.is('externalAccountRequired')) return EAB_REQUIRED;
  if (p.is('rejectedIdentifier') || p.is('unsupportedIdentifier')) return `the ACME server refuses the name: ${p.text()}`;
  if (p.is('caa')) return `a CAA record forbids this CA to issue for the name: ${p.text()}`;
  if (p.is('dns')) return `the name does not resolve for the CA: ${p.text()}`;
  if (p.is('userActionRequired')) return `the ACME server asks for an action (terms of service?): ${p.text()}`;
  return `ACME server: ${p.text()}`;
}

export type { Job };
