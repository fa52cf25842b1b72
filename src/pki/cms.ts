// Cryptographic Message Syntax (RFC 5652, with the PKCS #7 v1.5 forms of RFC 2315 it reads the
// same): the parts SCEP (RFC 8894) needs, on the project's strict DER reader and node:crypto.
//
//  * SignedData (§5): made with one signer whose signed attributes are written as a DER SET OF,
//    sorted by encoding (X.690 §11.6: Go's pkcs7, used by micromdm's SCEP client, re-encodes
//    them sorted before it verifies), and read with every signer's attributes; verifySigner
//    checks the messageDigest and contentType attributes (§5.4, §11.1–11.2) and the signature.
//    A degenerate SignedData (no signers) carries certificates and CRLs (GetCACert, CertRep).
//  * EnvelopedData (§6) with key transport recipients (§6.2.1): RSAES-PKCS1-v1_5 (RFC 8017
//    §7.2) and RSAES-OAEP (RFC 3560), and content encrypted with AES-128/192/256-CBC (RFC 3565),
//    DES-EDE3-CBC or single DES-CBC (RFC 8018 B.2; old SCEP clients still send it).
//
// Two traps (../shared/libraries.md pitfalls 8–11): Node 20 refuses PKCS#1 v1.5 private
// decryption (the Marvin attack, CVE-2023-46809), so the raw RSA operation (no padding) runs here
// and the EME-PKCS1 block is taken apart in constant time, a bad block giving a key derived from
// the ciphertext instead of an error (the implicit rejection of RFC 8017 errata / OpenSSL 3.2):
// a forged request then fails like any other undecryptable one, and the time taken says nothing
// about the padding. And node's OpenSSL 3 has single DES only in its legacy provider: DES-CBC is
// run as DES-EDE3-CBC with the key K‖K‖K, which is the same cipher (EDE with equal keys).

import {
  constants, createCipheriv, createDecipheriv, createHash, createHmac, privateDecrypt, publicEncrypt,
  randomBytes, sign as cryptoSign, verify as cryptoVerify, type KeyObject,
} from 'node:crypto';
import {
  FieldReader, NULL_DER, TAG, checkTree, children, encodingOf, explicit, implicit, integer, listOf, octetString, oid, readAlgorithm,
  readInteger, readOid, readString, readTlv, seq, seqOf, set, setOf, type Tlv,
} from './der.js';
import { PkiError } from './errors.js';
import { importSpkiDer } from './key.js';
import { OID } from './oids.js';
import { parseCertificate, type CertInfo } from './certificate.js';
import { parseCrl } from './crl.js';
import { nameAttributes } from './name.js';

export const CMS_OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  // signed attributes (RFC 5652 §11)
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  // digests (RFC 5754 §2)
  md5: '1.2.840.113549.2.5',
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  // key transport (RFC 3370 §4.2.1, RFC 3560 §2)
  rsaesOaep: '1.2.840.113549.1.1.7',
  mgf1: '1.2.840.113549.1.1.8',
  pSpecified: '1.2.840.113549.1.1.9',
  // content encryption (RFC 3565 §4.1, RFC 3370 §5.1, RFC 8018 B.2.1)
  aes128cbc: '2.16.840.1.101.3.4.1.2',
  aes192cbc: '2.16.840.1.101.3.4.1.22',
  aes256cbc: '2.16.840.1.101.3.4.1.42',
  desEde3cbc: '1.2.840.113549.3.7',
  desCbc: '1.3.14.3.2.7',
} as const;

export const CMS_DIGESTS = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
export type CmsDigest = (typeof CMS_DIGESTS)[number];

const DIGEST_OID: Record<CmsDigest, string> = {
  sha1: CMS_OID.sha1, sha224: CMS_OID.sha224, sha256: CMS_OID.sha256, sha384: CMS_OID.sha384, sha512: CMS_OID.sha512,
};
const DIGEST_BY_OID: Record<string, CmsDigest | 'md5'> = {
  [CMS_OID.md5]: 'md5', [CMS_OID.sha1]: 'sha1', [CMS_OID.sha224]: 'sha224', [CMS_OID.sha256]: 'sha256',
  [CMS_OID.sha384]: 'sha384', [CMS_OID.sha512]: 'sha512',
};
/** Signature algorithms a signer may name, with the digest the name implies (undefined: the signer's digestAlgorithm). */
const SIGNATURE_ALGORITHMS: Record<string, { key: 'rsa' | 'ec'; digest?: CmsDigest | 'md5' }> = {
  [OID.rsaEncryption]: { key: 'rsa' },
  [OID.md5WithRSAEncryption]: { key: 'rsa', digest: 'md5' },
  [OID.sha1WithRSAEncryption]: { key: 'rsa', digest: 'sha1' },
  [OID.sha224WithRSAEncryption]: { key: 'rsa', digest: 'sha224' },
  [OID.sha256WithRSAEncryption]: { key: 'rsa', digest: 'sha256' },
  [OID.sha384WithRSAEncryption]: { key: 'rsa', digest: 'sha384' },
  [OID.sha512WithRSAEncryption]: { key: 'rsa', digest: 'sha512' },
  [OID.ecPublicKey]: { key: 'ec' },
  [OID.ecdsaWithSHA1]: { key: 'ec', digest: 'sha1' },
  [OID.ecdsaWithSHA224]: { key: 'ec', digest: 'sha224' },
  [OID.ecdsaWithSHA256]: { key: 'ec', digest: 'sha256' },
  [OID.ecdsaWithSHA384]: { key: 'ec', digest: 'sha384' },
  [OID.ecdsaWithSHA512]: { key: 'ec', digest: 'sha512' },
};

