// The API's `listen` and `print =follow=` / `=follow-only=` (spec §9.4; librouteros
// docs/api_analysis.rst "Canceling listen"): nothing at first (listen), then one `!re` per row
// added or changed with all its properties, `.id` first, and `!re =.id=*N =.dead=yes` for a
// removed row, through the same `.proplist`, query words and sensitive-value rule as print, until
// /cancel (`!trap =category=2 =message=interrupted`, the /cancel's `!done`, then the listen's).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiClient, attrs, basic, startServiceApp, type ServiceApp } from './support.js';

let s: ServiceApp;

before(async () => { s = await startServiceApp(); });
after(async () => { await s.stop(); });

async function loggedIn(user?: string, password?: string): Promise<ApiClient> {
  const c = await ApiClient.connect(s.ports.api);
  assert.deepEqual(await c.login(user, password), [['!done']]);
  return c;
}

/**
 * A listen sends nothing until something changes, so nothing says when it is listening: change
 * (`poke`, a different change each round) until the first record comes, a bounded number of times.
 */
async function firstRecord(c: ApiClient, poke: (round: number) => Promise<void>): Promise<string[]> {
  for (let round = 0; round < 100; round++) {
    await poke(round);
    const got = await c.read(100).catch(() => undefined);
    if (got) return got;
  }
  throw new Error('listen never sent a record');
}

/** Cancels tag `tag` and reads the three replies RouterOS sends. */
async function cancel(c: ApiClient, tag: string): Promise<string[][]> {
  c.send('/cancel', `=tag=${tag}`, '.tag=c');
  return [(await c.read())!, (await c.read())!, (await c.read())!];
}

test('/certificate/listen: a new row, a change, a removal as .dead, through .proplist and a query; then /cancel', async () => {
  const c = await loggedIn();
  await s.run('/certificate', 'add', { name: 'li-a', 'common-name': 'li-a.test' });
  c.send('/certificate/listen', '=.proplist=.id,name,common-name', '?name=li-a', '.tag=l');
  const first = await firstRecord(c, async (round) => {
    // A change the query does not take comes first in each round: it never shows.
    await s.run('/certificate', 'add', { name: `li-other-${round}`, 'common-name': 'other.test' });
    await s.run('/certificate', 'set', { numbers: 'li-a', 'common-name': `li-a${round}.test` });
  });
  assert.equal(first[0], '!re');
  assert.match(first[1]!, /^=\.id=\*[0-9A-F]+$/, '.id first');
  const rec = attrs(first);
  assert.deepEqual(Object.keys(rec).sort(), ['.id', 'common-name', 'name']);
  assert.equal(rec.name, 'li-a');
  assert.ok(first.includes('.tag=l'));
  const id = rec['.id']!;
  await s.run('/certificate', 'set', { numbers: 'li-a', 'common-name': 'li-a-final.test' });
  // Records of earlier rounds may still be on the way: read up to the final one.
  for (;;) {
    const r = (await c.read())!;
    assert.equal(r[0], '!re');
    assert.equal(attrs(r).name, 'li-a');
    if (attrs(r)['common-name'] === 'li-a-final.test') break;
  }
  await s.run('/certificate', 'remove', { numbers: 'li-a' });
  assert.deepEqual(await c.read(), ['!re', `=.id=${id}`, '=.dead=yes', '.tag=l']);
  assert.deepEqual(await cancel(c, 'l'), [
    ['!trap', '=category=2', '=message=interrupted', '.tag=l'],
    ['!done', '.tag=c'],
    ['!done', '.tag=l'],
  ]);
  // Nothing more comes after the cancel; the session goes on.
  await s.run('/certificate', 'add', { name: 'li-a', 'common-name': 'again.test' });
  assert.deepEqual(await c.talk('/certificate/print', '?name=li-a', '=.proplist=name'), [['!re', '=name=li-a'], ['!done']]);
  c.close();
  await s.run('/certificate', 'remove', { numbers: 'li-a' });
});

