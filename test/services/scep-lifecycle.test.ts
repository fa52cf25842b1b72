// What happens to SCEP requests and certificates after the exchange (issue 15 items 1–2): the
// server answers on www-ssl as on www (certmonger's scep-submit over TLS, an enrolment by POST);
// REST drives the menu as terraform-routeros's routeros_system_certificate_scep_server does;
// an issued certificate is revoked like any other and its CA's CRL lists it (openssl crl);
// a waiting request can be removed, and one nobody grants goes away after request-lifetime
// (a poll then gets badCertId).
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { SCEP_REQUESTS_PATH } from '../../src/menus/certificate/scep-server.js';
import { exportSpkiDer, issueCertificate, parseCertificate } from '../../src/pki/index.js';
import { createCsr } from '../../src/pki/csr.js';
import {
  createRequest, degenerateContents, encodeIssuerAndSubject, openMessageData, parsePkiMessage, transactionIdFor, type PkiMessage,
} from '../../src/pki/scep-message.js';
import { toPem } from '../support/app.js';
import { SCEP_SUBMIT, opensslVerify, startScepApp, until, type ScepApp } from '../interop/scep-support.js';
import { PASSWORD, run } from './support.js';

const MINUTE = 60_000;

interface Client { key: KeyObject; cert: Buffer; spki: Buffer; cn: string }

function client(cn: string): Client {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = issueCertificate({ subject: { commonName: cn }, keyUsage: 'digital-signature,key-encipherment', daysValid: 2, digest: 'sha256', notBefore: Date.now() - 3600_000, subjectPublicKey: publicKey, issuer: { kind: 'self', privateKey } }).der;
  return { key: privateKey, cert, spki: exportSpkiDer(publicKey), cn };
}

/** A PKCSReq (or a CertPoll for the same transaction) of a client, encrypted for `ca`. */
function message(c: Client, ca: Buffer, opts: { challenge?: string; poll?: boolean } = {}) {
  const csr = createCsr({ subject: { commonName: c.cn }, challengePassword: opts.challenge, digest: 'sha256', privateKey: c.key, publicKey: c.spki });
  const caSubject = Buffer.from(parseCertificate(ca).subjectDer);
  const ownSubject = Buffer.from(parseCertificate(c.cert).subjectDer);
  return createRequest({
    messageType: opts.poll ? 'CertPoll' : 'PKCSReq', transactionId: transactionIdFor(c.spki),
    messageData: opts.poll ? encodeIssuerAndSubject(caSubject, ownSubject) : csr,
    recipient: ca, cipher: 'aes-256-cbc', signer: { certificate: c.cert, privateKey: c.key, digest: 'sha256' },
  });
}

