// /user rows written before inactivity-timeout and inactivity-policy existed (src/menus/user/user.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { USER_PATH } from '../../src/menus/user/user.js';
import { openTestApp } from '../support/app.js';

describe('/user of an older data directory', () => {
  test('users stored without the inactivity settings get their defaults at the first /user command', async () => {
    const first = await openTestApp();
    await first.run(USER_PATH, 'add', { name: 'old', group: 'read', password: 'pw-old-1' });
    // As an older rospki stored them: without the two properties.
    await first.app.store.write((tx) => {
      const row = tx.findBy(USER_PATH, 'name', 'old')[0]!;
      const { 'inactivity-timeout': _t, 'inactivity-policy': _p, ...data } = row.data;
      tx.update(USER_PATH, row.id, data);
    });
    first.app.close();

    const t = await openTestApp({ dir: first.dir });
    try {
      const stored = () => t.app.store.read((tx) => tx.findBy(USER_PATH, 'name', 'old')[0]!.data);
      assert.equal((await stored())['inactivity-timeout'], undefined);
      await t.run(USER_PATH, 'print', { 'as-value': '' });
      const data = await stored();
      assert.notEqual(data['inactivity-timeout'], undefined);
      assert.equal(data['inactivity-policy'], 'none');
      // A user added afterwards carries them from the start.
      await t.run(USER_PATH, 'add', { name: 'new', group: 'read', password: 'pw-new-1' });
      const added = await t.app.store.read((tx) => tx.findBy(USER_PATH, 'name', 'new')[0]!.data);
      assert.equal(added['inactivity-policy'], 'none');
      assert.notEqual(added['inactivity-timeout'], undefined);
    } finally {
      t.app.close();
      fs.rmSync(first.dir, { recursive: true, force: true });
    }
  });
});
