// The programs from outside the project that tests run, each with the Debian package that brings
// it: one table for every test's "can this run here?" and for test/ci.test.ts, which checks that
// .ci/run installs each package and that no test spawns a program missing from this table.
//
// A test that needs a tool asks needs(...). Where a tool is missing, the test is skipped, saying
// what to install — on a developer's machine. In CI (.ci/run sets ROSPKI_REQUIRE_TOOLS=1 after
// installing them all) needs() throws instead, so the test file fails loudly: a skipped test is
// not a pass.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findLibfaketime, LIBFAKETIME } from '../../src/menus/host/programs.js';
import { charonInstalled, CHARON } from '../../src/menus/ip/ipsec.js';
import { findProgram } from '../../src/services/supervisor.js';

/** The Python of Debian, which has the python3-* modules below (not a pyenv or venv one). */
export const PYTHON = '/usr/bin/python3';

interface Tool {
  /** The Debian package that brings it. */
  readonly package: string;
  /** Whether it is there (asked once). */
  readonly present: () => boolean;
}

const program = (name: string, pkg: string): Tool => ({ package: pkg, present: () => findProgram(name) !== undefined });
const file = (p: string, pkg: string): Tool => ({ package: pkg, present: () => fs.existsSync(p) });
const pythonModule = (module: string, pkg: string): Tool => ({
  package: pkg,
  present: () => fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-W', 'ignore', '-c', `import ${module}`], { stdio: 'ignore', timeout: 60_000 }).status === 0,
});

export const TOOLS = {
  openssl: program('openssl', 'openssl'),
  certtool: program('certtool', 'gnutls-bin'),
  curl: program('curl', 'curl'),
  ssh: program('ssh', 'openssh-client'),
  scp: program('scp', 'openssh-client'),
  sftp: program('sftp', 'openssh-client'),
  'ssh-keygen': program('ssh-keygen', 'openssh-client'),
  'ssh-keyscan': program('ssh-keyscan', 'openssh-client'),
  python3: file(PYTHON, 'python3'),
  paramiko: pythonModule('paramiko', 'python3-paramiko'),
  pyftpdlib: pythonModule('pyftpdlib', 'python3-pyftpdlib'),
  librouteros: pythonModule('librouteros', 'python3-librouteros'),
  dnspython: pythonModule('dns.message', 'python3-dnspython'),
  // Python's standard library up to 3.12 (Debian 12 has 3.11); gone from 3.13 (Debian 13).
  telnetlib: pythonModule('telnetlib', 'python3'),
  // Debian's ansible brings the community.routeros collection the tests use.
  'ansible-playbook': program('ansible-playbook', 'ansible'),
  ping: program('ping', 'iputils-ping'),
  // chattr +i: an immutable folder is a disk that refuses half-way (test/menus/file.test.ts).
  chattr: program('chattr', 'e2fsprogs'),
  dig: program('dig', 'dnsutils'),
  chronyd: program('chronyd', 'chrony'),
  pebble: program('pebble', 'pebble'),
  'pebble-challtestsrv': program('pebble-challtestsrv', 'pebble'),
  charon: { package: CHARON.package, present: charonInstalled },
  // strongSwan's pki (--scep), micromdm's SCEP client and server, certmonger: the SCEP tests.
  pki: program('pki', 'strongswan-pki'),
  scepclient: program('scepclient', 'scep'),
  scepserver: program('scepserver', 'scep'),
  certmonger: program('certmonger', 'certmonger'),
  openvpn: program('openvpn', 'openvpn'),
  // The preload library that puts the supervised daemons on the router clock (services/daemon-clock.ts).
  libfaketime: { package: LIBFAKETIME.package, present: () => findLibfaketime() !== undefined },
  sstpc: program('sstpc', 'sstp-client'),
  // 802.1X: the supplicant rospki supervises, and the authenticator the test runs against it.
  wpa_supplicant: program('wpa_supplicant', 'wpasupplicant'),
  hostapd: program('hostapd', 'hostapd'),
  // RadSec: the relay of /radius protocol=radsec, and the RadSec server of the test.
  radsecproxy: program('radsecproxy', 'radsecproxy'),
  // FreeRADIUS: the RADIUS server of /user aaa use-radius=yes logins (test/services/radius-login.test.ts).
  freeradius: program('freeradius', 'freeradius'),
  // ip sets up the network namespace of real-scripts' offline check-certificates run.
  ip: program('ip', 'iproute2'),
  // PostgreSQL's programs live in /usr/lib/postgresql/<version>/bin, not on PATH.
  initdb: { package: 'postgresql', present: () => postgresBinaries() !== undefined },
  pg_ctl: { package: 'postgresql', present: () => postgresBinaries() !== undefined },
  pgrep: program('pgrep', 'procps'),
  chromium: file(process.env.CHROMIUM ?? '/usr/bin/chromium', 'chromium'),
} satisfies Record<string, Tool>;

export type ToolName = keyof typeof TOOLS;

/**
 * Programs of Debian's Essential packages (always installed), which tests may spawn without a
 * row above; `node` is the running Node.js.
 */
export const ESSENTIAL = ['node', 'sh', 'timeout', 'mkfifo', 'xargs', 'unshare', 'runuser', 'chown'] as const;

/** The directory of Debian's PostgreSQL binaries (the newest installed), or undefined. */
export function postgresBinaries(): string | undefined {
  const base = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb')));
  } catch {
    return undefined;
  }
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(base, versions[0], 'bin') : undefined;
}

/** True in CI: a missing tool fails the test file instead of skipping it. */
export const toolsRequired = (): boolean => process.env.ROSPKI_REQUIRE_TOOLS === '1';

const seen = new Map<ToolName, boolean>();
export function have(name: ToolName): boolean {
  let p = seen.get(name);
  if (p === undefined) seen.set(name, (p = TOOLS[name].present()));
  return p;
}

/**
 * The `skip` option of a test that runs these tools: false when all are here; else why not
 * (skipped), or, in CI, an error thrown (the file fails).
 */
export function needs(...names: ToolName[]): false | string {
  const missing = names.filter((n) => !have(n));
  if (missing.length === 0) return false;
  return missingTools(`needs ${missing.map((n) => `${n} (Debian package ${TOOLS[n].package})`).join(', ')}`);
}

/** A test can not run for want of something outside the project: skip, saying why, or fail in CI. */
export function missingTools(why: string): string {
  if (toolsRequired()) throw new Error(`${why}: CI (ROSPKI_REQUIRE_TOOLS=1) installs it and runs every test; a skipped test is not a pass`);
  return why;
}

/**
 * For a part of a test that a tool adds (a second judge beside openssl): true when the tool is
 * here; false — the part is left out — on a machine without it; in CI a missing tool throws.
 */
export function mayUse(name: ToolName): boolean {
  if (have(name)) return true;
  missingTools(`needs ${name} (Debian package ${TOOLS[name].package})`);
  return false;
}
