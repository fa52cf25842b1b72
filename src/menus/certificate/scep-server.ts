// /certificate scep-server (spec §4.3): the SCEP servers (RFC 8894) this router runs on www and
// www-ssl, each at its own path under /scep/ for one local CA, with
//  * /certificate scep-server otp: one-time challenge passwords; a request carrying a valid one
//    is granted at once,
//  * /certificate scep-server requests: requests waiting for `grant`, and the record of the
//    ones answered (replayed transaction ids are recognised by it) until request-lifetime ends.
// The protocol itself is scep-service.ts; certificates are signed by requests.ts signRequest,
// the code of sign-certificate-request, and appear in /certificate as `issued_<n>` (flag I).

import { createHash, randomInt } from 'node:crypto';
import { failure, noSuchItem } from '../../errors.js';
import { propValue, resolveItems } from '../../menu/generic.js';
import { boolType, dateType, durationType, enumType, intType, itemsType, presenceType, refType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, PropType, PropertyDecl, TypeContext } from '../../menu/types.js';
import { RosArray, type Value } from '../../menu/values.js';
import type { ReadTx, RowData, StoredRow, WriteTx } from '../../store/store.js';
import { nameAttributes, type CertInfo, type KeyUsageName } from '../../pki/index.js';
import { parseCsr, type CsrInfo } from '../../pki/csr.js';
import { certificateDer } from './keys.js';
import { CERT, CERT_PATH, isTemplate } from './properties.js';
import { requestSigner, signRequest, storeIssuedCertificate, type RequestSigner } from './requests.js';

export const SCEP_SERVER_PATH = '/certificate/scep-server';
export const SCEP_OTP_PATH = '/certificate/scep-server/otp';
export const SCEP_REQUESTS_PATH = '/certificate/scep-server/requests';
/** The RA menu (scep-ra.ts) shares the /scep/ paths with the servers. */
export const SCEP_RA_PATH = '/certificate/scep-server/ra';

const bare: PropType<string> = { ...stringType, quoted: false };
const MINUTE_NS = 60e9;

/** A path under /scep/: one segment of URL-safe characters (RFC 3986 unreserved). */
const SCEP_PATH_RE = /^\/scep\/[A-Za-z0-9._~-]{1,64}$/;
export const isScepPath = (p: string): boolean => SCEP_PATH_RE.test(p);

/** The path an RA (scep-ra.ts) answers at: its ra-path, by default /scep/<name>. */
export const raPathOf = (row: RowData): string =>
  typeof row['ra-path'] === 'string' ? row['ra-path'] : `/scep/${String(row.name).replace(/[^A-Za-z0-9._~-]/g, '-')}`;

const scepPathType: PropType<string> = {
  ...bare,
  parse(v, ctx, name) {
    const text = stringType.parse(v, ctx, name);
    if (!text.startsWith('/scep/')) throw failure('path must start with /scep/');
    if (!isScepPath(text)) throw failure('path must be /scep/ and a name of letters, digits and . _ ~ -');
    return text;
  },
};

/**
 * The properties of a server. days-valid and request-lifetime are written by every export
 * (`defaultVaries`), as in the RouterOS export line of spec §4.3.
 */
