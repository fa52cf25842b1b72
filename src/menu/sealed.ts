// Which stored values are sealed at rest (src/store/sealed-values.ts): those of every property
// declared `sensitive` (passwords, pre-shared keys, one-time passwords), read from the menu
// declarations, so a new sensitive property is sealed without further code. Derived properties
// (`compute`) are not stored. `secretWhen` properties are secret only for some rows and are all
// derived today (file contents, script variables).

import type { SealedFields } from '../store/sealed-values.js';
import type { MenuDecl } from './types.js';

export function sealedFields(menus: Iterable<MenuDecl>): SealedFields {
  const out = new Map<string, string[]>();
  for (const menu of menus) {
    const fields = menu.properties.filter((p) => p.sensitive && !p.compute).map((p) => p.name);
    if (fields.length) out.set(menu.path, fields);
  }
  return out;
}
