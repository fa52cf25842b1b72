// Resource limits of the ssh service (issue 11): connections that never log in wait in a small
// pool and time out, so idle TCP connections cannot lock ssh out and do not count towards
// max-sessions; max-sessions counts logged-in connections; a logged-in connection that idles is
// closed (a running command is not idling); failed key logins are counted like wrong passwords.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Authenticator } from '../../src/services/auth.js';
import { run } from './support.js';
import { importAdminKey, keyAuth, passwordAuth, ssh, startSshApp, waitUntil, type SshApp } from './ssh-support.js';
import { needs } from '../support/tools.js';

const skip = needs('ssh', 'ssh-keygen');

/** Plain TCP connections to a port that send nothing; resolves once all are connected. */
async function idleConnections(port: number, count: number): Promise<{ sockets: net.Socket[]; closed: () => number }> {
  let closed = 0;
  const sockets = await Promise.all(Array.from({ length: count }, () => new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
    s.on('close', () => { closed++; });
    s.resume(); // read, so that the server closing it is seen
  })));
  return { sockets, closed: () => closed };
}

function controlMaster(s: SshApp, sock: string) {
  const auth = keyAuth(s);
  return {
    start: () => run('ssh', [...auth.args, '-o', 'ControlMaster=yes', '-o', `ControlPath=${sock}`, '-o', 'ControlPersist=60', '-fN', '-p', String(s.sshPort), 'admin@127.0.0.1']),
    check: () => run('ssh', [...auth.args, '-o', `ControlPath=${sock}`, '-O', 'check', '-p', String(s.sshPort), 'admin@127.0.0.1']),
    exit: () => run('ssh', [...auth.args, '-o', `ControlPath=${sock}`, '-O', 'exit', '-p', String(s.sshPort), 'admin@127.0.0.1']),
  };
}

describe('connections that have not logged in', () => {
  /** Long enough for an OpenSSH client to start, exchange keys and log in on a loaded machine. */
  const LOGIN_TIMEOUT = 5000;
  let s: SshApp;
  before(async () => {
    if (skip) return;
    s = await startSshApp({ services: { loginTimeoutMs: LOGIN_TIMEOUT } });
    await importAdminKey(s);
  });
  after(async () => { await s?.stop(); });

  test('twenty-five idle TCP connections do not lock ssh out, and are all closed again', { skip }, async () => {
    const idle = await idleConnections(s.sshPort, 25);
    const r = await ssh(s, ':put "still here"', keyAuth(s));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'still here\n');
    // Made room for newer ones, or timed out (loginTimeoutMs).
    await waitUntil(() => idle.closed() === 25, 'the idle connections to be closed', 20_000);
  });

  test('one idle connection (the pool not full) is closed after loginTimeoutMs', { skip }, async () => {
    const started = Date.now();
    const idle = await idleConnections(s.sshPort, 1);
    await waitUntil(() => idle.closed() === 1, 'the login timeout', 20_000);
    assert.ok(Date.now() - started >= LOGIN_TIMEOUT - 100, 'not before loginTimeoutMs');
  });

  test('max-sessions counts logged-in connections only', { skip }, async () => {
    await s.run('/ip/service', 'set', { numbers: 'ssh', 'max-sessions': '1' });
    const idle = await idleConnections(s.sshPort, 5);
    const master = controlMaster(s, path.join(s.home, 'cm'));
    try {
      assert.equal((await master.start()).status, 0, 'the idle connections leave room for a session');
      assert.equal((await master.check()).status, 0);
      const second = await ssh(s, ':put 1', passwordAuth(s));
      assert.equal(second.status, 255, 'a second logged-in connection is over max-sessions');
    } finally {
      await master.exit();
      for (const sock of idle.sockets) sock.destroy();
    }
    // The session ended: a new login fits again.
    await waitUntil(async () => (await ssh(s, ':put 1', keyAuth(s))).status === 0, 'a login after the session ended', 15_000);
    await s.run('/ip/service', 'set', { numbers: 'ssh', 'max-sessions': '20' });
  });

  test('key logins that fail are counted like wrong passwords (through Authenticator.recordFailure), once per connection', { skip }, async () => {
    const other = path.join(s.home, 'id_stranger');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const calls: Array<[string, string]> = [];
    const original = Authenticator.prototype.recordFailure;
    Authenticator.prototype.recordFailure = function (user, address, via) {
      calls.push([user, via]);
      return original.call(this, user, address, via);
    };
    try {
      const failures = async () => (await s.app.store.read((tx) => tx.list('/log').map((l) => String(l.data.message))))
        .filter((m) => m === 'login failure for user admin from 127.0.0.1 via ssh').length;
      const before = await failures();
      for (let i = 0; i < 3; i++) assert.equal((await ssh(s, ':put 1', keyAuth(s, other))).status, 255);
      await waitUntil(async () => (await failures()) === before + 3, 'three failed key logins in /log', 15_000);
      assert.equal((await ssh(s, ':put ok', keyAuth(s))).stdout, 'ok\n');
      assert.equal(await failures(), before + 3, 'a good key adds none');
      assert.deepEqual(calls, [['admin', 'ssh'], ['admin', 'ssh'], ['admin', 'ssh']]);
    } finally {
      Authenticator.prototype.recordFailure = original;
    }
  });
});

describe('logged-in connections', () => {
  let s: SshApp;
  before(async () => {
    if (skip) return;
    s = await startSshApp({ services: { idleTimeoutMs: 1500 } });
    await importAdminKey(s);
  });
  after(async () => { await s?.stop(); });

  test('a connection idle for idleTimeoutMs is closed; a command running longer is not cut', { skip }, async () => {
    const master = controlMaster(s, path.join(s.home, 'cm-idle'));
    assert.equal((await master.start()).status, 0);
    await waitUntil(async () => (await master.check()).status !== 0, 'the idle connection to be closed', 20_000);
    const long = await ssh(s, ':delay 3s; :put done', keyAuth(s));
    assert.equal(long.status, 0, long.stderr);
    assert.equal(long.stdout, 'done\n');
  });
});
