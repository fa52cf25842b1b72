// The SCEP protocol (RFC 8894 §4) of the servers of /certificate scep-server, as www and
// www-ssl serve it at each server's path: GetCACaps, GetCACert, GetNextCACert, and PKIOperation
// by GET (the message base64 in the query, percent-encoded: certmonger) or POST (binary body,
// with or without a Content-Type: micromdm, strongSwan). The front end (services/http.ts) only
// moves bytes; every decision is here.
//
// PKIOperation, for anyone who sends one, so bounded: the body (maxBodyBytes), the operations in
// progress at once (concurrent; more get 503), the requests waiting for grant per server (at
// once and per minute), and the work of one message (cms.ts CMS_LIMITS: certificates, signers,
// recipients; RSA keys up to 8192 bits). The RSA decryption — the costliest step an
// unauthenticated peer can cause — runs on worker threads (pki/rsa-work.ts) while several
// operations are in progress (scepRsaOperation); the reply carrying an issued certificate is
// signed on libuv's threadpool while this thread stores the certificate. Every refusal is answered with a signed CertRep
// FAILURE carrying the right failInfo (§3.3.2.2) when the message could be read that far, and logged.
//
// What is granted (docs/compatibility.md "SCEP server"):
//  * PKCSReq with a challengePassword that is a valid one-time password: issued at once;
//  * PKCSReq without one: stored as `pending` until `/certificate scep-server requests grant`;
//    with a challenge that is no valid OTP (wrong, used, expired): FAILURE badRequest;
//  * RenewalReq (or PKCSReq) signed by a valid certificate this CA issued, for the same subject:
//    issued at once — once per certificate;
//  * CertPoll (GetCertInitial): the state of the request with that transactionID, answered only
//    to the key that made it; GetCert and GetCRL: a certificate of this CA, its CRL.
// A transactionID seen again with the same request gets the same answer (a retransmission,
// §3.2.1.1); with another request it is refused.

import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { RosError } from '../../errors.js';
import { propValue } from '../../menu/generic.js';
import type { Environment } from '../../menu/types.js';
import type { ReadTx, RowData, StoredRow, WriteTx } from '../../store/store.js';
import { PkiError, SUBJECT_FIELD_ORDER, parseCertificate, parseName, signOnThreadpool, type CertInfo } from '../../pki/index.js';
import {
  certificateInfo, certificatePublicKey, createDegenerate, createSignedData, rsaPrivateOperation, type CmsCipher, type CmsDigest, type RsaPrivateOperation,
} from '../../pki/cms.js';
import { parseCsr, type CsrInfo } from '../../pki/csr.js';
import { RsaWorkers } from '../../pki/rsa-work.js';
import {
  createCertRep, openMessageData, parseIssuerAndSerial, parseIssuerAndSubject, parsePkiMessage, prepareCertRep,
  type CertRepSpec, type FailInfo, type PkiMessage,
} from '../../pki/scep-message.js';
import { publishedCrl } from './crl-publish.js';
import { certificateDer, privateKey } from './keys.js';
import { CERT_PATH } from './properties.js';
import {
  CSR_BLOB, REQUEST_CERT, REQUEST_EXPIRES, SCEP, caCertificateDer, SCEP_OTP_PATH, SCEP_REQUESTS_PATH, SCEP_SERVER_PATH, SERVER_REF, SIGNER_BLOB,
  csrRefusal, findOtp, lifetimeMs, openServer, pruneRequests, requestFacts, signForServer, storeIssued, useOtp,
  type OpenedServer, type ScepRefusal,
} from './scep-server.js';

export interface ScepLimits {
  /** Largest PKIOperation message (POST body or decoded GET message). */
  maxBodyBytes: number;
  /** PKIOperations in progress at once (more are answered 503). */
  concurrent: number;
  /** Requests waiting for grant at once, per server. */
  pendingPerServer: number;
  /** New waiting requests per server and minute. */
  pendingPerMinute: number;
  /** Refusal lines written to /log per 10 seconds (the rest are counted and summed up). */
  logLinesPer10s: number;
}

export const DEFAULT_SCEP_LIMITS: ScepLimits = {
  maxBodyBytes: 64 * 1024,
  concurrent: 16,
  pendingPerServer: 1000,
  pendingPerMinute: 60,
  logLinesPer10s: 20,
};

