// The ssh service with OpenSSH's client: host keys (made once, sealed, stable across restarts),
// /ip ssh, password and public-key logins with the ssh policy, failures delayed and logged,
// the exec channel's output and exit status, strong-crypto, /ip service live changes.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Appliance } from '../../src/appliance.js';
import { startServices } from '../../src/services/index.js';
import { SSH_PATH } from '../../src/menus/ip/ssh.js';
import { freePort, run } from './support.js';
import { importAdminKey, keyAuth, passwordAuth, ssh, startSshApp, waitUntil, type SshApp } from './ssh-support.js';
import { needs } from '../support/tools.js';

const skip = needs('ssh', 'ssh-keygen');
let s: SshApp;
before(async () => { if (!skip) s = await startSshApp(); });
after(async () => { await s?.stop(); });

/** The fingerprint OpenSSH sees (ssh-keyscan | ssh-keygen -l); async: the server runs in this process. */
async function scan(port: number, type: string): Promise<string | undefined> {
  const keys = await run('ssh-keyscan', ['-p', String(port), '-t', type, '127.0.0.1']);
  return execFileSync('ssh-keygen', ['-l', '-f', '-'], { input: keys.stdout, encoding: 'utf8' }).split(' ')[1];
}

const logs = () => s.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));

test('exec: prints what the console prints, exit 0; the first error exits 1 after earlier output', { skip }, async () => {
  const ok = await ssh(s, '/system identity print; :put "two"');
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, '  name: MikroTik\ntwo\n');
  const bad = await ssh(s, ':put first; /certificate remove nosuch; :put never');
  assert.equal(bad.status, 1);
  assert.equal(bad.stdout, 'first\nno such item\n');
  const syntax = await ssh(s, ':put first; /bogus');
  assert.equal(syntax.status, 1);
  assert.equal(syntax.stdout, 'bad command name bogus (line 1 column 14)\n', 'checked before anything runs');
  // Without a command and without a TTY, standard input is the script (cron-style).
  const piped = await ssh(s, '', undefined, 'admin', ['-T'], '/system identity set name=piped\n:put [/system identity get name]\n');
  assert.equal(piped.stdout, 'piped\n');
  assert.equal(piped.status, 0);
  await s.run('/system/identity', 'set', { name: 'MikroTik' });
  // A forced TTY turns line ends into CRLF, as a terminal does.
  const tty = await ssh(s, ':put tty', undefined, 'admin', ['-tt']);
  assert.equal(tty.stdout, 'tty\r\n');
});

test('host keys: ed25519 and rsa, fingerprints in /ip ssh match what the client sees, stable across restarts', { skip }, async () => {
  const print = await ssh(s, '/ip ssh print');
  const ed = /ed25519-host-key-fingerprint: (SHA256:\S+)/.exec(print.stdout)?.[1];
  const rsa = /rsa-host-key-fingerprint: (SHA256:\S+)/.exec(print.stdout)?.[1];
  assert.ok(ed && rsa, print.stdout);
  assert.match(print.stdout, /strong-crypto: yes/);
  assert.equal(await scan(s.sshPort, 'ed25519'), ed);
  assert.equal(await scan(s.sshPort, 'rsa'), rsa);
  // Sealed at rest: the private key text is not in the database file.
  const db = fs.readFileSync(path.join(s.dir, 'rospki.db'));
  assert.ok(!db.includes('OPENSSH PRIVATE KEY'));
  // A restart (the services stop, a new appliance opens the data directory and starts them)
  // serves the same keys. Services never run twice on one data directory: that is refused.
  const options = { host: '127.0.0.1', loginFailureDelayMs: 50, pollMs: 100 };
  await assert.rejects(startServices(s.app, options), /services already run on this data directory/);
  await s.services.stop();
  try {
    const other = await Appliance.open(s.dir);
    try {
      const fps = await other.store.read((tx) => tx.get(SSH_PATH, 1)!.data);
      assert.equal(fps['ed25519-host-key-fingerprint'], ed);
      const services = await startServices(other, options);
      try {
        assert.equal(services.port('ssh'), s.sshPort);
        assert.equal(await scan(s.sshPort, 'ed25519'), ed);
        assert.equal(await scan(s.sshPort, 'rsa'), rsa);
      } finally {
        await services.stop();
      }
    } finally {
      other.close();
    }
  } finally {
    s.services = await startServices(s.app, options);
  }
  assert.equal(s.services.port('ssh'), s.sshPort);
});

