// PKCS#10 certification requests (RFC 2986): building one from RouterOS template fields and
// reading (and verifying) one made elsewhere. Attributes per RFC 2985 §5.4.1 (challengePassword)
// and §5.4.2 (extensionRequest). The extensions requested are the same ones issueCertificate
// writes (subjectAltName, keyUsage, extendedKeyUsage, basicConstraints).

import { createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  TAG, bitString, children, encodingOf, expectTlv, integer, oid, octetString, readInteger, readOid, readString, readTlv, seq,
  seqOf, set, tlv, utf8String, isPrintableString, printableString, TRUE_DER, type Tlv,
} from './der.js';
import { PkiError } from './errors.js';
import { exportSpkiDer } from './key.js';
import { decodeKeyUsage, encodeExtendedKeyUsageValue, encodeKeyUsageValue, parseKeyUsage, type KeyUsageName } from './key-usage.js';
import { encodeName, formatName, parseName, type SubjectFields } from './name.js';
import { OID } from './oids.js';
import { decodeGeneralNames, encodeGeneralNames, formatSubjectAltName, parseSubjectAltName, type GeneralName } from './san.js';
import { signatureAlgorithm, type Digest } from './certificate.js';
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
    if (e instanceof PkiError) throw e;
    throw bad((e as Error).message);
  }
}

function parse(der: Buffer): CsrInfo {
  const outer = readTlv(der, 0);
  if (outer.tag !== TAG.SEQUENCE) throw bad('not a SEQUENCE');
  if (outer.end !== der.length) throw bad('trailing data');
  const [infoT, algT, sigT] = children(der, outer);
  if (!infoT || !algT || !sigT || infoT.tag !== TAG.SEQUENCE || sigT.tag !== TAG.BIT_STRING) throw bad('wrong structure');
  const [versionT, subjectT, spkiT, attrsT] = children(der, infoT);
  if (!versionT || versionT.tag !== TAG.INTEGER || readInteger(der, versionT) !== 0n) throw bad('version is not 1');
  if (!subjectT || subjectT.tag !== TAG.SEQUENCE || !spkiT || spkiT.tag !== TAG.SEQUENCE) throw bad('missing subject or public key');
  const key = spkiInfo(der, spkiT);
  const publicKey = Buffer.from(encodingOf(der, spkiT));
  let challengePassword: string | undefined;
  let extsT: Tlv | undefined;
  if (attrsT) {
    if (attrsT.tag !== 0xa0) throw bad('attributes are not [0]');
    for (const a of children(der, attrsT)) {
      const [typeT, valuesT] = children(der, a);
      if (!typeT || !valuesT || valuesT.tag !== TAG.SET) throw bad('attribute');
      const type = readOid(der, typeT);
      const [v] = children(der, valuesT);
      if (!v) continue;
      if (type === CSR_OID.challengePassword) challengePassword = readString(der, v);
      else if (type === CSR_OID.extensionRequest) extsT = v;
    }
  }
  let san: GeneralName[] = [];
  let ku: Buffer | undefined, eku: Buffer | undefined;
  let requestsCA = false;
  if (extsT) {
    for (const e of children(der, expectTlv(der, extsT.start, extsT.end, TAG.SEQUENCE, 'Extensions'))) {
      const parts = children(der, e);
      const o = readOid(der, parts[0]!);
      const valT = parts[parts.length - 1]!;
      if (valT.tag !== TAG.OCTET_STRING) throw bad(`extension ${o} without a value`);
      const value = der.subarray(valT.contentStart, valT.end);
      if (o === OID.subjectAltName) san = decodeGeneralNames(value);
      else if (o === OID.keyUsage) ku = value;
      else if (o === OID.extKeyUsage) eku = value;
      else if (o === OID.basicConstraints) {
        for (const t of children(value, readTlv(value, 0))) if (t.tag === TAG.BOOLEAN) requestsCA = value[t.contentStart] !== 0;
      }
    }
  }
  const sigOid = readOid(der, readTlv(der, algT.contentStart, algT.end));
  const digest = DIGEST_BY_OID[sigOid] ?? sigOid;
  let signatureValid = false;
  if (DIGEST_BY_OID[sigOid]) {
    try {
      const pub = createPublicKey({ key: publicKey, format: 'der', type: 'spki' });
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