/** Content encryption algorithms, by the name node:crypto knows them (des-cbc: see the header). */
export const CMS_CIPHERS = ['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc', 'des-ede3-cbc', 'des-cbc'] as const;
export type CmsCipher = (typeof CMS_CIPHERS)[number];
const CIPHER: Record<CmsCipher, { oid: string; keyLen: number; ivLen: number }> = {
  'aes-128-cbc': { oid: CMS_OID.aes128cbc, keyLen: 16, ivLen: 16 },
  'aes-192-cbc': { oid: CMS_OID.aes192cbc, keyLen: 24, ivLen: 16 },
  'aes-256-cbc': { oid: CMS_OID.aes256cbc, keyLen: 32, ivLen: 16 },
  'des-ede3-cbc': { oid: CMS_OID.desEde3cbc, keyLen: 24, ivLen: 8 },
  'des-cbc': { oid: CMS_OID.desCbc, keyLen: 8, ivLen: 8 },
};
const CIPHER_BY_OID: Record<string, CmsCipher> = Object.fromEntries(
  (Object.entries(CIPHER) as Array<[CmsCipher, { oid: string }]>).map(([name, c]) => [c.oid, name]),
);

/** Bounds on what one message may hold: the work a hostile message causes stays small. */
export const CMS_LIMITS = {
  certificates: 16,
  crls: 4,
  signers: 4,
  attributes: 32,
  recipients: 8,
  /** Recipient RSA keys above this are refused (the public operation grows with the modulus). */
  rsaBits: 8192,
} as const;

const bad = (what: string) => new PkiError('bad-der', `not a valid CMS message: ${what}`);
const unsupported = (what: string) => new PkiError('unsupported', what);

// ---------------------------------------------------------------------------------------------
// Certificates as CMS names them

/** The issuer Name and serial number INTEGER of a certificate, as encoded in it (RFC 5280 §4.1). */
export interface IssuerAndSerial {
  /** DER of the issuer Name. */
  issuer: Buffer;
  /** DER of the serialNumber INTEGER (tag and length included). */
  serial: Buffer;
}

/** IssuerAndSerialNumber of a certificate (DER), read from its TBSCertificate. */
export function issuerAndSerialOf(cert: Buffer): IssuerAndSerial {
  const outer = readTlv(cert, 0);
  if (outer.tag !== TAG.SEQUENCE) throw bad('a certificate is not a SEQUENCE');
  const tbs = new FieldReader(cert, outer, 'Certificate').next(TAG.SEQUENCE, 'tbsCertificate');
  const f = new FieldReader(cert, tbs, 'TBSCertificate');
  f.optional(0xa0, 'version');
  const serial = f.next(TAG.INTEGER, 'serialNumber');
  f.next(TAG.SEQUENCE, 'signature');
  const issuer = f.next(TAG.SEQUENCE, 'issuer');
  return { issuer: Buffer.from(encodingOf(cert, issuer)), serial: Buffer.from(encodingOf(cert, serial)) };
}

/** The SubjectPublicKeyInfo DER of a certificate. */
function spkiOf(cert: Buffer): Buffer {
  const outer = readTlv(cert, 0);
  const tbs = new FieldReader(cert, outer, 'Certificate').next(TAG.SEQUENCE, 'tbsCertificate');
  const f = new FieldReader(cert, tbs, 'TBSCertificate');
  f.optional(0xa0, 'version');
  f.next(TAG.INTEGER, 'serialNumber');
  f.next(TAG.SEQUENCE, 'signature');
  f.next(TAG.SEQUENCE, 'issuer');
  f.next(TAG.SEQUENCE, 'validity');
  f.next(TAG.SEQUENCE, 'subject');
  return Buffer.from(encodingOf(cert, f.next(TAG.SEQUENCE, 'subjectPublicKeyInfo')));
}

const issuerAndSerialDer = (id: IssuerAndSerial): Buffer => seq(id.issuer, id.serial);

/** A signer or recipient identifier (RFC 5652 §5.3, §6.2.1). */
export type CmsIdentifier = { kind: 'issuerAndSerial'; issuer: Buffer; serial: Buffer } | { kind: 'subjectKeyIdentifier'; ski: Buffer };

/** Whether `id` names `cert` (by issuer and serial, or by its subjectKeyIdentifier extension value). */
export function identifies(id: CmsIdentifier, cert: Buffer, certSki?: Buffer): boolean {
  if (id.kind === 'subjectKeyIdentifier') return certSki !== undefined && certSki.equals(id.ski);
  const own = issuerAndSerialOf(cert);
  return own.serial.equals(id.serial) && (own.issuer.equals(id.issuer) || canonicalName(own.issuer) === canonicalName(id.issuer));
}

/** String types whose values compare caselessly (OpenSSL's ASN1_MASK_CANON). */
const CANON_TYPES = new Set([TAG.UTF8_STRING, TAG.BMP_STRING, TAG.UNIVERSAL_STRING, TAG.PRINTABLE_STRING, TAG.TELETEX_STRING, TAG.IA5_STRING, 0x1a]);

/**
 * A Name in the form names are matched by (RFC 5280 §7.1, as OpenSSL's X509_NAME_cmp does it):
 * string values without leading or trailing blanks, inner blanks as one space, ASCII letters in
 * lower case; other values as they are encoded.
 */
function canonicalName(der: Buffer): string {
  const rdns = children(der, readTlv(der, 0));
  return rdns.map((rdn) => children(der, rdn).map((atv) => {
    const f = new FieldReader(der, atv, 'AttributeTypeAndValue');
    const type = readOid(der, f.next(TAG.OID, 'type'));
    const v = f.next(undefined, 'value');
    if (!CANON_TYPES.has(v.tag as never)) return `${type}=#${der.toString('hex', v.start, v.end)}`;
    const text = readString(der, v).replace(/[\t\n\v\f\r ]+/g, ' ').trim().replace(/[A-Z]/g, (c) => c.toLowerCase());
    return `${type}=${JSON.stringify(text)}`;
  }).sort().join('+')).join(',');
}

