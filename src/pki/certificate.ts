// X.509 v3 certificates: RFC 5280 §4.1 (Certificate, TBSCertificate), §4.1.2.2 (positive serial,
// at most 20 octets), §4.1.2.5 (validity), §4.2.1.1 AKID, §4.2.1.2 SKID, §4.2.1.3 keyUsage,
// §4.2.1.6 subjectAltName, §4.2.1.9 basicConstraints, §4.2.1.12 extKeyUsage, §4.2.1.13 CRL DPs;
// signature algorithms per RFC 3279 §2.2.1 / RFC 4055 §5 (RSA, NULL parameters) and
// RFC 5758 §3.2 (ECDSA, parameters absent).
//
// issueCertificate() is the hot path: the TBSCertificate is written directly with der.ts, with
// every constant part (version, AlgorithmIdentifiers, basicConstraints, KU/EKU extensions,
// issuer facts per CA key) encoded once and cached.

import { createHash, randomFillSync, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  FieldReader, NULL_DER, TAG, TRUE_DER, checkContent, checkTree, encodingOf, explicit, implicit, integer, listOf, oid, octetString,
  readAlgorithm, readInteger, readIntegerHex, readOid, readTime, readTlv, seq, seqOf, time, tlv, tlvParts, type Tlv, bitString,
} from './der.js';
import { PkiError } from './errors.js';
import { exportSpkiDer, importSpkiDer } from './key.js';
import {
  DEFAULT_KEY_USAGE, decodeKeyUsage, encodeExtendedKeyUsageValue, encodeKeyUsageValue, parseKeyUsage, type KeyUsageName,
} from './key-usage.js';
import { encodeName, formatName, nameAttributes, subjectFields, type SubjectFields } from './name.js';
import { OID } from './oids.js';
import { decodeGeneralNames, encodeGeneralNames, formatSubjectAltName, parseSubjectAltName, type GeneralName } from './san.js';
import { computeSkid, keyIdentifier, spkiInfo } from './spki.js';

export const DIGESTS = ['md5', 'sha1', 'sha256', 'sha384', 'sha512'] as const;
export type Digest = (typeof DIGESTS)[number];
export const isDigest = (s: string): s is Digest => (DIGESTS as readonly string[]).includes(s);

const DAY_MS = 86_400_000;
const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59);

// ---------------------------------------------------------------------------------------------
// Signature AlgorithmIdentifiers (encoded once)

const RSA_SIG_OID: Record<Digest, string> = {
  md5: OID.md5WithRSAEncryption, sha1: OID.sha1WithRSAEncryption, sha256: OID.sha256WithRSAEncryption,
  sha384: OID.sha384WithRSAEncryption, sha512: OID.sha512WithRSAEncryption,
};
const EC_SIG_OID: Record<Exclude<Digest, 'md5'>, string> = {
  sha1: OID.ecdsaWithSHA1, sha256: OID.ecdsaWithSHA256, sha384: OID.ecdsaWithSHA384, sha512: OID.ecdsaWithSHA512,
};
const SIG_ALG_CACHE = new Map<string, Buffer>();

/** DER AlgorithmIdentifier for signing with a key type and digest (RSA: NULL params; EC: none). */
export function signatureAlgorithm(keyType: 'rsa' | 'ec', digest: Digest): Buffer {
  const k = keyType + digest;
  let a = SIG_ALG_CACHE.get(k);
  if (a) return a;
  if (!isDigest(digest)) throw new PkiError('bad-digest', `invalid digest-algorithm "${String(digest)}" (expected one of ${DIGESTS.join(', ')})`);
  if (keyType === 'rsa') a = seq(oid(RSA_SIG_OID[digest]), NULL_DER);
  else {
    if (digest === 'md5') throw new PkiError('bad-digest', 'digest-algorithm md5 cannot be used with an EC key (ECDSA has no MD5 variant); use sha1, sha256, sha384 or sha512');
    a = seq(oid(EC_SIG_OID[digest]));
  }
  SIG_ALG_CACHE.set(k, a);
  return a;
}

