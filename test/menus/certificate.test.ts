// /certificate templates, signing, flags and properties — every certificate judged by openssl.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { ItemId, RosArray, Duration } from '../../src/menu/values.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { openTestApp, openssl, opensslStatus, tempDir, toPem, type TestApp } from '../support/app.js';

const C = CERT_PATH;

async function der(t: TestApp, name: string): Promise<Buffer> {
  return t.app.store.read((tx) => {
    const row = tx.list(C).find((r) => r.data.name === name)!;
    return certificateDer(tx, row.id)!;
  });
}

async function get(t: TestApp, name: string, prop: string) {
  return (await t.run(C, 'get', { number: name, 'value-name': prop })).ret;
}

function writePem(dir: string, name: string, d: Buffer): string {
  const file = path.join(dir, `${name}.pem`);
  fs.writeFileSync(file, toPem(d));
  return file;
}

describe('/certificate', () => {
  let t: TestApp;
  let dir: string;
  before(async () => {
    t = await openTestApp();
    dir = tempDir();
  });
  after(() => { t.close(); fs.rmSync(dir, { recursive: true, force: true }); });

  test('a CA and a server certificate, verified by openssl', async () => {
    await t.run(C, 'add', { name: 'ca', 'common-name': 'Lab CA', organization: 'Lab', country: 'lv', 'key-usage': 'key-cert-sign,crl-sign', 'days-valid': '3650', 'key-size': 'prime256v1' });
    const srvId = (await t.run(C, 'add', {
      name: 'srv', 'common-name': 'vpn.example.com', 'key-size': 'prime256v1', 'digest-algorithm': 'sha384',
      'subject-alt-name': 'DNS:vpn.example.com,IP:192.168.88.1,IP:2001:db8::1,email:ops@example.com,URI:https://example.com/x',
      'key-usage': 'tls-server,digital-signature,key-encipherment,tls-client',
    })).ret as ItemId;
    const signed = await t.run(C, 'sign', { number: 'ca', 'ca-crl-host': '192.168.88.1:8080' });
    assert.deepEqual(signed.block, [['progress', 'done']]);
    await t.run(C, 'sign', { number: 'srv', ca: 'ca' });

    // The template row became the certificate: same id.
    const srvRow = await t.app.store.read((tx) => tx.get(C, srvId.n));
    assert.equal(srvRow?.data.name, 'srv');

    const caFile = writePem(dir, 'ca', await der(t, 'ca'));
    const srvFile = writePem(dir, 'srv', await der(t, 'srv'));
    assert.match(openssl(['verify', '-CAfile', caFile, srvFile]), /OK/);
    assert.match(openssl(['verify', '-purpose', 'sslserver', '-CAfile', caFile, srvFile]), /OK/);
    assert.match(openssl(['verify', '-purpose', 'sslclient', '-CAfile', caFile, srvFile]), /OK/);

    const text = openssl(['x509', '-in', srvFile, '-noout', '-text']);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA384/);
    assert.match(text, /DNS:vpn\.example\.com, IP Address:192\.168\.88\.1, IP Address:2001:DB8:0:0:0:0:0:1, email:ops@example\.com, URI:https:\/\/example\.com\/x/);
    assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment/);
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
    assert.match(text, /URI:http:\/\/192\.168\.88\.1:8080\/crl\/1\.crl/);
    assert.match(text, /Issuer: C = LV, O = Lab, CN = Lab CA/);

    const caText = openssl(['x509', '-in', caFile, '-noout', '-text']);
    assert.match(caText, /CA:TRUE/);
    assert.match(caText, /Certificate Sign, CRL Sign/);
    assert.match(caText, /Not Before: Jan  1 00:00:00 2026 GMT/);
    assert.match(caText, /Not After : Dec 30 00:00:00 2035 GMT/);

    // Properties agree with openssl.
    const fp = openssl(['x509', '-in', srvFile, '-noout', '-fingerprint', '-sha256']).split('=')[1]!.trim().replace(/:/g, '').toLowerCase();
    assert.equal(await get(t, 'srv', 'fingerprint'), fp);
    const serial = openssl(['x509', '-in', srvFile, '-noout', '-serial']).split('=')[1]!.trim().toLowerCase();
    assert.equal(await get(t, 'srv', 'serial-number'), serial);
    assert.ok(serial.length >= 16, 'serial has at least 64 bits');
    assert.equal(await get(t, 'srv', 'issuer'), 'C=LV,O=Lab,CN=Lab CA');
    assert.equal(await get(t, 'srv', 'ca'), 'ca');
    assert.equal(await get(t, 'srv', 'akid'), await get(t, 'ca', 'skid'));
    assert.equal(await get(t, 'srv', 'key-type'), 'ec');
    assert.equal(await get(t, 'srv', 'key-size'), 'prime256v1');
    assert.equal(await get(t, 'srv', 'issued'), true);
    assert.equal(await get(t, 'srv', 'authority'), false);
    assert.equal(await get(t, 'srv', 'private-key'), true);
    assert.equal(await get(t, 'srv', 'trusted'), true);
    assert.equal(await get(t, 'ca', 'authority'), true);
    assert.equal(await get(t, 'ca', 'crl'), true);
    assert.equal(await get(t, 'ca', 'akid'), '');
    assert.equal(await get(t, 'srv', 'invalid-before'), '2026-01-01 00:00:00');
    const expires = await get(t, 'srv', 'expires-after');
    assert.ok(expires instanceof Duration);
    assert.equal(expires.toString(), '52w1d');
    // key-usage printed back in canonical order, not input order.
    assert.deepEqual((await get(t, 'srv', 'key-usage') as RosArray).values(), ['digital-signature', 'key-encipherment', 'tls-server', 'tls-client']);
  });

  test('RSA with each digest, and weak choices warn but work', async () => {
    for (const digest of ['md5', 'sha1', 'sha256', 'sha512']) {
      await t.run(C, 'add', { name: `rsa-${digest}`, 'common-name': `rsa ${digest}`, 'key-size': '1024', 'digest-algorithm': digest });
      const r = await t.run(C, 'sign', { number: `rsa-${digest}` });
      const file = writePem(dir, `rsa-${digest}`, await der(t, `rsa-${digest}`));
      const text = openssl(['x509', '-in', file, '-noout', '-text']);
      assert.match(text, new RegExp(`Signature Algorithm: ${digest === 'sha1' ? 'sha1' : digest}WithRSAEncryption`));
      assert.match(text, /Public-Key: \(1024 bit\)/);
      assert.ok(r.messages?.some((m) => m.startsWith('warning:')));
      // Self-signed with the default key usage: a CA that verifies itself.
      assert.equal(opensslStatus(['verify', '-auth_level', '0', '-CAfile', file, file]).status, 0);
    }
  });

  test('bad template values are refused and nothing is stored', async () => {
    const count = async () => (await t.run(C, 'print', { 'count-only': '' })).ret;
    const before = await count();
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ name: 'b1', 'subject-alt-name': 'IP:300.1.1.1' }, /not a valid IPv4 address/],
      [{ name: 'b2', 'subject-alt-name': 'IP:2001:db8::zz' }, /IPv6/],
      [{ name: 'b3', 'key-usage': 'tls-server,bogus' }, /input does not match any value of key-usage/],
      [{ name: 'b4', country: 'LVA' }, /two-letter/],
      [{ name: 'b5', 'days-valid': '0' }, /out of range/],
      [{ name: 'b6', 'key-size': '3072' }, /input does not match any value of key-size/],
      [{ name: 'ca' }, /already have such entry/],
    ];
    for (const [args, message] of bad) {
      await assert.rejects(t.run(C, 'add', args), (e: RosError) => message.test(e.message));
    }
    assert.equal(await count(), before);
  });

  test('set: templates change freely, signed certificates only name, trusted, trust-store', async () => {
    await t.run(C, 'add', { name: 'tmpl', 'common-name': 'a' });
    await t.run(C, 'set', { numbers: 'tmpl', 'common-name': 'b', 'days-valid': '30' });
    assert.equal(await get(t, 'tmpl', 'common-name'), 'b');
    await assert.rejects(t.run(C, 'set', { numbers: 'srv', 'common-name': 'x' }), /already signed/);
    await t.run(C, 'set', { numbers: 'srv', name: 'srv2', trusted: 'no', 'trust-store': 'www,api' });
    assert.equal(await get(t, 'srv2', 'trusted'), false);
    assert.deepEqual((await get(t, 'srv2', 'trust-store') as RosArray).values(), ['www', 'api']);
    await t.run(C, 'set', { numbers: 'srv2', name: 'srv', trusted: 'yes', 'trust-store': 'all' });
  });

  test('signing problems are clear errors and change nothing', async () => {
    await t.run(C, 'add', { name: 'leaf', 'common-name': 'leaf', 'key-size': 'prime256v1' });
    await assert.rejects(t.run(C, 'sign', { number: 'srv' }), /already signed/);
    await assert.rejects(t.run(C, 'sign', { number: 'leaf', ca: 'nope' }), /input does not match any value of ca/);
    await assert.rejects(t.run(C, 'sign', { number: 'leaf', ca: 'srv' }), /not a CA/);
    await assert.rejects(t.run(C, 'sign', { number: 'leaf', ca: 'tmpl' }), /not signed/);
    await assert.rejects(t.run(C, 'sign', { number: 'leaf', ca: 'leaf' }), /can not sign itself/);
    assert.equal(await get(t, 'leaf', 'fingerprint'), undefined);
    // An expired CA signs nothing.
    t.clock.advance(3651 * 86400_000);
    await assert.rejects(t.run(C, 'sign', { number: 'leaf', ca: 'ca' }), /expired/);
    assert.equal(await get(t, 'ca', 'expired'), true);
    assert.equal((await get(t, 'ca', 'expires-after') as Duration).ns, 0);
    t.clock.advance(-3651 * 86400_000);
  });

  test('find and print where work on every kind of property', async () => {
    const find = async (where: (row: { get(n: string): unknown }) => boolean) =>
      ((await t.app.executor.run({ path: C, command: 'find', args: new Map(), where: (r) => where(r), session: t.session })).ret as RosArray).values().length;
    assert.equal(await find((r) => r.get('authority') === true), 1 + 4);
    assert.equal(await find((r) => r.get('ca') === 'ca'), 1);
    assert.equal(await find((r) => r.get('private-key') === true), 6);
    assert.equal(await find((r) => (r.get('expires-after') as Duration | undefined)?.ns! < new Duration(3 * 604800e9).ns), 0);
  });

  test('removing a CA removes what it issued, recursively', async () => {
    await t.run(C, 'add', { name: 'sub', 'common-name': 'sub CA', 'key-size': 'prime256v1', 'key-usage': 'key-cert-sign,crl-sign' });
    await t.run(C, 'sign', { number: 'sub', ca: 'ca' });
    await t.run(C, 'sign', { number: 'leaf', ca: 'sub' });
    const leafFile = writePem(dir, 'leaf', await der(t, 'leaf'));
    const chain = `${toPem(await der(t, 'ca'))}${toPem(await der(t, 'sub'))}`;
    fs.writeFileSync(path.join(dir, 'chain.pem'), chain);
    assert.match(openssl(['verify', '-CAfile', path.join(dir, 'chain.pem'), leafFile]), /OK/);
    await t.run(C, 'remove', { numbers: 'ca' });
    const names = await t.app.store.read((tx) => tx.list(C).map((r) => r.data.name));
    for (const gone of ['ca', 'srv', 'sub', 'leaf']) assert.ok(!names.includes(gone), `${gone} removed`);
    assert.ok(names.includes('tmpl'));
  });

  test('private keys are sealed at rest and a copied data directory keeps working', async () => {
    await t.run(C, 'add', { name: 'portable', 'common-name': 'portable', 'key-size': 'prime256v1' });
    await t.run(C, 'sign', { number: 'portable' });
    const dbBytes = fs.readFileSync(path.join(t.dir, 'rospki.db'));
    assert.ok(!dbBytes.includes('PRIVATE KEY'));
    const copy = tempDir();
    t.app.close();
    fs.cpSync(t.dir, copy, { recursive: true });
    t = await openTestApp({ dir: t.dir });
    const other = await openTestApp({ dir: copy });
    try {
      await other.run(C, 'add', { name: 'child', 'common-name': 'child', 'key-size': 'prime256v1' });
      await other.run(C, 'sign', { number: 'child', ca: 'portable' });
      const rootFile = writePem(dir, 'portable', await der(other, 'portable'));
      const childFile = writePem(dir, 'child', await der(other, 'child'));
      assert.match(openssl(['verify', '-CAfile', rootFile, childFile]), /OK/);
    } finally {
      other.app.close();
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });
});