function readIdentifier(buf: Buffer, t: Tlv, what: string): CmsIdentifier {
  if (t.tag === TAG.SEQUENCE) {
    const f = new FieldReader(buf, t, what);
    const issuer = f.next(TAG.SEQUENCE, 'issuer');
    const serial = f.next(TAG.INTEGER, 'serialNumber');
    f.end();
    // The issuer is a Name, read as the certificates' names are (as OpenSSL does).
    nameAttributes(buf, issuer);
    return { kind: 'issuerAndSerial', issuer: Buffer.from(encodingOf(buf, issuer)), serial: Buffer.from(encodingOf(buf, serial)) };
  }
  if (t.tag === 0x80) return { kind: 'subjectKeyIdentifier', ski: Buffer.from(buf.subarray(t.contentStart, t.end)) };
  throw bad(`${what} is neither issuerAndSerialNumber nor subjectKeyIdentifier`);
}

// ---------------------------------------------------------------------------------------------
// ContentInfo

/** ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY } (RFC 5652 §3). */
export function contentInfo(type: string, content: Buffer): Buffer {
  return seq(oid(type), explicit(0, content));
}

/** The type and the content TLV of a ContentInfo that fills `der`. */
function readContentInfo(der: Buffer): { type: string; content: Tlv } {
  const outer = readTlv(der, 0);
  if (outer.tag !== TAG.SEQUENCE) throw bad('ContentInfo is not a SEQUENCE');
  if (outer.end !== der.length) throw bad('data after the ContentInfo');
  checkTree(der, outer);
  const f = new FieldReader(der, outer, 'ContentInfo');
  const type = readOid(der, f.next(TAG.OID, 'contentType'));
  const wrapper = f.next(0xa0, 'content');
  f.end();
  const inner = new FieldReader(der, wrapper, 'content');
  const content = inner.next(undefined, 'content');
  inner.end();
  return { type, content };
}

// ---------------------------------------------------------------------------------------------
// Attributes

/** Attribute ::= SEQUENCE { attrType OID, attrValues SET OF AttributeValue } (RFC 5652 §5.3). */
export interface CmsAttribute {
  oid: string;
  /** Each value's full encoding. */
  values: Buffer[];
}

export function encodeAttribute(a: CmsAttribute): Buffer {
  return seq(oid(a.oid), setOf(a.values));
}

