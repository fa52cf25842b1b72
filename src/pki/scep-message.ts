// SCEP messages (RFC 8894 §3): a pkiMessage is a CMS SignedData whose signed attributes carry
// messageType, transactionID, senderNonce, recipientNonce, pkiStatus and failInfo (§3.2.1), and
// whose content, when there is one, is the pkcsPKIEnvelope: an EnvelopedData around the
// messageData (§3.2.2) — a PKCS#10 request (PKCSReq, RenewalReq), IssuerAndSubject (CertPoll),
// IssuerAndSerialNumber (GetCert, GetCRL), or in a CertRep a degenerate SignedData with the
// certificate or CRL (§3.3.2).
//
// Reading never judges: parsePkiMessage returns what a message says and whether its signature
// holds, so a server can still answer a bad one with a signed FAILURE that carries the client's
// nonce and transaction (§3.3.2.2).

import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { berToDer, needsNormalising } from './ber.js';
import {
  CMS_OID, certificateInfo, certificatePublicKey, createDegenerate, createEnvelopedData, decryptEnvelopedData,
  issuerAndSerialOf, parseEnvelopedData, parseSignedData, prepareSignedData, signNow, signerCertificate, verifySigner,
  type CmsAttribute, type CmsCipher, type CmsDigest, type CmsSignerInfo, type EnvelopedData, type RsaPrivateOperation, type SignedData,
  type UnsignedData,
} from './cms.js';
import { FieldReader, TAG, encodingOf, octetString, readString, readTlv, seq, tlv, utf8String } from './der.js';
import { PkiError } from './errors.js';

export const SCEP_OID = {
  messageType: '2.16.840.1.113733.1.9.2',
  pkiStatus: '2.16.840.1.113733.1.9.3',
  failInfo: '2.16.840.1.113733.1.9.4',
  senderNonce: '2.16.840.1.113733.1.9.5',
  recipientNonce: '2.16.840.1.113733.1.9.6',
  transactionID: '2.16.840.1.113733.1.9.7',
  /** id-scep-failInfoText (RFC 8894 §3.2.1.4.5: id-scep 24 1). */
  failInfoText: '1.3.6.1.5.5.7.24.1',
} as const;

/** messageType values (§3.2.1.2). */
export const MESSAGE_TYPE = {
  CertRep: '3', RenewalReq: '17', PKCSReq: '19', CertPoll: '20', GetCert: '21', GetCRL: '22',
} as const;
export type MessageType = keyof typeof MESSAGE_TYPE;
const TYPE_BY_CODE: Record<string, MessageType> = Object.fromEntries(Object.entries(MESSAGE_TYPE).map(([k, v]) => [v, k as MessageType]));

/** pkiStatus values (§3.2.1.3). */
export const PKI_STATUS = { SUCCESS: '0', FAILURE: '2', PENDING: '3' } as const;
export type PkiStatus = keyof typeof PKI_STATUS;
const STATUS_BY_CODE: Record<string, PkiStatus> = Object.fromEntries(Object.entries(PKI_STATUS).map(([k, v]) => [v, k as PkiStatus]));

/** failInfo values (§3.2.1.4). */
export const FAIL_INFO = { badAlg: '0', badMessageCheck: '1', badRequest: '2', badTime: '3', badCertId: '4' } as const;
export type FailInfo = keyof typeof FAIL_INFO;
const FAIL_BY_CODE: Record<string, FailInfo> = Object.fromEntries(Object.entries(FAIL_INFO).map(([k, v]) => [v, k as FailInfo]));

/** Nonces are 16 octets (§3.2.1.5); more than this is refused. */
const MAX_NONCE = 64;
const MAX_TRANSACTION_ID = 128;

const bad = (what: string) => new PkiError('bad-der', `not a valid SCEP message: ${what}`);

export interface PkiMessage {
  /** The DER read (BER input is rewritten first). */
  der: Buffer;
  signed: SignedData;
  signer: CmsSignerInfo;
  /** The signer's certificate, from the message or from the certificates the reader knows. */
  signerCertificate?: Buffer;
  /** The signature holds (for signerCertificate's key), with the messageDigest. */
  signatureValid: boolean;
  /** Known type name, or undefined for a code this reader does not know (see messageTypeCode). */
  messageType?: MessageType;
  messageTypeCode: string;
  transactionId: string;
  senderNonce?: Buffer;
  recipientNonce?: Buffer;
  pkiStatus?: PkiStatus;
  failInfo?: FailInfo;
  failInfoText?: string;
  digest: CmsDigest | 'md5';
}

