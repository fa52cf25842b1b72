// The generic verbs every menu gets from its declaration (spec §1.3, §3.5): print, get, set,
// unset, add, remove, find, enable, disable, comment, export. Menu-specific verbs are
// functions declared by the menu itself.

import { alreadyHave, argumentError, failure, noMatch, noSuchItem, notEnoughPermissions } from '../errors.js';
import type { RowData, StoredRow, WriteTx, ReadTx } from '../store/store.js';
import { ROSPKI_ROUTEROS_VERSION } from '../version.js';
import { matchChoice } from './args.js';
import { renderPrint } from './render.js';
import {
  boolType, dateFormat as formatDate, enumType, itemsType, presenceType, stringListType, stringType,
} from './proptypes.js';
import type {
  ArgDecl, CommandCall, CommandDecl, CommandResult, Environment, MenuDecl, Policy, PrintOutput,
  PropertyDecl, RowView, Session, TypeContext,
} from './types.js';
import { ItemId, RosArray, type Value, valueToString } from './values.js';

// ---------------------------------------------------------------------------------------------
// Reading property values

export function typeContext(env: Environment, tx: ReadTx): TypeContext {
  return { tx, clock: env.clock, registry: env.registry, env };
}

/** The stored or computed value of a property (storage form), undefined when unset. */
export function storedValue(prop: PropertyDecl, row: RowData, ctx: TypeContext): unknown {
  return prop.compute ? prop.compute(row, ctx) : row[prop.name];
}

export function isEmptyValue(prop: PropertyDecl, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  return prop.type.isEmpty ? prop.type.isEmpty(v) : false;
}

export function propByName(menu: MenuDecl, name: string): PropertyDecl | undefined {
  return menu.properties.find((p) => p.name === name);
}

/** The row as a filter sees it: typed script values; unset values are `nothing`. */
export function rowView(menu: MenuDecl, row: StoredRow, ctx: TypeContext): RowView {
  return {
    id: row.id,
    get(name: string): Value {
      if (name === '.id') return new ItemId(row.id);
      const prop = propByName(menu, name);
      if (!prop || prop.access === 'wo') return undefined;
      const v = storedValue(prop, row.data, ctx);
      if (v === undefined || v === null) return prop.flag && prop.type === boolType ? false : undefined;
      return prop.type.script(v, ctx);
    },
  };
}

/**
 * Whether a flag property is set: a boolean is set when true; any other property carrying a
 * flag (the `revoked` date → R) is set when it has a value.
 */
export function flagIsSet(prop: PropertyDecl, row: RowData, ctx: TypeContext): boolean {
  const v = storedValue(prop, row, ctx);
  return typeof v === 'boolean' ? v : !isEmptyValue(prop, v);
}

const legendOrders = new WeakMap<MenuDecl, PropertyDecl[]>();

/** The flag properties of a menu in legend order: by rank where given, else as declared. */
export function flagsInLegendOrder(menu: MenuDecl): PropertyDecl[] {
  let flags = legendOrders.get(menu);
  if (!flags) {
    flags = menu.properties.filter((p) => p.flag);
    if (flags.some((p) => p.flag!.rank !== undefined)) flags.sort((a, b) => (a.flag!.rank ?? Infinity) - (b.flag!.rank ?? Infinity));
    legendOrders.set(menu, flags);
  }
  return flags;
}

/** Flag letters set on a row, in legend order. */
export function rowFlags(menu: MenuDecl, row: RowData, ctx: TypeContext): string {
  let out = '';
  for (const p of flagsInLegendOrder(menu)) if (flagIsSet(p, row, ctx)) out += p.flag!.letter;
  return out;
}

/**
 * A property of a row, typed by its declaration, with the declared default when the row lacks
 * it (a template made before the property existed): call sites never restate a default.
 */
