// www-ssl and api-ssl offer forward-secret suites only (issue 11), as RouterOS 7 does with the
// default tls-version: RSA key exchange is refused even with an RSA certificate; ECDHE, DHE and
// TLS 1.3 are accepted; api-ssl without a certificate stays anonymous DH. Judged by openssl s_client.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { makeChain, run, startServiceApp, type ServiceApp } from '../services/support.js';

let s: ServiceApp;
before(async () => {
  s = await startServiceApp();
  await makeChain(s);
  await s.run(CERT_PATH, 'add', {
    name: 'rsa', 'common-name': 'router.test', 'key-size': '2048', 'days-valid': '30',
    'subject-alt-name': 'DNS:router.test', 'key-usage': 'digital-signature,key-encipherment,tls-server',
  });
  await s.run(CERT_PATH, 'sign', { number: 'rsa', ca: 'inter' });
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'rsa', disabled: 'no' });
  await s.run('/ip/service', 'set', { numbers: 'api-ssl', certificate: 'rsa' });
  await s.services.reconcile();
});
after(async () => { await s.stop(); });

async function handshake(port: number, args: string[]): Promise<{ ok: boolean; cipher: string; output: string }> {
  const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'router.test', ...args], { input: '', timeoutMs: 20_000 });
  const cipher = /Cipher is (\S+)/.exec(r.stdout)?.[1] ?? '';
  return { ok: r.status === 0 && cipher !== '' && cipher !== '(NONE)', cipher, output: r.stdout + r.stderr };
}

for (const service of ['www-ssl', 'api-ssl'] as const) {
  test(`${service} with an RSA certificate: RSA key exchange refused, ECDHE, DHE and TLS 1.3 accepted`, async () => {
    const port = s.ports[service];
    for (const cipher of ['AES128-SHA', 'AES256-GCM-SHA384', 'kRSA']) {
      const r = await handshake(port, ['-tls1_2', '-cipher', cipher]);
      assert.equal(r.ok, false, `${cipher} must be refused:\n${r.output}`);
    }
    for (const cipher of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-SHA', 'DHE-RSA-AES256-GCM-SHA384']) {
      const r = await handshake(port, ['-tls1_2', '-cipher', cipher]);
      assert.equal(r.ok, true, `${cipher} must be accepted:\n${r.output}`);
      assert.equal(r.cipher, cipher);
    }
    const v13 = await handshake(port, ['-tls1_3']);
    assert.equal(v13.ok, true, v13.output);
    assert.match(v13.cipher, /^TLS_/);
  });
}

test('an EC certificate: ECDHE-ECDSA accepted, nothing without forward secrecy', async () => {
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv' });
  await s.services.reconcile();
  try {
    const ok = await handshake(s.ports['www-ssl'], ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
    assert.equal(ok.ok, true, ok.output);
    const bad = await handshake(s.ports['www-ssl'], ['-tls1_2', '-cipher', 'ECDH-ECDSA-AES128-GCM-SHA256:AES128-GCM-SHA256']);
    assert.equal(bad.ok, false, bad.output);
  } finally {
    await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'rsa' });
  }
});

test('api-ssl without a certificate stays anonymous Diffie-Hellman (clients.md row 16)', async () => {
  await s.run('/ip/service', 'set', { numbers: 'api-ssl', certificate: 'none' });
  await s.services.reconcile();
  try {
    const r = await handshake(s.ports['api-ssl'], ['-tls1_2', '-cipher', 'ADH-AES256-GCM-SHA384:@SECLEVEL=0']);
    assert.equal(r.ok, true, r.output);
    assert.equal(r.cipher, 'ADH-AES256-GCM-SHA384');
  } finally {
    await s.run('/ip/service', 'set', { numbers: 'api-ssl', certificate: 'rsa' });
  }
});
