// rospki's SCEP client (issue 15 item 4): /certificate add-scep and scep-renew against rospki's
// own SCEP server (a second appliance) and against micromdm's scepserver (Debian `scep`), on
// 127.0.0.1. One-time-password enrolment, pending then polled by the daemon's SCEP service,
// forced and automatic (75 %) renewal; every certificate is checked with `openssl verify`.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { SCEP_REQUESTS_PATH } from '../../src/menus/certificate/scep-server.js';
import { runningJobs } from '../../src/menus/system/script-job.js';
import { freePort, run, startServiceApp, type ServiceApp } from '../services/support.js';
import { toPem } from '../support/app.js';
import { opensslVerify, startScepApp, until, type ScepApp } from './scep-support.js';

const DAY = 86_400_000;

/** The client appliance's row of a certificate. */
const rowOf = (t: ServiceApp, name: string) => t.app.store.read((tx) => tx.findBy(CERT_PATH, 'name', name)[0]);
const pemOf = (t: ServiceApp, name: string) => t.app.store.read((tx) => toPem(certificateDer(tx, tx.findBy(CERT_PATH, 'name', name)[0]!.id)!));

async function template(t: ServiceApp, name: string, cn: string): Promise<void> {
  await t.run(CERT_PATH, 'add', { name, 'common-name': cn, 'subject-alt-name': `DNS:${cn}`, 'key-size': '2048', 'key-usage': 'digital-signature,key-encipherment,tls-client' });
}

