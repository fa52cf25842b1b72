// /certificate (spec §1): templates, signed and imported certificates, flags K L C A I/R E T a D.

import { argumentError } from '../../errors.js';
import type { MenuDecl } from '../../menu/types.js';
import { CERT_COLUMNS, CERT_PATH, certificateProperties } from './properties.js';
import { signCommand } from './sign.js';
import { exportCertificateCommand } from './export.js';
import { importCommand } from './import.js';
import { createCertificateRequestCommand, signCertificateRequestCommand } from './requests.js';
import { issuedRevokeCommand } from './revoke.js';
import { addScepCommand, scepRenewCommand } from './scep-client.js';
import { ACME_COMMANDS } from './acme.js';

export const certificateMenu: MenuDecl = {
  path: CERT_PATH,
  kind: 'list',
  help: 'Certificates',
  key: 'name',
  // Certificates and keys are never part of /export (spec services §9.2, §9.3); `/certificate
  // export` writes the menus below it (settings, crl).
  verbs: ['print', 'get', 'set', 'add', 'remove', 'find'],
  properties: certificateProperties,
  columns: CERT_COLUMNS,
  commands: [
    signCommand, importCommand, exportCertificateCommand, createCertificateRequestCommand, signCertificateRequestCommand, issuedRevokeCommand,
    addScepCommand, scepRenewCommand, ...ACME_COMMANDS,
  ],
  validate(row) {
    // A row is identified by its name in every client (clients.md #19): it must have one.
    if (typeof row.name !== 'string' || row.name === '') {
      throw argumentError('missing value of name');
    }
  },
};
