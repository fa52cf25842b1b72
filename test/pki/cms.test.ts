// src/pki/cms.ts and scep-message.ts against OpenSSL: what rospki writes, `openssl cms` reads
// (verify, decrypt, print the certificates), and what `openssl cms` writes, rospki reads — every
// content cipher (AES-128/192/256, 3DES, single DES), both key transports (PKCS#1 v1.5, OAEP).
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, publicEncrypt, constants, createPublicKey, privateDecrypt, sign } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { issueCertificate } from '../../src/pki/certificate.js';
import {
  CMS_OID, certificatePublicKey, createDegenerate, createEnvelopedData, createSignedData, decodePkcs1KeyBlock, decryptEnvelopedData,
  parseEnvelopedData, parseSignedData, verifySigner, type CmsCipher,
} from '../../src/pki/cms.js';
import { TAG, readTlv, tlv, children } from '../../src/pki/der.js';
import { PkiError } from '../../src/pki/errors.js';
import {
  SCEP_OID, createCertRep, createRequest, degenerateContents, openMessageData, parsePkiMessage, prepareCertRep, transactionIdFor,
} from '../../src/pki/scep-message.js';
import { RsaWorkers } from '../../src/pki/rsa-work.js';
import { openssl, tempDir, toPem } from '../support/app.js';
import { opensslStatus } from '../support/app.js';

const DAY = 86_400_000;

function selfSigned(cn: string, keyUsage = 'digital-signature,key-encipherment') {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = issueCertificate({ subject: { commonName: cn }, keyUsage, daysValid: 10, digest: 'sha256', notBefore: Date.now() - DAY, subjectPublicKey: publicKey, issuer: { kind: 'self', privateKey } });
  return { privateKey, der: cert.der };
}

