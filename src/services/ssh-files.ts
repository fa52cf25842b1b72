// What SCP and SFTP share over the /file store:
//
//  - one upload: a temporary file beside the target, written to disk as the bytes arrive (never
//    held in memory) and never past the size limit, that replaces the target in one rename when
//    it is complete and is removed otherwise, so a refused or broken transfer leaves nothing;
//  - one translation of failures into RouterOS-like messages that name only the /file name:
//    never a host path, never an errno text (those carry the absolute path of the data
//    directory). Unexpected errors go to the daemon's log with their stack, the client sees
//    `failure`.

import fs from 'node:fs';
import path from 'node:path';
import { RosError } from '../errors.js';
import type { Policy } from '../menu/types.js';
import { BINARY_KEY_LIMIT, holdsPrivateKey, PEM_SCAN_OVERLAP, PEM_SCAN_PIECE, pemKeyIn } from '../pki/index.js';
import { UnsafeFileName, type DiskFileStore } from '../store/files.js';

/** An upload would pass the size limit (ServiceOptions.maxUploadBytes). */
export class UploadTooLarge extends Error {
  constructor() { super('file too large'); }
}

/** A refusal with a message of ours (`not a directory`), shown as it is. */
export class FileRefusal extends Error {
  constructor(readonly kind: FileFailure['kind'], message: string) { super(message); }
}

export interface FileFailure {
  /** SFTP maps these to its status codes. */
  kind: 'no-such-file' | 'permission' | 'failure';
  /** The text for the client, without the file's name (SCP puts `name: ` in front). */
  text: string;
  /** The text names the file already (`invalid file name "…": …`). */
  named: boolean;
}

/** errno codes the file store meets in normal use, as RouterOS-like text. */
const ERRNO_TEXT: Record<string, { kind: FileFailure['kind']; text: string }> = {
  ENOENT: { kind: 'no-such-file', text: 'no such file' },
  EACCES: { kind: 'permission', text: 'permission denied' },
  EPERM: { kind: 'permission', text: 'permission denied' },
  EROFS: { kind: 'permission', text: 'permission denied' },
  EEXIST: { kind: 'failure', text: 'file exists' },
  ENOTDIR: { kind: 'failure', text: 'not a directory' },
  EISDIR: { kind: 'failure', text: 'is a directory' },
  ENOTEMPTY: { kind: 'failure', text: 'directory not empty' },
  ENOSPC: { kind: 'failure', text: 'not enough disk space' },
  EDQUOT: { kind: 'failure', text: 'not enough disk space' },
  EFBIG: { kind: 'failure', text: 'file too large' },
  ELOOP: { kind: 'permission', text: 'symbolic links are not followed' },
};

/**
 * What the client is told about a failure on the /file `name`. `unexpected` receives anything
 * that is not a known condition (for the daemon's log).
 */
export function fileFailure(e: unknown, name: string, unexpected: (e: unknown) => void): FileFailure {
  if (e instanceof UnsafeFileName) return { kind: 'permission', text: e.message, named: true };
  if (e instanceof FileRefusal) return { kind: e.kind, text: e.message, named: false };
  if (e instanceof UploadTooLarge) return { kind: 'failure', text: e.message, named: false };
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENAMETOOLONG') return { kind: 'permission', text: new UnsafeFileName(shortName(name), 'name too long').message, named: true };
  const known = code ? ERRNO_TEXT[code] : undefined;
  if (known) return { ...known, named: false };
  if (e instanceof RosError) return { kind: 'failure', text: e.message, named: false };
  unexpected(e);
  return { kind: 'failure', text: 'failure', named: false };
}

