// `export` writes what the console reads back: escapes, long lines wrapped with `\`, blanks kept.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { openTestApp } from '../support/app.js';

test('an export re-imports to exactly the same values', async () => {
  const t = await openTestApp();
  try {
    let out = '';
    const c = await ConsoleSession.open(t.app, { output: (s) => { out += s; } });
    const source = ':local a 1\n:put ($a + 1)\r\n:put "done with a long line that goes on and on and on and on and on and on and on"\n:put "\\\\ back $x \t tab"';
    await t.run('/system/script', 'add', { name: 'renew', source, comment: 'a comment with "quotes" and \\ and $dollar' });
    await t.run('/system/identity', 'set', { name: 'a name with spaces' });
    for (const menu of ['/system script', '/system identity']) {
      out = '';
      assert.deepEqual(await c.run(`${menu} export`), { ok: true });
      fs.writeFileSync(path.join(t.app.dataDir.filesDir, `${menu.split(' ')[1]}.rsc`), out);
      assert.ok(out.split('\n').every((l) => l.length <= 80), out);
    }
    assert.match(out, /^# \d{4}-\d\d-\d\d \d\d:\d\d:\d\d by RouterOS /);
    await t.run('/system/script', 'remove', { numbers: 'renew' });
    await t.run('/system/identity', 'set', { name: 'other' });
    for (const file of ['script.rsc', 'identity.rsc']) assert.deepEqual(await c.run(`/import file-name=${file}`), { ok: true });
    assert.equal((await t.run('/system/script', 'get', { number: 'renew', 'value-name': 'source' })).ret, source);
    assert.equal((await t.run('/system/script', 'get', { number: 'renew', 'value-name': 'comment' })).ret, 'a comment with "quotes" and \\ and $dollar');
    assert.equal((await t.run('/system/identity', 'get', { 'value-name': 'name' })).ret, 'a name with spaces');
  } finally {
    t.close();
  }
});
