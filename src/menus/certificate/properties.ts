// The properties of /certificate (spec §1.2, §2.1, §3.1): template arguments, the read-only
// facts of a signed or imported certificate, and the flags. One declaration each.

import { failure } from '../../errors.js';
import {
  boolType, dateType, durationType, enumSetType, enumType, intType, refType, stringListType, stringType,
} from '../../menu/proptypes.js';
import { propValue } from '../../menu/generic.js';
import type { PropType, PropertyDecl } from '../../menu/types.js';
import { RosArray, valueToString } from '../../menu/values.js';
import type { RowData } from '../../store/store.js';
import {
  DIGESTS, KEY_SIZES, KEY_USAGE_NAMES, DEFAULT_KEY_USAGE, PkiError, normalizeSubjectAltName,
  type Digest, type KeySize, type SubjectFields,
} from '../../pki/index.js';
import { ACME, acmeDueAt, isAcmeManaged } from './acme-state.js';

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

/** Where one subject-alt-name entry ends: before `,TYPE:` (a DirName value has commas of its own). */
const SAN_ENTRY_BOUNDARY = /,(?=(?:DNS|IP|email|URI|DirName|RID|othername|X400Name|EdiPartyName):)/;

/** The entries of a stored subject-alt-name: `DNS:a,IP:192.0.2.1` → [`DNS:a`, `IP:192.0.2.1`]. */
export const subjectAltNameEntries = (text: string): string[] => (text === '' ? [] : text.split(SAN_ENTRY_BOUNDARY));

/**
 * `DNS:a,IP:192.0.2.1,email:x@y,URI:…` — checked and normalised through pki/san. A list: scripts
 * get its entries (`:foreach s in=[/certificate get x subject-alt-name]` walks them, as
 * check-certificates does; one entry is a plain string, like key-usage), console, REST and API
 * show them comma-joined (spec §2.1). An array given back (`subject-alt-name=($v->"subject-alt-name")`
 * in certificate-renew-issued) is accepted.
 */
const subjectAltNameType: PropType<string> = {
  ...bare,
  script(v) {
    const entries = subjectAltNameEntries(v);
    return entries.length > 1 ? RosArray.of(entries) : (entries[0] ?? '');
  },
  parse(v) {
    const text = v instanceof RosArray ? v.values().map(valueToString).join(',') : valueToString(v);
    try {
      return normalizeSubjectAltName(text);
    } catch (e) {
      if (e instanceof PkiError) throw failure(e.message);
      throw e;
    }
  },
};

/**
 * Hex text shown in lower case: `serial-number="3584f1ed917127e1488180f0248e1045"` (live 7.23.3
 * print detail, issue 12), in every front end, so rows stored upper-case by older versions show
 * the same. Clients compare serials case-insensitively (clients.md #11: C10, C11).
 */
const lowerHexType: PropType<string> = {
  ...stringType,
  display: (v) => v.toLowerCase(),
  api: (v) => v.toLowerCase(),
  script: (v) => v.toLowerCase(),
};

/**
 * `A`: a CA this router made or holds the key of. An imported CA certificate without its key
 * shows no A (six 7.2x captures, 7.23.3 among them); the row keeps the certificate's own CA
 * fact in `authority`, which signing and CRL code read.
 */
const isLocalAuthority = (row: RowData): boolean =>
  row.authority === true && (row['private-key'] === true || (typeof row.ca === 'number' && row.ca !== 0));

/** Dates of the certificate itself: invalid-before/after, revoked. */
const roDate = (name: string, extra: Partial<PropertyDecl> = {}): PropertyDecl => ({ name, type: dateType, access: 'ro', ...extra });
/**
 * A fact of a certificate or a client row: absent where it does not apply (no SKID extension,
 * no issuer text, no CRL host), never empty (clients.md #11).
 */
