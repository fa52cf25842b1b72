// The consumer menus over REST (curl) and the binary API, one test per family, and the one
// reference rule end to end: a certificate bound to www-ssl, api-ssl, an OpenVPN server, an SSTP
// server, an IPsec identity, a hotspot profile (and the VPN clients, dot1x, wifi) is renamed — every
// binding follows — then removed — every binding shows none, /log has a line for each, no id
// dangles — once on the console and once over REST.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { ApiClient, attrs, freePort, PASSWORD, run, startServiceApp, useFreeIpsecPorts, type ServiceApp } from './support.js';

type Json = Record<string, string>;

describe('consumer menus over REST and the API', () => {
  let s: ServiceApp;
  let api: ApiClient;

  /** One REST request with curl: status and parsed body. */
  const rest = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const args = ['-sS', '-u', `admin:${PASSWORD}`, '-X', method, '-w', '\n%{http_code}', `http://127.0.0.1:${s.ports.www}/rest${path}`];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(body));
    const r = await run('curl', args);
    assert.equal(r.status, 0, r.stderr);
    const at = r.stdout.lastIndexOf('\n');
    const text = r.stdout.slice(0, at);
    return { status: Number(r.stdout.slice(at + 1)), json: text === '' ? undefined : JSON.parse(text) };
  };
  /** One API command: its `!re` records (attributes), or throws on `!trap`. */
  const talk = async (...words: string[]): Promise<{ records: Json[]; done: Json }> => {
    const reply = await api.talk(...words);
    const trap = reply.find((w) => w[0] === '!trap');
    if (trap) throw new Error(attrs(trap).message);
    return { records: reply.filter((w) => w[0] === '!re').map(attrs), done: attrs(reply[reply.length - 1]!) };
  };
  const cli = async (line: string): Promise<string> => {
    let out = '';
    const cs = await ConsoleSession.open(s.app, { user: 'admin', output: (text) => { out += text; } });
    const r = await cs.run(line);
    assert.ok(r.ok, `${line}: ${r.error}`);
    return out;
  };

  before(async () => {
    s = await startServiceApp();
    api = await ApiClient.connect(s.ports.api);
    assert.deepEqual(await api.login(), [['!done']]);
    await cli('/certificate add name=ca common-name=ca key-usage=key-cert-sign,crl-sign key-size=prime256v1; /certificate sign ca');
    for (const n of ['vpn', 'vpn2']) await cli(`/certificate add name=${n} common-name=${n}.example.com subject-alt-name=DNS:${n}.example.com key-size=prime256v1; /certificate sign ${n} ca=ca`);
  });
  after(async () => { api.close(); await s.stop(); });

  test('OpenVPN: servers over REST (also the 7.16 set form), clients and bindings over the API', async () => {
    // The daemon runs enabled servers and clients for real (issue 13): free loopback ports only.
    const [port1, port2, nobody] = [await freePort(), await freePort(), await freePort()];
    const put = await rest('PUT', '/interface/ovpn-server/server', { name: 'ovpn', port: String(port1), certificate: 'vpn', 'require-client-certificate': 'yes', disabled: 'no', cipher: ['aes256-gcm', 'aes128-cbc'] });
    assert.equal(put.status, 201, JSON.stringify(put.json));
    assert.equal(put.json.certificate, 'vpn');
    assert.equal(put.json.cipher, 'aes128-cbc,aes256-gcm');
    assert.equal(put.json['require-client-certificate'], 'true');
    // The daemon's state as REST shows it: flag I (inactive) until openvpn runs.
    for (let i = 0; ; i++) {
      const now = (await rest('GET', `/interface/ovpn-server/server/${put.json['.id']}`)).json;
      if (now.status === 'running') { assert.equal(now.inactive, 'false'); assert.equal(now.running, 'true'); break; }
      assert.equal(now.inactive, 'true');
      assert.ok(i < 400, `the server never ran: ${now.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const set = await rest('POST', '/interface/ovpn-server/server/set', { port: String(port2) });
    assert.equal(set.status, 200, JSON.stringify(set.json));
    const list = await rest('GET', '/interface/ovpn-server/server');
    assert.deepEqual(list.json.map((r: Json) => [r.name, r.port]), [['ovpn', String(port2)]]);
    const bad = await rest('PATCH', `/interface/ovpn-server/server/${put.json['.id']}`, { certificate: 'nosuch' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.detail, 'input does not match any value of certificate');

    await talk('/interface/ovpn-client/add', '=connect-to=127.0.0.1', `=port=${nobody}`, '=user=u1', '=password=pw-secret', '=certificate=vpn2', '=disabled=no');
    const [client] = (await talk('/interface/ovpn-client/print', '?name=ovpn-out1')).records;
    assert.equal(client!.certificate, 'vpn2');
    assert.equal(client!.running, 'false');
    assert.equal(client!.password, undefined, 'the password is sensitive');
    await talk('/interface/ovpn-server/add', '=user=u1');
    assert.deepEqual((await talk('/interface/ovpn-server/print')).records.map((r) => [r.name, r.user, r.running]), [['ovpn-in1', 'u1', 'false']]);
  });

  test('SSTP: the server is one object in REST, set by POST …/set; clients over the API', async () => {
    const get = await rest('GET', '/interface/sstp-server/server');
    assert.equal(get.json.enabled, 'false');
    assert.equal(get.json.ciphers, 'aes256-sha,aes256-gcm-sha384');
    assert.equal(get.json.status, undefined, 'a disabled server has no status');
    // The daemon listens for real (issue 13): a free loopback port.
    const set = await rest('POST', '/interface/sstp-server/server/set', { enabled: 'yes', port: String(await freePort()), certificate: 'vpn', authentication: 'mschap2' });
    assert.deepEqual(set.json, []);
    const after1 = await rest('GET', '/interface/sstp-server/server');
    assert.equal(after1.json.certificate, 'vpn');
    for (let i = 0; (await rest('GET', '/interface/sstp-server/server')).json.status !== 'running'; i++) {
      assert.ok(i < 400, 'the SSTP server never ran');
      await new Promise((r) => setTimeout(r, 50));
    }
    const [rec] = (await talk('/interface/sstp-server/server/print')).records;
    assert.equal(rec!.authentication, 'mschap2');
    await talk('/interface/sstp-client/add', '=connect-to=vpn.example.com', '=user=u1', '=password=x', '=certificate=vpn2');
    assert.equal((await talk('/interface/sstp-client/get', '=number=sstp-out1', '=value-name=certificate')).done.ret, 'vpn2');
  });

  test('PPP: secrets keep their password out of REST and the API unless asked with the sensitive policy', async () => {
    const put = await rest('PUT', '/ppp/secret', { name: 'u1', password: 'ppp-secret', service: 'ovpn' });
    assert.equal(put.status, 201);
    assert.equal(put.json.password, undefined);
    assert.equal(put.json.profile, 'default');
    const profiles = await rest('GET', '/ppp/profile');
    assert.deepEqual(profiles.json.map((r: Json) => [r.name, r.default]), [['default', 'true'], ['default-encryption', 'true']]);
    const plain = (await talk('/ppp/secret/print')).records;
    assert.equal(plain[0]!.password, undefined);
    const shown = (await talk('/ppp/secret/print', '=show-sensitive=')).records;
    assert.equal(shown[0]!.password, 'ppp-secret');
    const removeDefault = await rest('DELETE', `/ppp/profile/${profiles.json[0]['.id']}`);
    assert.equal(removeDefault.status, 400);
    assert.equal(removeDefault.json.detail, 'failure: can not remove default profile');
  });

  test('IPsec: an identity with a list of certificates (JSON array over REST, comma list over the API)', async () => {
    await useFreeIpsecPorts(s); // the identity below starts rospki's charon
    assert.equal((await rest('PUT', '/ip/ipsec/peer', { name: 'rw', 'exchange-mode': 'ike2', passive: 'yes' })).status, 201);
    const put = await rest('PUT', '/ip/ipsec/identity', { peer: 'rw', 'auth-method': 'digital-signature', certificate: ['vpn', 'vpn2'], 'remote-id': 'ignore' });
    assert.equal(put.status, 201, JSON.stringify(put.json));
    assert.equal(put.json.certificate, 'vpn,vpn2');
    assert.equal(put.json.secret, undefined);
    await talk('/ip/ipsec/identity/add', '=peer=rw', '=auth-method=pre-shared-key', '=secret=psk-value');
    const ids = (await talk('/ip/ipsec/identity/print', '?auth-method=pre-shared-key')).records;
    assert.equal(ids.length, 1);
    assert.equal(ids[0]!.secret, undefined);
    const [peer] = (await talk('/ip/ipsec/peer/print', '?name=rw')).records;
    assert.equal(peer!.responder, 'true');
    const [proposal] = (await rest('GET', '/ip/ipsec/proposal')).json;
    assert.equal(proposal['enc-algorithms'], 'aes-256-cbc,aes-192-cbc,aes-128-cbc');
  });

  test('hotspot profile: the built-in default takes an ssl-certificate over REST and the API', async () => {
    const r = await rest('PATCH', '/ip/hotspot/profile/default', { 'ssl-certificate': 'vpn', 'login-by': 'https,http-chap' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json['ssl-certificate'], 'vpn');
    assert.equal(r.json['login-by'], 'http-chap,https');
    assert.equal((await talk('/ip/hotspot/profile/get', '=number=default', '=value-name=ssl-certificate')).done.ret, 'vpn');
  });

  test('dot1x and wifi security: certificates by REST and the API, passwords hidden', async () => {
    // Disabled: an enabled client needs wpa_supplicant (test/interop/dot1x.test.ts runs one).
    const put = await rest('PUT', '/interface/dot1x/client', { interface: 'ether1', 'eap-methods': 'eap-tls', identity: 'host', password: 'dot1x-pw', certificate: 'vpn2', disabled: 'yes' });
    assert.equal(put.status, 201, JSON.stringify(put.json));
    assert.equal(put.json.password, undefined);
    assert.equal(put.json.status, 'disabled');
    await talk('/interface/wifi/security/add', '=name=eap', '=authentication-types=wpa2-eap', '=eap-tls-certificate=vpn', '=eap-password=wifi-pw');
    const [sec] = (await rest('GET', '/interface/wifi/security?name=eap')).json;
    assert.equal(sec['eap-tls-certificate'], 'vpn');
    assert.equal(sec['eap-password'], undefined);
  });

  test('DNS: /ip/dns is one object; DoH settings, static entries and forwarders', async () => {
    const set = await rest('POST', '/ip/dns/set', { servers: '1.1.1.1,2606:4700:4700::1111', 'use-doh-server': 'https://cloudflare-dns.com/dns-query', 'verify-doh-cert': 'yes' });
    assert.deepEqual(set.json, []);
    const dns = (await rest('GET', '/ip/dns')).json;
    assert.equal(dns.servers, '1.1.1.1,2606:4700:4700::1111');
    assert.equal(dns['verify-doh-cert'], 'true');
    assert.equal(dns['cache-size'], '2048KiB');
    assert.equal(dns.status, undefined, 'the resolver runs (it listens only with allow-remote-requests=yes)');
    assert.equal(dns['cache-used'], '0KiB');
    const bad = await rest('POST', '/ip/dns/set', { 'use-doh-server': 'ftp://x' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.detail, 'invalid value for argument use-doh-server');
    assert.equal((await rest('PUT', '/ip/dns/static', { name: 'cloudflare-dns.com', address: '104.16.248.249' })).status, 201);
    await talk('/ip/dns/forwarders/add', '=name=corp', '=doh-servers=https://doh.corp.example/dns-query');
    const [fw] = (await talk('/ip/dns/forwarders/print')).records;
    assert.equal(fw!['verify-doh-cert'], 'true', 'forwarders verify by default');
    const [st] = (await talk('/ip/dns/static/print')).records;
    assert.equal(st!.type, undefined, 'A entries carry no type');
    assert.equal(st!.ttl, '1d');
  });

  /** Every binding of one certificate: [where, how to read it over REST, its value there]. */
  const BINDINGS: Array<[string, string, string]> = [
    ['/ip service www-ssl', '/ip/service/www-ssl', 'certificate'],
    ['/ip service api-ssl', '/ip/service/api-ssl', 'certificate'],
    ['/interface ovpn-server server ovpn', '/interface/ovpn-server/server/ovpn', 'certificate'],
    ['/interface ovpn-client ovpn-out1', '/interface/ovpn-client/ovpn-out1', 'certificate'],
    ['/interface sstp-server server', '/interface/sstp-server/server', 'certificate'],
    ['/interface sstp-client sstp-out1', '/interface/sstp-client/sstp-out1', 'certificate'],
    ['/ip hotspot profile default', '/ip/hotspot/profile/default', 'ssl-certificate'],
    ['/interface dot1x client ether1', '/interface/dot1x/client/ether1', 'certificate'],
    ['/interface wifi security eap', '/interface/wifi/security/eap', 'eap-tls-certificate'],
  ];

  const bindEverything = async (cert: string): Promise<void> => {
    await cli(`/ip service set www-ssl,api-ssl certificate=${cert}; /interface ovpn-server server set ovpn certificate=${cert}`);
    await cli(`/interface ovpn-client set ovpn-out1 certificate=${cert}; /interface sstp-server server set certificate=${cert}`);
    await cli(`/interface sstp-client set sstp-out1 certificate=${cert}; /ip hotspot profile set default ssl-certificate=${cert}`);
    await cli(`/interface dot1x client set ether1 certificate=${cert}; /interface wifi security set eap eap-tls-certificate=${cert}`);
    await cli(`/ip ipsec identity set [find peer=rw and auth-method=digital-signature] certificate=${cert},vpn2`);
  };
  const restValues = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const [, path, prop] of BINDINGS) out.push((await rest('GET', path)).json[prop]);
    const identity = (await rest('GET', '/ip/ipsec/identity?auth-method=digital-signature')).json[0];
    out.push(identity.certificate);
    return out;
  };
  const consoleValues = async (): Promise<string[]> => {
    const text = await cli([
      ':put [/ip service get www-ssl certificate]', ':put [/ip service get api-ssl certificate]',
      ':put [/interface ovpn-server server get ovpn certificate]', ':put [/interface ovpn-client get ovpn-out1 certificate]',
      ':put [/interface sstp-server server get certificate]', ':put [/interface sstp-client get sstp-out1 certificate]',
      ':put [/ip hotspot profile get default ssl-certificate]', ':put [/interface dot1x client get ether1 certificate]',
      ':put [/interface wifi security get eap eap-tls-certificate]',
      ':put [/ip ipsec identity get [find auth-method=digital-signature] certificate]',
    ].join('; '));
    return text.trimEnd().split('\n');
  };
  /** No row of any menu keeps the id of a certificate that is gone. */
  const assertNothingDangles = async (): Promise<void> => {
    const dangling = await s.app.store.read((tx) => s.app.registry.referencesTo(CERT_PATH).flatMap(({ menu, prop }) => tx.list(menu.path).flatMap((r) => {
      const v = r.data[prop.name];
      const ids = Array.isArray(v) ? (v as number[]) : typeof v === 'number' && v !== 0 ? [v] : [];
      return ids.filter((id) => !tx.get(CERT_PATH, id)).map((id) => `${menu.path} ${prop.name} *${id.toString(16)}`);
    })));
    assert.deepEqual(dangling, []);
  };

  test('one certificate in every consumer, on the console: a rename follows everywhere; removal leaves none and a /log line each', async () => {
    await bindEverything('vpn');
    assert.deepEqual(await consoleValues(), [...Array(9).fill('vpn'), 'vpn;vpn2']);
    await cli('/certificate set vpn name=vpn-renamed');
    assert.deepEqual(await consoleValues(), [...Array(9).fill('vpn-renamed'), 'vpn-renamed;vpn2']);
    assert.deepEqual(await restValues(), [...Array(9).fill('vpn-renamed'), 'vpn-renamed,vpn2']);
    await cli('/certificate remove vpn-renamed');
    assert.deepEqual(await consoleValues(), [...Array(9).fill('none'), 'vpn2']);
    const log = await cli('/log print where message~"vpn-renamed removed"');
    for (const who of ['www-ssl', 'api-ssl', 'ovpn', 'ovpn-out1', 'interface sstp-server server', 'sstp-out1', 'default', 'ether1', 'eap']) {
      assert.match(log, new RegExp(`system,warning ${who}: (ssl-|eap-tls-)?certificate vpn-renamed removed, none until one is set`), who);
    }
    assert.match(log, /system,warning ip ipsec identity: certificate vpn-renamed removed, the others stay/);
    await assertNothingDangles();
  });

  test('the same over REST: PATCH renames, DELETE removes, every binding follows', async () => {
    await cli('/certificate add name=vpn3 common-name=vpn3 key-size=prime256v1; /certificate sign vpn3 ca=ca');
    await bindEverything('vpn3');
    const id = (await rest('GET', '/certificate/vpn3')).json['.id'];
    assert.equal((await rest('PATCH', `/certificate/${id}`, { name: 'vpn3-2027' })).status, 200);
    assert.deepEqual(await restValues(), [...Array(9).fill('vpn3-2027'), 'vpn3-2027,vpn2']);
    assert.equal((await rest('DELETE', `/certificate/${id}`)).status, 204);
    assert.deepEqual(await restValues(), [...Array(9).fill('none'), 'vpn2']);
    const log = (await rest('GET', '/log')).json.filter((r: Json) => r.topics === 'system,warning' && r.message.includes('vpn3-2027 removed'));
    assert.equal(log.length, 10, JSON.stringify(log));
    await assertNothingDangles();
    // Removing the last certificate of the identity's list leaves it empty.
    assert.equal((await rest('DELETE', `/certificate/${(await rest('GET', '/certificate/vpn2')).json['.id']}`)).status, 204);
    assert.equal((await rest('GET', '/ip/ipsec/identity?auth-method=digital-signature')).json[0].certificate, '');
    await assertNothingDangles();
  });
});
