// The menus that hold certificate references (services spec §2–§7): every certificate property
// is a reference; sensitive values stay hidden; built-in rows can not go and appear on old data
// directories; the OpenVPN server keeps its 7.16 singleton form; export-client-configuration
// writes a .ovpn file that openssl reads, with the key only for the sensitive policy.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Appliance } from '../../src/appliance.js';
import { FixedClock } from '../../src/clock.js';
import { ConsoleSession } from '../../src/console/session.js';
import { BUILTIN, removalEffects } from '../../src/menu/generic.js';
import { isReferenceList } from '../../src/menu/proptypes.js';
import type { MenuDecl } from '../../src/menu/types.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { ALL_MENUS } from '../../src/menus/index.js';
import { openTestApp, T0, tempDir, type TestApp } from '../support/app.js';
import { fileOf, ossl, osslStatus } from './import-support.js';

/** Every certificate-valued property of the consumer menus (services spec §1.1), and lists. */
const CERTIFICATE_PROPERTIES = [
  '/interface/ovpn-server/server certificate', '/interface/ovpn-client certificate',
  '/interface/sstp-server/server certificate', '/interface/sstp-client certificate',
  '/ip/ipsec/identity certificate', '/ip/ipsec/identity remote-certificate',
  '/ip/hotspot/profile ssl-certificate', '/interface/dot1x/client certificate',
  '/interface/wifi/security eap-tls-certificate', '/ip/service certificate',
  // the HTTPS probe's client certificate and RadSec's (services spec §1.1)
  '/tool/netwatch certificate', '/radius certificate',
  // the SCEP server's rollover CA (issue 15); its ca-cert refuses the CA's removal instead
  '/certificate/scep-server next-ca-cert',
];
/** Sensitive properties (spec §9.2, M-SENS). */
const SENSITIVE = [
  '/ppp/secret password', '/ip/ipsec/identity secret', '/ip/ipsec/identity password', '/ip/ipsec/peer ppk-secret',
  '/interface/dot1x/client password', '/interface/wifi/security passphrase', '/interface/wifi/security eap-password',
  '/interface/ovpn-client password', '/interface/sstp-client password', '/ip/hotspot/profile mac-auth-password',
  '/radius secret',
];

