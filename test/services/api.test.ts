// The binary API (spec §9) spoken word by word: framing, login, tags, queries, cancel, errors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encodeLength } from '../../src/services/words.js';
import { ApiClient, attrs, startServiceApp, type ServiceApp } from './support.js';

let s: ServiceApp;
before(async () => {
  s = await startServiceApp();
  await s.run('/certificate', 'add', { name: 'a', 'common-name': 'alpha', 'days-valid': '10' });
  await s.run('/certificate', 'add', { name: 'b', 'common-name': 'beta', 'days-valid': '20' });
  await s.run('/certificate', 'add', { name: 'c', 'common-name': 'gamma', 'days-valid': '30' });
});
after(async () => { await s.stop(); });

async function loggedIn(): Promise<ApiClient> {
  const c = await ApiClient.connect(s.ports.api);
  assert.deepEqual(await c.login(), [['!done']]);
  return c;
}

test('length encoding covers every size class', () => {
  assert.deepEqual([...encodeLength(0x7f)], [0x7f]);
  assert.deepEqual([...encodeLength(0x80)], [0x80, 0x80]);
  assert.deepEqual([...encodeLength(0x4000)], [0xc0, 0x40, 0x00]);
  assert.deepEqual([...encodeLength(0x200000)], [0xe0, 0x20, 0x00, 0x00]);
  assert.deepEqual([...encodeLength(0x10000000)], [0xf0, 0x10, 0x00, 0x00, 0x00]);
});

test('login: wrong password traps after a delay and is logged; right one is logged too', async () => {
  const c = await ApiClient.connect(s.ports.api);
  const start = Date.now();
  const bad = await c.talk('/login', '=name=admin', '=password=nope', '.tag=l1');
  assert.ok(Date.now() - start >= 45, 'failed login is delayed');
  assert.equal(bad[0]![0], '!trap');
  assert.equal(attrs(bad[0]!).message, 'invalid user name or password (6)');
  assert.ok(bad[0]!.includes('.tag=l1'));
  assert.deepEqual(bad[1], ['!done', '.tag=l1']);
  // Not logged in: commands are refused.
  const refused = await c.talk('/certificate/print');
  assert.equal(refused[0]![0], '!trap');
  assert.equal(attrs(refused[0]!).message, 'failure: not logged in');
  assert.deepEqual(await c.login(), [['!done']]);
  c.close();
  const log = (await s.run('/log', 'print', {})).print!.rows.map((r) => String(r.data.message));
  assert.ok(log.some((m) => /^login failure for user admin from 127\.0\.0\.1 via api$/.test(m)), log.join('\n'));
  assert.ok(log.some((m) => /^user admin logged in from 127\.0\.0\.1 via api$/.test(m)));
});

test('login: an empty password never logs in over the network; a user without api policy neither', async () => {
  await s.run('/user', 'add', { name: 'nopw', group: 'full' });
  await s.run('/user/group', 'add', { name: 'noapi', policy: 'read,write,rest-api' });
  await s.run('/user', 'add', { name: 'restonly', group: 'noapi', password: 'pw' });
  const c = await ApiClient.connect(s.ports.api);
  assert.equal((await c.talk('/login', '=name=nopw', '=password='))[0]![0], '!trap');
  assert.equal((await c.talk('/login', '=name=restonly', '=password=pw'))[0]![0], '!trap');
  c.close();
});

test('print: !re records with .id first and strings, .proplist, !empty then !done', async () => {
  const c = await loggedIn();
  const all = await c.talk('/certificate/print');
  assert.equal(all.length, 4);
  assert.equal(all[0]![0], '!re');
  assert.equal(all[0]![1], '=.id=*1');
  assert.equal(attrs(all[0]!)['days-valid'], '10');
  assert.equal(attrs(all[0]!).trusted, 'false');
  const picked = await c.talk('/certificate/print', '=.proplist=name,common-name');
  assert.deepEqual(picked[1], ['!re', '=common-name=beta', '=name=b']);
  const none = await c.talk('/certificate/print', '?name=zzz', '.tag=e');
  assert.deepEqual(none, [['!empty', '.tag=e'], ['!done', '.tag=e']]);
  const count = await c.talk('/certificate/print', '=count-only=', '?>days-valid=15');
  assert.deepEqual(count, [['!done', '=ret=2']]);
  c.close();
});

test('queries: equality, has/lacks, < >, and the #-stack operations', async () => {
  const c = await loggedIn();
  const names = async (...q: string[]) => (await c.talk('/certificate/print', '=.proplist=name', ...q))
    .filter((r) => r[0] === '!re').map((r) => attrs(r).name).join(',');
  assert.equal(await names('?=name=b'), 'b');
  assert.equal(await names('?name=a', '?name=c', '?#|'), 'a,c');
  assert.equal(await names('?name=a', '?#!'), 'b,c');
  assert.equal(await names('?<days-valid=25'), 'a,b');
  assert.equal(await names('?>days-valid=10', '?<days-valid=30', '?#&'), 'b');
  assert.equal(await names('?name'), 'a,b,c');
  assert.equal(await names('?-name'), '');
  assert.equal(await names('?fingerprint'), '');
  assert.equal(await names('?name=a', '?name=b', '?name=c', '?#||'), 'a,b,c');
  // Words without a #-operation are and-ed: the first equality narrows what print reads.
  assert.equal(await names('?name=b', '?common-name=beta'), 'b');
  assert.equal(await names('?common-name=beta', '?name=a'), '');
  assert.equal(await names('?name=c', '?>days-valid=10'), 'c');
  const bad = await c.talk('/certificate/print', '?#x');
  assert.equal(bad[0]![0], '!trap');
  c.close();
});

