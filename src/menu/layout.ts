// RouterOS v7 console print layouts, byte for byte: tables (`print`), `print detail`,
// `print terse`, `print value-list` and right-aligned `key: value` blocks (settings, monitors,
// the import summary). Spec: routeros-certificate.md §3.2–§3.6 (§3.6 wins where they disagree),
// §4.1 (settings block), §1.7 (import summary), §10.1/§10.2 (service and file tables).
//
// Pure functions over strings. Callers turn stored values into display text (and decide which
// properties appear, e.g. omitting empty optional ones in detail); this module only lays text out.
// Every function returns whole lines, each ending in '\n', or '' when there is nothing to print.
//
// Choices made where the spec is UNCONFIRMED (each is marked at the place it is implemented):
//  * "fits the terminal": a line fits when its length, trailing spaces included, is <= width.
//  * an empty list prints nothing in any layout: no `Flags:`, no `Columns:`, no header (issue 12).
//  * `;;; comment`: tables put it on its own line at column 0 (§3.6 rule 7); detail puts it after
//    the index and flag block and starts the properties on the next line (§3.3 rule 7);
//    terse writes it as a leading `comment=` pair.
//  * show-ids: `*` header and internal ids are left-aligned in the index column (the only v7
//    sample, `*       NAME` over `*1 KAET local-root-cert`, needs that).

/** One flag of a menu. `title` is the upper-case legend name: `PRIVATE-KEY`. */
export interface LayoutFlag {
  readonly letter: string;
  readonly title: string;
}

/** Flags that share one column of the flag block (never set together), e.g. [I, R]. */
export type FlagColumn = LayoutFlag[];

export interface LayoutCell {
  /** Property name, lower-case: `common-name`. Tables upper-case it for the header. */
  readonly name: string;
  /** Display text. In tables a '\n' puts further values on continuation lines (§3.6 rule 7). */
  readonly text: string;
  /** Detail mode writes the value as a console string: `"…"` with escapes. */
  readonly quoted: boolean;
  /** Right-aligned in tables. (Tables take alignment from the column, see TableColumn.) */
  readonly numeric: boolean;
}

export interface LayoutRow {
  /** Row number `0`, `12`; internal id `*1A` with show-ids; '' for a dynamic row (blank). */
  readonly index: string;
  /** Letters of the flags set on this row, e.g. `KAT`. Case matters (`a` ≠ `A`). */
  readonly flags: string;
  readonly comment?: string;
  readonly cells: readonly LayoutCell[];
}

export interface TableColumn {
  readonly name: string;
  readonly numeric: boolean;
}

/**
 * How a table legend names the flags of a column that occurs in the rows:
 *  * `present` (7.2x, default): only the flags that occur — `I - ISSUED` when no row is revoked.
 *  * `column`: every flag of the column — `X - DISABLED, I - INVALID` with only X rows.
 *  * `column-short` (7.3.1–7.9.2): every flag of the column, but only the last one of a shared
 *    column has its name — `Flags: X, I - INVALID`, `I, R - REVOKED`.
 */
export type LegendStyle = 'present' | 'column' | 'column-short';

export interface TableSpec {
  readonly flagColumns: readonly FlagColumn[];
  readonly columns: readonly TableColumn[];
  readonly rows: readonly LayoutRow[];
  readonly showIds: boolean;
  /** Terminal width. */
  readonly width: number;
  readonly legendStyle?: LegendStyle;
  /** Rows only: the legend, `Columns:` and header were printed above already (print follow). */
  readonly headless?: boolean;
}

export interface DetailSpec {
  readonly flagColumns: readonly FlagColumn[];
  readonly rows: readonly LayoutRow[];
  readonly width: number;
  readonly showIds: boolean;
  /** Items only: the legend was printed above already (print follow). */
  readonly headless?: boolean;
}

export interface TerseSpec {
  readonly flagColumns: readonly FlagColumn[];
  readonly rows: readonly LayoutRow[];
  readonly showIds: boolean;
}

