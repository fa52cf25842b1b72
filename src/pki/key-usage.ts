// Key usage: RFC 5280 §4.2.1.3 (keyUsage bits 0..8, critical) and §4.2.1.12 (extendedKeyUsage
// purposes), plus RFC 3029 id-kp-dvcs, under the RouterOS `key-usage` names (spec §1.2).

import { TAG, listOf, namedBits, oid, readNamedBits, readOid, readTlv, seqOf, type Tlv } from './der.js';
import { PkiError } from './errors.js';
import { OID } from './oids.js';

/** All RouterOS key-usage names in canonical (print) order. */
export const KEY_USAGE_NAMES = [
  'digital-signature', 'content-commitment', 'key-encipherment', 'data-encipherment', 'key-agreement',
  'key-cert-sign', 'crl-sign', 'encipher-only', 'decipher-only',
  'tls-server', 'tls-client', 'code-sign', 'email-protect', 'timestamp', 'ocsp-sign', 'dvcs',
] as const;
export type KeyUsageName = (typeof KEY_USAGE_NAMES)[number];

/** RouterOS default key-usage for new templates. */
export const DEFAULT_KEY_USAGE: readonly KeyUsageName[] = Object.freeze([
  'digital-signature', 'key-encipherment', 'data-encipherment', 'key-cert-sign', 'crl-sign', 'tls-server', 'tls-client',
] as KeyUsageName[]);

/** keyUsage bit numbers (RFC 5280 §4.2.1.3). */
export const KU_BITS: Readonly<Partial<Record<KeyUsageName, number>>> = {
  'digital-signature': 0, 'content-commitment': 1, 'key-encipherment': 2, 'data-encipherment': 3,
  'key-agreement': 4, 'key-cert-sign': 5, 'crl-sign': 6, 'encipher-only': 7, 'decipher-only': 8,
};

/** extendedKeyUsage purposes (RFC 5280 §4.2.1.12, RFC 3029 §10). */
export const EKU_OIDS: Readonly<Partial<Record<KeyUsageName, string>>> = {
  'tls-server': OID.serverAuth, 'tls-client': OID.clientAuth, 'code-sign': OID.codeSigning,
  'email-protect': OID.emailProtection, 'timestamp': OID.timeStamping, 'ocsp-sign': OID.ocspSigning,
  'dvcs': OID.dvcs,
};

const ORDER = new Map<string, number>(KEY_USAGE_NAMES.map((n, i) => [n, i]));
const BIT_TO_NAME = new Map<number, KeyUsageName>(Object.entries(KU_BITS).map(([n, b]) => [b!, n as KeyUsageName]));
const OID_TO_NAME = new Map<string, KeyUsageName>(Object.entries(EKU_OIDS).map(([n, o]) => [o!, n as KeyUsageName]));

export const isKeyUsageName = (s: string): s is KeyUsageName => ORDER.has(s);

/** Sorts names into canonical order and removes duplicates. */
export function canonicalKeyUsage(names: Iterable<KeyUsageName>): KeyUsageName[] {
  return [...new Set(names)].sort((a, b) => ORDER.get(a)! - ORDER.get(b)!);
}

/**
 * Parses a comma list (or an array) of RouterOS key-usage names into canonical order.
 * '' gives []. Unknown names throw PkiError('bad-key-usage') naming them.
 */
export function parseKeyUsage(input: string | readonly string[]): KeyUsageName[] {
  const parts = typeof input === 'string' ? input.split(',') : input;
  const names: KeyUsageName[] = [];
  const bad: string[] = [];
  for (const p of parts) {
    const n = p.trim();
    if (n === '') continue;
    if (isKeyUsageName(n)) names.push(n);
    else bad.push(n);
  }
  if (bad.length) {
    throw new PkiError('bad-key-usage',
      `unknown key-usage ${bad.length > 1 ? 'values' : 'value'} ${bad.map((b) => `"${b}"`).join(', ')} (allowed: ${KEY_USAGE_NAMES.join(', ')})`);
  }
  return canonicalKeyUsage(names);
}

/** The canonical comma text RouterOS prints. */
export const formatKeyUsage = (names: Iterable<KeyUsageName>): string => canonicalKeyUsage(names).join(',');

/** The keyUsage BIT STRING DER for the KU names in `names`, or null when none is a KU bit. */
export function encodeKeyUsageValue(names: readonly KeyUsageName[]): Buffer | null {
  const bits: number[] = [];
  for (const n of names) { const b = KU_BITS[n]; if (b !== undefined) bits.push(b); }
  return bits.length ? namedBits(bits) : null;
}

/** The ExtKeyUsageSyntax DER (SEQUENCE OF KeyPurposeId) for the EKU names, or null when none. */
export function encodeExtendedKeyUsageValue(names: readonly KeyUsageName[]): Buffer | null {
  const oids: Buffer[] = [];
  for (const n of canonicalKeyUsage(names)) { const o = EKU_OIDS[n]; if (o) oids.push(oid(o)); }
  return oids.length ? seqOf(oids) : null;
}

export const hasKeyCertSign = (names: readonly KeyUsageName[]): boolean => names.includes('key-cert-sign');

/**
 * Names from a certificate's extension values (either may be absent). `ku`/`eku` are the
 * extnValue OCTET STRING contents: KeyUsage ::= BIT STRING (RFC 5280 §4.2.1.3) and
 * ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId (§4.2.1.12), each filling its
 * value. EKU purposes RouterOS has no name for are ignored.
 */
export function decodeKeyUsage(ku?: Buffer | null, eku?: Buffer | null, kuAt?: Tlv, ekuAt?: Tlv): KeyUsageName[] {
  const names: KeyUsageName[] = [];
  if (ku) {
    const t = kuAt ?? whole(ku, 'keyUsage');
    for (const bit of readNamedBits(ku, t)) {
      const n = BIT_TO_NAME.get(bit);
      if (n) names.push(n);
    }
  }
  if (eku) {
    for (const t of listOf(eku, ekuAt ?? whole(eku, 'extKeyUsage'), TAG.SEQUENCE, 'extKeyUsage', 1)) {
      const n = OID_TO_NAME.get(readOid(eku, t));
      if (n) names.push(n);
    }
  }
  return canonicalKeyUsage(names);
}

/** The one TLV that fills an extension value. */
function whole(value: Buffer, what: string): Tlv {
  const t = readTlv(value, 0);
  if (t.end !== value.length) throw new PkiError('bad-der', `malformed DER: ${what}: data after the end`);
  return t;
}
