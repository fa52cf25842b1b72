// The /file store (spec §10.2): the `files/` folder of the data directory, reached by every part
// of rospki only through this one class (the environment's `files`): /file, print file=, import,
// export-certificate, certificate requests, /tool fetch dst-path=, /import, SCP and SFTP.
//
// One path-safety rule for all of them: a name is a relative path with `/` between folders; `..`,
// `.`, empty components, backslashes, NUL bytes, over-long names and symbolic links anywhere on
// the way are refused with UnsafeFileName (a RosError naming only the /file name), and the final
// open never follows a link (O_NOFOLLOW), so a link planted between the check and the open is
// not followed either. Host paths never appear in any error: every fs failure is translated here.
//
// The API is asynchronous so that another backend (files kept in a shared database: pg-files.ts)
// takes its place without touching callers. The file transfers (SFTP, SCP, FTP) use its
// primitives (stat, readdir, openRead, upload, unlink, rmdir, mkdirOne, touch), which fail like
// the file system does (errors with an errno `code`: ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY,
// EFBIG) so that each front end answers in its own protocol's words.

import { constants as FS, type Stats } from 'node:fs';
import fs from 'node:fs';
import path from 'node:path';
import { failure, noSuchItem, RosError } from '../errors.js';

/** RouterOS returns `contents` only for files smaller than this (spec §10.2). */
export const CONTENTS_LIMIT = 61439;

/** Longest name component, in bytes (NAME_MAX of Linux file systems). */
const MAX_COMPONENT_BYTES = 255;
/** Longest whole name, in bytes. */
const MAX_NAME_BYTES = 1024;

/** A refused name: the front end logs it and shows the message. */
export class UnsafeFileName extends RosError {
  constructor(readonly requested: string, readonly reason: string) {
    super('failure', `invalid file name "${requested}": ${reason}`);
  }
}

export interface FileEntry {
  /** `/file` name: `certs/router.crt`. */
  readonly name: string;
  /** `.crt file`, `directory`, `file` (spec §10.2). */
  readonly type: string;
  /** Bytes; none for folders. */
  readonly size?: number;
  /** Last modification, epoch ms. */
  readonly mtime: number;
}

/** A file being written piece by piece (SCP, SFTP, uploads): it appears whole or not at all. */
export interface FileWriter {
  write(chunk: Buffer): Promise<void>;
  /** Makes the file visible under its name. */
  commit(mtime?: number): Promise<string>;
  /** Drops what was written. */
  abort(): Promise<void>;
  readonly bytes: number;
}

/** What is at a name (FileStore.stat). */
export interface FileStat {
  readonly kind: 'file' | 'directory';
  /** Bytes; 0 for folders. */
  readonly size: number;
  /** Last modification, epoch ms. */
  readonly mtime: number;
}

/** A file opened for reading at offsets (downloads). */
export interface FileReader {
  readonly size: number;
  readonly mtime: number;
  /** Up to `length` bytes from `offset` (fewer at the end of the file, none past it). */
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * A file being uploaded at any offsets (SFTP writes out of order and sets the length at the
 * end): it replaces the target whole on commit, and nothing of it stays on abort.
 */
export interface FileUpload {
  /** The /file name. */
  readonly name: string;
  /** Writes at an offset; past the upload's limit it fails (EFBIG) and the upload is broken. */
  write(data: Uint8Array, offset: number): Promise<void>;
  /** Sets the length (SFTP FSETSTAT size). */
  truncate(length: number): Promise<void>;
  /** The length written so far. */
  size(): number;
  /** Makes the file visible under its name with this modification time (epoch ms). */
  commit(mtime: number): Promise<void>;
  abort(): Promise<void>;
}

/** A failure as the file system reports it (`code` ENOENT, EEXIST …), naming no host path. */
export function fsError(code: string, message = code): NodeJS.ErrnoException & { fileStore: true } {
  return Object.assign(new Error(message), { code, fileStore: true as const });
}

/**
 * `.crt file`, `.p12 file`, `directory`, `file` (spec §10.2); `backup` for a `.backup` file, as
 * RouterOS names its own (services spec §9.1: `flash/auto-before-reset.backup  backup`).
 */
export function fileType(name: string, isDirectory: boolean): string {
  if (isDirectory) return 'directory';
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0 || dot === base.length - 1) return 'file';
  const extension = base.slice(dot).toLowerCase();
  return extension === '.backup' ? 'backup' : `${extension} file`;
}

