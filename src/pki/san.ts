// Subject alternative name: RFC 5280 §4.2.1.6 (GeneralNames: rfc822Name [1], dNSName [2],
// uniformResourceIdentifier [6], iPAddress [7] as 4 or 16 octets), with the RouterOS text form
// `DNS:a.b,IP:192.168.88.1,IP:2001:db8::1,email:x@y,URI:https://…` (TYPE:value, comma separated).
// IPv6 text form on output follows RFC 5952 §4.

import { FieldReader, checkTree, children, decodeOid, ia5String, implicit, readTlv, seqOf, type Tlv } from './der.js';
import { PkiError } from './errors.js';
import { formatName } from './name.js';

/** Types RouterOS text can carry (input and output). */
export type SanType = 'DNS' | 'IP' | 'email' | 'URI';

export interface GeneralName {
  /** SanType for the four supported kinds; other kinds found in certificates are reported as
   *  'DirName', 'RID', 'othername', 'X400Name', 'EdiPartyName' (read-only). */
  type: SanType | 'DirName' | 'RID' | 'othername' | 'X400Name' | 'EdiPartyName';
  /** Text value (IP addresses in canonical text form). */
  value: string;
}

const TYPE_BY_LOWER: Record<string, SanType> = { dns: 'DNS', ip: 'IP', email: 'email', uri: 'URI' };
const SAN_PREFIX_RE = /^\s*(DNS|IP|email|URI)\s*:/i;

const sanError = (msg: string) => new PkiError('bad-san', msg);
const bad = (msg: string) => new PkiError('bad-der', `malformed DER: ${msg}`);

/** IPv4 dotted quad → 4 bytes, or null. */
export function parseIPv4(s: string): Buffer | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const b = Buffer.allocUnsafe(4);
  for (let i = 0; i < 4; i++) {
    const n = Number(m[i + 1]);
    if (n > 255) return null;
    b[i] = n;
  }
  return b;
}

/** IPv6 text (RFC 4291 §2.2, including '::' and a trailing dotted IPv4) → 16 bytes, or null. */
export function parseIPv6(s: string): Buffer | null {
  if (!/^[0-9A-Fa-f:.]+$/.test(s)) return null;
  let tail: Buffer | null = null;
  let text = s;
  if (s.includes('.')) {
    const i = s.lastIndexOf(':');
    if (i < 0) return null;
    tail = parseIPv4(s.slice(i + 1));
    if (!tail) return null;
    text = s.slice(0, i + 1) + '0:0';
  }
  const dbl = text.indexOf('::');
  if (dbl >= 0 && text.indexOf('::', dbl + 1) >= 0) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = parseGroups(text.slice(0, dbl));
    const rest = parseGroups(text.slice(dbl + 2));
    if (!head || !rest || head.length + rest.length > 7) return null;
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  } else {
    const all = parseGroups(text);
    if (!all || all.length !== 8) return null;
    groups = all;
  }
  const b = Buffer.allocUnsafe(16);
  for (let i = 0; i < 8; i++) b.writeUInt16BE(groups[i]!, i * 2);
  if (tail) tail.copy(b, 12);
  return b;
}

/** 4 or 16 address bytes → text (IPv6 in RFC 5952 form: lower case, longest zero run as '::'). */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16) {
    const g: number[] = [];
    for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
    let bestStart = -1, bestLen = 0;
    for (let i = 0; i < 8;) {
      if (g[i] !== 0) { i++; continue; }
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
      i = j;
    }
    const hex = g.map((x) => x.toString(16));
    if (bestLen < 2) return hex.join(':');
    return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':');
  }
  // address/mask pairs (name constraints) or garbage: show hex
  return Buffer.from(b).toString('hex');
}

function validateEntry(type: SanType, value: string, entry: string): void {
  if (value === '') throw sanError(`invalid subject-alt-name entry "${entry}": empty value`);
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw sanError(`invalid subject-alt-name entry "${entry}": only printable ASCII without spaces is allowed`);
  }
  if (type === 'email' && !value.includes('@')) {
    throw sanError(`invalid subject-alt-name entry "${entry}": an email address needs '@'`);
  }
  if (type === 'DNS' && !/^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/.test(value)) {
    throw sanError(`invalid subject-alt-name entry "${entry}": "${value}" is not a DNS name`);
  }
  if (type === 'URI' && !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) {
    throw sanError(`invalid subject-alt-name entry "${entry}": a URI needs a scheme (like https:)`);
  }
}

/**
 * Parses RouterOS subject-alt-name text. Entries are `TYPE:value` separated by commas; TYPE is
 * DNS, IP, email or URI (any case). Only the first ':' separates type and value, so IPv6 works.
 * A comma inside a URI is kept when the text after it does not start a new `TYPE:` entry.
 * Throws PkiError('bad-san') naming the bad entry.
 */
