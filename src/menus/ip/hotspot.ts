// /ip hotspot profile (services spec §7.1): captive-portal profiles, built-in `default` (flag
// `*`); `ssl-certificate` is the certificate of the HTTPS login (`https` in `login-by`).
// rospki has no hotspot servers (`/ip hotspot` itself): a profile is configuration only.

import { boolType, durationType, enumSetType, enumType, refType, stringType, bareStringType } from '../../menu/proptypes.js';
import type { MenuDecl } from '../../menu/types.js';
import { CERT_PATH } from '../certificate/properties.js';
import { commentProperty, defaultFlag, ensureBuiltinRows, recordPrint, refuseBuiltinRemove } from '../interface/common.js';

export const HOTSPOT_PROFILE_PATH = '/ip/hotspot/profile';

export const LOGIN_BY = ['mac', 'cookie', 'http-chap', 'https', 'http-pap', 'trial', 'mac-cookie'] as const;

export const hotspotProfileMenu: MenuDecl = {
  path: HOTSPOT_PROFILE_PATH,
  kind: 'list',
  help: 'Hotspot server profiles',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'comment', 'export'],
  // The order of the 7.x record print (`name="default" hotspot-address=… dns-name="" html-directory=…`).
  properties: [
    { name: 'name', type: stringType, required: true, unique: true },
    { name: 'hotspot-address', type: bareStringType, default: '0.0.0.0' },
    { name: 'dns-name', type: stringType, default: '', detail: 'always', help: 'Name of the login page (what the certificate should name)' },
    { name: 'html-directory', type: bareStringType, default: 'hotspot' },
    { name: 'html-directory-override', type: stringType, default: '' },
    { name: 'rate-limit', type: stringType, default: '' },
    { name: 'http-proxy', type: bareStringType, default: '0.0.0.0:0' },
    { name: 'smtp-server', type: bareStringType, default: '0.0.0.0' },
    { name: 'login-by', type: enumSetType(LOGIN_BY), default: ['cookie', 'http-chap'], help: 'Login methods; https uses ssl-certificate' },
    { name: 'ssl-certificate', type: refType(CERT_PATH, { none: true }), default: 0, help: 'Certificate of the HTTPS login page' },
    { name: 'http-cookie-lifetime', type: durationType(), default: 3 * 86400e9 },
    { name: 'split-user-domain', type: boolType, default: false },
    { name: 'install-hotspot-queue', type: boolType, default: false },
    { name: 'trial-uptime-limit', type: durationType(), default: 30 * 60e9 },
    { name: 'trial-uptime-reset', type: durationType(), default: 86400e9 },
    { name: 'trial-user-profile', type: bareStringType, default: 'default' },
    { name: 'use-radius', type: boolType, default: false },
    { name: 'radius-accounting', type: boolType, default: true },
    { name: 'radius-interim-update', type: bareStringType, default: 'received' },
    { name: 'nas-port-type', type: bareStringType, default: 'wireless-802.11' },
    { name: 'radius-default-domain', type: stringType, default: '' },
    { name: 'radius-location-id', type: stringType, default: '' },
    { name: 'radius-location-name', type: stringType, default: '' },
    { name: 'radius-mac-format', type: enumType(['XX-XX-XX-XX-XX-XX', 'XX:XX:XX:XX:XX:XX', 'XXXXXXXXXXXX', 'xx-xx-xx-xx-xx-xx', 'xx:xx:xx:xx:xx:xx', 'xxxxxxxxxxxx']), default: 'XX:XX:XX:XX:XX:XX' },
    { name: 'mac-auth-mode', type: enumType(['mac-as-username', 'mac-as-username-and-password']), default: 'mac-as-username' },
    { name: 'mac-auth-password', type: stringType, sensitive: true },
    commentProperty,
    defaultFlag,
  ],
  defaults: [{ name: 'default' }],
  printTable: recordPrint,
  beforeRemove: refuseBuiltinRemove(HOTSPOT_PROFILE_PATH, 'profile'),
  async prepare(env) {
    await ensureBuiltinRows(env, HOTSPOT_PROFILE_PATH);
  },
};
