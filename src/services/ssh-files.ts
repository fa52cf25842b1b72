// What SCP, SFTP and FTP share over the /file store (uploads themselves are the store's:
// FileStore.upload, which replaces the target whole when complete and leaves nothing otherwise):
// one translation of failures into RouterOS-like messages that name only the /file name: never
// a host path, never an errno text (those carry the absolute path of the data directory).
// Unexpected errors go to the daemon's log with their stack, the client sees `failure`.

import { RosError } from '../errors.js';
import { readerHoldsSecret, type MenuList } from '../menu/secret-files.js';
import type { Policy } from '../menu/types.js';
import { UnsafeFileName, type FileReader, type FileStore, type FileUpload } from '../store/files.js';

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

/**
 * A client path ending in `/` (or `/.`) names a folder, as POSIX path resolution reads it: where
 * no folder has that name it can not be opened as a file (missing: no such file; a file: not a
 * directory), as OpenSSH's server fails `open("nodir/")`. Else the trailing `/` would be dropped
 * with the empty segment and `scp f host:nodir/` would make a file `nodir`. The one rule of SCP,
 * SFTP and FTP.
 */
export async function refuseFolderPathAsFile(files: FileStore, clientPath: string, name: string): Promise<void> {
  if (name === '' || !/\/\.?$/.test(clientPath)) return;
  const st = await files.stat(name);
  if (!st) throw new FileRefusal('no-such-file', 'no such file');
  if (st.kind !== 'directory') throw new FileRefusal('failure', 'not a directory');
}

/**
 * Opens a /file entry for a download (FTP RETR, SFTP, SCP): a regular file only, never through a
 * symbolic link (the store's openRead), and a file holding a secret (a private key, sensitive
 * values: menu/secret-files.ts) only for a user who has `sensitive` now — the rule of `/file`
 * contents and of the web page's downloads. The caller closes the reader.
 */
export async function openForDownload(files: FileStore, name: string, rights: ReadonlySet<Policy>, registry: MenuList): Promise<FileReader> {
  const file = await files.openRead(name).catch((e: unknown) => {
    throw (e as NodeJS.ErrnoException)?.code === 'EISDIR' ? new FileRefusal('failure', 'not a regular file') : e;
  });
  try {
    if (!rights.has('sensitive') && await readerHoldsSecret(file, registry)) throw new FileRefusal('permission', 'not enough permissions (9)');
    return file;
  } catch (e) {
    await file.close();
    throw e;
  }
}

/**
 * Starts an upload (FTP STOR/APPE, SFTP OPEN for writing). One that keeps the file's present
 * content (`keep`: FTP APPE or REST+STOR, SFTP OPEN without TRUNC) reads that content: a user
 * who may not read the file (a secret, without `sensitive`) would change a byte of a key's PEM
 * header in place, or cut a DER key short, until the rule no longer recognised it, and then
 * download the rest. Such an upload takes what a download of the file takes. The file is judged
 * before the upload copies it and again after, so swapping it in between does not pass either.
 */
export async function openForUpload(files: FileStore, name: string, limit: number, keep: boolean, rights: ReadonlySet<Policy>, registry: MenuList): Promise<FileUpload> {
  const mayKeep = async (): Promise<void> => {
    if (!keep || rights.has('sensitive') || (await files.stat(name))?.kind !== 'file') return;
    await (await openForDownload(files, name, rights, registry)).close();
  };
  await mayKeep();
  const upload = await files.upload(name, limit, keep);
  try {
    await mayKeep();
  } catch (e) {
    await upload.abort();
    throw e;
  }
  return upload;
}
