// /file (spec §10.2): print, get, find, remove, `add name= [type=directory] [contents=]`,
// `set <item> contents= / name=`, `read file= offset= chunk-size=` (files of any size, in chunks). The files live in the environment's file store (its one
// path-safety rule); the rows mirror it with stable ids and numbers, brought up to date before
// every /file command (MenuDecl.prepare), so files that come and go by other means (SCP/SFTP,
// export-certificate, a user on the host) keep their ids.

import { failure, noSuchItem, notEnoughPermissions } from '../../errors.js';
import { resolveItems } from '../../menu/generic.js';
import { bareStringType, boolType, dateType, enumType, intType, itemsType, presenceType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, PropType } from '../../menu/types.js';
import { ItemId, RosArray, valueToString, type Value } from '../../menu/values.js';
import { holdsSecret, textHoldsSecret } from '../../menu/secret-files.js';
import { writeAll, type FileEntry } from '../../store/files.js';
import type { RowData, WriteTx } from '../../store/store.js';
import { DISK_FILE_TYPE, diskFolderRefused } from '../../store/volumes.js';

export const FILE_PATH = '/file';

/**
 * Sizes as the 7.x console shows them: a unit is kept until the value reaches 10240 of it, then
 * the next one with one decimal — `1188` and `3996` bytes, `18.8KiB`, `293.0KiB`, `1924.1KiB`,
 * `11.1MiB`, and `1024.0MiB`/`4096.0MiB` of memory in /system resource (public 7.x captures,
 * issue 12). REST and the API carry the exact byte count (what scripts compare); scripts get a
 * number.
 */
