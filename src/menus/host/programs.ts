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