export function parseSubjectAltName(text: string): GeneralName[] {
  const out: GeneralName[] = [];
  if (text.trim() === '') return out;
  const pieces = text.split(',');
  for (let i = 0; i < pieces.length; i++) {
    const raw = pieces[i]!;
    const m = SAN_PREFIX_RE.exec(raw);
    if (!m) {
      const prev = out[out.length - 1];
      if (prev && prev.type === 'URI' && raw.trim() !== '') {
        prev.value += ',' + raw.trim();
        continue;
      }
      const entry = raw.trim();
      if (entry === '') throw sanError('invalid subject-alt-name: empty entry');
      const colon = entry.indexOf(':');
      if (colon > 0) {
        throw sanError(`invalid subject-alt-name entry "${entry}": unknown type "${entry.slice(0, colon)}" (expected DNS, IP, email or URI)`);
      }
      throw sanError(`invalid subject-alt-name entry "${entry}": expected TYPE:value with TYPE one of DNS, IP, email, URI`);
    }
    out.push({ type: TYPE_BY_LOWER[m[1]!.toLowerCase()]!, value: raw.slice(m[0].length).trim() });
  }
  for (const n of out) {
    const entry = `${n.type}:${n.value}`;
    if (n.type === 'IP') {
      const b = n.value.includes(':') ? parseIPv6(n.value) : parseIPv4(n.value);
      if (!b) {
        throw sanError(`invalid subject-alt-name entry "${entry}": "${n.value}" is not a valid ${n.value.includes(':') ? 'IPv6' : 'IPv4'} address`);
      }
      n.value = formatIp(b);
    } else {
      validateEntry(n.type as SanType, n.value, entry);
    }
  }
  return out;
}

/** One GeneralName's DER (only DNS, IP, email, URI can be encoded). */
export function encodeGeneralName(n: GeneralName): Buffer {
  switch (n.type) {
    case 'DNS': return ia5String(n.value, 0x82);
    case 'email': return ia5String(n.value, 0x81);
    case 'URI': return ia5String(n.value, 0x86);
    case 'IP': {
      const b = n.value.includes(':') ? parseIPv6(n.value) : parseIPv4(n.value);
      if (!b) throw sanError(`invalid subject-alt-name entry "IP:${n.value}": not a valid IP address`);
      return implicit(7, b);
    }
    default:
      throw new PkiError('unsupported', `cannot encode a ${n.type} subject-alt-name`);
  }
}

/** GeneralNames (SEQUENCE OF GeneralName) DER -- the subjectAltName extension value. */
export function encodeGeneralNames(names: readonly GeneralName[]): Buffer {
  return seqOf(names.map(encodeGeneralName));
}

/** An rfc822Name, dNSName or URI: text without NUL characters (no host, address or URI has one). */
function ia5Name(c: Buffer): string {
  if (c.includes(0)) throw bad('a name in GeneralNames contains a NUL character');
  return c.toString('latin1');
}

/**
 * Decodes GeneralNames DER (e.g. a subjectAltName extension value). `at` selects it in a larger
 * buffer. RFC 5280 §4.2.1.6: GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName, each one
 * of the nine CHOICE tags; otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY };
 * directoryName [4] EXPLICIT Name; iPAddress four (IPv4) or sixteen (IPv6) octets.
 */
export function decodeGeneralNames(der: Buffer, at?: Tlv): GeneralName[] {
  const t = at ?? readTlv(der, 0);
  if (at === undefined && t.end !== der.length) throw bad('GeneralNames: data after the end');
  // a SEQUENCE, or (inside a larger structure) an IMPLICIT constructed context tag
  if (at === undefined ? t.tag !== 0x30 : (t.tag & 0xe0) !== 0xa0) throw bad('GeneralNames must be a SEQUENCE');
  const list = children(der, t);
  if (list.length === 0) throw bad('GeneralNames must not be empty');
  const out: GeneralName[] = [];
  for (const g of list) {
    const c = der.subarray(g.contentStart, g.end);
    switch (g.tag) {
      case 0x81: out.push({ type: 'email', value: ia5Name(c) }); break;
      case 0x82: out.push({ type: 'DNS', value: ia5Name(c) }); break;
      case 0x86: out.push({ type: 'URI', value: ia5Name(c) }); break;
      case 0x87:
        if (c.length !== 4 && c.length !== 16) throw bad(`iPAddress of ${c.length} octets (4 or 16 expected)`);
        out.push({ type: 'IP', value: formatIp(c) });
        break;
      case 0xa4: {
        const f = new FieldReader(der, g, 'directoryName');
        const inner = f.next(0x30, 'Name');
        f.end();
        out.push({ type: 'DirName', value: formatName(der, inner) });
        break;
      }
      case 0x88: out.push({ type: 'RID', value: decodeOid(c) }); break;
      case 0xa0: {
        const f = new FieldReader(der, g, 'otherName');
        const typeId = f.next(0x06, 'type-id');
        const value = f.next(0xa0, 'value');
        f.end();
        const v = new FieldReader(der, value, 'otherName value');
        checkTree(der, v.next(undefined, 'value'));
        v.end();
        out.push({ type: 'othername', value: decodeOid(der.subarray(typeId.contentStart, typeId.end)) });
        break;
      }
      case 0xa3: checkTree(der, g); out.push({ type: 'X400Name', value: c.toString('hex') }); break;
      case 0xa5: checkTree(der, g); out.push({ type: 'EdiPartyName', value: c.toString('hex') }); break;
      default: throw bad(`tag 0x${g.tag.toString(16)} is not a GeneralName`);
    }
  }
  return out;
}

/** RouterOS text of GeneralNames: `DNS:a,IP:1.2.3.4,email:x@y,URI:…` ('' for none). */
export function formatSubjectAltName(names: readonly GeneralName[]): string {
  return names.map((n) => `${n.type}:${n.value}`).join(',');
}

/** Normalises RouterOS SAN text (validates, canonical type names, canonical IP text). */
export const normalizeSubjectAltName = (text: string): string => formatSubjectAltName(parseSubjectAltName(text));
