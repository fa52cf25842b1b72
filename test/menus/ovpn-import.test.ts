// /interface ovpn-client import-ovpn-configuration (services spec §2.4): the inline certificates
// and key go into /certificate under the import naming rule, the client row gets the file's
// settings and its tls-auth/tls-crypt key (sealed, shown only with show-sensitive, flags Ta/Tc);
// bad input changes nothing. The connection itself: test/interop/ovpn-import.test.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { carriesSensitiveArgument } from '../../src/console/sensitive.js';
import { holdsSecret } from '../../src/menu/secret-files.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { OVPN_CLIENT_PATH } from '../../src/menus/interface/ovpn.js';
import { openTestApp, openssl, tempDir, toPem, type TestApp } from '../support/app.js';
import { putFile } from './import-support.js';
import { makeOvpnPki, ovpnText, staticKeyHex, type OvpnPki } from './ovpn-import-support.js';

describe('/interface ovpn-client import-ovpn-configuration', () => {
  let dir: string;
  let pki: OvpnPki;
  let t: TestApp;
  let out = '';
  let cs: ConsoleSession;

  const cli = async (line: string): Promise<string> => {
    out = '';
    const r = await cs.run(line);
    assert.ok(r.ok, `${line}: ${r.ok ? '' : r.error}\n${out}`);
    return out;
  };
  const cliError = async (line: string): Promise<string> => {
    out = '';
    const r = await cs.run(line);
    assert.ok(!r.ok, `${line} should fail:\n${out}`);
    return r.error ?? '';
  };
  const counts = () => t.app.store.read((tx) => ({ certs: tx.list(CERT_PATH).length, clients: tx.list(OVPN_CLIENT_PATH).length }));
  const client = (name = 'ovpn-import1') => t.app.store.read((tx) => tx.findBy(OVPN_CLIENT_PATH, 'name', name)[0]?.data);
  const full = (extra: string[] = [], blocks: Record<string, string> = {}) => ovpnText(
    ['client', 'dev tun', 'proto udp', 'remote 127.0.0.1 11940', 'nobind', 'persist-key', 'data-ciphers AES-256-GCM:AES-128-GCM', 'auth SHA256', 'auth-user-pass', 'verb 3', ...extra],
    { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, ...blocks },
  );

  before(() => {
    dir = tempDir('rospki-ovpn-import-');
    pki = makeOvpnPki(dir);
  });
  after(() => { t?.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  beforeEach(async () => {
    t?.close();
    t = await openTestApp();
    cs = await ConsoleSession.open(t.app, { user: 'admin', output: (text) => { out += text; } });
  });

  test('inline ca, cert, key and tls-crypt: <file>_0 is the client certificate with its key, _1 the CA; the client row has the file\'s settings', async () => {
    putFile(t, 'vpn.ovpn', full([], { 'tls-crypt': pki.staticKey }));
    await cli('/interface ovpn-client import-ovpn-configuration file-name=vpn.ovpn ovpn-user=alice ovpn-password=alice-pw');
    const certs = await t.app.store.read((tx) => tx.list(CERT_PATH).map((r) => ({ ...r.data, id: r.id } as Record<string, unknown> & { id: number })));
    assert.deepEqual(certs.map((c) => [c.name, c['private-key'], c.trusted]), [['vpn.ovpn_0', true, true], ['vpn.ovpn_1', false, true]]);
    // The stored certificates are the file's, byte for byte (openssl's view of both).
    const ders = await t.app.store.read((tx) => certs.map((c) => certificateDer(tx, c.id)!));
    assert.equal(openssl(['x509', '-noout', '-fingerprint', '-sha256'], toPem(ders[0]!)), openssl(['x509', '-noout', '-fingerprint', '-sha256'], pki.client.cert));
    assert.equal(openssl(['x509', '-noout', '-fingerprint', '-sha256'], toPem(ders[1]!)), openssl(['x509', '-noout', '-fingerprint', '-sha256'], pki.ca));
    const row = (await client())!;
    assert.equal(row['connect-to'], '127.0.0.1');
    assert.equal(row.port, 11940);
    assert.equal(row.protocol, 'udp');
    assert.equal(row.mode, 'ip');
    assert.equal(row.cipher, 'aes256-gcm');
    assert.equal(row.auth, 'sha256');
    assert.equal(row.user, 'alice');
    assert.equal(row.password, 'alice-pw');
    assert.equal(row.certificate, certs[0]!.id);
    assert.equal(row['verify-server-certificate'], false, 'no verify-x509-name: the chain alone is checked');
    assert.equal(row.disabled, false, 'enabled: it connects once imported');
    assert.equal(row['tls-crypt'], true);
    assert.equal(row['tls-auth'], false);
    // Print: the Tc flag, no key; show-sensitive shows it.
    const print = await cli('/interface ovpn-client print');
    assert.match(print, /^Flags: X - DISABLED; R - RUNNING; Ta - TLS-AUTH, Tc - TLS-CRYPT $/m);
    assert.match(print, /^ 0   Tc name="ovpn-import1" /m);
    assert.match(print, /certificate=vpn\.ovpn_0 /);
    assert.doesNotMatch(print, /tls-key|Static key/);
    const hex = staticKeyHex(pki.staticKey);
    assert.equal(hex.length, 16);
    assert.match(await cli('/interface ovpn-client print detail show-sensitive'), new RegExp(`tls-key="-----BEGIN OpenVPN Static key V1-----\\\\n${hex[0]}`));
    assert.equal(await cli(':put [/interface ovpn-client get ovpn-import1 tls-crypt]'), 'true\n');
    // Not in /export, not in the database in the clear.
    const exported = await cli('/export show-sensitive');
    for (const line of hex) assert.ok(!exported.includes(line), 'the static key is not exported');
    const db = Buffer.concat(['rospki.db', 'rospki.db-wal'].filter((f) => fs.existsSync(path.join(t.dir, f))).map((f) => fs.readFileSync(path.join(t.dir, f))));
    for (const line of [...hex, 'alice-pw']) assert.ok(!db.includes(line), `${line} is sealed in the store`);
    assert.match(await cli('/log print'), /interface ovpn-client ovpn-import1 imported from vpn\.ovpn by admin/);
  });

  test('tls-auth with key-direction 1 and tap, tcp-client, an encrypted key with its key-passphrase; a second import is ovpn-import2', async () => {
    putFile(t, 'tap.ovpn', ovpnText(
      ['client', 'dev tap', 'remote 127.0.0.1 443 tcp-client', 'cipher AES-128-CBC', 'auth-user-pass', 'key-direction 1', 'tls-version-max 1.2', 'verify-x509-name 127.0.0.1 name'],
      { ca: pki.ca, cert: pki.client.cert, key: pki.client.encryptedKey, 'tls-auth': pki.staticKey },
    ));
    await cli('/interface ovpn-client import-ovpn-configuration file-name=tap.ovpn key-passphrase=key-pass-1 ovpn-user=bob');
    const row = (await client())!;
    assert.deepEqual([row.protocol, row.port, row.mode, row.cipher, row.auth, row['tls-version'], row['verify-server-certificate']],
      ['tcp', 443, 'ethernet', 'aes128-cbc', 'sha1', 'only-1.2', true]);
    assert.deepEqual([row['tls-auth'], row['tls-crypt'], row['key-direction']], [true, false, 1]);
    assert.equal(row.password, '', 'no ovpn-password: empty');
    assert.match(await cli('/interface ovpn-client print'), /^ 0   Ta name="ovpn-import1" [\s\S]* key-direction=1 /m);
    assert.equal((await t.app.store.read((tx) => tx.findBy(CERT_PATH, 'name', 'tap.ovpn_0')[0]!.data))['private-key'], true);
    // The same file again: the certificates are there already (not added twice), a second client.
    await cli('/interface ovpn-client import-ovpn-configuration file-name=tap.ovpn key-passphrase=key-pass-1 ovpn-user=bob');
    assert.deepEqual(await counts(), { certs: 2, clients: 2 });
    assert.equal((await client('ovpn-import2'))!.certificate, row.certificate);
  });

  test('all or nothing: a wrong key-passphrase, a key of another certificate, a refused directive, a missing user change nothing', async () => {
    const cases: Array<[string, string, RegExp]> = [
      [full([], { key: pki.client.encryptedKey }), 'ovpn-user=a key-passphrase=wrong', /^failure: unable to import bad\.ovpn: the <key> can not be decrypted \(key-passphrase\)$/],
      [full([], { key: pki.client.encryptedKey }), 'ovpn-user=a', /the <key> can not be decrypted/],
      [full([], { key: pki.strayKey }), 'ovpn-user=a', /^failure: unable to import bad\.ovpn: the <key> is not the key of the <cert>$/],
      [full(['pkcs12 client.p12']), 'ovpn-user=a', /line 11: PKCS#12 bundles \(pkcs12\) are not supported/],
      [full(['ca ca.crt']), 'ovpn-user=a', /line 11: ca names a file \(ca\.crt\)/],
      [full([], { cert: pki.ca.replace(/MII/, 'XXX') }), 'ovpn-user=a', /^failure: unable to import bad\.ovpn <cert>: /],
      [full([], { 'tls-crypt': 'not a key' }), 'ovpn-user=a', /<tls-crypt> holds no 2048 bit OpenVPN static key/],
      [full(['data-ciphers CHACHA20-POLY1305']), 'ovpn-user=a', /^failure: unable to import bad\.ovpn: none of its ciphers is supported \(CHACHA20-POLY1305\)$/],
      [full(), '', /^failure: ovpn-user is needed: the file asks for a user name and password \(auth-user-pass\)$/],
      [full(['remote -bad-']).replace('remote 127.0.0.1 11940\n', ''), 'ovpn-user=a', /invalid value for argument connect-to/],
    ];
    for (const [text, extra, message] of cases) {
      putFile(t, 'bad.ovpn', text);
      const error = await cliError(`/interface ovpn-client import-ovpn-configuration file-name=bad.ovpn ${extra}`);
      assert.match(error, message);
      assert.deepEqual(await counts(), { certs: 0, clients: 0 }, `nothing changed: ${error}`);
    }
    assert.doesNotMatch(await cli('/log print'), /imported/);
  });

  test('without openvpn installed the import fails with the package to install, and imports nothing', async () => {
    putFile(t, 'vpn.ovpn', full([], { 'tls-crypt': pki.staticKey }));
    const before = process.env.ROSPKI_OPENVPN;
    process.env.ROSPKI_OPENVPN = path.join(dir, 'no-openvpn-here');
    try {
      assert.equal(await cliError('/interface ovpn-client import-ovpn-configuration file-name=vpn.ovpn ovpn-user=alice'), 'failure: openvpn is not installed (Debian package openvpn)');
    } finally {
      if (before === undefined) delete process.env.ROSPKI_OPENVPN; else process.env.ROSPKI_OPENVPN = before;
    }
    assert.deepEqual(await counts(), { certs: 0, clients: 0 });
  });

  test('skip-cert-import=yes: no certificate is imported, the client has certificate=none; a user from <auth-user-pass>', async () => {
    putFile(t, 'skip.ovpn', full([], { 'auth-user-pass': 'carol\ncarol-pw', 'tls-crypt': pki.staticKey }));
    await cli('/interface ovpn-client import-ovpn-configuration file-name=skip.ovpn skip-cert-import=yes');
    assert.deepEqual(await counts(), { certs: 0, clients: 1 });
    const row = (await client())!;
    assert.deepEqual([row.certificate, row.user, row.password, row['tls-crypt']], [0, 'carol', 'carol-pw', true]);
    assert.match(await cli('/interface ovpn-client print'), /certificate=none/);
  });

  test('key-passphrase and ovpn-password are sensitive: such a line is kept out of the history', () => {
    const line = '/interface ovpn-client import-ovpn-configuration file-name=x.ovpn';
    assert.equal(carriesSensitiveArgument(`${line} key-passphrase=p`, t.app.registry), true);
    assert.equal(carriesSensitiveArgument(`${line} ovpn-password=p`, t.app.registry), true);
    assert.equal(carriesSensitiveArgument(`${line} ovpn-user=u`, t.app.registry), false);
  });

  test('a file holding a static key (and no private key) is a secret file: its contents need the sensitive policy', async () => {
    putFile(t, 'tc.ovpn', ovpnText(['remote h'], { 'tls-crypt': pki.staticKey }));
    await cli('/user group add name=nosens policy=read,write,local,test; /user add name=peek group=nosens password=pk');
    let peekOut = '';
    const peek = await ConsoleSession.open(t.app, { user: 'peek', output: (text) => { peekOut += text; } });
    await peek.run(':put [/file get tc.ovpn contents]');
    assert.doesNotMatch(peekOut, /Static key/);
    assert.match(await cli(':put [/file get tc.ovpn contents]'), /Static key/, 'admin (sensitive) reads it');
    // The rule of downloads (FTP, SFTP, SCP, the web page) too.
    assert.equal(holdsSecret(fs.readFileSync(path.join(t.app.dataDir.filesDir, 'tc.ovpn')), t.app.registry), true);
    assert.equal(holdsSecret(Buffer.from(ovpnText(['remote h'], { ca: pki.ca })), t.app.registry), false, 'a CA alone is no secret');
  });
});
