// The /system backup file format and the store's restore primitives (src/store/backup.ts,
// WriteTx.put/menus/blobNames) on both backends: a row put back under the id of a removed one
// is seen by another process or instance (its old tombstone does not win), later inserts take
// ids above it, and a throw undoes the whole restore.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  BACKUP_MAGIC, BackupError, decodeBackup, encodeBackup, isBackupFile, restore, snapshot, type BackupContents,
} from '../../src/store/backup.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { Sealer } from '../../src/store/seal.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import { postgresMissing, startPgCluster, type PgCluster } from '../support/postgres.js';
import { tempDir } from './helpers.js';

const everything = () => true;
const head = { software: 'test', saved: 0, identity: 'r1' };
const FIELDS = new Map([['/ppp/secret', ['password']]]);

/** Rows a, b, c in /m (b with a sealed blob and a plain one), a PPP secret, then b removed and d added. */
async function fill(store: Store, between: () => Promise<unknown> = async () => {}): Promise<BackupContents[]> {
  await store.write((tx) => {
    tx.insert('/m', { name: 'a' });
    const b = tx.insert('/m', { name: 'b' });
    tx.setBlob('/m', b, 'key', store.seal(Buffer.from('PRIVATE KEY BYTES')));
    tx.setBlob('/m', b, 'der', Buffer.from('certificate'));
    tx.insert('/m', { name: 'c' });
    tx.insert('/ppp/secret', { name: 'p', password: 'ppp-password' });
  });
  const saved = await store.write((tx) => [false, true].map((open) => snapshot(tx, store, FIELDS, everything, head, open)));
  await between();
  await store.write((tx) => {
    tx.remove('/m', 2);
    tx.update('/m', 3, { name: 'c2' });
    tx.setBlob('/m', 3, 'extra', Buffer.from('x'));
    tx.insert('/m', { name: 'd' });
    tx.insert('/n', { name: 'other menu' });
  });
  return saved;
}

async function check(store: Store, ...others: Store[]): Promise<void> {
  for (const s of [store, ...others]) {
    const seen = await s.read((tx) => ({
      // Rows added after the check (e, below) left aside.
      m: tx.list('/m').filter((r) => r.id < 5).map((r) => `${r.id}:${String(r.data.name)}`),
      n: tx.count('/n'),
      key: tx.getBlob('/m', 2, 'key'),
      der: tx.getBlob('/m', 2, 'der')?.toString(),
      extra: tx.getBlob('/m', 3, 'extra'),
      ppp: tx.list('/ppp/secret')[0]?.data.password,
    }));
    assert.deepEqual(seen.m, ['1:a', '2:b', '3:c']);
    assert.equal(seen.n, 0);
    assert.equal(s.unseal(seen.key!).toString(), 'PRIVATE KEY BYTES');
    assert.equal(seen.der, 'certificate');
    assert.equal(seen.extra, undefined, 'a blob the saved row did not have is gone');
    assert.equal(seen.ppp, 'ppp-password');
  }
  // Ids go on above every id the menu had (d was 4).
  assert.ok(await store.write((tx) => tx.insert('/m', { name: 'e' })) > 4);
}

describe('backup file format', () => {
  const sealer = new Sealer(randomBytes(32));
  const contents: BackupContents = { format: 1, ...head, secrets: 'device', menus: { '/m': [{ id: 1, data: { name: 'a' } }] } };

  test('device-bound without a password: authenticated by the device seal, no secret in the clear', async () => {
    const file = await encodeBackup(contents, sealer);
    assert.ok(isBackupFile(file));
    assert.ok(file.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC));
    assert.deepEqual(await decodeBackup(file, sealer, undefined), contents);
    await assert.rejects(decodeBackup(file, new Sealer(randomBytes(32)), undefined), /saved on another device/);
    const changed = Buffer.from(file);
    changed[changed.length - 5] ^= 1;
    await assert.rejects(decodeBackup(changed, sealer, undefined), /damaged or was changed/);
    await assert.rejects(decodeBackup(file.subarray(0, 30), sealer, undefined), BackupError);
  });

  test('aes-sha256 with a password: wrong password, changed byte, newer format, hostile cost all refused', async () => {
    const open = { ...contents, secrets: 'open' as const };
    const file = await encodeBackup(open, sealer, 'pw');
    assert.deepEqual(await decodeBackup(file, new Sealer(randomBytes(32)), 'pw'), open, 'a password backup loads on any device');
    await assert.rejects(decodeBackup(file, sealer, 'wrong'), /wrong password/);
    await assert.rejects(decodeBackup(file, sealer, undefined), /give its password/);
    for (const at of [20, 40, file.length - 20, file.length - 1]) {
      const changed = Buffer.from(file);
      changed[at] ^= 1;
      await assert.rejects(decodeBackup(changed, sealer, 'pw'), BackupError, `byte ${at}`);
    }
    const newer = Buffer.from(file);
    newer[14] = 2;
    await assert.rejects(decodeBackup(newer, sealer, 'pw'), /format 2 is newer than this rospki reads/);
    const costly = Buffer.from(file);
    costly[32] = 30;
    await assert.rejects(decodeBackup(costly, sealer, 'pw'), /unsupported encryption parameters/);
    await assert.rejects(decodeBackup(Buffer.from('/user add name=x\n'), sealer, undefined), /not a backup file/);
  });

  test('a newer payload format inside an authentic file is refused', async () => {
    const file = await encodeBackup({ ...contents, format: 99 }, sealer);
    await assert.rejects(decodeBackup(file, sealer, undefined), /format 99 is newer/);
  });
});

