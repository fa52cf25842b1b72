// The DNS message format (RFC 1035 §4, EDNS(0) RFC 6891), for bytes from anyone: a client's query
// on UDP/TCP, an upstream's answer over UDP, TCP or DoH. Decoding is bounded and total — every
// malformed input ends in a WireError, never an exception of another kind, an endless loop or an
// allocation larger than the input:
//  - a name is at most 255 octets on the wire with labels of at most 63 (RFC 1035 §2.3.4);
//  - a compression pointer must point before the name it continues (so pointers cannot loop),
//    at most 127 of them per name;
//  - every count is checked against the bytes that remain (a record needs at least 11).
// Names inside the RDATA of the types RFC 3597 §4 lets be compressed are expanded on decode, so a
// record's `data` is self-contained and can be written into any other message unchanged; only
// owner names are compressed on encode.
//
// A name is held in presentation form (RFC 1035 §5.1, as dig prints it, without the final dot):
// `www.example.com`, `` for the root, special octets escaped as `\.`, `\\` and `\DDD`.

export class WireError extends Error {}

export const TYPE = {
  A: 1, NS: 2, MD: 3, MF: 4, CNAME: 5, SOA: 6, MB: 7, MG: 8, MR: 9, NULL: 10, WKS: 11, PTR: 12, HINFO: 13, MINFO: 14,
  MX: 15, TXT: 16, RP: 17, AFSDB: 18, RT: 21, PX: 26, AAAA: 28, SRV: 33, NAPTR: 35, OPT: 41, DS: 43, RRSIG: 46,
  NSEC: 47, DNSKEY: 48, HTTPS: 65, SVCB: 64, CAA: 257, ANY: 255,
} as const;

export const CLASS_IN = 1;
export const CLASS_ANY = 255;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));

/** `A`, `AAAA`, … or `TYPE65280` (RFC 3597 §5) for a type without a mnemonic here. */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

export interface Question {
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface ResourceRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  /** Seconds (RFC 2181 §8: 0..2^31-1; a larger value counts as 0). */
  readonly ttl: number;
  /** RDATA with every name in it uncompressed. */
  readonly data: Buffer;
}

export interface Edns {
  /** The requestor's UDP payload size (RFC 6891 §6.2.3; values below 512 count as 512). */
  readonly udpSize: number;
  readonly version: number;
  /** DNSSEC OK (RFC 3225). */
  readonly dnssecOk: boolean;
  /** The upper 8 bits of the 12-bit RCODE. */
  readonly extendedRcode: number;
}

export interface Message {
  readonly id: number;
  readonly response: boolean;
  readonly opcode: number;
  readonly authoritative: boolean;
  readonly truncated: boolean;
  readonly recursionDesired: boolean;
  readonly recursionAvailable: boolean;
  /** DNSSEC: authentic data, checking disabled (RFC 4035 §3.2). */
  readonly authenticData: boolean;
  readonly checkingDisabled: boolean;
  /** The header's 4-bit RCODE (the extended bits are in edns). */
  readonly rcode: number;
  readonly questions: readonly Question[];
  readonly answers: readonly ResourceRecord[];
  readonly authorities: readonly ResourceRecord[];
  /** The additional section without the OPT pseudo-record (that is `edns`). */
  readonly additionals: readonly ResourceRecord[];
  readonly edns?: Edns;
}

export const MAX_MESSAGE = 65535;
const MAX_NAME_WIRE = 255;
const MAX_POINTERS = 127;
const HEADER = 12;

// ---------------------------------------------------------------------------------------------
// Names

/** Octets escaped with a backslash in presentation form (RFC 1035 §5.1; as dig and dnspython do). */
const SPECIAL = new Set([...'"().;\\@$'].map((c) => c.charCodeAt(0)));

function labelText(bytes: Buffer, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i++) {
    const c = bytes[i]!;
    if (SPECIAL.has(c)) out += `\\${String.fromCharCode(c)}`;
    else if (c > 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += `\\${String(c).padStart(3, '0')}`;
  }
  return out;
}

