// The IPsec service's parts that need no second IKE daemon: what /ip ipsec rows become in
// charon's terms (proposals, identities, selectors, the load-conn section, strongswan.conf),
// charon's log lines in RouterOS's words (spec §4.8), and a host without charon: enabling a
// peer fails naming the Debian package and changes nothing (issue 13). On the wire:
// test/interop/ipsec.test.ts.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CHARON_MISSING } from '../../src/menus/ip/ipsec.js';
import {
  CHARON_PLUGINS, connectionSection, espProposals, ikeProposal, localIdentity, peerAddresses, poolSection, remoteIdentity, secretBytes, sharedKeyOwners,
  strongswanConf, trafficSelector,
} from '../../src/services/ipsec/config.js';
import { CharonLog } from '../../src/services/ipsec/log.js';
import { startServiceApp, useFreeIpsecPorts } from './support.js';
import { openTestApp } from '../support/app.js';
import { needs } from '../support/tools.js';

test('profiles become IKE proposals: RouterOS defaults, prf, unsupported groups refused', () => {
  // Spec §4.3 defaults: aes-128,3des sha1 modp2048,modp1024.
  assert.equal(ikeProposal({ hash: 'sha1', prf: 'auto', enc: ['aes-128', '3des'], dh: ['modp2048', 'modp1024'] }), 'aes128-3des-sha1-modp2048-modp1024');
  assert.equal(ikeProposal({ hash: 'sha256', prf: 'sha384', enc: ['aes-256'], dh: ['x25519', 'ecp256', 'ec2n155'] }), 'aes256-sha256-prfsha384-curve25519-ecp256');
  assert.throws(() => ikeProposal({ hash: 'sha1', prf: 'auto', enc: ['aes-128'], dh: ['ec2n185'] }), /no dh-group of the profile is supported \(ec2n185\)/);
});

test('proposals become ESP proposals: AEAD apart from the others, pfs last', () => {
  // Spec §4.4 defaults: sha1, aes-256-cbc,aes-192-cbc,aes-128-cbc, modp1024.
  assert.deepEqual(espProposals({ auth: ['sha1'], enc: ['aes-256-cbc', 'aes-192-cbc', 'aes-128-cbc'], pfs: 'modp1024' }), ['aes256-aes192-aes128-sha1-modp1024']);
  assert.deepEqual(espProposals({ auth: ['sha256'], enc: ['aes-256-gcm', 'aes-128-cbc'], pfs: 'none' }), ['aes256gcm16', 'aes128-sha256']);
  assert.deepEqual(espProposals({ auth: ['null'], enc: ['chacha20poly1305'], pfs: 'ecp256' }), ['chacha20poly1305-ecp256']);
  assert.throws(() => espProposals({ auth: ['sha1'], enc: ['aes-128-cbc'], pfs: 'ec2n155' }), /pfs-group ec2n155 is not supported/);
});

test('identities: my-id auto is the first SAN (else the DN), typed ids, remote-id ignore', () => {
  const subjectDer = Buffer.from('3011310f300d06035504030c0667772e6c6162', 'hex');
  const cert = { subjectDer, san: ['URI:http://x', 'DNS:gw.lab', 'IP:192.0.2.1'] };
  assert.equal(localIdentity('auto', cert), 'fqdn:gw.lab');
  assert.equal(localIdentity('auto', { subjectDer, san: ['IP:192.0.2.1'] }), '192.0.2.1');
  assert.equal(localIdentity('auto', { subjectDer, san: [] }), `asn1dn:#${subjectDer.toString('hex')}`);
  assert.equal(localIdentity('dn', cert), `asn1dn:#${subjectDer.toString('hex')}`);
  assert.equal(localIdentity('user-fqdn:vpn@lab', cert), 'email:vpn@lab');
  assert.equal(localIdentity('key-id:k1', cert), 'keyid:k1');
  assert.equal(remoteIdentity('ignore', undefined), '%any');
  assert.equal(remoteIdentity('auto', cert), '%any');
  assert.equal(remoteIdentity('address:198.51.100.7', undefined), '198.51.100.7');
  assert.equal(remoteIdentity('fqdn:*.lab', undefined), 'fqdn:*.lab');
});

