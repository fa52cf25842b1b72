// The facts the differential tests compare (fuzz.test.ts, corpus.test.ts), and how they are
// read from OpenSSL's text output. Both sides are brought to one comparable form here; every
// place where the two print the same fact differently is normalised in one function below,
// with the reason.

/** One attribute of a distinguished name: OpenSSL's short name (or the dotted OID) and the text. */
export interface Ava { type: string; value: string }
export type Name = Ava[][];

export interface CertFacts {
  kind: 'cert';
  /** i2a_ASN1_INTEGER form: upper-case hex of the magnitude in whole octets, '-' when negative. */
  serial: string;
  notBefore: number;
  notAfter: number;
  subject: Name;
  issuer: Name;
  /** `TYPE:value` per GeneralName in order (see sanEntry). */
  san: string[];
  /** rospki key-usage names from keyUsage and extendedKeyUsage, sorted. */
  keyUsage: string[];
  ca: boolean;
}
export interface CrlFacts {
  kind: 'crl';
  issuer: Name;
  thisUpdate: number;
  nextUpdate: number | null;
  /** Decimal, '' when absent. */
  crlNumber: string;
  /** Serials in CertFacts.serial form, sorted, without repeats. */
  revoked: string[];
}
export interface CsrFacts {
  kind: 'csr';
  subject: Name;
  san: string[];
  keyUsage: string[];
  keyType: string;
  keySize: string;
}
export interface KeyFacts {
  kind: 'key';
  keyType: string;
  keySize: string;
  /** SubjectPublicKeyInfo DER of the key, hex. */
  spki: string;
}
export interface P12Facts {
  kind: 'p12';
  /** SHA-256 of each certificate's DER, sorted. */
  certificates: string[];
  /** SPKI hex of the first private key ('' when there is none; OpenSSL returns only the first). */
  firstKey: string;
}
/** A CMS SignedData (SCEP pkiMessages, GetCACert replies): `openssl cms -verify -noverify`. */
export interface SignedFacts {
  kind: 'p7s';
  /** Every signer's signature holds (the messageDigest and contentType attributes too). */
  verified: boolean;
  /** SHA-256 of the eContent when verified, '' otherwise. */
  content: string;
  /** SHA-256 of each certificate's DER, sorted. */
  certificates: string[];
}
/** A CMS EnvelopedData for the corpus's SCEP CA (test/fixtures/pki ok-scep-ca): `openssl cms -decrypt`. */
export interface EnvelopedFacts {
  kind: 'p7m';
  /** SHA-256 of the decrypted content. */
  content: string;
}
export type Facts = CertFacts | CrlFacts | CsrFacts | KeyFacts | P12Facts | SignedFacts | EnvelopedFacts;
export type Kind = Facts['kind'];

// ---------------------------------------------------------------------------------------------
// Names in OpenSSL's `-nameopt oneline` form (RFC 2253 escaping, quoted values, `, ` between
// RDNs, ` + ` inside one, values converted to UTF-8 with bytes >= 0x80 and controls as \XX).

/** OpenSSL short names of the attribute types rospki knows (to compare rospki's OIDs). */
export const OPENSSL_SHORT_NAME: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.4': 'SN', '2.5.4.5': 'serialNumber', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST',
  '2.5.4.9': 'street', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.12': 'title', '2.5.4.17': 'postalCode',
  '2.5.4.42': 'GN', '1.2.840.113549.1.9.1': 'emailAddress', '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

/**
 * UTF-8 decoding that keeps what a strict decoder would replace: encoded surrogates (which
 * OpenSSL writes for a BMPString's lone surrogate) come back as those code units.
 */