/** Reads a (possibly compressed) name at `offset`; returns it and the offset after it in place. */
function readName(buf: Buffer, offset: number): [string, number] {
  const labels: string[] = [];
  let pos = offset;
  let after = -1;
  let wire = 1; // the final zero octet
  let pointers = 0;
  let floor = offset; // a pointer must point before the segment it continues
  for (;;) {
    if (pos >= buf.length) throw new WireError('name runs past the end');
    const len = buf[pos]!;
    if (len === 0) {
      if (after < 0) after = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new WireError('pointer runs past the end');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= floor) throw new WireError('compression pointer does not point backwards');
      if (++pointers > MAX_POINTERS) throw new WireError('too many compression pointers');
      if (after < 0) after = pos + 2;
      pos = target;
      floor = target;
      continue;
    }
    if (kind !== 0) throw new WireError('unknown label type');
    if (pos + 1 + len > buf.length) throw new WireError('label runs past the end');
    wire += len + 1;
    if (wire > MAX_NAME_WIRE) throw new WireError('name longer than 255 octets');
    labels.push(labelText(buf, pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return [labels.join('.'), after];
}

/** A presentation-form name as wire labels (uncompressed, with the final zero). */
export function nameToWire(name: string): Buffer {
  const out: number[] = [];
  if (name === '' || name === '.') return Buffer.from([0]);
  const text = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  let label: number[] = [];
  const endLabel = () => {
    if (label.length === 0 || label.length > 63) throw new WireError(`bad label in ${name}`);
    out.push(label.length, ...label);
    label = [];
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '.') { endLabel(); continue; }
    if (ch === '\\') {
      const digits = /^\d{3}/.exec(text.slice(i + 1, i + 4));
      if (digits) {
        const v = Number(digits[0]);
        if (v > 255) throw new WireError(`bad escape in ${name}`);
        label.push(v);
        i += 3;
      } else {
        if (i + 1 >= text.length) throw new WireError(`bad escape in ${name}`);
        label.push(text.charCodeAt(++i) & 0xff);
      }
      continue;
    }
    const code = text.charCodeAt(i);
    if (code > 0x7f) throw new WireError(`non-ASCII name ${name}`);
    label.push(code);
  }
  endLabel();
  out.push(0);
  if (out.length > MAX_NAME_WIRE) throw new WireError(`name longer than 255 octets: ${name}`);
  return Buffer.from(out);
}

/** ASCII lower case (RFC 4343: names compare without regard to ASCII case), escapes kept. */
export function canonicalName(name: string): string {
  const lower = name.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return lower.endsWith('.') && !lower.endsWith('\\.') ? lower.slice(0, -1) : lower;
}

// ---------------------------------------------------------------------------------------------
// RDATA

/** How names sit in the RDATA of the types whose names may be compressed (RFC 3597 §4, RFC 2782). */
const RDATA_NAMES: Record<number, { before: number; names: number; after?: number }> = {
  [TYPE.NS]: { before: 0, names: 1 }, [TYPE.MD]: { before: 0, names: 1 }, [TYPE.MF]: { before: 0, names: 1 },
  [TYPE.CNAME]: { before: 0, names: 1 }, [TYPE.MB]: { before: 0, names: 1 }, [TYPE.MG]: { before: 0, names: 1 },
  [TYPE.MR]: { before: 0, names: 1 }, [TYPE.PTR]: { before: 0, names: 1 },
  [TYPE.SOA]: { before: 0, names: 2, after: 20 }, [TYPE.MINFO]: { before: 0, names: 2 }, [TYPE.RP]: { before: 0, names: 2 },
  [TYPE.MX]: { before: 2, names: 1 }, [TYPE.AFSDB]: { before: 2, names: 1 }, [TYPE.RT]: { before: 2, names: 1 },
  [TYPE.PX]: { before: 2, names: 2 }, [TYPE.SRV]: { before: 6, names: 1 },
};

function readRdata(buf: Buffer, type: number, start: number, length: number): Buffer {
  const end = start + length;
  if ((type === TYPE.A && length !== 4) || (type === TYPE.AAAA && length !== 16)) throw new WireError('address of the wrong length');
  const layout = RDATA_NAMES[type];
  if (!layout) return Buffer.from(buf.subarray(start, end));
  if (length < layout.before) throw new WireError('short rdata');
  const parts: Buffer[] = [buf.subarray(start, start + layout.before)];
  let pos = start + layout.before;
  for (let i = 0; i < layout.names; i++) {
    if (pos >= end) throw new WireError('short rdata');
    const [name, next] = readName(buf, pos);
    if (next > end) throw new WireError('rdata name runs past its length');
    parts.push(nameToWire(name));
    pos = next;
  }
  const after = layout.after ?? 0;
  if (pos + after !== end) throw new WireError('rdata length does not match its contents');
  parts.push(buf.subarray(pos, end));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Decoding

function u16(buf: Buffer, at: number): number {
  if (at + 2 > buf.length) throw new WireError('message runs past the end');
  return buf.readUInt16BE(at);
}

/** The 16-bit ID of a message, or undefined when it is shorter than a header. */
export function messageId(buf: Buffer): number | undefined {
  return buf.length >= HEADER ? buf.readUInt16BE(0) : undefined;
}

export function decodeMessage(buf: Buffer): Message {
  if (buf.length < HEADER) throw new WireError('shorter than a header');
  if (buf.length > MAX_MESSAGE) throw new WireError('longer than 65535 octets');
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  const counts = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)] as const;
  // Each question needs 5 octets, each record 11: counts beyond what the bytes can hold are lies.
  if (counts[0] * 5 + (counts[1] + counts[2] + counts[3]) * 11 > buf.length - HEADER) throw new WireError('counts exceed the message');
  let pos = HEADER;
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const [name, next] = readName(buf, pos);
    const type = u16(buf, next);
    const klass = u16(buf, next + 2);
    questions.push({ name, type, class: klass });
    pos = next + 4;
  }
  const sections: ResourceRecord[][] = [[], [], []];
  let edns: Edns | undefined;
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const [name, next] = readName(buf, pos);
      const type = u16(buf, next);
      const klass = u16(buf, next + 2);
      if (next + 10 > buf.length) throw new WireError('record runs past the end');
      const ttlRaw = buf.readUInt32BE(next + 4);
      const rdlength = u16(buf, next + 8);
      const start = next + 10;
      if (start + rdlength > buf.length) throw new WireError('rdata runs past the end');
      pos = start + rdlength;
      if (type === TYPE.OPT) {
        // RFC 6891 §6.1.1: one OPT, in the additional section, owned by the root.
        if (s !== 2 || edns || name !== '') throw new WireError('misplaced OPT record');
        edns = {
          udpSize: Math.max(512, klass), extendedRcode: ttlRaw >>> 24, version: (ttlRaw >>> 16) & 0xff,
          dnssecOk: (ttlRaw & 0x8000) !== 0,
        };
        continue;
      }
      const ttl = ttlRaw > 0x7fffffff ? 0 : ttlRaw;
      sections[s]!.push({ name, type, class: klass, ttl, data: readRdata(buf, type, start, rdlength) });
    }
  }
  if (pos !== buf.length) throw new WireError('trailing bytes after the message');
  return {
    id,
    response: (flags & 0x8000) !== 0,
    opcode: (flags >>> 11) & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    recursionDesired: (flags & 0x0100) !== 0,
    recursionAvailable: (flags & 0x0080) !== 0,
    authenticData: (flags & 0x0020) !== 0,
    checkingDisabled: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
    questions,
    answers: sections[0]!,
    authorities: sections[1]!,
    additionals: sections[2]!,
    ...(edns ? { edns } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding

class Writer {
  private buf = Buffer.alloc(512);
  length = 0;
  /** Canonical name suffix → offset, for compression (offsets below 0x4000 only). */
  private readonly names = new Map<string, number>();

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v & 0xffff, this.length);
    this.length += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.length);
    this.length += 4;
  }

  /** An owner name, compressed against the names written before it. */
  name(name: string): void {
    const wire = nameToWire(name);
    // Walk the labels: the first suffix already written becomes a pointer.
    let at = 0;
    while (wire[at] !== 0) {
      const suffix = canonicalSuffix(wire, at);
      const known = this.names.get(suffix);
      if (known !== undefined) {
        this.bytes(wire.subarray(0, at));
        this.u16(0xc000 | known);
        this.remember(wire, at);
        return;
      }
      at += wire[at]! + 1;
    }
    const start = this.length;
    this.bytes(wire);
    this.rememberFrom(wire, start);
  }

  private remember(wire: Buffer, upto: number): void {
    // The labels written in full before the pointer start at (length - 2 - upto).
    const start = this.length - 2 - upto;
    let at = 0;
    while (at < upto) {
      const offset = start + at;
      if (offset < 0x4000) this.names.set(canonicalSuffix(wire, at), offset);
      at += wire[at]! + 1;
    }
  }

  private rememberFrom(wire: Buffer, start: number): void {
    let at = 0;
    while (wire[at] !== 0) {
      const offset = start + at;
      if (offset < 0x4000) this.names.set(canonicalSuffix(wire, at), offset);
      at += wire[at]! + 1;
    }
  }

  setU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v & 0xffff, at);
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

