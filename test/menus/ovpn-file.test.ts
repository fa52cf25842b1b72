// The .ovpn parser of import-ovpn-configuration (src/menus/interface/ovpn-file.ts): openvpn's
// word syntax, inline blocks, the first remote, what is taken, ignored and refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RosError } from '../../src/errors.js';
import { lineWords, parseOvpn, staticKeyText } from '../../src/menus/interface/ovpn-file.js';

const HEX = Array.from({ length: 16 }, (_, i) => i.toString(16).repeat(32)).join('\n');
const KEY = `#\n# 2048 bit OpenVPN static key\n#\n-----BEGIN OpenVPN Static key V1-----\n${HEX}\n-----END OpenVPN Static key V1-----`;
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';

const parse = (text: string) => parseOvpn('vpn.ovpn', text);
const refused = (text: string, message: RegExp) => assert.throws(() => parse(text), (e: unknown) => e instanceof RosError && e.kind === 'failure' && message.test(e.message));

describe('ovpn-file: words', () => {
  test('blanks, quotes, escapes and comments as openvpn reads them', () => {
    assert.deepEqual(lineWords('remote  vpn.example.com\t1194 udp'), ['remote', 'vpn.example.com', '1194', 'udp']);
    assert.deepEqual(lineWords('verify-x509-name "C=LV, CN=vpn server" subject'), ['verify-x509-name', 'C=LV, CN=vpn server', 'subject']);
    assert.deepEqual(lineWords(`setenv x 'a "b" c'`), ['setenv', 'x', 'a "b" c']);
    assert.deepEqual(lineWords('x "a\\"b" c\\ d'), ['x', 'a"b', 'c d']);
    assert.deepEqual(lineWords('remote host # the server'), ['remote', 'host']);
    assert.deepEqual(lineWords('; all comment'), []);
    assert.deepEqual(lineWords('auth SHA256;x'), ['auth', 'SHA256;x'], 'a ; inside a word is no comment');
    assert.equal(lineWords('x "open'), undefined);
  });

  test('a static key: comments before it, canonical text; not 2048 bits → error', () => {
    const text = staticKeyText(KEY, 'tls-crypt');
    assert.match(text, /^-----BEGIN OpenVPN Static key V1-----\n([0-9a-f]{32}\n){16}-----END OpenVPN Static key V1-----\n$/);
    assert.throws(() => staticKeyText(KEY.replace(/^0+\n/m, ''), 'tls-crypt'), /<tls-crypt> holds no 2048 bit OpenVPN static key/);
    assert.throws(() => staticKeyText(KEY.replace('0000', 'zz00'), 'tls-auth'), /<tls-auth> holds no/);
    assert.throws(() => staticKeyText(CERT, 'tls-auth'), /holds no/);
  });
});

