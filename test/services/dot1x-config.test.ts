// The wpa_supplicant configuration of an 802.1X client (src/services/dot1x.ts) and the rule that
// enabling one needs wpa_supplicant. The supplicant itself runs in test/interop/dot1x.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authenticatorConfig, dot1xConfig, radsecPlan, readEvent, serverPlan } from '../../src/services/dot1x.js';
import { daemonTrust } from '../../src/services/daemon-trust.js';
import { needs } from '../support/tools.js';
import { DOT1X_CLIENT_PATH } from '../../src/menus/interface/dot1x.js';
import { openTestApp } from '../support/app.js';

test('identities and passwords are hex: a quote or a line break cannot add a directive', () => {
  const conf = dot1xConfig({
    methods: ['eap-peap', 'eap-tls'], identity: 'a"\n}\nnetwork={', anonIdentity: 'anon', password: 'pw"\nctrl_interface=/tmp/x',
    ca: '/run/ca.pem', cert: { cert: '/run/cert.pem', key: '/run/key.pem' },
  });
  assert.equal(conf.match(/network=\{/g)?.length, 1);
  assert.doesNotMatch(conf, /ctrl_interface/);
  assert.match(conf, new RegExp(`identity=${Buffer.from('a"\n}\nnetwork={').toString('hex')}\n`));
  assert.match(conf, /\teap=PEAP TLS\n/);
  assert.match(conf, /\tphase2="auth=MSCHAPV2"\n/);
  assert.match(conf, /\tanonymous_identity=616e6f6e\n/);
  assert.match(conf, /\tca_cert="\/run\/ca.pem"\n\tclient_cert="\/run\/cert.pem"\n\tprivate_key="\/run\/key.pem"\n/);
});

test('EAP-TLS alone carries no password; EAP-MSCHAPv2 alone no CA', () => {
  const tls = dot1xConfig({ methods: ['eap-tls'], identity: 'laptop', anonIdentity: '', password: 'unused', ca: '/ca', cert: { cert: '/c', key: '/k' } });
  assert.doesNotMatch(tls, /password|phase2/);
  const mschap = dot1xConfig({ methods: ['eap-mschapv2'], identity: 'bob', anonIdentity: '', password: 'pw' });
  assert.doesNotMatch(mschap, /ca_cert/);
  assert.match(mschap, /\teap=MSCHAPV2\n/);
});

test('events of wpa_supplicant\'s output', () => {
  assert.deepEqual(readEvent('eth1: CTRL-EVENT-EAP-SUCCESS EAP authentication completed successfully'), { event: 'CTRL-EVENT-EAP-SUCCESS', detail: 'EAP authentication completed successfully' });
  assert.equal(readEvent("eth1: CTRL-EVENT-EAP-TLS-CERT-ERROR reason=1 depth=0 subject='/CN=evil' err='unable to get local issuer certificate'")?.event, 'CTRL-EVENT-EAP-TLS-CERT-ERROR');
  assert.equal(readEvent('Successfully initialized wpa_supplicant'), undefined);
});

test('enabling a client without wpa_supplicant fails with the package to install, and changes nothing', async () => {
  const t = await openTestApp();
  const saved = process.env.ROSPKI_WPA_SUPPLICANT;
  process.env.ROSPKI_WPA_SUPPLICANT = '/nonexistent/wpa_supplicant';
  try {
    await assert.rejects(t.run('/interface/dot1x/client', 'add', { interface: 'ether9', 'eap-methods': 'eap-tls' }), /wpa_supplicant is not installed \(Debian package wpasupplicant\)/);
    assert.equal((await t.app.store.read((tx) => tx.list(DOT1X_CLIENT_PATH))).length, 0);
    await t.run('/interface/dot1x/client', 'add', { interface: 'ether9', 'eap-methods': 'eap-tls', disabled: 'yes' });
    await assert.rejects(t.run('/interface/dot1x/client', 'enable', { numbers: 'ether9' }), /wpa_supplicant is not installed/);
  } finally {
    if (saved === undefined) delete process.env.ROSPKI_WPA_SUPPLICANT; else process.env.ROSPKI_WPA_SUPPLICANT = saved;
    t.close();
  }
});

test('the authenticator\'s hostapd configuration: the RADIUS server, accounting, re-authentication', () => {
  const conf = authenticatorConfig({ iface: 'ether2', radius: { address: '10.0.0.9', authPort: 1812, acctPort: 1813, secret: 's3cret' }, reauthSeconds: 3600, interimSeconds: 0 });
  assert.match(conf, /^interface=ether2\ndriver=wired\nieee8021x=1\n/m);
  assert.match(conf, /\nauth_server_addr=10\.0\.0\.9\nauth_server_port=1812\nauth_server_shared_secret=s3cret\nacct_server_addr=10\.0\.0\.9\nacct_server_port=1813\n/);
  assert.match(conf, /\neap_reauth_period=3600\n/);
  assert.doesNotMatch(conf, /radius_acct_interim_interval/);
});

test('an authenticator says why it cannot run: no RADIUS server for dot1x, a secret with a line break; over RadSec it talks to its relay', async () => {
  const t = await openTestApp();
  try {
    await t.run('/interface/dot1x/server', 'add', { interface: 'lo', disabled: 'yes' });
    const plan = () => t.app.store.read((tx) => serverPlan(tx, tx.findBy('/interface/dot1x/server', 'interface', 'lo')[0]!));
    assert.equal((await plan()).reason, 'no RADIUS server for dot1x (/radius service=dot1x)');
    await t.run('/radius', 'add', { address: '127.0.0.1', secret: 'one\nauth_server_addr=10.6.6.6', service: 'login' });
    assert.equal((await plan()).reason, 'no RADIUS server for dot1x (/radius service=dot1x)');
    await t.run('/radius', 'set', { numbers: '0', service: 'dot1x,login' });
    assert.equal((await plan()).reason, 'the RADIUS secret is empty or holds control characters');
    await t.run('/radius', 'set', { numbers: '0', secret: 'fine', protocol: 'radsec' });
    // RadSec: hostapd talks to the local relay (its port and secret), or says why the relay cannot run.
    const viaRelay = (relay: { port: number; secret: string; reason?: string }) => t.app.store.read((tx) => serverPlan(tx, tx.findBy('/interface/dot1x/server', 'interface', 'lo')[0]!, () => relay));
    assert.equal((await viaRelay({ port: 1, secret: 'x', reason: 'no CA certificate is trusted for radius' })).reason, 'RadSec: no CA certificate is trusted for radius');
    const relayed = await viaRelay({ port: 40123, secret: 'local-secret' });
    assert.match(String(relayed.spec!.files!['hostapd.conf']), /\nauth_server_addr=127\.0\.0\.1\nauth_server_port=40123\nauth_server_shared_secret=local-secret\n/);
    await t.run('/radius', 'set', { numbers: '0', protocol: 'udp' });
    const ok = await plan();
    assert.equal(ok.reason, undefined);
    assert.match(String(ok.spec!.files!['hostapd.conf']), /\nauth_server_shared_secret=fine\n/);
  } finally {
    t.close();
  }
});

test('a RadSec relay: a secret with a quote or a backslash is refused, never altered; a fine one is quoted as given', { skip: needs('radsecproxy') }, async () => {
  const t = await openTestApp();
  try {
    await t.run('/certificate', 'add', { name: 'ca', 'common-name': 'ca', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1' });
    await t.run('/certificate', 'sign', { number: 'ca' });
    await t.run('/certificate', 'add', { name: 'nas', 'common-name': 'nas', 'key-size': 'prime256v1', 'key-usage': 'digital-signature,tls-client' });
    await t.run('/certificate', 'sign', { number: 'nas', ca: 'ca' });
    await t.run('/radius', 'add', { address: '127.0.0.1', secret: 'a"b', service: 'dot1x', protocol: 'radsec', certificate: 'nas' });
    const trust = await daemonTrust(t.app.env, 'radius');
    const plan = () => t.app.store.read((tx) => radsecPlan(t.app.env, tx, tx.list('/radius')[0]!, trust, '/run', { port: 40000, secret: 'local' }));
    assert.equal((await plan()).reason, 'the RADIUS secret holds control characters, a quote or a backslash');
    await t.run('/radius', 'set', { numbers: '0', secret: 'a\\b' });
    assert.equal((await plan()).reason, 'the RADIUS secret holds control characters, a quote or a backslash');
    await t.run('/radius', 'set', { numbers: '0', secret: 'with blank' });
    const ok = await plan();
    assert.equal(ok.reason, undefined);
    assert.match(String(ok.spec!.files!['radsecproxy.conf']), /\n {4}secret "with blank"\n/);
    assert.match(String(ok.spec!.files!['radsecproxy.conf']), /\n {4}port 2083\n/, 'RADIUS\'s default 1812 means RadSec\'s 2083');
  } finally {
    t.close();
  }
});
