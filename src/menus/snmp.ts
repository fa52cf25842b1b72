// /snmp: the SNMP agent's settings. rospki has no SNMP agent, so nothing listens on port 161:
// the settings are kept (contact and location are what scripts read, eworm's DeviceInfo), and
// `enabled=yes` is refused with a clear message instead of a setting that would pretend
// (issue 13 §5 treats the rows of /ip service rospki does not serve the same way).

import { failure } from '../errors.js';
import { boolType, enumSetType, enumType, stringListType, stringType } from '../menu/proptypes.js';
import type { MenuDecl, PropType } from '../menu/types.js';
import { ensureSingletonRow } from './host/rows.js';

const bare: PropType<string> = { ...stringType, quoted: false };

/** RouterOS's SNMP engine id: MikroTik's enterprise prefix, then the suffix's bytes in hex. */
const ENGINE_ID_PREFIX = '80003a8c04';

export const snmpMenu: MenuDecl = {
  path: '/snmp',
  kind: 'singleton',
  help: 'SNMP agent',
  verbs: ['print', 'get', 'set', 'export'],
  properties: [
    { name: 'enabled', type: boolType, default: false, help: 'Run the SNMP agent (rospki has none)' },
    { name: 'contact', type: stringType, default: '', help: 'Contact person' },
    { name: 'location', type: stringType, default: '', help: 'Where the device is' },
    { name: 'engine-id-suffix', type: stringType, default: '', help: 'Suffix of the engine id' },
    {
      name: 'engine-id', type: bare, access: 'ro',
      compute: (row) => ENGINE_ID_PREFIX + Buffer.from(String(row['engine-id-suffix'] ?? ''), 'utf8').toString('hex'),
    },
    { name: 'src-address', type: bare, default: '::', help: 'Source address of traps' },
    { name: 'trap-target', type: stringListType, default: [], help: 'Addresses traps go to' },
    { name: 'trap-community', type: bare, default: 'public', help: 'Community of traps' },
    { name: 'trap-version', type: enumType(['1', '2', '3']), default: '1', help: 'SNMP version of traps' },
    { name: 'trap-generators', type: enumSetType(['interfaces', 'start-trap', 'temp-exception']), default: ['temp-exception'], help: 'What sends traps' },
    { name: 'vrf', type: enumType(['main']), default: 'main' },
  ],
  validate(row) {
    if (row.enabled === true) throw failure('rospki has no SNMP agent: nothing would answer on port 161, so snmp can not be enabled');
  },
  async prepare(env) {
    await ensureSingletonRow(env, snmpMenu);
  },
};
