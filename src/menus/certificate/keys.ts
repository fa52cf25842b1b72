// Certificate material kept beside a /certificate row: the DER (blob `der`) and the private
// key as PKCS#8 sealed with the data directory's secret (blob `key`, AES-256-GCM, spec §6.2
// rule 9 — sealed by a file secret rather than RouterOS's hardware id, so a copied data
// directory keeps working).

import type { KeyObject } from 'node:crypto';
import type { Environment } from '../../menu/types.js';
import type { ReadTx, Store, WriteTx } from '../../store/store.js';
import {
  exportPkcs8Der, generateKeyDer, importPkcs8Der, issuerFromCertificate, parseCertificate, type CertInfo, type IssuerSpec, type KeyDer, type KeySize,
} from '../../pki/index.js';
import { failure, RosError } from '../../errors.js';
import type { RowData } from '../../store/store.js';
import { CERT_PATH, isTemplate } from './properties.js';

export const DER_BLOB = 'der';
export const KEY_BLOB = 'key';

export function certificateDer(tx: ReadTx, id: number): Buffer | undefined {
  return tx.getBlob(CERT_PATH, id, DER_BLOB);
}

/** Seals and stores a private key given as unencrypted PKCS#8 DER (or a KeyObject). */
export function storeKey(store: Store, tx: WriteTx, id: number, key: KeyObject | Buffer): void {
  const pkcs8 = Buffer.isBuffer(key) ? key : exportPkcs8Der(key);
  tx.setBlob(CERT_PATH, id, KEY_BLOB, store.seal(pkcs8));
}

/**
 * Opened CA keys, by row id and certificate fingerprint (the appliance's cache table): unsealing
 * and importing a key costs more than signing with it, and a CA signs many certificates in a row.
 */
export function privateKey(env: Environment, tx: ReadTx, id: number, fingerprint: string): KeyObject | undefined {
  const cache = env.cache.table<number, { fingerprint: string; key: KeyObject }>('certificate.keys');
  const hit = cache.get(id);
  if (hit && hit.fingerprint === fingerprint) return hit.key;
  const sealed = tx.getBlob(CERT_PATH, id, KEY_BLOB);
  if (!sealed) return undefined;
  const key = importPkcs8Der(env.store.unseal(sealed));
  cache.set(id, { fingerprint, key });
  return key;
}

/** A local CA ready to sign: its parsed certificate and issuer facts, cached like its key. */
export interface OpenedCa {
  info: CertInfo;
  issuer: IssuerSpec & { kind: 'ca' };
}

export function openCa(env: Environment, tx: ReadTx, id: number, fingerprint: string): OpenedCa | undefined {
  const cache = env.cache.table<number, { fingerprint: string; ca: OpenedCa }>('certificate.cas');
  const hit = cache.get(id);
  if (hit && hit.fingerprint === fingerprint) return hit.ca;
  const key = privateKey(env, tx, id, fingerprint);
  const der = certificateDer(tx, id);
  if (!key || !der) return undefined;
  const info = parseCertificate(der);
  const ca = { info, issuer: issuerFromCertificate(info, key) };
  cache.set(id, { fingerprint, ca });
  return ca;
}

/** Why a row cannot issue certificates now, or undefined when it can. */
function caProblem(ca: RowData, now: number, hasKey: boolean): string | undefined {
  if (isTemplate(ca)) return 'CA certificate is not signed yet';
  if (!hasKey) return 'CA certificate has no private key';
  if (ca.authority !== true) return 'certificate is not a CA (no key-cert-sign)';
  if (typeof ca.revoked === 'number') return 'CA certificate is revoked';
  if (typeof ca['invalid-after'] === 'number' && now > ca['invalid-after']) return 'CA certificate is expired';
  return undefined;
}

/**
 * The local CA `id`, ready to sign at `now` (sign, sign-certificate-request): a signed CA
 * certificate with its key, not revoked, not expired. Otherwise a clear failure.
 */
export function openSigningCa(env: Environment, tx: ReadTx, id: number, now: number): OpenedCa {
  const row = tx.get(CERT_PATH, id);
  if (!row) throw failure('no such CA certificate');
  const opened = isTemplate(row.data) ? undefined : openCa(env, tx, id, String(row.data.fingerprint));
  const problem = caProblem(row.data, now, opened !== undefined);
  if (problem) throw failure(problem);
  return opened!;
}

/**
 * A new key for a command, or `interrupted` as soon as the command is cancelled (API /cancel,
 * Ctrl-C): an RSA key takes seconds (RSA-4096 under load: tens of seconds), and the caller must
 * not wait for it once cancelled. The threadpool job cannot be stopped; its key is dropped.
 */
export async function generateKeyUnlessCancelled(keySize: KeySize, signal: AbortSignal | undefined): Promise<KeyDer> {
  const interrupted = () => new RosError('interrupted', 'interrupted');
  if (!signal) return generateKeyDer(keySize);
  if (signal.aborted) throw interrupted();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(interrupted());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  const key = generateKeyDer(keySize);
  key.catch(() => {}); // a failure after the cancel is moot
  try {
    return await Promise.race([key, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}
