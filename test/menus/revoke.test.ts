// issued-revoke and CRL publication: R flag, revoked=, L on the CA, the CRL www serves
// (publishedCrl) judged by `openssl crl` and `openssl verify -crl_check`, renewal and warnings.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { CRL_VALIDITY_MS, publishedCrl, renewDueCrls, crlState } from '../../src/menus/certificate/crl-publish.js';
import { parseCrl } from '../../src/pki/crl.js';
import { openTestApp, openssl, opensslStatus, tempDir, toPem, type TestApp } from '../support/app.js';
import { needs } from '../support/tools.js';

const C = CERT_PATH;

async function idOf(t: TestApp, name: string): Promise<number> {
  return t.app.store.read((tx) => tx.findBy(C, 'name', name)[0]!.id);
}
async function pemFile(t: TestApp, dir: string, name: string): Promise<string> {
  const der = await t.app.store.read((tx) => certificateDer(tx, tx.findBy(C, 'name', name)[0]!.id)!);
  const file = path.join(dir, `${name}.pem`);
  fs.writeFileSync(file, toPem(der));
  return file;
}
async function issue(t: TestApp, name: string, ca: string): Promise<void> {
  await t.run(C, 'add', { name, 'common-name': name, 'key-size': 'prime256v1', 'key-usage': 'digital-signature,tls-server' });
  await t.run(C, 'sign', { number: name, ca });
}

