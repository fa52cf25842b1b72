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

/** Lines beyond LOG_LINES are trimmed this many at a time, not one per append. */
const TRIM_SLACK = 100;

export function appendLog(tx: WriteTx, now: number, topics: string, message: string): void {
  tx.insert(LOG_PATH, { time: now, topics: topics.split(','), message });
  const rows = tx.list(LOG_PATH);
  if (rows.length <= LOG_LINES + TRIM_SLACK) return;
  const excess = rows.slice(0, rows.length - LOG_LINES).map((r) => r.id);
  for (const id of excess) tx.remove(LOG_PATH, id);
}