/** The wire suffix starting at a label, lower-cased, as a map key. */
function canonicalSuffix(wire: Buffer, at: number): string {
  let out = '';
  for (let i = at; i < wire.length; i++) {
    const c = wire[i]!;
    out += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  }
  return out;
}

function flagsOf(m: Message, truncated: boolean): number {
  return (m.response ? 0x8000 : 0) | ((m.opcode & 0xf) << 11) | (m.authoritative ? 0x0400 : 0) | (truncated ? 0x0200 : 0)
    | (m.recursionDesired ? 0x0100 : 0) | (m.recursionAvailable ? 0x0080 : 0) | (m.authenticData ? 0x0020 : 0)
    | (m.checkingDisabled ? 0x0010 : 0) | (m.rcode & 0xf);
}

function writeRecord(w: Writer, r: ResourceRecord): void {
  w.name(r.name);
  w.u16(r.type);
  w.u16(r.class);
  w.u32(Math.max(0, Math.min(0x7fffffff, Math.floor(r.ttl))));
  if (r.data.length > 0xffff) throw new WireError('rdata longer than 65535 octets');
  w.u16(r.data.length);
  w.bytes(r.data);
}

/**
 * The message on the wire. With `maxSize` (a UDP reply), a message that does not fit keeps its
 * header, question and OPT and sets TC (RFC 2181 §9: a partial RRset must not be sent; the
 * client asks again over TCP).
 */
