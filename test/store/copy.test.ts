// `rospki store copy` (issue 17 §4) with the real binary: a SQLite data directory into an empty
// PostgreSQL database and back, each checked by the copy itself (rows, removed ids, blobs, sealed
// keys, /file) and here by what the console shows on the other side.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres.js';
import { tempDir } from '../support/app.js';
import { postgresMissing, startPgCluster, type PgCluster } from '../support/postgres.js';

const skip = postgresMissing();
const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'rospki.js');

function rospki(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync('node', [BIN, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ROSPKI_STORE: '', ROSPKI_FAKE_TIME: '2026-06-01T12:00:00Z', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What the console shows of a store: the same on both sides of a copy (the clock stands still: ROSPKI_FAKE_TIME). */
const SHOW = [
  '/certificate print detail without-paging',
  ':put [/certificate get leaf fingerprint]',
  '/file print detail without-paging',
  ':put [/file get notes.txt contents]',
  '/user print without-paging',
  ':put [/system identity get name]',
].join('\n');

describe('rospki store copy', { skip }, () => {
  let cluster: PgCluster;
  let root: string;
  before(async () => {
    cluster = await startPgCluster();
    root = tempDir('rospki-copy-');
  });
  after(() => {
    cluster?.destroy();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test('a data directory into PostgreSQL and back, verified; refuses a target that is not empty', async () => {
    const source = path.join(root, 'source');
    const made = rospki(['--data', source, '-e', [
      '/system identity set name=copied',
      '/certificate add name=ca common-name=ca key-usage=key-cert-sign,crl-sign key-size=prime256v1',
      '/certificate sign ca',
      '/certificate add name=leaf common-name=leaf key-size=prime256v1',
      '/certificate sign leaf ca=ca',
      '/certificate add name=gone common-name=gone key-size=prime256v1',
      '/certificate remove gone',
      '/user add name=ops group=read password=x',
      '/file add name=notes.txt contents="hello from the source"',
      '/file add name=folder type=directory',
    ].join('\n')]);
    assert.equal(made.status, 0, made.stdout + made.stderr);
    const shown = rospki(['--data', source, '-e', SHOW]);
    assert.equal(shown.status, 0, shown.stdout);

    const url = await cluster.newDatabase();
    const to = rospki(['store', 'copy', '--from', source, '--to', url]);
    assert.equal(to.status, 0, to.stderr);
    assert.match(to.stdout, /copied .* rows of \d+ menus, 1 removed ids, \d+ blobs \(2 sealed keys opened on both sides\), 2 files and folders; every one verified/);
    assert.doesNotMatch(to.stdout + to.stderr, new RegExp(cluster.password));

    // An instance on the database (with the source's secret.key) shows the same.
    const instance = path.join(root, 'instance');
    fs.mkdirSync(instance, { mode: 0o700 });
    fs.copyFileSync(path.join(source, 'secret.key'), path.join(instance, 'secret.key'));
    const onPg = rospki(['--data', instance, '--store', url, '-e', SHOW]);
    assert.equal(onPg.stderr, '');
    assert.equal(onPg.stdout, shown.stdout);
    // The removed id is not given again.
    assert.equal(rospki(['--data', instance, '--store', url, '-e', '/certificate add name=new common-name=new\n:put [/certificate find where name=new]']).stdout, '*4\n');

    // Copying again into the same database is refused: the target must be empty.
    const again = rospki(['store', 'copy', '--from', source, '--to', url]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /store copy failed: .*(not empty|already)/);

    // And back into a new data directory (the secret from --data).
    const back = path.join(root, 'back');
    const from = rospki(['store', 'copy', '--from', url, '--to', back, '--data', instance]);
    assert.equal(from.status, 0, from.stderr);
    assert.match(from.stdout, /every one verified/);
    assert.deepEqual(fs.readFileSync(path.join(back, 'secret.key')), fs.readFileSync(path.join(source, 'secret.key')));
    const onPgNow = rospki(['--data', instance, '--store', url, '-e', SHOW]);
    assert.match(onPgNow.stdout, /name="new"/);
    const onDisk = rospki(['--data', back, '-e', SHOW]);
    assert.equal(onDisk.stdout, onPgNow.stdout);
    assert.equal(rospki(['--data', back, '-e', ':put [/certificate get new common-name]']).stdout, 'new\n');
  });

  test('a wrong secret or a missing one is refused before anything is written', async () => {
    const url = await cluster.newDatabase();
    const source = path.join(root, 'source2');
    assert.equal(rospki(['--data', source, '-e', '/system identity set name=two']).status, 0);
    assert.equal(rospki(['store', 'copy', '--from', source, '--to', url]).status, 0);
    const other = path.join(root, 'other');
    fs.mkdirSync(other, { mode: 0o700 });
    fs.writeFileSync(path.join(other, 'secret.key'), Buffer.alloc(32, 9), { mode: 0o600 });
    const wrong = rospki(['store', 'copy', '--from', url, '--to', path.join(root, 'never'), '--data', other]);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /not the one .* was sealed with/);
    assert.ok(!fs.existsSync(path.join(root, 'never', 'rospki.db')));
    const none = rospki(['store', 'copy', '--from', url, '--to', path.join(root, 'never2'), '--data', path.join(root, 'nothing')]);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /secret\.key is missing/);
    // A database some instance uses is not copied from (it would change under the copy).
    const instance = await PostgresStore.open({ url, secret: fs.readFileSync(path.join(source, 'secret.key')) });
    try {
      const busy = rospki(['store', 'copy', '--from', url, '--to', path.join(root, 'never3'), '--data', source]);
      assert.equal(busy.status, 1);
      assert.match(busy.stderr, /rospki instances are connected to postgres:\/\/rospki@127\.0\.0\.1:\d+\/\w+: stop them first/);
    } finally {
      instance.close();
      await instance.whenClosed();
    }
    // The database is untouched by the refused copies.
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const { rows } = await c.query<{ data: string }>("SELECT data FROM rospki_rows WHERE menu = '/system/identity'");
      assert.match(rows[0]!.data, /"two"/);
    } finally {
      await c.end();
    }
  });
});
