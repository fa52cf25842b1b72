// A file holding a private key is read only by a user with the `sensitive` policy, whichever way
// they ask: FTP (curl, Python's ftplib), SCP (OpenSSH scp -O and scp over SFTP), SFTP (OpenSSH
// sftp), the web page's download link (curl with the login cookie), and /import. A group with
// `ftp`, `read` and `write` but not `sensitive` (the user who may move files but not see keys)
// downloaded the key an admin had exported with export-certificate. Key files of every kind
// count — PEM (encrypted or not), DER PKCS#8, PKCS#12 — while other files still download.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../support/app.js';
import { freePort, PASSWORD, run } from '../services/support.js';
import { passwordAuth, scp, startSshApp, type SshApp } from '../services/ssh-support.js';
import { needs, PYTHON } from '../support/tools.js';

const skip = needs('ssh', 'ssh-keygen', 'scp', 'sftp', 'curl', 'python3');
const WRITER_PW = 'Writer-pass1';
const KEEPER_PW = 'Keeper-pass1';

describe('files holding a private key need the sensitive policy on every front end', { skip }, () => {
  let s: SshApp;
  let ftpPort: number;
  let work: string;
  /** Key files, each of another kind; `plain.txt` is no key. */
  let keys: string[];
  before(async () => {
    s = await startSshApp();
    ftpPort = await freePort();
    await s.run('/ip/service', 'set', { numbers: 'ftp', port: String(ftpPort), disabled: 'no' });
    await s.services.reconcile();
    work = tempDir('rospki-keyfiles-');
    await s.run('/user/group', 'add', { name: 'filer', policy: 'ssh,ftp,read,write,web' });
    await s.run('/user', 'add', { name: 'writer', group: 'filer', password: WRITER_PW });
    await s.run('/user/group', 'add', { name: 'keeper', policy: 'ssh,ftp,read,write,web,sensitive' });
    await s.run('/user', 'add', { name: 'keeper', group: 'keeper', password: KEEPER_PW });
    await s.run('/certificate', 'add', { name: 'ca', 'common-name': 'ca', 'key-size': 'prime256v1', 'key-usage': 'key-cert-sign,crl-sign' });
    await s.run('/certificate', 'sign', { number: 'ca' });
    await s.run('/certificate', 'export-certificate', { numbers: 'ca', 'export-passphrase': 'exp-secret-1', 'file-name': 'ca-pem' });
    await s.run('/certificate', 'export-certificate', { numbers: 'ca', type: 'pkcs12', 'export-passphrase': 'exp-secret-2', 'file-name': 'ca-p12' });
    const files = s.app.dataDir.filesDir;
    // What an admin may have uploaded: an unencrypted PEM key with text around it, a DER key.
    const pem = execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']).toString();
    fs.writeFileSync(path.join(files, 'notes.txt'), `server key:\n${pem}\nkeep it safe\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(files, 'raw.der'), execFileSync('openssl', ['pkey', '-outform', 'DER'], { input: pem }), { mode: 0o600 });
    fs.writeFileSync(path.join(files, 'plain.txt'), 'nothing secret\n', { mode: 0o600 });
    keys = ['ca-pem.key', 'ca-p12.p12', 'notes.txt', 'raw.der'];
    for (const k of [...keys, 'ca-pem.crt']) assert.ok(fs.existsSync(path.join(files, k)), `${k} written`);
  });
  after(async () => {
    await s?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  const local = (name: string) => path.join(work, name);
  const original = (name: string) => fs.readFileSync(path.join(s.app.dataDir.filesDir, name));
  const ftpUrl = (name: string, user: string, pw: string) => `ftp://${user}:${pw}@127.0.0.1:${ftpPort}/${name}`;

  test('FTP (curl): a write user gets no key file, a sensitive user does; other files download', async () => {
    for (const name of keys) {
      fs.rmSync(local(name), { force: true });
      const r = await run('curl', ['-sS', '-m', '20', '-o', local(name), ftpUrl(name, 'writer', WRITER_PW)]);
      assert.notEqual(r.status, 0, `${name} refused`);
      assert.match(r.stderr, /550/, r.stderr);
      assert.ok(!fs.existsSync(local(name)) || fs.statSync(local(name)).size === 0, `nothing of ${name} arrived`);
      const ok = await run('curl', ['-sS', '-m', '20', '-o', local(name), ftpUrl(name, 'keeper', KEEPER_PW)]);
      assert.equal(ok.status, 0, ok.stderr);
      assert.deepEqual(fs.readFileSync(local(name)), original(name));
    }
    const plain = await run('curl', ['-sS', '-m', '20', ftpUrl('plain.txt', 'writer', WRITER_PW)]);
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(plain.stdout, 'nothing secret\n');
    const crt = await run('curl', ['-sS', '-m', '20', ftpUrl('ca-pem.crt', 'writer', WRITER_PW)]);
    assert.equal(crt.status, 0, crt.stderr);
    assert.match(crt.stdout, /BEGIN CERTIFICATE/);
  });

  test('FTP (ftplib): RETR of a key answers 550 with RouterOS wording, also after REST', async () => {
    const script = [
      'import ftplib, io, json',
      'f = ftplib.FTP(timeout=20)',
      `f.connect('127.0.0.1', ${ftpPort})`,
      `f.login('writer', ${JSON.stringify(WRITER_PW)})`,
      'out = {}',
      `for name in ${JSON.stringify(keys)}:`,
      '    for rest in (None, 10):',
      '        buf = io.BytesIO()',
      '        try:',
      '            f.retrbinary("RETR " + name, buf.write, rest=rest)',
      '            out[name + str(rest)] = "got %d bytes" % len(buf.getvalue())',
      '        except ftplib.error_perm as e:',
      '            out[name + str(rest)] = str(e)',
      'f.quit()',
      'print(json.dumps(out))',
    ].join('\n');
    const r = await run(PYTHON, ['-c', script], { timeoutMs: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, string>;
    assert.equal(Object.keys(out).length, keys.length * 2);
    for (const [k, v] of Object.entries(out)) assert.match(v, /^550 [\w.-]+: not enough permissions \(9\)$/, k);
  });

  test('SCP (legacy and over SFTP) and SFTP: a write user gets no key file', async () => {
    const remote = (user: string, name: string) => `${user}@127.0.0.1:${name}`;
    for (const name of keys) {
      for (const mode of [['-O'], []]) {
        fs.rmSync(local(name), { force: true });
        const r = await scp(s, [...mode, remote('writer', name), local(name)], passwordAuth(s, WRITER_PW));
        assert.notEqual(r.status, 0, `${mode.join('')} ${name} refused`);
        if (mode.length) assert.match(r.stderr, /not enough permissions/, r.stderr);
        assert.ok(!fs.existsSync(local(name)) || fs.statSync(local(name)).size === 0, `nothing of ${name} arrived`);
        const ok = await scp(s, [...mode, remote('keeper', name), local(name)], passwordAuth(s, KEEPER_PW));
        assert.equal(ok.status, 0, ok.stderr);
        assert.deepEqual(fs.readFileSync(local(name)), original(name));
      }
    }
    const auth = passwordAuth(s, WRITER_PW);
    // Commands on stdin without -b (batch mode would turn password logins off).
    const commands = `get ca-pem.key ${local('sftp.key')}\nget plain.txt ${local('sftp.txt')}\nbye\n`;
    const r = await run('sftp', [...auth.args, '-P', String(s.sshPort), 'writer@127.0.0.1'], { env: auth.env, input: commands, timeoutMs: 30_000 });
    assert.match(r.stderr, /Permission denied|not enough permissions/, r.stderr);
    assert.ok(!fs.existsSync(local('sftp.key')), 'no key arrived over SFTP');
    assert.equal(fs.readFileSync(local('sftp.txt'), 'utf8'), 'nothing secret\n');
  });

  test('the web page: the download link of a key file answers 403 to a write user', async () => {
    const base = `http://127.0.0.1:${s.ports.www}`;
    const fetchAs = async (user: string, pw: string, name: string) => {
      const jar = local(`jar-${user}`);
      fs.rmSync(jar, { force: true });
      const login = await run('curl', ['-sS', '-m', '20', '-c', jar, '-o', '/dev/null', '-w', '%{http_code}',
        '--data-urlencode', `user=${user}`, '--data-urlencode', `password=${pw}`, '-H', `origin: ${base}`, `${base}/webfig/.login`]);
      assert.equal(login.stdout, '303', `${user} logged in (${login.stderr})`);
      const r = await run('curl', ['-sS', '-m', '20', '-b', jar, '-o', local(`web-${name}`), '-w', '%{http_code}',
        `${base}/webfig/.download?name=${encodeURIComponent(name)}`]);
      return { status: r.stdout, body: fs.readFileSync(local(`web-${name}`)) };
    };
    for (const name of keys) {
      const refused = await fetchAs('writer', WRITER_PW, name);
      assert.equal(refused.status, '403', name);
      assert.match(refused.body.toString(), /not enough permissions/);
      const ok = await fetchAs('keeper', KEEPER_PW, name);
      assert.equal(ok.status, '200', name);
      assert.deepEqual(ok.body, original(name));
    }
    const plain = await fetchAs('writer', WRITER_PW, 'plain.txt');
    assert.equal(plain.status, '200');
    assert.equal(plain.body.toString(), 'nothing secret\n');
  });

  test('/file read of a key file (PEM, DER, PKCS#12) needs sensitive', async () => {
    const auth = passwordAuth(s, WRITER_PW);
    for (const name of keys) {
      const r = await run('ssh', [...auth.args, '-p', String(s.sshPort), 'writer@127.0.0.1', `/file read file=${name} chunk-size=4096`], { env: auth.env, input: '', timeoutMs: 30_000 });
      assert.match(r.stdout + r.stderr, /not enough permissions/, name);
      assert.doesNotMatch(r.stdout, /data:/, name);
    }
    const plain = await run('ssh', [...auth.args, '-p', String(s.sshPort), 'writer@127.0.0.1', '/file read file=plain.txt chunk-size=4096'], { env: auth.env, input: '', timeoutMs: 30_000 });
    assert.match(plain.stdout, /data: nothing secret/);
  });

  test('SCP checks the user\'s rights at every file: a user who loses ftp mid-transfer gets no more', async () => {
    fs.writeFileSync(path.join(s.app.dataDir.filesDir, 'plain2.txt'), 'second\n', { mode: 0o600 });
    // Legacy SCP by hand (paramiko): the first file, then the test takes `ftp` away, then the ack
    // that asks for the second.
    const script = [
      'import paramiko, sys',
      `t = paramiko.Transport(('127.0.0.1', ${s.sshPort}))`,
      `t.connect(username='writer', password=${JSON.stringify(WRITER_PW)})`,
      'ch = t.open_session()',
      'ch.settimeout(20)',
      "ch.exec_command('scp -f plain.txt plain2.txt')",
      "ch.sendall(b'\\0')",
      'def readline():',
      "    out = b''",
      "    while not out.endswith(b'\\n'):",
      '        out += ch.recv(1)',
      '    return out',
      'head = readline()',
      'size = int(head.split()[1])',
      "ch.sendall(b'\\0')",
      "data = b''",
      'while len(data) < size + 1:',
      '    data += ch.recv(size + 1 - len(data))',
      "print('first', data[:size].decode().strip(), flush=True)",
      'sys.stdin.readline()',
      "ch.sendall(b'\\0')",
      "rest = b''",
      'while True:',
      '    d = ch.recv(4096)',
      '    if not d: break',
      '    rest += d',
      "    if b'\\n' in rest: break",
      'print(repr(rest), flush=True)',
      't.close()',
    ].join('\n');
    const { spawn } = await import('node:child_process');
    const child = spawn('/usr/bin/python3', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      const until = Date.now() + 30_000;
      while (!out.includes('first')) {
        assert.ok(Date.now() < until && child.exitCode === null, `the first file came (${err})`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(out, /first nothing secret/);
      await s.run('/user/group', 'set', { numbers: 'filer', policy: 'ssh,read,write,web' });
      child.stdin.write('go\n');
      assert.equal(await exited, 0, err);
      assert.match(out, /scp: plain2\.txt: not enough permissions/);
      assert.doesNotMatch(out, /second/);
    } finally {
      child.kill();
      await s.run('/user/group', 'set', { numbers: 'filer', policy: 'ssh,ftp,read,write,web' });
    }
  });

  test('/import of a key file needs sensitive (its lines would show in the errors)', async () => {
    const auth = passwordAuth(s, WRITER_PW);
    const r = await run('ssh', [...auth.args, '-p', String(s.sshPort), 'writer@127.0.0.1', '/import file-name=notes.txt'], { env: auth.env, input: '', timeoutMs: 30_000 });
    assert.match(r.stdout + r.stderr, /not enough permissions/);
    assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY|server key/);
    const asAdmin = await run('ssh', [...passwordAuth(s, PASSWORD).args, '-p', String(s.sshPort), 'admin@127.0.0.1', '/import file-name=plain.txt'],
      { env: passwordAuth(s, PASSWORD).env, input: '', timeoutMs: 30_000 });
    assert.doesNotMatch(asAdmin.stdout, /not enough permissions/);
  });
});
