// The console prompt shows the router's identity, which any `write` user sets. It went to the
// terminal raw: `/system identity set name="R\1B]0;owned\07\1B[2J"` retitled and cleared the
// terminal of every admin who logged in over SSH or telnet afterwards. The prompt now shows
// control characters as `\XX`, as print does for values a lesser user wrote.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { openTestApp } from '../support/app.js';

test('an identity with escape sequences does not drive the terminal through the prompt', async () => {
  const t = await openTestApp();
  try {
    const admin = await ConsoleSession.open(t.app, { user: 'admin', output: () => {} });
    assert.ok((await admin.run('/user group add name=writers policy=read,write; /user add name=wr group=writers password=x')).ok);
    const wr = await ConsoleSession.open(t.app, { user: 'wr', output: () => {} });
    const r = await wr.run('/system identity set name="R\\1B]0;owned\\07\\1B[2J\\9B2J\\0D\\0A"');
    assert.ok(r.ok, r.error);
    const prompt = await admin.prompt();
    assert.doesNotMatch(prompt, /[\x00-\x1f\x7f-\x9f]/, JSON.stringify(prompt));
    assert.equal(prompt, '[admin@R\\1B]0;owned\\07\\1B[2J\\C2\\9B2J\\0D\\0A] > ');
    assert.ok((await admin.run('/certificate')).ok);
    assert.equal(await admin.prompt(), '[admin@R\\1B]0;owned\\07\\1B[2J\\C2\\9B2J\\0D\\0A] /certificate> ');
  } finally {
    t.close();
  }
});
