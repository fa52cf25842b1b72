// /file (spec §10.2): print, get, find, remove, `add name= [type=directory] [contents=]`,
// `set <item> contents= / name=`. Rows mirror the files/ folder of the data directory
// (files.ts); the folder is the truth, the rows give stable ids and numbers.

import fs from 'node:fs';
import path from 'node:path';
import { alreadyHave, failure, noSuchItem } from '../../errors.js';
import { resolveItems } from '../../menu/generic.js';
import { anyType, dateType, enumType, matchChoice, stringType } from '../../menu/proptypes.js';
import type { CommandDecl, Environment, MenuDecl, PropType, RegistryView } from '../../menu/types.js';
import { ItemId, valueToString } from '../../menu/values.js';
import {
  FILE_PATH, guarded, reconcileFiles, resolveFile, textContents, touchFolder, writeStoreFile,
} from './files.js';

/** The files/ folder of each appliance, by registry, for the computed `contents`. */
const FILES_DIR = new WeakMap<RegistryView, string>();

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

function readContents(ctx: { registry: RegistryView }, name: unknown, type: unknown): string | undefined {
  const dir = FILES_DIR.get(ctx.registry);
  if (!dir || typeof name !== 'string' || type === 'directory') return undefined;
  try {
    const { full } = resolveFile(dir, name);
    const st = fs.lstatSync(full);
    if (!st.isFile() || st.size >= 61439) return undefined;
    return textContents(fs.readFileSync(full));
  } catch {
    return undefined;
  }
}

async function prepare(env: Environment): Promise<void> {
  FILES_DIR.set(env.registry, env.dataDir.filesDir);
  await reconcileFiles(env);
}

async function idOf(env: Environment, name: string): Promise<ItemId> {
  await reconcileFiles(env);
  const id = await env.store.read((tx) => tx.findBy(FILE_PATH, 'name', name)[0]?.id);
  if (id === undefined) throw noSuchItem();
  return new ItemId(id);
}

const addCommand: CommandDecl = {
  name: 'add',
  help: 'Create a file or a folder',
  policy: 'write',
  args: [
    { name: 'name', type: stringType, required: true, help: 'File name; `/` separates folders' },
    { name: 'type', type: enumType(['file', 'directory']), help: 'file (default) or directory' },
    { name: 'contents', type: stringType, help: 'Text contents of the file' },
  ],
  async run(call) {
    const { env, session } = call;
    return guarded(env, session, async () => {
      const type = call.args.has('type') ? matchChoice(valueToString(call.args.get('type')), ['file', 'directory'], 'type') : 'file';
      const { name, full } = resolveFile(env.dataDir.filesDir, valueToString(call.args.get('name')));
      if (fs.existsSync(full)) throw alreadyHave();
      if (type === 'directory') {
        if (call.args.has('contents')) throw failure('a directory has no contents');
        fs.mkdirSync(full, { recursive: true, mode: 0o700 });
        resolveFile(env.dataDir.filesDir, name);
        touchFolder(env.dataDir.filesDir, full, env.clock.now());
      } else {
        writeStoreFile(env.dataDir.filesDir, name, valueToString(call.args.get('contents') ?? ''), env.clock.now());
      }
      await env.store.write((tx) => env.log(tx, 'system,info', `file ${name} added by ${session.user}`));
      return { ret: await idOf(env, name) };
    });
  },
};

const setCommand: CommandDecl = {
  name: 'set',
  help: 'Change the contents or the name of a file',
  policy: 'write',
  args: [
    { name: 'numbers', type: anyType, positional: 0, required: true, help: 'List of item numbers' },
    { name: 'contents', type: stringType, help: 'New text contents' },
    { name: 'name', type: stringType, help: 'New name (moves the file)' },
  ],
  async run(call) {
    const { env, session } = call;
    return guarded(env, session, async () => {
      const rows = await env.store.read((tx) =>
        resolveItems(call.menu, call.args.get('numbers'), session, tx).map((id) => tx.get(FILE_PATH, id)!.data));
      const dir = env.dataDir.filesDir;
      for (const row of rows) {
        const name = String(row.name);
        const { full } = resolveFile(dir, name);
        if (call.args.has('contents')) {
          if (row.type === 'directory') throw failure('a directory has no contents');
          writeStoreFile(dir, name, valueToString(call.args.get('contents')), env.clock.now());
        }
        if (call.args.has('name')) {
          const target = resolveFile(dir, valueToString(call.args.get('name')));
          if (target.name === name) continue;
          if (fs.existsSync(target.full)) throw alreadyHave();
          if (target.full.startsWith(full + path.sep)) throw failure('a folder can not be moved into itself');
          fs.mkdirSync(path.dirname(target.full), { recursive: true, mode: 0o700 });
          resolveFile(dir, target.name);
          fs.renameSync(full, target.full);
          touchFolder(dir, path.dirname(full), env.clock.now());
          touchFolder(dir, path.dirname(target.full), env.clock.now());
        }
        await env.store.write((tx) => env.log(tx, 'system,info', `file ${name} changed by ${session.user}`));
      }
      await reconcileFiles(env);
      return {};
    });
  },
};

const removeCommand: CommandDecl = {
  name: 'remove',
  help: 'Remove files or folders (with everything in them)',
  policy: 'write',
  args: [{ name: 'numbers', type: anyType, positional: 0, required: true, help: 'List of item numbers' }],
  async run(call) {
    const { env, session } = call;
    return guarded(env, session, async () => {
      const names = await env.store.read((tx) =>
        resolveItems(call.menu, call.args.get('numbers'), session, tx).map((id) => String(tx.get(FILE_PATH, id)!.data.name)));
      for (const name of names) {
        const { full } = resolveFile(env.dataDir.filesDir, name);
        fs.rmSync(full, { recursive: true, force: true });
        touchFolder(env.dataDir.filesDir, path.dirname(full), env.clock.now());
      }
      if (names.length) {
        await env.store.write((tx) => { for (const n of names) env.log(tx, 'system,info', `file ${n} removed by ${session.user}`); });
      }
      await reconcileFiles(env);
      return {};
    });
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
      compute: (row, ctx) => readContents(ctx, row.name, row.type),
    },
  ],
  commands: [addCommand, setCommand, removeCommand],
  prepare,
};
