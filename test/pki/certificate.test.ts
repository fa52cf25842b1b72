// Every certificate made here is judged by the real openssl CLI.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { createECDH, createPublicKey, type KeyObject } from 'node:crypto';
import {
  PkiError, ecKeyFromParts, exportPkcs8Der, generateEcKeyRaw, generateKey, importPkcs8Der, issueCertificate, issuerFromCertificate,
  keyInfo, parseCertificate, pemDecodeOne, pemEncode, verifyCertificateSignature,
  type Digest, type IssueSpec, type IssuedCertificate, type KeyPair, type KeySize,
} from '../../src/pki/index.js';
import { TmpDir, extLine, openssl, opensslFingerprint, opensslOk, opensslSerial, x509Text } from './openssl.js';

const NOW = Date.UTC(2026, 10, 29, 10, 20, 30, 789); // injected clock (ms are dropped)
const tmp = new TmpDir();
after(() => tmp.cleanup());

let caKeys: KeyPair;
let ca: IssuedCertificate;
let caFile: string;
const keyCache = new Map<string, KeyPair>();
async function key(size: KeySize): Promise<KeyPair> {
  let k = keyCache.get(size);
  if (!k) { k = await generateKey(size); keyCache.set(size, k); }
  return k;
}

function selfSigned(keys: KeyPair, over: Partial<IssueSpec> = {}): IssuedCertificate {
  return issueCertificate({
    subject: { country: 'LV', organization: 'mikroview', commonName: 'mikroview local CA' },
    keyUsage: 'key-cert-sign,crl-sign', daysValid: 3650, digest: 'sha256', notBefore: NOW,
    subjectPublicKey: keys.publicKey, issuer: { kind: 'self', privateKey: keys.privateKey }, ...over,
  });
}

function leaf(pub: KeyObject | Buffer, over: Partial<IssueSpec> = {}, caCert = ca, caKey = caKeys.privateKey): IssuedCertificate {
  return issueCertificate({
    subject: { commonName: 'router.lan', organization: 'mikroview' },
    subjectAltName: 'DNS:router.lan,IP:192.168.88.1,IP:2001:db8::1,email:admin@router.lan,URI:https://router.lan/x',
    daysValid: 365, digest: 'sha256', notBefore: NOW, subjectPublicKey: pub,
    issuer: issuerFromCertificate(caCert.der, caKey), ...over,
  });
}

before(async () => {
  caKeys = await key('prime256v1');
  ca = selfSigned(caKeys);
  caFile = tmp.writeCert('ca.pem', ca.der);
});

