// The ssh service against real clients: OpenSSH scp (SFTP mode and legacy -O), sftp, the
// acme.sh RouterOS deploy flow end to end (judged by openssl s_client), the interactive console
// on a PTY (paramiko), ansible's community.routeros.command over network_cli, and the commands
// Oxidized's routeros model runs over SSH exec (C18 of clients.md).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { makeChain, run } from '../services/support.js';
import { importAdminKey, keyAuth, scp, sftpBatch, ssh, startSshApp, type SshApp } from '../services/ssh-support.js';
import { openssl } from '../support/app.js';
import { needs } from '../support/tools.js';

const skip = needs('ssh', 'scp', 'sftp', 'ssh-keygen');

let s: SshApp;
let work: string;
before(async () => {
  if (skip) return;
  s = await startSshApp({ enableWwwSsl: true });
  await importAdminKey(s);
  work = path.join(s.home, 'work');
  fs.mkdirSync(work);
});
after(async () => { await s?.stop(); });

const storeFile = (name: string) => path.join(s.app.dataDir.filesDir, name);
const local = (name: string) => path.join(work, name);
const remote = (p = '') => `admin@127.0.0.1:${p}`;

test('scp (SFTP mode and legacy -O): upload, overwrite with a shorter file, download, glob', { skip }, async () => {
  fs.writeFileSync(local('a.txt'), 'first version, long\n');
  fs.writeFileSync(local('b.pem'), 'bee\n');
  let r = await scp(s, [local('a.txt'), local('b.pem'), remote()]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.readFileSync(storeFile('a.txt'), 'utf8'), 'first version, long\n');
  for (const mode of [[], ['-O']]) {
    fs.writeFileSync(local('a.txt'), `short ${mode.join('')}\n`);
    r = await scp(s, [...mode, local('a.txt'), remote('/')]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(storeFile('a.txt'), 'utf8'), `short ${mode.join('')}\n`, 'overwritten, not merged');
    r = await scp(s, [...mode, local('b.pem'), remote(`renamed${mode.join('')}.pem`)]);
    assert.equal(r.status, 0, r.stderr);
    const into = local(`dl${mode.join('')}`);
    fs.mkdirSync(into);
    r = await scp(s, [...mode, remote('*.pem'), into]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(into).sort(), mode.length ? ['b.pem', 'renamed-O.pem', 'renamed.pem'] : ['b.pem', 'renamed.pem']);
    r = await scp(s, [...mode, remote('a.txt'), local('a.copy')]);
    assert.equal(fs.readFileSync(local('a.copy'), 'utf8'), `short ${mode.join('')}\n`);
  }
  // Recursive legacy copy into a folder of the store.
  fs.mkdirSync(local('tree/sub'), { recursive: true });
  fs.writeFileSync(local('tree/sub/x.crt'), 'x\n');
  r = await scp(s, ['-O', '-r', local('tree'), remote()]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.readFileSync(storeFile('tree/sub/x.crt'), 'utf8'), 'x\n');
  const files = await ssh(s, ':put [/file get a.txt size]; :put [/file get tree/sub/x.crt type]');
  assert.equal(files.stdout, '9\n.crt file\n');
});

test('scp into a folder that does not exist (target ends in /) fails as against OpenSSH, and makes no file', { skip }, async () => {
  fs.writeFileSync(local('lost.txt'), 'lost\n');
  for (const mode of [[], ['-O']]) {
    for (const target of ['nodir/', 'nodir/sub/', 'nodir/.']) {
      const r = await scp(s, [...mode, local('lost.txt'), remote(target)]);
      assert.notEqual(r.status, 0, `${mode.join('')} ${target}: ${r.stderr}`);
      assert.match(r.stderr, /nodir/, `${mode.join('')} ${target}`);
      assert.match(r.stderr, /no such file|not a directory|does not exist/i, `${mode.join('')} ${target}: ${r.stderr}`);
      assert.equal(fs.existsSync(storeFile('nodir')), false, `${mode.join('')} ${target}: no file nodir`);
    }
    // A file is no folder either; an existing folder still takes the file under its own name.
    assert.notEqual((await scp(s, [...mode, local('lost.txt'), remote('a.txt/')])).status, 0);
    fs.mkdirSync(storeFile('isdir'), { recursive: true });
    const r = await scp(s, [...mode, local('lost.txt'), remote('isdir/')]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(storeFile('isdir/lost.txt'), 'utf8'), 'lost\n');
  }
});