export function propValue<S>(prop: PropertyDecl<S>, row: RowData): S {
  const v = row[prop.name];
  if (v !== undefined && v !== null) return v as S;
  if (typeof prop.default === 'function') throw new Error(`propValue: ${prop.name} has a computed default`);
  return prop.default as S;
}

// ---------------------------------------------------------------------------------------------
// Items: `0,1`, names, `*ID`s, arrays from [find] (spec §7.3)

/** The rows of a list menu in the order they are numbered, printed and found (MenuDecl.sortRows). */
export function listRows(menu: MenuDecl, tx: ReadTx): readonly StoredRow[] {
  const rows = tx.list(menu.path);
  return menu.sortRows ? menu.sortRows(rows) : rows;
}

export function resolveItems(menu: MenuDecl, value: Value, session: Session, tx: ReadTx): number[] {
  if (menu.kind === 'singleton') return [1];
  const out: number[] = [];
  const addOne = (v: Value): void => {
    if (v instanceof ItemId) {
      if (!tx.get(menu.path, v.n)) throw noSuchItem();
      out.push(v.n);
      return;
    }
    if (v instanceof RosArray) { v.values().forEach(addOne); return; }
    if (typeof v === 'number') { out.push(byNumber(v)); return; }
    const text = valueToString(v).trim();
    if (text === '') return;
    for (const part of splitItems(text)) {
      const id = ItemId.parse(part);
      if (id) {
        if (!tx.get(menu.path, id.n)) throw noSuchItem();
        out.push(id.n);
      } else if (/^\d+$/.test(part)) {
        out.push(byNumber(Number(part)));
      } else {
        const row = menu.key ? tx.findBy(menu.path, menu.key, part)[0] : undefined;
        if (!row) throw noSuchItem();
        out.push(row.id);
      }
    }
  };
  const byNumber = (n: number): number => {
    // Numbers refer to the last print; without one they behave as if print had run (§7.3).
    const numbering = session.lastPrint.get(menu.path) ?? listRows(menu, tx).map((r) => r.id);
    const id = numbering[n];
    if (id === undefined || !tx.get(menu.path, id)) throw noSuchItem();
    return id;
  };
  addOne(value);
  return [...new Set(out)];
}

