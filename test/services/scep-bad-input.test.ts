// Issue 15 item 6: what a SCEP server does with bad input — malformed and oversized messages, a
// wrong challenge, an unknown transaction, a replayed transaction id, requests for a CA
// certificate or CA key usage, bad signatures, messages for another CA, unknown ciphers, too
// many waiting requests, too many at once. Each is answered (a signed CertRep FAILURE with the
// right failInfo when the message can be read that far, else an HTTP error), logged, and
// leaves nothing issued and nothing half-stored.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { SCEP_REQUESTS_PATH } from '../../src/menus/certificate/scep-server.js';
import { issueCertificate } from '../../src/pki/certificate.js';
import { createEnvelopedData, type CmsCipher } from '../../src/pki/cms.js';
import { createCsr } from '../../src/pki/csr.js';
import { exportSpkiDer } from '../../src/pki/key.js';
import {
  createPkiMessage, createRequest, encodeIssuerAndSubject, newNonce, parsePkiMessage, transactionIdFor, type PkiMessage,
} from '../../src/pki/scep-message.js';
import { startScepApp, type ScepApp } from '../interop/scep-support.js';

const DAY = 86_400_000;

interface Client { key: KeyObject; cert: Buffer; spki: Buffer }

function client(cn: string, type: 'rsa' | 'ec' = 'rsa'): Client {
  const { privateKey, publicKey } = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cert = issueCertificate({ subject: { commonName: cn }, keyUsage: 'digital-signature,key-encipherment', daysValid: 2, digest: 'sha256', notBefore: Date.now() - DAY, subjectPublicKey: publicKey, issuer: { kind: 'self', privateKey } }).der;
  return { key: privateKey, cert, spki: exportSpkiDer(publicKey) };
}

function csrOf(c: Client, opts: { cn: string; challenge?: string; keyUsage?: string }): Buffer {
  return createCsr({ subject: { commonName: opts.cn }, challengePassword: opts.challenge, keyUsage: opts.keyUsage, digest: 'sha256', privateKey: c.key, publicKey: c.spki });
}

