// The in-memory copy of one menu's rows. Rows and their data are deep-frozen, so list()
// can hand out one shared, id-ordered array instead of copying rows on every call.

import type { RowData, StoredRow } from './store.js';

export class MenuRows {
  private readonly byId = new Map<number, StoredRow>();
  /**
   * The rows in id order, kept up to date on every change: ids only grow, so an insert is a
   * push; an update replaces in place (binary search); a removal splices. list() hands out this
   * array itself and marks it shared; the next change then works on a copy (copy on write), so
   * a list a caller holds never changes under it and listing costs nothing.
   */
  private ordered: StoredRow[] = [];
  private shared = false;
  /** Lookup indexes by field value, built on first use and kept up to date. */
  private readonly indexes = new Map<string, Map<unknown, StoredRow[]>>();
  /** Index lists handed out by findBy: a change replaces them instead (copy on write, as list()). */
  private readonly handedOut = new WeakSet<StoredRow[]>();

  get(id: number): StoredRow | undefined {
    return this.byId.get(id);
  }

  put(row: StoredRow): void {
    const before = this.byId.get(row.id);
    const had = before !== undefined;
    if (before) this.unindex(before);
    this.byId.set(row.id, row);
    this.index(row);
    this.ownOrdered();
    const last = this.ordered[this.ordered.length - 1];
    if (!had && (!last || last.id < row.id)) { this.ordered.push(row); return; }
    const at = this.indexOf(row.id);
    if (had) this.ordered[at] = row;
    else this.ordered.splice(at, 0, row); // an undo re-adds an older id
  }

  delete(id: number): void {
    const before = this.byId.get(id);
    if (!before) return;
    this.byId.delete(id);
    this.unindex(before);
    this.ownOrdered();
    this.ordered.splice(this.indexOf(id), 1);
  }

  list(): readonly StoredRow[] {
    this.shared = true;
    return this.ordered;
  }

  get size(): number {
    return this.ordered.length;
  }

  private ownOrdered(): void {
    if (!this.shared) return;
    this.ordered = this.ordered.slice();
    this.shared = false;
  }

  /**
   * Rows whose data[field] equals value (strict equality), in id order: a stable snapshot, like
   * list() (a caller may change rows while it walks the result).
   */
  findBy(field: string, value: unknown): readonly StoredRow[] {
    let index = this.indexes.get(field);
    if (!index) {
      index = new Map();
      this.indexes.set(field, index);
      for (const row of this.ordered) add(index, row.data[field], row);
    }
    const list = index.get(value);
    if (!list) return [];
    this.handedOut.add(list);
    return list;
  }

  /** The index list of `key`, ready to change (copied first when a caller holds it). */
  private own(index: Map<unknown, StoredRow[]>, key: unknown): StoredRow[] | undefined {
    const list = index.get(key);
    if (!list || !this.handedOut.has(list)) return list;
    const copy = list.slice();
    index.set(key, copy);
    return copy;
  }

  private index(row: StoredRow): void {
    for (const [field, index] of this.indexes) {
      const key = row.data[field];
      const list = this.own(index, key);
      if (list) insertInOrder(list, row);
      else index.set(key, [row]);
    }
  }

  private unindex(row: StoredRow): void {
    for (const [field, index] of this.indexes) {
      const key = row.data[field];
      const list = this.own(index, key);
      if (!list) continue;
      const at = indexById(list, row.id);
      if (list[at]?.id === row.id) list.splice(at, 1);
      if (list.length === 0) index.delete(key);
    }
  }

  /** Index of id in ordered, or where it would go. */
  private indexOf(id: number): number {
    return indexById(this.ordered, id);
  }
}

/** Index of id in a list in id order, or where it would go (binary search). */
export function indexById(list: readonly StoredRow[], id: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function add(index: Map<unknown, StoredRow[]>, key: unknown, row: StoredRow): void {
  const list = index.get(key);
  if (!list) index.set(key, [row]);
  else insertInOrder(list, row);
}

function insertInOrder(list: StoredRow[], row: StoredRow): void {
  // Keep id order: an undo may re-add an older row.
  if (list.length === 0 || list[list.length - 1]!.id < row.id) list.push(row);
  else list.splice(indexById(list, row.id), 0, row);
}

/** A cached row from stored JSON. */
export function rowFromJson(id: number, json: string): StoredRow {
  return rowFromParsed(id, JSON.parse(json) as RowData);
}

/** A cached row from data fresh from JSON.parse (or from JSON values only), which it freezes. */
export function rowFromParsed(id: number, data: RowData): StoredRow {
  return Object.freeze({ id, data: markNormalized(data) });
}

/**
 * Objects and arrays exactly as a reload from the database gives them (JSON values), and frozen:
 * a new row made from a cached one (`{ ...row.data, name }`) shares them, and normalizing it need
 * not copy them again.
 */
const NORMALIZED = new WeakSet<object>();

/**
 * Serializes row data and returns it as the cache will hold it: exactly what a reload from the
 * database would give (JSON.parse of the JSON: Dates become strings, undefined properties vanish,
 * -0 and non-finite numbers become 0 and null), and frozen. The copy is made directly rather than
 * by parsing the JSON again, reusing what is already normalized.
 */
export function normalizeData(data: RowData): { json: string; data: RowData } {
  const json = JSON.stringify(data) as string | undefined;
  if (json === undefined || json[0] !== '{') throw new TypeError('row data must be a plain object');
  return { json, data: normalized(data, '') as RowData };
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
const OMITTED = Symbol('omitted');

/**
 * JSON.parse(JSON.stringify(value)) for a value that serializes, frozen, following ECMA-262
 * SerializeJSONProperty: toJSON, then boxed primitives unwrapped, non-finite numbers as null.
 */
function normalized(value: unknown, key: string): unknown {
  if (typeof value === 'object' && value !== null) {
    if (NORMALIZED.has(value)) return value;
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return normalized(toJSON.call(value, key), key);
    if (value instanceof Number || value instanceof String || value instanceof Boolean) return normalized(value.valueOf(), key);
    if (Array.isArray(value)) {
      const out = value.map((v, i) => {
        const n = normalized(v, String(i));
        return n === OMITTED ? null : n;
      });
      return markFrozen(out);
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      const n = normalized((value as Record<string, unknown>)[k], k);
      if (n === OMITTED) continue;
      // JSON.parse makes `__proto__` an own property; an assignment would set the prototype.
      if (k === '__proto__') Object.defineProperty(out, k, { value: n, enumerable: true, writable: true, configurable: true });
      else out[k] = n;
    }
    return markFrozen(out);
  }
  if (typeof value === 'number') return Number.isFinite(value) ? value + 0 : null; // + 0: -0 → 0
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return OMITTED;
  return value; // string, boolean, null
}

function markFrozen<T extends object>(value: T): T {
  NORMALIZED.add(value);
  return Object.freeze(value);
}

/** Freezes and marks a value fresh from JSON.parse (already exactly normalized). */
function markNormalized<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) markNormalized(v);
    markFrozen(value);
  }
  return value;
}