function stringValue(values: Buffer[] | undefined, what: string, max: number): string | undefined {
  if (!values) return undefined;
  if (values.length !== 1) throw bad(`${what} has ${values.length} values`);
  const v = values[0]!;
  const t = readTlv(v, 0);
  if (t.end !== v.length) throw bad(`${what} is malformed`);
  if (![TAG.PRINTABLE_STRING, TAG.UTF8_STRING, TAG.IA5_STRING].includes(t.tag as never)) throw bad(`${what} is not a string`);
  const s = readString(v, t);
  if (s.length > max) throw bad(`${what} is longer than ${max} characters`);
  return s;
}

function octetValue(values: Buffer[] | undefined, what: string): Buffer | undefined {
  if (!values) return undefined;
  if (values.length !== 1) throw bad(`${what} has ${values.length} values`);
  const v = values[0]!;
  const t = readTlv(v, 0);
  if (t.tag !== TAG.OCTET_STRING || t.end !== v.length) throw bad(`${what} is not an OCTET STRING`);
  const n = t.end - t.contentStart;
  if (n === 0 || n > MAX_NONCE) throw bad(`${what} of ${n} octets`);
  return Buffer.from(v.subarray(t.contentStart, t.end));
}

/**
 * Reads a pkiMessage: the SignedData, its one signer, the SCEP attributes and the signature
 * check. `knownCertificates`: certificates the reader already has (a CertRep's signer may leave
 * its own out). Throws PkiError only when the message cannot be read at all.
 */
export function parsePkiMessage(input: Buffer, knownCertificates: readonly Buffer[] = []): PkiMessage {
  let der: Buffer;
  try {
    der = needsNormalising(input) ? berToDer(input) : input;
  } catch (e) {
    if (e instanceof PkiError) throw bad(e.message);
    throw e;
  }
  const signed = parseSignedData(der);
  if (signed.contentType !== CMS_OID.data) throw bad(`content type ${signed.contentType} (expected id-data)`);
  if (signed.signers.length !== 1) throw bad(`${signed.signers.length} signers (expected one)`);
  const signer = signed.signers[0]!;
  if (!signer.signedAttributesDer) throw bad('no signed attributes');
  const a = signer.attributes;
  const messageTypeCode = stringValue(a.get(SCEP_OID.messageType), 'messageType', 8);
  if (messageTypeCode === undefined) throw bad('no messageType');
  const transactionId = stringValue(a.get(SCEP_OID.transactionID), 'transactionID', MAX_TRANSACTION_ID);
  if (transactionId === undefined || transactionId === '') throw bad('no transactionID');
  const statusCode = stringValue(a.get(SCEP_OID.pkiStatus), 'pkiStatus', 8);
  const failCode = stringValue(a.get(SCEP_OID.failInfo), 'failInfo', 8);
  const pool = [...signed.certificates, ...knownCertificates];
  const signerCert = signerCertificate({ ...signed, certificates: pool }, signer, subjectKeyIdentifier);
  let signatureValid = false;
  if (signerCert) {
    try {
      signatureValid = verifySigner(signed, signer, certificatePublicKey(signerCert));
    } catch {
      signatureValid = false;
    }
  }
  return {
    der, signed, signer, signerCertificate: signerCert, signatureValid,
    messageType: TYPE_BY_CODE[messageTypeCode], messageTypeCode, transactionId,
    senderNonce: octetValue(a.get(SCEP_OID.senderNonce), 'senderNonce'),
    recipientNonce: octetValue(a.get(SCEP_OID.recipientNonce), 'recipientNonce'),
    pkiStatus: statusCode === undefined ? undefined : STATUS_BY_CODE[statusCode] ?? badValue('pkiStatus', statusCode),
    failInfo: failCode === undefined ? undefined : FAIL_BY_CODE[failCode] ?? badValue('failInfo', failCode),
    failInfoText: stringValue(a.get(SCEP_OID.failInfoText), 'failInfoText', 1024),
    digest: signer.digest,
  };
}

function badValue(what: string, value: string): never {
  throw bad(`${what} "${value.replace(/[^\x20-\x7e]/g, '?')}" is not defined`);
}

/** The subjectKeyIdentifier of a certificate (for signers named by it), undefined when it has none. */
function subjectKeyIdentifier(cert: Buffer): Buffer | undefined {
  try {
    const skid = certificateInfo(cert).skid;
    return skid ? Buffer.from(skid, 'hex') : undefined;
  } catch {
    return undefined;
  }
}