export function encodeMessage(m: Message, maxSize = MAX_MESSAGE): Buffer {
  const full = encodeWith(m, m.truncated, true);
  if (full.length <= maxSize) return full;
  const short = encodeWith(m, true, false);
  if (short.length > MAX_MESSAGE) throw new WireError('message longer than 65535 octets');
  return short;
}

function encodeWith(m: Message, truncated: boolean, records: boolean): Buffer {
  const w = new Writer();
  w.u16(m.id);
  w.u16(flagsOf(m, truncated));
  const sections = records ? [m.answers, m.authorities, m.additionals] : [[], [], []];
  w.u16(m.questions.length);
  w.u16(sections[0]!.length);
  w.u16(sections[1]!.length);
  w.u16(sections[2]!.length + (m.edns ? 1 : 0));
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const section of sections) for (const r of section) writeRecord(w, r);
  if (m.edns) {
    w.bytes(Buffer.from([0]));
    w.u16(TYPE.OPT);
    w.u16(m.edns.udpSize);
    w.u32(((m.edns.extendedRcode & 0xff) << 24) | ((m.edns.version & 0xff) << 16) | (m.edns.dnssecOk ? 0x8000 : 0));
    w.u16(0);
  }
  if (w.length > MAX_MESSAGE) throw new WireError('message longer than 65535 octets');
  return w.result();
}

/** A fresh message with defaults for what is not given. */
export function message(fields: Partial<Message> & Pick<Message, 'id'>): Message {
  return {
    response: false, opcode: 0, authoritative: false, truncated: false, recursionDesired: true, recursionAvailable: false,
    authenticData: false, checkingDisabled: false, rcode: 0, questions: [], answers: [], authorities: [], additionals: [],
    ...fields,
  };
}

// ---------------------------------------------------------------------------------------------
// RDATA builders and their text (for static entries and `/ip dns cache print`)

export function txtData(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length || i === 0; i += 255) {
    const chunk = bytes.subarray(i, i + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
    if (bytes.length === 0) break;
  }
  return Buffer.concat(parts);
}

export function mxData(preference: number, exchange: string): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(preference & 0xffff);
  return Buffer.concat([head, nameToWire(exchange)]);
}

export function srvData(priority: number, weight: number, port: number, target: string): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt16BE(priority & 0xffff, 0);
  head.writeUInt16BE(weight & 0xffff, 2);
  head.writeUInt16BE(port & 0xffff, 4);
  return Buffer.concat([head, nameToWire(target)]);
}

function ipv6Text(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // RFC 5952: the longest run (of two or more) of zero groups becomes `::`.
  let bestAt = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/** A record's data as dig shows it (RFC 3597 `\# len hex` for the types not spelled out here). */
export function rdataText(type: number, data: Buffer): string {
  try {
    switch (type) {
      case TYPE.A: if (data.length === 4) return Array.from(data).join('.'); break;
      case TYPE.AAAA: if (data.length === 16) return ipv6Text(data); break;
      case TYPE.NS: case TYPE.CNAME: case TYPE.PTR: return readName(data, 0)[0] || '.';
      case TYPE.MX: return `${data.readUInt16BE(0)} ${readName(data, 2)[0] || '.'}`;
      case TYPE.SRV: return `${data.readUInt16BE(0)} ${data.readUInt16BE(2)} ${data.readUInt16BE(4)} ${readName(data, 6)[0] || '.'}`;
      case TYPE.TXT: {
        const parts: string[] = [];
        for (let i = 0; i < data.length;) {
          const len = data[i]!;
          parts.push(`"${data.subarray(i + 1, i + 1 + len).toString('latin1').replace(/["\\]/g, '\\$&')}"`);
          i += 1 + len;
        }
        return parts.join(' ');
      }
      case TYPE.SOA: {
        const [mname, a] = readName(data, 0);
        const [rname, b] = readName(data, a);
        const n = [0, 4, 8, 12, 16].map((k) => data.readUInt32BE(b + k));
        return `${mname || '.'} ${rname || '.'} ${n.join(' ')}`;
      }
    }
  } catch {
    // fall through to the generic form
  }
  return `\\# ${data.length} ${data.toString('hex')}`;
}
