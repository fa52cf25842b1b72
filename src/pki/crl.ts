// Certificate revocation lists: RFC 5280 §5 (CertificateList, TBSCertList v2), §5.2.1 AKI,
// §5.2.3 CRL number, §5.1.2.6 revokedCertificates. Written directly with der.ts and signed with
// node:crypto, read with a single DER scan into a Set of serial numbers.
//
// Generic ASN.1 libraries are quadratic or refuse large lists (libraries.md §4 pitfalls 2–4). Here
// each revoked entry is encoded once (encodeCrlEntry) and callers keep the concatenated entries:
// one more revocation appends ~40 bytes and re-signs, it never re-encodes the others.

import { createHash, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  TAG, bitString, children, encodingOf, explicit, headerLength, integer, oid, octetString, readIntegerHex, readOid,
  readTime, readTlv, seq, time, tlvParts, implicit, type Tlv,
} from './der.js';
import { PkiError } from './errors.js';
import { formatName } from './name.js';
import { signatureAlgorithm, type Digest } from './certificate.js';

const OID_CRL_NUMBER = '2.5.29.20';
const OID_AKI = '2.5.29.35';
const VERSION_V2 = integer(1);

// ---------------------------------------------------------------------------------------------
// Writing

/** Time bytes of the last encoded revocation date: bulk revocations share a second. */
let lastTimeMs = NaN;
let lastTime: Buffer = Buffer.alloc(0);

/**
 * One revokedCertificates entry: SEQUENCE { userCertificate INTEGER, revocationDate Time }.
 * `serial` is the unsigned big-endian value (or upper/lower-case hex). No entry extensions.
 */
export function encodeCrlEntry(serial: Uint8Array | string, revokedAt: number): Buffer {
  const bytes = typeof serial === 'string' ? Buffer.from(serial.length % 2 ? `0${serial}` : serial, 'hex') : serial;
  const sec = Math.floor(revokedAt / 1000) * 1000;
  if (sec !== lastTimeMs) { lastTime = time(sec); lastTimeMs = sec; }
  const int = integer(bytes);
  if (int.length - 2 > 20) throw new PkiError('bad-der', 'serial number longer than 20 octets');
  const len = int.length + lastTime.length;
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  // len < 128 always (≤ 22 + 17): a two-byte header.
  out[0] = TAG.SEQUENCE; out[1] = len;
  int.copy(out, 2);
  lastTime.copy(out, 2 + int.length);
  return out;
}

/** Many entries at once into one buffer (the concatenation of encodeCrlEntry results). */
export function encodeCrlEntries(entries: Iterable<{ serial: Uint8Array | string; revokedAt: number }>): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) parts.push(encodeCrlEntry(e.serial, e.revokedAt));
  return Buffer.concat(parts);
}

export interface CrlSpec {
  /** The CA's subject Name, DER (it becomes the CRL issuer). */
  issuerNameDer: Buffer;
  /** The CA's subject key identifier bytes (the CRL's AKI). */
  authorityKeyId: Uint8Array;
  privateKey: KeyObject;
  digest?: Digest;
  thisUpdate: number;
  nextUpdate: number;
  /** Monotonic CRL number (RFC 5280 §5.2.3). */
  crlNumber: bigint | number;
  /** Concatenated encodeCrlEntry() results (empty: no revokedCertificates field). */
  entries: Buffer;
}