export const SCEP = {
  caCert: { name: 'ca-cert', type: refType(CERT_PATH, { onRemove: 'refuse' }), required: true, help: 'The local CA that signs (RSA, with its key)' } as PropertyDecl<number>,
  path: { name: 'path', type: scepPathType, required: true, unique: true, help: 'HTTP path under /scep/' } as PropertyDecl<string>,
  nextCaCert: { name: 'next-ca-cert', type: refType(CERT_PATH, { none: true }), default: 0, help: 'The CA that follows (GetNextCACert), or none' } as PropertyDecl<number>,
  daysValid: { name: 'days-valid', type: intType(1, 100000), default: 365, defaultVaries: true, help: 'Validity of issued certificates in days (never past the CA)' } as PropertyDecl<number>,
  requestLifetime: {
    name: 'request-lifetime', type: durationType(5 * MINUTE_NS, 4294967295e9), default: 5 * MINUTE_NS, defaultVaries: true,
    help: 'How long requests are kept (pending ones wait this long for grant)',
  } as PropertyDecl<number>,
  disabled: { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' } as PropertyDecl<boolean>,
};

/** Why a certificate row cannot be a SCEP server's CA, or undefined. */
export function scepCaProblem(row: RowData | undefined): string | undefined {
  if (!row || isTemplate(row)) return 'the CA certificate is not signed';
  if (row.authority !== true) return 'the certificate is not a CA (no key-cert-sign)';
  if (row['private-key'] !== true) return 'the CA certificate has no private key';
  // Clients encrypt their requests to the CA's key (RSA key transport, RFC 8894 §3.2.2)
  if (row['key-type'] !== 'rsa') return 'SCEP needs a CA with an RSA key';
  return undefined;
}

export const scepServerMenu: MenuDecl = {
  path: SCEP_SERVER_PATH,
  kind: 'list',
  help: 'SCEP servers',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'export'],
  columns: ['ca-cert', 'path', 'next-ca-cert', 'days-valid', 'request-lifetime'],
  properties: [SCEP.caCert, SCEP.path, SCEP.nextCaCert, SCEP.daysValid, SCEP.requestLifetime, SCEP.disabled],
  validate(row, tx) {
    const problem = scepCaProblem(tx.get(CERT_PATH, Number(row[SCEP.caCert.name]))?.data);
    if (problem) throw failure(`ca-cert: ${problem}`);
    const next = Number(row[SCEP.nextCaCert.name] ?? 0);
    if (next !== 0) {
      const n = tx.get(CERT_PATH, next)?.data;
      if (!n || isTemplate(n) || n.authority !== true) throw failure('next-ca-cert: the certificate is not a CA');
    }
    // An RA serves at its ra-path: one path, one service.
    if (tx.list(SCEP_RA_PATH).some((r) => raPathOf(r.data) === row[SCEP.path.name])) throw failure(`path ${String(row[SCEP.path.name])} is used by an RA`);
  },
  beforeRemove(id, tx) {
    // Its requests go with it (they are answered by no one any more).
    for (const r of tx.findBy(SCEP_REQUESTS_PATH, SERVER_REF, id)) tx.remove(SCEP_REQUESTS_PATH, r.id);
  },
};

// ---------------------------------------------------------------------------------------------
// One-time passwords

/** Row fields of an OTP beside its properties. */
const OTP_EXPIRES_AT = '.expires-at';

const otpExpired = (row: RowData, ctx: TypeContext): boolean => ctx.clock.now() >= Number(row[OTP_EXPIRES_AT] ?? 0);

/** 20 characters of A–Z and 2–7 (100 bits), PrintableString in every client. */
const OTP_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function newOtp(): string {
  let s = '';
  for (let i = 0; i < 20; i++) s += OTP_ALPHABET[randomInt(OTP_ALPHABET.length)];
  return s;
}

const minutesValidArg: ArgDecl<number> = { name: 'minutes-valid', type: intType(1, 525600), help: 'Minutes the password is valid (default 60)' };
const asValueArg: ArgDecl<boolean> = { name: 'as-value', type: presenceType, flagOnly: true };

