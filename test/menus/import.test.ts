// /certificate import (spec §1.7): PEM with several blocks, DER, PKCS#12, keys in every
// format, naming, key attaching, re-import, wrong passphrases, corrupt input, prompts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { RosArray } from '../../src/menu/values.js';
import { openTestApp, tempDir, type TestApp } from '../support/app.js';
import { C, derOf, fileOf, importFile, makeOpensslPki, ossl, putFile, row, rows, summary } from './import-support.js';

describe('/certificate import', () => {
  let dir: string;
  let t: TestApp;
  const src = (name: string) => fs.readFileSync(path.join(dir, name));
  const put = (name: string, as = name) => putFile(t, as, src(name));

  before(() => {
    dir = tempDir('rospki-import-');
    makeOpensslPki(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    t?.close();
    t = await openTestApp();
  });
  after(() => t?.close());

  test('a PEM chain: <file>_0, _1, _2 in file order, CA certificates get A, all trusted; the file stays', async () => {
    put('chain.pem');
    assert.deepEqual(await importFile(t, { 'file-name': 'chain.pem', passphrase: '' }), summary(3, 0, 1));
    const all = await rows(t);
    assert.deepEqual(all.map((r) => r.name), ['chain.pem_0', 'chain.pem_1', 'chain.pem_2']);
    assert.deepEqual(all.map((r) => r['common-name']), ['leaf.example.com', 'Test Intermediate', 'Test Root']);
    assert.deepEqual(all.map((r) => r.authority), [false, true, true]);
    assert.deepEqual(all.map((r) => r.trusted), [true, true, true]);
    assert.deepEqual(all.map((r) => r['private-key']), [false, false, false]);
    assert.equal(all[0]!['subject-alt-name'], 'DNS:leaf.example.com');
    assert.ok(fs.existsSync(path.join(t.app.dataDir.filesDir, 'chain.pem')), 'the imported file stays in /file');
    // The stored DER is the certificate openssl made, byte for byte.
    assert.deepEqual(await derOf(t, 'chain.pem_0'), src('leaf.der'));
  });

  test('name= names the first certificate, the others get name_1, name_2', async () => {
    put('chain.pem');
    await importFile(t, { 'file-name': 'chain.pem', name: 'vpn' });
    assert.deepEqual((await rows(t)).map((r) => r.name), ['vpn', 'vpn_1', 'vpn_2']);
  });

  test('a separate key file attaches to its certificate (K) in every format', async () => {
    put('leaf.pem');
    await importFile(t, { 'file-name': 'leaf.pem', passphrase: '' });
    const cases: Array<[string, string]> = [
      ['leaf.key', ''], ['leaf-sec1.pem', ''], ['leaf-sec1-enc.pem', 'secret'], ['leaf-pkcs8-enc.pem', 'secret'],
      ['leaf-pkcs8.der', ''], ['leaf-pkcs8-enc.der', 'secret'],
    ];
    for (const [file, passphrase] of cases) {
      put(file);
      assert.deepEqual(await importFile(t, { 'file-name': file, passphrase }), summary(0, 1, 1), file);
      const r = (await row(t, 'leaf.pem_0'))!;
      assert.equal(r['private-key'], true, file);
      assert.equal((await rows(t)).length, 1, `${file}: no extra row`);
    }
    // RSA with PKCS#1 keys, plain, encrypted and DER.
    put('rsa.pem');
    await importFile(t, { 'file-name': 'rsa.pem' });
    for (const [file, passphrase] of [['rsa-pkcs1.pem', ''], ['rsa-pkcs1-enc.pem', 'secret'], ['rsa-pkcs1.der', '']] as const) {
      put(file);
      assert.deepEqual(await importFile(t, { 'file-name': file, passphrase }), summary(0, 1, 1), file);
    }
    assert.equal((await row(t, 'rsa.pem_0'))!['private-key'], true);
  });

  test('a combined key + chain PEM puts the key on the leaf, not on a new row', async () => {
    put('combined.pem');
    assert.deepEqual(await importFile(t, { 'file-name': 'combined.pem' }), summary(3, 1, 1));
    const all = await rows(t);
    assert.deepEqual(all.map((r) => r['private-key']), [true, false, false]);
    assert.equal(all[0]!['common-name'], 'leaf.example.com');
  });

  test('PKCS#12 from openssl: modern, -legacy (RC2) and 3DES; the leaf is _0 and gets the key', async () => {
    for (const f of ['modern.p12', 'legacy.p12', 'des.p12']) {
      t.close();
      t = await openTestApp();
      put(f);
      assert.deepEqual(await importFile(t, { 'file-name': f, passphrase: 'secret' }), summary(2, 1, 1), f);
      const all = await rows(t);
      assert.equal(all[0]!.name, `${f}_0`);
      assert.equal(all[0]!['common-name'], 'leaf.example.com');
      assert.equal(all[0]!['private-key'], true);
      assert.equal(all[1]!['common-name'], 'Test Intermediate');
      assert.equal(all[1]!.authority, true);
    }
  });

  test('a wrong PKCS#12 passphrase: decryption-failures 1; none: all zeros; nothing imported, no error', async () => {
    put('modern.p12');
    put('legacy.p12');
    assert.deepEqual(await importFile(t, { 'file-name': 'modern.p12', passphrase: 'wrong' }), summary(0, 0, 0, 1));
    assert.deepEqual(await importFile(t, { 'file-name': 'legacy.p12', passphrase: 'wrong' }), summary(0, 0, 0, 1));
    // Without a passphrase RouterOS reports zeros, not a decryption failure (issue 12).
    assert.deepEqual(await importFile(t, { 'file-name': 'legacy.p12', passphrase: '' }), summary(0, 0, 0, 0));
    assert.deepEqual(await importFile(t, { 'file-name': 'modern.p12' }), summary(0, 0, 0, 0));
    assert.equal((await rows(t)).length, 0);
  });

  test('a wrong key passphrase is a decryption failure; certificates in the same file still come in', async () => {
    put('leaf.pem');
    await importFile(t, { 'file-name': 'leaf.pem' });
    put('leaf-pkcs8-enc.pem');
    assert.deepEqual(await importFile(t, { 'file-name': 'leaf-pkcs8-enc.pem', passphrase: 'nope' }), summary(0, 0, 0, 1));
    assert.equal((await row(t, 'leaf.pem_0'))!['private-key'], false);
    putFile(t, 'mixed.pem', Buffer.concat([src('rsa.pem'), src('rsa-pkcs1-enc.pem')]));
    assert.deepEqual(await importFile(t, { 'file-name': 'mixed.pem', passphrase: 'nope' }), summary(1, 0, 1, 1));
  });

  test('a key with no certificate is counted and not kept', async () => {
    put('leaf.key');
    assert.deepEqual(await importFile(t, { 'file-name': 'leaf.key' }), summary(0, 0, 0, 0, 1));
    assert.equal((await rows(t)).length, 0);
  });

  test('re-importing is harmless: same certificates, same keys, same bundle', async () => {
    put('combined.pem');
    put('chain.pem');
    put('modern.p12');
    await importFile(t, { 'file-name': 'combined.pem' });
    const before = await rows(t);
    assert.deepEqual(await importFile(t, { 'file-name': 'combined.pem' }), summary(3, 1, 1));
    assert.deepEqual(await importFile(t, { 'file-name': 'chain.pem' }), summary(3, 0, 1));
    assert.deepEqual(await importFile(t, { 'file-name': 'modern.p12', passphrase: 'secret' }), summary(2, 1, 1));
    const after = await rows(t);
    assert.equal(after.length, 3, 'no duplicate rows');
    assert.deepEqual(after.map((r) => r.name), before.map((r) => r.name), 'names unchanged');
    assert.equal(after[0]!['private-key'], true);
  });

  test('a taken name moves on to the next free number', async () => {
    await t.run(C, 'add', { name: 'chain.pem_0', 'common-name': 'template' });
    put('chain.pem');
    await importFile(t, { 'file-name': 'chain.pem' });
    assert.deepEqual((await rows(t)).map((r) => r.name), ['chain.pem_0', 'chain.pem_1', 'chain.pem_2', 'chain.pem_3']);
  });

  test('DER certificate; trusted=no; trust-store; no-key-export', async () => {
    put('leaf.der');
    await importFile(t, { 'file-name': 'leaf.der', trusted: 'no', 'trust-store': 'www,api' });
    const r = (await row(t, 'leaf.der_0'))!;
    assert.equal(r.trusted, false);
    assert.deepEqual(r['trust-store'], ['www', 'api']);
    put('leaf.key');
    await importFile(t, { 'file-name': 'leaf.key', 'no-key-export': 'yes' });
    const r2 = (await row(t, 'leaf.der_0'))!;
    assert.equal(r2['private-key'], true);
    assert.equal(r2['.no-key-export'], true);
  });

  test('as-value returns the same five keys', async () => {
    put('chain.pem');
    const r = await t.run(C, 'import', { 'file-name': 'chain.pem', 'as-value': true });
    assert.ok(r.ret instanceof RosArray);
    // Keyed arrays are kept in key order, as on RouterOS.
    assert.deepEqual(Object.fromEntries(r.ret.entries()), summary(3, 0, 1));
    assert.equal(r.ret.size, 5);
    assert.equal(r.block, undefined);
  });

  test('corrupt, truncated and empty files fail clearly and change nothing', async () => {
    put('chain.pem');
    await importFile(t, { 'file-name': 'chain.pem' });
    const count = (await rows(t)).length;
    const chain = src('chain.pem').toString();
    const bad: Array<[string, Buffer | string, RegExp]> = [
      ['empty.pem', '', /empty/],
      ['trunc.der', src('leaf.der').subarray(0, 200), /truncated or corrupt|DER/],
      ['trunc.p12', fs.readFileSync(path.join(dir, 'modern.p12')).subarray(0, 900), /unable to import trunc\.p12/],
      ['garbage.bin', Buffer.from('hello world, not a certificate'), /not PEM, and not DER/],
      ['badb64.pem', chain.replace(/^(MII.)/m, '$1!!!'), /invalid base64/],
      ['nothing.pem', '-----BEGIN X509 CRL-----\nMAMCAQA=\n-----END X509 CRL-----\n', /no certificates or private keys/],
      // one good block and one broken one: nothing at all is imported
      ['half.pem', src('rsa.pem').toString() + '-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n', /not a valid X\.509 certificate|malformed/],
    ];
    for (const [name, data, re] of bad) {
      putFile(t, name, data);
      await assert.rejects(t.run(C, 'import', { 'file-name': name }), (e: unknown) => {
        assert.ok(e instanceof RosError, name);
        assert.equal(e.kind, 'failure', name);
        assert.match(e.message, re, name);
        return true;
      });
      assert.equal((await rows(t)).length, count, `${name}: row count unchanged`);
    }
  });

  test('file-name: prefix matching, ambiguity, missing files, names outside the store', async () => {
    put('chain.pem');
    put('leaf.pem');
    assert.deepEqual(await importFile(t, { 'file-name': 'ch' }), summary(3, 0, 1));
    await assert.rejects(t.run(C, 'import', { 'file-name': 'nope' }), /input does not match any value of file-name/);
    putFile(t, 'chain.pem.bak', src('chain.pem'));
    await assert.rejects(t.run(C, 'import', { 'file-name': 'cha' }), /ambiguous value of file-name, more than one possible value matches input/);
    await assert.rejects(t.run(C, 'import', { 'file-name': '../secret.key' }), /outside of the file store/);
    const log = await t.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
    assert.ok(log.some((m) => m.includes('file access refused') && m.includes('../secret.key')), 'refusal logged');
  });

  test('an interactive session without passphrase= is asked for one (masked)', async () => {
    put('modern.p12');
    const asked: Array<[string, boolean]> = [];
    const session = { ...t.session, prompt: async (q: string, masked: boolean) => { asked.push([q, masked]); return 'secret'; } };
    const r = await t.app.executor.run({ path: C, command: 'import', args: new Map([['file-name', 'modern.p12']]), session });
    assert.deepEqual(asked, [['passphrase: ', true]]);
    assert.deepEqual(r.block?.map(([k, v]) => [k, Number(v)]), Object.entries(summary(2, 1, 1)));
    // passphrase="" given: no prompt.
    await t.app.executor.run({ path: C, command: 'import', args: new Map([['file-name', 'modern.p12'], ['passphrase', '']]), session });
    assert.equal(asked.length, 1);
  });

  test('imported facts agree with openssl', async () => {
    put('leaf.pem');
    await importFile(t, { 'file-name': 'leaf.pem' });
    const r = (await row(t, 'leaf.pem_0'))!;
    const fp = ossl(dir, ['x509', '-in', 'leaf.pem', '-noout', '-fingerprint', '-sha256']).split('=')[1]!.trim().replace(/:/g, '').toLowerCase();
    assert.equal(r.fingerprint, fp);
    // Lower-case hex (live 7.23.3 print detail); openssl prints upper case.
    assert.equal(r['serial-number'], ossl(dir, ['x509', '-in', 'leaf.pem', '-noout', '-serial']).split('=')[1]!.trim().toLowerCase());
    assert.equal(r.issuer, 'CN=Test Intermediate');
    assert.deepEqual(fileOf(t, 'leaf.pem'), src('leaf.pem'));
  });
});