/** POST PKIOperation over http or https (trusting `caPem`); the CertRep, checked as a client does. */
async function exchange(url: string, ca: Buffer, caPem: string, sent: { der: Buffer; senderNonce: Buffer }): Promise<PkiMessage> {
  const body = await new Promise<Buffer>((resolve, reject) => {
    const request = url.startsWith('https:') ? https.request : http.request;
    const req = request(`${url}?operation=PKIOperation`, { method: 'POST', ca: caPem, headers: { 'Content-Type': 'application/x-pki-message', 'Content-Length': sent.der.length } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(parts)) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(sent.der);
  });
  const rep = parsePkiMessage(body, [ca]);
  assert.equal(rep.signatureValid, true);
  assert.deepEqual(rep.recipientNonce, sent.senderNonce);
  return rep;
}
/** The certificate of a SUCCESS reply, decrypted with the client's key. */
async function issuedOf(rep: PkiMessage, c: Client): Promise<Buffer> {
  assert.equal(rep.pkiStatus, 'SUCCESS', `${rep.failInfo ?? ''} ${rep.failInfoText ?? ''}`);
  const inner = await openMessageData(rep, { certificate: c.cert, privateKey: c.key });
  const mine = degenerateContents(inner.data).certificates.find((d) => parseCertificate(d).publicKey.equals(c.spki));
  assert.ok(mine, 'a certificate for the client\'s key');
  return mine;
}

describe('SCEP server: www-ssl, REST, revocation, request lifetime', () => {
  let t: ScepApp;
  let ca: Buffer;
  let caFile: string;
  let httpsUrl: string;
  before(async () => {
    t = await startScepApp();
    ca = Buffer.from(t.caPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    caFile = path.join(t.dir, 'ca.pem');
    // www-ssl with a certificate of the same CA for 127.0.0.1
    await t.run(CERT_PATH, 'add', { name: 'www', 'common-name': '127.0.0.1', 'subject-alt-name': 'IP:127.0.0.1', 'key-size': '2048', 'key-usage': 'digital-signature,key-encipherment,tls-server' });
    await t.run(CERT_PATH, 'sign', { number: 'www', ca: 'ca' });
    await t.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'www', disabled: 'no' });
    httpsUrl = `https://127.0.0.1:${t.ports['www-ssl']}/scep/test`;
    await until(async () => (await run('curl', ['-s', '--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}', `${httpsUrl}?operation=GetCACaps`])).stdout === '200', 'www-ssl');
  });
  after(async () => { await t.stop(); });

  const requests = () => t.app.store.read((tx) => tx.list(SCEP_REQUESTS_PATH).map((r) => ({ id: r.id, status: r.data.status, cn: r.data['common-name'] })));

  test('on www-ssl: scep-submit reads the caps and the CA over TLS, and a client enrols by POST', async () => {
    const caps = await run(SCEP_SUBMIT, ['-u', httpsUrl, '-R', caFile, '-c']);
    assert.equal(caps.status, 0, caps.stdout + caps.stderr);
    assert.match(caps.stdout, /^POSTPKIOperation$/m);
    const certs = await run(SCEP_SUBMIT, ['-u', httpsUrl, '-R', caFile, '-C']);
    assert.equal(certs.status, 0, certs.stdout + certs.stderr);
    assert.equal(certs.stdout.trim(), t.caPem.trim());
    const c = client('tls-client.router.test');
    const der = await issuedOf(await exchange(httpsUrl, ca, t.caPem, message(c, ca, { challenge: await t.otp() })), c);
    const file = path.join(t.dir, 'tls-client.pem');
    fs.writeFileSync(file, toPem(der));
    await opensslVerify(caFile, file);
  });

  test('REST as terraform-routeros\'s scep_server resource drives it: PUT, GET, PATCH, DELETE', async () => {
    const rest = async (method: string, url: string, body?: unknown) => {
      const r = await run('curl', ['-s', '-u', `admin:${PASSWORD}`, '-X', method, '-H', 'content-type: application/json', ...(body ? ['--data', JSON.stringify(body)] : []),
        '-w', '\n%{http_code}', `http://127.0.0.1:${t.ports.www}/rest/certificate/scep-server${url}`]);
      const at = r.stdout.lastIndexOf('\n');
      return { status: Number(r.stdout.slice(at + 1)), body: r.stdout.slice(0, at) ? JSON.parse(r.stdout.slice(0, at)) as Record<string, string> : {} };
    };
    // Its DefaultCreate sends every attribute as a string.
    const made = await rest('PUT', '', { 'ca-cert': 'ca', path: '/scep/terraform', 'days-valid': '30', 'request-lifetime': '10m', disabled: 'false' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const id = made.body['.id']!;
    assert.match(id, /^\*[0-9A-F]+$/);
    const read = await rest('GET', `/${id}`);
    assert.equal(read.status, 200);
    assert.deepEqual(
      { ca: read.body['ca-cert'], path: read.body.path, next: read.body['next-ca-cert'], days: read.body['days-valid'], life: read.body['request-lifetime'], disabled: read.body.disabled },
      { ca: 'ca', path: '/scep/terraform', next: 'none', days: '30', life: '10m', disabled: 'false' });
    const caps = async () => (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${t.ports.www}/scep/terraform?operation=GetCACaps`])).stdout;
    assert.equal(await caps(), '200');
    assert.equal((await rest('PATCH', `/${id}`, { disabled: 'true', 'request-lifetime': '1h' })).status, 200);
    assert.equal((await rest('GET', `/${id}`)).body['request-lifetime'], '1h');
    assert.equal(await caps(), '404', 'a disabled server does not answer');
    assert.equal((await rest('PATCH', `/${id}`, { path: 'terraform' })).status, 400, 'a path outside /scep/ is refused');
    assert.equal((await rest('DELETE', `/${id}`)).status, 204);
    assert.equal((await rest('GET', `/${id}`)).status, 404);
  });

  test('an issued certificate is revoked like any other: issued-revoke, and the CA\'s CRL lists it', async () => {
    const c = client('revoked.router.test');
    const der = await issuedOf(await exchange(t.url, ca, t.caPem, message(c, ca, { challenge: await t.otp() })), c);
    const serial = parseCertificate(der).serialNumber.toUpperCase();
    const name = await t.app.store.read((tx) => String(tx.list(CERT_PATH).find((r) => String(r.data['serial-number'] ?? '').replace(/:/g, '').toUpperCase() === serial.replace(/:/g, ''))?.data.name));
    assert.match(name, /^issued_\d+$/);
    await t.run(CERT_PATH, 'issued-revoke', { numbers: name });
    // The CRL at the URL written into the certificate (ca-crl-host), as any client fetches it.
    const certFile = path.join(t.dir, 'revoked.pem');
    fs.writeFileSync(certFile, toPem(der));
    const cdp = /URI:(\S+)/.exec((await run('openssl', ['x509', '-in', certFile, '-noout', '-ext', 'crlDistributionPoints'])).stdout)?.[1];
    assert.ok(cdp, 'a CRL distribution point');
    const crlFile = path.join(t.dir, 'ca.crl');
    await until(async () => {
      const got = await run('curl', ['-s', '-o', crlFile, '-w', '%{http_code}', cdp]);
      if (got.stdout !== '200') return false;
      const text = await run('openssl', ['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']);
      return text.stdout.replace(/:/g, '').toUpperCase().includes(`SERIAL NUMBER ${serial.replace(/:/g, '')}`);
    }, 'the CRL listing the revoked serial');
    const verify = await run('openssl', ['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', crlFile, certFile]);
    assert.notEqual(verify.status, 0);
    assert.match(verify.stdout + verify.stderr, /certificate revoked/);
  });

  test('a waiting request can be removed; one nobody grants goes away after request-lifetime', async () => {
    const kept = client('waits.router.test');
    const dropped = client('removed.router.test');
    for (const c of [kept, dropped]) assert.equal((await exchange(t.url, ca, t.caPem, message(c, ca))).pkiStatus, 'PENDING');
    const rows = await requests();
    const removed = rows.find((r) => r.cn === 'removed.router.test')!;
    await t.run(SCEP_REQUESTS_PATH, 'remove', { numbers: `*${removed.id.toString(16).toUpperCase()}` });
    assert.deepEqual((await requests()).filter((r) => r.status === 'pending').map((r) => r.cn), ['waits.router.test']);
    // The removed one is unknown now: its poll is badCertId.
    const poll = await exchange(t.url, ca, t.caPem, message(dropped, ca, { poll: true }));
    assert.equal(poll.pkiStatus, 'FAILURE');
    assert.equal(poll.failInfo, 'badCertId');
    // Still there within request-lifetime (5m), polled as PENDING; gone after it.
    t.clock.advance(4 * MINUTE);
    assert.equal((await exchange(t.url, ca, t.caPem, message(kept, ca, { poll: true }))).pkiStatus, 'PENDING');
    await t.run(SCEP_REQUESTS_PATH, 'print', {});
    assert.ok((await requests()).some((r) => r.cn === 'waits.router.test'));
    t.clock.advance(6 * MINUTE);
    await t.run(SCEP_REQUESTS_PATH, 'print', {});
    assert.ok(!(await requests()).some((r) => r.cn === 'waits.router.test'), 'gone after request-lifetime');
    const late = await exchange(t.url, ca, t.caPem, message(kept, ca, { poll: true }));
    assert.equal(late.pkiStatus, 'FAILURE');
    assert.equal(late.failInfo, 'badCertId');
  });
});
