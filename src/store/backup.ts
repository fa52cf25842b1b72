// The `/system backup` file (services spec §9.1): the whole configuration of one store in a
// versioned format of rospki's own (RouterOS's binary format is undocumented; nothing reads
// both). docs/compatibility.md ("/system backup") describes it for people; this is the code.
//
//   offset  size  field
//   0       14    magic `rospki backup\n`
//   14      1     file format version (FILE_FORMAT, 1)
//   15      1     protection: 0 = none (device-bound), 1 = aes-sha256 (password)
//   protection 0:
//   16      2     n, big-endian: length of the seal
//   18      n     seal: SHA-256 of every byte of the file but the seal, sealed with the data
//                 directory's secret (seal.ts: AES-256-GCM) — only the device that saved the
//                 file can make one that opens, so it both authenticates the file and tells a
//                 file from another device
//   18+n    …     payload
//   protection 1 (the name RouterOS gives its AES mode; here AES-256-GCM under scrypt):
//   16      16    salt
//   32      1     log2 of scrypt's N; 33: r; 34: p
//   35      12    GCM nonce
//   47      …     payload, encrypted; the last 16 bytes are the GCM tag; bytes 0..46 are the AAD
//
// The payload is gzip-compressed JSON (BackupContents). Secrets inside it: with protection 0
// every secret stays sealed with the device's secret (private keys and other sealed blobs as
// the store holds them; values of `sensitive` properties sealed as `{"$sealed":…}`, the row
// format of sealed-values.ts), so the file holds no secret in the clear and is useful on that
// device only; with protection 1 they are open inside the encrypted payload (marked, to be
// sealed again by whichever rospki loads it), so a password backup moves to another device.

import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isSealedValue, type SealedFields } from './sealed-values.js';
import type { RowData, WriteTx } from './store.js';

export const BACKUP_MAGIC = Buffer.from('rospki backup\n', 'latin1');
/** The file format this rospki writes and the newest it reads. */
export const FILE_FORMAT = 1;
/** The payload format (BackupContents.format) this rospki writes and the newest it reads. */
export const PAYLOAD_FORMAT = 1;

const NONE = 0;
const AES = 1;
const SALT = 16;
const NONCE = 12;
const TAG = 16;
/** scrypt cost for new files: N = 2^15, r = 8, p = 1 (32 MiB, ~0.1 s): RFC 7914 §2's interactive level. */
const SCRYPT = { log2N: 15, r: 8, p: 1 };
/**
 * What a file may ask of scrypt, at most (memory is 128·N·r bytes: 128 MiB here; time grows
 * with p): a hostile file can not make a load take minutes or gigabytes.
 */
const SCRYPT_MAX = { log2N: 17, r: 8, p: 2 };
/** The JSON a payload may unpack to, at most. */
const MAX_PAYLOAD = 1 << 30;

/** A blob of a saved row: base64; `sealed` (only in a password backup) tells to seal it again. */
export interface SavedBlob {
  readonly v: string;
  readonly sealed?: true;
}

export interface SavedRow {
  readonly id: number;
  readonly data: RowData;
  readonly blobs?: Readonly<Record<string, SavedBlob>>;
}

/** The payload of a backup file. */
export interface BackupContents {
  readonly format: number;
  /** rospki's version that saved it (for people). */
  readonly software: string;
  /** When (ms since the epoch). */
  readonly saved: number;
  readonly identity: string;
  /** `device`: secrets sealed with the saving device's secret; `open`: in the clear (password file). */
  readonly secrets: 'device' | 'open';
  /** Menu path → its rows in id order. */
  readonly menus: Readonly<Record<string, readonly SavedRow[]>>;
}

/** Why a file can not be loaded: the text is the RouterOS-style failure. */
export class BackupError extends Error {}

/** What sealing is needed: the store's own seal/unseal (Store.seal). */
export interface Sealing {
  seal(plain: Buffer): Buffer;
  unseal(sealed: Buffer): Buffer;
}