/** Digest names by signature algorithm OID (for parsing). */
const DIGEST_BY_SIG_OID: Record<string, string> = {
  [OID.md5WithRSAEncryption]: 'md5', [OID.sha1WithRSAEncryption]: 'sha1', [OID.sha224WithRSAEncryption]: 'sha224',
  [OID.sha256WithRSAEncryption]: 'sha256', [OID.sha384WithRSAEncryption]: 'sha384', [OID.sha512WithRSAEncryption]: 'sha512',
  [OID.ecdsaWithSHA1]: 'sha1', [OID.ecdsaWithSHA224]: 'sha224', [OID.ecdsaWithSHA256]: 'sha256',
  [OID.ecdsaWithSHA384]: 'sha384', [OID.ecdsaWithSHA512]: 'sha512',
  [OID.dsaWithSHA1]: 'sha1', [OID.dsaWithSHA256]: 'sha256',
  [OID.rsassaPss]: 'rsa-pss', [OID.ed25519]: 'ed25519', [OID.ed448]: 'ed448',
};

// ---------------------------------------------------------------------------------------------
// Constant encodings

const VERSION_V3 = explicit(0, integer(2));
const extension = (oidDer: Buffer, critical: boolean, value: Uint8Array): Buffer =>
  critical ? seq(oidDer, TRUE_DER, octetString(value)) : seq(oidDer, octetString(value));

const EXT_BC_CA = extension(oid(OID.basicConstraints), true, seq(TRUE_DER));
const EXT_BC_EE = extension(oid(OID.basicConstraints), true, seq());
const OID_SAN = oid(OID.subjectAltName);
const OID_SKID = oid(OID.subjectKeyIdentifier);
const OID_AKID = oid(OID.authorityKeyIdentifier);
const OID_CDP = oid(OID.cRLDistributionPoints);

/** KU + EKU extensions per canonical key-usage list (few distinct lists exist in practice). */
const USAGE_EXT_CACHE = new Map<string, { exts: Buffer[]; isCA: boolean }>();
function usageExtensions(names: readonly KeyUsageName[]): { exts: Buffer[]; isCA: boolean } {
  const key = names.join(',');
  let e = USAGE_EXT_CACHE.get(key);
  if (e) return e;
  const isCA = names.includes('key-cert-sign');
  const exts = [isCA ? EXT_BC_CA : EXT_BC_EE];
  const ku = encodeKeyUsageValue(names);
  if (ku) exts.push(extension(oid(OID.keyUsage), true, ku));
  const eku = encodeExtendedKeyUsageValue(names);
  if (eku) exts.push(extension(oid(OID.extKeyUsage), false, eku));
  e = { exts, isCA };
  if (USAGE_EXT_CACHE.size > 4096) USAGE_EXT_CACHE.clear();
  USAGE_EXT_CACHE.set(key, e);
  return e;
}

// ---------------------------------------------------------------------------------------------
// Serial numbers: 16 random octets, top bit cleared (positive), first octet non-zero (so the
// INTEGER is exactly 16 octets): 127 random bits minus the excluded zero first octet.

let serialPool = Buffer.alloc(0);
let serialPoolOff = 0;
export function randomSerial(): Buffer {
  if (serialPoolOff + 16 > serialPool.length) {
    serialPool = randomFillSync(Buffer.allocUnsafe(4096));
    serialPoolOff = 0;
  }
  const s = Buffer.from(serialPool.subarray(serialPoolOff, serialPoolOff + 16));
  serialPoolOff += 16;
  s[0] = s[0]! & 0x7f || 0x01;
  return s;
}

