// Programs of this host that rospki configures and supervises rather than re-implements
// (OpenVPN, strongSwan's charon …; design: rospki is the control plane, like RouterOS). Found the
// one way for the menus (enabling a service whose program is missing fails with a message naming
// the Debian package, and nothing changes) and for the supervisor that runs them
// (src/services/supervisor.ts).

import fs from 'node:fs';
import path from 'node:path';
import { failure } from '../../errors.js';

export interface HostProgram {
  /** Program name (looked up on PATH and in the sbin folders) or an absolute path. */
  readonly program: string;
  /** The Debian package that installs it, for the message when it is missing. */
  readonly package: string;
  /** Environment variable naming another program file to use instead (a build of one's own). */
  readonly override?: string;
}

/** OpenVPN 2.6 (`/interface ovpn-server server`, `/interface ovpn-client`). */
export const OPENVPN: HostProgram = { program: 'openvpn', package: 'openvpn', override: 'ROSPKI_OPENVPN' };

/** wpa_supplicant (`/interface dot1x client`: the 802.1X supplicant, `-D wired`). */
export const WPA_SUPPLICANT: HostProgram = { program: 'wpa_supplicant', package: 'wpasupplicant', override: 'ROSPKI_WPA_SUPPLICANT' };

/** hostapd (`/interface dot1x server`: the 802.1X authenticator, driver=wired, relaying to RADIUS). */
export const HOSTAPD: HostProgram = { program: 'hostapd', package: 'hostapd', override: 'ROSPKI_HOSTAPD' };

/** radsecproxy (`/radius protocol=radsec`: RADIUS over TLS, RFC 6614, for the 802.1X authenticator). */
export const RADSECPROXY: HostProgram = { program: 'radsecproxy', package: 'radsecproxy', override: 'ROSPKI_RADSECPROXY' };

/** The absolute path of a program on PATH (or in the sbin folders), or undefined. */
export function findProgram(program: string): string | undefined {
  if (path.isAbsolute(program)) return isExecutable(program) ? program : undefined;
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    const p = path.join(d, program);
    if (d && isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The program to run: the override's file when the environment names one, else the program. */
export const programName = (p: HostProgram): string => (p.override && process.env[p.override]) || p.program;

/** What the user reads when a program is missing (the supervisor's DaemonMissing says the same). */
export const missingProgramText = (program: string, pkg: string): string =>
  `${path.basename(program)} is not installed (Debian package ${pkg})`;

/** Throws `failure: openvpn is not installed (Debian package openvpn)` when the program is missing. */
export function requireProgram(p: HostProgram): void {
  if (!findProgram(programName(p))) throw failure(missingProgramText(p.program, p.package));
}

/**
 * libfaketime (Debian package libfaketime), through which the daemons rospki supervises run on
 * the router clock (services/daemon-clock.ts). Its thread-safe build: charon is multi-threaded,
 * and the plain build lets threads race on the offset it caches (libfaketime README).
 */
export const LIBFAKETIME = { file: 'libfaketimeMT.so.1', package: 'libfaketime', override: 'ROSPKI_LIBFAKETIME' } as const;

/** Where the library was last found (checked again with one stat per call; none: looked for again). */
let faketimeFound: { key: string; file: string } | undefined;

/**
 * The absolute path of libfaketime's preload library, or undefined when the host has none:
 * `ROSPKI_LIBFAKETIME` (another build of it) when set, else Debian's `/usr/lib/<triplet>/faketime/`
 * or a `faketime` folder of /usr/lib, /usr/lib64, /usr/local/lib.
 */
export function findLibfaketime(): string | undefined {
  const override = process.env[LIBFAKETIME.override];
  const key = override ?? '';
  if (faketimeFound?.key === key && isFile(faketimeFound.file)) return faketimeFound.file;
  let file: string | undefined;
  if (override) {
    file = path.isAbsolute(override) && isFile(override) ? override : undefined;
  } else {
    const roots = ['/usr/lib', '/usr/lib64', '/usr/local/lib'];
    const dirs = roots.flatMap((r) => [r, ...subfolders(r).filter((d) => /-linux-/.test(d)).map((d) => path.join(r, d))]);
    file = dirs.map((d) => path.join(d, 'faketime', LIBFAKETIME.file)).find(isFile);
  }
  faketimeFound = file ? { key, file } : undefined;
  return file;
}

function subfolders(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
