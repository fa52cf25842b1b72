// The menus real scripts touch beyond /certificate (issue 12 §2): facts of this host read from
// the host itself, configuration held honestly, and a data directory made before these menus
// existed getting their rows on first use.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { after, before, test } from 'node:test';
import { Appliance } from '../../src/appliance.js';
import { FixedClock, systemClock, uptimeMs } from '../../src/clock.js';
import { renderConsole } from '../../src/menu/render.js';
import { ALL_MENUS } from '../../src/menus/index.js';
import { CLOUD_UNREACHABLE } from '../../src/menus/ip/cloud.js';
import { parseProcRoutes } from '../../src/menus/ip/route.js';
import { NO_UPDATE_SERVER } from '../../src/menus/system/package.js';
import { RosArray, type Value } from '../../src/menu/values.js';
import { openTestApp, T0, tempDir, type TestApp } from '../support/app.js';

let t: TestApp;
before(async () => { t = await openTestApp(); });
after(() => t.close());

const get = async (path: string, name: string, number?: string): Promise<Value> =>
  (await t.run(path, 'get', number === undefined ? { 'value-name': name } : { number, 'value-name': name })).ret;
const print = async (path: string, args: Record<string, string> = {}) => renderConsole(await t.run(path, 'print', args), t.session);
const logs = async () => (await t.run('/log', 'print', {})).print!.rows.map((r) => String(r.data.message));

test('/ip cloud: dns-name stable for this data directory, other for another; status honest; force-update says so', async () => {
  assert.equal(await get('/ip/cloud', 'dns-name'), undefined, 'no name before DDNS is enabled');
  assert.equal(await get('/ip/cloud', 'status'), CLOUD_UNREACHABLE, 'update-time=yes needs the cloud');
  await t.run('/ip/cloud', 'set', { 'update-time': 'no' });
  assert.equal(await get('/ip/cloud', 'status'), undefined, 'nothing needs the cloud');
  await t.run('/ip/cloud', 'set', { 'ddns-enabled': 'yes' });
  const name = String(await get('/ip/cloud', 'dns-name'));
  assert.match(name, /^[0-9a-f]{12}\.sn\.mynetname\.net$/);
  assert.equal(await get('/ip/cloud', 'public-address'), undefined);
  // The same data directory keeps its name; another has its own.
  const again = await Appliance.open(t.dir, { clock: new FixedClock(T0) });
  try {
    const s = await again.session('admin', 'test');
    const r = await again.executor.run({ path: '/ip/cloud', command: 'get', args: new Map([['value-name', 'dns-name']]), session: s });
    assert.equal(r.ret, name);
  } finally { again.close(); }
  const other = await openTestApp();
  try {
    await other.run('/ip/cloud', 'set', { 'ddns-enabled': 'yes' });
    const otherName = (await other.run('/ip/cloud', 'get', { 'value-name': 'dns-name' })).ret;
    assert.notEqual(otherName, name);
  } finally { other.close(); }
  const forced = await t.run('/ip/cloud', 'force-update', {});
  assert.deepEqual(forced.messages, [`status: ${CLOUD_UNREACHABLE}`]);
  assert.ok((await logs()).some((m) => m.startsWith('cloud: force-update by admin: nothing sent')));
  await assert.rejects(t.run('/ip/cloud', 'set', { 'ddns-update-interval': '30s' }), /ddns-update-interval/);
  await t.run('/ip/cloud', 'reset', {});
  assert.equal(await get('/ip/cloud', 'ddns-enabled'), 'auto');
  assert.equal(await get('/ip/cloud', 'update-time'), true);
});

