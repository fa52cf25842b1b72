// What a /certificate row shows about a real certificate (spec §2.1): read from the DER once
// when it is signed or imported, kept in the row so print and where never parse DER again.

import { hash } from 'node:crypto';
import { propValue } from '../../menu/generic.js';
import type { RowData } from '../../store/store.js';
import { CERT, keyTypeOfSize } from './properties.js';
import { formatName, isKeySize, type CertInfo, type IssuedCertificate } from '../../pki/index.js';

/** Row fields describing a certificate; the template fields follow the certificate's subject. */
export function certificateFacts(info: CertInfo): RowData {
  const s = info.subject;
  const facts: RowData = {
    'common-name': s.commonName ?? '',
    'subject-alt-name': info.subjectAltName,
    issuer: info.issuer,
    'key-type': info.keyType,
    'key-size': isKeySize(info.keySize) ? info.keySize : info.keySize,
    'key-usage': info.keyUsage,
    'days-valid': info.daysValid,
    'digest-algorithm': info.digest,
    'invalid-before': info.notBefore,
    'invalid-after': info.notAfter,
    'serial-number': info.serialNumber.toLowerCase(),
    // RouterOS shows akid="" on self-signed roots (spec §2.1) even when the extension is present.
    akid: info.selfSigned ? '' : info.akid,
    skid: info.skid,
    fingerprint: info.fingerprint,
    authority: info.isCA,
    crl: info.crlDistributionPoints.length > 0,
  };
  if (s.country) facts.country = s.country;
  if (s.state) facts.state = s.state;
  if (s.locality) facts.locality = s.locality;
  if (s.organization) facts.organization = s.organization;
  if (s.unit) facts.unit = s.unit;
  return facts;
}

/** Template fields that a signed certificate no longer has from its template. */
export const SUBJECT_FIELDS = ['country', 'state', 'locality', 'organization', 'unit'] as const;

/**
 * The same facts for a certificate rospki just issued from a template, without parsing the
 * DER again (the issuing hot path): everything is known from the template and the issuer.
 * A test checks that this equals certificateFacts(parseCertificate(der)).
 */
export function issuedFacts(template: RowData, issued: IssuedCertificate, issuerText: string | undefined, hasCdp: boolean): RowData {
  const facts: RowData = {
    issuer: issuerText ?? formatName(issued.subjectNameDer),
    'key-type': keyTypeOfSize(propValue(CERT.keySize, template)),
    'days-valid': Math.round((issued.notAfter - issued.notBefore) / 86_400_000),
    'invalid-before': issued.notBefore,
    'invalid-after': issued.notAfter,
    'serial-number': issued.serialHex.toLowerCase(),
    akid: issuerText === undefined ? '' : issued.akid,
    skid: issued.skid,
    fingerprint: hash('sha256', issued.der, 'hex'),
    authority: issued.isCA,
    crl: hasCdp,
  };
  return facts;
}
