// Bad input (issue: input audit): every command is all-or-nothing and answers bad input with a
// RouterOS error. A battery of malformed invocations, taken from the registry's declarations,
// runs against every list and singleton menu; the store (rows, tombstones, blobs, /file) is
// compared before and after each, and the error must have a RouterOS form — never an internal
// message, a stack or a host path.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { Appliance } from '../../src/appliance.js';
import { FixedClock } from '../../src/clock.js';
import { ConsoleSession } from '../../src/console/session.js';
import { RosError } from '../../src/errors.js';
import type { CommandDecl, MenuDecl, Session } from '../../src/menu/types.js';
import { ItemId, RosArray, type Value } from '../../src/menu/values.js';
import { startServices } from '../../src/services/index.js';
import { ApiClient, attrs, freePort, PASSWORD, run } from '../services/support.js';
import { T0, tempDir } from '../support/app.js';

/** The forms RouterOS errors take (spec §7, routeros-certificate.md error table). */
const ROUTEROS_FORM = new RegExp('^(' + [
  'no such item', 'invalid internal item number', 'unknown parameter \\S+', 'duplicate parameter \\S+', 'missing =\\S+=',
  'missing value of .+', '\\S+ and \\S+ can not both be set', 'invalid value for argument \\S+', 'invalid value of \\S+', 'input does not match any value of \\S+',
  'ambiguous value of \\S+, more than one possible value matches input', 'value of \\S+ is out of range \\(.*\\)',
  'not enough permissions \\(9\\)', 'failure: .+', 'expected end of command.*',
].join('|') + ')$', 's');
/** What an error must never show: an internal message, a stack, a host path, raw control characters. */
const LEAK = /internal error|TypeError|RangeError|ReferenceError|SyntaxError|\bundefined\b|\bNaN\b|\[object |\n\s+at |\/tmp\/|\/work\/|[\x00-\x08\x0b-\x1f\x7f]/;

describe('bad input: a RouterOS error, and the store exactly as before', () => {
  let app: Appliance;
  let dir: string;
  let db: Database.Database;
  let session: Session;
  let console: ConsoleSession;
  let out = '';
  const internal: string[] = [];
  const cli = async (line: string): Promise<string> => {
    out = '';
    const r = await console.run(line);
    return r.ok ? out : `${out}${r.error}\n`;
  };

  /**
   * The store as a comparable text: every row's version, tombstones, blobs, and /file. Not /log,
   * nor /interface: its rows mirror the host's devices, which other tests add and remove meanwhile.
   */
  const snapshot = (): string => {
    const rows = db.prepare("SELECT menu, id, version FROM rows WHERE menu NOT IN ('/log', '/interface') ORDER BY menu, id").raw().all();
    const tombs = db.prepare("SELECT menu, id, version FROM tombstones WHERE menu NOT IN ('/log', '/interface') ORDER BY menu, id").raw().all();
    const blobs = db.prepare('SELECT menu, id, name, length(value) FROM blobs ORDER BY menu, id, name').raw().all();
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else { const st = fs.statSync(p); files.push(`${path.relative(dir, p)} ${st.size} ${st.mtimeMs}`); }
      }
    };
    walk(path.join(dir, 'files'));
    return JSON.stringify({ rows, tombs, blobs, files });
  };
  /** What differs between two snapshots, briefly. */
  const changes = (a: string, b: string): string => {
    const x = JSON.parse(a) as Record<string, unknown[]>;
    const y = JSON.parse(b) as Record<string, unknown[]>;
    const out: string[] = [];
    for (const k of Object.keys(x)) {
      const xs = new Set(x[k]!.map((e) => JSON.stringify(e)));
      const ys = new Set(y[k]!.map((e) => JSON.stringify(e)));
      for (const e of xs) if (!ys.has(e)) out.push(`-${e}`);
      for (const e of ys) if (!xs.has(e)) out.push(`+${e}`);
    }
    return out.join(' ');
  };
  const logRows = (): number => (db.prepare("SELECT count(*) FROM rows WHERE menu = '/log'").pluck().get() as number);

  /**
   * Runs one command that must fail: returns its error text after checking that it has a
   * RouterOS form, leaks nothing and left the store (all but one /log line) as it was.
   */
  const refused = async (menuPath: string, command: string, args: Record<string, Value>, what = ''): Promise<string> => {
    const label = `${menuPath} ${command} ${Object.keys(args).join(',')} ${what}`;
    const before = snapshot();
    const logged = logRows();
    let error: unknown;
    try {
      await app.executor.run({ path: menuPath, command, args: new Map(Object.entries(args)), session });
    } catch (e) {
      error = e;
    }
    assert.ok(error !== undefined, `${label}: refused`);
    assert.ok(error instanceof RosError, `${label}: a RosError, not ${String(error)}`);
    const text = error.consoleText();
    assert.match(text, ROUTEROS_FORM, label);
    assert.doesNotMatch(text, LEAK, label);
    assert.ok(text.length <= 300, `${label}: a short message, not ${text.length} characters`);
    const now = snapshot();
    assert.ok(now === before, `${label}: the store is unchanged (${text}): ${changes(before, now)}`);
    assert.ok(logRows() - logged <= 1, `${label}: at most its error line in /log`);
    return text;
  };

  before(async () => {
    dir = tempDir();
    app = await Appliance.open(dir, { clock: new FixedClock(T0), operatorLog: (t) => internal.push(t) });
    console = await ConsoleSession.open(app, { output: (t) => { out += t; } });
    session = await app.session('admin', 'test', { operator: true });
    const setup = [
      '/certificate add name=ca common-name=ca key-size=prime256v1 key-usage=key-cert-sign,crl-sign; /certificate sign ca',
      '/certificate add name=a common-name=a key-size=prime256v1; /certificate add name=b common-name=b key-size=prime256v1',
      '/user add name=u1 group=read password=x1; /user add name=u2 group=read password=x2',
      '/user group add name=g1 policy=read; /user group add name=g2 policy=read',
      '/system script add name=s1 source=":put 1"; /system script add name=s2 source=":put 2"',
      '/system scheduler add name=sch1 on-event=s1 interval=1h; /system scheduler add name=sch2 on-event=s2 interval=1h',
      '/ip firewall filter add chain=input action=accept comment=r1; /ip firewall filter add chain=input action=drop comment=r2',
      '/ip firewall address-list add list=l1 address=10.0.0.1; /ip firewall address-list add list=l1 address=10.0.0.2',
      '/ppp profile add name=p1; /ppp profile add name=p2; /ppp secret add name=ps1 password=x; /ppp secret add name=ps2 password=y',
      '/ip pool add name=pool1 ranges=10.0.0.1-10.0.0.9; /ip pool add name=pool2 ranges=10.1.0.1-10.1.0.9',
      '/ip dns static add name=a.example address=1.2.3.4; /ip dns static add name=b.example address=1.2.3.5',
      '/interface bridge add name=br1; /interface bridge add name=br2',
      '/ip ipsec proposal add name=pr1; /ip ipsec proposal add name=pr2; /ip ipsec profile add name=prof1; /ip ipsec profile add name=prof2',
      '/file add name=f1 contents=hello; /file add name=f2 contents=world',
    ];
    for (const line of setup) assert.doesNotMatch(await cli(line), /failure|no such|invalid|missing|expected|input does not|bad /, line);
    db = new Database(path.join(dir, 'rospki.db'), { readonly: true, fileMustExist: true });
    // Menus that mirror the host (disks, interfaces, /file) or make built-in rows on first use
    // are brought up to date first: that is no change a refused command made.
    for (const menu of app.executor.registry.all()) {
      if (app.executor.registry.command(menu.path, 'print')) await app.executor.run({ path: menu.path, command: 'print', args: new Map(), session }).catch(() => {});
    }
  });
  after(() => {
    db?.close();
    app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** List menus with generic verbs and at least two rows a user made (the last two in the list). */
  const listMenus = (): Array<{ menu: MenuDecl; a: ItemId; b: ItemId; key?: string }> => {
    const out: Array<{ menu: MenuDecl; a: ItemId; b: ItemId; key?: string }> = [];
    for (const menu of app.executor.registry.all()) {
      if (menu.kind !== 'list' || !menu.verbs.includes('remove') || menu.path === '/file') continue;
      const ids = db.prepare("SELECT id FROM rows WHERE menu = ? AND data NOT LIKE '%\".builtin\"%' ORDER BY id").pluck().all(menu.path) as number[];
      if (ids.length < 2) continue;
      out.push({ menu, a: new ItemId(ids.at(-2)!), b: new ItemId(ids.at(-1)!), key: menu.key });
    }
    return out;
  };
  const command = (menu: MenuDecl, name: string): CommandDecl | undefined => app.executor.registry.command(menu.path, name);

  test('the battery reaches the menus it is meant for', () => {
    const paths = listMenus().map((m) => m.menu.path);
    for (const p of ['/certificate', '/user', '/system/script', '/ip/firewall/filter', '/ppp/secret', '/ip/pool', '/interface/bridge']) {
      assert.ok(paths.includes(p), `${p} in ${paths.join(' ')}`);
    }
  });

  test('a multi-item remove or set that fails half-way changes nothing', async () => {
    for (const { menu, a, b, key } of listMenus()) {
      const items = RosArray.of([a, b, new ItemId(0xffffff)]);
      assert.equal(await refused(menu.path, 'remove', { numbers: items }), 'no such item', menu.path);
      assert.equal(await refused(menu.path, 'remove', { numbers: `${a},${b},nonexistent` }), 'no such item', menu.path);
      const set = command(menu, 'set');
      if (!set) continue;
      const comment = set.args.some((x) => x.name === 'comment');
      if (comment) assert.equal(await refused(menu.path, 'set', { numbers: items, comment: 'x' }), 'no such item', menu.path);
      // Two rows given the same unique name: the second clashes with the first, and neither changes.
      if (key && menu.properties.find((p) => p.name === key)?.unique && set.args.some((x) => x.name === key)) {
        await refused(menu.path, 'set', { numbers: RosArray.of([a, b]), [key]: 'same-name' }, 'duplicate');
      }
    }
  });

  test('a [find] matching several items where the command takes one: invalid internal item number', async () => {
    for (const { menu, a, b, key } of listMenus()) {
      const both = RosArray.of([a, b]);
      if (command(menu, 'get')) assert.equal(await refused(menu.path, 'get', { number: both }), 'invalid internal item number', menu.path);
      const add = command(menu, 'add');
      if (key && add?.args.some((x) => x.name === 'copy-from')) {
        assert.equal(await refused(menu.path, 'add', { 'copy-from': both, [key]: 'copy' }), 'invalid internal item number', menu.path);
      }
      if (menu.ordered) {
        assert.equal(await refused(menu.path, 'move', { numbers: a, destination: both }), 'invalid internal item number', menu.path);
      }
    }
    assert.equal(await refused('/certificate', 'sign', { number: RosArray.of([new ItemId(2), new ItemId(3)]) }), 'invalid internal item number');
    assert.equal(await refused('/system/script', 'run', { number: 's1,s2' }), 'invalid internal item number');
    assert.equal(await cli(':put [/system script get [find] name]'), 'invalid internal item number\n');
    assert.equal(await cli(':do { :put [/user get [find where name~"^u"] name] } on-error={ :put "caught" }'), 'caught\n');
  });

  test('unknown arguments, and add without what it requires, change nothing', async () => {
    for (const menu of app.executor.registry.all()) {
      for (const verb of ['add', 'set']) {
        const cmd = command(menu, verb);
        if (!cmd) continue;
        assert.equal(await refused(menu.path, verb, { 'no-such-argument': '1' }), 'unknown parameter no-such-argument', menu.path);
      }
      const add = command(menu, 'add');
      if (add && menu.properties.some((p) => p.required && p.access !== 'ro' && p.default === undefined)) await refused(menu.path, 'add', {}, 'nothing');
    }
  });

  test('/file: names with control characters, empty print and export file names, half-way removes', async () => {
    assert.equal(await refused('/file', 'add', { name: 'a\x01b', contents: 'x' }), 'failure: invalid file name "a?b": control characters are not allowed');
    assert.equal(await refused('/file', 'add', { name: 'dir/line\nbreak.txt', contents: 'x' }), 'failure: invalid file name "dir/line?break.txt": control characters are not allowed');
    assert.equal(await refused('/file', 'set', { numbers: 'f1', name: 'x\x1b[2J' }), 'failure: invalid file name "x?[2J": control characters are not allowed');
    assert.equal(await refused('/user', 'print', { file: '' }), 'failure: invalid file name "": empty name');
    assert.equal(await refused('/user', 'export', { file: '' }), 'failure: invalid file name "": empty name');
    assert.equal(await refused('/', 'export', { file: '/' }), 'failure: invalid file name "/": empty name');
    assert.equal(await refused('/file', 'remove', { numbers: 'f1,f2,nonexistent' }), 'no such item');
    assert.equal(await cli('/user print file=users'), '', 'a plain name still gets its extension');
    assert.ok(fs.existsSync(path.join(dir, 'files', 'users.txt')));
  });

  test('/file set and remove of several files check them all before changing any', async () => {
    assert.equal(await cli('/file add name=d1 type=directory; /disk add type=tmpfs slot=t1 tmpfs-max-size=100000'), '');
    await cli('/file print'); // the /file rows catch up with the disk's new folder
    assert.equal(await refused('/file', 'set', { numbers: 'f1,d1', contents: 'new' }), 'failure: a directory has no contents');
    assert.equal(await refused('/file', 'set', { numbers: 'f1,f2', name: 'g' }), 'failure: file already exists');
    assert.equal(await refused('/file', 'set', { numbers: 'f1', contents: 'new', name: '../x' }), 'failure: invalid file name "../x": names outside of the file store are not allowed');
    assert.equal(await refused('/file', 'set', { numbers: 'f1', contents: 'new', name: 'f2' }), 'failure: file already exists');
    assert.equal(await refused('/file', 'remove', { numbers: 'f1,t1' }), 'failure: t1 is a disk: remove it with /disk remove');
    assert.equal(await cli(':put [/file get f1 contents]'), 'hello\n');
  });

  test('the same refusal and the same unchanged store on the console, :onerror, REST and the API', async () => {
    const ports = { www: await freePort(), api: await freePort() };
    await cli(`/user set admin password=${PASSWORD}; /ip service set www port=${ports.www}; /ip service set api port=${ports.api}; /ip service disable api-ssl`);
    const services = await startServices(app, { host: '127.0.0.1', loginFailureDelayMs: 10, pollMs: 100 });
    const api = await ApiClient.connect(ports.api);
    try {
      await api.login();
      const cases: Array<{ console: string; rest: [string, Record<string, string>]; api: string[]; text: string }> = [
        { console: '/user remove u1,u2,nonexistent', rest: ['/user/remove', { numbers: 'u1,u2,nonexistent' }], api: ['/user/remove', '=numbers=u1,u2,nonexistent'], text: 'no such item' },
        { console: ':put [/user get u1,u2 name]', rest: ['/user/get', { number: 'u1,u2', 'value-name': 'name' }], api: ['/user/get', '=number=u1,u2', '=value-name=name'], text: 'invalid internal item number' },
        { console: '/user set u1,u2 name=u1', rest: ['/user/set', { numbers: 'u1,u2', name: 'u1' }], api: ['/user/set', '=numbers=u1,u2', '=name=u1'], text: 'failure: already have such entry' },
        {
          console: '/certificate set b subject-alt-name="DNS:a\\1B[2J"', rest: ['/certificate/set', { numbers: 'b', 'subject-alt-name': 'DNS:a\x1b[2J' }],
          api: ['/certificate/set', '=numbers=b', '=subject-alt-name=DNS:a\x1b[2J'], text: 'failure: invalid subject-alt-name entry "DNS:a?[2J": only printable ASCII without spaces is allowed',
        },
      ];
      // While services run, connections come and go in /ip service and firewall counters move:
      // what these commands could change is compared, with /file.
      const touched = (): string => {
        const all = JSON.parse(snapshot()) as Record<string, Array<[string, ...unknown[]]>>;
        const keep = (rows: Array<[string, ...unknown[]]>) => rows.filter(([m]) => m === '/user' || m === '/certificate');
        return JSON.stringify({ rows: keep(all.rows!), tombs: keep(all.tombs!), blobs: keep(all.blobs!), files: all.files });
      };
      for (const c of cases) {
        const before = touched();
        assert.equal(await cli(c.console), `${c.text}\n`, c.console);
        const body = c.console.startsWith(':put') ? c.console.slice(6, -1) : c.console;
        assert.equal(await cli(`:onerror e in={ ${body} } do={ :put $e }`), `${c.text}\n`, `:onerror ${c.console}`);
        const r = await run('curl', ['-sS', '-u', `admin:${PASSWORD}`, '-X', 'POST', '-H', 'content-type: application/json', '-d', JSON.stringify(c.rest[1]), `http://127.0.0.1:${ports.www}/rest${c.rest[0]}`]);
        assert.deepEqual(JSON.parse(r.stdout), { error: 400, message: 'Bad Request', detail: c.text }, `REST ${c.rest[0]}`);
        const reply = await api.talk(...c.api);
        assert.equal(reply[0]![0], '!trap', `API ${c.api[0]}`);
        assert.equal(attrs(reply[0]!).message, c.text, `API ${c.api[0]}`);
        const now = touched();
        assert.ok(now === before, `${c.console}: unchanged: ${changes(before, now)}`);
      }
      // An unknown argument: the console refuses the line before running it; REST and the API name it.
      const before = snapshot();
      assert.equal(await cli('/user set u1 no-such=1'), 'expected end of command (line 1 column 14)\n');
      const r = await run('curl', ['-sS', '-u', `admin:${PASSWORD}`, '-X', 'PATCH', '-H', 'content-type: application/json', '-d', '{"no-such":"1"}', `http://127.0.0.1:${ports.www}/rest/user/u1`]);
      assert.deepEqual(JSON.parse(r.stdout), { error: 400, message: 'Bad Request', detail: 'unknown parameter no-such' });
      const reply = await api.talk('/user/set', '=numbers=u1', '=no-such=1');
      assert.equal(attrs(reply[0]!).message, 'unknown parameter no-such');
      assert.ok(JSON.parse(snapshot()).rows.filter(([m]: [string]) => m === '/user').join() === JSON.parse(before).rows.filter(([m]: [string]) => m === '/user').join());
    } finally {
      api.close();
      await services.stop();
    }
  });

  test('time properties: a negative or too long time is out of range, and the range names both ends', async () => {
    const targets = new Map(listMenus().map((m) => [m.menu.path, m.b] as const));
    let checked = 0;
    for (const menu of app.executor.registry.all()) {
      const set = command(menu, 'set');
      if (!set || (menu.kind === 'list' && !targets.has(menu.path))) continue;
      for (const arg of set.args) {
        if (!/^time\b/.test(arg.type.help)) continue; // `time`, `time | disable-dpd`
        for (const v of ['-1s', '99999999999w']) {
          const args: Record<string, Value> = menu.kind === 'list' ? { numbers: targets.get(menu.path)!, [arg.name]: v } : { [arg.name]: v };
          const text = await refused(menu.path, 'set', args, v);
          if (text === `invalid value for argument ${arg.name}`) continue; // a time of its own kind (an expiry)
          const range = /^value of \S+ is out of range \((\S+) \.\. (\S+)\)$/.exec(text);
          assert.ok(range, `${menu.path} ${arg.name}=${v}: ${text}`);
          assert.notEqual(range[2], '0s', `${menu.path} ${arg.name}: ${text}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 10, `${checked} time properties checked`);
  });

  test("every menu's own commands: bad values are refused cleanly and change nothing", async () => {
    // Commands that reach the network or wait on it are left out: a bad value there is the
    // network's answer, not the declaration's.
    const network = new Set(['/ ping', '/tool ping', '/tool fetch', '/ execute', '/ import', '/certificate add-acme', '/certificate acme-renew',
      '/certificate add-scep', '/certificate scep-renew', '/certificate/crl download', '/ip/cloud force-update',
      '/system/package/update check-for-updates', '/system/package/update download', '/system/package/update install']);
    let tried = 0;
    for (const menu of app.executor.registry.all()) {
      for (const cmd of menu.commands ?? []) {
        if (network.has(`${menu.path} ${cmd.name}`)) continue;
        assert.equal(await refused(menu.path, cmd.name, { 'no-such-argument': '1' }), 'unknown parameter no-such-argument', `${menu.path} ${cmd.name}`);
        for (const arg of cmd.args) {
          if (arg.flagOnly) continue;
          for (const [what, v] of [['control characters', 'a\x01\x1b[2Jb'], ['100 kB', 'x'.repeat(100_000)]] as const) {
            const before = snapshot();
            tried++;
            try {
              await app.executor.run({ path: menu.path, command: cmd.name, args: new Map([[arg.name, v]]), session });
            } catch (e) {
              const label = `${menu.path} ${cmd.name} ${arg.name}= ${what}`;
              assert.ok(e instanceof RosError, `${label}: ${String(e)}`);
              const text = e.consoleText();
              assert.match(text, ROUTEROS_FORM, label);
              assert.doesNotMatch(text, LEAK, `${label}: ${text.slice(0, 120)}`);
              assert.ok(text.length <= 600, `${label}: a short message, not ${text.length} characters`);
              const now = snapshot();
              assert.ok(now === before, `${label}: unchanged: ${changes(before, now)}`);
            }
          }
        }
      }
    }
    assert.ok(tried > 50, `${tried} tried`);
    assert.deepEqual(internal, [], 'no internal errors');
  });

  test('unset of a required property is refused and changes nothing', async () => {
    let checked = 0;
    for (const { menu, b } of listMenus()) {
      const unset = command(menu, 'unset');
      if (!unset) continue;
      for (const p of menu.properties) {
        if (!p.required || p.default !== undefined || p.access === 'ro' || p.compute) continue;
        const text = await refused(menu.path, 'unset', { numbers: b, 'value-name': p.name }, 'required');
        assert.match(text, /^missing value of /, `${menu.path} unset ${p.name}: ${text}`);
        checked++;
      }
    }
    assert.ok(checked > 5, `${checked} required properties checked`);
  });

  test('every writable property: bad values are refused with a RouterOS error and change nothing', async () => {
    const values: Array<[string, string]> = [
      ['empty', ''], ['control characters', 'a\x01\x1b[2Jb'], ['100 kB', 'x'.repeat(100_000)], ['negative', '-1'],
      ['huge number', '99999999999999999999'], ['unknown word', 'no-such-value-x'],
    ];
    const targets = new Map(listMenus().map((m) => [m.menu.path, m.b] as const));
    for (const menu of app.executor.registry.all()) {
      const set = command(menu, 'set');
      if (!set || (menu.kind === 'list' && !targets.has(menu.path))) continue;
      for (const arg of set.args) {
        if (arg.flagOnly || arg.name === 'numbers') continue;
        for (const [what, v] of values) {
          const args: Record<string, Value> = menu.kind === 'list' ? { numbers: targets.get(menu.path)!, [arg.name]: v } : { [arg.name]: v };
          // Accepted values are fine (a comment may hold anything); a refusal must be clean.
          const before = snapshot();
          try {
            await app.executor.run({ path: menu.path, command: 'set', args: new Map(Object.entries(args)), session });
          } catch (e) {
            const text = e instanceof RosError ? e.consoleText() : String(e);
            const label = `${menu.path} set ${arg.name}= ${what}`;
            assert.ok(e instanceof RosError, label);
            assert.match(text, ROUTEROS_FORM, label);
            assert.doesNotMatch(text, LEAK, `${label}: ${text.slice(0, 120)}`);
            assert.ok(text.length <= 300, `${label}: a short message, not ${text.length} characters`);
            const now = snapshot();
            assert.ok(now === before, `${label}: unchanged: ${changes(before, now)}`);
          }
        }
      }
    }
    assert.deepEqual(internal, [], 'no internal errors');
  });
});
