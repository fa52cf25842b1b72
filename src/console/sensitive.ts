// Does a console line carry a sensitive argument? RouterOS keeps such lines out of the console
// history (`/certificate export-certificate … export-passphrase=…`, `/user set admin password=…`),
// and so does every rospki terminal: the local console, consoles of the daemon and SSH shells.
//
// The answer comes from the menu declarations, never from a list kept here: an argument declared
// `sensitive` (passphrase=, export-passphrase=, key-passphrase=, /tool fetch password=), or one
// that sets a property declared `sensitive` or write-only (a user's password=, never shown). The
// line is read by the console parser and its commands are resolved in the registry like the
// interpreter does (menus and commands by unique prefix, arguments by unique prefix, unnamed
// arguments by position), so `export-pass=x` and a sensitive positional argument count too.
// A line that does not parse or resolve (a typo, `:execute "…"` text) is judged by its words:
// the full name of any sensitive argument followed by `=` anywhere hides it.

import type { ArgDecl, CommandDecl, MenuDecl } from '../menu/types.js';
import type { ArgItem, Expr, Stmt } from './ast.js';
import { parse } from './parser.js';

/** The part of the menu registry this needs (src/menu/registry.ts). */
export interface MenuTree {
  menu(path: string): MenuDecl | undefined;
  children(path: string): string[];
  commands(path: string): CommandDecl[];
  all(): MenuDecl[];
}

/** Whether `line`, typed at the menu `path`, gives a value to a sensitive argument. */
export function carriesSensitiveArgument(line: string, registry: MenuTree, path = '/'): boolean {
  // A password inside a URL (`url=sftp://user:secret@host/`, RFC 3986 §3.2.1 userinfo), in any
  // argument or string: /tool fetch takes its credentials from the URL as well.
  if (URL_WITH_PASSWORD.test(line)) return true;
  const { words } = sensitiveNames(registry);
  if (words.test(line)) return true;
  let body: Stmt[];
  try {
    body = parse(line).body;
  } catch {
    return false; // judged by its words above
  }
  return new Walker(registry).statements(body, path);
}

/** `scheme://user:password@`: a URL that carries a password in its userinfo. */
const URL_WITH_PASSWORD = /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/?#@:"]*:[^\s/?#@"]*@/;

/** The path a console prompt shows (`[admin@MikroTik] /certificate> ` → `/certificate`; see ConsoleSession.prompt). */
export function promptPath(prompt: string): string {
  return /\] (\/[^\s>]*)> $/.exec(prompt)?.[1] ?? '/';
}

function isSensitive(menu: MenuDecl | undefined, arg: ArgDecl): boolean {
  if (arg.sensitive) return true;
  const prop = menu?.properties.find((p) => p.name === arg.name);
  return !!prop && (prop.sensitive === true || prop.access === 'wo');
}

const namesCache = new WeakMap<MenuTree, { words: RegExp }>();