/** Builds and signs a v2 CRL; returns its DER. */
export function buildCrl(spec: CrlSpec): Buffer {
  const keyType = spec.privateKey.asymmetricKeyType;
  if (keyType !== 'rsa' && keyType !== 'ec') throw new PkiError('bad-key', `cannot sign a CRL with a ${keyType ?? 'unknown'} key`);
  if (!(spec.nextUpdate > spec.thisUpdate)) throw new PkiError('bad-validity', 'CRL nextUpdate must be after thisUpdate');
  const digest = spec.digest ?? 'sha256';
  const sigAlg = signatureAlgorithm(keyType, digest === 'md5' && keyType === 'ec' ? 'sha256' : digest);
  const exts = explicit(0, seq(
    seq(oid(OID_AKI), octetString(seq(implicit(0, spec.authorityKeyId)))),
    seq(oid(OID_CRL_NUMBER), octetString(integer(BigInt(spec.crlNumber)))),
  ));
  const parts: Buffer[] = [
    VERSION_V2, sigAlg, spec.issuerNameDer,
    time(Math.floor(spec.thisUpdate / 1000) * 1000), time(Math.floor(spec.nextUpdate / 1000) * 1000),
  ];
  if (spec.entries.length > 0) parts.push(revokedHeader(spec.entries.length), spec.entries);
  parts.push(exts);
  const tbs = tlvParts(TAG.SEQUENCE, parts);
  const sig = cryptoSign(sigAlgDigest(digest, keyType), tbs, spec.privateKey);
  return tlvParts(TAG.SEQUENCE, [tbs, sigAlg, bitString(sig)]);
}

const sigAlgDigest = (d: Digest, keyType: string): string => (d === 'md5' && keyType === 'ec' ? 'sha256' : d);

