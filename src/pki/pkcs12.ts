// PKCS#12 (RFC 7292) writer and reader, on our own DER code and node:crypto.
//
// Writing, two profiles:
//  * modern (OpenSSL 3 default): certificates in an EncryptedData and the key in a
//    pkcs8ShroudedKeyBag, both PBES2 (RFC 8018 §6.2: PBKDF2-HMAC-SHA256, AES-256-CBC), MAC
//    HMAC-SHA256 with the RFC 7292 Appendix B key derivation.
//  * legacy (macOS, Windows, RouterOS, OpenSSL 1.x): pbeWithSHAAnd3-KeyTripleDES-CBC for both,
//    MAC HMAC-SHA1.
// Without a password only certificates are written, unencrypted, with a MAC under the empty
// password (what `openssl pkcs12 -export -nokeys -passout pass:` makes).
//
// Reading: PBES2 (AES-128/192/256-CBC, DES-EDE3-CBC; PRF HMAC-SHA1/224/256/384/512), the
// RFC 7292 Appendix C PBEs with 3-key and 2-key 3DES and 40/128-bit RC2 (pure-JS RC2, rc2.ts),
// BER input (indefinite lengths, constructed strings), nested safeContentsBags. The MAC is
// checked first: a wrong password is reported as Pkcs12PasswordError, never as corrupt input.
//
// Key derivation is the expensive part of reading: hostile files ask for millions of rounds. The
// reader is written once, as generators that yield each derivation they need (kdf-work.ts);
// parsePkcs12 runs them in place, parsePkcs12Async on a worker thread so that the daemon's event
// loop (every service) stays free. Iteration counts over MAX_ITERATIONS are refused, and so is a
// file needing more than MAX_TOTAL_ITERATIONS rounds in all — at once, before any derivation,
// for what the file shows outside its encrypted contents.

