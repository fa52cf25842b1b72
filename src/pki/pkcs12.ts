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
// loop (every service) stays free. Iteration counts over MAX_ITERATIONS are refused, and so is
// a file needing more than MAX_TOTAL_ITERATIONS rounds in all.

import { createCipheriv, createDecipheriv, createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { berToDer } from './ber.js';
import {
  TAG, children, explicit, expectTlv, integer, octetString, oid, readInteger, readOid, readTlv, seq, seqOf, set, tlv,
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

/**
 * Iteration counts above this are refused: hostile input must not pin a CPU for minutes. Real
 * files use far fewer: OpenSSL 2048, Windows 2000, Java 10,000, gnutls certtool 600,000, and
 * OWASP's highest PBKDF2 recommendation is 1,300,000 (HMAC-SHA1).
 */
export const MAX_ITERATIONS = 2_000_000;
/**
 * Rounds of key derivation one file may need in all: enough for a legacy file (MAC, then key
 * and IV for two bags: 8 derivations with the empty-password retry) at MAX_ITERATIONS.
 */
export const MAX_TOTAL_ITERATIONS = 10 * MAX_ITERATIONS;
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

function checkIterations(n: bigint): number {
  if (n < 1n) throw bad(`iteration count ${n} out of range`);
  if (n > BigInt(MAX_ITERATIONS)) throw new PkiError('unsupported', `key derivation iteration count ${n} exceeds the limit of ${MAX_ITERATIONS}`);
  return Number(n);
}

// ---------------------------------------------------------------------------------------------
// Decryption of AlgorithmIdentifier-described content

function algorithm(buf: Buffer, t: Tlv): { oid: string; params?: Tlv } {
  if (t.tag !== TAG.SEQUENCE) throw bad('AlgorithmIdentifier is not a SEQUENCE');
  const [o, params] = children(buf, t);
  if (!o) throw bad('empty AlgorithmIdentifier');
  return { oid: readOid(buf, o), params };
}

function decipher(name: string, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  try {
    const d = createDecipheriv(name, key, iv);
    return Buffer.concat([d.update(data), d.final()]);
  } catch {
    throw new Pkcs12PasswordError();
  }
}

/** Decrypts `data` encrypted with the algorithm at `algT` (PBES2 or a PKCS#12 PBE), in place. */
export function pbeDecrypt(buf: Buffer, algT: Tlv, data: Buffer, password: string): Buffer {
  return runKdf(pbeDecryptSteps(buf, algT, data, password), MAX_TOTAL_ITERATIONS);
}

function* pbeDecryptSteps(buf: Buffer, algT: Tlv, data: Buffer, password: string): KdfSteps<Buffer> {
  const alg = algorithm(buf, algT);
  if (alg.oid === P12_OID.pbes2) {
    if (!alg.params) throw bad('PBES2 without parameters');
    const [kdfT, encT] = children(buf, alg.params);
    if (!kdfT || !encT) throw bad('PBES2 parameters');
    const kdf = algorithm(buf, kdfT);
    if (kdf.oid !== P12_OID.pbkdf2 || !kdf.params) throw new PkiError('unsupported', `PBES2 key derivation ${kdf.oid} is not supported`);
    const kp = children(buf, kdf.params);
    const saltT = kp[0], iterT = kp[1];
    if (!saltT || saltT.tag !== TAG.OCTET_STRING || !iterT || iterT.tag !== TAG.INTEGER) throw bad('PBKDF2 parameters');
    const iterations = checkIterations(readInteger(buf, iterT));
    let prf = 'sha1';
    let keyLen: number | undefined;
    for (const t of kp.slice(2)) {
      if (t.tag === TAG.INTEGER) keyLen = Number(readInteger(buf, t));
      else if (t.tag === TAG.SEQUENCE) {
        const p = algorithm(buf, t);
        const name = PRF_BY_OID[p.oid];
        if (!name) throw new PkiError('unsupported', `PBKDF2 PRF ${p.oid} is not supported`);
        prf = name;
      }
    }
    const enc = algorithm(buf, encT);
    const cipher = CIPHER_BY_OID[enc.oid];
    if (!cipher) throw new PkiError('unsupported', `PBES2 cipher ${enc.oid} is not supported`);
    if (!enc.params || enc.params.tag !== TAG.OCTET_STRING) throw bad('PBES2 cipher without an IV');
    const iv = buf.subarray(enc.params.contentStart, enc.params.end);
    if (keyLen !== undefined && keyLen !== cipher.keyLen) throw bad('PBKDF2 key length does not match the cipher');
    const key: Buffer = yield {
      kind: 'pbkdf2', password: Buffer.from(password, 'utf8'), salt: Buffer.from(buf.subarray(saltT.contentStart, saltT.end)),
      iterations, keyLen: cipher.keyLen, digest: prf,
    };
    return decipher(cipher.name, key, iv, data);
  }
  const pbe = {
    [P12_OID.pbeSha1TripleDes3]: { kind: '3des', keyLen: 24 },
    [P12_OID.pbeSha1TripleDes2]: { kind: '3des', keyLen: 16 },
    [P12_OID.pbeSha1Rc2_128]: { kind: 'rc2', keyLen: 16 },
    [P12_OID.pbeSha1Rc2_40]: { kind: 'rc2', keyLen: 5 },
  }[alg.oid];
  if (!pbe) throw new PkiError('unsupported', `PKCS#12 encryption ${alg.oid} is not supported`);
  if (!alg.params) throw bad('PBE without parameters');
  const [saltT, iterT] = children(buf, alg.params);
  if (!saltT || saltT.tag !== TAG.OCTET_STRING || !iterT || iterT.tag !== TAG.INTEGER) throw bad('PBE parameters');
  const salt = buf.subarray(saltT.contentStart, saltT.end);
  const iterations = checkIterations(readInteger(buf, iterT));
  const pw = bmpPassword(password);
  const key = yield* pkcs12KdfSteps(P12_OID.sha1, pw, salt, 1, iterations, pbe.keyLen);
  const iv = yield* pkcs12KdfSteps(P12_OID.sha1, pw, salt, 2, iterations, 8);
  if (pbe.kind === 'rc2') {
    try {
      return rc2CbcDecrypt(key, pbe.keyLen * 8, iv, data);
    } catch {
      throw new Pkcs12PasswordError();
    }
  }
  const key3 = pbe.keyLen === 16 ? Buffer.concat([key, key.subarray(0, 8)]) : key;
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

function octetContent(buf: Buffer, t: Tlv, what: string): Buffer {
  if (t.tag === TAG.OCTET_STRING || t.tag === 0x80) return buf.subarray(t.contentStart, t.end);
  if (t.tag === 0xa0 || t.tag === 0x24) {
    // constructed (BER) string: the segments are OCTET STRINGs
    return Buffer.concat(children(buf, t).map((c) => {
      if (c.tag !== TAG.OCTET_STRING) throw bad(`${what}: bad string segment`);
      return buf.subarray(c.contentStart, c.end);
    }));
  }
  throw bad(`${what}: expected an OCTET STRING`);
}

/** ContentInfo → [contentType, content TLV inside [0]]. */
function contentInfo(buf: Buffer, t: Tlv): { type: string; content?: Tlv } {
  if (t.tag !== TAG.SEQUENCE) throw bad('ContentInfo is not a SEQUENCE');
  const [typeT, explicitT] = children(buf, t);
  if (!typeT) throw bad('empty ContentInfo');
  const type = readOid(buf, typeT);
  if (!explicitT) return { type };
  if (explicitT.tag !== 0xa0) throw bad('ContentInfo content is not [0]');
  return { type, content: readTlv(buf, explicitT.contentStart, explicitT.end) };
}

function* verifyMac(der: Buffer, macT: Tlv, authSafe: Buffer, password: string): KdfSteps<void> {
  const [digestInfoT, saltT, iterT] = children(der, macT);
  if (!digestInfoT || !saltT) throw bad('MacData');
  const [algT, digestT] = children(der, digestInfoT);
  if (!algT || !digestT || digestT.tag !== TAG.OCTET_STRING) throw bad('MacData digest');
  const hashOid = algorithm(der, algT).oid;
  const h = HASH_BY_OID[hashOid];
  if (!h) throw new PkiError('unsupported', `PKCS#12 MAC digest ${hashOid} is not supported`);
  const iterations = iterT ? checkIterations(readInteger(der, iterT)) : 1;
  const salt = octetContent(der, saltT, 'MAC salt');
  const expected = der.subarray(digestT.contentStart, digestT.end);
  // The empty password is written either as two NUL bytes or as nothing at all (RFC 7292 B.1 vs
  // older tools); OpenSSL tries both, so do we.
  const candidates = password === '' ? [bmpPassword(''), Buffer.alloc(0)] : [bmpPassword(password)];
  for (const pw of candidates) {
    const key = yield* pkcs12KdfSteps(hashOid, pw, salt, 3, iterations, h.u);
    const mac = createHmac(h.name, key).update(authSafe).digest();
    if (mac.length === expected.length && timingSafeEqual(mac, expected)) return;
  }
  throw new Pkcs12PasswordError();
}

function readAttributes(buf: Buffer, t: Tlv | undefined): { friendlyName?: string; localKeyId?: Buffer } {
  const out: { friendlyName?: string; localKeyId?: Buffer } = {};
  if (!t || t.tag !== TAG.SET) return out;
  for (const a of children(buf, t)) {
    const [typeT, valuesT] = children(buf, a);
    if (!typeT || !valuesT) continue;
    const type = readOid(buf, typeT);
    const [v] = children(buf, valuesT);
    if (!v) continue;
    if (type === P12_OID.friendlyName && v.tag === TAG.BMP_STRING) {
      let s = '';
      for (let i = v.contentStart; i + 1 < v.end; i += 2) s += String.fromCharCode(buf.readUInt16BE(i));
      out.friendlyName = s;
    } else if (type === P12_OID.localKeyId && v.tag === TAG.OCTET_STRING) {
      out.localKeyId = Buffer.from(buf.subarray(v.contentStart, v.end));
    }
  }
  return out;
}

function* readSafeContents(buf: Buffer, password: string, out: Pkcs12Contents, depth: number): KdfSteps<void> {
  if (depth > 8) throw bad('safe contents nested too deeply');
  const top = readTlv(buf, 0);
  if (top.tag !== TAG.SEQUENCE || top.end !== buf.length) throw bad('SafeContents is not a SEQUENCE');
  for (const bagT of children(buf, top)) {
    const [idT, valueT, attrsT] = children(buf, bagT);
    if (!idT || !valueT || valueT.tag !== 0xa0) throw bad('SafeBag');
    const id = readOid(buf, idT);
    const value = readTlv(buf, valueT.contentStart, valueT.end);
    const attrs = readAttributes(buf, attrsT);
    switch (id) {
      case P12_OID.certBag: {
        const [typeT, cvT] = children(buf, value);
        if (!typeT || !cvT || cvT.tag !== 0xa0) throw bad('CertBag');
        if (readOid(buf, typeT) !== P12_OID.x509Certificate) break; // SDSI certificates: ignored
        const inner = readTlv(buf, cvT.contentStart, cvT.end);
        out.certificates.push({ der: Buffer.from(octetContent(buf, inner, 'certificate')), ...attrs });
        break;
      }
      case P12_OID.keyBag:
        out.keys.push({ pkcs8: Buffer.from(buf.subarray(value.start, value.end)), ...attrs });
        break;
      case P12_OID.pkcs8ShroudedKeyBag:
        out.keys.push({ pkcs8: yield* encryptedKeySteps(buf, value, password), ...attrs });
        break;
      case P12_OID.safeContentsBag:
        yield* readSafeContents(Buffer.from(buf.subarray(value.start, value.end)), password, out, depth + 1);
        break;
      default:
        break; // CRL and secret bags: nothing RouterOS keeps
    }
  }
}

/**
 * Reads a PKCS#12 file, its key derivations in place (tests, tools; a server uses
 * parsePkcs12Async). Throws Pkcs12PasswordError for a wrong password (MAC mismatch or a failed
 * decryption), PkiError('bad-der') for corrupt or truncated input, PkiError('unsupported') for
 * iteration counts over the limits.
 */
/** An EncryptedPrivateKeyInfo (RFC 5958 §3) at `value` of `buf`, decrypted to PKCS#8 DER. */
function* encryptedKeySteps(buf: Buffer, value: Tlv, password: string): KdfSteps<Buffer> {
  const [algT, encT] = children(buf, value);
  if (!algT || !encT) throw bad('EncryptedPrivateKeyInfo');
  const plain = yield* pbeDecryptSteps(buf, algT, octetContent(buf, encT, 'encrypted key'), password);
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
    if (value.tag !== TAG.SEQUENCE || value.end !== buf.length) throw bad('EncryptedPrivateKeyInfo');
    return yield* encryptedKeySteps(buf, value, password);
  })(), MAX_TOTAL_ITERATIONS));
}

