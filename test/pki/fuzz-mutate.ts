// Structure-aware mutations of DER for the differential fuzz test (fuzz.test.ts). Random byte
// flips mostly produce inputs every parser refuses at the first length; mutations that keep the
// outer structure valid (edits inside the TLV tree, re-encoded with correct lengths) reach the
// code that reads names, times, extensions and bags. Both kinds are used: tree edits, then
// sometimes a byte-level edit on top (bit flips, inserted or deleted bytes, truncation, a
// length field made wrong, non-minimal, indefinite or huge).
import { createHmac } from 'node:crypto';
import { P12_OID, bmpPassword, pkcs12Kdf } from '../../src/pki/pkcs12.js';

/** mulberry32: a small, fast, reproducible generator (the seed is printed on failure). */
export function rng(seed: number): Rand {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!,
    chance: (p) => next() < p,
  };
}
export interface Rand {
  next(): number;
  /** 0 .. n-1 */
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

// ---------------------------------------------------------------------------------------------
// A lenient TLV tree (definite lengths; what does not parse stays an opaque primitive)

export interface Node {
  /** Identifier octets (one, or more for high tag numbers). */
  tag: Buffer;
  /** Children of a constructed node, or of a primitive OCTET/BIT STRING that holds DER. */
  children?: Node[];
  /** Content of a primitive node (for BIT STRING: including the unused-bits octet). */
  content?: Buffer;
  /** For a BIT STRING holding DER: the unused-bits octet kept in front of the children. */
  bitPrefix?: number;
}

/** Parses `buf` into a forest of nodes, or null when it is not a clean sequence of DER TLVs. */
export function parseTree(buf: Buffer, depth = 0): Node[] | null {
  const out: Node[] = [];
  let p = 0;
  while (p < buf.length) {
    const start = p;
    let tagEnd = p + 1;
    if ((buf[p]! & 0x1f) === 0x1f) {
      while (tagEnd < buf.length && buf[tagEnd]! & 0x80) tagEnd++;
      tagEnd++;
    }
    if (tagEnd >= buf.length) return null;
    let len = buf[tagEnd]!;
    let q = tagEnd + 1;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3 || q + n > buf.length) return null;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[q++]!;
    }
    if (q + len > buf.length) return null;
    const tag = Buffer.from(buf.subarray(start, tagEnd));
    const content = buf.subarray(q, q + len);
    const node: Node = { tag };
    if ((tag[0]! & 0x20) !== 0) {
      const kids = depth < 40 ? parseTree(content, depth + 1) : null;
      if (!kids) return null;
      node.children = kids;
    } else if (depth < 40 && tag[0] === 0x04 && content.length >= 2 && (content[0] === 0x30 || content[0] === 0x31 || content[0] === 0x03 || content[0] === 0x02)) {
      // OCTET STRING that encapsulates DER (extension values, PKCS#12 contents)
      const kids = parseTree(content, depth + 1);
      if (kids && kids.length === 1) node.children = kids;
      else node.content = Buffer.from(content);
    } else if (depth < 40 && tag[0] === 0x03 && content.length >= 3 && content[0] === 0 && content[1] === 0x30) {
      // BIT STRING that encapsulates DER (RSA public keys, ECDSA signatures)
      const kids = parseTree(content.subarray(1), depth + 1);
      if (kids && kids.length === 1) { node.children = kids; node.bitPrefix = 0; } else node.content = Buffer.from(content);
    } else {
      node.content = Buffer.from(content);
    }
    out.push(node);
    p = q + len;
  }
  return out;
}

