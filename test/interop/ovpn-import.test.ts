// import-ovpn-configuration against a real OpenVPN 2.6 server (Debian's openvpn in `mode server`
// on a tun device it never configures, started here on 127.0.0.1 on a free port): a provider-style
// .ovpn with inline ca/cert/key and tls-crypt (UDP), or tls-auth with key-direction 1 (TCP),
// imported into rospki, connects as the server's tls-crypt/tls-auth, client certificate and
// user/password checks demand; the static key reaches the runtime folder only (mode 0600) and
// goes with it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { OVPN_CLIENT_PATH } from '../../src/menus/interface/ovpn.js';
import { openssl, tempDir, toPem } from '../support/app.js';
import { needs } from '../support/tools.js';
import { makeOvpnPki, ovpnText, staticKeyHex, type OvpnPki } from '../menus/ovpn-import-support.js';
import { freePort, freeUdpPort, startServiceApp, type ServiceApp } from '../services/support.js';
import { processesIn, until } from './openvpn-support.js';

let s: ServiceApp;
let dir: string;
let pki: OvpnPki;
const servers: ChildProcess[] = [];

const cli = async (line: string): Promise<string> => {
  let out = '';
  const cs = await ConsoleSession.open(s.app, { user: 'admin', output: (text) => { out += text; } });
  const r = await cs.run(line);
  assert.ok(r.ok, `${line}: ${r.error}`);
  return out;
};

/** `user` and `password` lines checked by the server (an auth-user-pass-verify script, via-file). */
const CHECK = '#!/bin/sh\n[ "$(sed -n 1p "$1")" = alice ] && [ "$(sed -n 2p "$1")" = alice-pw ]\n';

/**
 * A real openvpn server (`mode server`, tun opened but not configured) with `protection` (the
 * tls-crypt or tls-auth line); resolves once it is up, with its log so far.
 */