/** Whether bytes start like a backup file (the secret-files rule; /file type). */
export function isBackupFile(data: Uint8Array): boolean {
  return data.length >= BACKUP_MAGIC.length && Buffer.from(data.buffer, data.byteOffset, BACKUP_MAGIC.length).equals(BACKUP_MAGIC);
}

/**
 * Reads what a backup holds, inside a write transaction (so nothing changes under it and
 * tx.menus() is at hand). `kept(menu, row)`: whether a row is configuration (runtime state is
 * neither saved nor replaced). `open`: secrets in the clear (the file is encrypted) or sealed.
 */
export function snapshot(
  tx: WriteTx, sealing: Sealing, sealedFields: SealedFields, kept: (menu: string, data: RowData) => boolean,
  head: Omit<BackupContents, 'format' | 'menus' | 'secrets'>, open: boolean,
): BackupContents {
  const menus: Record<string, SavedRow[]> = {};
  for (const menu of tx.menus().sort()) {
    const fields = sealedFields.get(menu) ?? [];
    const rows: SavedRow[] = [];
    for (const row of tx.list(menu)) {
      if (!kept(menu, row.data)) continue;
      let data = row.data;
      if (!open) {
        for (const f of fields) {
          if (data[f] === undefined) continue;
          if (data === row.data) data = { ...row.data };
          (data as Record<string, unknown>)[f] = { $sealed: sealing.seal(Buffer.from(JSON.stringify(data[f]))).toString('base64') };
        }
      }
      let blobs: Record<string, SavedBlob> | undefined;
      for (const name of tx.blobNames(menu, row.id).sort()) {
        const value = tx.getBlob(menu, row.id, name);
        if (!value) continue;
        let saved: SavedBlob = { v: value.toString('base64') };
        if (open) {
          const plain = tryUnseal(sealing, value);
          if (plain) saved = { v: plain.toString('base64'), sealed: true };
        }
        (blobs ??= {})[name] = saved;
      }
      rows.push(blobs ? { id: row.id, data, blobs } : { id: row.id, data });
    }
    if (rows.length) menus[menu] = rows;
  }
  return { format: PAYLOAD_FORMAT, ...head, secrets: open ? 'open' : 'device', menus };
}

function tryUnseal(sealing: Sealing, value: Buffer): Buffer | undefined {
  try {
    return sealing.unseal(value);
  } catch {
    return undefined; // not sealed: a certificate, a CRL
  }
}

/** The file for contents: with a password, encrypted (aes-sha256); without, device-sealed. */
export async function encodeBackup(contents: BackupContents, sealing: Sealing, password?: string): Promise<Buffer> {
  const payload = gzipSync(Buffer.from(JSON.stringify(contents)));
  if (password === undefined) {
    const head = Buffer.concat([BACKUP_MAGIC, Buffer.of(FILE_FORMAT, NONE)]);
    const seal = sealing.seal(digestOf(head, payload));
    const len = Buffer.alloc(2);
    len.writeUInt16BE(seal.length);
    return Buffer.concat([head, len, seal, payload]);
  }
  const salt = randomBytes(SALT);
  const nonce = randomBytes(NONCE);
  const head = Buffer.concat([BACKUP_MAGIC, Buffer.of(FILE_FORMAT, AES), salt, Buffer.of(SCRYPT.log2N, SCRYPT.r, SCRYPT.p), nonce]);
  const key = await deriveKey(password, salt, SCRYPT);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  cipher.setAAD(head);
  return Buffer.concat([head, cipher.update(payload), cipher.final(), cipher.getAuthTag()]);
}

/** Whether a file needs a password (protection aes-sha256); throws BackupError for a file that is no backup. */
export function backupNeedsPassword(file: Buffer): boolean {
  return protectionOf(file) === AES;
}

