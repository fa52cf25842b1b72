// PKCS#10 certification requests (RFC 2986): building one from RouterOS template fields and
// reading (and verifying) one made elsewhere. Attributes per RFC 2985 §5.4.1 (challengePassword)
// and §5.4.2 (extensionRequest). The extensions requested are the same ones issueCertificate
// writes (subjectAltName, keyUsage, extendedKeyUsage, basicConstraints).

import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  FieldReader, TAG, bitString, checkTree, children, encodingOf, integer, listOf, oid, octetString, readAlgorithm, readInteger, readOid, readString, readTlv, seq,
  seqOf, set, tlv, utf8String, isPrintableString, printableString, TRUE_DER, type Tlv,
} from './der.js';
import { PkiError } from './errors.js';
import { exportSpkiDer, importSpkiDer } from './key.js';
import { decodeKeyUsage, encodeExtendedKeyUsageValue, encodeKeyUsageValue, parseKeyUsage, type KeyUsageName } from './key-usage.js';
import { encodeName, formatName, parseName, type SubjectFields } from './name.js';
import { OID } from './oids.js';
import { decodeGeneralNames, encodeGeneralNames, formatSubjectAltName, parseSubjectAltName, type GeneralName } from './san.js';
import { readExtensions, signatureAlgorithm, type Digest } from './certificate.js';
import { spkiInfo } from './spki.js';