async function startServer(name: string, proto: 'udp' | 'tcp-server', port: number, protection: string): Promise<{ log: () => string }> {
  const conf = path.join(dir, `${name}.conf`);
  fs.writeFileSync(path.join(dir, 'check.sh'), CHECK, { mode: 0o700 });
  fs.writeFileSync(conf, [
    'mode server', 'tls-server', 'dev tun', 'topology subnet', 'ifconfig-noexec', 'route-noexec',
    `proto ${proto}`, 'local 127.0.0.1', `port ${port}`,
    `ca ${path.join(dir, 'ca.crt')}`, `cert ${pki.server.cert}`, `key ${pki.server.key}`, 'dh none',
    'verify-client-cert require', protection,
    'data-ciphers AES-256-GCM:AES-128-GCM', 'auth SHA256',
    'script-security 2', `auth-user-pass-verify ${path.join(dir, 'check.sh')} via-file`, `tmp-dir ${dir}`,
    'verb 3', 'suppress-timestamps', '',
  ].join('\n'));
  const child = spawn('openvpn', ['--config', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(child);
  let log = '';
  child.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  await until(() => log.includes('Initialization Sequence Completed') || child.exitCode !== null, `the ${name} server to start`);
  assert.ok(log.includes('Initialization Sequence Completed'), log);
  return { log: () => log };
}

const status = async (name: string) => (await cli(`:put [/interface ovpn-client get ${name} status]`)).trim();

before(async () => {
  s = await startServiceApp();
  dir = tempDir('rospki-ovpn-import-');
  pki = makeOvpnPki(dir);
});

after(async () => {
  for (const child of servers) child.kill('SIGTERM');
  await s.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a .ovpn with inline ca, cert, key and tls-crypt: the certificates are the file\'s, and the client connects (R) to a tls-crypt server', { skip: needs('openvpn') }, async () => {
  const port = await freeUdpPort();
  const server = await startServer('crypt', 'udp', port, `tls-crypt ${path.join(dir, 'static.key')}`);
  await s.app.files.write('provider.ovpn', ovpnText(
    ['client', 'dev tun', 'proto udp', `remote 127.0.0.1 ${port}`, 'resolv-retry infinite', 'nobind', 'persist-key', 'persist-tun',
      'remote-cert-tls server', 'data-ciphers AES-256-GCM:AES-128-GCM', 'auth SHA256', 'auth-user-pass', 'verb 3'],
    { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, 'tls-crypt': pki.staticKey },
  ), s.app.clock.now());
  await cli('/interface ovpn-client import-ovpn-configuration file-name=provider.ovpn ovpn-user=alice ovpn-password=alice-pw');
  // The imported certificates are the file's (openssl's fingerprints of both).
  const fingerprint = (pem: string) => openssl(['x509', '-noout', '-fingerprint', '-sha256'], pem);
  const stored = await s.app.store.read((tx) => ['provider.ovpn_0', 'provider.ovpn_1'].map((n) => toPem(certificateDer(tx, tx.findBy(CERT_PATH, 'name', n)[0]!.id)!)));
  assert.deepEqual(stored.map(fingerprint), [fingerprint(pki.client.cert), fingerprint(pki.ca)]);
  await until(async () => (await status('ovpn-import1')) === 'connected', 'the imported client to connect', 60_000)
    .catch(async (e: Error) => assert.fail(`${e.message}: ${await status('ovpn-import1')}\n${server.log()}`));
  assert.match(await cli('/interface ovpn-client print'), /^ 0  RTc name="ovpn-import1" /m);
  assert.match(server.log(), /Control Channel: TLSv1\.3/);
  // The static key is in the runtime folder only: mode 0600, named by the configuration.
  const id = await s.app.store.read((tx) => tx.findBy(OVPN_CLIENT_PATH, 'name', 'ovpn-import1')[0]!.id);
  const run = path.join(s.dir, 'run', `ovpn-client-${id}`);
  assert.match(fs.readFileSync(path.join(run, 'openvpn.conf'), 'utf8'), /^tls-crypt tls\.key$/m);
  assert.equal(fs.statSync(path.join(run, 'tls.key')).mode & 0o777, 0o600);
  const hex = staticKeyHex(pki.staticKey);
  assert.ok(fs.readFileSync(path.join(run, 'tls.key'), 'utf8').includes(hex[0]!));
  for (const f of ['rospki.db', 'rospki.db-wal'].filter((n) => fs.existsSync(path.join(s.dir, n)))) {
    const db = fs.readFileSync(path.join(s.dir, f));
    for (const line of hex) assert.ok(!db.includes(line), `the static key is sealed in ${f}`);
  }
  await cli('/interface ovpn-client disable ovpn-import1');
  await until(() => !fs.existsSync(run) && processesIn(run).length === 0, 'the client to stop and its folder (with tls.key) to go');
});

test('tls-auth with key-direction 1 over TCP connects to a server with tls-auth direction 0; the wrong direction does not', { skip: needs('openvpn') }, async () => {
  const port = await freePort();
  const server = await startServer('auth', 'tcp-server', port, `tls-auth ${path.join(dir, 'static.key')} 0`);
  const file = (direction: number) => ovpnText(
    ['client', 'dev tun', `remote 127.0.0.1 ${port} tcp-client`, 'nobind', 'cipher AES-128-GCM', 'auth SHA256', 'auth-user-pass', `key-direction ${direction}`],
    { ca: pki.ca, cert: pki.client.cert, key: pki.client.encryptedKey, 'tls-auth': pki.staticKey },
  );
  await s.app.files.write('auth.ovpn', file(1), s.app.clock.now());
  await cli('/interface ovpn-client import-ovpn-configuration file-name=auth.ovpn key-passphrase=key-pass-1 ovpn-user=alice ovpn-password=alice-pw');
  await until(async () => (await status('ovpn-import2')) === 'connected', 'the tls-auth client to connect', 60_000)
    .catch(async (e: Error) => assert.fail(`${e.message}: ${await status('ovpn-import2')}\n${server.log()}`));
  assert.match(await cli('/interface ovpn-client print where name=ovpn-import2'), /^ \d  RTa name="ovpn-import2" /m);
  // The same key in the wrong direction: the server drops every packet (bad HMAC), no connection.
  await s.app.files.write('wrong.ovpn', file(0), s.app.clock.now());
  await cli('/interface ovpn-client import-ovpn-configuration file-name=wrong.ovpn key-passphrase=key-pass-1 ovpn-user=alice ovpn-password=alice-pw');
  await until(() => /HMAC authentication failed|packet HMAC authentication failed|cannot locate HMAC/.test(server.log()), 'the server to drop the wrong direction', 60_000);
  assert.notEqual(await status('ovpn-import3'), 'connected');
  await cli('/interface ovpn-client remove [find]');
});
