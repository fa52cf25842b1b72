// /system device-mode (RouterOS 7.17+; M-DEVMODE): which features the device allows. rospki
// answers as a device in `advanced` mode, the mode of CHR and of every device before 7.17, with
// the features that mode allows (traffic-gen, container, install-any-version, partitions and
// routerboard off). It restricts nothing of what rospki has. A change needs someone to press
// the device's button or cut its power within activation-timeout; rospki has neither, so
// `update` refuses (docs/compatibility.md). Scripts read it: eworm's scripts skip themselves when
// a feature they need is `no` (`[/system device-mode get]->"fetch"`), so every value is a bool.

import { failure } from '../../errors.js';
import { boolType, durationType, enumType, intType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, MenuDecl, PropertyDecl } from '../../menu/types.js';
import { ensureSingletonRow } from '../host/rows.js';

const MODES = ['advanced', 'basic', 'home', 'rose', 'enterprise'] as const;

/** The features in print order with what `advanced` mode allows (M-DEVMODE table and print). */
const ADVANCED_FEATURES: ReadonlyArray<readonly [string, boolean]> = [
  ['scheduler', true], ['socks', true], ['fetch', true], ['pptp', true], ['l2tp', true], ['bandwidth-test', true],
  ['traffic-gen', false], ['sniffer', true], ['ipsec', true], ['romon', true], ['proxy', true], ['hotspot', true],
  ['smb', true], ['email', true], ['zerotier', true], ['container', false], ['install-any-version', false],
  ['partitions', false], ['routerboard', false],
];

const properties: PropertyDecl[] = [
  { name: 'mode', type: enumType(MODES), access: 'ro', compute: () => 'advanced' },
  { name: 'flagged', type: boolType, access: 'ro', compute: () => false },
  { name: 'flagging-enabled', type: boolType, access: 'ro', compute: () => true },
  ...ADVANCED_FEATURES.map(([name, allowed]): PropertyDecl => ({ name, type: boolType, access: 'ro', compute: () => allowed })),
  { name: 'attempt-count', type: intType(0, 3), access: 'ro', compute: () => 0 },
];

const updateArgs: ArgDecl[] = [
  { name: 'mode', type: enumType(MODES), help: 'Mode to switch to' },
  { name: 'flagging-enabled', type: boolType },
  ...ADVANCED_FEATURES.map(([name]): ArgDecl => ({ name, type: boolType, help: `Allow ${name}` })),
  { name: 'activation-timeout', type: durationType(10e9, 86400e9), help: 'Time to confirm with the button or a power cycle' },
];

const update: CommandDecl = {
  name: 'update',
  help: 'Change the device mode (confirmed by pressing the button or cutting the power)',
  policy: ['write', 'reboot'],
  args: updateArgs,
  async run() {
    throw failure('device-mode can not be changed on rospki: it has no button or power switch to confirm the change');
  },
};

export const deviceModeMenu: MenuDecl = {
  path: '/system/device-mode',
  kind: 'singleton',
  help: 'Device mode: which features are allowed',
  verbs: ['print', 'get'],
  properties,
  commands: [update],
  async prepare(env) {
    await ensureSingletonRow(env, deviceModeMenu);
  },
};
