// SubjectPublicKeyInfo: RFC 5280 §4.1.2.7 (structure), RFC 3279 §2.3.1 / §2.3.2 (RSA and DSA
// keys), RFC 5480 §2.1.1 (EC named curves), and the key identifier of RFC 5280 §4.2.1.2 method (1):
// SHA-1 of the subjectPublicKey BIT STRING value (without tag, length and unused-bits octet).

import { hash } from 'node:crypto';
import { FieldReader, TAG, checkContent, checkTree, children, readAlgorithm, readBitString, readOid, readTlv, type Tlv } from './der.js';
import { PkiError } from './errors.js';
import { OID } from './oids.js';

export interface SpkiInfo {
  /** 'rsa' | 'ec' | 'dsa', or the algorithm name/OID for keys RouterOS cannot hold (e.g. 'ed25519'). */
  keyType: string;
  /** RSA/DSA bits as decimal text; EC curve name (prime256v1, secp384r1, secp521r1, or the OID). */
  keySize: string;
  /** Algorithm OID. */
  algorithm: string;
  /** The subjectPublicKey BIT STRING contents (after the unused-bits octet). */
  keyBytes: Buffer;
}

const CURVES: Record<string, string> = {
  [OID.prime256v1]: 'prime256v1',
  [OID.secp384r1]: 'secp384r1',
  [OID.secp521r1]: 'secp521r1',
  [OID.secp256k1]: 'secp256k1',
  [OID.secp224r1]: 'secp224r1',
};

/** Bit length of an unsigned INTEGER's content. */
function integerBits(buf: Buffer, t: Tlv): number {
  let i = t.contentStart;
  while (i < t.end - 1 && buf[i] === 0) i++;
  const first = buf[i]!;
  return (t.end - i) * 8 - (first === 0 ? 8 : Math.clz32(first) - 24);
}

/**
 * The parts of a SubjectPublicKeyInfo (at `at`, or filling `buf`): SEQUENCE { algorithm
 * AlgorithmIdentifier, subjectPublicKey BIT STRING } with AlgorithmIdentifier ::= SEQUENCE {
 * algorithm OID, parameters ANY OPTIONAL } (RFC 5280 §4.1.2.7, §4.1.1.2); a key is whole octets.
 */
function spkiParts(buf: Buffer, at?: Tlv): { algorithm: string; params?: Tlv; keyBytes: Buffer } {
  const outer = at ?? readTlv(buf, 0);
  if (outer.tag !== TAG.SEQUENCE) throw new PkiError('bad-der', 'malformed DER: SubjectPublicKeyInfo must be a SEQUENCE');
  if (at === undefined && outer.end !== buf.length) throw new PkiError('bad-der', 'malformed DER: data after the SubjectPublicKeyInfo');
  const f = new FieldReader(buf, outer, 'SubjectPublicKeyInfo');
  const alg = f.next(TAG.SEQUENCE, 'algorithm');
  const bits = f.next(TAG.BIT_STRING, 'subjectPublicKey');
  f.end();
  checkTree(buf, alg);
  const { oid: algorithm, params } = readAlgorithm(buf, alg, 'AlgorithmIdentifier');
  const { unusedBits, bytes } = readBitString(buf, bits);
  if (unusedBits !== 0) throw new PkiError('bad-der', 'malformed DER: a public key must be whole octets');
  return { algorithm, params, keyBytes: bytes };
}

/** The subjectPublicKey BIT STRING value (after the unused-bits octet) of an SPKI at `at`. */
export function spkiKeyBytes(buf: Buffer, at?: Tlv): Buffer {
  return spkiParts(buf, at).keyBytes;
}

