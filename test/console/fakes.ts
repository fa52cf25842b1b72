// A tiny menu layer for console tests: a registry with a few menus and an executor that
// records every call and answers print/find/get/add over in-memory rows.

import { RosError, noSuchItem } from '../../src/errors.js';
import type {
  ArgDecl, CommandDecl, CommandResult, MenuDecl, PropType, RowPredicate, RowView, Session,
} from '../../src/menu/types.js';
import { ItemId, RosArray, type Value, valueToString } from '../../src/menu/values.js';
import { Interpreter, type CommandRequestLike } from '../../src/console/interpreter.js';

export const anyType: PropType<Value> = {
  help: 'any', parse: (v) => v, display: (v) => valueToString(v), api: (v) => valueToString(v), script: (v) => v,
};

export function enumType(values: string[]): PropType<string> {
  return {
    help: values.join(' | '), parse: (v) => valueToString(v), display: (v) => v, api: (v) => v, script: (v) => v,
    choices: () => values,
  };
}

const flag = (name: string): ArgDecl => ({ name, type: anyType, flagOnly: true });
const arg = (name: string, extra: Partial<ArgDecl> = {}): ArgDecl => ({ name, type: anyType, ...extra });

function cmd(name: string, args: ArgDecl[]): CommandDecl {
  return { name, args, policy: 'read', run: async () => ({}) };
}

const CERT_PROPS = ['name', 'common-name', 'subject-alt-name', 'trusted', 'key-usage', 'days-valid', 'comment'];

function listCommands(props: string[]): CommandDecl[] {
  return [
    cmd('print', [flag('detail'), flag('terse'), flag('count-only'), flag('as-value'), flag('show-ids'), arg('proplist'), arg('where')]),
    cmd('get', [arg('number', { positional: 0 }), arg('value-name', { positional: 1 })]),
    cmd('set', [arg('numbers', { positional: 0 }), ...props.map((p) => arg(p))]),
    cmd('add', props.map((p) => (p === 'key-usage'
      ? { name: p, type: enumType(['digital-signature', 'key-cert-sign', 'crl-sign', 'key-encipherment', 'tls-server', 'tls-client']) }
      : p === 'trusted' ? { name: p, type: enumType(['yes', 'no']) } : arg(p)))),
    cmd('remove', [arg('numbers', { positional: 0 })]),
    cmd('find', [arg('where')]),
    cmd('export', [flag('verbose'), arg('file')]),
  ];
}

interface FakeMenu { decl: MenuDecl; commands: CommandDecl[] }

export class FakeRegistry {
  readonly menus = new Map<string, FakeMenu>();
  constructor() {
    const add = (path: string, kind: MenuDecl['kind'], commands: CommandDecl[]): void => {
      this.menus.set(path, { decl: { path, kind, properties: [], verbs: [] }, commands });
    };
    add('/', 'dir', [cmd('export', [flag('verbose')]), cmd('import', [arg('file-name', { positional: 0 })])]);
    add('/certificate', 'list', [
      ...listCommands(CERT_PROPS),
      cmd('sign', [arg('number', { positional: 0 }), arg('ca'), arg('name')]),
      cmd('import', [arg('file-name'), arg('passphrase'), arg('name')]),
      cmd('export-certificate', [arg('number', { positional: 0 }), arg('file-name'), arg('type', { type: enumType(['pem', 'pkcs12']) })]),
    ]);
    add('/certificate/settings', 'singleton', [cmd('print', []), cmd('set', [arg('crl-use'), arg('crl-download')])]);
    add('/certificate/crl', 'list', listCommands(['url']));
    add('/system', 'dir', []);
    add('/system/identity', 'singleton', [cmd('print', []), cmd('set', [arg('name')]), cmd('get', [arg('value-name', { positional: 0 })])]);
    add('/system/script', 'list', listCommands(['name', 'source']));
    add('/tool', 'dir', [cmd('fetch', [arg('url', { positional: 0 }), arg('dst-path'), flag('as-value')])]);
  }
  menu(path: string): MenuDecl | undefined { return this.menus.get(path)?.decl; }
  children(path: string): string[] {
    const prefix = path === '/' ? '/' : `${path}/`;
    return [...this.menus.keys()].filter((p) => p !== path && p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
      .map((p) => p.slice(prefix.length)).sort();
  }
  commands(path: string): CommandDecl[] { return this.menus.get(path)?.commands ?? []; }
  command(path: string, name: string): CommandDecl | undefined { return this.commands(path).find((c) => c.name === name); }
}

export interface FakeRow { id: number; data: Record<string, Value> }

export class FakeExecutor {
  readonly calls: CommandRequestLike[] = [];
  readonly rows = new Map<string, FakeRow[]>();
  private nextId = 1;
  /** Set to answer a command differently. */
  handler?: (req: CommandRequestLike) => CommandResult | undefined;

