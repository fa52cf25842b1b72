// /disk: this host's storage as rospki sees it — the file system holding the data directory
// (its /file store), one row `data` with the size and free space statfs reports — and the RAM
// disks a user adds with `add type=tmpfs` (eworm's global-functions make one for $MkDir
// "tmpfs/…" and $FetchHuge). A tmpfs disk is a folder named after its slot at the top of /file
// (type `disk`), capped at tmpfs-max-size and emptied when rospki starts (store/volumes.ts
// enforces both for every writer); disable removes its folder with its contents (unmounted),
// enable makes it again empty, remove takes it away with its contents. rospki can not attach,
// format or share other disks: add of any other type refuses, and the disk of the data
// directory can not be disabled or removed.

import os from 'node:os';
import { failure } from '../errors.js';
import { BUILTIN, resolveItems } from '../menu/generic.js';
import { boolType, enumType, intType, itemsType, stringType } from '../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, PropType, PropertyDecl, TypeContext } from '../menu/types.js';
import type { FileSystemSpace } from '../store/files.js';
import type { ReadTx } from '../store/store.js';
import type { Volume } from '../store/volumes.js';
import { ItemId, type Value } from '../menu/values.js';
import { mirrorRows } from './host/rows.js';

export const DISK_PATH = '/disk';

const bare: PropType<string> = { ...stringType, quoted: false };

/** Byte counts as /disk prints them: digits in groups of three (`2 004 877 312`, M-DISKS). */
const groupedBytes: PropType<number> = {
  ...intType(0, Number.MAX_SAFE_INTEGER, { numeric: true }),
  display: (v) => String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ' '),
};

const DISK_TYPES = ['raid', 'nvme-tcp', 'iscsi', 'nfs', 'smb', 'partition', 'tmpfs', 'ramdisk', 'crypted', 'sshfs', 'file', 'hardware'] as const;

/** Size and free space of each disk by slot, refreshed before each /disk command; computed properties read it. */
type DiskSpace = Partial<FileSystemSpace> & Pick<FileSystemSpace, 'size' | 'free'>;
const spaceOf = (env: Environment): Map<string, DiskSpace | undefined> => env.cache.table('disk.space');
const space = (row: { slot?: unknown }, ctx: TypeContext) => spaceOf(ctx.env).get(String(row.slot));

const slotDecl: PropertyDecl<string> = { name: 'slot', type: bare, access: 'ro' };
const typeDecl: PropertyDecl<string> = { name: 'type', type: enumType(DISK_TYPES), access: 'ro' };
const maxSizeDecl: PropertyDecl<number> = {
  name: 'tmpfs-max-size', type: groupedBytes, access: 'ro', detail: 'non-empty', help: 'Largest total size of the files of a tmpfs disk',
};
const disabledDecl: PropertyDecl<boolean> = { name: 'disabled', type: boolType, access: 'ro', default: false, flag: { letter: 'X' }, detail: 'never' };

/** The tmpfs disks by slot (the /file store's volumes, store/volumes.ts). */
export function tmpfsVolumes(tx: ReadTx): Map<string, Volume> {
  const out = new Map<string, Volume>();
  for (const row of tx.list(DISK_PATH)) {
    if (row.data.type !== 'tmpfs') continue;
    out.set(String(row.data.slot), { maxSize: Number(row.data[maxSizeDecl.name] ?? 0), disabled: row.data.disabled === true });
  }
  return out;
}

/**
 * A tmpfs loses its contents when the router starts: rospki empties the folder of each enabled
 * tmpfs disk when it opens its data directory (and removes what a disabled one left), with
 * /file store primitives only. Several instances on one PostgreSQL store share the folder, so
 * the start of any of them empties it.
 */
export async function emptyTmpfsDisks(env: Environment): Promise<void> {
  const volumes = await env.store.read((tx) => tmpfsVolumes(tx));
  for (const [slot, volume] of volumes) {
    const kind = await env.files.kind(slot);
    if (volume.disabled) {
      if (kind) await env.files.remove([slot]);
      continue;
    }
    if (kind === 'directory') {
      await env.files.remove((await env.files.readdir(slot)).map((entry) => `${slot}/${entry.name}`));
    } else {
      await env.files.mkdir(slot);
    }
  }
}

