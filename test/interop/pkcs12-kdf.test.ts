// Issue 11: one small PKCS#12 file froze the daemon (10,000,000 KDF iterations, 68 s, every
// service stalled: the KDF ran on the event loop). Now the key derivations of an import run on a
// worker thread, and counts over the limit are refused before any work.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { integer, NULL_DER, octetString, oid, seq, explicit } from '../../src/pki/der.js';
import { runKdf, runKdfAsync, type KdfSteps } from '../../src/pki/kdf-work.js';
import { MAX_ITERATIONS, P12_OID, parsePkcs12, parsePkcs12Async } from '../../src/pki/pkcs12.js';
import { tempDir } from '../support/app.js';
import { basic, startServiceApp, type ServiceApp } from '../services/support.js';
import { putFile, summary } from '../menus/import-support.js';

const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'rospki.js');

/** A PFX whose MAC asks for `iterations` rounds (nothing else in it): RFC 7292 §4. */
function macOnlyPfx(iterations: number): Buffer {
  const authSafe = seq();
  return seq(
    integer(3),
    seq(oid(P12_OID.data), explicit(0, octetString(authSafe))),
    seq(seq(seq(oid(P12_OID.sha256), NULL_DER), octetString(Buffer.alloc(32))), octetString(Buffer.alloc(8, 1)), integer(iterations)),
  );
}

describe('PKCS#12 key derivation off the event loop', () => {
  let s: ServiceApp;
  let dir: string;
  let slow: Buffer;
  // Half the limit, PBKDF2 for the bags and the PKCS#12 KDF for the MAC: seconds of work.
  const SLOW_ITERATIONS = 1_000_000;

  before(async () => {
    s = await startServiceApp();
    dir = tempDir('rospki-p12kdf-');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem',
      '-subj', '/CN=slow p12', '-days', '30'], { cwd: dir, stdio: 'pipe' });
    execFileSync('openssl', ['pkcs12', '-export', '-inkey', 'k.pem', '-in', 'c.pem', '-out', 'slow.p12', '-passout', 'pass:pw',
      '-iter', String(SLOW_ITERATIONS)], { cwd: dir, stdio: 'pipe' });
    slow = fs.readFileSync(path.join(dir, 'slow.p12'));
    putFile(s, 'slow.p12', slow);
    putFile(s, 'absurd.p12', macOnlyPfx(10_000_000));
  });
  after(async () => { await s.stop(); fs.rmSync(dir, { recursive: true, force: true }); });

  const identity = () => fetch(`http://127.0.0.1:${s.ports.www}/rest/system/identity`, { headers: { authorization: basic() } });

  test('a REST GET is answered while a hostile-but-allowed PKCS#12 file decrypts', async () => {
    assert.equal((await identity()).status, 200, 'login cached, connection warm');
    let imported = false;
    const importing = s.run('/certificate', 'import', { 'file-name': 'slow.p12', passphrase: 'pw' }).finally(() => { imported = true; });
    // Run in place, the derivations would hold the event loop from here until the import ends:
    // the server could not even read this request before then.
    const r = await identity();
    assert.equal(r.status, 200);
    assert.equal(imported, false, 'the GET was answered before the import finished');
    const result = await importing;
    assert.deepEqual(Object.fromEntries([...result.block!].map(([k, v]) => [k, Number(v)])), summary(1, 1, 1));
  });

  test('an absurd iteration count is refused before any work, with a clear message', async () => {
    const start = process.hrtime.bigint();
    await assert.rejects(s.run('/certificate', 'import', { 'file-name': 'absurd.p12', passphrase: 'pw' }), (e) => {
      assert.ok(e instanceof RosError);
      assert.equal(e.consoleText(), `failure: unable to import absurd.p12: key derivation iteration count 10000000 exceeds the limit of ${MAX_ITERATIONS}`);
      return true;
    });
    // 10,000,000 rounds take over ten seconds; a refusal takes milliseconds. 2 s is only a bound.
    assert.ok(Number(process.hrtime.bigint() - start) / 1e6 < 2000, 'refused without deriving');
    assert.throws(() => parsePkcs12(macOnlyPfx(MAX_ITERATIONS + 1), 'pw'), /exceeds the limit of 2000000/);
  });

  test('in place and on the worker the reader gives the same result', async () => {
    const a = parsePkcs12(fs.readFileSync(path.join(dir, 'slow.p12')).subarray(0), 'pw');
    const b = await parsePkcs12Async(slow, 'pw');
    assert.deepEqual(b, a);
    await assert.rejects(parsePkcs12Async(slow, 'wrong'), (e) => (e as Error).name === 'Pkcs12PasswordError');
  });

  test('rospki -e imports through the bundle (dist) the same way', () => {
    const data = tempDir('rospki-p12cli-');
    try {
      // Owner-only like everything rospki makes (else it tightens them and says so on stderr).
      fs.mkdirSync(path.join(data, 'files'), { recursive: true, mode: 0o700 });
      fs.copyFileSync(path.join(dir, 'slow.p12'), path.join(data, 'files', 'slow.p12'));
      fs.chmodSync(path.join(data, 'files', 'slow.p12'), 0o600);
      const r = spawnSync('node', [BIN, '--data', data, '-e', '/certificate import file-name=slow.p12 passphrase=pw; :put [/certificate print count-only]'],
        { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.stderr, '');
      assert.equal(r.status, 0, r.stdout);
      assert.match(r.stdout, /certificates-imported: 1/);
      assert.match(r.stdout, /private-keys-imported: 1/);
      assert.match(r.stdout, /\n1\n$/);
    } finally {
      fs.rmSync(data, { recursive: true, force: true });
    }
  });
});