const generateCommand: CommandDecl = {
  name: 'generate',
  help: 'Make a one-time challenge password',
  policy: ['write', 'sensitive'],
  args: [minutesValidArg, asValueArg],
  async run(call) {
    const { env, session } = call;
    const minutes = call.args.get(minutesValidArg) ?? 60;
    const password = newOtp();
    await env.store.write((tx) => {
      tx.insert(SCEP_OTP_PATH, { password, used: false, [OTP_EXPIRES_AT]: env.clock.now() + minutes * 60_000 });
      env.log(tx, 'certificate,info', `SCEP one-time password made by ${session.user}, valid ${minutes} minutes`);
    });
    if (call.args.flag(asValueArg)) return { ret: RosArray.fromRecord([['password', password]]) };
    return { ret: password, block: [['password', password]] };
  },
};
export const otpMenu: MenuDecl = {
  path: SCEP_OTP_PATH,
  kind: 'list',
  help: 'One-time challenge passwords of the SCEP servers',
  verbs: ['print', 'get', 'remove', 'find'],
  columns: ['password', 'expires', 'used'],
  properties: [
    { name: 'password', type: stringType, access: 'ro', sensitive: true },
    {
      name: 'expires', type: durationType(), access: 'ro',
      // Time left, whole seconds (`time` in inspect; 0s once expired).
      compute: (row, ctx) => Math.max(0, Math.floor((Number(row[OTP_EXPIRES_AT] ?? 0) - ctx.clock.now()) / 1000)) * 1e9,
    },
    { name: 'used', type: boolType, access: 'ro', default: false },
    { name: 'expired', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'E' }, compute: otpExpired },
  ],
  commands: [generateCommand],
};


/** SHA-256 of a password, hex: what passwords are found by. */
const passwordHash = (password: string): string => createHash('sha256').update(password).digest('hex');

/**
 * The OTP rows of a store by the SHA-256 of their password, followed across changes of the OTP
 * menu. Each enrolment marks its password used, which gives the menu a new list of rows; the
 * index then re-files only the rows whose data changed (row data is frozen and replaced on
 * change), an identity check per row, instead of being rebuilt (a hash-map entry and an array
 * per row and enrolment: with 600 passwords ≈ 0.3 ms of an enrolment).
 */
class OtpIndex {
  private list: readonly StoredRow[] | undefined;
  private readonly byId = new Map<number, { row: StoredRow; hash: string }>();
  private readonly byHash = new Map<string, Set<number>>();

  /** The rows of `rows` (the menu's current list) whose password has this hash, by id. */
  find(rows: readonly StoredRow[], hash: string): StoredRow[] {
    if (rows !== this.list) this.follow(rows);
    return [...(this.byHash.get(hash) ?? [])].sort((x, y) => x - y).map((id) => this.byId.get(id)!.row);
  }

  private follow(rows: readonly StoredRow[]): void {
    for (const row of rows) {
      const had = this.byId.get(row.id);
      if (had?.row.data === row.data) continue;
      const hash = had && had.row.data.password === row.data.password ? had.hash : passwordHash(String(row.data.password ?? ''));
      if (had && had.hash !== hash) this.unfile(row.id, had.hash);
      this.byId.set(row.id, { row, hash });
      let ids = this.byHash.get(hash);
      if (!ids) this.byHash.set(hash, ids = new Set());
      ids.add(row.id);
    }
    // Every current row is filed now, so more filed rows than current ones means some were removed.
    if (this.byId.size > rows.length) {
      const current = new Set(rows.map((r) => r.id));
      for (const [id, e] of this.byId) if (!current.has(id)) { this.byId.delete(id); this.unfile(id, e.hash); }
    }
    this.list = rows;
  }

  private unfile(id: number, hash: string): void {
    const ids = this.byHash.get(hash);
    ids?.delete(id);
    if (ids?.size === 0) this.byHash.delete(hash);
  }
}

/**
 * The OTP row a challenge password names, if it is unused and unexpired. Rows are found by the
 * SHA-256 of the password given, never by comparing passwords: the time a lookup takes depends
 * on that hash only, which tells nothing about the stored passwords (as the constant-time scan
 * of every row did, which cost a hash per row and request). The index (OtpIndex) is the
 * store's: one per environment.
 */
