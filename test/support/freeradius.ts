// A private FreeRADIUS 3.2 (Debian `freeradius`) for the tests of RADIUS logins (/user aaa): a
// minimal configuration in a temporary directory (radiusd.conf, an empty local dictionary — the
// packaged ones come from /usr/share/freeradius — and a `files` users file), in debug mode (-X:
// foreground, one thread, every request on stdout) on a free UDP port of 127.0.0.1. The client
// 127.0.0.1 must sign its requests (require_message_authenticator); every reply carries a
// Message-Authenticator (FreeRADIUS 3.2.1 predates the BlastRADIUS fix, which adds it by itself).
// As root it runs as `nobody` (runuser), as test/support/postgres.ts does for PostgreSQL.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freeUdpPort } from '../services/support.js';
import { tempDir } from './app.js';

export interface RadiusUser {
  readonly name: string;
  readonly password: string;
  /** Mikrotik-Group of the Access-Accept; none when absent. */
  readonly group?: string;
}

export interface FreeRadius {
  readonly port: number;
  readonly secret: string;
  /** Everything the server printed so far. */
  output(): string;
  /** Access-Requests the server received for `user` so far. */
  requestsFor(user: string): number;
  stop(): Promise<void>;
}

/** A users-file string: quoted, nothing that could end it. */
const quoted = (s: string): string => {
  if (/["\\\n\r]/.test(s)) throw new Error(`not for a users file: ${s}`);
  return `"${s}"`;
};

export async function startFreeRadius(users: readonly RadiusUser[], secret = 'radius-test-secret'): Promise<FreeRadius> {
  const dir = tempDir('rospki-freeradius-');
  const port = await freeUdpPort();
  fs.writeFileSync(path.join(dir, 'dictionary'), '');
  fs.writeFileSync(path.join(dir, 'users'), users.map((u) =>
    `${u.name}\tCleartext-Password := ${quoted(u.password)}\n${u.group !== undefined ? `\tMikrotik-Group = ${quoted(u.group)}\n` : ''}`).join(''));
  fs.writeFileSync(path.join(dir, 'radiusd.conf'), `
prefix = /usr
dir = ${dir}
raddbdir = \${dir}
confdir = \${dir}
logdir = \${dir}
run_dir = \${dir}
libdir = /usr/lib/freeradius
pidfile = \${dir}/radiusd.pid
name = freeradius
max_request_time = 30
cleanup_delay = 0
max_requests = 1024
hostname_lookups = no
log {
	destination = stdout
	auth = yes
}
security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}
client local {
	ipaddr = 127.0.0.1
	secret = ${quoted(secret)}
	require_message_authenticator = yes
}
modules {
	pap {
	}
	files {
		filename = \${dir}/users
	}
}
server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = ${port}
	}
	authorize {
		files
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
	}
	post-auth {
		update reply {
			Message-Authenticator := 0x00
		}
		Post-Auth-Type REJECT {
			update reply {
				Message-Authenticator := 0x00
			}
		}
	}
}
`);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['-R', 'nobody', dir]);
  const args = ['-X', '-d', dir];
  const child: ChildProcess = asRoot
    ? spawn('runuser', ['-u', 'nobody', '--', 'freeradius', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('freeradius', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const take = (b: Buffer) => { if (out.length < 8 << 20) out += b.toString('utf8'); };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // Ready when it says so; bounded (a configuration error ends the process at once).
  for (let i = 0; i < 200 && !out.includes('Ready to process requests'); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!out.includes('Ready to process requests')) {
    child.kill();
    throw new Error(`freeradius did not start:\n${out.slice(-4000)}`);
  }
  return {
    port, secret,
    output: () => out,
    requestsFor: (user) => requestUsers(out).filter((u) => u === user).length,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The User-Name of each Access-Request in order, as -X prints it (`  User-Name = "alice"` after each). */
function requestUsers(out: string): string[] {
  const users: string[] = [];
  let pending = false;
  for (const line of out.split('\n')) {
    if (/Received Access-Request/.test(line)) { if (pending) users.push(''); pending = true; continue; }
    const m = /^\(\d+\)\s+User-Name = "(.*)"$/.exec(line);
    if (pending && m) { users.push(m[1]!); pending = false; }
  }
  if (pending) users.push('');
  return users;
}