describe('issued-revoke and CRL publication', () => {
  let t: TestApp;
  let dir: string;
  before(async () => {
    t = await openTestApp({ time: Date.now() });
    dir = tempDir();
    await t.run(C, 'add', { name: 'ca', 'common-name': 'Lab CA', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1', 'days-valid': '3650' });
    await t.run(C, 'sign', { number: 'ca', 'ca-crl-host': '127.0.0.1:8080' });
    await issue(t, 'alice', 'ca');
    await issue(t, 'bob', 'ca');
  });
  after(() => { t.close(); fs.rmSync(dir, { recursive: true, force: true }); });

  test('a CA publishes an empty CRL before any revocation', async () => {
    const caId = await idOf(t, 'ca');
    const der = await publishedCrl(t.app, `/crl/${caId}.crl`);
    assert.ok(der);
    const info = parseCrl(der);
    assert.equal(info.revoked.size, 0);
    assert.equal(info.crlNumber, '1');
    assert.equal(await publishedCrl(t.app, '/crl/999.crl'), undefined);
    assert.equal(await publishedCrl(t.app, `/crl/${await idOf(t, 'alice')}.crl`), undefined, 'not a CA');
    assert.equal(await publishedCrl(t.app, '/crl/../x'), undefined);
    // Served again without re-signing while fresh.
    assert.ok((await publishedCrl(t.app, `/crl/${caId}.crl`))!.equals(der));
  });

  test('revoking sets R and revoked=, signs a new CRL that openssl accepts', async () => {
    await t.run(C, 'issued-revoke', { numbers: 'alice' });
    assert.equal((await t.run(C, 'get', { number: 'alice', 'value-name': 'revoked' })).ret, new Date(t.clock.now()).toISOString().replace('T', ' ').slice(0, 19));
    const flags = await t.app.store.read((tx) => tx.findBy(C, 'name', 'ca')[0]!.data.crl);
    assert.equal(flags, true, 'the CA shows L');
    const caId = await idOf(t, 'ca');
    const der = (await publishedCrl(t.app, `/crl/${caId}.crl`))!;
    const info = parseCrl(der);
    assert.equal(info.crlNumber, '2');
    const serial = (await t.run(C, 'get', { number: 'alice', 'value-name': 'serial-number' })).ret;
    assert.deepEqual([...info.revoked], [String(serial).toUpperCase()]);

    const crlFile = path.join(dir, 'ca.crl');
    fs.writeFileSync(crlFile, toPem(der, 'X509 CRL'));
    const caFile = await pemFile(t, dir, 'ca');
    assert.match(opensslStatus(['crl', '-in', crlFile, '-CAfile', caFile, '-noout']).output, /verify OK/i);
    const text = openssl(['crl', '-in', crlFile, '-noout', '-text']);
    assert.match(text, /Version 2/);
    assert.match(text, /CRL Number/);
    assert.match(text, /Authority Key Identifier/);
    const alice = opensslStatus(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', crlFile, await pemFile(t, dir, 'alice')]);
    assert.notEqual(alice.status, 0);
    assert.match(alice.output, /certificate revoked/);
    assert.match(openssl(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', crlFile, await pemFile(t, dir, 'bob')]), /OK/);
    // The row keeps its name; revoking again is refused.
    await assert.rejects(t.run(C, 'issued-revoke', { numbers: 'alice' }), (e: RosError) => e.message === 'alice is already revoked');
    const log = await t.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
    assert.ok(log.some((m) => m === 'certificate alice revoked by admin'));
  });

  test('only certificates issued by a local CA can be revoked', async () => {
    await assert.rejects(t.run(C, 'issued-revoke', { numbers: 'ca' }), (e: RosError) => e.kind === 'failure' && /not issued by a local CA/.test(e.message));
    await t.run(C, 'add', { name: 'tmpl', 'common-name': 'x' });
    await assert.rejects(t.run(C, 'issued-revoke', { numbers: 'tmpl' }), /template/);
    await assert.rejects(t.run(C, 'issued-revoke', { numbers: 'nope' }), /no such item/);
    await t.run(C, 'remove', { numbers: 'tmpl' });
  });

  test('the CRL is renewed well before next-update, with a growing number', async () => {
    const caId = await idOf(t, 'ca');
    const before = parseCrl((await publishedCrl(t.app, `/crl/${caId}.crl`))!);
    t.clock.advance(CRL_VALIDITY_MS / 2 + 60_000);
    assert.equal(await renewDueCrls(t.app.env), 1);
    const after = parseCrl((await publishedCrl(t.app, `/crl/${caId}.crl`))!);
    assert.equal(Number(after.crlNumber), Number(before.crlNumber) + 1);
    assert.deepEqual([...after.revoked], [...before.revoked], 'entries are kept');
    assert.ok(after.nextUpdate! > t.clock.now() + CRL_VALIDITY_MS / 2);
  });

  test('a CRL that can not be renewed warns in /log before it expires', async () => {
    const caId = await idOf(t, 'ca');
    await t.app.store.write((tx) => {
      const row = tx.get(C, caId)!;
      tx.update(C, caId, { ...row.data, 'private-key': false });
    });
    const state = await t.app.store.read((tx) => crlState(tx.get(C, caId)!.data)!);
    t.clock.ms = state.nextUpdate - 3600_000;
    assert.equal(await renewDueCrls(t.app.env), 0);
    const log = await t.app.store.read((tx) => tx.list('/log').map((r) => `${(r.data.topics as string[]).join(',')} ${String(r.data.message)}`));
    assert.ok(log.some((m) => /^certificate,warning CRL of ca expires at .* could not be renewed: CA certificate has no private key$/.test(m)), log.join('\n'));
    // The old CRL is still served until then.
    const served = await publishedCrl(t.app, `/crl/${caId}.crl`);
    assert.ok(served, 'a CRL is still served');
    const info = parseCrl(served);
    assert.deepEqual([info.crlNumber, info.nextUpdate], [String(state.number), state.nextUpdate]);
    await t.app.store.write((tx) => {
      const row = tx.get(C, caId)!;
      tx.update(C, caId, { ...row.data, 'private-key': true });
    });
  });

  test('many revocations at once and removal of the CA', async () => {
    for (let i = 0; i < 5; i++) await issue(t, `u${i}`, 'ca');
    await t.run(C, 'issued-revoke', { numbers: 'u0,u1,u2' });
    const caId = await idOf(t, 'ca');
    const info = parseCrl((await publishedCrl(t.app, `/crl/${caId}.crl`))!);
    assert.equal(info.revoked.size, 4);
    await t.run(C, 'remove', { numbers: 'ca' });
    assert.equal(await publishedCrl(t.app, `/crl/${caId}.crl`), undefined);
  });
});

describe('the CRL\'s this-update and the daemons\' clock', () => {
  let t: TestApp;
  before(async () => { t = await openTestApp({ time: Date.now() }); });
  after(() => t.close());

  test('this-update is the router clock\'s time, also two days ahead of the host\'s (openvpn and charon run on it); on a host without libfaketime never later than the host\'s clock', { skip: needs('libfaketime') }, async () => {
    await t.run(C, 'add', { name: 'ca', 'common-name': 'Clock CA', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1' });
    await t.run(C, 'sign', { number: 'ca' });
    const caId = await idOf(t, 'ca');
    const start = t.clock.ms;
    const saved = process.env.ROSPKI_LIBFAKETIME;
    try {
      t.clock.ms = Date.now() + 2 * 86_400_000;
      await issue(t, 'carol', 'ca');
      await issue(t, 'dan', 'ca');
      await t.run(C, 'issued-revoke', { numbers: 'carol' });
      let info = parseCrl((await publishedCrl(t.app, `/crl/${caId}.crl`))!);
      assert.equal(info.thisUpdate, Math.floor(t.clock.now() / 1000) * 1000);
      assert.equal(info.nextUpdate, info.thisUpdate + CRL_VALIDITY_MS);
      // No libfaketime: the daemons judge by the host's clock, a this-update ahead of it would be "not yet valid".
      process.env.ROSPKI_LIBFAKETIME = '/nonexistent/libfaketimeMT.so.1';
      await t.run(C, 'issued-revoke', { numbers: 'dan' });
      info = parseCrl((await publishedCrl(t.app, `/crl/${caId}.crl`))!);
      assert.ok(info.thisUpdate <= Date.now(), 'not later than the host\'s clock');
      assert.equal(info.nextUpdate, Math.floor(t.clock.now() / 1000) * 1000 + CRL_VALIDITY_MS, 'next-update by the router clock');
    } finally {
      if (saved === undefined) delete process.env.ROSPKI_LIBFAKETIME;
      else process.env.ROSPKI_LIBFAKETIME = saved;
      t.clock.ms = start;
    }
  });
});
