// `/system script run` runs a script with the runner's permissions; `use-script-permissions`
// runs it with the script's own policy (M-SCRIPT "Script permissions": a full admin runs a
// script with policy="" fine, and with use-script-permissions gets `not enough permissions (9)`).
// Either way the script acts as its owner and never does more than the owner holds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { openTestApp } from '../support/app.js';

test('run uses the runner\'s permissions; use-script-permissions the script\'s own; never more than the owner holds', async () => {
  const t = await openTestApp();
  try {
    let out = '';
    const as = async (user: string) => ConsoleSession.open(t.app, { user, output: (text) => { out += text; } });
    const admin = await as('admin');
    const run = async (cs: ConsoleSession, line: string): Promise<string> => {
      out = '';
      const r = await cs.run(line);
      return r.ok ? out : `${out}ERR ${r.error}`;
    };
    await run(admin, '/system script add name=no-perms policy="" source="/system identity set name=changed; :put [:jobname]"');
    assert.equal(await run(admin, '/system script run no-perms use-script-permissions'), 'ERR not enough permissions (9)');
    assert.equal(await t.app.identity(), 'MikroTik');
    assert.equal(await run(admin, '/system script run no-perms'), 'no-perms\n');
    assert.equal(await t.app.identity(), 'changed');

    // A reader runs admin's write script: its own permissions (read) refuse the write inside;
    // with use-script-permissions the script's policy must be one the reader holds.
    await run(admin, '/user group add name=reader policy=read,test; /user add name=rd group=reader password=x');
    await run(admin, '/system script add name=writer policy=read,test source="/system identity set name=by-reader"');
    const rd = await as('rd');
    assert.equal(await run(rd, '/system script run writer'), 'ERR not enough permissions (9)');
    assert.equal(await run(rd, '/system script run writer use-script-permissions'), 'ERR not enough permissions (9)');
    // dont-require-permissions lets the script's own policy act, bounded by its owner (admin).
    await run(admin, '/system script set writer policy=read,write,test dont-require-permissions=yes');
    assert.equal(await run(rd, '/system script run writer use-script-permissions'), '');
    assert.equal(await t.app.identity(), 'by-reader');

    // A script owned by the reader gets no more than the reader holds, whoever runs it.
    await run(admin, '/system script add name=reader-own owner=rd policy=read,write,test dont-require-permissions=yes source="/system identity set name=nope"');
    assert.equal(await run(admin, '/system script run reader-own use-script-permissions'), 'ERR not enough permissions (9)');
    assert.equal(await run(admin, '/system script run reader-own'), 'ERR not enough permissions (9)');
    assert.equal(await t.app.identity(), 'by-reader');
  } finally {
    t.close();
  }
});
