// The command contract (issue 10 §1, §5): one command behaves the same on every front end, no
// command writes outside the /file store, and no edge shows a stack, an internal message or a
// host path — an unexpected error shows a reference and its stack goes to the operator's log.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Appliance } from '../../src/appliance.js';
import { FixedClock } from '../../src/clock.js';
import { ConsoleSession } from '../../src/console/session.js';
import { itemsType } from '../../src/menu/proptypes.js';
import type { MenuDecl } from '../../src/menu/types.js';
import { ALL_MENUS } from '../../src/menus/index.js';
import { startServices, type RunningServices } from '../../src/services/index.js';
import { ApiClient, attrs, freePort, PASSWORD, run } from '../services/support.js';
import { T0, tempDir } from '../support/app.js';

/** A menu whose command fails the way a bug does: a TypeError carrying a host path. */
const brokenMenu: MenuDecl = {
  path: '/test/broken', kind: 'dir', properties: [], verbs: [],
  commands: [{
    name: 'crash', policy: 'read', args: [{ name: 'numbers', type: itemsType, positional: 0 }],
    async run() {
      throw new TypeError(`Cannot read properties of undefined (reading 'x') at ${path.join(process.cwd(), 'secret-host-path.ts')}`);
    },
  }],
};

describe('one command contract on every front end', () => {
  let app: Appliance;
  let dir: string;
  let services: RunningServices;
  let ports: { www: number; api: number };
  let console: ConsoleSession;
  let out = '';
  const operatorLog: string[] = [];
  const cli = async (line: string): Promise<string> => {
    out = '';
    const r = await console.run(line);
    return r.ok ? out : `${out}${r.error}\n`;
  };
  const rest = (method: string, url: string, body?: unknown, user = 'admin', password = PASSWORD) => run('curl', [
    '-sS', '-u', `${user}:${password}`, '-X', method, '-H', 'content-type: application/json',
    ...(body === undefined ? [] : ['-d', JSON.stringify(body)]), `http://127.0.0.1:${ports.www}/rest${url}`,
  ]);

  before(async () => {
    dir = tempDir();
    app = await Appliance.open(dir, { clock: new FixedClock(T0), menus: [...ALL_MENUS, brokenMenu], operatorLog: (t) => operatorLog.push(t) });
    console = await ConsoleSession.open(app, { output: (t) => { out += t; } });
    ports = { www: await freePort(), api: await freePort() };
    await cli(`/user set admin password=${PASSWORD}; /user add name=reader group=read password=${PASSWORD}`);
    await cli(`/ip service set www port=${ports.www}; /ip service set api port=${ports.api}; /ip service disable api-ssl`);
    await cli('/certificate add name=myCA common-name=ca key-size=prime256v1 key-usage=key-cert-sign,crl-sign; /certificate sign myCA');
    services = await startServices(app, { host: '127.0.0.1', loginFailureDelayMs: 10, pollMs: 100 });
  });
  after(async () => {
    await services.stop();
    app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const issuer = async (name: string): Promise<string> => {
    out = '';
    await console.run(`:put [/certificate get ${name} ca]`);
    return out.trim();
  };

  test('`sign t ca=my` signs with myCA on the console, over REST and over the API', async () => {
    await cli('/certificate add name=t1 common-name=t1 key-size=prime256v1; /certificate add name=t2 common-name=t2 key-size=prime256v1; /certificate add name=t3 common-name=t3 key-size=prime256v1');
    assert.equal(await cli('/certificate sign t1 ca=my'), '  progress: done\n');
    const r = await rest('POST', '/certificate/sign', { number: 't2', ca: 'my' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /"error"/, r.stdout);
    const api = await ApiClient.connect(ports.api);
    try {
      await api.login();
      const reply = await api.talk('/certificate/sign', '=number=t3', '=ca=my');
      assert.equal(reply.at(-1)![0], '!done', JSON.stringify(reply));
    } finally {
      api.close();
    }
    for (const t of ['t1', 't2', 't3']) assert.equal(await issuer(t), 'myCA', t);
    // An ambiguous prefix is refused the same way everywhere.
    await cli('/certificate add name=myCA2 common-name=ca2 key-size=prime256v1 key-usage=key-cert-sign; /certificate sign myCA2; /certificate add name=t4 common-name=t4 key-size=prime256v1');
    assert.equal(await cli('/certificate sign t4 ca=my'), 'ambiguous value of ca, more than one possible value matches input\n');
    assert.match((await rest('POST', '/certificate/sign', { number: 't4', ca: 'my' })).stdout, /ambiguous value of ca/);
    assert.equal(await cli('/certificate sign t4 ca=myCA'), '  progress: done\n', 'an exact name wins over the longer names it prefixes');
  });

  test('`print file=` cannot leave the store through a planted link, and needs the write policy', async () => {
    const outside = tempDir('rospki-outside-');
    try {
      const files = path.join(dir, 'files');
      fs.mkdirSync(path.join(files, 'sub'), { recursive: true });
      fs.symlinkSync(outside, path.join(files, 'sub', 'link'));
      assert.match(await cli('/user print file=sub/link/passwd'), /^failure: invalid file name "sub\/link\/passwd(\.txt)?": symbolic links are not followed$/m);
      assert.deepEqual(fs.readdirSync(outside), [], 'nothing written outside the store');
      assert.equal(await cli('/user print file=users'), '');
      assert.match(fs.readFileSync(path.join(files, 'users.txt'), 'utf8'), /admin/);
      const r = await rest('POST', '/user/print', { file: 'by-reader' }, 'reader');
      assert.match(r.stdout, /not enough permissions/);
      assert.ok(!fs.existsSync(path.join(files, 'by-reader.txt')), 'a read user writes nothing into /file');
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  test('an unexpected error shows only a reference on every edge; its stack goes to the operator log', async () => {
    const consoleText = await cli('/test/broken crash');
    assert.match(consoleText, /^failure: internal error \(ref [0-9a-f]{8}\)\n$/);
    const r = await rest('POST', '/test/broken/crash', {});
    const body = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.match(String(body.detail), /^failure: internal error \(ref [0-9a-f]{8}\)$/);
    const api = await ApiClient.connect(ports.api);
    let trap: Record<string, string>;
    try {
      await api.login();
      const reply = await api.talk('/test/broken/crash');
      assert.equal(reply[0]![0], '!trap');
      trap = attrs(reply[0]!);
    } finally {
      api.close();
    }
    assert.match(trap.message!, /^failure: internal error \(ref [0-9a-f]{8}\)$/);
    for (const shown of [consoleText, r.stdout, trap.message!]) {
      assert.doesNotMatch(shown, /TypeError|secret-host-path|Cannot read properties|\n\s+at /, shown);
    }
    const ref = /ref ([0-9a-f]{8})/.exec(consoleText)![1]!;
    const logged = operatorLog.find((l) => l.includes(ref)) ?? '';
    assert.match(logged, /TypeError: Cannot read properties/, 'the stack reaches the operator');
    assert.match(logged, /\n\s+at /);
    const log = await cli('/log print where message~"internal error"');
    assert.match(log, new RegExp(`internal error ${ref} in /test/broken crash`));
  });
});