/** `0,1,a` but not inside names that hold commas only when quoted (names rarely do). */
function splitItems(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

// ---------------------------------------------------------------------------------------------
// Writing property values

/** Names add/set accept: every writable property (or the ones a menu allows on add). */
function writableProps(menu: MenuDecl): PropertyDecl[] {
  return menu.properties.filter((p) => p.access !== 'ro' && !p.compute);
}

/** Applies parsed property arguments to a row's data; null means "unset to default". */
export function applyArgs(
  menu: MenuDecl, data: RowData, args: Iterable<[string, unknown]>, ctx: TypeContext, existing: boolean,
): RowData {
  const out: RowData = { ...data };
  for (const [name, value] of args) {
    const prop = propByName(menu, name);
    if (!prop || prop.access === 'ro' || prop.compute) continue;
    if (existing && prop.writableWhen && !prop.writableWhen(data)) {
      throw failure(prop.notWritableMessage ?? `${name} can not be changed`);
    }
    if (value === null) {
      const def = defaultOf(prop, ctx);
      if (def === undefined) delete out[name]; else out[name] = def;
      continue;
    }
    out[name] = value;
  }
  return out;
}

export function defaultOf(prop: PropertyDecl, ctx: TypeContext): unknown {
  const d = prop.default;
  return typeof d === 'function' ? (d as (c: TypeContext) => unknown)(ctx) : d;
}

/** Fills defaults, checks required and unique properties, then the menu's own rules. */
export function checkRow(menu: MenuDecl, id: number | undefined, data: RowData, tx: WriteTx, env: Environment): void {
  for (const p of menu.properties) {
    if (p.required && isEmptyValue(p, data[p.name])) throw argumentError(`missing value of ${p.name}`);
    // A reference parsed before this transaction may point at a row removed since.
    const ref = p.type.reference;
    if (ref && typeof data[p.name] === 'number' && data[p.name] !== 0 && !tx.get(ref.target, data[p.name] as number)) throw noMatch(p.name);
    if (p.unique && !isEmptyValue(p, data[p.name])) {
      const clash = tx.findBy(menu.path, p.name, data[p.name]).find((r) => r.id !== id);
      if (clash) throw alreadyHave();
    }
  }
  menu.validate?.(data, tx, env);
}

export function newRowData(menu: MenuDecl, ctx: TypeContext): RowData {
  const data: RowData = {};
  for (const p of menu.properties) {
    if (p.compute) continue;
    const d = defaultOf(p, ctx);
    if (d !== undefined) data[p.name] = d;
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// The verbs

const itemsArg = (positional = 0): ArgDecl<Value> => ({ name: 'numbers', type: itemsType, positional, required: true, help: 'List of item numbers' });
const flagArg = (name: string, help: string): ArgDecl => ({ name, type: presenceType, flagOnly: true, help });

/** What the menu's changing verbs need: write, and more for some menus (/user: policy). */
function writePolicies(menu: MenuDecl): Policy[] {
  return ['write', ...(menu.writePolicy ?? [])];
}

function propArgs(props: PropertyDecl[]): ArgDecl[] {
  return props.map((p) => ({ name: p.name, type: p.type, sensitive: p.sensitive, policy: p.policy, help: p.help }));
}

/** The property arguments of a call (everything but the item list). */
function propertyArgs(call: CommandCall): Array<[string, unknown]> {
  return call.args.entries().filter(([k]) => k !== 'numbers');
}

/**
 * Runs fn in a read transaction. The TypeContext it gets stays valid afterwards (it reads the
 * store's view), so results can be filtered asynchronously and rendered later.
 */
async function readTx<T>(call: CommandCall, fn: (tx: ReadTx, ctx: TypeContext) => T): Promise<T> {
  const ctx = typeContext(call.env, call.env.store.view());
  return call.env.store.read((tx) => fn(tx, ctx));
}

async function writeTx<T>(call: CommandCall, fn: (tx: WriteTx, ctx: TypeContext) => T): Promise<T> {
  return call.env.store.write((tx) => fn(tx, typeContext(call.env, tx)));
}

function logChange(call: CommandCall, tx: WriteTx, what: string): void {
  call.env.log(tx, 'system,info', `${what} by ${call.session.user}`);
}

/** What names a row: its key (`www-ssl`), else its menu (`certificate crl`). */
function keyOf(menu: MenuDecl, data: RowData): string {
  const key = menu.key ? data[menu.key] : undefined;
  return key !== undefined ? String(key) : menu.path.slice(1).replace(/\//g, ' ');
}

function describe(menu: MenuDecl, data: RowData): string {
  const path = menu.path.slice(1).replace(/\//g, ' ');
  const key = menu.key ? data[menu.key] : undefined;
  return key !== undefined ? `${path} ${String(key)}` : path;
}

const PRINT_MODES = ['detail', 'terse', 'brief', 'value-list'] as const;

const proplistArg: ArgDecl<string[]> = { name: 'proplist', type: stringListType, help: 'Properties to print' };
/** `print file=x` writes into /file: the write policy, like every other way into the store. */
const printFileArg: ArgDecl<string> = { name: 'file', type: stringType, policy: 'write', help: 'Print to a file in /file' };
const fromArg: ArgDecl<Value> = { name: 'from', type: itemsType, help: 'Items to print' };

function printCommand(menu: MenuDecl): CommandDecl {
  const args: ArgDecl[] = [
    ...PRINT_MODES.map((m) => flagArg(m, `Print ${m}`)),
    flagArg('count-only', 'Print only the count of items'),
    flagArg('as-value', 'Return the items as an array'),
    flagArg('show-ids', 'Show internal ids instead of numbers'),
    { ...flagArg('show-sensitive', 'Show sensitive values'), policy: 'sensitive' },
    flagArg('without-paging', 'Print without paging'),
    proplistArg,
    printFileArg,
  ];
  if (menu.kind === 'list') {
    args.push(fromArg);
    args.push({ name: 'where', type: itemsType, help: 'Filter expression' });
  }
  return {
    name: 'print', help: 'Print values of item properties', policy: 'read', args,
    async run(call) {
      const { args: a } = call;
      const [rows, ctx, order] = await readTx(call, (tx, ctx) => {
        let rows = menu.kind === 'list' ? [...listRows(menu, tx)] : [tx.get(menu.path, 1) ?? { id: 1, data: {} }];
        if (a.has(fromArg)) {
          const ids = new Set(resolveItems(menu, a.get(fromArg), call.session, tx));
          rows = rows.filter((r) => ids.has(r.id));
        }
        return [rows, ctx, listRows(menu, tx).map((r) => r.id)] as const;
      });
      const where = call.where;
      const shown = where ? await filterRows(menu, rows, ctx, where) : rows;
      const props = a.has(proplistArg) ? parseProplist(menu, a.get(proplistArg)!) : undefined;
      if (a.flag('count-only')) return { ret: shown.length, messages: [String(shown.length)] };
      if (a.flag('as-value')) return { ret: RosArray.of(shown.map((r) => asValue(menu, r, ctx, props, a.flag('show-sensitive'), call.policies.has('sensitive')))) };
      if (menu.kind === 'list') call.session.lastPrint.set(menu.path, order);
      const index = new Map(order.map((id, i) => [id, i] as const));
      const mode = PRINT_MODES.find((m) => a.flag(m)) ?? 'table';
      const print: PrintOutput = {
        menu, rows: shown, numbers: shown.map((r) => index.get(r.id) ?? 0), mode,
        proplist: props, showIds: a.flag('show-ids'), showSensitive: a.flag('show-sensitive'), readsSecrets: call.policies.has('sensitive'), ctx,
      };
      if (a.has(printFileArg)) {
        await writePrintFile(call, a.get(printFileArg)!, renderPrint(print, call.session));
        return {};
      }
      return { print };
    },
  };
}

/** `print file=x`: the console text goes to x.txt in the /file store (spec §3.5). */
async function writePrintFile(call: CommandCall, name: string, text: string): Promise<void> {
  const fileName = /\.[A-Za-z0-9]+$/.test(name) ? name : `${name}.txt`;
  const written = await call.env.files.write(fileName, text, call.env.clock.now());
  await call.env.store.write((tx) => call.env.log(tx, 'system,info', `file ${written} written by ${call.session.user}`));
}

async function filterRows(menu: MenuDecl, rows: readonly StoredRow[], ctx: TypeContext, where: NonNullable<CommandCall['where']>): Promise<StoredRow[]> {
  const out: StoredRow[] = [];
  for (const r of rows) {
    const hit = where(rowView(menu, r, ctx));
    if (hit === true || (hit !== false && (await hit))) out.push(r);
  }
  return out;
}

function parseProplist(menu: MenuDecl, names: readonly string[]): string[] {
  const known = menu.properties.map((p) => p.name);
  return names.map((n) => (n === '.id' ? n : matchChoice(n, known, 'proplist')));
}

/** One record of `print as-value`: `.id` first, then the properties with values. */
/** Whether a row's value of a property is left out for this caller (see PropertyDecl.secretWhen). */
export function secretFor(p: PropertyDecl, row: RowData, ctx: TypeContext, readsSecrets: boolean): boolean {
  return !readsSecrets && p.secretWhen !== undefined && p.secretWhen(row, ctx);
}

export function asValue(menu: MenuDecl, row: StoredRow, ctx: TypeContext, props?: readonly string[], showSensitive = false, readsSecrets = false): RosArray {
  const a = new RosArray();
  if (menu.kind === 'list' && (!props || props.includes('.id'))) a.set('.id', new ItemId(row.id));
  for (const p of menu.properties) {
    if (props && !props.includes(p.name)) continue;
    if (p.access === 'wo' || (p.sensitive && !showSensitive) || secretFor(p, row.data, ctx, readsSecrets)) continue;
    const v = storedValue(p, row.data, ctx);
    if (v === undefined || v === null) continue;
    a.set(p.name, p.type.script(v, ctx));
  }
  return a;
}

function getCommand(menu: MenuDecl): CommandDecl {
  const names = menu.properties.filter((p) => p.access !== 'wo').map((p) => p.name);
  const numberArg: ArgDecl<Value> = { ...itemsArg(0), name: 'number' };
  const valueName: ArgDecl<string> = { name: 'value-name', type: enumType(names), positional: menu.kind === 'list' ? 1 : 0 };
  const args: ArgDecl[] = menu.kind === 'list' ? [numberArg, valueName] : [valueName];
  return {
    name: 'get', help: 'Get value of an item property', policy: 'read', args,
    async run(call) {
      return readTx(call, (tx, ctx) => {
        const [id] = menu.kind === 'list' ? resolveItems(menu, call.args.get(numberArg), call.session, tx) : [1];
        if (id === undefined) throw noSuchItem();
        const row = tx.get(menu.path, id) ?? { id, data: {} };
        if (!call.args.has(valueName)) return { ret: asValue(menu, row, ctx, undefined, false, call.policies.has('sensitive')) };
        const prop = propByName(menu, call.args.get(valueName)!)!;
        if ((prop.sensitive || secretFor(prop, row.data, ctx, false)) && !call.policies.has('sensitive')) throw notEnoughPermissions();
        const v = storedValue(prop, row.data, ctx);
        if (v === undefined || v === null) return { ret: prop.flag && prop.type === boolType ? false : undefined };
        return { ret: prop.type.script(v, ctx) };
      });
    },
  };
}

function setCommand(menu: MenuDecl): CommandDecl {
  const props = writableProps(menu);
  const args = menu.kind === 'list' ? [itemsArg(0), ...propArgs(props)] : propArgs(props);
  return {
    name: 'set', help: 'Change item properties', policy: writePolicies(menu), args,
    async run(call) {
      await writeTx(call, (tx, ctx) => {
        const ids = menu.kind === 'list' ? resolveItems(menu, call.args.value('numbers') as Value, call.session, tx) : [1];
        for (const id of ids) {
          const before = tx.get(menu.path, id)?.data ?? (menu.kind === 'singleton' ? newRowData(menu, ctx) : undefined);
          if (!before) throw noSuchItem();
          const after = applyArgs(menu, before, propertyArgs(call), ctx, true);
          checkRow(menu, id, after, tx, call.env);
          menu.authorize?.({ before: tx.get(menu.path, id)?.data, after }, tx, call);
          if (menu.kind === 'singleton' && !tx.get(menu.path, 1)) insertSingleton(tx, menu.path, after);
          else tx.update(menu.path, id, after);
          logChange(call, tx, `${describe(menu, after)} changed`);
        }
      });
      return {};
    },
  };
}

/** Singletons live in row 1; a fresh store may not have it yet. */
function insertSingleton(tx: WriteTx, path: string, data: RowData): void {
  const id = tx.insert(path, data);
  if (id !== 1) throw new Error(`singleton ${path} got id ${id}`);
}

function unsetCommand(menu: MenuDecl): CommandDecl {
  const names = writableProps(menu).map((p) => p.name);
  const valueName: ArgDecl<string> = { name: 'value-name', type: enumType(names), positional: menu.kind === 'list' ? 1 : 0, required: true };
  const args: ArgDecl[] = menu.kind === 'list' ? [itemsArg(0), valueName] : [valueName];
  return {
    name: 'unset', help: 'Unset item properties', policy: writePolicies(menu), args,
    async run(call) {
      const set = setCommand(menu);
      return set.run({ ...call, command: set, args: call.args.only(['numbers']).with([[call.args.get(valueName)!, null]]) });
    },
  };
}

function addCommand(menu: MenuDecl): CommandDecl {
  const props = writableProps(menu);
  const args: ArgDecl[] = [...propArgs(props)];
  const copyFrom: ArgDecl<Value> = { name: 'copy-from', type: itemsType, help: 'Item number to copy the properties from' };
  if (menu.key) args.push(copyFrom);
  return {
    name: 'add', help: 'Create a new item', policy: writePolicies(menu), args,
    async run(call) {
      const id = await writeTx(call, (tx, ctx) => {
        let base = newRowData(menu, ctx);
        if (call.args.has(copyFrom)) {
          const [srcId] = resolveItems(menu, call.args.get(copyFrom), call.session, tx);
          const src = srcId !== undefined ? tx.get(menu.path, srcId) : undefined;
          if (!src) throw noSuchItem();
          base = copyableData(menu, src.data, base);
        }
        const data = applyArgs(menu, base, call.args.entries().filter(([k]) => k !== 'copy-from'), ctx, false);
        checkRow(menu, undefined, data, tx, call.env);
        menu.authorize?.({ after: data }, tx, call);
        const newId = tx.insert(menu.path, data);
        logChange(call, tx, `${describe(menu, data)} added`);
        return newId;
      });
      return { ret: new ItemId(id) };
    },
  };
}

/** copy-from takes the writable properties, never the key (names stay unique). */
function copyableData(menu: MenuDecl, src: RowData, base: RowData): RowData {
  const out = { ...base };
  for (const p of writableProps(menu)) if (p.name !== menu.key && src[p.name] !== undefined) out[p.name] = src[p.name];
  return out;
}

function removeCommand(menu: MenuDecl): CommandDecl {
  return {
    name: 'remove', help: 'Remove item', policy: writePolicies(menu), args: [itemsArg(0)],
    async run(call) {
      await writeTx(call, (tx) => {
        const ids = resolveItems(menu, call.args.value('numbers') as Value, call.session, tx);
        for (const id of ids) removeRow(call.env, menu, id, tx, call);
      });
      return {};
    },
  };
}

/**
 * Removes a row and applies the one rule for rows that refer to it (design.md, spec services
 * §1.3): each referring property's `onRemove` — `none` leaves the referrer without it and says
 * so in /log (a service keeps running until rebound, clients.md #15), `cascade` removes the
 * referrer too (a CA takes its issued certificates along, spec §6.2 rule 4), `refuse` keeps the
 * row while something uses it.
 */
export function removeRow(env: Environment, menu: MenuDecl, id: number, tx: WriteTx, call?: CommandCall): void {
  const row = tx.get(menu.path, id);
  if (!row) return; // already removed by a cascade earlier in this command
  if (call) menu.authorize?.({ before: row.data }, tx, call);
  menu.beforeRemove?.(id, tx, env);
  for (const { menu: other, prop } of env.registry.referencesTo(menu.path)) {
    for (const ref of tx.findBy(other.path, prop.name, id)) {
      const onRemove = prop.type.reference!.onRemove;
      if (onRemove === 'refuse') throw failure(`${describe(menu, row.data)} is in use by ${describe(other, ref.data)}`);
      if (onRemove === 'cascade') { removeRow(env, other, ref.id, tx, call); continue; }
      const current = tx.get(other.path, ref.id);
      if (!current) continue;
      tx.update(other.path, ref.id, { ...current.data, [prop.name]: 0 });
      // A binding someone made is worth a line in /log; a fact the system keeps is not.
      if (prop.access !== 'ro') env.log(tx, 'system,warning', `${keyOf(other, current.data)}: ${prop.name} ${keyOf(menu, row.data)} removed, none until one is set`);
    }
  }
  tx.remove(menu.path, id);
  if (call) logChange(call, tx, `${describe(menu, row.data)} removed`);
}

function findCommand(menu: MenuDecl): CommandDecl {
  return {
    name: 'find', help: 'Find items by value', policy: 'read',
    args: [{ name: 'where', type: itemsType, help: 'Filter expression' }],
    async run(call) {
      const [rows, ctx] = await readTx(call, (tx, ctx) => [[...listRows(menu, tx)], ctx] as const);
      const shown = call.where ? await filterRows(menu, rows, ctx, call.where) : rows;
      return { ret: RosArray.of(shown.map((r) => new ItemId(r.id))) };
    },
  };
}

function enableCommand(menu: MenuDecl, disabled: boolean): CommandDecl {
  return {
    name: disabled ? 'disable' : 'enable', help: disabled ? 'Disable items' : 'Enable items', policy: writePolicies(menu),
    args: menu.kind === 'list' ? [itemsArg(0)] : [],
    async run(call) {
      const set = setCommand(menu);
      return set.run({ ...call, command: set, args: call.args.only(['numbers']).with([['disabled', disabled]]) });
    },
  };
}

function commentCommand(menu: MenuDecl): CommandDecl {
  return {
    name: 'comment', help: 'Set comment for items', policy: writePolicies(menu),
    args: [itemsArg(0), { name: 'comment', type: stringType, positional: 1 }],
    async run(call) {
      const set = setCommand(menu);
      return set.run({ ...call, command: set, args: call.args.only(['numbers']).with([['comment', call.args.value('comment') ?? '']]) });
    },
  };
}

function exportCommand(menu: MenuDecl): CommandDecl {
  return {
    name: 'export', help: 'Print or save an export script', policy: 'read',
    args: [
      flagArg('verbose', 'Include default values'), flagArg('terse', 'One line per item'),
      { ...flagArg('show-sensitive', 'Include sensitive values'), policy: 'sensitive' }, { ...printFileArg, help: 'Export to a file in /file' },
    ],
    async run(call) {
      const text = await readTx(call, (tx, ctx) => exportLines(menu, tx, ctx, call.args.flag('verbose'), call.args.flag('show-sensitive')));
      const out = exportHeader(call.env.clock.now(), ROSPKI_ROUTEROS_VERSION) + text;
      return { messages: [out.replace(/\n$/, '')] };
    },
  };
}

/**
 * `/export` lines of one menu (spec §1.3, §4.1): settings that differ from the defaults,
 * arguments in alphabetical order as RouterOS writes them. Rows created with the data
 * directory keep their original values under BUILTIN and export as `set <name> …`.
 */
export function exportLines(menu: MenuDecl, tx: ReadTx, ctx: TypeContext, verbose = false, showSensitive = false): string {
  const header = menu.path.slice(1).replace(/\//g, ' ');
  const defaults = newRowData(menu, ctx);
  const settable = writableProps(menu)
    .filter((p) => p.access !== 'wo' && (showSensitive || !p.sensitive))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const pairs = (data: RowData, base: RowData, skipEmpty: boolean): string => settable
    .filter((p) => data[p.name] !== undefined && (verbose || JSON.stringify(data[p.name]) !== JSON.stringify(base[p.name])))
    .filter((p) => !(skipEmpty && isEmptyValue(p, data[p.name])))
    .map((p) => `${p.name}=${exportValue(p.type.display(data[p.name], ctx))}`).join(' ');
  const lines: string[] = [];
  if (menu.kind === 'singleton') {
    const row = tx.get(menu.path, 1);
    const text = row ? pairs(row.data, defaults, false) : '';
    if (text) lines.push(`set ${text}`);
  } else if (menu.kind === 'list') {
    for (const row of tx.list(menu.path)) {
      // Dynamic entries (connections, CDP lists) come back by themselves: never exported.
      if (row.data.dynamic === true) continue;
      const builtin = row.data[BUILTIN] as RowData | undefined;
      if (builtin) {
        const text = pairs(row.data, builtin, false);
        const key = menu.key ? exportValue(String(row.data[menu.key])) : `*${row.id.toString(16).toUpperCase()}`;
        if (text) lines.push(`set ${key} ${text}`);
      } else {
        const text = pairs(row.data, defaults, true);
        lines.push(`add${text ? ` ${text}` : ''}`);
      }
    }
  }
  return lines.length ? `/${header}\n${lines.map(wrapExportLine).join('\n')}\n` : '';
}

/** Row field holding the values a built-in row (created with the data directory) started with. */
export const BUILTIN = '.builtin';

/** `# 2026-01-01 00:00:00 by RouterOS 7.23.3` — the first line of every export (spec §2.2). */
export function exportHeader(now: number, version: string): string {
  return `# ${formatDate(now)} by RouterOS ${version.replace(/ \(.*\)$/, '')}\n`;
}

/**
 * A value as export writes it: bare when it is one plain word, else a console string with the
 * escapes the console reads back (spec §7.2): `\\ \" \$`, `\n \r \t`, other control bytes `\XX`.
 */
function exportValue(text: string): string {
  if (/^[A-Za-z0-9_.:,\-/*@+]+$/.test(text)) return text;
  const escaped = text.replace(/[\\"$\x00-\x1f\x7f]/g, (c) => {
    switch (c) {
      case '\\': case '"': case '$': return `\\${c}`;
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      default: return `\\${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
    }
  });
  return `"${escaped}"`;
}

/**
 * Export wraps long lines with `\` and a 4-space continuation (spec §4.1 export sample). The
 * console drops the leading blanks of a continued line, even inside a string, so a line is
 * never broken before a blank or inside an escape sequence: the text reads back unchanged.
 */
function wrapExportLine(line: string): string {
  const width = 80;
  if (line.length <= width) return line;
  const out: string[] = [];
  let rest = line;
  while (rest.length > width - 1) {
    let cut = width - 1;
    while (cut > 8 && !safeBreak(rest, cut)) cut--;
    if (cut <= 8) break; // no safe place: leave the line long rather than change its meaning
    out.push(`${rest.slice(0, cut)}\\`);
    rest = `    ${rest.slice(cut)}`;
  }
  out.push(rest);
  return out.join('\n');
}

/** Whether a line may be broken before position i. */
function safeBreak(text: string, i: number): boolean {
  if (/\s/.test(text[i] ?? '') || /\s/.test(text[i - 1] ?? '')) return false;
  // Count the backslashes before i: an odd number means i is inside an escape sequence.
  let slashes = 0;
  for (let j = i - 1; j >= 0 && text[j] === '\\'; j--) slashes++;
  if (slashes % 2 === 1) return false;
  // `\XX` hex escapes: do not split the two hex digits from their backslash.
  return !(text[i - 2] === '\\' && /[0-9A-F]/.test(text[i - 1] ?? '') && /[0-9A-F]/.test(text[i] ?? ''));
}

/** Generic verbs that a menu's declaration asks for. */
export function genericCommands(menu: MenuDecl): CommandDecl[] {
  const make: Record<string, () => CommandDecl> = {
    print: () => printCommand(menu),
    get: () => getCommand(menu),
    set: () => setCommand(menu),
    unset: () => unsetCommand(menu),
    add: () => addCommand(menu),
    remove: () => removeCommand(menu),
    find: () => findCommand(menu),
    enable: () => enableCommand(menu, false),
    disable: () => enableCommand(menu, true),
    comment: () => commentCommand(menu),
    export: () => exportCommand(menu),
  };
  return menu.verbs.filter((v) => make[v]).map((v) => make[v]!());
}

export type { CommandResult };
