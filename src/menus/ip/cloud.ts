// /ip cloud (services spec §7.3, CERT-SPEC §10.4) and /ip cloud advanced. rospki can not reach
// MikroTik's cloud: its DDNS and time service answer only genuine MikroTik devices. The menu
// keeps the settings and is honest about the rest (issue 14 §5, docs/compatibility.md):
//  * dns-name is a stable `<12 hex>.sn.mynetname.net` derived from this installation's id, shown
//    once DDNS is enabled (RouterOS shows it after registration), so `[/ip cloud get dns-name]`
//    works for scripts and enable-ssl-certificate; nothing registers it, so it resolves nowhere;
//  * status says that the cloud is not reachable whenever a setting needs it (DDNS or time);
//  * public-address, public-address-ipv6 and warning stay absent (no update ever succeeded);
//  * force-update changes nothing and says so.

import { invalidValue, outOfRange } from '../../errors.js';
import { propValue } from '../../menu/generic.js';
import { boolType, enumType, stringType } from '../../menu/proptypes.js';
import type { CommandDecl, MenuDecl, PropType, PropertyDecl } from '../../menu/types.js';
import { Duration, parseDuration, valueToString } from '../../menu/values.js';
import { cloudDnsName, ensureInstallationId, installationIdOf } from '../host/installation.js';
import { ensureSingletonRow, resetCommand } from '../host/rows.js';

export const CLOUD_PATH = '/ip/cloud';

/** What status says whenever DDNS or the time service would need the cloud. */
export const CLOUD_UNREACHABLE = 'Error: MikroTik cloud is not reachable from rospki';

const MINUTE_NS = 60e9;
/** RouterOS times are 32-bit seconds. */
const MAX_INTERVAL_NS = 4294967295e9;
/** Row field: when force-update last ran (not a property: RouterOS shows no such thing). */
const FORCED = '.force-update';

/** `none` (stored as 0) or a time of at least 1m. */
const updateIntervalType: PropType<number> = {
  help: 'none | time (1m or more)',
  parse(v, _ctx, name) {
    const text = valueToString(v).trim();
    if (text === 'none') return 0;
    const d = v instanceof Duration ? v : parseDuration(text);
    if (!d) throw invalidValue(name);
    if (d.ns < MINUTE_NS || d.ns > MAX_INTERVAL_NS) throw outOfRange(name, '1m', new Duration(MAX_INTERVAL_NS).toString());
    return d.ns;
  },
  display: (v) => (v === 0 ? 'none' : new Duration(v).toString()),
  api: (v) => (v === 0 ? 'none' : new Duration(v).toString()),
  script: (v) => (v === 0 ? 'none' : new Duration(v)),
  choices: () => ['none'],
};

const bare: PropType<string> = { ...stringType, quoted: false };

/** `yes`, or `auto` (DDNS only while Back To Home is on, 7.17+); `no` as before 7.17. */
export const DDNS_ENABLED: PropertyDecl<string> = {
  name: 'ddns-enabled', type: enumType(['yes', 'no', 'auto']), default: 'auto', help: 'Register a DNS name in MikroTik\'s cloud',
};
export const UPDATE_TIME: PropertyDecl<boolean> = {
  name: 'update-time', type: boolType, default: true, help: 'Set the clock from the cloud when no NTP client runs',
};

const ddnsOn = (row: Record<string, unknown>): boolean => propValue(DDNS_ENABLED, row) === 'yes';

const properties: PropertyDecl[] = [
  DDNS_ENABLED,
  { name: 'ddns-update-interval', type: updateIntervalType, default: 0, help: 'How often to update the DNS record' },
  UPDATE_TIME,
  // Shown only after a successful update, which never happens here.
  { name: 'public-address', type: bare, access: 'ro' },
  { name: 'public-address-ipv6', type: bare, access: 'ro' },
  {
    name: 'dns-name', type: bare, access: 'ro',
    compute: (row, ctx) => {
      const id = installationIdOf(ctx.tx);
      return id && ddnsOn(row) ? cloudDnsName(id) : undefined;
    },
  },
  {
    name: 'status', type: bare, access: 'ro',
    compute: (row) => (ddnsOn(row) || propValue(UPDATE_TIME, row) || row[FORCED] !== undefined ? CLOUD_UNREACHABLE : undefined),
  },
  { name: 'warning', type: bare, access: 'ro' },
];

const base: MenuDecl = {
  path: CLOUD_PATH,
  kind: 'singleton',
  help: 'MikroTik cloud services (DDNS, time)',
  verbs: ['print', 'get', 'set', 'export'],
  properties,
};

/** `force-update`: no update can be sent; the status and /log say so (no output on RouterOS either). */
const forceUpdate: CommandDecl = {
  name: 'force-update',
  help: 'Update the DNS record now',
  policy: 'write',
  args: [],
  async run(call) {
    await call.env.store.write((tx) => {
      const row = tx.get(CLOUD_PATH, 1);
      // Remembered (not a property) so that status shows the outcome even with DDNS and time off.
      if (row) tx.update(CLOUD_PATH, 1, { ...row.data, [FORCED]: call.env.clock.now() });
      call.env.log(tx, 'system,warning', `cloud: force-update by ${call.session.user}: nothing sent, ${CLOUD_UNREACHABLE.replace(/^Error: /, '')}`);
    });
    return { messages: [`status: ${CLOUD_UNREACHABLE}`] };
  },
};

export const cloudMenu: MenuDecl = {
  ...base,
  commands: [forceUpdate, resetCommand(base)],
  async prepare(env) {
    await ensureSingletonRow(env, cloudMenu);
    await ensureInstallationId(env);
  },
};

export const cloudAdvancedMenu: MenuDecl = {
  path: `${CLOUD_PATH}/advanced`,
  kind: 'singleton',
  help: 'Advanced cloud settings',
  verbs: ['print', 'get', 'set', 'export'],
  properties: [
    { name: 'use-local-address', type: boolType, default: false, help: 'Register the local address instead of the one the cloud sees' },
  ],
  async prepare(env) {
    await ensureSingletonRow(env, cloudAdvancedMenu);
  },
};
