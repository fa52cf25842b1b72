// /certificate scep-server ra (spec §4.3): rospki as a registration authority (RFC 8894 §2.2)
// in front of another SCEP server. The RA's own certificate is its `template`, enrolled at
// `server-url` by the SCEP client (with `challenge-password`, `ca-identity`) and renewed like any
// SCEP certificate (`renew` forces it). At `ra-path` (www, www-ssl) the RA answers clients:
// GetCACert gives its certificate and the CA's, clients encrypt for it, and it passes each
// request on — same transaction, same request — encrypted for the server and signed by itself,
// then hands the server's answer back, encrypted for the client. The server decides (a one-time
// password, or its administrator's grant); the RA keeps the record in scep-server requests
// (authority = its name, status waiting, issued or failed) for ra-transaction-lifetime.

import { createHash } from 'node:crypto';
import { failure, RosError } from '../../errors.js';
import { propValue, resolveItems } from '../../menu/generic.js';
import { boolType, durationType, enumType, itemsType, refType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, PropType, PropertyDecl, TypeContext } from '../../menu/types.js';
import type { Value } from '../../menu/values.js';
import type { ReadTx, RowData, StoredRow } from '../../store/store.js';
import { PkiError, parseCertificate } from '../../pki/index.js';
import { certificateInfo, createDegenerate, certificatePublicKey } from '../../pki/cms.js';
import { parseCsr, type CsrInfo } from '../../pki/csr.js';
import { createCertRep, openMessageData, parseIssuerAndSubject, parsePkiMessage, type FailInfo, type PkiMessage } from '../../pki/scep-message.js';
import { CERT, CERT_PATH, isTemplate, keyTypeOfSize } from './properties.js';
import {
  CSR_BLOB, RA_REF, REQUEST_EXPIRES, SCEP_RA_PATH, SCEP_REQUESTS_PATH, SCEP_SERVER_PATH, SIGNER_BLOB, csrRefusal, isScepPath, raPathOf,
  requestFacts, type ScepRefusal,
} from './scep-server.js';
import { makeRaClient, passOn, renewScepRow, scepCaOf, scepRequestOf, stateOf, upstreamOf, type Upstream } from './scep-client.js';
import {
  SERVER_CAPS, binary, gatedPkiOperation, logRefusal, operationOf, queryParams, replyCipher, scepRsaOperation, text,
  type ScepHttpRequest, type ScepHttpResponse, type ScepLimits,
} from './scep-service.js';

const MINUTE_NS = 60e9;
const bare: PropType<string> = { ...stringType, quoted: false };

