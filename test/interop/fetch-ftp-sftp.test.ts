// /tool fetch mode=ftp|sftp against real peers on 127.0.0.1: a second appliance serving SFTP
// (its ssh service) and FTP (its ftp service). Downloads and uploads both ways, byte-equal as the
// peer's own store holds them; a wrong password fails in RouterOS's form and writes nothing; a
// secret file goes up only with `sensitive`.
//
// Each is also tested against a third-party server started here: FTP against Python's pyftpdlib
// (Debian python3-pyftpdlib), SFTP against paramiko's SSH transport and SFTP server (Debian
// python3-paramiko; a small file interface over a temporary folder). Not OpenSSH's sshd: fetch
// logs in with a password, and sshd checks passwords against the host's system accounts
// (/etc/shadow, PAM), so a test would have to add a user to the machine it runs on.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { RosArray } from '../../src/menu/values.js';
import { openTestApp, type TestApp } from '../support/app.js';
import { freePort, PASSWORD } from '../services/support.js';
import { startSshApp, type SshApp } from '../services/ssh-support.js';
import { spawn } from 'node:child_process';
import { tempDir } from '../support/app.js';
import { needs, PYTHON } from '../support/tools.js';

describe('/tool fetch over ftp and sftp', () => {
  let peer: SshApp;
  let ftpPort: number;
  let t: TestApp;
  const blob = crypto.randomBytes(200 * 1024 + 17);
  const peerFile = (name: string) => path.join(peer.app.dataDir.filesDir, name);
  const localFile = (name: string) => path.join(t.app.dataDir.filesDir, name);
  const fetch = (args: Record<string, string>) => t.run('/tool', 'fetch', args);

  before(async () => {
    peer = await startSshApp();
    ftpPort = await freePort();
    await peer.run('/ip/service', 'set', { numbers: 'ftp', port: String(ftpPort), disabled: 'no' });
    await peer.services.reconcile();
    fs.mkdirSync(peer.app.dataDir.filesDir, { recursive: true });
    fs.writeFileSync(peerFile('blob.bin'), blob, { mode: 0o600 });
    t = await openTestApp();
  });
  after(async () => { t?.close(); await peer?.stop(); });

  for (const scheme of ['sftp', 'ftp'] as const) {
    const port = () => (scheme === 'sftp' ? peer.sshPort : ftpPort);
    const url = (p: string) => `${scheme}://127.0.0.1:${port()}/${p}`;

    test(`${scheme}: download into /file, byte-equal, with the status of http`, async () => {
      const r = await fetch({ url: url('blob.bin'), user: 'admin', password: PASSWORD, 'dst-path': `${scheme}-down.bin` });
      assert.deepEqual(r.block?.slice(0, 3), [['status', 'finished'], ['downloaded', '200KiB'], ['total', '200KiB']]);
      assert.ok(fs.readFileSync(localFile(`${scheme}-down.bin`)).equals(blob));
      // Credentials in the URL, output=user, as-value.
      fs.writeFileSync(peerFile('hello.txt'), 'hello over ' + scheme, { mode: 0o600 });
      const v = await fetch({ url: `${scheme}://admin:${PASSWORD}@127.0.0.1:${port()}/hello.txt`, output: 'user', 'as-value': '' });
      assert.equal((v.ret as RosArray).get('data'), `hello over ${scheme}`);
      assert.equal((v.ret as RosArray).get('status'), 'finished');
      // The v6 form: mode= address= port= src-path=.
      await fetch({ mode: scheme, address: '127.0.0.1', port: String(port()), user: 'admin', password: PASSWORD, 'src-path': 'hello.txt', 'dst-path': `${scheme}-v6.txt` });
      assert.equal(fs.readFileSync(localFile(`${scheme}-v6.txt`), 'utf8'), `hello over ${scheme}`);
    });

    test(`${scheme}: upload=yes sends a /file, byte-equal on the peer`, async () => {
      fs.mkdirSync(t.app.dataDir.filesDir, { recursive: true });
      fs.writeFileSync(localFile('up.bin'), blob, { mode: 0o600 });
      const r = await fetch({ url: url(`${scheme}-up.bin`), user: 'admin', password: PASSWORD, 'src-path': 'up.bin', upload: 'yes' });
      assert.deepEqual(r.block?.slice(0, 2), [['status', 'finished'], ['uploaded', '200KiB']]);
      assert.ok(fs.readFileSync(peerFile(`${scheme}-up.bin`)).equals(blob));
      // The peer itself lists it with its size.
      const size = (await peer.run('/file', 'get', { number: `${scheme}-up.bin`, 'value-name': 'size' })).ret;
      assert.equal(Number(size), blob.length);
    });

    test(`${scheme}: a wrong password fails in RouterOS's form and writes nothing`, async () => {
      await assert.rejects(fetch({ url: url('blob.bin'), user: 'admin', password: 'wrong', 'dst-path': `${scheme}-bad.bin` }),
        (e: Error) => /^closing connection: <.*> 127\.0\.0\.1:\d+ \(\d+\)$/.test(e.message) && !e.message.includes('wrong'));
      assert.equal(fs.existsSync(localFile(`${scheme}-bad.bin`)), false);
      fs.writeFileSync(localFile('up2.bin'), 'x', { mode: 0o600 });
      await assert.rejects(fetch({ url: url(`${scheme}-bad-up.bin`), user: 'admin', password: 'wrong', 'src-path': 'up2.bin', upload: 'yes' }), /closing connection/);
      assert.equal(fs.existsSync(peerFile(`${scheme}-bad-up.bin`)), false);
      // A missing remote file: a failure, nothing written.
      await assert.rejects(fetch({ url: url('nothing-here'), user: 'admin', password: PASSWORD, 'dst-path': `${scheme}-none` }), /closing connection/);
      assert.equal(fs.existsSync(localFile(`${scheme}-none`)), false);
    });
    test(`${scheme}: src-address= is the local address of the connections; one not of this host fails to connect`, async () => {
      await fetch({ url: url('blob.bin'), user: 'admin', password: PASSWORD, 'src-address': '127.0.0.2', 'dst-path': `${scheme}-src.bin` });
      assert.ok(fs.readFileSync(localFile(`${scheme}-src.bin`)).equals(blob), 'the data connection too (FTP)');
      const log = await peer.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
      assert.ok(log.includes(`user admin logged in from 127.0.0.2 via ${scheme === 'ftp' ? 'ftp' : 'ssh'}`), log.join('\n'));
      await assert.rejects(fetch({ url: url('blob.bin'), user: 'admin', password: PASSWORD, 'src-address': '192.0.2.1', 'dst-path': `${scheme}-nosrc.bin` }),
        /closing connection: <connection failed> 127\.0\.0\.1:\d+ \(140\)/);
      assert.equal(fs.existsSync(localFile(`${scheme}-nosrc.bin`)), false);
    });

    test(`${scheme}: ip-type= chooses the family of localhost's address (the peer listens on 127.0.0.1 only)`, async () => {
      const at = `${scheme}://localhost:${port()}/blob.bin`;
      await fetch({ url: at, user: 'admin', password: PASSWORD, 'ip-type': 'ipv4', 'dst-path': `${scheme}-v4.bin` });
      assert.ok(fs.readFileSync(localFile(`${scheme}-v4.bin`)).equals(blob));
      // No IPv6 address for localhost here, or ::1 where nothing listens: either way no connection.
      await assert.rejects(fetch({ url: at, user: 'admin', password: PASSWORD, 'ip-type': 'ipv6', 'dst-path': `${scheme}-v6.bin` }),
        new RegExp(`closing connection: <connection failed> localhost:${port()} \\(140\\)`));
      assert.equal(fs.existsSync(localFile(`${scheme}-v6.bin`)), false);
    });
  }

  test('a refused port fails as for http; tftp stays unsupported', async () => {
    const closed = await freePort();
    await assert.rejects(fetch({ url: `sftp://127.0.0.1:${closed}/x`, user: 'a', password: 'b' }), /closing connection: <connection failed> 127\.0\.0\.1:\d+ \(140\)/);
    await assert.rejects(fetch({ url: `ftp://127.0.0.1:${closed}/x`, user: 'a', password: 'b' }), /closing connection: <connection failed> 127\.0\.0\.1:\d+ \(140\)/);
    await assert.rejects(fetch({ url: 'tftp://127.0.0.1/x' }), /tftp mode is not supported/);
    await assert.rejects(fetch({ url: 'http://127.0.0.1/x', upload: 'yes', 'src-path': 'up.bin' }), /only \[s\]ftp modes support upload/);
  });

  test('a silent server ends in `connection timeout` after idle-timeout; a line break never reaches the FTP server', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const p = (silent.address() as net.AddressInfo).port;
    try {
      for (const scheme of ['ftp', 'sftp']) {
        const started = Date.now();
        await assert.rejects(fetch({ url: `${scheme}://127.0.0.1:${p}/x`, user: 'a', password: 'b', 'idle-timeout': '1s', 'dst-path': 'silent' }), /^Error: connection timeout$|connection timeout/);
        assert.ok(Date.now() - started < 8000, `${scheme} waited ${Date.now() - started} ms`);
      }
    } finally {
      silent.close();
    }
    // A password with a line break would be a second command (`DELE …`): refused before sending.
    await assert.rejects(fetch({ url: `ftp://127.0.0.1:${ftpPort}/blob.bin`, user: 'admin', password: `${PASSWORD}\r\nDELE blob.bin`, 'dst-path': 'inj' }), /line breaks are not allowed/);
    assert.ok(fs.existsSync(peerFile('blob.bin')));
  });

  test('a console shows the progress states and the finished block', async () => {
    let out = '';
    const cs = await ConsoleSession.open(t.app, { user: 'admin', output: (text) => { out += text; } });
    const r = await cs.run(`/tool/fetch url="sftp://127.0.0.1:${peer.sshPort}/blob.bin" user=admin password=${PASSWORD} dst-path=console.bin`);
    assert.ok(r.ok, out);
    assert.match(out, /status: finished/);
    assert.match(out, /downloaded: 200KiB/);
    assert.doesNotMatch(out, new RegExp(PASSWORD));
  });

  test('uploading a secret file (a show-sensitive export) needs the sensitive policy', async () => {
    await t.run('/user/group', 'add', { name: 'nosens', policy: 'read,write,test' });
    await t.run('/user', 'add', { name: 'op', group: 'nosens', password: 'op-pass' });
    fs.writeFileSync(localFile('secret.rsc'), '/ppp secret\nadd name=u password=hunter2\n', { mode: 0o600 });
    let out = '';
    const cs = await ConsoleSession.open(t.app, { user: 'op', output: (text) => { out += text; } });
    const r = await cs.run(`/tool/fetch upload=yes url="sftp://127.0.0.1:${peer.sshPort}/leak.rsc" user=admin password=${PASSWORD} src-path=secret.rsc`);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : String(r.error), /not enough permissions/);
    assert.equal(fs.existsSync(peerFile('leak.rsc')), false);
    // A plain file goes up for the same user.
    out = '';
    const ok = await cs.run(`/tool/fetch upload=yes url="sftp://127.0.0.1:${peer.sshPort}/plain.bin" user=admin password=${PASSWORD} src-path=up.bin`);
    assert.ok(ok.ok, out);
    assert.ok(fs.readFileSync(peerFile('plain.bin')).equals(blob));
  });
});

