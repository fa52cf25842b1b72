// /interface wifi security (services spec §5.3): security profiles of the wifi package, whose
// `eap-tls-certificate` is a certificate reference. Like RouterOS's wifi menus, a property not
// set on a profile is absent (it is inherited where the profile is used), so nothing here has
// a default. rospki has no radios: these profiles are configuration only.

import { boolType, enumSetType, enumType, refType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl } from '../../menu/types.js';
import { CERT_PATH } from '../certificate/properties.js';
import { commentProperty } from './common.js';

export const WIFI_SECURITY_PATH = '/interface/wifi/security';

export const wifiSecurityMenu: MenuDecl = {
  path: WIFI_SECURITY_PATH,
  kind: 'list',
  help: 'Wi-Fi security profiles',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'comment', 'export'],
  columns: ['name', 'authentication-types', 'eap-methods', 'eap-tls-certificate'],
  properties: [
    { name: 'name', type: stringType, required: true, unique: true, help: 'Profile name' },
    { name: 'authentication-types', type: enumSetType(['wpa-psk', 'wpa2-psk', 'wpa-eap', 'wpa2-eap', 'wpa3-psk', 'owe', 'wpa3-eap', 'wpa3-eap-192']) },
    { name: 'encryption', type: enumSetType(['ccmp', 'ccmp-256', 'gcmp', 'gcmp-256', 'tkip']) },
    { name: 'passphrase', type: stringType, sensitive: true, help: 'Pre-shared key of the PSK methods' },
    { name: 'eap-methods', type: enumSetType(['peap', 'tls', 'ttls']) },
    { name: 'eap-username', type: stringType },
    { name: 'eap-password', type: stringType, sensitive: true },
    { name: 'eap-anonymous-identity', type: stringType },
    { name: 'eap-tls-certificate', type: refType(CERT_PATH, { none: true }), help: 'Client certificate for EAP-TLS' },
    { name: 'eap-certificate-mode', type: enumType(['dont-verify-certificate', 'no-certificates', 'verify-certificate', 'verify-certificate-with-crl']), help: 'How the RADIUS server certificate is checked' },
    { name: 'eap-accounting', type: boolType },
    { name: 'management-protection', type: enumType(['disabled', 'allowed', 'required']) },
    commentProperty,
  ],
};
