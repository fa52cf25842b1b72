// The pages of the web interface, drawn from the menu declarations and the executor's results:
// a list menu is the table `print` shows (same columns, flags and cells: render.ts tableModel),
// an item is what `print detail` shows (detailModel) with its edit form (the `set` command's
// arguments), every other command is a form of its declared arguments. Nothing here knows a
// menu: menus added later (ACME, SCEP) appear with their own columns, flags and commands.

import { flagColumns, type TableModel } from '../../menu/render.js';
import { shownFlags, type LayoutRow } from '../../menu/layout.js';
import type { RemovalEffects } from '../../menu/generic.js';
import type { ArgDecl, CommandDecl, MenuDecl, TypeContext } from '../../menu/types.js';
import { esc, menuUrl, query } from './html.js';
import { fieldHtml, isItemsArg, type FieldState } from './forms.js';

/** Rows a list page shows at once; the rest are a page away (10,000 certificates stay fast). */
export const PAGE_SIZE = 100;

export interface ListQuery {
  /** Text every shown row contains in one of its cells (any case). */
  q: string;
  /** `K`: rows with the flag; `-K`: rows without it. */
  flag: string;
  /** Column to sort by ('' = the menu's own order). */
  sort: string;
  desc: boolean;
  page: number;
}

export function listQuery(params: URLSearchParams): ListQuery {
  const page = Number(params.get('page') ?? 0);
  return {
    q: params.get('q') ?? '', flag: params.get('flag') ?? '', sort: params.get('sort') ?? '', desc: params.get('dir') === 'desc',
    page: Number.isInteger(page) && page >= 0 ? page : 0,
  };
}

const FORM_HIDDEN_ARGS = new Set(['as-value']);

/** The arguments a form offers: not `as-value` (the page shows results its own way), nor those needing a policy the user lacks. */
export function formArgsOf(command: CommandDecl, can: (policy: string) => boolean): ArgDecl[] {
  return command.args.filter((a) => !FORM_HIDDEN_ARGS.has(a.name) && (!a.policy || can(a.policy)));
}

/** A command acting on items of a list (its first positional argument is the item list). */
export const isItemCommand = (c: CommandDecl): boolean => c.args.some(isItemsArg);

/** Commands the page never offers: reading verbs (the page itself shows them) and console-only ones. */
const NOT_OFFERED = new Set(['print', 'get', 'find', 'unset', 'comment', 'move', 'edit', 'export']);

export function offered(commands: readonly CommandDecl[], can: (c: CommandDecl) => boolean): CommandDecl[] {
  return commands.filter((c) => !NOT_OFFERED.has(c.name) && can(c));
}

const numberOf = (text: string): number => {
  const m = /^-?\d+(\.\d+)?/.exec(text.trim());
  return m ? Number(m[0]) : NaN;
};

/** The rows of a table print after filter and sort: indexes into model.rows. */
export function selectRows(model: TableModel, q: ListQuery): number[] {
  const needle = q.q.toLowerCase();
  const without = q.flag.startsWith('-');
  const letter = without ? q.flag.slice(1) : q.flag;
  let idx = model.rows.map((_, i) => i).filter((i) => {
    const row = model.rows[i]!;
    if (letter && row.flags.includes(letter) === without) return false;
    if (needle && !row.cells.some((c) => c.text.toLowerCase().includes(needle)) && !(row.comment ?? '').toLowerCase().includes(needle)) return false;
    return true;
  });
  const col = model.columns.findIndex((c) => c.name === q.sort);
  if (col >= 0) {
    const numeric = model.columns[col]!.numeric;
    const key = (i: number) => model.rows[i]!.cells[col]?.text ?? '';
    idx = idx.sort((a, b) => {
      const ka = key(a), kb = key(b);
      if (numeric) {
        const d = (numberOf(ka) || 0) - (numberOf(kb) || 0);
        if (d !== 0) return d;
      }
      return ka < kb ? -1 : ka > kb ? 1 : a - b;
    });
  } else if (q.sort === 'flags') {
    idx = idx.sort((a, b) => model.rows[a]!.flags.localeCompare(model.rows[b]!.flags) || a - b);
  }
  if (q.desc) idx.reverse();
  return idx;
}

function flagTitles(menu: MenuDecl): Map<string, string> {
  return new Map(flagColumns(menu).flat().map((f) => [f.letter, f.title] as const));
}

/** The letters the console shows (one per flag column: a revoked issued certificate shows R, not I), spelled out for screen readers. */
function flagCell(model: TableModel, row: LayoutRow, titles: Map<string, string>): string {
  const shown = shownFlags(model.flagColumns, row.flags);
  if (shown.length === 0) return '<td class="flags"></td>';
  const title = shown.map((l) => titles.get(l) ?? l).join(', ');
  return `<td class="flags"><abbr title="${esc(title)}" aria-label="${esc(title)}">${esc(shown.join(''))}</abbr></td>`;
}

