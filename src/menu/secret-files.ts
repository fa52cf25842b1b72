// Whether a /file entry holds a secret: the one rule for files that only users with the
// `sensitive` policy may read — `contents`, `/file read`, `/import`, and downloads over FTP,
// SFTP, SCP and the web page. A secret is
//
//  * a private key (pki holdsPrivateKey: PEM anywhere, DER, PKCS#12), or
//  * a value of a property declared `sensitive` as rospki writes one into a file: `name=value`
//    (`/export show-sensitive file=`, `print detail|terse show-sensitive file=`, a set-up .rsc
//    with `/ppp secret add … password=…`), `name: value` (`print value-list`) or a column of a
//    table (`Columns: NAME, PASSWORD`). Without this, an admin's `/export show-sensitive
//    file=backup` handed every PPP and IPsec secret to a read user with `ftp`, or
//  * a `/system backup` file (store/backup.ts), by its first bytes whatever its name: it holds
//    every user, key and secret of the router (sealed or encrypted, but still theirs).
//
// The names come from the menu declarations (as sealing does, sealed.ts), so a new sensitive
// property counts at once. Nothing is decrypted or parsed: a file that merely mentions
// `secret=x` counts too, which only ever asks more of the reader.

import { BINARY_KEY_LIMIT, holdsPrivateKey, PEM_SCAN_OVERLAP, PEM_SCAN_PIECE, pemKeyIn } from '../pki/index.js';
import { containsPrivateKey, containsStaticKey } from '../pki/pem.js';
import { BACKUP_MAGIC, isBackupFile } from '../store/backup.js';
import type { FileReader } from '../store/files.js';
import type { MenuDecl } from './types.js';

/** What the rule needs of the registry. */
export interface MenuList {
  all(): MenuDecl[];
}

const patternsCache = new WeakMap<MenuList, readonly RegExp[]>();

/** The patterns of a shown sensitive value, from every property declared `sensitive`. */
function patterns(registry: MenuList): readonly RegExp[] {
  let hit = patternsCache.get(registry);
  if (!hit) {
    const names = new Set<string>();
    for (const menu of registry.all()) for (const p of menu.properties) if (p.sensitive) names.add(p.name);
    const escape = (n: string) => n.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
    const alt = [...names].map(escape).join('|');
    const upper = [...names].map((n) => escape(n.toUpperCase())).join('|');
    hit = names.size === 0 ? [] : [
      // `password=x`, `password="x"` (an empty value shows nothing); never inside a longer name.
      new RegExp(`(?:^|[^A-Za-z0-9_-])(?:${alt})=(?!""|\\s|$)`),
      // print value-list: `   password: x`.
      new RegExp(`^[ \\t]*(?:${alt}):[ \\t]*\\S`, 'm'),
      // A table: `Columns: NAME, PASSWORD`.
      new RegExp(`^Columns:.*\\b(?:${upper})\\b`, 'm'),
    ];
    patternsCache.set(registry, hit);
  }
  return hit;
}

/** Whether text shows a sensitive value or holds a PEM private key or OpenVPN static key (`contents` of a text file). */
export function textHoldsSecret(text: string, registry: MenuList): boolean {
  return containsPrivateKey(text) || containsStaticKey(text) || patterns(registry).some((re) => re.test(text));
}

/** Whether a piece of a file, read as Latin-1, shows a sensitive value. */
function valueIn(piece: Uint8Array, registry: MenuList): boolean {
  const text = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength).toString('latin1');
  return patterns(registry).some((re) => re.test(text));
}

/** Whether a whole file's bytes hold a secret (a private key, or a sensitive value shown). */
export function holdsSecret(data: Uint8Array, registry: MenuList): boolean {
  if (isBackupFile(data) || holdsPrivateKey(data)) return true;
  for (let at = 0; at < data.length; at += PEM_SCAN_PIECE - PEM_SCAN_OVERLAP) {
    if (valueIn(data.subarray(at, Math.min(data.length, at + PEM_SCAN_PIECE)), registry)) return true;
    if (at + PEM_SCAN_PIECE >= data.length) break;
  }
  return false;
}

/** holdsSecret for a file opened for a download: a large one is read a piece at a time. */
export async function readerHoldsSecret(file: FileReader, registry: MenuList): Promise<boolean> {
  if (file.size <= BINARY_KEY_LIMIT) return holdsSecret(await file.read(0, file.size), registry);
  if (isBackupFile(await file.read(0, BACKUP_MAGIC.length))) return true;
  for (let at = 0; at < file.size; at += PEM_SCAN_PIECE - PEM_SCAN_OVERLAP) {
    const piece = await file.read(at, PEM_SCAN_PIECE);
    if (piece.length === 0) break;
    if (pemKeyIn(piece) || valueIn(piece, registry)) return true;
  }
  return false;
}
