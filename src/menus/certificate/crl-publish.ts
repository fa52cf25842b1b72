// The CRLs of local CAs (spec §1.9, §4.2): generated on every revocation and again well before
// next-update, kept beside the CA row, and served by www at the URL written into the CRL
// distribution point of every certificate the CA issued (`http://<ca-crl-host>/crl/<CA id>.crl`,
// sign.ts crlUrl).
//
// Beside the CA row:
//   blob `crl`          the signed CRL (DER), exactly what www serves
//   blob `crl-entries`  the revokedCertificates entries, each encoded once, concatenated: one
//                       more revocation appends ~40 bytes and re-signs (never re-encodes 100,000)
//   data `.crl`         { number, thisUpdate, nextUpdate, count } (hidden: not a property)
//   data `crl`          true once the CA publishes a CRL (flag L)

import { formatDate } from '../../clock.js';
import { failure } from '../../errors.js';
import type { Environment } from '../../menu/types.js';
import type { ReadTx, RowData, Store, WriteTx } from '../../store/store.js';
import { buildCrl } from '../../pki/crl.js';
import { findLibfaketime } from '../host/programs.js';
import { openCa } from './keys.js';
import { CERT_PATH, isTemplate } from './properties.js';

export const CRL_BLOB = 'crl';
export const CRL_ENTRIES_BLOB = 'crl-entries';
export const CRL_STATE = '.crl';

/** A CRL is valid for one day (v6 manual: renewed on every revocation and every 24 h)… */
export const CRL_VALIDITY_MS = 24 * 3600_000;
/** …and renewed once less than this is left, so a missed hour or two never lets it expire. */
export const CRL_RENEW_BEFORE_MS = 12 * 3600_000;
/** A published CRL this close to next-update was not renewed: /log warns (issue 6). */
export const CRL_WARN_BEFORE_MS = 6 * 3600_000;

export interface CrlState {
  number: number;
  thisUpdate: number;
  nextUpdate: number;
  count: number;
}

export function crlState(data: RowData): CrlState | undefined {
  const s = data[CRL_STATE] as CrlState | undefined;
  return s && typeof s.number === 'number' ? s : undefined;
}

/** Why a row cannot sign a CRL, or undefined when it can (a local CA with its key). */
export function crlSignerProblem(data: RowData | undefined): string | undefined {
  if (!data) return 'CA certificate was removed';
  if (isTemplate(data)) return 'CA certificate is not signed';
  if (data.authority !== true) return 'certificate is not a CA';
  if (data['private-key'] !== true) return 'CA certificate has no private key';
  return undefined;
}

/**
 * Signs a new CRL for a local CA inside the caller's write transaction, with `added` entries
 * (encodeCrlEntry results) appended to the ones it already lists. Throws when the CA cannot sign.
 */
export function regenerateCrl(env: Environment, tx: WriteTx, caId: number, added: readonly Buffer[] = []): CrlState {
  const row = tx.get(CERT_PATH, caId);
  const problem = crlSignerProblem(row?.data);
  if (problem) throw failure(problem);
  const ca = openCa(env, tx, caId, String(row!.data.fingerprint));
  if (!ca) throw failure('CA certificate has no private key');
  const before = crlState(row!.data);
  const old = tx.getBlob(CERT_PATH, caId, CRL_ENTRIES_BLOB);
  const entries = added.length ? Buffer.concat(old ? [old, ...added] : [...added]) : (old ?? Buffer.alloc(0));
  const now = env.clock.now();
  // This-update is the router clock's now, as on RouterOS (one clock). The daemons rospki
  // supervises (openvpn, charon) judge the CRL by the router clock too, through libfaketime
  // (services/daemon-clock.ts). A host without it leaves them on the host's clock: then a
  // this-update ahead of it (router clock set ahead) would be "not yet valid" to them and every
  // client refused, so it is never later than the host's clock; next-update keeps the router's.
  const issued = findLibfaketime() ? now : Math.min(now, Date.now());
  const state: CrlState = {
    number: (before?.number ?? 0) + 1,
    thisUpdate: Math.floor(issued / 1000) * 1000,
    nextUpdate: Math.floor(now / 1000) * 1000 + CRL_VALIDITY_MS,
    count: (before?.count ?? 0) + added.length,
  };
  const der = buildCrl({
    issuerNameDer: ca.info.subjectDer,
    authorityKeyId: ca.issuer.skid,
    privateKey: ca.issuer.privateKey,
    thisUpdate: state.thisUpdate,
    nextUpdate: state.nextUpdate,
    crlNumber: state.number,
    entries,
  });
  if (added.length) tx.setBlob(CERT_PATH, caId, CRL_ENTRIES_BLOB, entries);
  tx.setBlob(CERT_PATH, caId, CRL_BLOB, der);
  tx.update(CERT_PATH, caId, { ...row!.data, crl: true, [CRL_STATE]: state });
  return state;
}

