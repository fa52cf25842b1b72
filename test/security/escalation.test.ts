// Issue 11: no way up from a lesser user. Each path an attacker with a `write` account (or a
// `policy` account without `sensitive`) tried on main is a named test here, attempted on every
// front end — console, REST (curl), the API and SSH (OpenSSH) — and must be refused there, with
// nothing changed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { ApiClient, attrs, run } from '../services/support.js';
import { keyAuth, passwordAuth, ssh, startSshApp, type SshApp } from '../services/ssh-support.js';
import { needs } from '../support/tools.js';

const PW = 'Str0ngPass';
const DENIED = /not enough permissions \(9\)/;

describe('no way up from a lesser user', { skip: needs('ssh', 'ssh-keygen') }, () => {
  let s: SshApp;

  /** Runs one console line as `user` on each front end; returns what each one answered. */
  async function everywhere(user: string, line: string, rest: { method: string; url: string; body?: unknown }, apiWords: string[]) {
    const out: Record<string, string> = {};
    let text = '';
    const cs = await ConsoleSession.open(s.app, { user, output: (t) => { text += t; } });
    const r = await cs.run(line);
    out.console = `${text}${r.error ?? ''}`;
    const curl = await run('curl', ['-sS', '-u', `${user}:${PW}`, '-X', rest.method, '-H', 'content-type: application/json',
      ...(rest.body === undefined ? [] : ['-d', JSON.stringify(rest.body)]), `http://127.0.0.1:${s.ports.www}/rest${rest.url}`]);
    out.rest = curl.stdout;
    const api = await ApiClient.connect(s.ports.api);
    try {
      await api.login(user, PW);
      out.api = (await api.talk(...apiWords)).map((w) => w.join(' ')).join('\n');
    } finally {
      api.close();
    }
    const viaSsh = await ssh(s, line, passwordAuth(s, PW), user);
    out.ssh = `${viaSsh.stdout}${viaSsh.stderr}`;
    return out;
  }

  const assertDeniedEverywhere = (out: Record<string, string>) => {
    for (const [edge, text] of Object.entries(out)) assert.match(text, DENIED, `${edge}: ${text}`);
  };

  const admin = async (line: string): Promise<string> => {
    let text = '';
    const cs = await ConsoleSession.open(s.app, { user: 'admin', output: (t) => { text += t; } });
    const r = await cs.run(line);
    assert.ok(r.ok, `${line}: ${r.error}`);
    return text;
  };
  const userGroup = async (name: string) => (await admin(`:put [/user get ${name} group]`)).trim();

  before(async () => {
    s = await startSshApp();
    await admin(`/user set admin password=${PW}`);
    await admin('/user group add name=operators policy=read,write,policy,test,api,rest-api,ssh,password,ftp');
    for (const [name, group] of [['w', 'write'], ['r', 'read'], ['op', 'operators']]) {
      await admin(`/user add name=${name} group=${group} password=${PW}`);
    }
    await admin('/certificate add name=ca common-name=ca key-size=prime256v1 key-usage=key-cert-sign,crl-sign; /certificate sign ca');
  });
  after(async () => { await s.stop(); });

  test('a write user can not create a full user', async () => {
    const out = await everywhere('w', '/user add name=evil group=full password=x',
      { method: 'PUT', url: '/user', body: { name: 'evil', group: 'full', password: 'x' } },
      ['/user/add', '=name=evil', '=group=full', '=password=x']);
    assertDeniedEverywhere(out);
    assert.equal((await admin(':put [:len [/user find name=evil]]')).trim(), '0');
  });

  test("a write user can not change admin's password", async () => {
    const out = await everywhere('w', '/user set admin password=owned',
      { method: 'PATCH', url: '/user/admin', body: { password: 'owned' } },
      ['/user/set', '=.id=admin', '=password=owned']);
    assertDeniedEverywhere(out);
    const still = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-u', `admin:${PW}`, `http://127.0.0.1:${s.ports.www}/rest/system/identity`]);
    assert.equal(still.stdout, '200', "admin's password is unchanged");
  });

  test('a write user can not move itself to full', async () => {
    const out = await everywhere('w', '/user set w group=full',
      { method: 'PATCH', url: '/user/w', body: { group: 'full' } },
      ['/user/set', '=.id=w', '=group=full']);
    assertDeniedEverywhere(out);
    assert.equal(await userGroup('w'), 'write');
  });

  test("a write user can not add its own SSH key to admin, but may add keys to itself", async () => {
    const pub = fs.readFileSync(`${s.key}.pub`, 'utf8').trim();
    const out = await everywhere('w', `/user ssh-keys add user=admin key="${pub}"`,
      { method: 'POST', url: '/user/ssh-keys/add', body: { user: 'admin', key: pub } },
      ['/user/ssh-keys/add', '=user=admin', `=key=${pub}`]);
    assertDeniedEverywhere(out);
    assert.equal((await admin(':put [:len [/user ssh-keys find where user=admin]]')).trim(), '0');
    const login = await ssh(s, ':put [/system identity get name]', keyAuth(s), 'admin');
    assert.notEqual(login.status, 0, 'the key does not open admin');
    let text = '';
    const cs = await ConsoleSession.open(s.app, { user: 'w', output: (t) => { text += t; } });
    assert.ok((await cs.run(`/user ssh-keys add user=w key="${pub}"`)).ok, text);
    // A user with keys logs in with them only (RouterOS): drop it so the password tests go on.
    assert.ok((await cs.run('/user ssh-keys remove [find where user=w]')).ok, text);
  });

  test('a policy user without sensitive can not make a full user, touch admin, or grant sensitive', async () => {
    for (const line of ['/user add name=evil2 group=full password=x', `/user set admin password=x`, '/user group set operators policy=read,write,policy,sensitive',
      '/user group add name=wide policy=read,sensitive', '/user remove admin']) {
      let text = '';
      const cs = await ConsoleSession.open(s.app, { user: 'op', output: (t) => { text += t; } });
      const r = await cs.run(line);
      assert.match(r.error ?? text, DENIED, line);
    }
    // What it holds it may give (RouterOS's write group holds sensitive, so not that one).
    await admin('/user group add name=mini policy=read,test,api');
    let text = '';
    const cs = await ConsoleSession.open(s.app, { user: 'op', output: (t) => { text += t; } });
    assert.match((await cs.run(`/user add name=helper group=write password=${PW}`)).error ?? '', DENIED);
    assert.ok((await cs.run(`/user add name=helper group=mini password=${PW}`)).ok, text);
    await admin('/user remove helper');
  });

  test('scripts raise nobody: more policies, dont-require-permissions, or editing a stronger owner\'s script are refused', async () => {
    await admin('/system script add name=adminjob dont-require-permissions=yes source=":put hello"');
    const cases: Array<[string, { method: string; url: string; body?: unknown }, string[]]> = [
      // RouterOS's write group lacks policy and ftp: a script may not carry them for it.
      ['/system script add name=s1 policy=read,write,policy source=":put 1"', { method: 'PUT', url: '/system/script', body: { name: 's1', policy: 'read,write,policy', source: ':put 1' } }, ['/system/script/add', '=name=s1', '=policy=read,write,policy', '=source=:put 1']],
      ['/system script add name=s2 dont-require-permissions=yes source=":put 1"', { method: 'PUT', url: '/system/script', body: { name: 's2', 'dont-require-permissions': 'yes', source: ':put 1' } }, ['/system/script/add', '=name=s2', '=dont-require-permissions=yes', '=source=:put 1']],
      ['/system script set adminjob source="/certificate export-certificate ca export-passphrase=12345678"', { method: 'PATCH', url: '/system/script/adminjob', body: { source: 'x' } }, ['/system/script/set', '=.id=adminjob', '=source=x']],
    ];
    for (const [line, rest, words] of cases) assertDeniedEverywhere(await everywhere('w', line, rest, words));
    assert.equal((await admin(':put [/system script get adminjob source]')).trim(), ':put hello');
    assert.equal((await admin(':put [:len [/system script find where name~"^s[12]\\$"]]')).trim(), '0');
    // A user's own script runs with no more than that user holds: a group without sensitive
    // gets no key out through a script.
    await admin(`/user group add name=nosecrets policy=read,write,test,api,rest-api,ssh; /user add name=ns group=nosecrets password=${PW}`);
    let text = '';
    const cs = await ConsoleSession.open(s.app, { user: 'ns', output: (t) => { text += t; } });
    assert.ok((await cs.run('/system script add name=mine source="/certificate export-certificate ca export-passphrase=12345678 file-name=stolen"')).ok, text);
    const r = await cs.run('/system script run mine');
    assert.match(r.error ?? '', DENIED);
    assert.ok(!fs.existsSync(path.join(s.app.dataDir.filesDir, 'stolen.crt')), 'no key left the router');
    assert.match((await cs.run('/system script set mine policy=read,write,sensitive')).error ?? '', DENIED);
  });

  test('read users can not write the file store (print file=, /tool fetch, /execute file=)', async () => {
    const out = await everywhere('r', '/user print file=planted',
      { method: 'POST', url: '/user/print', body: { file: 'planted' } },
      ['/user/print', '=file=planted']);
    assertDeniedEverywhere(out);
    let text = '';
    const cs = await ConsoleSession.open(s.app, { user: 'r', output: (t) => { text += t; } });
    const r = await cs.run(`/tool fetch url="http://127.0.0.1:${s.ports.www}/" dst-path=setup.rsc`);
    assert.match(r.error ?? '', DENIED);
    // /execute (and :execute) write what the script printed into file= — a file an admin may
    // later /import: the write policy, as every other way into /file.
    const planted = ':put "/user set admin password=owned"';
    for (const asString of [true, false]) {
      const words = ['/execute', `=script=${planted}`, '=file=planted.rsc', ...(asString ? ['=as-string='] : [])];
      assertDeniedEverywhere(await everywhere('r', `/execute script=${JSON.stringify(planted)} file=planted.rsc${asString ? ' as-string' : ''}`,
        { method: 'POST', url: '/execute', body: { script: planted, file: 'planted.rsc', ...(asString ? { 'as-string': '' } : {}) } }, words));
      const viaColon = await cs.run(`:execute script=${JSON.stringify(planted)} file=planted.rsc${asString ? ' as-string' : ''}`);
      assert.match(viaColon.error ?? '', DENIED);
    }
    assert.deepEqual(fs.readdirSync(s.app.dataDir.filesDir).filter((f) => /planted|setup\.rsc/.test(f)), []);
  });

  test('plaintext keys in /file are not readable without sensitive', async () => {
    await admin('/certificate add name=req common-name=req key-size=prime256v1; /certificate create-certificate-request template=req');
    await admin(`/user group add name=auditors policy=read,api,rest-api,ssh; /user add name=aud group=auditors password=${PW}`);
    const asReader = await run('curl', ['-sS', '-u', `aud:${PW}`, `http://127.0.0.1:${s.ports.www}/rest/file?name=certificate-request_key.pem`]);
    const [row] = JSON.parse(asReader.stdout) as Array<Record<string, string>>;
    assert.equal(row!.contents, undefined, 'contents left out for a user without sensitive');
    const csr = await run('curl', ['-sS', '-u', `aud:${PW}`, `http://127.0.0.1:${s.ports.www}/rest/file?name=certificate-request.pem`]);
    assert.match((JSON.parse(csr.stdout) as Array<Record<string, string>>)[0]!.contents!, /BEGIN CERTIFICATE REQUEST/, 'the request itself is no secret');
    const asAdmin = await run('curl', ['-sS', '-u', `admin:${PW}`, `http://127.0.0.1:${s.ports.www}/rest/file?name=certificate-request_key.pem`]);
    assert.match((JSON.parse(asAdmin.stdout) as Array<Record<string, string>>)[0]!.contents!, /BEGIN PRIVATE KEY/);
    let text = '';
    const cs = await ConsoleSession.open(s.app, { user: 'aud', output: (t) => { text += t; } });
    const r = await cs.run(':put [/file get certificate-request_key.pem contents]');
    assert.match(r.error ?? text, DENIED);
  });

  test('an open API session loses its rights when its user is disabled, demoted, re-passworded or removed', async () => {
    const changes: Array<[string, string]> = [
      ['disable', '/user disable victim'],
      ['demote', '/user set victim group=read'],
      ['password', '/user set victim password=another'],
      ['remove', '/user remove victim'],
    ];
    for (const [what, change] of changes) {
      await admin(`/user add name=victim group=write password=${PW}`);
      const api = await ApiClient.connect(s.ports.api);
      try {
        assert.equal((await api.login('victim', PW))[0]![0], '!done');
        const ok = await api.talk('/system/identity/set', '=name=before');
        assert.equal(ok[0]![0], '!done', `${what}: works before`);
        await admin(change);
        const reply = await api.talk('/system/identity/set', '=name=after');
        assert.equal(reply[0]![0], '!trap', `${what}: refused after`);
        assert.match(attrs(reply[0]!).message!, DENIED);
      } finally {
        api.close();
      }
      assert.equal((await admin(':put [/system identity get name]')).trim(), 'before');
      await admin(':if ([:len [/user find name=victim]] > 0) do={ /user remove victim }');
    }
  });
});
