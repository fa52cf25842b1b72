// Turns command results into what each front end shows: console text (spec §3 layouts) and
// API/REST records (spec §8.3, §9.3: every value a string, `.id` first, absent when unset).

import type { StoredRow } from '../store/store.js';
import { flagsInLegendOrder, isEmptyValue, rowFlags, secretFor, storedValue } from './generic.js';
import {
  formatDetail, formatKeyValue, formatTable, formatTerse, formatValueList, type FlagColumn, type LayoutCell, type LayoutRow,
} from './layout.js';
import type { CommandResult, MenuDecl, PrintOutput, PropertyDecl, Session } from './types.js';
import { ItemId, RosArray, type Value, valueToString } from './values.js';

/** The flag columns of a menu in legend order; flags that share a column are grouped. */
export function flagColumns(menu: MenuDecl): FlagColumn[] {
  const columns: FlagColumn[] = [];
  const byLetter = new Map<string, FlagColumn>();
  for (const p of flagsInLegendOrder(menu)) {
    if (!p.flag) continue;
    const flag = { letter: p.flag.letter, title: p.flag.title ?? p.name.toUpperCase() };
    const shared = p.flag.sharesColumnWith ? byLetter.get(p.flag.sharesColumnWith) : undefined;
    if (shared) shared.push(flag);
    else { const col = [flag]; columns.push(col); byLetter.set(flag.letter, col); }
  }
  return columns;
}

function visible(p: PropertyDecl, print: PrintOutput): boolean {
  return p.access !== 'wo' && (!p.sensitive || print.showSensitive);
}

/** A property's value as this print may show it: left out where it is secret for the caller. */
function shownValue(p: PropertyDecl, row: StoredRow, print: PrintOutput): unknown {
  return secretFor(p, row.data, print.ctx, print.readsSecrets) ? undefined : storedValue(p, row.data, print.ctx);
}

function cell(p: PropertyDecl, row: StoredRow, print: PrintOutput, table = false): LayoutCell {
  const { ctx } = print;
  const v = shownValue(p, row, print);
  const text = v === undefined || v === null ? '' : table && p.type.tableText ? p.type.tableText(v, ctx) : p.type.display(v, ctx);
  // An empty value shows as "" in detail even for otherwise bare types (`subject-alt-name=""`, spec §2.1).
  return { name: p.name, text, quoted: (p.type.quoted ?? false) || text === '', numeric: p.type.numeric ?? false };
}


function detailProps(print: PrintOutput): PropertyDecl[] {
  const { menu } = print;
  const order = print.proplist ?? menu.properties.map((p) => p.name);
  return order
    .map((n) => menu.properties.find((p) => p.name === n))
    .filter((p): p is PropertyDecl => !!p && visible(p, print) && p.detail !== 'never' && p.name !== 'comment');
}

function layoutRows(print: PrintOutput, props: PropertyDecl[], keepEmpty: (p: PropertyDecl, row: StoredRow) => boolean, table = false): LayoutRow[] {
  const { menu, ctx } = print;
  // The comment shows as a `;;;` line unless it was asked for as a column (proplist=comment).
  const commentProp = props.some((p) => p.name === 'comment') ? undefined : menu.properties.find((p) => p.name === 'comment');
  return print.rows.map((row, i) => {
    const cells = props.map((p) => ({ p, c: cell(p, row, print, table) }))
      .filter(({ p }) => keepEmpty(p, row) || !isEmptyValue(p, shownValue(p, row, print)))
      .map(({ c }) => c);
    const comment = commentProp ? String(row.data.comment ?? '') : '';
    return {
      index: print.showIds ? new ItemId(row.id).toString() : String(print.numbers[i]),
      flags: rowFlags(menu, row.data, ctx),
      comment: comment || undefined,
      cells,
    };
  });
}

