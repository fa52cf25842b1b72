// Certificate requests with the real tools (spec §1.5, §1.6): a CSR made by openssl, signed here,
// verified by openssl; a CSR made here, signed by `openssl x509 -req`, imported back with K.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { parseCsr } from '../../src/pki/csr.js';
import { pemDecodeOne } from '../../src/pki/index.js';
import { openTestApp, type TestApp } from '../support/app.js';
import {
  C, certtool, derOf, fileOf, importFile, ossl, osslStatus, putFile, row, rows, summary,
} from '../menus/import-support.js';
import { mayUse } from '../support/tools.js';

describe('certificate requests', () => {
  let t: TestApp;
  let files: string;
  before(async () => {
    t = await openTestApp({ time: Date.now() }); // openssl verify checks validity against the real clock
    files = t.app.dataDir.filesDir;
    await t.run(C, 'add', { name: 'ca', 'common-name': 'Request CA', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1', 'days-valid': '1000' });
    await t.run(C, 'sign', { number: 'ca', 'ca-crl-host': '192.0.2.1' });
    await t.run(C, 'export-certificate', { numbers: 'ca', 'file-name': 'ca' });
  });
  after(() => t.close());

  test('an openssl CSR (RSA and EC) signed here verifies with openssl; SAN and usage honoured', async () => {
    for (const [alg, opt] of [['rsa:2048', []], ['ec', ['-pkeyopt', 'ec_paramgen_curve:secp384r1']]] as const) {
      ossl(files, ['req', '-new', '-newkey', alg, ...opt, '-nodes', '-keyout', 'dev.key', '-out', 'dev.csr',
        '-subj', '/C=LV/O=Lab/OU=Ops/CN=dev.lab', '-addext', 'subjectAltName=DNS:dev.lab,IP:10.0.0.1,email:ops@lab',
        '-addext', 'keyUsage=critical,digitalSignature', '-addext', 'extendedKeyUsage=clientAuth']);
      const r = await t.run(C, 'sign-certificate-request', { ca: 'ca', 'file-name': 'dev.csr', 'days-valid': '30' });
      assert.deepEqual(r.block, [['progress', 'done']]);
      const name = (await rows(t)).at(-1)!.name as string;
      assert.match(name, /^dev\.lab(_\d+)?$/);
      const leaf = (await row(t, name))!;
      assert.equal(leaf['private-key'], false);
      assert.equal(leaf.ca, (await row(t, 'ca'))!.id);
      assert.equal(leaf['days-valid'], 30);
      fs.writeFileSync(path.join(files, 'dev.crt'), pemDecodeOne(ossl(files, ['x509', '-inform', 'DER'], await derOf(t, name))).text);
      assert.match(ossl(files, ['verify', '-CAfile', 'ca.crt', 'dev.crt']), /dev\.crt: OK/);
      assert.match(ossl(files, ['verify', '-purpose', 'sslclient', '-CAfile', 'ca.crt', 'dev.crt']), /OK/);
      const text = ossl(files, ['x509', '-in', 'dev.crt', '-noout', '-text']);
      assert.match(text, /Subject: C = LV, O = Lab, OU = Ops, CN = dev\.lab/);
      assert.match(text, /DNS:dev\.lab, IP Address:10\.0\.0\.1, email:ops@lab/);
      assert.match(text, /TLS Web Client Authentication/);
      assert.doesNotMatch(text, /TLS Web Server/);
      assert.match(text, /CA:FALSE/);
      assert.match(text, /URI:http:\/\/192\.0\.2\.1\/crl\//);
      // The certificate holds the requester's key.
      assert.equal(ossl(files, ['x509', '-in', 'dev.crt', '-noout', '-pubkey']), ossl(files, ['pkey', '-in', 'dev.key', '-pubout']));
    }
  });

  test('a request for CA rights gets them only as a sub-CA; a forged signature is refused', async () => {
    ossl(files, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'sub.key', '-out', 'sub.csr',
      '-subj', '/CN=Sub CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    await t.run(C, 'sign-certificate-request', { ca: 'ca', 'file-name': 'sub.csr' });
    assert.equal((await row(t, 'Sub CA'))!.authority, true);
    // Tamper with the subject: the signature no longer matches.
    const der = pemDecodeOne(fs.readFileSync(path.join(files, 'dev.csr'), 'utf8')).der;
    const i = der.indexOf(Buffer.from('dev.lab'));
    const forged = Buffer.from(der);
    forged[i] = 'x'.charCodeAt(0);
    putFile(t, 'forged.csr', forged);
    const count = (await rows(t)).length;
    await assert.rejects(t.run(C, 'sign-certificate-request', { ca: 'ca', 'file-name': 'forged.csr' }),
      (e: unknown) => e instanceof RosError && /signature of the request in forged\.csr is not valid/.test(e.message));
    assert.equal((await rows(t)).length, count);
    await assert.rejects(t.run(C, 'sign-certificate-request', { ca: 'dev.lab', 'file-name': 'dev.csr' }), /no private key|not a CA/);
  });

  test('create-certificate-request → openssl x509 -req → import back: K on the imported certificate', async () => {
    await t.run(C, 'add', { name: 'router', 'common-name': 'router.lab', 'subject-alt-name': 'DNS:router.lab,IP:192.168.88.1', 'key-size': 'prime256v1', 'key-usage': 'digital-signature,tls-server' });
    const r = await t.run(C, 'create-certificate-request', { template: 'router', 'key-passphrase': 'keypass1', 'challenge-passphrase': 'challenge' });
    assert.deepEqual(r.block, [['progress', 'done']]);
    assert.equal(await row(t, 'router'), undefined, 'the template is consumed');
    const req = ossl(files, ['req', '-in', 'certificate-request.pem', '-verify', '-noout', '-text']);
    assert.match(osslStatus(files, ['req', '-in', 'certificate-request.pem', '-verify', '-noout']).output, /verify OK/);
    assert.match(req, /Subject: CN = router\.lab/);
    assert.match(req, /challengePassword\s+:challenge/);
    assert.match(req, /DNS:router\.lab, IP Address:192\.168\.88\.1/);
    assert.match(fileOf(t, 'certificate-request_key.pem').toString(), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    assert.match(ossl(files, ['pkey', '-in', 'certificate-request_key.pem', '-passin', 'pass:keypass1', '-check', '-noout']), /valid/);
    const info = parseCsr(pemDecodeOne(fileOf(t, 'certificate-request.pem')).der);
    assert.equal(info.signatureValid, true);
    assert.deepEqual(info.keyUsage, ['digital-signature', 'tls-server']);
    if (mayUse('certtool')) {
      const ct = certtool(files, ['--crq-info', '--infile', 'certificate-request.pem']);
      assert.equal(ct.status, 0, ct.output);
      assert.match(ct.output, /router\.lab/);
    }
    // An outside CA signs it (openssl), the certificate and then the key come back.
    ossl(files, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ext-ca.key', '-out', 'ext-ca.pem', '-subj', '/CN=External CA', '-days', '100']);
    fs.writeFileSync(path.join(files, 'ext.cnf'), 'subjectAltName=DNS:router.lab,IP:192.168.88.1\nextendedKeyUsage=serverAuth\n');
    ossl(files, ['x509', '-req', '-in', 'certificate-request.pem', '-CA', 'ext-ca.pem', '-CAkey', 'ext-ca.key', '-CAcreateserial', '-days', '90', '-out', 'router-signed.crt', '-extfile', 'ext.cnf']);
    assert.deepEqual(await importFile(t, { 'file-name': 'router-signed.crt', passphrase: '' }), summary(1, 0, 1));
    assert.deepEqual(await importFile(t, { 'file-name': 'certificate-request_key.pem', passphrase: 'keypass1' }), summary(0, 1, 1));
    const back = (await row(t, 'router-signed.crt_0'))!;
    assert.equal(back['private-key'], true);
    assert.equal(back['common-name'], 'router.lab');
  });
});
