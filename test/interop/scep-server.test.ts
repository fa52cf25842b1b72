// rospki's SCEP server (issue 15) against the real SCEP clients on 127.0.0.1: certmonger (its
// scep-submit program and a private certmonger daemon), micromdm's scepclient and strongSwan's
// pki --scep. One-time-password enrolment, pending then grant, renewal, GetNextCACert during a
// CA rollover; every certificate issued is checked with `openssl verify`.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { SCEP_REQUESTS_PATH } from '../../src/menus/certificate/scep-server.js';
import { run } from '../services/support.js';
import { toPem } from '../support/app.js';
import {
  SCEP_SUBMIT, certmongerEnrol, opensslVerify, runIn, scepclient, startScepApp, strongswanEnrol, until, type ScepApp,
} from './scep-support.js';

describe('SCEP server against real clients', () => {
  let t: ScepApp;
  let caFile: string;
  before(async () => {
    t = await startScepApp();
    caFile = path.join(t.dir, 'ca.pem');
  });
  after(async () => { await t.stop(); });

  const requests = () => t.app.store.read((tx) => tx.list(SCEP_REQUESTS_PATH).map((r) => r.data));
  const logText = async () => (await t.run('/log', 'print', {}).then(() => t.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message))))).join('\n');

  test('certmonger scep-submit: GetCACaps and GetCACert', async () => {
    const caps = await run(SCEP_SUBMIT, ['-u', t.url, '-c']);
    assert.equal(caps.status, 0, caps.stdout + caps.stderr);
    for (const cap of ['AES', 'DES3', 'POSTPKIOperation', 'Renewal', 'SHA-256', 'SCEPStandard']) assert.match(caps.stdout, new RegExp(`^${cap}$`, 'm'));
    const certs = await run(SCEP_SUBMIT, ['-u', t.url, '-C']);
    assert.equal(certs.status, 0, certs.stdout + certs.stderr);
    assert.equal(certs.stdout.trim(), t.caPem.trim());
  });

  test('micromdm scepclient enrols with a one-time password; the certificate is a row with flag I', async () => {
    const otp = await t.otp();
    const dir = path.join(t.dir, 'scepclient');
    const r = await scepclient(t.url, dir, { cn: 'sc.router.test', challenge: otp });
    assert.equal(r.status, 0, r.out);
    await opensslVerify(caFile, path.join(dir, 'cert.pem'), 'sslclient');
    const issued = await t.issued();
    assert.deepEqual(issued, ['issued_1']);
    const print = await t.run(CERT_PATH, 'print', { proplist: 'name,common-name', where: undefined as never });
    assert.ok(print.print);
    // The OTP is used up: a second client with it is refused.
    const again = await scepclient(t.url, path.join(t.dir, 'scepclient-again'), { cn: 'sc2.router.test', challenge: otp });
    assert.notEqual(again.status, 0);
    assert.match(again.out, /badRequest/);
    assert.deepEqual(await t.issued(), ['issued_1']);
    assert.match(await logText(), /the challenge password is not a valid one-time password/);
  });

  for (const cipher of ['aes', 'des3'] as const) {
    test(`strongSwan pki --scep (--cipher ${cipher}) enrols with a one-time password`, async () => {
      const dir = path.join(t.dir, `sw-${cipher}`);
      const r = await strongswanEnrol(t.url, dir, { cn: `sw-${cipher}.router.test`, password: await t.otp(), cipher, caFile });
      assert.equal(r.status, 0, r.out);
      await opensslVerify(caFile, path.join(dir, 'cert.pem'), 'sslclient');
    });
  }

  test('certmonger (private daemon) enrols with a one-time password', async () => {
    const dir = path.join(t.dir, 'cm');
    const r = await certmongerEnrol(t.url, dir, { cn: 'cm.router.test', challenge: await t.otp(), caFile });
    assert.match(r.out, /status: MONITORING/, r.out);
    await opensslVerify(caFile, r.cert, 'sslclient');
  });

  test('certmonger: pending, then grant (getcert refresh polls), then renewal (getcert resubmit)', async () => {
    const dir = path.join(t.dir, 'cm-pending');
    const cm = path.join(dir, 'certmonger');
    const marker = path.join(t.dir, 'cm-granted');
    const id = `$(getcert list | sed -n "s/^Request ID '\\(.*\\)':/\\1/p" | head -1)`;
    const extra = `for i in $(seq 1 150); do [ -f ${marker} ] && break; sleep 0.2; done
getcert refresh -i ${id}
for i in $(seq 1 60); do getcert list | grep -q "status: MONITORING" && break; sleep 0.5; done
cp ${cm}/out/cert.pem ${dir}/first.pem
getcert resubmit -i ${id}
for i in $(seq 1 60); do cmp -s ${cm}/out/cert.pem ${dir}/first.pem || break; sleep 0.5; done
sleep 1`;
    const enrol = certmongerEnrol(t.url, dir, { cn: 'cm-pending.router.test', caFile, extra });
    await until(async () => (await requests()).some((r) => r['common-name'] === 'cm-pending.router.test' && r.status === 'pending'), 'a pending request', 60_000);
    const before = await t.issued();
    const rowId = await t.app.store.read((tx) => tx.list(SCEP_REQUESTS_PATH).find((r) => r.data['common-name'] === 'cm-pending.router.test')!.id);
    await t.run(SCEP_REQUESTS_PATH, 'grant', { numbers: `*${rowId.toString(16).toUpperCase()}` });
    fs.writeFileSync(marker, '');
    const r = await enrol;
    assert.match(r.out, /status: MONITORING/, r.out);
    await opensslVerify(caFile, path.join(dir, 'first.pem'));
    await opensslVerify(caFile, r.cert);
    assert.notEqual(fs.readFileSync(r.cert, 'utf8'), fs.readFileSync(path.join(dir, 'first.pem'), 'utf8'), 'resubmit renewed it');
    assert.equal((await t.issued()).length, before.length + 2, 'grant issued one, the renewal one more');
    assert.match(await logText(), /renewing issued_\d+/);
  });

  test('pending, then grant: strongSwan polls (CertPoll) until the request is granted', async () => {
    const dir = path.join(t.dir, 'sw-pending');
    const before = (await t.issued()).length;
    const enrol = strongswanEnrol(t.url, dir, { cn: 'pending.router.test', caFile, maxPollSeconds: 60 });
    await until(async () => (await requests()).some((r) => r['common-name'] === 'pending.router.test' && r.status === 'pending'), 'a pending request');
    assert.equal((await t.issued()).length, before, 'nothing is issued before grant');
    const id = await t.app.store.read((tx) => tx.list(SCEP_REQUESTS_PATH).find((r) => r.data['common-name'] === 'pending.router.test')!.id);
    await t.run(SCEP_REQUESTS_PATH, 'grant', { numbers: `*${id.toString(16).toUpperCase()}` });
    const r = await enrol;
    assert.equal(r.status, 0, r.out);
    await opensslVerify(caFile, path.join(dir, 'cert.pem'));
    const row = (await requests()).find((x) => x['common-name'] === 'pending.router.test')!;
    assert.equal(row.status, 'issued', 'delivered by the poll');
  });

  test('renewal: strongSwan renews with its certificate (RenewalReq), once', async () => {
    const dir = path.join(t.dir, 'sw-aes');
    const renewDir = path.join(t.dir, 'sw-renew');
    fs.mkdirSync(renewDir);
    const oldCert = path.join(dir, 'cert.pem');
    const r = await strongswanEnrol(t.url, renewDir, { cn: 'sw-aes.router.test', caFile, oldCert, oldKey: path.join(dir, 'key.pem') });
    assert.equal(r.status, 0, r.out);
    await opensslVerify(caFile, path.join(renewDir, 'cert.pem'));
    assert.notEqual(fs.readFileSync(path.join(renewDir, 'cert.pem'), 'utf8'), fs.readFileSync(oldCert, 'utf8'));
    // The same old certificate does not renew twice.
    const again = await strongswanEnrol(t.url, path.join(t.dir, 'sw-renew-2'), { cn: 'sw-aes.router.test', caFile, oldCert, oldKey: path.join(dir, 'key.pem') });
    assert.notEqual(again.status, 0);
    assert.match(await logText(), /renewal refused: the signer certificate was renewed already/);
  });

  test('renewal: micromdm scepclient renews with the certificate it holds', async () => {
    const dir = path.join(t.dir, 'scepclient');
    const before = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
    const r = await runIn(dir, 'scepclient', ['-server-url', t.url, '-private-key', 'key.pem', '-certificate', 'cert.pem', '-cn', 'sc.router.test', '-keySize', '2048'], 60_000);
    assert.equal(r.status, 0, r.out);
    const after = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
    assert.notEqual(after, before);
    await opensslVerify(caFile, path.join(dir, 'cert.pem'));
  });

  test('GetNextCACert during a CA rollover: the next CA, signed by the current one', async () => {
    const none = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${t.url}?operation=GetNextCACert`]);
    assert.equal(none.stdout, '404');
    await t.run(CERT_PATH, 'add', { name: 'ca2', 'common-name': 'rospki SCEP CA 2', 'key-usage': 'key-cert-sign,crl-sign', 'days-valid': '60' });
    await t.run(CERT_PATH, 'sign', { number: 'ca2' });
    await t.run('/certificate/scep-server', 'set', { numbers: '0', 'next-ca-cert': 'ca2' });
    const file = path.join(t.dir, 'next.p7');
    const got = await run('curl', ['-s', '-D', '-', '-o', file, `${t.url}?operation=GetNextCACert`]);
    assert.match(got.stdout, /content-type: application\/x-x509-next-ca-cert/i);
    // signed by the current CA: openssl cms -verify with it as the only trust anchor
    const inner = path.join(t.dir, 'next-inner.der');
    const v = await run('openssl', ['cms', '-verify', '-inform', 'DER', '-in', file, '-CAfile', caFile, '-binary', '-out', inner, '-purpose', 'any']);
    assert.equal(v.status, 0, v.stderr);
    const printed = await run('openssl', ['pkcs7', '-inform', 'DER', '-in', inner, '-print_certs']);
    const ca2 = await t.app.store.read((tx) => toPem(certificateDer(tx, tx.findBy(CERT_PATH, 'name', 'ca2')[0]!.id)!));
    assert.ok(printed.stdout.includes(ca2.trim().split('\n')[1]!), printed.stdout);
  });
});
