// /certificate scep-server ra (issue 15 item 3): rospki as a registration authority in front
// of another SCEP server (a second appliance's). The RA enrols its own certificate there, then
// real clients enrol through it — micromdm scepclient, strongSwan pki, certmonger, rospki's
// own client — with the server's one-time passwords, or pending until the server grants; the
// RA renews its certificate with `renew`. Every certificate is checked with `openssl verify`.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { SCEP_RA_PATH, SCEP_REQUESTS_PATH } from '../../src/menus/certificate/scep-server.js';
import { run, startServiceApp, type ServiceApp } from '../services/support.js';
import { toPem } from '../support/app.js';
import {
  STRONGSWAN_CONF, certmongerEnrol, opensslVerify, scepclient, startScepApp, strongswanEnrol, until, type ScepApp,
} from './scep-support.js';

describe('SCEP RA in front of another SCEP server', () => {
  let server: ScepApp;
  let ra: ServiceApp;
  let raUrl: string;
  let caFile: string;
  before(async () => {
    server = await startScepApp();
    ra = await startServiceApp();
    caFile = path.join(server.dir, 'ca.pem');
    raUrl = `http://127.0.0.1:${ra.ports.www}/scep/edge`;
  });
  after(async () => { await ra.stop(); await server.stop(); });

  const raRow = () => ra.app.store.read((tx) => tx.findBy(SCEP_RA_PATH, 'name', 'edge')[0]!.data);
  const raStatus = async () => String((await ra.run(SCEP_RA_PATH, 'get', { number: 'edge', 'value-name': 'status' })).ret);

  test('the RA enrols its own certificate at the server (the daemon does it)', async () => {
    await ra.run(CERT_PATH, 'add', { name: 'ra-cert', 'common-name': 'rospki RA', 'key-size': '2048', 'key-usage': 'digital-signature,key-encipherment' });
    await ra.run(SCEP_RA_PATH, 'add', { name: 'edge', 'server-url': server.url, template: 'ra-cert', 'challenge-password': await server.otp() });
    await until(async () => (await raStatus()) === 'valid', 'the RA certificate');
    const pem = await ra.app.store.read((tx) => toPem(certificateDer(tx, tx.findBy(CERT_PATH, 'name', 'ra-cert')[0]!.id)!));
    const file = path.join(server.dir, 'ra.pem');
    fs.writeFileSync(file, pem);
    await opensslVerify(caFile, file);
    const row = await raRow();
    assert.equal(row['ra-path'], undefined, 'ra-path defaults to /scep/<name>');
    const caFp = String((await ra.run(SCEP_RA_PATH, 'get', { number: 'edge', 'value-name': 'ca-fingerprint' })).ret);
    assert.match(caFp, /^[0-9a-f]{64}$/);
  });

  test('GetCACert at ra-path: the RA certificate and the CA (x-x509-ca-ra-cert)', async () => {
    const file = path.join(server.dir, 'ra-cacert.p7');
    const r = await run('curl', ['-s', '-D', '-', '-o', file, `${raUrl}?operation=GetCACert`]);
    assert.match(r.stdout, /content-type: application\/x-x509-ca-ra-cert/i);
    const printed = await run('openssl', ['pkcs7', '-inform', 'DER', '-in', file, '-print_certs', '-noout']);
    assert.match(printed.stdout, /subject=CN = rospki RA/);
    assert.match(printed.stdout, /subject=O = rospki tests, CN = rospki SCEP CA/);
  });

  test('micromdm scepclient enrols through the RA with the server\'s one-time password', async () => {
    const dir = path.join(server.dir, 'ra-scepclient');
    const r = await scepclient(raUrl, dir, { cn: 'via-ra.router.test', challenge: await server.otp() });
    assert.equal(r.status, 0, r.out);
    await opensslVerify(caFile, path.join(dir, 'cert.pem'));
    const record = await ra.app.store.read((tx) => tx.list(SCEP_REQUESTS_PATH).find((x) => x.data['common-name'] === 'via-ra.router.test'));
    assert.equal(record?.data.status, 'issued');
    const shown = await ra.run(SCEP_REQUESTS_PATH, 'get', { number: `*${record!.id.toString(16)}`, 'value-name': 'authority' });
    assert.equal(shown.ret, 'edge');
  });

  test('strongSwan pki --scepca and --scep through the RA (RA certificate for encryption and signature)', async () => {
    const dir = path.join(server.dir, 'ra-sw');
    fs.mkdirSync(dir);
    const env = { STRONGSWAN_CONF };
    const ca = await run('pki', ['--scepca', '--url', raUrl, '--caout', path.join(dir, 'ca.pem'), '--raout', path.join(dir, 'ra.pem'), '--outform', 'pem', '--force'], { env });
    assert.equal(ca.status, 0, ca.stderr);
    // pki writes the RA certificate to ra.pem; enrol with it
    const r = await strongswanEnrol(raUrl, dir, { cn: 'sw-via-ra.router.test', password: await server.otp(), caFile: path.join(dir, 'ra.pem') });
    assert.equal(r.status, 0, r.out);
    await opensslVerify(caFile, path.join(dir, 'cert.pem'));
  });

  test('pending through the RA: the client polls through it until the server grants', async () => {
    const dir = path.join(server.dir, 'ra-sw-pending');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(server.dir, 'ra-sw', 'ra.pem'), path.join(dir, 'ra.pem'));
    const enrol = strongswanEnrol(raUrl, dir, { cn: 'ra-pending.router.test', caFile: path.join(dir, 'ra.pem'), maxPollSeconds: 60 });
    await until(async () => (await server.app.store.read((tx) => tx.list(SCEP_REQUESTS_PATH))).some((r) => r.data['common-name'] === 'ra-pending.router.test' && r.data.status === 'pending'), 'the request waiting at the server');
    // The RA records the server's PENDING once that answer reached it (a moment after the server stored it).
    await until(async () => (await ra.app.store.read((tx) => tx.list(SCEP_REQUESTS_PATH).find((r) => r.data['common-name'] === 'ra-pending.router.test')))?.data.status === 'waiting', 'the RA to mark the request waiting');
    const id = await server.app.store.read((tx) => tx.list(SCEP_REQUESTS_PATH).find((r) => r.data['common-name'] === 'ra-pending.router.test')!.id);
    await server.run(SCEP_REQUESTS_PATH, 'grant', { numbers: `*${id.toString(16)}` });
    const r = await enrol;
    assert.equal(r.status, 0, r.out);
    await opensslVerify(caFile, path.join(dir, 'cert.pem'));
  });

  test('certmonger enrols through the RA', async () => {
    const dir = path.join(server.dir, 'ra-cm');
    fs.mkdirSync(dir);
    // -r the RA certificate (to encrypt for), -N the CA (to trust the RA's signature by)
    const r = await certmongerEnrol(raUrl, dir, { cn: 'cm-via-ra.router.test', challenge: await server.otp(), caFile, raFile: path.join(server.dir, 'ra-sw', 'ra.pem') });
    assert.match(r.out, /status: MONITORING/, r.out);
    await opensslVerify(caFile, r.cert);
  });

  test('rospki\'s own client enrols through the RA', async () => {
    await ra.run(CERT_PATH, 'add', { name: 'dev', 'common-name': 'dev-via-ra.router.test', 'key-size': '2048', 'key-usage': 'digital-signature,tls-client' });
    const r = await ra.run(CERT_PATH, 'add-scep', { template: 'dev', 'scep-url': raUrl, 'challenge-password': await server.otp() });
    assert.deepEqual(r.block, [['progress', 'done']]);
    const file = path.join(server.dir, 'dev-via-ra.pem');
    fs.writeFileSync(file, await ra.app.store.read((tx) => toPem(certificateDer(tx, tx.findBy(CERT_PATH, 'name', 'dev')[0]!.id)!)));
    await opensslVerify(caFile, file);
  });

  test('renew: the RA renews its own certificate', async () => {
    const before = await ra.app.store.read((tx) => tx.findBy(CERT_PATH, 'name', 'ra-cert')[0]!.data.fingerprint);
    const r = await ra.run(SCEP_RA_PATH, 'renew', { numbers: 'edge' });
    assert.deepEqual(r.block, [['progress', 'done']]);
    const after = await ra.app.store.read((tx) => tx.findBy(CERT_PATH, 'name', 'ra-cert')[0]!.data.fingerprint);
    assert.notEqual(after, before);
    // and it still serves: another enrolment through it
    const dir = path.join(server.dir, 'ra-scepclient-2');
    const e = await scepclient(raUrl, dir, { cn: 'after-renew.router.test', challenge: await server.otp() });
    assert.equal(e.status, 0, e.out);
    await opensslVerify(caFile, path.join(dir, 'cert.pem'));
  });
});
