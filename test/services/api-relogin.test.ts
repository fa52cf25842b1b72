// A second `/login` on an API session (issue 11): it used to answer `!done` whatever the
// password. It is checked like the first: a wrong one traps and leaves the session as it was.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiClient, attrs, startServiceApp, type ServiceApp } from './support.js';

let s: ServiceApp;
before(async () => {
  s = await startServiceApp();
  await s.run('/user', 'add', { name: 'reader', group: 'read', password: 'readpw' });
});
after(async () => { await s.stop(); });

/** Whether the session may write: a write command is refused for `read`. */
async function canWrite(c: ApiClient): Promise<boolean> {
  const r = await c.talk('/system/identity/set', '=name=MikroTik');
  if (r[0]![0] === '!done') return true;
  assert.equal(attrs(r[0]!).message, 'not enough permissions (9)');
  return false;
}

test('a wrong second /login traps, keeps the user, and three end the connection', async () => {
  const c = await ApiClient.connect(s.ports.api);
  assert.deepEqual(await c.login('reader', 'readpw'), [['!done']]);
  assert.equal(await canWrite(c), false);
  const wrong = await c.talk('/login', '=name=admin', '=password=guess', '.tag=x');
  assert.equal(wrong[0]![0], '!trap');
  assert.equal(attrs(wrong[0]!).message, 'invalid user name or password (6)');
  assert.deepEqual(wrong[1], ['!done', '.tag=x']);
  assert.equal(await canWrite(c), false, 'still the read user');
  const same = await c.talk('/login', '=name=reader', '=password=nope');
  assert.equal(same[0]![0], '!trap', 'the own name with a wrong password too');
  const third = await c.talk('/login', '=name=admin', '=password=guess2');
  assert.equal(third[0]![0], '!trap');
  assert.deepEqual(await c.read(), ['!fatal', 'too many login failures']);
  assert.equal(await c.read(), undefined, 'closed');
  const log = (await s.run('/log', 'print', {})).print!.rows.map((r) => String(r.data.message));
  assert.ok(log.some((m) => m === 'login failure for user admin from 127.0.0.1 via api'), log.join('\n'));
});

test('a right second /login makes the session that user\'s', async () => {
  const c = await ApiClient.connect(s.ports.api);
  assert.deepEqual(await c.login('reader', 'readpw'), [['!done']]);
  assert.equal(await canWrite(c), false);
  assert.deepEqual(await c.login(), [['!done']]);
  assert.equal(await canWrite(c), true);
  c.close();
});