const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'List of item numbers' };
const slotArg: ArgDecl<string> = { name: 'slot', type: bare, help: 'Name of the disk (and of its folder in /file)' };
const typeArg: ArgDecl<string> = { name: 'type', type: enumType(DISK_TYPES), required: true, help: 'Kind of disk (rospki: tmpfs)' };
const maxSizeArg: ArgDecl<number> = { name: 'tmpfs-max-size', type: intType(1, Number.MAX_SAFE_INTEGER), help: 'Largest size of a tmpfs disk, bytes (half of the memory)' };
const disabledArg: ArgDecl<boolean> = { name: 'disabled', type: boolType, help: 'Add it unmounted' };
const commentArg: ArgDecl<string> = { name: 'comment', type: stringType };

/** The first free slot name of RouterOS's pattern: tmpfs, tmpfs1, tmpfs2 … */
const MAX_AUTOMATIC_SLOTS = 1000;

const addCommand: CommandDecl = {
  name: 'add',
  help: 'Add a disk (rospki: a tmpfs RAM folder)',
  policy: 'write',
  args: [
    slotArg, typeArg, maxSizeArg, disabledArg,
    { name: 'file-path', type: bare, help: 'Image file of a file disk' },
    { name: 'file-size', type: intType(0, Number.MAX_SAFE_INTEGER), help: 'Size of a new image file' },
    commentArg,
  ],
  async run(call) {
    const { env, args, session } = call;
    const type = args.get(typeArg)!;
    if (type !== 'tmpfs') throw failure(`rospki can not add disks of type ${type}: its files live in the data directory on the host`);
    const taken = await env.store.read((tx) => new Set(tx.list(DISK_PATH).map((r) => String(r.data.slot))));
    let slot = args.get(slotArg);
    for (let i = 0; slot === undefined && i < MAX_AUTOMATIC_SLOTS; i++) {
      const candidate = i === 0 ? 'tmpfs' : `tmpfs${i}`;
      if (!taken.has(candidate) && !(await env.files.kind(candidate))) slot = candidate;
    }
    if (slot === undefined) throw failure('no free slot name');
    if (slot.includes('/') || env.files.check(slot) !== slot) throw failure(`invalid slot name "${slot}"`);
    if (taken.has(slot)) throw failure(`disk ${slot} already exists`);
    if (await env.files.kind(slot)) throw failure(`file ${slot} already exists`);
    const disabled = args.get(disabledArg) ?? false;
    const data = {
      slot, type, fs: 'tmpfs', [maxSizeDecl.name]: args.get(maxSizeArg) ?? Math.floor(os.totalmem() / 2), disabled,
      ...(args.has(commentArg) ? { comment: args.get(commentArg)! } : {}),
    };
    const id = await env.store.write((tx) => {
      if (tx.findBy(DISK_PATH, 'slot', slot)[0]) throw failure(`disk ${slot} already exists`);
      env.log(tx, 'system,info', `disk ${slot} added by ${session.user}`);
      return tx.insert(DISK_PATH, data);
    });
    if (!disabled) {
      try {
        await env.files.mkdir(slot, env.clock.now());
      } catch (e) {
        await env.store.write((tx) => tx.remove(DISK_PATH, id));
        throw e;
      }
    }
    return { ret: new ItemId(id) };
  },
};

interface TmpfsRow { id: number; slot: string; disabled: boolean }
type Call = Parameters<CommandDecl['run']>[0];

/**
 * The tmpfs rows of `numbers`. The disk of the data directory refuses `refuse` (what was asked of
 * it), or is left out when that is undefined (enable: it is in use already).
 */
async function tmpfsRows(call: Call, refuse: string | undefined): Promise<TmpfsRow[]> {
  return call.env.store.read((tx) => resolveItems(call.menu, call.args.get(numbersArg), call.session, tx).flatMap((id) => {
    const row = tx.get(DISK_PATH, id)!;
    if (row.data[BUILTIN] === undefined) return [{ id, slot: String(row.data.slot), disabled: row.data.disabled === true }];
    if (refuse !== undefined) throw failure(`the disk of the data directory can not be ${refuse}`);
    return [];
  }));
}

async function setDisabled(call: Call, rows: readonly TmpfsRow[], disabled: boolean): Promise<void> {
  const { env, session } = call;
  const changed = rows.filter((r) => r.disabled !== disabled);
  if (!changed.length) return;
  await env.store.write((tx) => {
    for (const r of changed) {
      const row = tx.get(DISK_PATH, r.id);
      if (row) tx.update(DISK_PATH, r.id, { ...row.data, disabled });
      env.log(tx, 'system,info', `disk ${r.slot} ${disabled ? 'disabled' : 'enabled'} by ${session.user}`);
    }
  });
  // Unmounted, a tmpfs's contents are gone; mounted again, it starts empty.
  for (const r of changed) {
    if (disabled) { if (await env.files.kind(r.slot)) await env.files.remove([r.slot], env.clock.now()); }
    else await env.files.mkdir(r.slot, env.clock.now());
  }
}