export function findOtp(env: Environment, tx: ReadTx, password: string, now: number): StoredRow | undefined {
  const indexes = env.cache.table<'index', OtpIndex>('scep.otp-index');
  let index = indexes.get('index');
  if (!index) indexes.set('index', index = new OtpIndex());
  let hit: StoredRow | undefined;
  for (const row of index.find(tx.list(SCEP_OTP_PATH), passwordHash(password))) {
    if (row.data.used !== true && now < Number(row.data[OTP_EXPIRES_AT] ?? 0)) hit = row;
  }
  return hit;
}

export function useOtp(tx: WriteTx, row: StoredRow): void {
  tx.update(SCEP_OTP_PATH, row.id, { ...row.data, used: true });
}

// ---------------------------------------------------------------------------------------------
// Requests

export const REQUEST_STATUSES = ['pending', 'granted', 'denied', 'authorized', 'waiting', 'failed', 'issued', 'invalid'] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** Row fields of a request beside its properties. */
export const SERVER_REF = '.server';
export const RA_REF = '.ra';
/** When the row goes (request-lifetime after its last change). */
export const REQUEST_EXPIRES = '.expires';
/** The /certificate row issued for it. */
export const REQUEST_CERT = '.cert';
/** Blobs: the PKCS#10 request and the certificate that signed the request (replies are encrypted for it). */
export const CSR_BLOB = 'csr';
export const SIGNER_BLOB = 'signer';

/** Who answers a request: the server's path, or the RA's name (the `authority` of inspect). */
function authorityOf(row: RowData, ctx: TypeContext): string | undefined {
  if (typeof row[SERVER_REF] === 'number') return String(ctx.tx.get(SCEP_SERVER_PATH, row[SERVER_REF])?.data.path ?? '');
  if (typeof row[RA_REF] === 'number') return String(ctx.tx.get(SCEP_RA_PATH, row[RA_REF])?.data.name ?? '');
  return undefined;
}

const roText = (name: string, type: PropType<string> = stringType): PropertyDecl => ({ name, type, access: 'ro' });

const PRUNE_EVERY_MS = 5_000;

/** Removes the requests whose request-lifetime has ended (at most every few seconds unless forced). */
export async function pruneRequests(env: Environment, force = false): Promise<void> {
  const memo = env.cache.table<'pruned', number>('scep.pruned');
  const now = env.clock.now();
  const last = memo.get('pruned');
  if (!force && last !== undefined && now - last < PRUNE_EVERY_MS && now >= last) return;
  memo.set('pruned', now);
  const due = await env.store.read((tx) => tx.list(SCEP_REQUESTS_PATH).some((r) => Number(r.data[REQUEST_EXPIRES] ?? 0) <= now));
  if (!due) return;
  await env.store.write((tx) => {
    for (const r of tx.list(SCEP_REQUESTS_PATH)) if (Number(r.data[REQUEST_EXPIRES] ?? 0) <= env.clock.now()) tx.remove(SCEP_REQUESTS_PATH, r.id);
  });
}

/** The subject facts of a request row, as the inspect list of requests names them. */
export function requestFacts(csr: CsrInfo): RowData {
  const s = csr.subject;
  const facts: RowData = {
    'req-fingerprint': createHash('sha256').update(csr.der).digest('hex'),
    'common-name': s.commonName ?? '',
    'subject-alt-name': csr.subjectAltName,
  };
  if (s.country) facts.country = s.country;
  if (s.state) facts.state = s.state;
  if (s.locality) facts.locality = s.locality;
  if (s.organization) facts.organization = s.organization;
  if (s.unit) facts.unit = s.unit;
  // The subject's serialNumber attribute (X.520; devices put their serial there, CAPsMAN too)
  const serial = nameAttributes(csr.subjectDer).find((a) => a.oid === '2.5.4.5');
  if (serial) facts['serial-number'] = serial.value;
  return facts;
}

// ---------------------------------------------------------------------------------------------
// What a SCEP server may issue

/** A refusal of a request, with the SCEP failInfo it is answered with (RFC 8894 §3.2.1.4). */
export interface ScepRefusal {
  failInfo: 'badAlg' | 'badMessageCheck' | 'badRequest' | 'badTime' | 'badCertId';
  reason: string;
}