import { createCipheriv, createDecipheriv, createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { berToDer } from './ber.js';
import {
  FieldReader, TAG, checkTree, children, explicit, integer, listOf, octetString, oid, readAlgorithm, readInteger, readOid, readTlv, seq, seqOf, set, tlv,
  NULL_DER, type Tlv,
} from './der.js';
import { PkiError } from './errors.js';
import { runKdf, runKdfAsync, type KdfSteps } from './kdf-work.js';
import { rc2CbcDecrypt } from './rc2.js';

export const P12_OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  crlBag: '1.2.840.113549.1.12.10.1.4',
  secretBag: '1.2.840.113549.1.12.10.1.5',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  pbeSha1Rc4_128: '1.2.840.113549.1.12.1.1',
  pbeSha1Rc4_40: '1.2.840.113549.1.12.1.2',
  pbeSha1TripleDes3: '1.2.840.113549.1.12.1.3',
  pbeSha1TripleDes2: '1.2.840.113549.1.12.1.4',
  pbeSha1Rc2_128: '1.2.840.113549.1.12.1.5',
  pbeSha1Rc2_40: '1.2.840.113549.1.12.1.6',
  hmacWithSHA1: '1.2.840.113549.2.7',
  hmacWithSHA224: '1.2.840.113549.2.8',
  hmacWithSHA256: '1.2.840.113549.2.9',
  hmacWithSHA384: '1.2.840.113549.2.10',
  hmacWithSHA512: '1.2.840.113549.2.11',
  aes128cbc: '2.16.840.1.101.3.4.1.2',
  aes192cbc: '2.16.840.1.101.3.4.1.22',
  aes256cbc: '2.16.840.1.101.3.4.1.42',
  desEde3cbc: '1.2.840.113549.3.7',
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const;

/** A wrong (or missing) password: the MAC or the decryption failed. */
export class Pkcs12PasswordError extends PkiError {
  constructor(message = 'wrong PKCS#12 password') {
    super('bad-key', message);
    this.name = 'Pkcs12PasswordError';
  }
}

export const isPkcs12PasswordError = (e: unknown): e is Pkcs12PasswordError => e instanceof Pkcs12PasswordError;

const HASH_BY_OID: Record<string, { name: string; u: number; v: number }> = {
  [P12_OID.sha1]: { name: 'sha1', u: 20, v: 64 },
  [P12_OID.sha224]: { name: 'sha224', u: 28, v: 64 },
  [P12_OID.sha256]: { name: 'sha256', u: 32, v: 64 },
  [P12_OID.sha384]: { name: 'sha384', u: 48, v: 128 },
  [P12_OID.sha512]: { name: 'sha512', u: 64, v: 128 },
};
const PRF_BY_OID: Record<string, string> = {
  [P12_OID.hmacWithSHA1]: 'sha1', [P12_OID.hmacWithSHA224]: 'sha224', [P12_OID.hmacWithSHA256]: 'sha256',
  [P12_OID.hmacWithSHA384]: 'sha384', [P12_OID.hmacWithSHA512]: 'sha512',
};
const CIPHER_BY_OID: Record<string, { name: string; keyLen: number }> = {
  [P12_OID.aes128cbc]: { name: 'aes-128-cbc', keyLen: 16 },
  [P12_OID.aes192cbc]: { name: 'aes-192-cbc', keyLen: 24 },
  [P12_OID.aes256cbc]: { name: 'aes-256-cbc', keyLen: 32 },
  [P12_OID.desEde3cbc]: { name: 'des-ede3-cbc', keyLen: 24 },
};

const DEFAULT_ITERATIONS = 2048;

const bad = (what: string) => new PkiError('bad-der', `not a valid PKCS#12 file: ${what}`);

// ---------------------------------------------------------------------------------------------
// Passwords and key derivation

/** RFC 7292 Appendix B.1: BMPString of the password with a two-byte NUL terminator. */
export function bmpPassword(password: string): Buffer {
  const out = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

/** RFC 7292 Appendix B.2 key derivation (ID 1 = key, 2 = IV, 3 = MAC key), run in place. */
export function pkcs12Kdf(hashOid: string, password: Buffer, salt: Buffer, id: 1 | 2 | 3, iterations: number, n: number): Buffer {
  return runKdf(pkcs12KdfSteps(hashOid, password, salt, id, iterations, n), Infinity);
}

/** RFC 7292 Appendix B.2; each block's iterated hash (the costly part) is yielded as work. */
function* pkcs12KdfSteps(hashOid: string, password: Buffer, salt: Buffer, id: 1 | 2 | 3, iterations: number, n: number): KdfSteps<Buffer> {
  const h = HASH_BY_OID[hashOid];
  if (!h) throw new PkiError('unsupported', `PKCS#12 key derivation with digest ${hashOid} is not supported`);
  const { u, v } = h;
  const d = Buffer.alloc(v, id);
  const fill = (src: Buffer): Buffer => {
    if (src.length === 0) return Buffer.alloc(0);
    const len = v * Math.ceil(src.length / v);
    const out = Buffer.allocUnsafe(len);
    for (let i = 0; i < len; i++) out[i] = src[i % src.length]!;
    return out;
  };
  const i = Buffer.concat([fill(salt), fill(password)]);
  const c = Math.ceil(n / u);
  const result = Buffer.allocUnsafe(c * u);
  for (let block = 0; block < c; block++) {
    // A = H^iterations(D || I)
    const a: Buffer = yield { kind: 'chain', digest: h.name, input: Buffer.concat([d, i]), iterations };
    a.copy(result, block * u);
    if (block === c - 1) break;
    const b = Buffer.allocUnsafe(v);
    for (let k = 0; k < v; k++) b[k] = a[k % u]!;
    for (let off = 0; off < i.length; off += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = i[off + k]! + b[k]! + carry;
        i[off + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return result.subarray(0, n);
}

/**
 * Iteration counts above this are refused: hostile input must not pin a CPU for minutes. Real
 * files use far fewer: OpenSSL 2048, Windows 2000, Java 10,000, gnutls certtool 600,000, and
 * OWASP's highest PBKDF2 recommendation is 1,300,000 (HMAC-SHA1).
 */
export const MAX_ITERATIONS = 2_000_000;
/**
 * Rounds of key derivation one file may need in all, counted as kdf-work.ts counts them (one
 * per iteration of each PKCS#12 KDF output block or PBKDF2 run): a few seconds of the worker.
 * GnuTLS's 3DES files (600,000 iterations for the MAC and for each key and IV: 4.2 million
 * rounds) load; a file asking for millions of rounds in every bag does not.
 */
export const MAX_TOTAL_ITERATIONS = 5_000_000;

const tooMuchWork = () => new PkiError('unsupported', `PKCS#12 key derivation needs more than ${MAX_TOTAL_ITERATIONS} iterations in total`);

function iterationCount(buf: Buffer, t: Tlv): number {
  const n = readInteger(buf, t);
  if (n < 1n) throw bad(`iteration count ${n} out of range`);
  if (n > BigInt(MAX_ITERATIONS)) throw new PkiError('unsupported', `key derivation iteration count ${n} exceeds the limit of ${MAX_ITERATIONS}`);
  return Number(n);
}

// ---------------------------------------------------------------------------------------------
// Decryption of AlgorithmIdentifier-described content

const algorithm = (buf: Buffer, t: Tlv) => readAlgorithm(buf, t);

function decipher(name: string, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  try {
    const d = createDecipheriv(name, key, iv);
    return Buffer.concat([d.update(data), d.final()]);
  } catch {
    throw new Pkcs12PasswordError();
  }
}

const IV_LENGTH: Record<string, number> = { 'aes-128-cbc': 16, 'aes-192-cbc': 16, 'aes-256-cbc': 16, 'des-ede3-cbc': 8 };

/** What an encryption AlgorithmIdentifier says: everything needed to derive the key and decrypt. */
type PbeParams =
  | { scheme: 'pbes2'; prf: string; iterations: number; salt: Buffer; cipher: { name: string; keyLen: number }; iv: Buffer }
  | { scheme: 'pkcs12'; kind: 'rc2' | '3des'; keyLen: number; iterations: number; salt: Buffer };

/** Reads PBES2 (RFC 8018 A.4) or pkcs-12PbeParams (RFC 7292 Appendix C) parameters. */
function pbeParams(buf: Buffer, algT: Tlv): PbeParams {
  const alg = algorithm(buf, algT);
  if (alg.oid === P12_OID.pbes2) {
    // PBES2-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, encryptionScheme AlgorithmIdentifier }
    if (!alg.params || alg.params.tag !== TAG.SEQUENCE) throw bad('PBES2 parameters');
    const pf = new FieldReader(buf, alg.params, 'PBES2-params');
    const kdf = algorithm(buf, pf.next(TAG.SEQUENCE, 'keyDerivationFunc'));
    const enc = algorithm(buf, pf.next(TAG.SEQUENCE, 'encryptionScheme'));
    pf.end();
    if (kdf.oid !== P12_OID.pbkdf2) throw new PkiError('unsupported', `PBES2 key derivation ${kdf.oid} is not supported`);
    // PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER, keyLength INTEGER OPTIONAL,
    //   prf AlgorithmIdentifier DEFAULT hmacWithSHA1 } (RFC 8018 A.2)
    if (!kdf.params || kdf.params.tag !== TAG.SEQUENCE) throw bad('PBKDF2 parameters');
    const kf = new FieldReader(buf, kdf.params, 'PBKDF2-params');
    const saltT = kf.next(TAG.OCTET_STRING, 'salt');
    const iterations = iterationCount(buf, kf.next(TAG.INTEGER, 'iterationCount'));
    const keyLenT = kf.optional(TAG.INTEGER);
    const prfT = kf.optional(TAG.SEQUENCE);
    kf.end();
    let prf = 'sha1';
    if (prfT) {
      const p = algorithm(buf, prfT);
      const name = PRF_BY_OID[p.oid];
      if (!name) throw new PkiError('unsupported', `PBKDF2 PRF ${p.oid} is not supported`);
      if (p.params && p.params.tag !== TAG.NULL) throw bad('PBKDF2 PRF parameters');
      prf = name;
    }
    const cipher = CIPHER_BY_OID[enc.oid];
    if (!cipher) throw new PkiError('unsupported', `PBES2 cipher ${enc.oid} is not supported`);
    if (!enc.params || enc.params.tag !== TAG.OCTET_STRING || enc.params.end - enc.params.contentStart !== IV_LENGTH[cipher.name]) {
      throw bad('PBES2 cipher without a valid IV');
    }
    if (keyLenT && readInteger(buf, keyLenT) !== BigInt(cipher.keyLen)) throw bad('PBKDF2 key length does not match the cipher');
    return {
      scheme: 'pbes2', prf, iterations, salt: buf.subarray(saltT.contentStart, saltT.end), cipher,
      iv: buf.subarray(enc.params.contentStart, enc.params.end),
    };
  }
  const pbe = ({
    [P12_OID.pbeSha1TripleDes3]: { kind: '3des', keyLen: 24 },
    [P12_OID.pbeSha1TripleDes2]: { kind: '3des', keyLen: 16 },
    [P12_OID.pbeSha1Rc2_128]: { kind: 'rc2', keyLen: 16 },
    [P12_OID.pbeSha1Rc2_40]: { kind: 'rc2', keyLen: 5 },
  } as Record<string, { kind: 'rc2' | '3des'; keyLen: number }>)[alg.oid];
  if (!pbe) throw new PkiError('unsupported', `PKCS#12 encryption ${alg.oid} is not supported`);
  // pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }
  if (!alg.params || alg.params.tag !== TAG.SEQUENCE) throw bad('PBE parameters');
  const pf = new FieldReader(buf, alg.params, 'pkcs-12PbeParams');
  const saltT = pf.next(TAG.OCTET_STRING, 'salt');
  const iterations = iterationCount(buf, pf.next(TAG.INTEGER, 'iterations'));
  pf.end();
  return { scheme: 'pkcs12', ...pbe, iterations, salt: buf.subarray(saltT.contentStart, saltT.end) };
}

/** Rounds (MAX_TOTAL_ITERATIONS units) decrypting with these parameters costs. */
function pbeWork(p: PbeParams): number {
  return p.scheme === 'pbes2'
    ? p.iterations // one PBKDF2 run
    // key and IV: one SHA-1 block (20 octets) each, two for a 24-octet key
    : p.iterations * (Math.ceil(p.keyLen / 20) + 1);
}

/** Decrypts `data` encrypted with the algorithm at `algT` (PBES2 or a PKCS#12 PBE), in place. */
export function pbeDecrypt(buf: Buffer, algT: Tlv, data: Buffer, password: string): Buffer {
  return runKdf(pbeDecryptSteps(buf, algT, data, password, bmpPassword(password)), MAX_TOTAL_ITERATIONS);
}

/** `bmp`: the PKCS#12 password octets (RFC 7292 B.1), the form the MAC was made with. */
function* pbeDecryptSteps(buf: Buffer, algT: Tlv, data: Buffer, password: string, bmp: Buffer): KdfSteps<Buffer> {
  const p = pbeParams(buf, algT);
  if (p.scheme === 'pbes2') {
    const key: Buffer = yield {
      kind: 'pbkdf2', password: Buffer.from(password, 'utf8'), salt: Buffer.from(p.salt), iterations: p.iterations, keyLen: p.cipher.keyLen, digest: p.prf,
    };
    return decipher(p.cipher.name, key, p.iv, data);
  }
  const key = yield* pkcs12KdfSteps(P12_OID.sha1, bmp, p.salt, 1, p.iterations, p.keyLen);
  const iv = yield* pkcs12KdfSteps(P12_OID.sha1, bmp, p.salt, 2, p.iterations, 8);
  if (p.kind === 'rc2') {
    try {
      return rc2CbcDecrypt(key, p.keyLen * 8, iv, data);
    } catch {
      throw new Pkcs12PasswordError();
    }
  }
  const key3 = p.keyLen === 16 ? Buffer.concat([key, key.subarray(0, 8)]) : key;
  return decipher('des-ede3-cbc', key3, iv, data);
}

// ---------------------------------------------------------------------------------------------
// Encryption (writing)

export type Pkcs12Format = 'modern' | 'legacy';

function pbes2Encrypt(data: Buffer, password: string, iterations: number): { alg: Buffer; data: Buffer } {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const c = createCipheriv('aes-256-cbc', key, iv);
  const enc = Buffer.concat([c.update(data), c.final()]);
  const alg = seq(oid(P12_OID.pbes2), seq(
    seq(oid(P12_OID.pbkdf2), seq(octetString(salt), integer(iterations), seq(oid(P12_OID.hmacWithSHA256), NULL_DER))),
    seq(oid(P12_OID.aes256cbc), octetString(iv)),
  ));
  return { alg, data: enc };
}

function pbe3desEncrypt(data: Buffer, password: string, iterations: number): { alg: Buffer; data: Buffer } {
  const salt = randomBytes(8);
  const pw = bmpPassword(password);
  const key = pkcs12Kdf(P12_OID.sha1, pw, salt, 1, iterations, 24);
  const iv = pkcs12Kdf(P12_OID.sha1, pw, salt, 2, iterations, 8);
  const c = createCipheriv('des-ede3-cbc', key, iv);
  const enc = Buffer.concat([c.update(data), c.final()]);
  return { alg: seq(oid(P12_OID.pbeSha1TripleDes3), seq(octetString(salt), integer(iterations))), data: enc };
}

function encryptWith(format: Pkcs12Format, data: Buffer, password: string, iterations: number) {
  return format === 'legacy' ? pbe3desEncrypt(data, password, iterations) : pbes2Encrypt(data, password, iterations);
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface Pkcs12Input {
  /** Certificates as DER, the one belonging to the key first, then its chain. */
  certificates: readonly Buffer[];
  /** Unencrypted PKCS#8 PrivateKeyInfo DER of the first certificate's key. Needs a password. */
  privateKey?: Buffer;
  /** Password; empty or absent: certificates only, unencrypted, MAC under the empty password. */
  password?: string;
  format?: Pkcs12Format;
  /** friendlyName of the first certificate and the key (e.g. the RouterOS certificate name). */
  friendlyName?: string;
  iterations?: number;
}

function bmpString(s: string): Buffer {
  const b = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) b.writeUInt16BE(s.charCodeAt(i), i * 2);
  return tlv(TAG.BMP_STRING, b);
}

function bagAttributes(friendlyName: string | undefined, localKeyId: Buffer | undefined): Buffer[] {
  const attrs: Buffer[] = [];
  if (friendlyName) attrs.push(seq(oid(P12_OID.friendlyName), set(bmpString(friendlyName))));
  if (localKeyId) attrs.push(seq(oid(P12_OID.localKeyId), set(octetString(localKeyId))));
  return attrs.length ? [set(...attrs)] : [];
}

const dataContentInfo = (content: Buffer): Buffer => seq(oid(P12_OID.data), explicit(0, octetString(content)));

/** Builds a PKCS#12 file (DER). */
export function buildPkcs12(input: Pkcs12Input): Buffer {
  const format = input.format ?? 'modern';
  const iterations = input.iterations ?? DEFAULT_ITERATIONS;
  const password = input.password ?? '';
  const withPassword = password !== '';
  if (input.privateKey && !withPassword) throw new PkiError('bad-key', 'a private key is only exported with a passphrase');
  if (input.certificates.length === 0) throw new PkiError('bad-der', 'PKCS#12 needs at least one certificate');
  const keyId = createHash('sha1').update(input.certificates[0]!).digest();

  const certBags = input.certificates.map((der, i) => seq(
    oid(P12_OID.certBag),
    explicit(0, seq(oid(P12_OID.x509Certificate), explicit(0, octetString(der)))),
    ...bagAttributes(i === 0 ? input.friendlyName : undefined, i === 0 && input.privateKey ? keyId : undefined),
  ));
  const certSafe = seqOf(certBags);
  const contents: Buffer[] = [];
  if (withPassword) {
    const enc = encryptWith(format, certSafe, password, iterations);
    contents.push(seq(oid(P12_OID.encryptedData), explicit(0, seq(
      integer(0),
      seq(oid(P12_OID.data), enc.alg, tlv(0x80, enc.data)),
    ))));
  } else {
    contents.push(dataContentInfo(certSafe));
  }
  if (input.privateKey) {
    const enc = encryptWith(format, input.privateKey, password, iterations);
    const keyBag = seq(
      oid(P12_OID.pkcs8ShroudedKeyBag),
      explicit(0, seq(enc.alg, octetString(enc.data))),
      ...bagAttributes(input.friendlyName, keyId),
    );
    contents.push(dataContentInfo(seq(keyBag)));
  }
  const authSafe = seqOf(contents);

  const macHash = format === 'legacy' ? P12_OID.sha1 : P12_OID.sha256;
  const h = HASH_BY_OID[macHash]!;
  const macSalt = randomBytes(format === 'legacy' ? 8 : 16);
  const macKey = pkcs12Kdf(macHash, bmpPassword(password), macSalt, 3, iterations, h.u);
  const mac = createHmac(h.name, macKey).update(authSafe).digest();
  const macData = seq(seq(seq(oid(macHash), NULL_DER), octetString(mac)), octetString(macSalt), integer(iterations));
  return seq(integer(3), dataContentInfo(authSafe), macData);
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface Pkcs12Certificate {
  der: Buffer;
  friendlyName?: string;
  localKeyId?: Buffer;
}

export interface Pkcs12Key {
  /** Unencrypted PKCS#8 PrivateKeyInfo DER. */
  pkcs8: Buffer;
  friendlyName?: string;
  localKeyId?: Buffer;
}

export interface Pkcs12Contents {
  certificates: Pkcs12Certificate[];
  keys: Pkcs12Key[];
  /** Whether a MAC was present and checked. */
  macChecked: boolean;
}

/** True when the bytes have the outer shape of a PFX (SEQUENCE { INTEGER 3, ContentInfo … }). */
export function looksLikePkcs12(data: Uint8Array): boolean {
  try {
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const der = buf[1] === 0x80 ? berToDer(buf) : buf;
    const outer = readTlv(der, 0);
    if (outer.tag !== TAG.SEQUENCE) return false;
    const v = readTlv(der, outer.contentStart, outer.end);
    if (v.tag !== TAG.INTEGER || v.end - v.contentStart !== 1 || der[v.contentStart] !== 3) return false;
    const ci = readTlv(der, v.end, outer.end);
    return ci.tag === TAG.SEQUENCE;
  } catch {
    return false;
  }
}

/** An OCTET STRING (primitive after berToDer). */
function octetContent(buf: Buffer, t: Tlv, what: string): Buffer {
  if (t.tag === TAG.OCTET_STRING) return buf.subarray(t.contentStart, t.end);
  throw bad(`${what}: expected an OCTET STRING`);
}

/** An [0] IMPLICIT OCTET STRING, primitive or (BER) constructed (PKCS#7 encryptedContent, RFC 2315 §10.1). */
function implicitOctets(buf: Buffer, t: Tlv, what: string): Buffer {
  if (t.tag === 0x80) return buf.subarray(t.contentStart, t.end);
  if (t.tag === 0xa0) {
    // constructed (BER) string: the segments are OCTET STRINGs
    return Buffer.concat(children(buf, t).map((c) => {
      if (c.tag !== TAG.OCTET_STRING) throw bad(`${what}: bad string segment`);
      return buf.subarray(c.contentStart, c.end);
    }));
  }
  throw bad(`${what}: expected an OCTET STRING`);
}

/** The one element inside an EXPLICIT [0] tag. */
function explicitContent(buf: Buffer, t: Tlv, what: string): Tlv {
  if (t.tag !== 0xa0) throw bad(`${what} is not [0]`);
  const f = new FieldReader(buf, t, what);
  const inner = f.next(undefined, what);
  f.end();
  return inner;
}

/** ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY OPTIONAL } (RFC 2315 §7). */
function contentInfo(buf: Buffer, t: Tlv): { type: string; content?: Tlv } {
  if (t.tag !== TAG.SEQUENCE) throw bad('ContentInfo is not a SEQUENCE');
  const f = new FieldReader(buf, t, 'ContentInfo');
  const type = readOid(buf, f.next(TAG.OID, 'contentType'));
  const explicitT = f.optional(0xa0);
  f.end();
  return explicitT ? { type, content: explicitContent(buf, explicitT, 'ContentInfo content') } : { type };
}

/**
 * Checks the MAC; returns the password octets it was made with (the empty password has two forms).
 * MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 } (RFC 7292 §4).
 */
function* verifyMac(der: Buffer, macT: Tlv, authSafe: Buffer, password: string): KdfSteps<Buffer> {
  if (macT.tag !== TAG.SEQUENCE) throw bad('MacData is not a SEQUENCE');
  const f = new FieldReader(der, macT, 'MacData');
  const digestInfoT = f.next(TAG.SEQUENCE, 'mac');
  const saltT = f.next(TAG.OCTET_STRING, 'macSalt');
  const iterT = f.optional(TAG.INTEGER);
  f.end();
  // DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING }
  const d = new FieldReader(der, digestInfoT, 'DigestInfo');
  const alg = algorithm(der, d.next(TAG.SEQUENCE, 'digestAlgorithm'));
  const digestT = d.next(TAG.OCTET_STRING, 'digest');
  d.end();
  const h = HASH_BY_OID[alg.oid];
  if (!h) throw new PkiError('unsupported', `PKCS#12 MAC digest ${alg.oid} is not supported`);
  const iterations = iterT ? iterationCount(der, iterT) : 1;
  const salt = der.subarray(saltT.contentStart, saltT.end);
  const expected = der.subarray(digestT.contentStart, digestT.end);
  // The empty password is written either as two NUL bytes or as nothing at all (RFC 7292 B.1 vs
  // older tools); OpenSSL tries both, so do we.
  const candidates = password === '' ? [bmpPassword(''), Buffer.alloc(0)] : [bmpPassword(password)];
  for (const pw of candidates) {
    const key = yield* pkcs12KdfSteps(alg.oid, pw, salt, 3, iterations, h.u);
    const mac = createHmac(h.name, key).update(authSafe).digest();
    if (mac.length === expected.length && timingSafeEqual(mac, expected)) return pw;
  }
  throw new Pkcs12PasswordError();
}

/** bagAttributes SET OF PKCS12Attribute ::= SEQUENCE { attrId OID, attrValues SET OF ANY } (RFC 7292 §4.2). */
function readAttributes(buf: Buffer, t: Tlv | undefined): { friendlyName?: string; localKeyId?: Buffer } {
  const out: { friendlyName?: string; localKeyId?: Buffer } = {};
  if (!t) return out;
  for (const a of listOf(buf, t, TAG.SET, 'bagAttributes')) {
    if (a.tag !== TAG.SEQUENCE) throw bad('a bag attribute is not a SEQUENCE');
    const f = new FieldReader(buf, a, 'PKCS12Attribute');
    const type = readOid(buf, f.next(TAG.OID, 'attrId'));
    const [v] = listOf(buf, f.next(TAG.SET, 'attrValues'), TAG.SET, 'attrValues');
    f.end();
    if (!v) continue;
    // friendlyName ::= BMPString, localKeyId ::= OCTET STRING (RFC 2985 §5.5.1, §5.5.2)
    if (type === P12_OID.friendlyName) {
      if (v.tag !== TAG.BMP_STRING) throw bad('friendlyName is not a BMPString');
      // as Windows writes it: UTF-16, surrogate pairs included
      if ((v.end - v.contentStart) % 2) throw bad('friendlyName length is odd');
      let s = '';
      for (let i = v.contentStart; i + 1 < v.end; i += 2) s += String.fromCharCode(buf.readUInt16BE(i));
      out.friendlyName = s;
    } else if (type === P12_OID.localKeyId) {
      if (v.tag !== TAG.OCTET_STRING) throw bad('localKeyId is not an OCTET STRING');
      out.localKeyId = Buffer.from(buf.subarray(v.contentStart, v.end));
    }
  }
  return out;
}

/** SafeContents ::= SEQUENCE OF SafeBag ::= SEQUENCE { bagId OID, bagValue [0] EXPLICIT, bagAttributes SET OPTIONAL } (RFC 7292 §4.2). */
function* readSafeContents(buf: Buffer, password: string, out: Pkcs12Contents, depth: number, bmp: Buffer): KdfSteps<void> {
  if (depth > 8) throw bad('safe contents nested too deeply');
  const top = readTlv(buf, 0);
  if (top.tag !== TAG.SEQUENCE || top.end !== buf.length) throw bad('SafeContents is not a SEQUENCE');
  checkTree(buf, top);
  for (const bagT of children(buf, top)) {
    if (bagT.tag !== TAG.SEQUENCE) throw bad('a SafeBag is not a SEQUENCE');
    const f = new FieldReader(buf, bagT, 'SafeBag');
    const id = readOid(buf, f.next(TAG.OID, 'bagId'));
    const value = explicitContent(buf, f.next(0xa0, 'bagValue'), 'bagValue');
    const attrs = readAttributes(buf, f.optional(TAG.SET));
    f.end();
    switch (id) {
      case P12_OID.certBag: {
        // CertBag ::= SEQUENCE { certId OID, certValue [0] EXPLICIT ANY } (§4.2.3)
        if (value.tag !== TAG.SEQUENCE) throw bad('CertBag is not a SEQUENCE');
        const c = new FieldReader(buf, value, 'CertBag');
        const certId = readOid(buf, c.next(TAG.OID, 'certId'));
        const inner = explicitContent(buf, c.next(0xa0, 'certValue'), 'certValue');
        c.end();
        if (certId !== P12_OID.x509Certificate) break; // SDSI certificates: ignored
        out.certificates.push({ der: Buffer.from(octetContent(buf, inner, 'certificate')), ...attrs });
        break;
      }
      case P12_OID.keyBag:
        out.keys.push({ pkcs8: Buffer.from(buf.subarray(value.start, value.end)), ...attrs });
        break;
      case P12_OID.pkcs8ShroudedKeyBag:
        out.keys.push({ pkcs8: yield* encryptedKeySteps(buf, value, password, bmp), ...attrs });
        break;
      case P12_OID.safeContentsBag:
        yield* readSafeContents(Buffer.from(buf.subarray(value.start, value.end)), password, out, depth + 1, bmp);
        break;
      default:
        break; // CRL and secret bags: nothing RouterOS keeps
    }
  }
}

/**
 * The key derivation the MAC and the encryptions in sight (not inside encrypted contents) ask
 * for. Structure errors count nothing here: they are reported after the MAC check.
 */
function visibleWork(der: Buffer, macT: Tlv | undefined, authSafe: Buffer, password: string): number {
  let total = 0;
  const tryAdd = (f: () => number) => {
    try {
      const n = f(); // (not `total += f()`: f may add to total itself)
      total += n;
    } catch { /* reported by the real pass */ }
  };
  if (macT) {
    tryAdd(() => {
      const f = new FieldReader(der, macT, 'MacData');
      f.next(TAG.SEQUENCE, 'mac');
      f.next(TAG.OCTET_STRING, 'macSalt');
      const iterT = f.optional(TAG.INTEGER);
      return (iterT ? iterationCount(der, iterT) : 1) * (password === '' ? 2 : 1);
    });
  }
  const safeContents = (buf: Buffer, depth: number): void => {
    if (depth > 8) return;
    const top = readTlv(buf, 0);
    for (const bagT of children(buf, top)) {
      tryAdd(() => {
        const [idT, valueT] = children(buf, bagT);
        const id = readOid(buf, idT!);
        const value = explicitContent(buf, valueT!, 'bagValue');
        if (id === P12_OID.pkcs8ShroudedKeyBag) return pbeWork(pbeParams(buf, children(buf, value)[0]!));
        if (id === P12_OID.safeContentsBag) safeContents(Buffer.from(buf.subarray(value.start, value.end)), depth + 1);
        return 0;
      });
    }
  };
  tryAdd(() => {
    const list = readTlv(authSafe, 0);
    for (const t of children(authSafe, list)) {
      tryAdd(() => {
        const c = contentInfo(authSafe, t);
        if (!c.content) return 0;
        if (c.type === P12_OID.data) safeContents(Buffer.from(octetContent(authSafe, c.content, 'SafeContents')), 0);
        if (c.type !== P12_OID.encryptedData) return 0;
        const [, eciT] = children(authSafe, c.content);
        return pbeWork(pbeParams(authSafe, children(authSafe, eciT!)[1]!));
      });
    }
    return 0;
  });
  return total;
}

/** An EncryptedPrivateKeyInfo (RFC 5958 §3) at `value` of `buf`, decrypted to PKCS#8 DER. */
function* encryptedKeySteps(buf: Buffer, value: Tlv, password: string, bmp: Buffer): KdfSteps<Buffer> {
  // EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm AlgorithmIdentifier, encryptedData OCTET STRING }
  if (value.tag !== TAG.SEQUENCE) throw bad('EncryptedPrivateKeyInfo is not a SEQUENCE');
  const e = new FieldReader(buf, value, 'EncryptedPrivateKeyInfo');
  const algT = e.next(TAG.SEQUENCE, 'encryptionAlgorithm');
  const encT = e.next(TAG.OCTET_STRING, 'encryptedData');
  e.end();
  const plain = yield* pbeDecryptSteps(buf, algT, octetContent(buf, encT, 'encrypted key'), password, bmp);
  try {
    const t = readTlv(plain, 0);
    if (t.tag !== TAG.SEQUENCE || t.end !== plain.length) throw new Error('x');
  } catch {
    // Padding happened to look right but the plaintext is garbage: a wrong password.
    throw new Pkcs12PasswordError();
  }
  return plain;
}

/**
 * An encrypted PKCS#8 key file (`ENCRYPTED PRIVATE KEY`, RFC 5958 §3) decrypted to PKCS#8 DER,
 * with the key derivation on the worker thread under the same iteration limits as PKCS#12 (a
 * hostile file can neither freeze the daemon nor ask for absurd work). A wrong password is a
 * Pkcs12PasswordError.
 */
export function decryptPrivateKeyInfoAsync(der: Uint8Array, password: string): Promise<Buffer> {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  return withPkcs12Errors(() => runKdfAsync((function* () {
    const value = readTlv(buf, 0);
    if (value.tag !== TAG.SEQUENCE || value.end !== buf.length) throw bad('EncryptedPrivateKeyInfo is not a SEQUENCE');
    checkTree(buf, value);
    return yield* encryptedKeySteps(buf, value, password, bmpPassword(password));
  })(), MAX_TOTAL_ITERATIONS));
}

/**
 * Reads a PKCS#12 file, its key derivations in place (tests, tools; a server uses
 * parsePkcs12Async). Throws Pkcs12PasswordError for a wrong password (MAC mismatch or a failed
 * decryption), PkiError('bad-der') for corrupt or truncated input, PkiError('unsupported') for
 * iteration counts over the limits.
 */
export function parsePkcs12(data: Uint8Array, password = ''): Pkcs12Contents {
  return withPkcs12Errors(() => runKdf(parseSteps(data, password), MAX_TOTAL_ITERATIONS));
}

/** As parsePkcs12, with the key derivations on a worker thread: the event loop stays free. */
export function parsePkcs12Async(data: Uint8Array, password = ''): Promise<Pkcs12Contents> {
  return withPkcs12Errors(() => runKdfAsync(parseSteps(data, password), MAX_TOTAL_ITERATIONS));
}

/** Structure errors from the DER layer are reported as PKCS#12 ones; everything else as is. */
function withPkcs12Errors<T>(run: () => T): T {
  const translate = (e: unknown): never => {
    if (e instanceof PkiError && e.code === 'bad-der' && !e.message.startsWith('not a valid PKCS#12 file')) throw bad(e.message);
    throw e;
  };
  try {
    const out = run();
    return (out instanceof Promise ? out.catch(translate) : out) as T;
  } catch (e) {
    return translate(e);
  }
}

function* parseSteps(data: Uint8Array, password: string): KdfSteps<Pkcs12Contents> {
  const der = berToDer(data);
  return yield* parseDer(der, password);
}

function* parseDer(der: Buffer, password: string): KdfSteps<Pkcs12Contents> {
  // PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData MacData OPTIONAL } (RFC 7292 §4)
  const outer = readTlv(der, 0);
  if (outer.tag !== TAG.SEQUENCE) throw bad('not a SEQUENCE');
  if (outer.end !== der.length) throw bad('trailing data after the PFX');
  checkTree(der, outer);
  const f = new FieldReader(der, outer, 'PFX');
  if (readInteger(der, f.next(TAG.INTEGER, 'version')) !== 3n) throw bad('version is not 3');
  const authSafeT = f.next(TAG.SEQUENCE, 'authSafe');
  const macT = f.optional(TAG.SEQUENCE);
  f.end();
  const ci = contentInfo(der, authSafeT);
  if (ci.type !== P12_OID.data || !ci.content) throw bad('authSafe is not signed-data-free PKCS#7 data (public-key integrity mode is not supported)');
  const authSafe = octetContent(der, ci.content, 'authSafe');
  const out: Pkcs12Contents = { certificates: [], keys: [], macChecked: false };
  // Refuse at once what the file visibly asks for, before deriving anything (encrypted contents
  // may ask for more: the run's budget counts that as they are opened).
  if (visibleWork(der, macT, authSafe, password) > MAX_TOTAL_ITERATIONS) throw tooMuchWork();
  // PKCS#12 PBEs use the password octets the MAC was made with (RFC 7292 B.1)
  let bmp = bmpPassword(password);
  if (macT) {
    bmp = yield* verifyMac(der, macT, authSafe, password);
    out.macChecked = true;
  }
  // AuthenticatedSafe ::= SEQUENCE OF ContentInfo (§5.1)
  const asBuf = Buffer.from(authSafe);
  const list = readTlv(asBuf, 0);
  if (list.tag !== TAG.SEQUENCE || list.end !== asBuf.length) throw bad('AuthenticatedSafe is not a SEQUENCE');
  checkTree(asBuf, list);
  for (const t of children(asBuf, list)) {
    const c = contentInfo(asBuf, t);
    if (!c.content) throw bad('empty ContentInfo');
    if (c.type === P12_OID.data) {
      yield* readSafeContents(Buffer.from(octetContent(asBuf, c.content, 'SafeContents')), password, out, 0, bmp);
    } else if (c.type === P12_OID.encryptedData) {
      // EncryptedData ::= SEQUENCE { version INTEGER, encryptedContentInfo EncryptedContentInfo } (RFC 2315 §13)
      if (c.content.tag !== TAG.SEQUENCE) throw bad('EncryptedData is not a SEQUENCE');
      const e = new FieldReader(asBuf, c.content, 'EncryptedData');
      readInteger(asBuf, e.next(TAG.INTEGER, 'version'));
      const eciT = e.next(TAG.SEQUENCE, 'encryptedContentInfo');
      e.end();
      // EncryptedContentInfo ::= SEQUENCE { contentType OID, contentEncryptionAlgorithm, encryptedContent [0] IMPLICIT OPTIONAL }
      const i = new FieldReader(asBuf, eciT, 'EncryptedContentInfo');
      readOid(asBuf, i.next(TAG.OID, 'contentType'));
      const algT = i.next(TAG.SEQUENCE, 'contentEncryptionAlgorithm');
      const contentT = i.done ? undefined : i.next(undefined, 'encryptedContent');
      i.end();
      if (!contentT) throw bad('EncryptedContentInfo without content');
      const plain = yield* pbeDecryptSteps(asBuf, algT, implicitOctets(asBuf, contentT, 'encrypted content'), password, bmp);
      try {
        yield* readSafeContents(plain, password, out, 0, bmp);
      } catch (err) {
        // Without a MAC a wrong password shows up as garbage after a lucky padding check.
        if (!out.macChecked && err instanceof PkiError && err.code === 'bad-der') throw new Pkcs12PasswordError();
        throw err;
      }
    } else {
      throw new PkiError('unsupported', `PKCS#12 content type ${c.type} (public-key encryption) is not supported`);
    }
  }
  return out;
}