const absent = { absentWhenEmpty: true } as const;
const roText = (name: string, type: PropType<string> = bare): PropertyDecl => ({ name, type, access: 'ro', ...absent });
const flagProp = (name: string, letter: string, rank: number, compute?: PropertyDecl['compute']): PropertyDecl => ({
  name, type: boolType, access: 'ro', detail: 'never', flag: { letter, rank }, compute,
});

/** Writable on templates only (spec §6.2 rule 3). */
const templateOnly: Pick<PropertyDecl, 'writableWhen' | 'notWritableMessage'> = {
  writableWhen: isTemplate,
  notWritableMessage: 'certificate is already signed: only name, trusted and trust-store can be changed',
};

/** `rsa` or `ec` for a key-size (`prime256v1`, `secp384r1`, `secp521r1` are curves). */
export const keyTypeOfSize = (keySize: string): 'rsa' | 'ec' => (keySize.startsWith('secp') || keySize === 'prime256v1' ? 'ec' : 'rsa');

/**
 * The properties of /certificate, each declared once and typed, so code reads a template with
 * propValue(CERT.keySize, row) and never restates a default or a range. Declared in the detail
 * order observed on 7.23.3 (spec §2.1: subject fields C, ST, L, O, OU after CN); the flag legend
 * order K L C A I/R E T a D (spec §3.1) is given by each flag's rank.
 */
export const CERT = {
  name: { name: 'name', type: stringType, unique: true, help: 'Certificate name' } as PropertyDecl<string>,
  trustStore: { name: 'trust-store', type: trustStoreType, default: ['all'], help: 'Services that may use it as a trust anchor' } as PropertyDecl<string[]>,
  digest: { name: 'digest-algorithm', type: enumType(DIGESTS), default: 'sha256', ...templateOnly } as PropertyDecl<string>,
  trusted: { name: 'trusted', type: boolType, default: false, flag: { letter: 'T', rank: 8 }, help: 'Trust this certificate' } as PropertyDecl<boolean>,
  commonName: { name: 'common-name', type: stringType, default: '', ...absent, ...templateOnly } as PropertyDecl<string>,
  country: { name: 'country', type: countryType, ...absent, ...templateOnly } as PropertyDecl<string>,
  state: { name: 'state', type: stringType, ...absent, ...templateOnly } as PropertyDecl<string>,
  locality: { name: 'locality', type: stringType, ...absent, ...templateOnly } as PropertyDecl<string>,
  organization: { name: 'organization', type: stringType, ...absent, ...templateOnly } as PropertyDecl<string>,
  unit: { name: 'unit', type: stringType, ...absent, ...templateOnly } as PropertyDecl<string>,
  subjectAltName: { name: 'subject-alt-name', type: subjectAltNameType, default: '', detail: 'always', ...templateOnly } as PropertyDecl<string>,
  keySize: { name: 'key-size', type: enumType(KEY_SIZES), default: '2048', ...templateOnly } as PropertyDecl<string>,
  keyUsage: { name: 'key-usage', type: enumSetType(KEY_USAGE_NAMES), default: [...DEFAULT_KEY_USAGE], ...absent, ...templateOnly } as PropertyDecl<string[]>,
  daysValid: { name: 'days-valid', type: intType(1, 100000), default: 365, ...templateOnly } as PropertyDecl<number>,
} as const;

const optional = (prop: PropertyDecl<string>, row: RowData): string | undefined => {
  const v = propValue(prop, row);
  return v === '' ? undefined : v;
};

/** What a template asks for, typed and with the declared defaults (sign, requests, SCEP, ACME). */
export function templateOf(row: RowData): {
  subject: SubjectFields; subjectAltName: string; keyUsage: string[]; keySize: KeySize; daysValid: number; digest: Digest;
} {
  return {
    subject: {
      country: optional(CERT.country, row), state: optional(CERT.state, row), locality: optional(CERT.locality, row),
      organization: optional(CERT.organization, row), unit: optional(CERT.unit, row), commonName: optional(CERT.commonName, row),
    },
    subjectAltName: propValue(CERT.subjectAltName, row),
    keyUsage: propValue(CERT.keyUsage, row),
    keySize: propValue(CERT.keySize, row) as KeySize,
    daysValid: propValue(CERT.daysValid, row),
    digest: propValue(CERT.digest, row) as Digest,
  };
}