describe('consumer menus', () => {
  let t: TestApp;
  const cli = async (line: string, user = 'admin'): Promise<string> => {
    let out = '';
    const cs = await ConsoleSession.open(t.app, { user, output: (text) => { out += text; } });
    const r = await cs.run(line);
    return r.ok ? out : `${out}${r.error}\n`;
  };

  before(async () => {
    t = await openTestApp();
    await cli('/user group add name=nosens policy=read,write,test,api,rest-api,ssh,ftp,password');
    await cli('/user add name=ns group=nosens password=Str0ngPass; /user add name=ro group=read password=Str0ngPass');
  });
  after(() => t.close());

  test('every certificate property is one reference rule: refType(/certificate, none), the IPsec identity a list', () => {
    const refs = t.app.registry.referencesTo(CERT_PATH).filter((r) => r.prop.access !== 'ro' && ['none', 'disable'].includes(r.prop.type.reference!.onRemove)).map((r) => `${r.menu.path} ${r.prop.name}`);
    assert.deepEqual([...refs].sort(), [...CERTIFICATE_PROPERTIES].sort());
    const identity = t.app.registry.menu('/ip/ipsec/identity')!;
    assert.ok(isReferenceList(identity.properties.find((p) => p.name === 'certificate')!.type));
  });

  test('removing the certificate an IPsec identity pins (remote-certificate) disables the identity: none must not let every trusted peer in', async () => {
    await cli('/certificate add name=pinned common-name=peer.example.com key-size=prime256v1; /certificate sign pinned');
    await cli('/ip ipsec peer add name=pinpeer address=192.0.2.7 exchange-mode=ike2 disabled=yes');
    await cli('/ip ipsec identity add peer=pinpeer auth-method=digital-signature remote-certificate=pinned match-by=certificate comment=pin');
    // The web page's confirmation says so before (removalEffects walks the same rule).
    const effects = await t.app.store.read((tx) => removalEffects(t.app.env, t.app.registry.menu(CERT_PATH)!, tx.findBy(CERT_PATH, 'name', 'pinned').map((r) => r.id), tx));
    assert.deepEqual(effects.unbound, [{ path: '/ip/ipsec/identity', name: effects.unbound[0]?.name, property: 'remote-certificate', disabled: true }]);
    assert.equal(await cli('/certificate remove pinned'), '');
    assert.equal(await cli(':put [/ip ipsec identity get [find comment=pin] remote-certificate]; :put [/ip ipsec identity get [find comment=pin] disabled]'), 'none\ntrue\n');
    assert.match(await cli('/log print'), /system,warning ip ipsec identity: remote-certificate pinned removed, disabled until one is set/);
    await cli('/ip ipsec identity remove [find comment=pin]; /ip ipsec peer remove pinpeer');
  });

  test('sensitive properties: declared, left out of print and export, refused to get without the policy', async () => {
    const declared = t.app.registry.all().flatMap((m) => m.properties.filter((p) => p.sensitive).map((p) => `${m.path} ${p.name}`));
    for (const s of SENSITIVE) assert.ok(declared.includes(s), s);
    await cli('/ppp secret add name=vpner password=s3cret; /interface wifi security add name=w passphrase=hunter2hunter2');
    await cli('/ip ipsec peer add name=p; /ip ipsec identity add peer=p secret=psk-1234');
    for (const line of ['/ppp secret print detail', '/ppp secret export', '/interface wifi security print detail', '/interface wifi security export', '/ip ipsec identity print', '/ip ipsec identity export verbose']) {
      const text = await cli(line);
      assert.doesNotMatch(text, /s3cret|hunter2|psk-1234/, line);
    }
    assert.match(await cli('/ppp secret export show-sensitive'), /password=s3cret/);
    assert.equal(await cli(':put [/ppp secret get vpner password]'), 's3cret\n');
    assert.equal(await cli(':put [/ppp secret get vpner password]', 'ns'), 'not enough permissions (9)\n');
    assert.equal(await cli('/ppp secret print detail show-sensitive', 'ns'), 'not enough permissions (9)\n');
    assert.equal(await cli('/ppp secret add name=x password=y', 'ro'), 'not enough permissions (9)\n');
    assert.match(await cli('/ppp secret print', 'ro'), /vpner/);
  });

  test('built-in rows (*) can not be removed; names in use are refused', async () => {
    for (const [menu, what] of [['/ppp profile', 'profile'], ['/ip ipsec profile', 'profile'], ['/ip ipsec proposal', 'proposal'], ['/ip ipsec policy group', 'group'], ['/ip hotspot profile', 'profile']]) {
      assert.equal(await cli(`${menu} remove [find default=yes]`), `failure: can not remove default ${what}\n`, menu);
    }
    assert.equal(await cli('/ip ipsec mode-config remove request-only'), 'failure: can not remove default mode-config\n');
    assert.equal(await cli('/ip ipsec policy remove 0'), 'failure: can not remove default policy\n');
  });

  test('an old data directory gets the singletons and built-in rows on first use', async () => {
    // A data directory made by a rospki that had none of these menus, opened by one that has them.
    const dir = tempDir();
    const mine = (m: MenuDecl) => /^\/(ppp|ip\/ipsec|ip\/hotspot|ip\/dns|interface)\b/.test(m.path);
    (await Appliance.open(dir, { clock: new FixedClock(T0), menus: ALL_MENUS.filter((m) => !mine(m)) })).close();
    const old = await openTestApp({ dir });
    try {
      assert.equal(await old.app.store.read((tx) => tx.list('/ppp/profile').length + tx.list('/ip/ipsec/policy').length), 0);
      const run = async (path: string, command: string, args = {}) => old.run(path, command, args);
      assert.equal((await run('/interface/sstp-server/server', 'get', { 'value-name': 'default-profile' })).ret, 'default');
      assert.equal((await run('/ip/ipsec/policy', 'print', {})).print!.rows.length, 1);
      assert.equal((await run('/ip/ipsec/policy', 'get', { number: '0', 'value-name': 'proposal' })).ret, 'default');
      assert.equal((await run('/ip/ipsec/policy', 'get', { number: '0', 'value-name': 'group' })).ret, 'default');
      assert.deepEqual((await run('/ppp/profile', 'print', {})).print!.rows.map((r) => r.data.name), ['default', 'default-encryption']);
      assert.equal((await run('/ip/dns', 'get', { 'value-name': 'cache-size' })).ret, 2048);
      assert.equal((await run('/ip/hotspot/profile', 'print', {})).print!.rows[0]!.data[BUILTIN] !== undefined, true);
      assert.equal((await run('/ip/ipsec/identity', 'add', { peer: 'x' }).catch((e: Error) => e.message)), 'input does not match any value of peer');
      // Asked again, nothing is added twice.
      await run('/ip/ipsec/policy', 'print', {});
      await run('/ppp/profile', 'print', {});
      assert.equal(await old.app.store.read((tx) => tx.list('/ip/ipsec/policy').length + tx.list('/ppp/profile').length), 3);
    } finally {
      old.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('/interface ovpn-server server: the 7.16 singleton form', () => {
    test('set without a number makes ovpn-server1 (as the 7.17 upgrade does); enabled= stands for disabled=', async () => {
      assert.equal(await cli('/interface ovpn-server server set'), '', 'nothing to set: nothing made');
      assert.equal(await cli(':put [/interface ovpn-server server print count-only]'), '0\n');
      assert.equal(await cli(':put [/interface ovpn-server server get enabled]; :put [/interface ovpn-server server get certificate]'), 'false\nnone\n');
      await cli('/certificate add name=srv common-name=vpn.example.com key-size=prime256v1; /certificate sign srv');
      assert.equal(await cli('/interface ovpn-server server set certificate=srv require-client-certificate=yes enabled=yes'), '');
      assert.equal(await cli(':put [/interface ovpn-server server get enabled]; :put [/interface ovpn-server server get certificate]'), 'true\nsrv\n');
      assert.equal(await cli(':put [/interface ovpn-server server get ovpn-server1 disabled]; :put [/interface ovpn-server server get 0 name]'), 'false\novpn-server1\n');
      assert.match(await cli('/interface ovpn-server server print'), /^ 0 I name="ovpn-server1" .*\n(.*\n)*.*status="not running: the rospki daemon is not running"/m);
      // The API and REST give the property by name, without a number.
      assert.equal((await t.run('/interface/ovpn-server/server', 'get', { 'value-name': 'certificate' })).ret, 'srv');
      assert.equal((await t.run('/interface/ovpn-server/server', 'get', { number: 'ovpn-server1', 'value-name': 'enabled' })).ret, true);
      assert.equal(await cli('/interface ovpn-server server set enabled=no port=1195'), '');
      assert.equal(await cli(':put [/interface ovpn-server server get port]; :put [/interface ovpn-server server get disabled]'), '1195\ntrue\n');
      assert.equal(await cli('/interface ovpn-server server set port=0'), 'value of port is out of range (1 .. 65535)\n');
    });

    test('push-routes and push-routes-ipv6 take routes (network[/len] [mask] [gateway] [metric], comma separated); anything else is refused and nothing changes', async () => {
      assert.equal(await cli('/interface ovpn-server server add name=pr port=1198'), '');
      const get = async (p: string) => cli(`:put [/interface ovpn-server server get pr ${p}]`);
      const good: Array<[string, string]> = [
        ['192.168.88.0/24', '192.168.88.0/24'],
        ['10.1.2.3/8 10.0.0.1 5', '10.0.0.0/8 10.0.0.1 5'],
        ['192.168.1.0 255.255.255.0,  172.16.0.0/12 vpn_gateway', '192.168.1.0 255.255.255.0,172.16.0.0/12 vpn_gateway'],
        ['192.168.2.0 255.255.255.0 192.168.88.1 10', '192.168.2.0 255.255.255.0 192.168.88.1 10'],
      ];
      for (const [given, kept] of good) {
        assert.equal(await cli(`/interface ovpn-server server set pr push-routes="${given}"`), '', given);
        assert.equal(await get('push-routes'), `${kept}\n`, given);
      }
      for (const bad of ['garbage', '192.168.88.0/33', '192.168.88.0 192.168.88.1', '10.0.0.0/8 10.0.0.1 5 extra', '10.0.0.0/8 fe80::1', '2001:db8::/32', '10.0.0.0/8,,10.1.0.0/16', '10.0.0.0/8 10.0.0.1 -1', 'a"b']) {
        assert.equal(await cli(`/interface ovpn-server server set pr push-routes=${JSON.stringify(bad)} port=1197`), 'invalid value for argument push-routes\n', bad);
        assert.equal(await get('push-routes'), `${good.at(-1)![1]}\n`, `${bad}: nothing changed`);
        assert.notEqual(await get('port'), '1197\n', `${bad}: nothing changed`);
      }
      assert.equal(await cli(`/interface ovpn-server server set pr push-routes-ipv6="2001:db8::/32 2001:db8::1 3"`), '');
      assert.equal(await get('push-routes-ipv6'), '2001:db8::/32 2001:db8::1 3\n');
      assert.equal(await cli('/interface ovpn-server server set pr push-routes-ipv6=10.0.0.0/8'), 'invalid value for argument push-routes-ipv6\n');
      assert.equal(await cli('/interface ovpn-server server set pr push-routes="" push-routes-ipv6=""'), '');
      assert.equal(await get('push-routes'), '\n');
      assert.equal(await cli('/interface ovpn-server server remove pr'), '');
    });

    test('with several servers the item number is needed', async () => {
      assert.equal(await cli('/interface ovpn-server server add name=second enabled=yes port=1196'), '');
      assert.equal(await cli(':put [/interface ovpn-server server get second disabled]'), 'false\n', 'add takes enabled= too');
      assert.equal(await cli('/interface ovpn-server server set certificate=none'), 'missing =numbers=\n');
      assert.equal(await cli(':put [/interface ovpn-server server get certificate]'), 'missing =number=\n');
      assert.equal(await cli('/interface ovpn-server server set second certificate=srv'), '');
      assert.equal(await cli('/interface ovpn-server server remove second'), '');
    });
  });

  test('cipher, auth, ciphers, authentication and the IPsec algorithm sets can not be emptied (nothing would run); nothing changes', async () => {
    await cli('/interface ovpn-server server add name=empty port=1197; /interface sstp-client add name=sc connect-to=192.0.2.1 user=u');
    for (const [line, name] of [
      ['/interface ovpn-server server set empty cipher=""', 'cipher'], ['/interface ovpn-server server set empty auth=""', 'auth'],
      ['/interface ovpn-server server add name=e2 cipher=,', 'cipher'],
      ['/interface sstp-server server set ciphers=""', 'ciphers'], ['/interface sstp-server server set authentication=""', 'authentication'],
      ['/interface sstp-client set sc ciphers=""', 'ciphers'], ['/interface sstp-client set sc authentication=""', 'authentication'],
      ['/ip ipsec profile set default dh-group=""', 'dh-group'], ['/ip ipsec profile set default enc-algorithm=""', 'enc-algorithm'],
      ['/ip ipsec proposal set default enc-algorithms=""', 'enc-algorithms'], ['/ip ipsec proposal set default auth-algorithms=""', 'auth-algorithms'],
    ]) {
      assert.equal(await cli(line!), `input does not match any value of ${name}\n`, line);
    }
    assert.equal(await cli(':put [/interface ovpn-server server get empty cipher]; :put [/interface ovpn-server server get empty auth]'), 'blowfish128;aes128-cbc\nsha1;md5;sha256;sha512\n');
    assert.equal(await cli(':put [/interface sstp-server server get ciphers]'), 'aes256-sha;aes256-gcm-sha384\n');
    assert.equal(await cli(':put [/ip ipsec profile get default dh-group]; :put [/ip ipsec proposal get default enc-algorithms]'), 'modp2048;modp1024\naes-256-cbc;aes-192-cbc;aes-128-cbc\n');
    assert.equal(await cli(':put [/interface ovpn-server server print count-only where name=e2]'), '0\n');
    await cli('/interface ovpn-server server remove empty; /interface sstp-client remove sc');
  });

  describe('export-client-configuration', () => {
    before(async () => {
      await cli('/certificate add name=ca common-name=ca key-usage=key-cert-sign,crl-sign key-size=prime256v1; /certificate sign ca');
      await cli('/certificate add name=rw-client common-name=rw-client key-size=prime256v1 key-usage=digital-signature,tls-client; /certificate sign rw-client ca=ca');
      await cli('/certificate export-certificate ca; /certificate export-certificate rw-client export-passphrase=client-pass');
      await cli('/interface ovpn-server server set 0 protocol=udp port=1194 cipher=aes128-cbc,aes256-gcm auth=sha256');
    });

    test('writes a .ovpn with the CA, the client certificate and its key, which openssl reads', async () => {
      const line = '/interface ovpn-server server export-client-configuration server=ovpn-server1 server-address=vpn.example.com ca-certificate=cert_export_ca.crt client-certificate=cert_export_rw-client.crt client-cert-key=cert_export_rw-client.key';
      assert.equal(await cli(line), '');
      const ovpn = fileOf(t, 'cert_export_rw-client.ovpn').toString();
      for (const l of ['client', 'dev tun', 'proto udp', 'remote vpn.example.com 1194', 'auth-user-pass', 'auth SHA256', 'cipher AES-256-GCM', 'data-ciphers AES-256-GCM:AES-128-CBC', 'remote-cert-tls server']) {
        assert.ok(ovpn.split('\n').includes(l), `${l} in\n${ovpn}`);
      }
      const block = (tag: string) => ovpn.slice(ovpn.indexOf(`<${tag}>\n`) + tag.length + 3, ovpn.indexOf(`</${tag}>`));
      const dir = t.app.dataDir.filesDir;
      assert.match(ossl(dir, ['x509', '-noout', '-subject'], block('ca')), /CN ?= ?ca/);
      assert.match(ossl(dir, ['x509', '-noout', '-subject'], block('cert')), /CN ?= ?rw-client/);
      const keyPub = ossl(dir, ['pkey', '-passin', 'pass:client-pass', '-pubout'], block('key'));
      assert.equal(keyPub, ossl(dir, ['x509', '-noout', '-pubkey'], block('cert')), 'the key is the client certificate\'s');
      assert.equal(osslStatus(dir, ['verify', '-CAfile', 'cert_export_ca.crt', 'cert_export_rw-client.crt']).status, 0);
      assert.match(await cli('/log print where message~"ovpn client"'), /ovpn client configuration cert_export_rw-client.ovpn written by admin/);
    });

    test('the key needs the sensitive policy; without it only the certificates go into the file', async () => {
      const base = '/interface ovpn-server server export-client-configuration server-address=1.1.1.1 ca-certificate=cert_export_ca.crt client-certificate=cert_export_rw-client.crt';
      await cli('/file remove cert_export_rw-client.ovpn');
      assert.equal(await cli(`${base} client-cert-key=cert_export_rw-client.key`, 'ns'), 'not enough permissions (9)\n');
      assert.equal(await cli(base, 'ns'), '');
      const ovpn = fileOf(t, 'cert_export_rw-client.ovpn').toString();
      assert.doesNotMatch(ovpn, /<key>|PRIVATE KEY/);
      assert.match(ovpn, /^remote 1\.1\.1\.1 1194$/m);
      assert.equal(await cli(base, 'ro'), 'not enough permissions (9)\n');
    });

    test('refusals: require-client-certificate off, files that hold no certificate or key, missing files', async () => {
      const base = '/interface ovpn-server server export-client-configuration server-address=1.1.1.1';
      await cli('/interface ovpn-server server set 0 require-client-certificate=no');
      assert.equal(await cli(`${base} ca-certificate=cert_export_ca.crt client-certificate=cert_export_rw-client.crt`), 'failure: require-client-certificate is not enabled on ovpn-server1\n');
      await cli('/interface ovpn-server server set 0 require-client-certificate=yes; /file add name=notes.txt contents="hello"');
      assert.equal(await cli(`${base} ca-certificate=notes.txt client-certificate=cert_export_rw-client.crt`), 'failure: notes.txt holds no certificate\n');
      assert.equal(await cli(`${base} ca-certificate=cert_export_ca.crt client-certificate=cert_export_rw-client.crt client-cert-key=cert_export_ca.crt`), 'failure: cert_export_ca.crt holds no private key\n');
      assert.equal(await cli(`${base} ca-certificate=nosuch.crt client-certificate=cert_export_rw-client.crt`), 'input does not match any value of ca-certificate\n');
      assert.equal(await cli(`${base} ca-certificate=cert_export_ca.crt`), 'missing =client-certificate=\n');
    });
  });

  test('DNS static entries: one of name and regexp, what each type needs', async () => {
    assert.equal(await cli('/ip dns static add address=10.0.0.1'), 'missing value of name or regexp\n');
    assert.equal(await cli('/ip dns static add name=a.lan regexp=a address=10.0.0.1'), 'name and regexp can not both be set\n');
    assert.equal(await cli('/ip dns static add regexp="(" address=10.0.0.1'), 'invalid value for argument regexp\n');
    assert.equal(await cli('/ip dns static add name=a.lan'), 'missing value of address\n');
    assert.equal(await cli('/ip dns static add name=a.lan type=AAAA address=10.0.0.1'), 'invalid value for argument address\n');
    assert.equal(await cli('/ip dns static add name=a.lan type=MX mx-exchange=mail.lan'), '');
    assert.equal(await cli(':put [/ip dns static get [find name=a.lan] type]; :put [/ip dns static get [find name=a.lan] ttl]'), 'MX\n1d00:00:00\n');
  });
});