/** The table of a list menu with its filter, sort links, paging and flag legend. */
export function listTable(menu: MenuDecl, model: TableModel, ids: readonly number[], q: ListQuery): string {
  const titles = flagTitles(menu);
  const selected = selectRows(model, q);
  const pages = Math.max(1, Math.ceil(selected.length / PAGE_SIZE));
  const pageNo = Math.min(q.page, pages - 1);
  const shown = selected.slice(pageNo * PAGE_SIZE, (pageNo + 1) * PAGE_SIZE);
  const base = { q: q.q, flag: q.flag, sort: q.sort, dir: q.desc ? 'desc' : undefined };
  const sortLink = (name: string, label: string) => {
    const active = q.sort === name;
    const next = active && !q.desc ? 'desc' : undefined;
    const ariaSort = active ? ` aria-sort="${q.desc ? 'descending' : 'ascending'}"` : '';
    return `<th scope="col"${ariaSort}><a href="${esc(query({ ...base, sort: name, dir: next, page: undefined }))}">${esc(label)}${active ? (q.desc ? ' ▼' : ' ▲') : ''}</a></th>`;
  };
  const keyCol = menu.key ? model.columns.findIndex((c) => c.name === menu.key) : -1;
  const head = `<tr>${sortLink('', '#')}${model.flagColumns.length ? sortLink('flags', 'Flags') : ''}${model.columns.map((c) => sortLink(c.name, c.name.toUpperCase())).join('')}</tr>`;
  const body = shown.map((i) => {
    const row = model.rows[i]!;
    const href = esc(query({ item: `*${ids[i]!.toString(16).toUpperCase()}` }));
    const cells = model.columns.map((c, ci) => {
      const cell = row.cells[ci]!;
      const text = esc(cell.text).replace(/\n/g, '<br>');
      const content = ci === keyCol || (keyCol < 0 && ci === 0) ? `<a href="${href}">${text || esc('(unnamed)')}</a>` : text;
      const comment = ci === Math.max(0, keyCol) && row.comment ? `<span class="comment">;;; ${esc(row.comment)}</span>` : '';
      return `<td${c.numeric ? ' class="num"' : ''}>${content}${comment}</td>`;
    }).join('');
    return `<tr><td class="idx">${model.columns.length === 0 ? `<a href="${href}">${esc(row.index)}</a>` : esc(row.index)}</td>${model.flagColumns.length ? flagCell(model, row, titles) : ''}${cells}</tr>`;
  }).join('\n');
  const flagOptions = model.flagColumns.flat().map((f) => `<option value="${esc(f.letter)}"${q.flag === f.letter ? ' selected' : ''}>${esc(`${f.letter} — ${f.title}`)}</option>`
    + `<option value="-${esc(f.letter)}"${q.flag === `-${f.letter}` ? ' selected' : ''}>${esc(`not ${f.letter} — ${f.title}`)}</option>`).join('');
  const filter = `<form class="filter" method="get" role="search" aria-label="Filter ${esc(menu.path)}">
<label for="q">Filter</label><input id="q" name="q" type="search" value="${esc(q.q)}" placeholder="text in any column">
${model.flagColumns.length ? `<label for="flag">Flag</label><select id="flag" name="flag" data-autosubmit><option value="">any</option>${flagOptions}</select>` : ''}
${q.sort ? `<input type="hidden" name="sort" value="${esc(q.sort)}">` : ''}${q.desc ? '<input type="hidden" name="dir" value="desc">' : ''}
<button type="submit">Apply</button>${q.q || q.flag ? ` <a href="${esc(query({ sort: q.sort, dir: q.desc ? 'desc' : undefined }))}">Clear</a>` : ''}</form>`;
  const from = selected.length === 0 ? 0 : pageNo * PAGE_SIZE + 1;
  const count = `<p class="count" role="status">${selected.length === model.rows.length ? `${model.rows.length} items` : `${selected.length} of ${model.rows.length} items match`}${pages > 1 ? `, showing ${from}–${pageNo * PAGE_SIZE + shown.length}` : ''}</p>`;
  const pager = pages > 1 ? `<nav class="pager" aria-label="Pages">${pageNo > 0 ? `<a href="${esc(query({ ...base, page: pageNo - 1 }))}" rel="prev">← Previous</a>` : ''}`
    + ` <span>page ${pageNo + 1} of ${pages}</span> ${pageNo < pages - 1 ? `<a href="${esc(query({ ...base, page: pageNo + 1 }))}" rel="next">Next →</a>` : ''}</nav>` : '';
  const legend = model.flagColumns.length ? `<p class="legend">Flags: ${model.flagColumns.flat().map((f) => `${esc(f.letter)} - ${esc(f.title)}`).join('; ')}</p>` : '';
  return `${filter}${count}<div class="table-wrap"><table id="items" data-rows="${shown.length}"><caption class="sr">${esc(menu.path)}</caption><thead>${head}</thead><tbody>
${body}
</tbody></table></div>${pager}${legend}`;
}

