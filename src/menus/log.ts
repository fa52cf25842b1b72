// /log — what changed and who logged in. Kept in the store (shared by every process on the data
// directory), capped like RouterOS's memory log.

import { dateType, formatDate, stringListType, stringType } from '../menu/proptypes.js';
import type { MenuDecl, PrintOutput, PropType } from '../menu/types.js';
import type { WriteTx } from '../store/store.js';

export const LOG_PATH = '/log';
/** RouterOS keeps 1000 lines in memory by default (/system logging action memory-lines). */
export const LOG_LINES = 1000;

const bare: PropType<string> = { ...stringType, quoted: false };

/**
 * `/log print`: `time topics message` per line, no header (Log manual page); the time alone for
 * entries of today, date and time for older ones.
 */
function printLog(print: PrintOutput): string {
  const today = formatDate(print.ctx.clock.now(), print.ctx.zone).slice(0, 10);
  return print.rows.map((r) => {
    const when = formatDate(Number(r.data.time), print.ctx.zone);
    const time = when.startsWith(today) ? when.slice(11) : when;
    return `${time} ${(r.data.topics as string[]).join(',')} ${String(r.data.message)}\n`;
  }).join('');
}

export const logMenu: MenuDecl = {
  path: LOG_PATH,
  kind: 'list',
  help: 'System log',
  verbs: ['print', 'get', 'find'],
  columns: ['time', 'topics', 'message'],
  printTable: printLog,
  properties: [
    { name: 'time', type: dateType, access: 'ro' },
    { name: 'topics', type: stringListType, access: 'ro' },
    { name: 'message', type: bare, access: 'ro' },
  ],
};

/** Lines beyond a budget are trimmed this many at a time, not one per append. */
const TRIM_SLACK = 100;

/**
 * Lines anyone can cause without logging in — failed logins and the lockouts they bring
 * (services/auth.ts, ssh.ts) — have a budget of their own: the newest FAILED_LOGIN_LINES of them
 * are kept, beside LOG_LINES other lines. However many there are, they never push another line
 * out of the log (issue 11: 2000 failed logins used to wipe it).
 */
export const FAILED_LOGIN_LINES = 100;
const FAILED_LOGIN = /^(login failure for user |too many login failures from )/;
const FAILED_LOGIN_SLACK = 10;
/** Row field (not a property) naming the budget of a line kept apart. */
const BUDGET = '.budget';

export function appendLog(tx: WriteTx, now: number, topics: string, message: string): void {
  const failedLogin = FAILED_LOGIN.test(message);
  tx.insert(LOG_PATH, { time: now, topics: topics.split(','), message, ...(failedLogin ? { [BUDGET]: 'failed-login' } : {}) });
  if (failedLogin) {
    const lines = tx.findBy(LOG_PATH, BUDGET, 'failed-login');
    if (lines.length <= FAILED_LOGIN_LINES + FAILED_LOGIN_SLACK) return;
    for (const r of lines.slice(0, lines.length - FAILED_LOGIN_LINES)) tx.remove(LOG_PATH, r.id);
    return;
  }
  const rows = tx.list(LOG_PATH);
  const kept = tx.findBy(LOG_PATH, BUDGET, 'failed-login').length;
  const others = rows.length - kept;
  if (others <= LOG_LINES + TRIM_SLACK) return;
  let excess = others - LOG_LINES;
  for (const r of rows) {
    if (excess === 0) break;
    if (r.data[BUDGET] !== undefined) continue;
    tx.remove(LOG_PATH, r.id);
    excess--;
  }
}
