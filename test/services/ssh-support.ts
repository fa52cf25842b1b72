// Helpers for the SSH tests: an appliance with the ssh service on a free port of 127.0.0.1,
// and OpenSSH's ssh/scp/sftp run with a password (through an SSH_ASKPASS script, so no
// sshpass is needed) or with a generated key.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, PASSWORD, run, startServiceApp, type ServiceApp } from './support.js';
import { tempDir } from '../support/app.js';

export interface SshApp extends ServiceApp {
  sshPort: number;
  /** Folder with the key pair `id_ed25519` and the askpass script. */
  home: string;
  key: string;
}

export function haveTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function startSshApp(opts: { enableWwwSsl?: boolean } = {}): Promise<SshApp> {
  const s = await startServiceApp(opts);
  const sshPort = await freePort();
  await s.run('/ip/service', 'set', { numbers: 'ssh', port: String(sshPort), disabled: 'no' });
  await s.services.reconcile();
  const home = tempDir('rospki-ssh-client-');
  const key = path.join(home, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tester@client', '-f', key]);
  return {
    ...s, sshPort, home, key,
    async stop() { await s.stop(); fs.rmSync(home, { recursive: true, force: true }); },
  };
}

const COMMON = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10'];

/** Options and environment for a password login (askpass prints the password). */
export function passwordAuth(s: SshApp, password = PASSWORD): { args: string[]; env: NodeJS.ProcessEnv } {
  const askpass = path.join(s.home, `askpass-${Buffer.from(password).toString('hex')}.sh`);
  if (!fs.existsSync(askpass)) fs.writeFileSync(askpass, `#!/bin/sh\nprintf '%s\\n' '${password.replace(/'/g, `'\\''`)}'\n`, { mode: 0o700 });
  return {
    args: [...COMMON, '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1'],
    env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
  };
}

export function keyAuth(s: SshApp, key = s.key): { args: string[]; env: NodeJS.ProcessEnv } {
  return { args: [...COMMON, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-i', key], env: {} };
}

export function ssh(s: SshApp, command: string, auth = passwordAuth(s), user = 'admin', extra: string[] = [], input?: string) {
  return run('ssh', [...auth.args, ...extra, '-p', String(s.sshPort), `${user}@127.0.0.1`, command], { env: auth.env, input: input ?? '', timeoutMs: 30_000 });
}

export function scp(s: SshApp, args: string[], auth = passwordAuth(s)) {
  return run('scp', [...auth.args, '-P', String(s.sshPort), ...args], { env: auth.env, timeoutMs: 30_000 });
}

export function sftpBatch(s: SshApp, batch: string, auth = keyAuth(s)) {
  return run('sftp', [...auth.args, '-P', String(s.sshPort), '-b', '-', 'admin@127.0.0.1'], { env: auth.env, input: batch, timeoutMs: 30_000 });
}

/** Lets admin log in with the generated key (uploaded over scp, imported like a user would). */
export async function importAdminKey(s: SshApp): Promise<void> {
  fs.mkdirSync(s.app.dataDir.filesDir, { recursive: true });
  fs.copyFileSync(`${s.key}.pub`, path.join(s.app.dataDir.filesDir, 'admin.pub'));
  await s.run('/user/ssh-keys', 'import', { 'public-key-file': 'admin.pub', user: 'admin' });
  // Password logins stay possible for admin in these tests.
  await s.run('/ip/ssh', 'set', { 'always-allow-password-login': 'yes' });
}