/** Serial text as RouterOS/OpenSSL show it: upper-case hex of the value, whole octets, no leading 00 octets. */
export function serialToHex(serial: Uint8Array): string {
  let i = 0;
  while (i < serial.length - 1 && serial[i] === 0) i++;
  return Buffer.from(serial.buffer, serial.byteOffset + i, serial.length - i).toString('hex').toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// Issuing

export type IssuerSpec =
  /** Self-signed: the private key belongs to `subjectPublicKey`; issuer name = subject name, AKID = own SKID. */
  | { kind: 'self'; privateKey: KeyObject }
  /** Signed by a CA: its subject Name DER, its SKID bytes and its private key. */
  | { kind: 'ca'; nameDer: Buffer; skid: Buffer; privateKey: KeyObject };

export interface IssueSpec {
  subject: SubjectFields;
  /** RouterOS text (`DNS:a,IP:1.2.3.4`) or parsed names; empty/absent = no SAN extension. */
  subjectAltName?: string | readonly GeneralName[];
  /** RouterOS names (comma text or list); absent = DEFAULT_KEY_USAGE; '' or [] = no KU/EKU. */
  keyUsage?: string | readonly string[];
  daysValid: number;
  digest: Digest;
  /** notBefore in epoch ms, from the injected clock (seconds are kept, milliseconds dropped). */
  notBefore: number;
  /** The subject's public key: a KeyObject, or SubjectPublicKeyInfo DER (from generateEcKeyRaw or a CSR). */
  subjectPublicKey: KeyObject | Buffer;
  issuer: IssuerSpec;
  /** URL for a CRL distribution point (e.g. `http://192.168.88.1/crl/3.crl`). */
  crlDistributionPoint?: string;
  /** Fixed serial (unsigned big-endian bytes); default a fresh random one. */
  serial?: Uint8Array;
}

export interface IssuedCertificate {
  der: Buffer;
  /** Upper-case hex, as parseCertificate().serialNumber shows it. */
  serialHex: string;
  /** Epoch ms as encoded (whole seconds). */
  notBefore: number;
  notAfter: number;
  /** Upper-case hex of the subject key identifier (SHA-1 of the public key). */
  skid: string;
  /** Upper-case hex of the authority key identifier (= own skid when self-signed). */
  akid: string;
  /** The encoded subject Name (to use this certificate as an issuer without re-parsing). */
  subjectNameDer: Buffer;
  /** The SKID bytes. */
  skidBytes: Buffer;
  isCA: boolean;
}

interface SignerFacts { keyType: 'rsa' | 'ec'; }
const SIGNER_CACHE = new WeakMap<KeyObject, SignerFacts>();

function signerFacts(privateKey: KeyObject): SignerFacts {
  let f = SIGNER_CACHE.get(privateKey);
  if (f) return f;
  if (privateKey.type !== 'private') throw new PkiError('bad-key', 'the issuer key must be a private key');
  const t = privateKey.asymmetricKeyType;
  if (t !== 'rsa' && t !== 'ec') throw new PkiError('bad-key', `cannot sign with a ${t ?? 'unknown'} key (only RSA and EC keys are supported)`);
  f = { keyType: t };
  SIGNER_CACHE.set(privateKey, f);
  return f;
}

function validityMs(notBefore: number, daysValid: number): { nb: number; na: number } {
  if (!Number.isFinite(notBefore)) throw new PkiError('bad-validity', 'invalid notBefore time');
  if (!Number.isInteger(daysValid) || daysValid < 0) {
    throw new PkiError('bad-validity', `invalid days-valid ${daysValid} (must be a whole number of days, 0 or more)`);
  }
  const nb = Math.floor(notBefore / 1000) * 1000;
  const na = nb + daysValid * DAY_MS;
  if (nb < Date.UTC(1950, 0, 1) || na > MAX_TIME_MS) {
    throw new PkiError('bad-validity', `days-valid ${daysValid} puts the end of validity after the year 9999`);
  }
  return { nb, na };
}

/** Parts shared by the sync and async issue paths: everything except the signature. */
interface Prepared {
  tbs: Buffer; sigAlg: Buffer; privateKey: KeyObject; digest: Digest;
  result: Omit<IssuedCertificate, 'der'>;
}

function prepare(spec: IssueSpec): Prepared {
  const { privateKey } = spec.issuer;
  const facts = signerFacts(privateKey);
  const sigAlg = signatureAlgorithm(facts.keyType, spec.digest);

  const names = spec.keyUsage === undefined ? DEFAULT_KEY_USAGE : parseKeyUsage(spec.keyUsage);
  const usage = usageExtensions(names);

  let sanDer: Buffer | null = null;
  if (spec.subjectAltName !== undefined && spec.subjectAltName.length > 0) {
    const gn = typeof spec.subjectAltName === 'string' ? parseSubjectAltName(spec.subjectAltName) : spec.subjectAltName;
    if (gn.length) sanDer = encodeGeneralNames(gn);
  }

  let cdp: Buffer | null = null;
  if (spec.crlDistributionPoint) {
    const url = spec.crlDistributionPoint;
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/.test(url)) {
      throw new PkiError('bad-san', `invalid CRL distribution point URL "${url}"`);
    }
    // DistributionPoint { distributionPoint [0] { fullName [0] IMPLICIT GeneralNames { URI } } }
    cdp = seq(seq(explicit(0, implicit(0, tlv(0x86, Buffer.from(url, 'latin1')), true))));
  }

  const { nb, na } = validityMs(spec.notBefore, spec.daysValid);

  let spki: Buffer;
  let skid: Buffer;
  if (Buffer.isBuffer(spec.subjectPublicKey)) {
    spki = spec.subjectPublicKey;
    const k = spkiInfo(spki);
    if (k.keyType !== 'rsa' && k.keyType !== 'ec') throw new PkiError('bad-key', `unsupported subject key type ${k.keyType}`);
    skid = keyIdentifier(k.keyBytes);
  } else {
    if (spec.subjectPublicKey.type !== 'public') throw new PkiError('bad-key', 'subjectPublicKey must be a public key');
    spki = exportSpkiDer(spec.subjectPublicKey);
    skid = computeSkid(spki);
  }

  const subjectName = encodeName(spec.subject);
  let issuerName: Buffer, akid: Buffer;
  if (spec.issuer.kind === 'self') {
    // guard against a mismatched pair: the certificate would never verify
    const own = exportSpkiDer(privateKey);
    if (!own.equals(spki)) throw new PkiError('bad-key', 'self-signed certificate: the private key does not match subjectPublicKey');
    issuerName = subjectName;
    akid = skid;
  } else {
    issuerName = spec.issuer.nameDer;
    akid = spec.issuer.skid;
  }

  const serial = spec.serial ?? randomSerial();
  const serialDer = integer(serial);
  if (serialDer.length - 2 > 20) throw new PkiError('bad-der', 'serial number longer than 20 octets');

  const exts: Buffer[] = usage.exts.slice();
  if (sanDer) exts.push(extension(OID_SAN, false, sanDer));
  exts.push(tlvParts(TAG.SEQUENCE, [OID_SKID, tlv(TAG.OCTET_STRING, octetString(skid))]));
  if (akid.length) exts.push(tlvParts(TAG.SEQUENCE, [OID_AKID, tlv(TAG.OCTET_STRING, seq(implicit(0, akid)))]));
  if (cdp) exts.push(extension(OID_CDP, false, cdp));

  const tbs = seq(
    VERSION_V3,
    serialDer,
    sigAlg,
    issuerName,
    seq(time(nb), time(na)),
    subjectName,
    spki,
    explicit(3, seqOf(exts)),
  );
  const skidHex = skid.toString('hex').toUpperCase();
  return {
    tbs, sigAlg, privateKey, digest: spec.digest,
    result: {
      serialHex: serialToHex(serial), notBefore: nb, notAfter: na,
      skid: skidHex, akid: akid === skid ? skidHex : akid.toString('hex').toUpperCase(),
      subjectNameDer: subjectName, skidBytes: skid, isCA: usage.isCA,
    },
  };
}