/** Every sensitive argument name of the registry, as one pattern of `name=` words. */
function sensitiveNames(registry: MenuTree): { words: RegExp } {
  let hit = namesCache.get(registry);
  if (!hit) {
    const names = new Set<string>();
    for (const menu of registry.all()) {
      for (const command of registry.commands(menu.path)) {
        for (const arg of command.args) if (isSensitive(menu, arg)) names.add(arg.name);
      }
    }
    const alternatives = [...names].map((n) => n.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')).join('|');
    // A name starts after a blank or a bracket, never inside a longer word (`my-password=`).
    hit = { words: names.size ? new RegExp(`(?:^|[^A-Za-z0-9_-])(?:${alternatives})=`) : /(?!)/ };
    namesCache.set(registry, hit);
  }
  return hit;
}

const joinPath = (base: string, name: string): string => (base === '/' ? `/${name}` : `${base}/${name}`);
const parentPath = (path: string): string => (path.lastIndexOf('/') <= 0 ? '/' : path.slice(0, path.lastIndexOf('/')));

/** Exact name, else the only one it is a prefix of (the console's abbreviation rule). */
function matchName<T extends { name: string }>(input: string, items: readonly T[]): T | undefined {
  const exact = items.find((i) => i.name === input);
  if (exact) return exact;
  const hits = items.filter((i) => i.name.startsWith(input));
  return hits.length === 1 ? hits[0] : undefined;
}

class Walker {
  constructor(private readonly registry: MenuTree) {}

  /** Statements of one block; a bare path (`/certificate`) moves the following ones there. */
  statements(body: readonly Stmt[], start: string): boolean {
    let path = start;
    for (const stmt of body) {
      if (stmt.kind === 'block') {
        if (this.statements(stmt.body, path)) return true;
        continue;
      }
      const r = this.command(stmt.items, path);
      if (r.sensitive) return true;
      if (r.cd !== undefined) path = r.cd;
      for (const item of stmt.items) if (item.kind !== 'unset' && this.expr(item.value, r.inner ?? path)) return true;
      if (stmt.where && this.expr(stmt.where.expr, r.inner ?? path)) return true;
    }
    return false;
  }

  /** Nested code: `[…]` substitutions and `{…}` bodies. */
  private expr(e: Expr | undefined, path: string): boolean {
    if (!e) return false;
    switch (e.kind) {
      case 'subst': return this.statements(e.body, path);
      case 'brace': return e.elements ? e.elements.some((el) => this.expr(el.value, path)) : this.statements(e.body, path);
      case 'string': return e.parts.some((p) => typeof p !== 'string' && this.expr(p, path));
      case 'concat': return e.parts.some((p) => this.expr(p, path));
      case 'paren': return this.expr(e.expr, path);
      case 'unary': return this.expr(e.operand, path);
      case 'binary': return this.expr(e.left, path) || this.expr(e.right, path);
      default: return false;
    }
  }

  /** Resolves one command line: `cd` for a bare path, `inner` for a menu command's own menu. */
  private command(items: readonly ArgItem[], start: string): { sensitive?: boolean; cd?: string; inner?: string } {
    let path = start;
    let i = 0;
    for (; i < items.length; i++) {
      const it = items[i]!;
      if (it.kind !== 'value' || it.value.kind !== 'word') return i === 0 ? {} : { cd: path };
      const text = it.value.text;
      if (i === 0 && text.startsWith(':')) return {}; // a builtin: its code is walked as values
      if (text.startsWith('/')) path = '/';
      for (const seg of text.split('/').filter((s) => s !== '')) {
        if (seg === '..') { path = parentPath(path); continue; }
        const children = this.registry.children(path);
        const commands = this.registry.commands(path);
        if (children.includes(seg)) { path = joinPath(path, seg); continue; }
        const command = commands.find((c) => c.name === seg) ?? unique(seg, children, commands);
        if (typeof command === 'string') { path = joinPath(path, command); continue; }
        if (!command) return {};
        return { sensitive: this.args(this.registry.menu(path), command, items.slice(i + 1)), inner: path };
      }
    }
    return { cd: path };
  }

  private args(menu: MenuDecl | undefined, command: CommandDecl, items: readonly ArgItem[]): boolean {
    const decls = command.args.filter((a) => a.name !== 'where');
    const positional = decls.filter((a) => a.positional !== undefined).sort((a, b) => a.positional! - b.positional!);
    const given = new Set<string>();
    let next = 0;
    for (const it of items) {
      if (it.kind === 'unset') continue;
      if (it.kind === 'named') {
        const decl = matchName(it.name, decls);
        if (decl && isSensitive(menu, decl)) return true;
        if (decl) given.add(decl.name);
        continue;
      }
      const word = it.value.kind === 'word' ? it.value.text : undefined;
      if (word !== undefined && decls.some((d) => d.flagOnly && d.name === word)) continue;
      while (next < positional.length && given.has(positional[next]!.name)) next++;
      const decl = positional[next++];
      if (decl && isSensitive(menu, decl)) return true;
      if (decl) given.add(decl.name);
    }
    return false;
  }
}

/** The only menu (its name) or command a word abbreviates, else undefined. */
function unique(word: string, children: readonly string[], commands: readonly CommandDecl[]): string | CommandDecl | undefined {
  const menus = children.filter((c) => c.startsWith(word));
  const cmds = commands.filter((c) => c.name.startsWith(word));
  if (menus.length + cmds.length !== 1) return undefined;
  return menus[0] ?? cmds[0];
}
