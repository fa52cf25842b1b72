// The in-memory copy of one menu's rows. Rows and their data are deep-frozen, so list()
// can hand out one shared, id-ordered array instead of copying rows on every call.

import type { RowData, StoredRow } from './store.js';

export class MenuRows {
  private readonly byId = new Map<number, StoredRow>();
  /** The id-ordered array list() returns; rebuilt lazily after a change. */
  private snapshot: readonly StoredRow[] | undefined;
  /** Whether the Map's insertion order is id order (ids only grow, but an undo re-adds old ids). */
  private ordered = true;
  private maxId = 0;

  get(id: number): StoredRow | undefined {
    return this.byId.get(id);
  }

  put(row: StoredRow): void {
    if (row.id < this.maxId && !this.byId.has(row.id)) this.ordered = false;
    if (row.id > this.maxId) this.maxId = row.id;
    this.byId.set(row.id, row);
    this.snapshot = undefined;
  }

  delete(id: number): void {
    if (this.byId.delete(id)) this.snapshot = undefined;
  }

  list(): readonly StoredRow[] {
    if (this.snapshot) return this.snapshot;
    const rows = [...this.byId.values()];
    if (!this.ordered) this.reorder(rows);
    return (this.snapshot = Object.freeze(rows));
  }

  private reorder(rows: StoredRow[]): void {
    rows.sort((a, b) => a.id - b.id);
    this.byId.clear();
    for (const row of rows) this.byId.set(row.id, row);
    this.ordered = true;
  }
}

/** A cached row from stored JSON. */
export function rowFromJson(id: number, json: string): StoredRow {
  return Object.freeze({ id, data: deepFreeze(JSON.parse(json) as RowData) });
}

/**
 * Serializes row data and returns it as the cache will hold it: exactly what a reload from the
 * database would give (Dates become strings, undefined properties vanish), and frozen.
 */
export function normalizeData(data: RowData): { json: string; data: RowData } {
  const json = JSON.stringify(data) as string | undefined;
  if (json === undefined || json[0] !== '{') throw new TypeError('row data must be a plain object');
  return { json, data: deepFreeze(JSON.parse(json) as RowData) };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
