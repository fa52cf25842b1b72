import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
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

const BIN = path.resolve(import.meta.dirname, '../../bin/rospki.js');

/** `rospki ARGS` started with umask 022, the common default that leaves files world-readable. */
function spawnUnderUmask022(args: string[]) {
  return spawn('sh', ['-c', 'umask 022 && exec "$@"', 'sh', process.execPath, BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function runUnderUmask022(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawnUnderUmask022(args);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

/** Every entry below root (root included) whose mode is not owner-only 0700/0600. */
function notPrivate(root: string): string[] {
  const wrong: string[] = [];
  const visit = (p: string) => {
    const st = fs.lstatSync(p);
    const want = st.isDirectory() ? 0o700 : 0o600;
    if ((st.mode & 0o777) !== want) wrong.push(`${path.relative(root, p) || '.'} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) visit(path.join(p, name));
  };
  visit(root);
  return wrong;
}

test('under umask 022 everything rospki creates in the data directory is owner-only', async (t) => {
  const dir = path.join(tempDir(t), 'data');
  const setup = await runUnderUmask022(['--data', dir, '-e', `/ip service disable [find]
    /user print file=users
    /certificate add name=c common-name=c key-size=prime256v1
    /certificate sign c
    /certificate export-certificate c`]);
  assert.equal(setup.status, 0, setup.stdout + setup.stderr);
  assert.ok(fs.existsSync(path.join(dir, 'files', 'users.txt')) && fs.existsSync(path.join(dir, 'files', 'cert_export_c.crt')));

  // The daemon keeps the database open: its -wal and -shm files and the control socket exist.
  const daemon = spawnUnderUmask022(['--data', dir, 'serve']);
  t.after(() => daemon.kill('SIGKILL'));
  const exited = new Promise((resolve) => daemon.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    daemon.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; if (out.includes('serving')) resolve(); });
    daemon.once('exit', () => reject(new Error('the daemon exited')));
  });
  const write = await runUnderUmask022(['--data', dir, '-e', '/user add name=u group=read']);
  assert.equal(write.status, 0, write.stdout + write.stderr);
  for (const name of ['rospki.db', 'rospki.db-wal', 'rospki.db-shm', 'control.sock', 'secret.key']) {
    assert.ok(fs.existsSync(path.join(dir, name)), name);
  }
  assert.deepEqual(notPrivate(dir), []);
  daemon.kill('SIGTERM');
  await exited;
  assert.deepEqual(notPrivate(dir), []);
});

test('a loosened data directory is tightened at start, and rospki says so', async (t) => {
  const outside = tempDir(t);
  const dir = path.join(tempDir(t), 'data');
  const first = await runUnderUmask022(['--data', dir, '-e', '/user print file=users']);
  assert.equal(first.status, 0, first.stdout + first.stderr);
  const target = path.join(outside, 'not-ours');
  fs.writeFileSync(target, 'x');
  fs.chmodSync(target, 0o644);
  fs.symlinkSync(target, path.join(dir, 'files', 'link'));
  const loosen: Record<string, number> = { '.': 0o755, 'rospki.db': 0o644, 'secret.key': 0o640, files: 0o777, 'files/users.txt': 0o664 };
  for (const [p, mode] of Object.entries(loosen)) fs.chmodSync(path.join(dir, p), mode);

  const r = await runWithTightenedLog(dir);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const said = (p: string, mode: number) => `tightened permissions of ${p} (was ${mode.toString(8).padStart(4, '0')})`;
  assert.deepEqual(r.stderr.split('\n').filter(Boolean).sort(),
    Object.entries(loosen).map(([p, mode]) => `rospki: ${said(p === '.' ? dir : path.join(dir, p), mode)}`).sort());
  // /log says it too, naming paths inside the data directory only.
  assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(),
    Object.entries(loosen).map(([p, mode]) => said(p === '.' ? 'the data directory' : p, mode)).sort());
  assert.deepEqual(notPrivate(dir).filter((e) => !e.startsWith('files/link ')), []);
  assert.equal(fs.statSync(target).mode & 0o777, 0o644, 'a symbolic link is never followed');

  const again = await runWithTightenedLog(dir);
  assert.equal(again.stderr, '', 'nothing left to tighten');
});

function runWithTightenedLog(dir: string) {
  return runUnderUmask022(['--data', dir, '-e', ':foreach i in=[/log find where message~"tightened"] do={ :put [/log get $i message] }']);
}