export const CSR_OID = {
  challengePassword: '1.2.840.113549.1.9.7',
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

export interface CsrSpec {
  subject: SubjectFields;
  /** RouterOS text (`DNS:a,IP:1.2.3.4`); empty = none. */
  subjectAltName?: string;
  /** RouterOS key-usage names; empty = no KU/EKU requested. */
  keyUsage?: string | readonly string[];
  challengePassword?: string;
  digest: Digest;
  privateKey: KeyObject;
  /** The matching public key as SPKI DER (saves exporting it from the private key). */
  publicKey?: Buffer;
}

const ext = (o: string, critical: boolean, value: Buffer): Buffer =>
  critical ? seq(oid(o), TRUE_DER, octetString(value)) : seq(oid(o), octetString(value));

/** Builds and signs a PKCS#10 request (DER). */
export function createCsr(spec: CsrSpec): Buffer {
  const keyType = spec.privateKey.asymmetricKeyType;
  if (keyType !== 'rsa' && keyType !== 'ec') throw new PkiError('bad-key', `cannot sign a request with a ${keyType ?? 'unknown'} key`);
  const spki = spec.publicKey ?? exportSpkiDer(spec.privateKey);
  const exts: Buffer[] = [];
  const names = spec.keyUsage === undefined ? [] : parseKeyUsage(spec.keyUsage);
  if (names.includes('key-cert-sign')) exts.push(ext(OID.basicConstraints, true, seq(TRUE_DER)));
  const ku = encodeKeyUsageValue(names);
  if (ku) exts.push(ext(OID.keyUsage, true, ku));
  const eku = encodeExtendedKeyUsageValue(names);
  if (eku) exts.push(ext(OID.extKeyUsage, false, eku));
  if (spec.subjectAltName) {
    const gn = parseSubjectAltName(spec.subjectAltName);
    if (gn.length) exts.push(ext(OID.subjectAltName, false, encodeGeneralNames(gn)));
  }
  const attrs: Buffer[] = [];
  if (spec.challengePassword) {
    const pw = isPrintableString(spec.challengePassword) ? printableString(spec.challengePassword) : utf8String(spec.challengePassword);
    attrs.push(seq(oid(CSR_OID.challengePassword), set(pw)));
  }
  if (exts.length) attrs.push(seq(oid(CSR_OID.extensionRequest), set(seqOf(exts))));
  const info = seq(integer(0), encodeName(spec.subject), spki, tlv(0xa0, Buffer.concat(attrs)));
  const sigAlg = signatureAlgorithm(keyType, spec.digest);
  const sig = cryptoSign(spec.digest, info, spec.privateKey);
  return seq(info, sigAlg, bitString(sig));
}

export interface CsrInfo {
  der: Buffer;
  subjectDer: Buffer;
  subjectText: string;
  subject: SubjectFields;
  /** SubjectPublicKeyInfo DER. */
  publicKey: Buffer;
  keyType: string;
  keySize: string;
  challengePassword?: string;
  subjectAltNames: GeneralName[];
  subjectAltName: string;
  /** RouterOS names from the requested keyUsage and extendedKeyUsage ([] when none requested). */
  keyUsage: KeyUsageName[];
  /** Whether keyUsage or extendedKeyUsage was requested at all. */
  requestsKeyUsage: boolean;
  /** basicConstraints cA=TRUE requested. */
  requestsCA: boolean;
  /** The signature is valid for the request's own public key. */
  signatureValid: boolean;
  digest: string;
}

const bad = (what: string) => new PkiError('bad-der', `not a valid certificate request: ${what}`);

const DIGEST_BY_OID: Record<string, string> = {
  [OID.md5WithRSAEncryption]: 'md5', [OID.sha1WithRSAEncryption]: 'sha1', [OID.sha224WithRSAEncryption]: 'sha224',
  [OID.sha256WithRSAEncryption]: 'sha256', [OID.sha384WithRSAEncryption]: 'sha384', [OID.sha512WithRSAEncryption]: 'sha512',
  [OID.ecdsaWithSHA1]: 'sha1', [OID.ecdsaWithSHA224]: 'sha224', [OID.ecdsaWithSHA256]: 'sha256',
  [OID.ecdsaWithSHA384]: 'sha384', [OID.ecdsaWithSHA512]: 'sha512',
};

/** Parses a DER PKCS#10 request and checks its self-signature. */
export function parseCsr(der: Buffer): CsrInfo {
  try {
    return parse(der);
  } catch (e) {
    if (e instanceof PkiError && !e.message.startsWith('not a valid certificate request')) throw bad(e.message);
    throw e;
  }
}

function parse(der: Buffer): CsrInfo {
  // CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING } (RFC 2986 §4.2)
  const outer = readTlv(der, 0);
  if (outer.tag !== TAG.SEQUENCE) throw bad('not a SEQUENCE');
  if (outer.end !== der.length) throw bad('trailing data');
  const o = new FieldReader(der, outer, 'CertificationRequest');
  const infoT = o.next(TAG.SEQUENCE, 'certificationRequestInfo');
  const algT = o.next(TAG.SEQUENCE, 'signatureAlgorithm');
  const sigT = o.next(TAG.BIT_STRING, 'signature');
  o.end();
  checkTree(der, outer);
  // CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject Name,
  //   subjectPKInfo, attributes [0] IMPLICIT SET OF Attribute } (§4.1; OpenSSL and others omit
  //   an empty attributes field, so it is read as optional)
  const f = new FieldReader(der, infoT, 'CertificationRequestInfo');
  if (readInteger(der, f.next(TAG.INTEGER, 'version')) !== 0n) throw bad('version is not 1');
  const subjectT = f.next(TAG.SEQUENCE, 'subject');
  const spkiT = f.next(TAG.SEQUENCE, 'subjectPKInfo');
  const attrsT = f.optional(0xa0);
  f.end();
  const key = spkiInfo(der, spkiT);
  const publicKey = Buffer.from(encodingOf(der, spkiT));
  let pub: KeyObject;
  try {
    pub = importSpkiDer(publicKey);
  } catch (e) {
    throw new PkiError('bad-key', `the request's public key cannot be read: ${(e as Error).message}`, { cause: e });
  }
  let challengePassword: string | undefined;
  let extsT: Tlv | undefined;
  if (attrsT) {
    for (const a of children(der, attrsT)) {
      // Attribute ::= SEQUENCE { type OID, values SET SIZE (1..MAX) OF ANY } (RFC 2985 §5.4)
      if (a.tag !== TAG.SEQUENCE) throw bad('an attribute is not a SEQUENCE');
      const af = new FieldReader(der, a, 'Attribute');
      const type = readOid(der, af.next(TAG.OID, 'type'));
      const values = listOf(der, af.next(TAG.SET, 'values'), TAG.SET, 'attribute values', 1);
      af.end();
      if (type === CSR_OID.challengePassword) challengePassword = readString(der, values[0]!);
      else if (type === CSR_OID.extensionRequest) extsT = values[0];
    }
  }
  let san: GeneralName[] = [];
  let ku: Buffer | undefined, eku: Buffer | undefined;
  let requestsCA = false;
  if (extsT) {
    for (const x of readExtensions(der, extsT)) {
      if (x.oid === OID.subjectAltName) san = decodeGeneralNames(x.value);
      else if (x.oid === OID.keyUsage) ku = x.value;
      else if (x.oid === OID.extKeyUsage) eku = x.value;
      else if (x.oid === OID.basicConstraints) {
        const t = readTlv(x.value, 0);
        if (t.tag !== TAG.SEQUENCE || t.end !== x.value.length) throw bad('malformed basicConstraints');
        checkTree(x.value, t);
        const b = new FieldReader(x.value, t, 'BasicConstraints');
        const ca = b.optional(TAG.BOOLEAN);
        b.optional(TAG.INTEGER);
        b.end();
        requestsCA = ca !== undefined && x.value[ca.contentStart] !== 0;
      }
    }
  }
  const sigOid = readAlgorithm(der, algT, 'signatureAlgorithm').oid;
  const digest = DIGEST_BY_OID[sigOid] ?? sigOid;
  let signatureValid = false;
  if (DIGEST_BY_OID[sigOid]) {
    try {
      signatureValid = cryptoVerify(digest, encodingOf(der, infoT), pub, der.subarray(sigT.contentStart + 1, sigT.end));
    } catch {
      signatureValid = false;
    }
  }
  return {
    der,
    subjectDer: Buffer.from(encodingOf(der, subjectT)),
    subjectText: formatName(der, subjectT),
    subject: parseName(der, subjectT),
    publicKey,
    keyType: key.keyType,
    keySize: key.keySize,
    challengePassword,
    subjectAltNames: san,
    subjectAltName: formatSubjectAltName(san),
    keyUsage: decodeKeyUsage(ku, eku),
    requestsKeyUsage: ku !== undefined || eku !== undefined,
    requestsCA,
    signatureValid,
    digest,
  };
}
