// Values of sensitive properties (PPP and IPsec secrets, pre-shared keys, SCEP one-time
// passwords …: the menus declare them, PropertyDecl.sensitive) are sealed at rest like private
// keys (seal.ts, the data directory's secret): the JSON of a row on disk holds
// {"$sealed":"<base64 of seal(JSON of the value)>"} in their place. The cache holds them open,
// so every reader (filters of a `sensitive` user, findBy, the services that check them) sees
// the plain value, and nothing above the store knows. Both backends read and write rows
// through one RowCodec.
//
// Which fields: given when the store opens (from the menu declarations: the store does not
// know menus). Reading opens any sealed value, declared or not, so a store opened without the
// list (`store copy`, a test) still reads what another sealed; writing seals the declared ones.

import { normalizeData, rowFromParsed } from './cache.js';
import type { Sealer } from './seal.js';
import type { RowData, StoredRow } from './store.js';

/** Menu path → names of the row fields sealed at rest. */
export type SealedFields = ReadonlyMap<string, readonly string[]>;

export const NO_SEALED_FIELDS: SealedFields = new Map();

const MARK = '$sealed';
/** How a sealed value starts in a row's JSON (`{"$sealed":`): rows without it are not looked at. */
const MARK_JSON = `{"${MARK}":`;

/** A sealed value as the row's JSON holds it. */
export function isSealedValue(value: unknown): value is { readonly $sealed: string } {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    && typeof (value as Record<string, unknown>)[MARK] === 'string' && Object.keys(value).length === 1;
}

/** Converts rows between the cache (values open) and the database (declared values sealed). */
export class RowCodec {
  constructor(readonly sealer: Sealer, readonly fields: SealedFields) {}

  /** The JSON to store for row data (declared fields sealed), and the data the cache holds. */
  encode(menu: string, data: RowData): { json: string; data: RowData } {
    const row = normalizeData(data);
    const fields = this.fields.get(menu);
    if (!fields) return row;
    let onDisk: Record<string, unknown> | undefined;
    for (const field of fields) {
      const value = row.data[field];
      if (value === undefined) continue;
      onDisk ??= { ...row.data };
      onDisk[field] = this.sealValue(value);
    }
    return onDisk ? { json: JSON.stringify(onDisk), data: row.data } : row;
  }

  /** A cached row from stored JSON: every sealed value opened. */
  decode(menu: string, id: number, json: string): StoredRow {
    const data = JSON.parse(json) as Record<string, unknown>;
    if (json.includes(MARK_JSON)) {
      for (const [field, value] of Object.entries(data)) {
        if (isSealedValue(value)) data[field] = this.openValue(menu, id, field, value.$sealed);
      }
    }
    return rowFromParsed(id, data);
  }

  /** Whether stored JSON holds a declared field of its menu still open (written before it was declared). */
  hasOpenValue(menu: string, json: string, fields: readonly string[]): boolean {
    const data = JSON.parse(json) as Record<string, unknown>;
    return fields.some((f) => data[f] !== undefined && !isSealedValue(data[f]));
  }

  private sealValue(value: unknown): { $sealed: string } {
    return { [MARK]: this.sealer.seal(Buffer.from(JSON.stringify(value))).toString('base64') } as { $sealed: string };
  }

  private openValue(menu: string, id: number, field: string, sealed: string): unknown {
    try {
      return JSON.parse(this.sealer.unseal(Buffer.from(sealed, 'base64')).toString()) as unknown;
    } catch {
      throw new Error(`store: the sealed ${field} of ${menu} *${id.toString(16).toUpperCase()} cannot be opened (wrong secret.key or damaged data)`);
    }
  }
}
