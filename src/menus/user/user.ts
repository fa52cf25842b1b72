// /user — accounts for the console and, later, the network services. Passwords are kept only
// as salted slow hashes (scrypt); the default admin has an empty password, which network
// logins refuse.

import { createHash } from 'node:crypto';
import { failure, notEnoughPermissions } from '../../errors.js';
import { boolType, dateType, durationType, enumType, prefixListType, refType, stringType } from '../../menu/proptypes.js';
import { BUILTIN, propValue } from '../../menu/generic.js';
import type { Environment, MenuDecl, Policy, PropType } from '../../menu/types.js';
import { valueToString } from '../../menu/values.js';
import type { ReadTx, RowData } from '../../store/store.js';
import { hashPassword } from '../../store/password.js';
import { GROUP_PATH } from './group.js';

export const USER_PATH = '/user';
/**
 * The failed-login counts (services/auth.ts), one row per source: `source`, `count`, `last` and
 * `locked-until` (ms since the epoch). Internal: no menu shows it.
 */
export const LOGIN_FAILURES_PATH = '/.login-failures';

/** 7.16+ values (7.22.3 inspect): none, lockscreen (terminals), logout (terminals and API). */
const INACTIVITY_POLICIES = ['none', 'lockscreen', 'logout'] as const;

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

/**
 * Whether the caller may act on what belongs to `owner` (a script, a job, a global): their own,
 * or another user's with the `policy` policy and every policy that user holds — nobody reaches
 * more through someone else's things than they hold themselves (issue 11).
 */
export function mayActFor(tx: ReadTx, call: { readonly session: { readonly user: string }; readonly policies: ReadonlySet<Policy> }, owner: string): boolean {
  return owner === call.session.user || (call.policies.has('policy') && holdsAll(call.policies, userPolicies(tx, owner) ?? []));
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
  // 7.19+: `Columns: NAME, GROUP, LAST-LOGGED-IN, INACTIVITY-POLICY` (a 7.x capture, issue 12).
  columns: ['name', 'group', 'address', 'last-logged-in', 'inactivity-policy'],
  // Detail and terse order of the live 7.23 terse print: `name=admin group=full
  // inactivity-timeout=10m inactivity-policy=none address= last-logged-in=…`.
  properties: [
    { name: 'name', type: stringType, required: true, unique: true },
    { name: 'group', type: refType(GROUP_PATH), required: true },
    {
      name: 'inactivity-timeout', type: durationType(60e9, 86_400e9), default: 600e9,
      help: 'Idle time after which inactivity-policy applies (1m..1d)',
    },
    {
      name: 'inactivity-policy', type: enumType(INACTIVITY_POLICIES), default: 'none',
      help: 'What happens to idle terminal and API sessions (rospki keeps the setting; see docs/compatibility.md)',
    },
    { name: 'address', type: prefixListType, default: [], detail: 'always' },
    { name: 'password', type: passwordType, access: 'wo', default: '' },
    { name: 'last-logged-in', type: dateType, access: 'ro' },
    { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' },
    { name: 'comment', type: stringType },
  ],
  async prepare(env) {
    await fillInactivityDefaults(env);
  },
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

/** Stores whose users have had their defaults filled in this process (see below). */
const filledStores = new WeakSet<object>();

/**
 * Users of a data directory made before inactivity-timeout and inactivity-policy existed get
 * their defaults (also in the built-in snapshot, so export still shows no change). Once per
 * store and process: every user written since carries them (add stores each default), and
 * scanning every user at every /user command made a script of 10,000 of them quadratic.
 */
async function fillInactivityDefaults(env: Environment): Promise<void> {
  if (filledStores.has(env.store)) return;
  const added = userMenu.properties.filter((p) => p.name.startsWith('inactivity-'));
  const lacking = (data: RowData) => added.some((p) => data[p.name] === undefined);
  if (await env.store.read((tx) => tx.list(USER_PATH).some((r) => lacking(r.data)))) {
    await env.store.write((tx) => {
      for (const row of tx.list(USER_PATH)) {
        if (!lacking(row.data)) continue;
        const fill = (data: RowData): RowData => {
          const out = { ...data };
          for (const p of added) if (out[p.name] === undefined) out[p.name] = propValue(p, data);
          return out;
        };
        const data = fill(row.data);
        const builtin = row.data[BUILTIN] as RowData | undefined;
        if (builtin) data[BUILTIN] = fill(builtin);
        tx.update(USER_PATH, row.id, data);
      }
    });
  }
  filledStores.add(env.store);
}

/** What changes when the user's password does (Session.stamp, checked by aaa.ts sessionPolicies): a digest of its hash. */
export function credentialStamp(tx: ReadTx, name: string): string | undefined {
  const hash = tx.findBy(USER_PATH, 'name', name)[0]?.data.password;
  if (typeof hash !== 'string') return undefined;
  // The executor checks the stamp of every network session's every command: the digests of the
  // last hashes seen are kept rather than computed again (bounded; the hashes are in the store's
  // cache in memory anyway).
  let stamp = stampOfHash.get(hash);
  if (stamp === undefined) {
    stamp = createHash('sha256').update(hash).digest('base64').slice(0, 16);
    if (stampOfHash.size >= 256) stampOfHash.delete(stampOfHash.keys().next().value!);
    stampOfHash.set(hash, stamp);
  }
  return stamp;
}
const stampOfHash = new Map<string, string>();

/** The policies of a user's group, or undefined when the user does not exist or is disabled. */
export function userPolicies(tx: ReadTx, name: string): Set<Policy> | undefined {
  const user = tx.findBy(USER_PATH, 'name', name)[0];
  if (!user || user.data.disabled) return undefined;
  const group = tx.get(GROUP_PATH, Number(user.data.group));
  return new Set((group?.data.policy as Policy[] | undefined) ?? []);
}