/** Key type, size and raw key bytes of a SubjectPublicKeyInfo (at `at` inside `buf`, or the whole buffer). */
export function spkiInfo(buf: Buffer, at?: Tlv): SpkiInfo {
  const { algorithm, params, keyBytes } = spkiParts(buf, at);
  switch (algorithm) {
    case OID.rsaEncryption:
    case OID.rsassaPss: {
      // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 §A.1.1)
      const rsaKey = readTlv(keyBytes, 0);
      if (rsaKey.tag !== TAG.SEQUENCE || rsaKey.end !== keyBytes.length) throw new PkiError('bad-der', 'malformed DER: RSAPublicKey');
      const f = new FieldReader(keyBytes, rsaKey, 'RSAPublicKey');
      const n = f.next(TAG.INTEGER, 'modulus');
      checkContent(keyBytes, f.next(TAG.INTEGER, 'publicExponent'));
      f.end();
      checkContent(keyBytes, n);
      if (keyBytes[n.contentStart]! & 0x80) throw new PkiError('bad-der', 'malformed DER: negative RSA modulus');
      return { keyType: 'rsa', keySize: String(integerBits(keyBytes, n)), algorithm, keyBytes };
    }
    case OID.ecPublicKey: {
      let curve = '';
      if (params && params.tag === TAG.OID) {
        const o = readOid(buf, params);
        curve = CURVES[o] ?? o;
      }
      return { keyType: 'ec', keySize: curve, algorithm, keyBytes };
    }
    case OID.dsa: {
      let size = '';
      if (params && params.tag === TAG.SEQUENCE) {
        const [p] = children(buf, params);
        if (p && p.tag === TAG.INTEGER) size = String(integerBits(buf, p));
      }
      return { keyType: 'dsa', keySize: size, algorithm, keyBytes };
    }
    case OID.ed25519: return { keyType: 'ed25519', keySize: '256', algorithm, keyBytes };
    case OID.ed448: return { keyType: 'ed448', keySize: '456', algorithm, keyBytes };
    default: return { keyType: algorithm, keySize: '', algorithm, keyBytes };
  }
}

/**
 * The modulus and public exponent (unsigned, without leading zero octets) of an rsaEncryption
 * SubjectPublicKeyInfo filling `buf` with NULL parameters (RFC 3279 §2.3.1), or undefined for
 * any other key or form (a negative INTEGER, absent parameters …). Throws on malformed DER.
 */
export function rsaPublicNumbers(buf: Buffer): { n: Buffer; e: Buffer } | undefined {
  const { algorithm, params, keyBytes } = spkiParts(buf);
  if (algorithm !== OID.rsaEncryption || !params || params.tag !== TAG.NULL || params.end !== params.contentStart) return undefined;
  const rsaKey = readTlv(keyBytes, 0);
  if (rsaKey.tag !== TAG.SEQUENCE || rsaKey.end !== keyBytes.length) return undefined;
  const f = new FieldReader(keyBytes, rsaKey, 'RSAPublicKey');
  const n = f.next(TAG.INTEGER, 'modulus');
  const e = f.next(TAG.INTEGER, 'publicExponent');
  f.end();
  checkContent(keyBytes, n);
  checkContent(keyBytes, e);
  const magnitude = (t: Tlv): Buffer | undefined => {
    if (keyBytes[t.contentStart]! & 0x80) return undefined;
    const start = keyBytes[t.contentStart] === 0 && t.end - t.contentStart > 1 ? t.contentStart + 1 : t.contentStart;
    return keyBytes.subarray(start, t.end);
  };
  const nm = magnitude(n);
  const em = magnitude(e);
  return nm && em ? { n: nm, e: em } : undefined;
}

/** RFC 5280 §4.2.1.2 method (1) key identifier of an SPKI DER: 20 bytes. */
export function computeSkid(spkiDer: Buffer, at?: Tlv): Buffer {
  return keyIdentifier(spkiKeyBytes(spkiDer, at));
}

/** The same of the subjectPublicKey bytes (SpkiInfo.keyBytes) of an SPKI already read. */
export function keyIdentifier(keyBytes: Buffer): Buffer {
  return hash('sha1', keyBytes, 'buffer') as unknown as Buffer;
}
