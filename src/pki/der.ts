// DER writer and reader: ITU-T X.690 §8 (BER basic encoding), §10 (DER restrictions: definite
// minimal lengths, §10.2), §11.2 (BIT STRING named bits), §11.6 (SET OF ordering); time types per
// RFC 5280 §4.1.2.5 (UTCTime through 2049, GeneralizedTime from 2050, always Zulu with seconds).
//
// The writer builds each TLV with exactly one allocation: callers pass already-encoded parts and
// the constructed value is written header-first into one buffer (no intermediate concatenations).
// Returned buffers from the cached helpers (oid(), NULL_DER, ...) are shared: never mutate them.

import { PkiError } from './errors.js';

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

// ---------------------------------------------------------------------------------------------
// Writer

/** Number of bytes of a DER header (tag + length) for a content of `len` bytes (X.690 §8.1.3). */
export function headerLength(len: number): number {
  if (len < 0x80) return 2;
  if (len < 0x100) return 3;
  if (len < 0x10000) return 4;
  if (len < 0x1000000) return 5;
  return 6;
}

/** Writes tag + minimal definite length at `off`; returns the offset after the header. */
function writeHeader(buf: Buffer, off: number, tag: number, len: number): number {
  buf[off++] = tag;
  if (len < 0x80) {
    buf[off++] = len;
  } else if (len < 0x100) {
    buf[off++] = 0x81; buf[off++] = len;
  } else if (len < 0x10000) {
    buf[off++] = 0x82; buf[off++] = len >>> 8; buf[off++] = len & 0xff;
  } else if (len < 0x1000000) {
    buf[off++] = 0x83; buf[off++] = len >>> 16; buf[off++] = (len >>> 8) & 0xff; buf[off++] = len & 0xff;
  } else {
    buf[off++] = 0x84; buf.writeUInt32BE(len, off); off += 4;
  }
  return off;
}

/** A primitive or constructed TLV whose content is already encoded. */
export function tlv(tag: number, content: Uint8Array): Buffer {
  const len = content.length;
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  const off = writeHeader(out, 0, tag, len);
  out.set(content, off);
  return out;
}

