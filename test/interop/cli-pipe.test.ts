// `rospki -e '/log print' | head -3` (issue 11): when the reader of standard output goes away,
// rospki drops the rest of its output and ends quietly: no EPIPE stack trace, the script runs
// to its end (as it does through a daemon), the exit status is the script's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../support/app.js';

const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'rospki.js');
const dirs: string[] = [];
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

/** Runs rospki with its standard output's reader closed before rospki writes anything. */
function withClosedStdout(args: string[], input?: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    // Closing the read end at once: every write of the child meets EPIPE, deterministically.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => { stderr += c; });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('rospki did not exit')); }, 30_000);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stderr }); });
  });
}

function dataDir(): string {
  const d = tempDir('rospki-pipe-');
  dirs.push(d);
  return d;
}

// Enough output that several writes happen after the first EPIPE.
const SCRIPT = ':for i from=1 to=300 do={ :put "line $i" }; /log print; /system identity set name=after-the-pipe';

test('-e: a closed standard output ends quietly, the script still runs to its end', async () => {
  const dir = dataDir();
  const r = await withClosedStdout(['--data', dir, '-e', SCRIPT]);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  const check = await withClosedStdout(['--data', dir, '-e', ':if ([/system identity get name] != "after-the-pipe") do={ :error "not run" }']);
  assert.equal(check.status, 0, 'the command after the output ran');
});

test('a .rsc file and piped stdin behave the same; a failing script still exits 1', async () => {
  const dir = dataDir();
  const file = path.join(dir, 'script.rsc');
  fs.writeFileSync(file, `${SCRIPT}\n`, { mode: 0o600 }); // owner-only, like everything in a data folder
  const fromFile = await withClosedStdout(['--data', dir, file]);
  assert.equal(fromFile.stderr, '');
  assert.equal(fromFile.status, 0);
  const fromStdin = await withClosedStdout(['--data', dir], `${SCRIPT}\n`);
  assert.equal(fromStdin.stderr, '');
  assert.equal(fromStdin.status, 0);
  const failing = await withClosedStdout(['--data', dir, '-e', `${SCRIPT}; :error "stop"`]);
  assert.equal(failing.stderr, '');
  assert.equal(failing.status, 1);
});

test('through a running daemon: the same', async () => {
  const dir = dataDir();
  const daemon = spawn('node', [BIN, 'serve', '--data', dir], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('daemon did not start')), 30_000);
      daemon.stdout.setEncoding('utf8');
      daemon.stdout.on('data', (c: string) => { if (c.includes('serving')) { clearTimeout(timer); resolve(); } });
      daemon.on('exit', () => { clearTimeout(timer); reject(new Error('daemon exited')); });
    });
    const r = await withClosedStdout(['--data', dir, '-e', SCRIPT]);
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('close', r));
  }
});