test('addresses and selectors', () => {
  assert.equal(peerAddresses(undefined), '%any');
  assert.equal(peerAddresses('0.0.0.0/0'), '%any');
  assert.equal(peerAddresses('203.0.113.7/32'), '203.0.113.7');
  assert.equal(peerAddresses('2001:db8::1/128'), '2001:db8::1');
  assert.equal(peerAddresses('10.0.0.0/8'), '10.0.0.0/8');
  assert.equal(peerAddresses('vpn.example.com'), 'vpn.example.com');
  assert.equal(trafficSelector('10.1.0.0/16', 'all', 'any'), '10.1.0.0/16');
  assert.equal(trafficSelector('10.1.0.0/16', 'tcp', 443), '10.1.0.0/16[tcp/443]');
  assert.equal(trafficSelector('10.1.0.0/16', 'all', 53), '10.1.0.0/16[%any/53]');
  assert.equal(trafficSelector(undefined, 'ipsec-esp', 'any'), '0.0.0.0/0[esp]');
});

test('a connection section as vici load-conn takes it; strongswan.conf names ports, socket and plugins', () => {
  const section = connectionSection({
    version: 2, auth: 'pubkey', remoteAddrs: '%any', ike: 'aes128-sha1-modp2048', ikeLifetime: 86400, dpdDelay: 120, localCerts: [Buffer.from([1])],
    localId: 'fqdn:gw.lab', remoteId: '%any', remoteCerts: [], revocation: 'strict', remotePort: 4501,
    children: [{ name: 'policy-3', localTs: ['10.1.0.0/16'], remoteTs: ['10.2.0.0/16'], tunnel: true, esp: ['aes256-sha1'], lifetime: 1800, start: false }],
  });
  assert.deepEqual(section, {
    version: '2', remote_addrs: ['%any'], proposals: ['aes128-sha1-modp2048'], rekey_time: '86400s', dpd_delay: '120s', encap: 'yes', mobike: 'no',
    'local-1': { auth: 'pubkey', certs: [Buffer.from([1])], id: 'fqdn:gw.lab' },
    'remote-1': { auth: 'pubkey', id: '%any', revocation: 'strict' },
    children: {
      'policy-3': {
        local_ts: ['10.1.0.0/16'], remote_ts: ['10.2.0.0/16'], mode: 'tunnel', esp_proposals: ['aes256-sha1'], rekey_time: '1800s',
        start_action: 'none', dpd_action: 'clear',
      },
    },
    remote_port: '4501',
  });
  const conf = strongswanConf({ ikePort: 1500, natTPort: 5500, viciSocket: '/data/run/ipsec/charon.vici' });
  assert.match(conf, /^ {2}port = 1500$/m);
  assert.match(conf, /^ {2}port_nat_t = 5500$/m);
  assert.match(conf, /^ {6}socket = unix:\/\/\/data\/run\/ipsec\/charon.vici$/m);
  assert.match(conf, new RegExp(`^ {2}load = ${CHARON_PLUGINS.join(' ')}$`, 'm'));
  assert.match(conf, /^ {2}install_routes = no$/m);
  assert.match(conf, /^ {2}i_dont_care_about_security_and_use_aggressive_mode_psk = yes$/m); // exchange-mode=aggressive with a PSK
});

test('pre-shared keys: 0x… is hex; a key names its peer (typed remote-id, else a single address), IKEv2 also any identity', () => {
  assert.deepEqual(secretBytes('0x0aFF'), Buffer.from([0x0a, 0xff]));
  assert.deepEqual(secretBytes('0xabc'), Buffer.from('0xabc')); // not whole bytes: the text itself
  assert.deepEqual(secretBytes('päss'), Buffer.from('päss', 'utf8'));
  assert.deepEqual(sharedKeyOwners(2, 'fqdn:site.lab', '%any'), ['fqdn:site.lab', '%any']);
  assert.deepEqual(sharedKeyOwners(2, '%any', '203.0.113.7'), ['203.0.113.7', '%any']);
  assert.deepEqual(sharedKeyOwners(1, '%any', '203.0.113.7'), ['203.0.113.7']);
  assert.deepEqual(sharedKeyOwners(2, '%any', '10.0.0.0/8'), []);
  assert.deepEqual(sharedKeyOwners(1, '%any', '%any'), []);
});

