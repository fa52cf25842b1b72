// JSON Web Signatures for ACME: RFC 8555 §6.2 (flattened JWS JSON, protected header with alg,
// nonce, url and jwk or kid), RFC 7515 (JWS), RFC 7518 §3.4 (ECDSA signatures are R || S, not
// DER), RFC 7638 (JWK thumbprint, for key authorizations), and RFC 8555 §7.3.4 (the external
// account binding: an HS256 JWS over the account key, keyed by the CA's MAC key).

import { createHash, createHmac, sign as cryptoSign, type KeyObject } from 'node:crypto';

export type Jwk = Readonly<Record<string, string>>;

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

export const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/**
 * Base64url or plain base64 (with or without padding) to bytes: CAs hand out EAB MAC keys in
 * either alphabet (RouterOS's own argument is called eab-key-b64). Undefined when not base64.
 */
export function decodeBase64Any(text: string): Buffer | undefined {
  const t = text.trim().replace(/=+$/, '');
  if (t === '' || !/^[A-Za-z0-9+/_-]+$/.test(t)) return undefined;
  return Buffer.from(t.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
}

/** The public JWK of a key (RFC 7517 §4, RFC 7518 §6): only the members RFC 7638 hashes. */
export function publicJwk(key: KeyObject): Jwk {
  const jwk = key.export({ format: 'jwk' }) as Record<string, string>;
  if (jwk.kty === 'EC') return { crv: jwk.crv!, kty: 'EC', x: jwk.x!, y: jwk.y! };
  if (jwk.kty === 'RSA') return { e: jwk.e!, kty: 'RSA', n: jwk.n! };
  throw new Error(`ACME account keys are EC or RSA, not ${String(jwk.kty)}`);
}

/** RFC 7638 §3: SHA-256 over the required members in lexicographic order, base64url. */
export function jwkThumbprint(jwk: Jwk): string {
  const members = jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['e', 'kty', 'n'];
  const canonical = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(',')}}`;
  return base64url(createHash('sha256').update(canonical).digest());
}

const EC_ALG: Record<string, { alg: string; hash: string }> = {
  'P-256': { alg: 'ES256', hash: 'sha256' },
  'P-384': { alg: 'ES384', hash: 'sha384' },
  'P-521': { alg: 'ES512', hash: 'sha512' },
};

/** The JWS algorithm of a private key (RFC 7518 §3.1) and the hash it signs with. */
export function jwsAlgorithm(key: KeyObject): { alg: string; hash: string } {
  if (key.asymmetricKeyType === 'rsa') return { alg: 'RS256', hash: 'sha256' };
  const crv = (key.export({ format: 'jwk' }) as Record<string, string>).crv ?? '';
  const a = EC_ALG[crv];
  if (!a) throw new Error(`unsupported ACME account key curve ${crv}`);
  return a;
}

/**
 * A flattened JWS (RFC 7515 §7.2.2). `payload` undefined is POST-as-GET (RFC 8555 §6.3): the
 * payload is the empty string, not `{}`.
 */
export function signJws(key: KeyObject, header: Record<string, unknown>, payload: unknown): FlattenedJws {
  const { alg, hash } = jwsAlgorithm(key);
  const protectedB64 = base64url(JSON.stringify({ alg, ...header }));
  const payloadB64 = payload === undefined ? '' : base64url(JSON.stringify(payload));
  const input = Buffer.from(`${protectedB64}.${payloadB64}`);
  // RFC 7518 §3.4: ECDSA signatures are the fixed-length R || S, not DER.
  const signature = key.asymmetricKeyType === 'ec'
    ? cryptoSign(hash, input, { key, dsaEncoding: 'ieee-p1363' })
    : cryptoSign(hash, input, key);
  return { protected: protectedB64, payload: payloadB64, signature: base64url(signature) };
}

/** RFC 8555 §7.3.4: the externalAccountBinding of a newAccount request. */
export function externalAccountBinding(accountJwk: Jwk, kid: string, macKey: Buffer, url: string): FlattenedJws {
  const protectedB64 = base64url(JSON.stringify({ alg: 'HS256', kid, url }));
  const payloadB64 = base64url(JSON.stringify(accountJwk));
  const mac = createHmac('sha256', macKey).update(`${protectedB64}.${payloadB64}`).digest();
  return { protected: protectedB64, payload: payloadB64, signature: base64url(mac) };
}
