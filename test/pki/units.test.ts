import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  DEFAULT_KEY_USAGE, KEY_USAGE_NAMES, PkiError, decodeGeneralNames, decodeKeyUsage, der, encodeExtendedKeyUsageValue,
  encodeGeneralNames, encodeKeyUsageValue, encodeName, formatKeyUsage, formatName, formatSubjectAltName, parseIPv6,
  parseKeyUsage, parseName, parseSubjectAltName, pemDecode, pemDecodeOne, pemEncode,
} from '../../src/pki/index.js';
import { exportSpkiDer, importSpkiDer } from '../../src/pki/key.js';
import { rsaPublicNumbers } from '../../src/pki/spki.js';

const hex = (b: Buffer) => b.toString('hex');

describe('der writer', () => {
  it('encodes INTEGERs with correct sign handling', () => {
    assert.equal(hex(der.integer(0)), '020100');
    assert.equal(hex(der.integer(127)), '02017f');
    assert.equal(hex(der.integer(128)), '02020080');
    assert.equal(hex(der.integer(256)), '02020100');
    assert.equal(hex(der.integer(-1)), '0201ff');
    assert.equal(hex(der.integer(-128)), '020180');
    assert.equal(hex(der.integer(-129)), '0202ff7f');
    assert.equal(hex(der.integer(2n ** 64n)), '0209010000000000000000');
    // bytes are an unsigned magnitude
    assert.equal(hex(der.integer(Buffer.from('80', 'hex'))), '02020080');
    assert.equal(hex(der.integer(Buffer.from('00007f', 'hex'))), '02017f');
    assert.equal(hex(der.integer(Buffer.from('0000', 'hex'))), '020100');
  });
  it('encodes OIDs (cached) and decodes them back', () => {
    assert.equal(hex(der.oid('1.2.840.113549.1.1.11')), '06092a864886f70d01010b');
    assert.equal(der.oid('2.5.29.15'), der.oid('2.5.29.15'));
    for (const o of ['1.2.840.10045.3.1.7', '2.5.4.3', '1.3.6.1.5.5.7.3.10', '2.999.1', '1.2.3.4294967296']) {
      const t = der.oid(o);
      assert.equal(der.decodeOid(t.subarray(2)), o);
    }
    assert.throws(() => der.oid('3.1'), PkiError);
  });
  it('writes long lengths minimally', () => {
    for (const n of [0, 127, 128, 255, 256, 65535, 65536]) {
      const b = der.octetString(Buffer.alloc(n));
      const t = der.readTlv(b);
      assert.equal(t.end - t.contentStart, n);
      assert.equal(t.contentStart, der.headerLength(n));
    }
  });
  it('uses UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)', () => {
    const a = der.time(Date.UTC(2049, 11, 31, 23, 59, 59));
    assert.equal(a[0], 0x17);
    assert.equal(a.subarray(2).toString(), '491231235959Z');
    const b = der.time(Date.UTC(2050, 0, 1, 0, 0, 0));
    assert.equal(b[0], 0x18);
    assert.equal(b.subarray(2).toString(), '20500101000000Z');
    assert.equal(der.readTime(a, der.readTlv(a)), Date.UTC(2049, 11, 31, 23, 59, 59));
    assert.equal(der.readTime(b, der.readTlv(b)), Date.UTC(2050, 0, 1));
  });
  it('encodes named bit lists without trailing zero bits', () => {
    assert.equal(hex(der.namedBits([0])), '03020780');
    assert.equal(hex(der.namedBits([5, 6])), '03020106');
    assert.equal(hex(der.namedBits([0, 8])), '0303078080');
  });
  it('reads nested TLVs and rejects truncation', () => {
    const s = der.seq(der.integer(5), der.seq(der.utf8String('ä')));
    const [i, inner] = der.children(s, der.readTlv(s));
    assert.equal(der.readInteger(s, i!), 5n);
    assert.equal(der.readString(s, der.children(s, inner!)[0]!), 'ä');
    assert.throws(() => der.readTlv(s.subarray(0, s.length - 1)), /malformed DER/);
    assert.throws(() => der.readTlv(Buffer.from('3080', 'hex')), /indefinite/);
  });
});

