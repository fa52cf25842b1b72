// The SFTP subsystem over the /file store (OpenSSH's sftp, and scp, which uses SFTP since
// OpenSSH 9). The store's folder is the root `/`; every name goes through the store's name rule,
// so `..`, symbolic links and NUL bytes are refused (and logged) and nothing outside the store is
// ever read or written. An upload (FileStore.upload) replaces the target when the handle is
// closed: a file of the same name is overwritten, readers never see half a file, and no upload
// grows past ServiceOptions.maxUploadBytes. The store may be the data directory or PostgreSQL
// (issue 17): only its FileStore primitives are used. Every failure is answered with a
// RouterOS-like message that names no host path.
//
// Policies: the `ftp` policy to use it at all (RouterOS: file transfer), `read` to download,
// `write` for anything that changes the store, `sensitive` to download a file holding a private
// key — each checked at every request with what the user's group grants now (a disabled,
// demoted or re-passworded user's open session loses them at once, as on every front end).

import path from 'node:path';
import ssh2 from 'ssh2';
import { formatDate, type TimeZone } from '../clock.js';
import type { Policy, Session } from '../menu/types.js';
import { effectivePolicies, logFileRefusal } from '../menu/executor.js';
import { UnsafeFileName, type FileReader, type FileStat, type FileUpload } from '../store/files.js';
import { plainAddress } from './auth.js';
import { isAutoImport, runAutoImport } from './auto-import.js';
import type { ServiceContext } from './context.js';
import { fileFailure, FileRefusal, openForDownload, openForUpload, refuseFolderPathAsFile } from './ssh-files.js';
import type { SshUser } from './ssh.js';

const { STATUS_CODE, OPEN_MODE } = ssh2.utils.sftp;

/** Open handles per SFTP session (OpenSSH's client keeps a few; each holds a file descriptor). */
const MAX_HANDLES = 64;

interface ReadHandle {
  kind: 'read';
  reader: FileReader;
}
interface WriteHandle {
  kind: 'write';
  upload: FileUpload;
}
interface DirHandle {
  kind: 'dir';
  /** The folder's /file name ('' = the root). */
  name: string;
  done: boolean;
}
type Handle = ReadHandle | WriteHandle | DirHandle;

const STATUS_OF = { 'no-such-file': STATUS_CODE.NO_SUCH_FILE, permission: STATUS_CODE.PERMISSION_DENIED, failure: STATUS_CODE.FAILURE } as const;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function attrsOf(st: FileStat): ssh2.Attributes {
  const directory = st.kind === 'directory';
  const mode = directory ? 0o040755 : 0o100644;
  const time = Math.floor(st.mtime / 1000);
  return { mode, uid: 0, gid: 0, size: directory ? 0 : st.size, atime: time, mtime: time };
}

/** `ls -l` style line (sftp's `ls -l` shows it; FTP's LIST sends it); the time in the router's zone. */
export function longname(name: string, st: FileStat, owner: string, zone: TimeZone): string {
  const local = formatDate(st.mtime, zone); // YYYY-MM-DD HH:MM:SS
  const directory = st.kind === 'directory';
  const perms = directory ? 'drwxr-xr-x' : '-rw-r--r--';
  const size = String(directory ? 0 : st.size).padStart(8);
  const date = `${MONTHS[Number(local.slice(5, 7)) - 1]} ${String(Number(local.slice(8, 10))).padStart(2)} ${local.slice(11, 16)}`;
  return `${perms}    1 ${owner.padEnd(8)} ${owner.padEnd(8)} ${size} ${date} ${name}`;
}

/** The store-relative name of an SFTP path ('' = the root); `.` segments are dropped. */
function storeName(p: string): string {
  return p.split('/').filter((s) => s !== '' && s !== '.').join('/');
}