test('/system ntp client: stopped when disabled, waiting when enabled and nothing has synchronised (no daemon polls here)', async () => {
  assert.equal(await get('/system/ntp/client', 'status'), 'stopped');
  await t.run('/system/ntp/client', 'set', { enabled: 'yes', servers: '0.pool.ntp.org,1.pool.ntp.org' });
  assert.equal(await get('/system/ntp/client', 'status'), 'waiting');
  assert.equal(await get('/system/ntp/client', 'synced-server'), undefined);
  const servers = await get('/system/ntp/client', 'servers');
  assert.ok(servers instanceof RosArray && servers.values().length === 2);
  await t.run('/system/ntp/client', 'reset', {});
  assert.equal(await get('/system/ntp/client', 'enabled'), false);
});

test('/system ntp client set servers: an empty or malformed entry is refused and nothing changes; "" empties the list', async () => {
  await t.run('/system/ntp/client', 'set', { servers: '0.pool.ntp.org,127.0.0.1:12300' });
  for (const bad of [',,,', ',', '0.pool.ntp.org,,1.pool.ntp.org', 'a b', 'host:99999']) {
    await assert.rejects(t.run('/system/ntp/client', 'set', { servers: bad, enabled: 'yes' }), /invalid value for argument servers/, bad);
    const servers = await get('/system/ntp/client', 'servers');
    assert.deepEqual(servers instanceof RosArray ? servers.values() : servers, ['0.pool.ntp.org', '127.0.0.1:12300'], bad);
    assert.equal(await get('/system/ntp/client', 'enabled'), false, `${bad}: nothing changed`);
  }
  await t.run('/system/ntp/client', 'set', { servers: '' });
  const none = await get('/system/ntp/client', 'servers');
  assert.deepEqual(none instanceof RosArray ? none.values() : none, []);
});

test('/system package update: check-for-updates reaches no server and says so; install refuses', async () => {
  assert.equal(await get('/system/package/update', 'status'), undefined);
  assert.equal(await get('/system/package/update', 'installed-version'), '7.23.3');
  const checked = await t.run('/system/package/update', 'check-for-updates', { 'without-paging': '', 'as-value': '' });
  assert.ok(checked.ret instanceof RosArray);
  assert.equal(checked.ret.get('status'), NO_UPDATE_SERVER);
  assert.equal(await get('/system/package/update', 'status'), NO_UPDATE_SERVER);
  assert.equal(await get('/system/package/update', 'latest-version'), undefined, 'scripts see no latest version');
  await assert.rejects(t.run('/system/package/update', 'install', {}), /no update server reachable from rospki/);
  assert.equal(await get('/system/package', 'version', 'routeros'), '7.23.3');
});

test('/system license, device-mode, history, note; /snmp refuses to be enabled', async () => {
  assert.equal(await get('/system/license', 'level'), 'free');
  assert.match(String(await get('/system/license', 'system-id')), /^[A-Za-z0-9+/]{11}$/);
  const mode = (await t.run('/system/device-mode', 'get', {})).ret as RosArray;
  assert.equal(mode.get('mode'), 'advanced');
  assert.equal(mode.get('fetch'), true);
  assert.equal(mode.get('container'), false);
  await assert.rejects(t.run('/system/device-mode', 'update', { container: 'yes' }), /no button or power switch/);
  assert.equal(await print('/system/history'), '');
  await t.run('/system/note', 'set', { note: 'rack 4' });
  assert.equal(await get('/system/note', 'note'), 'rack 4');
  await t.run('/snmp', 'set', { contact: 'noc@example.net', location: 'rack 4' });
  await assert.rejects(t.run('/snmp', 'set', { enabled: 'yes' }), /rospki has no SNMP agent/);
  assert.equal(await get('/snmp', 'enabled'), false);
  assert.equal(await get('/snmp', 'contact'), 'noc@example.net');
});