function shortName(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}…` : name;
}

/** Whether an open file holds a private key (pki holdsPrivateKey; a large file is read in pieces). */
function fileHoldsPrivateKey(fd: number, size: number): boolean {
  if (size <= BINARY_KEY_LIMIT) {
    const all = Buffer.alloc(size);
    const n = fs.readSync(fd, all, 0, size, 0);
    return holdsPrivateKey(all.subarray(0, n));
  }
  const piece = Buffer.alloc(PEM_SCAN_PIECE);
  for (let at = 0; at < size; at += PEM_SCAN_PIECE - PEM_SCAN_OVERLAP) {
    const n = fs.readSync(fd, piece, 0, piece.length, at);
    if (n === 0) break;
    if (pemKeyIn(piece.subarray(0, n))) return true;
  }
  return false;
}

/**
 * Opens a /file entry for a download (FTP RETR, SFTP, SCP): a regular file only, never through a
 * symbolic link, not even one planted after the checks (O_NOFOLLOW); and a file holding a private
 * key only for a user who has `sensitive` now — the rule of `/file` contents and of the web
 * page's downloads. Returns the descriptor (the caller closes it) and its stats.
 */
export function openForDownload(full: string, rights: ReadonlySet<Policy>): { fd: number; st: fs.Stats } {
  const fd = fs.openSync(full, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new FileRefusal('failure', 'not a regular file');
    if (!rights.has('sensitive') && fileHoldsPrivateKey(fd, st.size)) throw new FileRefusal('permission', 'not enough permissions (9)');
    return { fd, st };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

let tempCounter = 0;

/** One file being uploaded into the store. */
export class StoreUpload {
  private closed = false;
  /** A write failed (past the limit, disk full): the upload can only be dropped. */
  private broken: unknown;

  private constructor(readonly name: string, private readonly target: string, private readonly temp: string,
    private readonly fd: number, private readonly files: DiskFileStore, private readonly limit: number) {}

  /**
   * Starts an upload to the /file `name` (folders are made on the way). `keep`: start from the
   * file's present content (an SFTP open without TRUNC), else from nothing.
   */
  static open(files: DiskFileStore, name: string, limit: number, keep = false): StoreUpload {
    const { name: clean, full } = files.hostPath(name);
    let existing: fs.Stats | undefined;
    try { existing = fs.lstatSync(full); } catch { existing = undefined; }
    if (existing && !existing.isFile()) throw new FileRefusal('failure', existing.isDirectory() ? 'is a directory' : 'not a regular file');
    fs.mkdirSync(path.dirname(full), { recursive: true, mode: 0o700 });
    files.hostPath(clean); // the folders made on the way must not have become links
    // A short name of its own: the target's name plus a suffix could pass NAME_MAX. The store's
    // listings skip `.rospki-*.tmp`.
    const temp = path.join(path.dirname(full), `.rospki-${process.pid}-${++tempCounter}.tmp`);
    if (keep && existing) {
      if (existing.size > limit) throw new UploadTooLarge();
      fs.copyFileSync(full, temp);
    }
    const fd = fs.openSync(temp, keep && existing ? 'r+' : 'wx', 0o600);
    return new StoreUpload(clean, full, temp, fd, files, limit);
  }

  /** Writes bytes at an offset; past the limit it refuses, and the upload is broken for good. */
  async write(data: Uint8Array, offset: number): Promise<void> {
    await this.guard(async () => {
      if (offset + data.length > this.limit) throw new UploadTooLarge();
      let done = 0;
      while (done < data.length) {
        done += await new Promise<number>((resolve, reject) => {
          fs.write(this.fd, data, done, data.length - done, offset + done, (e, n) => (e ? reject(e) : resolve(n)));
        });
      }
    });
  }

  /** Sets the length (SFTP FSETSTAT size). */
  async truncate(length: number): Promise<void> {
    await this.guard(async () => {
      if (length > this.limit) throw new UploadTooLarge();
      fs.ftruncateSync(this.fd, length);
    });
  }

  /** Runs a change; its failure breaks the upload (a client may close it anyway: see commit). */
  private async guard(change: () => Promise<void>): Promise<void> {
    if (this.broken !== undefined) throw this.broken;
    try {
      await change();
    } catch (e) {
      this.broken = e;
      throw e;
    }
  }

  stat(): fs.Stats {
    return fs.fstatSync(this.fd);
  }

  get fileDescriptor(): number {
    return this.fd;
  }

  /**
   * The upload is complete: it replaces the target, with the router clock's time (epoch ms). A
   * broken upload is dropped instead (OpenSSH's scp closes the file after a refused write).
   */
  commit(mtime: number): void {
    if (this.broken !== undefined) {
      this.abort();
      throw this.broken;
    }
    this.close();
    try {
      fs.utimesSync(this.temp, mtime / 1000, mtime / 1000);
      fs.renameSync(this.temp, this.target);
    } catch (e) {
      fs.rmSync(this.temp, { force: true });
      throw e;
    }
    this.files.touch(path.dirname(this.target), mtime);
  }

  /** The upload failed or was refused: nothing of it stays. */
  abort(): void {
    this.close();
    fs.rmSync(this.temp, { force: true });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
  }
}