/** An encrypted PKCS#8 key (RFC 5958 §3, PBES2/PBKDF2/AES-256-CBC) asking for `iterations` rounds. */
function encryptedKeyDer(iterations: number): Buffer {
  const pbkdf2 = seq(oid(P12_OID.pbkdf2), seq(octetString(Buffer.alloc(8, 7)), integer(iterations)));
  const aes256 = seq(oid('2.16.840.1.101.3.4.1.42'), octetString(Buffer.alloc(16, 3)));
  return seq(seq(oid(P12_OID.pbes2), seq(pbkdf2, aes256)), octetString(Buffer.alloc(48, 9)));
}

describe('encrypted private key files: the same limits, off the event loop', () => {
  let s: ServiceApp;
  let dir: string;

  before(async () => {
    s = await startServiceApp();
    dir = tempDir('rospki-keykdf-');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'k.pem'], { cwd: dir, stdio: 'pipe' });
    execFileSync('openssl', ['pkcs8', '-topk8', '-in', 'k.pem', '-v2', 'aes-256-cbc', '-iter', '1000000', '-passout', 'pass:pw', '-out', 'slow.key'], { cwd: dir, stdio: 'pipe' });
    putFile(s, 'slow.key', fs.readFileSync(path.join(dir, 'slow.key')));
    putFile(s, 'absurd.key', encryptedKeyDer(10_000_000));
  });
  after(async () => { await s.stop(); fs.rmSync(dir, { recursive: true, force: true }); });

  const identity = () => fetch(`http://127.0.0.1:${s.ports.www}/rest/system/identity`, { headers: { authorization: basic() } });

  test('a REST GET is answered while a slow encrypted key decrypts; a wrong passphrase is a decryption failure', async () => {
    assert.equal((await identity()).status, 200);
    let imported = false;
    const importing = s.run('/certificate', 'import', { 'file-name': 'slow.key', passphrase: 'wrong' }).finally(() => { imported = true; });
    assert.equal((await identity()).status, 200);
    assert.equal(imported, false, 'the GET was answered before the import finished');
    const result = await importing;
    assert.equal(Number(new Map(result.block!).get('decryption-failures')), 1);
  });

  test('an absurd iteration count in a key file is refused before any work', async () => {
    const start = process.hrtime.bigint();
    await assert.rejects(s.run('/certificate', 'import', { 'file-name': 'absurd.key', passphrase: 'pw' }),
      (e) => e instanceof RosError && e.consoleText() === `failure: unable to import absurd.key: key derivation iteration count 10000000 exceeds the limit of ${MAX_ITERATIONS}`);
    assert.ok(Number(process.hrtime.bigint() - start) / 1e6 < 2000, 'refused without deriving');
  });
});

test('a run that needs more rounds in all than its budget is refused before the work that passes it', async () => {
  let done = 0;
  function* steps(): KdfSteps<number> {
    for (let i = 0; i < 3; i++) {
      yield { kind: 'chain', digest: 'sha256', input: Buffer.from([i]), iterations: 10 };
      done++;
    }
    return done;
  }
  assert.equal(runKdf(steps(), 30), 3);
  done = 0;
  assert.throws(() => runKdf(steps(), 25), /needs more than 25 iterations in total/);
  assert.equal(done, 2);
  done = 0;
  await assert.rejects(runKdfAsync(steps(), 25), /needs more than 25 iterations in total/);
  assert.equal(done, 2);
});
