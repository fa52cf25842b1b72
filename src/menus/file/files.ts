// The /file store (spec §10.2): the `files/` folder of the data directory. Every name a user
// gives (/file, import file-name=, export-certificate file-name=, create-certificate-request) is
// resolved here, and no name may leave the folder: `..`, absolute host paths, NUL bytes and
// symbolic links anywhere on the way are refused (and logged by the caller).
//
// The /file menu's rows mirror the folder: reconcileFiles() brings them up to date before
// every /file command (MenuDecl.prepare), so ids stay stable while files come and go by other
// means (SCP/SFTP uploads, export-certificate, or a user on the host).

import fs from 'node:fs';
import path from 'node:path';
import { failure, RosError } from '../../errors.js';
import type { Environment, Session } from '../../menu/types.js';
import type { RowData, WriteTx } from '../../store/store.js';

export const FILE_PATH = '/file';

/** RouterOS returns `contents` only for files smaller than this (spec §10.2). */
export const CONTENTS_LIMIT = 61439;

/** A refused name: the caller logs it (outside the failed transaction) and shows the message. */
export class UnsafeFileName extends RosError {
  constructor(readonly requested: string, readonly reason: string) {
    super('failure', `invalid file name "${requested}": ${reason}`);
  }
}

/**
 * Normalises a /file name: leading `/` optional, `/` separates folders. Throws UnsafeFileName
 * for anything that could leave the store.
 */
export function normaliseName(name: string): string {
  if (name.includes('\0')) throw new UnsafeFileName(name.replace(/\0/g, '\\0'), 'NUL bytes are not allowed');
  if (name.includes('\\')) throw new UnsafeFileName(name, 'backslashes are not allowed');
  const trimmed = name.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') throw new UnsafeFileName(name, 'empty name');
  const parts = trimmed.split('/');
  for (const p of parts) {
    if (p === '') throw new UnsafeFileName(name, 'empty folder name');
    if (p === '.' || p === '..') throw new UnsafeFileName(name, 'names outside of the file store are not allowed');
    // NAME_MAX of Linux file systems: a longer name would fail later with the host path in the error.
    if (Buffer.byteLength(p) > 255) throw new UnsafeFileName(name.slice(0, 64) + '…', 'name too long');
  }
  if (trimmed.length > 1024) throw new UnsafeFileName(name.slice(0, 64) + '…', 'name too long');
  return parts.join('/');
}

/**
 * Absolute host path of a /file name, checked: every existing component below `filesDir` must be
 * a real directory or file (no symbolic links), and the result stays inside `filesDir`.
 */
export function resolveFile(filesDir: string, name: string): { name: string; full: string } {
  const clean = normaliseName(name);
  const root = path.resolve(filesDir);
  const full = path.resolve(root, clean);
  if (full !== root && !full.startsWith(root + path.sep)) throw new UnsafeFileName(name, 'names outside of the file store are not allowed');
  let at = root;
  for (const part of clean.split('/')) {
    at = path.join(at, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at);
    } catch {
      break; // does not exist (yet): nothing further can be a link
    }
    if (st.isSymbolicLink()) throw new UnsafeFileName(name, 'symbolic links are not followed');
  }
  return { name: clean, full };
}

/** Logs a refused name in its own transaction (the command's own one is rolled back). */
export async function logRefusal(env: Environment, session: Session, e: UnsafeFileName): Promise<void> {
  await env.store.write((tx) => env.log(tx, 'system,error', `file access refused for ${session.user} (${session.via}): ${e.message}`)).catch(() => {});
}

/** Runs fn; an UnsafeFileName is logged before it propagates. */
export async function guarded<T>(env: Environment, session: Session, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UnsafeFileName) await logRefusal(env, session, e);
    throw e;
  }
}

/** Reads a /file by name (exact name; no folders). */
export function readStoreFile(filesDir: string, name: string): { name: string; data: Buffer } {
  const { name: clean, full } = resolveFile(filesDir, name);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(full);
  } catch {
    throw new RosError('argument', 'no such item');
  }
  if (!st.isFile()) throw failure(`${clean} is not a file`);
  return { name: clean, data: fs.readFileSync(full) };
}

/**
 * Writes a /file (creating folders on the way), atomically (temporary file + rename) so a
 * reader never sees half a file. `mtime` (epoch ms, the router clock) becomes last-modified.
 */
