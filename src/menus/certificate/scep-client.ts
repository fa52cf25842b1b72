// The SCEP client (spec §1.10, RFC 8894 §4): `/certificate add-scep` enrols a template with a
// SCEP server and `scep-renew` renews (or, while the server says PENDING, polls) at once; the
// daemon's SCEP service (services/scep.ts) polls pending requests and renews at 75 % of the
// validity. The key is made here and never leaves rospki; the request, the certificate that
// signs it and the new key are kept beside the row (sealed) before anything is sent, so a
// request survives a restart and its answer can always be read.
//
// The client asks GetCACaps and GetCACert first and then prefers what the server offers:
// POST (else GET), AES (else 3DES, else DES), SHA-256 (else SHA-1). It checks every answer:
// signed by the server's certificate, for its own transaction and nonce, and a certificate for
// its own key, signed by the CA. Requests go only to the URL given (no redirects).

import { createHash, type KeyObject } from 'node:crypto';
import { failure, RosError } from '../../errors.js';
import { propValue, resolveItems } from '../../menu/generic.js';
import { boolType, itemsType, presenceType, refType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandCall, CommandDecl, CommandResult, Environment, Session } from '../../menu/types.js';
import { RosArray, type Value } from '../../menu/values.js';
import type { ReadTx, RowData, WriteTx } from '../../store/store.js';
import {
  PkiError, exportSpkiDer, generateKeyDer, importPkcs8Der, issueCertificate, parseCertificate, verifyCertificateSignature,
  type CertInfo, type KeySize, type SubjectFields,
} from '../../pki/index.js';
import type { CmsCipher } from '../../pki/cms.js';
import { createCsr, parseCsr } from '../../pki/csr.js';
import {
  createRequest, degenerateContents, encodeIssuerAndSubject, openMessageData, parsePkiMessage, transactionIdFor, type FailInfo,
} from '../../pki/scep-message.js';
import { certificateFacts } from './facts.js';
import { DER_BLOB, KEY_BLOB, certificateDer } from './keys.js';
import { CERT, CERT_PATH, isTemplate, keyTypeOfSize, templateOf } from './properties.js';

/** How long one HTTP exchange may take, and the most a server may send. */
const HTTP_TIMEOUT_MS = 30_000;
const MAX_REPLY_BYTES = 1024 * 1024;
/** A pending request is asked about again after this; a failed attempt is tried again after these. */
export const POLL_MS = 60_000;
const RETRY_MS = 5 * 60_000;
const RENEW_RETRY_MS = 3600_000;
/** Renewal starts when this much of the validity has passed (spec §1.10). */
export const RENEW_AT = 0.75;

/** Row field marking a SCEP client row (indexed lookups of the service), and its state. */
export const SCEP_CLIENT = '.scep-client';
const STATE = '.scep';
/** Blobs of a client row while a transaction runs: the new key (sealed), its request, the signer certificate. */
const NEW_KEY_BLOB = 'scep-key';
const CSR_BLOB = 'scep-csr';
const SIGNER_BLOB = 'scep-signer';
/** The server's certificates: the CA, and the RA that encrypts and signs when there is one. */
const CA_BLOB = 'scep-ca';
const RA_BLOB = 'scep-ra';

export interface ClientState {
  url: string;
  identity: string;
  /** Renew automatically at 75 % of the validity (`refresh`). */
  refresh: boolean;
  owner: string;
  /** The transaction under way, and what it is. */
  transactionId?: string;
  phase: 'enrol' | 'renew' | 'idle';
  /** When the service acts next (poll, retry, renewal). */
  nextAt?: number;
}

export const stateOf = (row: RowData): ClientState | undefined => row[STATE] as ClientState | undefined;

// ---------------------------------------------------------------------------------------------
// The wire

interface Peer {
  caps: Set<string>;
  /** The certificate requests are encrypted for and replies are signed by (RA, else CA). */
  ra: Buffer;
  /** The CA that issues. */
  ca: Buffer;
}

