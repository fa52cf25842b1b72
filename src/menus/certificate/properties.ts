// The properties of /certificate (spec §1.2, §2.1, §3.1): template arguments, the read-only
// facts of a signed or imported certificate, and the flags. One declaration each.

import { failure } from '../../errors.js';
import {
  boolType, dateType, durationType, enumSetType, enumType, intType, refType, stringType,
} from '../../menu/proptypes.js';
import type { PropType, PropertyDecl } from '../../menu/types.js';
import { valueToString } from '../../menu/values.js';
import type { RowData } from '../../store/store.js';
import { DIGESTS, KEY_SIZES, KEY_USAGE_NAMES, DEFAULT_KEY_USAGE, PkiError, normalizeSubjectAltName } from '../../pki/index.js';

export const CERT_PATH = '/certificate';

/** trust-store components (7.24, spec §1.2). */
export const TRUST_STORE_COMPONENTS = [
  'ipsec', 'wpa-eap', 'capsman', 'fetch', 'sstp', 'ovpn', 'mqtt', 'email', 'netwatch', 'radius',
  'container', 'userman', 'lora', 'wiliot', 'openflow', 'tr069', 'dot1x', 'dns', 'www', 'api',
  'reverse-proxy', 'logging',
] as const;

/** A row is a template until it is signed (or was imported): it then has a fingerprint. */
export const isTemplate = (row: RowData): boolean => row.fingerprint === undefined;

const bare: PropType<string> = { ...stringType, quoted: false };

/** `all`, or a list of components; `all` wins when given with others. */
const trustStoreType: PropType<string[]> = (() => {
  const set = enumSetType(['all', ...TRUST_STORE_COMPONENTS]);
  return {
    ...set,
    parse(v, ctx, name) {
      const parsed = set.parse(v, ctx, name);
      return parsed.includes('all') ? ['all'] : parsed;
    },
  };
})();

/** Subject fields: free text; country must be a two-letter code (PrintableString, RFC 5280 §4.1.2.4). */
const countryType: PropType<string> = {
  ...stringType,
  parse(v) {
    const text = valueToString(v);
    if (text !== '' && !/^[A-Za-z]{2}$/.test(text)) throw failure('country must be a two-letter code (ISO 3166), like LV');
    return text.toUpperCase();
  },
};

/** `DNS:a,IP:192.0.2.1,email:x@y,URI:…` — checked and normalised through pki/san. */
const subjectAltNameType: PropType<string> = {
  ...bare,
  parse(v) {
    const text = valueToString(v);
    try {
      return normalizeSubjectAltName(text);
    } catch (e) {
      if (e instanceof PkiError) throw failure(e.message);
      throw e;
    }
  },
};

/** Dates of the certificate itself: invalid-before/after, revoked. */
const roDate = (name: string, extra: Partial<PropertyDecl> = {}): PropertyDecl => ({ name, type: dateType, access: 'ro', ...extra });
const roText = (name: string, type: PropType<string> = bare): PropertyDecl => ({ name, type, access: 'ro' });
const flagProp = (name: string, letter: string, compute?: PropertyDecl['compute'], sharesColumnWith?: string): PropertyDecl => ({
  name, type: boolType, access: 'ro', detail: 'never', flag: { letter, sharesColumnWith }, compute,
});

/** A template's key type follows its key-size; a signed certificate's is a fact of its key. */
function keyTypeOf(row: RowData): string {
  if (typeof row['key-type'] === 'string') return row['key-type'];
  return String(row['key-size'] ?? '2048').startsWith('secp') || row['key-size'] === 'prime256v1' ? 'ec' : 'rsa';
}

/** Writable on templates only (spec §6.2 rule 3). */
const templateOnly: Pick<PropertyDecl, 'writableWhen' | 'notWritableMessage'> = {
  writableWhen: isTemplate,
  notWritableMessage: 'certificate is already signed: only name, trusted and trust-store can be changed',
};

