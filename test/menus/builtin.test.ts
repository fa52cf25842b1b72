// /certificate builtin: Node's bundled Mozilla roots, read-only, with the certificate properties;
// the trust engine uses them only where builtin-trust-store allows it.
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { RosArray } from '../../src/menu/values.js';
import { builtinRoots } from '../../src/menus/certificate/builtin.js';
import { builtinsTrustedFor, readSettings } from '../../src/menus/certificate/settings.js';
import { TRUST_ERRORS } from '../../src/trust/engine.js';
import { openTestApp, type TestApp } from '../support/app.js';

const B = '/certificate/builtin';

describe('/certificate builtin', () => {
  let t: TestApp;
  before(async () => { t = await openTestApp(); });
  after(() => t.close());

  test('lists every bundled root with RouterOS properties', async () => {
    const count = (await t.run(B, 'print', { 'count-only': '' })).ret;
    assert.equal(count, builtinRoots().length);
    assert.ok(builtinRoots().length >= tls.rootCertificates.length - 2);
    const ids = (await t.run(B, 'find', {}, )).ret as RosArray;
    assert.equal(ids.values().length, count);
    const isrg = (await t.run(B, 'get', { number: 'ISRG Root X1' })).ret as RosArray;
    assert.equal(isrg.get('skid'), '79B459E67BB6E5E40173800888C81A58F6E99B6E');
    assert.equal(isrg.get('key-type'), 'rsa');
    assert.equal(isrg.get('key-size'), '4096');
    assert.equal(isrg.get('organization'), 'Internet Security Research Group');
    assert.equal(isrg.get('issuer'), 'C=US,O=Internet Security Research Group,CN=ISRG Root X1');
    assert.equal(isrg.get('invalid-after'), '2035-06-04 11:04:38');
    assert.equal(isrg.get('akid'), '');
  });

  test('is read-only', async () => {
    await assert.rejects(t.run(B, 'remove', { numbers: '0' }), /no such command/);
    await assert.rejects(t.run(B, 'add', {}), /no such command/);
  });

  test('built-ins are anchors only for the services builtin-trust-store allows', async () => {
    const s = await t.app.store.read((tx) => readSettings(tx));
    assert.equal(builtinsTrustedFor(s, 'fetch'), true);
    assert.equal(builtinsTrustedFor(s, 'ipsec'), false);
    const root = builtinRoots().find((c) => c.subject.commonName === 'ISRG Root X1')!;
    const r1 = await t.app.env.trust.verify({ chain: [root.der], service: 'fetch', mode: 'yes' });
    assert.ok(r1.ok);
    const r2 = await t.app.env.trust.verify({ chain: [root.der], service: 'ipsec', mode: 'yes' });
    assert.equal(r2.ok ? 'accepted' : r2.error, TRUST_ERRORS.noTrustedCa);
    await t.run('/certificate/settings', 'set', { 'builtin-trust-anchors': 'not-trusted' });
    const r3 = await t.app.env.trust.verify({ chain: [root.der], service: 'fetch', mode: 'yes' });
    assert.equal(r3.ok ? 'accepted' : r3.error, TRUST_ERRORS.noTrustedCa);
  });
});
