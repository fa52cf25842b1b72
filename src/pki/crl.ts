// Certificate revocation lists: RFC 5280 §5 (CertificateList, TBSCertList v2), §5.2.1 AKI,
// §5.2.3 CRL number, §5.1.2.6 revokedCertificates. Written directly with der.ts and signed with
// node:crypto, read with a single DER scan into a Set of serial numbers.
//
// Generic ASN.1 libraries are quadratic or refuse large lists (libraries.md §4 pitfalls 2–4). Here
// each revoked entry is encoded once (encodeCrlEntry) and callers keep the concatenated entries:
// one more revocation appends ~40 bytes and re-signs, it never re-encodes the others.

import { createHash, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  FieldReader, TAG, bitString, checkContent, checkTree, encodingOf, explicit, headerLength, integer, integerHex, oid, octetString,
  readAlgorithm, readInteger, readTime, readTlv, seq, time, tlvParts, implicit, type Tlv,
} from './der.js';
import { PkiError } from './errors.js';
import { formatName } from './name.js';
import { readExtensions, signatureAlgorithm, type Digest } from './certificate.js';

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
  try {
    return parse(der);
  } catch (e) {
    if (e instanceof PkiError && !e.message.startsWith('not a valid CRL')) throw bad(e.message);
    throw e;
  }
}

/** The one TLV filling an extension value. */
function extValue(value: Buffer, tag: number, what: string): Tlv {
  const t = readTlv(value, 0);
  if (t.end !== value.length || t.tag !== tag) throw bad(`malformed ${what}`);
  checkTree(value, t);
  return t;
}

function parse(input: Buffer): CrlInfo {
  // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING } (RFC 5280 §5.1)
  const top = readTlv(input, 0);
  if (top.tag !== TAG.SEQUENCE) throw bad('not a SEQUENCE');
  const der = input.subarray(0, top.end);
  const c = new FieldReader(der, top, 'CertificateList');
  const tbsT = c.next(TAG.SEQUENCE, 'tbsCertList');
  const algT = c.next(TAG.SEQUENCE, 'signatureAlgorithm');
  const sigT = c.next(TAG.BIT_STRING, 'signatureValue');
  c.end();
  checkTree(der, algT);
  checkContent(der, sigT);

  // TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL (v2), signature, issuer, thisUpdate,
  //   nextUpdate OPTIONAL, revokedCertificates SEQUENCE OF … OPTIONAL, crlExtensions [0] EXPLICIT OPTIONAL }
  const f = new FieldReader(der, tbsT, 'TBSCertList');
  let version = 1;
  const versionT = f.optional(TAG.INTEGER);
  if (versionT) {
    if (readInteger(der, versionT) !== 1n) throw bad('version is not 2 (RFC 5280 §5.1.2.1)');
    version = 2;
  }
  readAlgorithm(der, f.next(TAG.SEQUENCE, 'signature'), 'signature');
  const issuerT = f.next(TAG.SEQUENCE, 'issuer');
  const thisUpdate = readTime(der, f.next(undefined, 'thisUpdate'));
  const p = f.peek();
  const nextUpdate = p === TAG.UTC_TIME || p === TAG.GENERALIZED_TIME ? readTime(der, f.next(undefined, 'nextUpdate')) : undefined;
  const revoked = new Set<string>();
  const listT = f.optional(TAG.SEQUENCE);
  if (listT) scanEntries(der, listT, revoked);
  let crlNumber = '';
  let akid = '';
  const extsT = f.optional(0xa0);
  f.end();
  if (extsT) {
    const e = new FieldReader(der, extsT, 'crlExtensions');
    const extensions = readExtensions(der, e.next(TAG.SEQUENCE, 'Extensions'));
    e.end();
    for (const x of extensions) {
      if (x.oid === OID_CRL_NUMBER) {
        // CRLNumber ::= INTEGER (0..MAX), at most 20 octets (§5.2.3)
        const n = extValue(x.value, TAG.INTEGER, 'CRL number');
        if (x.value[n.contentStart]! & 0x80) throw bad('negative CRL number');
        if (n.end - n.contentStart > 21 || (n.end - n.contentStart === 21 && x.value[n.contentStart] !== 0)) throw bad('CRL number longer than 20 octets');
        crlNumber = readInteger(x.value, n).toString();
      } else if (x.oid === OID_AKI) {
        const a = new FieldReader(x.value, extValue(x.value, TAG.SEQUENCE, 'authority key identifier'), 'AuthorityKeyIdentifier');
        const keyId = a.optional(0x80);
        a.optional(0xa1);
        a.optional(0x82);
        a.end();
        if (keyId) akid = x.value.toString('hex', keyId.contentStart, keyId.end).toUpperCase();
      }
    }
  }
  const sigOid = readAlgorithm(der, algT, 'signatureAlgorithm').oid;
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
}

