// www-ssl judged by openssl s_client and curl: the chain, the SAN, TLS versions, and a hot
// certificate swap while a connection stays open; rename keeps the binding; removing the
// bound certificate succeeds and leaves the service without one until it is rebound.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { tempDir } from '../support/app.js';
import { makeChain, run, startServiceApp, type ServiceApp } from '../services/support.js';

let s: ServiceApp;
let dir: string;
let rootFile: string;
let chain: Awaited<ReturnType<typeof makeChain>>;

before(async () => {
  s = await startServiceApp();
  dir = tempDir('rospki-tls-');
  chain = await makeChain(s);
  rootFile = path.join(dir, 'root.pem');
  fs.writeFileSync(rootFile, chain.rootPem);
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv', disabled: 'no' });
  await s.services.reconcile(); // the listener is up before the first test connects
});
after(async () => { await s.stop(); fs.rmSync(dir, { recursive: true, force: true }); });

const fp = (pem: string) => new X509Certificate(pem).fingerprint256;

function sClient(args: string[]) {
  return run('openssl', ['s_client', '-connect', `127.0.0.1:${s.ports['www-ssl']}`, '-servername', 'router.test', ...args], { input: '', timeoutMs: 20_000 });
}

/** An HTTP/1.1 keep-alive connection over TLS that can send several requests. */
async function openTls(): Promise<{ socket: tls.TLSSocket; get(path: string): Promise<string> }> {
  const socket = tls.connect({ port: s.ports['www-ssl'], host: '127.0.0.1', servername: 'router.test', ca: chain.rootPem });
  await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
  return {
    socket,
    get(p: string) {
      return new Promise((resolve) => {
        let text = '';
        const onData = (d: Buffer) => {
          text += d.toString();
          const m = /Content-Length: (\d+)\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/i.exec(text);
          if (m && Buffer.byteLength(m[2]!) >= Number(m[1])) { socket.off('data', onData); resolve(text); }
        };
        socket.on('data', onData);
        socket.write(`GET ${p} HTTP/1.1\r\nHost: router.test\r\nAuthorization: Basic ${Buffer.from('admin:secret').toString('base64')}\r\n\r\n`);
      });
    },
  };
}

test('openssl s_client verifies the chain (leaf + intermediate) and the host name', async () => {
  const r = await sClient(['-CAfile', rootFile, '-verify_return_error', '-verify_hostname', 'router.test', '-showcerts']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Verification: OK/);
  const certs = r.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  assert.equal(certs.length, 2, 'leaf and intermediate');
  assert.equal(fp(certs[0]!), fp(chain.leafPem));
  assert.equal(fp(certs[1]!), fp(chain.interPem));
  const wrong = await sClient(['-CAfile', rootFile, '-verify_return_error', '-verify_hostname', 'other.test']);
  assert.notEqual(wrong.status, 0);
});

test('curl: REST over HTTPS with the SAN matched', async () => {
  const r = await run('curl', ['-sS', '-v', '--cacert', rootFile, '--resolve', `router.test:${s.ports['www-ssl']}:127.0.0.1`,
    '-u', 'admin:secret', `https://router.test:${s.ports['www-ssl']}/rest/system/resource`]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(JSON.parse(r.stdout).version, /^7\./);
  assert.match(r.stderr, /subjectAltName: host "router.test" matched/);
});

test('tls-version only-1.2 and only-1.3 apply to the next handshake', async () => {
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', 'tls-version': 'only-1.2' });
  assert.notEqual((await sClient(['-tls1_3'])).status, 0);
  assert.equal((await sClient(['-tls1_2'])).status, 0);
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', 'tls-version': 'only-1.3' });
  assert.notEqual((await sClient(['-tls1_2'])).status, 0);
  assert.equal((await sClient(['-tls1_3'])).status, 0);
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', 'tls-version': 'any' });
});

test('hot swap: a new certificate serves the next handshake; the open connection keeps working', async () => {
  const open = await openTls();
  assert.equal(open.socket.getPeerX509Certificate()!.fingerprint256, fp(chain.leafPem));
  assert.match(await open.get('/rest/system/resource'), /^HTTP\/1\.1 200/);
  const second = await makeChain(s, { leaf: 'srv2', cn: 'router.test' });
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv2' });
  // No reconcile call and no wait: the change hook applies it before the next handshake (the
  // listeners' reconcile runs on its own, not after whatever service reconcile is under way).
  const r = await sClient(['-CAfile', rootFile, '-verify_return_error', '-verify_hostname', 'router.test']);
  assert.equal(r.status, 0, r.stderr);
  const served = await run('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: r.stdout });
  assert.equal(served.stdout.trim().split('=')[1], fp(second.leafPem));
  assert.match(await open.get('/rest/system/resource'), /^HTTP\/1\.1 200/, 'the old connection still answers');
  open.socket.destroy();
});

test('rename keeps the binding; removing the bound certificate succeeds and leaves none', async () => {
  await s.run('/certificate', 'set', { numbers: 'srv2', name: 'srv2-renamed' });
  const svc = (await s.run('/ip/service', 'get', { number: 'www-ssl', 'value-name': 'certificate' })).ret;
  assert.equal(svc, 'srv2-renamed');
  const open = await openTls();
  await s.run('/certificate', 'remove', { numbers: 'srv2-renamed' });
  assert.equal((await s.run('/ip/service', 'get', { number: 'www-ssl', 'value-name': 'certificate' })).ret, 'none');
  const logs = (await s.run('/log', 'print', {})).print!.rows.map((row) => String(row.data.message));
  assert.ok(logs.some((m) => m.startsWith('www-ssl: certificate srv2-renamed removed')), logs.join('\n'));
  await s.services.reconcile();
  assert.notEqual((await sClient([])).status, 0, 'no longer listening');
  assert.match(await open.get('/rest/system/resource'), /^HTTP\/1\.1 200/, 'the open connection survives');
  open.socket.destroy();
  // Rebind by name (renewal clients: remove, import under the same name, bind).
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv' });
  await s.services.reconcile();
  const r = await sClient(['-CAfile', rootFile, '-verify_return_error']);
  assert.equal(r.status, 0, r.stderr);
});
