// SCP and SFTP errors and upload limits against real clients (OpenSSH scp, scp -O, sftp, and
// paramiko, which shows the server's own status messages): every failure reads like RouterOS and
// names only the /file name — never the data directory's host path, never an errno text — also
// for hostile names (longer than NAME_MAX, `..`, through a symbolic link); an upload past the
// limit is refused cleanly and leaves no file, not even a temporary one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { run } from './support.js';
import { importAdminKey, scp, sftpBatch, startSshApp, type SshApp } from './ssh-support.js';
import { needs, PYTHON } from '../support/tools.js';

const skip = needs('ssh', 'scp', 'sftp', 'ssh-keygen');
const LIMIT = 1024 * 1024;

let s: SshApp;
let work: string;
before(async () => {
  if (skip) return;
  s = await startSshApp({ services: { maxUploadBytes: LIMIT } });
  await importAdminKey(s);
  work = path.join(s.home, 'work');
  fs.mkdirSync(work);
  fs.mkdirSync(path.join(s.app.dataDir.filesDir, 'full', 'inner'), { recursive: true });
  fs.writeFileSync(path.join(s.app.dataDir.filesDir, 'full', 'inner', 'f.txt'), 'f\n');
  fs.writeFileSync(path.join(s.app.dataDir.filesDir, 'taken.txt'), 'taken\n');
  fs.symlinkSync('/etc', path.join(s.app.dataDir.filesDir, 'etc-link'));
});
after(async () => { await s?.stop(); });