  constructor(readonly registry: FakeRegistry) {}

  addRow(path: string, data: Record<string, Value>): number {
    const id = this.nextId++;
    const list = this.rows.get(path) ?? [];
    list.push({ id, data });
    this.rows.set(path, list);
    return id;
  }

  private async filter(path: string, where?: RowPredicate): Promise<FakeRow[]> {
    const rows = this.rows.get(path) ?? [];
    if (!where) return rows;
    const out: FakeRow[] = [];
    for (const r of rows) if (await where(view(r))) out.push(r);
    return out;
  }

  async run(req: CommandRequestLike): Promise<CommandResult> {
    this.calls.push(req);
    const custom = this.handler?.(req);
    if (custom) return custom;
    const rows = this.rows.get(req.path) ?? [];
    const byRef = (v: Value): FakeRow => {
      const r = rows.find((x) => (v instanceof ItemId ? x.id === v.n : x.data.name === valueToString(v)));
      if (!r) throw noSuchItem();
      return r;
    };
    switch (req.command) {
      case 'find':
        return { ret: RosArray.of((await this.filter(req.path, req.where)).map((r) => new ItemId(r.id))) };
      case 'print': {
        const shown = await this.filter(req.path, req.where);
        if (req.args.has('count-only')) return { ret: shown.length, messages: [String(shown.length)] };
        if (req.args.has('as-value')) {
          return { ret: RosArray.of(shown.map((r) => RosArray.fromRecord([['.id', new ItemId(r.id)], ...Object.entries(r.data)]))) };
        }
        return { messages: shown.map((r, i) => `${i} ${valueToString(r.data.name)}`) };
      }
      case 'get': {
        const num = req.args.get('number');
        const target = num instanceof RosArray ? num.values()[0] : num;
        const row = byRef(target);
        const name = valueToString(req.args.get('value-name'));
        return { ret: row.data[name] };
      }
      case 'add': {
        const data: Record<string, Value> = {};
        for (const [k, v] of req.args) data[k] = v;
        if (rows.some((r) => r.data.name !== undefined && r.data.name === data.name)) throw new RosError('failure', 'already have such entry');
        return { ret: new ItemId(this.addRow(req.path, data)) };
      }
      default:
        return {};
    }
  }
}

export function view(r: FakeRow): RowView {
  return { id: r.id, get: (name) => (name === '.id' ? new ItemId(r.id) : r.data[name]) };
}

export function fakeSession(): Session {
  return { user: 'admin', policies: new Set(['read', 'write']), via: 'console', lastPrint: new Map(), width: 80 };
}

export interface Harness {
  interp: Interpreter;
  exec: FakeExecutor;
  out: string[];
  logs: Array<[string, string]>;
  /** Runs text, returns everything printed. */
  run(source: string): Promise<string>;
  /** Runs text, returns the console text of the error it throws. */
  error(source: string): Promise<string>;
}

export function harness(): Harness {
  const registry = new FakeRegistry();
  const exec = new FakeExecutor(registry);
  const out: string[] = [];
  const logs: Array<[string, string]> = [];
  const interp = new Interpreter({
    registry, executor: exec, session: fakeSession(), output: (t) => out.push(t),
    log: (topic, msg) => logs.push([topic, msg]), sleep: async () => {},
  });
  return {
    interp, exec, out, logs,
    async run(source) {
      const before = out.length;
      await interp.run(source);
      return out.slice(before).join('');
    },
    async error(source) {
      try {
        await interp.run(source);
      } catch (e) {
        if (e instanceof RosError) return e.consoleText();
        throw e;
      }
      throw new Error(`no error from: ${source}`);
    },
  };
}