/** A constructed TLV whose content is the concatenation of `parts` (one allocation). */
export function tlvParts(tag: number, parts: readonly Uint8Array[]): Buffer {
  let len = 0;
  for (let i = 0; i < parts.length; i++) len += parts[i]!.length;
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  let off = writeHeader(out, 0, tag, len);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** SEQUENCE of already-encoded elements. */
export const seq = (...parts: Uint8Array[]): Buffer => tlvParts(TAG.SEQUENCE, parts);
/** SEQUENCE from an array of already-encoded elements. */
export const seqOf = (parts: readonly Uint8Array[]): Buffer => tlvParts(TAG.SEQUENCE, parts);
/** SET with the elements in the given order (use for SET of a single element, or known order). */
export const set = (...parts: Uint8Array[]): Buffer => tlvParts(TAG.SET, parts);
/** DER SET OF: elements sorted by their encodings (X.690 §11.6). */
export function setOf(parts: readonly Uint8Array[]): Buffer {
  const sorted = [...parts].sort((a, b) => Buffer.compare(a, b));
  return tlvParts(TAG.SET, sorted);
}

/** Context-specific EXPLICIT tag [n] (constructed, 0xA0 | n) around encoded parts. */
export const explicit = (n: number, ...parts: Uint8Array[]): Buffer => tlvParts(0xa0 | n, parts);
/** Context-specific IMPLICIT tag [n]: primitive (0x80 | n) unless constructed is set (0xA0 | n). */
export const implicit = (n: number, content: Uint8Array, constructed = false): Buffer =>
  tlv((constructed ? 0xa0 : 0x80) | n, content);

export const NULL_DER: Buffer = Buffer.from([0x05, 0x00]);
export const TRUE_DER: Buffer = Buffer.from([0x01, 0x01, 0xff]);
export const FALSE_DER: Buffer = Buffer.from([0x01, 0x01, 0x00]);
export const boolean = (v: boolean): Buffer => (v ? TRUE_DER : FALSE_DER);

/**
 * INTEGER (X.690 §8.3). A bigint/number is encoded in minimal two's complement (negative values
 * allowed). Bytes are read as an UNSIGNED big-endian magnitude: leading zero bytes are stripped and
 * one 0x00 is prepended when the top bit is set, so the value stays positive.
 */
export function integer(value: bigint | number | Uint8Array): Buffer {
  if (value instanceof Uint8Array) {
    let i = 0;
    while (i < value.length - 1 && value[i] === 0) i++;
    if (value.length === 0) return Buffer.from([TAG.INTEGER, 1, 0]);
    const mag = value.subarray(i);
    const pad = mag[0]! & 0x80 ? 1 : 0;
    const out = Buffer.allocUnsafe(headerLength(mag.length + pad) + mag.length + pad);
    let off = writeHeader(out, 0, TAG.INTEGER, mag.length + pad);
    if (pad) out[off++] = 0;
    out.set(mag, off);
    return out;
  }
  let v = BigInt(value);
  const bytes: number[] = [];
  // Emit little-endian bytes until the remaining value is pure sign extension of the last byte.
  for (;;) {
    const b = Number(v & 0xffn);
    bytes.push(b);
    v >>= 8n;
    if ((v === 0n && (b & 0x80) === 0) || (v === -1n && (b & 0x80) !== 0)) break;
  }
  bytes.reverse();
  return tlv(TAG.INTEGER, Uint8Array.from(bytes));
}

// OBJECT IDENTIFIER (X.690 §8.19) -- encoded TLVs are cached by dotted string.
const oidCache = new Map<string, Buffer>();

/** The content octets of an OID (no tag/length). */
export function oidContent(dotted: string): Buffer {
  const arcs = dotted.split('.');
  if (arcs.length < 2) throw new PkiError('bad-der', `invalid OID "${dotted}"`);
  const nums = arcs.map((a) => {
    if (!/^\d+$/.test(a)) throw new PkiError('bad-der', `invalid OID "${dotted}"`);
    return BigInt(a);
  });
  const first = nums[0]!, second = nums[1]!;
  if (first > 2n || (first < 2n && second > 39n)) throw new PkiError('bad-der', `invalid OID "${dotted}"`);
  const out: number[] = [];
  const push = (n: bigint) => {
    const tmp = [Number(n & 0x7fn)];
    n >>= 7n;
    while (n > 0n) { tmp.push(Number(n & 0x7fn) | 0x80); n >>= 7n; }
    for (let i = tmp.length - 1; i >= 0; i--) out.push(tmp[i]!);
  };
  push(first * 40n + second);
  for (let i = 2; i < nums.length; i++) push(nums[i]!);
  return Buffer.from(out);
}

/** OID TLV; cached, so the returned buffer must not be mutated. */
export function oid(dotted: string): Buffer {
  let b = oidCache.get(dotted);
  if (!b) {
    b = tlv(TAG.OID, oidContent(dotted));
    oidCache.set(dotted, b);
  }
  return b;
}

/** BIT STRING (X.690 §8.6) from whole bytes with `unusedBits` trailing pad bits in the last byte. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  const len = bytes.length + 1;
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  let off = writeHeader(out, 0, TAG.BIT_STRING, len);
  out[off++] = unusedBits;
  out.set(bytes, off);
  return out;
}

/**
 * BIT STRING of a NamedBitList (X.690 §11.2.2: trailing zero bits removed), e.g. KeyUsage.
 * `bits` are the bit numbers that are set (bit 0 = most significant bit of the first byte).
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return Buffer.from([TAG.BIT_STRING, 1, 0]);
  const highest = Math.max(...bits);
  const nBytes = (highest >> 3) + 1;
  const bytes = Buffer.alloc(nBytes);
  for (const b of bits) bytes[b >> 3] |= 0x80 >> (b & 7);
  return bitString(bytes, nBytes * 8 - (highest + 1));
}

export const octetString = (bytes: Uint8Array): Buffer => tlv(TAG.OCTET_STRING, bytes);
export const utf8String = (s: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));

const PRINTABLE_RE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
export const isPrintableString = (s: string): boolean => PRINTABLE_RE.test(s);
/** PrintableString (X.680 §41.4); throws when `s` has characters outside its set. */
export function printableString(s: string): Buffer {
  if (!PRINTABLE_RE.test(s)) throw new PkiError('bad-name', `"${s}" contains characters not allowed in a PrintableString`);
  return tlv(TAG.PRINTABLE_STRING, Buffer.from(s, 'latin1'));
}
// eslint-disable-next-line no-control-regex
const IA5_RE = /^[\x00-\x7f]*$/;
export const isIA5String = (s: string): boolean => IA5_RE.test(s);
/** IA5String (ASCII); throws on non-ASCII characters. */
export function ia5String(s: string, tag: number = TAG.IA5_STRING): Buffer {
  if (!IA5_RE.test(s)) throw new PkiError('bad-der', `"${s}" contains non-ASCII characters`);
  return tlv(tag, Buffer.from(s, 'latin1'));
}

const pad2 = (n: number) => (n < 10 ? '0' + n : '' + n);

/** UTCTime YYMMDDHHMMSSZ (seconds resolution; the milliseconds are dropped). Years 1950..2049. */
export function utcTime(ms: number): Buffer {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  if (y < 1950 || y > 2049) throw new PkiError('bad-validity', `year ${y} cannot be a UTCTime`);
  const s = pad2(y % 100) + pad2(d.getUTCMonth() + 1) + pad2(d.getUTCDate()) +
    pad2(d.getUTCHours()) + pad2(d.getUTCMinutes()) + pad2(d.getUTCSeconds()) + 'Z';
  return tlv(TAG.UTC_TIME, Buffer.from(s, 'latin1'));
}

/** GeneralizedTime YYYYMMDDHHMMSSZ (no fractional seconds, RFC 5280 §4.1.2.5.2). Years 0..9999. */
export function generalizedTime(ms: number): Buffer {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  if (!(y >= 0 && y <= 9999)) throw new PkiError('bad-validity', `date ${Number.isFinite(ms) ? d.toISOString() : ms} cannot be encoded`);
  const s = String(y).padStart(4, '0') + pad2(d.getUTCMonth() + 1) + pad2(d.getUTCDate()) +
    pad2(d.getUTCHours()) + pad2(d.getUTCMinutes()) + pad2(d.getUTCSeconds()) + 'Z';
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(s, 'latin1'));
}