/** pyftpdlib on a free port of 127.0.0.1 serving `root` to user `up` (password `pw`). */
const PYFTPD = `
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer()
a.add_user('up', 'pw', sys.argv[1], perm='elradfmw')
h = FTPHandler
h.authorizer = a
h.passive_ports = None
s = FTPServer(('127.0.0.1', 0), h)
print(s.socket.getsockname()[1], flush=True)
s.serve_forever()
`;

/** paramiko's SFTP server (Debian python3-paramiko) on a free port of 127.0.0.1: user `up`, password `pw`, files in argv[1]. */
const PARAMIKO_SFTPD = `
import os, socket, sys, threading
import paramiko
from paramiko import SFTPServer, SFTPServerInterface, SFTPAttributes, SFTPHandle, SFTP_OK, ServerInterface, AUTH_SUCCESSFUL, AUTH_FAILED, OPEN_SUCCEEDED
ROOT = sys.argv[1]
KEY = paramiko.RSAKey.generate(2048)
def local(p):
    p = os.path.normpath('/' + p).lstrip('/')
    return os.path.join(ROOT, p)
class Server(ServerInterface):
    def check_auth_password(self, username, password):
        return AUTH_SUCCESSFUL if (username, password) == ('up', 'pw') else AUTH_FAILED
    def get_allowed_auths(self, username):
        return 'password'
    def check_channel_request(self, kind, chanid):
        return OPEN_SUCCEEDED
class Handle(SFTPHandle):
    def stat(self):
        return SFTPAttributes.from_stat(os.fstat(self.readfile.fileno() if hasattr(self, 'readfile') else self.writefile.fileno()))
class Files(SFTPServerInterface):
    def stat(self, path):
        try: return SFTPAttributes.from_stat(os.stat(local(path)))
        except OSError as e: return SFTPServer.convert_errno(e.errno)
    lstat = stat
    def open(self, path, flags, attr):
        try:
            mode = 'wb' if flags & (os.O_WRONLY | os.O_RDWR) else 'rb'
            f = open(local(path), mode)
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)
        h = Handle(flags)
        if mode == 'wb': h.writefile = f
        else: h.readfile = f
        return h
def serve(conn):
    t = paramiko.Transport(conn)
    t.add_server_key(KEY)
    t.set_subsystem_handler('sftp', SFTPServer, Files)
    t.start_server(server=Server())
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(5)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/** Starts a Python server given the folder it serves; resolves to the port it printed. */
async function startPython(script: string, root: string): Promise<{ port: number; stop(): void }> {
  const server = spawn(PYTHON, ['-c', script, root], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  server.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { server.kill(); reject(new Error(`the server did not start: ${stderr}`)); }, 30_000);
    server.stdout.once('data', (d: Buffer) => { clearTimeout(timer); resolve(Number(d.toString().trim())); });
    server.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the server exited ${code}: ${stderr}`)); });
  });
  return { port, stop: () => { server.kill(); } };
}

