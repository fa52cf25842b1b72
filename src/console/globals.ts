// One user's global variables (`:global`), kept in the daemon's memory as RouterOS keeps them in
// RAM, with a budget (issue 11): a user who fills a global until the heap is half full would
// stop every long-running script of every user until a policy user removed it. So the size of a
// user's globals is counted at every write, and a `:global`/`:set` that would pass
// GLOBALS_BUDGET_BYTES is refused before anything changes (docs/compatibility.md).
//
// Sizes are estimates, cheap to keep: a value's text length in characters plus VALUE_OVERHEAD per
// value and array element, and the name. A whole value is measured when it is stored (it was
// just copied, so this costs no more than the copy); `:set ($g->k) v` measures only the element
// it replaces and the one it stores.

import { failure, type RosError } from '../errors.js';
import { RosArray, type Value } from '../menu/values.js';
import { CodeValue } from './expr.js';

/** What one user's globals may hold in all, in bytes as counted by valueSize. */
export const GLOBALS_BUDGET_BYTES = 4 * 1024 * 1024;
/** What an element costs beyond its text: V8 keeps a pointer and a header for each. */
const VALUE_OVERHEAD = 16;

const budgetText = (bytes: number): string =>
  bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)}MiB` : bytes % 1024 === 0 ? `${bytes / 1024}KiB` : `${bytes}B`;

/** The error of a write that would pass the budget (the script stops with it). */
export const globalsFull = (budget: number): RosError =>
  failure(`not enough memory for global variables (at most ${budgetText(budget)} per user)`);

/**
 * The counted size of a value. Stops counting once past `limit` (an array of millions of
 * elements is not walked to the end to be refused).
 */
export function valueSize(v: Value, limit = Number.POSITIVE_INFINITY): number {
  if (typeof v === 'string') return VALUE_OVERHEAD + v.length;
  if (v instanceof CodeValue) return VALUE_OVERHEAD + v.source.length;
  if (!(v instanceof RosArray)) return VALUE_OVERHEAD;
  let size = VALUE_OVERHEAD;
  for (const e of v.list) {
    size += valueSize(e, limit - size);
    if (size > limit) return size;
  }
  for (const [k, e] of v.map) {
    size += k.length + valueSize(e, limit - size);
    if (size > limit) return size;
  }
  return size;
}

/** Whether `arr.set(key, …)` replaces an element (else it adds one). */
function holds(arr: RosArray, key: string | number): boolean {
  return typeof key === 'number' ? (key >= 0 && key < arr.list.length) || arr.map.has(String(key)) : arr.map.has(key);
}

/** The element `arr.set(key, …)` replaces, read directly (RosArray.get past the list walks all). */
function replaced(arr: RosArray, key: string | number): Value {
  return typeof key === 'number' && key >= 0 && key < arr.list.length ? arr.list[key] : arr.map.get(String(key));
}

/** What a new element's key costs: nothing in the list part (RosArray.set's rule), its text in the map. */
function keyCost(arr: RosArray | undefined, key: string | number): number {
  const length = arr?.list.length ?? 0;
  const inList = typeof key === 'number' && key >= 0 && (key < length || (key === length && (arr?.map.size ?? 0) === 0));
  return inList ? 0 : String(key).length;
}

/**
 * What `:set ($name->k1->k2…) value` adds to the size of `root` (already an array, or about to
 * become an empty one): intermediate arrays it creates or that replace other values, and the
 * element it stores in place of the old one. Mirrors Interpreter.assign's walk.
 */
export function nestedSetGrowth(root: RosArray, path: ReadonlyArray<string | number>, value: Value, limit: number): number {
  let cur: RosArray | undefined = root;
  let growth = 0;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    const last = i === path.length - 1;
    const exists = cur !== undefined && holds(cur, key);
    const removed = exists ? valueSize(replaced(cur!, key)) : -keyCost(cur, key);
    if (last) return growth + valueSize(value, limit) - removed;
    const next: Value = cur?.get(key);
    if (next instanceof RosArray) { cur = next; continue; }
    growth += VALUE_OVERHEAD - removed;
    cur = undefined;
  }
  return growth;
}

/** One user's globals: a Map whose writes keep to the budget. */
export class GlobalVariables extends Map<string, Value> {
  private readonly sizes = new Map<string, number>();
  private total = 0;

  constructor(readonly budget = GLOBALS_BUDGET_BYTES) {
    super();
  }

  /** The counted size of all of them. */
  get usedBytes(): number { return this.total; }

  override set(name: string, value: Value): this {
    const size = name.length + valueSize(value, this.budget + 1);
    const old = this.sizes.get(name) ?? 0;
    if (this.total - old + size > this.budget) throw globalsFull(this.budget);
    super.set(name, value);
    this.sizes.set(name, size);
    this.total += size - old;
    return this;
  }

  override delete(name: string): boolean {
    this.total -= this.sizes.get(name) ?? 0;
    this.sizes.delete(name);
    return super.delete(name);
  }

  override clear(): void {
    this.sizes.clear();
    this.total = 0;
    super.clear();
  }

  /** Throws the budget error unless `growth` more bytes fit; changes nothing. */
  reserve(growth: number): void {
    if (this.total + growth > this.budget) throw globalsFull(this.budget);
  }

  /** Counts `growth` bytes more for `name`, after a change made in place (`:set ($g->k) v`). */
  grew(name: string, growth: number): void {
    if (!super.has(name)) return;
    this.sizes.set(name, (this.sizes.get(name) ?? 0) + growth);
    this.total += growth;
  }
}