test('/disk and /system resource: the data directory\'s file system as statfs sees it', async () => {
  const st = fs.statfsSync(t.dir);
  const size = Number(await get('/disk', 'size', 'data'));
  const free = Number(await get('/disk', 'free', 'data'));
  assert.equal(size, st.blocks * st.bsize);
  // Free space moves while other tests write: close, not equal.
  assert.ok(Math.abs(free - st.bavail * st.bsize) < 512 * 1024 * 1024, `${free} vs ${st.bavail * st.bsize}`);
  assert.match(await print('/disk'), /^0 M data +(\d{1,3})( \d{3})* +(\d{1,3})( \d{3})* /m);
  assert.equal(Number(await get('/system/resource', 'total-hdd-space')), size);
  assert.ok(Number(await get('/system/resource', 'free-hdd-space')) > 0);
  await assert.rejects(t.run('/disk', 'add', { slot: 'nas', type: 'nfs' }), /can not add disks of type nfs/);
  await t.run('/disk', 'enable', { numbers: 'data' });
  await assert.rejects(t.run('/disk', 'disable', { numbers: 'data' }), /can not be disabled/);
  const resource = await print('/system/resource');
  assert.match(resource, /^ +version: 7\.23\.3 \(stable\) *$/m);
  assert.match(resource, /^ +total-memory: \d+\.\dGiB *$|^ +total-memory: \d+\.\dMiB *$/m);
  assert.match(resource, /^ +cpu-load: \d+% *$/m);
  assert.equal(await get('/system/resource', 'total-memory'), os.totalmem());
});

test('/interface and /ip address: this host\'s, read-only', async () => {
  const devices = () => (fs.existsSync('/sys/class/net') ? fs.readdirSync('/sys/class/net') : Object.keys(os.networkInterfaces()));
  // Other tests make and remove devices meanwhile (veth pairs, TUN): what was there before and
  // after is printed, and nothing that was there neither time.
  const before = devices();
  const names = (await t.run('/interface', 'print', {})).print!.rows.map((r) => String(r.data.name));
  const after = devices();
  assert.deepEqual(before.filter((n) => after.includes(n) && !names.includes(n)), []);
  assert.deepEqual(names.filter((n) => !before.includes(n) && !after.includes(n)), []);
  if (fs.existsSync('/sys/class/net/lo')) {
    assert.equal(await get('/interface', 'type', 'lo'), 'loopback');
    assert.equal(await get('/interface', 'mtu', 'lo'), Number(fs.readFileSync('/sys/class/net/lo/mtu', 'utf8')));
    assert.equal(await get('/interface', 'running', 'lo'), true);
  }
  const addresses = (await t.run('/ip/address', 'print', {})).print!.rows.map((r) => `${String(r.data.address)} ${String(r.data.interface)}`);
  const host = Object.entries(os.networkInterfaces()).flatMap(([n, a]) => (a ?? []).filter((x) => x.family === 'IPv4').map((x) => `${x.cidr} ${n}`));
  assert.deepEqual(addresses.sort(), host.sort());
  assert.match(await print('/ip/address'), /^Flags: D - DYNAMIC$/m);
  assert.equal((await t.app.registry.command('/interface', 'set')), undefined, 'nothing to set');
});

test('/ip route: /proc/net/route read into RouterOS rows', () => {
  const rows = parseProcRoutes([
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
    'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'wg0\t0000000A\t00000000\t0000\t0\t0\t0\t000000FF\t0\t0\t0',
  ].join('\n'));
  if (os.endianness() !== 'LE') return;
  assert.deepEqual(rows, [
    { 'dst-address': '0.0.0.0/0', gateway: '192.0.2.1', 'immediate-gw': '192.0.2.1%eth0', 'routing-table': 'main', active: true, connect: false },
    { 'dst-address': '192.0.2.0/24', gateway: 'eth0', 'immediate-gw': 'eth0', 'routing-table': 'main', active: true, connect: true },
    { 'dst-address': '10.0.0.0/8', gateway: 'wg0', 'immediate-gw': 'wg0', 'routing-table': 'main', active: false, connect: true },
  ]);
});

