// /ip service rows the daemon keeps (issue 12): a dynamic connection row (flags D and c, LOCAL
// and REMOTE) for every open connection, on the console, REST and the API, gone when the
// connection closes and when the daemon stops; `find dynamic=no` finds the fixed rows (lego's
// deploy script); dynamic rows are neither settable nor exported. And the one removal rule for
// a certificate that several services use, over the console and over REST.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { SERVICE_PATH } from '../../src/menus/ip/service.js';
import { startServices } from '../../src/services/index.js';
import { ApiClient, attrs, basic, startServiceApp, type ServiceApp } from './support.js';

let s: ServiceApp;
let con: ConsoleSession;
let screen = '';
before(async () => {
  s = await startServiceApp();
  con = await ConsoleSession.open(s.app, { width: 200, output: (t) => { screen += t; } });
});
after(async () => { await s.stop(); });

/** Console output of one line (errors as the console prints them). */
async function cli(line: string): Promise<string> {
  screen = '';
  const outcome = await con.run(line);
  return outcome.ok ? screen : `${screen}${outcome.error}\n`;
}

async function rest(method: string, path: string, body?: unknown) {
  const r = await fetch(`http://127.0.0.1:${s.ports.www}${path}`, {
    method,
    headers: { authorization: basic(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, text, json: text ? JSON.parse(text) : undefined };
}

/** Waits (bounded) until the console shows what `want` accepts; returns that output. */
async function until(line: string, want: (out: string) => boolean): Promise<string> {
  let out = '';
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    out = await cli(line);
    if (want(out)) return out;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`never shown by ${line}:\n${out}`);
}

test('an open API connection is a D c row with LOCAL and REMOTE; it goes when the connection does', async () => {
  const c = await ApiClient.connect(s.ports.api);
  const remote = `127.0.0.1:${c.socket.localPort}`;
  const shown = await until('/ip service print where dynamic', (out) => out.includes(remote));
  const rows = shown.split('\n');
  assert.equal(rows[0], 'Flags: D - DYNAMIC; c - CONNECTION');
  assert.equal(rows[1], 'Columns: NAME, PORT, PROTO, LOCAL, REMOTE');
  const port = String(s.ports.api);
  const width = Math.max(4, port.length);
  assert.match(shown, new RegExp(`^ *\\d+ Dc api   ${port.padStart(width)}  tcp    127\\.0\\.0\\.1  ${remote.replace(/\./g, '\\.')} *$`, 'm'));
  // A plain print shows it too, after its service (RouterOS 7.23 does, services spec §8).
  const plain = await cli('/ip service print');
  assert.match(plain, /^Flags: D - DYNAMIC; X - DISABLED, I - INVALID; c - CONNECTION$/m);
  assert.match(plain, /^Columns: NAME, PORT, PROTO, CERTIFICATE, VRF, MAX-SESSIONS, LOCAL, REMOTE$/m);
  const lines = plain.split('\n');
  const fixed = lines.findIndex((l) => / api +\d+ +tcp +main +20/.test(l));
  assert.match(lines[fixed + 1]!, new RegExp(`^ *\\d+ D c api .*${remote.replace(/\./g, '\\.')}`), 'the connection follows its service');

  // REST and the API show the same rows; booleans as strings.
  const listed = (await rest('GET', '/rest/ip/service')).json as Array<Record<string, string>>;
  const rec = listed.find((r) => r.remote === remote)!;
  assert.deepEqual(
    { name: rec.name, port: rec.port, proto: rec.proto, local: rec.local, dynamic: rec.dynamic, connection: rec.connection, invalid: rec.invalid },
    { name: 'api', port, proto: 'tcp', local: '127.0.0.1', dynamic: 'true', connection: 'true', invalid: 'false' },
  );
  const www = listed.find((r) => r.name === 'www' && r.dynamic === 'false')!;
  assert.equal(www.connection, 'false');
  assert.equal(www.invalid, 'false', 'records carry invalid');
  assert.deepEqual(await c.login(), [['!done']]);
  const viaApi = (await c.talk('/ip/service/print', '?dynamic=true', '?name=api', '?#&')).filter((w) => w[0] === '!re').map(attrs);
  assert.ok(viaApi.some((r) => r.remote === remote && r.connection === 'true'), JSON.stringify(viaApi));

  c.close();
  await until('/ip service print where dynamic', (out) => !out.includes(remote));
});

test('find dynamic=no and name=www-ssl finds the fixed row even while a www-ssl connection is open', async () => {
  await s.run('/certificate', 'add', { name: 'web', 'common-name': '127.0.0.1', 'subject-alt-name': 'IP:127.0.0.1', 'key-size': 'prime256v1' });
  await s.run('/certificate', 'sign', { number: 'web' });
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'web', disabled: 'no' });
  await s.services.reconcile();
  const agent = await fetch(`http://127.0.0.1:${s.ports.www}/`); // a www connection meanwhile
  await agent.text();
  const c = await ApiClient.connect(s.ports.api);
  await until('/ip service print count-only where connection and name=api', (out) => out === '1\n');
  assert.equal(await cli(':put [/ip service find dynamic=no and name=www-ssl]'), '*5\n');
  assert.equal(await cli(':put [:len [/ip service find where name=api]]'), '2\n');
  // lego's deploy script binds through that find; dynamic rows refuse changes.
  assert.equal(await cli('/ip service set [find dynamic=no and name=www-ssl] certificate=none'), '');
  assert.equal(await cli('/ip service set [find dynamic and name=api] port=1'), 'failure: can not change dynamic entry\n');
  assert.equal(await cli('/ip service disable [find connection]'), 'failure: can not change dynamic entry\n');
  assert.doesNotMatch(await cli('/ip service export'), /add |remote|connection/);
  c.close();
  await s.run('/ip/service', 'disable', { numbers: 'www-ssl' });
});

