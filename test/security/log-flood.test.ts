// A read user's `:log` loop (or a loop of failing `:execute` jobs) filled the 1000 lines of /log
// and pushed out what the log is for: who changed what and who logged in. Lines of topic
// `script` now have a budget of their own (SCRIPT_LINES, src/menus/log.ts), so such a flood
// pushes out only other script lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { LOG_PATH, SCRIPT_LINES } from '../../src/menus/log.js';
import { openTestApp } from '../support/app.js';

test('a read user\'s :log flood keeps the lines of changes and logins', async () => {
  const t = await openTestApp();
  try {
    const admin = await ConsoleSession.open(t.app, { user: 'admin', output: () => {} });
    assert.ok((await admin.run('/user group add name=viewers policy=read,test; /user add name=viewer group=viewers password=x')).ok);
    assert.ok((await admin.run('/system identity set name=evidence')).ok);
    const viewer = await ConsoleSession.open(t.app, { user: 'viewer', output: () => {} });
    const r = await viewer.run(':for i from=1 to=1200 do={ :log warning "flood $i" }');
    assert.ok(r.ok, r.error);
    const messages = await t.app.store.read((tx) => tx.list(LOG_PATH).map((row) => String(row.data.message)));
    assert.ok(messages.includes('system identity changed by admin'), 'the change is still in /log');
    assert.ok(messages.includes('user viewer added by admin'));
    const flood = messages.filter((m) => m.startsWith('flood '));
    assert.ok(flood.length >= SCRIPT_LINES && flood.length <= SCRIPT_LINES + 10, `${flood.length} flood lines`);
    assert.equal(flood.at(-1), 'flood 1200', 'the newest script lines are kept');
  } finally {
    t.close();
  }
});