/**
 * Opens, authenticates and parses a backup file; throws BackupError with the reason (nothing
 * is trusted before the check: the seal or the GCM tag covers every byte).
 */
export async function decodeBackup(file: Buffer, sealing: Sealing, password: string | undefined): Promise<BackupContents> {
  const protection = protectionOf(file);
  let payload: Buffer;
  if (protection === NONE) {
    if (file.length < 18) throw truncated();
    const n = file.readUInt16BE(16);
    if (file.length < 18 + n) throw truncated();
    const head = file.subarray(0, 16);
    payload = file.subarray(18 + n);
    let digest: Buffer;
    try {
      digest = sealing.unseal(file.subarray(18, 18 + n));
    } catch {
      throw new BackupError('backup file was saved on another device or is damaged (an unencrypted backup only loads where it was saved; save it with a password to move it)');
    }
    if (!digest.equals(digestOf(head, payload))) throw new BackupError('backup file is damaged or was changed');
  } else {
    const headLength = 16 + SALT + 3 + NONCE;
    if (file.length < headLength + TAG) throw truncated();
    if (!password) throw new BackupError('backup file is encrypted: give its password');
    const head = file.subarray(0, headLength);
    const salt = head.subarray(16, 16 + SALT);
    const [log2N, r, p] = head.subarray(16 + SALT, 16 + SALT + 3);
    if (log2N! < 10 || log2N! > SCRYPT_MAX.log2N || r! < 1 || r! > SCRYPT_MAX.r || p! < 1 || p! > SCRYPT_MAX.p) {
      throw new BackupError('backup file asks for unsupported encryption parameters');
    }
    const nonce = head.subarray(16 + SALT + 3);
    const key = await deriveKey(password, salt, { log2N: log2N!, r: r!, p: p! });
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
    decipher.setAAD(head);
    decipher.setAuthTag(file.subarray(file.length - TAG));
    try {
      payload = Buffer.concat([decipher.update(file.subarray(headLength, file.length - TAG)), decipher.final()]);
    } catch {
      // GCM can not tell a wrong password from a changed file: both fail the tag.
      throw new BackupError('wrong password, or the backup file is damaged');
    }
  }
  let contents: BackupContents;
  try {
    contents = JSON.parse(gunzipSync(payload, { maxOutputLength: MAX_PAYLOAD }).toString('utf8')) as BackupContents;
  } catch {
    throw new BackupError('backup file is damaged');
  }
  checkContents(contents, protection === AES);
  return contents;
}

function protectionOf(file: Buffer): number {
  if (!isBackupFile(file)) throw new BackupError('not a backup file');
  if (file.length < 16) throw truncated();
  if (file[14]! > FILE_FORMAT) throw new BackupError(`backup file format ${file[14]} is newer than this rospki reads (${FILE_FORMAT}): upgrade rospki`);
  if (file[14] !== FILE_FORMAT) throw new BackupError(`unknown backup file format ${file[14]}`);
  const protection = file[15]!;
  if (protection !== NONE && protection !== AES) throw new BackupError(`unknown backup encryption ${protection}`);
  return protection;
}

const truncated = () => new BackupError('backup file is truncated');

function digestOf(head: Buffer, payload: Buffer): Buffer {
  return createHash('sha256').update(head).update(payload).digest();
}

function deriveKey(password: string, salt: Buffer, cost: { log2N: number; r: number; p: number }): Promise<Buffer> {
  const N = 2 ** cost.log2N;
  const options: ScryptOptions = { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r + (1 << 20) };
  // Asynchronous: the work runs on libuv's pool, the daemon's services go on meanwhile.
  return new Promise((resolve, reject) => {
    scryptCb(Buffer.from(password, 'utf8'), salt, 32, options, (e, key) => (e ? reject(e) : resolve(key)));
  });
}