export interface ScepHttpRequest {
  method: string;
  /** The URL path (no query). */
  path: string;
  /** The raw query string (without `?`). */
  query: string;
  body?: Buffer;
  /** The peer's address, for /log. */
  remote: string;
}

export interface ScepHttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The capabilities rospki's servers offer (RFC 8894 §3.5.2): every cipher and digest it reads. */
export const SERVER_CAPS = ['AES', 'DES3', 'GetNextCACert', 'POSTPKIOperation', 'Renewal', 'SCEPStandard', 'SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'];

export const text = (status: number, body: string, headers: Record<string, string> = {}): ScepHttpResponse =>
  ({ status, headers: { 'Content-Type': 'text/plain', ...headers }, body: Buffer.from(body) });
export const binary = (contentType: string, body: Buffer): ScepHttpResponse => ({ status: 200, headers: { 'Content-Type': contentType }, body });

/** Whether a URL path is one www hands to SCEP. */
export const isScepRequestPath = (path: string): boolean => path.startsWith('/scep/');

/** `operation` and `message` of a query, percent-decoded but `+` kept (base64 sent unencoded). */
export function queryParams(query: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    try {
      if (!out.has(key.toLowerCase())) out.set(key.toLowerCase(), decodeURIComponent(value));
    } catch {
      out.set(key.toLowerCase(), '');
    }
  }
  return out;
}

let rsaWorkers: RsaWorkers | undefined;

/** The RSA worker pool of the SCEP servers and RAs (started on first use). */
export const scepRsaWorkers = (): RsaWorkers => (rsaWorkers ??= new RsaWorkers());

/**
 * Where a PKIOperation decrypts its content-encryption key: on this thread while it is the only
 * operation in progress (it waits for that result and nothing else is there to run meanwhile,
 * so a hop to a worker and back would only add its latency: ≈ 0.1 ms idle, a millisecond and
 * more on a loaded machine), on the worker threads while others are in progress (the
 * operations then use the machine's cores, and none holds the event loop for the rest).
 */
export function scepRsaOperation(env: Environment, key: KeyObject): RsaPrivateOperation {
  return aloneInProgress(env) ? rsaPrivateOperation(key) : scepRsaWorkers().operation(key);
}

/** Whether this PKIOperation is the only one in progress (see scepRsaOperation). */
const aloneInProgress = (env: Environment): boolean => (env.cache.table<'n', number>('scep.in-progress').get('n') ?? 0) <= 1;

/** The operation a request asks for (lower case), from its query parameters. */
export const operationOf = (params: ReadonlyMap<string, string>): string => (params.get('operation') ?? '').toLowerCase();

/** The enabled server at a path, and for a PKIOperation its CA (read here: one read per request). */
export interface ServerAtPath { row: StoredRow; ca?: ServerCa }

export function serverAtPath(env: Environment, tx: ReadTx, path: string, operation: string): ServerAtPath | undefined {
  const row = tx.findBy(SCEP_SERVER_PATH, 'path', path).find((r) => !propValue(SCEP.disabled, r.data));
  if (!row) return undefined;
  return { row, ca: operation === 'pkioperation' ? serverCa(env, tx, row) : undefined };
}

/** Answers one HTTP request for a /scep/ path (the server there read by serverAtPath, or none). */
export async function answerScep(env: Environment, req: ScepHttpRequest, at: ServerAtPath | undefined, limits: ScepLimits = DEFAULT_SCEP_LIMITS): Promise<ScepHttpResponse> {
  const path = req.path.replace(/\/+$/, '');
  if (!at) return text(404, 'no SCEP service at this path\n');
  const server = at.row;
  const params = queryParams(req.query);
  const op = operationOf(params);
  switch (op) {
    case 'getcacaps':
      return text(200, `${SERVER_CAPS.join('\n')}\n`);
    case 'getcacert':
      return getCaCert(env, server);
    case 'getnextcacert':
      return getNextCaCert(env, server);
    case 'pkioperation':
      break;
    default:
      return text(400, 'unknown operation\n');
  }
  return gatedPkiOperation(env, req, params, limits, path, (der) => pkiOperation(env, server, at.ca, der, req.remote, limits));
}

