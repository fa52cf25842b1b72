// The supervisor of configured daemons: private runtime folder with the spec's files, restart on
// a changed spec, restart after a crash, clean stop, and a clear message for a missing program.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { OffsetClock } from '../../src/clock.js';
import { DaemonClock, ROUTER_CLOCK_FILE, faketimeOffset } from '../../src/services/daemon-clock.js';
import { DaemonMissing, Supervisor, type DaemonState } from '../../src/services/supervisor.js';
import { tempDir } from '../support/app.js';
import { needs } from '../support/tools.js';

const root = tempDir('rospki-supervisor-');
const testClock = new DaemonClock(path.join(root, 'run'), new OffsetClock(), () => {});
after(() => {
  testClock.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

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
  const sup = new Supervisor(path.join(root, 'run'), 'demo', testClock, { output: (l) => lines.push(l) });
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
  const sup = new Supervisor(path.join(root, 'run'), 'crashy', testClock, { changed: (s) => states.push(s) });
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
  const sup = new Supervisor(path.join(root, 'run'), 'live', testClock, { output: (l) => lines.push(l) });
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

const DAY = 86_400_000;

/** A daemon that prints its wall clock every 50 ms (a timed wait on the monotonic clock), in one process. */
const clockDaemon = {
  program: 'python3', package: 'python3',
  args: ['-u', '-c', 'import os, time\nwhile True:\n    print(os.getpid(), int(time.time()), flush=True)\n    time.sleep(0.05)'],
};

/** The last line of clockDaemon: pid and wall clock (ms). */
function lastClock(lines: string[]): { pid: number; wall: number } | undefined {
  const m = /^(\d+) (\d+)$/.exec(lines.at(-1) ?? '');
  return m ? { pid: Number(m[1]), wall: Number(m[2]) * 1000 } : undefined;
}

/** How many lines clockDaemon prints in `ms`: its timed waits neither fail, spin nor stall. */
async function ticks(lines: string[], ms: number): Promise<number> {
  const before = lines.length;
  await new Promise((r) => setTimeout(r, ms));
  return lines.length - before;
}

test('a daemon runs on the router clock and follows it when it moves, without a restart; its timed waits keep their pace', { skip: needs('libfaketime', 'python3') }, async () => {
  const dir = tempDir('rospki-daemon-clock-');
  const clock = new OffsetClock();
  const warnings: string[] = [];
  const daemonClock = new DaemonClock(path.join(dir, 'run'), clock, (w) => warnings.push(w));
  const lines: string[] = [];
  const sup = new Supervisor(path.join(dir, 'run'), 'clocked', daemonClock, { output: (l) => lines.push(l) });
  const near = (ms: number, want: number) => Math.abs(ms - want) < 5000;
  // 20 a second when the waits work; thousands if they returned at once, none if they failed.
  const paced = (n: number) => n >= 5 && n <= 40;
  try {
    clock.offsetMs = -3 * DAY; // moved before the daemon starts: it starts on it
    await sup.apply(clockDaemon);
    await until(() => { const c = lastClock(lines); return !!c && near(c.wall, Date.now() - 3 * DAY); }, 'the daemon three days behind');
    const first = lastClock(lines)!;
    assert.equal(fs.readFileSync(path.join(dir, 'run', ROUTER_CLOCK_FILE), 'utf8'), `${faketimeOffset(-3 * DAY)}\n`);
    let n = await ticks(lines, 1000);
    assert.ok(paced(n), `${n} lines in a second`);
    // `/system clock set` while it runs: it follows within a second, the same process.
    clock.set(Date.now() + 400 * DAY);
    await until(() => { const c = lastClock(lines); return !!c && near(c.wall, Date.now() + 400 * DAY); }, 'the daemon 400 days ahead');
    assert.equal(lastClock(lines)!.pid, first.pid, 'not restarted');
    n = await ticks(lines, 1000);
    assert.ok(paced(n), `${n} lines in a second after the move`);
    // Back to the host's clock: `+0.000`, not an empty file (libfaketime would keep the old offset).
    clock.offsetMs = 0;
    await until(() => { const c = lastClock(lines); return !!c && near(c.wall, Date.now()); }, 'the daemon on the host clock');
    assert.equal(fs.readFileSync(path.join(dir, 'run', ROUTER_CLOCK_FILE), 'utf8'), '+0.000\n');
    assert.equal(lastClock(lines)!.pid, first.pid, 'not restarted');
    assert.deepEqual(warnings, []);
  } finally {
    await sup.apply(undefined);
    daemonClock.stop();
  }
  assert.equal(fs.existsSync(path.join(dir, 'run', ROUTER_CLOCK_FILE)), false, 'the offset file goes with the services');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('without libfaketime a daemon runs on the host clock, and one warning says so', { skip: needs('python3') }, async () => {
  const dir = tempDir('rospki-daemon-clock-');
  const clock = new OffsetClock(5 * DAY);
  const warnings: string[] = [];
  const daemonClock = new DaemonClock(path.join(dir, 'run'), clock, (w) => warnings.push(w), () => undefined);
  const lines: string[] = [];
  const sups = ['one', 'two'].map((name) => new Supervisor(path.join(dir, 'run'), name, daemonClock, { output: (l) => lines.push(l) }));
  try {
    for (const sup of sups) await sup.apply(clockDaemon);
    await until(() => lines.length >= 4, 'both daemons');
    const c = lastClock(lines)!;
    assert.ok(Math.abs(c.wall - Date.now()) < 5000, 'the host clock');
    assert.deepEqual(warnings, ['libfaketimeMT.so.1 of Debian package libfaketime not found: openvpn and charon judge certificate and CRL dates by the host clock, not the router clock']);
    assert.equal(fs.existsSync(path.join(dir, 'run', ROUTER_CLOCK_FILE)), false);
  } finally {
    for (const sup of sups) await sup.apply(undefined);
    daemonClock.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the daemon environment: FAKETIME settings rospki inherited are dropped (FAKETIME would win over the file), LD_PRELOAD kept', () => {
  const daemonClock = new DaemonClock(path.join(root, 'run-env'), new OffsetClock(), () => {}, () => '/lib/libfaketimeMT.so.1');
  try {
    const env = daemonClock.environment({ FAKETIME: '+1d', FAKETIME_FOLLOW_FILE: '/x', LD_PRELOAD: '/other.so', PATH: '/bin' });
    assert.deepEqual(env, {
      FAKETIME: undefined, FAKETIME_FOLLOW_FILE: undefined, LD_PRELOAD: '/lib/libfaketimeMT.so.1 /other.so',
      FAKETIME_TIMESTAMP_FILE: path.join(root, 'run-env', ROUTER_CLOCK_FILE), FAKETIME_CACHE_DURATION: '0', NO_FAKE_STAT: '1',
    });
    assert.deepEqual([faketimeOffset(0), faketimeOffset(-750), faketimeOffset(86_400_250.4)], ['+0.000', '-0.750', '+86400.250']);
  } finally {
    daemonClock.stop();
  }
});

test('an offset file that can not be written does not fail the move of the clock: /log says why', () => {
  const dir = tempDir('rospki-daemon-clock-');
  const clock = new OffsetClock();
  const warnings: string[] = [];
  const runRoot = path.join(dir, 'run');
  const daemonClock = new DaemonClock(runRoot, clock, (w) => warnings.push(w), () => '/lib/libfaketimeMT.so.1');
  try {
    daemonClock.environment();
    fs.rmSync(runRoot, { recursive: true });
    fs.writeFileSync(runRoot, 'not a folder');
    clock.offsetMs = DAY; // `/system clock set`: must not throw
    assert.equal(clock.offsetMs, DAY);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /router-clock could not be written \(.*\): openvpn and charon keep their previous offset from the host's clock$/);
  } finally {
    daemonClock.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
