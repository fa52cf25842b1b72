// /certificate crl (spec §4.2): the CRLs rospki knows. Dynamic entries (D) follow the CRL
// distribution points of trusted certificates; `add url=` makes manual ones. `download` fetches
// now, `flush` forgets the downloaded lists. With crl-download=yes the scheduler
// (crl-schedule.ts) keeps them fresh. crl-store=system keeps the DER in the store (surviving
// restarts); `ram` keeps it in this process only — except on a store several instances share
// (PostgreSQL, issue 17), where it is kept in the store too, so every instance checks against
// the same list: it is then in the database, never on an instance's disk.
//
// A URL that is a local CA's own publication point is read straight from that CA (no network).

import { failure } from '../../errors.js';
import { resolveItems } from '../../menu/generic.js';
import { boolType, dateType, intType, itemsType, refType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, PropType, PropertyDecl } from '../../menu/types.js';
import type { Value } from '../../menu/values.js';
import type { ReadTx, RowData, StoredRow, WriteTx } from '../../store/store.js';
import { parseCertificate, type CertInfo } from '../../pki/index.js';
import { parseCrl, verifyCrlSignature, type CrlInfo } from '../../pki/crl.js';
import { crlUrl } from './sign.js';
import { certificateDer } from './keys.js';
import { CERT_PATH } from './properties.js';
import { crlPathId, crlSignerProblem, publishedCrl } from './crl-publish.js';
import { readSettings } from './settings.js';
import { builtinRoots } from './builtin.js';

export const CRL_MENU_PATH = '/certificate/crl';
/** Downloads are bounded: 16 MiB (a 100,000-entry CRL is ~4 MiB) and 30 s. */
export const CRL_MAX_BYTES = 16 * 1024 * 1024;
export const CRL_DOWNLOAD_TIMEOUT_MS = 30_000;
/** Trusted certificates' CRLs are renewed hourly (v6 manual). */
export const CRL_REFRESH_MS = 3600_000;

const DER_BLOB = 'der';
const bare: PropType<string> = { ...stringType, quoted: false };
const numText: PropType<string> = { ...bare, numeric: true };

const flag = (name: string, letter: string, compute?: PropertyDecl['compute']): PropertyDecl => ({
  name, type: boolType, access: 'ro', detail: 'never', flag: { letter }, compute,
});

const properties: PropertyDecl[] = [
  { name: 'url', type: stringType, required: true, help: 'CRL URL' },
  { name: 'cert', type: refType(CERT_PATH, { none: true }), access: 'ro', default: 0 },
  {
    name: 'trust-store', type: bare, access: 'ro',
    compute: (row, ctx) => {
      const id = row.cert;
      const cert = typeof id === 'number' && id !== 0 ? ctx.tx.get(CERT_PATH, id) : undefined;
      const ts = cert?.data['trust-store'];
      return Array.isArray(ts) ? ts.join(',') : 'all';
    },
  },
  { name: 'num', type: numText, access: 'ro' },
  { name: 'revoked', type: intType(0, Number.MAX_SAFE_INTEGER, { numeric: true }), access: 'ro' },
  { name: 'last-update', type: dateType, access: 'ro' },
  { name: 'next-update', type: dateType, access: 'ro' },
  { name: 'akid', type: bare, access: 'ro' },
  { name: 'fingerprint', type: stringType, access: 'ro' },
  flag('expired', 'E', (row, ctx) => typeof row['next-update'] === 'number' && ctx.clock.now() > row['next-update']),
  flag('dynamic', 'D', (row) => row.dynamic === true),
  flag('invalid', 'I', (row) => row.invalid === true),
];

// ---------------------------------------------------------------------------------------------
// Dynamic entries

const cdpCache = new Map<string, string[]>();

/** CDP URLs of a certificate row: derived for local issuers, else read from its DER (cached). */
function cdpUrls(tx: ReadTx, row: StoredRow): string[] {
  const d = row.data;
  const caId = typeof d.ca === 'number' && d.ca !== 0 ? d.ca : undefined;
  const host = caId !== undefined ? tx.get(CERT_PATH, caId)?.data['ca-crl-host'] : d['ca-crl-host'];
  if (typeof host === 'string' && host !== '') return [crlUrl(host, caId ?? row.id)];
  const fp = String(d.fingerprint ?? '');
  let urls = cdpCache.get(fp);
  if (!urls) {
    const der = certificateDer(tx, row.id);
    try { urls = der ? parseCertificate(der).crlDistributionPoints : []; } catch { urls = []; }
    if (cdpCache.size > 10_000) cdpCache.clear();
    cdpCache.set(fp, urls);
  }
  return urls;
}

/** URL → the first trusted certificate naming it as a CRL distribution point. */
export function trustedCdps(tx: ReadTx): Map<string, number> {
  const out = new Map<string, number>();
  for (const row of tx.findBy(CERT_PATH, 'trusted', true)) {
    if (row.data.crl !== true || typeof row.data.fingerprint !== 'string') continue;
    for (const url of cdpUrls(tx, row)) if (!out.has(url)) out.set(url, row.id);
  }
  return out;
}

