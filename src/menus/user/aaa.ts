// /user aaa (manual "User", section AAA): whether the router's own logins (SSH, API, REST, web,
// telnet, FTP) of names that are not local /user rows are asked of the /radius servers whose
// `service` includes `login` (services/auth.ts, services/radius-client.ts). An Access-Accept logs
// the name in with the group of its Mikrotik-Group attribute, else `default-group`.
//
// A RADIUS user has no /user row: their session carries the group in its credential stamp
// (RADIUS_STAMP + group name, Session.stamp), and every command's rights are what
// `radiusGroupPolicies` says now — nothing once use-radius is off, the group is gone or excluded,
// or a local user of that name exists (a local user always wins).

import { notEnoughPermissions } from '../../errors.js';
import { boolType, durationType, refListType, refType } from '../../menu/proptypes.js';
import { propValue } from '../../menu/generic.js';
import type { MenuDecl, Policy, PropertyDecl } from '../../menu/types.js';
import type { ReadTx, RowData } from '../../store/store.js';
import { GROUP_PATH } from './group.js';
import { credentialStamp, USER_PATH, userPolicies } from './user.js';

export const AAA_PATH = '/user/aaa';

/** The properties services/auth.ts reads. */
export const AAA = {
  useRadius: { name: 'use-radius', type: boolType, default: false, help: 'Ask the RADIUS servers (service=login) about names that are not local users' } as PropertyDecl<boolean>,
  accounting: { name: 'accounting', type: boolType, default: true, help: 'Send RADIUS accounting (held: rospki sends none)' } as PropertyDecl<boolean>,
  interimUpdate: { name: 'interim-update', type: durationType(0, 86_400e9), default: 0, help: 'Interval of accounting updates (held)' } as PropertyDecl<number>,
  // Group ids: a rename follows; `read` is the first of the default groups (group.ts), row 1.
  defaultGroup: { name: 'default-group', type: refType(GROUP_PATH), default: 1, help: 'Group of a RADIUS user whose Accept names none' } as PropertyDecl<number>,
  excludeGroups: { name: 'exclude-groups', type: refListType(GROUP_PATH), default: [], help: 'Groups RADIUS may not give' } as PropertyDecl<number[]>,
};

/** Session.stamp of a RADIUS login: this prefix and the group's name (a local stamp is base64, never has `:`). */
export const RADIUS_STAMP = 'radius:';

function aaaRow(tx: ReadTx): RowData {
  return tx.get(AAA_PATH, 1)?.data ?? {};
}

/** Whether names that are not local users are asked of RADIUS. */
export function radiusLoginsOn(tx: ReadTx): boolean {
  return propValue(AAA.useRadius, aaaRow(tx));
}

/** The group a RADIUS Accept gives: its Mikrotik-Group, else default-group (a name; may not exist). */
export function radiusGroupName(tx: ReadTx, attribute: string | undefined): string | undefined {
  if (attribute !== undefined) return attribute;
  return tx.get(GROUP_PATH, propValue(AAA.defaultGroup, aaaRow(tx)))?.data.name as string | undefined;
}

/**
 * The policies a RADIUS user `user` holds now through group `group`, or undefined: RADIUS
 * logins off, a local user of that name (it wins), the group missing or in exclude-groups.
 */
export function radiusGroupPolicies(tx: ReadTx, user: string, group: string): Set<Policy> | undefined {
  if (!radiusLoginsOn(tx)) return undefined;
  if (tx.findBy(USER_PATH, 'name', user).length > 0) return undefined;
  const row = tx.findBy(GROUP_PATH, 'name', group)[0];
  if (!row || propValue(AAA.excludeGroups, aaaRow(tx)).includes(row.id)) return undefined;
  return new Set((row.data.policy as Policy[] | undefined) ?? []);
}

/**
 * What a session of `user` that logged in with credential stamp `stamp` holds now (the
 * AccessControl of the executor): a RADIUS stamp, its group's policies (radiusGroupPolicies);
 * otherwise the local user's group, and nothing once the password changed (another stamp).
 */
export function sessionPolicies(tx: ReadTx, user: string, stamp?: string): Set<Policy> | undefined {
  if (stamp?.startsWith(RADIUS_STAMP)) return radiusGroupPolicies(tx, user, stamp.slice(RADIUS_STAMP.length));
  const policies = userPolicies(tx, user);
  if (!policies || (stamp !== undefined && credentialStamp(tx, user) !== stamp)) return undefined;
  return policies;
}

/** Every policy some group RADIUS may give holds (every group not in exclude-groups, when on). */
function grantable(tx: ReadTx, data: RowData): Set<Policy> {
  const out = new Set<Policy>();
  if (!propValue(AAA.useRadius, data)) return out;
  const excluded = propValue(AAA.excludeGroups, data);
  for (const g of tx.list(GROUP_PATH)) {
    if (!excluded.includes(g.id)) for (const p of (g.data.policy as Policy[] | undefined) ?? []) out.add(p);
  }
  return out;
}

export const aaaMenu: MenuDecl = {
  path: AAA_PATH,
  kind: 'singleton',
  help: 'Authentication of router users by RADIUS',
  verbs: ['print', 'get', 'set', 'export'],
  writePolicy: ['policy'],
  /**
   * Nobody reaches more than they hold (issue 11): with use-radius on, a RADIUS server may log a
   * name in with any group not excluded, so changing /user aaa needs every policy of every such
   * group, before and after the change (a `policy` user without `sensitive` can not let RADIUS
   * hand out `full`, nor change default-group while it can).
   */
  authorize({ before, after }, tx, call) {
    for (const data of [before ?? {}, after ?? {}]) {
      for (const p of grantable(tx, data)) if (!call.policies.has(p)) throw notEnoughPermissions();
    }
    const group = after ? tx.get(GROUP_PATH, propValue(AAA.defaultGroup, after)) : undefined;
    for (const p of (group?.data.policy as Policy[] | undefined) ?? []) if (!call.policies.has(p)) throw notEnoughPermissions();
  },
  properties: [AAA.useRadius, AAA.accounting, AAA.interimUpdate, AAA.defaultGroup, AAA.excludeGroups],
};
