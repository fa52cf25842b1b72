// Script values at work: literal typing, the operators of M-SCRIPT "Operators" (arithmetic,
// relational, logical, bitwise, concatenation `.` and `,`, `->`, `~`, `in`), conversions
// (`:tostr`, `:tonum`, …), POSIX ERE → RegExp, and `:serialize`/`:deserialize` JSON.
//
// Value types are those of src/menu/values.ts; a function body is a CodeValue.

import { RosError } from '../errors.js';
import {
  Duration, IpAddress, IpPrefix, ItemId, parseDuration, parseIpv4, parseIpv6, RosArray,
  type ScriptCode, type Value,
} from '../menu/values.js';
import type { Stmt } from './ast.js';
import { linearRegExp } from '../menu/regex.js';

/** A script function: `do={…}` bodies and `:parse` results. */
export class CodeValue implements ScriptCode {
  readonly kind = 'code' as const;
  /**
   * @param source text between the braces (or the `:parse`d string)
   * @param body parsed statements
   * @param path menu path the code was written at (relative commands resolve from it)
   */
  constructor(readonly source: string, readonly body: Stmt[], readonly path: string) {}
  toString(): string { return this.source; }
}

// ---------------------------------------------------------------------------------------------
// Literals

/**
 * The typed value of a literal word: numbers (decimal, `0x` hex), `true`/`false` (and, in
 * expressions, `yes`/`no`), item ids `*1A`, IPv4/IPv6 addresses and prefixes, times (`3w2d`,
 * `00:10:00`, `1s500ms`); anything else is a string.
 */
export function literalValue(text: string, yesNo = true): Value {
  if (/^-?\d+$/.test(text)) return Number(text);
  if (/^0x[0-9a-fA-F]+$/.test(text)) return parseInt(text.slice(2), 16);
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (yesNo && text === 'yes') return true;
  if (yesNo && text === 'no') return false;
  if (text.startsWith('*')) return ItemId.parse(text) ?? text;
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(\/\d{1,2})?$/.test(text)) {
    if (text.includes('/')) return IpPrefix.parse(text) ?? text;
    return IpAddress.parse(text) ?? text;
  }
  if (text.includes(':') && /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(text)) {
    const addr = text.split('/')[0]!;
    if (parseIpv6(addr)) return text.includes('/') ? (IpPrefix.parse(text) ?? text) : IpAddress.parse(addr)!;
  }
  if (/^-?[\d.:]*\d[\d.:wdhmsun]*$/.test(text) && /[wdhmsu:]/.test(text)) {
    const d = parseDuration(text);
    if (d) return d;
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Text forms

/** Script form of a time: `1d02:00:00`, `3w2d00:00:00`, `00:00:01.500`, `-00:00:05`. */
export function formatScriptTime(ns: number): string {
  const neg = ns < 0;
  let rest = Math.abs(Math.round(ns));
  const w = Math.floor(rest / 604800e9); rest -= w * 604800e9;
  const d = Math.floor(rest / 86400e9); rest -= d * 86400e9;
  const h = Math.floor(rest / 3600e9); rest -= h * 3600e9;
  const m = Math.floor(rest / 60e9); rest -= m * 60e9;
  const s = Math.floor(rest / 1e9); rest -= s * 1e9;
  const two = (n: number): string => String(n).padStart(2, '0');
  let out = `${neg ? '-' : ''}${w ? `${w}w` : ''}${d ? `${d}d` : ''}${two(h)}:${two(m)}:${two(s)}`;
  if (rest > 0) {
    const digits = rest % 1e6 === 0 ? 3 : rest % 1e3 === 0 ? 6 : 9;
    out += `.${String(rest).padStart(9, '0').slice(0, digits)}`;
  }
  return out;
}

/** `:put` / `:tostr` / `.` text of a value: arrays join with `;`, keyed elements as `k=v`. */
export function toScriptString(v: Value): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof Duration) return formatScriptTime(v.ns);
  if (v instanceof RosArray) {
    return v.entries().map(([k, e]) => (typeof k === 'string' ? `${k}=${toScriptString(e)}` : toScriptString(e))).join(';');
  }
  if (v instanceof ItemId || v instanceof IpAddress || v instanceof IpPrefix) return v.toString();
  return v.source;
}

