// /disk: this host's storage as rospki sees it — the file system holding the data directory
// (its /file store), one row `data` with the size and free space statfs reports. rospki can not
// attach, format or share disks: add and disable refuse, enable of the one disk there is is
// already true. eworm's global-functions use `/disk find where slot=tmpfs type=tmpfs` and
// `/disk add type=tmpfs` for a RAM folder; add refuses there and their fallback runs.

import { failure } from '../errors.js';
import { resolveItems } from '../menu/generic.js';
import { boolType, enumType, intType, itemsType, stringType } from '../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, PropType, TypeContext } from '../menu/types.js';
import type { FileSystemSpace } from '../store/files.js';
import type { Value } from '../menu/values.js';
import { mirrorRows } from './host/rows.js';

export const DISK_PATH = '/disk';

const bare: PropType<string> = { ...stringType, quoted: false };

/** Byte counts as /disk prints them: digits in groups of three (`2 004 877 312`, M-DISKS). */
const groupedBytes: PropType<number> = {
  ...intType(0, Number.MAX_SAFE_INTEGER, { numeric: true }),
  display: (v) => String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ' '),
};

const DISK_TYPES = ['raid', 'nvme-tcp', 'iscsi', 'nfs', 'smb', 'partition', 'tmpfs', 'ramdisk', 'crypted', 'sshfs', 'file', 'hardware'] as const;

/** statfs of the store, refreshed before each /disk command; computed properties read it. */
const spaceOf = (env: Environment): Map<string, FileSystemSpace | undefined> => env.cache.table('disk.space');
const space = (ctx: TypeContext) => spaceOf(ctx.env).get('data');

const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'List of item numbers' };

const addCommand: CommandDecl = {
  name: 'add',
  help: 'Add a disk (tmpfs, file, network share …)',
  policy: 'write',
  args: [
    { name: 'slot', type: bare, help: 'Name of the disk' },
    { name: 'type', type: enumType(DISK_TYPES), help: 'Kind of disk' },
    { name: 'tmpfs-max-size', type: intType(0, Number.MAX_SAFE_INTEGER), help: 'Largest size of a tmpfs disk' },
    { name: 'file-path', type: bare, help: 'Image file of a file disk' },
    { name: 'file-size', type: intType(0, Number.MAX_SAFE_INTEGER), help: 'Size of a new image file' },
    { name: 'comment', type: stringType },
  ],
  async run() {
    throw failure('rospki can not add disks: its files live in the data directory on the host');
  },
};

const enableCommand: CommandDecl = {
  name: 'enable',
  help: 'Enable disks',
  policy: 'write',
  args: [numbersArg],
  async run(call) {
    // The data directory's file system is in use already: nothing to do, but the items must exist.
    await call.env.store.read((tx) => resolveItems(call.menu, call.args.get(numbersArg), call.session, tx));
    return {};
  },
};

const disableCommand: CommandDecl = {
  name: 'disable',
  help: 'Disable disks',
  policy: 'write',
  args: [numbersArg],
  async run(call) {
    await call.env.store.read((tx) => resolveItems(call.menu, call.args.get(numbersArg), call.session, tx));
    throw failure('the disk of the data directory can not be disabled');
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
    { name: 'slot', type: bare, access: 'ro' },
    { name: 'type', type: enumType(DISK_TYPES), access: 'ro' },
    { name: 'model', type: bare, access: 'ro' },
    { name: 'serial', type: bare, access: 'ro' },
    { name: 'interface', type: bare, access: 'ro' },
    { name: 'size', type: groupedBytes, access: 'ro', compute: (_r, ctx) => space(ctx)?.size },
    { name: 'free', type: groupedBytes, access: 'ro', compute: (_r, ctx) => space(ctx)?.free },
    { name: 'fs', type: bare, access: 'ro' },
    { name: 'total-inodes', type: groupedBytes, access: 'ro', compute: (_r, ctx) => space(ctx)?.totalInodes },
    { name: 'free-inodes', type: groupedBytes, access: 'ro', compute: (_r, ctx) => space(ctx)?.freeInodes },
    {
      name: 'use', type: intType(0, 100), access: 'ro',
      compute: (_r, ctx) => { const s = space(ctx); return s && s.size > 0 ? Math.round(((s.size - s.free) / s.size) * 100) : undefined; },
    },
    { name: 'disabled', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'X' }, detail: 'never' },
    // A folder on the host's file system, not a block device of rospki's own; mounted.
    { name: 'block-device', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'B' }, detail: 'never' },
    { name: 'mounted', type: boolType, access: 'ro', compute: () => true, flag: { letter: 'M' }, detail: 'never' },
  ],
  commands: [addCommand, enableCommand, disableCommand],
  async prepare(env) {
    const s = await env.files.space();
    spaceOf(env).set('data', s);
    await mirrorRows(env, diskMenu, [{ slot: 'data', ...(s ? { fs: s.fs } : {}) }], (r) => String(r.slot));
  },
};