function lengthOctets(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** DER of a node (minimal lengths). */
export function encode(n: Node): Buffer {
  let content: Buffer;
  if (n.children) {
    const inner = Buffer.concat(n.children.map(encode));
    content = n.bitPrefix !== undefined ? Buffer.concat([Buffer.from([n.bitPrefix]), inner]) : inner;
  } else content = n.content ?? Buffer.alloc(0);
  return Buffer.concat([n.tag, lengthOctets(content.length), content]);
}

/** Every node of a forest with its parent list (for edits in place). */
function walk(forest: Node[], out: Array<{ node: Node; siblings: Node[]; index: number }> = []) {
  forest.forEach((node, index) => {
    out.push({ node, siblings: forest, index });
    if (node.children) walk(node.children, out);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Content variants per universal type: the values parsers get wrong

const INTEGER_VARIANTS = (r: Rand, c: Buffer): Buffer => r.pick([
  () => Buffer.from([0x00, ...c]), // non-minimal (X.690 §8.3.2)
  () => Buffer.from([0xff, ...c]),
  () => Buffer.alloc(0), // empty
  () => Buffer.from([0x00]),
  () => Buffer.from([0xff]), // -1
  () => Buffer.from([0x80]), // -128
  () => Buffer.from([0x80, ...c]), // negative
  () => Buffer.from([0x7f, 0xff, 0xff, 0xff]),
  () => Buffer.from([0x01, 0x00, 0x00, 0x00, 0x00]), // 2^32
  () => Buffer.from([0x08, 0x00, 0x00]), // 524288 (an iteration count that costs)
  () => Buffer.alloc(21, 0x7f), // longer than a serial may be (RFC 5280 §4.1.2.2)
  () => Buffer.from([0x7f, ...Buffer.alloc(40, 0xff)]),
])();

const TIME_TEXT = [
  '991332000000Z', '990230000000Z', '9901010000Z', '990101000000', '990101000000+0100', '99010100000Z',
  '990101250000Z', '990101006000Z', '990101000060Z', 'ZZ0101000000Z', '000229000000Z', '010229000000Z',
  '19990101000000Z', '20500101000000.5Z', '20500101000000.000Z', '20500101000000,5Z', '2050010100Z',
  '99990101000000Z', '00000101000000Z', '20500230000000Z', '2050013100000Z', ' 20500101000000Z', '-1000101000000Z',
];

function stringVariant(r: Rand, c: Buffer): Buffer {
  return r.pick([
    () => Buffer.from([...c, 0xe2, 0x84]), // truncated UTF-8 sequence
    () => Buffer.from([0xc0, 0x80, ...c]), // overlong NUL
    () => Buffer.from([0xed, 0xa0, 0x80]), // UTF-8 of a surrogate
    () => Buffer.from([0xf4, 0x90, 0x80, 0x80]), // beyond U+10FFFF
    () => Buffer.from([...c, 0x00]), // odd length for BMPString
    () => Buffer.from([0x00, 0x11, 0x00, 0x00]), // UniversalString beyond U+10FFFF
    () => Buffer.from([0xd8, 0x00, 0x00, 0x41]), // BMPString lone surrogate
    () => Buffer.from([0xff, 0xfe, 0x00, 0x00]),
    () => Buffer.from('a\u0000b,+="\\<>;#\r\n ', 'latin1'),
    () => Buffer.alloc(0),
    () => Buffer.concat([c, c, c, c]),
    () => Buffer.from([0x80, 0x81, 0xfe]),
  ])();
}

function contentVariant(r: Rand, n: Node): Buffer | undefined {
  const c = n.content ?? Buffer.alloc(0);
  switch (n.tag[0]) {
    case 0x01: return r.pick([Buffer.from([0x01]), Buffer.from([0x00]), Buffer.alloc(0), Buffer.from([0xff, 0xff]), Buffer.from([0x80])]);
    case 0x02: case 0x0a: return INTEGER_VARIANTS(r, c);
    case 0x03: return r.pick([
      () => Buffer.from([8, ...c.subarray(1)]), // more than 7 unused bits (X.690 §8.6.2.2)
      () => Buffer.from([1]), // unused bits with no content (§8.6.2.3)
      () => Buffer.alloc(0),
      () => Buffer.from([7, 0xff]), // padding bits set (§11.2.1)
      () => Buffer.from([0, 0xff, 0xff, 0xff]), // every key usage bit and more
      () => Buffer.from([3, 0xfe, 0x80]),
    ])();
    case 0x05: return Buffer.from([0x00]);
    case 0x06: return r.pick([
      () => Buffer.from([...c, 0x80]), // last arc unfinished
      () => Buffer.from([0x80, ...c]), // leading 0x80 (X.690 §8.19.2)
      () => Buffer.alloc(0),
      () => Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]), // emailAddress
      () => Buffer.from([0x55, 0x04, r.int(100)]), // another X.520 attribute
      () => Buffer.from([0x55, 0x1d, r.pick([14, 15, 17, 19, 31, 35, 37, 20, 21])]), // another extension
      () => Buffer.from([0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, r.int(12)]), // an EKU purpose
      () => Buffer.from([0x8f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), // a huge arc
    ])();
    case 0x17: case 0x18: return Buffer.from(r.pick(TIME_TEXT), 'latin1');
    case 0x0c: case 0x13: case 0x14: case 0x16: case 0x1e: case 0x1c: case 0x12: case 0x1a:
      return stringVariant(r, c);
    case 0x04: return r.pick([() => Buffer.alloc(0), () => c.subarray(0, Math.max(0, c.length - 1)), () => Buffer.concat([c, Buffer.from([0])])])();
    case 0x80: case 0x81: case 0x82: case 0x86: case 0x87: case 0x88:
      return r.pick([
        () => Buffer.alloc(r.pick([0, 3, 4, 5, 8, 16, 17, 32])), // IP address lengths
        () => stringVariant(r, c),
        () => Buffer.from('*.ex\u00e4mple.com', 'latin1'),
      ])();
    default: return undefined;
  }
}

const TAGS = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0c, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
  0x1a, 0x1b, 0x1c, 0x1e, 0x30, 0x31, 0x80, 0x81, 0x82, 0x83, 0x86, 0x87, 0x88, 0xa0, 0xa1, 0xa3, 0xa4, 0x24, 0x1f];

function treeMutation(r: Rand, forest: Node[]): void {
  const all = walk(forest);
  if (all.length === 0) return;
  const { node, siblings, index } = r.pick(all);
  switch (r.int(8)) {
    case 0: case 1: { // a value a parser has to check
      if (node.children && r.chance(0.5)) { delete node.children; delete node.bitPrefix; node.content = Buffer.alloc(0); }
      const v = contentVariant(r, node);
      if (v) { delete node.children; delete node.bitPrefix; node.content = v; }
      break;
    }
    case 2: { // another tag (string types, times, SEQUENCE/SET, context tags, constructed bit)
      const t = r.chance(0.2) ? node.tag[0]! ^ 0x20 : r.pick(TAGS);
      node.tag = t === 0x1f ? Buffer.from([0x1f, 0x81, 0x00]) : Buffer.from([t]);
      if ((t & 0x20) === 0 && node.children) { node.content = Buffer.concat(node.children.map(encode)); delete node.children; delete node.bitPrefix; }
      break;
    }
    case 3: siblings.splice(index, 1); break; // remove
    case 4: siblings.splice(index, 0, structuredClone(node)); break; // duplicate (repeated fields, extensions, RDNs)
    case 5: siblings[index] = { tag: Buffer.from([r.pick([0x30, 0x31, 0xa0, 0x04])]), children: [node] }; break; // extra nesting
    case 6: { // swap with a sibling
      const j = r.int(siblings.length);
      [siblings[index], siblings[j]] = [siblings[j]!, siblings[index]!];
      break;
    }
    default: { // deep nesting: 100 levels of SEQUENCE (recursion limits)
      let inner = node;
      for (let i = 0; i < 100; i++) inner = { tag: Buffer.from([0x30]), children: [inner] };
      siblings[index] = inner;
    }
  }
}

/** Offsets of every length field in a DER encoding (header scan of well-formed parts). */
function lengthFields(buf: Buffer): Array<{ at: number; size: number }> {
  const out: Array<{ at: number; size: number }> = [];
  const scan = (start: number, end: number, depth: number) => {
    let p = start;
    while (p < end && depth < 60) {
      let q = p + 1;
      if ((buf[p]! & 0x1f) === 0x1f) { while (q < end && buf[q]! & 0x80) q++; q++; }
      if (q >= end) return;
      let len = buf[q]!;
      let size = 1;
      if (len & 0x80) {
        size += len & 0x7f;
        if ((len & 0x7f) === 0 || (len & 0x7f) > 3 || q + size > end) return;
        len = 0;
        for (let i = 1; i < size; i++) len = len * 256 + buf[q + i]!;
      }
      out.push({ at: q, size });
      const cs = q + size;
      if (cs + len > end) return;
      if (buf[p]! & 0x20) scan(cs, cs + len, depth + 1);
      else if (buf[p] === 0x04) scan(cs, cs + len, depth + 1); // encapsulated (stops at the first non-TLV)
      p = cs + len;
    }
  };
  scan(0, buf.length, 0);
  return out;
}

function byteMutation(r: Rand, input: Buffer): Buffer {
  const b = Buffer.from(input);
  const at = () => r.int(Math.max(1, b.length));
  switch (r.int(6)) {
    case 0: { // bit flips
      for (let i = 1 + r.int(3); i > 0; i--) b[at()] ^= 1 << r.int(8);
      return b;
    }
    case 1: { // inserted bytes
      const i = at();
      return Buffer.concat([b.subarray(0, i), Buffer.from(Array.from({ length: 1 + r.int(4) }, () => r.int(256))), b.subarray(i)]);
    }
    case 2: { // deleted bytes
      const i = at();
      return Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + r.int(4)))]);
    }
    case 3: return b.subarray(0, at()); // truncated
    default: { // a length field: off by one, zero, non-minimal, indefinite, huge, too many octets
      const fields = lengthFields(b);
      if (fields.length === 0) return b;
      const { at: p, size } = r.pick(fields);
      let len = b[p]! & 0x7f;
      if (b[p]! & 0x80) { len = 0; for (let i = 1; i < size; i++) len = len * 256 + b[p + i]!; }
      const repl = r.pick([
        () => lengthOctets(len + 1), () => lengthOctets(Math.max(0, len - 1)), () => lengthOctets(0),
        () => Buffer.from([0x81, len & 0xff]), () => Buffer.from([0x82, (len >> 8) & 0xff, len & 0xff]),
        () => Buffer.from([0x80]), () => Buffer.from([0x84, 0xff, 0xff, 0xff, 0xff]), () => Buffer.from([0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
        () => Buffer.from([0xff]), () => lengthOctets(len + 0x100),
      ])();
      return Buffer.concat([b.subarray(0, p), repl, b.subarray(p + size)]);
    }
  }
}