test('password logins: wrong and empty passwords are refused, delayed and logged; the ssh policy is required', { skip }, async () => {
  const started = Date.now();
  const wrong = await ssh(s, ':put 1', passwordAuth(s, 'nope'));
  assert.equal(wrong.status, 255);
  assert.ok(Date.now() - started >= 50);
  assert.ok((await logs()).includes('login failure for user admin from 127.0.0.1 via ssh'));
  await s.run('/user', 'add', { name: 'empty', group: 'full' });
  assert.equal((await ssh(s, ':put 1', passwordAuth(s, ''), 'empty')).status, 255);
  await s.run('/user/group', 'add', { name: 'nossh', policy: 'read,write,api' });
  await s.run('/user', 'add', { name: 'nossh', group: 'nossh', password: 'pw-nossh' });
  assert.equal((await ssh(s, ':put 1', passwordAuth(s, 'pw-nossh'), 'nossh')).status, 255);
  assert.ok((await logs()).includes('login failure for user nossh from 127.0.0.1 via ssh'));
  await s.run('/user', 'add', { name: 'reader', group: 'read', password: 'pw-reader' });
  const reader = await ssh(s, '/system identity print; /system identity set name=x', passwordAuth(s, 'pw-reader'), 'reader');
  assert.equal(reader.stdout, '  name: MikroTik\nnot enough permissions (9)\n');
  assert.equal(reader.status, 1);
  const ok = await ssh(s, ':put ok');
  assert.equal(ok.stdout, 'ok\n');
  const l = await logs();
  assert.ok(l.includes('user admin logged in from 127.0.0.1 via ssh'));
  assert.ok(l.includes('user admin logged out from 127.0.0.1 via ssh'));
});

test('public keys: /user ssh-keys import, print, login without password, remove; password refused while keys exist', { skip }, async () => {
  await s.run('/user', 'add', { name: 'deploy', group: 'full', password: 'pw-deploy' });
  fs.copyFileSync(`${s.key}.pub`, path.join(s.app.dataDir.filesDir, 'deploy.pub'));
  const imp = await ssh(s, '/user ssh-keys import public-key-file=deploy.pub user=deploy; /user ssh-keys print');
  assert.equal(imp.status, 0, imp.stdout);
  assert.match(imp.stdout, /^0 deploy\s+ed25519\s+256\s+tester@client\s*$/m);
  const viaKey = await ssh(s, ':put [/system identity get name]', keyAuth(s), 'deploy');
  assert.equal(viaKey.status, 0, viaKey.stderr);
  assert.equal(viaKey.stdout, 'MikroTik\n');
  // RouterOS: a user with keys logs in with them only, unless always-allow-password-login.
  assert.equal((await ssh(s, ':put 1', passwordAuth(s, 'pw-deploy'), 'deploy')).status, 255);
  await s.run('/ip/ssh', 'set', { 'always-allow-password-login': 'yes' });
  assert.equal((await ssh(s, ':put 1', passwordAuth(s, 'pw-deploy'), 'deploy')).status, 0);
  await s.run('/ip/ssh', 'set', { 'always-allow-password-login': 'no' });
  // Another user's key does not log in as deploy... nor as admin.
  assert.equal((await ssh(s, ':put 1', keyAuth(s), 'admin')).status, 255);
  const removed = await ssh(s, '/user ssh-keys remove [find user=deploy]; :put [:len [/user ssh-keys find]]');
  assert.equal(removed.stdout, '0\n');
  assert.equal((await ssh(s, ':put 1', keyAuth(s), 'deploy')).status, 255);
  // Bad key files are refused.
  fs.writeFileSync(path.join(s.app.dataDir.filesDir, 'junk.pub'), 'not a key\n');
  const junk = await ssh(s, '/user ssh-keys import public-key-file=junk.pub user=deploy');
  assert.equal(junk.status, 1);
  assert.match(junk.stdout, /^failure: unable to load key file/);
});

test('login names with RouterOS options (admin+cet1024w) log in as the user, with that width', { skip }, async () => {
  const r = await ssh(s, ':put [/system identity get name]', passwordAuth(s), 'admin+cet1024w');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'MikroTik\n');
});