/** The shape of a payload, checked before anything is written (an authenticated file may still come from a newer rospki). */
function checkContents(c: BackupContents, encrypted: boolean): void {
  const bad = (why: string) => new BackupError(`backup file is damaged: ${why}`);
  if (typeof c !== 'object' || c === null) throw bad('no contents');
  if (typeof c.format !== 'number') throw bad('no format');
  if (c.format > PAYLOAD_FORMAT) throw new BackupError(`backup file format ${c.format} is newer than this rospki reads (${PAYLOAD_FORMAT}): upgrade rospki`);
  if (c.secrets !== (encrypted ? 'open' : 'device')) throw bad('secrets do not match its encryption');
  if (typeof c.menus !== 'object' || c.menus === null) throw bad('no menus');
  for (const [menu, rows] of Object.entries(c.menus)) {
    if (!menu.startsWith('/') || !Array.isArray(rows)) throw bad(`menu ${menu}`);
    let last = 0;
    for (const row of rows) {
      if (typeof row !== 'object' || row === null || !Number.isSafeInteger(row.id) || row.id <= last) throw bad(`a row of ${menu}`);
      last = row.id;
      if (typeof row.data !== 'object' || row.data === null || Array.isArray(row.data)) throw bad(`row *${row.id.toString(16).toUpperCase()} of ${menu}`);
      for (const blob of Object.values(row.blobs ?? {}) as SavedBlob[]) {
        if (typeof blob?.v !== 'string' || (blob.sealed && !encrypted)) throw bad(`a blob of ${menu}`);
      }
    }
  }
}

/**
 * Replaces the store's configuration with `contents`, in the caller's one write transaction:
 * every kept row of every menu not in the backup is removed, every saved row is put back under
 * its id with its blobs. Secrets are opened first (device mode: they must open here, or the
 * whole load fails before the first change) and sealed again by the store as usual.
 */
export function restore(tx: WriteTx, contents: BackupContents, sealing: Sealing, kept: (menu: string, data: RowData) => boolean): { rows: number; removed: number } {
  // Everything that can fail on the file's contents is done first.
  const prepared = Object.entries(contents.menus).map(([menu, rows]) => ({
    menu,
    rows: rows.map((row) => ({
      id: row.id,
      data: openValues(row.data, sealing, menu, row.id),
      blobs: Object.entries(row.blobs ?? {}).map(([name, b]) => {
        const value = Buffer.from(b.v, 'base64');
        return [name, b.sealed ? sealing.seal(value) : value] as const;
      }),
    })),
  }));
  let removed = 0;
  let count = 0;
  const saved = new Map(prepared.map((m) => [m.menu, new Set(m.rows.map((r) => r.id))]));
  for (const menu of tx.menus()) {
    const ids = saved.get(menu);
    for (const row of tx.list(menu)) {
      if (!kept(menu, row.data) || ids?.has(row.id)) continue;
      tx.remove(menu, row.id);
      removed++;
    }
  }
  for (const m of prepared) {
    for (const row of m.rows) {
      // Run-time state in a file (made by hand) is not put in either: it is not configuration.
      if (!kept(m.menu, row.data)) continue;
      tx.put(m.menu, row.id, row.data);
      for (const [name, value] of row.blobs) tx.setBlob(m.menu, row.id, name, value);
      count++;
    }
  }
  return { rows: count, removed };
}

/** Row data with every `{"$sealed":…}` value opened (a device backup); the store seals the declared ones again. */
function openValues(data: RowData, sealing: Sealing, menu: string, id: number): RowData {
  let out = data;
  for (const [field, value] of Object.entries(data)) {
    if (!isSealedValue(value)) continue;
    let plain: unknown;
    try {
      plain = JSON.parse(sealing.unseal(Buffer.from(value.$sealed, 'base64')).toString('utf8'));
    } catch {
      throw new BackupError(`backup file holds a sealed ${field} of ${menu} *${id.toString(16).toUpperCase()} that does not open on this device`);
    }
    if (out === data) out = { ...data };
    (out as Record<string, unknown>)[field] = plain;
  }
  return out;
}
