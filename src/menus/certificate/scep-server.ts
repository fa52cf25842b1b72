// /certificate scep-server (spec §4.3): the SCEP servers of local CAs, as configuration. Scripts
// read it (eworm's check-certificates skips certificates a SCEP server renews:
// `/certificate/scep-server/find where ca-cert=…`) and exports carry its lines
// (`/certificate scep-server add ca-cert=ca@CHR days-valid=365 path=/scep/grant …`).
//
// rospki does not answer SCEP yet: an enabled server shows `status: not running: SCEP is not
// implemented yet`. Its sub-menus (otp, requests, ra) are not here.

import { failure } from '../../errors.js';
import { statusProperty } from '../../menu/not-running.js';
import { boolType, durationType, intType, refType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropertyDecl } from '../../menu/types.js';
import type { RowData } from '../../store/store.js';
import { CERT_PATH } from './properties.js';

export const SCEP_SERVER_PATH = '/certificate/scep-server';

/** `request-lifetime`: 5m up to the largest time RouterOS takes (2^32-1 seconds, `7101w3d6h28m15s`). */
const REQUEST_LIFETIME = durationType(5 * 60e9, 4294967295e9);

const disabled: PropertyDecl<boolean> = { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' };
const caCert: PropertyDecl<number> = {
  name: 'ca-cert', type: refType(CERT_PATH, { onRemove: 'cascade' }), required: true,
  help: 'CA (with its private key) that signs what the server issues',
};

const enabled = (row: RowData): boolean => row[disabled.name] !== true;

export const scepServerMenu: MenuDecl = {
  path: SCEP_SERVER_PATH,
  kind: 'list',
  help: 'SCEP servers of local CAs',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'export'],
  properties: [
    caCert,
    // Rollover: the CA advertised by GetNextCACert; removing it leaves none (the one rule for bindings).
    { name: 'next-ca-cert', type: refType(CERT_PATH, { none: true }), default: 0, help: 'CA that replaces ca-cert (GetNextCACert)' },
    { name: 'path', type: stringType, required: true, unique: true, help: 'URL path on www and www-ssl, starting with /scep/' },
    { name: 'days-valid', type: intType(1, 36500), default: 365, help: 'Validity of issued certificates in days' },
    { name: 'request-lifetime', type: REQUEST_LIFETIME, default: 5 * 60e9, help: 'How long a pending request is kept' },
    disabled,
    statusProperty('SCEP', enabled),
  ],
  columns: ['ca-cert', 'path', 'days-valid', 'request-lifetime'],
  validate(row, tx) {
    const path = String(row.path ?? '');
    if (!/^\/scep\/[^/\s]+/.test(path)) throw failure('path must start with /scep/');
    // Both CAs sign: a certificate without its key could not (spec §4.3 "must have key").
    for (const name of [caCert.name, 'next-ca-cert']) {
      const id = row[name];
      if (typeof id !== 'number' || id === 0) continue;
      const cert = tx.get(CERT_PATH, id)?.data;
      if (!cert || cert.authority !== true || cert['private-key'] !== true) throw failure(`${name} must be a CA certificate with a private key`);
    }
  },
};