/** RFC 5280 §4.1.2.5 Time: UTCTime for 1950..2049, GeneralizedTime otherwise. */
export function time(ms: number): Buffer {
  const y = new Date(ms).getUTCFullYear();
  return y >= 1950 && y <= 2049 ? utcTime(ms) : generalizedTime(ms);
}

// ---------------------------------------------------------------------------------------------
// Reader

/** One decoded TLV: positions are offsets into the buffer it was read from. */
export interface Tlv {
  /** First identifier octet (class | constructed | number); high-tag-number forms keep 0x1f. */
  tag: number;
  /** Offset of the identifier octet. */
  start: number;
  /** Offset of the first content octet. */
  contentStart: number;
  /** Offset just after the last content octet. */
  end: number;
}

const derError = (msg: string) => new PkiError('bad-der', `malformed DER: ${msg}`);

/** Reads the TLV at `offset`; it must end at or before `limit`. Definite lengths only. */
export function readTlv(buf: Uint8Array, offset = 0, limit = buf.length): Tlv {
  let p = offset;
  if (p + 2 > limit) throw derError('truncated header');
  const tag = buf[p++]!;
  if ((tag & 0x1f) === 0x1f) {
    // high tag number form: skip the base-128 tag number octets
    while (p < limit && buf[p]! & 0x80) p++;
    p++;
    if (p >= limit) throw derError('truncated tag');
  }
  let len = buf[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw derError('indefinite length');
    if (n > 4) throw derError('length too large');
    if (p + n > limit) throw derError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  const end = p + len;
  if (end > limit) throw derError(`content runs past the end (tag 0x${tag.toString(16)})`);
  return { tag, start: offset, contentStart: p, end };
}

/** Reads a TLV and checks its tag. */
export function expectTlv(buf: Uint8Array, offset: number, limit: number, tag: number, what: string): Tlv {
  const t = readTlv(buf, offset, limit);
  if (t.tag !== tag) throw derError(`expected ${what} (tag 0x${tag.toString(16)}), found tag 0x${t.tag.toString(16)}`);
  return t;
}

/** The child TLVs inside a constructed TLV (or inside [start, end) of `buf`). */
export function children(buf: Uint8Array, parent: Tlv | { contentStart: number; end: number }): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.contentStart;
  while (p < parent.end) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

/** Iterates TLVs lazily between `start` and `end` (useful for scanning large CRLs). */
export function* iterate(buf: Uint8Array, start: number, end: number): Generator<Tlv> {
  let p = start;
  while (p < end) {
    const t = readTlv(buf, p, end);
    yield t;
    p = t.end;
  }
}

/**
 * Reads the fields of a constructed TLV in order, as a SEQUENCE's schema lists them: each
 * field must be present with its tag, OPTIONAL/DEFAULT fields are taken when their tag comes
 * next, and nothing may follow the last field (X.680 §25; what OpenSSL's decoder also refuses).
 */
export class FieldReader {
  private p: number;
  constructor(private readonly buf: Uint8Array, private readonly parent: { contentStart: number; end: number }, private readonly what: string) {
    this.p = parent.contentStart;
  }
  get done(): boolean { return this.p >= this.parent.end; }
  /** The identifier octet of the next field (undefined at the end). */
  peek(): number | undefined { return this.done ? undefined : this.buf[this.p]; }
  /** The next field; when `tag` is given it must have that tag. */
  next(tag: number | undefined, field: string): Tlv {
    if (this.done) throw derError(`${this.what}: ${field} is missing`);
    const t = readTlv(this.buf, this.p, this.parent.end);
    if (tag !== undefined && t.tag !== tag) {
      throw derError(`${this.what}: ${field} has tag 0x${t.tag.toString(16)} (expected 0x${tag.toString(16)})`);
    }
    this.p = t.end;
    return t;
  }
  /** The next field when it has `tag` (an OPTIONAL or DEFAULT field), else undefined. */
  optional(tag: number, field = 'field'): Tlv | undefined {
    return this.peek() === tag ? this.next(tag, field) : undefined;
  }
  /** Nothing may follow the last field. */
  end(): void {
    if (!this.done) throw derError(`${this.what}: unexpected data after the last field`);
  }
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL } (RFC 5280 §4.1.1.2). */
export function readAlgorithm(buf: Buffer, t: Tlv, what = 'AlgorithmIdentifier'): { oid: string; params?: Tlv } {
  if (t.tag !== TAG.SEQUENCE) throw derError(`${what} is not a SEQUENCE`);
  const f = new FieldReader(buf, t, what);
  const o = readOid(buf, f.next(TAG.OID, 'algorithm'));
  const params = f.done ? undefined : f.next(undefined, 'parameters');
  f.end();
  if (params) checkTree(buf, params);
  return { oid: o, params };
}

/** Children of a constructed TLV with tag `tag`: a SEQUENCE OF / SET OF with at least `min` elements. */
export function listOf(buf: Uint8Array, t: Tlv, tag: number, what: string, min = 0): Tlv[] {
  if (t.tag !== tag) throw derError(`${what} has tag 0x${t.tag.toString(16)} (expected 0x${tag.toString(16)})`);
  const out = children(buf, t);
  if (out.length < min) throw derError(`${what} must not be empty`);
  return out;
}

/**
 * X.690 rules for the content of a universal-class element, as a DER reader (and OpenSSL's
 * decoder) applies them: SEQUENCE and SET constructed and every other type primitive (§10.2),
 * BOOLEAN one octet (§8.2.1), INTEGER and ENUMERATED non-empty and minimal (§8.3.2), NULL
 * empty (§8.8.2), OBJECT IDENTIFIER sub-identifiers minimal and complete (§8.19.2), BIT STRING
 * with at most 7 unused bits, none when empty (§8.6.2) and those zero (§11.2.1), BMPString whole 16-bit characters
 * and UniversalString whole 32-bit characters (X.690 §8.23.8, X.680 §41).
 */
export function checkContent(buf: Uint8Array, t: Tlv): void {
  if ((t.tag & 0xc0) !== 0) return; // context, application, private: the schema decides
  const num = t.tag & 0x1f;
  const constructed = (t.tag & 0x20) !== 0;
  const len = t.end - t.contentStart;
  const c0 = buf[t.contentStart];
  if (num === 16 || num === 17) {
    if (!constructed) throw derError(`${num === 16 ? 'SEQUENCE' : 'SET'} must be constructed`);
    return;
  }
  if (num === 0x1f) return; // high tag numbers: not a type this code knows
  if (constructed) throw derError(`universal type ${num} must be primitive`);
  switch (num) {
    case 0: throw derError('end-of-contents octets in a definite-length encoding');
    case 1: if (len !== 1) throw derError('BOOLEAN must be one octet'); break;
    case 2: case 10:
      if (len === 0) throw derError('empty INTEGER');
      if (len > 1 && ((c0 === 0 && buf[t.contentStart + 1]! < 0x80) || (c0 === 0xff && buf[t.contentStart + 1]! >= 0x80))) {
        throw derError('INTEGER not in its shortest form');
      }
      break;
    case 3:
      if (len === 0) throw derError('empty BIT STRING');
      if (c0! > 7) throw derError('BIT STRING with more than 7 unused bits');
      if (len === 1 && c0 !== 0) throw derError('empty BIT STRING with unused bits');
      // §11.2.1: the unused bits of the last octet are zero (OpenSSL writes them so when it re-encodes)
      if (c0! > 0 && (buf[t.end - 1]! & ((1 << c0!) - 1)) !== 0) throw derError('BIT STRING with unused bits that are not zero');
      break;
    case 5: if (len !== 0) throw derError('NULL with content'); break;
    case 6: checkOid(buf.subarray(t.contentStart, t.end)); break;
    case 28: if (len % 4) throw derError('UniversalString length is not a multiple of 4'); break;
    case 30: if (len % 2) throw derError('BMPString length is odd'); break;
    default: break;
  }
}

/** Checks a TLV and everything nested in it (not the contents of OCTET and BIT STRINGs). */
export function checkTree(buf: Uint8Array, t: Tlv, depth = 0): void {
  if (depth > 64) throw derError('nested too deeply');
  checkContent(buf, t);
  if (t.tag & 0x20) {
    let p = t.contentStart;
    while (p < t.end) {
      const c = readTlv(buf, p, t.end);
      checkTree(buf, c, depth + 1);
      p = c.end;
    }
  }
}

function checkOid(c: Uint8Array): void {
  if (c.length === 0) throw derError('empty OID');
  if (c[c.length - 1]! & 0x80) throw derError('OID ends inside a sub-identifier');
  for (let i = 0; i < c.length; i++) {
    if (c[i] === 0x80 && (i === 0 || !(c[i - 1]! & 0x80))) throw derError('OID sub-identifier not in its shortest form');
  }
}

/** Content octets of a TLV (a view, not a copy). */
export const contentOf = (buf: Buffer, t: Tlv): Buffer => buf.subarray(t.contentStart, t.end);
/** Whole encoding of a TLV (a view, not a copy). */
export const encodingOf = (buf: Buffer, t: Tlv): Buffer => buf.subarray(t.start, t.end);

/** Dotted string of an OID's content octets. */
export function decodeOid(content: Uint8Array): string {
  checkOid(content);
  const arcs: string[] = [];
  let v = 0, big: bigint | null = null, first = true;
  for (let i = 0; i < content.length; i++) {
    const b = content[i]!;
    if (big === null && v > 0x00ffffff) big = BigInt(v);
    if (big !== null) big = (big << 7n) | BigInt(b & 0x7f);
    else v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      const val = big ?? BigInt(v);
      if (first) {
        if (val < 40n) arcs.push('0', String(val));
        else if (val < 80n) arcs.push('1', String(val - 40n));
        else arcs.push('2', String(val - 80n));
        first = false;
      } else arcs.push(String(val));
      v = 0; big = null;
    }
  }
  return arcs.join('.');
}