/**
 * The bounds every PKIOperation passes (of a server or an RA): the message from the POST body
 * or the GET query, at most maxBodyBytes, and at most `concurrent` operations at once.
 */
export async function gatedPkiOperation(env: Environment, req: ScepHttpRequest, params: Map<string, string>, limits: ScepLimits, path: string,
  fn: (der: Buffer) => Promise<ScepHttpResponse>): Promise<ScepHttpResponse> {
  let der: Buffer | undefined;
  if (req.method === 'POST') der = req.body;
  else {
    const m = params.get('message') ?? '';
    if (m.length > (limits.maxBodyBytes * 4) / 3 + 4) return text(413, 'message too large\n');
    der = Buffer.from(m.replace(/\s+/g, ''), 'base64');
  }
  if (!der || der.length === 0) return text(400, 'no message\n');
  if (der.length > limits.maxBodyBytes) return text(413, 'message too large\n');
  const busy = env.cache.table<'n', number>('scep.in-progress');
  if ((busy.get('n') ?? 0) >= limits.concurrent) {
    await logRefusal(env, limits, `${path}: too many requests in progress, one from ${req.remote} turned away`);
    return text(503, 'busy, try again\n', { 'Retry-After': '1' });
  }
  busy.set('n', (busy.get('n') ?? 0) + 1);
  try {
    return await fn(der);
  } finally {
    busy.set('n', (busy.get('n') ?? 1) - 1);
  }
}

// ---------------------------------------------------------------------------------------------
// GetCACert, GetNextCACert

/** The CA's certificate and, when a local CA issued it, the chain above it (leaf CA first). */
function caChain(tx: ReadTx, caId: number): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<number>();
  for (let id: unknown = caId; typeof id === 'number' && id !== 0 && !seen.has(id) && out.length < 8; id = tx.get(CERT_PATH, id)?.data.ca) {
    seen.add(id);
    const der = certificateDer(tx, id);
    if (der) out.push(der);
  }
  return out;
}

async function getCaCert(env: Environment, server: StoredRow): Promise<ScepHttpResponse> {
  const chain = await env.store.read((tx) => caChain(tx, propValue(SCEP.caCert, server.data)));
  if (chain.length === 0) return text(500, 'the CA certificate is missing\n');
  // One certificate: the CA alone, DER (§4.2.1.1); with intermediates, a degenerate PKCS#7 (§4.2.1.2).
  if (chain.length === 1) return binary('application/x-x509-ca-cert', chain[0]!);
  return binary('application/x-x509-ca-ra-cert', createDegenerate(chain));
}

async function getNextCaCert(env: Environment, server: StoredRow): Promise<ScepHttpResponse> {
  const got = await env.store.read((tx) => {
    const next = propValue(SCEP.nextCaCert, server.data);
    if (next === 0) return undefined;
    const ca = serverCa(env, tx, server);
    const nextDer = certificateDer(tx, next);
    return ca && nextDer ? { ca, nextDer } : undefined;
  });
  if (!got) return text(404, 'no next CA certificate\n');
  // The new CA in a degenerate SignedData, signed by the current CA (§4.7.1)
  const body = createSignedData({
    content: createDegenerate([got.nextDer]),
    signer: { certificate: got.ca.der, privateKey: got.ca.key, digest: 'sha256', rsaSignatureOid: 'rsaEncryption' },
  });
  return binary('application/x-x509-next-ca-cert', body);
}

// ---------------------------------------------------------------------------------------------
// PKIOperation

interface ServerCa {
  id: number;
  der: Buffer;
  key: KeyObject;
  name: string;
}

/** The server's CA certificate and key (to decrypt and to sign replies), or undefined. */
function serverCa(env: Environment, tx: ReadTx, server: StoredRow): ServerCa | undefined {
  const id = propValue(SCEP.caCert, server.data);
  const row = tx.get(CERT_PATH, id);
  const der = caCertificateDer(env, tx, id);
  const key = row && typeof row.data.fingerprint === 'string' ? privateKey(env, tx, id, row.data.fingerprint) : undefined;
  if (!row || !der || !key || key.asymmetricKeyType !== 'rsa') return undefined;
  return { id, der, key, name: String(row.data.name) };
}