/** `/crl/<id>.crl` → the CA row id. */
export function crlPathId(urlPath: string): number | undefined {
  const m = /^\/crl\/(\d{1,9})\.crl$/.exec(urlPath.split('?')[0]!);
  return m ? Number(m[1]) : undefined;
}

/** Whether a local CA's CRL needs signing again now. */
export function crlNeedsRenewal(data: RowData, now: number): boolean {
  const s = crlState(data);
  return !s || s.nextUpdate - now < CRL_RENEW_BEFORE_MS || s.thisUpdate > now + 60_000;
}

/**
 * What www answers for `GET /crl/<n>.crl`: the DER CRL of local CA <n>, renewed first when it
 * is missing or due. undefined → 404 (no such CA, not a CA, no key to sign with).
 */
export async function publishedCrl(app: { readonly env: Environment }, urlPath: string): Promise<Buffer | undefined> {
  const id = crlPathId(urlPath);
  if (id === undefined) return undefined;
  const { env } = app;
  const current = await env.store.read((tx) => {
    const row = tx.get(CERT_PATH, id);
    if (!row || row.data.authority !== true) return { renew: false, der: undefined };
    const stored = tx.getBlob(CERT_PATH, id, CRL_BLOB);
    // A CA that can no longer sign keeps serving its last CRL (clients judge next-update).
    if (crlSignerProblem(row.data)) return { renew: false, der: stored };
    return { renew: !stored || crlNeedsRenewal(row.data, env.clock.now()), der: stored };
  });
  if (!current.renew) return current.der;
  return env.store.write((tx) => {
    const row = tx.get(CERT_PATH, id);
    if (!row || row.data.authority !== true) return undefined;
    if (!crlSignerProblem(row.data) && (crlNeedsRenewal(row.data, env.clock.now()) || !tx.getBlob(CERT_PATH, id, CRL_BLOB))) {
      try {
        const s = regenerateCrl(env, tx, id);
        env.log(tx, 'certificate,info', `CRL #${s.number} of ${String(row.data.name)} signed, next update ${formatDate(s.nextUpdate, env.zone(tx))}`);
      } catch {
        // serve what there is
      }
    }
    return tx.getBlob(CERT_PATH, id, CRL_BLOB);
  });
}

/** The local CA's current CRL DER as stored (no renewal): the trust engine's local source. */
export function localCrlDer(tx: ReadTx, caId: number): Buffer | undefined {
  return tx.getBlob(CERT_PATH, caId, CRL_BLOB);
}

/** When each CA's CRL was last warned about (at most one warning an hour). */
const warned = new WeakMap<Store, Map<number, number>>();

/**
 * Renews every local CA CRL that is due (CAs that publish one: signed with ca-crl-host, or
 * with a CRL already) and warns about those that could not be renewed and near next-update.
 * Returns how many were signed. Used by the scheduler; safe to call at any time.
 */
export async function renewDueCrls(env: Environment): Promise<number> {
  const now = env.clock.now();
  const due = await env.store.read((tx) => tx.findBy(CERT_PATH, 'authority', true)
    .filter((r) => (crlState(r.data) !== undefined || typeof r.data['ca-crl-host'] === 'string') && crlNeedsRenewal(r.data, now))
    .map((r) => r.id));
  let signed = 0;
  for (const id of due) {
    await env.store.write((tx) => {
      const row = tx.get(CERT_PATH, id);
      if (!row || !crlNeedsRenewal(row.data, env.clock.now())) return;
      const name = String(row.data.name);
      const problem = crlSignerProblem(row.data);
      let failure = problem;
      if (!problem) {
        try {
          const s = regenerateCrl(env, tx, id);
          signed++;
          env.log(tx, 'certificate,info', `CRL #${s.number} of ${name} signed, next update ${formatDate(s.nextUpdate, env.zone(tx))}`);
          return;
        } catch (e) {
          failure = (e as Error).message;
        }
      }
      const s = crlState(row.data);
      const nowMs = env.clock.now();
      let seen = warned.get(env.store);
      if (!seen) warned.set(env.store, (seen = new Map()));
      const last = seen.get(id);
      if (s && s.nextUpdate - nowMs < CRL_WARN_BEFORE_MS && (last === undefined || nowMs - last >= 3600_000 || nowMs < last)) {
        seen.set(id, nowMs);
        const when = s.nextUpdate <= env.clock.now() ? 'expired at' : 'expires at';
        env.log(tx, 'certificate,warning', `CRL of ${name} ${when} ${formatDate(s.nextUpdate, env.zone(tx))} and could not be renewed: ${failure}`);
      }
    });
  }
  return signed;
}