/** The pkcsPKIEnvelope of a message (its content as an EnvelopedData). */
export function messageEnvelope(msg: PkiMessage): EnvelopedData {
  if (msg.signed.content === undefined) throw bad('the message has no content');
  const content = msg.signed.content;
  let der: Buffer;
  try {
    der = needsNormalising(content) ? berToDer(content) : content;
  } catch (e) {
    if (e instanceof PkiError) throw bad(e.message);
    throw e;
  }
  return parseEnvelopedData(der);
}

export interface OpenedMessageData {
  data: Buffer;
  cipher: CmsCipher;
  /** For tests: whether the key block decrypted cleanly (see decodePkcs1KeyBlock). */
  keyValid: boolean;
}

/** Decrypts a message's pkcsPKIEnvelope with the recipient's certificate and key. */
export async function openMessageData(msg: PkiMessage, recipient: { certificate: Buffer; ski?: Buffer; privateKey: KeyObject; rsa?: RsaPrivateOperation }): Promise<OpenedMessageData> {
  const env = messageEnvelope(msg);
  const { content, keyValid } = await decryptEnvelopedData(env, recipient);
  return { data: content, cipher: env.cipher, keyValid };
}

// ---------------------------------------------------------------------------------------------
// messageData forms

/** IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name } (§3.3.3). */
export function encodeIssuerAndSubject(issuer: Buffer, subject: Buffer): Buffer {
  return seq(issuer, subject);
}

export function parseIssuerAndSubject(der: Buffer): { issuer: Buffer; subject: Buffer } {
  const t = readTlv(der, 0);
  if (t.tag !== TAG.SEQUENCE || t.end !== der.length) throw bad('IssuerAndSubject is not a SEQUENCE');
  const f = new FieldReader(der, t, 'IssuerAndSubject');
  const issuer = f.next(TAG.SEQUENCE, 'issuer');
  const subject = f.next(TAG.SEQUENCE, 'subject');
  f.end();
  return { issuer: Buffer.from(encodingOf(der, issuer)), subject: Buffer.from(encodingOf(der, subject)) };
}

/** IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER } (§3.3.4, §3.3.5). */
export function parseIssuerAndSerial(der: Buffer): { issuer: Buffer; serial: Buffer } {
  const t = readTlv(der, 0);
  if (t.tag !== TAG.SEQUENCE || t.end !== der.length) throw bad('IssuerAndSerialNumber is not a SEQUENCE');
  const f = new FieldReader(der, t, 'IssuerAndSerialNumber');
  const issuer = f.next(TAG.SEQUENCE, 'issuer');
  const serial = f.next(TAG.INTEGER, 'serialNumber');
  f.end();
  return { issuer: Buffer.from(encodingOf(der, issuer)), serial: Buffer.from(encodingOf(der, serial)) };
}

export function encodeIssuerAndSerial(cert: Buffer): Buffer {
  const id = issuerAndSerialOf(cert);
  return seq(id.issuer, id.serial);
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface MessageSigner {
  certificate: Buffer;
  privateKey: KeyObject;
  digest: CmsDigest;
}

export interface PkiMessageSpec {
  messageType: MessageType;
  transactionId: string;
  senderNonce: Buffer;
  recipientNonce?: Buffer;
  pkiStatus?: PkiStatus;
  failInfo?: FailInfo;
  failInfoText?: string;
  /** The pkcsPKIEnvelope (EnvelopedData ContentInfo DER), when the message has content. */
  envelope?: Buffer;
  signer: MessageSigner;
  /** More certificates to include beside the signer's. */
  certificates?: readonly Buffer[];
}

const printable = (s: string): Buffer => tlv(TAG.PRINTABLE_STRING, Buffer.from(s, 'latin1'));

/** A signed pkiMessage (§3.2). */
export function createPkiMessage(spec: PkiMessageSpec): Buffer {
  return signNow(preparePkiMessage(spec), spec.signer.privateKey);
}

/** A pkiMessage up to its signature (cms.ts prepareSignedData). */
export function preparePkiMessage(spec: PkiMessageSpec): UnsignedData {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]{1,128}$/.test(spec.transactionId)) throw new PkiError('bad-der', 'transactionID must be PrintableString text');
  const attrs: CmsAttribute[] = [
    { oid: SCEP_OID.messageType, values: [printable(MESSAGE_TYPE[spec.messageType])] },
    { oid: SCEP_OID.transactionID, values: [printable(spec.transactionId)] },
    { oid: SCEP_OID.senderNonce, values: [octetString(spec.senderNonce)] },
  ];
  if (spec.recipientNonce) attrs.push({ oid: SCEP_OID.recipientNonce, values: [octetString(spec.recipientNonce)] });
  if (spec.pkiStatus) attrs.push({ oid: SCEP_OID.pkiStatus, values: [printable(PKI_STATUS[spec.pkiStatus])] });
  if (spec.failInfo) attrs.push({ oid: SCEP_OID.failInfo, values: [printable(FAIL_INFO[spec.failInfo])] });
  if (spec.failInfoText) attrs.push({ oid: SCEP_OID.failInfoText, values: [utf8String(spec.failInfoText)] });
  return prepareSignedData({
    content: spec.envelope,
    certificates: spec.certificates,
    signer: { ...spec.signer, attributes: attrs, rsaSignatureOid: 'rsaEncryption' },
  });
}