/** Console text of a print verb. */
export function renderPrint(print: PrintOutput, session: Session): string {
  const { menu, ctx } = print;
  if (menu.kind === 'singleton') {
    const row = print.rows[0];
    if (!row) return '';
    const pairs: Array<[string, string | string[]]> = [];
    for (const p of detailProps(print)) {
      const v = shownValue(p, row, print);
      if (v === undefined || v === null) continue;
      pairs.push([p.name, Array.isArray(v) && v.length > 1 ? v.map(String) : p.type.display(v, ctx)]);
    }
    return formatKeyValue(pairs);
  }
  const flags = flagColumns(menu);
  if (print.mode === 'value-list') {
    const props = detailProps(print);
    const rows = layoutRows(print, props, () => true);
    return formatValueList({ properties: props.map((p) => p.name), rows });
  }
  if (print.mode === 'detail' || print.mode === 'terse') {
    // `always`: shown whenever the row has the value, even empty (`subject-alt-name=""`, `akid=""`).
    const rows = detailModel(print);
    const spec = { flagColumns: flags, rows, width: session.width, showIds: print.showIds, headless: print.continued };
    return print.mode === 'detail' ? formatDetail(spec) : formatTerse(spec);
  }
  if (menu.printTable && !print.proplist && !print.showIds) return menu.printTable(print, session);
  const table = tableModel(print);
  return formatTable({ ...table, showIds: print.showIds, width: session.width, legendStyle: menu.legendStyle, headless: print.continued });
}

/** A table as data: what `print` shows, for front ends that draw it themselves (the web page). */
export interface TableModel {
  readonly flagColumns: FlagColumn[];
  readonly columns: Array<{ name: string; numeric: boolean }>;
  /** Parallel to print.rows: each row's cells, one per column, as the console table shows them. */
  readonly rows: LayoutRow[];
}

/** The columns, flags and cells of a table print (the console's own table is made from it). */
export function tableModel(print: PrintOutput): TableModel {
  const { menu } = print;
  const names = print.proplist ?? menu.columns ?? [];
  const props = names.map((n) => menu.properties.find((p) => p.name === n)).filter((p): p is PropertyDecl => !!p && visible(p, print));
  return {
    flagColumns: flagColumns(menu),
    columns: props.map((p) => ({ name: p.name, numeric: p.type.numeric ?? false })),
    rows: layoutRows(print, props, () => true, true),
  };
}

/** The properties `print detail` shows for each row, in detail order (a singleton: its one row). */
export function detailModel(print: PrintOutput): LayoutRow[] {
  return layoutRows(print, detailProps(print), (p, row) => p.detail === 'always' && storedValue(p, row.data, print.ctx) !== undefined);
}

/** Everything the console prints for a command's result ('' when nothing). */
export function renderConsole(result: CommandResult, session: Session): string {
  let out = '';
  if (result.print) out += renderPrint(result.print, session);
  if (result.block) out += formatKeyValue(result.block.map(([k, v]) => [k, blockValue(v)]));
  for (const m of result.messages ?? []) out += `${m}\n`;
  if (result.text) out += result.text.endsWith('\n') ? result.text : `${result.text}\n`;
  return out;
}

/** Console text as RouterOS hands it over the network (REST, the API): every line ended by CRLF. */
export const networkText = (text: string): string => text.replace(/\r?\n/g, '\r\n');

function blockValue(v: Value): string | string[] {
  if (v instanceof RosArray) return v.values().map(valueToString);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return valueToString(v);
}

/** API/REST records of a print: `.id` first, then properties alphabetically, values as strings. */
export function printRecords(print: PrintOutput): Array<Record<string, string>> {
  const { menu, ctx } = print;
  const props = menu.properties
    .filter((p) => visible(p, print) && (!print.proplist || print.proplist.includes(p.name)))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return print.rows.map((row) => {
    const rec: Record<string, string> = {};
    if (menu.kind === 'list' && (!print.proplist || print.proplist.includes('.id'))) rec['.id'] = new ItemId(row.id).toString();
    for (const p of props) {
      const v = shownValue(p, row, print);
      if (v === undefined || v === null) continue;
      rec[p.name] = p.type.api(v, ctx);
    }
    return rec;
  });
}

/** API string form of a typed value (`!done =ret=`, monitor sections). */
export function apiString(v: Value): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return valueToString(v);
}
