// Writing into a file while keeping its content is reading it. A user with `ftp`, `read` and
// `write` but not `sensitive` may not download a key file — yet FTP `REST 120` + an empty
// `STOR` cut a DER key to its first 120 bytes (no longer a key to the rule, its private scalar
// whole), and an SFTP open without TRUNC let them change the first byte of a PEM header in place
// (`X----BEGIN …`); then the download passed. An upload that keeps a file's content (FTP APPE or
// REST+STOR, SFTP OPEN without TRUNC) now takes what a download of that file takes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, run } from '../services/support.js';
import { startSshApp, type SshApp } from '../services/ssh-support.js';
import { needs, PYTHON } from '../support/tools.js';

const skip = needs('python3', 'paramiko');
const WRITER_PW = 'Writer-pass1';
const KEEPER_PW = 'Keeper-pass1';

describe('an upload that keeps a secret file\'s content needs the sensitive policy', { skip }, () => {
  let s: SshApp;
  let ftpPort: number;
  const file = (name: string) => path.join(s.app.dataDir.filesDir, name);
  let pem: Buffer;
  let der: Buffer;

  before(async () => {
    s = await startSshApp();
    ftpPort = await freePort();
    await s.run('/ip/service', 'set', { numbers: 'ftp', port: String(ftpPort), disabled: 'no' });
    await s.services.reconcile();
    await s.run('/user/group', 'add', { name: 'filer', policy: 'ssh,ftp,read,write' });
    await s.run('/user', 'add', { name: 'writer', group: 'filer', password: WRITER_PW });
    await s.run('/user/group', 'add', { name: 'keeper', policy: 'ssh,ftp,read,write,sensitive' });
    await s.run('/user', 'add', { name: 'keeper', group: 'keeper', password: KEEPER_PW });
    pem = execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    der = execFileSync('openssl', ['pkey', '-outform', 'DER'], { input: pem });
    fs.writeFileSync(file('server.key'), pem, { mode: 0o600 });
    fs.writeFileSync(file('raw.der'), der, { mode: 0o600 });
    fs.writeFileSync(file('plain.txt'), 'nothing secret\n', { mode: 0o600 });
  });
  after(async () => { await s?.stop(); });

  /** Runs Python code with `port`, `user` and `pw` defined; returns its printed JSON. */
  const python = async (code: string, user: string, pw: string): Promise<Record<string, string>> => {
    const r = await run(PYTHON, ['-c', [
      'import ftplib, io, json, paramiko',
      `port, ssh_port, user, pw = ${ftpPort}, ${s.sshPort}, ${JSON.stringify(user)}, ${JSON.stringify(pw)}`,
      'out = {}',
      code,
      'print(json.dumps(out))',
    ].join('\n')], { timeoutMs: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, string>;
  };

  const ftpAttack = [
    'f = ftplib.FTP(timeout=20); f.connect("127.0.0.1", port); f.login(user, pw)',
    'for name, how in (("raw.der", "cut"), ("server.key", "append")):',
    '    try:',
    '        if how == "cut": f.storbinary("STOR " + name, io.BytesIO(b""), rest=120)',
    '        else: f.storbinary("APPE " + name, io.BytesIO(b"x"))',
    '        out[name + " " + how] = "written"',
    '    except ftplib.error_perm as e: out[name + " " + how] = str(e)',
    '    buf = io.BytesIO()',
    '    try:',
    '        f.retrbinary("RETR " + name, buf.write); out[name + " got"] = buf.getvalue().hex()',
    '    except ftplib.error_perm as e: out[name + " got"] = str(e)',
    'f.quit()',
  ].join('\n');

  const sftpAttack = [
    't = paramiko.Transport(("127.0.0.1", ssh_port)); t.connect(username=user, password=pw)',
    'c = paramiko.SFTPClient.from_transport(t)',
    'try:',
    '    h = c.open("server.key", "r+"); h.seek(0); h.write(b"X"); h.close(); out["flip"] = "written"',
    'except IOError as e: out["flip"] = str(e)',
    'try: out["got"] = c.open("server.key", "r").read().decode("latin1")',
    'except IOError as e: out["got"] = str(e)',
    't.close()',
  ].join('\n');

  test('FTP: a cut or an append of a key file is refused to a writer, and nothing of it comes', async () => {
    const out = await python(ftpAttack, 'writer', WRITER_PW);
    for (const k of ['raw.der cut', 'server.key append', 'raw.der got', 'server.key got']) {
      assert.match(out[k]!, /^550 .*not enough permissions \(9\)$/, `${k}: ${out[k]}`);
    }
    assert.deepEqual(fs.readFileSync(file('raw.der')), der, 'the key is unchanged');
    assert.deepEqual(fs.readFileSync(file('server.key')), pem);
  });

  test('SFTP: an in-place change of a key file is refused to a writer; the key stays hidden', async () => {
    const out = await python(sftpAttack, 'writer', WRITER_PW);
    assert.match(out.flip!, /not enough permissions|Permission denied/, out.flip);
    assert.match(out.got!, /not enough permissions|Permission denied/, out.got);
    assert.deepEqual(fs.readFileSync(file('server.key')), pem);
  });

  test('a user with sensitive may change a key file in place; a writer may still append to other files', async () => {
    const out = await python(sftpAttack, 'keeper', KEEPER_PW);
    assert.equal(out.flip, 'written');
    assert.match(out.got!, /^X----BEGIN PRIVATE KEY-----/);
    const plain = await python([
      'f = ftplib.FTP(timeout=20); f.connect("127.0.0.1", port); f.login(user, pw)',
      'f.storbinary("APPE plain.txt", io.BytesIO(b"more\\n")); f.quit(); out["ok"] = "yes"',
    ].join('\n'), 'writer', WRITER_PW);
    assert.equal(plain.ok, 'yes');
    assert.equal(fs.readFileSync(file('plain.txt'), 'utf8'), 'nothing secret\nmore\n');
  });
});
