// /user — accounts for the console and, later, the network services. Passwords are kept only
// as salted slow hashes (scrypt); the default admin has an empty password, which network
// logins refuse.

import { createHash } from 'node:crypto';
import { failure, notEnoughPermissions } from '../../errors.js';
import { boolType, dateType, prefixListType, refType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, Policy, PropType } from '../../menu/types.js';
import { valueToString } from '../../menu/values.js';
import type { ReadTx, RowData } from '../../store/store.js';
import { hashPassword } from '../../store/password.js';
import { GROUP_PATH } from './group.js';

export const USER_PATH = '/user';

/** Write-only: stored as a hash, never shown. An empty password stays empty (no login over the network). */
const passwordType: PropType<string> = {
  help: 'string',
  quoted: true,
  parse: (v) => {
    const text = valueToString(v);
    return text === '' ? '' : hashPassword(text);
  },
  display: () => '',
  api: () => '',
  script: () => undefined,
};

/** Whether `held` includes every policy of `wanted`. */
export function holdsAll(held: ReadonlySet<Policy>, wanted: Iterable<Policy>): boolean {
  for (const p of wanted) if (!held.has(p)) return false;
  return true;
}

/** The policies of a group row (by id), or none. */
export function groupPolicies(tx: ReadTx, groupId: unknown): Policy[] {
  const group = typeof groupId === 'number' ? tx.get(GROUP_PATH, groupId) : undefined;
  return (group?.data.policy as Policy[] | undefined) ?? [];
}

/**
 * Nobody reaches more than they hold (issue 11): managing a user needs `policy` (the verbs) and
 * may only touch users whose group grants nothing the caller lacks, before and after the change
 * — so a policy user without `sensitive` can neither make a `full` user nor take over admin.
 */
export function mayManageUser(tx: ReadTx, user: RowData | undefined, policies: ReadonlySet<Policy>): void {
  if (user && !holdsAll(policies, groupPolicies(tx, user.group))) throw notEnoughPermissions();
}

export const userMenu: MenuDecl = {
  path: USER_PATH,
  kind: 'list',
  help: 'Users',
  key: 'name',
  // Users are not part of /export on RouterOS 7 (the 7.24.4 export has /user group, aaa and
  // settings only); `/user export` writes the menus below it.
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment'],
  writePolicy: ['policy'],
  authorize({ before, after }, tx, call) {
    mayManageUser(tx, before, call.policies);
    mayManageUser(tx, after, call.policies);
  },
  columns: ['name', 'group', 'address', 'last-logged-in'],
  properties: [
    { name: 'name', type: stringType, required: true, unique: true },
    { name: 'group', type: refType(GROUP_PATH), required: true },
    { name: 'address', type: prefixListType, default: [] },
    { name: 'password', type: passwordType, access: 'wo', default: '' },
    { name: 'last-logged-in', type: dateType, access: 'ro' },
    { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' },
    { name: 'comment', type: stringType },
  ],
  beforeRemove(id, tx) {
    const users = tx.list(USER_PATH);
    const self = users.find((u) => u.id === id);
    const fullGroup = tx.list(GROUP_PATH).find((g) => g.data.name === 'full')?.id;
    const admins = users.filter((u) => u.data.group === fullGroup && !u.data.disabled);
    if (self && self.data.group === fullGroup && admins.length <= 1) {
      throw failure('can not remove the last full user');
    }
  },
};

/** What changes when the user's password does (AccessControl.stamp): a digest of its hash. */
export function credentialStamp(tx: ReadTx, name: string): string | undefined {
  const hash = tx.findBy(USER_PATH, 'name', name)[0]?.data.password;
  return typeof hash === 'string' ? createHash('sha256').update(hash).digest('base64').slice(0, 16) : undefined;
}

/** The policies of a user's group, or undefined when the user does not exist or is disabled. */
export function userPolicies(tx: ReadTx, name: string): Set<Policy> | undefined {
  const user = tx.findBy(USER_PATH, 'name', name)[0];
  if (!user || user.data.disabled) return undefined;
  const group = tx.get(GROUP_PATH, Number(user.data.group));
  return new Set((group?.data.policy as Policy[] | undefined) ?? []);
}