test('print =follow= sends the current rows first, then changes; =follow-only= only changes', async () => {
  const c = await loggedIn();
  await s.run('/certificate', 'add', { name: 'pf-a', 'common-name': 'pf-a.test' });
  c.send('/certificate/print', '=follow=', '?name=pf-a', '=.proplist=name,common-name', '.tag=f');
  // Properties come in print's API order (alphabetical; .id first when asked for).
  assert.deepEqual(await c.read(), ['!re', '=common-name=pf-a.test', '=name=pf-a', '.tag=f']);
  await s.run('/certificate', 'set', { numbers: 'pf-a', 'common-name': 'pf-a2.test' });
  assert.deepEqual(await c.read(), ['!re', '=common-name=pf-a2.test', '=name=pf-a', '.tag=f']);
  c.send('/certificate/print', '=follow-only=', '?name=pf-a', '=.proplist=common-name', '.tag=o');
  // Change until the follow-only one reports a change (it sends nothing before); the follow one
  // gets every change too.
  const toF = new Set<string>();
  let fromO: Record<string, string> | undefined;
  for (let round = 0; !fromO; round++) {
    assert.ok(round < 100, 'follow-only never sent a record');
    await s.run('/certificate', 'set', { numbers: 'pf-a', 'common-name': `pf-round${round}.test` });
    for (let r = await c.read(100).catch(() => undefined); r; r = await c.read(20).catch(() => undefined)) {
      assert.equal(r[0], '!re');
      if (r.at(-1) === '.tag=o') { fromO = attrs(r); assert.deepEqual(Object.keys(fromO), ['common-name']); } else toF.add(attrs(r)['common-name']!);
    }
  }
  while (!toF.has(fromO['common-name']!)) {
    const r = (await c.read())!;
    if (r.at(-1) === '.tag=f') toF.add(attrs(r)['common-name']!);
  }
  c.send('/cancel');
  const ends: string[][] = [];
  for (;;) {
    const got = (await c.read())!;
    if (got[0] === '!re') continue;
    ends.push(got);
    if (ends.filter((e) => e[0] === '!done').length === 3) break;
  }
  assert.equal(ends.filter((e) => e[0] === '!trap').length, 2, JSON.stringify(ends));
  c.close();
  await s.run('/certificate', 'remove', { numbers: 'pf-a' });
});

test('listen hides what print hides: sensitive values, and everything from a user without read', async () => {
  await s.run('/user/group', 'add', { name: 'li-api', policy: 'read,api' });
  await s.run('/user', 'add', { name: 'li-u', group: 'li-api', password: 'pw' });
  const c = await loggedIn('li-u', 'pw');
  c.send('/interface/wifi/security/listen', '.tag=w');
  const first = await firstRecord(c, async (round) => {
    await s.run('/interface/wifi/security', round === 0 ? 'add' : 'set', {
      ...(round === 0 ? { name: 'li-w' } : { numbers: 'li-w' }), passphrase: `li-secret-${round}`, 'eap-username': `li-user-${round}`,
    });
  });
  assert.equal(attrs(first).name, 'li-w');
  assert.ok(!first.some((w) => w.includes('li-secret')), JSON.stringify(first));
  // show-sensitive needs the sensitive policy, over the API as on the console.
  const refused = await c.talk('/interface/wifi/security/print', '=follow=', '=show-sensitive=', '.tag=x');
  assert.deepEqual(refused.map((r) => r[0]), ['!trap', '!done']);
  assert.match(attrs(refused[0]!).message!, /not enough permissions/);
  await cancel(c, 'w');
  c.close();
  await s.run('/interface/wifi/security', 'remove', { numbers: 'li-w' });
});

test('REST has no listen, and print follow is refused there', async () => {
  const url = (p: string) => `http://127.0.0.1:${s.ports.www}/rest${p}`;
  const listen = await fetch(url('/log/listen'), { method: 'POST', headers: { authorization: basic(), 'content-type': 'application/json' }, body: '{}' });
  assert.equal(listen.status, 400);
  assert.match(await listen.text(), /no such command or directory \(listen\)/);
  const follow = await fetch(url('/log/print'), { method: 'POST', headers: { authorization: basic(), 'content-type': 'application/json' }, body: '{"follow":""}' });
  assert.equal(follow.status, 400);
  assert.match(await follow.text(), /need a console or the API/);
});