/** Truth value of a condition (`:if`, `:while`, `&&`, `!`). */
export function toBool(v: Value): boolean {
  if (typeof v === 'boolean') return v;
  if (v === undefined || v === null) return false;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return !(v === '' || v === 'false' || v === 'no');
  if (v instanceof RosArray) return v.size > 0;
  return true;
}

/** Deep copy of arrays (RouterOS arrays are values, not shared references). */
export function cloneValue(v: Value): Value {
  if (!(v instanceof RosArray)) return v;
  const out = new RosArray();
  for (const e of v.list) out.list.push(cloneValue(e));
  for (const [k, e] of v.map) out.map.set(k, cloneValue(e));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Comparison

function numericString(v: Value): number | undefined {
  return typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

export function valuesEqual(a: Value, b: Value): boolean {
  if (a === b) return true;
  if ((a === undefined || a === null) && (b === undefined || b === null)) return true;
  if (a === undefined || a === null || b === undefined || b === null) return false;
  if (a instanceof RosArray || b instanceof RosArray) {
    if (!(a instanceof RosArray && b instanceof RosArray)) return false;
    const ea = a.entries(), eb = b.entries();
    return ea.length === eb.length && ea.every(([k, x], i) => k === eb[i]![0] && valuesEqual(x, eb[i]![1]));
  }
  if (typeof a === typeof b && typeof a !== 'object') return false; // same primitive type, different value
  if (a instanceof Duration && b instanceof Duration) return a.ns === b.ns;
  if (typeof a === 'object' && typeof b === 'object' && a.constructor === b.constructor) return a.toString() === b.toString();
  // Different types: RouterOS converts; compare the text forms (`1 = "1"`).
  return toScriptString(a) === toScriptString(b);
}

/** Order of two values, or undefined when they do not compare. */
export function compareValues(a: Value, b: Value): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number' && numericString(b) !== undefined) return a - numericString(b)!;
  if (typeof b === 'number' && numericString(a) !== undefined) return numericString(a)! - b;
  if (a instanceof Duration && b instanceof Duration) return a.ns - b.ns;
  if (a instanceof Duration && typeof b === 'number') return a.ns - b * 1e9;
  if (typeof a === 'number' && b instanceof Duration) return a * 1e9 - b.ns;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (a instanceof ItemId && b instanceof ItemId) return a.n - b.n;
  if (a instanceof IpAddress && b instanceof IpAddress && a.family === b.family) return compareBytes(a.bytes, b.bytes);
  if (a instanceof IpPrefix && b instanceof IpPrefix && a.address.family === b.address.family) {
    return compareBytes(a.address.bytes, b.address.bytes) || a.length - b.length;
  }
  return undefined;
}

function compareBytes(x: Uint8Array, y: Uint8Array): number {
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Regular expressions (POSIX ERE → JS)

const CLASSES: Record<string, string> = {
  alpha: 'a-zA-Z', digit: '0-9', alnum: 'a-zA-Z0-9', upper: 'A-Z', lower: 'a-z', space: '\\s',
  blank: ' \\t', xdigit: '0-9A-Fa-f', punct: '!-\\/:-@\\[-`{-~', cntrl: '\\x00-\\x1f\\x7f',
  print: '\\x20-\\x7e', graph: '\\x21-\\x7e', word: '\\w',
};

const regexCache = new Map<string, RegExp | null>();

/** Translates a POSIX extended regex; null when it does not compile. */
export function posixRegExp(pattern: string): RegExp | null {
  const cached = regexCache.get(pattern);
  if (cached !== undefined) return cached;
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) { out += c + pattern[++i]; continue; }
    if (c !== '[') { out += c; continue; }
    // Bracket expression: `]` first is literal, `[:class:]` names, backslash is literal.
    let j = i + 1;
    let body = '';
    if (pattern[j] === '^') { body += '^'; j++; }
    if (pattern[j] === ']') { body += '\\]'; j++; }
    for (; j < pattern.length && pattern[j] !== ']'; j++) {
      const m = /^\[:([a-z]+):\]/.exec(pattern.slice(j));
      if (m && CLASSES[m[1]!]) { body += CLASSES[m[1]!]; j += m[0].length - 1; continue; }
      const d = pattern[j]!;
      body += d === '\\' || d === '[' ? `\\${d}` : d;
    }
    out += `[${body}]`;
    i = j;
  }
  let re: RegExp | null;
  try { re = linearRegExp(out); } catch { re = null; }
  if (regexCache.size > 1000) regexCache.clear();
  regexCache.set(pattern, re);
  return re;
}

