// /radius (manual "RADIUS", RADIUS client; properties as terraform-routeros's routeros_radius
// resource reads and writes them): the RADIUS servers the router's services ask. The 802.1X
// authenticator (/interface dot1x server, src/services/dot1x.ts) relays its clients' EAP to the
// first enabled server whose `service` names dot1x; the router's own logins (/user aaa
// use-radius=yes, src/services/radius-client.ts) ask those whose `service` names login; nothing
// else of rospki asks RADIUS yet (docs/compatibility.md). `secret` is sensitive (sealed, hidden
// like every password); `certificate` is the client certificate of RadSec (RFC 6614), spoken
// through radsecproxy for dot1x only.

import { boolType, durationType, enumSetType, enumType, intType, ipAddressType, refType, stringType } from '../menu/proptypes.js';
import type { MenuDecl, PropertyDecl } from '../menu/types.js';
import type { RowData } from '../store/store.js';
import { CERT_PATH } from './certificate/properties.js';
import { commentProperty, disabledNo, enabledRow } from './interface/common.js';

export const RADIUS_PATH = '/radius';
export const RADIUS_INCOMING_PATH = '/radius/incoming';

/** Services that may use a RADIUS server (7.x; `dot1x` since 7.x's dot1x server). */
export const RADIUS_SERVICES = ['ppp', 'login', 'hotspot', 'wireless', 'dhcp', 'ipsec', 'dot1x'] as const;

/** The properties a service reads (src/services/dot1x.ts). */
export const RADIUS = {
  service: { name: 'service', type: enumSetType(RADIUS_SERVICES), default: [], help: 'Services that use this server' } as PropertyDecl<string[]>,
  address: { name: 'address', type: ipAddressType, required: true, help: 'IPv4 or IPv6 address of the RADIUS server' } as PropertyDecl<string>,
  secret: { name: 'secret', type: stringType, default: '', sensitive: true, help: 'Shared secret' } as PropertyDecl<string>,
  authenticationPort: { name: 'authentication-port', type: intType(0, 65535), default: 1812 } as PropertyDecl<number>,
  accountingPort: { name: 'accounting-port', type: intType(0, 65535), default: 1813 } as PropertyDecl<number>,
  timeout: { name: 'timeout', type: durationType(0, 3600e9), default: 300e6, help: 'Time after which a request is sent again' } as PropertyDecl<number>,
  protocol: { name: 'protocol', type: enumType(['udp', 'radsec']), default: 'udp', help: 'udp, or RadSec (RADIUS over TLS)' } as PropertyDecl<string>,
  certificate: { name: 'certificate', type: refType(CERT_PATH, { none: true }), default: 0, help: 'Client certificate for RadSec' } as PropertyDecl<number>,
  srcAddress: { name: 'src-address', type: ipAddressType, help: 'Source address of the requests' } as PropertyDecl<string>,
  disabled: disabledNo,
};

export const radiusEnabled = enabledRow(RADIUS.disabled);
/** Whether a server serves `service` and is enabled. */
export const radiusServes = (row: RowData, service: (typeof RADIUS_SERVICES)[number]): boolean =>
  radiusEnabled(row) && (row[RADIUS.service.name] as string[] | undefined ?? []).includes(service);

export const radiusMenu: MenuDecl = {
  path: RADIUS_PATH,
  kind: 'list',
  help: 'RADIUS servers',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  // The manual's print; the secret is never a column (sensitive).
  columns: ['service', 'called-id', 'domain', 'address'],
  properties: [
    RADIUS.service,
    { name: 'called-id', type: stringType, default: '' },
    { name: 'domain', type: stringType, default: '' },
    RADIUS.address,
    RADIUS.secret,
    RADIUS.authenticationPort,
    RADIUS.accountingPort,
    RADIUS.timeout,
    { name: 'accounting-backup', type: boolType, default: false, help: 'This server is the backup for accounting' },
    { name: 'realm', type: stringType, default: '', help: 'Realm appended to user names' },
    RADIUS.srcAddress,
    RADIUS.protocol,
    RADIUS.certificate,
    RADIUS.disabled,
    commentProperty,
  ],
};

/** /radius incoming: RADIUS Disconnect and CoA requests (RFC 5176); held, not served. */
export const radiusIncomingMenu: MenuDecl = {
  path: RADIUS_INCOMING_PATH,
  kind: 'singleton',
  help: 'Unsolicited RADIUS requests (CoA, Disconnect)',
  verbs: ['print', 'get', 'set', 'export'],
  properties: [
    { name: 'accept', type: boolType, default: false },
    { name: 'port', type: intType(0, 65535), default: 3799 },
    { name: 'vrf', type: enumType(['main']), default: 'main' },
  ],
};

export const RADIUS_MENUS: readonly MenuDecl[] = [radiusMenu, radiusIncomingMenu];