describe('pki/cms against openssl cms', () => {
  const dir = tempDir('rospki-cms-');
  const who = selfSigned('cms recipient');
  const files = { cert: path.join(dir, 'c.pem'), key: path.join(dir, 'k.pem'), pt: path.join(dir, 'pt') };
  const plaintext = Buffer.from('SCEP message data \u00e9 0123456789abcdef');
  before(() => {
    fs.writeFileSync(files.cert, toPem(who.der));
    fs.writeFileSync(files.key, who.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    fs.writeFileSync(files.pt, plaintext);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const opensslCiphers: Array<[string, CmsCipher]> = [['aes128', 'aes-128-cbc'], ['aes192', 'aes-192-cbc'], ['aes256', 'aes-256-cbc'], ['des3', 'des-ede3-cbc'], ['des', 'des-cbc']];
  for (const [flag, cipher] of opensslCiphers) {
    test(`reads an EnvelopedData openssl made with -${flag} (PKCS#1 v1.5 key transport)`, async () => {
      const out = path.join(dir, `env-${flag}.der`);
      openssl(['cms', '-encrypt', '-binary', `-${flag}`, '-in', files.pt, '-outform', 'DER', '-out', out, '-provider', 'legacy', '-provider', 'default', files.cert]);
      const env = parseEnvelopedData(fs.readFileSync(out));
      assert.equal(env.cipher, cipher);
      const r = await decryptEnvelopedData(env, { certificate: who.der, privateKey: who.privateKey });
      assert.deepEqual(r.content, plaintext);
      assert.equal(r.keyValid, true);
    });
    test(`writes an EnvelopedData with ${cipher} that openssl cms -decrypt reads`, () => {
      const file = path.join(dir, `mine-${cipher}.der`);
      fs.writeFileSync(file, createEnvelopedData({ content: plaintext, recipient: who.der, cipher }));
      const out = path.join(dir, `mine-${cipher}.out`);
      openssl(['cms', '-decrypt', '-inform', 'DER', '-in', file, '-inkey', files.key, '-recip', files.cert, '-out', out, '-provider', 'legacy', '-provider', 'default']);
      assert.deepEqual(fs.readFileSync(out), plaintext);
    });
  }

  test('OAEP key transport (SHA-256) both ways', async () => {
    const theirs = path.join(dir, 'env-oaep.der');
    openssl(['cms', '-encrypt', '-binary', '-aes256', '-in', files.pt, '-outform', 'DER', '-out', theirs, '-recip', files.cert, '-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256']);
    const env = parseEnvelopedData(fs.readFileSync(theirs));
    assert.deepEqual(env.recipients[0]!.scheme, { kind: 'oaep', hash: 'sha256', label: Buffer.alloc(0) });
    assert.deepEqual((await decryptEnvelopedData(env, { certificate: who.der, privateKey: who.privateKey })).content, plaintext);
    const mine = path.join(dir, 'mine-oaep.der');
    fs.writeFileSync(mine, createEnvelopedData({ content: plaintext, recipient: who.der, cipher: 'aes-128-cbc', keyTransport: { kind: 'oaep', hash: 'sha256' } }));
    assert.deepEqual(Buffer.from(openssl(['cms', '-decrypt', '-inform', 'DER', '-in', mine, '-inkey', files.key, '-recip', files.cert]), 'utf8'), plaintext);
  });

  test('an envelope for another certificate, or with a damaged key or content, is refused with a PkiError', async () => {
    const other = selfSigned('someone else');
    const env = parseEnvelopedData(createEnvelopedData({ content: plaintext, recipient: other.der, cipher: 'aes-256-cbc' }));
    await assert.rejects(decryptEnvelopedData(env, { certificate: who.der, privateKey: who.privateKey }), PkiError);
    const mine = parseEnvelopedData(createEnvelopedData({ content: plaintext, recipient: who.der, cipher: 'aes-256-cbc' }));
    // A damaged key block decrypts to a stand-in key: the content then fails (or, rarely, is garbage).
    const damaged = { ...mine, recipients: [{ ...mine.recipients[0]!, encryptedKey: Buffer.from(mine.recipients[0]!.encryptedKey).fill(7, 0, 4) }] };
    const r = await decryptEnvelopedData(damaged, { certificate: who.der, privateKey: who.privateKey }).catch((e: unknown) => e);
    if (r instanceof PkiError) assert.match(r.message, /cannot be decrypted/);
    else assert.equal((r as { keyValid: boolean }).keyValid, false);
  });

  test('PKCS#1 v1.5 key blocks: valid ones give their key, bad ones a stand-in of the right length that depends on the ciphertext', () => {
    const pub = createPublicKey(who.privateKey);
    const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const ct = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, key);
    const em = privateDecrypt({ key: who.privateKey, padding: constants.RSA_NO_PADDING }, ct);
    assert.deepEqual(decodePkcs1KeyBlock(em, ct, 16), { key, valid: true });
    // the right block for the wrong length (a 3DES envelope replayed as AES-128) is refused too
    const wrongLength = decodePkcs1KeyBlock(em, ct, 24);
    assert.equal(wrongLength.valid, false);
    assert.equal(wrongLength.key.length, 24);
    const broken = Buffer.from(em);
    broken[1] = 1;
    const a = decodePkcs1KeyBlock(broken, ct, 16);
    assert.equal(a.valid, false);
    assert.notDeepEqual(a.key, key);
    assert.deepEqual(decodePkcs1KeyBlock(broken, ct, 16).key, a.key, 'the same ciphertext gives the same stand-in');
    const short = Buffer.from(em);
    short.fill(1, 2, 9); short[9] = 0; // separator after only 7 padding octets
    assert.equal(decodePkcs1KeyBlock(short, ct, em.length - 10).valid, false);
  });

  test('SignedData with SCEP attributes: openssl cms -verify accepts it; the attributes are a sorted DER SET', () => {
    const sd = createSignedData({
      content: plaintext,
      signer: {
        certificate: who.der, privateKey: who.privateKey, digest: 'sha256',
        attributes: [
          { oid: SCEP_OID.transactionID, values: [tlv(TAG.PRINTABLE_STRING, Buffer.from('ABC'))] },
          { oid: SCEP_OID.messageType, values: [tlv(TAG.PRINTABLE_STRING, Buffer.from('19'))] },
        ],
      },
    });
    const file = path.join(dir, 'sd.der');
    fs.writeFileSync(file, sd);
    const out = path.join(dir, 'sd.out');
    openssl(['cms', '-verify', '-noverify', '-binary', '-inform', 'DER', '-in', file, '-out', out]);
    assert.deepEqual(fs.readFileSync(out), plaintext);
    const parsed = parseSignedData(sd);
    const signer = parsed.signers[0]!;
    assert.equal(verifySigner(parsed, signer, certificatePublicKey(who.der)), true);
    const attrs = children(signer.signedAttributesDer!, readTlv(signer.signedAttributesDer!, 0)).map((t) => signer.signedAttributesDer!.subarray(t.start, t.end));
    for (let i = 1; i < attrs.length; i++) assert.ok(Buffer.compare(attrs[i - 1]!, attrs[i]!) < 0, 'SET OF in DER order');
    // a changed content no longer verifies
    assert.equal(verifySigner({ ...parsed, content: Buffer.from('other') }, signer, certificatePublicKey(who.der)), false);
  });

  for (const md of ['sha1', 'sha256', 'sha512']) {
    test(`reads and verifies a SignedData openssl cms -sign made (-md ${md})`, () => {
      const file = path.join(dir, `their-sd-${md}.der`);
      openssl(['cms', '-sign', '-binary', '-nodetach', '-md', md, '-in', files.pt, '-signer', files.cert, '-inkey', files.key, '-outform', 'DER', '-out', file]);
      const parsed = parseSignedData(fs.readFileSync(file));
      assert.equal(parsed.contentType, CMS_OID.data);
      assert.deepEqual(parsed.content, plaintext);
      assert.equal(parsed.certificates.length, 1);
      assert.equal(verifySigner(parsed, parsed.signers[0]!, certificatePublicKey(parsed.certificates[0]!)), true);
    });
  }

  test('degenerate SignedData both ways (openssl pkcs7 -print_certs, crl2pkcs7)', () => {
    const other = selfSigned('second');
    const file = path.join(dir, 'deg.der');
    fs.writeFileSync(file, createDegenerate([who.der, other.der]));
    const printed = openssl(['pkcs7', '-inform', 'DER', '-in', file, '-print_certs', '-noout']);
    assert.match(printed, /subject=CN = cms recipient/);
    assert.match(printed, /subject=CN = second/);
    const theirs = path.join(dir, 'their-deg.der');
    fs.writeFileSync(path.join(dir, 'two.pem'), toPem(who.der) + toPem(other.der));
    openssl(['crl2pkcs7', '-nocrl', '-certfile', path.join(dir, 'two.pem'), '-outform', 'DER', '-out', theirs]);
    const contents = degenerateContents(fs.readFileSync(theirs));
    assert.deepEqual(contents.certificates.map((c) => c.toString('hex')).sort(), [who.der, other.der].map((c) => c.toString('hex')).sort());
  });

  test('refuses malformed input with a PkiError, never another error', () => {
    const sd = createSignedData({ content: plaintext, signer: { certificate: who.der, privateKey: who.privateKey, digest: 'sha256' } });
    for (let cut = 1; cut < sd.length; cut += 37) assert.throws(() => parseSignedData(sd.subarray(0, cut)), PkiError);
    assert.throws(() => parseSignedData(Buffer.concat([sd, Buffer.from([0])])), PkiError);
    const env = createEnvelopedData({ content: plaintext, recipient: who.der, cipher: 'aes-128-cbc' });
    for (let cut = 1; cut < env.length; cut += 29) assert.throws(() => parseEnvelopedData(env.subarray(0, cut)), PkiError);
    assert.equal(opensslStatus(['version']).status, 0);
  });
});

describe('pki/scep-message', () => {
  test('a CertRep signed on the threadpool is the one signed here, and verifies; the raw RSA operation on a worker thread decrypts as here', async () => {
    const ca = selfSigned('scep CA', 'key-cert-sign,crl-sign,digital-signature,key-encipherment');
    const client = selfSigned('client');
    const issued = selfSigned('issued');
    const unsigned = prepareCertRep({ transactionId: 'T', recipientNonce: Buffer.alloc(16, 1), status: 'SUCCESS', certificates: [issued.der], recipient: client.der, cipher: 'aes-256-cbc', signer: { certificate: ca.der, privateKey: ca.privateKey, digest: 'sha256' } });
    // As the SCEP server signs its reply while it stores the certificate (scep-service.ts issue).
    const signature = await new Promise<Buffer>((resolve, reject) => sign(unsigned.digest, unsigned.toSign, ca.privateKey, (e, sig) => (e ? reject(e) : resolve(sig))));
    const viaThreadpool = unsigned.finish(signature);
    // RSA PKCS#1 v1.5 signatures are deterministic: the same bytes as signing on this thread.
    assert.deepEqual(viaThreadpool, unsigned.finish(sign(unsigned.digest, unsigned.toSign, ca.privateKey)));
    const back = parsePkiMessage(viaThreadpool, [ca.der]);
    assert.equal(back.signatureValid, true);
    assert.equal(back.pkiStatus, 'SUCCESS');
    const inner = await openMessageData(back, { certificate: client.der, privateKey: client.privateKey });
    assert.deepEqual(degenerateContents(inner.data).certificates, [issued.der]);
    // and the raw operation on the worker decrypts as here
    const workers = new RsaWorkers(1);
    const c = publicEncrypt({ key: createPublicKey(ca.privateKey), padding: constants.RSA_PKCS1_PADDING }, Buffer.alloc(32, 7));
    assert.deepEqual(await workers.operation(ca.privateKey)(c), privateDecrypt({ key: ca.privateKey, padding: constants.RSA_NO_PADDING }, c));
  });

  test('a PKCSReq and its CertRep, both ways through the envelope', async () => {
    const ca = selfSigned('scep CA', 'key-cert-sign,crl-sign,digital-signature,key-encipherment');
    const client = selfSigned('client');
    const spki = certificatePublicKey(client.der);
    const csr = Buffer.from('a stand-in for a PKCS#10 request');
    const tx = transactionIdFor(spki);
    const req = createRequest({ messageType: 'PKCSReq', transactionId: tx, messageData: csr, recipient: ca.der, cipher: 'aes-256-cbc', signer: { certificate: client.der, privateKey: client.privateKey, digest: 'sha256' } });
    const msg = parsePkiMessage(req.der);
    assert.equal(msg.messageType, 'PKCSReq');
    assert.equal(msg.transactionId, tx);
    assert.deepEqual(msg.senderNonce, req.senderNonce);
    assert.equal(msg.signatureValid, true);
    assert.deepEqual(msg.signerCertificate, client.der);
    const opened = await openMessageData(msg, { certificate: ca.der, privateKey: ca.privateKey });
    assert.deepEqual(opened.data, csr);
    assert.equal(opened.cipher, 'aes-256-cbc');

    const issued = selfSigned('issued');
    const rep = createCertRep({ transactionId: tx, recipientNonce: msg.senderNonce, status: 'SUCCESS', certificates: [issued.der], recipient: client.der, cipher: 'des-ede3-cbc', signer: { certificate: ca.der, privateKey: ca.privateKey, digest: 'sha256' } });
    const back = parsePkiMessage(rep);
    assert.equal(back.messageType, 'CertRep');
    assert.equal(back.pkiStatus, 'SUCCESS');
    assert.deepEqual(back.recipientNonce, req.senderNonce);
    assert.equal(back.signatureValid, true);
    const inner = await openMessageData(back, { certificate: client.der, privateKey: client.privateKey });
    assert.deepEqual(degenerateContents(inner.data).certificates, [issued.der]);

    const failure = parsePkiMessage(createCertRep({ transactionId: tx, recipientNonce: msg.senderNonce, status: 'FAILURE', failInfo: 'badMessageCheck', failInfoText: 'no', signer: { certificate: ca.der, privateKey: ca.privateKey, digest: 'sha1' } }));
    assert.equal(failure.pkiStatus, 'FAILURE');
    assert.equal(failure.failInfo, 'badMessageCheck');
    assert.equal(failure.failInfoText, 'no');
    assert.equal(failure.signed.content, undefined);
  });

  test('a message whose signature does not hold is still read (so a FAILURE can answer it), marked invalid', () => {
    const ca = selfSigned('scep CA', 'key-cert-sign,crl-sign,digital-signature,key-encipherment');
    const client = selfSigned('client');
    const req = createRequest({ messageType: 'PKCSReq', transactionId: 'T1', messageData: Buffer.from('x'), recipient: ca.der, cipher: 'aes-128-cbc', signer: { certificate: client.der, privateKey: client.privateKey, digest: 'sha256' } });
    const der = Buffer.from(req.der);
    der[der.length - 5] ^= 0xff; // inside the signature value
    const msg = parsePkiMessage(der);
    assert.equal(msg.signatureValid, false);
    assert.equal(msg.transactionId, 'T1');
  });

  test('openssl cms -verify accepts a CertRep (rsaEncryption signature algorithm, as strongSwan needs)', () => {
    const dir = tempDir('rospki-scepmsg-');
    try {
      const ca = selfSigned('scep CA', 'key-cert-sign,crl-sign,digital-signature,key-encipherment');
      const rep = createCertRep({ transactionId: 'T2', recipientNonce: Buffer.alloc(16, 1), status: 'PENDING', signer: { certificate: ca.der, privateKey: createPrivateKey(ca.privateKey.export({ type: 'pkcs8', format: 'pem' })), digest: 'sha256' } });
      fs.writeFileSync(path.join(dir, 'rep.der'), rep);
      const printed = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', path.join(dir, 'rep.der')]);
      assert.match(printed, /signatureAlgorithm:\s+algorithm: rsaEncryption/);
      // A PENDING reply has no content: its signature covers the empty content (RFC 8894 §3.3.2).
      fs.writeFileSync(path.join(dir, 'empty'), '');
      openssl(['cms', '-verify', '-noverify', '-binary', '-inform', 'DER', '-in', path.join(dir, 'rep.der'), '-content', path.join(dir, 'empty'), '-out', path.join(dir, 'out')]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
