// Time zones of the one clock (src/clock.ts) and /system clock: IANA zones through Intl, the
// manual offset with daylight saving, local time around daylight-saving changes, autodetect.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import {
  FixedClock, formatDate, hostOffsetMs, OffsetClock, formatOffset, ianaZone, localToEpoch, manualZone, parseDay, parseOffset, UTC_ZONE,
} from '../src/clock.js';
import { ConsoleSession } from '../src/console/session.js';
import { Appliance } from '../src/appliance.js';
import { T0, tempDir } from './support/app.js';

describe('zones', () => {
  const riga = ianaZone('Europe/Riga');

  test('an IANA zone: offset and daylight saving through the year, dates in local time', () => {
    assert.equal(formatDate(Date.UTC(2026, 0, 15, 12), riga), '2026-01-15 14:00:00');
    assert.equal(formatDate(Date.UTC(2026, 6, 15, 12), riga), '2026-07-15 15:00:00');
    assert.equal(riga.dstAt(Date.UTC(2026, 0, 15)), false);
    assert.equal(riga.dstAt(Date.UTC(2026, 6, 15)), true);
    const sydney = ianaZone('Australia/Sydney');
    assert.equal(sydney.dstAt(Date.UTC(2026, 0, 15)), true, 'southern summer');
    assert.equal(formatOffset(sydney.offsetAt(Date.UTC(2026, 6, 15))), '+10:00');
    assert.equal(formatOffset(ianaZone('Asia/Kolkata').offsetAt(T0)), '+05:30');
    assert.equal(formatOffset(ianaZone('America/St_Johns').offsetAt(T0)), '-03:30');
  });

  test('local time to the moment it names, across daylight-saving changes', () => {
    const wall = (y: number, m: number, d: number, h: number, mi = 0) => Date.UTC(y, m - 1, d, h, mi);
    assert.equal(localToEpoch(wall(2026, 1, 1, 2), riga), Date.UTC(2026, 0, 1, 0));
    assert.equal(localToEpoch(wall(2026, 7, 1, 12), riga), Date.UTC(2026, 6, 1, 9));
    // 2026-03-29 03:00 → 04:00 in Riga: 03:30 does not exist and moves forward.
    assert.equal(formatDate(localToEpoch(wall(2026, 3, 29, 3, 30), riga), riga), '2026-03-29 04:30:00');
    // 2026-10-25 04:00 → 03:00: 03:30 exists twice; the first is taken.
    assert.equal(localToEpoch(wall(2026, 10, 25, 3, 30), riga), Date.UTC(2026, 9, 25, 0, 30));
    assert.equal(localToEpoch(wall(2026, 1, 1, 0), UTC_ZONE), T0);
  });

  test('the manual zone: an offset, and dst-delta between dst-start and dst-end', () => {
    const manual = manualZone(-5 * 3600_000, { deltaMs: 3600_000, start: Date.UTC(2026, 2, 8, 2), end: Date.UTC(2026, 10, 1, 2) });
    assert.equal(formatOffset(manual.offsetAt(Date.UTC(2026, 0, 1))), '-05:00');
    assert.equal(formatOffset(manual.offsetAt(Date.UTC(2026, 5, 1))), '-04:00');
    assert.equal(manual.dstAt(Date.UTC(2026, 5, 1)), true);
    assert.equal(manualZone(3600_000).dstAt(Date.UTC(2026, 5, 1)), false);
  });

  test('parsing: offsets, both date forms, no impossible dates', () => {
    assert.equal(parseOffset('+03:00'), 3 * 3600_000);
    assert.equal(parseOffset('-04:30'), -4.5 * 3600_000);
    assert.equal(parseOffset('05:00'), 5 * 3600_000);
    assert.equal(parseOffset('+3'), undefined);
    assert.equal(parseDay('2026-03-04'), Date.UTC(2026, 2, 4));
    assert.equal(parseDay('Mar/04/2026'), Date.UTC(2026, 2, 4));
    assert.equal(parseDay('2026-02-30'), undefined);
    assert.equal(parseDay('feb/30/2026'), undefined);
  });

  test('the host zone: what TZ names, none for UTC', () => {
    const hostZone = (tz: string) => spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./src/clock.ts').then((m) => process.stdout.write(String(m.hostTimeZone())))"],
      { encoding: 'utf8', env: { ...process.env, TZ: tz } }).stdout;
    assert.equal(hostZone('Europe/Riga'), 'Europe/Riga');
    assert.equal(hostZone('UTC'), 'undefined');
    assert.equal(hostZone('Etc/UTC'), 'undefined');
  });
});

describe('/system clock', () => {
  test('time-zone-autodetect takes the host zone, shows and exports it; naming a zone turns it off', async () => {
    const dir = tempDir();
    const host = new FixedClock(T0, 'Asia/Tokyo'); // the clock a test gives the appliance names the host zone
    const app = await Appliance.open(dir, { clock: host });
    try {
      let out = '';
      const c = await ConsoleSession.open(app, { output: (s) => { out += s; } });
      const cli = async (line: string) => { out = ''; const r = await c.run(line); assert.ok(r.ok, r.error); return out; };
      assert.equal(await cli('/system clock print'), [
        '                  time: 09:00:00  ', '                  date: 2026-01-01', '  time-zone-autodetect: yes       ',
        '        time-zone-name: Asia/Tokyo', '            gmt-offset: +09:00    ', '            dst-active: no        ', ''].join('\n'));
      assert.match(await cli('/system clock export'), /^set time-zone-name=Asia\/Tokyo$/m);
      assert.equal(await cli(':put [/log get [find] time]'), '2026-01-01 09:00:00\n', 'every date is local');
      await cli('/system clock set time-zone-name=Europe/Riga');
      assert.match(await cli('/system clock print'), /time-zone-autodetect: no .*\n.*time-zone-name: Europe\/Riga/);
      host.advance(3600_000);
      assert.match(await cli('/system clock print'), /time: 03:00:00/, 'autodetect off: the host zone no longer applies');
    } finally {
      app.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('how far a router clock is from the host\'s is its offset exactly, not two reads a millisecond apart', () => {
  const clock = new OffsetClock();
  // now() - Date.now() reads the host clock twice: across a millisecond's end it says -1 (the
  // daemons' offset file then read -0.001 instead of +0.000). 200,000 tries meet many such ends.
  for (let i = 0; i < 200_000; i++) assert.equal(hostOffsetMs(clock), 0);
  clock.offsetMs = 86_400_250;
  assert.equal(hostOffsetMs(clock), 86_400_250);
});
