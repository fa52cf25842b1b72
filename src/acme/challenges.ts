// What a client answers challenges with: the HTTP-01 resource (RFC 8555 §8.3), the TLS-ALPN-01
// certificate (RFC 8737 §3: a self-signed certificate whose only subjectAltName is the name being
// validated, with the critical acmeIdentifier extension holding SHA-256 of the key authorization)
// and RFC 9773 §4.1's certificate identifier for renewal information and `replaces`.

import { createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { bitString, explicit, integer, octetString, oid, seq, seqOf, time, TRUE_DER } from '../pki/der.js';
import { encodeName, encodeGeneralNames, exportSpkiDer, parseCertificate, randomSerial, signatureAlgorithm } from '../pki/index.js';
import { OID } from '../pki/oids.js';

/** RFC 8555 §8.3: where the HTTP-01 resource lives. */
export const HTTP01_PATH = '/.well-known/acme-challenge/';

/** RFC 8737 §6.2: the ALPN protocol of the validation handshake. */
export const ACME_TLS_ALPN = 'acme-tls/1';

/** RFC 8737 §6.1: id-pe-acmeIdentifier. */
const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

/** RFC 8555 §8.3: a token is base64url (no padding); anything else is refused before use. */
export const isToken = (token: string): boolean => /^[A-Za-z0-9_-]{16,256}$/.test(token);

export interface AlpnCertificate {
  der: Buffer;
  key: KeyObject;
}

/**
 * The TLS-ALPN-01 certificate for `name` (RFC 8737 §3). `now` is the router clock; the validity
 * is a week around it (validators do not judge it, RFC 8737 §3 says nothing about it).
 */
export function tlsAlpnCertificate(name: string, keyAuthorization: string, now: number): AlpnCertificate {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const digest = createHash('sha256').update(keyAuthorization).digest();
  const sigAlg = signatureAlgorithm('ec', 'sha256');
  const subject = encodeName({ commonName: 'ACME TLS-ALPN-01 challenge' });
  const extensions = seqOf([
    seq(oid(OID.subjectAltName), octetString(encodeGeneralNames([{ type: 'DNS', value: name }]))),
    // Authorization ::= OCTET STRING (SIZE (32)), inside the extension's own OCTET STRING.
    seq(oid(ACME_IDENTIFIER_OID), TRUE_DER, octetString(octetString(digest))),
  ]);
  const day = 86_400_000;
  const tbs = seq(
    explicit(0, integer(2)), integer(randomSerial()), sigAlg, subject,
    seq(time(Math.floor((now - day) / 1000) * 1000), time(Math.floor((now + 7 * day) / 1000) * 1000)),
    subject, exportSpkiDer(privateKey), explicit(3, extensions),
  );
  const der = seq(tbs, sigAlg, bitString(cryptoSign('sha256', tbs, privateKey)));
  return { der, key: privateKey };
}

/**
 * RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial INTEGER contents). Undefined
 * for a certificate without an authority key identifier.
 */
export function renewalCertId(certDer: Buffer): string | undefined {
  const info = parseCertificate(certDer);
  if (!info.akid) return undefined;
  let serial = Buffer.from(info.serialNumber.length % 2 ? `0${info.serialNumber}` : info.serialNumber, 'hex');
  // DER INTEGER contents: a leading zero octet keeps a value with its top bit set positive.
  if (serial[0]! & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${Buffer.from(info.akid, 'hex').toString('base64url')}.${serial.toString('base64url')}`;
}