/** One TLV header read without allocating (the entries loop below reads millions of them). */
const hdr = { tag: 0, contentStart: 0, end: 0 };
function readHeader(der: Buffer, p: number, limit: number): typeof hdr {
  if (p + 2 > limit) throw bad('truncated entry');
  hdr.tag = der[p]!;
  let len = der[p + 1]!;
  let q = p + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || q + n > limit) throw bad('bad entry length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[q++]!;
  }
  hdr.contentStart = q;
  hdr.end = q + len;
  if (hdr.end > limit) throw bad('entry runs past the end');
  return hdr;
}

/**
 * Adds the serial of every revokedCertificates entry to `out` (no per-entry objects). Each entry
 * is SEQUENCE { userCertificate INTEGER, revocationDate Time, crlEntryExtensions OPTIONAL }.
 */
function scanEntries(der: Buffer, list: Tlv, out: Set<string>): void {
  let p = list.contentStart;
  // Revocations made together share their date: a date equal to the previous one was checked.
  let lastDate = -1, lastDateEnd = -1;
  while (p < list.end) {
    const e = readHeader(der, p, list.end);
    if (e.tag !== TAG.SEQUENCE) throw bad('revoked entry is not a SEQUENCE');
    const entryEnd = e.end;
    const s = readHeader(der, e.contentStart, entryEnd);
    if (s.tag !== TAG.INTEGER) throw bad('entry without serial');
    const serialStart = s.contentStart, serialEnd = s.end;
    checkContent(der, { tag: TAG.INTEGER, start: p, contentStart: serialStart, end: serialEnd });
    const dateStart = serialEnd;
    const d = readHeader(der, dateStart, entryEnd);
    const dateEnd = d.end;
    if (lastDate < 0 || der.compare(der, lastDate, lastDateEnd, dateStart, dateEnd) !== 0) {
      readTime(der, { tag: d.tag, start: dateStart, contentStart: d.contentStart, end: dateEnd });
      lastDate = dateStart;
      lastDateEnd = dateEnd;
    }
    if (dateEnd < entryEnd) {
      const exts = readTlv(der, dateEnd, entryEnd);
      if (exts.tag !== TAG.SEQUENCE || exts.end !== entryEnd) throw bad('revoked entry with unexpected fields');
      checkTree(der, exts);
      readExtensions(der, exts);
    }
    out.add(der[serialStart]! & 0x80 ? integerHex(der.subarray(serialStart, serialEnd)) : positiveHex(der, serialStart, serialEnd));
    p = entryEnd;
  }
}

/** integerHex of a positive INTEGER's content without a copy. */
function positiveHex(der: Buffer, start: number, end: number): string {
  while (start < end - 1 && der[start] === 0) start++;
  return der.toString('hex', start, end).toUpperCase();
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

/** Normalises a serial text (any case, optional `:` separators, leading zeros, '-') to the Set's form. */
export function normaliseSerial(hex: string): string {
  const negative = hex.startsWith('-');
  let s = hex.replace(/^-|:/g, '').toUpperCase();
  if (s.length % 2) s = `0${s}`;
  while (s.length > 2 && s.startsWith('00')) s = s.slice(2);
  return negative && s !== '00' ? `-${s}` : s;
}

