// The state of a service the daemon runs (OpenVPN, SSTP), as its menu shows it. The daemon's
// ManagedService writes `running` and `status` into the rows (src/services/openvpn.ts, sstp.ts);
// the menus only read them, so every front end and every process sees the same state.

import { boolType, stringType } from '../../menu/proptypes.js';
import type { PropertyDecl } from '../../menu/types.js';
import type { RowData } from '../../store/store.js';

/** Row keys the daemon writes (read-only properties of the same names). */
export const RUNNING_KEY = 'running';
export const STATUS_KEY = 'status';

/** The status of an enabled row no daemon has reported on (none runs, or it stopped). */
export const NO_DAEMON = 'not running: the rospki daemon is not running';

/** The states the daemon writes (one wording for every service). */
export const SERVICE_STATUS = {
  starting: 'starting',
  running: 'running',
  notRunning: (reason: string): string => `not running: ${reason}`,
} as const;

/** Whether the daemon reported the row's service up (listening, or a client connected). */
export const isRunning = (row: RowData): boolean => row[RUNNING_KEY] === true;

/**
 * `running` as the daemon wrote it: yes only while the service of an enabled row is up. Shown by
 * flags (I, R) in the console and as `running` over REST and the API.
 */
export function runningProperty(enabled: (row: RowData) => boolean, flag?: PropertyDecl['flag']): PropertyDecl<boolean> {
  return {
    name: RUNNING_KEY, type: boolType, access: 'ro', detail: 'never', ...(flag ? { flag } : {}),
    compute: (row) => enabled(row) && isRunning(row),
    help: 'Whether the service runs now',
  };
}

/**
 * A read-only `status` (a rospki addition): on enabled rows what the daemon reported
 * (`running`, `starting`, `not running: <reason>`); absent on disabled rows, so a default print
 * looks like RouterOS's.
 */
export function serviceStatusProperty(feature: string, enabled: (row: RowData) => boolean): PropertyDecl<string> {
  return {
    name: STATUS_KEY, type: stringType, access: 'ro',
    compute: (row) => {
      if (!enabled(row)) return undefined;
      return typeof row[STATUS_KEY] === 'string' ? String(row[STATUS_KEY]) : NO_DAEMON;
    },
    help: `Whether ${feature} runs, and why not`,
  };
}
