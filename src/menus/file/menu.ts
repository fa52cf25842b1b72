// /file (spec §10.2): print, get, find, remove, `add name= [type=directory] [contents=]`,
// `set <item> contents= / name=`. The files live in the environment's file store (its one
// path-safety rule); the rows mirror it with stable ids and numbers, brought up to date before
// every /file command (MenuDecl.prepare), so files that come and go by other means (SCP/SFTP,
// export-certificate, a user on the host) keep their ids.

import { alreadyHave, failure, noSuchItem } from '../../errors.js';
import { resolveItems } from '../../menu/generic.js';
import { dateType, enumType, itemsType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, PropType } from '../../menu/types.js';
import { ItemId, valueToString, type Value } from '../../menu/values.js';
import { containsPrivateKey } from '../../pki/pem.js';
import type { FileEntry } from '../../store/files.js';
import type { RowData, WriteTx } from '../../store/store.js';

export const FILE_PATH = '/file';

/**
 * Sizes: the console shows `293.0KiB` (7.2x, spec §10.2), plain bytes below 1 KiB; REST and
 * the API carry the exact byte count (what scripts compare); scripts get a number.
 */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return String(bytes);
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(1)}${units[u]}`;
}

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
    if (await env.files.kind(name)) throw alreadyHave();
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
    for (const row of rows) {
      const name = String(row.name);
      if (args.has(contentsArg)) {
        if (row.type === 'directory') throw failure('a directory has no contents');
        await env.files.write(name, args.get(contentsArg)!, env.clock.now());
      }
      const to = args.get(newNameArg);
      if (to !== undefined && env.files.check(to) !== name) {
        if (await env.files.kind(to)) throw alreadyHave();
        await env.files.rename(name, to, env.clock.now());
      }
      await logged(env, `file ${name} changed by ${session.user}`);
    }
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
    const names = await env.store.read((tx) =>
      resolveItems(call.menu, args.get(numbersArg), session, tx).map((id) => String(tx.get(FILE_PATH, id)!.data.name)));
    for (const name of names) await env.files.remove(name, env.clock.now());
    if (names.length) {
      await env.store.write((tx) => { for (const n of names) env.log(tx, 'system,info', `file ${n} removed by ${session.user}`); });
    }
    await reconcileFiles(env);
    return {};
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
    { name: 'name', type: stringType, access: 'ro', help: 'File name; `/` separates folders' },
    { name: 'type', type: stringType, access: 'ro' },
    { name: 'size', type: sizeType, access: 'ro' },
    { name: 'last-modified', type: dateType, access: 'ro' },
    {
      name: 'contents', type: stringType, access: 'ro', detail: 'never',
      compute: (row, ctx) => (typeof row.name === 'string' ? contentsOf(ctx.env).get(row.name)?.text : undefined),
      // A private key kept as a file (an imported .key, a request's key) is secret (issue 11).
      secretWhen: (row, ctx) => typeof row.name === 'string' && containsPrivateKey(contentsOf(ctx.env).get(row.name)?.text ?? ''),
    },
  ],
  commands: [addCommand, setCommand, removeCommand],
  prepare: reconcileFiles,
};
