// The numbers print shows and later commands take (spec §7.3): `print from=` and `print where`
// number each row by its place in the whole list, whatever the menu's order (id, a sort, or the
// rules' own order), and `set 0` after a print means the row printed as 0.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { FILTER_PATH } from '../../src/menus/ip/firewall.js';
import { ItemId } from '../../src/menu/values.js';
import type { CommandResult } from '../../src/menu/types.js';
import { openTestApp, type TestApp } from '../support/app.js';

/** Number → key value of each printed row. */
function numbered(result: CommandResult, key: string): string[] {
  const print = result.print!;
  return print.rows.map((r, i) => `${print.numbers[i]}:${String(r.data[key])}`);
}

describe('print numbers', () => {
  let t: TestApp;
  before(async () => { t = await openTestApp(); });
  after(() => t.close());

  it('from= and where number rows by their place in an id-ordered list', async () => {
    for (const name of ['u1', 'u2', 'u3', 'u4']) await t.run('/user', 'add', { name, group: 'read', password: 'x' });
    await t.run('/user', 'remove', { numbers: 'u2' });
    const all = numbered(await t.run('/user', 'print'), 'name');
    assert.deepEqual(all.map((s) => s.split(':')[1]), ['admin', 'u1', 'u3', 'u4']);
    const u4 = (await t.app.store.read((tx) => tx.findBy('/user', 'name', 'u4')[0]!.id));
    const u1 = (await t.app.store.read((tx) => tx.findBy('/user', 'name', 'u1')[0]!.id));
    assert.deepEqual(numbered(await t.run('/user', 'print', { from: `${new ItemId(u4)},${new ItemId(u1)}` }), 'name'), ['1:u1', '3:u4']);
    const where = await t.app.executor.run({ path: '/user', command: 'print', args: new Map(), where: (row) => String(row.get('name')).startsWith('u'), session: t.session });
    assert.deepEqual(numbered(where, 'name'), ['1:u1', '2:u3', '3:u4']);
  });

  it('a sorted menu (/ip service by port) numbers by the sort', async () => {
    const all = numbered(await t.run('/ip/service', 'print'), 'name');
    const api = all.find((s) => s.endsWith(':api'))!;
    const ssh = all.find((s) => s.endsWith(':ssh'))!;
    assert.deepEqual(numbered(await t.run('/ip/service', 'print', { from: 'api,ssh' }), 'name'), [ssh, api]);
  });

  it('an ordered menu (firewall rules) numbers by the rules\' order, and set 0 follows the last print', async () => {
    for (const comment of ['a', 'b', 'c']) await t.run(FILTER_PATH, 'add', { chain: 'input', comment });
    await t.run(FILTER_PATH, 'move', { numbers: '2', destination: '0' });
    assert.deepEqual(numbered(await t.run(FILTER_PATH, 'print'), 'comment'), ['0:c', '1:a', '2:b']);
    assert.deepEqual(numbered(await t.run(FILTER_PATH, 'print', { from: '2,0' }), 'comment'), ['0:c', '2:b']);
    await t.run(FILTER_PATH, 'set', { numbers: '0', comment: 'first' });
    assert.deepEqual(numbered(await t.run(FILTER_PATH, 'print'), 'comment'), ['0:first', '1:a', '2:b']);
  });
});
