// What a TLS endpoint presents from a /certificate row: the certificate, the intermediates the
// store holds for it (followed by akid → skid) and its private key, as PEM. One reading for the
// TLS services (services/tls.ts), netwatch's https-get and /tool fetch's client certificate.

import { X509Certificate, type KeyObject } from 'node:crypto';
import type { Environment } from '../../menu/types.js';
import type { ReadTx } from '../../store/store.js';
import { certificateDer, privateKey } from './keys.js';
import { CERT_PATH } from './properties.js';

export type TlsMaterial =
  /** signature: the fingerprints of what is presented (a caller rebuilds only when it changes). */
  | { kind: 'cert'; name: string; signature: string; cert: string; key: string }
  | { kind: 'none'; reason: string; noKey?: boolean };

function pem(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

/** Issuers the store holds for a certificate, leaf excluded, self-signed roots excluded. */
function intermediates(tx: ReadTx, leaf: Record<string, unknown>): Array<{ id: number; fingerprint: string }> {
  const out: Array<{ id: number; fingerprint: string }> = [];
  const seen = new Set<string>([String(leaf.fingerprint ?? '')]);
  let akid = String(leaf.akid ?? '');
  for (let depth = 0; depth < 8 && akid !== ''; depth++) {
    const issuer = tx.findBy(CERT_PATH, 'skid', akid).find((r) => typeof r.data.fingerprint === 'string');
    if (!issuer) break;
    const fp = String(issuer.data.fingerprint);
    const next = String(issuer.data.akid ?? '');
    if (seen.has(fp) || next === '' || next === akid) break; // self-signed root: peers have it
    seen.add(fp);
    out.push({ id: issuer.id, fingerprint: fp });
    akid = next;
  }
  return out;
}

/** The certificate `certId` with its chain and key, or why it can not be presented. */
export function tlsMaterial(env: Environment, tx: ReadTx, certId: number): TlsMaterial {
  const row = certId ? tx.get(CERT_PATH, certId) : undefined;
  if (!row) return { kind: 'none', reason: 'no certificate' };
  const name = String(row.data.name ?? '');
  const fingerprint = typeof row.data.fingerprint === 'string' ? row.data.fingerprint : '';
  const der = certificateDer(tx, certId);
  if (!fingerprint || !der) return { kind: 'none', reason: `certificate ${name} is not signed` };
  const noKey = { kind: 'none', reason: `no key for certificate ${name} found`, noKey: true } as const;
  if (!row.data['private-key']) return noKey;
  const chain = intermediates(tx, row.data);
  const signature = [fingerprint, ...chain.map((c) => c.fingerprint)].join('|');
  const cached = built.get(signature);
  if (cached) return { kind: 'cert', name, signature, ...cached };
  let key: KeyObject | undefined;
  try {
    key = privateKey(env, tx, certId, fingerprint);
  } catch {
    key = undefined;
  }
  if (!key) return noKey;
  // A key that does not match the certificate would fail every handshake: say so instead.
  if (!new X509Certificate(der).checkPrivateKey(key)) return noKey;
  const certs = [der, ...chain.map((c) => certificateDer(tx, c.id)).filter((d): d is Buffer => !!d)];
  const material = { cert: certs.map(pem).join(''), key: key.export({ type: 'pkcs8', format: 'pem' }) as string };
  if (built.size >= 16) built.clear();
  built.set(signature, material);
  return { kind: 'cert', name, signature, ...material };
}

/** Material built lately, by signature: reconciling must not re-read keys when nothing changed. */
const built = new Map<string, { cert: string; key: string }>();