/** Everything one PKIOperation works with. */
interface Exchange {
  env: Environment;
  server: StoredRow;
  path: string;
  ca: ServerCa;
  msg: PkiMessage;
  remote: string;
  limits: ScepLimits;
  /** The cipher of the request (the reply uses it, DES raised to 3DES). */
  cipher?: CmsCipher;
}

const replyDigest = (msg: PkiMessage): CmsDigest => (msg.digest === 'md5' ? 'sha256' : msg.digest);

/**
 * The cipher of a reply: the request's, except that single DES is answered with 3DES (every
 * client that offers DES also reads DES-EDE3, RFC 8894 §3.5.2: DES is not to be used).
 */
export const replyCipher = (c: CmsCipher): CmsCipher => (c === 'des-cbc' ? 'des-ede3-cbc' : c);

type ReplyExtra = { failInfo?: FailInfo; failInfoText?: string; certificates?: Buffer[]; crls?: Buffer[]; recipient?: Buffer };

function certRepSpec(x: Exchange, status: 'SUCCESS' | 'PENDING' | 'FAILURE', extra: ReplyExtra): CertRepSpec {
  return {
    transactionId: x.msg.transactionId, recipientNonce: x.msg.senderNonce, status,
    failInfo: extra.failInfo, failInfoText: extra.failInfoText,
    certificates: extra.certificates, crls: extra.crls, recipient: extra.recipient,
    cipher: x.cipher ? replyCipher(x.cipher) : 'aes-256-cbc',
    signer: { certificate: x.ca.der, privateKey: x.ca.key, digest: replyDigest(x.msg) },
  };
}

function reply(x: Exchange, status: 'SUCCESS' | 'PENDING' | 'FAILURE', extra: ReplyExtra = {}): ScepHttpResponse {
  return binary('application/x-pki-message', createCertRep(certRepSpec(x, status, extra)));
}

async function refuse(x: Exchange, r: ScepRefusal): Promise<ScepHttpResponse> {
  await logRefusal(x.env, x.limits, `${x.path}: ${messageName(x.msg)} ${x.msg.transactionId} from ${x.remote} refused: ${r.reason}`);
  return reply(x, 'FAILURE', { failInfo: r.failInfo, failInfoText: r.reason });
}

const messageName = (msg: PkiMessage): string => msg.messageType ?? `message type ${msg.messageTypeCode}`;

async function pkiOperation(env: Environment, server: StoredRow, ca: ServerCa | undefined, der: Buffer, remote: string, limits: ScepLimits): Promise<ScepHttpResponse> {
  const path = String(server.data.path);
  if (!ca) {
    await logRefusal(env, limits, `${path}: the CA certificate can not be used (no RSA key), request from ${remote} not answered`);
    return text(500, 'the CA can not be used\n');
  }
  let msg: PkiMessage;
  try {
    msg = parsePkiMessage(der, [ca.der]);
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    await logRefusal(env, limits, `${path}: unreadable message from ${remote}: ${e.message}`);
    return text(400, 'malformed SCEP message\n');
  }
  const x: Exchange = { env, server, path, ca, msg, remote, limits };
  if (!msg.signerCertificate) return refuse(x, { failInfo: 'badMessageCheck', reason: 'the message carries no signer certificate' });
  if (!msg.signatureValid) return refuse(x, { failInfo: 'badMessageCheck', reason: 'the signature of the message is not valid' });
  if (!msg.senderNonce) return refuse(x, { failInfo: 'badRequest', reason: 'the message has no senderNonce' });
  const type = msg.messageType;
  if (type !== 'PKCSReq' && type !== 'RenewalReq' && type !== 'CertPoll' && type !== 'GetCert' && type !== 'GetCRL') {
    return refuse(x, { failInfo: 'badRequest', reason: `${messageName(msg)} is not a request` });
  }
  let data: Buffer;
  try {
    const opened = await openMessageData(msg, { certificate: ca.der, privateKey: ca.key, rsa: scepRsaOperation(env, ca.key) });
    data = opened.data;
    x.cipher = opened.cipher;
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    return refuse(x, { failInfo: e.code === 'unsupported' ? 'badAlg' : 'badMessageCheck', reason: e.message });
  }
  // Replies are encrypted for the requester's key: an RSA key (key transport, §3.2.2).
  let signerInfo: CertInfo;
  try {
    signerInfo = certificateInfo(msg.signerCertificate);
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    return refuse(x, { failInfo: 'badMessageCheck', reason: `the signer certificate can not be read: ${e.message}` });
  }
  if (signerInfo.keyType !== 'rsa') return refuse(x, { failInfo: 'badAlg', reason: `the signer's key is ${signerInfo.keyType}, not RSA (replies are encrypted for it)` });
  try {
    switch (type) {
      case 'PKCSReq': case 'RenewalReq': {
        let csr: CsrInfo;
        try {
          csr = parseCsr(data);
        } catch (e) {
          if (!(e instanceof PkiError)) throw e;
          return await refuse(x, { failInfo: 'badRequest', reason: e.message });
        }
        return await enrol(x, csr, signerInfo);
      }
      case 'CertPoll': return await poll(x, data);
      case 'GetCert': return await getCert(x, data);
      case 'GetCRL': return await getCrl(x, data);
    }
  } catch (e) {
    // Known refusals of the signing code (an expired CA …) are the client's answer; the rest is a bug.
    if (e instanceof RosError && e.kind === 'failure') return refuse(x, { failInfo: 'badRequest', reason: e.message });
    if (e instanceof PkiError) return refuse(x, { failInfo: 'badRequest', reason: e.message });
    throw e;
  }
}