const CA_USAGES: readonly KeyUsageName[] = ['key-cert-sign', 'crl-sign'];
/** The largest RSA key a request may carry (bits), and the curves RouterOS has. */
const MAX_RSA_BITS = 8192;

/** Why a PKCS#10 request is not signed (undefined: it may be): item 6 of issue 15. */
export function csrRefusal(csr: CsrInfo): ScepRefusal | undefined {
  if (!csr.signatureValid) return { failInfo: 'badMessageCheck', reason: 'the signature of the certificate request is not valid' };
  if (csr.keyType === 'rsa') {
    if (Number(csr.keySize) > MAX_RSA_BITS || Number(csr.keySize) < 1024) return { failInfo: 'badAlg', reason: `an RSA key of ${csr.keySize} bits` };
  } else if (csr.keyType === 'ec') {
    if (!['prime256v1', 'secp384r1', 'secp521r1'].includes(csr.keySize)) return { failInfo: 'badAlg', reason: `an EC key on curve ${csr.keySize}` };
  } else {
    return { failInfo: 'badAlg', reason: `a ${csr.keyType} key` };
  }
  if (csr.requestsCA) return { failInfo: 'badRequest', reason: 'the request asks for a CA certificate' };
  const forbidden = csr.keyUsage.filter((u) => CA_USAGES.includes(u));
  if (forbidden.length) return { failInfo: 'badRequest', reason: `the request asks for key usage ${forbidden.join(',')}` };
  return undefined;
}

/** A server row ready to issue: its CA opened for signing (refused as sign refuses). */
export interface OpenedServer {
  id: number;
  row: RowData;
  signer: RequestSigner;
  caDer: Buffer;
}

/**
 * The DER of a server's CA certificate, cached by row id and fingerprint (the SHA-256 of that DER)
 * as its key is (keys.ts privateKey): every PKIOperation needs it twice (to read the request,
 * to issue), and reading a blob makes a read a SQLite transaction of its own, where an
 * enrolment's other reads are served from the loaded menus.
 */
export function caCertificateDer(env: Environment, tx: ReadTx, id: number): Buffer | undefined {
  const fingerprint = tx.get(CERT_PATH, id)?.data.fingerprint;
  if (typeof fingerprint !== 'string') return certificateDer(tx, id);
  const cache = env.cache.table<number, { fingerprint: string; der: Buffer }>('scep.ca-der');
  const hit = cache.get(id);
  if (hit && hit.fingerprint === fingerprint) return hit.der;
  const der = certificateDer(tx, id);
  if (der) cache.set(id, { fingerprint, der });
  return der;
}

export function openServer(env: Environment, tx: ReadTx, id: number, now: number): OpenedServer {
  const row = tx.get(SCEP_SERVER_PATH, id);
  if (!row) throw failure('the SCEP server was removed');
  const caId = propValue(SCEP.caCert, row.data);
  const problem = scepCaProblem(tx.get(CERT_PATH, caId)?.data);
  if (problem) throw failure(problem);
  const signer = requestSigner(env, tx, caId, now);
  return { id, row: row.data, signer, caDer: caCertificateDer(env, tx, caId)! };
}

/** The certificate a server issues for a request (signed, not yet stored). */
export function signForServer(server: OpenedServer, csr: CsrInfo, now: number): { der: Buffer; info: CertInfo } {
  return signRequest(csr, server.signer, { daysValid: propValue(SCEP.daysValid, server.row), digest: CERT.digest.default as 'sha256', now });
}

/** The next free `issued_<n>` name (RouterOS's name for certificates issued to SCEP clients). */
export function issuedName(env: Environment, tx: ReadTx): string {
  const memo = env.cache.table<'next', number>('scep.issued-name');
  let n = memo.get('next') ?? 1;
  while (tx.findBy(CERT_PATH, 'name', `issued_${n}`).length > 0) n++;
  memo.set('next', n + 1);
  return `issued_${n}`;
}

