// One declaration per property (design.md rule 1): a throwaway menu gains a property by one entry,
// and print, detail, get, set, add, export, REST, the API and `?` help all follow it — including
// its type's range, its default and the one prefix rule.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Appliance } from '../../src/appliance.js';
import { FixedClock } from '../../src/clock.js';
import { ConsoleSession } from '../../src/console/session.js';
import { enumType, intType, stringType } from '../../src/menu/proptypes.js';
import type { MenuDecl, PropertyDecl } from '../../src/menu/types.js';
import { ALL_MENUS } from '../../src/menus/index.js';
import { startServices, type RunningServices } from '../../src/services/index.js';
import { ApiClient, attrs, freePort, PASSWORD, run } from '../services/support.js';
import { T0, tempDir } from '../support/app.js';

const weight: PropertyDecl<number> = { name: 'weight', type: intType(1, 500), default: 10, help: 'Weight in grams' };
const colour: PropertyDecl<string> = { name: 'colour', type: enumType(['red', 'green', 'blue']), default: 'red', help: 'Paint' };

function gadgetMenu(extra: PropertyDecl[]): MenuDecl {
  return {
    path: '/test/gadget', kind: 'list', key: 'name', help: 'Gadgets',
    verbs: ['print', 'get', 'set', 'add', 'remove', 'find', 'export'],
    columns: ['name', ...extra.map((p) => p.name)],
    properties: [{ name: 'name', type: stringType, required: true, unique: true }, ...extra],
  };
}

describe('a property added to a menu by one declaration', () => {
  let app: Appliance;
  let dir: string;
  let services: RunningServices;
  let ports: { www: number; api: number };
  let console: ConsoleSession;
  let out = '';
  const cli = async (line: string): Promise<string> => {
    out = '';
    const r = await console.run(line);
    return r.ok ? out : `${out}${r.error}\n`;
  };

  before(async () => {
    dir = tempDir();
    app = await Appliance.open(dir, { clock: new FixedClock(T0), menus: [...ALL_MENUS, gadgetMenu([weight, colour])] });
    console = await ConsoleSession.open(app, { output: (t) => { out += t; } });
    ports = { www: await freePort(), api: await freePort() };
    await cli(`/user set admin password=${PASSWORD}`);
    await cli(`/ip service set www port=${ports.www}; /ip service set api port=${ports.api}; /ip service disable api-ssl`);
    services = await startServices(app, { host: '127.0.0.1', loginFailureDelayMs: 10, pollMs: 100 });
  });
  after(async () => {
    await services.stop();
    app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('add and set parse it through its type: range, enum prefix, default', async () => {
    assert.equal(await cli('/test/gadget add name=a weight=20 colour=gr'), '');
    assert.equal(await cli('/test/gadget add name=b'), '');
    assert.equal(await cli('/test/gadget add name=c weight=501'), 'value of weight is out of range (1 .. 500)\n');
    assert.equal(await cli('/test/gadget add name=c colour=purple'), 'input does not match any value of colour\n');
    assert.equal(await cli('/test/gadget set a wei=40'), '', 'argument names follow the prefix rule');
    assert.equal(await cli(':put [/test/gadget get a weight]; :put [/test/gadget get b weight]; :put [:typeof [/test/gadget get a weight]]'), '40\n10\nnum\n');
    assert.equal(await cli(':put [/test/gadget get a colour]'), 'green\n');
  });

  test('print, detail and export show it', async () => {
    const table = await cli('/test/gadget print');
    assert.match(table, /#\s+NAME\s+WEIGHT\s+COLOUR/);
    assert.match(table, /0\s+a\s+40\s+green/);
    assert.match(await cli('/test/gadget print detail'), /name="a" weight=40 colour=green/);
    const exported = await cli('/test/gadget export');
    assert.match(exported, /^add colour=green name=a weight=40$/m);
    assert.match(exported, /^add name=b$/m, 'defaults are left out of export');
  });

  test('REST and the API carry it, and refuse what its type refuses', async () => {
    const rest = await run('curl', ['-sS', '-u', `admin:${PASSWORD}`, `http://127.0.0.1:${ports.www}/rest/test/gadget?name=a`]);
    assert.equal(rest.status, 0, rest.stderr);
    const [item] = JSON.parse(rest.stdout) as Array<Record<string, string>>;
    assert.equal(item!.weight, '40');
    assert.equal(item!.colour, 'green');
    const bad = await run('curl', ['-sS', '-u', `admin:${PASSWORD}`, '-X', 'PATCH', '-H', 'content-type: application/json',
      '-d', '{"weight":"0"}', `http://127.0.0.1:${ports.www}/rest/test/gadget/a`]);
    assert.match(bad.stdout, /value of weight is out of range \(1 \.\. 500\)/);

    const api = await ApiClient.connect(ports.api);
    try {
      await api.login();
      const reply = await api.talk('/test/gadget/print', '?name=b');
      assert.equal(attrs(reply[0]!).weight, '10');
      const set = await api.talk('/test/gadget/set', '=.id=b', '=colour=bl');
      assert.equal(set[0]![0], '!done', 'the API takes the same prefixes as the console');
      assert.equal(attrs((await api.talk('/test/gadget/print', '?name=b'))[0]!).colour, 'blue');
    } finally {
      api.close();
    }
  });

  test('`?` help lists it with its own help text', async () => {
    const help = await console.help('/test/gadget add ');
    assert.match(help, /^weight -- Weight in grams$/m);
    assert.match(help, /^colour -- Paint$/m);
  });
});

test('absentWhenEmpty and detail: always contradict each other: no property declares both', () => {
  const both = ALL_MENUS.flatMap((m) => m.properties.filter((p) => p.absentWhenEmpty && p.detail === 'always').map((p) => `${m.path} ${p.name}`));
  assert.deepEqual(both, []);
  // The certificate facts that may not apply are declared so (clients.md #11).
  const cert = ALL_MENUS.find((m) => m.path === '/certificate')!;
  for (const name of ['key-usage', 'skid', 'issuer', 'common-name', 'organization']) {
    assert.equal(cert.properties.find((p) => p.name === name)?.absentWhenEmpty, true, name);
  }
});