function readAttributes(buf: Buffer, t: Tlv, what: string): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>();
  const list = listOf(buf, t, t.tag, what, 1);
  if (list.length > CMS_LIMITS.attributes) throw unsupported(`${what}: more than ${CMS_LIMITS.attributes} attributes`);
  for (const a of list) {
    if (a.tag !== TAG.SEQUENCE) throw bad(`an attribute of ${what} is not a SEQUENCE`);
    const f = new FieldReader(buf, a, 'Attribute');
    const type = readOid(buf, f.next(TAG.OID, 'attrType'));
    const values = listOf(buf, f.next(TAG.SET, 'attrValues'), TAG.SET, 'attrValues', 1);
    f.end();
    // Each attribute type at most once (RFC 5652 §5.3 for the ones it names; SCEP's are single too).
    if (out.has(type)) throw bad(`attribute ${type} appears twice in ${what}`);
    out.set(type, values.map((v) => Buffer.from(encodingOf(buf, v))));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// SignedData: writing

export interface CmsSigner {
  /** The signer's certificate (DER): named by issuer and serial, and included in the message. */
  certificate: Buffer;
  privateKey: KeyObject;
  digest: CmsDigest;
  /** Attributes beside contentType and messageDigest (which are always added). */
  attributes?: readonly CmsAttribute[];
  /**
   * signatureAlgorithm: `rsaEncryption` (RFC 3370 §3.2: what strongSwan's SCEP code insists on)
   * or the combined `sha256WithRSAEncryption` form. EC keys always name ecdsa-with-SHA*.
   */
  rsaSignatureOid?: 'rsaEncryption' | 'combined';
}

export interface SignedDataSpec {
  /** eContentType; default id-data. */
  contentType?: string;
  /** eContent; absent: a SignedData without content (a SCEP PENDING or FAILURE reply, a degenerate one). */
  content?: Buffer;
  /** Certificates to include, beside the signer's own (first). */
  certificates?: readonly Buffer[];
  crls?: readonly Buffer[];
  signer?: CmsSigner;
}

function digestAlgorithmId(d: CmsDigest): Buffer {
  // RFC 5754 §2: parameters absent is preferred; NULL is read as well.
  return seq(oid(DIGEST_OID[d]));
}

const RSA_SIG_OID: Record<CmsDigest, string> = {
  sha1: OID.sha1WithRSAEncryption, sha224: OID.sha224WithRSAEncryption, sha256: OID.sha256WithRSAEncryption,
  sha384: OID.sha384WithRSAEncryption, sha512: OID.sha512WithRSAEncryption,
};
const EC_SIG_OID: Record<CmsDigest, string> = {
  sha1: OID.ecdsaWithSHA1, sha224: OID.ecdsaWithSHA224, sha256: OID.ecdsaWithSHA256, sha384: OID.ecdsaWithSHA384, sha512: OID.ecdsaWithSHA512,
};

/** ContentInfo of a SignedData (RFC 5652 §5.1). */
export function createSignedData(spec: SignedDataSpec): Buffer {
  if (!spec.signer) return assembleSignedData(spec);
  return signNow(prepareSignedData({ ...spec, signer: spec.signer }), spec.signer.privateKey);
}

/**
 * A SignedData up to its signature, which may be made elsewhere (libuv's threadpool) while this
 * thread goes on: `toSign` signed with the signer's key and `digest` (node:crypto sign(), the
 * same bytes createSignedData would make), then finish(signature) gives the ContentInfo.
 */
export interface UnsignedData {
  toSign: Buffer;
  digest: CmsDigest;
  finish(signature: Buffer): Buffer;
}

/** An UnsignedData signed on this thread and finished. */
export function signNow(unsigned: UnsignedData, privateKey: KeyObject): Buffer {
  return unsigned.finish(cryptoSign(unsigned.digest, unsigned.toSign, privateKey));
}

export function prepareSignedData(spec: SignedDataSpec & { signer: CmsSigner }): UnsignedData {
  const parts = signerInfoParts(spec.signer, spec.contentType ?? CMS_OID.data, spec.content ?? Buffer.alloc(0));
  return { toSign: parts.signed, digest: spec.signer.digest, finish: (signature) => assembleSignedData(spec, parts.finish(signature)) };
}

function assembleSignedData(spec: SignedDataSpec, signerInfoDer?: Buffer): Buffer {
  const contentType = spec.contentType ?? CMS_OID.data;
  const encap = spec.content === undefined
    ? seq(oid(contentType))
    : seq(oid(contentType), explicit(0, octetString(spec.content)));
  const certs = [...(spec.signer ? [spec.signer.certificate] : []), ...(spec.certificates ?? [])]
    .filter((c, i, all) => all.findIndex((x) => x.equals(c)) === i);
  const parts: Buffer[] = [];
  const signer = spec.signer;
  // version 1: issuerAndSerialNumber signers, id-data content, no other certificate forms (§5.1)
  parts.push(integer(1));
  parts.push(signer ? set(digestAlgorithmId(signer.digest)) : set());
  parts.push(encap);
  if (certs.length) parts.push(implicit(0, Buffer.concat(certs), true));
  if (spec.crls?.length) parts.push(implicit(1, Buffer.concat([...spec.crls]), true));
  parts.push(signerInfoDer ? set(signerInfoDer) : set());
  return contentInfo(CMS_OID.signedData, seqOf(parts));
}

/** A degenerate SignedData: certificates (and CRLs) only, no content, no signers (RFC 8894 §3.4). */
export function createDegenerate(certificates: readonly Buffer[], crls: readonly Buffer[] = []): Buffer {
  return createSignedData({ certificates, crls });
}

/** A SignerInfo: the signed attributes to sign, and the SignerInfo once signed. */
function signerInfoParts(s: CmsSigner, contentType: string, content: Buffer): { signed: Buffer; finish(signature: Buffer): Buffer } {
  const keyType = s.privateKey.asymmetricKeyType;
  if (keyType !== 'rsa' && keyType !== 'ec') throw new PkiError('bad-key', `cannot sign with a ${keyType ?? 'unknown'} key`);
  const attrs: CmsAttribute[] = [
    { oid: CMS_OID.contentType, values: [oid(contentType)] },
    { oid: CMS_OID.messageDigest, values: [octetString(createHash(s.digest).update(content).digest())] },
    ...(s.attributes ?? []),
  ];
  // DER SET OF: sorted by encoding (X.690 §11.6); signed as a SET, sent as [0] IMPLICIT (§5.4).
  const signed = setOf(attrs.map(encodeAttribute));
  const tagged = Buffer.from(signed);
  tagged[0] = 0xa0;
  const sigAlg = keyType === 'ec'
    ? seq(oid(EC_SIG_OID[s.digest]))
    : seq(oid(s.rsaSignatureOid === 'combined' ? RSA_SIG_OID[s.digest] : OID.rsaEncryption), NULL_DER);
  const sid = issuerAndSerialDer(issuerAndSerialOf(s.certificate));
  return { signed, finish: (signature) => seq(integer(1), sid, digestAlgorithmId(s.digest), tagged, sigAlg, octetString(signature)) };
}

// ---------------------------------------------------------------------------------------------
// SignedData: reading

export interface CmsSignerInfo {
  sid: CmsIdentifier;
  digest: CmsDigest | 'md5';
  /** The signed attributes as a DER SET (what the signature covers), when present. */
  signedAttributesDer?: Buffer;
  attributes: Map<string, Buffer[]>;
  signatureAlgorithm: string;
  signature: Buffer;
}

export interface SignedData {
  /** eContentType. */
  contentType: string;
  /** eContent (undefined when absent). */
  content?: Buffer;
  /** Certificates (DER), in the order sent; other CertificateChoices are left out. */
  certificates: Buffer[];
  crls: Buffer[];
  signers: CmsSignerInfo[];
  /** Every digestAlgorithm named in the SignedData's digestAlgorithms set. */
  digestAlgorithms: string[];
}

/** Reads a ContentInfo holding a SignedData (DER; see berToDer for BER input). */
export function parseSignedData(der: Buffer): SignedData {
  try {
    return readSignedData(der);
  } catch (e) {
    if (e instanceof PkiError && e.code === 'bad-der' && !e.message.startsWith('not a valid CMS message')) throw bad(e.message);
    throw e;
  }
}

/**
 * What readSignedData parsed of each certificate it returned (it reads every one in full), by
 * that Buffer: a reader of the message needs the signer's facts again (the SCEP server: its key
 * type, fingerprint, subject), and parsing a certificate twice cost ≈ 0.1 ms per request. The
 * Buffers are copies made for the SignedData, not written to afterwards.
 */
const parsedCertificates = new WeakMap<Buffer, CertInfo>();

/** A certificate parsed: by readSignedData when it is one of a SignedData's, else now. */
export function certificateInfo(cert: Buffer): CertInfo {
  return parsedCertificates.get(cert) ?? parseCertificate(cert);
}

function readSignedData(der: Buffer): SignedData {
  const ci = readContentInfo(der);
  if (ci.type !== CMS_OID.signedData) throw bad(`content type ${ci.type} is not signedData`);
  const sd = ci.content;
  if (sd.tag !== TAG.SEQUENCE) throw bad('SignedData is not a SEQUENCE');
  const f = new FieldReader(der, sd, 'SignedData');
  const version = readInteger(der, f.next(TAG.INTEGER, 'version'));
  if (version < 1n || version > 5n) throw bad(`SignedData version ${version}`);
  const digestAlgorithms = listOf(der, f.next(TAG.SET, 'digestAlgorithms'), TAG.SET, 'digestAlgorithms')
    .map((t) => readAlgorithm(der, t, 'DigestAlgorithmIdentifier').oid);
  // Every digest named is one a verifier computes (OpenSSL refuses to verify otherwise).
  for (const d of digestAlgorithms) if (!DIGEST_BY_OID[d]) throw unsupported(`digest algorithm ${d} is not supported`);
  const encap = new FieldReader(der, f.next(TAG.SEQUENCE, 'encapContentInfo'), 'EncapsulatedContentInfo');
  const contentType = readOid(der, encap.next(TAG.OID, 'eContentType'));
  const eContent = encap.optional(0xa0, 'eContent');
  encap.end();
  let content: Buffer | undefined;
  if (eContent) {
    const inner = new FieldReader(der, eContent, 'eContent');
    const os = inner.next(TAG.OCTET_STRING, 'eContent');
    inner.end();
    content = Buffer.from(der.subarray(os.contentStart, os.end));
  }
  const certs = f.optional(0xa0, 'certificates');
  const crls = f.optional(0xa1, 'crls');
  const signerSet = f.next(TAG.SET, 'signerInfos');
  f.end();
  // CertificateChoices and RevocationInfoChoices (§10.2.1–2): only X.509 certificates and CRLs,
  // each read in full (a message with one that can not be read is refused, as OpenSSL does;
  // attribute certificates and other formats are not used here).
  const certList = certs ? listOf(der, certs, 0xa0, 'certificates') : [];
  if (certList.length > CMS_LIMITS.certificates) throw unsupported(`more than ${CMS_LIMITS.certificates} certificates in one message`);
  const certificates = certList.map((c) => {
    if (c.tag !== TAG.SEQUENCE) throw unsupported('a certificate that is not an X.509 certificate');
    const one = Buffer.from(encodingOf(der, c));
    parsedCertificates.set(one, parseCertificate(one));
    return one;
  });
  const crlTlvs = crls ? listOf(der, crls, 0xa1, 'crls') : [];
  if (crlTlvs.length > CMS_LIMITS.crls) throw unsupported(`more than ${CMS_LIMITS.crls} CRLs in one message`);
  const crlList = crlTlvs.map((c) => {
    if (c.tag !== TAG.SEQUENCE) throw unsupported('a revocation list that is not an X.509 CRL');
    const one = Buffer.from(encodingOf(der, c));
    parseCrl(one);
    return one;
  });
  const signerTlvs = listOf(der, signerSet, TAG.SET, 'signerInfos');
  if (signerTlvs.length > CMS_LIMITS.signers) throw unsupported(`more than ${CMS_LIMITS.signers} signers in one message`);
  const signers = signerTlvs.map((t) => readSignerInfo(der, t));
  // The content-type attribute names the content it signs (§11.1): one that names another is no SignedData of it.
  for (const signer of signers) {
    const type = signer.attributes.get(CMS_OID.contentType);
    if (type && (type.length !== 1 || readOid(type[0]!, readTlv(type[0]!, 0)) !== contentType)) throw bad('the content-type attribute does not name the content');
  }
  return { contentType, content, certificates, crls: crlList, signers, digestAlgorithms };
}

function readSignerInfo(der: Buffer, t: Tlv): CmsSignerInfo {
  if (t.tag !== TAG.SEQUENCE) throw bad('a SignerInfo is not a SEQUENCE');
  const f = new FieldReader(der, t, 'SignerInfo');
  const version = readInteger(der, f.next(TAG.INTEGER, 'version'));
  const sid = readIdentifier(der, f.next(undefined, 'sid'), 'sid');
  // version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier (§5.3)
  if ((sid.kind === 'issuerAndSerial' && version !== 1n) || (sid.kind === 'subjectKeyIdentifier' && version !== 3n)) {
    throw bad(`SignerInfo version ${version} does not match its sid`);
  }
  const digestOid = readAlgorithm(der, f.next(TAG.SEQUENCE, 'digestAlgorithm'), 'digestAlgorithm').oid;
  const digest = DIGEST_BY_OID[digestOid];
  if (!digest) throw unsupported(`digest algorithm ${digestOid} is not supported`);
  const signedT = f.optional(0xa0, 'signedAttrs');
  const sigAlgOid = readAlgorithm(der, f.next(TAG.SEQUENCE, 'signatureAlgorithm'), 'signatureAlgorithm').oid;
  const sigT = f.next(TAG.OCTET_STRING, 'signature');
  f.optional(0xa1, 'unsignedAttrs');
  f.end();
  let signedAttributesDer: Buffer | undefined;
  let attributes = new Map<string, Buffer[]>();
  if (signedT) {
    attributes = readAttributes(der, signedT, 'signedAttrs');
    // The signature covers the attributes with the SET OF tag (§5.4), as they were sent.
    const encoded = Buffer.from(encodingOf(der, signedT));
    encoded[0] = TAG.SET;
    signedAttributesDer = encoded;
  }
  return { sid, digest, signedAttributesDer, attributes, signatureAlgorithm: sigAlgOid, signature: Buffer.from(der.subarray(sigT.contentStart, sigT.end)) };
}

/** The certificate of `signed` that a signer's sid names, or undefined. */
export function signerCertificate(signed: SignedData, signer: CmsSignerInfo, skiOf: (cert: Buffer) => Buffer | undefined): Buffer | undefined {
  return signed.certificates.find((c) => {
    try { return identifies(signer.sid, c, signer.sid.kind === 'subjectKeyIdentifier' ? skiOf(c) : undefined); } catch { return false; }
  });
}

/**
 * Checks a signer (RFC 5652 §5.6): with signed attributes, their contentType must be the
 * eContentType and their messageDigest the digest of the content, and the signature covers them;
 * without, it covers the content. `publicKey`: the signer certificate's SPKI DER or a KeyObject.
 */
export function verifySigner(signed: SignedData, signer: CmsSignerInfo, publicKey: Buffer | KeyObject): boolean {
  const alg = SIGNATURE_ALGORITHMS[signer.signatureAlgorithm];
  if (!alg) return false;
  // The signer's digest is one the SignedData names (a verifier digests the content with those).
  if (!signed.digestAlgorithms.some((o) => DIGEST_BY_OID[o] === signer.digest)) return false;
  const digest = alg.digest ?? signer.digest;
  if (alg.digest !== undefined && alg.digest !== signer.digest) return false;
  let key: KeyObject;
  try {
    key = Buffer.isBuffer(publicKey) ? importSpkiDer(publicKey) : publicKey;
  } catch {
    return false;
  }
  if (key.asymmetricKeyType !== alg.key) return false;
  if (alg.key === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) > 16384) return false;
  const content = signed.content ?? Buffer.alloc(0);
  let data: Buffer;
  if (signer.signedAttributesDer) {
    const type = signer.attributes.get(CMS_OID.contentType);
    const md = signer.attributes.get(CMS_OID.messageDigest);
    if (!type || type.length !== 1 || !md || md.length !== 1) return false;
    try {
      if (readOid(type[0]!, readTlv(type[0]!, 0)) !== signed.contentType) return false;
      const mdT = readTlv(md[0]!, 0);
      if (mdT.tag !== TAG.OCTET_STRING) return false;
      const expected = createHash(signer.digest).update(content).digest();
      if (!expected.equals(md[0]!.subarray(mdT.contentStart, mdT.end))) return false;
    } catch {
      return false;
    }
    data = signer.signedAttributesDer;
  } else {
    data = content;
  }
  try {
    return cryptoVerify(digest, data, key, signer.signature);
  } catch {
    return false;
  }
}

