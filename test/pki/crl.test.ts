// src/pki/crl.ts: CRLs written directly in DER, judged by openssl; CRLs made by openssl read back.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { issueCertificate, parseCertificate } from '../../src/pki/certificate.js';
import { buildCrl, encodeCrlEntries, encodeCrlEntry, normaliseSerial, parseCrl, verifyCrlSignature } from '../../src/pki/crl.js';
import { openssl, opensslStatus, tempDir, toPem, T0 } from '../support/app.js';

const DAY = 86_400_000;

function makeCa(kind: 'ec' | 'rsa') {
  const { privateKey, publicKey } = kind === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const now = Date.now();
  const ca = issueCertificate({ subject: { commonName: `${kind} CA`, organization: 'Lab' }, keyUsage: 'key-cert-sign,crl-sign', daysValid: 30, digest: 'sha256', notBefore: now - DAY, subjectPublicKey: publicKey, issuer: { kind: 'self', privateKey } });
  return { privateKey, publicKey, ca, now };
}

describe('pki/crl', () => {
  const dir = tempDir('rospki-crl-');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const kind of ['ec', 'rsa'] as const) {
    test(`a v2 CRL with number and AKI (${kind}) passes openssl crl -CAfile and verify -crl_check`, () => {
      const { privateKey, publicKey, ca, now } = makeCa(kind);
      const leafKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const issuer = { kind: 'ca' as const, nameDer: ca.subjectNameDer, skid: ca.skidBytes, privateKey };
      const revokedLeaf = issueCertificate({ subject: { commonName: 'revoked' }, daysValid: 10, digest: 'sha256', notBefore: now - DAY, subjectPublicKey: leafKeys.publicKey, issuer });
      const goodLeaf = issueCertificate({ subject: { commonName: 'good' }, daysValid: 10, digest: 'sha256', notBefore: now - DAY, subjectPublicKey: leafKeys.publicKey, issuer });
      const entries = encodeCrlEntries([
        { serial: revokedLeaf.serialHex, revokedAt: now - 1000 },
        { serial: '00FF', revokedAt: now - 2000 },
        { serial: Buffer.from([0x01]), revokedAt: now },
      ]);
      const der = buildCrl({ issuerNameDer: ca.subjectNameDer, authorityKeyId: ca.skidBytes, privateKey, thisUpdate: now, nextUpdate: now + DAY, crlNumber: 7, entries });
      const files = { ca: path.join(dir, `${kind}-ca.pem`), crl: path.join(dir, `${kind}.crl`), bad: path.join(dir, `${kind}-r.pem`), good: path.join(dir, `${kind}-g.pem`) };
      fs.writeFileSync(files.ca, toPem(ca.der));
      fs.writeFileSync(files.crl, toPem(der, 'X509 CRL'));
      fs.writeFileSync(files.bad, toPem(revokedLeaf.der));
      fs.writeFileSync(files.good, toPem(goodLeaf.der));
      const text = openssl(['crl', '-in', files.crl, '-CAfile', files.ca, '-noout', '-text']);
      assert.match(text, /Version 2/);
      assert.match(text, /X509v3 CRL Number: \n\s+7/);
      assert.match(text, new RegExp(`keyid:${ca.skid.match(/../g)!.join(':')}|${ca.skid.match(/../g)!.join(':')}`));
      assert.match(text, new RegExp(`Serial Number: ${revokedLeaf.serialHex}`));
      const verifyBad = opensslStatus(['verify', '-crl_check', '-CAfile', files.ca, '-CRLfile', files.crl, files.bad]);
      assert.notEqual(verifyBad.status, 0);
      assert.match(verifyBad.output, /certificate revoked/);
      assert.match(openssl(['verify', '-crl_check', '-CAfile', files.ca, '-CRLfile', files.crl, files.good]), /OK/);

      const info = parseCrl(der);
      assert.equal(info.version, 2);
      assert.equal(info.crlNumber, '7');
      assert.equal(info.akid, ca.skid);
      assert.equal(info.issuer, 'O=Lab,CN=' + `${kind} CA`);
      assert.equal(info.revoked.size, 3);
      assert.ok(info.revoked.has(revokedLeaf.serialHex));
      assert.ok(info.revoked.has('FF'));
      assert.ok(info.revoked.has('01'));
      assert.ok(verifyCrlSignature(info, publicKey));
      assert.equal(info.nextUpdate, Math.floor((now + DAY) / 1000) * 1000);
    });
  }

  test('an empty CRL has no revokedCertificates field', () => {
    const { privateKey, ca } = makeCa('ec');
    const der = buildCrl({ issuerNameDer: ca.subjectNameDer, authorityKeyId: ca.skidBytes, privateKey, thisUpdate: T0, nextUpdate: T0 + DAY, crlNumber: 1, entries: Buffer.alloc(0) });
    const info = parseCrl(der);
    assert.equal(info.revoked.size, 0);
    const file = path.join(dir, 'empty.crl');
    fs.writeFileSync(file, der);
    assert.match(openssl(['crl', '-inform', 'DER', '-in', file, '-noout', '-text']), /No Revoked Certificates/);
  });

  test('reads a CRL made by openssl ca -gencrl (with reason codes)', () => {
    const { privateKey, ca } = makeCa('ec');
    const d = path.join(dir, 'ossl');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'ca.pem'), toPem(ca.der));
    fs.writeFileSync(path.join(d, 'ca.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    fs.writeFileSync(path.join(d, 'index.txt'), [
      'R\t301231235959Z\t250101000000Z,keyCompromise\t0A1B\tunknown\t/CN=a',
      'R\t301231235959Z\t250101000000Z\t00C0FFEE\tunknown\t/CN=b',
      'V\t301231235959Z\t\t0C\tunknown\t/CN=c',
    ].join('\n') + '\n');
    fs.writeFileSync(path.join(d, 'crlnumber'), '1000\n');
    fs.writeFileSync(path.join(d, 'ca.cnf'), `[ca]\ndefault_ca=x\n[x]\ndir=${d}\ndatabase=${d}/index.txt\ncrlnumber=${d}/crlnumber\ndefault_md=sha256\ndefault_crl_days=1\ncertificate=${d}/ca.pem\nprivate_key=${d}/ca.key\n`);
    openssl(['ca', '-gencrl', '-config', path.join(d, 'ca.cnf'), '-out', path.join(d, 'crl.pem')]);
    const pem = fs.readFileSync(path.join(d, 'crl.pem'), 'utf8');
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const info = parseCrl(der);
    assert.deepEqual([...info.revoked].sort(), ['0A1B', 'C0FFEE']);
    assert.equal(info.crlNumber, String(0x1000));
    assert.ok(verifyCrlSignature(info, parseCertificate(ca.der).publicKey));
  });

  test('serial text forms normalise to the certificate form', () => {
    assert.equal(normaliseSerial('00:a1:b2'), 'A1B2');
    assert.equal(normaliseSerial('abc'), '0ABC');
    assert.equal(normaliseSerial('00'), '00');
    assert.equal(encodeCrlEntry('80', T0).toString('hex').slice(0, 12), '30' + (4 + 15).toString(16) + '02020080');
  });

  test('rejects garbage with a PkiError', () => {
    assert.throws(() => parseCrl(Buffer.from('30030201', 'hex')), /not a valid CRL/);
  });
});
