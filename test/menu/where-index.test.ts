// `print` and `find` with a `where` that implies `name="text"` look only at the rows the store's
// index holds for that text (generic.ts candidateRows): the same rows, in the same order, as a
// scan of every row.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { candidateRows, listRows } from '../../src/menu/generic.js';
import { USER_PATH } from '../../src/menus/user/user.js';
import { openTestApp, type TestApp } from '../support/app.js';

describe('where served by an index', () => {
  let t: TestApp;
  let session: ConsoleSession;
  const output: string[] = [];
  const put = async (line: string): Promise<string> => {
    output.length = 0;
    const r = await session.run(line);
    assert.ok(r.ok, r.error);
    return output.join('').trim();
  };

  before(async () => {
    t = await openTestApp();
    session = await ConsoleSession.open(t.app, { output: (s) => output.push(s) });
    await t.app.store.write((tx) => {
      const group = tx.findBy('/user/group', 'name', 'read')[0]!.id;
      const admin = tx.findBy(USER_PATH, 'name', 'admin')[0]!.data;
      for (let i = 0; i < 30; i++) tx.insert(USER_PATH, { ...admin, name: `u${i}`, group, comment: `c${i % 3}`, disabled: i % 2 === 1 });
    });
  });
  after(() => t.close());

  test('find gives the ids a scan gives', async () => {
    for (const [indexed, scanned] of [
      ['name="u7"', '(name="u7" || false)'],
      ['comment="c1"', '(comment="c1" || false)'],
      ['comment=c1 && disabled', '(comment=c1 || false) && disabled'],
      ['disabled && name=u8', 'disabled && (name=u8 || false)'],
      ['name="nobody"', '(name="nobody" || false)'],
    ]) {
      const a = await put(`:put [/user find where ${indexed}]`);
      const b = await put(`:put [/user find where ${scanned}]`);
      assert.equal(a, b, indexed);
    }
    assert.equal(await put(':put [:len [/user find where comment="c1"]]'), '10');
    assert.equal(await put(':put [:len [/user find where comment="c1" && disabled]]'), '5');
    assert.equal(await put(':put [:len [/user find where disabled && name=u8]]'), '0');
  });

  test('print gives the rows and numbers a scan gives', async () => {
    const a = await put('/user print terse where comment="c2"');
    const b = await put('/user print terse where (comment="c2" || false)');
    assert.equal(a, b);
    assert.equal(a.split('\n').length, 10);
    assert.equal(await put('/user print count-only where comment="c2" && !disabled'), '5');
  });

  test('values some callers may not read are never looked up in the index', async () => {
    const certs = t.app.registry.menu('/certificate')!;
    const users = t.app.registry.menu(USER_PATH)!;
    const where = (name: string, text: string) => Object.assign(() => true, { equals: { name, text } });
    await t.app.store.read((tx) => {
      const listed = listRows(certs, tx);
      assert.equal(candidateRows(certs, tx, listed, where('challenge-password', 'x')), listed);
      const userRows = listRows(users, tx);
      assert.equal(candidateRows(users, tx, userRows, where('password', 'x')), userRows);
      assert.deepEqual(candidateRows(users, tx, userRows, where('name', 'u3')).map((r) => r.data.name), ['u3']);
    });
  });

  test('a row changed since is found under its new value only', async () => {
    await put('/user set [find where name=u4] comment=moved');
    assert.equal(await put(':put [:len [/user find where comment=moved]]'), '1');
    assert.equal(await put(':put [:len [/user find where comment="c1"]]'), '9');
  });
});
