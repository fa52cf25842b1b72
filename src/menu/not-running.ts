// The honest status of a menu whose service rospki does not run yet (issue 12: such menus hold
// configuration; issue 13 and later make the services real). Nothing may pretend to work.

import { stringType } from './proptypes.js';
import type { PropertyDecl } from './types.js';
import type { RowData } from '../store/store.js';

/** What such a menu says instead of pretending (`not running: SSTP is not implemented yet`). */
export const notRunning = (feature: string): string => `not running: ${feature} is not implemented yet`;

/**
 * A read-only `status` (a rospki addition where RouterOS has none): shown on rows that are
 * enabled, saying the service does not run; absent on disabled rows, so a default print looks
 * like RouterOS's.
 */
export function statusProperty(feature: string, active: (row: RowData) => boolean): PropertyDecl<string> {
  return {
    name: 'status', type: stringType, access: 'ro',
    compute: (row) => (active(row) ? notRunning(feature) : undefined),
    help: `Whether ${feature} runs`,
  };
}