const assemble = (p: Prepared, sig: Buffer): Buffer => seq(p.tbs, p.sigAlg, bitString(sig));

/**
 * Issues (builds and signs) an X.509 v3 certificate. Synchronous: the signature runs on the main
 * thread (ECDSA ≈ 0.03 ms, RSA-2048 ≈ 0.3 ms, RSA-8192 ≈ 13 ms; use issueCertificateAsync for
 * big RSA CA keys). Validation errors throw PkiError.
 */
export function issueCertificate(spec: IssueSpec): IssuedCertificate {
  const p = prepare(spec);
  const sig = cryptoSign(p.digest, p.tbs, p.privateKey);
  return { der: assemble(p, sig), ...p.result };
}

/** Same as issueCertificate but the signature is computed on the libuv threadpool. */
export async function issueCertificateAsync(spec: IssueSpec): Promise<IssuedCertificate> {
  const p = prepare(spec);
  const sig = await signOnThreadpool(p.digest, p.tbs, p.privateKey);
  return { der: assemble(p, sig), ...p.result };
}

/** node:crypto sign() on libuv's threadpool (its callback form): this thread goes on meanwhile. */
export function signOnThreadpool(digest: string, data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => cryptoSign(digest, data, key, (e, sig) => (e ? reject(e) : resolve(sig))));
}

/** IssuerSpec for a CA certificate (DER or parsed) and its private key. */
export function issuerFromCertificate(ca: Buffer | CertInfo, privateKey: KeyObject): IssuerSpec & { kind: 'ca' } {
  const info = Buffer.isBuffer(ca) ? parseCertificate(ca) : ca;
  const skid = info.skid ? Buffer.from(info.skid, 'hex') : computeSkid(info.publicKey);
  return { kind: 'ca', nameDer: info.subjectDer, skid, privateKey };
}

