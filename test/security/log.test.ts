// /log can neither drive the terminal of the admin who prints it nor be wiped by peers: a
// message's control characters (`ESC]0;…BEL`, `ESC[2J`, CR LF that fakes a line of its own) are
// shown as `?` whoever wrote it (a read user's `:log`, an IKE peer's certificate subject), and
// lines IKE peers cause have their own budget, as failed logins do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { openTestApp } from '../support/app.js';

test('control characters in a /log message reach nobody\'s terminal', async () => {
  const t = await openTestApp();
  try {
    let out = '';
    const admin = await ConsoleSession.open(t.app, { user: 'admin', output: (x) => { out += x; } });
    assert.ok((await admin.run('/user add name=looker group=read password=x')).ok);
    const looker = await ConsoleSession.open(t.app, { user: 'looker', output: () => {} });
    const r = await looker.run(':log warning "\\1B]0;owned\\07\\1B[2J\\9B2J\\0D\\0A00:00:00 system,info,account user admin logged in"');
    assert.ok(r.ok, r.error);
    out = '';
    assert.ok((await admin.run('/log print where topics~"warning"')).ok);
    assert.doesNotMatch(out, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, JSON.stringify(out));
    assert.equal(out.split('\n').filter(Boolean).length, 1, 'one line, no faked second one');
    assert.match(out, /\?\]0;owned\?\?\[2J\?2J\?\?00:00:00 system,info,account user admin logged in\n$/);
  } finally {
    t.close();
  }
});

test('2000 lines from IKE peers do not push other lines out of /log', async () => {
  const t = await openTestApp();
  try {
    await t.app.store.write((tx) => t.app.env.log(tx, 'system,info', 'an event worth keeping'));
    for (let batch = 0; batch < 20; batch++) {
      await t.app.store.write((tx) => {
        for (let i = 0; i < 100; i++) t.app.env.log(tx, 'ipsec,error', `192.0.2.${i} failed to get valid proposal.`);
      });
    }
    const messages = await t.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
    assert.ok(messages.includes('an event worth keeping'));
    assert.ok(messages.filter((m) => m.includes('valid proposal')).length <= 110);
    assert.ok(messages.filter((m) => m.includes('valid proposal')).length >= 100, 'the newest peer lines are kept');
  } finally {
    t.close();
  }
});
