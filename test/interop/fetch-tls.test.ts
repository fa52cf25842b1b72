// /tool fetch https against `openssl s_server -www` on 127.0.0.1, presenting trusted, untrusted,
// expired, wrong-name and revoked certificates: the trust engine's decisions and RouterOS texts.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { certificateDer, privateKey } from '../../src/menus/certificate/keys.js';
import { TRUST_ERRORS } from '../../src/trust/engine.js';
import { openTestApp, tempDir, toPem, type TestApp } from '../support/app.js';
import { externalCa } from '../menus/crl-support.js';
import { generateKeyPairSync } from 'node:crypto';
import { freePort } from '../services/support.js';

const C = CERT_PATH;
const DAY = 86_400_000;


interface Server { port: number; proc: ChildProcess }

/** openssl s_server -www with a certificate (and optional chain) until stopped. */
async function sServer(dir: string, name: string, cert: string, key: string, chain?: string): Promise<Server> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', cert, '-key', key, '-www', '-naccept', '20'];
    if (chain) args.push('-cert_chain', chain);
    const proc = spawn('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const ok = await new Promise<boolean>((resolve) => {
      let out = '';
      // It exits at once when the port is taken (then another port); starting may be slow under load.
      const timer = setTimeout(() => resolve(false), 30_000);
      proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ACCEPT')) { clearTimeout(timer); resolve(true); } });
      proc.on('exit', () => { clearTimeout(timer); resolve(false); });
    });
    if (ok) return { port, proc };
    proc.kill();
  }
  throw new Error(`s_server for ${name} did not start`);
}

