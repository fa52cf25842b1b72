// The generic verbs every menu gets from its declaration (spec §1.3, §3.5): print, get, set,
// unset, add, remove, find, enable, disable, comment, export. Menu-specific verbs are
// functions declared by the menu itself.

import { alreadyHave, argumentError, failure, invalidItemNumber, noMatch, noSuchItem, notEnoughPermissions } from '../errors.js';
import { normaliseName } from '../store/files.js';
import type { RowData, StoredRow, WriteTx, ReadTx } from '../store/store.js';
import { ROSPKI_ROUTEROS_VERSION } from '../version.js';
import { matchChoice } from './args.js';
import { followPrint, type FollowView } from './follow.js';
import { renderPrint } from './render.js';
import { formatDate, type TimeZone } from '../clock.js';
import {
  boolType, durationType, enumType, isReferenceList, itemsType, presenceType, stringListType, stringType,
} from './proptypes.js';
import type {
  ArgDecl, CommandCall, CommandDecl, CommandResult, Environment, MenuDecl, Policy, PrintOutput,
  PropertyDecl, RegistryView, RowPredicate, RowView, Session, TypeContext,
} from './types.js';
import { ItemId, RosArray, type Value, valueToString } from './values.js';

// ---------------------------------------------------------------------------------------------
// Reading property values

export function typeContext(env: Environment, tx: ReadTx): TypeContext {
  let zone: TimeZone | undefined;
  // The zone is read when a date is first shown: most commands never need it.
  return { tx, clock: env.clock, registry: env.registry, env, get zone() { return (zone ??= env.zone(tx)); } };
}

/**
 * The stored or computed value of a property (storage form), undefined when unset or when it
 * is empty and the property declares that empty means absent (absentWhenEmpty): the one read
 * path of every front end.
 */
export function storedValue(prop: PropertyDecl, row: RowData, ctx: TypeContext): unknown {
  const v = prop.compute ? prop.compute(row, ctx) : row[prop.name];
  return prop.absentWhenEmpty && isEmptyValue(prop, v) ? undefined : v;
}

export function isEmptyValue(prop: PropertyDecl, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  return prop.type.isEmpty ? prop.type.isEmpty(v) : false;
}

/** Each menu's properties by name (a filter asks once per row: `print where` over 100,000 rows). */
const propertiesByName = new WeakMap<readonly PropertyDecl[], Map<string, PropertyDecl>>();

export function propByName(menu: MenuDecl, name: string): PropertyDecl | undefined {
  let byName = propertiesByName.get(menu.properties);
  if (!byName) {
    byName = new Map();
    for (const p of menu.properties) if (!byName.has(p.name)) byName.set(p.name, p);
    propertiesByName.set(menu.properties, byName);
  }
  return byName.get(name);
}