/** The SubjectPublicKeyInfo DER of a certificate (to verify a signer with). */
export const certificatePublicKey = (cert: Buffer): Buffer => spkiOf(cert);

// ---------------------------------------------------------------------------------------------
// EnvelopedData

export interface KeyTransRecipient {
  rid: CmsIdentifier;
  /** rsaEncryption (PKCS#1 v1.5) or RSAES-OAEP with its hash. */
  scheme: { kind: 'pkcs1' } | { kind: 'oaep'; hash: CmsDigest; label: Buffer };
  encryptedKey: Buffer;
}

export interface EnvelopedData {
  recipients: KeyTransRecipient[];
  /** The encrypted content's type (id-data for SCEP). */
  contentType: string;
  cipher: CmsCipher;
  iv: Buffer;
  encryptedContent: Buffer;
}

export interface EnvelopeSpec {
  content: Buffer;
  /** The recipient's certificate (an RSA key). */
  recipient: Buffer;
  cipher: CmsCipher;
  keyTransport?: 'pkcs1' | { kind: 'oaep'; hash: CmsDigest };
}

/** ContentInfo of an EnvelopedData for one certificate's RSA key (RFC 5652 §6.1, §6.2.1). */
export function createEnvelopedData(spec: EnvelopeSpec): Buffer {
  const c = CIPHER[spec.cipher];
  const key = randomBytes(c.keyLen);
  const iv = randomBytes(c.ivLen);
  const cipher = createCipheriv(nodeCipher(spec.cipher), nodeKey(spec.cipher, key), iv);
  const encrypted = Buffer.concat([cipher.update(spec.content), cipher.final()]);
  const pub = importSpkiDer(spkiOf(spec.recipient));
  if (pub.asymmetricKeyType !== 'rsa') throw new PkiError('bad-key', 'the recipient certificate has no RSA key (key transport needs RSA)');
  const kt = spec.keyTransport ?? 'pkcs1';
  let ktAlg: Buffer;
  let encryptedKey: Buffer;
  if (kt === 'pkcs1') {
    ktAlg = seq(oid(OID.rsaEncryption), NULL_DER);
    encryptedKey = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, key);
  } else {
    // RSAES-OAEP-params (RFC 4055 §4.1): hashFunc [0], maskGenFunc [1] (MGF1 with the same hash)
    const hashAlg = seq(oid(DIGEST_OID[kt.hash]));
    ktAlg = seq(oid(CMS_OID.rsaesOaep), kt.hash === 'sha1' ? seq() : seq(explicit(0, hashAlg), explicit(1, seq(oid(CMS_OID.mgf1), hashAlg))));
    encryptedKey = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: kt.hash }, key);
  }
  const ktri = seq(integer(0), issuerAndSerialDer(issuerAndSerialOf(spec.recipient)), ktAlg, octetString(encryptedKey));
  const eci = seq(oid(CMS_OID.data), seq(oid(c.oid), octetString(iv)), implicit(0, encrypted));
  return contentInfo(CMS_OID.envelopedData, seq(integer(0), set(ktri), eci));
}