test('nothing outside the store: .. paths are refused (and logged) by scp, scp -O and sftp', { skip }, async () => {
  for (const mode of [[], ['-O']]) {
    const down = await scp(s, [...mode, remote('../../etc/passwd'), local('passwd')]);
    assert.notEqual(down.status, 0);
    assert.ok(!fs.existsSync(local('passwd')));
    const up = await scp(s, [...mode, local('b.pem'), remote('../escaped.pem')]);
    assert.notEqual(up.status, 0);
  }
  assert.ok(!fs.existsSync(path.join(s.dir, 'escaped.pem')));
  assert.ok(!fs.existsSync(path.join(s.dir, '..', 'escaped.pem')));
  const r = await sftpBatch(s, 'get ../secret.key\n');
  assert.notEqual(r.status, 0);
  const log = await s.app.store.read((tx) => tx.list('/log').map((l) => String(l.data.message)));
  assert.ok(log.some((m) => m.startsWith('file access refused for admin (ssh): invalid file name "../')));
});

test('sftp: ls, put, get, rename, mkdir, rm, rmdir', { skip }, async () => {
  fs.writeFileSync(local('s.txt'), 'via sftp\n');
  const r = await sftpBatch(s, [
    `put ${local('s.txt')}`, 'mkdir certs', `put ${local('s.txt')} certs/in-dir.txt`, 'rename s.txt moved.txt',
    'ls -1', `get moved.txt ${local('got.txt')}`, 'rm certs/in-dir.txt', 'rmdir certs', 'ls -1',
  ].join('\n') + '\n');
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.equal(fs.readFileSync(local('got.txt'), 'utf8'), 'via sftp\n');
  assert.match(r.stdout, /moved\.txt/);
  assert.ok(!fs.existsSync(storeFile('certs')));
  assert.equal(fs.readFileSync(storeFile('moved.txt'), 'utf8'), 'via sftp\n');
});

