// BER → DER normalisation for structures made by other tools (X.690 §8 vs §10): PKCS#12 files
// from Windows, Java or NSS may use indefinite lengths (§8.1.3.6) and constructed OCTET STRINGs
// (§8.7.3). The DER reader (der.ts) accepts neither, so such input is rewritten first: every
// indefinite length becomes definite, and constructed strings become primitive strings holding
// the concatenated segments. Bounded: nesting depth and total size are limited, so hostile input
// cannot exhaust the stack or memory.

import { PkiError } from './errors.js';
import { tlv, tlvParts } from './der.js';

const MAX_DEPTH = 64;

const bad = (msg: string) => new PkiError('bad-der', `malformed BER: ${msg}`);

interface Node {
  tag: number;
  /** DER of the normalised element. */
  der: Buffer;
  /** Offset after the element in the input. */
  next: number;
}

/** True when `buf` contains BER-only forms (indefinite lengths); cheap check on the outer header. */
export function needsNormalising(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[1] === 0x80;
}

/** Rewrites BER (definite or indefinite lengths, constructed strings) as DER; nothing may follow it. */
export function berToDer(input: Uint8Array): Buffer {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const node = readNode(buf, 0, buf.length, 0);
  if (node.next !== buf.length) throw bad('data after the end');
  return node.der;
}

function readNode(buf: Buffer, offset: number, limit: number, depth: number): Node {
  if (depth > MAX_DEPTH) throw bad('nested too deeply');
  let p = offset;
  if (p + 2 > limit) throw bad('truncated header');
  const tag = buf[p++]!;
  if ((tag & 0x1f) === 0x1f) throw bad('high tag numbers are not supported');
  const constructed = (tag & 0x20) !== 0;
  let len = buf[p++]!;
  let indefinite = false;
  if (len === 0x80) {
    if (!constructed) throw bad('indefinite length on a primitive element');
    indefinite = true;
  } else if (len & 0x80) {
    const n = len & 0x7f;
    if (n > 4) throw bad('length too large');
    if (p + n > limit) throw bad('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  if (!constructed) {
    const end = p + len;
    if (end > limit) throw bad('content runs past the end');
    return { tag, der: isMinimal(p - offset, len) ? buf.subarray(offset, end) : tlv(tag, buf.subarray(p, end)), next: end };
  }
  const parts: Node[] = [];
  let end: number;
  if (indefinite) {
    for (;;) {
      if (p + 2 > limit) throw bad('missing end-of-contents');
      if (buf[p] === 0 && buf[p + 1] === 0) { p += 2; break; }
      const child = readNode(buf, p, limit, depth + 1);
      parts.push(child);
      p = child.next;
    }
    end = p;
  } else {
    end = p + len;
    if (end > limit) throw bad('content runs past the end');
    while (p < end) {
      const child = readNode(buf, p, end, depth + 1);
      parts.push(child);
      p = child.next;
    }
  }
  // A constructed OCTET STRING becomes one primitive OCTET STRING. (Constructed IMPLICIT
  // strings such as PKCS#7 encryptedContent [0] keep their segments: the reader joins them.)
  if (tag === 0x24) {
    const contents = parts.map((x) => primitiveContent(x.der));
    return { tag: 0x04, der: tlv(0x04, Buffer.concat(contents)), next: end };
  }
  return { tag, der: tlvParts(tag, parts.map((x) => x.der)), next: end };
}

function isMinimal(headerLen: number, len: number): boolean {
  return headerLen === (len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : len < 0x1000000 ? 5 : 6);
}

function primitiveContent(der: Buffer): Buffer {
  let p = 1;
  let len = der[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[p++]!;
  }
  return der.subarray(p, p + len);
}
