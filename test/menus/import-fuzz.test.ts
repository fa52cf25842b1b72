// Fuzz-style robustness: thousands of mutated PEM, DER, PKCS#12, key and CSR inputs fed to
// import and sign-certificate-request. Each must end in a summary or a RosError — never a crash,
// never a hang — and a failed import must leave the store exactly as it was.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { buildPkcs12 } from '../../src/pki/pkcs12.js';
import { pemDecode, pemEncode } from '../../src/pki/index.js';
import { openTestApp, tempDir, type TestApp } from '../support/app.js';
import { C, makeOpensslPki, putFile, rows } from './import-support.js';
import { rng } from '../pki/fuzz-mutate.js';

const MUTATIONS = Number(process.env.ROSPKI_FUZZ ?? 2000);

function mutate(input: Buffer, rand: () => number): Buffer {
  const b = Buffer.from(input);
  const at = () => Math.floor(rand() * Math.max(1, b.length));
  switch (Math.floor(rand() * 8)) {
    case 0: { // flip a few bits
      const n = 1 + Math.floor(rand() * 4);
      for (let i = 0; i < n; i++) b[at()] ^= 1 << Math.floor(rand() * 8);
      return b;
    }
    case 1: return b.subarray(0, at()); // truncate
    case 2: { // insert random bytes
      const i = at();
      const extra = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 16) }, () => Math.floor(rand() * 256)));
      return Buffer.concat([b.subarray(0, i), extra, b.subarray(i)]);
    }
    case 3: { // a length octet becomes long-form, indefinite or huge
      const i = at();
      b[i] = [0x80, 0x81, 0x84, 0xff, 0x00][Math.floor(rand() * 5)]!;
      return b;
    }
    case 4: { // duplicate a slice (nested structures, repeated blocks)
      const i = at(), j = Math.min(b.length, i + Math.floor(rand() * 64));
      return Buffer.concat([b.subarray(0, j), b.subarray(i, j), b.subarray(j)]);
    }
    case 5: { // delete a slice
      const i = at(), j = Math.min(b.length, i + 1 + Math.floor(rand() * 32));
      return Buffer.concat([b.subarray(0, i), b.subarray(j)]);
    }
    case 6: { // set a byte to a tag-ish value
      b[at()] = [0x30, 0x31, 0x02, 0x04, 0x06, 0xa0, 0x24, 0x80][Math.floor(rand() * 8)]!;
      return b;
    }
    default: { // overwrite a run with one value
      const i = at(), v = Math.floor(rand() * 256);
      for (let k = i; k < Math.min(b.length, i + 1 + Math.floor(rand() * 8)); k++) b[k] = v;
      return b;
    }
  }
}

/** PEM input: mutate the DER inside (so the DER parsers see it) or the text itself. */
function mutatePem(text: Buffer, rand: () => number): Buffer {
  if (rand() < 0.3) return mutate(text, rand);
  const blocks = pemDecode(text);
  const k = Math.floor(rand() * blocks.length);
  return Buffer.from(blocks.map((b, i) => (i === k ? pemEncode(b.label, mutate(b.der, rand)) : b.text + '\n')).join(''));
}

describe('import fuzzing', () => {
  let dir: string;
  let t: TestApp;
  before(async () => {
    dir = tempDir('rospki-fuzz-');
    makeOpensslPki(dir);
    t = await openTestApp();
    await t.run(C, 'add', { name: 'ca', 'common-name': 'Fuzz CA', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1' });
    await t.run(C, 'sign', { number: 'ca' });
  });
  after(() => { t.close(); fs.rmSync(dir, { recursive: true, force: true }); });

  test(`${MUTATIONS} mutated inputs: no crash, no hang, no partial state`, async () => {
    const src = (f: string) => fs.readFileSync(path.join(dir, f));
    const leafDer = src('leaf.der');
    const keyDer = pemDecode(src('leaf.key'))[0]!.der;
    const seeds: Array<{ name: string; data: Buffer; pem: boolean; passphrase: string; command?: string }> = [
      { name: 'chain.pem', data: src('chain.pem'), pem: true, passphrase: '' },
      { name: 'combined.pem', data: src('combined.pem'), pem: true, passphrase: '' },
      { name: 'leaf.der', data: leafDer, pem: false, passphrase: '' },
      { name: 'key-enc.pem', data: src('leaf-pkcs8-enc.pem'), pem: true, passphrase: 'secret' },
      { name: 'rsa-enc.pem', data: src('rsa-pkcs1-enc.pem'), pem: true, passphrase: 'secret' },
      { name: 'key.der', data: src('leaf-pkcs8-enc.der'), pem: false, passphrase: 'secret' },
      { name: 'legacy.p12', data: src('legacy.p12'), pem: false, passphrase: 'secret' },
      { name: 'ours.p12', data: buildPkcs12({ certificates: [leafDer], privateKey: keyDer, password: 'pw', iterations: 64 }), pem: false, passphrase: 'pw' },
      { name: 'ours-legacy.p12', data: buildPkcs12({ certificates: [leafDer], privateKey: keyDer, password: 'pw', format: 'legacy', iterations: 64 }), pem: false, passphrase: 'pw' },
      { name: 'req.csr', data: src('leaf.csr'), pem: true, passphrase: '', command: 'sign-certificate-request' },
    ];
    const started = Date.now();
    let slowest = 0, ok = 0, refused = 0;
    const seed0 = 0x5eed;
    for (let i = 0; i < MUTATIONS; i++) {
      const s = seeds[i % seeds.length]!;
      const rand = rng(seed0 + i).next;
      const data = s.pem ? mutatePem(s.data, rand) : mutate(s.data, rand);
      const file = `fuzz-${i}-${s.name}`;
      putFile(t, file, data);
      const before = await rows(t);
      const t0 = Date.now();
      try {
        if (s.command) await t.run(C, s.command, { ca: 'ca', 'file-name': file });
        else await t.run(C, 'import', { 'file-name': file, passphrase: s.passphrase });
        ok++;
      } catch (e) {
        if (!(e instanceof RosError)) {
          fs.writeFileSync(path.join(dir, 'crash.bin'), data);
          assert.fail(`mutation ${i} of ${s.name} (seed ${seed0 + i}) crashed: ${(e as Error).stack}`);
        }
        refused++;
        const after = await rows(t);
        assert.deepEqual(after, before, `mutation ${i} of ${s.name}: a failed import changed the store`);
      }
      slowest = Math.max(slowest, Date.now() - t0);
      fs.rmSync(path.join(t.app.dataDir.filesDir, file));
    }
    const total = Date.now() - started;
    console.log(`# fuzz: ${MUTATIONS} inputs in ${total} ms (slowest ${slowest} ms): ${ok} accepted, ${refused} refused`);
    assert.ok(total < 60_000, `took ${total} ms`);
    assert.ok(slowest < 5_000, `one input took ${slowest} ms`);
    assert.ok(refused > MUTATIONS / 4, 'most mutations are refused');
    // Whatever was accepted left a consistent store: every row has a name, certificates have DER.
    for (const r of await rows(t)) assert.ok(typeof r.name === 'string' && r.name !== '');
  });
});