/** Reads a ContentInfo holding an EnvelopedData with key transport recipients. */
export function parseEnvelopedData(der: Buffer): EnvelopedData {
  try {
    return readEnvelopedData(der);
  } catch (e) {
    if (e instanceof PkiError && e.code === 'bad-der' && !e.message.startsWith('not a valid CMS message')) throw bad(e.message);
    throw e;
  }
}

function readEnvelopedData(der: Buffer): EnvelopedData {
  const ci = readContentInfo(der);
  if (ci.type !== CMS_OID.envelopedData) throw bad(`content type ${ci.type} is not envelopedData`);
  const ed = ci.content;
  if (ed.tag !== TAG.SEQUENCE) throw bad('EnvelopedData is not a SEQUENCE');
  const f = new FieldReader(der, ed, 'EnvelopedData');
  const version = readInteger(der, f.next(TAG.INTEGER, 'version'));
  if (version < 0n || version > 4n) throw bad(`EnvelopedData version ${version}`);
  f.optional(0xa0, 'originatorInfo');
  const riSet = listOf(der, f.next(TAG.SET, 'recipientInfos'), TAG.SET, 'recipientInfos', 1);
  if (riSet.length > CMS_LIMITS.recipients) throw unsupported(`more than ${CMS_LIMITS.recipients} recipients`);
  const eciT = f.next(TAG.SEQUENCE, 'encryptedContentInfo');
  f.optional(0xa1, 'unprotectedAttrs');
  f.end();
  const recipients: KeyTransRecipient[] = [];
  for (const ri of riSet) {
    // KeyTransRecipientInfo is the untagged SEQUENCE choice; the others are tagged (§6.2)
    if (ri.tag !== TAG.SEQUENCE) continue;
    const r = new FieldReader(der, ri, 'KeyTransRecipientInfo');
    const v = readInteger(der, r.next(TAG.INTEGER, 'version'));
    const rid = readIdentifier(der, r.next(undefined, 'rid'), 'rid');
    if ((rid.kind === 'issuerAndSerial' && v !== 0n) || (rid.kind === 'subjectKeyIdentifier' && v !== 2n)) {
      throw bad(`KeyTransRecipientInfo version ${v} does not match its rid`);
    }
    const alg = readAlgorithm(der, r.next(TAG.SEQUENCE, 'keyEncryptionAlgorithm'), 'keyEncryptionAlgorithm');
    const ek = r.next(TAG.OCTET_STRING, 'encryptedKey');
    r.end();
    recipients.push({ rid, scheme: keyTransportScheme(der, alg), encryptedKey: Buffer.from(der.subarray(ek.contentStart, ek.end)) });
  }
  if (recipients.length === 0) throw unsupported('no key transport recipient (only RSA key transport is supported)');
  const e = new FieldReader(der, eciT, 'EncryptedContentInfo');
  const contentType = readOid(der, e.next(TAG.OID, 'contentType'));
  const calg = readAlgorithm(der, e.next(TAG.SEQUENCE, 'contentEncryptionAlgorithm'), 'contentEncryptionAlgorithm');
  // encryptedContent [0] IMPLICIT OCTET STRING: primitive, or (Go's pkcs7) constructed around
  // OCTET STRING segments, as BER allows for strings (X.690 §8.7.3)
  const enc = e.optional(0x80, 'encryptedContent') ?? e.optional(0xa0, 'encryptedContent');
  e.end();
  if (!enc) throw unsupported('the encrypted content is detached');
  const cipher = CIPHER_BY_OID[calg.oid];
  if (!cipher) throw unsupported(`content encryption algorithm ${calg.oid} is not supported`);
  // The IV is the parameters' OCTET STRING (RFC 3565 §4.1, RFC 8018 B.2.1–2)
  if (!calg.params || calg.params.tag !== TAG.OCTET_STRING) throw bad('the content encryption IV is missing');
  const iv = Buffer.from(der.subarray(calg.params.contentStart, calg.params.end));
  if (iv.length !== CIPHER[cipher].ivLen) throw bad(`an IV of ${iv.length} octets for ${cipher}`);
  const encryptedContent = enc.tag === 0x80
    ? Buffer.from(der.subarray(enc.contentStart, enc.end))
    : Buffer.concat(listOf(der, enc, 0xa0, 'encryptedContent', 1).map((seg) => {
      if (seg.tag !== TAG.OCTET_STRING) throw bad('a segment of the encrypted content is not an OCTET STRING');
      return der.subarray(seg.contentStart, seg.end);
    }));
  if (encryptedContent.length === 0 || encryptedContent.length % CIPHER[cipher].ivLen !== 0) throw bad('the encrypted content is not whole cipher blocks');
  return { recipients, contentType, cipher, iv, encryptedContent };
}