describe('SCEP client against rospki\'s SCEP server', () => {
  let server: ScepApp;
  let client: ServiceApp;
  let caFile: string;
  before(async () => {
    server = await startScepApp();
    client = await startServiceApp();
    caFile = path.join(server.dir, 'ca.pem');
  });
  after(async () => { await client.stop(); await server.stop(); });

  test('add-scep with a one-time password: the template becomes the certificate, its key stays here', async () => {
    await template(client, 'dev', 'dev.router.test');
    const r = await client.run(CERT_PATH, 'add-scep', { template: 'dev', 'scep-url': server.url, 'challenge-password': await server.otp() });
    assert.deepEqual(r.block, [['progress', 'done']]);
    const row = (await rowOf(client, 'dev'))!;
    assert.equal(row.data.status, 'valid');
    assert.equal(row.data['private-key'], true);
    assert.equal(row.data['scep-url'], server.url);
    assert.equal(row.data['ca-fingerprint'], createHash('sha256').update(Buffer.from(server.caPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')).digest('hex'));
    const file = path.join(server.dir, 'dev.pem');
    fs.writeFileSync(file, await pemOf(client, 'dev'));
    await opensslVerify(caFile, file, 'sslclient');
    // the server's record of it: one issued certificate, same request fingerprint
    const req = await server.app.store.read((tx) => tx.list(SCEP_REQUESTS_PATH).find((x) => x.data['common-name'] === 'dev.router.test')!.data);
    assert.equal(req['req-fingerprint'], row.data['req-fingerprint']);
    assert.equal(req.status, 'issued');
    // the key is the certificate's: the appliance exports a PKCS#12 that openssl reads with its key
    await client.run(CERT_PATH, 'export-certificate', { numbers: 'dev', type: 'pkcs12', 'export-passphrase': 'passphrase1', 'file-name': 'dev' });
    const p12 = await run('openssl', ['pkcs12', '-in', path.join(client.app.dataDir.filesDir, 'dev.p12'), '-passin', 'pass:passphrase1', '-nodes', '-noenc']);
    assert.match(p12.stdout, /BEGIN PRIVATE KEY/);
  });

  test('pending: add-scep waits for approval; after grant the daemon\'s SCEP service polls and gets it', async () => {
    await template(client, 'pend', 'pend.router.test');
    const r = await client.run(CERT_PATH, 'add-scep', { template: 'pend', 'scep-url': server.url });
    assert.deepEqual(r.block, [['progress', 'waiting for approval']]);
    const waiting = (await rowOf(client, 'pend'))!;
    assert.equal(waiting.data.status, 'pending');
    assert.equal(waiting.data.fingerprint, undefined, 'still a template');
    // The administrator of the server compares req-fingerprint and grants.
    const req = await server.app.store.read((tx) => tx.list(SCEP_REQUESTS_PATH).find((x) => x.data['req-fingerprint'] === waiting.data['req-fingerprint']));
    assert.ok(req, 'the server shows the same req-fingerprint');
    await server.run(SCEP_REQUESTS_PATH, 'grant', { numbers: `*${req.id.toString(16)}` });
    // The poll is due a minute later: move the client's clock.
    client.clock.advance(61_000);
    await until(async () => (await rowOf(client, 'pend'))!.data.status === 'valid', 'the polled certificate');
    const file = path.join(server.dir, 'pend.pem');
    fs.writeFileSync(file, await pemOf(client, 'pend'));
    await opensslVerify(caFile, file);
  });

  test('scep-renew renews in place: same row and name, new certificate and key', async () => {
    const before = (await rowOf(client, 'dev'))!;
    const r = await client.run(CERT_PATH, 'scep-renew', { numbers: 'dev' });
    assert.deepEqual(r.block, [['progress', 'done']]);
    const after = (await rowOf(client, 'dev'))!;
    assert.equal(after.id, before.id);
    assert.notEqual(after.data.fingerprint, before.data.fingerprint);
    assert.notEqual(after.data['req-fingerprint'], before.data['req-fingerprint']);
    const file = path.join(server.dir, 'dev-renewed.pem');
    fs.writeFileSync(file, await pemOf(client, 'dev'));
    await opensslVerify(caFile, file);
    assert.ok((await server.app.store.read((tx) => tx.list('/log').map((l) => String(l.data.message)))).some((m) => /renewing issued_/.test(m)));
  });

  test('automatic renewal at 75 % of the validity, through the daemon\'s SCEP service (a job while it runs)', async () => {
    const before = (await rowOf(client, 'pend'))!;
    const span = Number(before.data['invalid-after']) - Number(before.data['invalid-before']);
    const at = Number(before.data['invalid-before']) + Math.ceil(span * 0.75) + 1000;
    const by = at - client.clock.now();
    assert.ok(by > DAY, 'renewal is not due yet');
    let sawJob = false;
    const watch = setInterval(() => { if (runningJobs(client.app.env).some((j) => j.script === 'scep pend')) sawJob = true; }, 5);
    try {
      // Both clocks move: the server judges the old certificate by its own clock.
      server.clock.advance(by);
      client.clock.advance(by);
      await until(async () => (await rowOf(client, 'pend'))!.data.fingerprint !== before.data.fingerprint, 'the automatic renewal');
    } finally {
      clearInterval(watch);
    }
    const after = (await rowOf(client, 'pend'))!;
    assert.equal(after.data.status, 'valid');
    assert.ok(sawJob, 'the renewal ran as a /system script job');
    const file = path.join(server.dir, 'pend-renewed.pem');
    fs.writeFileSync(file, await pemOf(client, 'pend'));
    const v = await run('openssl', ['verify', '-attime', String(Math.floor(client.clock.now() / 1000)), '-CAfile', caFile, file]);
    assert.match(v.stdout, /: OK/, v.stderr);
  });

  test('refusals: a wrong challenge fails the command and leaves the template as it was', async () => {
    await template(client, 'nope', 'nope.router.test');
    await assert.rejects(client.run(CERT_PATH, 'add-scep', { template: 'nope', 'scep-url': server.url, 'challenge-password': 'WRONG' }), /not a valid one-time password/);
    const row = (await rowOf(client, 'nope'))!;
    assert.equal(row.data.fingerprint, undefined);
    assert.equal(row.data.status, undefined);
    assert.equal(row.data['scep-url'], undefined);
    await assert.rejects(client.run(CERT_PATH, 'add-scep', { template: 'nope', 'scep-url': 'http://127.0.0.1:9/scep/none' }), /already|connection/);
  });
});

describe('SCEP client against micromdm scepserver', () => {
  let client: ServiceApp;
  let child: ChildProcess;
  let dir: string;
  let url: string;
  before(async () => {
    client = await startServiceApp();
    dir = fs.mkdtempSync(path.join(client.dir, 'micromdm-'));
    const init = await run('scepserver', ['ca', '-init', '-depot', path.join(dir, 'depot'), '-keySize', '2048', '-organization', 'micromdm test CA']);
    assert.equal(init.status, 0, init.stderr);
    const port = await freePort();
    // scepserver has no bind address flag: it listens on *:port; only 127.0.0.1 is contacted.
    child = spawn('scepserver', ['-depot', path.join(dir, 'depot'), '-port', String(port), '-challenge', 'mdm-secret', '-allowrenew', '0'], { stdio: 'ignore' });
    url = `http://127.0.0.1:${port}/scep`;
    await until(async () => (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${url}?operation=GetCACaps`])).stdout === '200', 'scepserver');
  });
  after(async () => { child.kill(); await client.stop(); });

  test('add-scep with micromdm\'s challenge (its CertRep is single DES) and scep-renew', async () => {
    await template(client, 'mdm', 'mdm.router.test');
    const r = await client.run(CERT_PATH, 'add-scep', { template: 'mdm', 'scep-url': url, 'challenge-password': 'mdm-secret' });
    assert.deepEqual(r.block, [['progress', 'done']]);
    const caFile = path.join(dir, 'depot', 'ca.pem');
    const file = path.join(dir, 'mdm.pem');
    fs.writeFileSync(file, await pemOf(client, 'mdm'));
    await opensslVerify(caFile, file);
    const first = (await rowOf(client, 'mdm'))!.data.fingerprint;
    const renewed = await client.run(CERT_PATH, 'scep-renew', { numbers: 'mdm' });
    assert.deepEqual(renewed.block, [['progress', 'done']]);
    assert.notEqual((await rowOf(client, 'mdm'))!.data.fingerprint, first);
    fs.writeFileSync(file, await pemOf(client, 'mdm'));
    await opensslVerify(caFile, file);
  });
});
