// /ppp secret (services spec §2.5): the users of OpenVPN, SSTP and the other PPP tunnels. The
// password is sensitive (§9.2): left out of print, REST, the API and export unless
// show-sensitive with the `sensitive` policy.

import { dateType, enumType, intType, stringType, bareStringType, refType } from '../../menu/proptypes.js';
import type { MenuDecl } from '../../menu/types.js';
import { builtinRef, commentProperty, disabledNo, ensureBuiltinRows } from '../interface/common.js';
import { PPP_PROFILE_PATH } from './profile.js';

export const PPP_SECRET_PATH = '/ppp/secret';

export const PPP_SERVICES = ['any', 'async', 'l2tp', 'ovpn', 'pppoe', 'pptp', 'sstp'] as const;

export const pppSecretMenu: MenuDecl = {
  path: PPP_SECRET_PATH,
  kind: 'list',
  help: 'PPP users',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  columns: ['name', 'service', 'profile', 'remote-address'],
  properties: [
    { name: 'name', type: stringType, required: true, unique: true, help: 'User name' },
    { name: 'service', type: enumType(PPP_SERVICES), default: 'any', help: 'Tunnels this user may use' },
    { name: 'caller-id', type: stringType, default: '' },
    { name: 'password', type: stringType, default: '', sensitive: true, help: 'Password of the user' },
    { name: 'profile', type: refType(PPP_PROFILE_PATH), default: builtinRef(PPP_PROFILE_PATH, 'default'), help: 'PPP profile' },
    { name: 'local-address', type: bareStringType },
    { name: 'remote-address', type: bareStringType, help: 'Address given to the user' },
    { name: 'routes', type: stringType, default: '' },
    { name: 'ipv6-routes', type: stringType, default: '' },
    { name: 'limit-bytes-in', type: intType(0, 2 ** 53), default: 0 },
    { name: 'limit-bytes-out', type: intType(0, 2 ** 53), default: 0 },
    { name: 'last-logged-out', type: dateType, access: 'ro' },
    { name: 'last-caller-id', type: stringType, access: 'ro' },
    { name: 'last-disconnect-reason', type: stringType, access: 'ro' },
    disabledNo,
    commentProperty,
  ],
  async prepare(env) {
    await ensureBuiltinRows(env, PPP_PROFILE_PATH);
  },
};