const enableCommand: CommandDecl = {
  name: 'enable',
  help: 'Enable disks',
  policy: 'write',
  args: [numbersArg],
  async run(call) {
    await setDisabled(call, await tmpfsRows(call, undefined), false);
    return {};
  },
};

const disableCommand: CommandDecl = {
  name: 'disable',
  help: 'Disable disks',
  policy: 'write',
  args: [numbersArg],
  async run(call) {
    await setDisabled(call, await tmpfsRows(call, 'disabled'), true);
    return {};
  },
};

const removeCommand: CommandDecl = {
  name: 'remove',
  help: 'Remove disks (a tmpfs with its contents)',
  policy: 'write',
  args: [numbersArg],
  async run(call) {
    const { env, session } = call;
    const rows = await tmpfsRows(call, 'removed');
    if (!rows.length) return {};
    await env.store.write((tx) => {
      for (const r of rows) {
        tx.remove(DISK_PATH, r.id);
        env.log(tx, 'system,info', `disk ${r.slot} removed by ${session.user}`);
      }
    });
    // No longer a disk: its folder goes as any folder does.
    for (const r of rows) if (await env.files.kind(r.slot)) await env.files.remove([r.slot], env.clock.now());
    return {};
  },
};

export const diskMenu: MenuDecl = {
  path: DISK_PATH,
  kind: 'list',
  help: 'Disks',
  key: 'slot',
  verbs: ['print', 'get', 'find'],
  columns: ['slot', 'model', 'serial', 'interface', 'size', 'free', 'fs'],
  properties: [
    slotDecl,
    typeDecl,
    { name: 'model', type: bare, access: 'ro' },
    { name: 'serial', type: bare, access: 'ro' },
    { name: 'interface', type: bare, access: 'ro' },
    maxSizeDecl,
    { name: 'size', type: groupedBytes, access: 'ro', compute: (r, ctx) => space(r, ctx)?.size },
    { name: 'free', type: groupedBytes, access: 'ro', compute: (r, ctx) => space(r, ctx)?.free },
    { name: 'fs', type: bare, access: 'ro' },
    { name: 'total-inodes', type: groupedBytes, access: 'ro', compute: (r, ctx) => space(r, ctx)?.totalInodes },
    { name: 'free-inodes', type: groupedBytes, access: 'ro', compute: (r, ctx) => space(r, ctx)?.freeInodes },
    {
      name: 'use', type: intType(0, 100), access: 'ro',
      compute: (r, ctx) => { const s = space(r, ctx); return s && s.size > 0 ? Math.round(((s.size - s.free) / s.size) * 100) : undefined; },
    },
    { name: 'comment', type: stringType, access: 'ro', detail: 'non-empty' },
    disabledDecl,
    // The data directory is a folder on the host's file system and a tmpfs a folder of the
    // store: neither is a block device of rospki's own; mounted unless disabled.
    { name: 'block-device', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'B' }, detail: 'never' },
    { name: 'mounted', type: boolType, access: 'ro', compute: (r) => r.disabled !== true, flag: { letter: 'M' }, detail: 'never' },
  ],
  commands: [addCommand, removeCommand, enableCommand, disableCommand],
  async prepare(env) {
    const s = await env.files.space();
    const spaces = spaceOf(env);
    spaces.clear();
    spaces.set('data', s);
    await mirrorRows(env, diskMenu, [{ slot: 'data', ...(s ? { fs: s.fs } : {}) }], (r) => String(r.slot));
    const volumes = await env.store.read((tx) => tmpfsVolumes(tx));
    if (!volumes.size) return;
    const used = new Map<string, number>();
    for (const e of await env.files.list()) {
      const slot = e.name.split('/')[0]!;
      if (e.name !== slot && volumes.has(slot)) used.set(slot, (used.get(slot) ?? 0) + (e.size ?? 0));
    }
    for (const [slot, v] of volumes) {
      if (!v.disabled) spaces.set(slot, { size: v.maxSize, free: Math.max(0, v.maxSize - (used.get(slot) ?? 0)) });
    }
  },
};
