// /user group — policy sets (RouterOS policy names, spec issue 2 §5).

import { failure, notEnoughPermissions } from '../../errors.js';
import { stringType } from '../../menu/proptypes.js';
import { matchChoice } from '../../menu/proptypes.js';
import type { MenuDecl, Policy, PropType } from '../../menu/types.js';
import { POLICIES } from '../../menu/types.js';
import { RosArray, valueToString } from '../../menu/values.js';

export const GROUP_PATH = '/user/group';

/**
 * Policies print as RouterOS does: granted ones, then the others negated
 * (`local,telnet,…,!ftp,!write`). Input accepts names, `!name`, commas or arrays.
 */
const policyType: PropType<string[]> = {
  help: POLICIES.join(' | '),
  parse(v, _ctx, name) {
    const parts = v instanceof RosArray ? v.values().map(valueToString) : valueToString(v).split(',');
    const granted = new Set<string>();
    for (const raw of parts.map((s) => s.trim()).filter((s) => s !== '')) {
      if (raw.startsWith('!')) granted.delete(matchChoice(raw.slice(1), POLICIES, name));
      else granted.add(matchChoice(raw, POLICIES, name));
    }
    return POLICIES.filter((p) => granted.has(p));
  },
  display: (v) => [...v, ...POLICIES.filter((p) => !v.includes(p)).map((p) => `!${p}`)].join(','),
  api: (v) => [...v, ...POLICIES.filter((p) => !v.includes(p)).map((p) => `!${p}`)].join(','),
  script: (v) => RosArray.of(v),
  choices: () => [...POLICIES],
};

const READ: Policy[] = ['local', 'telnet', 'ssh', 'reboot', 'read', 'test', 'winbox', 'password', 'web', 'sniff', 'sensitive', 'api', 'romon', 'rest-api'];
const WRITE: Policy[] = [...READ.slice(0, 5), 'write', ...READ.slice(5)];

export const groupMenu: MenuDecl = {
  path: GROUP_PATH,
  kind: 'list',
  help: 'User groups',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'comment', 'export'],
  writePolicy: ['policy'],
  /** A group can only be made, changed or removed by someone holding every policy it grants. */
  authorize({ before, after }, _tx, call) {
    for (const row of [before, after]) {
      if (row && !(row.policy as Policy[] | undefined ?? []).every((p) => call.policies.has(p))) throw notEnoughPermissions();
    }
  },
  columns: ['name', 'policy', 'skin'],
  properties: [
    { name: 'name', type: stringType, required: true, unique: true },
    { name: 'policy', type: policyType, default: [] },
    { name: 'skin', type: { ...stringType, quoted: false }, default: 'default' },
    { name: 'comment', type: stringType },
  ],
  defaults: [
    { name: 'read', policy: READ, skin: 'default' },
    { name: 'write', policy: WRITE, skin: 'default' },
    { name: 'full', policy: [...POLICIES], skin: 'default' },
  ],
  beforeRemove(id, tx) {
    const row = tx.get(GROUP_PATH, id);
    if (row && ['read', 'write', 'full'].includes(String(row.data.name))) throw failure('can not remove default group');
  },
};