/** Brings the dynamic rows in line with the trusted certificates' CDPs. */
export async function reconcileCrlRows(env: Environment): Promise<void> {
  const plan = await env.store.read((tx) => {
    const want = trustedCdps(tx);
    const rows = tx.list(CRL_MENU_PATH);
    const dynamic = rows.filter((r) => r.data.dynamic === true);
    const haveUrl = new Set(dynamic.map((r) => String(r.data.url)));
    const add = [...want].filter(([url]) => !haveUrl.has(url));
    const remove = dynamic.filter((r) => !want.has(String(r.data.url))).map((r) => r.id);
    const recert = dynamic.filter((r) => want.has(String(r.data.url)) && want.get(String(r.data.url)) !== r.data.cert).map((r) => r.id);
    return { add, remove, recert, want };
  });
  if (!plan.add.length && !plan.remove.length && !plan.recert.length) return;
  await env.store.write((tx) => {
    for (const id of plan.remove) if (tx.get(CRL_MENU_PATH, id)) { tx.remove(CRL_MENU_PATH, id); forget(env, id); }
    for (const id of plan.recert) {
      const row = tx.get(CRL_MENU_PATH, id);
      if (row) tx.update(CRL_MENU_PATH, id, { ...row.data, cert: plan.want.get(String(row.data.url)) ?? 0 });
    }
    for (const [url, cert] of plan.add) {
      if (tx.list(CRL_MENU_PATH).some((r) => r.data.dynamic === true && r.data.url === url)) continue;
      tx.insert(CRL_MENU_PATH, { url, cert, dynamic: true });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Loaded CRLs (ram: this process; system: also a blob of the row)

const cacheOf = (env: Environment): Map<number, CrlInfo> => env.cache.table('crl.loaded');

function forget(env: Environment, id: number): void {
  cacheOf(env).delete(id);
}

/** The CRL a row holds now (parsed), or undefined. */
export function loadedCrl(env: Environment, tx: ReadTx, id: number): CrlInfo | undefined {
  const row = tx.get(CRL_MENU_PATH, id);
  if (!row || typeof row.data.fingerprint !== 'string' || row.data.invalid === true) return undefined;
  const cache = cacheOf(env);
  const hit = cache.get(id);
  if (hit && hit.fingerprint === row.data.fingerprint) return hit;
  const der = tx.getBlob(CRL_MENU_PATH, id, DER_BLOB);
  if (!der) return undefined; // ram: downloaded by another process, or before a restart
  try {
    const info = parseCrl(der);
    if (info.fingerprint !== row.data.fingerprint) return undefined;
    cache.set(id, info);
    return info;
  } catch {
    return undefined;
  }
}

/** The certificate that signed a CRL: a /certificate row or a built-in root whose key verifies it. */
export function crlIssuer(tx: ReadTx, crl: CrlInfo): CertInfo | undefined {
  const candidates: CertInfo[] = [];
  const rows = crl.akid ? tx.findBy(CERT_PATH, 'skid', crl.akid) : tx.findBy(CERT_PATH, 'authority', true);
  for (const r of rows) {
    const der = certificateDer(tx, r.id);
    if (der) try { candidates.push(parseCertificate(der)); } catch { /* unreadable */ }
  }
  for (const root of builtinRoots()) if (!crl.akid || root.skid === crl.akid) candidates.push(root);
  return candidates.find((c) => c.subjectDer.equals(crl.issuerDer) && verifyCrlSignature(crl, c.publicKey));
}

/** The local CA that publishes `url` (its own `http://<ca-crl-host>/crl/<id>.crl`), if any. */
export function localCaForUrl(tx: ReadTx, url: string): number | undefined {
  let u: URL;
  try { u = new URL(url); } catch { return undefined; }
  const id = crlPathId(u.pathname);
  if (id === undefined) return undefined;
  const row = tx.get(CERT_PATH, id);
  const host = row?.data['ca-crl-host'];
  if (typeof host !== 'string' || crlUrl(host, id) !== url || crlSignerProblem(row!.data)) return undefined;
  return id;
}

/** Downloads (or reads locally) the CRL of one row and stores the outcome. Never throws. */
export async function downloadCrl(env: Environment, id: number, signal?: AbortSignal): Promise<{ ok: boolean; error?: string }> {
  const target = await env.store.read((tx) => {
    const row = tx.get(CRL_MENU_PATH, id);
    return row ? { url: String(row.data.url), local: localCaForUrl(tx, String(row.data.url)) } : undefined;
  });
  if (!target) return { ok: false, error: 'no such item' };
  let der: Buffer | undefined;
  let error: string | undefined;
  try {
    if (target.local !== undefined) {
      der = await publishedCrl({ env }, `/crl/${target.local}.crl`);
      if (!der) error = 'the local CA can not sign a CRL';
    } else {
      const u = new URL(target.url);
      if (u.protocol !== 'http:') throw failure(`only http CRL URLs are supported (${u.protocol.replace(':', '')})`);
      const { httpRequest } = await import('./http-client.js'); // loaded on first download
      const res = await httpRequest({
        url: target.url, maxBytes: CRL_MAX_BYTES, idleTimeoutMs: 10_000, totalTimeoutMs: CRL_DOWNLOAD_TIMEOUT_MS, maxRedirects: 2, signal,
      });
      if (res.status !== 200) error = `Status ${res.status}, ${res.statusText}`;
      else der = res.body;
    }
  } catch (e) {
    error = (e as Error).message;
  }
  let info: CrlInfo | undefined;
  if (der) {
    try {
      info = parseCrl(der[0] === 0x2d ? pemToDer(der) : der);
    } catch (e) {
      error = (e as Error).message;
    }
  }
  return env.store.write((tx) => {
    const row = tx.get(CRL_MENU_PATH, id);
    if (!row) return { ok: false, error: 'no such item' };
    const now = env.clock.now();
    if (info && !error) {
      const issuer = crlIssuer(tx, info);
      if (!issuer) error = 'CRL signature can not be verified: issuer certificate not found';
    }
    if (!info || error) {
      tx.update(CRL_MENU_PATH, id, { ...row.data, invalid: true, '.tried': now });
      tx.setBlob(CRL_MENU_PATH, id, DER_BLOB, undefined);
      forget(env, id);
      env.log(tx, 'certificate,warning', `CRL download from ${target.url} failed: ${error}`);
      return { ok: false, error };
    }
    const data: RowData = {
      ...row.data, num: info.crlNumber, revoked: info.revoked.size, 'last-update': info.thisUpdate, akid: info.akid,
      fingerprint: info.fingerprint, invalid: false, '.tried': now,
    };
    if (info.nextUpdate !== undefined) data['next-update'] = info.nextUpdate; else delete data['next-update'];
    tx.update(CRL_MENU_PATH, id, data);
    // crl-store=ram: the DER stays in this process only (shared store: in the database, see
    // the top of this file); system: also beside the row.
    const stored = readSettings(tx).crlStore === 'system' || env.store.instances !== undefined;
    tx.setBlob(CRL_MENU_PATH, id, DER_BLOB, stored ? der : undefined);
    cacheOf(env).set(id, info);
    return { ok: true };
  });
}

function pemToDer(pem: Buffer): Buffer {
  const m = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/.exec(pem.toString('latin1'));
  return m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : pem;
}

/** Forgets every downloaded CRL (rows stay, without their facts). */
function flushAll(env: Environment, tx: WriteTx): void {
  for (const row of tx.list(CRL_MENU_PATH)) {
    const data: RowData = { url: row.data.url, cert: row.data.cert ?? 0 };
    if (row.data.dynamic === true) data.dynamic = true;
    if (row.data.comment !== undefined) data.comment = row.data.comment;
    tx.update(CRL_MENU_PATH, row.id, data);
    tx.setBlob(CRL_MENU_PATH, row.id, DER_BLOB, undefined);
    forget(env, row.id);
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

const crlNumbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, help: 'CRLs to download (all when omitted)' };

const downloadCommand: CommandDecl = {
  name: 'download',
  help: 'Download CRLs now',
  policy: 'write',
  args: [crlNumbersArg],
  async run(call) {
    const ids = await call.env.store.read((tx) => call.args.has(crlNumbersArg)
      ? resolveItems(call.menu, call.args.get(crlNumbersArg), call.session, tx)
      : tx.list(CRL_MENU_PATH).map((r) => r.id));
    const errors: string[] = [];
    for (const id of ids) {
      const r = await downloadCrl(call.env, id, call.session.signal);
      if (!r.ok && r.error) errors.push(r.error);
    }
    if (ids.length === 1 && errors.length === 1) throw failure(errors[0]!);
    return {};
  },
};

const flushCommand: CommandDecl = {
  name: 'flush',
  help: 'Drop cached CRLs',
  policy: 'write',
  args: [],
  async run(call) {
    await call.env.store.write((tx) => {
      flushAll(call.env, tx);
      call.env.log(tx, 'system,info', `certificate crl flushed by ${call.session.user}`);
    });
    return {};
  },
};

export const crlMenu: MenuDecl = {
  path: CRL_MENU_PATH,
  kind: 'list',
  help: 'Certificate revocation lists',
  // Export writes manual entries only: dynamic rows come back by themselves (generic rule).
  verbs: ['print', 'get', 'set', 'add', 'remove', 'find', 'export'],
  properties,
  columns: ['url', 'cert', 'num', 'revoked', 'next-update'],
  commands: [downloadCommand, flushCommand],
  prepare: reconcileCrlRows,
  validate(row) {
    if (row.dynamic === true) throw failure('can not change dynamic entry');
    const url = String(row.url ?? '');
    let ok = false;
    try { ok = ['http:', 'https:', 'ldap:', 'ftp:'].includes(new URL(url).protocol); } catch { ok = false; }
    if (!ok) throw failure(`invalid CRL URL "${url}"`);
  },
  beforeRemove(id, tx, env) {
    if (tx.get(CRL_MENU_PATH, id)?.data.dynamic === true) throw failure('can not remove dynamic entry');
    forget(env, id);
  },
};

