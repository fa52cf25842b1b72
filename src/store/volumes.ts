// RAM folders of /disk type=tmpfs on any /file store (issue 12: eworm's $MkDir "tmpfs/…" and
// $FetchHuge). RouterOS shows a disk as a folder named after its slot at the top of /file, of
// type `disk`; a tmpfs holds at most tmpfs-max-size bytes and loses its contents when the router
// starts. rospki keeps such a folder in the ordinary store (disk or PostgreSQL) and enforces the
// rest here, with FileStore primitives only, for every writer at once (/file, /tool fetch,
// exports, REST, SCP, SFTP, FTP):
// - writes into a volume past its size fail (`not enough disk space on <slot>`; ENOSPC for the
//   file transfers, which answer it in their protocol's words);
// - the folder of an enabled volume is not removed or renamed through /file (only /disk does);
// - nothing is written into the slot of a disabled volume (its folder is gone, as unmounted).
// Sizes are checked against what is in the volume plus what this process is writing into it.

import { failure } from '../errors.js';
import {
  fsError, type FileEntry, type FileReader, type FileStat, type FileStore, type FileSystemSpace, type FileUpload, type FileWriter,
} from './files.js';

export interface Volume {
  /** Largest total size of the files in it, bytes. */
  readonly maxSize: number;
  readonly disabled: boolean;
}

/** The volumes by slot (the top folder's name), read anew at every check. */
export type VolumeSource = () => ReadonlyMap<string, Volume>;

/** RouterOS shows a disk's folder with this /file type (eworm's RmFile tests for it). */
export const DISK_FILE_TYPE = 'disk';

/** Why a disk's own folder is not removed or moved through /file (the /file commands check first). */
export const diskFolderRefused = (name: string): Error => failure(`${name} is a disk: remove it with /disk remove`);

export class VolumeFileStore implements FileStore {
  /** Bytes being written into each volume by this process, not yet in the store. */
  private readonly pending = new Map<string, number>();

  constructor(private readonly inner: FileStore, private readonly volumes: VolumeSource) {}

  /** The volume a normalised name lies in (the slot, and whether the name is the slot itself). */
  private volumeOf(name: string): { slot: string; volume: Volume; top: boolean } | undefined {
    const slot = name.split('/')[0]!;
    const volume = this.volumes().get(slot);
    return volume && { slot, volume, top: name === slot };
  }

  /** Bytes the files in a volume hold now (`except` one name being replaced, not counted). */
  async usage(slot: string, except?: string): Promise<number> {
    let used = 0;
    for (const e of await this.inner.list()) {
      if (e.name.startsWith(`${slot}/`) && e.name !== except && e.size !== undefined) used += e.size;
    }
    return used;
  }

  /** How many more bytes may go to `name` (undefined: outside any volume); refuses a disabled one. */
  private async room(name: string, errno: boolean): Promise<{ slot: string; bytes: number } | undefined> {
    const at = this.volumeOf(name);
    if (!at) return undefined;
    if (at.volume.disabled) throw errno ? fsError('EACCES', `disk ${at.slot} is disabled`) : failure(`disk ${at.slot} is disabled`);
    if (at.top) throw errno ? fsError('EISDIR') : failure(`${name} is a directory`);
    const bytes = at.volume.maxSize - (await this.usage(at.slot, name)) - (this.pending.get(at.slot) ?? 0);
    return { slot: at.slot, bytes: Math.max(0, bytes) };
  }

  private full(slot: string, errno: boolean): Error {
    const text = `not enough disk space on ${slot} (tmpfs-max-size reached)`;
    return errno ? fsError('ENOSPC', text) : failure(text);
  }

  private hold(slot: string, bytes: number): void {
    this.pending.set(slot, (this.pending.get(slot) ?? 0) + bytes);
  }

  private release(slot: string, bytes: number): void {
    const left = (this.pending.get(slot) ?? 0) - bytes;
    if (left > 0) this.pending.set(slot, left);
    else this.pending.delete(slot);
  }

  /** Refuses changing the folder of an enabled volume itself (/disk remove does that). */
  private guardTop(name: string, errno: boolean): void {
    const at = this.volumeOf(name);
    if (at?.top && !at.volume.disabled) {
      throw errno ? fsError('EACCES', `${name} is a disk`) : diskFolderRefused(name);
    }
  }

  /** Refuses making folders in a disabled volume. */
  private guardDisabled(name: string, errno: boolean): void {
    const at = this.volumeOf(name);
    if (at?.volume.disabled) throw errno ? fsError('EACCES', `disk ${at.slot} is disabled`) : failure(`disk ${at.slot} is disabled`);
  }

