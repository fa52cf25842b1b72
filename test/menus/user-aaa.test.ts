// /user aaa: RouterOS's properties and defaults, and who may change them — nobody lets RADIUS hand
// out more than they hold (a `policy` user without `sensitive` can not turn RADIUS on while it
// may give `full`); exclude-groups narrows what RADIUS may give, also for sessions already open.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RADIUS_STAMP, sessionPolicies } from '../../src/menus/user/aaa.js';
import { renderPrint } from '../../src/menu/render.js';
import { openTestApp, type TestApp } from '../support/app.js';

describe('/user aaa', () => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp();
    await t.run('/user/group', 'add', { name: 'admins-lite', policy: 'read,write,policy,api,test' });
    await t.run('/user', 'add', { name: 'lite', group: 'admins-lite', password: 'x' });
    await t.run('/user', 'add', { name: 'reader', group: 'read', password: 'x' });
  });
  after(() => t.close());

  const as = async (user: string, args: Record<string, string>) =>
    t.app.executor.run({ path: '/user/aaa', command: 'set', args: new Map(Object.entries(args)), session: await t.app.session(user, 'test') });

  test('defaults as RouterOS: use-radius=no accounting=yes interim-update=0s default-group=read exclude-groups=""', async () => {
    const text = renderPrint((await t.run('/user/aaa', 'print', {})).print!, t.session);
    for (const line of ['use-radius: no', 'accounting: yes', 'interim-update: 0s', 'default-group: read', 'exclude-groups: ']) {
      assert.ok(text.includes(line), `${line} in\n${text}`);
    }
  });

  test('a read user and a policy user lacking policies of a group RADIUS may give are refused; full may', async () => {
    await assert.rejects(as('reader', { 'use-radius': 'yes' }), /not enough permissions/);
    await assert.rejects(as('lite', { 'use-radius': 'yes' }), /not enough permissions/);
    await assert.rejects(as('lite', { 'default-group': 'full' }), /not enough permissions/);
    // With RADIUS off, lite may set default-group to a group whose policies they hold.
    await as('lite', { 'default-group': 'admins-lite' });
    await t.run('/user/aaa', 'set', { 'use-radius': 'yes', 'default-group': 'read' });
    // On: lite can not touch it (RADIUS may give full).
    await assert.rejects(as('lite', { 'interim-update': '1m' }), /not enough permissions/);
    await assert.rejects(t.run('/user/aaa', 'set', { 'default-group': 'no-such' }), /input does not match|no such/);
  });

  test('exclude-groups and a local user end what a RADIUS session holds', async () => {
    await t.run('/user/aaa', 'set', { 'use-radius': 'yes' });
    const rights = () => t.app.store.read((tx) => sessionPolicies(tx, 'remote', `${RADIUS_STAMP}full`));
    assert.ok((await rights())?.has('policy'));
    await t.run('/user/aaa', 'set', { 'exclude-groups': 'full' });
    assert.equal(await rights(), undefined);
    await t.run('/user/aaa', 'set', { 'exclude-groups': '' });
    assert.ok(await rights());
    await t.run('/user', 'add', { name: 'remote', group: 'read', password: 'y' });
    assert.equal(await rights(), undefined, 'a local user of that name wins');
    await t.run('/user/aaa', 'set', { 'use-radius': 'no' });
  });
});