/** `key: value` pairs (detail, a command's block). */
export function pairs(cells: ReadonlyArray<{ name: string; text: string }>): string {
  return `<dl class="pairs">${cells.map((c) => `<dt>${esc(c.name)}</dt><dd>${esc(c.text) || '<span class="empty">""</span>'}</dd>`).join('')}</dl>`;
}

/** What `print detail` shows for one row, flags spelled out. */
export function detailView(menu: MenuDecl, row: LayoutRow): string {
  const titles = flagTitles(menu);
  const shown = shownFlags(flagColumns(menu), row.flags);
  const flags = shown.length > 0 ? `<p class="flags-line">Flags: ${shown.map((l) => `<span class="flag"><b>${esc(l)}</b> ${esc(titles.get(l) ?? '')}</span>`).join(' ')}</p>` : '';
  const comment = row.comment ? `<p class="comment">;;; ${esc(row.comment)}</p>` : '';
  return `${flags}${comment}${pairs(row.cells)}`;
}

export interface FormSpec {
  menu: MenuDecl;
  command: CommandDecl;
  args: readonly ArgDecl[];
  states: ReadonlyMap<string, FieldState>;
  csrf: string;
  /** Where the form posts (the menu page with ?run=). */
  action: string;
  submit: string;
  /** Form-level error (one no field is named in). */
  error?: string;
  ctx: TypeContext;
  /** A command that may take long (sign: RSA key generation): a live progress line. */
  progress?: boolean;
}

export function commandForm(f: FormSpec): string {
  const fields = f.args.map((a) => fieldHtml(a, f.states.get(a.name) ?? {}, f.ctx)).join('\n');
  const err = f.error ? `<p class="err form-err" role="alert">${esc(f.error)}</p>` : '';
  return `<form class="cmd" method="post" action="${esc(f.action)}" data-command="${esc(f.command.name)}"${f.progress ? ' data-progress' : ''}>
<input type="hidden" name="_csrf" value="${esc(f.csrf)}">${err}
${fields}
<div class="actions"><button type="submit" class="primary">${esc(f.submit)}</button></div>
<output class="progress" aria-live="polite"></output>
</form>`;
}

/** What a remove will also do (the cascade and the bindings that become none), before it is confirmed. */
export function removalNotice(effects: RemovalEffects): string {
  const parts: string[] = [];
  if (effects.refusedBy) parts.push(`<p class="err" role="alert">The removal will be refused: ${esc(effects.refusedBy)}</p>`);
  if (effects.removed.length) {
    parts.push(`<p>This also removes ${effects.removed.length} more:</p><ul class="effects">${effects.removed.map((r) => `<li>${esc(r.path.slice(1))} <strong>${esc(r.name)}</strong></li>`).join('')}</ul>`);
  }
  if (effects.unbound.length) {
    parts.push(`<p>These lose their ${esc([...new Set(effects.unbound.map((u) => u.property))].join(', '))} (it becomes none):</p><ul class="effects">${effects.unbound.map((u) => `<li>${esc(u.path.slice(1))} <strong>${esc(u.name)}</strong> (${esc(u.property)})${u.disabled ? ', and is disabled' : ''}</li>`).join('')}</ul>`);
  }
  if (parts.length === 0) parts.push('<p>Nothing else refers to it.</p>');
  return `<section class="notice" aria-label="What else changes">${parts.join('')}</section>`;
}

/** Buttons for a row's commands: each opens its form (a GET with the item filled in). */
export function commandButtons(path: string, commands: readonly CommandDecl[], item?: string): string {
  if (commands.length === 0) return '';
  return `<ul class="toolbar" aria-label="Commands">${commands.map((c) => `<li><a class="button${c.name === 'remove' ? ' danger' : ''}" href="${esc(menuUrl(path) + query({ run: c.name, numbers: item }))}" title="${esc(c.help ?? '')}">${esc(c.name)}</a></li>`).join('')}</ul>`;
}

/** The page's links to other menus: sub-menus of a menu, or a directory's. */
export function menuLinks(path: string, children: readonly string[]): string {
  if (children.length === 0) return '';
  return `<ul class="submenus" aria-label="Sub-menus">${children.map((c) => `<li><a href="${esc(menuUrl(path === '/' ? `/${c}` : `${path}/${c}`))}">${esc(c)}</a></li>`).join('')}</ul>`;
}

export function loginForm(opts: { next: string; error?: string; user?: string; csrfless?: boolean }): string {
  const err = opts.error ? `<p class="err" role="alert" id="login-err">${esc(opts.error)}</p>` : '';
  return `<form class="login" method="post" action="/webfig/.login"${opts.error ? ' aria-describedby="login-err"' : ''}>
<h1>Log in</h1>${err}
<input type="hidden" name="next" value="${esc(opts.next)}">
<div class="field"><label for="user">Login</label><input id="user" name="user" autocomplete="username" value="${esc(opts.user ?? '')}" required autofocus></div>
<div class="field"><label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password"></div>
<div class="actions"><button type="submit" class="primary">Log in</button></div>
</form>`;
}