test('acme.sh RouterOS deploy flow: scp cert + key, script removes the old one, imports, rebinds www-ssl', { skip }, async () => {
  await makeChain(s);
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv' });
  await s.services.reconcile();
  const served = async () => {
    const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${s.ports['www-ssl']}`, '-servername', 'router.test'], { input: '', timeoutMs: 20_000 });
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
    return pem ? new X509Certificate(pem).fingerprint256 : undefined;
  };
  const srvFingerprint = String((await s.run('/certificate', 'get', { number: 'srv', 'value-name': 'fingerprint' })).ret);
  assert.equal((await served())?.replace(/:/g, '').toLowerCase(), srvFingerprint, 'www-ssl serves srv');

  // What the CA (Let's Encrypt) gave acme.sh: a key and a certificate for router.test.
  const domain = 'router.test';
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', local(`${domain}.key`),
    '-out', local(`${domain}.cer`), '-days', '30', '-subj', `/CN=${domain}`, '-addext', `subjectAltName=DNS:${domain}`]);
  const want = new X509Certificate(fs.readFileSync(local(`${domain}.cer`))).fingerprint256;

  // deploy/routeros.sh: scp both files, then add, run and remove a script.
  let r = await scp(s, [local(`${domain}.cer`), local(`${domain}.key`), remote()], keyAuth(s));
  assert.equal(r.status, 0, r.stderr);
  const deploy = `/system script add name="LECertDeploy-${domain}" owner=admin comment="generated by routeros deploy script in acme.sh" source="/certificate remove [ find name=${domain}.cer_0 ];\\n/certificate remove [ find name=${domain}.cer_1 ];\\n/certificate remove [ find name=srv ];\\ndelay 1;\\n/certificate import file-name=${domain}.cer passphrase=\\"\\";\\n/certificate import file-name=${domain}.key passphrase=\\"\\";\\n:do {/file remove ${domain}.cer; } on-error={ }\\n:do {/file remove ${domain}.key; } on-error={ }\\n/ip service set www-ssl certificate=${domain}.cer_0;\\n"`;
  r = await ssh(s, deploy, keyAuth(s));
  assert.equal(r.status, 0, r.stdout);
  r = await ssh(s, `/system script run "LECertDeploy-${domain}"`, keyAuth(s));
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /certificates-imported: 1/);
  r = await ssh(s, `/system script remove "LECertDeploy-${domain}"`, keyAuth(s));
  assert.equal(r.status, 0, r.stdout);

  const check = await ssh(s, '/certificate print terse proplist=name; :put [/ip service get www-ssl certificate]', keyAuth(s));
  assert.match(check.stdout, /name=router\.test\.cer_0/);
  assert.doesNotMatch(check.stdout, /name=srv\b/);
  assert.match(check.stdout, /router\.test\.cer_0\n$/);
  await s.services.reconcile();
  assert.equal(await served(), want, 'the new certificate is served');
  assert.ok(!fs.existsSync(storeFile(`${domain}.key`)), 'the key file was removed by the script');
});

test('Oxidized\'s routeros model over SSH exec: its three prints and /export show-sensitive exit 0; the export is the same twice but for its date', { skip }, async () => {
  await s.run('/system/identity', 'set', { name: 'oxidized-target' });
  await s.run('/ppp/secret', 'add', { name: 'vpn-user', password: 'kept-s3cret' });
  const exec = async (command: string) => {
    const r = await ssh(s, command, keyAuth(s));
    assert.equal(r.status, 0, `${command}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  assert.match(await exec('/system routerboard print without-paging'), /routerboard: no/);
  // The model reads the major version from this line (`@ros_version >= 7` picks show-sensitive).
  assert.match(await exec('/system package update print without-paging'), /installed-version: 7\.\d+\.\d+/);
  await exec('/system history print without-paging');
  const first = await exec('/export show-sensitive');
  assert.match(first, /^# \d{4}-\d\d-\d\d \d\d:\d\d:\d\d by RouterOS 7\./);
  assert.match(first, /\n\/system identity\nset name=oxidized-target\n/);
  assert.match(first, /password=kept-s3cret/, 'show-sensitive writes the secret for a user with the sensitive policy');
  assert.doesNotMatch(first, /BEGIN|PRIVATE KEY/);
  const second = await exec('/export show-sensitive');
  const body = (text: string) => text.slice(text.indexOf('\n') + 1);
  assert.equal(body(second), body(first));
  assert.doesNotMatch(await exec('/export hide-sensitive'), /kept-s3cret/);
  // Its pre_logout: `quit` over SSH exec, a RouterOS command (`quit -- Quit console`), not a bad command name.
  assert.equal(await exec('quit'), '');
  // The tests after this one see the identity a fresh router has.
  await s.run('/system/identity', 'set', { name: 'MikroTik' });
});

test('a script piped into a shell without a PTY ends at /quit: what comes before runs, the rest does not, exit 0', { skip }, async () => {
  const r = await ssh(s, '', keyAuth(s), 'admin', ['-T'], ':put one\n/system identity print\n/quit\n:put after\n');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, 'one\n  name: MikroTik\n');
});

const PTY_CLIENT = String.raw`
import paramiko, sys, time, re
c = paramiko.SSHClient(); c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect('127.0.0.1', port=int(sys.argv[1]), username='admin', password=sys.argv[2], look_for_keys=False, allow_agent=False)
ch = c.invoke_shell(term='xterm', width=100, height=30)
ansi = re.compile(rb'\x1b\[[0-9;?]*[A-Za-z]')
def until(pat, t=30):
    buf = b''; end = time.time() + t
    while time.time() < end:
        if ch.recv_ready():
            buf += ch.recv(65536)
            if re.search(pat, ansi.sub(b'', buf)): return ansi.sub(b'', buf).decode()
        else: time.sleep(0.01)
    raise Exception('timeout waiting for %r, got %r' % (pat, buf))
out = {}
out['prompt'] = until(rb'\] > $')
ch.send(b'/system identity print\r'); out['print'] = until(rb'\] > $')
ch.send(b'/certi\t'); out['complete'] = until(rb'certificate/')
ch.send(b'\x03'); until(rb'\] > $')
ch.send(b'/ip ?'); out['help'] = until(rb'service')
ch.send(b'\x03'); until(rb'\] > $')
ch.resize_pty(width=30, height=20)  # the server applies it before the line typed after it (one channel, in order)
ch.send(b'/ip service print\r'); out['narrow'] = until(rb'api-ssl[\s\S]*\] > $')
ch.send(b'\x1b[A'); out['history'] = until(rb'print$')
ch.send(b'\x03'); until(rb'\] > $')
ch.send(b'/quit\r'); out['exit'] = ch.recv_exit_status()
import json; print(json.dumps(out))
`;

test('interactive console on a PTY: prompt, CRLF output, completion, ?, Ctrl-C, history, window size, /quit', { skip: skip || needs('paramiko') }, async () => {
  const r = await run('/usr/bin/python3', ['-c', PTY_CLIENT, String(s.sshPort), 'secret'], { timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, string | number>;
  assert.match(String(out.prompt), /\[admin@MikroTik\] > $/);
  assert.match(String(out.print), /\/system identity print\r\n {2}name: MikroTik\r\n/);
  assert.match(String(out.complete), /\/certificate\/$/);
  assert.match(String(out.help), /service -- IP services\r\nssh -- SSH server settings/);
  // At 30 columns the table's wide headers are cut (spec §3.6 rule 5).
  // LOCAL and REMOTE once this session's connection row is there (written within 100 ms).
  assert.match(String(out.narrow), /Columns: NAME, PORT, PROTO, CERTIFICATE, VRF, MAX-SESSIONS(, LOCAL, REMOTE)?\r\n/);
  assert.doesNotMatch(String(out.narrow), /CERTIFICATE {2}VRF/);
  assert.match(String(out.history), /\/ip service print$/);
  assert.equal(out.exit, 0);
});

// Questions over a PTY: the console asks on the terminal, as RouterOS does over SSH.
const PTY_QUESTIONS = String.raw`
import paramiko, re, sys, time, json
c = paramiko.SSHClient(); c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect('127.0.0.1', port=int(sys.argv[1]), username='admin', password=sys.argv[2], look_for_keys=False, allow_agent=False)
ch = c.invoke_shell(term='xterm', width=100, height=30)
ansi = re.compile(rb'\x1b\[[0-9;?]*[A-Za-z]')
buf = b''
def until(pat, t=30):
    global buf
    end = time.time() + t
    while time.time() < end:
        if ch.recv_ready():
            buf += ch.recv(65536)
            if re.search(pat, ansi.sub(b'', buf)):
                text = ansi.sub(b'', buf).decode(); buf = b''; return text
        else: time.sleep(0.01)
    raise Exception('timeout waiting for %r, got %r' % (pat, buf))
out = {}
until(rb'\] > $')
ch.send(b'/certificate import file-name=asked.p12 name=asked\r'); out['asked'] = until(rb'passphrase: $')
ch.send(b'pty-secret-9\r'); out['imported'] = until(rb'\] > $')
ch.send(b'/file remove\r'); out['numbers'] = until(rb'numbers: $')
ch.send(b'gone.txt\r'); out['removed'] = until(rb'\] > $')
ch.send(b'/quit\r'); out['exit'] = ch.recv_exit_status()
print(json.dumps(out))
`;

test('a PTY console asks its questions on the terminal: import passphrase (masked), a missing numbers', { skip: skip || needs('paramiko', 'openssl') }, async () => {
  const key = local('asked.key');
  const cert = local('asked.crt');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=asked', '-days', '30']);
  openssl(['pkcs12', '-export', '-inkey', key, '-in', cert, '-out', storeFile('asked.p12'), '-passout', 'pass:pty-secret-9']);
  fs.writeFileSync(storeFile('gone.txt'), 'x');
  const r = await run('/usr/bin/python3', ['-c', PTY_QUESTIONS, String(s.sshPort), 'secret'], { timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, string | number>;
  assert.match(String(out.asked), /passphrase: $/);
  assert.match(String(out.imported), /certificates-imported: 1/);
  assert.match(String(out.imported), /private-keys-imported: 1/);
  assert.doesNotMatch(JSON.stringify(out), /pty-secret-9/, 'the passphrase is not echoed');
  assert.match(String(out.numbers), /numbers: $/);
  assert.equal(fs.existsSync(storeFile('gone.txt')), false, 'the file named at the question is removed');
  assert.equal(out.exit, 0);
  const row = await s.app.store.read((tx) => tx.findBy('/certificate', 'name', 'asked')[0]);
  assert.ok(row, 'the certificate was imported under its name');
});

test('ansible community.routeros.command runs /certificate print over network_cli (paramiko)', { skip: skip || needs('ansible-playbook', 'paramiko'), timeout: 240_000 }, async () => {
  const dir = path.join(s.home, 'ansible');
  fs.mkdirSync(dir, { recursive: true });
  const inventory = path.join(dir, 'inventory.ini');
  fs.writeFileSync(inventory, [
    '[routers]', `rospki ansible_host=127.0.0.1 ansible_port=${s.sshPort}`, '[routers:vars]',
    'ansible_connection=ansible.netcommon.network_cli', 'ansible_network_os=community.routeros.routeros',
    'ansible_user=admin', 'ansible_ssh_pass=secret', 'ansible_python_interpreter=/usr/bin/python3', '',
  ].join('\n'));
  const playbook = path.join(dir, 'play.yml');
  fs.writeFileSync(playbook, [
    '- hosts: routers', '  gather_facts: false', '  tasks:',
    '    - community.routeros.command:', '        commands:', '          - /certificate print', '          - /system resource print',
    '      register: out', '    - debug: { var: out.stdout_lines }', '',
  ].join('\n'));
  const env = {
    ANSIBLE_LOCAL_TEMP: path.join(dir, 'tmp'), ANSIBLE_HOME: path.join(dir, 'home'), ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: '0',
    ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_PARAMIKO_HOST_KEY_CHECKING: 'False', ANSIBLE_PERSISTENT_CONTROL_PATH_DIR: path.join(dir, 'pc'),
  };
  const r = await run('ansible-playbook', ['-i', inventory, playbook], { env, timeoutMs: 180_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /router\.test\.cer_0|root/, 'the certificate list came back');
  assert.match(r.stdout, /version: 7\.\d+\.\d+ \(stable\)/);
});