const urlType: PropType<string> = {
  ...stringType,
  parse(v, ctx, name) {
    const s = stringType.parse(v, ctx, name);
    let u: URL;
    try { u = new URL(s); } catch { throw failure('invalid server-url'); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw failure('server-url must be an http or https URL');
    return s;
  },
};

const raPathType: PropType<string> = {
  ...bare,
  parse(v, ctx, name) {
    const text = stringType.parse(v, ctx, name);
    if (!isScepPath(text)) throw failure('ra-path must be /scep/ and a name of letters, digits and . _ ~ -');
    return text;
  },
};

export const RA = {
  name: { name: 'name', type: stringType, required: true, unique: true } as PropertyDecl<string>,
  serverUrl: { name: 'server-url', type: urlType, required: true, help: 'URL of the SCEP server the RA passes requests on to' } as PropertyDecl<string>,
  template: { name: 'template', type: refType(CERT_PATH, { onRemove: 'refuse' }), required: true, help: 'Template of the RA\'s own certificate (RSA)' } as PropertyDecl<number>,
  challenge: { name: 'challenge-password', type: stringType, sensitive: true, help: 'Challenge of the RA\'s own enrolment' } as PropertyDecl<string>,
  identity: { name: 'ca-identity', type: stringType, default: '', help: 'CA identifier sent with GetCACert' } as PropertyDecl<string>,
  fingerprintAlgorithm: { name: 'fingerprint-algorithm', type: enumType(['sha256', 'sha1', 'md5']), default: 'sha256', help: 'Digest of req-fingerprint and ca-fingerprint' } as PropertyDecl<string>,
  raPath: { name: 'ra-path', type: raPathType, help: 'Path where the RA answers (default /scep/<name>)' } as PropertyDecl<string>,
  lifetime: { name: 'ra-transaction-lifetime', type: durationType(5 * MINUTE_NS, 4294967295e9), default: 5 * MINUTE_NS, help: 'How long the RA keeps the record of a transaction' } as PropertyDecl<number>,
  onSmartCard: { name: 'on-smart-card', type: boolType, default: false, detail: 'never' } as PropertyDecl<boolean>,
  disabled: { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' } as PropertyDecl<boolean>,
};


const digestOf = (row: RowData, der: Buffer | undefined): string | undefined =>
  der ? createHash(propValue(RA.fingerprintAlgorithm, row)).update(der).digest('hex') : undefined;

function templateRow(row: RowData, ctx: TypeContext): StoredRow | undefined {
  return ctx.tx.get(CERT_PATH, propValue(RA.template, row));
}

/** What the RA's certificate is doing: the status of its SCEP enrolment. */
function statusOf(row: RowData, ctx: TypeContext): string {
  const t = templateRow(row, ctx);
  if (!t) return 'invalid';
  if (!stateOf(t.data)) return propValue(RA.disabled, row) ? 'disabled' : 'connecting';
  return String(t.data.status ?? 'idle');
}

const renewArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'RAs whose certificate to renew' };

/** `renew`: the RA's certificate is enrolled, renewed, or asked about (pending) now. */
const renewCommand: CommandDecl = {
  name: 'renew',
  help: 'Enrol or renew the RA certificate now',
  policy: 'write',
  args: [renewArg],
  async run(call) {
    const { env, session } = call;
    const targets = await env.store.write((tx) => resolveItems(call.menu, call.args.get(renewArg), session, tx).map((id) => {
      const row = tx.get(SCEP_RA_PATH, id)!;
      const certId = propValue(RA.template, row.data);
      makeRaClient(tx, certId, { url: propValue(RA.serverUrl, row.data), identity: propValue(RA.identity, row.data), challenge: row.data[RA.challenge.name] as string ?? '', owner: session.user, now: env.clock.now() });
      return certId;
    }));
    let outcome = 'done';
    for (const certId of targets) outcome = await renewScepRow(env, certId, session);
    if (outcome.startsWith('failed: ')) throw failure(`SCEP ${outcome.slice(8)}`);
    return { block: [['progress', outcome === 'pending' ? 'waiting for approval' : outcome]] };
  },
};

export const raMenu: MenuDecl = {
  path: SCEP_RA_PATH,
  kind: 'list',
  help: 'SCEP registration authorities',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'export'],
  columns: ['name', 'server-url', 'template', 'ra-path', 'status'],
  properties: [
    RA.name, RA.serverUrl, RA.template, RA.challenge, RA.identity, RA.fingerprintAlgorithm, RA.raPath, RA.lifetime, RA.onSmartCard,
    { name: 'req-fingerprint', type: bare, access: 'ro', compute: (row, ctx) => { const t = templateRow(row, ctx); return t ? digestOf(row, scepRequestOf(ctx.tx, t.id)) : undefined; } },
    { name: 'ca-fingerprint', type: bare, access: 'ro', compute: (row, ctx) => { const t = templateRow(row, ctx); return t ? digestOf(row, scepCaOf(ctx.tx, t.id)) : undefined; } },
    { name: 'status', type: stringType, access: 'ro', compute: statusOf },
    RA.disabled,
    { name: 'smart-card-key', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'C' }, compute: () => false },
  ],
  commands: [renewCommand],
  validate(row, tx, _env, id) {
    if (propValue(RA.onSmartCard, row)) throw failure('smart cards are not supported');
    const t = tx.get(CERT_PATH, propValue(RA.template, row));
    if (!t) throw failure('no such template');
    // The template becomes the RA's certificate: an RSA key (clients encrypt for it).
    if (isTemplate(t.data) && keyTypeOfSize(propValue(CERT.keySize, t.data)) !== 'rsa') throw failure('the RA needs an RSA key: set key-size of the template to 1024, 2048, 4096 or 8192');
    if (!isTemplate(t.data) && !stateOf(t.data)) throw failure('template must be a certificate template');
    if (tx.list(SCEP_RA_PATH).some((r) => r.id !== id && propValue(RA.template, r.data) === t.id)) throw failure('the template is the certificate of another RA');
    const path = raPathOf(row);
    if (!isScepPath(path)) throw failure('ra-path must be /scep/ and a name of letters, digits and . _ ~ -');
    if (tx.findBy(SCEP_SERVER_PATH, 'path', path).length > 0) throw failure(`path ${path} is used by a SCEP server`);
    if (tx.list(SCEP_RA_PATH).some((r) => r.id !== id && raPathOf(r.data) === path)) throw failure(`path ${path} is used by another RA`);
  },
  beforeRemove(id, tx) {
    for (const r of tx.findBy(SCEP_REQUESTS_PATH, RA_REF, id)) tx.remove(SCEP_REQUESTS_PATH, r.id);
  },
};

/**
 * The daemon's part (services/scep.ts): each enabled RA whose template is not yet a SCEP
 * certificate becomes one, due at once, so that the SCEP client enrols it.
 */
