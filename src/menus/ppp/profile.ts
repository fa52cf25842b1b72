// /ppp profile (services spec §2.5): the PPP settings OpenVPN, SSTP and the other tunnels hand to
// their users; built-in `default` and `default-encryption` (flag `*`), printed as records.

import { durationType, enumType, stringType, bareStringType } from '../../menu/proptypes.js';
import type { MenuDecl } from '../../menu/types.js';
import { addressListType, commentProperty, defaultFlag, ensureBuiltinRows, recordPrint, refuseBuiltinRemove } from '../interface/common.js';

export const PPP_PROFILE_PATH = '/ppp/profile';

const defaultNoYes = enumType(['default', 'no', 'yes']);
const defaultNoYesRequired = enumType(['default', 'no', 'yes', 'required']);

export const pppProfileMenu: MenuDecl = {
  path: PPP_PROFILE_PATH,
  kind: 'list',
  help: 'PPP profiles',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'comment', 'export'],
  // Declared in the 7.2x record order (spec §2.5: ` 0 * name="default" bridge-learning=default …`).
  properties: [
    { name: 'name', type: stringType, required: true, unique: true, help: 'Profile name' },
    { name: 'local-address', type: bareStringType, help: 'Address (or pool) of the router end of the tunnel' },
    { name: 'remote-address', type: bareStringType, help: 'Address (or pool) given to the client' },
    { name: 'dns-server', type: addressListType, help: 'DNS servers given to the client' },
    { name: 'bridge-learning', type: defaultNoYes, default: 'default' },
    { name: 'use-ipv6', type: enumType(['yes', 'no', 'default', 'required']), default: 'yes' },
    { name: 'use-mpls', type: defaultNoYesRequired, default: 'default' },
    { name: 'use-compression', type: defaultNoYes, default: 'default' },
    { name: 'use-encryption', type: defaultNoYesRequired, default: 'default' },
    { name: 'only-one', type: defaultNoYes, default: 'default' },
    { name: 'change-tcp-mss', type: defaultNoYes, default: 'default' },
    { name: 'use-upnp', type: defaultNoYes, default: 'default' },
    { name: 'rate-limit', type: bareStringType },
    { name: 'session-timeout', type: durationType() },
    { name: 'idle-timeout', type: durationType() },
    { name: 'address-list', type: stringType, default: '', detail: 'always' },
    { name: 'on-up', type: stringType, default: '', detail: 'always', help: 'Script run when a user connects' },
    { name: 'on-down', type: stringType, default: '', detail: 'always', help: 'Script run when a user disconnects' },
    commentProperty,
    defaultFlag,
  ],
  defaults: [
    { name: 'default', 'change-tcp-mss': 'yes' },
    { name: 'default-encryption', 'change-tcp-mss': 'yes', 'use-encryption': 'yes' },
  ],
  printTable: recordPrint,
  beforeRemove: refuseBuiltinRemove(PPP_PROFILE_PATH, 'profile'),
  async prepare(env) {
    await ensureBuiltinRows(env, PPP_PROFILE_PATH);
  },
};