/** Flags are declared in legend order K L C A I/R E T a D (spec §3.1); detail order is CERT_DETAIL_ORDER. */
export const certificateProperties: PropertyDecl[] = [
  { name: 'name', type: stringType, unique: true, help: 'Certificate name' },
  { name: 'trust-store', type: trustStoreType, default: ['all'], help: 'Services that may use it as a trust anchor' },
  { name: 'digest-algorithm', type: enumType(DIGESTS), default: 'sha256', ...templateOnly },
  { name: 'common-name', type: stringType, default: '', ...templateOnly },
  { name: 'country', type: countryType, ...templateOnly },
  { name: 'state', type: stringType, ...templateOnly },
  { name: 'locality', type: stringType, ...templateOnly },
  { name: 'organization', type: stringType, ...templateOnly },
  { name: 'unit', type: stringType, ...templateOnly },
  { name: 'subject-alt-name', type: subjectAltNameType, default: '', detail: 'always', ...templateOnly },
  roText('issuer'),
  { name: 'key-type', type: enumType(['rsa', 'dsa', 'ec']), access: 'ro', compute: keyTypeOf },
  { name: 'key-size', type: enumType(KEY_SIZES), default: '2048', ...templateOnly },
  { name: 'key-usage', type: enumSetType(KEY_USAGE_NAMES), default: [...DEFAULT_KEY_USAGE], ...templateOnly },
  { name: 'days-valid', type: intType(1, 100000), default: 365, ...templateOnly },
  roDate('invalid-before'),
  roDate('invalid-after'),
  { name: 'serial-number', type: stringType, access: 'ro' },
  { name: 'akid', type: bare, access: 'ro', detail: 'always' },
  roText('skid'),
  { name: 'fingerprint', type: stringType, access: 'ro' },
  // Removing a CA removes every certificate it issued, recursively (spec §6.2 rule 4).
  { name: 'ca', type: refType(CERT_PATH, { onRemove: 'cascade' }), access: 'ro' },
  roText('ca-crl-host'),
  {
    name: 'expires-after', type: durationType(), access: 'ro',
    // Whole seconds, as RouterOS shows it (`521w2d23h56m20s`).
    compute: (row, ctx) => (typeof row['invalid-after'] === 'number' ? Math.max(0, Math.floor((row['invalid-after'] - ctx.clock.now()) / 1000)) * 1e9 : undefined),
  },
  flagProp('private-key', 'K'),
  flagProp('crl', 'L'),
  flagProp('smart-card-key', 'C', () => false),
  flagProp('authority', 'A'),
  flagProp('issued', 'I', (row) => typeof row.ca === 'number' && row.ca !== 0),
  roDate('revoked', { flag: { letter: 'R', sharesColumnWith: 'I' } }),
  flagProp('expired', 'E', (row, ctx) => typeof row['invalid-after'] === 'number' && ctx.clock.now() > row['invalid-after']),
  { name: 'trusted', type: boolType, default: false, flag: { letter: 'T' }, help: 'Trust this certificate' },
  flagProp('acme-managed', 'a', () => false),
  flagProp('dynamic', 'D', () => false),
];

/** Detail order observed on 7.23.3 (spec §2.1), subject fields in C, ST, L, O, OU after CN. */
export const CERT_DETAIL_ORDER = [
  'name', 'trust-store', 'digest-algorithm', 'trusted', 'common-name', 'country', 'state', 'locality',
  'organization', 'unit', 'subject-alt-name', 'issuer', 'key-type', 'key-size', 'key-usage', 'days-valid',
  'invalid-before', 'invalid-after', 'serial-number', 'akid', 'skid', 'fingerprint', 'ca', 'ca-crl-host',
  'revoked', 'expires-after',
];

/** 7.21+ default columns (spec §3.4 rule 5). */
export const CERT_COLUMNS = ['name', 'trust-store', 'common-name', 'subject-alt-name', 'skid'];
