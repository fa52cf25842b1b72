// HTTP-01 answers on a store several instances share (issue 17): the instance that runs an ACME
// order keeps its answers in the store, so www of every instance answers the CA (which may reach
// any of them). Two appliances on one PostgreSQL database, www of the second on 127.0.0.2, and
// curl as the CA's validator; on SQLite nothing is written to the store.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Appliance } from '../../src/appliance.js';
import { shareHttp01, SHARED_HTTP01_PATH } from '../../src/menus/certificate/acme-responder.js';
import { startServices, type RunningServices } from '../../src/services/index.js';
import { tempDir } from '../support/app.js';
import { postgresMissing, startPgCluster, type PgCluster } from '../support/postgres.js';
import { freePort, run } from './support.js';

const skip = postgresMissing();

async function waitFor(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('HTTP-01 answers shared by the instances of a PostgreSQL store', { skip }, () => {
  let cluster: PgCluster;
  let root: string;
  const apps: Appliance[] = [];
  let services: RunningServices | undefined;
  before(async () => {
    cluster = await startPgCluster();
    root = tempDir('rospki-pg-acme-');
  });
  after(async () => {
    await services?.stop();
    for (const app of apps) { app.close(); await app.closed(); }
    cluster?.destroy();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test('an answer kept by one instance is served by the other\'s www until it is removed', async () => {
    const url = await cluster.newDatabase();
    const a = await Appliance.open(path.join(root, 'a'), { store: url });
    apps.push(a);
    fs.mkdirSync(path.join(root, 'b'), { mode: 0o700 });
    fs.copyFileSync(path.join(root, 'a', 'secret.key'), path.join(root, 'b', 'secret.key'));
    const b = await Appliance.open(path.join(root, 'b'), { store: url });
    apps.push(b);
    const port = await freePort();
    const session = await a.session('admin', 'test');
    for (const [command, args] of [['set', { numbers: 'www', port: String(port) }], ['disable', { numbers: 'api,api-ssl' }]] as const) {
      const r = await a.executor.run({ path: '/ip/service', command, args: new Map(Object.entries(args)), session });
      assert.ok(!('error' in r), JSON.stringify(r));
    }
    services = await startServices(b, { host: '127.0.0.2', pollMs: 100 });
    const token = randomBytes(24).toString('base64url');
    const answer = `${token}.${randomBytes(32).toString('base64url')}`;
    const challenge = `http://127.0.0.2:${port}/.well-known/acme-challenge/${token}`;
    const fetchAnswer = () => run('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', challenge]);

    assert.match((await fetchAnswer()).stdout, /\n404$/);
    const remove = await shareHttp01(a.env, token, answer);
    // Acknowledged on A: B answers at once (its read catches up first).
    assert.equal((await fetchAnswer()).stdout, `${answer}\n200`);
    remove();
    await waitFor(async () => (await fetchAnswer()).stdout.endsWith('\n404'), 'the answer to go');
    assert.equal(await b.store.read((tx) => tx.list(SHARED_HTTP01_PATH).length), 0);
  });

  test('on SQLite the answer stays in the process (one daemon answers)', async () => {
    const app = await Appliance.open(path.join(root, 'sqlite'));
    apps.push(app);
    const remove = await shareHttp01(app.env, randomBytes(24).toString('base64url'), 'x.y');
    assert.equal(await app.store.read((tx) => tx.list(SHARED_HTTP01_PATH).length), 0);
    remove();
  });
});
