// Properties many menus declare alike (`disabled` with flag X, `comment`), in the menu layer so
// that any menu folder can use them without importing another menu folder.

import { boolType, stringType } from './proptypes.js';
import type { PropertyDecl } from './types.js';
import type { RowData } from '../store/store.js';

/** Rows a user enabled (`disabled=no`; the default of the menu applies when unset). */
export const enabledRow = (disabled: PropertyDecl<boolean>) => (row: RowData): boolean =>
  !(typeof row[disabled.name] === 'boolean' ? row[disabled.name] : disabled.default);

/** `disabled` with flag X, default yes (VPN interfaces and servers start disabled, M-OVPN, M-SSTP). */
export const disabledYes: PropertyDecl<boolean> = { name: 'disabled', type: boolType, default: true, flag: { letter: 'X' }, detail: 'never' };
/** `disabled` with flag X, default no (IPsec, dot1x, DNS entries, netwatch). */
export const disabledNo: PropertyDecl<boolean> = { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' };
export const commentProperty: PropertyDecl<string> = { name: 'comment', type: stringType };