test('a certificate bound to www-ssl and api-ssl: removing it resets both (console, then REST)', async () => {
  for (const name of ['both', 'both2']) {
    await s.run('/certificate', 'add', { name, 'common-name': name, 'key-size': 'prime256v1' });
    await s.run('/certificate', 'sign', { number: name });
  }
  assert.equal(await cli('/ip service set www-ssl,api-ssl certificate=both'), '');
  assert.equal(await cli(':put [/ip service get api-ssl certificate]'), 'both\n');
  assert.equal(await cli('/certificate remove both'), '');
  assert.equal(await cli(':put ([/ip service get www-ssl certificate] . " " . [/ip service get api-ssl certificate])'), 'none none\n');
  const logs = (await s.run('/log', 'print', {})).print!.rows.map((r) => String(r.data.message));
  assert.ok(logs.includes('www-ssl: certificate both removed, none until one is set'), logs.join('\n'));
  assert.ok(logs.includes('api-ssl: certificate both removed, none until one is set'), logs.join('\n'));

  // Over REST: PATCH both, DELETE the certificate, both read back none.
  const services = (await rest('GET', '/rest/ip/service?dynamic=false')).json as Array<Record<string, string>>;
  for (const name of ['www-ssl', 'api-ssl']) {
    const id = services.find((r) => r.name === name)!['.id'];
    assert.equal((await rest('PATCH', `/rest/ip/service/${id}`, { certificate: 'both2' })).status, 200);
  }
  const cert = ((await rest('GET', '/rest/certificate?name=both2')).json as Array<Record<string, string>>)[0]!;
  assert.equal((await rest('DELETE', `/rest/certificate/${cert['.id']}`)).status, 204);
  const after = (await rest('GET', '/rest/ip/service?dynamic=false')).json as Array<Record<string, string>>;
  assert.deepEqual(after.filter((r) => r.name === 'www-ssl' || r.name === 'api-ssl').map((r) => [r.name, r.certificate]).sort(),
    [['api-ssl', 'none'], ['www-ssl', 'none']]);
  await s.services.reconcile();
});

test('REST: a second PUT /rest/file of a name answers 400 "failure: file already exists"', async () => {
  const first = await rest('PUT', '/rest/file', { name: 'hook.cer', contents: 'x' });
  assert.equal(first.status, 201, first.text);
  const again = await rest('PUT', '/rest/file', { name: 'hook.cer', contents: 'y' });
  assert.equal(again.status, 400);
  assert.equal(again.text, '{"detail":"failure: file already exists","error":400,"message":"Bad Request"}');
  const add = await rest('POST', '/rest/file/add', { name: 'hook.cer', contents: 'z', type: 'file' });
  assert.equal(add.status, 400);
  assert.match(String(add.json.detail).toLowerCase(), /already exists/);
  assert.equal(await cli(':put [/file get hook.cer contents]'), 'x\n');
});

test('the daemon removes connection rows when it stops and those a killed daemon left when it starts', async () => {
  const c = await ApiClient.connect(s.ports.api);
  await until('/ip service print count-only where connection and name=api', (out) => out === '1\n');
  await s.services.stop();
  c.close();
  assert.equal(await cli('/ip service print count-only where dynamic'), '0\n');
  // A row left behind (as if the daemon had been killed) is gone once a daemon starts.
  await s.app.store.write((tx) => { tx.insert(SERVICE_PATH, { name: 'api', port: 1, proto: 'tcp', local: '127.0.0.1', remote: '127.0.0.1:2', dynamic: true, connection: true }); });
  assert.equal(await cli('/ip service print count-only where dynamic'), '1\n');
  const again = await startServices(s.app, { host: '127.0.0.1', loginFailureDelayMs: 50, pollMs: 100 });
  try {
    assert.equal(await cli('/ip service print count-only where dynamic'), '0\n');
  } finally {
    await again.stop();
  }
});
