// /ip service on a running daemon: listeners follow the store without a restart, a port that
// cannot be bound marks the service invalid (and the daemon keeps going), allow-lists,
// max-sessions, port changes that keep open connections.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { renderConsole } from '../../src/menu/render.js';
import { ApiClient, attrs, freePort, startServiceApp, type ServiceApp } from './support.js';

let s: ServiceApp;
before(async () => { s = await startServiceApp(); });
after(async () => { await s.stop(); });

const print = async (where?: string) => renderConsole(await s.run('/ip/service', 'print', where ? { from: where } : {}), s.session);
const logs = async () => (await s.run('/log', 'print', {})).print!.rows.map((r) => String(r.data.message));

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

test('defaults: www, api, api-ssl listen; www-ssl disabled; the others are rows only', async () => {
  assert.equal(s.services.port('www'), s.ports.www);
  assert.equal(s.services.port('api'), s.ports.api);
  assert.equal(s.services.port('api-ssl'), s.ports['api-ssl']);
  assert.equal(s.services.port('www-ssl'), undefined);
  // Printed by port (the test moved www, api, api-ssl and www-ssl to free high ports).
  const rows = (await s.run('/ip/service', 'print', {})).print!.rows.filter((r) => r.data.dynamic !== true).map((r) => [r.data.name, r.data.disabled]);
  const byPort = (name: string) => (s.ports as Record<string, number>)[name] ?? { ftp: 21, ssh: 22, telnet: 23, 'reverse-proxy': 443, winbox: 8291 }[name]!;
  const expected = ([['telnet', true], ['ftp', true], ['www', false], ['ssh', true], ['www-ssl', true], ['api', false], ['winbox', true], ['api-ssl', false], ['reverse-proxy', true]] as const)
    .map(([n, d]) => [n, d] as [string, boolean]).sort((a, b) => byPort(a[0]) - byPort(b[0]));
  assert.deepEqual(rows, expected);
});

test('www-ssl enabled without a certificate does not listen and says why', async () => {
  await s.run('/ip/service', 'enable', { numbers: 'www-ssl' });
  await s.services.reconcile();
  assert.equal(s.services.port('www-ssl'), undefined);
  assert.equal(await canConnect(s.ports['www-ssl']), false);
  const text = await print('www-ssl');
  assert.match(text, /^Flags: X - DISABLED, I - INVALID$/m);
  assert.match(text, /^;;; no certificate$/m);
  assert.match(text, /^\d I www-ssl/m);
  assert.ok((await logs()).includes('www-ssl: no certificate'));
  await s.run('/ip/service', 'disable', { numbers: 'www-ssl' });
  await s.services.reconcile();
  assert.doesNotMatch(await print('www-ssl'), /;;;/);
});

test('a port in use marks the service invalid, logs the reason, and the daemon keeps serving', async () => {
  const blocker = net.createServer();
  const port = await freePort();
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
  try {
    await s.run('/ip/service', 'set', { numbers: 'api', port: String(port) });
    await s.services.reconcile();
    const text = await print('api');
    assert.match(text, new RegExp(`^;;; cannot bind to port ${port}: Address in use \\(12\\)$`, 'm'));
    assert.match(text, /^\d I api/m);
    assert.ok((await logs()).includes(`api: cannot bind to port ${port}: Address in use (12)`));
    const rec = (await s.run('/ip/service', 'get', { number: 'api' })).ret;
    assert.ok(rec);
    // Others still answer.
    assert.equal((await fetch(`http://127.0.0.1:${s.ports.www}/`)).status, 200);
  } finally {
    await new Promise<void>((r) => blocker.close(() => r()));
  }
  await s.run('/ip/service', 'set', { numbers: 'api', port: String(s.ports.api) });
  await s.services.reconcile();
  assert.equal(s.services.port('api'), s.ports.api);
  assert.doesNotMatch(await print('api'), /I api/);
});

test('changing the port opens the new one and keeps open sessions on the old one', async () => {
  const c = await ApiClient.connect(s.ports.api);
  assert.deepEqual(await c.login(), [['!done']]);
  const moved = await freePort();
  await s.run('/ip/service', 'set', { numbers: 'api', port: String(moved) });
  await s.services.reconcile();
  assert.equal(s.services.port('api'), moved);
  assert.equal(await canConnect(s.ports.api), false);
  const r = await c.talk('/system/resource/print', '=.proplist=version');
  assert.equal(r[0]![0], '!re', 'the open session still works');
  const d = await ApiClient.connect(moved);
  assert.deepEqual(await d.login(), [['!done']]);
  c.close(); d.close();
  await s.run('/ip/service', 'set', { numbers: 'api', port: String(s.ports.api) });
  await s.services.reconcile();
});

test('address allow-list and max-sessions apply to new connections at once', async () => {
  await s.run('/ip/service', 'set', { numbers: 'api', address: '10.0.0.0/8' });
  await s.services.reconcile();
  const c = await ApiClient.connect(s.ports.api);
  assert.equal(await c.read(), undefined, 'closed without a word');
  await s.run('/ip/service', 'set', { numbers: 'api', address: '127.0.0.0/8,::1' });
  await s.services.reconcile();
  const ok = await ApiClient.connect(s.ports.api);
  assert.deepEqual(await ok.login(), [['!done']]);
  await s.run('/ip/service', 'set', { numbers: 'api', 'max-sessions': '1', address: '' });
  await s.services.reconcile();
  // max-sessions counts logged-in sessions (connections waiting to log in have a pool of their
  // own, issue 11): the connection is taken, its login over max-sessions refused.
  const extra = await ApiClient.connect(s.ports.api);
  const refused = await extra.login();
  assert.equal(refused[0]![0], '!trap');
  assert.equal(attrs(refused[0]!).message, 'failure: too many sessions');
  ok.close();
  let again: string[][] = [];
  for (const deadline = Date.now() + 30_000; again[0]?.[0] !== '!done' && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 20));
    again = await extra.login();
  }
  assert.deepEqual(again, [['!done']], 'a session ended: the next login gets its place');
  extra.close();
  await s.run('/ip/service', 'set', { numbers: 'api', 'max-sessions': '20' });
  await s.services.reconcile();
});

test('disable stops listening; enable starts again; changes by REST apply too', async () => {
  await s.run('/ip/service', 'disable', { numbers: 'api' });
  await s.services.reconcile();
  assert.equal(await canConnect(s.ports.api), false);
  const r = await fetch(`http://127.0.0.1:${s.ports.www}/rest/ip/service/api`, {
    method: 'PATCH', headers: { authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ disabled: 'no' }),
  });
  assert.equal(r.status, 200);
  assert.equal(((await r.json()) as { disabled: string }).disabled, 'false');
  await s.services.reconcile();
  const c = await ApiClient.connect(s.ports.api);
  assert.deepEqual(await c.login(), [['!done']]);
  const svc = await c.talk('/ip/service/print', '?name=api-ssl');
  assert.equal(attrs(svc[0]!).certificate, 'none');
  c.close();
});
