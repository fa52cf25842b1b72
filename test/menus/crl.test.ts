// /certificate crl: dynamic entries from trusted certificates' CDPs, manual entries, download
// over HTTP from a server on 127.0.0.1 (bounded), flush, crl-store, and the trust engine using
// the downloaded CRL (crl-use=yes): revoked refused, missing CRL refused unless yes-without-crl.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { CRL_MENU_PATH, loadedCrl } from '../../src/menus/certificate/crl.js';
import { crlPass, startCrlScheduler } from '../../src/menus/certificate/crl-schedule.js';
import { TRUST_ERRORS } from '../../src/trust/engine.js';
import { RosArray } from '../../src/menu/values.js';
import { openTestApp, type TestApp } from '../support/app.js';
import { externalCa, putCertificate, startServer, type ExternalCa, type TestServer } from './crl-support.js';

const CRL = CRL_MENU_PATH;
const S = '/certificate/settings';

describe('/certificate crl', () => {
  let t: TestApp;
  let srv: TestServer;
  let ext: ExternalCa;
  let good: Buffer;
  let bad: Buffer;
  let badSerial: string;
  before(async () => {
    t = await openTestApp({ time: Date.now() });
    srv = await startServer();
    ext = externalCa('External CA', t.clock.now());
    const goodLeaf = ext.leaf('good.test', { san: 'DNS:good.test', cdp: srv.url('/ext.crl') });
    const badLeaf = ext.leaf('bad.test', { san: 'DNS:bad.test', cdp: srv.url('/ext.crl') });
    good = goodLeaf.der;
    bad = badLeaf.der;
    badSerial = badLeaf.serialHex;
    await putCertificate(t, 'ext-ca', ext.ca.der);
    await putCertificate(t, 'good', good);
    srv.routes.set('/ext.crl', (_req, res) => { res.setHeader('Content-Type', 'application/pkix-crl'); res.end(ext.crl([badSerial])); });
  });
  after(async () => { t.close(); await srv.close(); });

  const rows = () => t.app.store.read((tx) => tx.list(CRL).map((r) => r.data));

  test('trusted certificates with a CDP give one dynamic entry per URL', async () => {
    const out = await t.run(CRL, 'print', { 'as-value': '' });
    const list = (out.ret as RosArray).values() as RosArray[];
    assert.equal(list.length, 1);
    assert.equal(list[0]!.get('url'), srv.url('/ext.crl'));
    assert.equal(list[0]!.get('cert'), 'good');
    assert.equal(list[0]!.get('dynamic'), true);
    await assert.rejects(t.run(CRL, 'remove', { numbers: '0' }), /can not remove dynamic entry/);
    await assert.rejects(t.run(CRL, 'set', { numbers: '0', url: 'http://x/y' }), /can not change dynamic entry/);
    // A second trusted certificate with the same CDP adds nothing.
    await putCertificate(t, 'bad', bad);
    await t.run(CRL, 'print', {});
    assert.equal((await rows()).length, 1);
  });

  test('download reads the CRL over HTTP and shows its facts', async () => {
    await t.run(CRL, 'download', {});
    const [row] = await rows();
    assert.equal(row!.num, '1');
    assert.equal(row!.revoked, 1);
    assert.equal(row!.akid, ext.ca.skid);
    assert.equal(row!.invalid, false);
    assert.ok(typeof row!['next-update'] === 'number');
    const crl = await t.app.store.read((tx) => loadedCrl(t.app.env, tx, tx.list(CRL)[0]!.id));
    assert.ok(crl?.revoked.has(badSerial));
    assert.deepEqual(srv.requests.filter((r) => r.includes('ext.crl')), ['GET /ext.crl']);
  });

  test('the trust engine refuses the revoked certificate with crl-use=yes', async () => {
    await t.run(S, 'set', { 'crl-use': 'yes' });
    const ok = await t.app.env.trust.verify({ chain: [good], host: 'good.test', service: 'fetch', mode: 'yes' });
    assert.ok(ok.ok, ok.ok ? '' : ok.error);
    const revoked = await t.app.env.trust.verify({ chain: [bad], host: 'bad.test', service: 'fetch', mode: 'yes' });
    assert.deepEqual(revoked.ok ? 'accepted' : revoked.error, TRUST_ERRORS.revoked);
    const without = await t.app.env.trust.verify({ chain: [bad], host: 'bad.test', service: 'fetch', mode: 'yes-without-crl' });
    assert.ok(without.ok, 'yes-without-crl skips CRL validation');
  });

  test('no CRL → refused, unless yes-without-crl; flush forgets the lists', async () => {
    await t.run(CRL, 'flush', {});
    const [row] = await rows();
    assert.equal(row!.num, undefined);
    const r = await t.app.env.trust.verify({ chain: [good], host: 'good.test', service: 'fetch', mode: 'yes' });
    assert.deepEqual(r.ok ? 'accepted' : r.error, TRUST_ERRORS.noCrl);
    assert.ok((await t.app.env.trust.verify({ chain: [good], host: 'good.test', service: 'fetch', mode: 'yes-without-crl' })).ok);
  });

  test('crl-download=yes fetches on demand and on schedule; failures mark the entry invalid', async () => {
    await t.run(S, 'set', { 'crl-download': 'yes' });
    const r = await t.app.env.trust.verify({ chain: [bad], host: 'bad.test', service: 'fetch', mode: 'yes' });
    assert.deepEqual(r.ok ? 'accepted' : r.error, TRUST_ERRORS.revoked);
    // A scheduler pass downloads nothing new within the hour…
    const pass1 = await crlPass(t.app.env);
    assert.equal(pass1.downloaded + pass1.failed, 0);
    // …and again after it; a 404 marks it invalid and logs.
    srv.routes.delete('/ext.crl');
    t.clock.advance(3600_000 + 1000);
    const pass2 = await crlPass(t.app.env);
    assert.equal(pass2.failed, 1);
    const [row] = await rows();
    assert.equal(row!.invalid, true);
    const log = await t.app.store.read((tx) => tx.list('/log').map((l) => String(l.data.message)));
    assert.ok(log.some((m) => m === `CRL download from ${srv.url('/ext.crl')} failed: Status 404, Not Found`), log.join('\n'));
    const printed = await t.run(CRL, 'get', { number: '0', 'value-name': 'invalid' });
    assert.equal(printed.ret, true);
  });

  test('downloads are bounded in size', async () => {
    srv.routes.set('/huge.crl', (_req, res) => {
      res.setHeader('Content-Length', String(17 * 1024 * 1024));
      res.write(Buffer.alloc(1024));
      setTimeout(() => res.destroy(), 50);
    });
    const id = (await t.run(CRL, 'add', { url: srv.url('/huge.crl') })).ret;
    await assert.rejects(t.run(CRL, 'download', { numbers: id }), (e: RosError) => e.message === 'maximum message size exceeded');
    await t.run(CRL, 'remove', { numbers: id });
  });

  test('manual entries: add url=, crl-store=system keeps the DER, export lists only manual ones', async () => {
    srv.routes.set('/ext.crl', (_req, res) => res.end(ext.crl([badSerial], { number: 5 })));
    await t.run(S, 'set', { 'crl-store': 'system' });
    await t.run(CRL, 'add', { url: srv.url('/manual.crl') });
    srv.routes.set('/manual.crl', (_req, res) => res.end(ext.crl([], { number: 9 })));
    await t.run(CRL, 'download', {});
    const data = await rows();
    assert.deepEqual(data.map((d) => [d.num, d.revoked, d.invalid]), [['5', 1, false], ['9', 0, false]]);
    const blobs = await t.app.store.read((tx) => tx.list(CRL).map((r) => tx.getBlob(CRL, r.id, 'der')?.length ?? 0));
    assert.ok(blobs.every((n) => n > 0));
    const exp = await t.run(CRL, 'export', {});
    assert.match(exp.messages![0]!, new RegExp(`/certificate crl\nadd url=${srv.url('/manual.crl').replace(/[.]/g, '\\.')}$`));
    await assert.rejects(t.run(CRL, 'add', { url: 'not a url' }), /invalid CRL URL/);
  });

  test('untrusting the certificate removes its dynamic entry; the scheduler stops cleanly', async () => {
    for (const name of ['good', 'bad']) await t.run('/certificate', 'set', { numbers: name, trusted: 'no' });
    await t.run(CRL, 'print', {});
    const left = await rows();
    assert.deepEqual(left.map((d) => d.dynamic === true), [false]);
    const s = startCrlScheduler(t.app, { intervalMs: 10 });
    await new Promise((r) => setTimeout(r, 50));
    s.stop();
  });
});