for (const [name, scheme, script, tool] of [
  ['pyftpdlib', 'ftp', PYFTPD, 'pyftpdlib'],
  ["paramiko's SFTP server", 'sftp', PARAMIKO_SFTPD, 'paramiko'],
] as const) {
  describe(`/tool fetch mode=${scheme} against ${name}`, { skip: needs(tool) }, () => {
    test('download and upload byte-equal, a wrong password refused, nothing written', async () => {
      const root = tempDir('rospki-peer-');
      const blob = crypto.randomBytes(100 * 1024 + 3);
      fs.writeFileSync(path.join(root, 'from-server.bin'), blob);
      const server = await startPython(script, root);
      const t = await openTestApp();
      try {
        const port = server.port;
        const fetch = (args: Record<string, string>) => t.run('/tool', 'fetch', args);
        await fetch({ url: `${scheme}://up:pw@127.0.0.1:${port}/from-server.bin`, 'dst-path': 'got.bin' });
        assert.ok(fs.readFileSync(path.join(t.app.dataDir.filesDir, 'got.bin')).equals(blob));
        // From another local address (pyftpdlib refuses a data connection from an address other than the control's).
        await fetch({ url: `${scheme}://up:pw@127.0.0.1:${port}/from-server.bin`, 'dst-path': 'src.bin', 'src-address': '127.0.0.2' });
        assert.ok(fs.readFileSync(path.join(t.app.dataDir.filesDir, 'src.bin')).equals(blob));
        await fetch({ mode: scheme, address: '127.0.0.1', port: String(port), user: 'up', password: 'pw', 'src-path': 'got.bin', 'dst-path': 'back.bin', upload: 'yes' });
        assert.ok(fs.readFileSync(path.join(root, 'back.bin')).equals(blob));
        await assert.rejects(fetch({ url: `${scheme}://127.0.0.1:${port}/from-server.bin`, user: 'up', password: 'nope', 'dst-path': 'bad.bin' }),
          (e: Error) => (scheme === 'ftp' ? /^closing connection: <530 .*> 127\.0\.0\.1:\d+ \(4\)$/ : /^closing connection: <authentication failed> 127\.0\.0\.1:\d+ \(4\)$/).test(e.message));
        assert.equal(fs.existsSync(path.join(t.app.dataDir.filesDir, 'bad.bin')), false);
      } finally {
        t.close();
        server.stop();
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  });
}

describe('/tool fetch mode=ftp ascii= against pyftpdlib', { skip: needs('pyftpdlib') }, () => {
  test('ascii=yes sends TYPE A: CRLF on the wire, LF here, both ways; ascii=no (binary) keeps the bytes', async () => {
    const root = tempDir('rospki-peer-');
    // Mixed line ends: pyftpdlib (POSIX) sends a lone LF as CRLF in ASCII mode and keeps CRLF.
    fs.writeFileSync(path.join(root, 'text.txt'), 'one\r\ntwo\nthree\n');
    const server = await startPython(PYFTPD, root);
    const t = await openTestApp();
    try {
      const url = (p: string) => `ftp://up:pw@127.0.0.1:${server.port}/${p}`;
      const local = (name: string) => fs.readFileSync(path.join(t.app.dataDir.filesDir, name), 'latin1');
      await t.run('/tool', 'fetch', { url: url('text.txt'), 'dst-path': 'a.txt', ascii: 'yes' });
      assert.equal(local('a.txt'), 'one\ntwo\nthree\n');
      await t.run('/tool', 'fetch', { url: url('text.txt'), 'dst-path': 'i.txt', ascii: 'no' });
      assert.equal(local('i.txt'), 'one\r\ntwo\nthree\n');
      // Up: a CRLF file goes as CRLF lines, and pyftpdlib stores them in its own (LF) form in
      // ASCII mode; in binary mode it stores the bytes.
      await t.run('/tool', 'fetch', { url: url('up-a.txt'), 'src-path': 'i.txt', upload: 'yes', ascii: 'yes' });
      assert.equal(fs.readFileSync(path.join(root, 'up-a.txt'), 'latin1'), 'one\ntwo\nthree\n');
      await t.run('/tool', 'fetch', { url: url('up-i.txt'), 'src-path': 'i.txt', upload: 'yes' });
      assert.equal(fs.readFileSync(path.join(root, 'up-i.txt'), 'latin1'), 'one\r\ntwo\nthree\n');
    } finally {
      t.close();
      server.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
