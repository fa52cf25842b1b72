// /system identity — the router's name, shown in the prompt `[admin@<identity>] >`.
import { propValue } from '../../menu/generic.js';
import { stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropertyDecl } from '../../menu/types.js';
import type { ReadTx } from '../../store/store.js';

export const IDENTITY_PATH = '/system/identity';

const NAME: PropertyDecl<string> = { name: 'name', type: stringType, default: 'MikroTik', help: 'System name' };

export const identityMenu: MenuDecl = {
  path: IDENTITY_PATH,
  kind: 'singleton',
  help: 'System identity',
  verbs: ['print', 'get', 'set', 'export'],
  properties: [NAME],
};

/** The router's name (the prompt, a backup's header, RADIUS's NAS-Identifier). */
export function routerIdentity(tx: ReadTx): string {
  return propValue(NAME, tx.get(IDENTITY_PATH, 1)?.data ?? {});
}