// ---------------------------------------------------------------------------------------------
// Parsing

export interface CertExtension {
  oid: string;
  critical: boolean;
  /** extnValue contents (the DER inside the OCTET STRING). */
  value: Buffer;
}

export interface CertInfo {
  der: Buffer;
  /** SHA-256 of the DER, lower-case hex (RouterOS `fingerprint`). */
  fingerprint: string;
  /** Upper-case hex, whole octets, no leading 00 octets (as `openssl x509 -serial`). */
  serialNumber: string;
  /** 1..3 */
  version: number;
  /** RouterOS `issuer=` text in certificate RDN order, e.g. `C=LV,O=mikroview,CN=mikroview local CA`. */
  issuer: string;
  issuerDer: Buffer;
  /** Subject in the same text form. */
  subjectText: string;
  subjectDer: Buffer;
  /** country, state, locality, organization, unit, commonName. */
  subject: SubjectFields;
  /** RouterOS subject-alt-name text ('' when absent). */
  subjectAltName: string;
  subjectAltNames: GeneralName[];
  /** 'rsa' | 'ec' | 'dsa' (or e.g. 'ed25519' for keys RouterOS does not generate). */
  keyType: string;
  /** '2048' / 'prime256v1' etc. */
  keySize: string;
  /** Canonical RouterOS key-usage names from keyUsage + extendedKeyUsage. */
  keyUsage: KeyUsageName[];
  /** basicConstraints cA. */
  isCA: boolean;
  pathLen?: number;
  notBefore: number;
  notAfter: number;
  /** round((notAfter - notBefore) / 1 day). */
  daysValid: number;
  /** 'md5' | 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512' (or 'rsa-pss', 'ed25519', an OID). */
  digest: string;
  signatureAlgorithmOid: string;
  /** URIs of the CRL distribution points. */
  crlDistributionPoints: string[];
  /** Upper-case hex ('' when absent). */
  skid: string;
  akid: string;
  /** Issuer name equals subject name, and AKID (if present) equals SKID. */
  selfSigned: boolean;
  /** SubjectPublicKeyInfo DER. */
  publicKey: Buffer;
  tbs: Buffer;
  signature: Buffer;
  extensions: CertExtension[];
}

const bad = (what: string) => new PkiError('bad-der', `not a valid X.509 certificate: ${what}`);

/** Parses a DER certificate into everything RouterOS shows (own DER reader; no ASN.1 library). */
export function parseCertificate(der: Buffer): CertInfo {
  if (!Buffer.isBuffer(der)) der = Buffer.from(der as Uint8Array);
  try {
    return parse(der);
  } catch (e) {
    if (e instanceof PkiError && !e.message.startsWith('not a valid X.509 certificate')) throw bad(e.message);
    throw e;
  }
}

/** Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, each extnID at most once (RFC 5280 §4.1, §4.2). */
export function readExtensions(der: Buffer, list: Tlv): CertExtension[] {
  const out: CertExtension[] = [];
  for (const e of listOf(der, list, TAG.SEQUENCE, 'Extensions', 1)) {
    // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
    if (e.tag !== TAG.SEQUENCE) throw bad('an Extension is not a SEQUENCE');
    checkTree(der, e);
    const f = new FieldReader(der, e, 'Extension');
    const extOid = readOid(der, f.next(TAG.OID, 'extnID'));
    const crit = f.optional(TAG.BOOLEAN);
    const valT = f.next(TAG.OCTET_STRING, 'extnValue');
    f.end();
    if (out.some((x) => x.oid === extOid)) throw bad(`extension ${extOid} appears twice`);
    out.push({ oid: extOid, critical: crit !== undefined && der[crit.contentStart] !== 0, value: der.subarray(valT.contentStart, valT.end) });
  }
  return out;
}

/** The one TLV filling an extension value. */
function extValue(value: Buffer, tag: number, what: string): Tlv {
  const t = readTlv(value, 0);
  if (t.end !== value.length) throw bad(`${what}: data after the end`);
  if (t.tag !== tag) throw bad(`${what} has tag 0x${t.tag.toString(16)}`);
  checkTree(value, t);
  return t;
}

