// TLS material of a service, read from /certificate: the bound certificate, the intermediates
// the store holds for it (followed by akid → skid), its private key, and the tls-version limits.
// api-ssl without a certificate offers anonymous Diffie-Hellman as RouterOS does (spec §9.2).

import { X509Certificate, type KeyObject } from 'node:crypto';
import type tls from 'node:tls';
import { acmeResponder } from '../menus/certificate/acme-responder.js';
import { CERT_PATH } from '../menus/certificate/properties.js';
import { certificateDer, privateKey } from '../menus/certificate/keys.js';
import type { TlsVersion } from '../menus/ip/service.js';
import type { Environment } from '../menu/types.js';
import type { ReadTx } from '../store/store.js';

/** Anonymous DH suites (TLS 1.2; TLS 1.3 has none). SECLEVEL 0 is what allows them in OpenSSL 3. */
export const ANON_DH_CIPHERS = 'ADH-AES256-GCM-SHA384:ADH-AES128-GCM-SHA256:ADH-AES256-SHA256:ADH-AES128-SHA256:ADH-AES256-SHA:ADH-AES128-SHA:@SECLEVEL=0';

/**
 * What www-ssl and api-ssl offer with a certificate: forward-secret key exchanges only, as
 * RouterOS 7 with the default tls-version: every TLS 1.3 suite (RFC 8446 §9.1), and for TLS
 * 1.2 ECDHE and DHE (`dhparam: 'auto'`) with AEAD ciphers first, then CBC for older clients.
 * RSA key exchange (`AES128-SHA`, no forward secrecy) is not offered.
 */
export const FORWARD_SECRET_CIPHERS = [
  'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256',
  'ECDHE+AESGCM', 'ECDHE+CHACHA20', 'DHE+AESGCM', 'DHE+CHACHA20', 'ECDHE+AES', 'DHE+AES',
  '!aNULL', '!eNULL', '!PSK', '!SRP', '!DSS', '!kRSA',
].join(':');

export type TlsPlan =
  | { kind: 'cert'; signature: string; options: tls.SecureContextOptions; certName: string }
  | { kind: 'anon'; signature: string; options: tls.SecureContextOptions }
  | { kind: 'none'; reason: string };

function pem(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

function versions(v: TlsVersion | undefined): Pick<tls.SecureContextOptions, 'minVersion' | 'maxVersion'> {
  if (v === 'only-1.2') return { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' };
  if (v === 'only-1.3') return { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' };
  return { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' };
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
    if (seen.has(fp) || next === '' || next === akid) break; // self-signed root: clients have it
    seen.add(fp);
    out.push({ id: issuer.id, fingerprint: fp });
    akid = next;
  }
  return out;
}

/**
 * What a TLS service should present. `cheap` is the signature of the inputs (fingerprints,
 * version): the caller rebuilds the context only when it changes.
 */
export function planTls(env: Environment, tx: ReadTx, service: string, certId: number, tlsVersion: TlsVersion | undefined): TlsPlan {
  const range = versions(tlsVersion);
  if (!certId) {
    if (service === 'api-ssl') {
      return { kind: 'anon', signature: 'anon', options: { ciphers: ANON_DH_CIPHERS, dhparam: 'auto', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } };
    }
    return { kind: 'none', reason: 'no certificate' };
  }
  const row = tx.get(CERT_PATH, certId);
  if (!row) return { kind: 'none', reason: 'no certificate' };
  const name = String(row.data.name ?? '');
  const fingerprint = typeof row.data.fingerprint === 'string' ? row.data.fingerprint : '';
  const der = certificateDer(tx, certId);
  if (!fingerprint || !der) return { kind: 'none', reason: `certificate ${name} is not signed` };
  if (!row.data['private-key']) return { kind: 'none', reason: `no key for certificate ${name} found` };
  const chain = intermediates(tx, row.data);
  const signature = [fingerprint, ...chain.map((c) => c.fingerprint), tlsVersion ?? 'any'].join('|');
  const cached = built.get(signature);
  if (cached) return { kind: 'cert', signature, certName: name, options: withAcme(env, service, cached) };
  let key: KeyObject | undefined;
  try {
    key = privateKey(env, tx, certId, fingerprint);
  } catch {
    key = undefined;
  }
  if (!key) return { kind: 'none', reason: `no key for certificate ${name} found` };
  const certs = [der, ...chain.map((c) => certificateDer(tx, c.id)).filter((d): d is Buffer => !!d)];
  // A key that does not match the certificate would fail every handshake: say so instead.
  if (!new X509Certificate(der).checkPrivateKey(key)) return { kind: 'none', reason: `no key for certificate ${name} found` };
  const options: tls.SecureContextOptions = {
    cert: certs.map(pem).join(''), key: key.export({ type: 'pkcs8', format: 'pem' }) as string, ...range,
    ciphers: FORWARD_SECRET_CIPHERS, dhparam: 'auto',
  };
  if (built.size >= 16) built.clear();
  built.set(signature, options);
  return { kind: 'cert', signature, certName: name, options: withAcme(env, service, options) };
}

/** www-ssl also answers ACME TLS-ALPN-01 handshakes (RFC 8737) with this appliance's challenges. */
function withAcme(env: Environment, service: string, options: tls.SecureContextOptions): tls.SecureContextOptions {
  return service === 'www-ssl' ? { ...options, ...acmeResponder(env).tlsHooks } : options;
}

/** Contexts built lately, by signature: reconciling must not re-read keys when nothing changed. */
const built = new Map<string, tls.SecureContextOptions>();
