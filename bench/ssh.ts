// The ssh service (issue 7) against a real `rospki serve` daemon in its own process on
// 127.0.0.1, beside Debian's OpenSSH server (a private sshd on a free loopback port, with its own
// host key, config and authorized_keys in a temp dir, installed here when missing) running `true`:
//   * exec round trip on a reused connection (OpenSSH ControlMaster): `ssh host ':put 1'`
//     (issue 10 aims at ≤ 5 ms), and the ssh client's own share of it: `ssh -O check` on the same
//     master starts the client and talks to the master without a round trip to the server;
//   * a full connect + key auth + exec per call.
// Both use OpenSSH's client, so its process start is in both numbers. sshd runs `true` through
// the user's login shell, and Debian's bash reads ~/.bashrc when sshd starts it: a heavy one
// (pyenv init on these machines) is in sshd's numbers. That start-up is measured on its own
// (the shell run as sshd runs it) and shown; the ratio is taken against sshd without it.
// ROSPKI_BENCH_SSHD_USER picks another user (it must be allowed to log in by key).

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Appliance } from '../src/appliance.js';
import { FixedClock } from '../src/clock.js';
import { BIN, freePort, median, nowMs, waitPort, type Line } from './support.js';

interface Target { port: number; user: string; command: string }

function sshArgs(dir: string, key: string, t: Target, extra: string[] = []): string[] {
  return ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes', '-i', key, ...extra, '-p', String(t.port), `${t.user}@127.0.0.1`];
}

function measure(dir: string, key: string, t: Target, rounds: number): { full: number; reused: number; client: number } {
  const once = (extra: string[]) => {
    const start = nowMs();
    const r = spawnSync('ssh', [...sshArgs(dir, key, t, extra), t.command], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`ssh to ${t.port} failed: ${r.stderr}`);
    return nowMs() - start;
  };
  for (let i = 0; i < 3; i++) once([]);
  const full: number[] = [];
  for (let i = 0; i < rounds; i++) full.push(once([]));
  const sock = path.join(dir, `cm-${t.port}`);
  execFileSync('ssh', [...sshArgs(dir, key, t, ['-o', 'ControlMaster=yes', '-o', `ControlPath=${sock}`, '-o', 'ControlPersist=60', '-fN'])], { timeout: 20_000 });
  const reusedOpts = ['-o', `ControlPath=${sock}`];
  try {
    for (let i = 0; i < 5; i++) once(reusedOpts);
    const reused: number[] = [];
    const client: number[] = [];
    for (let i = 0; i < rounds * 2; i++) {
      reused.push(once(reusedOpts));
      const start = nowMs();
      spawnSync('ssh', [...sshArgs(dir, key, t, [...reusedOpts, '-O', 'check'])], { encoding: 'utf8', timeout: 20_000 });
      client.push(nowMs() - start);
    }
    return { full: median(full), reused: median(reused), client: median(client) };
  } finally {
    spawnSync('ssh', [...sshArgs(dir, key, t, ['-o', `ControlPath=${sock}`, '-O', 'exit'])], { timeout: 10_000 });
  }
}

/** Installs Debian's openssh-server when it is missing (as root); the reason when it cannot. */
function ensureSshd(sshd: string): string | undefined {
  if (fs.existsSync(sshd)) return undefined;
  if (process.getuid?.() !== 0) return 'openssh-server not installed (and not root to install it)';
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'openssh-server'], {
    encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000,
  });
  if (install().status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8', timeout: 600_000 });
    const again = install();
    if (again.status !== 0) return `openssh-server could not be installed: ${again.stderr.trim().split('\n').pop()}`;
  }
  return fs.existsSync(sshd) ? undefined : 'openssh-server installed, but no /usr/sbin/sshd';
}

/** Debian's sshd on a loopback port, or the reason it cannot run here. */
async function startSshd(dir: string, pub: string): Promise<{ child: ChildProcess; port: number } | string> {
  const sshd = '/usr/sbin/sshd';
  const missing = ensureSshd(sshd);
  if (missing) return missing;
  const port = await freePort();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'sshd_host')]);
  fs.copyFileSync(pub, path.join(dir, 'authorized_keys'));
  fs.chmodSync(path.join(dir, 'authorized_keys'), 0o600);
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(config, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${path.join(dir, 'sshd_host')}`, `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', `PidFile ${path.join(dir, 'sshd.pid')}`,
    'StrictModes no', 'PermitRootLogin prohibit-password', '',
  ].join('\n'));
  try { fs.mkdirSync('/run/sshd', { recursive: true }); } catch { /* not root: sshd says why */ }
  const check = spawnSync(sshd, ['-t', '-f', config], { encoding: 'utf8' });
  if (check.status !== 0) return `sshd cannot run here: ${check.stderr.trim()}`;
  const child = spawn(sshd, ['-D', '-e', '-f', config], { stdio: 'ignore' });
  try {
    await waitPort(port, 5000);
  } catch {
    child.kill();
    return 'sshd did not start';
  }
  return { child, port };
}

