// The supervisor of configured daemons: private runtime folder with the spec's files, restart on
// a changed spec, restart after a crash, clean stop, and a clear message for a missing program.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { DaemonMissing, Supervisor, type DaemonState } from '../../src/services/supervisor.js';
import { tempDir } from '../support/app.js';

const root = tempDir('rospki-supervisor-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a daemon runs in a private folder with its files, restarts when its spec changes, and leaves nothing when stopped', async () => {
  const lines: string[] = [];
  const sup = new Supervisor(path.join(root, 'run'), 'demo', { output: (l) => lines.push(l) });
  const spec = (greeting: string) => ({
    program: 'sh', package: 'dash', args: ['-c', 'cat {run}/greeting; echo "pid $$"; exec sleep 60'],
    files: { greeting: `${greeting}\n`, 'secret.key': 'not for others' },
  });
  await sup.apply(spec('hello'));
  await until(() => lines.includes('hello'), 'the daemon reads its file');
  const mode = fs.statSync(sup.runDir).mode & 0o777;
  assert.equal(mode, 0o700);
  assert.equal(fs.statSync(path.join(sup.runDir, 'secret.key')).mode & 0o777, 0o600);
  const firstPid = (sup.state as { pid: number }).pid;
  await sup.apply(spec('hello')); // the same spec: nothing happens
  assert.equal((sup.state as { pid: number }).pid, firstPid);
  await sup.apply(spec('again'));
  await until(() => lines.includes('again'), 'the restarted daemon');
  assert.notEqual((sup.state as { pid: number }).pid, firstPid);
  await sup.apply(undefined);
  assert.equal(sup.state.state, 'stopped');
  assert.equal(fs.existsSync(sup.runDir), false, 'the runtime folder (and its key) is gone');
});

test('a daemon that dies is started again; a missing program names its package', async () => {
  const states: DaemonState[] = [];
  const sup = new Supervisor(path.join(root, 'run'), 'crashy', { changed: (s) => states.push(s) });
  await sup.apply({ program: 'sh', package: 'dash', args: ['-c', 'exit 3'] });
  await until(() => states.some((s) => s.state === 'failed'), 'the exit');
  const failed = states.find((s) => s.state === 'failed') as { reason: string };
  assert.equal(failed.reason, 'exited with status 3');
  await until(() => states.filter((s) => s.state === 'failed').length >= 2, 'a second start after the back-off');
  await sup.apply(undefined);
  await assert.rejects(sup.apply({ program: 'no-such-daemon-here', package: 'nothing', args: [] }),
    (e) => e instanceof DaemonMissing && e.message === 'no-such-daemon-here is not installed (Debian package nothing)');
});

test('live files (a CRL) are rewritten in place, each time newer, without a restart', async () => {
  const lines: string[] = [];
  const sup = new Supervisor(path.join(root, 'run'), 'live', { output: (l) => lines.push(l) });
  const spec = (crl: string) => ({
    program: 'sh', package: 'dash', args: ['-c', 'echo "pid $$"; exec sleep 60'],
    files: { 'daemon.conf': 'same\n' }, liveFiles: { 'crl.pem': crl },
  });
  await sup.apply(spec('one'));
  await until(() => lines.some((l) => l.startsWith('pid ')), 'the daemon');
  const pid = (sup.state as { pid: number }).pid;
  const file = path.join(sup.runDir, 'crl.pem');
  const seconds = () => Math.floor(fs.statSync(file).mtimeMs / 1000);
  const first = seconds();
  await sup.apply(spec('two'));
  const second = seconds();
  await sup.apply(spec('three')); // within the same second: still a newer time
  assert.equal(fs.readFileSync(file, 'utf8'), 'three');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.ok(first < second && second < seconds(), 'every rewrite is newer by whole seconds (what OpenVPN compares)');
  assert.equal((sup.state as { pid: number }).pid, pid, 'not restarted');
  assert.deepEqual(fs.readdirSync(sup.runDir).sort(), ['crl.pem', 'daemon.conf'], 'no temporary file left');
  await sup.apply(undefined);
  assert.equal(fs.existsSync(sup.runDir), false);
});