function post(url: string, body: Buffer): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    // A connection per request (agent: false): a kept-alive one the server closes after its idle
    // timeout, while a loaded machine spends seconds making a test's keys, resets the next POST.
    const req = http.request(`${url}?operation=PKIOperation`, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/x-pki-message', 'Content-Length': body.length } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('SCEP server: bad input', () => {
  let t: ScepApp;
  let ca: Buffer;
  before(async () => {
    // Low limits, so that the caps can be reached in a test.
    t = await startScepApp({ services: { scep: { maxBodyBytes: 6 * 1024, pendingPerMinute: 2, logLinesPer10s: 1000 } } });
    ca = Buffer.from(t.caPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  });
  after(async () => { await t.stop(); });

  const counts = () => t.app.store.read((tx) => ({
    issued: tx.list(CERT_PATH).filter((r) => typeof r.data.ca === 'number' && r.data.ca !== 0).length,
    requests: tx.list(SCEP_REQUESTS_PATH).length,
  }));
  const logs = () => t.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));

  /** Sends a message; it must come back as a CertRep signed by the CA for our nonce. */
  async function send(der: Buffer, nonce: Buffer): Promise<PkiMessage> {
    const r = await post(t.url, der);
    assert.equal(r.status, 200);
    assert.equal(r.type, 'application/x-pki-message');
    const rep = parsePkiMessage(r.body, [ca]);
    assert.equal(rep.signatureValid, true, 'signed by the CA');
    assert.equal(rep.messageType, 'CertRep');
    assert.deepEqual(rep.recipientNonce, nonce);
    return rep;
  }

  function request(c: Client, csr: Buffer, opts: { type?: 'PKCSReq' | 'RenewalReq' | 'CertPoll'; tx?: string; recipient?: Buffer; cipher?: CmsCipher; signer?: Client } = {}) {
    const signer = opts.signer ?? c;
    return createRequest({
      messageType: opts.type ?? 'PKCSReq', transactionId: opts.tx ?? transactionIdFor(c.spki), messageData: csr,
      recipient: opts.recipient ?? ca, cipher: opts.cipher ?? 'aes-256-cbc', signer: { certificate: signer.cert, privateKey: signer.key, digest: 'sha256' },
    });
  }

  /** A refusal: FAILURE with failInfo, a /log line, and nothing issued or stored. */
  async function refused(der: Buffer, nonce: Buffer, failInfo: string, logged: RegExp): Promise<void> {
    const before = await counts();
    const rep = await send(der, nonce);
    assert.equal(rep.pkiStatus, 'FAILURE');
    assert.equal(rep.failInfo, failInfo);
    assert.equal(rep.signed.content, undefined, 'a FAILURE carries nothing');
    assert.deepEqual(await counts(), before, 'nothing issued, nothing stored');
    assert.ok((await logs()).some((l) => logged.test(l)), `a /log line like ${logged}`);
  }

  test('a malformed message is answered 400 and logged', async () => {
    const before = await counts();
    const r = await post(t.url, Buffer.from('3082ffff0000', 'hex'));
    assert.equal(r.status, 400);
    assert.equal(r.type, 'text/plain');
    assert.deepEqual(await counts(), before);
    assert.ok((await logs()).some((l) => /unreadable message from 127\.0\.0\.1/.test(l)));
  });

  test('an oversized message is refused before it is read (413), by POST and by GET', async () => {
    const r = await post(t.url, Buffer.alloc(7 * 1024, 0x30));
    assert.equal(r.status, 413);
    const big = Buffer.alloc(6 * 1024 + 10, 1).toString('base64');
    const g = await new Promise<number>((resolve, reject) => {
      http.get(`${t.url}?operation=PKIOperation&message=${encodeURIComponent(big)}`, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
    });
    assert.equal(g, 413);
  });

  test('a wrong challenge password: FAILURE badRequest', async () => {
    const c = client('wrong.test');
    const m = request(c, csrOf(c, { cn: 'wrong.test', challenge: 'NOT-AN-OTP' }));
    await refused(m.der, m.senderNonce, 'badRequest', /the challenge password is not a valid one-time password/);
  });

  test('an expired one-time password is no valid challenge either', async () => {
    const otp = String((await t.run('/certificate/scep-server/otp', 'generate', { 'minutes-valid': '1' })).ret);
    t.clock.advance(61_000);
    const c = client('expired.test');
    const m = request(c, csrOf(c, { cn: 'expired.test', challenge: otp }));
    await refused(m.der, m.senderNonce, 'badRequest', /not a valid one-time password/);
  });

  test('a CSR asking for a CA certificate, or for CA key usage: FAILURE badRequest', async () => {
    const c = client('ca.test');
    const m = request(c, csrOf(c, { cn: 'ca.test', challenge: await t.otp(), keyUsage: 'key-cert-sign,crl-sign' }));
    await refused(m.der, m.senderNonce, 'badRequest', /asks for a CA certificate/);
  });

  test('an unknown transaction (CertPoll): FAILURE badCertId', async () => {
    const c = client('poll.test');
    const m = request(c, encodeIssuerAndSubject(Buffer.from('3000', 'hex'), Buffer.from('3000', 'hex')), { type: 'CertPoll', tx: 'NO-SUCH-TRANSACTION' });
    await refused(m.der, m.senderNonce, 'badCertId', /no request with this transaction id/);
  });

  test('a replayed transaction id: the same request gets the same answer, another request is refused', async () => {
    const c = client('replay.test');
    const m = request(c, csrOf(c, { cn: 'replay.test', challenge: await t.otp() }));
    const first = await send(m.der, m.senderNonce);
    assert.equal(first.pkiStatus, 'SUCCESS');
    const issued = (await counts()).issued;
    const again = await send(m.der, m.senderNonce);
    assert.equal(again.pkiStatus, 'SUCCESS', 'a retransmission');
    assert.equal((await counts()).issued, issued, 'no second certificate');
    const other = request(c, csrOf(c, { cn: 'replay-other.test', challenge: await t.otp() }));
    await refused(other.der, other.senderNonce, 'badRequest', /the transaction id was used for another request/);
  });

  test('a message whose signature does not verify: FAILURE badMessageCheck', async () => {
    const c = client('tampered.test');
    const m = request(c, csrOf(c, { cn: 'tampered.test', challenge: await t.otp() }));
    const der = Buffer.from(m.der);
    der[der.length - 3] ^= 0x5a; // inside the signature
    await refused(der, m.senderNonce, 'badMessageCheck', /the signature of the message is not valid/);
  });

  test('a message encrypted for another CA: FAILURE badMessageCheck', async () => {
    const c = client('elsewhere.test');
    const other = client('another CA');
    const m = request(c, csrOf(c, { cn: 'elsewhere.test', challenge: await t.otp() }), { recipient: other.cert });
    await refused(m.der, m.senderNonce, 'badMessageCheck', /not encrypted for this certificate/);
  });

  test('a content cipher the server does not know (AES-128-GCM): FAILURE badAlg', async () => {
    const c = client('gcm.test');
    const env = createEnvelopedData({ content: csrOf(c, { cn: 'gcm.test' }), recipient: ca, cipher: 'aes-128-cbc' });
    // aes128-CBC 2.16.840.1.101.3.4.1.2 becomes aes128-GCM 2.16.840.1.101.3.4.1.6 (same length)
    const at = env.indexOf(Buffer.from('0609608648016503040102', 'hex'));
    env[at + 10] = 0x06;
    const nonce = newNonce();
    const der = createPkiMessage({ messageType: 'PKCSReq', transactionId: 'GCM-TX', senderNonce: nonce, envelope: env, signer: { certificate: c.cert, privateKey: c.key, digest: 'sha256' } });
    await refused(der, nonce, 'badAlg', /content encryption algorithm 2\.16\.840\.1\.101\.3\.4\.1\.6 is not supported/);
  });

  test('a PKCSReq signed by a key that is not its request\'s: FAILURE badMessageCheck', async () => {
    const c = client('owner.test');
    const thief = client('thief.test');
    const m = request(c, csrOf(c, { cn: 'owner.test', challenge: await t.otp() }), { signer: thief });
    await refused(m.der, m.senderNonce, 'badMessageCheck', /not signed with the key of its request/);
  });

  test('a RenewalReq signed by a certificate this CA did not issue: FAILURE badRequest', async () => {
    const c = client('renew.test');
    const m = request(c, csrOf(c, { cn: 'renew.test' }), { type: 'RenewalReq' });
    await refused(m.der, m.senderNonce, 'badRequest', /renewal refused: the signer certificate was not issued by this CA/);
  });

  test('a signer with an EC key (replies are encrypted for it): FAILURE badAlg', async () => {
    const c = client('ec.test', 'ec');
    const m = request(c, csrOf(c, { cn: 'ec.test', challenge: await t.otp() }));
    await refused(m.der, m.senderNonce, 'badAlg', /not RSA/);
  });

  test('too many requests waiting in a minute: FAILURE badRequest', async () => {
    for (let i = 0; i < 2; i++) {
      const c = client(`wait${i}.test`);
      const m = request(c, csrOf(c, { cn: `wait${i}.test` }));
      assert.equal((await send(m.der, m.senderNonce)).pkiStatus, 'PENDING');
    }
    const c = client('wait-more.test');
    const m = request(c, csrOf(c, { cn: 'wait-more.test' }));
    await refused(m.der, m.senderNonce, 'badRequest', /requests came to wait for grant in the last minute/);
  });

  test('operations beyond the concurrency bound are turned away (503) and logged', async () => {
    const busy = await startScepApp({ services: { scep: { concurrent: 0 } } });
    try {
      const c = client('busy.test');
      const m = request(c, csrOf(c, { cn: 'busy.test' }));
      const r = await post(busy.url, m.der);
      assert.equal(r.status, 503);
      assert.ok((await busy.app.store.read((tx) => tx.list('/log').map((x) => String(x.data.message)))).some((l) => /too many requests in progress/.test(l)));
    } finally {
      await busy.stop();
    }
  });

  test('refusals reach /log at most logLinesPer10s times per 10 seconds', async () => {
    const quiet = await startScepApp({ services: { scep: { logLinesPer10s: 2 } } });
    try {
      for (let i = 0; i < 5; i++) await post(quiet.url, Buffer.from('3003020100', 'hex'));
      const lines = (await quiet.app.store.read((tx) => tx.list('/log').map((x) => String(x.data.message)))).filter((l) => /unreadable message/.test(l));
      assert.equal(lines.length, 2);
    } finally {
      await quiet.stop();
    }
  });
});
