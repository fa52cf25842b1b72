// The web interface over plain HTTP, without a browser (issue 16): login through the
// Authenticator (logged, slowed, `web` policy), the session cookie's flags, CSRF and origin
// checks on every change, policies refused by the executor whatever the page shows, sessions
// that end with a password change or logout, live progress, the remove confirmation, and a
// 10,000-certificate table served a page at a time.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { WebSessions } from '../../src/services/web/sessions.js';
import { makeChain, PASSWORD, startServiceApp, type ServiceApp } from './support.js';
import { visibleText, WebClient } from './web-support.js';

const names = async (s: ServiceApp) => (await s.run(CERT_PATH, 'print', {})).print!.rows.map((r) => String(r.data.name));
const logMessages = async (s: ServiceApp) => (await s.run('/log', 'print', {})).print!.rows.map((r) => String(r.data.message));

describe('web interface on www', () => {
  let s: ServiceApp;
  let base: string;
  before(async () => {
    s = await startServiceApp();
    base = `http://127.0.0.1:${s.ports.www}`;
    await s.run('/user', 'add', { name: 'reader', group: 'read', password: 'readpw' });
    await s.run('/user/group', 'add', { name: 'noweb', policy: 'read,write,api,rest-api,sensitive' });
    await s.run('/user', 'add', { name: 'restonly', group: 'noweb', password: 'restpw' });
  });
  after(async () => { await s.stop(); });

  test('the login page says plain www is not encrypted; pages need a login', async () => {
    const c = new WebClient(base);
    const home = await c.get('/');
    assert.equal(home.status, 200);
    assert.match(visibleText(home.text), /Not encrypted: this page is served over plain HTTP/);
    assert.match(home.text, /RouterOS/);
    assert.match(String(home.headers['content-security-policy']), /default-src 'none'/);
    const page = await c.get('/webfig/certificate?q=x');
    assert.equal(page.status, 303);
    assert.equal(page.location, '/webfig/.login?next=%2Fwebfig%2Fcertificate%3Fq%3Dx');
    const css = await c.get('/webfig/.static/web.css');
    assert.equal(css.status, 200);
    assert.match(String(css.headers['content-type']), /^text\/css/);
  });

  test('login: wrong password refused after the failure delay and logged; right one sets an HttpOnly SameSite=Strict cookie', async () => {
    const c = new WebClient(base);
    const wrong = await c.login('admin', 'nope');
    assert.equal(wrong.status, 401);
    assert.match(visibleText(wrong.text), /Login failed: incorrect user name or password/);
    assert.equal(c.cookie, '');
    const ok = await c.login('admin', PASSWORD);
    assert.equal(ok.status, 303);
    assert.equal(ok.location, '/webfig/certificate');
    const cookie = ok.headers['set-cookie']![0]!;
    assert.match(cookie, /^rospki-web=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
    const logs = await logMessages(s);
    assert.ok(logs.includes('login failure for user admin from 127.0.0.1 via web'), logs.join('\n'));
    assert.ok(logs.includes('user admin logged in from 127.0.0.1 via web'));
    const list = await c.get('/webfig/certificate');
    assert.equal(list.status, 200);
    assert.match(list.text, /\?run=add/);
  });

  test('a login from another origin is refused before the password is looked at', async () => {
    const c = new WebClient(base);
    const r = await c.post('/webfig/.login', { user: 'admin', password: PASSWORD }, { csrf: null, origin: 'http://evil.example' });
    assert.equal(r.status, 403);
    assert.equal(c.cookie, '');
  });

  test('a user without the web policy cannot log in', async () => {
    const c = new WebClient(base);
    const r = await c.login('restonly', 'restpw');
    assert.equal(r.status, 403);
    assert.match(visibleText(r.text), /policy web/);
    assert.equal(c.cookie, '');
  });

  test('changes need the CSRF token and this origin; with both the executor runs them', async () => {
    const c = new WebClient(base);
    await c.login('admin', PASSWORD);
    await c.get('/webfig/certificate?run=add');
    const form = { name: 'web1', 'common-name': 'web1.test', 'key-size': 'prime256v1' };
    const noToken = await c.post('/webfig/certificate?run=add', form, { csrf: null });
    assert.equal(noToken.status, 403);
    assert.match(visibleText(noToken.text), /CSRF token missing or wrong/);
    const wrongToken = await c.post('/webfig/certificate?run=add', form, { csrf: 'x'.repeat(43) });
    assert.equal(wrongToken.status, 403);
    const otherOrigin = await c.post('/webfig/certificate?run=add', form, { origin: 'http://127.0.0.1:1' });
    assert.equal(otherOrigin.status, 403);
    assert.match(visibleText(otherOrigin.text), /cross-origin/);
    const noOrigin = await c.post('/webfig/certificate?run=add', form, { origin: null });
    assert.equal(noOrigin.status, 403);
    const crossSite = await c.post('/webfig/certificate?run=add', form, { headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(crossSite.status, 403);
    assert.ok(!(await names(s)).includes('web1'), 'nothing was added by a refused request');
    const ok = await c.post('/webfig/certificate?run=add', form);
    assert.equal(ok.status, 303);
    assert.match(ok.location ?? '', /^\/webfig\/certificate\?item=\*[0-9A-F]+$/);
    assert.ok((await names(s)).includes('web1'));
    const detail = await c.get(ok.location!);
    assert.match(visibleText(detail.text), /certificate added/);
    assert.match(visibleText(detail.text), /common-name web1\.test/);
  });

  test("RouterOS's error is shown next to the field it names, the values kept", async () => {
    const c = new WebClient(base);
    await c.login('admin', PASSWORD);
    await c.get('/webfig/certificate?run=add');
    const r = await c.post('/webfig/certificate?run=add', { name: 'bad', 'common-name': 'bad', 'days-valid': '0' });
    assert.equal(r.status, 303);
    const form = await c.get(r.location!);
    assert.match(form.text, /<input type="text" id="f-days-valid" name="days-valid" value="0"[^>]*aria-describedby="f-days-valid-help f-days-valid-err" aria-invalid="true"/);
    assert.match(form.text, /<p class="err" id="f-days-valid-err">value of days-valid is out of range \(1 \.\. 100000\)<\/p>/);
    assert.match(form.text, /id="f-common-name" name="common-name" value="bad"/);
    const missing = await c.post('/webfig/certificate?run=add', { 'common-name': 'x' });
    const again = await c.get(missing.location!);
    assert.match(again.text, /id="f-name-err">missing value of name</);
  });

  test('a read-only user sees no actions, and the executor refuses them anyway', async () => {
    const c = new WebClient(base);
    assert.equal((await c.login('reader', 'readpw')).status, 303);
    const list = await c.get('/webfig/certificate');
    assert.equal(list.status, 200);
    assert.doesNotMatch(list.text, /\?run=/);
    const cert = (await s.run(CERT_PATH, 'print', {})).print!.rows[0]!;
    const item = await c.get(`/webfig/certificate?item=*${cert.id.toString(16).toUpperCase()}`);
    assert.doesNotMatch(item.text, /<form class="cmd"/, 'no edit form');
    assert.equal((await c.get('/webfig/certificate?run=add')).status, 403);
    const r = await c.post('/webfig/certificate?run=add', { name: 'sneaky', 'common-name': 'x' });
    assert.equal(r.status, 303);
    const back = await c.get(r.location!);
    assert.match(visibleText(back.text), /not enough permissions \(9\)/);
    assert.ok(!(await names(s)).includes('sneaky'));
    const dl = await c.get('/webfig/.download?name=anything');
    assert.equal(dl.status, 403, 'file transfers need ftp');
  });

  test('/file download needs ftp, and sensitive for a private key; upload needs write and ftp', async () => {
    await s.run('/user/group', 'add', { name: 'files', policy: 'read,write,ftp,web' });
    await s.run('/user', 'add', { name: 'filer', group: 'files', password: 'filepw' });
    await s.run('/file', 'add', { name: 'pub.txt', contents: 'hello\n' });
    await s.run('/file', 'add', { name: 'k.pem', contents: '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+tNRJGVDvYZ1Cn9u3U7nSh9cRvyn9LpTBQyPxyg4P5\n-----END PRIVATE KEY-----\n' });
    const c = new WebClient(base);
    await c.login('filer', 'filepw');
    const pub = await c.get('/webfig/.download?name=pub.txt');
    assert.equal(pub.status, 200);
    assert.equal(pub.text, 'hello\n');
    assert.match(String(pub.headers['content-disposition']), /^attachment; filename="pub\.txt"/);
    assert.equal((await c.get('/webfig/.download?name=k.pem')).status, 403, 'a private key needs sensitive');
    assert.equal((await c.get('/webfig/.download?name=nope')).status, 404);
    const admin = new WebClient(base);
    await admin.login('admin', PASSWORD);
    assert.equal((await admin.get('/webfig/.download?name=k.pem')).status, 200);
    await admin.get('/webfig/file');
    const boundary = 'XyZ';
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${admin.csrf}\r\n--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nup/x.bin\r\n--${boundary}\r\n`
      + `Content-Disposition: form-data; name="file"; filename="x.bin"\r\nContent-Type: application/octet-stream\r\n\r\n\u0000\u0001binary\r\n--${boundary}--\r\n`;
    const up = await admin.request('POST', '/webfig/.upload', { body, type: `multipart/form-data; boundary=${boundary}` });
    assert.equal(up.status, 303);
    assert.equal((await s.app.env.files.read('up/x.bin')).toString('latin1'), '\u0000\u0001binary');
    const escape = await admin.request('POST', '/webfig/.upload', { body: body.replace('up/x.bin', '../outside.bin'), type: `multipart/form-data; boundary=${boundary}` });
    const refused = await admin.get(escape.location!);
    assert.match(visibleText(refused.text), /invalid file name/);
    const reader = new WebClient(base);
    await reader.login('reader', 'readpw');
    await reader.get('/webfig/file');
    const denied = await reader.request('POST', '/webfig/.upload', { body: body.replace(admin.csrf, reader.csrf), type: `multipart/form-data; boundary=${boundary}` });
    assert.match(visibleText((await reader.get(denied.location!)).text), /not enough permissions/);
  });

  test('sign streams the executor progress lines, then where to go', async () => {
    const c = new WebClient(base);
    await c.login('admin', PASSWORD);
    await s.run(CERT_PATH, 'add', { name: 'rsa', 'common-name': 'rsa.test', 'key-size': '2048' });
    await c.get('/webfig/certificate?run=sign&numbers=rsa');
    const r = await c.post('/webfig/certificate?run=sign&numbers=rsa', {}, { headers: { accept: 'application/x-ndjson' } });
    assert.equal(r.status, 200);
    const lines = r.text.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.slice(0, -1).map((l) => l.progress), ['progress: generating key', 'progress: signing']);
    assert.equal(lines.at(-1).location, '/webfig/certificate?result=1');
    const result = visibleText((await c.get('/webfig/certificate?result=1')).text);
    assert.match(result, /progress done/);
  });

  test('remove asks first, naming what the cascade removes and which services lose their certificate', async () => {
    const c = new WebClient(base);
    await c.login('admin', PASSWORD);
    await makeChain(s, { leaf: 'srv' });
    await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv' });
    const confirm = visibleText((await c.get('/webfig/certificate?run=remove&numbers=inter')).text);
    assert.match(confirm, /This also removes 1 more: certificate srv/);
    assert.match(confirm, /These lose their certificate \(it becomes none\): ip\/service www-ssl \(certificate\)/);
    const r = await c.post('/webfig/certificate?run=remove&numbers=inter', {});
    assert.equal(r.location, '/webfig/certificate');
    const left = await names(s);
    assert.ok(!left.includes('inter') && !left.includes('srv') && left.includes('root'));
  });

  test('a password change ends the session; logout ends it too', async () => {
    await s.run('/user', 'add', { name: 'temp', group: 'full', password: 'one' });
    const c = new WebClient(base);
    await c.login('temp', 'one');
    assert.equal((await c.get('/webfig/certificate')).status, 200);
    await s.run('/user', 'set', { numbers: 'temp', password: 'two' });
    const after = await c.get('/webfig/certificate');
    assert.equal(after.status, 303, 'back to the login page');
    const d = new WebClient(base);
    await d.login('temp', 'two');
    const cookie = d.cookie;
    await d.get('/webfig/certificate');
    const out = await d.post('/webfig/.logout', {});
    assert.equal(out.status, 303);
    assert.match(out.headers['set-cookie']![0]!, /Max-Age=0/);
    d.cookie = cookie;
    assert.equal((await d.get('/webfig/certificate')).status, 303, 'the old cookie is worthless');
  });

  test('10,000 certificates: a page of 100 rows, filter, flag filter and sort on the server', async () => {
    const model = await s.app.store.read((tx) => tx.findBy(CERT_PATH, 'name', 'root')[0]!);
    await s.app.store.write((tx) => {
      for (let i = 0; i < 10_000; i++) tx.insert(CERT_PATH, { ...model.data, name: `bulk-${String(i).padStart(5, '0')}`, 'common-name': `host${i}.example` });
    });
    const c = new WebClient(base);
    await c.login('admin', PASSWORD);
    const first = await c.get('/webfig/certificate');
    assert.equal(first.status, 200);
    assert.match(first.text, /data-rows="100"/);
    assert.match(visibleText(first.text), /showing 1–100/);
    const filtered = await c.get('/webfig/certificate?q=host9999.');
    assert.match(filtered.text, /data-rows="1"/);
    assert.match(filtered.text, />bulk-09999</);
    const sorted = await c.get('/webfig/certificate?q=bulk&sort=name&dir=desc');
    assert.match(sorted.text, /<tbody>\n<tr><td class="idx">\d+<\/td><td class="flags">[^\n]*>bulk-09999</);
    const noKey = await c.get('/webfig/certificate?flag=-K');
    assert.match(visibleText(noKey.text), /items match/);
    const page3 = await c.get('/webfig/certificate?page=2');
    assert.match(visibleText(page3.text), /page 3 of \d+/);
  });
});

test('every declared menu and every command it offers renders from its declaration (menus landing later need no page code)', async () => {
  const s = await startServiceApp();
  try {
    const c = new WebClient(`http://127.0.0.1:${s.ports.www}`);
    await c.login('admin', PASSWORD);
    const failures: string[] = [];
    let forms = 0;
    for (const menu of s.app.registry.all()) {
      const page = await c.get(`/webfig${menu.path === '/' ? '/.menus' : menu.path}`);
      if (page.status !== 200) { failures.push(`${menu.path}: ${page.status}`); continue; }
      for (const m of page.text.matchAll(/href="(\/webfig[^"?]*\?run=[^"]+)"/g)) {
        const form = await c.get(m[1]!.replace(/&#38;/g, '&'));
        forms++;
        if (form.status !== 200 || !form.text.includes('<form class="cmd"')) failures.push(`${m[1]}: ${form.status}`);
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(forms > 40, `${forms} command forms seen`);
  } finally {
    await s.stop();
  }
});

describe('web interface on www-ssl', () => {
  let s: ServiceApp;
  let rootPem: string;
  before(async () => {
    s = await startServiceApp();
    ({ rootPem } = await makeChain(s));
    await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv', disabled: 'no' });
    await s.services.reconcile();
  });
  after(async () => { await s.stop(); });

  test('the cookie is __Host- and Secure; no plain-text warning; a www cookie is not a www-ssl session', async () => {
    const c = new WebClient(`https://127.0.0.1:${s.ports['www-ssl']}`, rootPem);
    const home = await c.get('/');
    assert.doesNotMatch(home.text, /Not encrypted/);
    const ok = await c.login('admin', PASSWORD);
    assert.equal(ok.status, 303);
    assert.match(ok.headers['set-cookie']![0]!, /^__Host-rospki-web=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Secure$/);
    assert.equal((await c.get('/webfig/certificate')).status, 200);
    assert.ok((await logMessages(s)).includes('user admin logged in from 127.0.0.1 via web (https)'));
    const plain = new WebClient(`http://127.0.0.1:${s.ports.www}`);
    plain.cookie = c.cookie.replace('__Host-rospki-web', 'rospki-web');
    assert.equal((await plain.get('/webfig/certificate')).status, 303);
  });
});

test('web sessions are bounded in number, per user, and in time', () => {
  let now = 0;
  const sessions = new WebSessions({ maxSessions: 3, maxPerUser: 2, idleMs: 100, lifetimeMs: 1000 }, () => now);
  const make = (user: string) => sessions.create({ user, policies: new Set(), address: '127.0.0.1', via: 'www' }).cookie;
  const a1 = make('a');
  const a2 = make('a');
  const a3 = make('a');
  assert.equal(sessions.get(a1, 'www', '127.0.0.1'), undefined, "the user's oldest made room");
  assert.ok(sessions.get(a2, 'www', '127.0.0.1'));
  assert.equal(sessions.get(a2, 'www-ssl', '127.0.0.1'), undefined, 'not on the other service');
  assert.equal(sessions.get(a2, 'www', '127.0.0.2'), undefined, 'not from another address');
  make('b');
  make('c');
  assert.equal(sessions.size, 3);
  assert.equal(sessions.get(a3, 'www', '127.0.0.1'), undefined, 'the least recently used made room');
  now = 50;
  assert.ok(sessions.get(a2, 'www', '127.0.0.1'));
  now = 200;
  assert.equal(sessions.get(a2, 'www', '127.0.0.1'), undefined, 'idle too long');
});
