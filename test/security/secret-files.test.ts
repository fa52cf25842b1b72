// A file that shows sensitive values is as secret as a key file: an admin's
// `/export show-sensitive file=backup` (or `print detail show-sensitive file=`) wrote every PPP
// secret into /file, and a group with `read` and `ftp` but without `sensitive` read them back —
// `contents`, `/file read`, `/import`, FTP, SCP and the web page's download. The one rule
// (src/menu/secret-files.ts) now refuses them all, while an export without secrets still reads.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { tempDir } from '../support/app.js';
import { freePort, PASSWORD, run } from '../services/support.js';
import { passwordAuth, scp, startSshApp, type SshApp } from '../services/ssh-support.js';
import { needs } from '../support/tools.js';

const skip = needs('ssh', 'ssh-keygen', 'scp', 'curl');
const SECRET = 'Ppp-Secret-4711';
const PW = 'Filer-pass1';
const DENIED = /not enough permissions \(9\)/;

describe('files showing sensitive values need the sensitive policy on every front end', { skip }, () => {
  let s: SshApp;
  let ftpPort: number;
  let work: string;
  /** Files an admin wrote with secrets in them, each in another layout. */
  const secretFiles = ['backup.rsc', 'terse.rsc', 'detail.txt', 'values.txt', 'table.txt'];

  const console_ = async (user: string, line: string): Promise<{ ok: boolean; text: string }> => {
    let text = '';
    const cs = await ConsoleSession.open(s.app, { user, output: (t) => { text += t; } });
    const r = await cs.run(line);
    return { ok: r.ok, text: `${text}${r.error ?? ''}` };
  };

  before(async () => {
    s = await startSshApp();
    ftpPort = await freePort();
    await s.run('/ip/service', 'set', { numbers: 'ftp', port: String(ftpPort), disabled: 'no' });
    await s.services.reconcile();
    work = tempDir('rospki-secretfiles-');
    for (const line of [
      `/ppp secret add name=vpn1 password=${SECRET}`,
      `/user group add name=filer policy=ssh,ftp,read,write,web,rest-api,api,test; /user add name=filer group=filer password=${PW}`,
      '/export show-sensitive file=backup',
      '/ppp secret export terse show-sensitive file=terse',
      '/ppp secret print detail show-sensitive file=detail',
      '/ppp secret print value-list show-sensitive file=values',
      '/ppp secret print show-sensitive proplist=name,password file=table',
      '/export file=plain',
      '/system backup save name=sys password=backup-pw',
      '/system backup save name=sys-plain',
    ]) {
      const r = await console_('admin', line);
      assert.ok(r.ok, `${line}: ${r.text}`);
    }
    for (const f of secretFiles) assert.match(fs.readFileSync(path.join(s.app.dataDir.filesDir, f), 'utf8'), new RegExp(SECRET), `${f} holds the secret`);
    assert.doesNotMatch(fs.readFileSync(path.join(s.app.dataDir.filesDir, 'plain.rsc'), 'utf8'), new RegExp(SECRET));
  });
  after(async () => {
    await s?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('console: contents, /file read, where on contents and /import are refused; admin reads them', async () => {
    for (const f of secretFiles) {
      for (const line of [`:put [/file get ${f} contents]`, `/file read file=${f} chunk-size=30000`, `/import file-name=${f} dry-run`]) {
        const r = await console_('filer', line);
        assert.doesNotMatch(r.text, new RegExp(SECRET), `${line}: ${r.text}`);
        if (!line.startsWith(':put')) assert.match(r.text, DENIED, line);
      }
      const guessed = await console_('filer', `:put [:len [/file find where name=${f} contents~"${SECRET}"]]`);
      assert.equal(guessed.text.trim(), '0', `${f}: where sees no hidden contents`);
      const admin = await console_('admin', `:put [/file get ${f} contents]`);
      assert.match(admin.text, new RegExp(SECRET), f);
    }
    const plain = await console_('filer', ':put [/file get plain.rsc contents]');
    assert.match(plain.text, /\/ppp secret/, 'an export without secrets still reads');
  });

  test('REST, FTP, SCP and the web page give a filer none of them', async () => {
    const rest = await run('curl', ['-sS', '-m', '20', '-u', `filer:${PW}`, `http://127.0.0.1:${s.ports.www}/rest/file`]);
    assert.doesNotMatch(rest.stdout, new RegExp(SECRET));
    assert.match(rest.stdout, /ppp secret/, 'plain.rsc shows');
    const base = `http://127.0.0.1:${s.ports.www}`;
    const jar = path.join(work, 'jar');
    const login = await run('curl', ['-sS', '-m', '20', '-c', jar, '-o', '/dev/null', '-w', '%{http_code}',
      '--data-urlencode', 'user=filer', '--data-urlencode', `password=${PW}`, '-H', `origin: ${base}`, `${base}/webfig/.login`]);
    assert.equal(login.stdout, '303', login.stderr);
    for (const f of secretFiles) {
      const local = path.join(work, f);
      const ftp = await run('curl', ['-sS', '-m', '20', '-o', local, `ftp://filer:${PW}@127.0.0.1:${ftpPort}/${f}`]);
      assert.match(ftp.stderr, /550/, `FTP ${f}`);
      assert.ok(!fs.existsSync(local) || !fs.readFileSync(local, 'utf8').includes(SECRET), `nothing of ${f} over FTP`);
      fs.rmSync(local, { force: true });
      const viaScp = await scp(s, ['-O', `filer@127.0.0.1:${f}`, local], passwordAuth(s, PW));
      assert.notEqual(viaScp.status, 0, `SCP ${f}`);
      assert.ok(!fs.existsSync(local) || !fs.readFileSync(local, 'utf8').includes(SECRET), `nothing of ${f} over SCP`);
      const web = await run('curl', ['-sS', '-m', '20', '-b', jar, '-w', '\n%{http_code}', `${base}/webfig/.download?name=${f}`]);
      assert.match(web.stdout, /403$/, `web ${f}`);
      assert.doesNotMatch(web.stdout, new RegExp(SECRET));
    }
    const plain = await run('curl', ['-sS', '-m', '20', `ftp://filer:${PW}@127.0.0.1:${ftpPort}/plain.rsc`]);
    assert.equal(plain.status, 0, plain.stderr);
  });

  test('/system backup files (encrypted or device-bound) are secret files on every path', async () => {
    const base = `http://127.0.0.1:${s.ports.www}`;
    const jar = path.join(work, 'jar-backup');
    const login = await run('curl', ['-sS', '-m', '20', '-c', jar, '-o', '/dev/null', '-w', '%{http_code}',
      '--data-urlencode', 'user=filer', '--data-urlencode', `password=${PW}`, '-H', `origin: ${base}`, `${base}/webfig/.login`]);
    assert.equal(login.stdout, '303', login.stderr);
    for (const f of ['sys.backup', 'sys-plain.backup']) {
      assert.match((await console_('filer', `/file read file=${f} chunk-size=100`)).text, DENIED, f);
      const local = path.join(work, f);
      const ftp = await run('curl', ['-sS', '-m', '20', '-o', local, `ftp://filer:${PW}@127.0.0.1:${ftpPort}/${f}`]);
      assert.match(ftp.stderr, /550/, `FTP ${f}`);
      assert.ok(!fs.existsSync(local) || fs.statSync(local).size === 0, `nothing of ${f} over FTP`);
      fs.rmSync(local, { force: true });
      const viaScp = await scp(s, ['-O', `filer@127.0.0.1:${f}`, local], passwordAuth(s, PW));
      assert.notEqual(viaScp.status, 0, `SCP ${f}`);
      const web = await run('curl', ['-sS', '-m', '20', '-o', '/dev/null', '-b', jar, '-w', '%{http_code}', `${base}/webfig/.download?name=${f}`]);
      assert.equal(web.stdout, '403', `web ${f}`);
      // Admin (sensitive) downloads it.
      const adminFtp = await run('curl', ['-sS', '-m', '20', '-o', local, `ftp://admin:${PASSWORD}@127.0.0.1:${ftpPort}/${f}`]);
      assert.equal(adminFtp.status, 0, adminFtp.stderr);
      assert.ok(fs.readFileSync(local).equals(fs.readFileSync(path.join(s.app.dataDir.filesDir, f))));
      fs.rmSync(local, { force: true });
    }
  });
});