describe('issueCertificate judged by openssl', () => {
  it('self-signed CA: BC critical CA:TRUE, KU critical certSign+cRLSign, SKID = AKID, verifies itself', () => {
    const t = x509Text(caFile);
    assert.match(t, /X509v3 Basic Constraints: critical\n\s+CA:TRUE/);
    assert.match(t, /X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
    assert.doesNotMatch(t, /Extended Key Usage/);
    const skid = extLine(t, 'X509v3 Subject Key Identifier:').replace(/:/g, '');
    assert.equal(skid, ca.skid);
    assert.equal(extLine(t, 'X509v3 Authority Key Identifier:').replace(/^keyid:/, '').replace(/:/g, ''), ca.skid);
    assert.match(t, /Issuer: C = LV, O = mikroview, CN = mikroview local CA/);
    assert.match(opensslOk('verify', '-CAfile', caFile, caFile), /OK/);
    const info = parseCertificate(ca.der);
    assert.equal(info.selfSigned, true);
    assert.equal(info.isCA, true);
    assert.equal(info.issuer, 'C=LV,O=mikroview,CN=mikroview local CA');
  });

  it('CA → leaf (RSA-2048 leaf, EC CA): chain, purposes, SAN, KU, EKU, BC, SKID/AKID, CDP, dates, serial', async () => {
    const k = await key('2048');
    const c = leaf(k.publicKey, { keyUsage: 'digital-signature,key-encipherment,tls-server,tls-client', crlDistributionPoint: 'http://192.168.88.1/crl/1.crl' });
    const f = tmp.writeCert('leaf.pem', c.der);
    assert.match(opensslOk('verify', '-CAfile', caFile, f), /leaf\.pem: OK/);
    assert.match(opensslOk('verify', '-CAfile', caFile, '-purpose', 'sslserver', f), /OK/);
    assert.match(opensslOk('verify', '-CAfile', caFile, '-purpose', 'sslclient', f), /OK/);
    const t = x509Text(f);
    assert.match(t, /DNS:router\.lan, IP Address:192\.168\.88\.1, IP Address:2001:DB8:0:0:0:0:0:1, email:admin@router\.lan, URI:https:\/\/router\.lan\/x/);
    assert.match(t, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
    assert.match(t, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
    assert.match(t, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
    assert.match(t, /Full Name:\n\s+URI:http:\/\/192\.168\.88\.1\/crl\/1\.crl/);
    assert.match(t, /Not Before: Nov 29 10:20:30 2026 GMT/);
    assert.match(t, /Not After : Nov 29 10:20:30 2027 GMT/);
    assert.match(t, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(t, /Public-Key: \(2048 bit\)/);
    assert.equal(extLine(t, 'X509v3 Subject Key Identifier:').replace(/:/g, ''), c.skid);
    assert.equal(extLine(t, 'X509v3 Authority Key Identifier:').replace(/^keyid:/, '').replace(/:/g, ''), ca.skid);
    assert.equal(c.akid, ca.skid);
    // serial: positive, >= 64 bits, agrees with openssl
    const serial = opensslSerial(f);
    assert.equal(serial, c.serialHex);
    assert.ok(BigInt('0x' + serial) >= 2n ** 64n);
    assert.ok(Buffer.from(serial, 'hex')[0]! < 0x80);
    // parseCertificate agrees with openssl
    const info = parseCertificate(c.der);
    assert.equal(info.fingerprint, opensslFingerprint(f));
    assert.equal(info.serialNumber, serial);
    assert.equal(info.skid, c.skid);
    assert.equal(info.akid, ca.skid);
    assert.equal(info.issuer, 'C=LV,O=mikroview,CN=mikroview local CA');
    assert.deepEqual(info.subject, { organization: 'mikroview', commonName: 'router.lan' });
    assert.equal(info.subjectAltName, 'DNS:router.lan,IP:192.168.88.1,IP:2001:db8::1,email:admin@router.lan,URI:https://router.lan/x');
    assert.deepEqual(info.keyUsage, ['digital-signature', 'key-encipherment', 'tls-server', 'tls-client']);
    assert.equal(info.keyType, 'rsa');
    assert.equal(info.keySize, '2048');
    assert.equal(info.isCA, false);
    assert.equal(info.selfSigned, false);
    assert.equal(info.notBefore, Date.UTC(2026, 10, 29, 10, 20, 30));
    assert.equal(info.notAfter, c.notAfter);
    assert.equal(info.daysValid, 365);
    assert.equal(info.digest, 'sha256');
    assert.deepEqual(info.crlDistributionPoints, ['http://192.168.88.1/crl/1.crl']);
    assert.ok(verifyCertificateSignature(info, caKeys.publicKey));
    assert.ok(!verifyCertificateSignature(info, k.publicKey));
  });

  it('default key usage makes a CA (CA:TRUE, all default bits and both EKUs)', async () => {
    const c = leaf((await key('prime256v1')).publicKey, { keyUsage: undefined });
    const t = x509Text(tmp.writeCert('default-ku.pem', c.der));
    assert.match(t, /CA:TRUE/);
    assert.match(t, /Digital Signature, Key Encipherment, Data Encipherment, Certificate Sign, CRL Sign/);
    assert.match(t, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.equal(c.isCA, true);
  });

  it('all 16 key-usage names come out as openssl names them', async () => {
    const c = leaf((await key('prime256v1')).publicKey, {
      keyUsage: 'digital-signature,content-commitment,key-encipherment,data-encipherment,key-agreement,key-cert-sign,crl-sign,encipher-only,decipher-only,tls-server,tls-client,code-sign,email-protect,timestamp,ocsp-sign,dvcs',
    });
    const t = x509Text(tmp.writeCert('all-ku.pem', c.der));
    assert.match(t, /Digital Signature, Non Repudiation, Key Encipherment, Data Encipherment, Key Agreement, Certificate Sign, CRL Sign, Encipher Only, Decipher Only/);
    assert.match(t, /TLS Web Server Authentication, TLS Web Client Authentication, Code Signing, E-mail Protection, Time Stamping, OCSP Signing, dvcs/);
    assert.equal(parseCertificate(c.der).keyUsage.length, 16);
  });

  it('no key usage at all: only BC CA:FALSE', async () => {
    const c = leaf((await key('prime256v1')).publicKey, { keyUsage: '' });
    const t = x509Text(tmp.writeCert('no-ku.pem', c.der));
    assert.doesNotMatch(t, /Key Usage/);
    assert.match(t, /CA:FALSE/);
    assert.deepEqual(parseCertificate(c.der).keyUsage, []);
  });

  const digestName: Record<Digest, string> = { md5: 'md5', sha1: 'sha1', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };
  for (const [caSize, digests] of [['1024', ['md5', 'sha1', 'sha256', 'sha384', 'sha512']], ['secp384r1', ['sha1', 'sha256', 'sha384', 'sha512']]] as const) {
    for (const digest of digests) {
      it(`digest ${digest} with a ${caSize} CA verifies`, async () => {
        const k = await key(caSize);
        const root = selfSigned(k, { digest });
        const rootFile = tmp.writeCert(`root-${caSize}-${digest}.pem`, root.der);
        const c = leaf((await key('prime256v1')).publicKey, { digest }, root, k.privateKey);
        const f = tmp.writeCert(`leaf-${caSize}-${digest}.pem`, c.der);
        const want = caSize === '1024' ? `${digestName[digest]}WithRSAEncryption` : `ecdsa-with-${digest.toUpperCase().replace('SHA', 'SHA')}`;
        assert.match(x509Text(f), new RegExp(`Signature Algorithm: ${want}`));
        // md5/sha1 signatures need security level 0 in OpenSSL 3 (that is openssl policy, not a bad signature)
        const lvl = digest === 'md5' || digest === 'sha1' ? ['-auth_level', '0'] : [];
        const r = openssl('verify', ...lvl, '-CAfile', rootFile, f);
        assert.equal(r.status, 0, r.out);
        assert.equal(parseCertificate(c.der).digest, digest);
        assert.ok(verifyCertificateSignature(c.der, k.publicKey));
      });
    }
  }

  for (const size of ['1024', '2048', 'prime256v1', 'secp384r1', 'secp521r1'] as const) {
    it(`key type ${size}: self-signed root and a leaf verify, key-size reads back`, async () => {
      const k = await key(size);
      const root = selfSigned(k, { subject: { commonName: `root ${size}` } });
      const rootFile = tmp.writeCert(`kt-root-${size}.pem`, root.der);
      const c = leaf(k.publicKey, {}, root, k.privateKey); // leaf with the same key type
      const f = tmp.writeCert(`kt-leaf-${size}.pem`, c.der);
      assert.match(opensslOk('verify', '-CAfile', rootFile, '-purpose', 'sslserver', f), /OK/);
      const info = parseCertificate(c.der);
      assert.equal(info.keySize, size);
      assert.equal(info.keyType, /^\d+$/.test(size) ? 'rsa' : 'ec');
      assert.deepEqual(keyInfo(k.publicKey), { keyType: info.keyType, keySize: size });
      assert.deepEqual(keyInfo(k.privateKey), { keyType: info.keyType, keySize: size });
      const t = x509Text(f);
      if (/^\d+$/.test(size)) assert.match(t, new RegExp(`Public-Key: \\(${size} bit\\)`));
      else assert.match(t, new RegExp(`ASN1 OID: ${size}`));
    });
  }

  it('one RSA-4096 key works (async keygen, progress callback)', async () => {
    const stages: string[] = [];
    const k = await generateKey('4096', { onProgress: (s) => stages.push(s) });
    assert.deepEqual(stages, ['generating', 'done']);
    const c = leaf(k.publicKey);
    assert.match(opensslOk('verify', '-CAfile', caFile, tmp.writeCert('rsa4096.pem', c.der)), /OK/);
    assert.equal(parseCertificate(c.der).keySize, '4096');
  });

  it('generateEcKeyRaw: SPKI and PKCS#8 are valid for openssl and node, and issue a verifying cert', () => {
    for (const curve of ['prime256v1', 'secp384r1', 'secp521r1'] as const) {
      const raw = generateEcKeyRaw(curve);
      const keyFile = tmp.write(`raw-${curve}.key`, pemEncode('PRIVATE KEY', raw.pkcs8));
      assert.match(opensslOk('pkey', '-in', keyFile, '-check', '-noout'), /valid/i);
      const pubFromOpenssl = opensslOk('pkey', '-in', keyFile, '-pubout');
      assert.deepEqual(pemDecodeOne(pubFromOpenssl, 'PUBLIC KEY').der, raw.spki);
      const priv = importPkcs8Der(raw.pkcs8);
      const c = leaf(raw.spki);
      assert.match(opensslOk('verify', '-CAfile', caFile, tmp.writeCert(`raw-${curve}.pem`, c.der)), /OK/);
      // a raw key can be a CA too
      const root = selfSigned({ publicKey: caKeys.publicKey, privateKey: priv }, { subjectPublicKey: raw.spki });
      assert.match(opensslOk('verify', '-CAfile', tmp.writeCert(`raw-root-${curve}.pem`, root.der), tmp.path(`raw-root-${curve}.pem`)), /OK/);
    }
  });

  it('ecKeyFromParts: a short private scalar is left-padded (RFC 5915 §3); openssl reads the key', () => {
    for (const curve of ['prime256v1', 'secp384r1', 'secp521r1'] as const) {
      const coord = { prime256v1: 32, secp384r1: 48, secp521r1: 66 }[curve];
      // A scalar of 3 octets (what ECDH.getPrivateKey() gives for a small d), and a full one.
      for (const scalar of [Buffer.from([0x01, 0x02, 0x03]), Buffer.alloc(coord - 1, 0x5a)]) {
        const ecdh = createECDH(curve);
        ecdh.setPrivateKey(scalar);
        const raw = ecKeyFromParts(curve, ecdh.getPublicKey(), ecdh.getPrivateKey());
        const priv = importPkcs8Der(raw.pkcs8);
        assert.deepEqual(Buffer.from(priv.export({ format: 'jwk' }).d!, 'base64url'), Buffer.concat([Buffer.alloc(coord - scalar.length), scalar]));
        assert.deepEqual(createPublicKey(priv).export({ format: 'der', type: 'spki' }), raw.spki);
        const keyFile = tmp.write(`parts-${curve}-${scalar.length}.key`, pemEncode('PRIVATE KEY', raw.pkcs8));
        assert.match(opensslOk('pkey', '-in', keyFile, '-check', '-noout'), /valid/i);
      }
      assert.throws(() => ecKeyFromParts(curve, Buffer.alloc(5, 4), Buffer.from([1])), PkiError);
    }
  });

  it('validity comes from the injected clock; 2050+ dates use GeneralizedTime', async () => {
    const c = leaf((await key('prime256v1')).publicKey, { notBefore: Date.UTC(2049, 5, 1, 0, 0, 0), daysValid: 3650 });
    const t = x509Text(tmp.writeCert('y2050.pem', c.der));
    assert.match(t, /Not Before: Jun  1 00:00:00 2049 GMT/);
    assert.match(t, /Not After : May 30 00:00:00 2059 GMT/);
    assert.ok(c.der.includes(Buffer.from('170d3439303630313030303030305a', 'hex'))); // UTCTime 490601000000Z
    assert.ok(c.der.includes(Buffer.from('180f32303539303533303030303030305a', 'hex'))); // GeneralizedTime 20590530000000Z
    assert.equal(parseCertificate(c.der).notAfter, Date.UTC(2059, 4, 30));
    assert.equal(parseCertificate(c.der).daysValid, 3650);
  });

  it('PKCS#8 export/import round-trips (plain and encrypted, read by openssl)', async () => {
    const k = await key('prime256v1');
    const plain = exportPkcs8Der(k.privateKey);
    assert.ok(importPkcs8Der(plain).equals(k.privateKey));
    const enc = exportPkcs8Der(k.privateKey, 'secret');
    const f = tmp.write('enc.der', enc);
    assert.match(opensslOk('pkey', '-inform', 'DER', '-in', f, '-passin', 'pass:secret', '-noout', '-check'), /valid/i);
    assert.ok(importPkcs8Der(enc, 'secret').equals(k.privateKey));
    assert.throws(() => importPkcs8Der(enc, 'wrong'), PkiError);
  });
});

describe('parseCertificate on openssl-made certificates', () => {
  it('reads every field of an `openssl req -x509` certificate', () => {
    const key = tmp.path('o.key'), crt = tmp.path('o.pem');
    opensslOk('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '30', '-sha384',
      '-subj', '/C=US/ST=California/L=San Jose/O=Example Org/OU=Net Ops/CN=openssl.example',
      '-addext', 'subjectAltName=DNS:a.example,IP:10.0.0.1,IP:fe80::1,email:x@example.com,URI:http://u.example/',
      '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign',
      '-addext', 'extendedKeyUsage=serverAuth,clientAuth,codeSigning',
      '-addext', 'crlDistributionPoints=URI:http://crl.example/ca.crl',
      '-set_serial', '0x00ff0102');
    const der = pemDecodeOne(readFileSync(crt, 'utf8'), 'CERTIFICATE').der;
    const info = parseCertificate(der);
    assert.equal(info.fingerprint, opensslFingerprint(crt));
    assert.equal(info.serialNumber, opensslSerial(crt));
    assert.equal(info.serialNumber, 'FF0102');
    assert.deepEqual(info.subject, { country: 'US', state: 'California', locality: 'San Jose', organization: 'Example Org', unit: 'Net Ops', commonName: 'openssl.example' });
    assert.equal(info.issuer, 'C=US,ST=California,L=San Jose,O=Example Org,OU=Net Ops,CN=openssl.example');
    assert.equal(info.subjectAltName, 'DNS:a.example,IP:10.0.0.1,IP:fe80::1,email:x@example.com,URI:http://u.example/');
    assert.deepEqual(info.keyUsage, ['digital-signature', 'key-encipherment', 'key-cert-sign', 'tls-server', 'tls-client', 'code-sign']);
    assert.deepEqual(info.crlDistributionPoints, ['http://crl.example/ca.crl']);
    assert.equal(info.keyType, 'rsa');
    assert.equal(info.keySize, '2048');
    assert.equal(info.digest, 'sha384');
    assert.equal(info.daysValid, 30);
    assert.equal(info.isCA, true); // openssl req -x509 adds basicConstraints CA:TRUE
    assert.equal(info.selfSigned, true);
    const t = x509Text(crt);
    assert.equal(info.skid, extLine(t, 'X509v3 Subject Key Identifier:').replace(/:/g, ''));
    assert.equal(info.akid, info.skid);
    assert.ok(verifyCertificateSignature(der, info.publicKey));
    // and it can act as an issuer for our leaves
    const caKey = importPkcs8Der(pemDecodeOne(readFileSync(key, 'utf8'), 'PRIVATE KEY').der);
    const c = issueCertificate({ subject: { commonName: 'child' }, daysValid: 10, digest: 'sha256', notBefore: NOW,
      subjectPublicKey: generateEcKeyRaw('prime256v1').spki, issuer: issuerFromCertificate(der, caKey), keyUsage: 'digital-signature,tls-client' });
    assert.match(opensslOk('verify', '-CAfile', crt, '-purpose', 'sslclient', tmp.writeCert('child.pem', c.der)), /OK/);
  });

  it('reads an EC P-521 certificate with a GeneralizedTime notAfter and no extensions besides defaults', () => {
    const key = tmp.path('e.key'), crt = tmp.path('e.pem');
    opensslOk('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp521r1', '-nodes', '-keyout', key,
      '-out', crt, '-days', '10000', '-subj', '/CN=long lived', '-sha512');
    const info = parseCertificate(pemDecodeOne(readFileSync(crt, 'utf8')).der);
    assert.equal(info.keyType, 'ec');
    assert.equal(info.keySize, 'secp521r1');
    assert.equal(info.digest, 'sha512');
    assert.equal(info.daysValid, 10000);
    assert.equal(info.issuer, 'CN=long lived');
    assert.equal(info.subjectAltName, '');
    assert.ok(new Date(info.notAfter).getUTCFullYear() >= 2050);
  });
});

describe('invalid inputs throw PkiError with clear messages', () => {
  const base = () => ({
    subject: { commonName: 'x' }, daysValid: 1, digest: 'sha256' as Digest, notBefore: NOW,
    subjectPublicKey: caKeys.publicKey, issuer: issuerFromCertificate(ca.der, caKeys.privateKey),
  });
  const check = (over: Partial<IssueSpec>, code: string, re: RegExp) =>
    assert.throws(() => issueCertificate({ ...base(), ...over }), (e: unknown) => e instanceof PkiError && e.code === code && re.test(e.message));

  it('bad IP in SAN', () => check({ subjectAltName: 'DNS:ok,IP:10.0.0.300' }, 'bad-san', /"IP:10\.0\.0\.300"/));
  it('bad IPv6 in SAN', () => check({ subjectAltName: 'IP:2001:db8:::1' }, 'bad-san', /IPv6/));
  it('unknown SAN type', () => check({ subjectAltName: 'DNS:ok,RID:1.2.3' }, 'bad-san', /unknown type "RID"/));
  it('unknown key-usage name', () => check({ keyUsage: 'digital-signature,tls-sever' }, 'bad-key-usage', /"tls-sever"/));
  it('EC + md5', () => check({ digest: 'md5' }, 'bad-digest', /md5.*EC/));
  it('unknown digest', () => check({ digest: 'sha3' as Digest }, 'bad-digest', /"sha3"/));
  it('negative days-valid', () => check({ daysValid: -1 }, 'bad-validity', /days-valid/));
  it('days-valid beyond 9999', () => check({ daysValid: 4294967295 }, 'bad-validity', /9999/));
  it('mismatched self-signed key', async () => {
    const other = await key('secp384r1');
    check({ issuer: { kind: 'self', privateKey: other.privateKey } }, 'bad-key', /does not match/);
  });
  it('unknown key-size', async () => {
    await assert.rejects(generateKey('3072' as KeySize), (e: unknown) => e instanceof PkiError && e.code === 'bad-key-size' && /"3072"/.test(e.message));
  });
  it('garbage certificate', () => {
    assert.throws(() => parseCertificate(Buffer.from('3003020101', 'hex')), PkiError);
    assert.throws(() => parseCertificate(Buffer.from('30', 'hex')), PkiError);
  });
});