describe('names', () => {
  it('builds C, ST, L, O, OU, CN in that order with PrintableString country', () => {
    const n = encodeName({ commonName: 'router', organization: 'mikroview', country: 'LV', unit: 'IT', state: 'Rīga', locality: 'Rīga' });
    assert.equal(formatName(n), 'C=LV,ST=Rīga,L=Rīga,O=mikroview,OU=IT,CN=router');
    assert.ok(n.includes(Buffer.from('13024c56', 'hex'))); // PrintableString "LV"
    assert.deepEqual(parseName(n), { country: 'LV', state: 'Rīga', locality: 'Rīga', organization: 'mikroview', unit: 'IT', commonName: 'router' });
    assert.equal(hex(encodeName({})), '3000');
  });
  it('rejects a country that is not a PrintableString', () => {
    assert.throws(() => encodeName({ country: 'Ä' }), (e: unknown) => e instanceof PkiError && e.code === 'bad-name' && /country/.test(e.message));
  });
  it('escapes RFC 4514 specials', () => {
    assert.equal(formatName(encodeName({ organization: 'a,b+c', commonName: 'x y' })), 'O=a\\,b\\+c,CN=x y');
  });
});

describe('subject-alt-name', () => {
  it('parses DNS, IPv4, IPv6, email and URI (with a comma) and formats back', () => {
    const text = 'DNS:a.b,IP:192.168.88.1,IP:2001:db8::1,email:x@y.z,URI:https://h/p?a=1,b=2';
    const gn = parseSubjectAltName(text);
    assert.deepEqual(gn.map((g) => g.type), ['DNS', 'IP', 'IP', 'email', 'URI']);
    assert.equal(gn[4]!.value, 'https://h/p?a=1,b=2');
    assert.equal(formatSubjectAltName(decodeGeneralNames(encodeGeneralNames(gn))), text);
  });
  it('normalises type case and IPv6 text', () => {
    assert.equal(formatSubjectAltName(parseSubjectAltName('dns:x, ip:2001:DB8:0:0:0:0:0:1 ,Email:a@b')), 'DNS:x,IP:2001:db8::1,email:a@b');
    assert.equal(formatSubjectAltName(parseSubjectAltName('IP:::ffff:10.0.0.1')), 'IP:::ffff:a00:1');
    assert.equal(parseIPv6('1:2:3:4:5:6:7:8')!.toString('hex'), '00010002000300040005000600070008');
    assert.equal(parseIPv6('1::2::3'), null);
    assert.equal(parseIPv6('1:2:3:4:5:6:7:8:9'), null);
  });
  it('names the bad entry in errors', () => {
    const bad = (s: string, re: RegExp) =>
      assert.throws(() => parseSubjectAltName(s), (e: unknown) => e instanceof PkiError && e.code === 'bad-san' && re.test(e.message));
    bad('DNS:ok,IP:192.168.88.256', /"IP:192\.168\.88\.256".*not a valid IPv4/);
    bad('IP:1.2.3', /"IP:1\.2\.3"/);
    bad('IP:2001:db8::zz', /"IP:2001:db8::zz".*IPv6/);
    bad('DNS:a,foo:bar', /unknown type "foo"/);
    bad('DNS:a,,DNS:b', /empty entry/);
    bad('router.lan', /expected TYPE:value/);
    bad('DNS:bad name', /"DNS:bad name"/);
    bad('email:nobody', /needs '@'/);
  });
});

describe('key-usage', () => {
  it('canonicalises order and rejects unknown names', () => {
    assert.deepEqual(parseKeyUsage('tls-client,digital-signature,key-cert-sign,tls-client'), ['digital-signature', 'key-cert-sign', 'tls-client']);
    assert.deepEqual(parseKeyUsage(''), []);
    assert.equal(formatKeyUsage(DEFAULT_KEY_USAGE), 'digital-signature,key-encipherment,data-encipherment,key-cert-sign,crl-sign,tls-server,tls-client');
    assert.throws(() => parseKeyUsage('digital-signature,server-gated-crypto'),
      (e: unknown) => e instanceof PkiError && e.code === 'bad-key-usage' && /"server-gated-crypto"/.test(e.message));
  });
  it('round-trips all 16 names through KU + EKU', () => {
    const all = [...KEY_USAGE_NAMES];
    assert.deepEqual(decodeKeyUsage(encodeKeyUsageValue(all), encodeExtendedKeyUsageValue(all)), all);
    assert.equal(hex(encodeKeyUsageValue(['key-cert-sign', 'crl-sign'])!), '03020106');
    assert.equal(encodeKeyUsageValue(['tls-server']), null);
  });
});