export const readOid = (buf: Buffer, t: Tlv): string => {
  if (t.tag !== TAG.OID) throw derError('expected OBJECT IDENTIFIER');
  return decodeOid(buf.subarray(t.contentStart, t.end));
};

/** INTEGER as a bigint (two's complement). */
export function readInteger(buf: Buffer, t: Tlv): bigint {
  if (t.tag !== TAG.INTEGER) throw derError('expected INTEGER');
  checkContent(buf, t);
  const c = buf.subarray(t.contentStart, t.end);
  let v = BigInt('0x' + c.toString('hex'));
  if (c[0]! & 0x80) v -= 1n << BigInt(c.length * 8);
  return v;
}

/**
 * An INTEGER as `openssl x509 -serial` prints it (i2a_ASN1_INTEGER): upper-case hex of the
 * magnitude in whole octets without leading 00 octets, '-' in front of a negative value:
 * 0x00A1 → "A1", 0x0512 → "0512", 0 → "00", 0xFF → "-01", 0xFF00 → "-0100".
 */
export function readIntegerHex(buf: Buffer, t: Tlv): string {
  if (t.tag !== TAG.INTEGER) throw derError('expected INTEGER');
  checkContent(buf, t);
  return integerHex(buf.subarray(t.contentStart, t.end));
}