export function serveSftp(sftp: ssh2.SFTPWrapper, opts: { ctx: ServiceContext; user: SshUser }): void {
  const { ctx, user } = opts;
  const { app } = ctx;
  const { files } = app;
  const handles = new Map<number, Handle>();
  let nextHandle = 1;
  const session: Session = {
    user: user.name, via: 'ssh', channel: 'ssh', policies: user.policies, stamp: user.stamp, lastPrint: new Map(), width: 80,
  };
  /** The session's rights now: none once its user is disabled, removed, demoted or re-passworded. */
  const rights = (): Promise<ReadonlySet<Policy>> => app.store.read((tx) => effectivePolicies(app.env, tx, session));
  const need = async (policy: Policy): Promise<void> => {
    if (!(await rights()).has(policy)) throw new FileRefusal('permission', 'not enough permissions (9)');
  };
  /** The /file name of an SFTP path, checked; '' is the store's root. */
  const resolve = (p: string): string => {
    const name = storeName(p);
    return name === '' ? '' : files.check(name);
  };
  const lstat = async (name: string): Promise<FileStat> => {
    const st = await files.stat(name);
    if (!st) throw new FileRefusal('no-such-file', 'no such file');
    return st;
  };
  const newHandle = (h: Handle): Buffer => {
    const id = nextHandle++;
    handles.set(id, h);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(id);
    return b;
  };
  const handleOf = (b: Buffer): [number, Handle] => {
    const id = b.length === 4 ? b.readUInt32BE(0) : -1;
    const h = handles.get(id);
    if (!h) throw new FileRefusal('failure', 'invalid handle');
    return [id, h];
  };
  const closeHandle = (h: Handle): void => {
    if (h.kind === 'read') void h.reader.close().catch(() => {});
    if (h.kind === 'write') void h.upload.abort().catch(() => {});
  };

  /**
   * Runs one request after the ones before it, so replies come in the order of the requests, as
   * from OpenSSH's sftp-server: OpenSSH's scp sets the length of an upload at its end (FSETSTAT
   * size) from the writes acknowledged in order, so replies out of order cut the file short.
   * Every failure becomes a status reply without host paths.
   */
  let queue = Promise.resolve();
  const serve = (reqid: number, p: string, fn: () => void | Promise<void>): void => {
    // Every request needs `ftp` as the user's group grants it now, as FTP checks every command.
    queue = queue.then(async () => { await need('ftp'); await fn(); }).catch(async (e: unknown) => {
      if (e instanceof UnsafeFileName) await logFileRefusal(app.env, session, e);
      const f = fileFailure(e, storeName(p), (x) => ctx.internalError(x));
      sftp.status(reqid, STATUS_OF[f.kind], f.text);
    });
  };

  // Without `ftp` at login there is no subsystem; after, every request checks it live (serve).
  if (!user.policies.has('ftp')) {
    sftp.end();
    return;
  }

  sftp.on('REALPATH', (reqid, p) => serve(reqid, p, () => {
    // Resolved inside the store: `..` stops at the root, as in a chroot.
    const abs = path.posix.normalize(`/${p}`);
    const clean = abs.length > 1 ? abs.replace(/\/+$/, '') : abs;
    sftp.name(reqid, [{ filename: clean, longname: clean, attrs: {} as ssh2.Attributes }]);
  }));

  const stat = (reqid: number, p: string) => serve(reqid, p, async () => {
    sftp.attrs(reqid, attrsOf(await lstat(resolve(p))));
  });
  sftp.on('STAT', stat);
  sftp.on('LSTAT', stat);
  sftp.on('FSTAT', (reqid, hb) => serve(reqid, '', async () => {
    const [, h] = handleOf(hb);
    const st: FileStat = h.kind === 'read' ? { kind: 'file', size: h.reader.size, mtime: h.reader.mtime }
      : h.kind === 'write' ? { kind: 'file', size: h.upload.size(), mtime: app.clock.now() } : await lstat(h.name);
    sftp.attrs(reqid, attrsOf(st));
  }));
  // Times and modes are rospki's own (router clock, 0644): accepted and ignored. A size
  // truncates a file being written (OpenSSH's scp opens without TRUNC and truncates at the end).
  sftp.on('SETSTAT', (reqid, p) => serve(reqid, p, async () => { await lstat(resolve(p)); sftp.status(reqid, STATUS_CODE.OK); }));
  sftp.on('FSETSTAT', (reqid, hb, attrs) => serve(reqid, '', async () => {
    const [, h] = handleOf(hb);
    if (h.kind === 'write' && typeof attrs?.size === 'number') await h.upload.truncate(attrs.size);
    sftp.status(reqid, STATUS_CODE.OK);
  }));

  sftp.on('OPENDIR', (reqid, p) => serve(reqid, p, async () => {
    const name = resolve(p);
    if ((await lstat(name)).kind !== 'directory') throw new FileRefusal('failure', 'not a directory');
    if (handles.size >= MAX_HANDLES) throw new FileRefusal('failure', 'too many open files');
    sftp.handle(reqid, newHandle({ kind: 'dir', name, done: false }));
  }));
  sftp.on('READDIR', (reqid, hb) => serve(reqid, '', async () => {
    const [, h] = handleOf(hb);
    if (h.kind !== 'dir') throw new FileRefusal('failure', 'not a directory');
    if (h.done) { sftp.status(reqid, STATUS_CODE.EOF); return; }
    h.done = true;
    const zone = await app.store.read((tx) => app.env.zone(tx));
    const entries: ssh2.FileEntry[] = (await files.readdir(h.name))
      .map(({ name: n, stat: st }) => ({ filename: n, longname: longname(n, st, user.name, zone), attrs: attrsOf(st) }));
    if (entries.length === 0) sftp.status(reqid, STATUS_CODE.EOF);
    else sftp.name(reqid, entries);
  }));

  sftp.on('OPEN', (reqid, p, flags) => serve(reqid, p, async () => {
    const name = resolve(p);
    if (name === '') throw new FileRefusal('failure', 'is a directory');
    if (handles.size >= MAX_HANDLES) throw new FileRefusal('failure', 'too many open files');
    const writing = (flags & (OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC)) !== 0;
    const exists = await files.stat(name);
    if (exists?.kind === 'directory') throw new FileRefusal('failure', 'not a regular file');
    await refuseFolderPathAsFile(files, p, name);
    if (!writing) {
      await need('read');
      if (!exists) throw new FileRefusal('no-such-file', 'no such file');
      // Never through a link; a secret (a private key, sensitive values) only with `sensitive` (ssh-files.ts).
      sftp.handle(reqid, newHandle({ kind: 'read', reader: await openForDownload(files, name, await rights(), app.registry) }));
      return;
    }
    await need('write');
    if (!exists && !(flags & OPEN_MODE.CREAT)) throw new FileRefusal('no-such-file', 'no such file');
    if (exists && (flags & OPEN_MODE.EXCL)) throw new FileRefusal('failure', 'file exists');
    const upload = await openForUpload(files, name, ctx.options.maxUploadBytes, !(flags & OPEN_MODE.TRUNC), await rights(), app.registry);
    sftp.handle(reqid, newHandle({ kind: 'write', upload }));
  }));

  sftp.on('READ', (reqid, hb, offset, len) => serve(reqid, '', async () => {
    const [, h] = handleOf(hb);
    if (h.kind !== 'read') throw new FileRefusal('failure', 'not opened for reading');
    const data = await h.reader.read(offset, Math.min(len, 256 * 1024));
    if (data.length === 0) sftp.status(reqid, STATUS_CODE.EOF);
    else sftp.data(reqid, data);
  }));

  sftp.on('WRITE', (reqid, hb, offset, data) => serve(reqid, '', async () => {
    const [, h] = handleOf(hb);
    if (h.kind !== 'write') throw new FileRefusal('permission', 'not opened for writing');
    await h.upload.write(data, offset);
    sftp.status(reqid, STATUS_CODE.OK);
  }));

  sftp.on('CLOSE', (reqid, hb) => serve(reqid, '', async () => {
    const [id, h] = handleOf(hb);
    handles.delete(id);
    if (h.kind === 'write') await h.upload.commit(app.clock.now());
    else closeHandle(h);
    sftp.status(reqid, STATUS_CODE.OK);
    // An uploaded *.auto.rsc runs as its uploader (M-CFG: "uploading with FTP or SFTP").
    if (h.kind === 'write' && isAutoImport(h.upload.name)) {
      const by = { user: user.name, policies: user.policies, stamp: user.stamp, channel: 'ftp' as const, via: 'ssh', address: plainAddress(user.address) };
      runAutoImport(ctx, h.upload.name, by).catch((e) => ctx.internalError(e));
    }
  }));

  sftp.on('REMOVE', (reqid, p) => serve(reqid, p, async () => {
    await need('write');
    const name = resolve(p);
    if (name === '' || (await lstat(name)).kind !== 'file') throw new FileRefusal('failure', 'not a regular file');
    await files.unlink(name);
    sftp.status(reqid, STATUS_CODE.OK);
  }));
  sftp.on('MKDIR', (reqid, p) => serve(reqid, p, async () => {
    await need('write');
    const name = resolve(p);
    if (name === '') throw new FileRefusal('failure', 'file exists');
    await files.mkdirOne(name);
    sftp.status(reqid, STATUS_CODE.OK);
  }));
  sftp.on('RMDIR', (reqid, p) => serve(reqid, p, async () => {
    await need('write');
    const name = resolve(p);
    if (name === '' || (await lstat(name)).kind !== 'directory') throw new FileRefusal('failure', 'not a directory');
    await files.rmdir(name);
    sftp.status(reqid, STATUS_CODE.OK);
  }));
  sftp.on('RENAME', (reqid, from, to) => serve(reqid, from, async () => {
    await need('write');
    const a = resolve(from);
    const b = resolve(to);
    if (a === '' || b === '') throw new FileRefusal('failure', 'invalid rename');
    await lstat(a);
    if (await files.stat(b)) throw new FileRefusal('failure', 'file exists');
    await files.rename(a, b);
    sftp.status(reqid, STATUS_CODE.OK);
  }));
  sftp.on('READLINK', (reqid) => sftp.status(reqid, STATUS_CODE.OP_UNSUPPORTED));
  sftp.on('SYMLINK', (reqid) => sftp.status(reqid, STATUS_CODE.OP_UNSUPPORTED));

  // Handles left open (the client went away mid-transfer): uploads leave nothing behind.
  const cleanup = () => {
    for (const h of handles.values()) closeHandle(h);
    handles.clear();
  };
  sftp.on('close', cleanup);
  // The client is done (EOF): close the channel as OpenSSH's sftp-server does when it exits.
  // ssh2's SFTP stream has no exit(): send exit-status 0 on its channel first, or OpenSSH's scp
  // reports the transfer as failed (`Exit status -1`).
  sftp.on('end', () => {
    cleanup();
    const inner = sftp as unknown as { _protocol?: { exitStatus?(id: number, status: number): void }; outgoing?: { id: number; state: string } };
    if (inner.outgoing && (inner.outgoing.state === 'open' || inner.outgoing.state === 'eof')) inner._protocol?.exitStatus?.(inner.outgoing.id, 0);
    sftp.end();
  });
  sftp.on('error', () => {});
}
