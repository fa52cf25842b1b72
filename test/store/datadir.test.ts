import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { openDataDir, resolveDataDir } from '../../src/store/index.js';
import { startWorker, tempDir } from './helpers.js';

const mode = (p: string) => fs.statSync(p).mode & 0o777;

test('the data directory is created private, with a stable 32-byte secret', (t) => {
  const root = path.join(tempDir(t), 'data', 'nested');
  const dd = openDataDir(root);
  assert.equal(dd.root, root);
  assert.equal(dd.dbPath, path.join(root, 'rospki.db'));
  assert.equal(dd.filesDir, path.join(root, 'files'));
  assert.equal(dd.socketPath, path.join(root, 'control.sock'));
  assert.equal(mode(root), 0o700);
  assert.equal(mode(dd.filesDir), 0o700);
  assert.equal(mode(dd.secretPath), 0o600);
  assert.equal(dd.secret.length, 32);
  assert.deepEqual(openDataDir(root).secret, dd.secret);
});

test('a damaged secret is reported, not replaced', (t) => {
  const root = tempDir(t);
  fs.writeFileSync(path.join(root, 'secret.key'), Buffer.alloc(40));
  assert.throws(() => openDataDir(root), /secret .* is damaged: expected 32 bytes, found 40/);
});

test('two processes creating the data directory at once agree on one secret', async (t) => {
  for (let round = 0; round < 3; round++) {
    const root = path.join(tempDir(t), 'new');
    const outs = await Promise.all([startWorker(root, 'secret').done, startWorker(root, 'secret').done]);
    assert.equal(outs[0], outs[1]);
    assert.equal(outs[0].trim(), fs.readFileSync(path.join(root, 'secret.key')).toString('hex'));
  }
});

test('a process waits for a secret another process is still writing', async (t) => {
  const root = tempDir(t);
  const file = path.join(root, 'secret.key');
  fs.writeFileSync(file, '', { mode: 0o600 }); // created, not yet written
  const worker = startWorker(root, 'secret');
  await new Promise((r) => setTimeout(r, 300));
  const secret = Buffer.alloc(32, 7);
  fs.writeFileSync(file, secret);
  assert.equal((await worker.done).trim(), secret.toString('hex'));
});

test('resolveDataDir: --data, else ROSPKI_DATA, else ./rospki-data', () => {
  assert.equal(resolveDataDir('/x/y', { ROSPKI_DATA: '/env' }), '/x/y');
  assert.equal(resolveDataDir(undefined, { ROSPKI_DATA: '/env' }), '/env');
  assert.equal(resolveDataDir(undefined, {}), path.resolve('rospki-data'));
  assert.equal(resolveDataDir('rel', {}), path.resolve('rel'));
});