test('add/set/remove with .id; errors trap with category and message, then !done', async () => {
  const c = await loggedIn();
  const added = await c.talk('/certificate/add', '=name=t1', '=common-name=t1');
  assert.equal(added[0]![0], '!done');
  const id = attrs(added[0]!).ret!;
  assert.match(id, /^\*[0-9A-F]+$/);
  assert.deepEqual(await c.talk('/certificate/set', `=.id=${id}`, '=trusted=yes'), [['!done']]);
  const dup = await c.talk('/certificate/add', '=name=t1');
  assert.deepEqual(dup[0], ['!trap', '=category=4', '=message=failure: already have such entry']);
  assert.deepEqual(dup[1], ['!done']);
  const unknown = await c.talk('/certificate/add', '=name=t2', '=bogus=1');
  assert.equal(attrs(unknown[0]!).message, 'unknown parameter bogus');
  const nocmd = await c.talk('/certificate/frobnicate');
  assert.deepEqual(nocmd[0], ['!trap', '=category=0', '=message=no such command or directory (frobnicate)']);
  const nomenu = await c.talk('/nowhere/print');
  assert.equal(nomenu[0]![0], '!trap');
  assert.deepEqual(await c.talk('/certificate/remove', `=.id=${id}`), [['!done']]);
  const gone = await c.talk('/certificate/remove', `=.id=${id}`);
  assert.equal(attrs(gone[0]!).message, 'no such item');
  c.close();
});

test('/system/resource/print answers version', async () => {
  const c = await loggedIn();
  const r = await c.talk('/system/resource/print');
  assert.equal(r[0]![0], '!re');
  assert.match(attrs(r[0]!).version!, /^7\.\d+\.\d+ \(stable\)$/);
  assert.ok(attrs(r[0]!)['architecture-name']);
  c.close();
});

test('several tagged commands in flight; /cancel answers interrupted for the cancelled one', async () => {
  const c = await loggedIn();
  c.send('/certificate/print', '=.proplist=name', '.tag=one');
  c.send('/system/resource/print', '=.proplist=version', '.tag=two');
  c.send('/certificate/print', '=count-only=', '.tag=three');
  const replies: string[][] = [];
  while (replies.filter((r) => r[0] === '!done').length < 3) replies.push((await c.read())!);
  for (const tag of ['one', 'two', 'three']) {
    assert.ok(replies.some((r) => r[0] === '!done' && r.includes(`.tag=${tag}`)), `done for ${tag}`);
  }
  assert.equal(replies.filter((r) => r[0] === '!re' && r.includes('.tag=one')).length, 3);
  // A cancel of an unknown tag traps; a bare /cancel with nothing running just finishes.
  const unknownTag = await c.talk('/cancel', '=tag=nope', '.tag=c1');
  assert.equal(unknownTag[0]![0], '!trap');
  assert.deepEqual(await c.talk('/cancel', '.tag=c2'), [['!done', '.tag=c2']]);
  // A sign takes a while (RSA key): cancel it while it runs.
  await s.run('/certificate', 'add', { name: 'slow', 'common-name': 'slow', 'key-size': '4096' });
  c.send('/certificate/sign', '=.id=slow', '.tag=s');
  c.send('/cancel', '=tag=s', '.tag=k');
  // RouterOS's order: the cancelled command's trap, the /cancel's !done, then its own !done.
  const got: string[][] = [];
  while (!got.some((r) => r[0] === '!done' && r.includes('.tag=s'))) got.push((await c.read())!);
  assert.deepEqual(got, [
    ['!trap', '=category=2', '=message=interrupted', '.tag=s'],
    ['!done', '.tag=k'],
    ['!done', '.tag=s'],
  ]);
  c.close();
});

test('malformed input: a reserved control byte is !fatal and closes; an unknown word traps', async () => {
  const c = await loggedIn();
  const odd = await c.talk('/certificate/print', 'garbage');
  assert.equal(odd[0]![0], '!trap');
  c.writeRaw(Buffer.from([0xf8, 0x00]));
  const fatal = await c.read();
  assert.equal(fatal![0], '!fatal');
  assert.equal(await c.read(), undefined);
  // A word too long before login is refused the same way, and the service keeps running.
  const d = await ApiClient.connect(s.ports.api);
  d.writeRaw(Buffer.concat([Buffer.from([0xe0, 0x10, 0x00, 0x00])]));
  assert.equal((await d.read())![0], '!fatal');
  const e = await loggedIn();
  e.close();
});

test('/quit ends the session with !fatal', async () => {
  const c = await loggedIn();
  const r = await c.talk('/quit');
  assert.deepEqual(r, [['!fatal', 'session terminated on request']]);
  assert.equal(await c.read(), undefined);
});

test('policies: a read-only user can print but not add', async () => {
  await s.run('/user', 'add', { name: 'reader', group: 'read', password: 'pw' });
  const c = await ApiClient.connect(s.ports.api);
  assert.deepEqual(await c.login('reader', 'pw'), [['!done']]);
  assert.equal((await c.talk('/certificate/print', '=count-only='))[0]![0], '!done');
  const r = await c.talk('/certificate/add', '=name=nope');
  assert.equal(attrs(r[0]!).message, 'not enough permissions (9)');
  c.close();
});