/** Stores a certificate issued for a request and the request's new state, in one write. */
export function storeIssued(env: Environment, tx: WriteTx, server: OpenedServer, issued: { der: Buffer; info: CertInfo }): { id: number; name: string } {
  if (!tx.get(CERT_PATH, server.signer.caId)) throw failure('the CA was removed while signing');
  const name = issuedName(env, tx);
  const id = storeIssuedCertificate(tx, { name, der: issued.der, info: issued.info, caId: server.signer.caId });
  return { id, name };
}

export const lifetimeMs = (server: RowData): number => Math.round(propValue(SCEP.requestLifetime, server) / 1e6);

// ---------------------------------------------------------------------------------------------
// grant

const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'Requests to grant' };

/**
 * `grant`: the waiting requests are signed now (all of them or none) and their certificates
 * stored; the clients get them with their next poll (CertPoll).
 */
const grantCommand: CommandDecl = {
  name: 'grant',
  help: 'Grant waiting SCEP requests',
  policy: 'write',
  args: [numbersArg],
  async run(call) {
    const { env, session } = call;
    await pruneRequests(env, true);
    const now = env.clock.now();
    const plans = await env.store.read((tx) => {
      const ids = resolveItems(call.menu, call.args.get(numbersArg), session, tx);
      if (ids.length === 0) throw noSuchItem();
      return ids.map((id) => {
        const row = tx.get(SCEP_REQUESTS_PATH, id)!;
        if (row.data.status !== 'pending') throw failure(`request ${String(row.data['transaction-id'])} is ${String(row.data.status)}, not pending`);
        const server = openServer(env, tx, Number(row.data[SERVER_REF]), now);
        const csrDer = tx.getBlob(SCEP_REQUESTS_PATH, id, CSR_BLOB);
        if (!csrDer) throw failure('the request lost its certificate request');
        const csr = parseCsr(csrDer);
        const refusal = csrRefusal(csr);
        if (refusal) throw failure(`request ${String(row.data['transaction-id'])} can not be granted: ${refusal.reason}`);
        return { row, server, issued: signForServer(server, csr, now) };
      });
    });
    await env.store.write((tx) => {
      for (const p of plans) {
        const current = tx.get(SCEP_REQUESTS_PATH, p.row.id);
        if (!current || current.data !== p.row.data) throw failure('a request changed while it was granted; run grant again');
        const cert = storeIssued(env, tx, p.server, p.issued);
        tx.update(SCEP_REQUESTS_PATH, p.row.id, {
          ...current.data, status: 'granted', [REQUEST_CERT]: cert.id, [REQUEST_EXPIRES]: env.clock.now() + lifetimeMs(p.server.row),
        });
        env.log(tx, 'certificate,info', `SCEP request ${String(current.data['transaction-id'])} granted by ${session.user}: certificate ${cert.name} issued by ${p.server.signer.caName}`);
      }
    });
    return {};
  },
};

export const requestsMenu: MenuDecl = {
  path: SCEP_REQUESTS_PATH,
  kind: 'list',
  help: 'SCEP requests',
  verbs: ['print', 'get', 'remove', 'find'],
  columns: ['authority', 'status', 'common-name', 'created'],
  properties: [
    { name: 'authority', type: bare, access: 'ro', compute: authorityOf },
    { name: 'status', type: enumType(REQUEST_STATUSES), access: 'ro' },
    { name: 'created', type: dateType, access: 'ro' },
    roText('transaction-id'),
    roText('req-fingerprint'),
    roText('country'), roText('state'), roText('locality'), roText('organization'), roText('unit'), roText('common-name'),
    roText('serial-number'),
    { name: 'subject-alt-name', type: bare, access: 'ro', detail: 'always' },
  ],
  commands: [grantCommand],
  prepare: (env) => pruneRequests(env, true),
};

