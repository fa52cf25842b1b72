// When an ACME row is renewed (acme-state.ts): one rule for print and the daemon's loop; and the
// loop itself, which runs once per appliance and starts at most one job per certificate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acmeDueAt, backoffMs } from '../../src/menus/certificate/acme-state.js';
import { jobRunning, rowJobKey } from '../../src/menus/certificate/acme-issue.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { AcmeRenewal } from '../../src/services/acme-renewal.js';
import { openTestApp } from '../support/app.js';

const DAY = 86_400_000;
const T = Date.parse('2026-03-01T00:00:00Z');
const cert = { '.acme': 'client', fingerprint: 'ab', 'invalid-before': T, 'invalid-after': T + 90 * DAY };

test('due at 80 % of the validity; the CA\'s window or a retry time first; at once without a certificate', () => {
  assert.equal(acmeDueAt(cert), T + 72 * DAY);
  assert.equal(acmeDueAt({ ...cert, '.acme-ari-at': T + 60 * DAY }), T + 60 * DAY);
  assert.equal(acmeDueAt({ ...cert, '.acme-ari-at': T + 60 * DAY, '.acme-retry-at': T + 5 }), T + 5);
  assert.equal(acmeDueAt({ '.acme': 'client', 'acme-status': 'pending' }), 0);
  assert.equal(acmeDueAt({ ...cert, '.acme': undefined }), undefined, 'not an ACME row');
});

test('never sooner than a tenth of the validity (a day at most) after the last issuance: no loop when the router clock runs ahead', () => {
  assert.equal(acmeDueAt({ ...cert, '.acme-issued': T + 80 * DAY }), T + 81 * DAY);
  const short = { ...cert, 'invalid-after': T + 6 * DAY, '.acme-issued': T + 10 * DAY };
  assert.equal(acmeDueAt(short), T + 10 * DAY + Math.floor(0.6 * DAY));
});

test('back-off: 10 minutes doubling to 6 hours, never shorter than Retry-After', () => {
  assert.deepEqual([1, 2, 3, 7, 20].map((n) => backoffMs(n) / 60_000), [10, 20, 40, 360, 360]);
  assert.equal(backoffMs(1, 7_200_000), 7_200_000);
  assert.equal(backoffMs(6, 1000), 320 * 60_000);
});

test('one renewal loop per appliance; a due row gets one job, whoever asks', async () => {
  const t = await openTestApp({ time: Date.now() });
  const first = new AcmeRenewal(t.app.env);
  const second = new AcmeRenewal(t.app.env);
  try {
    // The holder's first look (planned when it got the duty) has run: the row below is found
    // only by the looks asked for.
    await first.reconcile();
    // A row due now whose directory answers nothing: its job fails, recorded, later.
    const id = await t.app.store.write((tx) => tx.insert(CERT_PATH, {
      name: 'due', '.acme': 'client', 'domain-names': ['due.router.test'], 'directory-url': 'https://127.0.0.1:1/dir', 'acme-status': 'pending',
    }));
    await second.reconcile();
    assert.equal(jobRunning(t.app.env, rowJobKey(id)), false, 'the second loop stays idle');
    await first.reconcile();
    assert.equal(jobRunning(t.app.env, rowJobKey(id)), true);
    await first.reconcile();
    // The job ends with the failure recorded and a retry time.
    for (const deadline = Date.now() + 30_000; jobRunning(t.app.env, rowJobKey(id)) && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 25));
    const row = await t.app.store.read((tx) => tx.get(CERT_PATH, id)!.data);
    assert.equal(row['acme-status'], 'failed');
    assert.match(String(row['acme-error']), /^ACME server 127\.0\.0\.1:1 is not reachable: /);
    assert.equal(row['.acme-retry-at'], t.app.clock.now() + 10 * 60_000);
  } finally {
    await first.stop();
    await second.stop();
    t.close();
  }
});
