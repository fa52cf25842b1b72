import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { seal, unseal } from '../../src/store/index.js';

const secret = randomBytes(32);
const cannotOpen = { message: 'sealed data cannot be opened: wrong secret or damaged data' };

test('seal/unseal round-trip; format is version, nonce, ciphertext, tag', () => {
  for (const plain of [Buffer.alloc(0), Buffer.from('private key'), randomBytes(5000)]) {
    const sealed = seal(secret, plain);
    assert.equal(sealed.length, 1 + 12 + plain.length + 16);
    assert.equal(sealed[0], 1);
    assert.deepEqual(unseal(secret, sealed), plain);
  }
  assert.notDeepEqual(seal(secret, Buffer.from('x')), seal(secret, Buffer.from('x')), 'fresh nonce each time');
});

test('tampered data, a wrong secret or a truncated value cannot be opened', () => {
  const sealed = seal(secret, Buffer.from('private key'));
  for (const at of [1, 14, sealed.length - 1]) {
    const bad = Buffer.from(sealed);
    bad[at] ^= 1;
    assert.throws(() => unseal(secret, bad), cannotOpen);
  }
  assert.throws(() => unseal(randomBytes(32), sealed), cannotOpen);
  assert.throws(() => unseal(secret, sealed.subarray(0, 20)), cannotOpen);
  const otherVersion = Buffer.from(sealed);
  otherVersion[0] = 2;
  assert.throws(() => unseal(secret, otherVersion), /unknown format version 2/);
});