test('/ip route on this host: what eworm\'s IsDefaultRouteReachable asks', async () => {
  const text = fs.existsSync('/proc/net/route') ? fs.readFileSync('/proc/net/route', 'utf8') : '';
  const hasDefault = text.split('\n').slice(1).some((l) => { const f = l.trim().split(/\s+/); return f[1] === '00000000' && f[7] === '00000000' && (parseInt(f[3] ?? '0', 16) & 1) === 1; });
  let out = '';
  const { ConsoleSession } = await import('../../src/console/session.js');
  const cs = await ConsoleSession.open(t.app, { output: (s) => { out += s; } });
  await cs.run(':put [:len [/ip route find where dst-address=0.0.0.0/0 active routing-table=main]]');
  assert.equal(out, hasDefault ? '1\n' : '0\n');
});

test('/ip pool and /ip dhcp-server: configuration; an enabled server is flagged invalid (no DHCP runs)', async () => {
  await t.run('/ip/pool', 'add', { name: 'lan', ranges: '192.168.88.10-192.168.88.254' });
  await assert.rejects(t.run('/ip/pool', 'add', { name: 'bad', ranges: '192.168.88.10-192.168' }), /invalid value for argument ranges/);
  await t.run('/ip/dhcp-server', 'add', { interface: 'bridge', 'address-pool': 'lan' });
  await t.run('/ip/dhcp-server', 'add', { interface: 'ether2', disabled: 'yes' });
  const table = await print('/ip/dhcp-server');
  assert.match(table, /^0 I dhcp1 +bridge +lan +30m *$/m);
  assert.match(table, /^1 X dhcp2 +ether2 +static-only +30m *$/m);
  await t.run('/ip/pool', 'remove', { numbers: 'lan' });
  assert.equal(await get('/ip/dhcp-server', 'address-pool', 'dhcp1'), 'static-only', 'a removed pool leaves the server static-only');
});

test('a data directory made before these menus existed gets their rows on first use', async () => {
  const dir = tempDir();
  const mine = new Set(['/ip/cloud', '/system/ntp/client', '/snmp', '/system/note', '/system/package/update', '/system/device-mode', '/system/license']);
  const old = await Appliance.open(dir, { clock: new FixedClock(T0), menus: ALL_MENUS.filter((m) => !mine.has(m.path)) });
  old.close();
  const app = await Appliance.open(dir, { clock: new FixedClock(T0) });
  try {
    const s = await app.session('admin', 'test');
    const text = async (path: string) => renderConsole(await app.executor.run({ path, command: 'print', args: new Map(), session: s }), s);
    assert.match(await text('/ip/cloud'), /^ +ddns-enabled: auto *$/m);
    assert.match(await text('/system/ntp/client'), /^ +status: stopped *$/m);
    assert.match(await text('/snmp'), /^ +trap-community: public *$/m);
    assert.match(await text('/system/note'), /^ +show-at-login: yes *$/m);
    assert.match(await text('/system/package/update'), /^ +channel: stable *$/m);
    assert.match(await text('/system/license'), /^ +level: free *$/m);
  } finally {
    app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('/system resource uptime: how long the router clock has run; setting the time does not change it', async () => {
  // eworm's netwatch-dns waits until `uptime` reaches 5m30s: a test moves its clock there.
  const a = await openTestApp();
  try {
    assert.equal(await uptime(a), '0s');
    a.clock.advance(6 * 60_000 + 999);
    assert.equal(await uptime(a), '6m');
    // `/system clock set` (a FixedClock's ms) moves the date only; a step back moves no uptime.
    a.clock.ms = a.clock.ms + 86_400_000;
    a.clock.advance(-60_000);
    assert.equal(await uptime(a), '6m');
  } finally {
    a.close();
  }
  // The system clock: this process's running time.
  const ran = uptimeMs(systemClock);
  assert.ok(Math.abs(ran - process.uptime() * 1000) < 1000, `${ran} vs ${process.uptime() * 1000}`);
});

async function uptime(a: TestApp): Promise<string> {
  return String((await a.run('/system/resource', 'get', { 'value-name': 'uptime' })).ret);
}