function keyTransportScheme(der: Buffer, alg: { oid: string; params?: Tlv }): KeyTransRecipient['scheme'] {
  if (alg.oid === OID.rsaEncryption) {
    if (alg.params && alg.params.tag !== TAG.NULL) throw bad('rsaEncryption parameters must be NULL');
    return { kind: 'pkcs1' };
  }
  if (alg.oid !== CMS_OID.rsaesOaep) throw unsupported(`key transport algorithm ${alg.oid} is not supported`);
  // RSAES-OAEP-params ::= SEQUENCE { hashFunc [0] DEFAULT sha1, maskGenFunc [1] DEFAULT mgf1SHA1,
  //   pSourceFunc [2] DEFAULT pSpecifiedEmpty } (RFC 4055 §4.1)
  let hash: CmsDigest = 'sha1';
  let mgfHash: CmsDigest = 'sha1';
  let label = Buffer.alloc(0);
  if (alg.params) {
    if (alg.params.tag !== TAG.SEQUENCE) throw bad('RSAES-OAEP-params is not a SEQUENCE');
    const p = new FieldReader(der, alg.params, 'RSAES-OAEP-params');
    const h = p.optional(0xa0, 'hashFunc');
    const m = p.optional(0xa1, 'maskGenFunc');
    const s = p.optional(0xa2, 'pSourceFunc');
    p.end();
    const inner = (t: Tlv, what: string) => {
      const r = new FieldReader(der, t, what);
      const a = readAlgorithm(der, r.next(TAG.SEQUENCE, what), what);
      r.end();
      return a;
    };
    const digestOf = (o: string): CmsDigest => {
      const d = DIGEST_BY_OID[o];
      if (!d || d === 'md5') throw unsupported(`OAEP with digest ${o} is not supported`);
      return d;
    };
    if (h) hash = digestOf(inner(h, 'hashFunc').oid);
    if (m) {
      const mgf = inner(m, 'maskGenFunc');
      if (mgf.oid !== CMS_OID.mgf1 || !mgf.params || mgf.params.tag !== TAG.SEQUENCE) throw unsupported('OAEP mask generation other than MGF1');
      mgfHash = digestOf(readAlgorithm(der, mgf.params, 'MGF1 hash').oid);
    }
    if (s) {
      const src = inner(s, 'pSourceFunc');
      if (src.oid !== CMS_OID.pSpecified || !src.params || src.params.tag !== TAG.OCTET_STRING) throw unsupported('OAEP label source other than pSpecified');
      label = Buffer.from(der.subarray(src.params.contentStart, src.params.end));
    }
  }
  // node:crypto uses one hash for OAEP and MGF1
  if (hash !== mgfHash) throw unsupported('OAEP with different hash and MGF1 hash is not supported');
  return { kind: 'oaep', hash, label };
}