const sha256hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Row field: the SHA-256 of the certificate that signed the request. */
const SIGNER_FP = '.signer-fp';

/**
 * The request rows of this server with a transactionID. A transaction is its id and the
 * certificate that signs it: clients that name transactions by their key (micromdm) renew with
 * the key's old transaction id, signed by the certificate that transaction gave them.
 */
function requestRows(tx: ReadTx, serverId: number, transactionId: string): StoredRow[] {
  return tx.findBy(SCEP_REQUESTS_PATH, 'transaction-id', transactionId).filter((r) => r.data[SERVER_REF] === serverId);
}

const sameTransaction = (x: Exchange) => (r: StoredRow): boolean => r.data[SIGNER_FP] === sha256hex(x.msg.signerCertificate!);

/** Why a signer certificate is no valid certificate of this CA now (undefined: it is). */
function signerProblem(row: RowData | undefined, caId: number, now: number): string | undefined {
  if (!row || row.ca !== caId) return 'the signer certificate was not issued by this CA';
  if (typeof row.revoked === 'number') return 'the signer certificate is revoked';
  if (typeof row['invalid-after'] === 'number' && now > row['invalid-after']) return 'the signer certificate has expired';
  if (typeof row['invalid-before'] === 'number' && now < row['invalid-before']) return 'the signer certificate is not valid yet';
  return undefined;
}

/** Row field of a /certificate row that a renewal replaced (a renewal is granted once per certificate). */
const RENEWED = '.scep-renewed';

/** The subject fields RouterOS knows are the same (the order and string types of the names aside). */
function sameSubject(a: CsrInfo, b: CertInfo): boolean {
  const theirs = parseName(b.subjectDer);
  return SUBJECT_FIELD_ORDER.every((f) => (a.subject[f] ?? '') === (theirs[f] ?? ''));
}

