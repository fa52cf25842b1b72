// SubjectPublicKeyInfo: RFC 5280 §4.1.2.7 (structure), RFC 3279 §2.3.1 / §2.3.2 (RSA and DSA
// keys), RFC 5480 §2.1.1 (EC named curves), and the key identifier of RFC 5280 §4.2.1.2 method (1):
// SHA-1 of the subjectPublicKey BIT STRING value (without tag, length and unused-bits octet).

import { createHash } from 'node:crypto';
import { TAG, children, expectTlv, readOid, readTlv, type Tlv } from './der.js';
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

/** Location of the BIT STRING value (after the unused-bits octet) in an SPKI at `at`. */
export function spkiKeyBytes(buf: Buffer, at?: Tlv): Buffer {
  const outer = at ?? readTlv(buf, 0);
  const alg = readTlv(buf, outer.contentStart, outer.end);
  const bits = expectTlv(buf, alg.end, outer.end, TAG.BIT_STRING, 'subjectPublicKey BIT STRING');
  return buf.subarray(bits.contentStart + 1, bits.end);
}

/** Key type, size and raw key bytes of a SubjectPublicKeyInfo (at `at` inside `buf`, or the whole buffer). */
export function spkiInfo(buf: Buffer, at?: Tlv): SpkiInfo {
  const outer = at ?? readTlv(buf, 0);
  if (outer.tag !== TAG.SEQUENCE) throw new PkiError('bad-der', 'malformed DER: SubjectPublicKeyInfo must be a SEQUENCE');
  const alg = expectTlv(buf, outer.contentStart, outer.end, TAG.SEQUENCE, 'AlgorithmIdentifier');
  const bits = expectTlv(buf, alg.end, outer.end, TAG.BIT_STRING, 'subjectPublicKey BIT STRING');
  const keyBytes = buf.subarray(bits.contentStart + 1, bits.end);
  const algOidT = readTlv(buf, alg.contentStart, alg.end);
  const algorithm = readOid(buf, algOidT);
  const params = algOidT.end < alg.end ? readTlv(buf, algOidT.end, alg.end) : undefined;
  switch (algorithm) {
    case OID.rsaEncryption:
    case OID.rsassaPss: {
      const rsaKey = readTlv(keyBytes, 0);
      const n = readTlv(keyBytes, rsaKey.contentStart, rsaKey.end);
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
        if (p) size = String(integerBits(buf, p));
      }
      return { keyType: 'dsa', keySize: size, algorithm, keyBytes };
    }
    case OID.ed25519: return { keyType: 'ed25519', keySize: '256', algorithm, keyBytes };
    case OID.ed448: return { keyType: 'ed448', keySize: '456', algorithm, keyBytes };
    default: return { keyType: algorithm, keySize: '', algorithm, keyBytes };
  }
}

/** RFC 5280 §4.2.1.2 method (1) key identifier of an SPKI DER: 20 bytes. */
export function computeSkid(spkiDer: Buffer, at?: Tlv): Buffer {
  return createHash('sha1').update(spkiKeyBytes(spkiDer, at)).digest();
}