/**
 * Normalises a /file name: leading `/` optional, `/` separates folders. Throws UnsafeFileName
 * for anything that could leave the store or that the host cannot hold.
 */
export function normaliseName(name: string): string {
  const shown = (): string => (name.length > 64 ? `${name.slice(0, 64)}…` : name);
  if (name.includes('\0')) throw new UnsafeFileName(shown().replace(/\0/g, '\\0'), 'NUL bytes are not allowed');
  if (name.includes('\\')) throw new UnsafeFileName(shown(), 'backslashes are not allowed');
  // A line break or an escape sequence in a name would break FTP replies, listings and terminals.
  if (/[\x01-\x1f\x7f]/.test(name)) throw new UnsafeFileName(shown(), 'control characters are not allowed');
  const trimmed = name.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') throw new UnsafeFileName(name, 'empty name');
  if (Buffer.byteLength(trimmed) > MAX_NAME_BYTES) throw new UnsafeFileName(shown(), 'name too long');
  const parts = trimmed.split('/');
  for (const p of parts) {
    if (p === '') throw new UnsafeFileName(shown(), 'empty folder name');
    if (p === '.' || p === '..') throw new UnsafeFileName(shown(), 'names outside of the file store are not allowed');
    if (Buffer.byteLength(p) > MAX_COMPONENT_BYTES) throw new UnsafeFileName(shown(), 'name too long');
  }
  return parts.join('/');
}

/** Text for `contents`: valid UTF-8 without control characters, under CONTENTS_LIMIT. */
export function textContents(data: Buffer): string | undefined {
  if (data.length >= CONTENTS_LIMIT || /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(data.toString('latin1'))) return undefined;
  const text = data.toString('utf8');
  if (text.includes('\uFFFD')) return undefined;
  return text;
}

/**
 * Writes the same data into several files, all or none as far as a disk allows: every file is
 * written aside first (where a full or failing disk shows), and only then is each put in place
 * (FileWriter.commit: a rename on disk).
 */
export async function writeAll(store: FileStore, names: readonly string[], data: Buffer | string, mtime?: number): Promise<void> {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const writers: FileWriter[] = [];
  try {
    for (const name of names) {
      const writer = await store.writer(name);
      writers.push(writer);
      await writer.write(bytes);
    }
  } catch (e) {
    for (const writer of writers) await writer.abort();
    throw e;
  }
  for (const writer of writers) await writer.commit(mtime);
}

/** An fs failure as a RosError that names only the /file name (never a host path or errno text). */
export function fileFailure(e: unknown, name: string): RosError {
  if (e instanceof RosError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT': return noSuchItem();
    case 'EEXIST': return failure(`${name} already exists`);
    case 'EISDIR': return failure(`${name} is a directory`);
    case 'ENOTDIR': return failure(`${name}: a folder on the way is a file`);
    case 'ENOTEMPTY': return failure(`${name} is not empty`);
    case 'ELOOP': return new UnsafeFileName(name, 'symbolic links are not followed');
    case 'ENAMETOOLONG': return new UnsafeFileName(name, 'name too long');
    case 'ENOSPC': case 'EDQUOT': return failure('not enough disk space');
    case 'EACCES': case 'EPERM': case 'EROFS': return failure(`${name}: permission denied`);
    default: return failure(`${name}: file operation failed${code ? ` (${code})` : ''}`);
  }
}

const isErrno = (e: unknown, ...codes: string[]): boolean => codes.includes((e as NodeJS.ErrnoException)?.code ?? '');