describe('pem', () => {
  it('encodes with 64-char lines and decodes multiple blocks with headers', () => {
    const a = Buffer.alloc(100, 1), b = Buffer.alloc(3, 2);
    const p = pemEncode('CERTIFICATE', a);
    assert.ok(p.split('\n').every((l) => l.length <= 64));
    const text = 'junk\n' + p + pemEncode('RSA PRIVATE KEY', b, { 'Proc-Type': '4,ENCRYPTED', 'DEK-Info': 'AES-128-CBC,00' }) + pemEncode('X509 CRL', b);
    const blocks = pemDecode(text);
    assert.deepEqual(blocks.map((x) => x.label), ['CERTIFICATE', 'RSA PRIVATE KEY', 'X509 CRL']);
    assert.deepEqual(blocks[0]!.der, a);
    assert.deepEqual(blocks[1]!.der, b);
    assert.equal(blocks[1]!.headers['DEK-Info'], 'AES-128-CBC,00');
    assert.deepEqual(pemDecodeOne(text, 'X509 CRL').der, b);
    assert.throws(() => pemDecodeOne(text, 'CERTIFICATE REQUEST'), PkiError);
    assert.throws(() => pemDecode('-----BEGIN X-----\nAAAA\n-----END Y-----'), PkiError);
  });
});

describe('public key import', () => {
  // importSpkiDer reads ordinary RSA keys itself (JWK) and leaves every other form to OpenSSL's
  // decoder: both paths must give the same key, and malformed input must still be refused.
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024, publicExponent: 65537 }).publicKey;
  const rsa3 = generateKeyPairSync('rsa', { modulusLength: 1024, publicExponent: 3 }).publicKey;
  const spkiOf = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });

  it('gives the key OpenSSL decodes, for RSA and for other keys', () => {
    for (const key of [rsa, rsa3, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey, generateKeyPairSync('rsa-pss', { modulusLength: 1024 }).publicKey]) {
      const der = spkiOf(key);
      const got = importSpkiDer(der);
      assert.ok(got.equals(createPublicKey({ key: der, format: 'der', type: 'spki' })));
      assert.equal(got.asymmetricKeyType, key.asymmetricKeyType);
      assert.deepEqual(got.asymmetricKeyDetails, key.asymmetricKeyDetails);
      assert.deepEqual(exportSpkiDer(got), key.asymmetricKeyType === 'rsa-pss' ? der : exportSpkiDer(key));
    }
  });

  it('refuses what the decoder refuses, and accepts what it accepts', () => {
    const der = spkiOf(rsa);
    const decoder = (b: Buffer) => { try { return createPublicKey({ key: b, format: 'der', type: 'spki' }); } catch { return undefined; } };
    const cases = [
      Buffer.concat([der, Buffer.from([0])]), // trailing data (OpenSSL ignores it)
      der.subarray(0, der.length - 1),
      Buffer.from('3000', 'hex'),
      Buffer.from(der.toString('hex').replace('0500', '0501ff').replace(/^30820122/, '30820123').replace('300d', '300e'), 'hex'), // NULL with content
    ];
    for (const c of cases) {
      const want = decoder(c);
      if (want) assert.ok(importSpkiDer(c).equals(want));
      else assert.throws(() => importSpkiDer(c), PkiError);
    }
    assert.throws(() => importSpkiDer(der.subarray(0, der.length - 1)), PkiError);
  });

  it('reads modulus and exponent of rsaEncryption keys only', () => {
    const jwk = rsa.export({ format: 'jwk' });
    const nums = rsaPublicNumbers(spkiOf(rsa))!;
    assert.equal(nums.n.toString('base64url'), jwk.n);
    assert.equal(nums.e.toString('base64url'), jwk.e);
    assert.equal(rsaPublicNumbers(spkiOf(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey)), undefined);
    assert.equal(rsaPublicNumbers(spkiOf(generateKeyPairSync('rsa-pss', { modulusLength: 1024 }).publicKey)), undefined);
  });
});