export function regexMatch(subject: Value, pattern: Value): boolean {
  const re = posixRegExp(toScriptString(pattern));
  return re ? re.test(toScriptString(subject)) : false;
}

// ---------------------------------------------------------------------------------------------
// Operators

function ipToBig(ip: IpAddress): bigint {
  let n = 0n;
  for (const b of ip.bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function bigToIp(family: 4 | 6, n: bigint): IpAddress {
  const len = family === 4 ? 4 : 16;
  const mod = 1n << BigInt(len * 8);
  n = ((n % mod) + mod) % mod;
  const bytes = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) { bytes[i] = Number(n & 0xffn); n >>= 8n; }
  return new IpAddress(family, bytes);
}

function asNumber(v: Value): number | undefined {
  if (typeof v === 'number') return v;
  return numericString(v);
}

/** `a in b`: address (or prefix) inside a prefix. */
export function inPrefix(a: Value, b: Value): boolean {
  const prefix = b instanceof IpPrefix ? b : typeof b === 'string' ? IpPrefix.parse(b) : b instanceof IpAddress ? IpPrefix.parse(b.toString()) : undefined;
  if (!prefix) return false;
  if (a instanceof IpPrefix) return a.length >= prefix.length && prefix.contains(a.address);
  const ip = a instanceof IpAddress ? a : typeof a === 'string' ? (IpAddress.parse(a) ?? IpPrefix.parse(a)) : undefined;
  if (ip instanceof IpPrefix) return ip.length >= prefix.length && prefix.contains(ip.address);
  return ip ? prefix.contains(ip) : false;
}

/** `arr->key`: list index for numbers, key for strings; nothing when absent. */
export function arrayGet(arr: Value, key: Value): Value {
  if (!(arr instanceof RosArray)) return undefined;
  if (typeof key === 'number') return arr.get(key);
  return arr.get(toScriptString(key));
}

function concat(a: Value, b: Value): Value {
  if (a instanceof RosArray && !(b instanceof RosArray)) return RosArray.of(a.values().map((e) => concat(e, b)));
  if (b instanceof RosArray && !(a instanceof RosArray)) return RosArray.of(b.values().map((e) => concat(a, e)));
  if (a instanceof RosArray && b instanceof RosArray) return arrayConcat(a, b);
  return toScriptString(a) + toScriptString(b);
}

function arrayConcat(a: Value, b: Value): RosArray {
  const out = a instanceof RosArray ? (cloneValue(a) as RosArray) : RosArray.of(a === undefined ? [] : [a]);
  const add = (v: Value): void => {
    if (out.map.size === 0) out.list.push(v); else out.set(out.size, v);
  };
  if (b instanceof RosArray) {
    for (const e of b.list) add(cloneValue(e));
    for (const [k, e] of b.map) out.map.set(k, cloneValue(e));
  } else if (b !== undefined) add(b);
  return out;
}

const divisionByZero = (): RosError => new RosError('failure', 'division by zero');

/** Binary operators except the short-circuit `&&`/`||` (the interpreter does those). */
export function binaryOp(op: string, a: Value, b: Value): Value {
  switch (op) {
    case '=': return valuesEqual(a, b);
    case '!=': return !valuesEqual(a, b);
    case '<': { const c = compareValues(a, b); return c !== undefined && c < 0; }
    case '>': { const c = compareValues(a, b); return c !== undefined && c > 0; }
    case '<=': { const c = compareValues(a, b); return c !== undefined && c <= 0; }
    case '>=': { const c = compareValues(a, b); return c !== undefined && c >= 0; }
    case '&&': return toBool(a) && toBool(b);
    case '||': return toBool(a) || toBool(b);
    case '~': return regexMatch(a, b);
    case 'in': return inPrefix(a, b);
    case '->': return arrayGet(a, b);
    case '.': return concat(a, b);
    case ',': return arrayConcat(a, b);
    case '+': return add(a, b);
    case '-': return subtract(a, b);
    case '*': return multiply(a, b);
    case '/': return divide(a, b);
    case '%': {
      const x = asNumber(a), y = asNumber(b);
      if (x === undefined || y === undefined) return undefined;
      if (y === 0) throw divisionByZero();
      return x % y;
    }
    case '&': case '|': case '^': case '<<': case '>>': return bitwise(op, a, b);
  }
  throw new RosError('syntax', 'syntax error');
}

const isNothing = (v: Value): boolean => v === undefined || v === null;

function add(a: Value, b: Value): Value {
  // Nothing adds nothing (M-SCRIPT "Scopes": `:put ($a+$b)` with $b out of scope outputs $a).
  if (isNothing(b)) return a;
  if (isNothing(a)) return b;
  if (a instanceof Duration && b instanceof Duration) return new Duration(a.ns + b.ns);
  if (a instanceof Duration && asNumber(b) !== undefined) return new Duration(a.ns + asNumber(b)! * 1e9);
  if (b instanceof Duration && asNumber(a) !== undefined) return new Duration(b.ns + asNumber(a)! * 1e9);
  if (a instanceof IpAddress && asNumber(b) !== undefined) return bigToIp(a.family, ipToBig(a) + BigInt(asNumber(b)!));
  if (b instanceof IpAddress && asNumber(a) !== undefined) return bigToIp(b.family, ipToBig(b) + BigInt(asNumber(a)!));
  const x = asNumber(a), y = asNumber(b);
  return x !== undefined && y !== undefined ? x + y : undefined;
}

function subtract(a: Value, b: Value): Value {
  if (isNothing(b)) return a;
  if (a instanceof Duration && b instanceof Duration) return new Duration(a.ns - b.ns);
  if (a instanceof Duration && asNumber(b) !== undefined) return new Duration(a.ns - asNumber(b)! * 1e9);
  if (a instanceof IpAddress && b instanceof IpAddress && a.family === b.family) return Number(ipToBig(a) - ipToBig(b));
  if (a instanceof IpAddress && asNumber(b) !== undefined) return bigToIp(a.family, ipToBig(a) - BigInt(asNumber(b)!));
  const x = asNumber(a), y = asNumber(b);
  return x !== undefined && y !== undefined ? x - y : undefined;
}

function multiply(a: Value, b: Value): Value {
  if (a instanceof Duration && asNumber(b) !== undefined) return new Duration(a.ns * asNumber(b)!);
  if (b instanceof Duration && asNumber(a) !== undefined) return new Duration(b.ns * asNumber(a)!);
  const x = asNumber(a), y = asNumber(b);
  return x !== undefined && y !== undefined ? x * y : undefined;
}

function divide(a: Value, b: Value): Value {
  if (a instanceof Duration && b instanceof Duration) {
    if (b.ns === 0) throw divisionByZero();
    return Math.trunc(a.ns / b.ns);
  }
  if (a instanceof Duration && asNumber(b) !== undefined) {
    if (asNumber(b) === 0) throw divisionByZero();
    return new Duration(Math.trunc(a.ns / asNumber(b)!));
  }
  const x = asNumber(a), y = asNumber(b);
  if (x === undefined || y === undefined) return undefined;
  if (y === 0) throw divisionByZero();
  return Math.trunc(x / y);
}

function bitwise(op: string, a: Value, b: Value): Value {
  if (a instanceof IpAddress && (b instanceof IpAddress || asNumber(b) !== undefined) && op !== '<<' && op !== '>>') {
    const x = ipToBig(a);
    const y = b instanceof IpAddress ? ipToBig(b) : BigInt(asNumber(b)!);
    return bigToIp(a.family, op === '&' ? x & y : op === '|' ? x | y : x ^ y);
  }
  const x = asNumber(a), y = asNumber(b);
  if (x === undefined || y === undefined) return undefined;
  const X = BigInt(Math.trunc(x)), Y = BigInt(Math.trunc(y));
  const r = op === '&' ? X & Y : op === '|' ? X | Y : op === '^' ? X ^ Y : op === '<<' ? X << Y : X >> Y;
  return Number(BigInt.asIntN(64, r));
}

export function unaryOp(op: string, v: Value): Value {
  switch (op) {
    case '!': return !toBool(v);
    case '-':
      if (v instanceof Duration) return new Duration(-v.ns);
      return asNumber(v) !== undefined ? -asNumber(v)! : undefined;
    case '~':
      if (v instanceof IpAddress) return bigToIp(v.family, ~ipToBig(v));
      return asNumber(v) !== undefined ? Number(BigInt.asIntN(64, ~BigInt(asNumber(v)!))) : undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Conversions (:tonum, :totime, …)

export function toNum(v: Value): Value {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Duration) return Math.trunc(v.ns / 1e9);
  if (v instanceof ItemId) return v.n;
  if (v instanceof IpAddress && v.family === 4) return Number(ipToBig(v));
  if (typeof v === 'string') {
    const t = v.trim();
    if (/^[-+]?\d+$/.test(t)) return Number(t);
    if (/^0x[0-9a-fA-F]+$/.test(t)) return parseInt(t.slice(2), 16);
  }
  return undefined;
}

export function toTime(v: Value): Value {
  if (v instanceof Duration) return v;
  if (typeof v === 'number') return new Duration(v * 1e9);
  if (typeof v === 'string') return parseDuration(v);
  return undefined;
}

export function toIp(v: Value, family: 4 | 6): Value {
  if (v instanceof IpAddress) return v.family === family ? v : undefined;
  if (v instanceof IpPrefix) return v.address.family === family ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  if (t.includes('/')) {
    const p = IpPrefix.parse(t);
    return p && p.address.family === family ? p : undefined;
  }
  if (family === 4) { const b = parseIpv4(t); return b ? new IpAddress(4, b) : undefined; }
  const b = parseIpv6(t);
  return b ? new IpAddress(6, b) : undefined;
}

export function toBoolConv(v: Value): Value {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') {
    if (v === 'true' || v === 'yes') return true;
    if (v === 'false' || v === 'no') return false;
    const n = numericString(v);
    return n !== undefined ? n !== 0 : undefined;
  }
  return undefined;
}

export function toArray(v: Value): RosArray {
  if (v instanceof RosArray) return v;
  if (v === undefined || v === null) return new RosArray();
  // Spaces around each element go (`"notify, name=x"` gives `name=x`): eworm's scripts rely on it
  // ("bridge-port-to-default: :toarray strips itself", 2018) and document comments written so.
  if (typeof v === 'string') return v === '' ? new RosArray() : RosArray.of(v.split(',').map((s) => literalValue(s.replace(/^ +| +$/g, ''), false)));
  return RosArray.of([v]);
}

export function toId(v: Value): Value {
  if (v instanceof ItemId) return v;
  if (typeof v === 'number') return new ItemId(v);
  if (typeof v === 'string') return ItemId.parse(v.trim());
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// JSON (:serialize to=json, :deserialize from=json)

export interface JsonOptions {
  readonly pretty?: boolean;
  /** `json.no-string-conversion`: keep numeric-looking strings as strings. */
  readonly noStringConversion?: boolean;
}

function toJsonValue(v: Value, opts: JsonOptions): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean' || typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (!opts.noStringConversion && /^-?(0|[1-9]\d{0,15})(\.\d+)?$/.test(v)) return Number(v);
    return v;
  }
  if (v instanceof RosArray) {
    if (v.map.size === 0) return v.list.map((e) => toJsonValue(e, opts));
    const o: Record<string, unknown> = {};
    for (const [k, e] of v.entries()) o[String(k)] = toJsonValue(e, opts);
    return o;
  }
  return toScriptString(v);
}

export function serializeJson(v: Value, opts: JsonOptions = {}): string {
  return JSON.stringify(toJsonValue(v, opts), null, opts.pretty ? 4 : undefined);
}

function fromJsonValue(j: unknown): Value {
  if (j === null) return null;
  if (typeof j === 'boolean' || typeof j === 'string') return j;
  if (typeof j === 'number') return Number.isInteger(j) ? j : String(j);
  if (Array.isArray(j)) return RosArray.of(j.map(fromJsonValue));
  if (typeof j === 'object') return RosArray.fromRecord(Object.entries(j as Record<string, unknown>).map(([k, e]) => [k, fromJsonValue(e)]));
  return undefined;
}

export function deserializeJson(text: string): Value {
  let j: unknown;
  try { j = JSON.parse(text); } catch { throw new RosError('failure', 'invalid JSON'); }
  return fromJsonValue(j);
}
