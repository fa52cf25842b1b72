// 802.1X (services spec §5.1, §5.2): `/interface dot1x client` (the supplicant, whose EAP-TLS
// client certificate is a certificate reference) and `/interface dot1x server` (the
// authenticator, relaying EAP to RADIUS; no certificate of its own).
//
// rospki runs no 802.1X yet (issue 13): a client's read-only `status` says so where RouterOS
// shows `authenticated`, `rejected`, … (and `disabled` for a disabled one); an enabled server
// shows the same status. The interfaces are names: `/interface` of this host is declared
// elsewhere and knows no Ethernet ports to bind to.

import { boolType, durationType, enumSetType, enumType, intType, refType, stringType, bareStringType } from '../../menu/proptypes.js';
import type { MenuDecl } from '../../menu/types.js';
import { CERT_PATH } from '../certificate/properties.js';
import { commentProperty, disabledNo, enabledRow, notRunning, orderedEnumListType, recordPrint, statusProperty } from './common.js';

export const DOT1X_CLIENT_PATH = '/interface/dot1x/client';
export const DOT1X_SERVER_PATH = '/interface/dot1x/server';

export const EAP_METHODS = ['eap-tls', 'eap-ttls', 'eap-peap', 'eap-mschapv2'] as const;

const enabled = enabledRow(disabledNo);

export const dot1xClientMenu: MenuDecl = {
  path: DOT1X_CLIENT_PATH,
  kind: 'list',
  help: '802.1X supplicants',
  key: 'interface',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  // The order of the manual's record print (spec §5.1), `certificate` as 7.12+ names it.
  properties: [
    { name: 'interface', type: bareStringType, required: true, unique: true, help: 'Interface to authenticate on' },
    { name: 'eap-methods', type: orderedEnumListType(EAP_METHODS), help: 'EAP methods, tried in this order' },
    { name: 'identity', type: stringType },
    { name: 'password', type: stringType, sensitive: true, help: 'Password for EAP-TTLS, EAP-PEAP and EAP-MSCHAPv2' },
    { name: 'anon-identity', type: stringType, help: 'Outer identity for EAP-TTLS and EAP-PEAP' },
    { name: 'certificate', type: refType(CERT_PATH, { none: true }), default: 0, help: 'Client certificate for EAP-TLS' },
    disabledNo,
    { name: 'inactive', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'I', sharesColumnWith: 'X' }, compute: () => false },
    commentProperty,
    {
      name: 'status', type: stringType, access: 'ro',
      compute: (row) => (enabled(row) ? notRunning('802.1X') : 'disabled'),
      help: 'authenticated, authenticating, rejected, disabled, … (802.1X does not run yet)',
    },
  ],
  printTable: recordPrint,
};

export const dot1xServerMenu: MenuDecl = {
  path: DOT1X_SERVER_PATH,
  kind: 'list',
  help: '802.1X authenticators',
  key: 'interface',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  properties: [
    { name: 'interface', type: bareStringType, required: true, unique: true, help: 'Interface whose port is authenticated' },
    { name: 'auth-types', type: enumSetType(['dot1x', 'mac-auth']), default: ['dot1x'] },
    { name: 'accounting', type: boolType, default: true },
    { name: 'auth-timeout', type: durationType(), default: 60e9 },
    { name: 'retrans-timeout', type: durationType(), default: 30e9 },
    { name: 'reauth-timeout', type: durationType() },
    { name: 'interim-update', type: durationType(), default: 0 },
    { name: 'guest-vlan-id', type: intType(1, 4094) },
    { name: 'reject-vlan-id', type: intType(1, 4094) },
    { name: 'server-fail-vlan-id', type: intType(1, 4094) },
    { name: 'mac-auth-mode', type: enumType(['mac-as-username', 'mac-as-username-and-password']), default: 'mac-as-username' },
    { name: 'radius-mac-format', type: enumType(['XX-XX-XX-XX-XX-XX', 'XX:XX:XX:XX:XX:XX', 'XXXXXXXXXXXX', 'xx-xx-xx-xx-xx-xx', 'xx:xx:xx:xx:xx:xx', 'xxxxxxxxxxxx']), default: 'XX:XX:XX:XX:XX:XX' },
    disabledNo,
    commentProperty,
    statusProperty('802.1X', enabled),
  ],
  printTable: recordPrint,
};

export const DOT1X_MENUS: readonly MenuDecl[] = [dot1xClientMenu, dot1xServerMenu];
