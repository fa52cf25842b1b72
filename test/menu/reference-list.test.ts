// A list of references (refListType, the IPsec identity `certificate`): stored as ids, shown by
// name, so a rename follows; removing a target applies the one reference rule to every list that
// holds it (none: dropped from the list with a /log line; refuse; cascade), like a single
// reference. Also: a menu declared after its sub-menu takes the place of the directory made for it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Appliance } from '../../src/appliance.js';
import { FixedClock } from '../../src/clock.js';
import { ConsoleSession } from '../../src/console/session.js';
import { refListType, refType, stringType } from '../../src/menu/proptypes.js';
import { Registry } from '../../src/menu/registry.js';
import type { MenuDecl } from '../../src/menu/types.js';
import { ALL_MENUS } from '../../src/menus/index.js';
import { T0, tempDir } from '../support/app.js';

const thingMenu: MenuDecl = {
  path: '/test/thing', kind: 'list', key: 'name', verbs: ['print', 'get', 'set', 'add', 'remove', 'find'],
  properties: [{ name: 'name', type: stringType, required: true, unique: true }],
};
const holderMenu: MenuDecl = {
  path: '/test/holder', kind: 'list', key: 'name', verbs: ['print', 'get', 'set', 'add', 'remove', 'find', 'export'],
  columns: ['name', 'things'],
  properties: [
    { name: 'name', type: stringType, required: true, unique: true },
    { name: 'things', type: refListType('/test/thing'), default: [] },
    { name: 'one', type: refType('/test/thing', { none: true }), default: 0 },
  ],
};
/** Lists whose targets may not go (refuse) or take the list's row along (cascade). */
const strictMenu: MenuDecl = {
  path: '/test/strict', kind: 'list', key: 'name', verbs: ['print', 'add', 'remove'],
  properties: [
    { name: 'name', type: stringType, required: true, unique: true },
    { name: 'kept', type: refListType('/test/thing', { onRemove: 'refuse' }), default: [] },
    { name: 'owned', type: refListType('/test/thing', { onRemove: 'cascade' }), default: [] },
  ],
};

describe('reference lists', () => {
  let app: Appliance;
  let dir: string;
  let cs: ConsoleSession;
  let out = '';
  const cli = async (line: string): Promise<string> => {
    out = '';
    const r = await cs.run(line);
    return r.ok ? out : `${out}${r.error}\n`;
  };

  before(async () => {
    dir = tempDir();
    app = await Appliance.open(dir, { clock: new FixedClock(T0), menus: [...ALL_MENUS, thingMenu, holderMenu, strictMenu] });
    cs = await ConsoleSession.open(app, { output: (t) => { out += t; } });
    for (const n of ['alpha', 'beta', 'gamma', 'delta']) await cli(`/test/thing add name=${n}`);
  });
  after(() => { app.close(); fs.rmSync(dir, { recursive: true, force: true }); });

  test('names, prefixes, ids and arrays are read; none and "" are empty; unknown names refused', async () => {
    assert.equal(await cli('/test/holder add name=h1 things=alpha,bet,*3'), '');
    assert.equal(await cli(':put [/test/holder get h1 things]'), 'alpha;beta;gamma\n');
    assert.equal(await cli('/test/holder add name=h2 things=[:toarray "gamma,alpha,gamma"]'), '');
    assert.equal(await cli(':put [/test/holder get h2 things]'), 'gamma;alpha\n', 'kept in the order given, once each');
    assert.equal(await cli('/test/holder add name=h3 things=""; /test/holder add name=h4 things=none'), '');
    assert.equal(await cli(':put [:len [/test/holder get h3 things]]; :put [:len [/test/holder get h4 things]]'), '0\n0\n');
    assert.equal(await cli('/test/holder add name=h5 things=alpha,nosuch'), 'input does not match any value of things\n');
    assert.equal(await cli(':put [:typeof [/test/holder get h1 things]]; :put [:typeof [/test/holder get h3 things]]'), 'array\narray\n');
    assert.match(await cli('/test/holder print'), /^1 h2\s+gamma,alpha\s*$/m);
    assert.match(await cli('/test/holder export'), /^add name=h1 things=alpha,beta,gamma$/m);
  });

  test('a rename follows into every list', async () => {
    await cli('/test/thing set beta name=bravo');
    assert.equal(await cli(':put [/test/holder get h1 things]'), 'alpha;bravo;gamma\n');
    await cli('/test/thing set bravo name=beta');
  });

  test('removing a target drops it from each list, says so in /log, and leaves no dangling id', async () => {
    await cli('/test/holder set h2 one=gamma');
    assert.equal(await cli('/test/thing remove gamma'), '');
    assert.equal(await cli(':put [/test/holder get h1 things]'), 'alpha;beta\n');
    assert.equal(await cli(':put [/test/holder get h2 things]; :put [/test/holder get h2 one]'), 'alpha\nnone\n');
    const gammaId = 3;
    const stored = await app.store.read((tx) => tx.list('/test/holder').map((r) => [r.data.things, r.data.one]));
    assert.ok(stored.every(([things, one]) => !(things as number[]).includes(gammaId) && one !== gammaId), JSON.stringify(stored));
    const log = await cli('/log print where message~"gamma"');
    assert.match(log, /system,warning h1: things gamma removed, the others stay/);
    assert.match(log, /system,warning h2: things gamma removed, the others stay/);
    assert.match(log, /system,warning h2: one gamma removed, none until one is set/);
    assert.equal(await cli('/test/thing remove alpha'), '');
    assert.match(await cli('/log print where message~"alpha"'), /h2: things alpha removed, none until one is set/);
    assert.equal(await cli(':put [:len [/test/holder get h2 things]]'), '0\n');
  });

  test('refuse and cascade apply to lists too', async () => {
    assert.equal(await cli('/test/strict add name=s1 kept=delta'), '');
    assert.equal(await cli('/test/thing remove delta'), 'failure: test thing delta is in use by test strict s1\n');
    assert.equal(await cli('/test/strict remove s1; /test/strict add name=s2 owned=beta,delta'), '');
    assert.equal(await cli('/test/thing remove delta'), '');
    assert.equal(await cli(':put [/test/strict print count-only]'), '0\n', 'the row holding it went along');
  });
});

test('a menu declared after one of its sub-menus replaces the directory made for it', () => {
  const child: MenuDecl = { path: '/a/b/c', kind: 'list', verbs: ['print'], properties: [] };
  const parent: MenuDecl = { path: '/a/b', kind: 'list', verbs: ['print', 'find'], properties: [] };
  const registry = new Registry([child, parent]);
  assert.equal(registry.menu('/a/b'), parent);
  assert.deepEqual(registry.commands('/a/b').map((c) => c.name), ['print', 'find']);
  assert.deepEqual(registry.children('/a/b'), ['c']);
  assert.equal(registry.menu('/a')?.kind, 'dir');
  assert.throws(() => registry.add(parent), /declared twice/);
});