/**
 * What sshd's `true` spends starting the user's login shell: `$SHELL -c true` with what sshd puts
 * in its environment (bash sources ~/.bashrc when SSH_CLIENT is set). Only for the current user.
 */
function loginShellStartup(user: string): number {
  const me = os.userInfo();
  if (user !== me.username) return 0;
  const env = { HOME: me.homedir, USER: me.username, LOGNAME: me.username, SHELL: me.shell ?? '/bin/sh', PATH: '/usr/local/bin:/usr/bin:/bin', SSH_CLIENT: '127.0.0.1 40000 22', SHLVL: '0' };
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const start = nowMs();
    spawnSync(env.SHELL, ['-c', 'true'], { env, stdio: 'ignore', timeout: 20_000 });
    times.push(nowMs() - start);
  }
  return median(times);
}

export async function benchSsh(line: Line): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-ssh-'));
  const key = path.join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const port = await freePort();
  {
    const app = await Appliance.open(dir, { clock: new FixedClock(Date.now()) });
    const session = await app.session('admin', 'bench');
    const run = (p: string, command: string, args: Record<string, string>) => app.executor.run({ path: p, command, args: new Map(Object.entries(args)), session });
    for (const name of ['www', 'api', 'api-ssl']) await run('/ip/service', 'disable', { numbers: name });
    await run('/ip/service', 'set', { numbers: 'ssh', port: String(port), disabled: 'no' });
    fs.mkdirSync(app.dataDir.filesDir, { recursive: true });
    fs.copyFileSync(`${key}.pub`, path.join(app.dataDir.filesDir, 'bench.pub'));
    await run('/user/ssh-keys', 'import', { 'public-key-file': 'bench.pub', user: 'admin' });
    app.close();
  }
  const children: ChildProcess[] = [];
  try {
    const daemon = spawn('node', [BIN, 'serve', '--data', path.join(dir)], { stdio: 'ignore', env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' } });
    children.push(daemon);
    await waitPort(port, 30_000);
    const ours = measure(dir, key, { port, user: 'admin', command: ':put 1' }, 15);
    const sshd = await startSshd(dir, `${key}.pub`);
    const clientLine = () => line('  of which the ssh client itself (`ssh -O check`)', `${ours.client.toFixed(1)} ms`,
      `server part ${(ours.reused - ours.client).toFixed(1)} ms`, ours.client / ours.reused, 'report');
    if (typeof sshd === 'string') {
      line('ssh exec round trip `:put 1`, ControlMaster (median)', `${ours.reused.toFixed(1)} ms`, sshd, 0, '≤ 5 ms');
      clientLine();
      line('ssh connect + key auth + exec (median)', `${ours.full.toFixed(1)} ms`, sshd, 0, 'report');
      return;
    }
    children.push(sshd.child);
    const user = process.env.ROSPKI_BENCH_SSHD_USER || os.userInfo().username;
    const theirs = measure(dir, key, { port: sshd.port, user, command: 'true' }, 15);
    const shell = loginShellStartup(user);
    const sshdAlone = Math.max(theirs.reused - shell, 0.1);
    line('ssh exec round trip `:put 1`, ControlMaster (median)', `${ours.reused.toFixed(1)} ms`, `sshd \`true\` ${sshdAlone.toFixed(1)} ms`, ours.reused / sshdAlone, '≤ 5 ms');
    clientLine();
    line('  sshd `true` with its login shell\'s start-up', `${theirs.reused.toFixed(1)} ms`, `shell ${shell.toFixed(1)} ms`, theirs.reused / sshdAlone, 'report');
    const fullAlone = Math.max(theirs.full - shell, 0.1);
    line('ssh connect + key auth + exec (median)', `${ours.full.toFixed(1)} ms`, `sshd ${fullAlone.toFixed(1)} ms`, ours.full / fullAlone, '≤ 2×');
  } finally {
    for (const c of children) c.kill();
    await new Promise((r) => setTimeout(r, 200));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
