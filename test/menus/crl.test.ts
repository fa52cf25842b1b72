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
    assert.match(exp.text!, new RegExp(`/certificate crl\nadd url=${srv.url('/manual.crl').replace(/[.]/g, '\\.')}\n$`));
    await assert.rejects(t.run(CRL, 'add', { url: 'not a url' }), /invalid CRL URL/);
  });

  test('untrusting the certificate removes its dynamic entry', async () => {
    for (const name of ['good', 'bad']) await t.run('/certificate', 'set', { numbers: name, trusted: 'no' });
    await t.run(CRL, 'print', {});
    const left = await rows();
    assert.deepEqual(left.map((d) => d.dynamic === true), [false]);
  });

  test('the scheduler downloads on every pass; stop() aborts the download in flight and ends the passes', async () => {
    // Only the manual entry is left (previous test). Its first two downloads are answered with a
    // CRL numbered by the request; the third is held open until the scheduler is stopped.
    const manual = '/manual.crl';
    const seen = () => srv.requests.filter((r) => r === `GET ${manual}`).length;
    const first = seen();
    let held: Promise<void> | undefined;
    const heldArrived = new Promise<void>((resolve) => {
      srv.routes.set(manual, (_req, res) => {
        const n = seen() - first;
        if (n <= 2) { res.end(ext.crl([], { number: 100 + n })); return; }
        held ??= new Promise<void>((closed) => res.on('close', () => closed()));
        resolve();
      });
    });
    // The scheduler gets the app's environment with its store calls counted.
    const calls = { n: 0 };
    const real = t.app.env.store;
    const store = new Proxy(real, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (...a: unknown[]) => { calls.n++; return (v as (...x: unknown[]) => unknown).apply(target, a); } : v;
      },
    });
    const env = new Proxy(t.app.env, { get: (target, prop) => (prop === 'store' ? store : Reflect.get(target, prop, target)) });
    const s = startCrlScheduler({ env }, { intervalMs: 10, refreshMs: 0 });
    try {
      await withTimeout(heldArrived, 20_000, 'the scheduler never made a third download');
      // Both answered downloads were stored: the entry shows the second CRL's number.
      const [row] = await rows();
      assert.deepEqual([row!.num, row!.invalid], ['102', false]);
    } finally {
      s.stop();
    }
    // stop() aborts the request in flight at once: well before the client's 10 s idle timeout.
    await withTimeout(held!, 5_000, 'stop() left the download in flight');
    // The aborted download is recorded (the last thing its pass does)…
    await withTimeout(until(async () => (await rows())[0]!.invalid === true), 20_000, 'the aborted download was not recorded');
    // …and no pass runs after it: thirty intervals later the scheduler has not touched the store.
    const settled = calls.n;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(calls.n, settled, 'a pass ran after stop()');
    assert.equal(seen() - first, 3);
  });
});

/** Resolves once `check` is true (checked every 10 ms). */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 10));
}

/** Resolves with `p`, or rejects naming `what` after `ms` (a bound, not a synchronisation). */
async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms); });
  try { return await Promise.race([p, timeout]); } finally { clearTimeout(timer); }
}
