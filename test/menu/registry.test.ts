// The registry: a declared menu takes the place of the directory its sub-menus implied, in
// either order (`/interface` is a list, `/interface ovpn-server server` a menu of its own), and
// the console and REST reach both.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { Appliance } from '../../src/appliance.js';
import { FixedClock } from '../../src/clock.js';
import { ConsoleSession } from '../../src/console/session.js';
import { Registry } from '../../src/menu/registry.js';
import { boolType } from '../../src/menu/proptypes.js';
import type { MenuDecl } from '../../src/menu/types.js';
import { ALL_MENUS } from '../../src/menus/index.js';
import { interfaceMenu } from '../../src/menus/interface/interface.js';
import { T0, tempDir } from '../support/app.js';

const sub: MenuDecl = {
  path: '/interface/gadget/server', kind: 'singleton', verbs: ['print', 'get', 'set'],
  properties: [{ name: 'enabled', type: boolType, default: false }],
};

test('a sub-menu declared before or after its parent list: both orders give the same menus', () => {
  for (const order of [[sub, interfaceMenu], [interfaceMenu, sub]]) {
    const r = new Registry(order);
    assert.equal(r.menu('/interface'), interfaceMenu);
    assert.equal(r.menu('/interface/gadget')?.kind, 'dir');
    assert.deepEqual(r.children('/interface'), ['gadget']);
    assert.ok(r.command('/interface', 'print'));
  }
  assert.throws(() => new Registry([interfaceMenu, interfaceMenu]), /declared twice/);
  assert.throws(() => new Registry([sub, interfaceMenu, { ...interfaceMenu }]), /declared twice/);
});

test('the console reaches the list and the sub-menu under it', async () => {
  const dir = tempDir();
  const app = await Appliance.open(dir, { clock: new FixedClock(T0), menus: [sub, ...ALL_MENUS] });
  try {
    let out = '';
    const cs = await ConsoleSession.open(app, { output: (s) => { out += s; } });
    assert.deepEqual(await cs.run('/interface gadget server set enabled=yes'), { ok: true });
    assert.deepEqual(await cs.run(':put [/interface gadget server get enabled]; :put ([:len [/interface find]] > 0)'), { ok: true });
    assert.equal(out, 'true\ntrue\n');
  } finally {
    app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