export async function prepareRas(env: Environment, owner = 'admin'): Promise<void> {
  const todo = await env.store.read((tx) => tx.list(SCEP_RA_PATH)
    .filter((r) => !propValue(RA.disabled, r.data))
    .filter((r) => { const t = tx.get(CERT_PATH, propValue(RA.template, r.data)); return t && isTemplate(t.data) && !stateOf(t.data); })
    .map((r) => r.id));
  if (todo.length === 0) return;
  await env.store.write((tx) => {
    for (const id of todo) {
      const r = tx.get(SCEP_RA_PATH, id);
      if (!r) continue;
      makeRaClient(tx, propValue(RA.template, r.data), {
        url: propValue(RA.serverUrl, r.data), identity: propValue(RA.identity, r.data),
        challenge: (r.data[RA.challenge.name] as string | undefined) ?? '', owner, now: env.clock.now(),
      });
      env.log(tx, 'certificate,info', `SCEP RA ${String(r.data.name)}: enrolling its certificate at ${propValue(RA.serverUrl, r.data)}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Answering clients at ra-path

/** The enabled RA serving a path, or undefined. */
export function raAtPath(tx: ReadTx, path: string): StoredRow | undefined {
  return tx.list(SCEP_RA_PATH).find((r) => !propValue(RA.disabled, r.data) && raPathOf(r.data) === path);
}

interface RaContext { row: StoredRow; path: string; up: Upstream; cert: Buffer; certId: number }

/** Answers one HTTP request at an RA's path. */
export async function answerRa(env: Environment, ra: StoredRow, req: ScepHttpRequest, limits: ScepLimits): Promise<ScepHttpResponse> {
  const path = raPathOf(ra.data);
  const certId = propValue(RA.template, ra.data);
  const up = await env.store.read((tx) => upstreamOf(env, tx, certId));
  if (!up) return text(503, 'the RA has no certificate yet\n', { 'Retry-After': '60' });
  const params = queryParams(req.query);
  switch (operationOf(params)) {
    case 'getcacaps':
      return text(200, `${SERVER_CAPS.filter((c) => c !== 'GetNextCACert').join('\n')}\n`);
    case 'getcacert':
      // The RA's certificate (clients encrypt for it) and the CA's (§4.2.1.2).
      return binary('application/x-x509-ca-ra-cert', createDegenerate([up.own.certificate, up.peer.ca]));
    case 'getnextcacert':
      return text(404, 'no next CA certificate\n');
    case 'pkioperation': {
      const x = { row: ra, path, up, cert: up.own.certificate, certId };
      return gatedPkiOperation(env, req, params, limits, path, (der) => raOperation(env, x, der, req.remote, limits));
    }
    default:
      return text(400, 'unknown operation\n');
  }
}

async function raOperation(env: Environment, x: RaContext, der: Buffer, remote: string, limits: ScepLimits): Promise<ScepHttpResponse> {
  let msg: PkiMessage;
  try {
    msg = parsePkiMessage(der, [x.cert]);
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    await logRefusal(env, limits, `RA ${x.path}: unreadable message from ${remote}: ${e.message}`);
    return text(400, 'malformed SCEP message\n');
  }
  let cipher: Parameters<typeof replyCipher>[0] | undefined;
  const reply = (status: 'SUCCESS' | 'PENDING' | 'FAILURE', extra: { failInfo?: FailInfo; failInfoText?: string; certificate?: Buffer } = {}): ScepHttpResponse =>
    binary('application/x-pki-message', createCertRep({
      transactionId: msg.transactionId, recipientNonce: msg.senderNonce, status, failInfo: extra.failInfo, failInfoText: extra.failInfoText,
      certificates: extra.certificate ? [extra.certificate] : undefined, recipient: msg.signerCertificate,
      cipher: cipher ? replyCipher(cipher) : 'aes-256-cbc',
      signer: { certificate: x.cert, privateKey: x.up.own.key, digest: msg.digest === 'md5' ? 'sha256' : msg.digest },
      extraCertificates: [x.up.peer.ca],
    }));
  const refuse = async (r: ScepRefusal): Promise<ScepHttpResponse> => {
    await logRefusal(env, limits, `RA ${x.path}: ${msg.messageType ?? msg.messageTypeCode} ${msg.transactionId} from ${remote} refused: ${r.reason}`);
    return reply('FAILURE', { failInfo: r.failInfo, failInfoText: r.reason });
  };
  if (!msg.signerCertificate) return refuse({ failInfo: 'badMessageCheck', reason: 'the message carries no signer certificate' });
  if (!msg.signatureValid) return refuse({ failInfo: 'badMessageCheck', reason: 'the signature of the message is not valid' });
  if (!msg.senderNonce) return refuse({ failInfo: 'badRequest', reason: 'the message has no senderNonce' });
  const type = msg.messageType;
  if (type !== 'PKCSReq' && type !== 'RenewalReq' && type !== 'CertPoll') return refuse({ failInfo: 'badRequest', reason: `${type ?? msg.messageTypeCode} is not passed on by an RA` });
  try {
    if (certificateInfo(msg.signerCertificate).keyType !== 'rsa') return refuse({ failInfo: 'badAlg', reason: 'the signer\'s key is not RSA (replies are encrypted for it)' });
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    return refuse({ failInfo: 'badMessageCheck', reason: e.message });
  }
  let data: Buffer;
  try {
    const opened = await openMessageData(msg, { certificate: x.cert, privateKey: x.up.own.key, rsa: scepRsaOperation(env, x.up.own.key) });
    data = opened.data;
    cipher = opened.cipher;
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    return refuse({ failInfo: e.code === 'unsupported' ? 'badAlg' : 'badMessageCheck', reason: e.message });
  }
  // What the client asks for: its request (checked here too), or the request of its poll.
  let csr: CsrInfo | undefined;
  try {
    if (type === 'CertPoll') parseIssuerAndSubject(data);
    else csr = parseCsr(data);
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    return refuse({ failInfo: 'badRequest', reason: e.message });
  }
  if (csr) {
    const refusal = csrRefusal(csr);
    if (refusal) return refuse(refusal);
    if (!certificatePublicKey(msg.signerCertificate).equals(csr.publicKey) && type === 'PKCSReq') {
      return refuse({ failInfo: 'badMessageCheck', reason: 'the message is not signed with the key of its request' });
    }
  }
  const stored = await env.store.read((tx) => {
    const row = tx.findBy(SCEP_REQUESTS_PATH, 'transaction-id', msg.transactionId).find((r) => r.data[RA_REF] === x.row.id);
    return row ? { row, csr: tx.getBlob(SCEP_REQUESTS_PATH, row.id, CSR_BLOB) } : undefined;
  });
  const requestDer = csr?.der ?? stored?.csr;
  if (!requestDer) return refuse({ failInfo: 'badCertId', reason: 'no request with this transaction id (unknown, or its lifetime ended)' });
  const key = parseCsr(requestDer).publicKey;
  let answer;
  try {
    answer = await passOn(x.up, { messageType: type, transactionId: msg.transactionId, messageData: data });
  } catch (e) {
    if (!(e instanceof RosError) && !(e instanceof PkiError)) throw e;
    return refuse({ failInfo: 'badRequest', reason: `the SCEP server can not be asked: ${e.message}` });
  }
  const mine = answer.status === 'SUCCESS'
    ? answer.certificates.find((c) => { try { return parseCertificate(c).publicKey.equals(key); } catch { return false; } })
    : undefined;
  const status = answer.status === 'SUCCESS' ? (mine ? 'issued' : 'failed') : answer.status === 'PENDING' ? 'waiting' : 'failed';
  await record(env, x, msg, csr, requestDer, status);
  if (answer.status === 'PENDING') return reply('PENDING');
  if (answer.status === 'FAILURE') return refuse({ failInfo: answer.failInfo ?? 'badRequest', reason: `the SCEP server refused it: ${answer.reason}` });
  if (!mine) return refuse({ failInfo: 'badRequest', reason: 'the SCEP server sent no certificate for the request\'s key' });
  await env.store.write((tx) => env.log(tx, 'certificate,info', `SCEP RA ${String(x.row.data.name)}: certificate for ${parseCertificate(mine).subjectText} passed to ${remote}`));
  return reply('SUCCESS', { certificate: mine });
}

/** The RA's record of a transaction (scep-server requests, authority = the RA). */
async function record(env: Environment, x: RaContext, msg: PkiMessage, csr: CsrInfo | undefined, requestDer: Buffer, status: string): Promise<void> {
  const lifetime = Math.round(propValue(RA.lifetime, x.row.data) / 1e6);
  await env.store.write((tx) => {
    const now = env.clock.now();
    const row = tx.findBy(SCEP_REQUESTS_PATH, 'transaction-id', msg.transactionId).find((r) => r.data[RA_REF] === x.row.id);
    if (row) {
      tx.update(SCEP_REQUESTS_PATH, row.id, { ...row.data, status, [REQUEST_EXPIRES]: now + lifetime });
      return;
    }
    const id = tx.insert(SCEP_REQUESTS_PATH, {
      status, created: now, 'transaction-id': msg.transactionId, ...requestFacts(csr ?? parseCsr(requestDer)),
      [RA_REF]: x.row.id, [REQUEST_EXPIRES]: now + lifetime,
    });
    tx.setBlob(SCEP_REQUESTS_PATH, id, CSR_BLOB, requestDer);
    tx.setBlob(SCEP_REQUESTS_PATH, id, SIGNER_BLOB, msg.signerCertificate!);
  });
}