export function parsePkcs12(data: Uint8Array, password = ''): Pkcs12Contents {
  return withPkcs12Errors(() => runKdf(parseSteps(data, password), MAX_TOTAL_ITERATIONS));
}

/** As parsePkcs12, with the key derivations on a worker thread: the event loop stays free. */
export function parsePkcs12Async(data: Uint8Array, password = ''): Promise<Pkcs12Contents> {
  return withPkcs12Errors(() => runKdfAsync(parseSteps(data, password), MAX_TOTAL_ITERATIONS));
}

function withPkcs12Errors<T>(run: () => T): T {
  const translate = (e: unknown): never => {
    if (e instanceof PkiError) throw e;
    throw bad((e as Error).message);
  };
  try {
    const out = run();
    return (out instanceof Promise ? out.catch(translate) : out) as T;
  } catch (e) {
    return translate(e);
  }
}

function* parseSteps(data: Uint8Array, password: string): KdfSteps<Pkcs12Contents> {
  let der: Buffer;
  try {
    der = berToDer(data);
  } catch (e) {
    throw bad((e as Error).message);
  }
  return yield* parseDer(der, password);
}

function* parseDer(der: Buffer, password: string): KdfSteps<Pkcs12Contents> {
  const outer = readTlv(der, 0);
  if (outer.tag !== TAG.SEQUENCE) throw bad('not a SEQUENCE');
  if (outer.end !== der.length) throw bad('trailing data after the PFX');
  const [versionT, authSafeT, macT] = children(der, outer);
  if (!versionT || versionT.tag !== TAG.INTEGER || readInteger(der, versionT) !== 3n) throw bad('version is not 3');
  if (!authSafeT) throw bad('no authSafe');
  const ci = contentInfo(der, authSafeT);
  if (ci.type !== P12_OID.data || !ci.content) throw bad('authSafe is not signed-data-free PKCS#7 data (public-key integrity mode is not supported)');
  const authSafe = octetContent(der, ci.content, 'authSafe');
  const out: Pkcs12Contents = { certificates: [], keys: [], macChecked: false };
  if (macT) {
    yield* verifyMac(der, macT, authSafe, password);
    out.macChecked = true;
  }
  const asBuf = Buffer.from(authSafe);
  const list = expectTlv(asBuf, 0, asBuf.length, TAG.SEQUENCE, 'AuthenticatedSafe');
  for (const t of children(asBuf, list)) {
    const c = contentInfo(asBuf, t);
    if (!c.content) throw bad('empty ContentInfo');
    if (c.type === P12_OID.data) {
      yield* readSafeContents(Buffer.from(octetContent(asBuf, c.content, 'SafeContents')), password, out, 0);
    } else if (c.type === P12_OID.encryptedData) {
      const [, eciT] = children(asBuf, c.content);
      if (!eciT) throw bad('EncryptedData');
      const [, algT, contentT] = children(asBuf, eciT);
      if (!algT || !contentT) throw bad('EncryptedContentInfo');
      const plain = yield* pbeDecryptSteps(asBuf, algT, octetContent(asBuf, contentT, 'encrypted content'), password);
      try {
        yield* readSafeContents(plain, password, out, 0);
      } catch (e) {
        // Without a MAC a wrong password shows up as garbage after a lucky padding check.
        if (!out.macChecked && !(e instanceof Pkcs12PasswordError)) throw new Pkcs12PasswordError();
        throw e;
      }
    } else {
      throw new PkiError('unsupported', `PKCS#12 content type ${c.type} (public-key encryption) is not supported`);
    }
  }
  return out;
}
