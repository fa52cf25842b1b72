// /system scheduler and /system script job (issue 12 item 3): the schedule follows the one
// clock (tests move a FixedClock, never wait for real time), events run as their owner with
// their policy, one run per entry at a time, failures go to /log, `job remove` stops a run.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { startScheduler, type RunningScheduler } from '../../src/menus/system/scheduler.js';
import { runningJobs } from '../../src/menus/system/script-job.js';
import type { Session } from '../../src/menu/types.js';
import type { Value } from '../../src/menu/values.js';
import { openTestApp, T0, tempDir, type TestApp } from '../support/app.js';

const SCHED = '/system/scheduler';
const MIN = 60_000;
const HOUR = 60 * MIN;

/** Waits for a condition the code under test brings about by itself (bounded, never by luck). */
async function until(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('/system scheduler', () => {
  let t: TestApp;
  let sched: RunningScheduler;
  let console_: ConsoleSession;
  let out = '';

  beforeEach(async () => {
    t = await openTestApp();
    sched = startScheduler(t.app);
    console_ = await ConsoleSession.open(t.app, { output: (s) => { out += s; } });
  });
  afterEach(async () => {
    await sched.stop();
    t.close();
  });

  /** A console line that must succeed; returns what it printed. */
  const cli = async (line: string): Promise<string> => {
    out = '';
    const r = await console_.run(line);
    assert.ok(r.ok, `${line}: ${r.error}`);
    return out;
  };
  const get = async (name: string, prop: string): Promise<Value> =>
    (await t.run(SCHED, 'get', { number: name, 'value-name': prop })).ret;
  /** What `:put` prints for an expression (time values as the console shows them). */
  const put = async (expr: string): Promise<string> => (await cli(`:put ${expr}`)).replace(/\n$/, '');
  const logs = async (topic: string): Promise<string[]> => t.app.store.read((tx) => tx.list('/log')
    .filter((r) => (r.data.topics as string[]).join(',') === topic).map((r) => String(r.data.message)));

  test('runs at start-date + start-time, then every interval aligned to the start; a missed stretch runs once', async () => {
    await cli('/system scheduler add name=tick start-date=2025-12-31 start-time=00:10:00 interval=1h on-event=":log info tick"');
    await sched.check();
    assert.equal(await get('tick', 'run-count'), 0);
    assert.equal(await get('tick', 'next-run'), '2026-01-01 00:10:00');
    t.clock.advance(10 * MIN);
    await sched.check();
    assert.equal(await get('tick', 'run-count'), 1);
    assert.equal(await get('tick', 'next-run'), '2026-01-01 01:10:00');
    t.clock.advance(3 * HOUR);
    await sched.check();
    assert.equal(await get('tick', 'run-count'), 2, 'no catching up on missed runs');
    assert.equal(await get('tick', 'next-run'), '2026-01-01 04:10:00');
    assert.deepEqual(await logs('script,info'), ['tick', 'tick']);
  });

  test('interval=0s runs once; a moment already past never runs; without a start it runs at once', async () => {
    await cli('/system scheduler add name=once start-date=2026-01-01 start-time=00:30:00 on-event=":log info once"');
    await cli('/system scheduler add name=past start-date=jan/05/2025 start-time=00:00:00 on-event=":log info past"');
    await cli('/system scheduler add name=now on-event=":log info now"');
    assert.equal(await get('past', 'start-date'), '2025-01-05', 'the old month/day/year form is read');
    assert.equal(await get('now', 'start-date'), '2026-01-01');
    assert.equal(await put('[/system scheduler get now start-time]'), '00:00:00');
    await sched.check();
    assert.deepEqual(await logs('script,info'), ['now']);
    t.clock.advance(30 * MIN);
    await sched.check();
    t.clock.advance(24 * HOUR);
    await sched.check();
    assert.equal(await get('once', 'run-count'), 1);
    assert.equal(await get('once', 'next-run'), undefined);
    assert.equal(await get('past', 'run-count'), 0);
    assert.deepEqual(await logs('script,info'), ['now', 'once']);
  });

  test('moving the clock reschedules at once: /system clock set back and forth, no check needed', async () => {
    await cli('/system scheduler add name=hourly start-date=2026-01-01 start-time=00:00:00 interval=1h on-event=":log info hourly"');
    await sched.check();
    assert.equal(await get('hourly', 'run-count'), 1);
    assert.equal(await get('hourly', 'next-run'), '2026-01-01 01:00:00');
    await cli('/system clock set date=2025-12-31 time=22:00:00');
    await until(async () => (await get('hourly', 'next-run')) === '2026-01-01 00:00:00', 'the next run to move back');
    await cli('/system clock set date=2026-01-01 time=05:00:10');
    await until(async () => (await get('hourly', 'run-count')) === 2, 'the run after the clock moved forward');
    assert.equal(await get('hourly', 'next-run'), '2026-01-01 06:00:00');
  });

  test('start-time is local time in the router zone; changing the zone reschedules', async () => {
    await cli('/system clock set time-zone-name=Europe/Riga');
    await cli('/system scheduler add name=riga start-date=2026-01-01 start-time=03:00:00 interval=1d on-event=":log info riga"');
    await sched.check();
    assert.equal(await get('riga', 'next-run'), '2026-01-01 03:00:00', 'shown in the zone');
    t.clock.advance(HOUR); // 01:00 UTC = 03:00 in Riga (UTC+2 in winter)
    await sched.check();
    assert.equal(await get('riga', 'run-count'), 1);
    await cli('/system clock set time-zone-name=America/New_York');
    await sched.check();
    assert.equal(await get('riga', 'next-run'), '2026-01-01 03:00:00', 'now 03:00 in New York (08:00 UTC)');
    t.clock.advance(6 * HOUR); // 07:00 UTC
    await sched.check();
    assert.equal(await get('riga', 'run-count'), 1);
    t.clock.advance(HOUR);
    await sched.check();
    assert.equal(await get('riga', 'run-count'), 2);
  });

  test('start-up entries run when the scheduler starts, with an interval one interval later; a restart resets run-count', async () => {
    t.clock.advance(1000);
    await cli('/system scheduler add name=boot start-time=startup on-event=":log info booted"');
    await cli('/system scheduler add name=beat start-time=st interval=5m on-event=":log info beat"');
    assert.equal(await get('boot', 'start-date'), undefined, 'a start-up entry has no start date');
    assert.equal(await get('beat', 'start-time'), 'startup');
    await sched.check();
    assert.deepEqual(await logs('script,info'), [], 'added after start-up: nothing yet');
    t.clock.advance(5 * MIN);
    await sched.check();
    assert.deepEqual(await logs('script,info'), ['beat']);
    await sched.stop();
    sched = startScheduler(t.app);
    await sched.check();
    assert.equal(await get('beat', 'run-count'), 0);
    assert.equal(await get('boot', 'run-count'), 1);
    assert.deepEqual(await logs('script,info'), ['beat', 'booted']);
    t.clock.advance(5 * MIN);
    await sched.check();
    assert.equal(await get('beat', 'run-count'), 1);
    assert.equal(await get('boot', 'run-count'), 1, 'start-up without interval: once per start');
  });

  test('an event runs as its owner with the policy of the entry, never with more than the owner holds', async () => {
    await t.run('/user/group', 'add', { name: 'ops', policy: 'read,write,test' });
    await t.run('/user', 'add', { name: 'op', group: 'ops', password: 'x' });
    const op: Session = await t.app.session('op', 'test');
    const asOp = (command: string, args: Record<string, Value>) => t.app.executor.run({ path: SCHED, command, args: new Map(Object.entries(args)), session: op });
    await asOp('add', { name: 'sneaky', 'on-event': '/user group add name=mine policy=read' });
    assert.equal(await get('sneaky', 'owner'), 'op');
    assert.equal(await put('[/system scheduler get sneaky policy]'), 'read;write;test', 'the default policy narrowed to what op holds');
    await assert.rejects(asOp('add', { name: 'more', policy: 'read,policy', 'on-event': '' }), /not enough permissions/);
    // An entry of admin's with every policy: op may not change it.
    await cli('/system scheduler add name=admins start-date=2030-01-01 on-event=":log info x"');
    await assert.rejects(asOp('set', { numbers: 'admins', 'on-event': '/user remove admin' }), /not enough permissions/);
    await sched.check();
    assert.equal(await t.app.store.read((tx) => tx.findBy('/user/group', 'name', 'mine').length), 0);
    assert.deepEqual(await logs('script,error'), ['executing script sneaky']);
    assert.deepEqual(await logs('script,error,debug'), ['(scheduler:sneaky) not enough permissions (9)']);
    // A stored script needs every policy it has from the entry that runs it (rule of /system script run).
    await cli('/system script add name=strong policy=read,write,policy,test source=":log info strong"');
    await cli('/system scheduler add name=weak policy=read,write,test on-event=strong');
    await cli('/system scheduler add name=able on-event=strong');
    await sched.check();
    assert.deepEqual(await logs('script,info'), ['strong'], 'only the entry holding the script\'s policies ran it');
    assert.deepEqual((await logs('script,error,debug')).slice(1), ['(scheduler:weak) not enough permissions (9)']);
    assert.equal((await t.run('/system/script', 'get', { number: 'strong', 'value-name': 'run-count' })).ret, 1);
  });

  test('a failing event is logged and the others run; an entry never runs twice at once; job remove stops a run', async () => {
    await cli('/system scheduler add name=slow interval=1m on-event=":log info slow-start; :delay 1h; :log info slow-end"');
    await sched.tick();
    await until(async () => (await logs('script,info')).includes('slow-start'), 'the slow event to start');
    assert.deepEqual(runningJobs(t.app.env).map((j) => [j.script, j.owner, j.type]), [['slow', 'admin', 'command']]);
    const jobs = await cli('/system script job print');
    assert.equal(jobs, 'Columns: SCRIPT, OWNER, STARTED\n# SCRIPT  OWNER  STARTED            \n0 slow    admin  2026-01-01 00:00:00\n');
    t.clock.advance(MIN);
    await sched.tick();
    assert.equal(await get('slow', 'run-count'), 1, 'due again while running: not started twice');
    await cli('/system scheduler add name=bad on-event=":error \\"boom\\""');
    await cli('/system scheduler add name=good on-event=":log info good"');
    await sched.tick();
    await until(async () => (await logs('script,info')).includes('good'), 'the good event');
    await until(async () => (await logs('script,error,debug')).length === 1, 'the failure in /log');
    assert.deepEqual(await logs('script,error'), ['executing script bad']);
    assert.deepEqual(await logs('script,error,debug'), ['(scheduler:bad) boom']);
    await cli('/system scheduler disable slow');
    await cli('/system script job remove [find script=slow]');
    await sched.idle();
    assert.deepEqual(runningJobs(t.app.env), []);
    assert.equal(await cli('/system script job print count-only'), '0\n');
    assert.ok(!(await logs('script,info')).includes('slow-end'), 'stopped before its end');
    assert.deepEqual(await logs('script,error'), ['executing script bad'], 'a stopped run is no failure');
    assert.ok((await logs('system,info')).includes('script job slow stopped by admin'));
  });

  test('a named script runs as a job under its own name (what :jobname checks look for)', async () => {
    await cli('/system script add name=renew source=":log info renew-start; :delay 1h"');
    await cli('/system scheduler add name=renewal on-event=renew');
    await sched.tick();
    await until(async () => (await logs('script,info')).includes('renew-start'), 'the script to start');
    assert.deepEqual(runningJobs(t.app.env).map((j) => j.script), ['renew']);
    assert.equal(await cli(':put [/system script job print count-only as-value where script=renew]'), '1\n');
    const detail = await cli('/system script job print detail');
    assert.equal(detail, [' 0 script="renew" type=command owner="admin" ', '   policy=ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon ',
      '   started=2026-01-01 00:00:00 ', ''].join('\n'));
    await sched.stop();
    assert.deepEqual(runningJobs(t.app.env), [], 'stopping the scheduler stops its runs');
    sched = startScheduler(t.app);
  });

  test('arguments: name is required and unique; times as text, time values and startup; export pins the schedule', async () => {
    await assert.rejects(t.run(SCHED, 'add', { 'on-event': 'x' }), /missing value of name/);
    await cli('/system scheduler add name=a start-time=([/system clock get time] + 90s) on-event=":log info a"');
    assert.equal(await put('[/system scheduler get a start-time]'), '00:01:30');
    await assert.rejects(t.run(SCHED, 'add', { name: 'a' }), /already have such entry/);
    await assert.rejects(t.run(SCHED, 'add', { name: 'b', 'start-time': '25:00:00' }), /invalid value for argument start-time|input does not match/);
    await assert.rejects(t.run(SCHED, 'add', { name: 'b', 'start-date': '2026-02-30' }), /invalid value for argument start-date/);
    assert.equal(await cli('/system scheduler export'), [
      '# 2026-01-01 00:00:00 by RouterOS 7.23.3', '# software id =', '#', '/system scheduler',
      'add name=a on-event=":log info a" start-date=2026-01-01 start-time=00:01:30', '',
    ].join('\n'));
  });
});

describe('the daemon runs the scheduler', () => {
  test('rospki serve runs start-up and periodic entries and stops them cleanly', async () => {
    const bin = path.join(import.meta.dirname, '..', '..', 'bin', 'rospki.js');
    const dir = tempDir('rospki-sched-');
    const env = { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1', ROSPKI_FAKE_TIME: new Date(T0).toISOString() };
    const rospki = (line: string) => spawnSync('node', [bin, '--data', dir, '-e', line], { encoding: 'utf8', env, timeout: 30_000 });
    try {
      const setup = rospki('/system scheduler add name=boot start-time=startup on-event=":log info booted"; /system scheduler add name=slow on-event=":delay 1h"');
      assert.equal(setup.status, 0, setup.stdout);
      const daemon = spawn('node', [bin, 'serve', '--data', dir], { stdio: ['ignore', 'pipe', 'pipe'], env });
      let stdout = '';
      daemon.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      const exited = new Promise<number | null>((resolve) => daemon.on('exit', resolve));
      try {
        await until(async () => /serving/.test(stdout), 'the daemon to start', 20_000);
        await until(async () => rospki('/log print where message=booted').stdout.includes('booted'), 'the start-up entry', 20_000);
        await until(async () => rospki('/system script job print').stdout.includes('slow'), 'the slow event to show as a job', 20_000);
        assert.equal(rospki(':put [/system scheduler get boot run-count]').stdout, '1\n');
      } finally {
        daemon.kill('SIGTERM');
      }
      assert.equal(await exited, 0, 'a running event does not hold up the shutdown');
      assert.match(stdout, /rospki stopped/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