test('IKEv1, PSK and pools in the load-conn section; a pool as load-pool takes it', () => {
  const section = connectionSection({
    version: 1, aggressive: true, auth: 'psk', remoteAddrs: '%any', ike: 'aes128-sha1-modp2048', ikeLifetime: 86400, dpdDelay: 0,
    localCerts: [], remoteId: '%any', remoteCerts: [], revocation: 'strict', pools: ['mode-config-1-0'],
    children: [{ name: 'template-2', localTs: ['0.0.0.0/0', '::/0'], remoteTs: ['dynamic'], tunnel: true, esp: ['aes256-sha1'], lifetime: 1800, start: false }],
  });
  assert.equal(section.version, '1');
  assert.equal(section.aggressive, 'yes');
  assert.deepEqual(section.pools, ['mode-config-1-0']);
  // No certificates and no revocation policy with a PSK: charon takes the key from load-shared.
  assert.deepEqual(section['local-1'], { auth: 'psk' });
  assert.deepEqual(section['remote-1'], { auth: 'psk', id: '%any' });
  assert.deepEqual((section.children as Record<string, Record<string, unknown>>)['template-2']!.remote_ts, ['dynamic']);
  assert.deepEqual(poolSection({ addrs: '10.77.0.10-10.77.0.20', dns: ['10.0.0.53'], subnets: ['10.0.0.0/8'] }),
    { addrs: '10.77.0.10-10.77.0.20', dns: ['10.0.0.53'], subnet: ['10.0.0.0/8'] });
  assert.deepEqual(poolSection({ addrs: '10.77.0.1/32', dns: [], subnets: [] }), { addrs: '10.77.0.1/32' });
  assert.deepEqual(poolSection({ addrs: '10.77.0.0/24', dns: [], subnets: [], prefixLength: 24 }), { addrs: '10.77.0.0/24', netmask: ['255.255.255.0'] });
  assert.deepEqual(poolSection({ addrs: '10.77.0.0/24', dns: [], subnets: [], prefixLength: 32 }).netmask, ['255.255.255.255']);
  assert.equal(poolSection({ addrs: 'fd00::/120', dns: [], subnets: [], prefixLength: 120 }).netmask, undefined); // IPv6 has none
});

test('an IKEv1 connection\'s SA is an ISAKMP-SA in the log', () => {
  const log = new CharonLog(Date.now, (conn) => (conn === 'identity-7' ? 1 : 2));
  const say = (lines: string[]) => lines.flatMap((l) => log.line(l)).map((e) => `${e.topics} ${e.message}`);
  assert.deepEqual(say([
    '09[IKE] <identity-7|5> IKE_SA identity-7[5] established between 192.0.2.1[192.0.2.1]...192.0.2.10[192.0.2.10]',
    '09[IKE] <identity-7|5> deleting IKE_SA identity-7[5] between 192.0.2.1[192.0.2.1]...192.0.2.10[192.0.2.10]',
    '10[IKE] <identity-8|6> IKE_SA identity-8[6] established between 192.0.2.1[gw.lab]...192.0.2.11[bob.lab]',
  ]), [
    'ipsec,info ISAKMP-SA established 192.0.2.1-192.0.2.10 id:192.0.2.10',
    'ipsec,info ISAKMP-SA deleted 192.0.2.1-192.0.2.10',
    'ipsec,info peer authorized: 192.0.2.1-192.0.2.11 id:bob.lab',
  ]);
});

test('charon\'s lines about a wrong or missing pre-shared key, in RouterOS\'s words', () => {
  const log = new CharonLog();
  const say = (lines: string[]) => lines.flatMap((l) => log.line(l)).map((e) => `${e.topics} ${e.message}`);
  assert.deepEqual(say([
    '07[NET] <3> received packet: from 192.0.2.9[500] to 192.0.2.1[500] (288 bytes)',
    "07[IKE] <identity-4|3> tried 1 shared key for '192.0.2.1' - '192.0.2.9', but MAC mismatched",
    '08[NET] <4> received packet: from 192.0.2.10[500] to 192.0.2.1[500] (108 bytes)',
    '08[ENC] <identity-5|4> could not decrypt payloads',
    '09[NET] <5> received packet: from 192.0.2.11[500] to 192.0.2.1[500] (288 bytes)',
    "09[IKE] <identity-4|5> no shared key found for '192.0.2.1' - '192.0.2.11'",
  ]), [
    'ipsec,error 192.0.2.9 parsing packet failed, possible cause: wrong password',
    'ipsec,error 192.0.2.10 parsing packet failed, possible cause: wrong password',
    'ipsec,error 192.0.2.11 no pre-shared key found',
  ]);
});

