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
 * Lines anyone can cause without logging in have budgets of their own: failed logins and the
 * lockouts they bring (services/auth.ts, ssh.ts), and what IKE peers cause (topic `ipsec`: an
 * unauthenticated peer's bad proposal or unknown identity is a line each). The newest
 * PEER_LINES of each budget are kept, beside LOG_LINES other lines: however many there are,
 * they never push another line out of the log (issue 11: 2000 failed logins used to wipe it).
 */
export const FAILED_LOGIN_LINES = 100;
const PEER_LINES = FAILED_LOGIN_LINES;
const FAILED_LOGIN = /^(login failure for user |too many login failures from )/;
const PEER_SLACK = 10;
/** Row field (not a property) naming the budget of a line kept apart. */
const BUDGET = '.budget';

/**
 * Lines of topic `script` — every `:log` (whatever its level, the topic is always `script`) and
 * every failure of a script, scheduled event or background job — are any logged-in user's to
 * cause, a read user's included: they have a budget of their own too, so a loop of `:log` or of
 * failing `:execute` jobs pushes out only other script lines, never who changed what, who logged
 * in, or what a certificate did.
 */
export const SCRIPT_LINES = 500;

/** The budgets of lines kept apart, and how many lines each keeps. */
const BUDGETS = ['failed-login', 'ipsec', 'script'] as const;
type Budget = (typeof BUDGETS)[number];
const BUDGET_LINES: Readonly<Record<Budget, number>> = { 'failed-login': PEER_LINES, ipsec: PEER_LINES, script: SCRIPT_LINES };

/** The budget a line is kept in, if not the common one. */
function budgetOf(topics: readonly string[], message: string): Budget | undefined {
  if (FAILED_LOGIN.test(message)) return 'failed-login';
  if (topics[0] === 'ipsec') return 'ipsec';
  if (topics[0] === 'script') return 'script';
  return undefined;
}

/**
 * Control characters in a message would drive the terminal of whoever prints /log (an IKE
 * peer's certificate subject, a file or script name: `ESC]0;…BEL`, `ESC[2J`) or fake a line of
 * its own (CR LF): each is shown as `?`, as login names already are (services/auth.ts).
 */
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;

export function appendLog(tx: WriteTx, now: number, topics: string, message: string): void {
  const topicList = topics.split(',');
  const clean = message.replace(CONTROL, '?');
  const budget = budgetOf(topicList, clean);
  tx.insert(LOG_PATH, { time: now, topics: topicList, message: clean, ...(budget ? { [BUDGET]: budget } : {}) });
  if (budget) {
    const lines = tx.findBy(LOG_PATH, BUDGET, budget);
    const keep = BUDGET_LINES[budget];
    if (lines.length <= keep + PEER_SLACK) return;
    for (const r of lines.slice(0, lines.length - keep)) tx.remove(LOG_PATH, r.id);
    return;
  }
  // Counted from the budgets' own (short) lists, not by walking every line: this runs per command.
  let kept = 0;
  for (const b of BUDGETS) kept += tx.findBy(LOG_PATH, BUDGET, b).length;
  const others = tx.count(LOG_PATH) - kept;
  if (others <= LOG_LINES + TRIM_SLACK) return;
  let excess = others - LOG_LINES;
  for (const r of tx.list(LOG_PATH)) {
    if (excess === 0) break;
    if (r.data[BUDGET] !== undefined) continue;
    tx.remove(LOG_PATH, r.id);
    excess--;
  }
}