function parse(input: Buffer): CertInfo {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } (RFC 5280 §4.1)
  const cert = readTlv(input, 0);
  if (cert.tag !== TAG.SEQUENCE) throw bad('not a SEQUENCE');
  // Anything after the certificate (OpenSSL's TRUSTED CERTIFICATE data) is not part of it.
  const der = input.subarray(0, cert.end);
  const c = new FieldReader(der, cert, 'Certificate');
  const tbsT = c.next(TAG.SEQUENCE, 'tbsCertificate');
  const sigAlgT = c.next(TAG.SEQUENCE, 'signatureAlgorithm');
  const sigT = c.next(TAG.BIT_STRING, 'signatureValue');
  c.end();
  // Everything but the contents of OCTET and BIT STRINGs follows X.690's rules for its type.
  checkTree(der, cert);

  // TBSCertificate (RFC 5280 §4.1.2): version [0] EXPLICIT DEFAULT v1, serialNumber, signature,
  // issuer, validity, subject, subjectPublicKeyInfo, issuerUniqueID [1] IMPLICIT, subjectUniqueID
  // [2] IMPLICIT (v2 and v3 only), extensions [3] EXPLICIT (v3 only).
  const f = new FieldReader(der, tbsT, 'TBSCertificate');
  let version = 1;
  const versionT = f.optional(0xa0);
  if (versionT) {
    const v = new FieldReader(der, versionT, 'version');
    const n = readInteger(der, v.next(TAG.INTEGER, 'version'));
    v.end();
    if (n < 0n || n > 2n) throw bad(`version ${n + 1n} (only 1, 2 and 3 exist)`);
    version = Number(n) + 1;
  }
  const serialT = f.next(TAG.INTEGER, 'serialNumber');
  readAlgorithm(der, f.next(TAG.SEQUENCE, 'signature'), 'signature');
  const issuerT = f.next(TAG.SEQUENCE, 'issuer');
  const validityT = f.next(TAG.SEQUENCE, 'validity');
  const subjectT = f.next(TAG.SEQUENCE, 'subject');
  const spkiT = f.next(TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const uids = [f.optional(0x81), f.optional(0x82)].filter((x) => x !== undefined);
  const extsT = f.optional(0xa3);
  f.end();
  if (uids.length && version < 2) throw bad('unique identifiers in a version 1 certificate');
  // UniqueIdentifier ::= BIT STRING, [1] and [2] IMPLICIT
  for (const u of uids) checkContent(der, { ...u, tag: TAG.BIT_STRING });
  if (extsT && version < 3) throw bad(`extensions in a version ${version} certificate`);

  const v = new FieldReader(der, validityT, 'Validity');
  const notBefore = readTime(der, v.next(undefined, 'notBefore'));
  const notAfter = readTime(der, v.next(undefined, 'notAfter'));
  v.end();

  const sigOid = readAlgorithm(der, sigAlgT, 'signatureAlgorithm').oid;
  const key = spkiInfo(der, spkiT);

  let extensions: CertExtension[] = [];
  if (extsT) {
    const e = new FieldReader(der, extsT, 'extensions');
    extensions = readExtensions(der, e.next(TAG.SEQUENCE, 'Extensions'));
    e.end();
  }
  const ext = (o: string) => extensions.find((x) => x.oid === o)?.value;

  let skid = '', akid = '';
  const skidV = ext(OID.subjectKeyIdentifier);
  if (skidV) {
    const t = extValue(skidV, TAG.OCTET_STRING, 'SubjectKeyIdentifier');
    skid = skidV.toString('hex', t.contentStart, t.end).toUpperCase();
  }
  const akidV = ext(OID.authorityKeyIdentifier);
  if (akidV) {
    // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0], authorityCertIssuer [1], authorityCertSerialNumber [2] } (§4.2.1.1)
    const a = new FieldReader(akidV, extValue(akidV, TAG.SEQUENCE, 'AuthorityKeyIdentifier'), 'AuthorityKeyIdentifier');
    const keyId = a.optional(0x80);
    const issuerNames = a.optional(0xa1);
    if (issuerNames) decodeGeneralNames(akidV, issuerNames);
    a.optional(0x82);
    a.end();
    if (keyId) akid = akidV.toString('hex', keyId.contentStart, keyId.end).toUpperCase();
  }

  let isCA = false;
  let pathLen: number | undefined;
  const bcV = ext(OID.basicConstraints);
  if (bcV) {
    // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL } (§4.2.1.9)
    const b = new FieldReader(bcV, extValue(bcV, TAG.SEQUENCE, 'BasicConstraints'), 'BasicConstraints');
    const ca = b.optional(TAG.BOOLEAN);
    const len = b.optional(TAG.INTEGER);
    b.end();
    isCA = ca !== undefined && bcV[ca.contentStart] !== 0;
    if (len) {
      const n = readInteger(bcV, len);
      if (n < 0n) throw bad('negative pathLenConstraint');
      pathLen = n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
    }
  }

  const sanV = ext(OID.subjectAltName);
  const subjectAltNames = sanV ? decodeGeneralNames(sanV) : [];

  const crlDistributionPoints: string[] = [];
  const cdpV = ext(OID.cRLDistributionPoints);
  if (cdpV) {
    // CRLDistributionPoints ::= SEQUENCE SIZE (1..MAX) OF DistributionPoint ::= SEQUENCE {
    //   distributionPoint [0] CHOICE { fullName [0] GeneralNames, nameRelativeToCRLIssuer [1] RDN } OPTIONAL,
    //   reasons [1] ReasonFlags OPTIONAL, cRLIssuer [2] GeneralNames OPTIONAL } (§4.2.1.13)
    for (const dp of listOf(cdpV, extValue(cdpV, TAG.SEQUENCE, 'CRLDistributionPoints'), TAG.SEQUENCE, 'CRLDistributionPoints', 1)) {
      if (dp.tag !== TAG.SEQUENCE) throw bad('a DistributionPoint is not a SEQUENCE');
      const d = new FieldReader(cdpV, dp, 'DistributionPoint');
      const name = d.optional(0xa0);
      d.optional(0x81);
      const crlIssuer = d.optional(0xa2);
      d.end();
      if (crlIssuer) decodeGeneralNames(cdpV, crlIssuer);
      if (!name) continue;
      const n = new FieldReader(cdpV, name, 'distributionPoint');
      const full = n.optional(0xa0);
      if (!full) n.next(0xa1, 'nameRelativeToCRLIssuer');
      n.end();
      if (full) for (const gn of decodeGeneralNames(cdpV, full)) if (gn.type === 'URI') crlDistributionPoints.push(gn.value);
    }
  }

  const issuerDer = encodingOf(der, issuerT);
  const subjectDer = encodingOf(der, subjectT);
  const subjectAttributes = nameAttributes(der, subjectT);
  const keyUsage = decodeKeyUsage(ext(OID.keyUsage), ext(OID.extKeyUsage));
  const sig = der.subarray(sigT.contentStart + 1, sigT.end);

  return {
    der,
    fingerprint: createHash('sha256').update(der).digest('hex'),
    serialNumber: readIntegerHex(der, serialT),
    version,
    issuer: formatName(der, issuerT),
    issuerDer,
    subjectText: formatName(der, subjectT),
    subjectDer,
    subject: subjectFields(subjectAttributes),
    subjectAltName: formatSubjectAltName(subjectAltNames),
    subjectAltNames,
    keyType: key.keyType,
    keySize: key.keySize,
    keyUsage,
    isCA,
    pathLen,
    notBefore,
    notAfter,
    daysValid: Math.round((notAfter - notBefore) / DAY_MS),
    digest: DIGEST_BY_SIG_OID[sigOid] ?? sigOid,
    signatureAlgorithmOid: sigOid,
    crlDistributionPoints,
    skid,
    akid,
    selfSigned: issuerDer.equals(subjectDer) && (akid === '' || skid === '' || akid === skid),
    publicKey: encodingOf(der, spkiT),
    tbs: encodingOf(der, tbsT),
    signature: sig,
    extensions,
  };
}

/**
 * True when `cert`'s signature verifies with `issuerKey` (a public KeyObject, or SPKI DER).
 * RSA PKCS#1 v1.5 and ECDSA with md5/sha1/sha224/sha256/sha384/sha512; other algorithms → false.
 */
export function verifyCertificateSignature(cert: Buffer | CertInfo, issuerKey: KeyObject | Buffer): boolean {
  const info = Buffer.isBuffer(cert) ? parseCertificate(cert) : cert;
  const digest = info.digest;
  if (!['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'].includes(digest)) return false;
  const key = Buffer.isBuffer(issuerKey) ? importSpkiDer(issuerKey) : issuerKey;
  try {
    return cryptoVerify(digest, info.tbs, key, info.signature);
  } catch {
    return false;
  }
}
