// Host keys of the SSH service (src/menus/ip/ssh.ts generateHostKey): ssh2 1.x writes about one
// ed25519 key in 256 in a form it can not read back (a leading zero byte of the public key is
// stripped); such a key is never kept, a fresh one is made instead, a bounded number of times.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateHostKey, loadSsh2 } from '../../src/menus/ip/ssh.js';

const BROKEN = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';

test('a key ssh2 can not read back is replaced by a fresh one', () => {
  const good = loadSsh2().utils.generateKeyPairSync('ed25519').private;
  const made = [BROKEN, BROKEN, good];
  let calls = 0;
  const key = generateHostKey('ed25519', 2048, () => made[calls++]!);
  assert.equal(calls, 3);
  assert.equal(key.privateKey, good);
  const parsed = loadSsh2().utils.parseKey(good);
  assert.ok(!(parsed instanceof Error));
  assert.match(key.fingerprint, /^SHA256:/);
});

test('it gives up after a bounded number of tries with ssh2\'s error', () => {
  let calls = 0;
  assert.throws(() => generateHostKey('ed25519', 2048, () => { calls++; return BROKEN; }), /Malformed OpenSSH private key|Unsupported OpenSSH|bad|invalid/i);
  assert.equal(calls, 8);
});

test('real keys of both types read back, many times over', () => {
  for (let i = 0; i < 300; i++) {
    const key = generateHostKey('ed25519', 2048);
    assert.ok(!(loadSsh2().utils.parseKey(key.privateKey) instanceof Error));
  }
  const rsa = generateHostKey('rsa', 1024);
  assert.ok(!(loadSsh2().utils.parseKey(rsa.privateKey) instanceof Error));
});