export interface ValueListSpec {
  /** Property names, one output line each, in this order. */
  readonly properties: readonly string[];
  readonly rows: readonly LayoutRow[];
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

/** A line fits the terminal when its full length (trailing spaces included) is <= width. */
function fits(line: string, width: number): boolean {
  return line.length <= width;
}

function joinLines(lines: readonly string[]): string {
  return lines.map((line) => line + '\n').join('');
}

/**
 * The flag shown for `row` in one flag column, or undefined. A flag that joins a column is a state
 * that supersedes the one it joins, so the last flag set wins: a revoked issued certificate
 * shows R, not I (spec §3.1; RouterOS shows `R` there, issue 12).
 */
function shownFlag(column: readonly LayoutFlag[], flags: string): string | undefined {
  for (let i = column.length - 1; i >= 0; i--) if (flags.includes(column[i]!.letter)) return column[i]!.letter;
  return undefined;
}

/** shownFlag as the column's text: blank where none is set. */
function flagChar(column: readonly LayoutFlag[], flags: string): string {
  return (shownFlag(column, flags) ?? '').padEnd(columnWidth(column));
}

/**
 * A flag column is as wide as its longest flag: one place, or two for the two-letter flags of
 * /interface ovpn-client (`Ta`, `Tc`: services spec §2.4, CLI-REF spelling).
 */
function columnWidth(column: readonly LayoutFlag[]): number {
  return maxLength(column.map((flag) => flag.letter), 1);
}

/** The width of the flag block of these columns. */
function blockWidth(columns: readonly FlagColumn[]): number {
  return columns.reduce((sum, column) => sum + columnWidth(column), 0);
}

/** The flags a row shows, one per column where one is set (`Ta` is one flag). */
export function shownFlags(columns: readonly FlagColumn[], flags: string): string[] {
  return columns.map((column) => shownFlag(column, flags)).filter((f): f is string => f !== undefined);
}

/** The flag letters a row shows, one place per column (blank where none is set). */
export function flagBlock(columns: readonly FlagColumn[], flags: string): string {
  return columns.map((column) => flagChar(column, flags)).join('');
}

/** Row numbers are right-aligned; internal ids (show-ids) are left-aligned like their `*`. */
function alignIndex(index: string, width: number, showIds: boolean): string {
  return showIds ? index.padEnd(width) : index.padStart(width);
}

function maxLength(texts: Iterable<string>, min = 0): number {
  let max = min;
  for (const text of texts) max = Math.max(max, text.length);
  return max;
}

/**
 * The `Flags:` legend, one group per flag column (`I - ISSUED, R - REVOKED`), groups joined by
 * `; `. Wrapped at the terminal width between groups, continuation lines in column 0 (§3.2:
 * the 80-column detail legend breaks after `A - AUTHORITY;` and after `a - ACME-MANAGED;`).
 * Detail mode ends every line with one space; table mode has no trailing space.
 */
function legendLines(groups: readonly string[], width: number, trailingSpace: boolean): string[] {
  const tail = trailingSpace ? ' ' : '';
  const tokens = groups.map((group, i) => (i < groups.length - 1 ? group + ';' : group));
  const lines: string[] = [];
  let current = 'Flags: ' + tokens[0];
  for (const token of tokens.slice(1)) {
    const candidate = current + ' ' + token;
    if (fits(candidate + tail, width)) {
      current = candidate;
    } else {
      lines.push(current + tail);
      current = token;
    }
  }
  lines.push(current + tail);
  return lines;
}

function legendEntry(flag: LayoutFlag): string {
  return `${flag.letter} - ${flag.title}`;
}

// ---------------------------------------------------------------------------------------------
// Console strings

/**
 * A value as a console string literal for `print detail`: `"…"` with `\\`, `\"`, `\n`, `\r`,
 * `\t` escaped and every other control byte or non-ASCII (UTF-8) byte as `\XX` upper-case hex,
 * the way RouterOS shows non-ASCII comments (`\D0\9F…`). `$` and `?` are left alone: print shows
 * values, it does not produce re-parsable script (export does that).
 */
export function quoteConsoleString(s: string): string {
  let out = '"';
  for (const byte of Buffer.from(s, 'utf8')) {
    if (byte === 0x5c) out += '\\\\';
    else if (byte === 0x22) out += '\\"';
    else if (byte === 0x0a) out += '\\n';
    else if (byte === 0x0d) out += '\\r';
    else if (byte === 0x09) out += '\\t';
    else if (byte < 0x20 || byte >= 0x7f) out += '\\' + byte.toString(16).toUpperCase().padStart(2, '0');
    else out += String.fromCharCode(byte);
  }
  return out + '"';
}

/** Control characters a terminal would act on (CSI `ESC[`, OSC `ESC]`, C1 `\x9b`, BEL, CR…). */
const TERMINAL_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
const TERMINAL_CONTROL_OR_NEWLINE = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

/**
 * Unquoted text of a table, terse line or `key: value` block with each control character as
 * its `\XX` bytes, as print detail quotes them: a value from a peer (a DNS answer in the cache,
 * a certificate's subject) or a lesser user (a script's name) never drives the terminal of
 * whoever prints it. Newlines stay where a layout splits lines on them (table cells).
 */
export function printable(text: string, keepNewlines = false): string {
  return text.replace(keepNewlines ? TERMINAL_CONTROL : TERMINAL_CONTROL_OR_NEWLINE,
    (c) => [...Buffer.from(c, 'utf8')].map((b) => `\\${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

// ---------------------------------------------------------------------------------------------
// Tables

function tableLegendGroups(
  columns: readonly FlagColumn[],
  rows: readonly LayoutRow[],
  style: LegendStyle,
): string[] {
  const groups: string[] = [];
  for (const column of columns) {
    // A flag occurs when a row shows it (a revoked issued row shows R only).
    const shown = new Set(rows.map((row) => shownFlag(column, row.flags)));
    const occurs = (flag: LayoutFlag) => shown.has(flag.letter);
    if (!column.some(occurs)) continue;
    if (style === 'present') {
      groups.push(column.filter(occurs).map(legendEntry).join(', '));
    } else if (style === 'column') {
      groups.push(column.map(legendEntry).join(', '));
    } else {
      const last = column.length - 1;
      groups.push(column.map((flag, i) => (i < last ? flag.letter : legendEntry(flag))).join(', '));
    }
  }
  return groups;
}

/**
 * A v7 table (§3.4, §3.6 rules 1–7):
 *
 *     Flags: K - PRIVATE-KEY; A - AUTHORITY; I - ISSUED; T - TRUSTED
 *     Columns: NAME, TRUST-STORE, COMMON-NAME, SUBJECT-ALT-NAME, SKID
 *     #      NAME                     TRU  COMMON-NAME  …
 *     0 KA T sstp-korona-ca           all  korona-ca    …
 *
 * The legend and flag block cover only the flag columns that occur in the rows; columns empty
 * in every row are dropped; every cell is padded, the last one too. Numeric values are
 * right-aligned under a left-aligned header (the 7.2x /file capture: `SIZE` over `1188` and
 * `293.0KiB`). When the table is wider than the terminal, headers wider than their values are
 * cut to the value width, from the last column backwards, until it fits. No rows: nothing at all
 * (§3.4 rule 7; issue 12: an empty list prints nothing).
 */
export function formatTable(spec: TableSpec): string {
  const { rows, showIds } = spec;
  if (rows.length === 0) return '';

  // Cell text of each row per declared column, split into physical lines.
  const cellLines = (row: LayoutRow, name: string): string[] =>
    printable(row.cells.find((cell) => cell.name === name)?.text ?? '', true).split('\n');
  const columns = spec.columns
    .map((column) => ({
      column,
      header: column.name.toUpperCase(),
      values: rows.map((row) => cellLines(row, column.name)),
    }))
    .filter(({ values }) => values.some((lines) => lines.some((line) => line !== '')));

  const flagColumns = spec.flagColumns.filter((column) =>
    column.some((flag) => rows.some((row) => row.flags.includes(flag.letter))),
  );
  const indexWidth = maxLength(rows.map((row) => row.index), 1);
  const prefixWidth = indexWidth + 1 + (flagColumns.length > 0 ? blockWidth(flagColumns) + 1 : 0);

  const valueWidths = columns.map(({ values }) => maxLength(values.flat()));
  const widths = columns.map(({ header }, i) => Math.max(header.length, valueWidths[i]!));
  const tableWidth = () => prefixWidth + widths.reduce((sum, w) => sum + w, 0) + 2 * (widths.length - 1);
  // Narrow terminal: cut over-long headers to their value width, last column first (§3.6 rule 5).
  for (let i = widths.length - 1; i >= 0 && tableWidth() > spec.width; i--) {
    widths[i] = valueWidths[i]!;
  }

  const padValue = (text: string, i: number) =>
    columns[i]!.column.numeric ? text.padStart(widths[i]!) : text.padEnd(widths[i]!);
  const padHeader = (text: string, i: number) => text.padEnd(widths[i]!);
  const line = (index: string, flags: string, cells: readonly string[], pad = padValue) =>
    [index, ...(flagColumns.length > 0 ? [flags] : []), cells.map(pad).join('  ')].join(' ');

  const lines: string[] = [];
  const legend = tableLegendGroups(spec.flagColumns, rows, spec.legendStyle ?? 'present');
  if (legend.length > 0 && !spec.headless) lines.push(...legendLines(legend, spec.width, false));
  if (columns.length > 0 && !spec.headless) lines.push('Columns: ' + columns.map(({ header }) => header).join(', '));
  if (!spec.headless) {
    lines.push(
      line(
        alignIndex(showIds ? '*' : '#', indexWidth, showIds),
        ' '.repeat(blockWidth(flagColumns)),
        columns.map(({ header }, i) => header.slice(0, widths[i])),
        padHeader,
      ),
    );
  }
  rows.forEach((row, r) => {
    // v7 prints the comment on its own line above the row, with no index (§3.6 rule 7).
    if (row.comment) lines.push(';;; ' + printable(row.comment));
    const height = Math.max(1, ...columns.map(({ values }) => values[r]!.length));
    for (let k = 0; k < height; k++) {
      lines.push(
        line(
          k === 0 ? alignIndex(row.index, indexWidth, showIds) : ' '.repeat(indexWidth),
          k === 0 ? flagBlock(flagColumns, row.flags) : ' '.repeat(blockWidth(flagColumns)),
          columns.map(({ values }) => values[r]![k] ?? ''),
        ),
      );
    }
  });
  return joinLines(lines);
}

// ---------------------------------------------------------------------------------------------
// Detail and terse

/** Index field of detail/terse: right-aligned, at least 2 wide (§3.3 rule 1). */
function itemIndexWidth(rows: readonly LayoutRow[]): number {
  return maxLength(rows.map((row) => row.index), 2);
}

function itemHead(row: LayoutRow, spec: { flagColumns: readonly FlagColumn[]; showIds: boolean }, indexWidth: number): string {
  const index = alignIndex(row.index, indexWidth, spec.showIds);
  return spec.flagColumns.length > 0 ? `${index} ${flagBlock(spec.flagColumns, row.flags)} ` : `${index} `;
}

/**
 * `print detail` (§3.3, §3.6 rules 8–9): the full legend with a trailing space, then per item the
 * index, the flag block with every flag column and `name=value` pairs, wrapped between pairs at
 * the terminal width with continuation lines indented to the first pair; every physical line
 * ends with one space; items separated by one empty line. Menus without flags have no legend
 * and properties start in column 3. No rows: nothing, not even the legend (issue 12: an empty
 * `/system script print` printed its `Flags:` line).
 */
export function formatDetail(spec: DetailSpec): string {
  if (spec.rows.length === 0) return '';
  // Items that follow earlier ones (print follow) are set off from them by the empty line that
  // separates items; the legend stands above the first only.
  const lines: string[] = spec.headless ? [''] : [];
  if (spec.flagColumns.length > 0 && !spec.headless) {
    const groups = spec.flagColumns.map((column) => column.map(legendEntry).join(', '));
    lines.push(...legendLines(groups, spec.width, true));
  }
  const indexWidth = itemIndexWidth(spec.rows);
  const indent = ' '.repeat(indexWidth + 1 + (spec.flagColumns.length > 0 ? blockWidth(spec.flagColumns) + 1 : 0));
  spec.rows.forEach((row, r) => {
    if (r > 0) lines.push('');
    let current = itemHead(row, spec, indexWidth);
    if (row.comment) {
      // ` 0   ;;; comment` then the properties on the next line (§3.3 rule 7); no trailing
      // space after the comment (UNCONFIRMED).
      lines.push(current + ';;; ' + printable(row.comment));
      current = indent;
    }
    let empty = true;
    for (const cell of row.cells) {
      const pair = `${cell.name}=${cell.quoted ? quoteConsoleString(cell.text) : printable(cell.text)}`;
      if (empty) {
        current += pair;
        empty = false;
      } else if (fits(current + ' ' + pair + ' ', spec.width)) {
        current += ' ' + pair;
      } else {
        lines.push(current + ' ');
        current = indent + pair;
      }
    }
    if (!empty) lines.push(current + ' ');
    else if (!row.comment) lines.push(current);
  });
  return joinLines(lines);
}

/**
 * `print terse` (§3.5, §3.6 rule 9): one line per item — index, flag block with every flag
 * column, `name=value` pairs unquoted — never wrapped, no trailing space. A comment is written
 * as a leading `comment=` pair.
 */
export function formatTerse(spec: TerseSpec): string {
  const indexWidth = itemIndexWidth(spec.rows);
  return joinLines(
    spec.rows.map((row) => {
      const pairs = row.cells.map((cell) => `${cell.name}=${printable(cell.text)}`);
      if (row.comment) pairs.unshift(`comment=${printable(row.comment)}`);
      const head = itemHead(row, spec, indexWidth);
      return pairs.length > 0 ? head + pairs.join(' ') : head.trimEnd();
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// key: value blocks

/**
 * Right-aligned `key: value` block (§3.6 rules 10–11, §4.1, §1.7): keys right-aligned on the
 * colon with a 2-space margin before the longest key; every value padded with trailing spaces
 * to the widest value; list values one element per line under the value column.
 *
 *          certificates-imported: 2
 *       keys-with-no-certificate: 0
 */
export function formatKeyValue(pairs: ReadonlyArray<readonly [string, string | readonly string[]]>): string {
  if (pairs.length === 0) return '';
  const values = pairs.map(([, value]): readonly string[] =>
    (typeof value === 'string' ? [value] : value.length > 0 ? value : ['']).map((v) => printable(v)),
  );
  const keyWidth = maxLength(pairs.map(([key]) => key));
  const valueWidth = maxLength(values.flat());
  const lines: string[] = [];
  pairs.forEach(([key], i) => {
    values[i]!.forEach((value, k) => {
      const lead = k === 0 ? `${key.padStart(keyWidth + 2)}: ` : ' '.repeat(keyWidth + 4);
      lines.push(lead + value.padEnd(valueWidth));
    });
  });
  return joinLines(lines);
}

/**
 * `print value-list`: one line per property, items as columns. Layout UNCONFIRMED (no capture):
 * keys as in formatKeyValue, then each item's value padded to that item's widest value, items
 * separated by two spaces like table columns.
 */
export function formatValueList(spec: ValueListSpec): string {
  if (spec.rows.length === 0 || spec.properties.length === 0) return '';
  const text = (row: LayoutRow, name: string) => printable(row.cells.find((cell) => cell.name === name)?.text ?? '');
  const widths = spec.rows.map((row) => maxLength(spec.properties.map((name) => text(row, name))));
  const keyWidth = maxLength(spec.properties);
  return joinLines(
    spec.properties.map(
      (name) =>
        `${name.padStart(keyWidth + 2)}: ` +
        spec.rows.map((row, i) => text(row, name).padEnd(widths[i]!)).join('  '),
    ),
  );
}
