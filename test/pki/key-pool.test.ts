// EC keys made ahead on the key worker (src/pki/key-pool.ts): each one a real, valid key pair of
// the curve asked for, never handed out twice, and accepted by openssl; few of them (bounded),
// none kept long, none made while nothing is issued, and no worker for a process issuing little.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import {
  generateKeyDer, KEY_POOL_CAP, KEY_POOL_MAX_AGE_MS, KEY_POOL_START_AFTER, keyPoolStats, startKeyWorker, type KeySize,
} from '../../src/pki/index.js';
import { opensslOk, TmpDir } from './openssl.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const tmp = new TmpDir();
after(() => tmp.cleanup());

/** Keys of `curve` until `count` of them came from the worker (bounded: 20 s). */
async function pooledKeys(curve: KeySize, count: number) {
  const keys: { spki: Buffer; pkcs8: Buffer }[] = [];
  const before = keyPoolStats().taken;
  const deadline = Date.now() + 20_000;
  while (keyPoolStats().taken - before < count) {
    assert.ok(Date.now() < deadline, `the key worker handed out ${keyPoolStats().taken - before} of ${count} keys in 20 s`);
    keys.push(await generateKeyDer(curve));
    await sleep(1); // lets the worker's batch arrive
  }
  return keys;
}

describe('EC key pool', () => {
  startKeyWorker();
  for (const [curve, opensslCurve] of [['prime256v1', 'prime256v1'], ['secp384r1', 'secp384r1'], ['secp521r1', 'secp521r1']] as const) {
    it(`hands out distinct, valid ${curve} keys made on the worker`, async () => {
      const keys = await pooledKeys(curve, 40);
      const seen = new Set<string>();
      for (const { spki, pkcs8 } of keys) {
        const priv = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
        assert.equal(priv.asymmetricKeyDetails?.namedCurve, curve);
        // The public key is the one of the private scalar.
        assert.deepEqual(createPublicKey(priv).export({ format: 'der', type: 'spki' }), spki);
        assert.ok(!seen.has(spki.toString('hex')), 'a key was handed out twice');
        seen.add(spki.toString('hex'));
      }
      const last = keys.at(-1)!;
      const file = tmp.write(`${curve}.der`, last.pkcs8);
      const text = opensslOk('pkey', '-inform', 'DER', '-in', file, '-check', '-noout', '-text');
      assert.match(text, new RegExp(`ASN1 OID: ${opensslCurve}`));
      assert.match(text, /Key is valid/);
    });
  }
});

describe('EC key pool bounds', () => {
  startKeyWorker();
  it(`holds at most ${KEY_POOL_CAP} keys of a curve, hands none out twice, and makes none while nothing is taken`, async () => {
    const seen = new Set<string>();
    let most = 0;
    const before = keyPoolStats().taken;
    // Taken one by one with pauses (the worker's batches arrive meanwhile), some in a row,
    // until 100 came from the worker (bounded: 20 s).
    const deadline = Date.now() + 20_000;
    for (let i = 0; keyPoolStats().taken - before < 100; i++) {
      assert.ok(Date.now() < deadline, `the key worker handed out ${keyPoolStats().taken - before} of 100 keys in 20 s`);
      const { spki } = await generateKeyDer('prime256v1');
      assert.ok(!seen.has(spki.toString('hex')), 'a key was handed out twice');
      seen.add(spki.toString('hex'));
      most = Math.max(most, keyPoolStats().waiting.prime256v1);
      await sleep(i % 8 === 0 ? 20 : 0);
    }
    await sleep(100); // a batch asked for arrives
    most = Math.max(most, keyPoolStats().waiting.prime256v1);
    assert.ok(most <= KEY_POOL_CAP, `${most} keys waited (at most ${KEY_POOL_CAP})`);
    // Nothing taken: nothing more is made, and what waits is dropped once too old.
    const batches = keyPoolStats().batches;
    await sleep(2 * KEY_POOL_MAX_AGE_MS);
    assert.equal(keyPoolStats().batches, batches, 'the worker made keys while none were taken');
    assert.equal(keyPoolStats().waiting.prime256v1, 0, 'keys waited longer than KEY_POOL_MAX_AGE_MS');
  });
});

describe('EC key pool start', () => {
  it(`starts no worker before ${KEY_POOL_START_AFTER} keys were made in the process, then does`, () => {
    const script = `import { generateKeyDer, keyPoolStats, KEY_POOL_START_AFTER } from './src/pki/index.ts';
const turn = () => new Promise((r) => setTimeout(r, 2));
const seen = [];
await turn();
seen.push(keyPoolStats().started);
for (let i = 0; i < KEY_POOL_START_AFTER - 1; i++) { await generateKeyDer('prime256v1'); await turn(); }
seen.push(keyPoolStats().started, keyPoolStats().batches);
await generateKeyDer('prime256v1');
seen.push(keyPoolStats().started);
console.log(JSON.stringify(seen));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), [false, false, 0, true]);
  });
});

describe('EC key pool and process exit', () => {
  it('does not keep a process alive once it has nothing else to do', () => {
    const script = `import { generateKeyDer, startKeyWorker, keyPoolStats } from './src/pki/index.ts';
startKeyWorker();
const deadline = Date.now() + 20_000;
while (keyPoolStats().taken === 0 && Date.now() < deadline) { await generateKeyDer('prime256v1'); await new Promise((r) => setTimeout(r, 5)); }
console.log(keyPoolStats().taken > 0 ? 'pooled' : 'none');`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, null, 'the process was still running after 60 s (it needs at most 20 s)');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'pooled');
  });
});
