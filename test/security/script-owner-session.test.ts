// A stored script acts as its owner. A network session (REST, API, SSH, web) carries the
// credential stamp of its own user, and the script's session kept it while acting as the owner:
// the executor compared the owner's stamp with the caller's, so every command of an admin's
// `dont-require-permissions=yes` script run by another user over the network was refused
// (`not enough permissions (9)`), while the same run from a console worked. The stamp belongs to
// the user it was taken for: a script acting as someone else runs without it (its rights are the
// script's policy, narrowed by the owner's group at every command), one acting as the caller
// keeps it, so a password change still ends the caller's own runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { credentialStamp } from '../../src/menus/user/user.js';
import { openTestApp } from '../support/app.js';

test('a dont-require-permissions script runs for another network user; the caller\'s stamp still ends their own', async () => {
  const t = await openTestApp();
  try {
    const admin = await ConsoleSession.open(t.app, { user: 'admin', output: () => {} });
    for (const line of [
      '/user group add name=runners policy=read,test,rest-api,api',
      '/user add name=runner group=runners password=Runner-pass1',
      '/system script add name=rename dont-require-permissions=yes policy=read,write source="/system identity set name=renamed"',
      '/system script add name=mine owner=runner policy=read,test source=":put [/system identity get name]"',
    ]) assert.ok((await admin.run(line)).ok, line);
    const stamp = await t.app.store.read((tx) => credentialStamp(tx, 'runner'));
    assert.ok(stamp);
    const rest = await t.app.session('runner', 'rest', { channel: 'rest-api', stamp });
    const run = (script: string) => t.app.executor.run({ path: '/system/script', command: 'run', args: new Map([['number', script]]), session: rest });
    await run('rename');
    assert.equal(await t.app.identity(), 'renamed', 'the script acted with its own policy, as its owner');
    assert.equal((await run('mine')).text ?? '', '');
    // The caller's password changes: their session, and their own scripts, lose every right.
    assert.ok((await admin.run('/user set runner password=Another-pass1')).ok);
    await assert.rejects(run('mine'), /not enough permissions/);
    await assert.rejects(run('rename'), /not enough permissions/);
  } finally {
    t.close();
  }
});
