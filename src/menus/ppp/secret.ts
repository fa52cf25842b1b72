// /ppp secret (services spec §2.5): the users of OpenVPN, SSTP and the other PPP tunnels. The
// password is sensitive (§9.2): left out of print, REST, the API and export unless
// show-sensitive with the `sensitive` policy. The OpenVPN server checks its logins here
// (pppLogin), and records the last login and logout in the read-only properties.

import { createHash, timingSafeEqual } from 'node:crypto';
import { propValue } from '../../menu/generic.js';
import { dateType, enumType, intType, stringType, bareStringType, refType } from '../../menu/proptypes.js';
import type { MenuDecl, PropertyDecl } from '../../menu/types.js';
import type { ReadTx, WriteTx } from '../../store/store.js';
import { builtinRef, commentProperty, disabledNo, ensureBuiltinRows } from '../interface/common.js';
import { PPP_PROFILE_PATH } from './profile.js';

export const PPP_SECRET_PATH = '/ppp/secret';

export const PPP_SERVICES = ['any', 'async', 'l2tp', 'ovpn', 'pppoe', 'pptp', 'sstp'] as const;

const SECRET = {
  name: { name: 'name', type: stringType, required: true, unique: true, help: 'User name' } as PropertyDecl<string>,
  service: { name: 'service', type: enumType(PPP_SERVICES), default: 'any', help: 'Tunnels this user may use' } as PropertyDecl<string>,
  password: { name: 'password', type: stringType, default: '', sensitive: true, help: 'Password of the user' } as PropertyDecl<string>,
  lastLoggedOut: { name: 'last-logged-out', type: dateType, access: 'ro' } as PropertyDecl<number>,
  lastCallerId: { name: 'last-caller-id', type: stringType, access: 'ro' } as PropertyDecl<string>,
  lastDisconnectReason: { name: 'last-disconnect-reason', type: stringType, access: 'ro' } as PropertyDecl<string>,
  disabled: disabledNo,
};

export type PppService = (typeof PPP_SERVICES)[number];

export type PppLogin = { ok: true } | { ok: false; reason: string };

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
/** Compared whatever the name, so the time taken does not tell whether a user exists. */
const NO_PASSWORD = digest('\0no such user\0');

/**
 * Whether `user` may log in to `service` with `password`: an enabled secret of that name whose
 * service is `any` or the tunnel's. `reason` is for /log only (never tell the peer which part
 * was wrong).
 */
export function pppLogin(tx: ReadTx, user: string, password: string, service: PppService): PppLogin {
  if (user === '') return { ok: false, reason: 'no user name given' };
  const row = tx.findBy(PPP_SECRET_PATH, SECRET.name.name, user)[0];
  const same = timingSafeEqual(digest(password), row ? digest(propValue(SECRET.password, row.data)) : NO_PASSWORD);
  if (!row) return { ok: false, reason: `user ${user} authentication failed` };
  if (propValue(SECRET.disabled, row.data)) return { ok: false, reason: `user ${user} is disabled` };
  const allowed = propValue(SECRET.service, row.data);
  if (allowed !== 'any' && allowed !== service) return { ok: false, reason: `user ${user} may not use ${service}` };
  if (!same) return { ok: false, reason: `user ${user} authentication failed` };
  return { ok: true };
}

/** Records a login (`last-caller-id`) or a logout (`last-logged-out`, `last-disconnect-reason`). */
export function recordPppSession(tx: WriteTx, user: string, event: { callerId: string } | { loggedOut: number; reason: string }): void {
  const row = tx.findBy(PPP_SECRET_PATH, SECRET.name.name, user)[0];
  if (!row) return;
  const data = { ...row.data };
  if ('callerId' in event) data[SECRET.lastCallerId.name] = event.callerId;
  else {
    data[SECRET.lastLoggedOut.name] = event.loggedOut;
    data[SECRET.lastDisconnectReason.name] = event.reason;
  }
  tx.update(PPP_SECRET_PATH, row.id, data);
}

export const pppSecretMenu: MenuDecl = {
  path: PPP_SECRET_PATH,
  kind: 'list',
  help: 'PPP users',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  columns: ['name', 'service', 'profile', 'remote-address'],
  properties: [
    SECRET.name,
    SECRET.service,
    { name: 'caller-id', type: stringType, default: '' },
    SECRET.password,
    { name: 'profile', type: refType(PPP_PROFILE_PATH), default: builtinRef(PPP_PROFILE_PATH, 'default'), help: 'PPP profile' },
    { name: 'local-address', type: bareStringType },
    { name: 'remote-address', type: bareStringType, help: 'Address given to the user' },
    { name: 'routes', type: stringType, default: '' },
    { name: 'ipv6-routes', type: stringType, default: '' },
    { name: 'limit-bytes-in', type: intType(0, 2 ** 53), default: 0 },
    { name: 'limit-bytes-out', type: intType(0, 2 ** 53), default: 0 },
    SECRET.lastLoggedOut,
    SECRET.lastCallerId,
    SECRET.lastDisconnectReason,
    SECRET.disabled,
    commentProperty,
  ],
  async prepare(env) {
    await ensureBuiltinRows(env, PPP_PROFILE_PATH);
  },
};
