// Key generation and key facts: RSA (RFC 8017) and EC over the RFC 5480 §2.1.1.1 named curves,
// private keys as PKCS#8 (RFC 5208 / RFC 5958), public keys as SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
// RSA keygen always uses the async node:crypto call (libuv threadpool): RSA-8192 can take 6-18 s.

import {
  createECDH, createPrivateKey, createPublicKey, generateKeyPair as generateKeyPairCb, sign as cryptoSign, verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { PkiError } from './errors.js';
import { takeReadyEcKey } from './key-pool.js';
import { rsaPublicNumbers, spkiInfo } from './spki.js';

/** RouterOS `key-size` values (§1.2). Numbers are RSA modulus sizes; names are EC curves. */
export const KEY_SIZES = ['1024', '1536', '2048', '4096', '8192', 'prime256v1', 'secp384r1', 'secp521r1'] as const;
export type KeySize = (typeof KEY_SIZES)[number];
export type KeyType = 'rsa' | 'ec' | 'dsa';
export const EC_CURVES = ['prime256v1', 'secp384r1', 'secp521r1'] as const;
export type EcCurve = (typeof EC_CURVES)[number];

export interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export type KeygenProgress = 'generating' | 'done';

export interface GenerateKeyOptions {
  /** Called with 'generating' before the work starts and 'done' when the pair exists. */
  onProgress?: (stage: KeygenProgress) => void;
}

export const isKeySize = (s: string): s is KeySize => (KEY_SIZES as readonly string[]).includes(s);
export const isEcCurve = (s: string): s is EcCurve => (EC_CURVES as readonly string[]).includes(s);

/**
 * New key pair for a RouterOS key-size, generated on the libuv threadpool (RSA-8192 takes 6-18 s;
 * never blocks the event loop). The pair is generated as DER (PKCS#8 + SPKI) and re-imported, so
 * the returned KeyObjects are not tied to a native KeyGenJob: on Node 20.20 touching a freshly
 * generated key (JWK/DER export, asymmetricKeyDetails) can deadlock when a GC collects its
 * KeyGenJob during the call (observed in bench/pki-issue.ts; see the report). The SPKI DER is
 * cached for exportSpkiDer().
 */
export async function generateKey(keySize: KeySize, opts: GenerateKeyOptions = {}): Promise<KeyPair> {
  const ders = await generateKeyDer(keySize, opts);
  const privateKey = createPrivateKey({ key: ders.pkcs8, format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey({ key: ders.spki, format: 'der', type: 'spki' });
  SPKI_CACHE.set(publicKey, ders.spki);
  SPKI_CACHE.set(privateKey, ders.spki);
  return { publicKey, privateKey };
}

/** A new key pair as DER only (SPKI + unencrypted PKCS#8): what a store keeps, no export cost. */
export interface KeyDer {
  spki: Buffer;
  pkcs8: Buffer;
}

/**
 * Like generateKey, but returns the DER: EC keys come from the keys made ahead (key-pool.ts) or
 * the synchronous fast path (generateEcKeyRaw, ≈ 0.04 ms for P-256), RSA keys from the threadpool.
 */
export async function generateKeyDer(keySize: KeySize, opts: GenerateKeyOptions = {}): Promise<KeyDer> {
  if (!isKeySize(keySize)) {
    throw new PkiError('bad-key-size', `invalid key-size "${String(keySize)}" (expected one of ${KEY_SIZES.join(', ')})`);
  }
  opts.onProgress?.('generating');
  if (isEcCurve(keySize)) {
    const { spki, pkcs8 } = takeReadyEcKey(keySize) ?? generateEcKeyRaw(keySize);
    opts.onProgress?.('done');
    return { spki, pkcs8 };
  }
  const enc = {
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  } as const;
  const ders = await new Promise<KeyDer>((resolve, reject) => {
    generateKeyPairCb('rsa', { modulusLength: Number(keySize), publicExponent: 0x10001, ...enc }, (err: Error | null, spki: Buffer, pkcs8: Buffer) => {
      if (err) reject(new PkiError('bad-key', `key generation (${keySize}) failed: ${err.message}`, { cause: err }));
      else resolve({ spki, pkcs8 });
    });
  });
  opts.onProgress?.('done');
  return ders;
}

/** An EC key generated without KeyObjects (the issuing fast path): DER only, KeyObject on demand. */
export interface RawEcKey {
  curve: EcCurve;
  /** SubjectPublicKeyInfo DER (RFC 5480). */
  spki: Buffer;
  /** Unencrypted PKCS#8 PrivateKeyInfo DER (RFC 5208) holding an RFC 5915 ECPrivateKey. */
  pkcs8: Buffer;
}

const CURVE_INFO: Record<EcCurve, { oid: Buffer; coord: number; jwk: string }> = {
  prime256v1: { oid: Buffer.from('06082a8648ce3d030107', 'hex'), coord: 32, jwk: 'P-256' },
  secp384r1: { oid: Buffer.from('06052b81040022', 'hex'), coord: 48, jwk: 'P-384' },
  secp521r1: { oid: Buffer.from('06052b81040023', 'hex'), coord: 66, jwk: 'P-521' },
};
const EC_ALG_OID = Buffer.from('06072a8648ce3d0201', 'hex');

/**
 * Synchronous EC key generation for hot paths (P-256 ≈ 0.04 ms): node's ECDH generator (no
 * KeyGenJob, so no deadlock hazard) with SPKI and PKCS#8 written directly. Pass `spki` as
 * IssueSpec.subjectPublicKey; import `pkcs8` with importPkcs8Der() only when a KeyObject is needed.
 */
export function generateEcKeyRaw(curve: EcCurve): RawEcKey {
  if (!CURVE_INFO[curve]) throw new PkiError('bad-key-size', `invalid EC curve "${String(curve)}"`);
  const ecdh = createECDH(curve);
  const point = ecdh.generateKeys(); // 04 || X || Y
  return ecKeyFromParts(curve, point, ecdh.getPrivateKey());
}

/** Bytes of a curve's coordinates and private scalar (P-256: 32). */
export const ecCoordinateSize = (curve: EcCurve): number => CURVE_INFO[curve].coord;

/**
 * An EC key pair made by node's ECDH generator (here or in key-pool.ts's thread) as DER: the
 * uncompressed public point (04 || X || Y) and the private scalar d (any length up to the
 * coordinate size; left-padded as RFC 5915 §3 requires). The bytes around the parts are the
 * same for every key of a curve (ecKeyLayout), so a key is two copies into them.
 */
export function ecKeyFromParts(curve: EcCurve, publicPoint: Uint8Array, scalar: Uint8Array): RawEcKey {
  const layout = ecKeyLayout(curve);
  const { coord } = CURVE_INFO[curve];
  const pointLength = 1 + 2 * coord;
  if (publicPoint.length !== pointLength || publicPoint[0] !== 4 || scalar.length > coord) throw new PkiError('bad-key', `not a ${curve} key`);
  const spki = Buffer.concat([layout.spkiPrefix, publicPoint]);
  const pkcs8 = Buffer.alloc(layout.pkcs8Prefix.length + coord + layout.pkcs8Middle.length + pointLength);
  let at = layout.pkcs8Prefix.copy(pkcs8, 0);
  pkcs8.set(scalar, at + coord - scalar.length); // left-padded with the zeros alloc gave
  at += coord;
  at += layout.pkcs8Middle.copy(pkcs8, at);
  pkcs8.set(publicPoint, at);
  return { curve, spki, pkcs8 };
}

/** The DER of an EC key of `curve` around its parts: SPKI = spkiPrefix || point, PKCS#8 = pkcs8Prefix || d || pkcs8Middle || point. */
interface EcKeyLayout {
  spkiPrefix: Buffer;
  pkcs8Prefix: Buffer;
  pkcs8Middle: Buffer;
}

const EC_LAYOUTS = new Map<EcCurve, EcKeyLayout>();

function ecKeyLayout(curve: EcCurve): EcKeyLayout {
  let layout = EC_LAYOUTS.get(curve);
  if (layout) return layout;
  const info = CURVE_INFO[curve];
  const pointLength = 1 + 2 * info.coord;
  // The structure written once with placeholder parts; d is where two placeholders differ.
  const zeros = ecPkcs8(info, Buffer.alloc(info.coord, 0), Buffer.alloc(pointLength, 0));
  const ones = ecPkcs8(info, Buffer.alloc(info.coord, 0xff), Buffer.alloc(pointLength, 0));
  let d = 0;
  while (zeros[d] === ones[d]) d++;
  layout = {
    spkiPrefix: EC_SPKI[info.jwk]!.prefix,
    pkcs8Prefix: zeros.subarray(0, d),
    pkcs8Middle: zeros.subarray(d + info.coord, zeros.length - pointLength),
  };
  EC_LAYOUTS.set(curve, layout);
  return layout;
}

/** PKCS#8 PrivateKeyInfo (RFC 5208) of an RFC 5915 ECPrivateKey with its public key; d at full length. */
function ecPkcs8(info: { oid: Buffer }, d: Buffer, point: Buffer): Buffer {
  const ecPrivateKey = derTlv(0x30,
    Buffer.from([0x02, 0x01, 0x01]),
    derTlv(0x04, d),
    derTlv(0xa1, derTlv(0x03, Buffer.from([0]), point)));
  return derTlv(0x30,
    Buffer.from([0x02, 0x01, 0x00]),
    derTlv(0x30, EC_ALG_OID, info.oid),
    derTlv(0x04, ecPrivateKey));
}

export interface KeyInfo {
  keyType: KeyType;
  /** RSA/DSA: modulus/prime bits as a decimal string ('2048'); EC: RouterOS curve name ('prime256v1'). */
  keySize: string;
}

/**
 * key-type and key-size as RouterOS prints them, for a public or private KeyObject. Read from the
 * SubjectPublicKeyInfo rather than `asymmetricKeyDetails`: on Node 20.20 reading
 * `asymmetricKeyDetails` of a freshly generated EC key can deadlock the process when a GC runs
 * inside the call (seen in bench/pki-issue.ts: GetEcKeyDetail holds the key mutex while
 * allocating, and the GC'd KeyGenJob's destructor waits for the same mutex).
 */
export function keyInfo(key: KeyObject): KeyInfo {
  const info = spkiInfo(exportSpkiDer(key));
  if (info.keyType === 'rsa' || info.keyType === 'ec' || info.keyType === 'dsa') {
    return { keyType: info.keyType, keySize: info.keySize };
  }
  throw new PkiError('bad-key', `unsupported key type ${info.keyType}`);
}

/** Private key → unencrypted PKCS#8 DER, or encrypted PKCS#8 (PBES2, AES-256-CBC) with a passphrase. */
export function exportPkcs8Der(privateKey: KeyObject, passphrase?: string): Buffer {
  if (privateKey.type !== 'private') throw new PkiError('bad-key', 'not a private key');
  if (passphrase !== undefined && passphrase !== '') {
    return privateKey.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase });
  }
  return privateKey.export({ type: 'pkcs8', format: 'der' });
}

/** PKCS#8 DER (plain or encrypted with `passphrase`) → private KeyObject. */
export function importPkcs8Der(der: Uint8Array, passphrase?: string): KeyObject {
  try {
    return createPrivateKey({ key: Buffer.from(der.buffer, der.byteOffset, der.byteLength), format: 'der', type: 'pkcs8', passphrase });
  } catch (e) {
    throw new PkiError('bad-key', `cannot read PKCS#8 private key: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Any private key node can read (PEM of any kind -- PKCS#8, encrypted PKCS#8, traditional
 * RSA/EC with or without DEK-Info encryption -- or DER PKCS#8 / PKCS#1 / SEC1).
 */
export function importPrivateKey(data: string | Uint8Array, passphrase?: string): KeyObject {
  const tries: Array<() => KeyObject> = [];
  if (typeof data === 'string' || looksLikePem(data)) {
    const pem = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
    tries.push(() => createPrivateKey({ key: pem, format: 'pem', passphrase }));
  } else {
    const der = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
      tries.push(() => createPrivateKey({ key: der, format: 'der', type, passphrase }));
    }
  }
  let last: unknown;
  for (const t of tries) {
    let key: KeyObject;
    try { key = t(); } catch (e) { last = e; continue; }
    assertKeyPair(key);
    return key;
  }
  throw new PkiError('bad-key', `cannot read private key: ${(last as Error)?.message ?? 'unknown format'}`, { cause: last });
}

const PAIR_CHECK = Buffer.from('rospki key pair check');

/**
 * Refuses a private key whose stored public half does not belong to it (a damaged or edited key
 * file: certificates are matched to keys by the public key, and whatever the private key signed
 * would not verify): a signature made with the private key must verify with its public key, the
 * pair-wise consistency test of FIPS 140-3 IG 10.3.A.
 */
export function assertKeyPair(key: KeyObject): void {
  const type = key.asymmetricKeyType ?? '';
  if (!['rsa', 'rsa-pss', 'ec', 'dsa', 'ed25519', 'ed448'].includes(type)) return;
  const digest = type === 'ed25519' || type === 'ed448' ? null : 'sha256';
  let ok: boolean;
  try {
    // OpenSSL's encoder first: it refuses keys it cannot write (an EC private key longer than
    // the curve order) with an error, where node's JWK export of one aborts the process.
    key.export({ type: 'pkcs8', format: 'der' });
    // then the public key: an EC key whose point is at infinity signs, but has none to export
    exportSpkiDer(key);
    ok = cryptoVerify(digest, PAIR_CHECK, createPublicKey(key), cryptoSign(digest, PAIR_CHECK, key));
  } catch (e) {
    throw new PkiError('bad-key', `the private key cannot be used: ${(e as Error).message}`, { cause: e });
  }
  if (!ok) throw new PkiError('bad-key', 'the private key does not match its own public key');
}

function looksLikePem(b: Uint8Array): boolean {
  return Buffer.from(b.buffer, b.byteOffset, Math.min(b.byteLength, 4096)).toString('latin1').includes('-----BEGIN ');
}

// SPKI prefixes for uncompressed EC points (RFC 5480 §2.1.1 + §2.2): SEQUENCE { AlgorithmIdentifier
// { id-ecPublicKey, namedCurve }, BIT STRING (0 unused bits) 04 || X || Y }.
const EC_SPKI: Record<string, { prefix: Buffer; coord: number }> = {
  'P-256': { prefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), coord: 32 },
  'P-384': { prefix: Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex'), coord: 48 },
  'P-521': { prefix: Buffer.from('30819b301006072a8648ce3d020106052b8104002303818600', 'hex'), coord: 66 },
};
const RSA_ALG_ID = Buffer.from('300d06092a864886f70d0101010500', 'hex');

function derLen(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  if (n < 0x10000) return Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
}
const derTlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const c = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLen(c.length), c]);
};
const derUInt = (b: Buffer): Buffer => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const m = b.subarray(i);
  return derTlv(0x02, m[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), m]) : m);
};
const leftPad = (b: Buffer, n: number): Buffer => (b.length >= n ? b : Buffer.concat([Buffer.alloc(n - b.length), b]));

const SPKI_CACHE = new WeakMap<KeyObject, Buffer>();

/**
 * Public (or private) KeyObject → SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7). EC and RSA keys are
 * built from the JWK export (≈ 6 µs) because OpenSSL 3's DER encoder (`export({type:'spki'})`)
 * costs 130–200 µs per key; the result is byte-identical and cached per KeyObject. Treat the
 * returned buffer as read-only.
 */
export function exportSpkiDer(key: KeyObject): Buffer {
  let spki = SPKI_CACHE.get(key);
  if (spki) return spki;
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const type = pub.asymmetricKeyType;
  if (type === 'ec') {
    const jwk = pub.export({ format: 'jwk' });
    const ec = EC_SPKI[jwk.crv ?? ''];
    if (ec && jwk.x && jwk.y) {
      spki = Buffer.concat([ec.prefix, Buffer.from([4]),
        leftPad(Buffer.from(jwk.x, 'base64url'), ec.coord), leftPad(Buffer.from(jwk.y, 'base64url'), ec.coord)]);
    }
  } else if (type === 'rsa') {
    const jwk = pub.export({ format: 'jwk' });
    if (jwk.n && jwk.e) {
      const rsaKey = derTlv(0x30, derUInt(Buffer.from(jwk.n, 'base64url')), derUInt(Buffer.from(jwk.e, 'base64url')));
      spki = derTlv(0x30, RSA_ALG_ID, derTlv(0x03, Buffer.from([0]), rsaKey));
    }
  }
  spki ??= pub.export({ type: 'spki', format: 'der' });
  SPKI_CACHE.set(key, spki);
  return spki;
}

/**
 * SubjectPublicKeyInfo DER → public KeyObject. An ordinary RSA key (rsaEncryption with NULL
 * parameters, 512–16384 bits, an odd exponent of at most 64 bits) is imported from its modulus
 * and exponent as a JWK (≈ 10 µs), the mirror of exportSpkiDer: OpenSSL 3's DER decoder costs
 * ≈ 200 µs per key, and a SCEP request alone uses the client's key three times (the message's
 * signature, the CSR's, the reply's encryption). Any other key or form goes through the decoder.
 */
export function importSpkiDer(der: Uint8Array): KeyObject {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  try {
    let rsa: { n: Buffer; e: Buffer } | undefined;
    try {
      rsa = rsaPublicNumbers(buf);
    } catch {
      rsa = undefined; // malformed: the decoder gives its own error
    }
    if (rsa) {
      const bits = rsa.n.length * 8 - (Math.clz32(rsa.n[0]!) - 24);
      if (bits >= 512 && bits <= 16384 && rsa.e.length <= 8 && (rsa.e[rsa.e.length - 1]! & 1) === 1 && !(rsa.e.length === 1 && rsa.e[0] === 1)) {
        return createPublicKey({ key: { kty: 'RSA', n: rsa.n.toString('base64url'), e: rsa.e.toString('base64url') }, format: 'jwk' });
      }
    }
    return createPublicKey({ key: buf, format: 'der', type: 'spki' });
  } catch (e) {
    throw new PkiError('bad-key', `cannot read public key: ${(e as Error).message}`, { cause: e });
  }
}

/** The public half of a private key. */
export const publicKeyOf = (privateKey: KeyObject): KeyObject => createPublicKey(privateKey);

/** True when `publicKey` (or the public half of a private key) equals the SPKI `spkiDer`. */
export function keyMatchesSpki(key: KeyObject, spkiDer: Uint8Array): boolean {
  return exportSpkiDer(key).equals(spkiDer);
}