const LONG = 'L'.repeat(300);
/** 130 characters, 260 bytes: over NAME_MAX only when counted in bytes. */
const LONG_UTF8 = 'é'.repeat(130);
const remote = (p = '') => `admin@127.0.0.1:${p}`;
const local = (name: string) => path.join(work, name);
/** Nothing a client sees may show where the data directory is, or a raw errno (clients show their own paths). */
function assertClean(text: string): void {
  assert.ok(!text.includes(s.dir), `host path shown: ${text}`);
  assert.ok(!text.includes(fs.realpathSync(s.dir)), `host path shown: ${text}`);
  assert.doesNotMatch(text, /\bE[A-Z]{3,}\b|errno|files\//, text);
}
const tempFiles = () => fs.readdirSync(s.app.dataDir.filesDir, { recursive: true }).map(String).filter((n) => n.includes('.rospki-'));

test('scp -O: missing files, hostile names and links give RouterOS-like messages that name only the /file name (scp: refused too)', { skip }, async () => {
  fs.writeFileSync(local('up.txt'), 'up\n');
  const cases: Array<{ args: string[]; message: RegExp }> = [
    { args: [remote('nosuch.txt'), local('x')], message: /^scp: nosuch\.txt: no such file$/m },
    { args: [local('up.txt'), remote(LONG)], message: /^scp: invalid file name "L{64}…": name too long$/m },
    { args: [local('up.txt'), remote(LONG_UTF8)], message: /^scp: invalid file name "é{64}…": name too long$/m },
    { args: [remote('../../etc/passwd'), local('x')], message: /^scp: invalid file name "\.\.\/\.\.\/etc\/passwd": names outside of the file store are not allowed$/m },
    { args: [remote('etc-link/passwd'), local('x')], message: /^scp: invalid file name "etc-link\/passwd": symbolic links are not followed$/m },
    { args: [local('up.txt'), remote('full')], message: /^scp: full: is a directory$|^$/m },
  ];
  for (const c of cases) {
    const r = await scp(s, ['-O', ...c.args]);
    assertClean(r.stderr + r.stdout);
    if (c.args[1] === remote('full')) continue; // a folder as the target: the file goes into it
    assert.notEqual(r.status, 0, c.args.join(' '));
    assert.match(r.stderr, c.message);
    // OpenSSH's scp in SFTP mode shows its own texts for status codes; refused all the same.
    const modern = await scp(s, c.args);
    assert.notEqual(modern.status, 0, c.args.join(' '));
    assertClean(modern.stderr + modern.stdout);
  }
  assert.equal(fs.readFileSync(path.join(s.app.dataDir.filesDir, 'full', 'up.txt'), 'utf8'), 'up\n');
  assert.deepEqual(tempFiles(), []);
});

const PARAMIKO = String.raw`
import json, sys, paramiko
t = paramiko.Transport(('127.0.0.1', int(sys.argv[1])))
t.connect(username='admin', password=sys.argv[2])
sftp = paramiko.SFTPClient.from_transport(t)
long, long8 = 'L' * 300, '\u00e9' * 130
ops = [
    ('stat missing', lambda: sftp.stat('nosuch.txt')),
    ('open missing', lambda: sftp.open('nosuch.txt').read()),
    ('put long', lambda: sftp.open(long, 'w').write(b'x')),
    ('put long utf8', lambda: sftp.open(long8, 'w').write(b'x')),
    ('stat long', lambda: sftp.stat(long)),
    ('mkdir exists', lambda: sftp.mkdir('full')),
    ('rmdir not empty', lambda: sftp.rmdir('full')),
    ('rmdir a file', lambda: sftp.rmdir('taken.txt')),
    ('rename onto a file', lambda: sftp.rename('full', 'taken.txt')),
    ('remove missing', lambda: sftp.remove('nosuch.txt')),
    ('remove a folder', lambda: sftp.remove('full')),
    ('open a folder', lambda: sftp.open('full').read()),
    ('through a link', lambda: sftp.open('etc-link/passwd').read()),
    ('listdir a link', lambda: sftp.listdir('etc-link')),
    ('outside', lambda: sftp.open('../../../etc/passwd').read()),
    ('mkdir in missing', lambda: sftp.mkdir('no/such/dir')),
]
out = {}
for name, fn in ops:
    try:
        fn(); out[name] = 'ok'
    except IOError as e:
        out[name] = e.strerror if e.strerror else str(e)
print(json.dumps(out))
`;

test('paramiko sees the server\'s SFTP messages: RouterOS-like, no host path', { skip: skip || needs('paramiko') }, async () => {
  const r = await run(PYTHON, ['-c', PARAMIKO, String(s.sshPort), 'secret'], { timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, string>;
  for (const text of Object.values(out)) assertClean(text);
  assert.equal(out['stat missing'], 'no such file');
  assert.equal(out['open missing'], 'no such file');
  assert.equal(out['put long'], `invalid file name "${'L'.repeat(64)}…": name too long`);
  assert.equal(out['put long utf8'], `invalid file name "${'é'.repeat(64)}…": name too long`);
  assert.equal(out['stat long'], `invalid file name "${'L'.repeat(64)}…": name too long`);
  assert.equal(out['mkdir exists'], 'file exists');
  assert.equal(out['rmdir not empty'], 'directory not empty');
  assert.equal(out['rmdir a file'], 'not a directory');
  assert.equal(out['rename onto a file'], 'file exists');
  assert.equal(out['remove missing'], 'no such file');
  assert.equal(out['remove a folder'], 'not a regular file');
  assert.equal(out['open a folder'], 'not a regular file');
  assert.equal(out['through a link'], 'invalid file name "etc-link/passwd": symbolic links are not followed');
  assert.equal(out['listdir a link'], 'invalid file name "etc-link": symbolic links are not followed');
  assert.equal(out.outside, 'invalid file name "../../../etc/passwd": names outside of the file store are not allowed');
  assert.equal(out['mkdir in missing'], 'no such file');
  assert.deepEqual(tempFiles(), []);
});

test('uploads past maxUploadBytes are refused cleanly (scp -O, scp, sftp) and leave no file; smaller ones still work', { skip }, async () => {
  fs.writeFileSync(local('big.bin'), Buffer.alloc(3 * LIMIT, 7));
  fs.writeFileSync(local('fits.bin'), Buffer.alloc(LIMIT, 9));
  const legacy = await scp(s, ['-O', local('big.bin'), remote('big-legacy.bin')]);
  assert.notEqual(legacy.status, 0);
  assert.match(legacy.stderr, /^scp: big-legacy\.bin: file too large$/m);
  const modern = await scp(s, [local('big.bin'), remote('big-sftp.bin')]);
  assert.notEqual(modern.status, 0);
  const batch = await sftpBatch(s, `put ${local('big.bin')} big-put.bin\n`);
  assert.notEqual(batch.status, 0);
  for (const r of [legacy, modern, batch]) assertClean(r.stderr + r.stdout);
  for (const name of ['big-legacy.bin', 'big-sftp.bin', 'big-put.bin']) assert.ok(!fs.existsSync(path.join(s.app.dataDir.filesDir, name)), name);
  assert.deepEqual(tempFiles(), []);
  // Exactly the limit fits, by either protocol.
  for (const mode of [['-O'], []]) {
    const ok = await scp(s, [...mode, local('fits.bin'), remote(`fits${mode.join('')}.bin`)]);
    assert.equal(ok.status, 0, ok.stderr);
    const got = fs.readFileSync(path.join(s.app.dataDir.filesDir, `fits${mode.join('')}.bin`));
    assert.equal(got.length, LIMIT, mode.join(''));
    assert.ok(got.equals(fs.readFileSync(local('fits.bin'))), mode.join(''));
  }
});
