// The binary API's order of replies where RouterOS's own captures show it (librouteros
// docs/api_analysis.rst): a monitor (/tool/fetch) sends each state as a `!re` with `.section` while
// it runs; /cancel answers the cancelled command's trap, then its own `!done`, then the cancelled
// command's `!done`; every reply carries the sentence's `.tag`, wherever the tag word stood.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer, type TestServer } from '../menus/crl-support.js';
import { ApiClient, attrs, startServiceApp, type ServiceApp } from './support.js';

let s: ServiceApp;
let srv: TestServer;
/** Lets the stalled download of /stalled finish. */
let release: () => void = () => {};

before(async () => {
  s = await startServiceApp();
  srv = await startServer();
  srv.routes.set('/small', (_q, r) => r.end('small body'));
  srv.routes.set('/stalled', (_q, r) => {
    r.setHeader('Content-Length', String(8 * 1024));
    r.write(Buffer.alloc(4 * 1024, 0x45));
    const done = new Promise<void>((resolve) => { release = resolve; });
    void done.then(() => r.end(Buffer.alloc(4 * 1024, 0x45)));
    r.on('close', () => release());
  });
});
after(async () => { release(); await srv.close(); await s.stop(); });

async function loggedIn(): Promise<ApiClient> {
  const c = await ApiClient.connect(s.ports.api);
  assert.deepEqual(await c.login(), [['!done']]);
  return c;
}

/** Reads sentences until `until` matches one (included). */
async function readUntil(c: ApiClient, until: (s: string[]) => boolean): Promise<string[][]> {
  const got: string[][] = [];
  for (;;) {
    const sentence = await c.read(20_000);
    assert.ok(sentence, `connection closed after ${JSON.stringify(got)}`);
    got.push(sentence);
    if (until(sentence)) return got;
  }
}

test('/tool/fetch over the API: connecting, downloading as it goes, finished, each a !re with .section and the tag', async () => {
  const c = await loggedIn();
  c.send('/tool/fetch', `=url=${srv.url('/stalled')}`, '=output=none', '.tag=f');
  // The download stalls halfway: its states arrive before it ends, so they are not held back.
  const early = await readUntil(c, (r) => attrs(r).status === 'downloading');
  release();
  const rest = await readUntil(c, (r) => r[0] === '!done');
  const all = [...early, ...rest];
  assert.ok(all.every((r) => r.includes('.tag=f')), JSON.stringify(all));
  assert.equal(all.at(-1)![0], '!done');
  const records = all.slice(0, -1);
  assert.ok(records.every((r) => r[0] === '!re'));
  assert.deepEqual(records.map((r) => attrs(r)['.section']), records.map((_, i) => String(i)));
  assert.deepEqual(attrs(records[0]!), { '.section': '0', status: 'connecting' });
  assert.deepEqual(attrs(early.at(-1)!), { '.section': String(early.length - 1), status: 'downloading', downloaded: '4', total: '8', duration: '0s' });
  const last = attrs(records.at(-1)!);
  assert.equal(last.status, 'finished');
  assert.equal(last.downloaded, '8');
  assert.equal(last.total, '8');
  assert.match(last.duration!, /^\d+s$/);
  c.close();
});

test('a failing fetch: its states so far, then !trap with the failure and !done', async () => {
  const c = await loggedIn();
  const r = await c.talk('/tool/fetch', `=url=${srv.url('/nothing-here')}`, '=output=user', '.tag=x');
  assert.deepEqual(r[0], ['!re', '=.section=0', '=status=connecting', '.tag=x']);
  assert.ok(r.slice(0, -2).every((w) => w[0] === '!re'), JSON.stringify(r));
  assert.deepEqual(r.slice(-2), [
    ['!trap', '=category=4', '=message=failure: Status 404, Not Found', '.tag=x'],
    ['!done', '.tag=x'],
  ]);
  const small = await c.talk('/tool/fetch', `=url=${srv.url('/small')}`, '=output=user');
  assert.equal(attrs(small.at(-2)!).data, 'small body');
  assert.equal(attrs(small.at(-2)!).status, 'finished');
  c.close();
});

test('/cancel of a running fetch: its trap, the /cancel\'s !done, then its own !done', async () => {
  const c = await loggedIn();
  c.send('/tool/fetch', `=url=${srv.url('/stalled')}`, '=output=none', '.tag=1');
  await readUntil(c, (r) => attrs(r).status === 'downloading');
  c.send('/cancel', '=tag=1', '.tag=7');
  const after = await readUntil(c, (r) => r[0] === '!done' && r.includes('.tag=1'));
  // Progress reports a second apart may still come before the cancel is read; none after it.
  const fromTrap = after.slice(after.findIndex((r) => r[0] === '!trap'));
  assert.deepEqual(fromTrap, [
    ['!trap', '=category=2', '=message=interrupted', '.tag=1'],
    ['!done', '.tag=7'],
    ['!done', '.tag=1'],
  ]);
  // The tag is free again, and the session goes on.
  const again = await c.talk('/tool/fetch', `=url=${srv.url('/small')}`, '=output=none', '.tag=1');
  assert.equal(again.at(-1)![0], '!done');
  c.close();
});

test('every reply carries the tag: a trap for an unknown word before the tag word, !empty, !done', async () => {
  const c = await loggedIn();
  const odd = await c.talk('/certificate/print', 'garbage', '.tag=g');
  assert.deepEqual(odd.map((r) => r[0]), ['!trap', '!done']);
  assert.ok(odd.every((r) => r.includes('.tag=g')), JSON.stringify(odd));
  const empty = await c.talk('/certificate/print', '?name=none', '.tag=e');
  assert.deepEqual(empty, [['!empty', '.tag=e'], ['!done', '.tag=e']]);
  const notLoggedIn = await ApiClient.connect(s.ports.api);
  const refused = await notLoggedIn.talk('/certificate/print', '.tag=n');
  assert.ok(refused.every((r) => r.includes('.tag=n')));
  notLoggedIn.close();
  c.close();
});
