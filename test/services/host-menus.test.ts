// The menus of issue 12 §2 over REST (curl) and the binary API, free from their declarations:
// a singleton (/ip cloud), an ordered list with its own verbs (/ip firewall filter: PUT, PATCH,
// move, DELETE), host facts (/interface, /system resource) and /ping's records.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { after, before, test } from 'node:test';
import { ApiClient, attrs, PASSWORD, run, startServiceApp, type ServiceApp } from './support.js';
import { needs } from '../support/tools.js';


let s: ServiceApp;
let base: string;
const common = ['-sS', '-u', `admin:${PASSWORD}`, '-H', 'content-type: application/json'];
before(async () => {
  s = await startServiceApp();
  base = `http://127.0.0.1:${s.ports.www}`;
});
after(async () => { await s.stop(); });

async function curl(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const args = [...common, '-X', method, '-w', '\n%{http_code}', `${base}/rest${path}`];
  if (body !== undefined) args.push('-d', JSON.stringify(body));
  const r = await run('curl', args);
  const cut = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, cut);
  return { status: Number(r.stdout.slice(cut + 1)), json: text === '' ? undefined : JSON.parse(text) };
}

test('REST: /ip cloud as one object, booleans as "true"/"false"; set with POST, and errors as RouterOS words', async () => {
  const got = await curl('GET', '/ip/cloud');
  assert.equal(got.status, 200);
  assert.deepEqual(got.json, {
    'ddns-enabled': 'auto', 'ddns-update-interval': 'none', status: 'Error: MikroTik cloud is not reachable from rospki', 'update-time': 'true',
  });
  assert.equal((await curl('POST', '/ip/cloud/set', { 'ddns-enabled': 'yes', 'update-time': 'false' })).status, 200);
  const after = (await curl('GET', '/ip/cloud')).json;
  assert.match(after['dns-name'], /^[0-9a-f]{12}\.sn\.mynetname\.net$/);
  assert.equal(after['update-time'], 'false');
  const bad = await curl('POST', '/ip/cloud/set', { 'ddns-enabled': 'maybe' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.detail, 'input does not match any value of ddns-enabled');
  assert.deepEqual((await curl('POST', '/ip/cloud/force-update', {})).json, []);
});

test('REST: firewall rules made, changed, moved and removed; GET keeps their order', async () => {
  const a = await curl('PUT', '/ip/firewall/filter', { chain: 'input', action: 'accept', protocol: 'tcp', 'dst-port': '443' });
  assert.equal(a.status, 201);
  assert.deepEqual(a.json, { '.id': a.json['.id'], action: 'accept', bytes: '0', chain: 'input', disabled: 'false', 'dst-port': '443', dynamic: 'false', invalid: 'false', packets: '0', protocol: 'tcp' });
  const b = (await curl('PUT', '/ip/firewall/filter', { chain: 'input', action: 'drop', 'src-address': '10.0.0.0/8' })).json;
  const order = async () => (await curl('GET', '/ip/firewall/filter')).json.map((r: Record<string, string>) => r['.id']);
  assert.deepEqual(await order(), [a.json['.id'], b['.id']]);
  assert.equal((await curl('POST', '/ip/firewall/filter/move', { numbers: b['.id'], destination: a.json['.id'] })).status, 200);
  assert.deepEqual(await order(), [b['.id'], a.json['.id']]);
  const patched = await curl('PATCH', `/ip/firewall/filter/${b['.id']}`, { 'src-address': '!192.168.88.0/24', disabled: 'true' });
  assert.equal(patched.json['src-address'], '!192.168.88.0/24');
  const refused = await curl('PATCH', `/ip/firewall/filter/${a.json['.id']}`, { protocol: 'icmp' });
  assert.equal(refused.status, 400);
  assert.equal(refused.json.detail, 'failure: dst-port needs protocol tcp, udp, udp-lite, dccp or sctp');
  assert.equal((await curl('GET', '/ip/firewall/filter?disabled=true')).json.length, 1);
  assert.equal((await curl('DELETE', `/ip/firewall/filter/${b['.id']}`)).status, 204);
  assert.deepEqual(await order(), [a.json['.id']]);
});

test('API: /interface and /system resource print what the host has; check-for-updates; an update of device-mode refused', async () => {
  const api = await ApiClient.connect(s.ports.api);
  try {
    await api.login();
    const hostNow = () => (fs.existsSync('/sys/class/net') ? fs.readdirSync('/sys/class/net') : Object.keys(os.networkInterfaces()));
    // Other tests make and remove devices meanwhile: what was there before and after is printed,
    // and nothing that was there neither time.
    const host = hostNow();
    const ifaces = (await api.talk('/interface/print', '=.proplist=name,type,running')).filter((w) => w[0] === '!re').map(attrs);
    const later = hostNow();
    const names = ifaces.map((i) => i.name!);
    assert.deepEqual(host.filter((n) => later.includes(n) && !names.includes(n)), []);
    assert.deepEqual(names.filter((n) => !host.includes(n) && !later.includes(n)), []);
    if (host.includes('lo')) assert.deepEqual(ifaces.find((i) => i.name === 'lo'), { name: 'lo', type: 'loopback', running: 'true' });
    const res = attrs((await api.talk('/system/resource/print'))[0]!);
    assert.equal(res.version, '7.23.3 (stable)');
    assert.match(res['free-hdd-space']!, /^\d+$/);
    assert.match(res['total-memory']!, /^\d+$/);
    const check = await api.talk('/system/package/update/check-for-updates');
    assert.equal(check.at(-1)![0], '!done');
    const upd = attrs((await api.talk('/system/package/update/print'))[0]!);
    assert.deepEqual(upd, { channel: 'stable', 'installed-version': '7.23.3', status: 'ERROR: no update server reachable from rospki' });
    const refused = await api.talk('/system/device-mode/update', '=mode=home');
    assert.equal(refused[0]![0], '!trap');
    assert.match(refused[0]!.join(' '), /no button or power switch/);
  } finally {
    api.close();
  }
});

test('/ping over REST and the API: one record per packet with the totals so far', { skip: needs('ping') }, async () => {
  const rest = await curl('POST', '/ping', { address: '127.0.0.1', count: '2', interval: '100ms' });
  assert.equal(rest.status, 200);
  assert.equal(rest.json.length, 2);
  assert.deepEqual(Object.keys(rest.json[1]).sort(), ['avg-rtt', 'host', 'max-rtt', 'min-rtt', 'packet-loss', 'received', 'sent', 'seq', 'size', 'time', 'ttl']);
  assert.equal(rest.json[1].sent, '2');
  assert.equal(rest.json[1]['packet-loss'], '0');
  assert.equal(rest.json[0].host, '127.0.0.1');
  const api = await ApiClient.connect(s.ports.api);
  try {
    await api.login();
    const reply = await api.talk('/ping', '=address=127.0.0.1', '=count=3', '=interval=50ms');
    const records = reply.filter((w) => w[0] === '!re').map(attrs);
    assert.deepEqual(records.map((r) => r.seq), ['0', '1', '2']);
    assert.equal(records[2]!.received, '3');
    assert.equal(reply.at(-1)![0], '!done');
    const missing = await api.talk('/ping');
    assert.equal(missing[0]![0], '!trap');
  } finally {
    api.close();
  }
});
