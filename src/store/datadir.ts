// The data directory (design.md "Processes and data"): the SQLite database, the /file store,
// the secret that seals private keys at rest, and the daemon's control socket.
//
// Everything in it is owner-only (issue 11 §4): folders 0700, files 0600, whatever the umask.
// What rospki creates gets those modes explicitly (the database in sqlite.ts; SQLite gives its
// -wal and -shm files the database's mode); a directory that was loosened by hand (or made by
// an older rospki, which created rospki.db 0644) is tightened when it is opened, and each
// change is reported (DataDir.tightened) so the operator learns of it.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const SECRET_LENGTH = 32;

export interface DataDir {
  /** Absolute path of the data directory. */
  readonly root: string;
  readonly dbPath: string;
  /** The /file store. */
  readonly filesDir: string;
  readonly secretPath: string;
  readonly socketPath: string;
  /** 32 random bytes; the seal key is derived from them (seal.ts). */
  readonly secret: Buffer;
  /** What was readable or writable by group or others when opened, and is owner-only now. */
  readonly tightened: readonly Tightened[];
}

export interface Tightened {
  /** Absolute path. */
  readonly path: string;
  /** Its permission bits before (e.g. 0o644). */
  readonly was: number;
}

/** `0644`: permission bits as people write them. */
export function octalMode(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

/** `--data DIR`, else ROSPKI_DATA, else ./rospki-data; always absolute. */
export function resolveDataDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(flag || env.ROSPKI_DATA || './rospki-data');
}

/**
 * Opens the data directory, creating it (mode 0700) and its secret on first use, and makes
 * everything already in it owner-only.
 */
export function openDataDir(dir: string): DataDir {
  const root = path.resolve(dir);
  makePrivateDir(root);
  const tightened = tightenTree(root);
  const filesDir = path.join(root, 'files');
  makePrivateDir(filesDir);
  const secretPath = path.join(root, 'secret.key');
  return {
    root,
    dbPath: path.join(root, 'rospki.db'),
    filesDir,
    secretPath,
    socketPath: path.join(root, 'control.sock'),
    secret: loadOrCreateSecret(secretPath),
    tightened,
  };
}

/**
 * Removes group and other permissions from root and everything below it, top down: once root
 * is 0700 nobody else can reach, rename or replace what is inside while it is walked. Symbolic
 * links are never followed (chmod would change their target, wherever it is); fifos and
 * devices are left alone.
 */
function tightenTree(root: string): Tightened[] {
  const tightened: Tightened[] = [];
  const visit = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // removed meanwhile
      throw e;
    }
    if (!st.isDirectory() && !st.isFile() && !st.isSocket()) return;
    if (st.mode & 0o077) {
      fs.chmodSync(p, st.mode & 0o700);
      tightened.push({ path: p, was: st.mode & 0o777 });
    }
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) visit(path.join(p, name));
  };
  visit(root);
  return tightened;
}

function makePrivateDir(dir: string): void {
  // mkdir's mode is filtered by the umask; chmod what we created so it is 0700 whatever the umask.
  const created = fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (created !== undefined) fs.chmodSync(dir, 0o700);
}

function loadOrCreateSecret(file: string): Buffer {
  const secret = randomBytes(SECRET_LENGTH);
  let fd: number;
  try {
    // O_CREAT|O_EXCL: when two processes start at once exactly one creates the file and the
    // other reads what it wrote, so both seal with the same secret.
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return readSecret(file);
  }
  try {
    fs.writeSync(fd, secret);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.rmSync(file, { force: true }); // let the next start try again instead of finding it empty
    throw e;
  } finally {
    fs.closeSync(fd);
  }
  return secret;
}

function readSecret(file: string): Buffer {
  // A process that lost the creation race may look before the winner has written the bytes:
  // wait for them a little (about a second) before calling the file damaged.
  for (let attempt = 0; ; attempt++) {
    const data = fs.readFileSync(file);
    if (data.length === SECRET_LENGTH) return data;
    if (data.length > SECRET_LENGTH || attempt >= 100) {
      throw new Error(`data directory secret ${file} is damaged: expected ${SECRET_LENGTH} bytes, found ${data.length}`);
    }
    sleepSync(10);
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
