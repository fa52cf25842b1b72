// /system ntp client against a real NTP server: Debian's chronyd on 127.0.0.1 (its own config
// and port, `-x` so it never touches the host's clock, peers.md). rospki's clock starts three years
// ahead; the SNTP client brings it back to chrony's time, certificate expiry follows, the offset
// is kept in /system clock, and /log says what happened. A server that is not there, or answers
// without being synchronised, leaves the client `waiting` and the clock where it was.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLOCK_PATH } from '../../src/menus/system/clock.js';
import { findProgram } from '../../src/services/supervisor.js';
import { ntpRequest, parseReply, parseServer, querySntp } from '../../src/services/ntp.js';
import { startServiceApp, type ServiceApp } from '../services/support.js';
import { tempDir } from '../support/app.js';
import { cli } from './doh-support.js';
import { needs } from '../support/tools.js';

const YEAR = 365 * 86_400_000;

/** A UDP port nothing listens on right now. */
async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until(check: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const chronyd = findProgram('chronyd');

describe('NTP client against chrony on loopback', { skip: needs('chronyd') }, () => {
  let t: ServiceApp;
  let chrony: ChildProcess;
  let work: string;
  let port: number;
  const get = async (prop: string) => (await cli(t, `:put [/system ntp client get ${prop}]`)).trim();

  before(async () => {
    work = tempDir('rospki-chrony-');
    port = await freeUdpPort();
    fs.writeFileSync(path.join(work, 'chrony.conf'), [
      'local stratum 8', 'allow 127.0.0.1', `port ${port}`, 'bindaddress 127.0.0.1', 'cmdport 0',
      `pidfile ${work}/pid`, `driftfile ${work}/drift`, '',
    ].join('\n'));
    chrony = spawn(chronyd!, ['-x', '-d', '-f', path.join(work, 'chrony.conf')], { stdio: 'ignore' });
    // Ready once it answers (and calls itself synchronised).
    const server = parseServer(`127.0.0.1:${port}`, { minPoll: 6, maxPoll: 10, iburst: true })!;
    await until(async () => querySntp(server, '127.0.0.1', Date.now, 500).then(() => true, () => false), 'chronyd to answer');
    t = await startServiceApp();
  });

  after(async () => {
    await t?.stop();
    if (chrony && chrony.exitCode === null) {
      const exited = new Promise((r) => chrony.once('exit', r));
      chrony.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('rospki\'s clock, three years ahead, comes back to chrony\'s time; certificates follow it', async () => {
    await cli(t, '/certificate add name=short common-name=short days-valid=30 key-size=prime256v1; /certificate sign short');
    t.clock.ms = Date.now() + 3 * YEAR;
    assert.equal(await cli(t, ':put [/certificate get short expired]'), 'true\n', 'expired on the far clock');
    assert.equal(await get('status'), 'stopped');
    await cli(t, `/system ntp client set enabled=yes servers=127.0.0.1:${port}`);
    await until(async () => (await get('status')) === 'synchronized', 'synchronized');
    assert.ok(Math.abs(t.app.clock.now() - Date.now()) < 5000, `clock ${new Date(t.app.clock.now()).toISOString()} vs ${new Date().toISOString()}`);
    assert.equal(await cli(t, ':put [/certificate get short expired]'), 'false\n', 'the certificate is valid again');
    assert.equal(await get('synced-server'), `127.0.0.1:${port}`);
    assert.equal(await get('synced-stratum'), '8');
    assert.match(await get('system-offset'), /^-?\d+\.\d{3} ms$/);
    // Kept like /system clock set keeps it: a restart starts from the synchronised time.
    const stored = await t.app.store.read((tx) => Number(tx.get(CLOCK_PATH, 1)?.data['offset-ms']));
    assert.equal(stored, t.app.clock.offsetMs);
    const log = await cli(t, '/log print where topics~"clock|ntp"');
    assert.match(log, /system,clock,critical,info ntp change time [A-Z][a-z]{2}\/\d\d\/\d{4} \d\d:\d\d:\d\d => [A-Z][a-z]{2}\/\d\d\/\d{4} \d\d:\d\d:\d\d/);
    assert.match(log, new RegExp(`ntp,info synchronized with 127\\.0\\.0\\.1:${port}, stratum 8`));
    assert.match(await cli(t, '/system ntp client print'), /status: synchronized/);
  });

  test('a server that is not there leaves the client waiting and the clock where it is', async () => {
    const closed = await freeUdpPort();
    t.clock.ms = Date.now() - YEAR;
    const offset = t.app.clock.offsetMs;
    await cli(t, `/system ntp client set servers=127.0.0.1:${closed}`);
    await until(async () => /ntp,debug 127\.0\.0\.1:\d+: (connection refused|no answer)/.test(await cli(t, '/log print where topics~"ntp"')), 'the failed poll');
    assert.equal(await get('status'), 'waiting');
    assert.equal(await get('synced-server'), '');
    assert.equal(t.app.clock.offsetMs, offset);
  });

  test('a server that answers unsynchronised (LI=3) or with a kiss-o\'-death does not set the clock', async () => {
    const fake = dgram.createSocket('udp4');
    await new Promise<void>((r) => fake.bind(0, '127.0.0.1', r));
    let answered = 0;
    fake.on('message', (msg, rinfo) => {
      const reply = Buffer.alloc(48);
      reply[0] = (3 << 6) | (4 << 3) | 4; // alarm, v4, server
      reply[1] = 2;
      msg.copy(reply, 24, 40, 48); // a proper origin timestamp: only the leap indicator is wrong
      reply.writeUInt32BE(0xe0000000, 32);
      reply.writeUInt32BE(0xe0000000, 40);
      fake.send(reply, rinfo.port, rinfo.address);
      answered++;
    });
    try {
      const offset = t.app.clock.offsetMs;
      await cli(t, `/system ntp client set servers=127.0.0.1:${fake.address().port}`);
      await until(async () => /server not synchronized/.test(await cli(t, '/log print where topics~"ntp"')), 'the rejected answer');
      assert.ok(answered >= 1);
      assert.equal(await get('status'), 'waiting');
      assert.equal(t.app.clock.offsetMs, offset);
      await cli(t, '/system ntp client set enabled=no');
      await until(async () => (await get('status')) === 'stopped', 'stopped');
    } finally {
      fake.close();
    }
  });
});

test('SNTP packets: the request, and replies that do not count', () => {
  const nonce = Buffer.from('0102030405060708', 'hex');
  const req = ntpRequest(nonce);
  assert.equal(req.length, 48);
  assert.equal(req[0], 0x23); // LI 0, version 4, mode 3
  const reply = Buffer.alloc(48);
  reply[0] = 0x24;
  reply[1] = 2;
  nonce.copy(reply, 24);
  reply.writeUInt32BE(0xe9000000, 32);
  reply.writeUInt32BE(0xe9000000, 40);
  const ok = parseReply(reply, nonce);
  assert.ok(typeof ok !== 'string' && ok.stratum === 2);
  assert.equal(parseReply(reply, Buffer.alloc(8)), 'reply does not answer our request');
  assert.equal(parseReply(reply.subarray(0, 47), nonce), 'short packet');
  const kod = Buffer.from(reply);
  kod[1] = 0;
  kod.write('RATE', 12, 'latin1');
  assert.equal(parseReply(kod, nonce), 'kiss of death RATE');
  const client = Buffer.from(reply);
  client[0] = 0x23;
  assert.equal(parseReply(client, nonce), 'not a server reply (mode 3)');
  assert.deepEqual(parseServer('[2001:db8::1]:1234', { minPoll: 6, maxPoll: 10, iburst: true })?.port, 1234);
  assert.equal(parseServer('time.example.com', { minPoll: 6, maxPoll: 10, iburst: true })?.port, 123);
  assert.equal(parseServer('bad host', { minPoll: 6, maxPoll: 10, iburst: true }), undefined);
});
