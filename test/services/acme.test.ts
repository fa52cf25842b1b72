// ACME with the daemon's services running (issue 14 §2–§4), against pebble: HTTP-01 answered by
// the www listener, TLS-ALPN-01 by the www-ssl listener (its ALPN/SNI hooks), the commands over
// REST and the binary API, a REST request that times out while the job goes on, and the renewal
// loop: moving the router clock renews in place while www-ssl keeps serving (openssl s_client
// sees the new serial), and a rate-limited renewal waits for the server's Retry-After.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { acmeResponder } from '../../src/menus/certificate/acme-responder.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { startAcmeProxy, type AcmeProxy } from '../support/acme-proxy.js';
import { tempDir } from '../support/app.js';
import { forgetAuthorizations, PEBBLE_TOOLS, startPebble, type Pebble } from '../support/pebble.js';
import { ApiClient, attrs, basic, run, startServiceApp, type ServiceApp } from './support.js';
import { needs } from '../support/tools.js';

const skip = needs(...PEBBLE_TOOLS);

/** Waits (bounded, polling the store) until `check` holds. */
async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function rest(s: ServiceApp, method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const r = await fetch(`http://127.0.0.1:${s.ports.www}/rest${p}`, {
    method, headers: { Authorization: basic(), 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

/** A server that is not rospki on a port: HTTP answering 404. */
async function squat(port: number): Promise<{ close(): Promise<void> }> {
  const server = http.createServer((_req, res) => { res.writeHead(404); res.end(); });
  const sockets = new Set<net.Socket>();
  server.on('connection', (c) => { sockets.add(c); c.on('close', () => sockets.delete(c)); });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { close: () => new Promise<void>((resolve) => { server.close(() => resolve()); for (const c of sockets) c.destroy(); }) };
}

describe('ACME with the services running', { skip }, () => {
  let s: ServiceApp;
  let pebble: Pebble;
  let folder: string;
  let rootFile: string;

  const ssl = () => s.app.store.read((tx) => tx.findBy(CERT_PATH, '.acme', 'ssl')[0]!);
  /** s_client against www-ssl: the served leaf's serial (after a verified handshake). */
  const servedSerial = async (extra: string[] = []): Promise<string> => {
    const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${s.ports['www-ssl']}`, '-servername', 'router.test',
      '-CAfile', rootFile, '-verify_return_error', '-verify_hostname', 'router.test', ...extra], { input: '', timeoutMs: 20_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Verification: OK/);
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(r.stdout)![0];
    const serial = await run('openssl', ['x509', '-noout', '-serial'], { input: leaf });
    return serial.stdout.trim().replace(/^serial=/, '').toLowerCase();
  };

  before(async () => {
    s = await startServiceApp({ services: { pollMs: 100 } });
    pebble = await startPebble({ httpPort: s.ports.www, tlsPort: s.ports['www-ssl'] });
    process.env.ROSPKI_ACME_HTTP01_PORT = String(s.ports.www);
    process.env.ROSPKI_ACME_TLSALPN01_PORT = String(s.ports['www-ssl']);
    process.env.ROSPKI_LISTEN_ADDRESS = '127.0.0.1';
    // The router clock stands still in tests: bring it to now, after pebble made its certificates.
    s.clock.ms = Date.now();
    await s.app.files.write('minica.pem', Buffer.from(pebble.minicaPem), s.app.clock.now());
    await s.run(CERT_PATH, 'import', { 'file-name': 'minica.pem', passphrase: '' });
    folder = tempDir('rospki-acme-svc-');
    rootFile = path.join(folder, 'root.pem');
    fs.writeFileSync(rootFile, await pebble.rootPem());
  });
  after(async () => {
    await s?.stop();
    await pebble?.stop();
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  test('REST enable-ssl-certificate: HTTP-01 answered by www, progress records, then www-ssl serves the chain', async () => {
    const r = await rest(s, 'POST', '/certificate/enable-ssl-certificate', { 'dns-name': 'router.test', 'directory-url': pebble.directory });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const records = r.json as Array<Record<string, string>>;
    assert.deepEqual(records.map((x) => x['.section']), records.map((_, i) => String(i)));
    assert.ok(records.some((x) => x.progress === `validating router.test (http-01 on port ${s.ports.www} via www)`), JSON.stringify(records));
    assert.deepEqual(records.at(-1), { '.section': String(records.length - 1), progress: '[success] ssl certificate updated' });
    const row = await ssl();
    // REST shows the ACME properties and the flag.
    const got = (await rest(s, 'GET', `/certificate/${encodeURIComponent(String(row.data.name))}`)).json as Record<string, string>;
    assert.equal(got['acme-managed'], 'true');
    assert.equal(got['domain-names'], 'router.test');
    assert.equal(got['acme-status'], 'valid');
    assert.match(got['acme-next-renewal']!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await s.run('/ip/service', 'set', { numbers: 'www-ssl', disabled: 'no' });
    await until('www-ssl listens', async () => s.services.port('www-ssl') !== undefined);
    assert.equal(await servedSerial(), String(row.data['serial-number']));
  });

  test('www-ssl answers a TLS-ALPN-01 handshake with the challenge certificate, every other one with its own', async () => {
    const remove = acmeResponder(s.app.env).addTlsAlpn('router.test', 'token-for-the-test.thumbprint', s.app.clock.now());
    try {
      const own = await run('openssl', ['s_client', '-connect', `127.0.0.1:${s.ports['www-ssl']}`, '-servername', 'router.test', '-alpn', 'http/1.1'], { input: '', timeoutMs: 20_000 });
      assert.match(own.stdout, /subject=CN = router\.test/);
      for (const version of ['-tls1_3', '-tls1_2']) {
        const challenge = await run('openssl', ['s_client', '-connect', `127.0.0.1:${s.ports['www-ssl']}`, '-servername', 'router.test', '-alpn', 'acme-tls/1', version], { input: '', timeoutMs: 20_000 });
        assert.match(challenge.stdout, /ALPN protocol: acme-tls\/1/, version);
        assert.match(challenge.stdout, /subject=CN = ACME TLS-ALPN-01 challenge/, version);
      }
    } finally {
      remove();
    }
    const after = await run('openssl', ['s_client', '-connect', `127.0.0.1:${s.ports['www-ssl']}`, '-servername', 'router.test', '-alpn', 'acme-tls/1'], { input: '', timeoutMs: 20_000 });
    assert.doesNotMatch(after.stdout, /ACME TLS-ALPN-01 challenge/, 'no challenge pending: no challenge certificate');
  });

  test('API add-acme with HTTP-01 impossible: TLS-ALPN-01 answered by the www-ssl listener; acme-renew reports as a monitor', async () => {
    await s.run('/ip/service', 'set', { numbers: 'www', disabled: 'yes' });
    await until('www closed', async () => s.services.port('www') === undefined);
    const other = await squat(s.ports.www);
    const api = await ApiClient.connect(s.ports.api);
    try {
      await api.login();
      const added = await api.talk('/certificate/add-acme', '=name=via-api', '=domain-names=api.router.test,www.api.router.test', `=directory-url=${pebble.directory}`);
      assert.equal(added.at(-1)![0], '!done', JSON.stringify(added));
      assert.match(attrs(added.at(-1)!).ret!, /^\*[0-9A-F]+$/);
      // The renewal must validate again (pebble would now and then reuse the authorization).
      await forgetAuthorizations(pebble, s.app);
      const renewed = await api.talk('/certificate/acme-renew', '=numbers=via-api');
      assert.equal(renewed.at(-1)![0], '!done', JSON.stringify(renewed));
      const progress = renewed.filter((x) => x[0] === '!re').map(attrs);
      assert.ok(progress.some((p) => p.progress === `validating api.router.test (tls-alpn-01 on port ${s.ports['www-ssl']} via www-ssl)`), JSON.stringify(progress));
      assert.equal(progress.at(-1)!.progress, '[success] certificate renewed');
      assert.deepEqual(progress.map((p) => p['.section']), progress.map((_, i) => String(i)));
    } finally {
      api.close();
      await other.close();
      await s.run('/ip/service', 'set', { numbers: 'www', disabled: 'no' });
      await until('www listens', async () => s.services.port('www') !== undefined);
    }
  });

  test('a REST request that runs out of time: "Session closed", and the issuance goes on to its end', async () => {
    // An appliance whose REST limit is 1 ms, beside a pebble that skips validation.
    const quick = await startServiceApp({ services: { restTimeoutMs: 1 } });
    const lax = await startPebble({ env: { PEBBLE_VA_ALWAYS_VALID: '1' } });
    const ports = [process.env.ROSPKI_ACME_HTTP01_PORT, process.env.ROSPKI_ACME_TLSALPN01_PORT];
    try {
      process.env.ROSPKI_ACME_HTTP01_PORT = String(quick.ports.www);
      process.env.ROSPKI_ACME_TLSALPN01_PORT = String(quick.ports['www-ssl']);
      quick.clock.ms = Date.now();
      await quick.app.files.write('minica.pem', Buffer.from(lax.minicaPem), quick.app.clock.now());
      await quick.run(CERT_PATH, 'import', { 'file-name': 'minica.pem', passphrase: '' });
      const r = await rest(quick, 'POST', '/certificate/enable-ssl-certificate', { 'dns-name': 'quick.router.test', 'directory-url': lax.directory });
      assert.equal(r.status, 400);
      assert.deepEqual(r.json, { detail: 'Session closed', error: 400, message: 'Bad Request' });
      const issued = () => quick.app.store.read((tx) => tx.findBy(CERT_PATH, '.acme', 'ssl')[0]?.data['acme-status']);
      await until('the issuance that outlived the request', async () => (await issued()) === 'valid');
      const bound = await quick.app.store.read((tx) => tx.findBy('/ip/service', 'name', 'www-ssl')[0]!.data.certificate);
      assert.equal(bound, await quick.app.store.read((tx) => tx.findBy(CERT_PATH, '.acme', 'ssl')[0]!.id));
    } finally {
      [process.env.ROSPKI_ACME_HTTP01_PORT, process.env.ROSPKI_ACME_TLSALPN01_PORT] = ports;
      await quick.stop();
      await lax.stop();
    }
  });

  test('moving the router clock renews at 80 %: same row and binding, www-ssl serves the new serial', async () => {
    const before = await ssl();
    const servedBefore = await servedSerial();
    const logsBefore = await s.app.store.read((tx) => tx.list('/log').filter((r) => String(r.data.message) === 'ssl certificate updated').length);
    s.clock.advance(Number(before.data['invalid-after']) - s.app.clock.now() - 17 * 86_400_000); // past 80 % of 90 days
    await until('the renewal', async () => (await ssl()).data['serial-number'] !== before.data['serial-number']);
    const after = await ssl();
    assert.equal(after.id, before.id);
    assert.equal(after.data.name, before.data.name);
    assert.equal((await s.app.store.read((tx) => tx.findBy('/ip/service', 'name', 'www-ssl')[0]!)).data.certificate, before.id);
    await until('www-ssl serves the new certificate', async () => (await servedSerial()) === String(after.data['serial-number']));
    assert.notEqual(servedBefore, String(after.data['serial-number']));
    assert.equal(await s.app.store.read((tx) => tx.list('/log').filter((r) => String(r.data.message) === 'ssl certificate updated').length), logsBefore + 1);
    // Not again at once, although the router clock is ahead of the CA's: due a day later at the earliest.
    assert.ok(Number(after.data['.acme-issued']) === s.app.clock.now());
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await ssl()).data['serial-number'], after.data['serial-number']);
  });

  describe('a rate-limited renewal', () => {
    let proxy: AcmeProxy;
    before(async () => { proxy = await startAcmeProxy(pebble); });
    after(async () => { await proxy?.stop(); });

    test('waits for the server\'s Retry-After, then renews when the clock gets there', async () => {
      const added = await rest(s, 'POST', '/certificate/add-acme', { name: 'later', 'domain-names': 'later.router.test', 'directory-url': proxy.directory });
      assert.equal(added.status, 200, JSON.stringify(added.json));
      const id = Number(String((added.json as { ret: string }).ret).slice(1));
      const row = () => s.app.store.read((tx) => tx.get(CERT_PATH, id)!);
      proxy.rateLimitSeconds = 3 * 3600;
      try {
        s.clock.advance(Number((await row()).data['invalid-after']) - s.app.clock.now() - 10 * 86_400_000);
        await until('the failed renewal', async () => (await row()).data['acme-status'] === 'failed');
      } finally {
        proxy.rateLimitSeconds = undefined;
      }
      const failed = await row();
      assert.match(String(failed.data['acme-error']), /^rate limited by the ACME server until /);
      assert.equal(Number(failed.data['.acme-retry-at']), s.app.clock.now() + 3 * 3_600_000);
      const logs = await s.app.store.read((tx) => tx.list('/log').map((r) => `${String(r.data.topics)} ${String(r.data.message)}`));
      assert.ok(logs.some((l) => /^acme,error failed to update certificate later: rate limited/.test(l)), logs.join('\n'));
      // An hour on: still waiting. Past the Retry-After: renewed.
      s.clock.advance(3_600_000);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await row()).data['acme-status'], 'failed');
      s.clock.advance(2 * 3_600_000 + 1000);
      await until('the renewal after Retry-After', async () => (await row()).data['acme-status'] === 'valid');
      assert.notEqual((await row()).data['serial-number'], failed.data['serial-number']);
    });

    test('renewal information is asked for again after its Retry-After; a moved window moves the renewal', async () => {
      const now = () => s.app.clock.now();
      proxy.window = { start: now() + 20 * 86_400_000, end: now() + 21 * 86_400_000 };
      const added = await rest(s, 'POST', '/certificate/add-acme', { name: 'windowed', 'domain-names': 'windowed.router.test', 'directory-url': proxy.directory });
      assert.equal(added.status, 200, JSON.stringify(added.json));
      const id = Number(String((added.json as { ret: string }).ret).slice(1));
      const row = () => s.app.store.read((tx) => tx.get(CERT_PATH, id)!.data);
      const first = Number((await row())['.acme-ari-at']);
      assert.ok(first >= proxy.window.start && first <= proxy.window.end);
      const asked = proxy.asked.length;
      proxy.window = { start: now() + 40 * 86_400_000, end: now() + 41 * 86_400_000 };
      s.clock.advance(6 * 3_600_000 + 1000); // the proxy's Retry-After: 6 hours
      await until('the second look at the window', async () => proxy.asked.length > asked && Number((await row())['.acme-ari-at']) !== first);
      const moved = Number((await row())['.acme-ari-at']);
      assert.ok(moved >= proxy.window.start && moved <= proxy.window.end, 'inside the new window');
      assert.equal((await row())['acme-status'], 'valid', 'asking renews nothing');
    });
  });
});