async function http(url: string, opts: { method?: string; body?: Buffer; signal?: AbortSignal }): Promise<{ status: number; type: string; body: Buffer }> {
  const { httpRequest } = await import('./http-client.js'); // loaded on first use
  const res = await httpRequest({
    url, method: opts.method, body: opts.body, headers: opts.body ? { 'Content-Type': 'application/x-pki-message' } : {},
    maxBytes: MAX_REPLY_BYTES, idleTimeoutMs: HTTP_TIMEOUT_MS, totalTimeoutMs: HTTP_TIMEOUT_MS, maxRedirects: 0, signal: opts.signal,
  });
  return { status: res.status, type: String(res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase(), body: res.body };
}

function operationUrl(base: string, operation: string, message?: string): string {
  const u = new URL(base);
  const q = `operation=${operation}${message !== undefined ? `&message=${encodeURIComponent(message)}` : ''}`;
  u.search = u.search ? `${u.search.slice(1)}&${q}` : q;
  return u.toString();
}

/** GetCACaps and GetCACert (§4.1, §4.2): what the server offers and its certificates. */
async function discover(url: string, identity: string, signal?: AbortSignal): Promise<Peer> {
  const caps = await http(operationUrl(url, 'GetCACaps', identity || undefined), { signal });
  // A server without GetCACaps offers the RFC 8894 minimum (§3.5.2).
  const capSet = new Set(caps.status === 200 ? caps.body.toString('latin1').split(/[\r\n]+/).map((s) => s.trim().toLowerCase()).filter(Boolean) : []);
  const got = await http(operationUrl(url, 'GetCACert', identity || undefined), { signal });
  if (got.status !== 200) throw failure(`GetCACert: Status ${got.status}`);
  // One certificate as DER (application/x-x509-ca-cert), or a degenerate PKCS#7 with the RA and CA (§4.2.1).
  let certs: Buffer[];
  try {
    certs = got.type === 'application/x-x509-ca-cert' ? [got.body] : degenerateContents(got.body).certificates;
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    try {
      parseCertificate(got.body);
      certs = [got.body];
    } catch {
      throw failure(`GetCACert: ${e.message}`);
    }
  }
  const infos = certs.map((c) => {
    try { return parseCertificate(c); } catch { return undefined; }
  });
  const parsed = certs.map((c, i) => ({ der: c, info: infos[i] })).filter((c): c is { der: Buffer; info: CertInfo } => c.info !== undefined);
  if (parsed.length === 0) throw failure('GetCACert: no certificate');
  // The RA: a certificate that is no CA (key encipherment, RFC 8894 §2.5.1); the CA issued it.
  const ra = parsed.find((c) => !c.info.isCA) ?? parsed[0]!;
  const ca = ra.info.isCA ? ra : parsed.find((c) => c.info.isCA && c.info.subjectText === ra.info.issuer) ?? parsed.find((c) => c.info.isCA) ?? ra;
  if (ra.info.keyType !== 'rsa') throw failure('the SCEP server\'s certificate has no RSA key');
  return { caps: capSet, ra: ra.der, ca: ca.der };
}

/** The cipher and digest a request uses: the strongest the server offers (spec §1.10). */
function cipherFor(caps: Set<string>): CmsCipher {
  if (caps.has('aes')) return 'aes-128-cbc'; // RFC 8894 §3.5.2: "AES" is AES-128-CBC
  if (caps.has('des3') || caps.size === 0) return 'des-ede3-cbc';
  return 'des-cbc';
}
function digestFor(caps: Set<string>): 'sha1' | 'sha256' | 'sha512' {
  if (caps.has('sha-256') || caps.has('scepstandard')) return 'sha256';
  if (caps.has('sha-512')) return 'sha512';
  return 'sha1';
}

type Outcome = { status: 'SUCCESS'; certificate: Buffer } | { status: 'PENDING' } | { status: 'FAILURE'; reason: string };

/** Sends a pkiMessage and reads the CertRep: checked as the header says. */
async function pkiOperation(url: string, peer: Peer, request: { der: Buffer; senderNonce: Buffer; transactionId: string }, own: { signer: { certificate: Buffer; key: KeyObject }; spki: Buffer }, signal?: AbortSignal): Promise<Outcome> {
  const answer = await exchange(url, peer, request, own.signer, signal);
  if (answer.status !== 'SUCCESS') return answer;
  // Ours: the certificate for our key (a server may add its chain), signed by the CA.
  const mine = answer.certificates.find((c) => {
    try { return parseCertificate(c).publicKey.equals(own.spki); } catch { return false; }
  });
  if (!mine) throw failure('the server sent no certificate for this key');
  if (!verifyCertificateSignature(mine, parseCertificate(peer.ca).publicKey)) throw failure('the certificate is not signed by the server\'s CA');
  return { status: 'SUCCESS', certificate: mine };
}

type Answer = { status: 'SUCCESS'; certificates: Buffer[] } | { status: 'PENDING' } | { status: 'FAILURE'; reason: string; failInfo?: FailInfo; failInfoText?: string };

/** One PKIOperation: the message out, the CertRep back, checked and (SUCCESS) decrypted. */
async function exchange(url: string, peer: Peer, request: { der: Buffer; senderNonce: Buffer; transactionId: string }, signer: { certificate: Buffer; key: KeyObject }, signal?: AbortSignal): Promise<Answer> {
  const post = peer.caps.has('postpkioperation');
  const res = post
    ? await http(operationUrl(url, 'PKIOperation'), { method: 'POST', body: request.der, signal })
    : await http(operationUrl(url, 'PKIOperation', request.der.toString('base64')), { signal });
  if (res.status !== 200) throw failure(`PKIOperation: Status ${res.status}${res.type === 'text/plain' ? `, ${res.body.toString('utf8', 0, 200).trim()}` : ''}`);
  let rep;
  try {
    rep = parsePkiMessage(res.body, [peer.ra]);
  } catch (e) {
    if (e instanceof PkiError) throw failure(`the server's answer can not be read: ${e.message}`);
    throw e;
  }
  if (!rep.signatureValid || !rep.signerCertificate?.equals(peer.ra)) throw failure('the server\'s answer is not signed by its certificate');
  if (rep.messageType !== 'CertRep') throw failure('the server\'s answer is not a CertRep');
  if (rep.transactionId !== request.transactionId) throw failure('the server\'s answer is for another transaction');
  if (!rep.recipientNonce?.equals(request.senderNonce)) throw failure('the server\'s answer is not for this request (nonce)');
  if (rep.pkiStatus === 'PENDING') return { status: 'PENDING' };
  if (rep.pkiStatus === 'FAILURE') return { status: 'FAILURE', reason: `${rep.failInfo ?? 'failure'}${rep.failInfoText ? `: ${rep.failInfoText}` : ''}`, failInfo: rep.failInfo, failInfoText: rep.failInfoText };
  if (rep.pkiStatus !== 'SUCCESS') throw failure('the server\'s answer has no pkiStatus');
  let certificates: Buffer[];
  try {
    // The reply is encrypted for the certificate that signed the request (the old one, when renewing).
    const inner = await openMessageData(rep, { certificate: signer.certificate, privateKey: signer.key });
    certificates = degenerateContents(inner.data).certificates;
  } catch (e) {
    if (e instanceof PkiError) throw failure(`the certificate can not be read: ${e.message}`);
    throw e;
  }
  return { status: 'SUCCESS', certificates };
}

// ---------------------------------------------------------------------------------------------
// Transactions

/** What a request asks for: the subject, names and usages of the template (no CA rights). */
interface Asking { subject: SubjectFields; subjectAltName: string; keyUsage: string[]; keySize: KeySize }

function askingOf(row: RowData): Asking {
  const t = templateOf(row);
  return { subject: t.subject, subjectAltName: t.subjectAltName, keyUsage: t.keyUsage.filter((u) => u !== 'key-cert-sign' && u !== 'crl-sign'), keySize: t.keySize };
}

/** A new transaction: a new key, its request, and the certificate that signs the messages. */
async function newTransaction(asking: Asking, challenge: string, digest: 'sha1' | 'sha256' | 'sha512', now: number): Promise<{ pkcs8: Buffer; key: KeyObject; spki: Buffer; csr: Buffer; selfSigned: Buffer; transactionId: string }> {
  const made = await generateKeyDer(asking.keySize);
  const key = importPkcs8Der(made.pkcs8);
  const csr = createCsr({
    subject: asking.subject, subjectAltName: asking.subjectAltName || undefined, keyUsage: asking.keyUsage,
    challengePassword: challenge || undefined, digest, privateKey: key, publicKey: made.spki,
  });
  // A self-signed certificate of the new key signs the enrolment (RFC 8894 §2.3).
  const selfSigned = issueCertificate({
    subject: asking.subject, keyUsage: 'digital-signature,key-encipherment', daysValid: 1, digest, notBefore: now - 3600_000,
    subjectPublicKey: made.spki, issuer: { kind: 'self', privateKey: key },
  }).der;
  return { pkcs8: made.pkcs8, key, spki: made.spki, csr, selfSigned, transactionId: transactionIdFor(made.spki) };
}

const sha256hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** What the row keeps while a transaction runs, read back for the next step. */
interface Running {
  id: number;
  row: RowData;
  state: ClientState;
  peer: Peer;
  key: KeyObject;
  spki: Buffer;
  csr: Buffer;
  signer: { certificate: Buffer; key: KeyObject };
}

function readRunning(env: Environment, tx: ReadTx, id: number): Running | undefined {
  const row = tx.get(CERT_PATH, id);
  const state = row ? stateOf(row.data) : undefined;
  if (!row || !state || state.phase === 'idle') return undefined;
  const sealedNew = tx.getBlob(CERT_PATH, id, NEW_KEY_BLOB);
  const csr = tx.getBlob(CERT_PATH, id, CSR_BLOB);
  const signerCert = tx.getBlob(CERT_PATH, id, SIGNER_BLOB);
  const ca = tx.getBlob(CERT_PATH, id, CA_BLOB);
  if (!sealedNew || !csr || !signerCert || !ca) return undefined;
  const key = importPkcs8Der(env.store.unseal(sealedNew));
  // A renewal is signed by the certificate it renews and its key; an enrolment by the new key.
  const signerKey = state.phase === 'renew' ? importPkcs8Der(env.store.unseal(tx.getBlob(CERT_PATH, id, KEY_BLOB)!)) : key;
  return {
    id, row: row.data, state, key, spki: exportSpkiDer(key), csr,
    peer: { caps: new Set((row.data['.scep-caps'] as string[] | undefined) ?? []), ca, ra: tx.getBlob(CERT_PATH, id, RA_BLOB) ?? ca },
    signer: { certificate: signerCert, key: signerKey },
  };
}

/** Sends the transaction's message: the request itself, or with `poll` a CertPoll (§3.3.3). */
async function send(r: Running, poll: boolean, signal?: AbortSignal): Promise<Outcome> {
  const caInfo = parseCertificate(r.peer.ca);
  const digest = digestFor(r.peer.caps);
  const messageData = poll ? encodeIssuerAndSubject(caInfo.subjectDer, subjectOfCsr(r.csr)) : r.csr;
  const request = createRequest({
    // A renewal is a RenewalReq where the server has it, else a PKCSReq signed by the old certificate (§3.3.1.2).
    messageType: poll ? 'CertPoll' : r.state.phase === 'renew' && r.peer.caps.has('renewal') ? 'RenewalReq' : 'PKCSReq',
    transactionId: r.state.transactionId!, messageData, recipient: r.peer.ra, cipher: cipherFor(r.peer.caps),
    signer: { certificate: r.signer.certificate, privateKey: r.signer.key, digest },
  });
  return pkiOperation(r.state.url, r.peer, { ...request, transactionId: r.state.transactionId! }, { signer: r.signer, spki: r.spki }, signal);
}

const subjectOfCsr = (csr: Buffer): Buffer => parseCsr(csr).subjectDer;

/**
 * Writes an outcome into the row: a certificate replaces the template (or the certificate it
 * renews) with its new key; PENDING plans the next poll; FAILURE ends the transaction.
 */
async function settle(env: Environment, r: Running, outcome: Outcome | { status: 'ERROR'; reason: string }): Promise<string> {
  return env.store.write((tx) => {
    const row = tx.get(CERT_PATH, r.id);
    const state = row ? stateOf(row.data) : undefined;
    if (!row || !state || state.transactionId !== r.state.transactionId) return 'gone';
    const now = env.clock.now();
    const name = String(row.data.name);
    if (outcome.status === 'SUCCESS') {
      const info = parseCertificate(outcome.certificate);
      const data: RowData = {
        ...row.data, ...certificateFacts(info), 'private-key': true, status: 'valid',
        [STATE]: { ...state, phase: 'idle', transactionId: undefined, nextAt: state.refresh ? renewalTime(info) : undefined },
      };
      tx.update(CERT_PATH, r.id, data);
      tx.setBlob(CERT_PATH, r.id, DER_BLOB, outcome.certificate);
      tx.setBlob(CERT_PATH, r.id, KEY_BLOB, tx.getBlob(CERT_PATH, r.id, NEW_KEY_BLOB));
      // The request stays (req-fingerprint in other digests, scep-ra.ts); the rest of the transaction goes.
      for (const b of [NEW_KEY_BLOB, SIGNER_BLOB]) tx.setBlob(CERT_PATH, r.id, b, undefined);
      env.log(tx, 'certificate,info', `SCEP: certificate ${name} ${state.phase === 'renew' ? 'renewed' : 'issued'} by ${r.state.url}`);
      return 'done';
    }
    if (outcome.status === 'PENDING') {
      tx.update(CERT_PATH, r.id, { ...row.data, status: 'pending', [STATE]: { ...state, nextAt: now + POLL_MS } });
      if (row.data.status !== 'pending') env.log(tx, 'certificate,info', `SCEP: request of ${name} waits for approval at ${r.state.url} (req-fingerprint ${String(row.data['req-fingerprint']).slice(0, 16)})`);
      return 'pending';
    }
    if (outcome.status === 'FAILURE') {
      // The server said no: this transaction is over. A certificate being renewed stays, and is tried again later.
      const renewing = state.phase === 'renew';
      tx.update(CERT_PATH, r.id, {
        ...row.data, status: 'failed',
        [STATE]: { ...state, phase: 'idle', transactionId: undefined, nextAt: renewing && state.refresh ? now + RENEW_RETRY_MS : undefined },
      });
      for (const b of [NEW_KEY_BLOB, CSR_BLOB, SIGNER_BLOB]) tx.setBlob(CERT_PATH, r.id, b, undefined);
      env.log(tx, 'certificate,error', `SCEP: ${r.state.url} refused the request of ${name}: ${outcome.reason}`);
      return `failed: ${outcome.reason}`;
    }
    // Unreachable, or an answer that does not hold: the same message is sent again later.
    tx.update(CERT_PATH, r.id, { ...row.data, status: 'failed', [STATE]: { ...state, nextAt: now + RETRY_MS } });
    env.log(tx, 'certificate,warning', `SCEP: ${name}: ${outcome.reason}; trying again in ${RETRY_MS / 60_000} minutes`);
    return `failed: ${outcome.reason}`;
  });
}

/** When a certificate renews: at 75 % of its validity. */
export const renewalTime = (info: { notBefore: number; notAfter: number }): number =>
  info.notBefore + Math.floor((info.notAfter - info.notBefore) * RENEW_AT);

/** One step of a client row's transaction (send or poll); returns the status it left. */
async function step(env: Environment, id: number, poll: boolean, signal?: AbortSignal): Promise<string> {
  const r = await env.store.read((tx) => readRunning(env, tx, id));
  if (!r) {
    // A transaction whose material is gone (removed blobs): nothing more to do for it.
    await env.store.write((tx) => {
      const row = tx.get(CERT_PATH, id);
      const state = row ? stateOf(row.data) : undefined;
      if (row && state && state.phase !== 'idle') tx.update(CERT_PATH, id, { ...row.data, [STATE]: { ...state, phase: 'idle', transactionId: undefined, nextAt: undefined } });
    });
    return 'idle';
  }
  let outcome: Outcome | { status: 'ERROR'; reason: string };
  try {
    outcome = await send(r, poll, signal);
  } catch (e) {
    if (e instanceof RosError && e.kind === 'interrupted') throw e;
    if (!(e instanceof RosError) && !(e instanceof PkiError)) throw e;
    outcome = { status: 'ERROR', reason: e.message };
  }
  return settle(env, r, outcome);
}

/**
 * Starts a transaction on a row: discovers the server, makes the key and the request, keeps
 * them beside the row (durable) and sends the request. `renew`: signed by the row's certificate.
 */
async function begin(env: Environment, id: number, renew: boolean, session?: Session, signal?: AbortSignal): Promise<string> {
  const plan = await env.store.read((tx) => {
    const row = tx.get(CERT_PATH, id);
    const state = row ? stateOf(row.data) : undefined;
    if (!row || !state) throw failure('not a SCEP certificate');
    return { row: row.data, state };
  });
  session?.progress?.([['progress', 'connecting']]);
  const peer = await discover(plan.state.url, plan.state.identity, signal);
  session?.progress?.([['progress', 'generating key']]);
  const asking = askingOf(plan.row);
  // Renewals carry the challenge too: servers such as micromdm's ask for it on RenewalReq as well.
  const challenge = String(plan.row['challenge-password'] ?? '');
  const t = await newTransaction(asking, challenge, digestFor(peer.caps), env.clock.now());
  if (signal?.aborted) throw new RosError('interrupted', 'interrupted');
  await env.store.write((tx) => {
    const row = tx.get(CERT_PATH, id);
    if (!row || row.data !== plan.row) throw failure('the certificate changed meanwhile; run the command again');
    const state: ClientState = { ...plan.state, phase: renew ? 'renew' : 'enrol', transactionId: t.transactionId, nextAt: env.clock.now() + RETRY_MS };
    tx.update(CERT_PATH, id, {
      ...row.data, status: renew ? 'renewing' : 'enrolling', [STATE]: state, '.scep-caps': [...peer.caps],
      'req-fingerprint': sha256hex(t.csr), 'ca-fingerprint': sha256hex(peer.ca),
    });
    tx.setBlob(CERT_PATH, id, NEW_KEY_BLOB, env.store.seal(t.pkcs8));
    tx.setBlob(CERT_PATH, id, CSR_BLOB, t.csr);
    tx.setBlob(CERT_PATH, id, SIGNER_BLOB, renew ? certificateDer(tx, id)! : t.selfSigned);
    tx.setBlob(CERT_PATH, id, CA_BLOB, peer.ca);
    tx.setBlob(CERT_PATH, id, RA_BLOB, peer.ra.equals(peer.ca) ? undefined : peer.ra);
  });
  session?.progress?.([['progress', renew ? 'renewing' : 'requesting']]);
  return step(env, id, false, signal);
}

// ---------------------------------------------------------------------------------------------
// The service's pass (services/scep.ts): polls and renewals that are due

/** The earliest time a client row wants attention, or undefined. */
export async function nextClientWork(env: Environment): Promise<number | undefined> {
  return env.store.read((tx) => {
    let next: number | undefined;
    for (const row of tx.findBy(CERT_PATH, SCEP_CLIENT, true)) {
      const at = stateOf(row.data)?.nextAt;
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  });
}

/**
 * Runs one piece of background work as a job of /system script job (the service passes
 * script-job.ts runAsJob: menus/certificate does not reach into menus/system).
 */
export type JobRunner = (info: { script: string; owner: string }, fn: (signal: AbortSignal) => Promise<void>) => Promise<void>;

/** Does what is due: polls pending requests, sends again what failed, renews at 75 %. */
export async function runDueClients(env: Environment, signal: AbortSignal, job: JobRunner): Promise<void> {
  const now = env.clock.now();
  const due = await env.store.read((tx) => tx.findBy(CERT_PATH, SCEP_CLIENT, true)
    .filter((r) => { const at = stateOf(r.data)?.nextAt; return at !== undefined && at <= now; })
    .map((r) => ({ id: r.id, state: stateOf(r.data)!, status: String(r.data.status ?? ''), name: String(r.data.name), template: isTemplate(r.data) })));
  for (const d of due) {
    if (signal.aborted) return;
    await job({ script: `scep ${d.name}`, owner: d.state.owner }, async (s) => {
      try {
        // An idle certificate renews; an idle template (an RA's, not enrolled yet) enrols.
        if (d.state.phase === 'idle') await begin(env, d.id, !d.template, undefined, s);
        else await step(env, d.id, d.status === 'pending', s);
      } catch (e) {
        if (e instanceof RosError && e.kind === 'interrupted') return;
        const known = e instanceof RosError || e instanceof PkiError;
        // Discovery failed (unreachable) — or worse: the same work is due again later, not at once.
        await env.store.write((tx) => {
          const row = tx.get(CERT_PATH, d.id);
          const state = row ? stateOf(row.data) : undefined;
          if (!row || !state) return;
          tx.update(CERT_PATH, d.id, { ...row.data, status: 'failed', [STATE]: { ...state, nextAt: env.clock.now() + RETRY_MS } });
          if (known) env.log(tx, 'certificate,warning', `SCEP: ${d.name}: ${(e as Error).message}; trying again in ${RETRY_MS / 60_000} minutes`);
        });
        if (!known) throw e;
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

const asValueArg: ArgDecl<boolean> = { name: 'as-value', type: presenceType, flagOnly: true };

function result(call: CommandCall, outcome: string): CommandResult {
  const progress = outcome === 'done' ? 'done' : outcome === 'pending' ? 'waiting for approval' : outcome;
  if (outcome.startsWith('failed: ')) throw failure(`SCEP ${outcome.slice(8)}`);
  if (call.args.flag(asValueArg)) return { ret: RosArray.fromRecord([['progress', progress]]) };
  return { block: [['progress', progress]] };
}

const templateArg: ArgDecl<number> = { name: 'template', type: refType(CERT_PATH), required: true, help: 'Template to enrol' };
const urlArg: ArgDecl<string> = { name: 'scep-url', type: stringType, required: true, help: 'URL of the SCEP server (http or https)' };
const nameArg: ArgDecl<string> = { name: 'name', type: stringType, help: 'New name of the certificate' };
const identityArg: ArgDecl<string> = { name: 'ca-identity', type: stringType, help: 'CA identifier sent with GetCACert' };
const challengeArg: ArgDecl<string> = { name: 'challenge-password', type: stringType, sensitive: true, help: 'One-time password of the server' };
const smartCardArg: ArgDecl<boolean> = { name: 'on-smart-card', type: boolType, help: 'Keep the key on a smart card (not supported)' };
const refreshArg: ArgDecl<boolean> = { name: 'refresh', type: boolType, help: 'Renew automatically at 75 % of the validity (default yes)' };

function checkUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw failure('invalid scep-url');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw failure('scep-url must be an http or https URL');
  return u.toString();
}

export const addScepCommand: CommandDecl = {
  name: 'add-scep',
  help: 'Enrol a template with a SCEP server',
  policy: 'write',
  args: [templateArg, urlArg, nameArg, identityArg, challengeArg, smartCardArg, refreshArg, asValueArg],
  async run(call) {
    const { env, session, args } = call;
    if (args.get(smartCardArg) === true) throw failure('smart cards are not supported');
    const url = checkUrl(args.get(urlArg)!);
    const id = args.get(templateArg)!;
    await env.store.write((tx) => {
      const row = tx.get(CERT_PATH, id);
      if (!row) throw failure('no such template');
      if (!isTemplate(row.data)) throw failure('certificate is already signed');
      if (stateOf(row.data)) throw failure('the template is being enrolled already');
      if (keyTypeOfSize(propValue(CERT.keySize, row.data)) !== 'rsa') throw failure('SCEP needs an RSA key: set key-size to 1024, 2048, 4096 or 8192');
      const name = args.get(nameArg) ?? String(row.data.name);
      if (tx.findBy(CERT_PATH, 'name', name).some((r) => r.id !== id)) throw failure('already have such entry');
      const state: ClientState = {
        url, identity: args.get(identityArg) ?? '', refresh: args.get(refreshArg) ?? true, owner: session.user, phase: 'idle',
      };
      const data: RowData = { ...row.data, name, 'scep-url': url, status: 'connecting', [SCEP_CLIENT]: true, [STATE]: state };
      const challenge = args.get(challengeArg);
      if (challenge) data['challenge-password'] = challenge; else delete data['challenge-password'];
      tx.update(CERT_PATH, id, data);
      env.log(tx, 'certificate,info', `SCEP: ${name} added for ${url} by ${session.user}`);
    });
    try {
      return result(call, await begin(env, id, false, session, session.signal));
    } catch (e) {
      // Nothing came of it (unreachable, refused): the template is as it was.
      await env.store.write((tx) => {
        const row = tx.get(CERT_PATH, id);
        const state = row ? stateOf(row.data) : undefined;
        if (!row || !state || state.phase !== 'idle' || row.data.fingerprint !== undefined) return;
        const data: RowData = { ...row.data };
        for (const k of ['scep-url', 'status', 'challenge-password', 'req-fingerprint', 'ca-fingerprint', SCEP_CLIENT, STATE, '.scep-caps']) delete data[k];
        tx.update(CERT_PATH, id, data);
        env.log(tx, 'certificate,warning', `SCEP: ${String(row.data.name)} not enrolled (${(e as Error).message}); it stays a template`);
      }).catch(() => {});
      throw e;
    }
  },
};

const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'SCEP certificates to renew' };

export const scepRenewCommand: CommandDecl = {
  name: 'scep-renew',
  help: 'Renew SCEP certificates now (or ask about a pending request)',
  policy: 'write',
  args: [numbersArg, asValueArg],
  async run(call) {
    const { env, session } = call;
    const rows = await env.store.read((tx) => resolveItems(call.menu, call.args.get(numbersArg), session, tx).map((id) => tx.get(CERT_PATH, id)!));
    let last = 'done';
    for (const row of rows) {
      const state = stateOf(row.data);
      if (!state) throw failure(`${String(row.data.name)} is not a SCEP certificate`);
      last = await renewScepRow(env, row.id, session);
    }
    return result(call, last);
  },
};

// ---------------------------------------------------------------------------------------------
// For an RA (scep-ra.ts): messages of others passed on to the server its certificate came from

/** The server of a SCEP certificate row, and that certificate with its key (an RA's). */
export interface Upstream {
  url: string;
  peer: Peer;
  own: { certificate: Buffer; key: KeyObject };
}

export function upstreamOf(env: Environment, tx: ReadTx, certId: number): Upstream | undefined {
  const row = tx.get(CERT_PATH, certId);
  const state = row ? stateOf(row.data) : undefined;
  const certificate = certificateDer(tx, certId);
  const sealed = tx.getBlob(CERT_PATH, certId, KEY_BLOB);
  const ca = tx.getBlob(CERT_PATH, certId, CA_BLOB);
  if (!row || !state || isTemplate(row.data) || !certificate || !sealed || !ca) return undefined;
  return {
    url: state.url,
    peer: { caps: new Set((row.data['.scep-caps'] as string[] | undefined) ?? []), ca, ra: tx.getBlob(CERT_PATH, certId, RA_BLOB) ?? ca },
    own: { certificate, key: importPkcs8Der(env.store.unseal(sealed)) },
  };
}

/** The CA certificate of a SCEP certificate row (what issued it) and its last request, when it has them. */
export const scepCaOf = (tx: ReadTx, certId: number): Buffer | undefined => tx.getBlob(CERT_PATH, certId, CA_BLOB);
export const scepRequestOf = (tx: ReadTx, certId: number): Buffer | undefined => tx.getBlob(CERT_PATH, certId, CSR_BLOB);

/**
 * Passes a request on (PKCSReq, RenewalReq, CertPoll): the same type, transaction and message
 * data, encrypted for the server and signed by the RA's certificate. SUCCESS gives the
 * certificates the server sent, each checked to be signed by its CA.
 */
export async function passOn(up: Upstream, spec: { messageType: 'PKCSReq' | 'RenewalReq' | 'CertPoll'; transactionId: string; messageData: Buffer }, signal?: AbortSignal): Promise<Answer> {
  const request = createRequest({
    messageType: spec.messageType, transactionId: spec.transactionId, messageData: spec.messageData,
    recipient: up.peer.ra, cipher: cipherFor(up.peer.caps),
    signer: { certificate: up.own.certificate, privateKey: up.own.key, digest: digestFor(up.peer.caps) },
  });
  const answer = await exchange(up.url, up.peer, { ...request, transactionId: spec.transactionId }, up.own, signal);
  if (answer.status === 'SUCCESS') {
    const caKey = parseCertificate(up.peer.ca).publicKey;
    if (!answer.certificates.some((c) => { try { return verifyCertificateSignature(c, caKey); } catch { return false; } })) {
      throw failure('the server sent no certificate signed by its CA');
    }
  }
  return answer;
}

/** Makes a template the certificate of an RA: a SCEP client row the service enrols (and renews). */
export function makeRaClient(tx: WriteTx, certId: number, spec: { url: string; identity: string; challenge: string; owner: string; now: number }): void {
  const row = tx.get(CERT_PATH, certId);
  if (!row || !isTemplate(row.data) || stateOf(row.data)) return;
  const state: ClientState = { url: spec.url, identity: spec.identity, refresh: true, owner: spec.owner, phase: 'idle', nextAt: spec.now };
  const data: RowData = { ...row.data, 'scep-url': spec.url, status: 'connecting', [SCEP_CLIENT]: true, [STATE]: state };
  if (spec.challenge) data['challenge-password'] = spec.challenge;
  tx.update(CERT_PATH, certId, data);
}

/**
 * scep-renew of a row (and `renew` of an RA): a transaction under way goes on (a pending one is
 * asked about); else a new one starts — an enrolment for a template, a renewal for a certificate.
 */
export async function renewScepRow(env: Environment, certId: number, session?: Session): Promise<string> {
  const row = await env.store.read((tx) => tx.get(CERT_PATH, certId));
  const state = row ? stateOf(row.data) : undefined;
  if (!row || !state) throw failure('the RA certificate is not enrolled by SCEP yet');
  return state.phase !== 'idle'
    ? step(env, certId, row.data.status === 'pending', session?.signal)
    : begin(env, certId, !isTemplate(row.data), session, session?.signal);
}