async function enrol(x: Exchange, csr: CsrInfo, signerInfo: CertInfo): Promise<ScepHttpResponse> {
  const { env, server, msg } = x;
  const refusal = csrRefusal(csr);
  if (refusal) return refuse(x, refusal);
  const now = env.clock.now();
  const fingerprint = sha256hex(csr.der);
  await pruneRequests(env);
  const state = await env.store.read((tx) => {
    const rows = requestRows(tx, server.id, msg.transactionId);
    const existing = rows.find(sameTransaction(x));
    const busy = rows.some((r) => r.data.status === 'pending');
    const signerRow = tx.findBy(CERT_PATH, 'fingerprint', signerInfo.fingerprint)[0];
    const otp = csr.challengePassword ? findOtp(env, tx, csr.challengePassword, now) : undefined;
    // The server ready to issue, in this same read; why it cannot is thrown once it would issue.
    let opened: OpenedServer | RosError | PkiError;
    try {
      opened = openServer(env, tx, server.id, now);
    } catch (e) {
      if (!(e instanceof RosError) && !(e instanceof PkiError)) throw e;
      opened = e;
    }
    return { existing, busy, signerRow, otp, opened };
  });
  if (state.existing) return retransmission(x, state.existing, fingerprint);
  if (state.busy) return refuse(x, { failInfo: 'badRequest', reason: 'the transaction id is in use by a waiting request of another key' });
  const caId = x.ca.id;
  const ours = state.signerRow?.data.ca === caId;
  // A certificate of this CA signs a request for its own subject: a renewal (RenewalReq; some
  // clients send PKCSReq), granted once per certificate.
  if (ours && sameSubject(csr, signerInfo)) {
    const problem = signerProblem(state.signerRow!.data, caId, now) ?? (state.signerRow!.data[RENEWED] !== undefined ? 'the signer certificate was renewed already' : undefined);
    if (problem) return refuse(x, { failInfo: 'badRequest', reason: `renewal refused: ${problem}` });
    return issue(x, csr, state.opened, { renews: state.signerRow! });
  }
  if (msg.messageType === 'RenewalReq' && !ours) {
    return refuse(x, { failInfo: 'badRequest', reason: `renewal refused: ${signerProblem(state.signerRow?.data, caId, now)!}` });
  }
  if (ours) {
    // …for another subject: an RA passes on someone's request (RFC 8894 §2.2). It is judged
    // like any new request (one-time password, or grant); the answer goes to the RA.
    const problem = signerProblem(state.signerRow!.data, caId, now);
    if (problem) return refuse(x, { failInfo: 'badRequest', reason: problem });
  } else if (!certificatePublicKey(msg.signerCertificate!).equals(csr.publicKey)) {
    // A new enrolment is signed with the request's own key (a self-signed certificate, §2.3).
    return refuse(x, { failInfo: 'badMessageCheck', reason: 'the message is not signed with the key of its request' });
  }
  if (csr.challengePassword) {
    if (!state.otp) return refuse(x, { failInfo: 'badRequest', reason: 'the challenge password is not a valid one-time password' });
    return issue(x, csr, state.opened, { otp: state.otp });
  }
  return wait(x, csr, fingerprint);
}

/** Issues at once (OTP or renewal): signed first, then stored in one write, then answered. */
async function issue(x: Exchange, csr: CsrInfo, opened: OpenedServer | RosError | PkiError, by: { otp?: StoredRow; renews?: StoredRow }): Promise<ScepHttpResponse> {
  const { env, msg } = x;
  if (opened instanceof Error) throw opened;
  const now = env.clock.now();
  const issued = signForServer(opened, csr, now);
  // The reply is signed on libuv's threadpool (node:crypto's asynchronous sign) while this
  // thread stores the certificate it carries and COMMITs: the two overlap on two cores, and
  // handing a job to the threadpool costs a few microseconds (a worker thread's message hop
  // cost more than an alone enrolment gained). It is sent only once the certificate is committed.
  const unsigned = prepareCertRep(certRepSpec(x, 'SUCCESS', { certificates: [issued.der], recipient: msg.signerCertificate }));
  const signature = signOnThreadpool(unsigned.digest, unsigned.toSign, x.ca.key);
  signature.catch(() => {}); // awaited below, or moot after a refusal
  const outcome = await env.store.write((tx): { name: string } | ScepRefusal => {
    if (requestRows(tx, x.server.id, msg.transactionId).some(sameTransaction(x))) return { failInfo: 'badRequest', reason: 'the transaction is already being answered' };
    if (by.otp) {
      const otp = tx.get(SCEP_OTP_PATH, by.otp.id);
      if (!otp || otp.data.used === true) return { failInfo: 'badRequest', reason: 'the one-time password was used meanwhile' };
      useOtp(tx, otp);
    }
    if (by.renews) {
      const old = tx.get(CERT_PATH, by.renews.id);
      if (!old || old.data[RENEWED] !== undefined) return { failInfo: 'badRequest', reason: 'renewal refused: the signer certificate was renewed meanwhile' };
      tx.update(CERT_PATH, old.id, { ...old.data, [RENEWED]: now });
    }
    const cert = storeIssued(env, tx, opened, issued);
    insertRequest(tx, x, csr, 'issued', { [REQUEST_CERT]: cert.id });
    const how = by.otp ? 'with a one-time password' : `renewing ${String(by.renews!.data.name)}`;
    env.log(tx, 'certificate,info', `${x.path}: certificate ${cert.name} for ${csr.subjectText || 'an empty subject'} issued by ${opened.signer.caName} to ${x.remote} (${how})`);
    return { name: cert.name };
  });
  if ('failInfo' in outcome) return refuse(x, outcome);
  return binary('application/x-pki-message', unsigned.finish(await signature));
}