export const newNonce = (): Buffer => randomBytes(16);

/** The transactionID a client uses for a key: the SHA-256 of its public key, hex (§3.2.1.1). */
export function transactionIdFor(spki: Buffer): string {
  return createHash('sha256').update(spki).digest('hex').toUpperCase();
}

export interface RequestSpec {
  messageType: 'PKCSReq' | 'RenewalReq' | 'CertPoll' | 'GetCert' | 'GetCRL';
  transactionId: string;
  /** The messageData: a CSR, IssuerAndSubject or IssuerAndSerialNumber. */
  messageData: Buffer;
  /** The CA or RA certificate the request is encrypted for. */
  recipient: Buffer;
  cipher: CmsCipher;
  signer: MessageSigner;
  senderNonce?: Buffer;
}

/** A client's request: messageData enveloped for the CA/RA, signed by the client (§3.3.1). */
export function createRequest(spec: RequestSpec): { der: Buffer; senderNonce: Buffer } {
  const senderNonce = spec.senderNonce ?? newNonce();
  const envelope = createEnvelopedData({ content: spec.messageData, recipient: spec.recipient, cipher: spec.cipher });
  const der = createPkiMessage({ messageType: spec.messageType, transactionId: spec.transactionId, senderNonce, envelope, signer: spec.signer });
  return { der, senderNonce };
}

export interface CertRepSpec {
  transactionId: string;
  /** The request's senderNonce, sent back as recipientNonce (§3.2.1.5). */
  recipientNonce?: Buffer;
  status: PkiStatus;
  failInfo?: FailInfo;
  failInfoText?: string;
  /** SUCCESS: the certificates (issued first) or CRLs of the degenerate reply. */
  certificates?: readonly Buffer[];
  crls?: readonly Buffer[];
  /** SUCCESS: the certificate whose key the reply is encrypted for (the request's signer). */
  recipient?: Buffer;
  cipher?: CmsCipher;
  signer: MessageSigner;
  /** Certificates beside the signer's (an RA's CA). */
  extraCertificates?: readonly Buffer[];
}

/** A CertRep (§3.3.2): SUCCESS with the enveloped degenerate SignedData, else no content. */
export function createCertRep(spec: CertRepSpec): Buffer {
  return signNow(prepareCertRep(spec), spec.signer.privateKey);
}

/** A CertRep up to its signature (cms.ts prepareSignedData). */
export function prepareCertRep(spec: CertRepSpec): UnsignedData {
  let envelope: Buffer | undefined;
  if (spec.status === 'SUCCESS') {
    if (!spec.recipient || !spec.cipher) throw new PkiError('bad-key', 'a SUCCESS reply needs a recipient certificate and a cipher');
    const inner = createDegenerate(spec.certificates ?? [], spec.crls ?? []);
    envelope = createEnvelopedData({ content: inner, recipient: spec.recipient, cipher: spec.cipher });
  }
  return preparePkiMessage({
    messageType: 'CertRep', transactionId: spec.transactionId, senderNonce: newNonce(), recipientNonce: spec.recipientNonce,
    pkiStatus: spec.status, failInfo: spec.status === 'FAILURE' ? spec.failInfo ?? 'badRequest' : undefined,
    failInfoText: spec.status === 'FAILURE' ? spec.failInfoText : undefined,
    envelope, signer: spec.signer, certificates: spec.extraCertificates,
  });
}

/** The certificates and CRLs of a CertRep's decrypted content (a degenerate SignedData). */
export function degenerateContents(der: Buffer): { certificates: Buffer[]; crls: Buffer[] } {
  let input = der;
  try {
    input = needsNormalising(der) ? berToDer(der) : der;
  } catch (e) {
    if (e instanceof PkiError) throw bad(e.message);
    throw e;
  }
  const sd = parseSignedData(input);
  return { certificates: sd.certificates, crls: sd.crls };
}