export function writeStoreFile(filesDir: string, name: string, data: Buffer | string, mtime?: number): string {
  const { name: clean, full } = resolveFile(filesDir, name);
  fs.mkdirSync(path.dirname(full), { recursive: true, mode: 0o700 });
  // The folders just created may have replaced nothing, but check the path again for links.
  resolveFile(filesDir, clean);
  try {
    if (fs.lstatSync(full).isDirectory()) throw failure(`${clean} is a directory`);
  } catch (e) {
    if (e instanceof RosError) throw e;
  }
  const tmp = `${full}.rospki-${process.pid}-${Date.now()}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o600 });
  if (mtime !== undefined) fs.utimesSync(tmp, mtime / 1000, mtime / 1000);
  fs.renameSync(tmp, full);
  if (mtime !== undefined) touchFolder(filesDir, path.dirname(full), mtime);
  return clean;
}

/** A folder rospki changed shows the router clock too (not the host's), up to the store root. */
export function touchFolder(filesDir: string, dir: string, mtime: number): void {
  const root = path.resolve(filesDir);
  for (let d = path.resolve(dir); d.startsWith(root + path.sep); d = path.dirname(d)) {
    try {
      fs.utimesSync(d, mtime / 1000, mtime / 1000);
    } catch {
      return;
    }
  }
}

export interface FileEntry {
  name: string;
  type: string;
  /** Bytes; none for folders. */
  size?: number;
  mtime: number;
}

/** `.crt file`, `.p12 file`, `directory`, `file` (spec §10.2). */
export function fileType(name: string, isDirectory: boolean): string {
  if (isDirectory) return 'directory';
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0 || dot === base.length - 1) return 'file';
  return `${base.slice(dot).toLowerCase()} file`;
}

/** Everything in the store, folders first in name order; symbolic links and temp files skipped. */
export function scanFiles(filesDir: string): FileEntry[] {
  const out: FileEntry[] = [];
  const walk = (dir: string, prefix: string, depth: number) => {
    if (depth > 32) return;
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (n.endsWith('.tmp') && n.includes('.rospki-')) continue;
      const full = path.join(dir, n);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(full);
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) continue;
      const name = prefix + n;
      if (st.isDirectory()) {
        out.push({ name, type: 'directory', mtime: Math.floor(st.mtimeMs) });
        walk(full, `${name}/`, depth + 1);
      } else if (st.isFile()) {
        out.push({ name, type: fileType(name, false), size: st.size, mtime: Math.floor(st.mtimeMs) });
      }
    }
  };
  walk(filesDir, '', 0);
  return out;
}

function differs(row: RowData, e: FileEntry): boolean {
  return row.type !== e.type || row.size !== e.size || row['last-modified'] !== e.mtime;
}

function applyScan(tx: WriteTx, entries: readonly FileEntry[]): void {
  const seen = new Set<string>();
  for (const e of entries) {
    seen.add(e.name);
    const row = tx.findBy(FILE_PATH, 'name', e.name)[0];
    const data: RowData = { name: e.name, type: e.type, 'last-modified': e.mtime };
    if (e.size !== undefined) data.size = e.size;
    if (!row) tx.insert(FILE_PATH, data);
    else if (differs(row.data, e)) tx.update(FILE_PATH, row.id, data);
  }
  for (const row of tx.list(FILE_PATH)) if (!seen.has(String(row.data.name))) tx.remove(FILE_PATH, row.id);
}

/** Brings the /file rows up to date with the folder; writes only when something changed. */
export async function reconcileFiles(env: Environment): Promise<void> {
  const entries = scanFiles(env.dataDir.filesDir);
  const stale = await env.store.read((tx) => {
    const rows = tx.list(FILE_PATH);
    if (rows.length !== entries.length) return true;
    for (const e of entries) {
      const row = tx.findBy(FILE_PATH, 'name', e.name)[0];
      if (!row || differs(row.data, e)) return true;
    }
    return false;
  });
  if (stale) await env.store.write((tx) => applyScan(tx, entries));
}

/**
 * Picks the file a `file-name=` argument means: the exact name, else the one file whose name
 * starts with it (spec §1.7: an ambiguous prefix is an error).
 */
export function matchFileName(filesDir: string, input: string): string {
  const { name: clean, full } = resolveFile(filesDir, input);
  try {
    if (fs.lstatSync(full).isFile()) return clean; // exact name: no need to list the store
  } catch {
    // not there: try it as a prefix
  }
  const files = scanFiles(filesDir).filter((e) => e.type !== 'directory').map((e) => e.name);
  if (files.includes(clean)) return clean;
  const hits = files.filter((f) => f.startsWith(clean));
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw new RosError('argument', 'ambiguous value of file-name, more than one possible value matches input');
  throw new RosError('argument', 'input does not match any value of file-name');
}

/** Text contents for `contents`: small files that are valid UTF-8 text without control characters. */
export function textContents(data: Buffer): string | undefined {
  if (data.length >= CONTENTS_LIMIT || /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(data.toString('latin1'))) return undefined;
  const text = data.toString('utf8');
  if (text.includes('\uFFFD')) return undefined;
  return text;
}
