// Distinguished names: RFC 5280 §4.1.2.4 (Name, DirectoryString, PrintableString for country) and
// RFC 4514 (string form, used for RouterOS `issuer=` text such as `C=LV,O=mikroview,CN=mikroview local CA`).

import {
  FieldReader, TAG, checkTree, children, listOf, oid, printableString, readOid, readString, readTlv, seq, seqOf, set, utf8String,
  type Tlv,
} from './der.js';
import { PkiError } from './errors.js';
import { OID } from './oids.js';

/** Subject fields as RouterOS names them (common-name → commonName). Empty or absent = not present. */
export interface SubjectFields {
  country?: string;
  state?: string;
  locality?: string;
  organization?: string;
  unit?: string;
  commonName?: string;
}

/** RouterOS subject field order for building names: C, ST, L, O, OU, CN. */
export const SUBJECT_FIELD_ORDER = ['country', 'state', 'locality', 'organization', 'unit', 'commonName'] as const;

const FIELD_OID: Record<keyof SubjectFields, string> = {
  country: OID.countryName,
  state: OID.stateOrProvinceName,
  locality: OID.localityName,
  organization: OID.organizationName,
  unit: OID.organizationalUnitName,
  commonName: OID.commonName,
};

const OID_FIELD: Record<string, keyof SubjectFields> = Object.fromEntries(
  Object.entries(FIELD_OID).map(([k, v]) => [v, k as keyof SubjectFields]),
);

/** Short names for the string form (RFC 4514 §3 plus the ones OpenSSL prints). */
const SHORT_NAMES: Record<string, string> = {
  [OID.commonName]: 'CN',
  [OID.countryName]: 'C',
  [OID.localityName]: 'L',
  [OID.stateOrProvinceName]: 'ST',
  [OID.organizationName]: 'O',
  [OID.organizationalUnitName]: 'OU',
  [OID.streetAddress]: 'STREET',
  [OID.domainComponent]: 'DC',
  [OID.userId]: 'UID',
  [OID.emailAddress]: 'emailAddress',
  [OID.serialNumber]: 'serialNumber',
  [OID.surname]: 'SN',
  [OID.givenName]: 'GN',
  [OID.title]: 'title',
  [OID.postalCode]: 'postalCode',
};

/**
 * DER Name (RDNSequence) with one attribute per RDN in C, ST, L, O, OU, CN order. Country is a
 * PrintableString, everything else UTF8String (RFC 5280 §4.1.2.4). Empty fields are left out; no
 * fields at all give the empty Name (30 00).
 */
export function encodeName(fields: SubjectFields): Buffer {
  const rdns: Buffer[] = [];
  for (const f of SUBJECT_FIELD_ORDER) {
    const v = fields[f];
    if (v === undefined || v === '') continue;
    let value: Buffer;
    if (f === 'country') {
      try {
        value = printableString(v);
      } catch {
        throw new PkiError('bad-name', `invalid country "${v}": only letters, digits and ' ()+,-./:=? are allowed`);
      }
    } else {
      value = utf8String(v);
    }
    rdns.push(set(seq(oid(FIELD_OID[f]), value)));
  }
  return seqOf(rdns);
}

/** One attribute of a name, in certificate order. */
export interface NameAttribute {
  oid: string;
  /** Short name (CN, O, ...) or the dotted OID when unknown. */
  type: string;
  value: string;
  /** Index of the RDN the attribute belongs to (multi-valued RDNs share it). */
  rdn: number;
}

function nameTlv(der: Buffer, at?: Tlv): Tlv {
  const t = at ?? readTlv(der, 0);
  if (t.tag !== TAG.SEQUENCE) throw new PkiError('bad-der', 'malformed DER: a Name must be a SEQUENCE');
  return t;
}

/**
 * Universal types an attribute value may have: the DirectoryString choices and the IA5String,
 * PrintableString and NumericString of RFC 5280 §4.1.2.4 and Appendix A, BIT STRING
 * (x500UniqueIdentifier), SEQUENCE (structured values) and the types no character set is
 * defined for (shown as '#' hex). Booleans, integers, times, sets and the other string types
 * are not attribute values of any RFC 5280 attribute; OpenSSL's decoder refuses them too.
 */
const VALUE_TAGS = new Set([0x03, 0x07, 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x30, 0x12, 0x13, 0x14, 0x16, 0x1c, 0x1d, 0x1e]);

/**
 * All attributes of a DER Name in order. `at` selects a Name inside a larger buffer. Name ::=
 * SEQUENCE OF RDN, RDN ::= SET SIZE (1..MAX) OF AttributeTypeAndValue, AttributeTypeAndValue
 * ::= SEQUENCE { type OID, value } (RFC 5280 §4.1.2.4).
 */
export function nameAttributes(der: Buffer, at?: Tlv): NameAttribute[] {
  const out: NameAttribute[] = [];
  const rdns = children(der, nameTlv(der, at));
  for (let i = 0; i < rdns.length; i++) {
    for (const atv of listOf(der, rdns[i]!, TAG.SET, 'RelativeDistinguishedName', 1)) {
      if (atv.tag !== TAG.SEQUENCE) throw new PkiError('bad-der', 'malformed DER: AttributeTypeAndValue must be a SEQUENCE');
      const f = new FieldReader(der, atv, 'AttributeTypeAndValue');
      const typeT = f.next(TAG.OID, 'type');
      const valueT = f.next(undefined, 'value');
      f.end();
      if (!VALUE_TAGS.has(valueT.tag)) throw new PkiError('bad-der', `malformed DER: tag 0x${valueT.tag.toString(16)} is not an attribute value type`);
      checkTree(der, valueT);
      const o = readOid(der, typeT);
      out.push({ oid: o, type: SHORT_NAMES[o] ?? o, value: readString(der, valueT), rdn: i });
    }
  }
  return out;
}

// RFC 4514 §2.4 escaping, minus the space rules: RouterOS prints values with spaces unquoted.
const escapeValue = (v: string) => v.replace(/[\\,+"<>;]/g, (c) => '\\' + c);

/**
 * RouterOS/RFC 4514-ish text of a DER Name in the certificate's own RDN order:
 * `C=LV,O=mikroview,CN=mikroview local CA`. Multi-valued RDNs are joined with '+'.
 */
export function formatName(der: Buffer, at?: Tlv): string {
  const attrs = nameAttributes(der, at);
  let s = '';
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (i > 0) s += a.rdn === attrs[i - 1]!.rdn ? '+' : ',';
    s += a.type + '=' + escapeValue(a.value);
  }
  return s;
}

/** Subject fields of a DER Name (the first attribute of each kind wins). */
export const parseName = (der: Buffer, at?: Tlv): SubjectFields => subjectFields(nameAttributes(der, at));

/** Subject fields of a Name's attributes (the first attribute of each kind wins). */
export function subjectFields(attributes: readonly NameAttribute[]): SubjectFields {
  const out: SubjectFields = {};
  for (const a of attributes) {
    const f = OID_FIELD[a.oid];
    if (f && out[f] === undefined) out[f] = a.value;
  }
  return out;
}

/** True when two DER Names are byte-identical (the comparison certificates chains use here). */
export const sameName = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;
