// PKCS#12 with the real tools: bundles made by gnutls certtool (each cipher it offers) and by
// OpenSSL in BER form are imported; our PKCS#12 reader and writer agree with each other.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { berToDer } from '../../src/pki/ber.js';
import { buildPkcs12, isPkcs12PasswordError, parsePkcs12, pkcs12Kdf, bmpPassword, P12_OID } from '../../src/pki/pkcs12.js';
import { rc2CbcDecrypt } from '../../src/pki/rc2.js';
import { pemDecodeOne } from '../../src/pki/index.js';
import { openTestApp, tempDir } from '../support/app.js';
import { certtool, importFile, ossl, putFile, rows, summary } from '../menus/import-support.js';
import { needs } from '../support/tools.js';

describe('PKCS#12 interop', () => {
  let dir: string;
  before(() => {
    dir = tempDir('rospki-p12-');
    ossl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-subj', '/CN=p12 test', '-days', '30']);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('bundles made by gnutls certtool import with the key on the certificate', { skip: needs('certtool') }, async () => {
    // certtool uses 600,000 iterations: a few seconds each, so three ciphers and one wrong password.
    for (const cipher of ['aes-256', '3des-pkcs12', 'rc2-40']) {
      const out = `gnutls-${cipher}.p12`;
      const r = certtool(dir, ['--to-p12', '--load-certificate', 'c.pem', '--load-privkey', 'k.pem', '--p12-name', 'leaf',
        '--password', 'pw', '--pkcs-cipher', cipher, '--outder', '--outfile', out]);
      if (r.status !== 0) { assert.match(r.output, /cipher|unknown|not supported/i, r.output); continue; }
      const t = await openTestApp();
      try {
        putFile(t, out, fs.readFileSync(path.join(dir, out)));
        assert.deepEqual(await importFile(t, { 'file-name': out, passphrase: 'pw' }), summary(1, 1, 1), cipher);
        assert.equal((await rows(t))[0]!['private-key'], true);
        if (cipher === 'aes-256') assert.deepEqual(await importFile(t, { 'file-name': out, passphrase: 'bad' }), summary(0, 0, 0, 1), 'wrong password');
      } finally {
        t.close();
      }
    }
  });

  test('BER input (indefinite lengths, constructed strings) reads like its DER form', async () => {
    const p12 = buildPkcs12({
      certificates: [pemDecodeOne(fs.readFileSync(path.join(dir, 'c.pem'))).der],
      privateKey: pemDecodeOne(fs.readFileSync(path.join(dir, 'k.pem'))).der,
      password: 'pw', friendlyName: 'x',
    });
    // Re-encode with indefinite lengths for every constructed element, and split OCTET STRINGs.
    const ber = toBer(p12);
    assert.notDeepEqual(ber, p12);
    assert.deepEqual(berToDer(ber), p12);
    const parsed = parsePkcs12(ber, 'pw');
    assert.equal(parsed.certificates.length, 1);
    assert.equal(parsed.keys.length, 1);
    assert.equal(parsed.certificates[0]!.friendlyName, 'x');
  });

  test('reader and writer agree; a wrong password is a password error, not corruption', () => {
    const cert = pemDecodeOne(fs.readFileSync(path.join(dir, 'c.pem'))).der;
    const key = pemDecodeOne(fs.readFileSync(path.join(dir, 'k.pem'))).der;
    for (const format of ['modern', 'legacy'] as const) {
      const p12 = buildPkcs12({ certificates: [cert], privateKey: key, password: 'pässwörd', format });
      const back = parsePkcs12(p12, 'pässwörd');
      assert.deepEqual(back.certificates[0]!.der, cert);
      assert.deepEqual(back.keys[0]!.pkcs8, key);
      assert.ok(back.macChecked);
      assert.throws(() => parsePkcs12(p12, 'password'), (e) => isPkcs12PasswordError(e));
      // openssl reads what we wrote (non-ASCII password: UTF-8 for PBES2, BMP for the PKCS#12 KDF).
      fs.writeFileSync(path.join(dir, `${format}.p12`), p12);
      const out = execFileSync('openssl', ['pkcs12', '-in', `${format}.p12`, '-passin', 'pass:pässwörd', '-nodes'], { cwd: dir, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
      assert.match(out, /BEGIN PRIVATE KEY/);
    }
  });

  test('RFC 7292 key derivation and RC2 against openssl', () => {
    // The PKCS#12 KDF MAC key of an openssl -legacy file checks its MAC; RC2-40 decrypts openssl's enc output.
    const key = Buffer.from('0102030405', 'hex');
    const iv = Buffer.from('0011223344556677', 'hex');
    const plain = Buffer.from('The quick brown fox jumps over the lazy dog');
    const r = execFileSync('openssl', ['enc', '-rc2-40-cbc', '-K', key.toString('hex'), '-iv', iv.toString('hex'), '-provider', 'legacy', '-provider', 'default'],
      { input: plain, stdio: ['pipe', 'pipe', 'ignore'] });
    assert.deepEqual(rc2CbcDecrypt(key, 40, iv, r), plain);
    const k = pkcs12Kdf(P12_OID.sha1, bmpPassword('smeg'), Buffer.from('0a58cf64530d823f', 'hex'), 1, 1, 24);
    // Test vector from the OpenSSL PKCS#12 KDF tests (password "smeg", salt 0A58CF64530D823F, ID 1, 1 iteration).
    assert.equal(k.toString('hex').toUpperCase(), '8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3');
  });
});

/** Rewrites DER as BER: indefinite lengths everywhere and OCTET STRINGs in two segments. */
function toBer(der: Buffer): Buffer {
  const out: Buffer[] = [];
  const walk = (buf: Buffer, start: number, end: number) => {
    let p = start;
    while (p < end) {
      const tag = buf[p]!;
      let q = p + 1;
      let len = buf[q++]!;
      if (len & 0x80) { const n = len & 0x7f; len = 0; for (let i = 0; i < n; i++) len = len * 256 + buf[q++]!; }
      const cEnd = q + len;
      if (tag & 0x20) {
        out.push(Buffer.from([tag, 0x80]));
        walk(buf, q, cEnd);
        out.push(Buffer.from([0, 0]));
      } else if (tag === 0x04 && len > 4) {
        const half = Math.floor(len / 2);
        out.push(Buffer.from([0x24, 0x80]));
        for (const [a, b] of [[q, q + half], [q + half, cEnd]] as const) out.push(header(0x04, b - a), buf.subarray(a, b));
        out.push(Buffer.from([0, 0]));
      } else {
        out.push(buf.subarray(p, cEnd));
      }
      p = cEnd;
    }
  };
  walk(der, 0, der.length);
  return Buffer.concat(out);
}

function header(tag: number, len: number): Buffer {
  if (len < 0x80) return Buffer.from([tag, len]);
  if (len < 0x100) return Buffer.from([tag, 0x81, len]);
  return Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
}