/** One mutant of a DER seed: tree edits, a byte-level edit, or both. */
export function mutateDer(r: Rand, seed: Buffer): Buffer {
  const tree = parseTree(seed);
  const mode = tree ? r.int(3) : 2;
  let out = seed;
  if (mode <= 1) {
    for (let i = 1 + r.int(2); i > 0; i--) treeMutation(r, tree!);
    out = Buffer.concat(tree!.map(encode));
  }
  if (mode >= 1) out = byteMutation(r, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// PKCS#12: a mutation inside the authenticated safe is useless unless the MAC is made again
// (both readers check it first), so most mutants get a fresh MAC under the known password.

const MAC_HASH: Record<string, { name: string; u: number }> = {
  [P12_OID.sha1]: { name: 'sha1', u: 20 }, [P12_OID.sha256]: { name: 'sha256', u: 32 },
  [P12_OID.sha384]: { name: 'sha384', u: 48 }, [P12_OID.sha512]: { name: 'sha512', u: 64 },
  [P12_OID.sha224]: { name: 'sha224', u: 28 },
};

const oidText = (c: Buffer): string => {
  const arcs: number[] = [];
  let v = 0;
  for (const b of c) { v = v * 128 + (b & 0x7f); if (!(b & 0x80)) { arcs.push(v); v = 0; } }
  const first = arcs.shift() ?? 0;
  return [Math.min(2, Math.floor(first / 40)), first - 40 * Math.min(2, Math.floor(first / 40)), ...arcs].join('.');
};
const uint = (c: Buffer): number => c.reduce((a, b) => a * 256 + b, 0);

/** Recomputes the MAC of a PFX whose authSafe may have changed; returns the input when it cannot. */
export function remac(pfx: Buffer, password: string, maxIterations: number): Buffer {
  const tree = parseTree(pfx);
  const outer = tree?.[0];
  const [, authSafe, macData] = outer?.children ?? [];
  const data = authSafe?.children?.[1]?.children?.[0];
  const [digestInfo, salt, iter] = macData?.children ?? [];
  const [alg, digest] = digestInfo?.children ?? [];
  const hashOid = alg?.children?.[0]?.content;
  if (!outer || !data || data.tag[0] !== 0x04 || !salt?.content || !digest || !hashOid) return pfx;
  const h = MAC_HASH[oidText(hashOid)];
  const iterations = iter?.content ? uint(iter.content) : 1;
  if (!h || iterations < 1 || iterations > maxIterations) return pfx;
  const authSafeContent = data.children ? Buffer.concat(data.children.map(encode)) : data.content!;
  const key = pkcs12Kdf(oidText(hashOid), bmpPassword(password), salt.content, 3, iterations, h.u);
  digest.content = createHmac(h.name, key).update(authSafeContent).digest();
  delete digest.children;
  return encode(outer);
}

/** The largest INTEGER under a PBE/MAC parameter path: how much key derivation a PFX asks for. */
export function largestIteration(pfx: Buffer): number {
  let max = 0;
  const visit = (nodes: Node[] | null | undefined) => {
    for (const n of nodes ?? []) {
      if (n.tag[0] === 0x02 && n.content && n.content.length <= 8) max = Math.max(max, n.content[0]! & 0x80 ? 0 : uint(n.content));
      if (n.children) visit(n.children);
    }
  };
  visit(parseTree(pfx));
  return max;
}

// ---------------------------------------------------------------------------------------------
// PEM text

export function mutatePem(r: Rand, text: string): string {
  const lines = text.split('\n');
  const i = r.int(lines.length);
  switch (r.int(7)) {
    case 0: lines[i] = lines[i]!.slice(0, r.int(lines[i]!.length + 1)); break; // a line cut short
    case 1: lines.splice(i, 1); break; // a line removed
    case 2: lines[i] = lines[i]!.replace(/[A-Za-z0-9+/]/, r.pick(['!', '=', '-', ' ', '\t', '\u00e9', '\r'])); break; // a bad character
    case 3: lines.splice(i, 0, r.pick(['', 'Proc-Type: 4,ENCRYPTED', 'garbage', '-----BEGIN CERTIFICATE-----', '=='])); break;
    case 4: return text.replace(/-----(BEGIN|END) ([A-Z0-9 ]+)-----/, (_m, be: string, label: string) => `-----${be} ${r.pick([label.toLowerCase(), `${label}X`, 'X509 CRL', 'PRIVATE KEY', ''])}-----`);
    case 5: return text.replace(/\n/g, r.pick(['\r\n', '', '\n\n', '\r']));
    default: { // the DER inside, mutated
      const m = /(-----BEGIN ([A-Z0-9 ]+)-----\n(?:[A-Za-z-]+:.*\n)*\n?)([A-Za-z0-9+/=\n]*?)(-----END \2-----)/.exec(text);
      if (!m) return text;
      const der = mutateDer(r, Buffer.from(m[3]!.replace(/\s+/g, ''), 'base64'));
      const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n');
      return text.replace(m[0], m[1] + b64 + m[4]);
    }
  }
  return lines.join('\n');
}
