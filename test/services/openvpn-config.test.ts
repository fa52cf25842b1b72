// The pure parts of the OpenVPN service: configuration files from row settings, the reading of
// openvpn's log (one /log line per failed connection, the reason a daemon stopped), and the
// management interface's CLIENT notifications.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import fs from 'node:fs';
import { after, test } from 'node:test';
import { clientConfig, dataCiphers, serverConfig } from '../../src/services/openvpn-config.js';
import { OvpnLogReader, fatalReason } from '../../src/services/openvpn-log.js';
import { ManagementClient, refusalReason, type ClientAuthRequest } from '../../src/services/openvpn-management.js';
import { tempDir } from '../support/app.js';

const base = {
  port: 1194, protocol: 'tcp' as const, mode: 'ip' as const, host: '127.0.0.1', requireClientCertificate: true,
  ciphers: ['blowfish128', 'aes128-cbc'], auths: ['sha1', 'md5', 'sha256', 'sha512'], tlsVersion: 'any',
  renegSec: 3600, keepaliveTimeout: 60 as number | 'disabled', maxMtu: 1500, crl: true,
};
const lines = (text: string) => text.split('\n');

test('a server: mode server on an unconfigured tun, the RouterOS ciphers in OpenVPN names, rospki on the management socket', () => {
  const conf = lines(serverConfig(base, '/data/run/ovpn-server-1/management.sock'));
  for (const l of ['mode server', 'tls-server', 'dev tun', 'proto tcp-server', 'local 127.0.0.1', 'port 1194', 'ca ca.pem', 'cert cert.pem',
    'key key.pem', 'verify-client-cert require', 'crl-verify crl.pem', 'data-ciphers AES-128-CBC:BF-CBC', 'data-ciphers-fallback AES-128-CBC',
    'auth SHA512', 'providers legacy default', 'tls-version-min 1.2', 'reneg-sec 3600', 'keepalive 60 120', 'ifconfig-noexec', 'route-noexec',
    'management "/data/run/ovpn-server-1/management.sock" unix', 'management-client-auth', 'management-hold']) {
    assert.ok(conf.includes(l), `${l} in\n${conf.join('\n')}`);
  }
  assert.ok(!conf.some((l) => /^(push|server|ifconfig-pool|route |auth-user-pass-verify|script-security)/.test(l)), 'no address, route or script');
});

test('a server: udp on every address, tap, no client certificate, GCM only, only-1.2, no keepalive, no CRL', () => {
  const conf = lines(serverConfig({
    ...base, protocol: 'udp', mode: 'ethernet', host: '::', requireClientCertificate: false, ciphers: ['aes256-gcm', 'aes128-gcm'],
    auths: ['null'], tlsVersion: 'only-1.2', keepaliveTimeout: 'disabled', crl: false,
  }, '/m.sock'));
  for (const l of ['dev tap', 'proto udp6', 'verify-client-cert none', 'data-ciphers AES-256-GCM:AES-128-GCM', 'auth none',
    'tls-version-min 1.2', 'tls-version-max 1.2', 'explicit-exit-notify 1']) assert.ok(conf.includes(l), l);
  assert.ok(!conf.some((l) => /^(local|topology|crl-verify|keepalive|providers)/.test(l)));
  assert.deepEqual(dataCiphers(['null', 'aes192-cbc', 'aes256-gcm']), ['AES-256-GCM', 'AES-192-CBC', 'none']);
});

test('a client: --dev null, the one cipher and digest, the name check, the password from the management socket', () => {
  const conf = lines(clientConfig({
    connectTo: 'vpn.example.com', port: 1195, protocol: 'tcp', mode: 'ip', certificate: true, verifyName: true,
    cipher: 'aes256-cbc', auth: 'sha256', tlsVersion: 'any',
  }, '/m.sock'));
  for (const l of ['client', 'dev null', 'proto tcp-client', 'remote vpn.example.com 1195', 'cert cert.pem', 'key key.pem',
    'verify-x509-name "vpn.example.com" name', 'auth-user-pass', 'data-ciphers AES-256-CBC', 'auth SHA256', 'management-query-passwords']) {
    assert.ok(conf.includes(l), l);
  }
  // A dev-type would make openvpn open a real TUN device named "null" (one per host: a second
  // client fails with "Device or resource busy").
  assert.equal(conf.filter((l) => l.startsWith('dev-type')).length, 0);
});

test('a client with an imported static key: tls-crypt, tls-auth with its direction or none, nothing without one', () => {
  const client = { connectTo: '127.0.0.1', port: 1194, protocol: 'udp' as const, mode: 'ip' as const, certificate: false, verifyName: false, cipher: 'aes256-gcm', auth: 'sha1', tlsVersion: 'any' };
  const tls = (conf: string) => lines(conf).filter((l) => /^tls-(auth|crypt)/.test(l));
  assert.deepEqual(tls(clientConfig({ ...client, tlsKey: { use: 'tls-crypt' } }, '/m.sock')), ['tls-crypt tls.key']);
  assert.deepEqual(tls(clientConfig({ ...client, tlsKey: { use: 'tls-auth', direction: 1 } }, '/m.sock')), ['tls-auth tls.key 1']);
  assert.deepEqual(tls(clientConfig({ ...client, tlsKey: { use: 'tls-auth' } }, '/m.sock')), ['tls-auth tls.key']);
  assert.deepEqual(tls(clientConfig(client, '/m.sock')), []);
});

