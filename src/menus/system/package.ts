// /system package and /system package update: the version facts scripts check
// (`[/system package update get installed-version]`, clients.md #8). rospki is one package,
// `routeros` at the version it reports (src/version.ts). It is updated with its own npm
// package, never from MikroTik's update servers, so check-for-updates reaches none and says so
// in `status`; latest-version stays absent (scripts then see "an empty version string", as on a
// router without Internet); download and install refuse (docs/compatibility.md).

import { failure } from '../../errors.js';
import { boolType, enumType, presenceType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, MenuDecl, PropType, PropertyDecl } from '../../menu/types.js';
import { RosArray, type Value } from '../../menu/values.js';
import { ROUTEROS_BUILD_TIME, ROUTEROS_CHANNEL, ROUTEROS_VERSION_NUMBER } from '../../version.js';
import { ensureSingletonRow, mirrorRows } from '../host/rows.js';

const bare: PropType<string> = { ...stringType, quoted: false };

export const packageMenu: MenuDecl = {
  path: '/system/package',
  kind: 'list',
  help: 'Installed packages',
  key: 'name',
  verbs: ['print', 'get', 'find'],
  columns: ['name', 'version', 'build-time', 'size'],
  properties: [
    { name: 'name', type: bare, access: 'ro' },
    { name: 'version', type: bare, access: 'ro' },
    { name: 'build-time', type: bare, access: 'ro' },
    { name: 'scheduled', type: bare, access: 'ro' },
    { name: 'disabled', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'X' }, detail: 'never' },
  ],
  async prepare(env) {
    await mirrorRows(env, packageMenu, [{ name: 'routeros', version: ROUTEROS_VERSION_NUMBER, 'build-time': ROUTEROS_BUILD_TIME }], (r) => String(r.name));
  },
};

export const UPDATE_PATH = '/system/package/update';

/** What check-for-updates finds: no update server answers rospki. */
export const NO_UPDATE_SERVER = 'ERROR: no update server reachable from rospki';

const STATUS: PropertyDecl<string> = { name: 'status', type: bare, access: 'ro' };

const updateProperties: PropertyDecl[] = [
  { name: 'channel', type: enumType(['stable', 'long-term', 'testing', 'development']), default: ROUTEROS_CHANNEL, help: 'Release channel to follow' },
  { name: 'installed-version', type: bare, access: 'ro', compute: () => ROUTEROS_VERSION_NUMBER },
  // Set by a check that reached an update server: never here.
  { name: 'latest-version', type: bare, access: 'ro' },
  STATUS,
];

const flag = (name: string, help: string): ArgDecl<boolean> => ({ name, type: presenceType, flagOnly: true, help });
const asValueArg = flag('as-value', 'Return the result as an array');

/**
 * check-for-updates (eworm's check-routeros-update runs `check-for-updates without-paging
 * as-value`): records the outcome in `status` and shows it like RouterOS's block.
 */
const checkForUpdates: CommandDecl = {
  name: 'check-for-updates',
  help: 'Ask the update server for the latest version',
  policy: 'read',
  args: [flag('once', 'Check once, do not follow'), flag('without-paging', 'Print without paging'), asValueArg, flag('fetch-changelog', 'Also fetch the changelog')],
  async run(call) {
    const row = await call.env.store.write((tx) => {
      const data = { ...(tx.get(UPDATE_PATH, 1)?.data ?? {}), [STATUS.name]: NO_UPDATE_SERVER };
      tx.update(UPDATE_PATH, 1, data);
      return data;
    });
    const fields: Array<[string, Value]> = [
      ['channel', String(row.channel ?? ROUTEROS_CHANNEL)],
      ['installed-version', ROUTEROS_VERSION_NUMBER],
      ['status', NO_UPDATE_SERVER],
    ];
    if (call.args.flag(asValueArg)) {
      const a = new RosArray();
      for (const [k, v] of fields) a.set(k, v);
      return { ret: a };
    }
    return { block: fields };
  },
};

// `install without-paging` is how eworm's check-routeros-update installs.
const refuse = (name: string, help: string, policy: CommandDecl['policy']): CommandDecl => ({
  name, help, policy, args: [flag('ignore-missing', 'Ignore packages that are missing'), flag('without-paging', 'Print without paging')],
  async run() { throw failure(`${name}: no update server reachable from rospki; update rospki with its own package`); },
});

const updateBase: MenuDecl = {
  path: UPDATE_PATH,
  kind: 'singleton',
  help: 'Package updates',
  verbs: ['print', 'get', 'set', 'export'],
  properties: updateProperties,
};

export const packageUpdateMenu: MenuDecl = {
  ...updateBase,
  commands: [
    checkForUpdates,
    refuse('download', 'Download the latest version', 'write'),
    refuse('install', 'Download, install and reboot', ['write', 'reboot']),
  ],
  async prepare(env) {
    await ensureSingletonRow(env, packageUpdateMenu);
  },
};