test('strong-crypto: SHA-1 key exchange and MACs only when strong-crypto=no', { skip }, async () => {
  const sha1 = ['-o', 'KexAlgorithms=diffie-hellman-group14-sha1', '-o', 'MACs=hmac-sha1'];
  assert.equal((await ssh(s, ':put 1', undefined, 'admin', sha1)).status, 255);
  await s.run('/ip/ssh', 'set', { 'strong-crypto': 'no' });
  const weak = await ssh(s, ':put weak', undefined, 'admin', sha1);
  assert.equal(weak.status, 0, weak.stderr);
  await s.run('/ip/ssh', 'set', { 'strong-crypto': 'yes' });
  assert.equal((await ssh(s, ':put 1', undefined, 'admin', sha1)).status, 255);
});

test('/ip service ssh: disable closes the listener, a new port applies live, a busy port marks it invalid', { skip }, async () => {
  await s.run('/ip/service', 'disable', { numbers: 'ssh' });
  await s.services.reconcile();
  assert.equal(s.services.port('ssh'), undefined);
  const refused = await run('ssh', [...passwordAuth(s).args, '-p', String(s.sshPort), 'admin@127.0.0.1', ':put 1'], { env: passwordAuth(s).env });
  assert.equal(refused.status, 255);
  const blocker = net.createServer();
  const busy = await freePort();
  await new Promise<void>((r) => blocker.listen(busy, '127.0.0.1', r));
  try {
    await s.run('/ip/service', 'set', { numbers: 'ssh', port: String(busy), disabled: 'no' });
    await s.services.reconcile();
    const row = await s.app.store.read((tx) => tx.list('/ip/service').find((r) => r.data.name === 'ssh')!.data);
    assert.equal(row.invalid, true);
    assert.equal(row.comment, `cannot bind to port ${busy}: Address in use (12)`);
  } finally {
    await new Promise<void>((r) => blocker.close(() => r()));
  }
  await s.run('/ip/service', 'set', { numbers: 'ssh', port: String(s.sshPort) });
  await s.services.reconcile();
  assert.equal(s.services.port('ssh'), s.sshPort);
  assert.equal((await ssh(s, ':put back')).stdout, 'back\n');
  // The address allow-list applies to new connections.
  await s.run('/ip/service', 'set', { numbers: 'ssh', address: '10.0.0.0/8' });
  await s.services.reconcile();
  assert.equal((await ssh(s, ':put 1')).status, 255);
  await s.run('/ip/service', 'set', { numbers: 'ssh', address: '127.0.0.0/8' });
  await s.services.reconcile();
  assert.equal((await ssh(s, ':put ok')).status, 0);
});

test('regenerate-host-key: new fingerprints, the next connection uses them', { skip }, async () => {
  await importAdminKey(s);
  const before = await s.app.store.read((tx) => String(tx.get(SSH_PATH, 1)!.data['ed25519-host-key-fingerprint']));
  await s.run('/ip/ssh', 'regenerate-host-key');
  const after = await s.app.store.read((tx) => String(tx.get(SSH_PATH, 1)!.data['ed25519-host-key-fingerprint']));
  assert.notEqual(after, before);
  await s.services.reconcile(); // the listener takes the new keys when it applies the change
  assert.equal(await scan(s.sshPort, 'ed25519'), after);
});

test('exec: /log print follow-only streams new lines over the channel until the client leaves; the follower then stops', { skip }, async () => {
  const store = s.app.store;
  const inner = store.onChange!.bind(store);
  let listening = 0;
  store.onChange = (listener) => { listening++; const off = inner(listener); return () => { listening--; off(); }; };
  try {
    const auth = passwordAuth(s);
    const child = spawn('ssh', [...auth.args, '-p', String(s.sshPort), 'admin@127.0.0.1', '/log print follow-only where message~"ssh-fol"'], { env: { ...process.env, ...auth.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    // Nothing comes before a change: log (a new line each round) until the first shows.
    for (let i = 0; !out.includes('ssh-fol'); i++) {
      assert.ok(i < 300, 'no line came over ssh');
      await s.app.store.write((tx) => s.app.env.log(tx, 'script,info', `ssh-fol ${i}`));
      await new Promise((r) => setTimeout(r, 50));
    }
    await s.app.store.write((tx) => s.app.env.log(tx, 'script,info', 'ssh-fol last'));
    await waitUntil(() => out.includes('ssh-fol last'), 'the last line');
    assert.match(out, /^\d\d:\d\d:\d\d script,info ssh-fol \d+\n/);
    assert.equal(listening, 1);
    child.kill();
    await exited;
    await waitUntil(() => listening === 0, 'the follower to stop with its channel');
  } finally {
    delete (store as { onChange?: unknown }).onChange;
  }
});