describe('restore on SQLite', () => {
  test('puts rows back under their ids, with their blobs; another process sees it', async (t) => {
    const dir = tempDir(t);
    const secret = randomBytes(32);
    const at = { dbPath: path.join(dir, 'db'), secret };
    const store = SqliteStore.open(at, FIELDS);
    const other = SqliteStore.open(at, FIELDS);
    t.after(() => { store.close(); other.close(); });
    // The other store has the menu cached from before the removal, and catches up with the
    // removal and the restore at once.
    const [device, open] = await fill(store, () => other.read((tx) => [tx.list('/m'), tx.list('/n')]));
    // The device snapshot holds the PPP password sealed, the key blob as stored (sealed).
    const text = JSON.stringify(device);
    assert.doesNotMatch(text, /ppp-password/);
    assert.doesNotMatch(text, new RegExp(Buffer.from('PRIVATE KEY BYTES').toString('base64')));
    assert.match(JSON.stringify(open), /ppp-password/);

    // A throw inside the transaction undoes the whole restore.
    await assert.rejects(store.write((tx) => { restore(tx, device!, store, everything); throw new Error('boom'); }), /boom/);
    assert.deepEqual(await store.read((tx) => tx.list('/m').map((r) => r.id)), [1, 3, 4]);
    assert.equal(await store.write((tx) => tx.insert('/z', {})), 1);

    await store.write((tx) => {
      tx.remove('/z', 1);
      restore(tx, open!, store, everything);
    });
    await check(store, other);

    // What `kept` calls run-time state is neither removed nor put back.
    await store.write((tx) => tx.update('/ppp/secret', 1, { name: 'p', password: 'changed' }));
    await store.write((tx) => restore(tx, device!, store, (menu) => menu !== '/ppp/secret'));
    assert.equal(await other.read((tx) => tx.get('/ppp/secret', 1)?.data.password), 'changed');
  });
});

describe('restore on PostgreSQL', { skip: postgresMissing() }, () => {
  let cluster: PgCluster;
  before(async () => { cluster = await startPgCluster(); });
  after(() => cluster?.destroy());

  test('another instance sees the restored rows (an older tombstone of the id does not win)', async () => {
    const url = await cluster.newDatabase();
    const secret = randomBytes(32);
    const store = await PostgresStore.open({ url, secret, sealedFields: FIELDS });
    const other = await PostgresStore.open({ url, secret, sealedFields: FIELDS });
    try {
      const [device] = await fill(store);
      await other.read((tx) => tx.list('/m'));
      // The other instance misses the removal's commit and the restore's together.
      const late = await PostgresStore.open({ url, secret, sealedFields: FIELDS });
      await store.write((tx) => tx.remove('/m', 1));
      await store.write((tx) => restore(tx, device!, store, everything));
      try {
        await check(store, other, late);
        // A fresh instance loads the same.
        const fresh = await PostgresStore.open({ url, secret, sealedFields: FIELDS });
        try { await check(fresh); } finally { fresh.close(); await fresh.whenClosed(); }
      } finally {
        late.close();
        await late.whenClosed();
      }
    } finally {
      for (const s of [store, other]) { s.close(); await s.whenClosed(); }
    }
  });
});

test('the payload is gzip JSON after the header (the documented format)', async () => {
  const sealer = new Sealer(randomBytes(32));
  const file = await encodeBackup({ format: 1, ...head, secrets: 'device', menus: {} }, sealer);
  const n = file.readUInt16BE(16);
  assert.equal(JSON.parse(gunzipSync(file.subarray(18 + n)).toString()).identity, 'r1');
});
