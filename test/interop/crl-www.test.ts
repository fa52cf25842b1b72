// CRL publication over www (issue 6 §2): the CRL a local CA publishes is fetched with curl at
// exactly the URL its certificates carry, and `openssl verify -crl_check` finds the revoked one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { openssl, opensslStatus, tempDir, toPem } from '../support/app.js';
import { run, startServiceApp, type ServiceApp } from '../services/support.js';

let s: ServiceApp;
let dir: string;

before(async () => {
  s = await startServiceApp();
  dir = tempDir('rospki-crl-www-');
});
after(async () => { await s.stop(); fs.rmSync(dir, { recursive: true, force: true }); });

async function pemOf(name: string): Promise<string> {
  return s.app.store.read((tx) => toPem(certificateDer(tx, tx.findBy(CERT_PATH, 'name', name)[0]!.id)!));
}

test('the CRL is served at the URL in the certificates and openssl finds the revoked one', async () => {
  const host = `127.0.0.1:${s.ports.www}`;
  await s.run(CERT_PATH, 'add', { name: 'ca', 'common-name': 'CRL CA', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1' });
  await s.run(CERT_PATH, 'sign', { number: 'ca', 'ca-crl-host': host });
  for (const name of ['good', 'bad']) {
    await s.run(CERT_PATH, 'add', { name, 'common-name': name, 'key-size': 'prime256v1', 'key-usage': 'digital-signature,tls-client' });
    await s.run(CERT_PATH, 'sign', { number: name, ca: 'ca' });
  }
  await s.run(CERT_PATH, 'issued-revoke', { numbers: 'bad' });

  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, await pemOf('ca'));
  const files: Record<string, string> = {};
  for (const name of ['good', 'bad']) {
    files[name] = path.join(dir, `${name}.pem`);
    fs.writeFileSync(files[name]!, await pemOf(name));
  }
  // The URL comes from the certificate itself, as a relying party would read it.
  const text = openssl(['x509', '-in', files.bad!, '-noout', '-ext', 'crlDistributionPoints']);
  const url = /URI:(\S+)/.exec(text)?.[1];
  assert.ok(url?.startsWith(`http://${host}/crl/`), text);

  const crlFile = path.join(dir, 'ca.crl');
  const r = await run('curl', ['-sS', '-f', '-o', crlFile, '-w', '%{content_type}', url!]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'application/pkix-crl');
  assert.match(openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text', '-CAfile', caFile]), /Serial Number/);
  const crlPem = path.join(dir, 'ca.crl.pem');
  openssl(['crl', '-inform', 'DER', '-in', crlFile, '-out', crlPem]);

  const bad = opensslStatus(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', crlPem, files.bad!]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.output, /certificate revoked/);
  const good = opensslStatus(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', crlPem, files.good!]);
  assert.equal(good.status, 0, good.output);

  const missing = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${host}/crl/999.crl`]);
  assert.equal(missing.stdout, '404');
});