test('charon\'s lines in RouterOS\'s words (spec §4.8); the rest is left out', () => {
  const log = new CharonLog();
  const say = (lines: string[]) => lines.flatMap((l) => log.line(l)).map((e) => `${e.topics} ${e.message}`);
  assert.deepEqual(say([
    '00[DMN] Starting IKE charon daemon (strongSwan 5.9.8, Linux 6.1, x86_64)',
    '07[NET] <3> received packet: from 192.0.2.9[4500] to 192.0.2.1[4500] (912 bytes)',
    '07[IKE] <identity-1|3> received end entity cert "CN=bob.lab"',
    '07[CFG] <identity-1|3> certificate was revoked on Jan 01 00:00:00 UTC 2026, reason: unspecified',
    "07[IKE] <identity-1|3> no trusted ECDSA public key found for 'bob.lab'",
    '09[NET] <4> received packet: from 192.0.2.10[500] to 192.0.2.1[500] (912 bytes)',
    "09[IKE] <identity-1|4> no trusted RSA public key found for 'mallory.lab'",
    '09[IKE] <identity-1|5> IKE_SA identity-1[5] established between 192.0.2.1[gw.lab]...192.0.2.10[alice.lab]',
    '09[IKE] <identity-1|5> deleting IKE_SA identity-1[5] between 192.0.2.1[gw.lab]...192.0.2.10[alice.lab]',
    '11[IKE] <rw|1> received AUTHENTICATION_FAILED notify error',
    '12[CFG] <1> received proposals: IKE:AES_CBC_128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048',
    "12[CFG] <1> constraint check failed: identity 'fqdn:x' required",
    '12[CFG] <1> received proposals unacceptable',
  ]), [
    'ipsec,error certificate revoked(23) at depth:0 cert:CN=bob.lab',
    "ipsec,error can't verify peer's certificate from store",
    "ipsec,error unable to get local issuer certificate(20) at depth:0 cert:mallory.lab",
    "ipsec,error can't verify peer's certificate from store",
    'ipsec,info peer authorized: 192.0.2.1-192.0.2.10 id:alice.lab',
    'ipsec,info killing ike2 SA: 192.0.2.1-192.0.2.10',
    'ipsec,error got fatal error: AUTHENTICATION_FAILED',
    "ipsec,error peer's ID does not match certificate",
    'ipsec,error peer failed to get valid proposal.',
  ]);
});

test('a peer certificate outside its validity on charon\'s clock (the router\'s): expired or not yet valid, as OpenSSL says it', () => {
  const now = Date.UTC(2026, 11, 5, 12, 0, 0);
  const log = new CharonLog(() => now);
  const say = (lines: string[]) => lines.flatMap((l) => log.line(l)).map((e) => `${e.topics} ${e.message}`);
  assert.deepEqual(say([
    '07[NET] <3> received packet: from 192.0.2.9[4500] to 192.0.2.1[4500] (912 bytes)',
    '07[IKE] <rw|3> received end entity cert "CN=dora.lab"',
    '07[CFG] <rw|3> subject certificate invalid (valid from Dec 03 12:00:00 UTC 2026 to Dec 04 12:00:00 UTC 2026)',
    "07[IKE] <rw|3> no trusted ECDSA public key found for 'dora.lab'",
    '08[NET] <4> received packet: from 192.0.2.9[4500] to 192.0.2.1[4500] (912 bytes)',
    '08[IKE] <rw|4> received end entity cert "CN=erin.lab"',
    '08[CFG] <rw|4> subject certificate invalid (valid from Dec 06 12:00:00 UTC 2026 to Dec 07 12:00:00 UTC 2026)',
    "08[IKE] <rw|4> no trusted ECDSA public key found for 'erin.lab'",
  ]), [
    'ipsec,error certificate has expired(10) at depth:0 cert:CN=dora.lab',
    "ipsec,error can't verify peer's certificate from store",
    'ipsec,error certificate is not yet valid(9) at depth:0 cert:CN=erin.lab',
    "ipsec,error can't verify peer's certificate from store",
  ]);
});

test('without charon, enabling a peer fails naming strongswan-charon and changes nothing', async () => {
  const saved = process.env.ROSPKI_CHARON;
  process.env.ROSPKI_CHARON = '/nonexistent/charon';
  const t = await openTestApp();
  try {
    const before = await t.app.store.read((tx) => tx.list('/ip/ipsec/peer').length);
    await assert.rejects(t.run('/ip/ipsec/peer', 'add', { name: 'rw', 'exchange-mode': 'ike2' }), (e: Error) => e.message === CHARON_MISSING);
    assert.match(CHARON_MISSING, /Debian package strongswan-charon/);
    assert.equal(await t.app.store.read((tx) => tx.list('/ip/ipsec/peer').length), before);
    // A disabled peer is configuration only; enabling it is refused the same way.
    await t.run('/ip/ipsec/peer', 'add', { name: 'rw', 'exchange-mode': 'ike2', disabled: 'yes' });
    await assert.rejects(t.run('/ip/ipsec/peer', 'enable', { numbers: 'rw' }), (e: Error) => e.message === CHARON_MISSING);
    assert.equal(await t.app.store.read((tx) => tx.list('/ip/ipsec/peer')[0]!.data.disabled), true);
  } finally {
    t.close();
    if (saved === undefined) delete process.env.ROSPKI_CHARON; else process.env.ROSPKI_CHARON = saved;
  }
});