export function decodeUtf8Loose(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    const n = c < 0x80 ? 0 : c >= 0xf8 ? -1 : c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : -1;
    let ok = n >= 0 && i + n < b.length;
    for (let k = 1; ok && k <= n; k++) ok = (b[i + k]! & 0xc0) === 0x80;
    if (!ok) { s += '\ufffd'; i++; continue; }
    let v = n === 0 ? c : c & (0x3f >> n);
    for (let k = 1; k <= n; k++) v = (v << 6) | (b[i + k]! & 0x3f);
    s += v > 0x10ffff ? '\ufffd' : String.fromCodePoint(v);
    i += n + 1;
  }
  return s;
}

/** Parses a oneline name (`C = LV, O = "a, b" + OU = x, CN = \C3\A9`) into RDNs. */
export function parseOnelineName(text: string): Name {
  const out: Name = [];
  if (text === '') return out;
  let i = 0;
  let rdn: Ava[] = [];
  const hex = (h: string) => Number.parseInt(h, 16);
  while (i < text.length) {
    // `TYPE = value`; an empty value leaves `TYPE =` at the end of the text
    const eq = text.indexOf(' =', i);
    if (eq < 0) throw new Error(`unparsable name at ${i}: ${text}`);
    const type = text.slice(i, eq);
    i = eq + (text[eq + 2] === ' ' ? 3 : 2);
    const bytes: number[] = [];
    const pushChar = (ch: string) => { for (const b of Buffer.from(ch, 'latin1')) bytes.push(b); };
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && /^[0-9A-F]{2}$/.test(text.slice(i + 1, i + 3))) { bytes.push(hex(text.slice(i + 1, i + 3))); i += 3; }
        else if (text[i] === '\\') { pushChar(text[i + 1]!); i += 2; }
        else pushChar(text[i++]!);
      }
      i++; // closing quote
    } else {
      while (i < text.length && !text.startsWith(', ', i) && !text.startsWith(' + ', i)) {
        if (text[i] === '\\' && /^[0-9A-F]{2}$/.test(text.slice(i + 1, i + 3))) { bytes.push(hex(text.slice(i + 1, i + 3))); i += 3; }
        else if (text[i] === '\\') { pushChar(text[i + 1]!); i += 2; }
        else pushChar(text[i++]!);
      }
    }
    const raw = Buffer.from(bytes);
    // An unescaped leading '#' is OpenSSL's dump of a value that is not a string type.
    const value = raw[0] === 0x23 && !/^\\#/.test(text) && /^#[0-9A-F]*$/i.test(raw.toString('latin1')) ? raw.toString('latin1').toLowerCase() : decodeUtf8Loose(raw);
    rdn.push({ type, value });
    if (text.startsWith(' + ', i)) { i += 3; continue; }
    out.push(rdn);
    rdn = [];
    if (text.startsWith(', ', i)) i += 2;
  }
  if (rdn.length) out.push(rdn);
  return out;
}