describe('ovpn-file: profile', () => {
  test('a provider file: first remote, proto, dev, ciphers in preference order, auth, inline blocks, key-direction', () => {
    const p = parse([
      '\uFEFF# provider profile',
      'client',
      'dev tap0',
      'proto tcp-client',
      'remote vpn1.example.com 443',
      'remote vpn2.example.com 1194 udp',
      'resolv-retry infinite',
      'nobind',
      'persist-key',
      'persist-tun',
      'remote-cert-tls server',
      'data-ciphers CHACHA20-POLY1305:AES-256-GCM',
      'cipher AES-128-CBC',
      'auth SHA512',
      'tls-version-max 1.2',
      'auth-user-pass',
      'redirect-gateway def1',
      'comp-lzo',
      'verb 3',
      'key-direction 1',
      '<ca>', CERT, '</ca>',
      '<cert>', CERT, '</cert>',
      '<key>', '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----', '</key>',
      '<tls-auth>', KEY, '</tls-auth>',
    ].join('\r\n'));
    assert.equal(p.host, 'vpn1.example.com');
    assert.equal(p.port, 443);
    assert.equal(p.protocol, 'tcp');
    assert.equal(p.mode, 'ethernet');
    assert.deepEqual(p.ciphers, ['CHACHA20-POLY1305', 'AES-256-GCM', 'AES-128-CBC']);
    assert.equal(p.auth, 'SHA512');
    assert.equal(p.tlsAtMost12, true);
    assert.equal(p.authUserPass, true);
    assert.equal(p.ca, CERT);
    assert.equal(p.cert, CERT);
    assert.match(p.key!, /BEGIN PRIVATE KEY/);
    assert.equal(p.tlsAuth!.direction, 1);
    assert.equal(p.tlsAuth!.key, staticKeyText(KEY, 'tls-auth'));
    assert.equal(p.tlsCrypt, undefined);
  });

  test('defaults: port 1194 (or `port`), udp, tun; tls-auth [inline] 0 gives the direction; --prefixed directives', () => {
    const p = parse('--remote 10.0.0.1\nport 1195\n<tls-crypt>\n' + KEY + '\n</tls-crypt>\n');
    assert.deepEqual([p.host, p.port, p.protocol, p.mode], ['10.0.0.1', 1195, 'udp', 'ip']);
    assert.deepEqual(p.ciphers, []);
    assert.equal(p.authUserPass, false);
    assert.ok(p.tlsCrypt);
    const q = parse('remote h 1 tcp\ntls-auth [inline] 0\n<tls-auth>\n' + KEY + '\n</tls-auth>\n');
    assert.equal(q.protocol, 'tcp');
    assert.equal(q.tlsAuth!.direction, 0);
    assert.equal(parse('remote h\ntls-auth [inline]\n<tls-auth>\n' + KEY + '\n</tls-auth>\n').tlsAuth!.direction, undefined, 'no direction: both');
  });

  test('an inline <auth-user-pass> block, verify-x509-name, route-nopull, ignore-unknown-option', () => {
    const p = parse('remote h\n<auth-user-pass>\nalice\ns3cret\n</auth-user-pass>\nverify-x509-name h name\nroute-nopull\nignore-unknown-option block-outside-dns2\nblock-outside-dns2\n');
    assert.deepEqual(p.login, { user: 'alice', password: 's3cret' });
    assert.equal(p.authUserPass, true);
    assert.deepEqual(p.verifyX509Name, { name: 'h', type: 'name' });
    assert.equal(p.routeNopull, true);
  });

  test('refused with the line: files instead of inline blocks, PKCS#12, tls-crypt-v2, proxies, static keys, server files, unknown directives', () => {
    refused('remote h\nca ca.crt\n', /^unable to import vpn\.ovpn: line 2: ca names a file \(ca\.crt\): give it inline as <ca>$/);
    refused('remote h\ntls-auth ta.key 1\n', /line 2: tls-auth names a file/);
    refused('remote h\nauth-user-pass creds.txt\n', /line 2: auth-user-pass names a file/);
    refused('remote h\n<pkcs12>\nMIIB\n</pkcs12>\n', /line 2: PKCS#12 bundles/);
    refused('remote h\npkcs12 client.p12\n', /line 2: PKCS#12/);
    refused('remote h\n<tls-crypt-v2>\nx\n</tls-crypt-v2>\n', /line 2: tls-crypt-v2 is not supported/);
    refused('remote h\nhttp-proxy p 8080\n', /line 2: connecting through an HTTP proxy/);
    refused('remote h\n<secret>\nx\n</secret>\n', /static-key tunnels/);
    refused('mode server\nremote h\n', /line 1: not a client configuration/);
    refused('remote h\nfrobnicate 3\n', /line 2: unsupported directive frobnicate/);
    refused('remote h\n<ca>\nx\n', /line 2: <ca> is not closed/);
    refused('remote h\n<ca>\n' + CERT + '\n</ca>\n<ca>\n' + CERT + '\n</ca>\n', /a second <ca>/);
    refused('remote h\nsetenv x "open\n', /line 2: unclosed quote/);
    refused('client\n', /no remote/);
    refused('remote h 99999\n', /invalid port 99999/);
    refused('remote h\nproto tcp-server\n', /protocol tcp-server is not a client's/);
    refused('remote h\ndev null\n', /dev null is neither tun nor tap/);
    refused('remote h\ntls-crypt\n', /tls-crypt without an inline <tls-crypt> block/);
    refused('remote h\n<tls-crypt>\n' + CERT + '\n</tls-crypt>\n', /<tls-crypt> holds no 2048 bit OpenVPN static key/);
    refused('remote h\n<tls-crypt>\n' + KEY + '\n</tls-crypt>\n<tls-auth>\n' + KEY + '\n</tls-auth>\n', /both tls-auth and tls-crypt/);
    refused('remote h\nkey-direction 2\n', /key direction 2 is not 0 or 1/);
  });
});