/** The /file store as the rest of rospki sees it (the environment's `files`). */
export interface FileStore {
  /** The checked, normalised form of a name (throws UnsafeFileName). */
  check(name: string): string;
  /** What is at a name now: `file`, `directory` or undefined. */
  kind(name: string): Promise<'file' | 'directory' | undefined>;
  /** Reads a whole file, refusing more than `limit` bytes. */
  read(name: string, limit?: number): Promise<Buffer>;
  /** The text `contents` of a small text file, or undefined (binary, large, missing, folder). */
  text(name: string): Promise<string | undefined>;
  /** Writes a whole file atomically, creating folders on the way; returns the normalised name. */
  write(name: string, data: Buffer | string, mtime?: number): Promise<string>;
  /** Starts writing a file piece by piece (at most `limit` bytes). */
  writer(name: string, limit?: number): Promise<FileWriter>;
  mkdir(name: string, mtime?: number): Promise<string>;
  /**
   * Removes files, or folders with everything in them: all of them or, when one fails, none
   * (a command that removes several is all-or-nothing, also against a disk failing half-way).
   */
  remove(names: readonly string[], mtime?: number): Promise<void>;
  /** Moves a file or folder to a new name (also into folders). */
  rename(from: string, to: string, mtime?: number): Promise<string>;
  /** Everything in the store, each folder before its contents. */
  list(): Promise<FileEntry[]>;
  /** The file a `file-name=` argument means: exact name, else the one file it is a prefix of. */
  match(input: string, argName?: string): Promise<string>;
  /**
   * The file system holding the store (/disk, /system resource free-hdd-space): its size and
   * free space in bytes, its type (`ext4`, `tmpfs` …); undefined when it cannot be read.
   */
  space(): Promise<FileSystemSpace | undefined>;

  // The primitives of the file transfers (SFTP, SCP, FTP). A name of '' is the store's root folder.

  /** What is at a name now, or undefined. */
  stat(name: string): Promise<FileStat | undefined>;
  /** A folder's entries (name without the folder, in name order); ENOENT, ENOTDIR. */
  readdir(folder: string): Promise<{ name: string; stat: FileStat }[]>;
  /** Opens a file for reading; ENOENT, EISDIR. */
  openRead(name: string): Promise<FileReader>;
  /**
   * Starts an upload to a file (the folders on the way are made), at most `limit` bytes; `keep`
   * starts from the file's present content (an SFTP open without TRUNC). EISDIR for a folder.
   */
  upload(name: string, limit: number, keep?: boolean): Promise<FileUpload>;
  /** Removes a file; ENOENT. */
  unlink(name: string): Promise<void>;
  /** Removes an empty folder; ENOENT, ENOTDIR, ENOTEMPTY. */
  rmdir(name: string): Promise<void>;
  /** Creates one folder in an existing one; EEXIST, ENOENT. */
  mkdirOne(name: string, mtime?: number): Promise<void>;
  /** Sets the modification time of a name and of the folders above it (the router clock). */
  touch(name: string, mtime: number): Promise<void>;
}

export interface FileSystemSpace {
  readonly size: number;
  /** Bytes an unprivileged writer may still use (statfs f_bavail). */
  readonly free: number;
  readonly totalInodes: number;
  readonly freeInodes: number;
  /** File system type by its statfs magic: `ext4`, `xfs`, `btrfs`, `tmpfs`, `overlay`, … or `-`. */
  readonly fs: string;
}

/** statfs f_type magic numbers (linux/magic.h) of the file systems a data directory lives on. */
const FS_MAGIC: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext4'], [0x58465342, 'xfs'], [0x9123683e, 'btrfs'], [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlay'], [0x2fc12fc1, 'zfs'], [0x6969, 'nfs'], [0xff534d42, 'smb'], [0xfe534d42, 'smb'],
  [0x4d44, 'fat32'], [0x5346544e, 'ntfs'], [0x2011bab0, 'exfat'], [0x65735546, 'fuse'], [0xf2f52010, 'f2fs'],
]);

/** The store on the host's disk: the `files/` folder of a data directory. */
export class DiskFileStore implements FileStore {
  private readonly root: string;

  constructor(filesDir: string) {
    this.root = path.resolve(filesDir);
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
  }

  /** The checked, normalised form of a name (throws UnsafeFileName). */
  check(name: string): string {
    return this.resolve(name).name;
  }