describe('slow key generation', () => {
  test('an RSA-4096 sign never freezes other commands, and reports progress', async () => {
    const t = await openTestApp();
    try {
      // One timeline of the sign's progress reports and the other commands' answers.
      const events: string[] = [];
      const session = { ...t.session, progress: (fields: Array<[string, unknown]>) => events.push(String(fields[0]![1])) };
      await t.run(C, 'add', { name: 'big', 'common-name': 'big', 'key-size': '4096' });
      let done = false;
      const signing = t.app.executor.run({ path: C, command: 'sign', args: new Map([['number', 'big']]), session })
        .then((r) => { done = true; return r; });
      let answered = 0;
      while (!done && answered < 200) {
        await t.run('/user', 'print', { 'count-only': '' });
        events.push('answered');
        answered++;
        await new Promise((r) => setTimeout(r, 5));
      }
      const result = await signing;
      assert.deepEqual(result.block, [['progress', 'done']]);
      const progress = events.filter((e) => e !== 'answered');
      assert.deepEqual(progress, ['generating key', 'signing']);
      // Were key generation on the event loop, no other command could be answered between its
      // start and the next progress report.
      const during = events.slice(events.indexOf('generating key'), events.indexOf('signing')).filter((e) => e === 'answered');
      assert.ok(during.length >= 5, `other commands ran while the key was generated (${during.length} of ${answered}: ${events.join(' ')})`);
      assert.equal(await get(t, 'big', 'key-size'), '4096');
    } finally {
      t.close();
    }
  });
});
