// Issue 11: a locked-out address is refused every credential, SSH keys included — a lockout that
// a key login could pass would only slow a password guesser that also holds a key.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { importAdminKey, keyAuth, passwordAuth, ssh, startSshApp, type SshApp } from './ssh-support.js';
import { needs } from '../support/tools.js';

const skip = needs('ssh', 'ssh-keygen');
let s: SshApp;

before(async () => {
  if (skip) return;
  s = await startSshApp({ services: { loginLockoutAfter: 3, loginLockoutMs: 60_000, loginFailureDelayMs: 10 } });
  await importAdminKey(s);
});
after(async () => { if (!skip) await s.stop(); });

test('after the lockout a valid key does not log in either; before it, it does', { skip }, async () => {
  const ok = await ssh(s, ':put key-works', keyAuth(s));
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, 'key-works\n');
  for (let i = 0; i < 3; i++) {
    const bad = await ssh(s, ':put 1', passwordAuth(s, 'wrong-password'));
    assert.notEqual(bad.status, 0);
  }
  const locked = await ssh(s, ':put key-works', keyAuth(s));
  assert.notEqual(locked.status, 0, 'the key is refused while the address is locked out');
  const log = (await s.run('/log', 'print', {})).print!.rows.map((r) => String(r.data.message));
  assert.ok(log.some((m) => /too many login failures from 127\.0\.0\.1/.test(m)), log.join('\n'));
});
