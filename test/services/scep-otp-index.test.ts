// The SCEP server's one-time password lookup (scep-server.ts findOtp): its index follows the OTP
// menu from one list of rows to the next (only rows whose data changed are filed again), so it
// must see every kind of change between two lookups — a password used, a row removed, a row
// added, a row whose password changed, several at once — exactly as a lookup over all rows would.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SCEP_OTP_PATH, findOtp, useOtp } from '../../src/menus/certificate/scep-server.js';
import { openTestApp, type TestApp } from '../support/app.js';

describe('SCEP one-time password index', () => {
  let t: TestApp;
  before(async () => { t = await openTestApp(); });
  after(() => t.close());

  const generate = async (): Promise<string> => String((await t.run('/certificate/scep-server/otp', 'generate', { 'minutes-valid': '60' })).ret);
  const find = (password: string) => t.app.store.read((tx) => findOtp(t.app.env, tx, password, t.clock.now()));
  const idOf = async (password: string): Promise<number> => {
    const row = await find(password);
    assert.ok(row, `the password ${password.slice(0, 4)}… is found`);
    return row.id;
  };

  test('follows uses, removals, additions and changed passwords between lookups', async () => {
    const [a, b, c] = [await generate(), await generate(), await generate()];
    const [ia, ib, ic] = [await idOf(a), await idOf(b), await idOf(c)];
    assert.equal(new Set([ia, ib, ic]).size, 3);
    assert.equal(await find('not a password'), undefined);

    // Used: no longer valid, the others still are.
    await t.app.store.write((tx) => useOtp(tx, tx.get(SCEP_OTP_PATH, ia)!));
    assert.equal(await find(a), undefined);
    assert.equal(await idOf(b), ib);

    // One removed, then one added.
    await t.app.store.write((tx) => { tx.remove(SCEP_OTP_PATH, ib); });
    const d = await generate();
    assert.equal(await find(b), undefined);
    const id = await idOf(d);
    assert.notEqual(id, ib);

    // A row whose password changed: found by the new one only.
    const changed = `${c}-changed`;
    await t.app.store.write((tx) => { const row = tx.get(SCEP_OTP_PATH, ic)!; tx.update(SCEP_OTP_PATH, ic, { ...row.data, password: changed }); });
    assert.equal(await find(c), undefined);
    assert.equal(await idOf(changed), ic);

    // Expired: not valid, though still filed.
    t.clock.advance(61 * 60_000);
    assert.equal(await find(d), undefined);
    assert.equal(await find(changed), undefined);
  });
});
