// Helpers for the SSH tests: an appliance with the ssh service on a free port of 127.0.0.1,
// and OpenSSH's ssh/scp/sftp run with a password (through an SSH_ASKPASS script, so no
// sshpass is needed) or with a generated key.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ServiceOptions } from '../../src/services/index.js';
import { freePort, PASSWORD, run, startServiceApp, type ServiceApp } from './support.js';
import { openTestApp, tempDir } from '../support/app.js';

/** Where a client logs in: the port, and the client's folder and key. */
export interface SshTarget {
  sshPort: number;
  /** Folder with the key pair `id_ed25519` and the askpass script. */
  home: string;
  key: string;
}

export interface SshApp extends ServiceApp, SshTarget {}

export async function startSshApp(opts: { enableWwwSsl?: boolean; services?: Partial<ServiceOptions> } = {}): Promise<SshApp> {
  const s = await startServiceApp(opts);
  const sshPort = await freePort();
  await s.run('/ip/service', 'set', { numbers: 'ssh', port: String(sshPort), disabled: 'no' });
  await s.services.reconcile();
  const home = tempDir('rospki-ssh-client-');
  const key = path.join(home, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tester@client', '-f', key]);
  const app: SshApp = {
    ...s, sshPort, home, key,
    // A test may restart the services (app.services replaced): stop the ones running now.
    async stop() { await app.services.stop(); await s.stop(); fs.rmSync(home, { recursive: true, force: true }); },
  };
  return app;
}

const COMMON = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10'];

/** Options and environment for a password login (askpass prints the password). */
export function passwordAuth(s: SshTarget, password = PASSWORD): { args: string[]; env: NodeJS.ProcessEnv } {
  const askpass = path.join(s.home, `askpass-${Buffer.from(password).toString('hex')}.sh`);
  if (!fs.existsSync(askpass)) fs.writeFileSync(askpass, `#!/bin/sh\nprintf '%s\\n' '${password.replace(/'/g, `'\\''`)}'\n`, { mode: 0o700 });
  return {
    args: [...COMMON, '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1'],
    env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
  };
}

export function keyAuth(s: SshTarget, key = s.key): { args: string[]; env: NodeJS.ProcessEnv } {
  return { args: [...COMMON, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-i', key], env: {} };
}

export function ssh(s: SshTarget, command: string, auth = passwordAuth(s), user = 'admin', extra: string[] = [], input?: string) {
  return run('ssh', [...auth.args, ...extra, '-p', String(s.sshPort), `${user}@127.0.0.1`, command], { env: auth.env, input: input ?? '', timeoutMs: 30_000 });
}

export function scp(s: SshTarget, args: string[], auth = passwordAuth(s)) {
  return run('scp', [...auth.args, '-P', String(s.sshPort), ...args], { env: auth.env, timeoutMs: 30_000 });
}

export function sftpBatch(s: SshTarget, batch: string, auth = keyAuth(s)) {
  return run('sftp', [...auth.args, '-P', String(s.sshPort), '-b', '-', 'admin@127.0.0.1'], { env: auth.env, input: batch, timeoutMs: 30_000 });
}

/** Lets admin log in with the generated key (uploaded over scp, imported like a user would). */
export async function importAdminKey(s: SshApp): Promise<void> {
  fs.mkdirSync(s.app.dataDir.filesDir, { recursive: true });
  fs.copyFileSync(`${s.key}.pub`, path.join(s.app.dataDir.filesDir, 'admin.pub'));
  fs.chmodSync(path.join(s.app.dataDir.filesDir, 'admin.pub'), 0o600); // as rospki keeps its files
  await s.run('/user/ssh-keys', 'import', { 'public-key-file': 'admin.pub', user: 'admin' });
  // Password logins stay possible for admin in these tests.
  await s.run('/ip/ssh', 'set', { 'always-allow-password-login': 'yes' });
}

export const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'rospki.js');

/** A `rospki serve` daemon in its own process with only ssh enabled, its stderr kept. */
export interface SshDaemon extends SshTarget {
  /** The data directory. */
  dir: string;
  /** What the daemon wrote on stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * A data directory prepared like a user would (admin's password, ssh on a free port of
 * 127.0.0.1, the test key imported for admin, every other service off), then `rospki serve` on
 * it, as `npm run bench` and real users run it.
 */
export async function startSshDaemon(): Promise<SshDaemon> {
  const dir = tempDir('rospki-sshd-');
  const t = await openTestApp({ dir, time: Date.now() });
  const home = tempDir('rospki-ssh-client-');
  const key = path.join(home, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tester@client', '-f', key]);
  const sshPort = await freePort();
  await t.run('/user', 'set', { numbers: 'admin', password: PASSWORD });
  for (const name of ['www', 'www-ssl', 'api', 'api-ssl']) await t.run('/ip/service', 'disable', { numbers: name });
  await t.run('/ip/service', 'set', { numbers: 'ssh', port: String(sshPort), disabled: 'no' });
  fs.mkdirSync(t.app.dataDir.filesDir, { recursive: true });
  fs.copyFileSync(`${key}.pub`, path.join(t.app.dataDir.filesDir, 'admin.pub'));
  fs.chmodSync(path.join(t.app.dataDir.filesDir, 'admin.pub'), 0o600); // as rospki keeps its files
  await t.run('/user/ssh-keys', 'import', { 'public-key-file': 'admin.pub', user: 'admin' });
  await t.run('/ip/ssh', 'set', { 'always-allow-password-login': 'yes' });
  t.close();
  const child = spawn('node', [BIN, 'serve', '--data', dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitUntil(async () => out.includes('serving') && await canConnect(sshPort), 'the daemon to listen on ssh', 30_000);
  return {
    sshPort, home, key, dir,
    stderr: () => err,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(home, { recursive: true, force: true });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Polls a condition (bounded) until it holds. */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