/** The SEQUENCE header of revokedCertificates around `len` bytes of entries. */
function revokedHeader(len: number): Buffer {
  const out = Buffer.allocUnsafe(headerLength(len));
  out[0] = TAG.SEQUENCE;
  if (len < 0x80) out[1] = len;
  else {
    const n = out.length - 2;
    out[1] = 0x80 | n;
    for (let i = 0; i < n; i++) out[2 + i] = (len >>> (8 * (n - 1 - i))) & 0xff;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface CrlInfo {
  der: Buffer;
  /** SHA-256 of the DER, lower-case hex. */
  fingerprint: string;
  version: number;
  issuer: string;
  issuerDer: Buffer;
  thisUpdate: number;
  /** Absent when the CRL has no nextUpdate. */
  nextUpdate?: number;
  /** Decimal text of the CRL number ('' when absent). */
  crlNumber: string;
  /** Upper-case hex ('' when absent). */
  akid: string;
  /** Serial numbers as upper-case hex, whole octets, no leading 00 octets (certificate serialNumber form). */
  revoked: Set<string>;
  digest: string;
  signatureAlgorithmOid: string;
  tbs: Buffer;
  signature: Buffer;
}

const bad = (what: string) => new PkiError('bad-der', `not a valid CRL: ${what}`);

const DIGEST_BY_OID: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'md5', '1.2.840.113549.1.1.5': 'sha1', '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256', '1.2.840.113549.1.1.12': 'sha384', '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1', '1.2.840.10045.4.3.1': 'sha224', '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512',
};

/** Parses a DER CRL (one scan; 100,000 entries in a few tens of milliseconds). */
export function parseCrl(input: Uint8Array): CrlInfo {
  const der = Buffer.isBuffer(input) ? input : Buffer.from(input);
  let top: Tlv;
  try {
    top = readTlv(der, 0);
    if (top.tag !== TAG.SEQUENCE) throw bad('not a SEQUENCE');
    const tbsT = readTlv(der, top.contentStart, top.end);
    const algT = readTlv(der, tbsT.end, top.end);
    const sigT = readTlv(der, algT.end, top.end);
    if (tbsT.tag !== TAG.SEQUENCE || algT.tag !== TAG.SEQUENCE || sigT.tag !== TAG.BIT_STRING) throw bad('wrong structure');
    let p = tbsT.contentStart;
    const next = (): Tlv | undefined => {
      if (p >= tbsT.end) return undefined;
      const t = readTlv(der, p, tbsT.end);
      p = t.end;
      return t;
    };
    let t = next();
    let version = 1;
    if (t?.tag === TAG.INTEGER) { version = Number.parseInt(readIntegerHex(der, t), 16) + 1; t = next(); }
    if (!t || t.tag !== TAG.SEQUENCE) throw bad('missing signature algorithm');
    t = next();
    if (!t || t.tag !== TAG.SEQUENCE) throw bad('missing issuer');
    const issuerT = t;
    t = next();
    if (!t) throw bad('missing thisUpdate');
    const thisUpdate = readTime(der, t);
    t = next();
    let nextUpdate: number | undefined;
    if (t && (t.tag === TAG.UTC_TIME || t.tag === TAG.GENERALIZED_TIME)) { nextUpdate = readTime(der, t); t = next(); }
    const revoked = new Set<string>();
    if (t && t.tag === TAG.SEQUENCE) {
      scanSerials(der, t, revoked);
      t = next();
    }
    let crlNumber = '';
    let akid = '';
    if (t && t.tag === 0xa0) {
      const list = readTlv(der, t.contentStart, t.end);
      for (const e of children(der, list)) {
        const parts = children(der, e);
        const extOid = readOid(der, parts[0]!);
        const val = parts[parts.length - 1]!;
        if (val.tag !== TAG.OCTET_STRING) continue;
        if (extOid === OID_CRL_NUMBER) {
          const n = readTlv(der, val.contentStart, val.end);
          crlNumber = BigInt(`0x${readIntegerHex(der, n)}`).toString();
        } else if (extOid === OID_AKI) {
          const s = readTlv(der, val.contentStart, val.end);
          for (const c of children(der, s)) if (c.tag === 0x80) akid = der.toString('hex', c.contentStart, c.end).toUpperCase();
        }
      }
    }
    const sigOid = readOid(der, readTlv(der, algT.contentStart, algT.end));
    return {
      der,
      fingerprint: createHash('sha256').update(der).digest('hex'),
      version,
      issuer: formatName(der, issuerT),
      issuerDer: encodingOf(der, issuerT),
      thisUpdate,
      nextUpdate,
      crlNumber,
      akid,
      revoked,
      digest: DIGEST_BY_OID[sigOid] ?? sigOid,
      signatureAlgorithmOid: sigOid,
      tbs: encodingOf(der, tbsT),
      signature: der.subarray(sigT.contentStart + 1, sigT.end),
    };
  } catch (e) {
    if (e instanceof PkiError && e.message.startsWith('not a valid CRL')) throw e;
    throw bad((e as Error).message);
  }
}

/** Adds the serial of every revokedCertificates entry to `out` (no per-entry objects). */
function scanSerials(der: Buffer, list: Tlv, out: Set<string>): void {
  let p = list.contentStart;
  const end = list.end;
  while (p < end) {
    // entry SEQUENCE header
    if (der[p] !== TAG.SEQUENCE) throw bad('revoked entry is not a SEQUENCE');
    let len = der[p + 1]!;
    let q = p + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4) throw bad('bad entry length');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[q++]!;
    }
    const entryEnd = q + len;
    if (entryEnd > end) throw bad('entry runs past the end');
    if (der[q] !== TAG.INTEGER) throw bad('entry without serial');
    let sl = der[q + 1]!;
    let s = q + 2;
    if (sl & 0x80) {
      const n = sl & 0x7f;
      sl = 0;
      for (let i = 0; i < n; i++) sl = sl * 256 + der[s++]!;
    }
    const sEnd = s + sl;
    if (sEnd > entryEnd || sl === 0) throw bad('bad serial');
    while (s < sEnd - 1 && der[s] === 0) s++;
    out.add(der.toString('hex', s, sEnd).toUpperCase());
    p = entryEnd;
  }
}

/** Whether the CRL's signature verifies with the issuer's public key (KeyObject or SPKI DER). */
export function verifyCrlSignature(crl: CrlInfo, issuerKey: KeyObject | Buffer): boolean {
  if (!['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'].includes(crl.digest)) return false;
  try {
    const key = Buffer.isBuffer(issuerKey) ? { key: issuerKey, format: 'der' as const, type: 'spki' as const } : issuerKey;
    return cryptoVerify(crl.digest, crl.tbs, key, crl.signature);
  } catch {
    return false;
  }
}

/** Normalises a serial text (any case, optional `:` separators, leading zeros) to the Set's form. */
export function normaliseSerial(hex: string): string {
  let s = hex.replace(/:/g, '').toUpperCase();
  if (s.length % 2) s = `0${s}`;
  while (s.length > 2 && s.startsWith('00')) s = s.slice(2);
  return s;
}

