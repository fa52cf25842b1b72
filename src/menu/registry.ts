// The menu registry: every menu declaration by path, with the generic verbs materialised as
// commands so front ends see one uniform command list per menu.

import type { CommandDecl, MenuDecl, PropertyDecl, RegistryView } from './types.js';
import { exportCommand, exportsRows, genericCommands } from './generic.js';

export class Registry implements RegistryView {
  private readonly menus = new Map<string, MenuDecl>();
  private readonly commandCache = new Map<string, CommandDecl[]>();
  private referenceCache: Map<string, Array<{ menu: MenuDecl; prop: PropertyDecl }>> | undefined;
  /** Directories made for a declared menu's parents: a declaration of their own replaces them. */
  private readonly implied = new Set<string>();

  constructor(menus: Iterable<MenuDecl> = []) {
    for (const m of menus) this.add(m);
  }

  add(menu: MenuDecl): void {
    if (this.menus.has(menu.path) && !this.implied.has(menu.path)) throw new Error(`menu ${menu.path} declared twice`);
    // The declaration takes its own place in the order (built-in rows are made in this order, so
    // a menu's defaults that refer to another menu's defaults must come after them).
    if (this.implied.delete(menu.path)) this.menus.delete(menu.path);
    this.menus.set(menu.path, menu);
    // Parents of a declared menu exist as directories (`/system` for `/system/identity`), until
    // declared themselves (`/interface` is a list with sub-menus): the order of ALL_MENUS is free.
    for (let p = parentPath(menu.path); p !== undefined; p = parentPath(p)) {
      if (!this.menus.has(p)) {
        this.menus.set(p, { path: p, kind: 'dir', properties: [], verbs: [] });
        this.implied.add(p);
      }
      if (p === '/') break;
    }
    this.commandCache.clear();
    this.referenceCache = undefined;
  }

  /** Every property of every menu that refers to rows of `path` (refType), from the declarations. */
  referencesTo(path: string): ReadonlyArray<{ menu: MenuDecl; prop: PropertyDecl }> {
    if (!this.referenceCache) {
      this.referenceCache = new Map();
      for (const menu of this.menus.values()) {
        for (const prop of menu.properties) {
          const target = prop.type.reference?.target;
          if (!target || prop.compute) continue;
          const list = this.referenceCache.get(target) ?? [];
          list.push({ menu, prop });
          this.referenceCache.set(target, list);
        }
      }
    }
    return this.referenceCache.get(path) ?? [];
  }

  menu(path: string): MenuDecl | undefined {
    return this.menus.get(path);
  }

  all(): MenuDecl[] {
    return [...this.menus.values()];
  }

  /** Names of the direct sub-menus of a path, sorted. */
  children(path: string): string[] {
    const prefix = path === '/' ? '/' : `${path}/`;
    const out: string[] = [];
    for (const p of this.menus.keys()) {
      if (p !== path && p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) out.push(p.slice(prefix.length));
    }
    return out.sort();
  }

  /**
   * Every command of a menu: its generic verbs, then its own commands. Every directory (the root
   * included) and every menu with exported menus below it has `export` too: it writes its subtree.
   */
  commands(path: string): CommandDecl[] {
    let cached = this.commandCache.get(path);
    if (!cached) {
      const menu = this.menus.get(path);
      cached = menu ? [...genericCommands(menu), ...(menu.commands ?? [])] : [];
      if (menu && !cached.some((c) => c.name === 'export') && (menu.kind === 'dir' || this.exportsBelow(path))) cached.push(exportCommand(menu));
      this.commandCache.set(path, cached);
    }
    return cached;
  }

  private exportsBelow(path: string): boolean {
    return this.children(path).some((c) => {
      const child = joinPath(path, c);
      return exportsRows(this.menus.get(child)!) || this.exportsBelow(child);
    });
  }

  command(path: string, name: string): CommandDecl | undefined {
    return this.commands(path).find((c) => c.name === name);
  }
}

export function parentPath(path: string): string | undefined {
  if (path === '/') return undefined;
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function joinPath(base: string, name: string): string {
  return base === '/' ? `/${name}` : `${base}/${name}`;
}