  check(name: string): string { return this.inner.check(name); }
  kind(name: string): Promise<'file' | 'directory' | undefined> { return this.inner.kind(name); }
  read(name: string, limit?: number): Promise<Buffer> { return this.inner.read(name, limit); }
  text(name: string): Promise<string | undefined> { return this.inner.text(name); }
  match(input: string, argName?: string): Promise<string> { return this.inner.match(input, argName); }
  space(): Promise<FileSystemSpace | undefined> { return this.inner.space(); }
  stat(name: string): Promise<FileStat | undefined> { return this.inner.stat(name); }
  readdir(folder: string): Promise<{ name: string; stat: FileStat }[]> { return this.inner.readdir(folder); }
  openRead(name: string): Promise<FileReader> { return this.inner.openRead(name); }
  unlink(name: string): Promise<void> { return this.inner.unlink(name); }
  touch(name: string, mtime: number): Promise<void> { return this.inner.touch(name, mtime); }

  async write(name: string, data: Buffer | string, mtime?: number): Promise<string> {
    const clean = this.check(name);
    const room = await this.room(clean, false);
    if (!room) return this.inner.write(clean, data, mtime);
    const bytes = Buffer.byteLength(data);
    if (bytes > room.bytes) throw this.full(room.slot, false);
    this.hold(room.slot, bytes);
    try {
      return await this.inner.write(clean, data, mtime);
    } finally {
      this.release(room.slot, bytes);
    }
  }

  async writer(name: string, limit?: number): Promise<FileWriter> {
    const clean = this.check(name);
    const room = await this.room(clean, false);
    const inner = await this.inner.writer(clean, limit);
    if (!room) return inner;
    let held = 0;
    const done = () => { this.release(room.slot, held); held = 0; };
    return {
      get bytes() { return inner.bytes; },
      write: async (chunk) => {
        if (held + chunk.length > room.bytes) { done(); await inner.abort(); throw this.full(room.slot, false); }
        this.hold(room.slot, chunk.length);
        held += chunk.length;
        await inner.write(chunk);
      },
      commit: async (mtime) => { try { return await inner.commit(mtime); } finally { done(); } },
      abort: async () => { done(); await inner.abort(); },
    };
  }

  async mkdir(name: string, mtime?: number): Promise<string> {
    this.guardDisabled(this.check(name), false);
    return this.inner.mkdir(name, mtime);
  }

  async mkdirOne(name: string, mtime?: number): Promise<void> {
    this.guardDisabled(this.check(name), true);
    return this.inner.mkdirOne(name, mtime);
  }

  async remove(names: readonly string[], mtime?: number): Promise<void> {
    for (const name of names) this.guardTop(this.check(name), false);
    return this.inner.remove(names, mtime);
  }

  async rmdir(name: string): Promise<void> {
    this.guardTop(this.check(name), true);
    return this.inner.rmdir(name);
  }

  async rename(from: string, to: string, mtime?: number): Promise<string> {
    const a = this.check(from);
    const b = this.check(to);
    this.guardTop(a, false);
    const into = this.volumeOf(b);
    if (into && this.volumeOf(a)?.slot !== into.slot) {
      // Moved in from outside: its bytes must fit.
      const room = await this.room(b, false);
      const moved = (await this.inner.list()).filter((e) => e.name === a || e.name.startsWith(`${a}/`)).reduce((n, e) => n + (e.size ?? 0), 0);
      if (room && moved > room.bytes) throw this.full(room.slot, false);
    }
    return this.inner.rename(a, b, mtime);
  }

  /** The folder of an enabled volume shows as a disk. */
  async list(): Promise<FileEntry[]> {
    const volumes = this.volumes();
    return (await this.inner.list()).map((e) =>
      (e.type === 'directory' && !e.name.includes('/') && volumes.get(e.name)?.disabled === false ? { ...e, type: DISK_FILE_TYPE } : e));
  }

  async upload(name: string, limit: number, keep?: boolean): Promise<FileUpload> {
    const clean = this.check(name);
    const room = await this.room(clean, true);
    const inner = await this.inner.upload(clean, limit, keep);
    if (!room) return inner;
    // Held: the size the upload reaches (its highest end), released when it ends.
    let held = 0;
    let broken: Error | undefined;
    const grow = (end: number) => {
      if (broken) throw broken;
      if (end <= held) return;
      if (end > room.bytes) { broken = this.full(room.slot, true); throw broken; }
      this.hold(room.slot, end - held);
      held = end;
    };
    const done = () => { this.release(room.slot, held); held = 0; };
    try {
      grow(inner.size());
    } catch (e) {
      await inner.abort();
      throw e;
    }
    return {
      name: inner.name,
      write: async (data, offset) => { grow(offset + data.length); await inner.write(data, offset); },
      truncate: async (length) => { grow(length); await inner.truncate(length); },
      size: () => inner.size(),
      commit: async (mtime) => {
        try {
          if (broken) { await inner.abort(); throw broken; }
          await inner.commit(mtime);
        } finally { done(); }
      },
      abort: async () => { done(); await inner.abort(); },
    };
  }
}
