// What a /certificate row shows about a real certificate (spec §2.1): read from the DER once
// when it is signed or imported, kept in the row so print and where never parse DER again.

import type { RowData } from '../../store/store.js';
import { isKeySize, type CertInfo } from '../../pki/index.js';

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
    'serial-number': info.serialNumber,
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