/** The row as a filter sees it: typed script values; unset values are `nothing`. */
export function rowView(menu: MenuDecl, row: StoredRow, ctx: TypeContext, readsSecrets: boolean): RowView {
  return {
    id: row.id,
    get(name: string): Value {
      if (name === '.id') return new ItemId(row.id);
      const prop = propByName(menu, name);
      if (!prop || prop.access === 'wo') return undefined;
      // A value the caller may not read is no value to a filter either: else `find where
      // secret~"^a"` would guess it a character at a time.
      if (!readsSecrets && (prop.sensitive || secretFor(prop, row.data, ctx, false))) return undefined;
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
// Row order

/**
 * Row field giving a row's place in an ordered list (MenuDecl.ordered: firewall rules, where the
 * order decides): set by add (`place-before`) and `move`. Rows without it sort by id.
 */
export const ORDER = '.order';

const orderOf = (row: StoredRow): number => (typeof row.data[ORDER] === 'number' ? (row.data[ORDER] as number) : row.id);

/**
 * The rows of a list menu in the order they are numbered, printed, found and exported: by the
 * place each has when the menu is ordered (firewall rules), by the menu's own sort where it has
 * one (/ip service by port), else by id.
 */
export function listRows(menu: MenuDecl, tx: ReadTx): readonly StoredRow[] {
  const rows = tx.list(menu.path);
  if (menu.ordered) return [...rows].sort((a, b) => orderOf(a) - orderOf(b) || a.id - b.id);
  return menu.sortRows ? menu.sortRows(rows) : rows;
}

/**
 * The rows of a list in the order /export writes them: their place where the order decides
 * (firewall rules), else id order, as RouterOS exports (the 7.24.4 export lists /ip service by
 * internal id although print sorts it by port).
 */
function exportRows(menu: MenuDecl, tx: ReadTx): readonly StoredRow[] {
  return menu.ordered ? listRows(menu, tx) : tx.list(menu.path);
}

/**
 * Puts `ids` (in the order given) before the row `before`, or at the end without one, and
 * numbers the whole list again (RouterOS `move`, `add place-before=`).
 */
export function placeRows(menu: MenuDecl, tx: WriteTx, ids: readonly number[], before?: number): void {
  const moving = new Set(ids);
  if (before !== undefined && moving.has(before)) return; // before itself: stays where it is
  const rest = listRows(menu, tx).filter((r) => !moving.has(r.id)).map((r) => r.id);
  const at = before === undefined ? -1 : rest.indexOf(before);
  const order = at < 0 ? [...rest, ...ids] : [...rest.slice(0, at), ...ids, ...rest.slice(at)];
  order.forEach((id, i) => {
    const row = tx.get(menu.path, id)!;
    if (row.data[ORDER] !== i + 1) tx.update(menu.path, id, { ...row.data, [ORDER]: i + 1 });
  });
}

// ---------------------------------------------------------------------------------------------
// Items: `0,1`, names, `*ID`s, arrays from [find] (spec §7.3)


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
    const numbering = session.lastPrint.get(menu.path) ?? listRows(menu, tx);
    const id = numbering[n]?.id;
    if (id === undefined || !tx.get(menu.path, id)) throw noSuchItem();
    return id;
  };
  addOne(value);
  return [...new Set(out)];
}

/**
 * The one item an argument names where a command takes exactly one (`get`'s number, `copy-from`,
 * `place-before`, `move`'s destination, `sign`'s template): none is `no such item`, several (a
 * `[find]` matching more than one row) `invalid internal item number`, as RouterOS 7 answers
 * `/ip address get [find] address` — never silently the first of them.
 */
export function resolveItem(menu: MenuDecl, value: Value, session: Session, tx: ReadTx): number {
  const ids = resolveItems(menu, value, session, tx);
  if (ids.length === 0) throw noSuchItem();
  if (ids.length > 1) throw invalidItemNumber();
  return ids[0]!;
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

/** Derives what follows from other properties, checks required and unique ones, then the menu's own rules. */
export function checkRow(menu: MenuDecl, id: number | undefined, data: RowData, tx: WriteTx, env: Environment): void {
  menu.derive?.(data);
  for (const p of menu.properties) {
    if (p.required && isEmptyValue(p, data[p.name])) throw argumentError(`missing value of ${p.name}`);
    // A reference parsed before this transaction may point at a row removed since.
    const ref = p.type.reference;
    if (ref && referencedIds(p, data).some((target) => !tx.get(ref.target, target))) throw noMatch(p.name);
    if (p.unique && !isEmptyValue(p, data[p.name])) {
      const clash = tx.findBy(menu.path, p.name, data[p.name]).find((r) => r.id !== id);
      if (clash) throw alreadyHave();
    }
  }
  menu.validate?.(data, tx, env, id);
}

/** The ids a reference property of a row points at (none: []): one for refType, any for refListType. */
function referencedIds(prop: PropertyDecl, data: RowData): number[] {
  const v = data[prop.name];
  if (isReferenceList(prop.type)) return Array.isArray(v) ? (v as number[]) : [];
  return typeof v === 'number' && v !== 0 ? [v] : [];
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
  return call.env.store.read((tx) => fn(tx, ctx), call.since);
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
const followArg = flagArg('follow', 'Print the items, then each item added or changed, until interrupted');
const followOnlyArg = flagArg('follow-only', 'Print each item added or changed from now on, until interrupted');
/** At least 100ms between whole prints: `interval=0` would print as fast as the client reads (UNCONFIRMED bound). */
const intervalArg: ArgDecl<number> = { name: 'interval', type: durationType(100e6), help: 'Print everything again every interval, until interrupted' };

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
    followArg,
    followOnlyArg,
    intervalArg,
  ];
  if (menu.kind === 'list') {
    args.push(fromArg);
    args.push({ name: 'where', type: itemsType, help: 'Filter expression' });
  }
  return {
    name: 'print', help: 'Print values of item properties', policy: 'read', args,
    async run(call) {
      const { args: a } = call;
      if (a.flag(followArg) || a.flag(followOnlyArg) || a.has(intervalArg)) return followingPrint(menu, call);
      // listed: every row in numbering order, a stable snapshot (not copied); rows: those asked
      // for, in the same order (a REST add prints its one new row: no pass over all of them).
      const [rows, ctx, listed] = await readTx(call, (tx, ctx) => {
        if (menu.kind !== 'list') return [[tx.get(menu.path, 1) ?? { id: 1, data: {} }], ctx, []] as const;
        const listed = listRows(menu, tx);
        if (!a.has(fromArg)) return [candidateRows(menu, tx, listed, call.where), ctx, listed] as const;
        const ids = resolveItems(menu, a.get(fromArg), call.session, tx);
        return [pickRows(menu, listed, ids.map((id) => tx.get(menu.path, id)!)), ctx, listed] as const;
      });
      const where = call.where;
      const shown = where ? await filterRows(menu, rows, ctx, where, call.policies.has('sensitive')) : rows;
      const props = a.has(proplistArg) ? parseProplist(menu, a.get(proplistArg)!) : undefined;
      if (a.flag('count-only')) return { ret: shown.length, messages: [String(shown.length)] };
      if (a.flag('as-value')) return { ret: RosArray.of(shown.map((r) => asValue(menu, r, ctx, props, a.flag('show-sensitive'), call.policies.has('sensitive')))) };
      if (menu.kind === 'list') call.session.lastPrint.set(menu.path, listed);
      const mode = PRINT_MODES.find((m) => a.flag(m)) ?? 'table';
      const print: PrintOutput = {
        menu, rows: shown, numbers: menu.kind === 'list' ? numbersOf(menu, listed, shown) : [0], mode,
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

/**
 * `print follow`, `follow-only`, `interval=` (spec §3.5) and the API's `listen`: what print shows,
 * for the rows asked for, read again for each part with the session's policies of that moment
 * (a user disabled or demoted meanwhile loses the stream or the secrets, as print would).
 */
async function followingPrint(menu: MenuDecl, call: CommandCall): Promise<CommandResult> {
  const { args: a } = call;
  if (a.flag('count-only') || a.flag('as-value') || a.has(printFileArg)) {
    throw argumentError('follow, follow-only and interval can not be combined with count-only, as-value or file');
  }
  const props = a.has(proplistArg) ? parseProplist(menu, a.get(proplistArg)!) : undefined;
  const mode = PRINT_MODES.find((m) => a.flag(m)) ?? 'table';
  const showSensitive = a.flag('show-sensitive');
  // from= names its rows once, as they are when the print starts.
  const from = menu.kind === 'list' && a.has(fromArg)
    ? new Set(await readTx(call, (tx) => resolveItems(menu, a.get(fromArg), call.session, tx)))
    : undefined;
  const view: FollowView = {
    async read(ids) {
      const ctx = typeContext(call.env, call.env.store.view());
      const [policies, listed, rows] = await call.env.store.read((tx) => {
        const policies = call.policiesNow(tx);
        if (showSensitive && !policies.has('sensitive')) throw notEnoughPermissions();
        if (menu.kind !== 'list') return [policies, [], [tx.get(menu.path, 1) ?? { id: 1, data: {} }]] as const;
        const listed = listRows(menu, tx);
        if (!ids) {
          // Numbers given later refer to what the last whole print showed, as after print (§7.3).
          call.session.lastPrint.set(menu.path, listed);
          return [policies, listed, from ? listed.filter((r) => from.has(r.id)) : candidateRows(menu, tx, listed, call.where)] as const;
        }
        const found = [...ids].filter((id) => !from || from.has(id)).map((id) => tx.get(menu.path, id)).filter((r): r is StoredRow => r !== undefined);
        return [policies, listed, pickRows(menu, listed, found)] as const;
      });
      const readsSecrets = policies.has('sensitive');
      const shown = call.where ? await filterRows(menu, rows, ctx, call.where, readsSecrets) : rows;
      return {
        rows: shown,
        exists: (id) => menu.kind !== 'list' || listed.some((r) => r.id === id),
        output: (these, continued) => ({
          menu, rows: these, numbers: menu.kind === 'list' ? these.map((r) => positionOf(menu, listed, r)) : [0], mode,
          proplist: props, showIds: a.flag('show-ids'), showSensitive, readsSecrets, ctx, continued,
        }),
      };
    },
  };
  return followPrint(call, { initial: !a.flag(followOnlyArg), intervalNs: a.has(intervalArg) ? a.get(intervalArg) : undefined }, view);
}

/** Where a row stands in `listed` (listRows order): found by id when that order is id order. */
function positionOf(menu: MenuDecl, listed: readonly StoredRow[], row: StoredRow): number {
  if (menu.ordered || menu.sortRows) return listed.indexOf(row);
  let lo = 0;
  let hi = listed.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (listed[mid]!.id < row.id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The rows of `from=`, in listing order. */
function pickRows(menu: MenuDecl, listed: readonly StoredRow[], picked: readonly StoredRow[]): StoredRow[] {
  const at = new Map(picked.map((r) => [r, positionOf(menu, listed, r)] as const));
  return [...at.keys()].sort((x, y) => at.get(x)! - at.get(y)!);
}

/** The number of each shown row: its place in `listed` (shown keeps listed's order). */
function numbersOf(menu: MenuDecl, listed: readonly StoredRow[], shown: readonly StoredRow[]): number[] {
  if (shown === listed) return listed.map((_, i) => i);
  // Few rows (from=, a narrow where): look each up; many: one walk along listed.
  if (shown.length * 32 < listed.length) return shown.map((r) => positionOf(menu, listed, r));
  const out: number[] = [];
  let i = 0;
  for (const r of shown) {
    while (i < listed.length && listed[i] !== r) i++;
    out.push(i < listed.length ? i : positionOf(menu, listed, r));
  }
  return out;
}

/**
 * The /file name `file=x` of print and export writes: x, with `ext` added unless x already ends
 * as `own` says. The name is checked first, so `file=""` is refused as an empty name rather than
 * writing a file called `.txt`.
 */
function fileNameFor(name: string, ext: string, own: RegExp): string {
  const clean = normaliseName(name);
  return own.test(clean) ? clean : `${clean}${ext}`;
}

/** `print file=x`: the console text goes to x.txt in the /file store (spec §3.5). */
async function writePrintFile(call: CommandCall, name: string, text: string): Promise<void> {
  const fileName = fileNameFor(name, '.txt', /\.[A-Za-z0-9]+$/);
  const written = await call.env.files.write(fileName, text, call.env.clock.now());
  await call.env.store.write((tx) => call.env.log(tx, 'system,info', `file ${written} written by ${call.session.user}`));
}

/**
 * The rows of `listed` (a list menu's rows in listRows order) that `where` may accept: when it
 * implies `name="text"` for a plain text property, only the rows the index holds for that text
 * (`find where name=…` over 100,000 certificates looks at one row, not all of them). A text
 * property's script value is its stored text and `=` compares texts exactly, so no row the
 * filter accepts is left out; filterRows still tests each.
 */
export function candidateRows(menu: MenuDecl, tx: ReadTx, listed: readonly StoredRow[], where: RowPredicate | undefined): readonly StoredRow[] {
  const equals = where?.equals;
  if (!equals || menu.ordered || menu.sortRows) return listed;
  const prop = propByName(menu, equals.name);
  // Not for values some callers may not read: how many rows a filter tested would tell them.
  if (!prop || prop.type !== stringType || prop.compute || prop.access === 'wo' || prop.sensitive || prop.secretWhen) return listed;
  return [...tx.findBy(menu.path, prop.name, equals.text)].sort((a, b) => a.id - b.id);
}

/** The rows `where` accepts; it sees sensitive and secret values only when `readsSecrets`. */
async function filterRows(menu: MenuDecl, rows: readonly StoredRow[], ctx: TypeContext, where: NonNullable<CommandCall['where']>, readsSecrets: boolean): Promise<StoredRow[]> {
  const out: StoredRow[] = [];
  for (const r of rows) {
    const hit = where(rowView(menu, r, ctx, readsSecrets));
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
        const id = menu.kind === 'list' ? resolveItem(menu, call.args.get(numberArg), call.session, tx) : 1;
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
  const placeBefore: ArgDecl<Value> = { name: 'place-before', type: itemsType, help: 'Item before which the new one is placed' };
  if (menu.key) args.push(copyFrom);
  if (menu.ordered) args.push(placeBefore);
  return {
    name: 'add', help: 'Create a new item', policy: writePolicies(menu), args,
    async run(call) {
      const id = await writeTx(call, (tx, ctx) => {
        let base = newRowData(menu, ctx);
        if (call.args.has(copyFrom)) {
          const src = tx.get(menu.path, resolveItem(menu, call.args.get(copyFrom), call.session, tx));
          if (!src) throw noSuchItem();
          base = copyableData(menu, src.data, base);
        }
        const data = applyArgs(menu, base, call.args.entries().filter(([k]) => k !== 'copy-from' && k !== 'place-before'), ctx, false);
        checkRow(menu, undefined, data, tx, call.env);
        menu.authorize?.({ after: data }, tx, call);
        const before = call.args.has(placeBefore) ? resolveItem(menu, call.args.get(placeBefore), call.session, tx) : undefined;
        const newId = tx.insert(menu.path, data);
        if (menu.ordered) placeRows(menu, tx, [newId], before);
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
 * row while something uses it, `disable` is `none` that also disables the referrer.
 */
export function removeRow(env: Environment, menu: MenuDecl, id: number, tx: WriteTx, call?: CommandCall): void {
  const row = tx.get(menu.path, id);
  if (!row) return; // already removed by a cascade earlier in this command
  if (call) menu.authorize?.({ before: row.data }, tx, call);
  menu.beforeRemove?.(id, tx, env);
  for (const { menu: other, prop, referrers } of referrersOf(env, menu, id, tx)) {
    const list = isReferenceList(prop.type);
    for (const ref of referrers) {
      const onRemove = prop.type.reference!.onRemove;
      if (onRemove === 'refuse') throw failure(`${describe(menu, row.data)} is in use by ${describe(other, ref.data)}`);
      if (onRemove === 'cascade') { removeRow(env, other, ref.id, tx, call); continue; }
      const current = tx.get(other.path, ref.id);
      if (!current) continue;
      const left = list ? referencedIds(prop, current.data).filter((target) => target !== id) : 0;
      // A pin (IPsec remote-certificate) that became none would let every trusted peer in: the
      // row stops instead, until one is set and it is enabled again.
      const disable = onRemove === 'disable' && (!Array.isArray(left) || left.length === 0);
      tx.update(other.path, ref.id, { ...current.data, [prop.name]: left, ...(disable ? { disabled: true } : {}) });
      // A binding someone made is worth a line in /log; a fact the system keeps is not.
      const rest = Array.isArray(left) && left.length > 0 ? 'the others stay' : disable ? 'disabled until one is set' : 'none until one is set';
      if (prop.access !== 'ro') env.log(tx, 'system,warning', `${keyOf(other, current.data)}: ${prop.name} ${keyOf(menu, row.data)} removed, ${rest}`);
    }
  }
  tx.remove(menu.path, id);
  if (call) logChange(call, tx, `${describe(menu, row.data)} removed`);
}

/** The rows of other menus that refer to row `id` of `menu`, by referring property. */
function referrersOf(env: Environment, menu: MenuDecl, id: number, tx: ReadTx): Array<{ menu: MenuDecl; prop: PropertyDecl; referrers: readonly StoredRow[] }> {
  return env.registry.referencesTo(menu.path).map(({ menu: other, prop }) => ({
    menu: other, prop,
    // A list of references (refListType) is found by scanning; one reference through the index.
    referrers: isReferenceList(prop.type) ? tx.list(other.path).filter((r) => referencedIds(prop, r.data).includes(id)) : tx.findBy(other.path, prop.name, id),
  }));
}

/** What removing some rows would do besides removing them, by the references' `onRemove` rule. */
export interface RemovalEffects {
  /** Rows removed along (`cascade`): a CA's issued certificates. */
  readonly removed: Array<{ path: string; name: string }>;
  /** Bindings that become none (`none`): `www-ssl` loses its `certificate`; `disabled` for `disable`. */
  readonly unbound: Array<{ path: string; name: string; property: string; disabled?: boolean }>;
  /** Why the removal would be refused (`refuse`), if it would. */
  readonly refusedBy?: string;
}

/**
 * The effects removeRow would have on rows `ids` of `menu`, read without changing anything (the
 * web page's confirmation names them). Walks the same references with the same rule as removeRow.
 */
export function removalEffects(env: Environment, menu: MenuDecl, ids: readonly number[], tx: ReadTx): RemovalEffects {
  const out: { removed: RemovalEffects['removed']; unbound: RemovalEffects['unbound']; refusedBy?: string } = { removed: [], unbound: [] };
  const gone = new Set<string>(ids.map((id) => `${menu.path} ${id}`));
  const walk = (m: MenuDecl, id: number): void => {
    const row = tx.get(m.path, id);
    if (!row) return;
    for (const { menu: other, prop, referrers } of referrersOf(env, m, id, tx)) {
      for (const ref of referrers) {
        const key = `${other.path} ${ref.id}`;
        if (gone.has(key)) continue;
        const onRemove = prop.type.reference!.onRemove;
        if (onRemove === 'refuse') { out.refusedBy ??= `${describe(m, row.data)} is in use by ${describe(other, ref.data)}`; continue; }
        if (onRemove === 'cascade') {
          gone.add(key);
          out.removed.push({ path: other.path, name: keyOf(other, ref.data) });
          walk(other, ref.id);
          continue;
        }
        if (prop.access !== 'ro') {
          out.unbound.push({ path: other.path, name: keyOf(other, ref.data), property: prop.name, ...(onRemove === 'disable' ? { disabled: true } : {}) });
        }
      }
    }
  };
  for (const id of ids) walk(menu, id);
  return out;
}

function findCommand(menu: MenuDecl): CommandDecl {
  return {
    name: 'find', help: 'Find items by value', policy: 'read',
    args: [{ name: 'where', type: itemsType, help: 'Filter expression' }],
    async run(call) {
      const [rows, ctx] = await readTx(call, (tx, ctx) => [[...candidateRows(menu, tx, listRows(menu, tx), call.where)], ctx] as const);
      const shown = call.where ? await filterRows(menu, rows, ctx, call.where, call.policies.has('sensitive')) : rows;
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

/** `move numbers [destination]`: the items go before destination, or to the end (ordered lists). */
function moveCommand(menu: MenuDecl): CommandDecl {
  const destination: ArgDecl<Value> = { name: 'destination', type: itemsType, positional: 1, help: 'Item before which to place the items' };
  return {
    name: 'move', help: 'Change the order of items', policy: writePolicies(menu), args: [itemsArg(0), destination],
    async run(call) {
      await writeTx(call, (tx) => {
        const ids = resolveItems(menu, call.args.value('numbers') as Value, call.session, tx);
        const before = call.args.has(destination) ? resolveItem(menu, call.args.get(destination), call.session, tx) : undefined;
        placeRows(menu, tx, ids, before);
        logChange(call, tx, `${menu.path.slice(1).replace(/\//g, ' ')} items moved`);
      });
      return {};
    },
  };
}

// ---------------------------------------------------------------------------------------------
// /export (spec services §9.2): one mechanism for the root and every menu. A menu whose verbs
// name `export` writes its configuration; the export command of any menu (and of every
// directory, the root included) writes that menu and everything below it, in RouterOS's order.

/** What one export writes. */
export interface ExportOptions {
  /** Every value, defaults included; unset properties as `!name` (RouterOS `verbose`). */
  readonly verbose?: boolean;
  /** Each line with its full menu path, not wrapped (`terse`). */
  readonly terse?: boolean;
  /** Sensitive values (passwords, secrets) are written; else left out of the line. */
  readonly showSensitive?: boolean;
  /** Only list rows this accepts (`where`, 7.13+). */
  readonly where?: RowPredicate;
}

/**
 * RouterOS writes objects that others refer to first (the 7.24.4 verbose export, X7244): these
 * tiers come before everything else, then every menu in path order. Menus rospki does not have
 * are named too, so menus added later fall into place.
 */
const EXPORT_TIERS: ReadonlyArray<readonly string[]> = [
  ['/interface/list', '/ip/dhcp-client/option', '/ip/hotspot/profile', '/ip/hotspot/user/profile', '/ip/ipsec/mode-config',
    '/ip/ipsec/peer', '/ip/ipsec/policy/group', '/ip/ipsec/profile', '/ip/ipsec/proposal', '/ip/pool', '/ppp/profile',
    '/queue/type', '/snmp/community', '/system/logging/action', '/system/script', '/user/group'],
  ['/certificate/settings', '/console/settings', '/disk/settings', '/ip/smb'],
];

const tierOf = (path: string): number => {
  const i = EXPORT_TIERS.findIndex((t) => t.includes(path));
  return i < 0 ? EXPORT_TIERS.length : i;
};

/** Path order: a menu before its sub-menus, sub-menus by name (`/system clock`, `/system clock manual`). */
function comparePaths(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length - y.length;
}

/** Whether a menu's own configuration is written by /export. */
export function exportsRows(menu: MenuDecl): boolean {
  return menu.verbs.includes('export');
}

/**
 * The menus an export of `path` writes, in RouterOS's order: by tier, then path; and a menu
 * another one refers to (refType) always before it, so an import finds what a line names.
 */
export function exportMenus(registry: RegistryView, path: string): MenuDecl[] {
  const found: MenuDecl[] = [];
  const walk = (p: string): void => {
    const menu = registry.menu(p);
    if (menu && exportsRows(menu)) found.push(menu);
    for (const child of registry.children(p)) walk(p === '/' ? `/${child}` : `${p}/${child}`);
  };
  walk(path);
  found.sort((a, b) => tierOf(a.path) - tierOf(b.path) || comparePaths(a.path, b.path));
  const inSet = new Set(found.map((m) => m.path));
  const ordered: MenuDecl[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const emit = (menu: MenuDecl): void => {
    if (state.has(menu.path)) return;
    state.set(menu.path, 'open');
    for (const p of writableProps(menu)) {
      const target = p.type.reference?.target;
      if (target && target !== menu.path && inSet.has(target) && !state.has(target)) emit(registry.menu(target)!);
    }
    state.set(menu.path, 'done');
    ordered.push(menu);
  };
  for (const menu of found) emit(menu);
  return ordered;
}

/** `/ip service`: how an export names a menu. */
const exportPath = (menu: MenuDecl): string => `/${menu.path.slice(1).replace(/\//g, ' ')}`;

/**
 * The command lines of one menu (without its path line): singletons and built-in rows as `set`,
 * rows added by users as `add`, arguments in alphabetical order as RouterOS writes them. Compact
 * leaves out what a fresh router already has; verbose writes every value and `!name` for unset
 * ones. Dynamic rows never appear (they come back by themselves); `wo` and, without
 * show-sensitive, sensitive values are dropped from the line, not masked (M-SENS).
 */
export async function exportMenuLines(menu: MenuDecl, stored: readonly StoredRow[], ctx: TypeContext, opts: ExportOptions = {}): Promise<string[]> {
  // A default made at add time (a scheduler's start-date: today) is no default for an import
  // on another day: such values are always written.
  const defaults = newRowData({ ...menu, properties: menu.properties.filter((p) => !p.defaultVaries) }, ctx);
  const settable = writableProps(menu)
    .filter((p) => p.access !== 'wo' && (opts.showSensitive || !p.sensitive))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  /** `base`: what an import starts from (defaults of an add, a built-in row's first values). */
  const args = (data: RowData, base: RowData, builtin?: RowData): string => {
    const out: string[] = [];
    for (const p of settable) {
      const v = data[p.name];
      if (v === undefined || v === null) {
        // A property a built-in row never had does not apply to it (certificate on www).
        const applies = !builtin || builtin[p.name] !== undefined;
        if (opts.verbose && p.name !== 'comment' && applies) out.push(`!${p.name}`);
        else if (!opts.verbose && base[p.name] !== undefined && applies) out.push(`!${p.name}`);
        continue;
      }
      if (!opts.verbose && (same(v, base[p.name]) || (base[p.name] === undefined && isEmptyValue(p, v)))) continue;
      out.push(`${p.name}=${exportValue(p.type.display(v, ctx))}`);
    }
    return out.join(' ');
  };
  const lines: string[] = [];
  if (menu.kind === 'singleton') {
    const text = args(stored[0]?.data ?? defaults, defaults);
    if (text) lines.push(`set ${text}`);
    return lines;
  }
  if (menu.kind !== 'list') return lines;
  // Dynamic rows (stored so, or computed so: the host's addresses) come back by themselves.
  const dynamic = propByName(menu, 'dynamic');
  const rows = stored.filter((r) => (dynamic ? storedValue(dynamic, r.data, ctx) : r.data.dynamic) !== true);
  // show-sensitive takes the sensitive policy: only then may the filter see secrets.
  const shown = opts.where ? new Set((await filterRows(menu, rows, ctx, opts.where, opts.showSensitive === true)).map((r) => r.id)) : undefined;
  const builtins = rows.filter((r) => r.data[BUILTIN]);
  for (const row of rows) {
    if (shown && !shown.has(row.id)) continue;
    const builtin = row.data[BUILTIN] as RowData | undefined;
    if (!builtin) {
      lines.push(`add ${args(row.data, defaults)}`.trimEnd());
      continue;
    }
    const text = args(row.data, builtin, builtin);
    if (text) lines.push(`set ${builtinIdentifier(menu, row, builtin, builtins.indexOf(row))} ${text}`);
  }
  return lines;
}

/**
 * How an export names a built-in row so that a fresh router finds it: `[ find default=yes ]`
 * for the menu's default row, else the name it came with (`set www`, `set read`), else its
 * place among the built-in rows (`set 0`), as RouterOS writes them.
 */
function builtinIdentifier(menu: MenuDecl, row: StoredRow, builtin: RowData, index: number): string {
  if (propByName(menu, 'default') && row.data.default === true) return '[ find default=yes ]';
  if (menu.key && builtin[menu.key] !== undefined) return exportValue(String(builtin[menu.key]));
  return String(index);
}

/**
 * An export's text: the header, then each menu's path line and its lines (spec §9.2). The rows
 * are read in one transaction, so the export is one consistent picture.
 */
export async function exportText(env: Environment, menus: readonly MenuDecl[], opts: ExportOptions = {}): Promise<string> {
  const ctx = typeContext(env, env.store.view());
  const rows = await env.store.read((tx) => menus.map((m) => (m.kind === 'singleton' ? [tx.get(m.path, 1)].filter((r) => r !== undefined) : m.kind === 'list' ? [...exportRows(m, tx)] : [])));
  let out = exportHeader(env.clock.now(), ROSPKI_ROUTEROS_VERSION, ctx.zone);
  for (const [i, menu] of menus.entries()) {
    const lines = await exportMenuLines(menu, rows[i]!, ctx, opts);
    if (lines.length === 0) continue;
    const path = exportPath(menu);
    out += opts.terse ? lines.map((l) => `${path} ${l}\n`).join('') : `${path}\n${lines.map(wrapExportLine).join('\n')}\n`;
  }
  return out;
}

/** Row field holding the values a built-in row (created with the data directory) started with. */
export const BUILTIN = '.builtin';

/**
 * The header of every export, as a RouterOS without RouterBOARD hardware (CHR) writes it: the
 * date in the router's zone and the version, then an empty software id (rospki has no license
 * key) and no model or serial number lines (spec §9.2).
 */
export function exportHeader(now: number, version: string, zone?: TimeZone): string {
  return `# ${formatDate(now, zone)} by RouterOS ${version.replace(/ \(.*\)$/, '')}\n# software id =\n#\n`;
}

const exportFlags = {
  compact: flagArg('compact', 'Leave out default values (the default)'),
  verbose: flagArg('verbose', 'Include default values'),
  terse: flagArg('terse', 'Each line with its menu path'),
  showSensitive: { ...flagArg('show-sensitive', 'Include sensitive values'), policy: 'sensitive' } as ArgDecl<boolean>,
  hideSensitive: flagArg('hide-sensitive', 'Leave sensitive values out (the default)'),
};
/** `export file=x` writes x.rsc into /file: the write policy, like every other way into the store. */
const exportFileArg: ArgDecl<string> = { name: 'file', type: stringType, policy: 'write', help: 'Export to <file>.rsc in /file' };
const exportWhereArg: ArgDecl<Value> = { name: 'where', type: itemsType, help: 'Export only the items that match' };

/** The export command of a menu: it and everything below it. */
export function exportCommand(menu: MenuDecl): CommandDecl {
  return {
    name: 'export', help: 'Print or save an export script', policy: 'read',
    args: [...Object.values(exportFlags), exportFileArg, exportWhereArg],
    async run(call) {
      const { env, args } = call;
      const menus = exportMenus(env.registry, menu.path);
      // Menus that mirror something outside the store are brought up to date first.
      for (const m of menus) if (m !== menu) await m.prepare?.(env);
      const opts: ExportOptions = {
        verbose: args.flag(exportFlags.verbose), terse: args.flag(exportFlags.terse),
        showSensitive: args.flag(exportFlags.showSensitive) && !args.flag(exportFlags.hideSensitive), where: call.where,
      };
      const text = await exportText(env, menus, opts);
      if (args.has(exportFileArg)) {
        const name = args.get(exportFileArg)!;
        const written = await env.files.write(fileNameFor(name, '.rsc', /\.rsc$/i), text, env.clock.now());
        await env.store.write((tx) => env.log(tx, 'system,info', `configuration exported to ${written} by ${call.session.user}`));
        return {};
      }
      return { text };
    },
  };
}

/**
 * A value as export writes it: bare when it is one plain word, else a console string with the
 * escapes the console reads back (spec §7.2): `\\ \" \$`, `\n \r \t`, other control bytes `\XX`.
 */
export function exportValue(text: string): string {
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

/**
 * Whether a line may be broken before position i. Not right after `=` either: RouterOS does
 * break there, but consoles before issue 12 read `name=\` + newline as the end of the command.
 */
function safeBreak(text: string, i: number): boolean {
  if (/\s/.test(text[i] ?? '') || /\s/.test(text[i - 1] ?? '') || text[i - 1] === '=') return false;
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
    move: () => moveCommand(menu),
  };
  return menu.verbs.filter((v) => make[v]).map((v) => make[v]!());
}

export type { CommandResult };