// ---------------------------------------------------------------------------------------------
// OpenSSL text output

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Oct 10 20:12:07 2022 GMT` (or with a fraction, `…:07.5 2050 GMT`) → epoch ms; null for `Bad time value`. */
export function parseOpensslTime(s: string): number | null {
  const m = /^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? (\d+) GMT$/.exec(s.trim());
  if (!m) return null;
  const d = new Date(0);
  d.setUTCFullYear(Number(m[7]), MONTHS.indexOf(m[1]!), Number(m[2]));
  d.setUTCHours(Number(m[3]), Number(m[4]), Number(m[5]), m[6] ? Math.floor(Number(`0.${m[6]}`) * 1000) : 0);
  return d.getTime();
}

/** The lines after `header` that are indented deeper than it (an extension's printed value). */
function section(lines: string[], header: RegExp): string[] | undefined {
  // the header line ends there (`…: critical` at most): not an attribute line such as
  // `X509v3 Extended Key Usage:unable to print attribute` in a request
  const i = lines.findIndex((l) => header.test(l) && /:( critical)?\s*$/.test(l));
  if (i < 0) return undefined;
  const indent = lines[i]!.length - lines[i]!.trimStart().length;
  const out: string[] = [];
  for (let j = i + 1; j < lines.length; j++) {
    const l = lines[j]!;
    if (l.trim() !== '' && l.length - l.trimStart().length <= indent) break;
    out.push(l.trim());
  }
  return out;
}

const KU_NAMES: Record<string, string> = {
  'Digital Signature': 'digital-signature', 'Non Repudiation': 'content-commitment', 'Key Encipherment': 'key-encipherment',
  'Data Encipherment': 'data-encipherment', 'Key Agreement': 'key-agreement', 'Certificate Sign': 'key-cert-sign',
  'CRL Sign': 'crl-sign', 'Encipher Only': 'encipher-only', 'Decipher Only': 'decipher-only',
};
const EKU_NAMES: Record<string, string> = {
  'TLS Web Server Authentication': 'tls-server', 'TLS Web Client Authentication': 'tls-client', 'Code Signing': 'code-sign',
  'E-mail Protection': 'email-protect', 'Time Stamping': 'timestamp', 'OCSP Signing': 'ocsp-sign', 'dvcs': 'dvcs',
};

function keyUsageOf(lines: string[]): string[] {
  const names = new Set<string>();
  for (const l of section(lines, /X509v3 Key Usage:/) ?? []) for (const p of l.split(', ')) if (KU_NAMES[p]) names.add(KU_NAMES[p]!);
  for (const l of section(lines, /X509v3 Extended Key Usage:/) ?? []) for (const p of l.split(', ')) if (EKU_NAMES[p]) names.add(EKU_NAMES[p]!);
  return [...names].sort();
}

/** SAN entries as OpenSSL prints them (`DNS:a, IP Address:1.2.3.4, …`), split on the type prefixes. */
function sanOf(lines: string[]): string[] {
  const text = (section(lines, /X509v3 Subject Alternative Name:/) ?? []).join(' ');
  if (text === '') return [];
  return text.split(/, (?=(?:DNS|IP Address|email|URI|DirName|othername|Registered ID|X400Name|EdiPartyName):)/).map((e) => {
    const [type, ...rest] = e.split(':');
    const value = rest.join(':');
    return sanEntry(type === 'IP Address' ? 'IP' : type!, value);
  });
}

/**
 * One GeneralName in comparable form. rospki and OpenSSL print some kinds differently on
 * purpose: IPv6 in RFC 5952 form (rospki) or eight upper-case groups (OpenSSL); a directory
 * name, other name, registered ID, X.400 or EDI name as each one's own text. Those compare by
 * kind (and IP by address); DNS, email and URI compare by their text.
 */
export function sanEntry(type: string, value: string): string {
  switch (type) {
    case 'IP': {
      if (/^\d+\.\d+\.\d+\.\d+$/.test(value)) return `IP:${value}`;
      const groups = value.includes('::')
        ? (() => { const [h, t] = value.split('::'); const hs = h ? h.split(':') : []; const ts = t ? t.split(':') : []; return [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts]; })()
        : value.split(':');
      return groups.length === 8 ? `IP:${groups.map((g) => Number.parseInt(g, 16).toString(16)).join(':')}` : `IP:${value}`;
    }
    case 'DNS': case 'email': case 'URI': return `${type}:${value}`;
    case 'Registered ID': case 'RID': return 'RID';
    default: return type;
  }
}

/** Serial/INTEGER in i2a_ASN1_INTEGER form from `X509_print`'s two layouts. */
function serialOf(lines: string[]): string {
  const i = lines.findIndex((l) => /^\s*Serial Number:/.test(l));
  const head = lines[i]!.replace(/^\s*Serial Number:\s*/, '');
  let m = /^(-?)\d+ \(-?0x([0-9a-f]+)\)$/.exec(head);
  if (m) { const h = m[2]!.length % 2 ? `0${m[2]}` : m[2]!; return `${m[1]}${h.toUpperCase()}`; }
  // long serials: the octets on the next line, after "(Negative)" when negative
  const value = lines[i + 1]!.trim();
  const neg = head === '(Negative)' || value.startsWith('(Negative)');
  return `${neg ? '-' : ''}${value.replace('(Negative)', '').replace(/:/g, '').toUpperCase()}`;
}

/** Facts of one certificate from `X509_print` text (storeutl -text) and its oneline names. */
export function certFactsFromText(text: string, names: { subject: string; issuer: string }): CertFacts {
  const lines = text.split('\n');
  const time = (label: string) => parseOpensslTime(lines.find((l) => l.trim().startsWith(label))!.split(/ : |: /).slice(1).join(': '));
  const bc = (section(lines, /X509v3 Basic Constraints:/) ?? []).join(' ');
  return {
    kind: 'cert',
    serial: serialOf(lines),
    notBefore: time('Not Before') ?? Number.NaN,
    notAfter: time('Not After') ?? Number.NaN,
    subject: parseOnelineName(names.subject),
    issuer: parseOnelineName(names.issuer),
    san: sanOf(lines),
    keyUsage: keyUsageOf(lines),
    ca: /\bCA:TRUE\b/.test(bc),
  };
}

/** Facts of one CRL from `X509_CRL_print_ex` text with oneline names (pkcs7 -print_certs). */
export function crlFactsFromText(text: string): CrlFacts {
  // i2a_ASN1_INTEGER breaks long serials with a backslash at the end of the line
  const lines = text.replace(/\\\n\s*/g, '').split('\n');
  const value = (label: string) => lines.find((l) => l.trim().startsWith(label))?.trim().slice(label.length).trim();
  const next = value('Next Update:');
  const number = (section(lines, /X509v3 CRL Number:/) ?? [])[0] ?? '';
  const revoked = lines.filter((l) => /^\s+Serial Number: /.test(l)).map((l) => l.trim().slice('Serial Number: '.length));
  return {
    kind: 'crl',
    issuer: parseOnelineName(value('Issuer:') ?? ''),
    thisUpdate: parseOpensslTime(value('Last Update:') ?? '') ?? Number.NaN,
    nextUpdate: next === undefined || next === 'NONE' ? null : parseOpensslTime(next) ?? Number.NaN,
    crlNumber: number.startsWith('0x') ? BigInt(number).toString() : number,
    revoked: [...new Set(revoked)].sort(),
  };
}

/** Facts of a request from `openssl req -text -nameopt oneline`. */
export function csrFactsFromText(text: string): CsrFacts {
  const lines = text.split('\n');
  const subject = lines.find((l) => /^\s+Subject:/.test(l))?.replace(/^\s+Subject:\s?/, '') ?? '';
  const alg = lines.find((l) => /Public Key Algorithm:/.test(l))?.split(':')[1]!.trim() ?? '';
  const bits = /Public-Key: \((\d+) bit\)/.exec(text)?.[1] ?? '';
  const curve = /ASN1 OID: (\S+)/.exec(text)?.[1] ?? '';
  const keyType = alg === 'rsaEncryption' ? 'rsa' : alg === 'id-ecPublicKey' ? 'ec' : alg === 'dsaEncryption' ? 'dsa' : alg;
  return {
    kind: 'csr',
    subject: parseOnelineName(subject),
    san: sanOf(lines),
    keyUsage: keyUsageOf(lines),
    keyType,
    keySize: keyType === 'ec' ? curve : bits,
  };
}

// ---------------------------------------------------------------------------------------------
// Comparison

/**
 * What makes two keys the same key. An EC key with explicit curve parameters is the same as its
 * named-curve form (rospki writes the named curve, RFC 5480 §2.1.1: only named curves are
 * allowed), so EC keys compare by curve and point. RouterOS has one key type for RSA, so an
 * RSASSA-PSS key shows as rsa in rospki.
 */
function keyIdentity(k: KeyFacts): string[] {
  const type = k.keyType === 'rsa-pss' ? 'rsa' : k.keyType;
  if (type !== 'ec') return [type, k.keySize, k.spki];
  const spki = Buffer.from(k.spki, 'hex');
  // the point is the BIT STRING at the end of the SPKI: 04 || X || Y after the unused-bits octet
  const coord = { prime256v1: 32, secp384r1: 48, secp521r1: 66 }[k.keySize] ?? 0;
  return [type, k.keySize, spki.subarray(spki.length - (2 * coord + 1)).toString('hex')];
}

/** Differences between rospki's and OpenSSL's facts ('' entries never; [] when equal). */
export function compareFacts(rospki: Facts, openssl: Facts): string[] {
  const diffs: string[] = [];
  const same = (what: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) diffs.push(`${what}: rospki ${JSON.stringify(a)} / openssl ${JSON.stringify(b)}`);
  };
  const names = (what: string, a: Name, b: Name) => {
    // rospki's attribute types are OIDs; OpenSSL prints its short name, or the OID when it has none.
    const norm = (n: Name, fromRospki: boolean) => n.map((rdn) => rdn.map((ava) => ({
      type: fromRospki ? (OPENSSL_SHORT_NAME[ava.type] ?? ava.type) : ava.type,
      value: ava.value,
    })));
    const ra = norm(a, true), ob = norm(b, false);
    // A type the test's table does not know is compared by value only.
    const typed = ra.map((rdn, i) => rdn.map((ava, j) => {
      const other = ob[i]?.[j];
      return other && /^\d+(\.\d+)+$/.test(ava.type) && !/^\d+(\.\d+)+$/.test(other.type) ? { ...ava, type: other.type } : ava;
    }));
    same(what, typed, ob);
  };
  if (rospki.kind !== openssl.kind) return [`kind: ${rospki.kind} / ${openssl.kind}`];
  switch (rospki.kind) {
    case 'cert': {
      const o = openssl as CertFacts;
      same('serial', rospki.serial, o.serial);
      same('notBefore', rospki.notBefore, o.notBefore);
      same('notAfter', rospki.notAfter, o.notAfter);
      names('subject', rospki.subject, o.subject);
      names('issuer', rospki.issuer, o.issuer);
      same('san', rospki.san, o.san);
      same('keyUsage', rospki.keyUsage, o.keyUsage);
      same('ca', rospki.ca, o.ca);
      break;
    }
    case 'crl': {
      const o = openssl as CrlFacts;
      names('issuer', rospki.issuer, o.issuer);
      same('thisUpdate', rospki.thisUpdate, o.thisUpdate);
      same('nextUpdate', rospki.nextUpdate, o.nextUpdate);
      same('crlNumber', rospki.crlNumber, o.crlNumber);
      same('revoked', rospki.revoked, o.revoked);
      break;
    }
    case 'csr': {
      const o = openssl as CsrFacts;
      names('subject', rospki.subject, o.subject);
      same('san', rospki.san, o.san);
      same('keyUsage', rospki.keyUsage, o.keyUsage);
      same('key', [rospki.keyType, rospki.keySize], [o.keyType, o.keySize]);
      break;
    }
    case 'key': {
      const o = openssl as KeyFacts;
      same('key', keyIdentity(rospki), keyIdentity(o));
      break;
    }
    case 'p12': {
      const o = openssl as P12Facts;
      same('certificates', rospki.certificates, o.certificates);
      same('first key', rospki.firstKey, o.firstKey);
      break;
    }
    case 'p7s': {
      const o = openssl as SignedFacts;
      same('verified', rospki.verified, o.verified);
      same('content', rospki.content, o.content);
      same('certificates', rospki.certificates, o.certificates);
      break;
    }
    case 'p7m': {
      same('content', rospki.content, (openssl as EnvelopedFacts).content);
      break;
    }
  }
  return diffs;
}