test('a data directory with an enabled peer and no charon: the daemon shows why and starts nothing', async () => {
  const s = await startServiceApp();
  const saved = process.env.ROSPKI_CHARON;
  try {
    await useFreeIpsecPorts(s);
    await s.run('/certificate', 'add', { name: 'gw', 'common-name': 'gw', 'key-size': 'prime256v1' });
    await s.run('/certificate', 'sign', { number: 'gw' });
    await s.run('/ip/ipsec/peer', 'add', { name: 'rw', 'exchange-mode': 'ike2', passive: 'yes', disabled: 'yes' });
    await s.run('/ip/ipsec/identity', 'add', { peer: 'rw', 'auth-method': 'digital-signature', certificate: 'gw' });
    // The peer was enabled while charon was there (another host, a removed package).
    process.env.ROSPKI_CHARON = '/nonexistent/charon';
    await s.app.store.write((tx) => {
      const row = tx.list('/ip/ipsec/peer')[0]!;
      tx.update('/ip/ipsec/peer', row.id, { ...row.data, disabled: false });
    });
    await s.services.reconcile();
    const [peer] = await s.app.store.read((tx) => tx.list('/ip/ipsec/peer').map((r) => r.data));
    assert.equal(peer!.status, CHARON_MISSING);
    assert.equal(fs.existsSync(path.join(s.dir, 'run', 'ipsec')), false);
  } finally {
    if (saved === undefined) delete process.env.ROSPKI_CHARON; else process.env.ROSPKI_CHARON = saved;
    await s.stop();
  }
});

test('what keeps an identity or peer from loading is its status: base mode, an empty secret, a mode-config without addresses or with an unknown pool', { skip: needs('charon') }, async () => {
  const s = await startServiceApp();
  try {
    await useFreeIpsecPorts(s);
    await s.run('/ip/ipsec/peer', 'add', { name: 'old', address: '192.0.2.1', 'exchange-mode': 'base' });
    await s.run('/ip/ipsec/identity', 'add', { peer: 'old', secret: 'x' });
    await s.run('/ip/ipsec/peer', 'add', { name: 'site', address: '192.0.2.2', 'exchange-mode': 'main', passive: 'yes' });
    await s.run('/ip/ipsec/identity', 'add', { peer: 'site' }); // auth-method=pre-shared-key (the default), secret ""
    await s.run('/ip/ipsec/identity', 'add', { peer: 'site', 'auth-method': 'eap', username: 'u', password: 'p' });
    await s.run('/ip/ipsec/mode-config', 'add', { name: 'nopool', 'address-pool': 'missing' });
    await s.run('/ip/ipsec/mode-config', 'add', { name: 'empty' });
    await s.run('/ip/ipsec/peer', 'add', { name: 'rw', 'exchange-mode': 'ike2', passive: 'yes' });
    await s.run('/ip/ipsec/identity', 'add', { peer: 'rw', secret: 'k1', 'mode-config': 'nopool', 'generate-policy': 'port-strict' });
    await s.run('/ip/ipsec/identity', 'add', { peer: 'rw', secret: 'k2', 'mode-config': 'empty', 'generate-policy': 'port-strict' });
    await s.services.reconcile();
    const status = async (p: string) => s.app.store.read((tx) => tx.list(p).map((r) => r.data.status));
    assert.deepEqual(await status('/ip/ipsec/peer'), [
      'exchange-mode base is not supported, only ike2, main, aggressive', 'no usable identity', 'no usable identity',
    ]);
    assert.deepEqual(await status('/ip/ipsec/identity'), [
      undefined, 'pre-shared-key without secret', 'auth-method eap is not supported yet, only digital-signature, pre-shared-key', 'mode-config nopool: address-pool missing does not exist', 'mode-config empty: neither address-pool nor address',
    ]);
    // Nothing could be loaded, so no charon runs.
    assert.equal(fs.existsSync(path.join(s.dir, 'run', 'ipsec')), false);
    // mode-config add hands out addresses (responder=yes) unless told; the built-in asks for one.
    assert.deepEqual(await s.app.store.read((tx) => tx.list('/ip/ipsec/mode-config').map((r) => r.data.responder ?? true)), [false, true, true]);
  } finally {
    await s.stop();
  }
});