export function formatSize(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  if (bytes < SIZE_UNIT_STEP) return String(bytes);
  let v = bytes / 1024;
  let u = 0;
  // Compared as shown (one decimal), so 10239.96 KiB is `10.0MiB`, not `10240.0KiB`.
  while (Math.round(v * 10) / 10 >= SIZE_UNIT_STEP && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(1)}${units[u]}`;
}

/** A value moves to the next unit once it reaches this many of the current one. */
const SIZE_UNIT_STEP = 10 * 1024;

const sizeType: PropType<number> = {
  help: 'integer',
  numeric: true,
  parse: (v) => Number(valueToString(v)),
  display: (v) => formatSize(v),
  api: (v) => String(v),
  script: (v) => v,
};

/**
 * The text `contents` of small text files, read when the mirror finds a file new or changed and
 * kept in the appliance's cache by name, size and time (computed properties are synchronous).
 */
interface CachedContents { size: number; mtime: number; text: string | undefined }
const contentsOf = (env: Environment): Map<string, CachedContents> => env.cache.table('file.contents');

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

/** Brings the /file rows (and the contents cache) up to date with the store; writes only on change. */
export async function reconcileFiles(env: Environment): Promise<void> {
  const entries = await env.files.list();
  const cache = contentsOf(env);
  const names = new Set(entries.map((e) => e.name));
  for (const name of cache.keys()) if (!names.has(name)) cache.delete(name);
  for (const e of entries) {
    if (e.type === 'directory') continue;
    const hit = cache.get(e.name);
    if (hit && hit.size === e.size && hit.mtime === e.mtime) continue;
    cache.set(e.name, { size: e.size ?? 0, mtime: e.mtime, text: await env.files.text(e.name) });
  }
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

async function idOf(env: Environment, name: string): Promise<ItemId> {
  await reconcileFiles(env);
  const id = await env.store.read((tx) => tx.findBy(FILE_PATH, 'name', name)[0]?.id);
  if (id === undefined) throw noSuchItem();
  return new ItemId(id);
}

/**
 * A name that is taken. Clients look for this text in the REST error (`detail` containing
 * "file already exists": the acme.sh REST deploy hook; "already exists": certbot-routeros),
 * clients.md #20 (C10, C11).
 */
const fileExists = () => failure('file already exists');

async function logged(env: Environment, message: string): Promise<void> {
  await env.store.write((tx) => env.log(tx, 'system,info', message));
}

const nameArg: ArgDecl<string> = { name: 'name', type: stringType, required: true, help: 'File name; `/` separates folders' };
const typeArg: ArgDecl<string> = { name: 'type', type: enumType(['file', 'directory']), help: 'file (default) or directory' };
const contentsArg: ArgDecl<string> = { name: 'contents', type: stringType, help: 'Text contents of the file' };
const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'List of item numbers' };
const newNameArg: ArgDecl<string> = { name: 'name', type: stringType, help: 'New name (moves the file)' };

const addCommand: CommandDecl = {
  name: 'add',
  help: 'Create a file or a folder',
  policy: 'write',
  args: [nameArg, typeArg, contentsArg],
  async run(call) {
    const { env, session, args } = call;
    const name = env.files.check(args.get(nameArg)!);
    if (await env.files.kind(name)) throw fileExists();
    if (args.get(typeArg) === 'directory') {
      if (args.has(contentsArg)) throw failure('a directory has no contents');
      await env.files.mkdir(name, env.clock.now());
    } else {
      await env.files.write(name, args.get(contentsArg) ?? '', env.clock.now());
    }
    await logged(env, `file ${name} added by ${session.user}`);
    return { ret: await idOf(env, name) };
  },
};

const setCommand: CommandDecl = {
  name: 'set',
  help: 'Change the contents or the name of a file',
  policy: 'write',
  args: [numbersArg, { ...contentsArg, help: 'New text contents' }, newNameArg],
  async run(call) {
    const { env, session, args } = call;
    const rows = await env.store.read((tx) =>
      resolveItems(call.menu, args.get(numbersArg), session, tx).map((id) => tx.get(FILE_PATH, id)!.data));
    // Files are no transaction: everything that would refuse is checked before anything changes.
    const to = args.get(newNameArg);
    const target = to !== undefined ? env.files.check(to) : undefined;
    if (args.has(contentsArg) && rows.some((row) => row.type === 'directory')) throw failure('a directory has no contents');
    const moving = rows.filter((row) => target !== undefined && target !== String(row.name));
    // Several files given one new name: the second would find the first there.
    if (moving.length > 1 || (moving.length === 1 && (await env.files.kind(target!)))) throw fileExists();
    const names = rows.map((row) => String(row.name));
    if (args.has(contentsArg)) await writeAll(env.files, names, args.get(contentsArg)!, env.clock.now());
    for (const row of moving) await env.files.rename(String(row.name), target!, env.clock.now());
    for (const name of names) await logged(env, `file ${name} changed by ${session.user}`);
    await reconcileFiles(env);
    return {};
  },
};

const removeCommand: CommandDecl = {
  name: 'remove',
  help: 'Remove files or folders (with everything in them)',
  policy: 'write',
  args: [numbersArg],
  async run(call) {
    const { env, session, args } = call;
    const rows = await env.store.read((tx) =>
      resolveItems(call.menu, args.get(numbersArg), session, tx).map((id) => tx.get(FILE_PATH, id)!.data));
    // Files are no transaction: a disk's folder, which the store refuses to remove, is refused
    // before any other file of the list is gone.
    const disk = rows.find((row) => row.type === DISK_FILE_TYPE);
    if (disk) throw diskFolderRefused(String(disk.name));
    const names = rows.map((row) => String(row.name));
    await env.files.remove(names, env.clock.now());
    if (names.length) {
      await env.store.write((tx) => { for (const n of names) env.log(tx, 'system,info', `file ${n} removed by ${session.user}`); });
    }
    await reconcileFiles(env);
    return {};
  },
};

/** `/file read` hands out at most this many bytes at a time (spec §10.2). */
const READ_CHUNK_LIMIT = 32768;
const readFileArg: ArgDecl<string> = { name: 'file', type: stringType, required: true, help: 'File to read' };
const offsetArg: ArgDecl<number> = { name: 'offset', type: intType(0, 4294967295), help: 'First byte to read (0)' };
const chunkSizeArg: ArgDecl<number> = { name: 'chunk-size', type: intType(1, READ_CHUNK_LIMIT), required: true, help: 'How many bytes to read' };
const readAsValueArg: ArgDecl<boolean> = { name: 'as-value', type: presenceType, flagOnly: true };

/**
 * `read file= offset= chunk-size=`: a part of a file, whatever its size, as `data` — how scripts
 * read what `contents` leaves out (eworm's FetchHuge appends chunks until `:len` reaches the
 * file's size). The text has one character per byte, so lengths and offsets are bytes and the
 * chunks join back into the file. Reading past the end fails with `failure: chunk out of file
 * bounds`; a file holding a private key needs `sensitive`, as its `contents` do.
 */
const readCommand: CommandDecl = {
  name: 'read',
  help: 'Read a part of a file',
  policy: 'read',
  args: [readFileArg, offsetArg, chunkSizeArg, readAsValueArg],
  async run(call) {
    const { env, args } = call;
    const name = env.files.check(args.get(readFileArg)!);
    const kind = await env.files.kind(name);
    if (!kind) throw noSuchItem();
    if (kind === 'directory') throw failure('a directory has no contents');
    const bytes = await env.files.read(name);
    // The one rule for secret files (secret-files.ts): keys of any encoding, shown sensitive values.
    if (!call.policies.has('sensitive') && holdsSecret(bytes, env.registry)) throw notEnoughPermissions();
    const offset = args.get(offsetArg) ?? 0;
    if (offset > bytes.length || (offset === bytes.length && offset > 0)) throw failure('chunk out of file bounds');
    const data = bytes.subarray(offset, offset + args.get(chunkSizeArg)!).toString('latin1');
    const ret = RosArray.fromRecord([['data', data]]);
    return args.flag(readAsValueArg) ? { ret } : { block: [['data', data]], ret };
  },
};

export const fileMenu: MenuDecl = {
  path: FILE_PATH,
  kind: 'list',
  help: 'Files in the file store',
  key: 'name',
  verbs: ['print', 'get', 'find'],
  columns: ['name', 'type', 'size', 'last-modified'],
  properties: [
    // Detail leaves name and type bare: `name=big.json type=.json file` (7.16 manual, 7.22.1 capture).
    { name: 'name', type: bareStringType, access: 'ro', help: 'File name; `/` separates folders' },
    { name: 'type', type: bareStringType, access: 'ro' },
    { name: 'size', type: sizeType, access: 'ro' },
    { name: 'last-modified', type: dateType, access: 'ro' },
    {
      name: 'contents', type: stringType, access: 'ro', detail: 'never',
      compute: (row, ctx) => (typeof row.name === 'string' ? contentsOf(ctx.env).get(row.name)?.text : undefined),
      // A private key kept as a file (an imported .key, a request's key) is secret (issue 11),
      // and so is a file showing sensitive values (`/export show-sensitive file=`): secret-files.ts.
      secretWhen: (row, ctx) => typeof row.name === 'string' && textHoldsSecret(contentsOf(ctx.env).get(row.name)?.text ?? '', ctx.env.registry),
    },
    // 7.22+ detail shows `Flags: S - SHARED` (a 7.22.1 capture); rospki shares no file.
    { name: 'shared', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'S' }, compute: () => false },
  ],
  commands: [addCommand, setCommand, removeCommand, readCommand],
  prepare: reconcileFiles,
};