function insertRequest(tx: WriteTx, x: Exchange, csr: CsrInfo, status: string, extra: RowData = {}): number {
  const now = x.env.clock.now();
  const id = tx.insert(SCEP_REQUESTS_PATH, {
    status, created: now, 'transaction-id': x.msg.transactionId, ...requestFacts(csr),
    [SERVER_REF]: x.server.id, [SIGNER_FP]: sha256hex(x.msg.signerCertificate!), [REQUEST_EXPIRES]: now + lifetimeMs(x.server.data), ...extra,
  });
  tx.setBlob(SCEP_REQUESTS_PATH, id, CSR_BLOB, csr.der);
  tx.setBlob(SCEP_REQUESTS_PATH, id, SIGNER_BLOB, x.msg.signerCertificate!);
  return id;
}

/** A request without a challenge: kept as pending until grant (within the server's caps). */
async function wait(x: Exchange, csr: CsrInfo, fingerprint: string): Promise<ScepHttpResponse> {
  const { env, server, msg, limits } = x;
  const refusal = await env.store.write((tx): ScepRefusal | undefined => {
    if (requestRows(tx, server.id, msg.transactionId).some(sameTransaction(x))) return { failInfo: 'badRequest', reason: 'the transaction is already being answered' };
    const waiting = tx.findBy(SCEP_REQUESTS_PATH, 'status', 'pending').filter((r) => r.data[SERVER_REF] === server.id);
    if (waiting.length >= limits.pendingPerServer) return { failInfo: 'badRequest', reason: `${waiting.length} requests already wait for grant` };
    const now = env.clock.now();
    const lastMinute = waiting.filter((r) => now - Number(r.data.created) < 60_000 && Number(r.data.created) <= now).length;
    if (lastMinute >= limits.pendingPerMinute) return { failInfo: 'badRequest', reason: `${lastMinute} requests came to wait for grant in the last minute` };
    insertRequest(tx, x, csr, 'pending');
    env.log(tx, 'certificate,info', `${x.path}: request ${msg.transactionId} from ${x.remote} for ${csr.subjectText || 'an empty subject'} waits for grant (${fingerprint.slice(0, 16)})`);
    return undefined;
  });
  if (refusal) return refuse(x, refusal);
  return reply(x, 'PENDING');
}

/** The same transactionID again: the same answer for the same request, else a refusal. */
async function retransmission(x: Exchange, row: StoredRow, fingerprint: string): Promise<ScepHttpResponse> {
  if (row.data['req-fingerprint'] !== fingerprint) {
    return refuse(x, { failInfo: 'badRequest', reason: 'the transaction id was used for another request (a replay?)' });
  }
  return answerFor(x, row, x.msg.signerCertificate!);
}

/** The answer a stored request gives now: PENDING, its certificate, or FAILURE. */
async function answerFor(x: Exchange, row: StoredRow, signer: Buffer): Promise<ScepHttpResponse> {
  const status = String(row.data.status);
  if (status === 'pending') return reply(x, 'PENDING');
  if (status === 'granted' || status === 'issued') {
    const cert = await x.env.store.read((tx) => {
      const id = row.data[REQUEST_CERT];
      return typeof id === 'number' ? certificateDer(tx, id) : undefined;
    });
    if (!cert) return refuse(x, { failInfo: 'badCertId', reason: 'the issued certificate was removed' });
    if (status === 'granted') {
      await x.env.store.write((tx) => {
        const now = tx.get(SCEP_REQUESTS_PATH, row.id);
        if (now && now.data.status === 'granted') {
          tx.update(SCEP_REQUESTS_PATH, row.id, { ...now.data, status: 'issued', [REQUEST_EXPIRES]: x.env.clock.now() + lifetimeMs(x.server.data) });
          x.env.log(tx, 'certificate,info', `${x.path}: granted request ${x.msg.transactionId} delivered to ${x.remote}`);
        }
      });
    }
    return reply(x, 'SUCCESS', { certificates: [cert], recipient: signer });
  }
  return refuse(x, { failInfo: 'badRequest', reason: `the request is ${status}` });
}