describe('/tool fetch https against openssl s_server', () => {
  let t: TestApp;
  let dir: string;
  const servers: Record<string, Server> = {};

  async function exportCert(name: string): Promise<{ cert: string; key: string }> {
    const { der, key } = await t.app.store.read((tx) => {
      const row = tx.findBy(C, 'name', name)[0]!;
      return { der: certificateDer(tx, row.id)!, key: privateKey(t.app.env, tx, row.id, String(row.data.fingerprint))! };
    });
    const cert = path.join(dir, `${name}.pem`);
    const keyFile = path.join(dir, `${name}.key`);
    fs.writeFileSync(cert, toPem(der));
    fs.writeFileSync(keyFile, key.export({ type: 'pkcs8', format: 'pem' }) as string);
    return { cert, key: keyFile };
  }
  async function leaf(name: string, san: string, extra: Record<string, string> = {}) {
    await t.run(C, 'add', { name, 'common-name': name, 'subject-alt-name': san, 'key-size': 'prime256v1', 'key-usage': 'digital-signature,tls-server', ...extra });
    await t.run(C, 'sign', { number: name, ca: 'ca' });
  }
  const fetch = (srv: string, check: string, host = '127.0.0.1') =>
    t.run('/tool', 'fetch', { url: `https://${host}:${servers[srv]!.port}/`, 'check-certificate': check, output: 'user', 'as-value': '' });
  /** The fetch succeeds and returns the status page of that very s_server (it names its port). */
  const accepted = async (srv: string, check: string, host?: string, why?: string) => {
    const r = await fetch(srv, check, host);
    const ret = r.ret as { get(k: string): unknown };
    assert.equal(ret.get('status'), 'finished', why);
    assert.match(String(ret.get('data')), new RegExp(`\\ns_server -accept 127\\.0\\.0\\.1:${servers[srv]!.port} `), why);
  };
  const refused = async (srv: string, check: string, text: string, host?: string) =>
    assert.rejects(fetch(srv, check, host), (e: RosError) => {
      assert.equal(e.consoleText(), `failure: ${text}`);
      return true;
    });

  before(async () => {
    t = await openTestApp({ time: Date.now() });
    dir = tempDir('rospki-tls-');
    await t.run(C, 'add', { name: 'ca', 'common-name': 'Lab CA', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1', 'days-valid': '3650' });
    await t.run(C, 'sign', { number: 'ca', 'ca-crl-host': '127.0.0.1' });
    await leaf('good', 'DNS:localhost,IP:127.0.0.1');
    await leaf('other', 'DNS:other.test');
    await leaf('gone', 'IP:127.0.0.1');
    const now = t.clock.ms;
    t.clock.ms = now - 3 * DAY;
    await leaf('old', 'IP:127.0.0.1', { 'days-valid': '1' });
    t.clock.ms = now;
    await t.run(C, 'issued-revoke', { numbers: 'gone' });
    for (const name of ['good', 'other', 'gone', 'old']) {
      const f = await exportCert(name);
      servers[name] = await sServer(dir, name, f.cert, f.key);
    }
    // A certificate from a CA rospki does not know, alone and with its CA in the chain.
    const ext = externalCa('Stranger CA', now);
    const { privateKey: k, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const strange = ext.leaf('stranger', { san: 'IP:127.0.0.1', publicKey });
    fs.writeFileSync(path.join(dir, 'stranger.pem'), toPem(strange.der));
    fs.writeFileSync(path.join(dir, 'stranger.key'), k.export({ type: 'pkcs8', format: 'pem' }) as string);
    fs.writeFileSync(path.join(dir, 'stranger-ca.pem'), toPem(ext.ca.der));
    servers.stranger = await sServer(dir, 'stranger', path.join(dir, 'stranger.pem'), path.join(dir, 'stranger.key'));
    servers.strangerChain = await sServer(dir, 'strangerChain', path.join(dir, 'stranger.pem'), path.join(dir, 'stranger.key'), path.join(dir, 'stranger-ca.pem'));
  });
  after(() => {
    for (const s of Object.values(servers)) s.proc.kill();
    t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a certificate issued by a trusted local CA is accepted', async () => {
    for (const check of ['yes', 'yes-without-crl']) await accepted('good', check);
    await accepted('good', 'yes', 'localhost');
  });

  test('an unknown CA is refused (leaf alone, and with its self-signed CA)', async () => {
    await refused('stranger', 'yes', TRUST_ERRORS.noLocalIssuer);
    await refused('strangerChain', 'yes', TRUST_ERRORS.noTrustedCa);
    await accepted('stranger', 'no', undefined, 'check-certificate=no accepts anything');
  });

  test('an untrusted CA row is no anchor', async () => {
    await t.run(C, 'set', { numbers: 'ca', trusted: 'no' });
    await refused('good', 'yes', TRUST_ERRORS.noTrustedCa);
    await t.run(C, 'set', { numbers: 'ca', trusted: 'yes', 'trust-store': 'www' });
    await refused('good', 'yes', TRUST_ERRORS.noTrustedCa);
    await t.run(C, 'set', { numbers: 'ca', 'trust-store': 'fetch,www' });
    await accepted('good', 'yes');
  });

  test('an expired certificate is refused with its dates', async () => {
    const notAfter = await t.run(C, 'get', { number: 'old', 'value-name': 'invalid-after' });
    const now = new Date(t.clock.now()).toISOString().replace('T', ' ').slice(0, 19);
    await refused('old', 'yes', `SSL: ssl: cert not valid (after: ${String(notAfter.ret)} < now: ${now})`);
  });

  test('a wrong name is refused', async () => {
    await refused('other', 'yes', TRUST_ERRORS.nameMismatch);
  });

  test('a revoked certificate: accepted without crl-use, refused with it; yes-without-crl skips CRLs', async () => {
    await accepted('gone', 'yes');
    await t.run('/certificate/settings', 'set', { 'crl-use': 'yes' });
    await refused('gone', 'yes', TRUST_ERRORS.revoked);
    await accepted('gone', 'yes-without-crl');
    await accepted('good', 'yes', undefined, 'the local CA’s own CRL covers its certificates');
    await t.run('/certificate/settings', 'set', { 'crl-use': 'no' });
  });
});