test('openvpn log: one line per refused connection with its first reason; fatal reasons for status', () => {
  const reader = new OvpnLogReader('ovpn1', '/data/run/ovpn-server-1');
  const out = [
    '127.0.0.1:47224 TLS: Initial packet from [AF_INET]127.0.0.1:47224, sid=1 2',
    '127.0.0.1:47224 VERIFY ERROR: depth=0, error=certificate revoked: CN=bob, serial=123',
    '127.0.0.1:47224 OpenSSL: error:0A000086:SSL routines::certificate verify failed:',
    '127.0.0.1:47224 TLS_ERROR: BIO read tls_read_plaintext error',
    '127.0.0.1:47224 TLS Error: TLS object -> incoming plaintext read error',
    '127.0.0.1:47224 TLS Error: TLS handshake failed',
    '127.0.0.1:47224 Fatal TLS error (check_tls_errors_co), restarting',
    '127.0.0.1:50000 OpenSSL: error:0A0000C7:SSL routines::peer did not return a certificate:',
    '127.0.0.1:50000 TLS Error: TLS handshake failed',
    'MULTI: multi_init called, r=256 v=256',
  ].flatMap((l) => reader.read(l));
  assert.deepEqual(out, [
    { topics: 'ovpn,error', message: 'ovpn1: 127.0.0.1:47224: TLS handshake failed: certificate refused: certificate revoked: CN=bob, serial=123' },
    { topics: 'ovpn,error', message: 'ovpn1: 127.0.0.1:50000: TLS handshake failed: peer did not return a certificate' },
  ]);
  assert.equal(reader.initialized, false);
  reader.read('Initialization Sequence Completed');
  assert.equal(reader.initialized, true);
  assert.deepEqual(reader.read('Options error: --ca fails with \'/data/run/ovpn-server-1/ca.pem\': No such file'),
    [{ topics: 'ovpn,error', message: "ovpn1: openvpn refused its configuration: --ca fails with '/ca.pem': No such file" }], 'no host path');
  assert.equal(fatalReason('TCP/UDP: Socket bind failed on local address [AF_INET]127.0.0.1:1194: Address already in use (errno=98)'),
    'cannot bind to port 1194: Address already in use');
  assert.equal(fatalReason('ERROR: Cannot open TUN/TAP dev /dev/net/tun: No such file or directory (errno=2)'),
    'the host has no usable TUN/TAP device (OpenVPN servers need one)');
});

const root = tempDir('rospki-mgmt-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

test('management: the hold is released, CLIENT:CONNECT with its ENV block becomes one request, answers are management commands', async () => {
  const sock = path.join(root, 'm.sock');
  const got: string[] = [];
  let peer: net.Socket | undefined;
  const server = net.createServer((s) => {
    peer = s;
    s.setEncoding('utf8');
    s.on('data', (d: string) => got.push(...d.split('\n').filter(Boolean)));
    s.write('>INFO:OpenVPN Management Interface Version 5\r\n>HOLD:Waiting for hold release:0\r\n');
  }).listen(sock);
  await new Promise((r) => server.once('listening', r));
  const requests: ClientAuthRequest[] = [];
  const client = await ManagementClient.connect(sock, { clientAuth: (r) => requests.push(r) }, Date.now() + 5000, () => false);
  assert.ok(client);
  const until = async (check: () => boolean) => { for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 10)); };
  await until(() => got.includes('hold release'));
  peer!.write('>CLIENT:CONNECT,7,1\r\n>CLIENT:ENV,username=al"ice\r\n>CLIENT:ENV,password=p=w\r\n');
  peer!.write('>CLIENT:ENV,untrusted_ip=127.0.0.1\r\n>CLIENT:ENV,END\r\n');
  await until(() => requests.length === 1);
  assert.equal(requests[0]!.cid, '7');
  assert.equal(requests[0]!.env.get('password'), 'p=w');
  client.allow(requests[0]!);
  client.deny({ ...requests[0]!, kid: '2' }, 'user "x" failed', 'authentication failed');
  client.givePassword('u\\1', 'p"w');
  await until(() => got.length >= 5);
  assert.deepEqual(got, ['hold release', 'client-auth-nt 7 1', 'client-deny 7 2 "user \\"x\\" failed" "authentication failed"', 'username "Auth" "u\\\\1"', 'password "Auth" "p\\"w"']);
  client.close();
  server.close();
});

test('a refusal\'s reason: the server\'s AUTH_FAILED text, none without brackets, no control characters, bounded', () => {
  assert.equal(refusalReason("Verification Failed: 'Auth' ['Data channel cipher negotiation failed (no shared cipher)']"), 'Data channel cipher negotiation failed (no shared cipher)');
  assert.equal(refusalReason("Verification Failed: 'Auth'"), '');
  assert.equal(refusalReason("Verification Failed: 'Auth' ['a\u0007b\u001b[31mc']"), 'ab[31mc');
  assert.equal(refusalReason(`Verification Failed: 'Auth' ['${'x'.repeat(1000)}']`).length, 200);
});

test('openvpn log: a client refused for its data cipher is one line, in RouterOS cipher names', () => {
  const r = new OvpnLogReader('ovpn1', '/run/x');
  assert.deepEqual(r.read("client1/127.0.0.1:48958 PUSH: No common cipher between server and client. Server data-ciphers: 'AES-256-GCM:AES-128-CBC', client supported ciphers 'BF-CBC'"), [
    { topics: 'ovpn,error', message: 'ovpn1: 127.0.0.1:48958: no data cipher in common with the client: it offers blowfish128, the server allows aes256-gcm,aes128-cbc' },
  ]);
});