/** CertPoll (GetCertInitial, §3.3.3): the request of this transactionID, for the key that made it. */
async function poll(x: Exchange, data: Buffer): Promise<ScepHttpResponse> {
  try {
    parseIssuerAndSubject(data);
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    return refuse(x, { failInfo: 'badRequest', reason: e.message });
  }
  await pruneRequests(x.env);
  // The request of this transaction id made with the poll's key (the newest, if there are several).
  const key = certificatePublicKey(x.msg.signerCertificate!);
  const found = await x.env.store.read((tx) => {
    const rows = requestRows(tx, x.server.id, x.msg.transactionId);
    const mine = rows.map((row) => ({ row, signer: tx.getBlob(SCEP_REQUESTS_PATH, row.id, SIGNER_BLOB) }))
      .filter((r) => r.signer && certificatePublicKey(r.signer).equals(key));
    return { any: rows.length > 0, mine: mine.at(-1) };
  });
  if (!found.mine) {
    return found.any
      ? refuse(x, { failInfo: 'badMessageCheck', reason: 'the poll is not signed by the key that made the request' })
      : refuse(x, { failInfo: 'badCertId', reason: 'no request with this transaction id (unknown, or its lifetime ended)' });
  }
  return answerFor(x, found.mine.row, found.mine.signer!);
}

/** GetCert (§3.3.4): a certificate this CA issued, by issuer and serial number. */
async function getCert(x: Exchange, data: Buffer): Promise<ScepHttpResponse> {
  let wanted: { issuer: Buffer; serial: Buffer };
  try {
    wanted = parseIssuerAndSerial(data);
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    return refuse(x, { failInfo: 'badRequest', reason: e.message });
  }
  const serialHex = wanted.serial.subarray(2).toString('hex').replace(/^(00)+(?=.)/, '').toLowerCase();
  const cert = await x.env.store.read((tx) => {
    const caSubject = parseCertificate(x.ca.der).subjectDer;
    if (!caSubject.equals(wanted.issuer)) return undefined;
    const row = tx.findBy(CERT_PATH, 'serial-number', serialHex).find((r) => r.data.ca === x.ca.id);
    return row ? certificateDer(tx, row.id) : undefined;
  });
  if (!cert) return refuse(x, { failInfo: 'badCertId', reason: 'no certificate of this CA with that serial number' });
  return reply(x, 'SUCCESS', { certificates: [cert], recipient: x.msg.signerCertificate });
}

/** GetCRL (§3.3.5): the CA's current CRL. */
async function getCrl(x: Exchange, data: Buffer): Promise<ScepHttpResponse> {
  try {
    parseIssuerAndSerial(data);
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    return refuse(x, { failInfo: 'badRequest', reason: e.message });
  }
  const crl = await publishedCrl({ env: x.env }, `/crl/${x.ca.id}.crl`);
  if (!crl) return refuse(x, { failInfo: 'badCertId', reason: 'this CA has no CRL' });
  return reply(x, 'SUCCESS', { crls: [crl], recipient: x.msg.signerCertificate });
}

// ---------------------------------------------------------------------------------------------
// /log, bounded

/** Refusal lines: at most limits.logLinesPer10s per 10 s; the others are counted into the next line. */
export async function logRefusal(env: Environment, limits: ScepLimits, line: string): Promise<void> {
  const memo = env.cache.table<'window', { start: number; lines: number; dropped: number }>('scep.log');
  const now = env.clock.now();
  let w = memo.get('window');
  if (!w || now - w.start >= 10_000 || now < w.start) {
    w = { start: now, lines: 0, dropped: w?.dropped ?? 0 };
    memo.set('window', w);
  }
  if (w.lines >= limits.logLinesPer10s) { w.dropped++; return; }
  w.lines++;
  const dropped = w.dropped;
  w.dropped = 0;
  await env.store.write((tx) => {
    if (dropped > 0) env.log(tx, 'certificate,warning', `SCEP: ${dropped} more refusals were not logged`);
    env.log(tx, 'certificate,warning', `SCEP ${line}`);
  }).catch(() => {});
}

