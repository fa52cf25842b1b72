// /disk add type=tmpfs (issue 12: eworm's $MkDir "tmpfs/…" and $FetchHuge): a RAM folder at the
// top of /file, capped at tmpfs-max-size for every writer, emptied when rospki starts, removed
// with its contents — on the data directory's file store and on PostgreSQL's.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Appliance } from '../../src/appliance.js';
import { FixedClock } from '../../src/clock.js';
import { renderConsole } from '../../src/menu/render.js';
import { ItemId, type Value } from '../../src/menu/values.js';
import type { Session } from '../../src/menu/types.js';
import { postgresMissing, startPgCluster, type PgCluster } from '../support/postgres.js';
import { T0, tempDir } from '../support/app.js';

interface Opened { app: Appliance; session: Session }

async function open(dir: string, store?: string): Promise<Opened> {
  const app = await Appliance.open(dir, { clock: new FixedClock(T0), store });
  return { app, session: await app.session('admin', 'test') };
}

/** The whole life of a tmpfs disk; `reopen` restarts rospki on the same data. */
async function tmpfsLife(first: Opened, reopen: () => Promise<Opened>): Promise<void> {
  let { app, session } = first;
  const run = (path: string, command: string, args: Record<string, Value> = {}) =>
    app.executor.run({ path, command, args: new Map(Object.entries(args)), session });
  const get = async (path: string, number: string, name: string) => (await run(path, 'get', { number, 'value-name': name })).ret;
  const fileNames = async () => (await run('/file', 'print')).print!.rows.map((r) => String(r.data.name));
  const print = async () => renderConsole(await run('/disk', 'print'), session);

  try {
    // Other kinds of disk, and names that are taken, refuse.
    await assert.rejects(run('/disk', 'add', { type: 'nfs' }), /can not add disks of type nfs/);
    await assert.rejects(run('/disk', 'add', { slot: 'data', type: 'tmpfs' }), /disk data already exists/);
    await app.files.write('taken', 'x');
    await assert.rejects(run('/disk', 'add', { slot: 'taken', type: 'tmpfs' }), /file taken already exists/);
    await assert.rejects(run('/disk', 'add', {}), /missing value\(s\) of argument\(s\) type|type/);

    const added = await run('/disk', 'add', { slot: 'tmpfs', type: 'tmpfs', 'tmpfs-max-size': '1000' });
    assert.ok(added.ret instanceof ItemId);
    assert.match(await print(), /^1 M tmpfs +1 000 +1 000 +tmpfs *$/m);
    assert.equal(await get('/file', 'tmpfs', 'type'), 'disk');
    assert.equal(await get('/disk', 'tmpfs', 'tmpfs-max-size'), 1000);

    // The cap, for every writer: /file add, whole writes, piecewise writers, uploads, moves.
    await run('/file', 'add', { name: 'tmpfs/a', contents: 'a'.repeat(600) });
    await assert.rejects(run('/file', 'add', { name: 'tmpfs/b', contents: 'b'.repeat(600) }), /not enough disk space on tmpfs \(tmpfs-max-size reached\)/);
    assert.equal(await get('/disk', 'tmpfs', 'free'), 400);
    const writer = await app.files.writer('tmpfs/w');
    await writer.write(Buffer.alloc(300));
    await assert.rejects(writer.write(Buffer.alloc(200)), /not enough disk space on tmpfs/);
    const upload = await app.files.upload('tmpfs/refused', 1 << 20);
    await assert.rejects(upload.write(Buffer.alloc(500), 0), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
    await assert.rejects(upload.commit(T0), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
    const small = await app.files.upload('tmpfs/up', 1 << 20);
    await small.write(Buffer.alloc(100), 0);
    await small.commit(T0);
    await app.files.write('outside.bin', Buffer.alloc(400));
    await assert.rejects(run('/file', 'set', { numbers: 'outside.bin', name: 'tmpfs/moved.bin' }), /not enough disk space on tmpfs/);
    assert.deepEqual((await fileNames()).filter((n) => n.startsWith('tmpfs')), ['tmpfs', 'tmpfs/a', 'tmpfs/up']);
    assert.equal(await get('/disk', 'tmpfs', 'free'), 300);
    // Outside the disk, nothing is capped; the disk's folder itself is /disk's to remove.
    await run('/file', 'add', { name: 'big.txt', contents: 'c'.repeat(5000) });
    await assert.rejects(run('/file', 'remove', { numbers: 'tmpfs' }), /tmpfs is a disk: remove it with \/disk remove/);

    // A start empties it; the disk stays.
    app.close();
    await app.closed();
    ({ app, session } = await reopen());
    assert.deepEqual((await fileNames()).filter((n) => n.startsWith('tmpfs')), ['tmpfs']);
    assert.equal(await get('/disk', 'tmpfs', 'free'), 1000);

    // Disabled: unmounted, its folder and contents gone, nothing written there.
    await run('/file', 'add', { name: 'tmpfs/d', type: 'directory' });
    await run('/disk', 'disable', { numbers: 'tmpfs' });
    assert.equal(await get('/disk', 'tmpfs', 'disabled'), true);
    assert.match(await print(), /^1 X +tmpfs +tmpfs *$/m);
    assert.ok(!(await fileNames()).some((n) => n.startsWith('tmpfs')));
    await assert.rejects(run('/file', 'add', { name: 'tmpfs/x', contents: 'x' }), /disk tmpfs is disabled/);
    await assert.rejects(run('/file', 'add', { name: 'tmpfs/y', type: 'directory' }), /disk tmpfs is disabled/);
    await run('/disk', 'enable', { numbers: 'tmpfs' });
    assert.deepEqual((await fileNames()).filter((n) => n.startsWith('tmpfs')), ['tmpfs']);
    // `enable` of the data directory's disk is a no-op; disabling or removing it refuses.
    await run('/disk', 'enable', { numbers: 'data' });
    await assert.rejects(run('/disk', 'disable', { numbers: 'data' }), /the disk of the data directory can not be disabled/);
    await assert.rejects(run('/disk', 'remove', { numbers: 'data' }), /the disk of the data directory can not be removed/);

    // Removed with its contents; then a plain folder of that name may be made again.
    await run('/file', 'add', { name: 'tmpfs/e', contents: 'e' });
    await run('/disk', 'remove', { numbers: 'tmpfs' });
    assert.ok(!(await fileNames()).some((n) => n.startsWith('tmpfs')));
    assert.equal((await run('/disk', 'print')).print!.rows.length, 1);
    await run('/file', 'add', { name: 'tmpfs/plain', contents: 'p'.repeat(5000) });
    assert.equal(await get('/file', 'tmpfs', 'type'), 'directory');
    // A slot left out is the first free one of tmpfs, tmpfs1 …
    await run('/disk', 'add', { type: 'tmpfs', 'tmpfs-max-size': '10' });
    assert.equal(await get('/file', 'tmpfs1', 'type'), 'disk');
    assert.ok((await logs(run)).includes('disk tmpfs removed by admin'));
  } finally {
    app.close();
    await app.closed();
  }
}

async function logs(run: (p: string, c: string) => Promise<{ print?: { rows: readonly { data: Record<string, unknown> }[] } }>): Promise<string[]> {
  return (await run('/log', 'print')).print!.rows.map((r) => String(r.data.message));
}

test('/disk tmpfs on the data directory\'s file store', async () => {
  const dir = tempDir('rospki-disk-');
  try {
    await tmpfsLife(await open(dir), () => open(dir));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const skip = postgresMissing();

describe('/disk tmpfs on the PostgreSQL file store', { skip }, () => {
  let cluster: PgCluster;
  before(async () => { cluster = await startPgCluster(); });
  after(() => cluster?.destroy());

  test('the same life of a tmpfs disk', async () => {
    const dir = tempDir('rospki-disk-pg-');
    try {
      const url = await cluster.newDatabase();
      await tmpfsLife(await open(dir, url), () => open(dir, url));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
