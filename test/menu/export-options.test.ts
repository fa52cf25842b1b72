// /export options (spec services §9.2) on a throwaway menu that has every kind of row and value:
// built-in rows (one the menu's default), rows users add, dynamic rows, a sensitive and a
// write-only property, an optional one without a default.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Appliance } from '../../src/appliance.js';
import { FixedClock } from '../../src/clock.js';
import { ConsoleSession } from '../../src/console/session.js';
import { boolType, intType, stringType } from '../../src/menu/proptypes.js';
import type { MenuDecl } from '../../src/menu/types.js';
import { ALL_MENUS } from '../../src/menus/index.js';
import { T0, tempDir } from '../support/app.js';

const widgets: MenuDecl = {
  path: '/test/widget', kind: 'list', key: 'name', help: 'Widgets',
  verbs: ['print', 'get', 'set', 'add', 'remove', 'find', 'export'],
  properties: [
    { name: 'name', type: stringType, required: true, unique: true },
    { name: 'size', type: intType(1, 100), default: 10 },
    { name: 'label', type: stringType },
    { name: 'secret', type: stringType, sensitive: true },
    { name: 'password', type: stringType, access: 'wo' },
    { name: 'default', type: boolType, access: 'ro', flag: { letter: '*' } },
    { name: 'dynamic', type: boolType, default: false },
    { name: 'comment', type: stringType },
  ],
  defaults: [{ name: 'standard', default: true }, { name: 'spare' }],
};

describe('/export options', () => {
  let app: Appliance;
  let dir: string;
  let cli: (line: string, user?: string) => Promise<string>;

  before(async () => {
    dir = tempDir();
    app = await Appliance.open(dir, { clock: new FixedClock(T0), menus: [...ALL_MENUS, widgets] });
    const consoles = new Map<string, { c: ConsoleSession; out: string[] }>();
    cli = async (line, user = 'admin') => {
      let entry = consoles.get(user);
      if (!entry) {
        const out: string[] = [];
        entry = { c: await ConsoleSession.open(app, { user, output: (t) => { out.push(t); } }), out };
        consoles.set(user, entry);
      }
      entry.out.length = 0;
      const r = await entry.c.run(line);
      return `${entry.out.join('')}${r.ok ? '' : `${r.error}\n`}`;
    };
    for (const line of [
      '/test widget set standard size=20 secret=hush',
      '/test widget set spare name=extra label=renamed',
      '/test widget add name=a size=30 secret=s3cret password=pw comment="first one"',
      '/test widget add name=b',
      '/test widget add name=dyn dynamic=yes',
      '/user group add name=nosens policy=read,write,test,ssh,api,rest-api,ftp,password,local',
      '/user add name=reader group=read password=x',
      '/user add name=nosens group=nosens password=x',
    ]) assert.equal(await cli(line), '', line);
  });
  after(() => { app.close(); fs.rmSync(dir, { recursive: true, force: true }); });

  const HEADER = '# 2026-01-01 00:00:00 by RouterOS 7.23.3\n# software id =\n#\n';

  test('compact (the default): what differs from a fresh router; built-in rows by their first name or [ find default=yes ]', async () => {
    const expected = `${HEADER}/test widget\nset [ find default=yes ] size=20\nset spare label=renamed name=extra\nadd comment="first one" name=a size=30\nadd name=b\n`;
    assert.equal(await cli('/test widget export'), expected);
    assert.equal(await cli('/test widget export compact hide-sensitive'), expected);
    assert.equal(await cli('/test export'), expected, 'the export of a directory writes the menus below it');
  });

  test('verbose: every value, unset ones as !name (comment left out), sensitive and write-only values dropped', async () => {
    // A property a built-in row never had does not apply to it (certificate on /ip service www).
    assert.equal(await cli('/test widget export verbose'), `${HEADER}/test widget\n`
      + 'set [ find default=yes ] dynamic=no name=standard size=20\n'
      + 'set spare dynamic=no label=renamed name=extra size=10\n'
      + 'add comment="first one" dynamic=no !label name=a size=30\n'
      + 'add dynamic=no !label name=b size=10\n');
  });

  test('terse: each line with its menu path, never wrapped; where: only matching rows', async () => {
    assert.equal(await cli('/test widget export terse where size>15'), `${HEADER}/test widget set [ find default=yes ] size=20\n/test widget add comment="first one" name=a size=30\n`);
    const long = 'x'.repeat(120);
    await cli(`/test widget set b label=${long}`);
    assert.match(await cli('/test widget export terse'), new RegExp(`^/test widget add label=${long} name=b$`, 'm'));
    assert.match(await cli('/test widget export'), /^add label=x+\\\n {4}x+ name=b$/m, 'compact wraps at 80 columns');
    assert.equal(await cli('/test widget set b !label'), '');
  });

  test('show-sensitive: needs the sensitive policy; the values are written, write-only ones never', async () => {
    const shown = await cli('/test widget export show-sensitive');
    assert.match(shown, /^set \[ find default=yes \] secret=hush size=20$/m);
    assert.match(shown, /^add comment="first one" name=a secret=s3cret size=30$/m);
    assert.doesNotMatch(shown, /pw/);
    assert.equal(await cli('/test widget export show-sensitive', 'nosens'), 'not enough permissions (9)\n');
    assert.doesNotMatch(await cli('/export', 'nosens'), /hush|s3cret/);
  });

  test('file=: writes <name>.rsc through the file store, needs write; the header is the same', async () => {
    assert.equal(await cli('/export file=backup'), '');
    const text = fs.readFileSync(path.join(app.dataDir.filesDir, 'backup.rsc'), 'utf8');
    assert.equal(text, await cli('/export'));
    assert.equal(await cli('/test widget export file=w.rsc'), '');
    assert.ok(fs.existsSync(path.join(app.dataDir.filesDir, 'w.rsc')));
    assert.equal(await cli('/export file=mine', 'reader'), 'not enough permissions (9)\n');
    assert.ok(!fs.existsSync(path.join(app.dataDir.filesDir, 'mine.rsc')));
    assert.match(await cli('/export file=../outside'), /invalid file name/);
  });

  test('certificates, keys and users never appear, whatever the options', async () => {
    await cli('/certificate add name=ca common-name=CA key-size=prime256v1 key-usage=key-cert-sign,crl-sign');
    await cli('/certificate sign ca');
    for (const options of ['', ' verbose', ' verbose show-sensitive', ' terse show-sensitive']) {
      for (const menu of ['', '/certificate ', '/user ']) {
        const text = await cli(`${menu}export${options}`);
        assert.doesNotMatch(text, /common-name|BEGIN|name=ca\b|name=reader|password=/, `${menu}export${options}`);
      }
    }
    assert.match(await cli('/certificate export verbose'), /^\/certificate settings\nset builtin-trust-store=default/m);
  });

  test('the export command exists where RouterOS has it: directories, the root, exported menus and their parents', async () => {
    const has = (p: string) => app.registry.commands(p).some((c) => c.name === 'export');
    for (const p of ['/', '/system', '/ip', '/tool', '/certificate', '/user', '/user/group', '/system/clock/manual', '/system/scheduler']) assert.ok(has(p), p);
    for (const p of ['/log', '/file', '/certificate/builtin', '/user/ssh-keys', '/system/script/job']) assert.ok(!has(p), p);
  });
});
