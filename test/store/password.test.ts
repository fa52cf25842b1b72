import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, verifyPassword, verifyPasswordAsync } from '../../src/store/index.js';

test('hash and verify', async () => {
  const stored = hashPassword('s3cret');
  assert.match(stored, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.equal(verifyPassword('s3cret', stored), true);
  assert.equal(verifyPassword('s3cret ', stored), false);
  assert.equal(await verifyPasswordAsync('s3cret', stored), true);
  assert.equal(await verifyPasswordAsync('wrong', stored), false);
  const empty = hashPassword(''); // RouterOS' admin starts with an empty password
  assert.equal(verifyPassword('', empty), true);
  assert.equal(verifyPassword('x', empty), false);
});

test('salts differ', () => {
  assert.notEqual(hashPassword('same'), hashPassword('same'));
});

test('malformed or absurd stored values never verify', async () => {
  for (const stored of ['', 'plain', 'scrypt$16384$8$1$$', 'scrypt$3$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==', 'scrypt$1073741824$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==']) {
    assert.equal(verifyPassword('x', stored), false, stored);
    assert.equal(await verifyPasswordAsync('x', stored), false, stored);
  }
});