  /** What is at a name now: `file`, `directory` or undefined. */
  async kind(name: string): Promise<'file' | 'directory' | undefined> {
    const { full } = this.resolve(name);
    const st = lstatOrUndefined(full);
    if (!st) return undefined;
    return st.isDirectory() ? 'directory' : st.isFile() ? 'file' : undefined;
  }

  /** Reads a whole file, refusing more than `limit` bytes (never follows a link). */
  async read(name: string, limit = 64 * 1024 * 1024): Promise<Buffer> {
    const { name: clean, full } = this.resolve(name);
    let fd: number;
    try {
      fd = fs.openSync(full, FS.O_RDONLY | FS.O_NOFOLLOW);
    } catch (e) {
      throw fileFailure(e, clean);
    }
    try {
      const st = fs.fstatSync(fd);
      if (st.isDirectory()) throw failure(`${clean} is a directory`);
      if (!st.isFile()) throw failure(`${clean} is not a file`);
      if (st.size > limit) throw failure(`${clean} is too large (${st.size} bytes, at most ${limit})`);
      return fs.readFileSync(fd);
    } catch (e) {
      throw fileFailure(e, clean);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The text `contents` of a small text file, or undefined (binary, large, missing, folder). */
  async text(name: string): Promise<string | undefined> {
    try {
      const { full } = this.resolve(name);
      const st = lstatOrUndefined(full);
      if (!st?.isFile() || st.size >= CONTENTS_LIMIT) return undefined;
      return textContents(await this.read(name, CONTENTS_LIMIT));
    } catch {
      return undefined;
    }
  }

  /**
   * Writes a whole file atomically (a private temporary file renamed into place, so a reader
   * never sees half of it), creating folders on the way. `mtime` (epoch ms, the router clock)
   * becomes its last-modified. Returns the normalised name.
   */
  async write(name: string, data: Buffer | string, mtime?: number): Promise<string> {
    const writer = await this.writer(name);
    try {
      await writer.write(Buffer.isBuffer(data) ? data : Buffer.from(data));
      return await writer.commit(mtime);
    } catch (e) {
      await writer.abort();
      throw e;
    }
  }

  /** Starts writing a file piece by piece (at most `limit` bytes); see FileWriter. */
  async writer(name: string, limit = Number.MAX_SAFE_INTEGER): Promise<FileWriter> {
    const { name: clean, full } = this.resolve(name);
    const kind = await this.kind(clean);
    if (kind === 'directory') throw failure(`${clean} is a directory`);
    this.makeFolders(path.dirname(full), clean);
    // A short name of its own (the target's name plus a suffix could pass NAME_MAX); listings
    // skip `.rospki-*.tmp`.
    const tmp = path.join(path.dirname(full), `.rospki-${process.pid}-${Math.random().toString(36).slice(2)}.tmp`);
    let fd: number;
    try {
      fd = fs.openSync(tmp, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, 0o600);
    } catch (e) {
      throw fileFailure(e, clean);
    }
    let bytes = 0;
    let open = true;
    const close = (): void => { if (open) { open = false; fs.closeSync(fd); } };
    const drop = (): void => { close(); try { fs.unlinkSync(tmp); } catch { /* already gone */ } };
    const self = this;
    return {
      get bytes() { return bytes; },
      async write(chunk) {
        if (!open) throw failure(`${clean}: the file is closed`);
        if (bytes + chunk.length > limit) { drop(); throw failure(`${clean} is too large (at most ${limit} bytes)`); }
        try {
          for (let off = 0; off < chunk.length;) off += fs.writeSync(fd, chunk, off);
        } catch (e) {
          drop();
          throw fileFailure(e, clean);
        }
        bytes += chunk.length;
      },
      async commit(mtime) {
        try {
          close();
          if (mtime !== undefined) fs.utimesSync(tmp, mtime / 1000, mtime / 1000);
          // The folders may have changed since the checks: check the way once more, then rename.
          self.resolve(clean);
          fs.renameSync(tmp, full);
        } catch (e) {
          drop();
          throw fileFailure(e, clean);
        }
        if (mtime !== undefined) self.touchPath(path.dirname(full), mtime);
        return clean;
      },
      async abort() { drop(); },
    };
  }

  /** Creates a folder (and the folders on the way). */
  async mkdir(name: string, mtime?: number): Promise<string> {
    const { name: clean, full } = this.resolve(name);
    this.makeFolders(full, clean);
    if (mtime !== undefined) this.touchPath(full, mtime);
    return clean;
  }

  /**
   * Removes files or folders, all or none: each is first renamed aside in its own folder (one
   * rename each, so a folder never goes half; listings skip the `.rospki-*.tmp` name), and only
   * when all are aside are they deleted. A rename that fails puts the ones before it back.
   */
  async remove(names: readonly string[], mtime?: number): Promise<void> {
    const targets = names.map((name) => this.resolve(name));
    const aside: { name: string; full: string; tmp: string }[] = [];
    try {
      for (const { name, full } of targets) {
        if (!lstatOrUndefined(full)) continue;
        const tmp = path.join(path.dirname(full), `.rospki-${process.pid}-${Math.random().toString(36).slice(2)}.tmp`);
        try {
          fs.renameSync(full, tmp);
        } catch (e) {
          throw fileFailure(e, name);
        }
        aside.push({ name, full, tmp });
      }
    } catch (e) {
      for (const a of aside.reverse()) {
        try { fs.renameSync(a.tmp, a.full); } catch { /* left aside: listings skip it */ }
      }
      throw e;
    }
    // Gone from the store now; what the disk keeps of one that will not go is hidden and harmless.
    for (const a of aside) {
      try { fs.rmSync(a.tmp, { recursive: true, force: true }); } catch { /* hidden, see above */ }
    }
    if (mtime !== undefined) for (const a of aside) this.touchPath(path.dirname(a.full), mtime);
  }

  /** Moves a file or folder to a new name (also into folders). */
  async rename(from: string, to: string, mtime?: number): Promise<string> {
    const a = this.resolve(from);
    const b = this.resolve(to);
    if (a.name === b.name) return b.name;
    if (lstatOrUndefined(b.full)) throw failure(`${b.name} already exists`);
    if (b.full.startsWith(a.full + path.sep)) throw failure('a folder can not be moved into itself');
    this.makeFolders(path.dirname(b.full), b.name);
    try {
      fs.renameSync(a.full, b.full);
    } catch (e) {
      throw fileFailure(e, a.name);
    }
    if (mtime !== undefined) {
      this.touchPath(path.dirname(a.full), mtime);
      this.touchPath(path.dirname(b.full), mtime);
    }
    return b.name;
  }

  async space(): Promise<FileSystemSpace | undefined> {
    try {
      const st = await fs.promises.statfs(this.root);
      return {
        size: st.blocks * st.bsize, free: st.bavail * st.bsize, totalInodes: st.files, freeInodes: st.ffree,
        fs: FS_MAGIC.get(st.type) ?? '-',
      };
    } catch {
      return undefined;
    }
  }

  /** Everything in the store, in name order with each folder before its contents; links and temporary files skipped. */
  async list(): Promise<FileEntry[]> {
    return this.scan();
  }

  private scan(): FileEntry[] {
    const out: FileEntry[] = [];
    const walk = (dir: string, prefix: string, depth: number): void => {
      if (depth > 32) return;
      let names: string[];
      try {
        names = fs.readdirSync(dir).sort();
      } catch {
        return;
      }
      for (const n of names) {
        if (n.endsWith('.tmp') && n.includes('.rospki-')) continue;
        const st = lstatOrUndefined(path.join(dir, n));
        if (!st || st.isSymbolicLink()) continue;
        const name = prefix + n;
        if (st.isDirectory()) {
          out.push({ name, type: 'directory', mtime: Math.floor(st.mtimeMs) });
          walk(path.join(dir, n), `${name}/`, depth + 1);
        } else if (st.isFile()) {
          out.push({ name, type: fileType(name, false), size: st.size, mtime: Math.floor(st.mtimeMs) });
        }
      }
    };
    walk(this.root, '', 0);
    return out;
  }

  /**
   * The file a `file-name=` argument means: the exact name, else the one file whose name starts
   * with it (spec §1.7: an ambiguous prefix is an error).
   */
  async match(input: string, argName = 'file-name'): Promise<string> {
    const { name: clean, full } = this.resolve(input);
    if (lstatOrUndefined(full)?.isFile()) return clean; // exact: no need to list the store
    const hits = this.scan().filter((e) => e.type !== 'directory' && e.name.startsWith(clean)).map((e) => e.name);
    if (hits.length === 1) return hits[0]!;
    if (hits.length > 1) throw new RosError('argument', `ambiguous value of ${argName}, more than one possible value matches input`);
    throw new RosError('argument', `input does not match any value of ${argName}`);
  }

  async stat(name: string): Promise<FileStat | undefined> {
    const full = name === '' ? this.root : this.resolve(name).full;
    const st = lstatOrUndefined(full);
    return st ? statOf(st) : undefined;
  }

  async readdir(folder: string): Promise<{ name: string; stat: FileStat }[]> {
    const full = folder === '' ? this.root : this.resolve(folder).full;
    const out: { name: string; stat: FileStat }[] = [];
    for (const n of fs.readdirSync(full).sort()) {
      if (n.endsWith('.tmp') && n.includes('.rospki-')) continue;
      const st = lstatOrUndefined(path.join(full, n));
      const stat = st && statOf(st);
      if (stat) out.push({ name: n, stat }); // links and the like are not in the store
    }
    return out;
  }

  async openRead(name: string): Promise<FileReader> {
    const { full } = this.resolve(name);
    const fd = fs.openSync(full, FS.O_RDONLY | FS.O_NOFOLLOW);
    try {
      const st = fs.fstatSync(fd);
      if (st.isDirectory()) throw fsError('EISDIR');
      return {
        size: st.size, mtime: Math.floor(st.mtimeMs),
        read: (offset, length) => new Promise<Buffer>((resolve, reject) => {
          const buf = Buffer.alloc(length);
          fs.read(fd, buf, 0, length, offset, (e, n) => (e ? reject(e) : resolve(buf.subarray(0, n))));
        }),
        close: async () => { try { fs.closeSync(fd); } catch { /* closed */ } },
      };
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  async upload(name: string, limit: number, keep = false): Promise<FileUpload> {
    return DiskUpload.open(this, name, limit, keep);
  }

  async unlink(name: string): Promise<void> {
    fs.unlinkSync(this.resolve(name).full);
  }

  async rmdir(name: string): Promise<void> {
    fs.rmdirSync(this.resolve(name).full);
  }

  async mkdirOne(name: string, mtime?: number): Promise<void> {
    const { full } = this.resolve(name);
    fs.mkdirSync(full, { mode: 0o700 });
    if (mtime !== undefined) this.touchPath(full, mtime);
  }

  async touch(name: string, mtime: number): Promise<void> {
    this.touchPath(name === '' ? this.root : this.resolve(name).full, mtime);
  }

  /**
   * The host path of a name, checked (see resolve): for an upload written on disk beside its
   * target (DiskUpload).
   */
  hostPath(name: string): { name: string; full: string } {
    return this.resolve(name);
  }

  /**
   * The host path of a name, checked: every existing component below the root is a real folder
   * or file (no symbolic links) and the result stays inside the root.
   */
  private resolve(name: string): { name: string; full: string } {
    const clean = normaliseName(name);
    const full = path.resolve(this.root, clean);
    if (!full.startsWith(this.root + path.sep)) throw new UnsafeFileName(name, 'names outside of the file store are not allowed');
    let at = this.root;
    for (const part of clean.split('/')) {
      at = path.join(at, part);
      const st = lstatOrUndefined(at);
      if (!st) break; // does not exist (yet): nothing further can be a link
      if (st.isSymbolicLink()) throw new UnsafeFileName(clean, 'symbolic links are not followed');
    }
    return { name: clean, full };
  }

  /** Creates the folders of `dir` (below the root) one by one, never through a link. */
  private makeFolders(dir: string, name: string): void {
    const rel = path.relative(this.root, dir);
    if (rel === '') return;
    let at = this.root;
    for (const part of rel.split(path.sep)) {
      at = path.join(at, part);
      try {
        fs.mkdirSync(at, { mode: 0o700 });
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw fileFailure(e, name);
      }
      const st = lstatOrUndefined(at);
      if (!st?.isDirectory() || st.isSymbolicLink()) {
        throw st?.isSymbolicLink() ? new UnsafeFileName(name, 'symbolic links are not followed') : failure(`${name}: a folder on the way is a file`);
      }
    }
  }

  /** A folder rospki changed shows the router clock too (not the host's), up to the store root. */
  touchPath(dir: string, mtime: number): void {
    for (let d = path.resolve(dir); d.startsWith(this.root + path.sep); d = path.dirname(d)) {
      try {
        fs.utimesSync(d, mtime / 1000, mtime / 1000);
      } catch {
        return;
      }
    }
  }
}

function statOf(st: Stats): FileStat | undefined {
  if (st.isDirectory()) return { kind: 'directory', size: 0, mtime: Math.floor(st.mtimeMs) };
  if (st.isFile()) return { kind: 'file', size: st.size, mtime: Math.floor(st.mtimeMs) };
  return undefined;
}

let tempCounter = 0;

/**
 * An upload on disk: a temporary file beside the target, written as the bytes arrive (never held
 * in memory) and never past the limit, that replaces the target in one rename when complete and
 * is removed otherwise, so a refused or broken transfer leaves nothing.
 */
class DiskUpload implements FileUpload {
  private closed = false;
  /** A write failed (past the limit, disk full): the upload can only be dropped. */
  private broken: unknown;

  private constructor(readonly name: string, private readonly target: string, private readonly temp: string,
    private readonly fd: number, private readonly files: DiskFileStore, private readonly limit: number) {}

  static open(files: DiskFileStore, name: string, limit: number, keep: boolean): DiskUpload {
    const { name: clean, full } = files.hostPath(name);
    const existing = lstatOrUndefined(full);
    if (existing && !existing.isFile()) throw fsError(existing.isDirectory() ? 'EISDIR' : 'EINVAL', existing.isDirectory() ? 'is a directory' : 'not a regular file');
    fs.mkdirSync(path.dirname(full), { recursive: true, mode: 0o700 });
    files.hostPath(clean); // the folders made on the way must not have become links
    // A short name of its own: the target's name plus a suffix could pass NAME_MAX. Listings
    // skip `.rospki-*.tmp`.
    const temp = path.join(path.dirname(full), `.rospki-${process.pid}-${++tempCounter}.tmp`);
    if (keep && existing) {
      if (existing.size > limit) throw fsError('EFBIG');
      fs.copyFileSync(full, temp);
    }
    const fd = fs.openSync(temp, keep && existing ? 'r+' : 'wx', 0o600);
    return new DiskUpload(clean, full, temp, fd, files, limit);
  }

  async write(data: Uint8Array, offset: number): Promise<void> {
    await this.guard(async () => {
      if (offset + data.length > this.limit) throw fsError('EFBIG');
      let done = 0;
      while (done < data.length) {
        done += await new Promise<number>((resolve, reject) => {
          fs.write(this.fd, data, done, data.length - done, offset + done, (e, n) => (e ? reject(e) : resolve(n)));
        });
      }
    });
  }

  async truncate(length: number): Promise<void> {
    await this.guard(async () => {
      if (length > this.limit) throw fsError('EFBIG');
      fs.ftruncateSync(this.fd, length);
    });
  }

  size(): number {
    return fs.fstatSync(this.fd).size;
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

  async commit(mtime: number): Promise<void> {
    if (this.broken !== undefined) {
      await this.abort();
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
    this.files.touchPath(path.dirname(this.target), mtime);
  }

  async abort(): Promise<void> {
    this.close();
    fs.rmSync(this.temp, { force: true });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
  }
}

function lstatOrUndefined(full: string): Stats | undefined {
  try {
    return fs.lstatSync(full);
  } catch {
    return undefined;
  }
}