/** A template's key type follows its key-size; a signed certificate's is a fact of its key. */
function keyTypeOf(row: RowData): string {
  if (typeof row['key-type'] === 'string') return row['key-type'];
  return keyTypeOfSize(propValue(CERT.keySize, row));
}

export const certificateProperties: PropertyDecl[] = [
  CERT.name,
  CERT.trustStore,
  CERT.digest,
  CERT.trusted,
  CERT.commonName,
  CERT.country,
  CERT.state,
  CERT.locality,
  CERT.organization,
  CERT.unit,
  CERT.subjectAltName,
  roText('issuer'),
  { name: 'key-type', type: enumType(['rsa', 'dsa', 'ec']), access: 'ro', compute: keyTypeOf },
  CERT.keySize,
  CERT.keyUsage,
  CERT.daysValid,
  roDate('invalid-before'),
  roDate('invalid-after'),
  { name: 'serial-number', type: lowerHexType, access: 'ro', ...absent },
  { name: 'akid', type: bare, access: 'ro', detail: 'always' },
  roText('skid'),
  { name: 'fingerprint', type: stringType, access: 'ro' },
  // Removing a CA removes every certificate it issued, recursively (spec §6.2 rule 4).
  { name: 'ca', type: refType(CERT_PATH, { onRemove: 'cascade' }), access: 'ro' },
  roText('ca-crl-host'),
  // SCEP client rows (spec §1.10, §2.1; scep-client.ts)
  { name: 'scep-url', type: stringType, access: 'ro', ...absent },
  { name: 'req-fingerprint', type: bare, access: 'ro', ...absent },
  { name: 'ca-fingerprint', type: bare, access: 'ro', ...absent },
  { name: 'challenge-password', type: stringType, access: 'ro', sensitive: true, ...absent },
  { name: 'status', type: stringType, access: 'ro', ...absent },
  roDate('revoked', { flag: { letter: 'R', sharesColumnWith: 'I', rank: 6 } }),
  // ACME client rows (spec §5, issue 14): enable-ssl-certificate and add-acme set these; the
  // next renewal and the last failure are rospki's own (docs/compatibility.md).
  { name: ACME.domainNames, type: { ...stringListType, quoted: false }, access: 'ro', ...absent },
  roText(ACME.directoryUrl),
  roText(ACME.status),
  // A row waiting for its first certificate is due at once (0): nothing to show.
  { name: 'acme-next-renewal', type: dateType, access: 'ro', compute: (row) => acmeDueAt(row) || undefined },
  { name: ACME.error, type: stringType, access: 'ro', ...absent },
  {
    name: 'expires-after', type: durationType(), access: 'ro',
    // Whole seconds, as RouterOS shows it (`521w2d23h56m20s`).
    compute: (row, ctx) => (typeof row['invalid-after'] === 'number' ? Math.max(0, Math.floor((row['invalid-after'] - ctx.clock.now()) / 1000)) * 1e9 : undefined),
  },
  flagProp('private-key', 'K', 1),
  flagProp('crl', 'L', 2),
  flagProp('smart-card-key', 'C', 3, () => false),
  flagProp('authority', 'A', 4, isLocalAuthority),
  flagProp('issued', 'I', 5, (row) => typeof row.ca === 'number' && row.ca !== 0),
  flagProp('expired', 'E', 7, (row, ctx) => typeof row['invalid-after'] === 'number' && ctx.clock.now() > row['invalid-after']),
  flagProp('acme-managed', 'a', 9, isAcmeManaged),
  flagProp('dynamic', 'D', 10, () => false),
];

/** 7.21+ default columns (spec §3.4 rule 5). */
export const CERT_COLUMNS = ['name', 'trust-store', 'common-name', 'subject-alt-name', 'skid'];
