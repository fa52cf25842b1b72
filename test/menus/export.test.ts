// /certificate export-certificate (spec §1.8): PEM and PKCS#12 (modern and legacy), judged by
// openssl and gnutls certtool, then imported back.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { openTestApp, type TestApp } from '../support/app.js';
import {
  C, certtool, filePath, fileOf, importFile, ossl, osslStatus, row, rows, summary,
} from './import-support.js';
import { mayUse } from '../support/tools.js';

describe('/certificate export-certificate', () => {
  let t: TestApp;
  let files: string;
  before(async () => {
    t = await openTestApp();
    files = t.app.dataDir.filesDir;
    await t.run(C, 'add', { name: 'root', 'common-name': 'Root', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1', 'days-valid': '3650' });
    await t.run(C, 'sign', { number: 'root' });
    await t.run(C, 'add', { name: 'int', 'common-name': 'Intermediate', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1' });
    await t.run(C, 'sign', { number: 'int', ca: 'root' });
    await t.run(C, 'add', { name: 'vpn', 'common-name': 'vpn.example.com', 'subject-alt-name': 'DNS:vpn.example.com', 'key-size': '2048', 'key-usage': 'digital-signature,key-encipherment,tls-server' });
    await t.run(C, 'sign', { number: 'vpn', ca: 'int' });
    await t.run(C, 'add', { name: 'tmpl', 'common-name': 'x' });
  });
  after(() => t.close());

  test('pem without a passphrase: only cert_export_<name>.crt', async () => {
    await t.run(C, 'export-certificate', { numbers: 'root' });
    assert.match(fileOf(t, 'cert_export_root.crt').toString(), /^-----BEGIN CERTIFICATE-----\n/);
    assert.throws(() => fileOf(t, 'cert_export_root.key'));
    assert.match(ossl(files, ['x509', '-in', 'cert_export_root.crt', '-noout', '-subject']), /CN = Root/);
  });

  test('pem with a passphrase: an AES-256 encrypted PKCS#8 .key that openssl opens', async () => {
    await t.run(C, 'export-certificate', { numbers: 'vpn', 'export-passphrase': 'correct horse' });
    const key = fileOf(t, 'cert_export_vpn.key').toString();
    assert.match(key, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    assert.match(ossl(files, ['asn1parse', '-in', 'cert_export_vpn.key']), /aes-256-cbc/);
    assert.match(ossl(files, ['pkey', '-in', 'cert_export_vpn.key', '-passin', 'pass:correct horse', '-check', '-noout']), /valid/);
    assert.notEqual(osslStatus(files, ['pkey', '-in', 'cert_export_vpn.key', '-passin', 'pass:wrong', '-noout']).status, 0);
    // The key belongs to the certificate.
    const pub1 = ossl(files, ['pkey', '-in', 'cert_export_vpn.key', '-passin', 'pass:correct horse', '-pubout']);
    const pub2 = ossl(files, ['x509', '-in', 'cert_export_vpn.crt', '-noout', '-pubkey']);
    assert.equal(pub1, pub2);
  });

  test('pkcs12 modern: PBES2/AES-256 + SHA-256 MAC, with the chain, readable by openssl without -legacy and by certtool', async () => {
    await t.run(C, 'export-certificate', { numbers: 'vpn', type: 'pkcs12', 'export-passphrase': 'secret', 'file-name': 'clients/vpn' });
    const info = osslStatus(files, ['pkcs12', '-info', '-in', 'clients/vpn.p12', '-passin', 'pass:secret', '-noout']).output;
    assert.match(info, /MAC: sha256/);
    assert.match(info, /PBES2, PBKDF2, AES-256-CBC/);
    assert.match(info, /Shrouded Keybag/);
    const pem = ossl(files, ['pkcs12', '-in', 'clients/vpn.p12', '-passin', 'pass:secret', '-nodes']);
    assert.equal(pem.match(/BEGIN CERTIFICATE/g)?.length, 3, 'leaf + intermediate + root');
    assert.match(pem, /friendlyName: vpn/);
    assert.match(pem, /BEGIN PRIVATE KEY/);
    // The chain verifies.
    const certs = pem.split(/(?=-----BEGIN CERTIFICATE-----)/).filter((s) => s.startsWith('-----BEGIN CERTIFICATE'))
      .map((s) => s.slice(0, s.indexOf('-----END CERTIFICATE-----') + 26));
    const tmp = (n: string, s: string) => { const p = filePath(t, n); fs.writeFileSync(p, s); return n; };
    tmp('v-leaf.pem', certs[0]!);
    tmp('v-int.pem', certs[1]!);
    tmp('v-root.pem', certs[2]!);
    assert.match(ossl(files, ['verify', '-CAfile', 'v-root.pem', '-untrusted', 'v-int.pem', 'v-leaf.pem']), /OK/);
    if (mayUse('certtool')) {
      const ct = certtool(files, ['--p12-info', '--inder', '--infile', 'clients/vpn.p12', '--password', 'secret']);
      assert.equal(ct.status, 0, ct.output);
      assert.match(ct.output, /MAC: SHA256/);
      assert.match(ct.output, /PBES2-AES256-CBC/);
      assert.match(ct.output, /Type: PKCS #8 Encrypted key/);
    }
  });

  test('pkcs12 legacy: SHA-1 MAC and 3DES, readable by openssl and certtool', async () => {
    await t.run(C, 'export-certificate', { numbers: 'vpn', type: 'pkcs12', 'export-passphrase': 'secret', 'pkcs12-format': 'legacy', 'file-name': 'vpn-legacy' });
    const info = osslStatus(files, ['pkcs12', '-info', '-in', 'vpn-legacy.p12', '-passin', 'pass:secret', '-noout']).output;
    assert.match(info, /MAC: sha1/);
    assert.match(info, /pbeWithSHA1And3-KeyTripleDES-CBC/);
    assert.doesNotMatch(info, /PBES2/);
    const withLegacy = osslStatus(files, ['pkcs12', '-info', '-legacy', '-in', 'vpn-legacy.p12', '-passin', 'pass:secret', '-noout']);
    assert.equal(withLegacy.status, 0, withLegacy.output);
    if (mayUse('certtool')) {
      const ct = certtool(files, ['--p12-info', '--inder', '--infile', 'vpn-legacy.p12', '--password', 'secret']);
      assert.equal(ct.status, 0, ct.output);
      assert.match(ct.output, /3DES-CBC/);
    }
  });

  test('pkcs12 without a passphrase holds certificates only', async () => {
    await t.run(C, 'export-certificate', { numbers: 'root', type: 'pkcs12' });
    const info = osslStatus(files, ['pkcs12', '-info', '-in', 'cert_export_root.p12', '-passin', 'pass:', '-noout']).output;
    assert.doesNotMatch(info, /Keybag/);
    assert.match(info, /Certificate bag/);
  });

  test('templates are refused; keys need the sensitive policy', async () => {
    await assert.rejects(t.run(C, 'export-certificate', { numbers: 'tmpl' }), (e: unknown) =>
      e instanceof RosError && e.consoleText() === 'failure: Templates are not exportable!');
    await t.run('/user/group', 'add', { name: 'nosens', policy: 'read,write,test' });
    await t.run('/user', 'add', { name: 'op', group: 'nosens', password: 'x' });
    const session = await t.app.session('op', 'test');
    const run = (args: Record<string, string>) => t.app.executor.run({ path: C, command: 'export-certificate', args: new Map(Object.entries(args)), session });
    await assert.rejects(run({ numbers: 'vpn', 'export-passphrase': 'secret', 'file-name': 'op-vpn' }), /not enough permissions \(9\)/);
    assert.throws(() => fileOf(t, 'op-vpn.crt'), 'nothing written');
    await run({ numbers: 'vpn', 'file-name': 'op-vpn' }); // the certificate alone is fine
    assert.ok(fileOf(t, 'op-vpn.crt').length > 0);
  });

  test('several items with file-name get <file-name>_<name>; names outside the store are refused', async () => {
    await t.run(C, 'export-certificate', { numbers: 'root,int', 'file-name': 'cas' });
    assert.ok(fileOf(t, 'cas_root.crt').length > 0);
    assert.ok(fileOf(t, 'cas_int.crt').length > 0);
    await assert.rejects(t.run(C, 'export-certificate', { numbers: 'root', 'file-name': '../../escape' }), /outside of the file store/);
  });

  test('exported bundles come back: pkcs12 modern and legacy, pem + key', async () => {
    const t2 = await openTestApp();
    try {
      for (const f of ['clients/vpn.p12', 'vpn-legacy.p12']) {
        fs.mkdirSync(path.dirname(path.join(t2.app.dataDir.filesDir, f)), { recursive: true });
        fs.copyFileSync(filePath(t, f), path.join(t2.app.dataDir.filesDir, f));
      }
      assert.deepEqual(await importFile(t2, { 'file-name': 'clients/vpn.p12', passphrase: 'secret' }), summary(3, 1, 1));
      assert.deepEqual(await importFile(t2, { 'file-name': 'vpn-legacy.p12', passphrase: 'secret' }), summary(3, 1, 1));
      const all = await rows(t2);
      assert.equal(all.length, 3);
      const leaf = all.find((r) => r['common-name'] === 'vpn.example.com')!;
      assert.equal(leaf['private-key'], true);
      assert.equal(leaf.fingerprint, (await row(t, 'vpn'))!.fingerprint);
    } finally {
      t2.close();
    }
  });

  test('no-key-export keys are never exported', async () => {
    await t.run(C, 'export-certificate', { numbers: 'vpn', 'export-passphrase': 'pw', 'file-name': 'k' });
    const t2 = await openTestApp();
    try {
      for (const f of ['k.crt', 'k.key']) fs.copyFileSync(filePath(t, f), path.join(t2.app.dataDir.filesDir, f));
      await importFile(t2, { 'file-name': 'k.crt' });
      await importFile(t2, { 'file-name': 'k.key', passphrase: 'pw', 'no-key-export': 'yes' });
      const r = await t2.run(C, 'export-certificate', { numbers: 'k.crt_0', 'export-passphrase': 'pw', 'file-name': 'again' });
      assert.match(r.messages?.[0] ?? '', /not exported/);
      assert.ok(fs.existsSync(path.join(t2.app.dataDir.filesDir, 'again.crt')));
      assert.ok(!fs.existsSync(path.join(t2.app.dataDir.filesDir, 'again.key')));
    } finally {
      t2.close();
    }
  });
});
