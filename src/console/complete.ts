// Tab completion and `?` help (issue 2 §2): what may come at the cursor — menus, commands,
// argument names, enum values — all read from the menu declarations.

import type { ConsoleHost } from './session.js';
import { joinPath, parentPath } from '../menu/registry.js';
import { typeContext } from '../menu/generic.js';
import type { CommandDecl, Session } from '../menu/types.js';

export interface Completion {
  /** Full replacement words for the last (partial) word. */
  candidates: string[];
  /** The partial word being completed. */
  partial: string;
}

/** The `:` commands of the scripting language, for completion at the start of a command. */
const SCRIPT_COMMANDS = [
  ':put', ':local', ':global', ':set', ':if', ':foreach', ':for', ':while', ':do', ':onerror', ':error',
  ':return', ':delay', ':log', ':len', ':pick', ':find', ':typeof', ':tostr', ':tonum', ':totime',
  ':toarray', ':serialize', ':deserialize', ':parse', ':execute', ':retry', ':time', ':environment',
];

/** Splits the text of the current command (after the last `;`) into words; quotes kept. */
function words(line: string): { done: string[]; partial: string } {
  const current = line.slice(line.lastIndexOf(';') + 1);
  const out: string[] = [];
  let word = '';
  let quoted = false;
  for (const ch of current) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && /\s/.test(ch)) {
      if (word) out.push(word);
      word = '';
    } else word += ch;
  }
  return { done: out, partial: word };
}

interface Position {
  path: string;
  command?: CommandDecl;
}

/** Walks the finished words: path words move the menu, then a command, then arguments. */
function walk(app: ConsoleHost, startPath: string, done: string[]): Position | undefined {
  let path = startPath;
  let command: CommandDecl | undefined;
  for (const w of done) {
    if (command) continue;
    const parts = w.startsWith('/') ? ['', ...w.slice(1).split('/')] : w.split('/');
    for (const part of parts) {
      if (part === '') { path = '/'; continue; }
      if (part === '..') { path = parentPath(path) ?? '/'; continue; }
      const child = unique(app.registry.children(path), part);
      if (child) { path = joinPath(path, child); continue; }
      const cmd = uniqueCommand(app.registry.commands(path), part);
      if (cmd) { command = cmd; break; }
      return undefined;
    }
  }
  return { path, command };
}

function unique(names: string[], prefix: string): string | undefined {
  if (names.includes(prefix)) return prefix;
  const hits = names.filter((n) => n.startsWith(prefix));
  return hits.length === 1 ? hits[0] : undefined;
}

function uniqueCommand(cmds: CommandDecl[], prefix: string): CommandDecl | undefined {
  const name = unique(cmds.map((c) => c.name), prefix);
  return name ? cmds.find((c) => c.name === name) : undefined;
}

async function choicesFor(app: ConsoleHost, command: CommandDecl, argName: string): Promise<string[]> {
  const arg = command.args.find((a) => a.name === argName);
  if (!arg?.type.choices) return [];
  return app.store.read((tx) => arg.type.choices!(typeContext(app.env, tx)));
}

export async function completeLine(app: ConsoleHost, _session: Session, currentPath: string, line: string): Promise<Completion> {
  const { done, partial } = words(line);
  if (done.length === 0 && partial.startsWith(':')) {
    return { partial, candidates: SCRIPT_COMMANDS.filter((c) => c.startsWith(partial)).map((c) => `${c} `) };
  }
  const pos = walk(app, currentPath, done);
  if (!pos) return { partial, candidates: [] };
  if (pos.command) {
    const eq = partial.indexOf('=');
    if (eq >= 0) {
      const name = partial.slice(0, eq);
      const value = partial.slice(eq + 1);
      const values = await choicesFor(app, pos.command, name);
      return { partial, candidates: values.filter((v) => v.startsWith(value)).map((v) => `${name}=${v} `) };
    }
    return {
      partial,
      candidates: pos.command.args.filter((a) => a.name.startsWith(partial))
        .map((a) => (a.flagOnly ? `${a.name} ` : `${a.name}=`)),
    };
  }
  // A path word may itself contain slashes: complete its last segment.
  const slash = partial.lastIndexOf('/');
  const base = slash >= 0 ? partial.slice(0, slash + 1) : '';
  const inner = walk(app, currentPath, base ? [base.replace(/\/$/, '') || '/'] : []);
  const where = inner?.path ?? pos.path;
  const last = partial.slice(slash + 1);
  const menus = app.registry.children(where).filter((n) => n.startsWith(last)).map((n) => `${base}${n}${base ? '/' : ' '}`);
  const cmds = app.registry.commands(where).map((c) => c.name).filter((n) => n.startsWith(last)).map((n) => `${base}${n} `);
  return { partial, candidates: [...menus, ...cmds] };
}

/** The `?` listing: what may come at the cursor, with one line of help each. */
export async function helpAt(app: ConsoleHost, session: Session, currentPath: string, line: string): Promise<string> {
  const { done, partial } = words(line);
  const pos = walk(app, currentPath, done);
  if (!pos) return 'bad command name\n';
  const rows: Array<[string, string]> = [];
  if (pos.command) {
    if (pos.command.help) rows.push(['', pos.command.help]);
    const eq = partial.indexOf('=');
    if (eq >= 0) {
      const arg = pos.command.args.find((a) => a.name === partial.slice(0, eq));
      if (arg) {
        rows.push([arg.name, arg.type.help || arg.help || '']);
        for (const v of await choicesFor(app, pos.command, arg.name)) rows.push([v, '']);
      }
    } else {
      for (const a of pos.command.args) if (a.name.startsWith(partial)) rows.push([a.name, a.help ?? a.type.help]);
    }
  } else {
    const menu = app.registry.menu(pos.path);
    if (menu?.help) rows.push(['', menu.help]);
    if (pos.path !== '/') rows.push(['..', 'go up to ' + (parentPath(pos.path) === '/' ? 'root' : parentPath(pos.path)!.slice(1))]);
    for (const n of app.registry.children(pos.path)) {
      if (n.startsWith(partial)) rows.push([n, app.registry.menu(joinPath(pos.path, n))?.help ?? '']);
    }
    for (const c of app.registry.commands(pos.path)) if (c.name.startsWith(partial)) rows.push([c.name, c.help ?? '']);
  }
  void session;
  return rows.map(([name, help]) => (name ? `${name} -- ${help}` : help)).join('\n') + '\n';
}