/** i2a_ASN1_INTEGER text of two's-complement INTEGER content octets (see readIntegerHex). */
export function integerHex(c: Uint8Array): string {
  const b = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  if (!(b[0]! & 0x80)) {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    return b.toString('hex', i).toUpperCase();
  }
  let mag = (-(BigInt(`0x${b.toString('hex')}`) - (1n << BigInt(b.length * 8)))).toString(16).toUpperCase();
  if (mag.length % 2) mag = `0${mag}`;
  return `-${mag}`;
}

/** BIT STRING: unused-bit count and the bytes after it (a view). */
export function readBitString(buf: Buffer, t: Tlv): { unusedBits: number; bytes: Buffer } {
  if (t.tag !== TAG.BIT_STRING) throw derError('expected BIT STRING');
  checkContent(buf, t);
  return { unusedBits: buf[t.contentStart]!, bytes: buf.subarray(t.contentStart + 1, t.end) };
}

/** Set bit numbers of a BIT STRING (bit 0 = MSB of the first byte). */
export function readNamedBits(buf: Buffer, t: Tlv): number[] {
  const { unusedBits, bytes } = readBitString(buf, t);
  const out: number[] = [];
  const total = bytes.length * 8 - unusedBits;
  for (let i = 0; i < total; i++) if (bytes[i >> 3]! & (0x80 >> (i & 7))) out.push(i);
  return out;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const isSurrogate = (u: number) => u >= 0xd800 && u <= 0xdfff;

/**
 * Any of the ASN.1 character string types, decoded to a JS string. The multi-octet types must
 * hold characters: UTF8String valid UTF-8 (RFC 3629 §3, no surrogates, nothing beyond
 * U+10FFFF), BMPString whole UCS-2 characters and UniversalString whole UCS-4 characters, none
 * of them surrogates or beyond U+10FFFF (X.680 §41). Other types come back as RFC 4514 '#' hex.
 */
export function readString(buf: Buffer, t: Tlv): string {
  const c = buf.subarray(t.contentStart, t.end);
  switch (t.tag) {
    case TAG.UTF8_STRING:
      try { return utf8Strict.decode(c); } catch { throw derError('UTF8String is not valid UTF-8'); }
    case TAG.PRINTABLE_STRING: case TAG.IA5_STRING: case 0x12 /* NumericString */:
    case 0x1a /* VisibleString */: case TAG.TELETEX_STRING: case 0x1b /* GeneralString */:
      return c.toString('latin1');
    case TAG.BMP_STRING: {
      if (c.length % 2) throw derError('BMPString length is odd');
      let s = '';
      for (let i = 0; i < c.length; i += 2) {
        const u = (c[i]! << 8) | c[i + 1]!;
        if (isSurrogate(u)) throw derError('BMPString holds a surrogate');
        s += String.fromCharCode(u);
      }
      return s;
    }
    case TAG.UNIVERSAL_STRING: {
      if (c.length % 4) throw derError('UniversalString length is not a multiple of 4');
      let s = '';
      for (let i = 0; i < c.length; i += 4) {
        const u = c.readUInt32BE(i);
        if (u > 0x10ffff || isSurrogate(u)) throw derError('UniversalString holds a value that is not a character');
        s += String.fromCodePoint(u);
      }
      return s;
    }
    default:
      // not a string type: show it as RFC 4514 '#' hex of the whole encoding
      return '#' + buf.toString('hex', t.start, t.end);
  }
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const daysIn = (year: number, month: number) =>
  month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : DAYS_IN_MONTH[month - 1]!;
/** Text of a time for a message: printable ASCII only. */
const shown = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');

/**
 * UTCTime / GeneralizedTime as epoch milliseconds (UTC), in their DER forms: UTCTime
 * YYMMDDHHMMSSZ (X.690 §11.8, RFC 5280 §4.1.2.5.1: seconds and Z required, years 1950-2049),
 * GeneralizedTime YYYYMMDDHHMMSS[.f]Z (X.690 §11.7: a fraction has no trailing zeros), each
 * field in range (months 1-12, days within the month, hours 0-23, minutes and seconds 0-59).
 */
export function readTime(buf: Buffer, t: Tlv): number {
  const s = buf.toString('latin1', t.contentStart, t.end);
  let m: RegExpMatchArray | null;
  let year: number;
  if (t.tag === TAG.UTC_TIME) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw derError(`bad UTCTime "${shown(s)}"`);
    const yy = Number(m[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (t.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z$/.exec(s);
    if (!m) throw derError(`bad GeneralizedTime "${shown(s)}"`);
    year = Number(m[1]);
  } else {
    throw derError('expected UTCTime or GeneralizedTime');
  }
  const [month, day, hour, minute, second] = [2, 3, 4, 5, 6].map((i) => Number(m![i]));
  if (month! < 1 || month! > 12 || day! < 1 || day! > daysIn(year, month!) || hour! > 23 || minute! > 59 || second! > 59) {
    throw derError(`time "${shown(s)}" is not a valid date`);
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month! - 1, day);
  d.setUTCHours(hour!, minute!, second!, m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0);
  return d.getTime();
}
