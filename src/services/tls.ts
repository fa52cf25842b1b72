// TLS material of a service, read from /certificate (menus/certificate/tls-material.ts: the bound
// certificate, the intermediates the store holds for it, its private key), and the tls-version limits.
// api-ssl without a certificate offers anonymous Diffie-Hellman as RouterOS does (spec §9.2).

import type tls from 'node:tls';
import { acmeResponder } from '../menus/certificate/acme-responder.js';
import { tlsMaterial } from '../menus/certificate/tls-material.js';
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

function versions(v: TlsVersion | undefined): Pick<tls.SecureContextOptions, 'minVersion' | 'maxVersion'> {
  if (v === 'only-1.2') return { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' };
  if (v === 'only-1.3') return { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' };
  return { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' };
}

/**
 * What a TLS service should present. `signature` is the signature of the inputs (fingerprints,
 * version): the caller rebuilds the context only when it changes.
 */
export function planTls(env: Environment, tx: ReadTx, service: string, certId: number, tlsVersion: TlsVersion | undefined): TlsPlan {
  if (!certId && service === 'api-ssl') {
    return { kind: 'anon', signature: 'anon', options: { ciphers: ANON_DH_CIPHERS, dhparam: 'auto', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } };
  }
  const material = tlsMaterial(env, tx, certId);
  if (material.kind === 'none') return { kind: 'none', reason: material.reason };
  const options: tls.SecureContextOptions = {
    cert: material.cert, key: material.key, ...versions(tlsVersion), ciphers: FORWARD_SECRET_CIPHERS, dhparam: 'auto',
  };
  return { kind: 'cert', signature: `${material.signature}|${tlsVersion ?? 'any'}`, certName: material.name, options: withAcme(env, service, options) };
}

/** www-ssl also answers ACME TLS-ALPN-01 handshakes (RFC 8737) with this appliance's challenges. */
function withAcme(env: Environment, service: string, options: tls.SecureContextOptions): tls.SecureContextOptions {
  return service === 'www-ssl' ? { ...options, ...acmeResponder(env).tlsHooks } : options;
}
