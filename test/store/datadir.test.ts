import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
  // The secret file is a FIFO, so each time the worker looks at it is an event this test sees:
  // opening the FIFO for writing completes only when the worker opens it for reading.
  const root = tempDir(t);
  const file = path.join(root, 'secret.key');
  execFileSync('mkfifo', ['-m', '600', file]);
  const worker = startWorker(root, 'secret');
  // First look: nothing written yet (the writer closes at once; the worker reads 0 bytes)…
  await (await openForWriting(file, worker.done)).close();
  // …and closes the file to wait and look again; then the 32 bytes are there.
  await readerClosed(file);
  const secret = Buffer.alloc(32, 7);
  const second = await openForWriting(file, worker.done);
  await second.write(secret);
  await second.close();
  assert.equal((await worker.done).trim(), secret.toString('hex'));
});

/** Opens a FIFO for writing once its reader opens it; fails if the reader's process ends first. */
async function openForWriting(fifo: string, readerDone: Promise<unknown>): Promise<fs.promises.FileHandle> {
  const opening = fs.promises.open(fifo, 'w');
  const ended = readerDone.then(() => 'exited', (e: Error) => e.message);
  const first = await Promise.race([opening, ended]);
  if (typeof first !== 'string') return first;
  // Release the pending open (it waits for a reader) so nothing is left blocked, then fail.
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  await (await opening).close();
  fs.closeSync(reader);
  throw new Error(`the worker stopped reading the secret: ${first}`);
}

/** Resolves once no process has the FIFO open for reading (a non-blocking writer gets ENXIO). */
async function readerClosed(fifo: string): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    let fd: number;
    try {
      fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENXIO') return;
      throw e;
    }
    fs.closeSync(fd); // the reader still had it open; closing again only gives it another end-of-file
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error('the worker kept the secret file open');
}

test('resolveDataDir: --data, else ROSPKI_DATA, else ./rospki-data', () => {
  assert.equal(resolveDataDir('/x/y', { ROSPKI_DATA: '/env' }), '/x/y');
  assert.equal(resolveDataDir(undefined, { ROSPKI_DATA: '/env' }), '/env');
  assert.equal(resolveDataDir(undefined, {}), path.resolve('rospki-data'));
  assert.equal(resolveDataDir('rel', {}), path.resolve('rel'));
});