/**
 * The raw RSA private operation (m = c^d mod n, no padding), k octets out: how the CMS code
 * reaches a private key. The default runs it here; a service may run it on worker threads.
 */
export type RsaPrivateOperation = (input: Buffer) => Buffer | Promise<Buffer>;

export function rsaPrivateOperation(privateKey: KeyObject): RsaPrivateOperation {
  return (input) => privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, input);
}

/** A secret of this process: the key from which bad PKCS#1 blocks get their stand-in keys. */
const REJECTION_SECRET = randomBytes(32);

/**
 * EME-PKCS1-v1_5 decoding (RFC 8017 §7.2.2 step 3) of an encrypted key of `want` octets, in
 * constant time: the block 00 02 PS 00 M with at least 8 non-zero PS octets and M of the length
 * the content cipher needs. A bad block gives a key derived from the ciphertext (implicit
 * rejection), never an error, so neither the answer nor its timing tells a forger anything.
 * `valid` says which one it was, for tests only.
 */
export function decodePkcs1KeyBlock(em: Buffer, ciphertext: Buffer, want: number): { key: Buffer; valid: boolean } {
  const k = em.length;
  let good = ((em[0]! | 0) === 0 ? 1 : 0) & ((em[1]! | 0) === 2 ? 1 : 0);
  let zeroIndex = 0;
  let looking = 1;
  for (let i = 2; i < k; i++) {
    const isZero = ((em[i]! - 1) >>> 31) & 1; // 1 when em[i] === 0
    const first = isZero & looking;
    zeroIndex |= -first & i;
    looking &= 1 - isZero;
  }
  good &= 1 - looking; // a separator exists
  good &= ((9 - zeroIndex) >>> 31) & 1; // zeroIndex >= 10: at least 8 octets of PS
  good &= (((k - zeroIndex - 1) ^ want) === 0) ? 1 : 0;
  const synthetic = createHmac('sha256', REJECTION_SECRET).update(ciphertext).digest();
  const fallback = want <= synthetic.length ? synthetic.subarray(0, want) : Buffer.concat([synthetic, createHmac('sha256', REJECTION_SECRET).update(synthetic).digest()]).subarray(0, want);
  const mask = -good & 0xff;
  const key = Buffer.alloc(want);
  const start = k - want;
  for (let i = 0; i < want; i++) key[i] = (em[start + i]! & mask) | (fallback[i]! & ~mask & 0xff);
  return { key, valid: good === 1 };
}

/** The content-encryption key of a recipient (RSA private key of the recipient certificate). */
async function unwrapKey(r: KeyTransRecipient, want: number, op: RsaPrivateOperation, privateKey?: KeyObject): Promise<{ key: Buffer; valid: boolean }> {
  if (r.scheme.kind === 'oaep') {
    if (!privateKey) throw unsupported('OAEP decryption needs the private key');
    try {
      const key = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: r.scheme.hash, oaepLabel: r.scheme.label }, r.encryptedKey);
      if (key.length !== want) throw new Error('length');
      return { key, valid: true };
    } catch {
      throw new PkiError('bad-key', 'the content-encryption key cannot be decrypted');
    }
  }
  let em: Buffer;
  try {
    em = await op(r.encryptedKey);
  } catch {
    // c >= n, or a ciphertext of the wrong length: visible from the public key alone
    throw new PkiError('bad-key', 'the content-encryption key cannot be decrypted');
  }
  return decodePkcs1KeyBlock(em, r.encryptedKey, want);
}

export interface DecryptOptions {
  /** The recipient's certificate (DER): its recipient entry is chosen by issuer and serial or SKI. */
  certificate: Buffer;
  /** Its subjectKeyIdentifier bytes, when it has one. */
  ski?: Buffer;
  privateKey: KeyObject;
  /** Where the raw RSA operation runs (default: here). */
  rsa?: RsaPrivateOperation;
}

/** The content of an EnvelopedData for one of its recipients. */
export async function decryptEnvelopedData(env: EnvelopedData, opts: DecryptOptions): Promise<{ content: Buffer; keyValid: boolean }> {
  const r = env.recipients.find((x) => identifies(x.rid, opts.certificate, opts.ski));
  if (!r) throw new PkiError('bad-key', 'the message is not encrypted for this certificate');
  const bits = opts.privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (opts.privateKey.asymmetricKeyType !== 'rsa') throw new PkiError('bad-key', 'the recipient key is not an RSA key');
  if (r.encryptedKey.length !== Math.ceil(bits / 8)) throw new PkiError('bad-key', 'the content-encryption key cannot be decrypted');
  const want = CIPHER[env.cipher].keyLen;
  const { key, valid } = await unwrapKey(r, want, opts.rsa ?? rsaPrivateOperation(opts.privateKey), opts.privateKey);
  try {
    const d = createDecipheriv(nodeCipher(env.cipher), nodeKey(env.cipher, key), env.iv);
    return { content: Buffer.concat([d.update(env.encryptedContent), d.final()]), keyValid: valid };
  } catch {
    throw new PkiError('bad-key', 'the content cannot be decrypted');
  }
}

/** node:crypto names; single DES runs as DES-EDE3 with K‖K‖K (see the header). */
const nodeCipher = (c: CmsCipher): string => (c === 'des-cbc' ? 'des-ede3-cbc' : c);
const nodeKey = (c: CmsCipher, key: Buffer): Buffer => (c === 'des-cbc' ? Buffer.concat([key, key, key]) : key);
