// Dates in texts a user reads (/log messages, refusals of the trust engine) follow the router's
// zone like every printed date (/system clock time-zone-name; compatibility.md "Time zone").
// Europe/Riga is UTC+02:00 in January, so each date below differs from its UTC form by two hours.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { CRL_VALIDITY_MS, crlState, publishedCrl, renewDueCrls } from '../../src/menus/certificate/crl-publish.js';
import { openTestApp, T0, type TestApp } from '../support/app.js';

const C = CERT_PATH;
const HOUR = 3600_000;

describe('dates in messages are shown in the router zone', () => {
  let t: TestApp;
  const logLines = () => t.app.store.read((tx) => tx.list('/log').map((r) => `${(r.data.topics as string[]).join(',')} ${String(r.data.message)}`));
  const caId = () => t.app.store.read((tx) => tx.findBy(C, 'name', 'ca')[0]!.id);

  before(async () => {
    t = await openTestApp({ time: T0 }); // 2026-01-01 00:00:00 UTC = 02:00:00 in Riga
    await t.run('/system/clock', 'set', { 'time-zone-name': 'Europe/Riga' });
    await t.run(C, 'add', { name: 'ca', 'common-name': 'ca', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1' });
    await t.run(C, 'sign', { number: 'ca', 'ca-crl-host': '127.0.0.1' });
    for (const name of ['srv', 'old']) {
      await t.run(C, 'add', { name, 'common-name': name, 'key-size': 'prime256v1', 'days-valid': '1' });
      await t.run(C, 'sign', { number: name, ca: 'ca' });
    }
  });
  after(() => t.close());

  test('issued-revoke: the CRL line of /log', async () => {
    await t.run(C, 'issued-revoke', { numbers: 'srv' });
    assert.ok((await logLines()).includes('certificate,info CRL #1 of ca signed (1 revoked), next update 2026-01-02 02:00:00'), (await logLines()).join('\n'));
  });

  test('the CRL renewed by the scheduler and by www', async () => {
    t.clock.advance(CRL_VALIDITY_MS / 2 + HOUR); // 13:00 UTC, past the renewal point
    assert.equal(await renewDueCrls(t.app.env), 1);
    assert.ok((await logLines()).includes('certificate,info CRL #2 of ca signed, next update 2026-01-02 15:00:00'), (await logLines()).join('\n'));
    t.clock.advance(CRL_VALIDITY_MS / 2 + HOUR); // 2026-01-02 02:00 UTC
    assert.ok(await publishedCrl(t.app, `/crl/${await caId()}.crl`));
    assert.ok((await logLines()).includes('certificate,info CRL #3 of ca signed, next update 2026-01-03 04:00:00'), (await logLines()).join('\n'));
  });

  test('a CRL that can not be renewed: the warning', async () => {
    const id = await caId();
    await t.app.store.write((tx) => { const row = tx.get(C, id)!; tx.update(C, id, { ...row.data, 'private-key': false }); });
    const state = await t.app.store.read((tx) => crlState(tx.get(C, id)!.data)!);
    t.clock.ms = state.nextUpdate - HOUR;
    assert.equal(await renewDueCrls(t.app.env), 0);
    assert.ok((await logLines()).some((l) => l.startsWith('certificate,warning CRL of ca expires at 2026-01-03 04:00:00 and could not be renewed')), (await logLines()).join('\n'));
    await t.app.store.write((tx) => { const row = tx.get(C, id)!; tx.update(C, id, { ...row.data, 'private-key': true }); });
  });

  test('the trust engine: an expired certificate is refused with local dates', async () => {
    t.clock.ms = Date.parse('2026-01-05T10:30:00Z');
    const der = await t.app.store.read((tx) => certificateDer(tx, tx.findBy(C, 'name', 'old')[0]!.id)!);
    const r = await t.app.env.trust.verify({ chain: [der], service: 'fetch', mode: 'yes-without-crl' });
    assert.equal(r.ok, false);
    // `old` was signed at 2026-01-01 00:00 UTC for one day.
    assert.equal(!r.ok && r.error, 'SSL: ssl: cert not valid (after: 2026-01-02 02:00:00 < now: 2026-01-05 12:30:00)');
    // The same date `get` shows.
    assert.equal((await t.run(C, 'get', { number: 'old', 'value-name': 'invalid-after' })).ret, '2026-01-02 02:00:00');
  });

  test('a certificate not valid yet: the other refusal', async () => {
    t.clock.ms = Date.parse('2025-12-31T20:00:00Z');
    const der = await t.app.store.read((tx) => certificateDer(tx, tx.findBy(C, 'name', 'old')[0]!.id)!);
    const r = await t.app.env.trust.verify({ chain: [der], service: 'fetch', mode: 'yes-without-crl' });
    assert.equal(!r.ok && r.error, 'SSL: ssl: cert not valid (before: 2026-01-01 02:00:00 > now: 2025-12-31 22:00:00)');
  });
});
