// Real RouterOS scripts run unmodified (issue 12). eworm-de's routeros-scripts — the base of the
// most used RouterOS script collection — are kept verbatim in test/fixtures/scripts/eworm (GPL-3.0,
// with their licence; see the README there) and installed the way their documentation does: each
// file becomes a /system script, global-config and global-functions run, then the feature scripts
// (certificate-renew-issued; check-certificates against a local web server holding the renewal;
// netwatch-dns against a DoH server of the test whose certificate a CA of the appliance issued;
// backup-upload to a second appliance's SFTP and FTP services).
// Scripts whose licence does not let us keep a copy (the IKEv2 auto-script, the Let's Encrypt OS
// script) are covered by test/fixtures/scripts/forms, our own text written in the same forms.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { openssl, openTestApp, tempDir, toPem, type TestApp } from '../support/app.js';
import { certificateDer, privateKey } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { startServer } from '../menus/crl-support.js';
import { IPSEC_ACTIVE_PEERS_PATH } from '../../src/menus/ip/ipsec.js';
import { NO_UPDATE_SERVER } from '../../src/menus/system/package.js';
import { startNetwatch } from '../../src/services/netwatch.js';
import { missingTools } from '../support/tools.js';
import { issueDohCertificate, startDnsApp } from './doh-support.js';
import { startDohServer } from './doh-server.js';
import { startSshApp } from '../services/ssh-support.js';
import { freePort } from '../services/support.js';
import { BACKUP_MAGIC } from '../../src/store/backup.js';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'scripts');
const EWORM = [
  'global-config', 'global-functions', 'certificate-renew-issued', 'check-certificates', 'check-routeros-update', 'ipsec-to-dns',
  'netwatch-dns', 'netwatch-notify', 'backup-upload',
];
const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'rospki.js');

/** A console of `admin` on the appliance; `run` fails the test on an error and returns the output. */
async function console_(t: TestApp) {
  let out = '';
  const cs = await ConsoleSession.open(t.app, { user: 'admin', output: (text) => { out += text; } });
  return {
    async run(source: string): Promise<string> {
      out = '';
      const r = await cs.run(source);
      assert.ok(r.ok, `${source.slice(0, 80)}: ${r.ok ? '' : r.error}\n${out}`);
      return out;
    },
  };
}

/** Copies files into the appliance's /file store, owner-only like everything it keeps. */
function putFiles(t: TestApp, dir: string, names: string[]): void {
  fs.mkdirSync(t.app.dataDir.filesDir, { recursive: true, mode: 0o700 });
  for (const name of names) {
    fs.copyFileSync(path.join(dir, name), path.join(t.app.dataDir.filesDir, name));
    fs.chmodSync(path.join(t.app.dataDir.filesDir, name), 0o600);
  }
}

/** eworm's scripts as their installation makes them: each script from its text, then the global ones run. */
async function installEworm(t: TestApp): Promise<Awaited<ReturnType<typeof console_>>> {
  const c = await console_(t);
  putFiles(t, path.join(FIXTURES, 'eworm'), EWORM.map((n) => `${n}.rsc`));
  await c.run(`:foreach Name in={${EWORM.map((n) => `"${n}"`).join(';')}} do={
    /system/script/add name=$Name owner=admin source=[ /file/get ($Name . ".rsc") contents ] \\
      policy=ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon
  }`);
  assert.match(await c.run('/system/script/run global-config; /system/script/run global-functions'), /Loaded on rospki with RouterOS 7\.\d+/);
  return c;
}

describe("eworm-de's routeros-scripts, unmodified", () => {
  let t: TestApp;
  let c: Awaited<ReturnType<typeof console_>>;

  before(async () => {
    t = await openTestApp();
    c = await installEworm(t);
  });
  after(() => t.close());

  test('every script passes the import check', async () => {
    for (const name of EWORM) assert.equal(await c.run(`/import file-name=${name}.rsc dry-run`), 'No syntax errors found in the import file\n');
  });

  test('global-functions is ready, and its functions answer in the console of the same user', async () => {
    assert.equal(await c.run(':global GlobalFunctionsReady; :global GlobalConfigReady; :put "$GlobalConfigReady $GlobalFunctionsReady"'), 'true true\n');
    const put = (call: string, globals: string) => c.run(`:global ${globals}; :put [${call}]`);
    assert.equal(await put('$CharacterReplace "a-b-c" "-" "+"', 'CharacterReplace'), 'a+b+c\n');
    assert.equal(await put('$EitherOr "" "fallback"', 'EitherOr'), 'fallback\n');
    assert.equal(await put('$HexToNum "ff"', 'HexToNum'), '255\n');
    assert.equal(await put('$ParseKeyValueStore "a=1,b=2,c"', 'ParseKeyValueStore'), 'a=1;b=2;c=true\n');
    assert.equal(await put('$ValidateSyntax ":put 1"', 'ValidateSyntax'), 'true\n');
    assert.equal(await put('$ValidateSyntax ":put ("', 'ValidateSyntax'), 'false\n');
    assert.equal(await put('$EscapeForRegEx "a.b*c"', 'EscapeForRegEx'), 'a\\.b\\*c\n');
    assert.equal(await put('$RequiredRouterOS "test" "7.1"', 'RequiredRouterOS'), 'true\n');
    assert.match(await put('$DeviceInfo', 'DeviceInfo'), /Hostname: +MikroTik\n[\s\S]*Installed: +7\.\d+\.\d+/);
  });

  test('$MkDir "tmpfs/…" makes the RAM disk (/disk add type=tmpfs) and a folder in it', async () => {
    // The script logs (and prints) what it does; its answer is the last line.
    assert.match(await c.run(':global MkDir; :put [$MkDir "tmpfs/x"]'), /Creating disk of type tmpfs\.\n(?:.*\n)*true\n$/);
    assert.equal(await c.run(':put [/disk/get [find where slot=tmpfs type=tmpfs] disabled]'), 'false\n');
    // A third of the memory, as the script asks (total-memory / 3).
    assert.equal(await c.run(':put ([/disk/get tmpfs tmpfs-max-size] = ([/system/resource/get total-memory] / 3))'), 'true\n');
    assert.equal(await c.run(':put [/file/get tmpfs type]; :put [/file/get tmpfs/x type]'), 'disk\ndirectory\n');
    assert.ok(fs.statSync(path.join(t.app.dataDir.filesDir, 'tmpfs', 'x')).isDirectory());
    // Once there, the disk is used as it is; a disabled one is enabled again.
    await c.run('/disk/disable tmpfs');
    assert.match(await c.run(':global MkDir; :put [$MkDir "tmpfs/y"]; :put [/disk/get tmpfs disabled]; :put [/file/get tmpfs/y type]'),
      /The tmpfs is disabled, enabling\.\n(?:.*\n)*true\nfalse\ndirectory\n$/);
    assert.equal(await c.run(':put [:len [/disk/find where type=tmpfs]]'), '1\n');
  });

  test('$FetchHuge downloads into tmpfs, reads the file back in chunks and removes its folder', async () => {
    const srv = await startServer();
    try {
      // Larger than three chunks of /file/read (32768 bytes each), not a multiple of one.
      const body = Array.from({ length: 4000 }, (_, i) => `line ${String(i).padStart(5, '0')} of the huge list.\n`).join('');
      assert.ok(body.length > 3 * 32768);
      srv.routes.set('/huge.txt', (_q, r) => r.end(body));
      await c.run(`:global FetchHuge; :global Huge [$FetchHuge "test-script" "${srv.url('/huge.txt')}" false]`);
      assert.equal(await c.run(':global Huge; :put [:len $Huge]'), `${body.length}\n`);
      assert.equal(await c.run(':global Huge; :put [:pick $Huge 0 40]; :put [:pick $Huge ([:len $Huge] - 30) [:len $Huge]]'),
        `${body.slice(0, 40)}\n${body.slice(-30)}\n`);
      assert.deepEqual(srv.requests, ['GET /huge.txt']);
      // Its folder tmpfs/test-script is gone; the disk stays.
      assert.equal(await c.run(':put [:len [/file/find where name~"^tmpfs/test-script"]]; :put [/file/get tmpfs type]'), '0\ndisk\n');
      // A file past the disk's size fails, and FetchHuge says so with false.
      await c.run('/disk/remove tmpfs; /disk/add slot=tmpfs type=tmpfs tmpfs-max-size=65536');
      assert.equal(await c.run(`:global FetchHuge; :put [$FetchHuge "test-script" "${srv.url('/huge.txt')}" false]`), 'false\n');
      assert.match(await c.run(`:onerror e { /tool/fetch url="${srv.url('/huge.txt')}" dst-path=tmpfs/huge.txt } do={ :put $e }`),
        /not enough disk space on tmpfs \(tmpfs-max-size reached\)\n$/);
      assert.equal(await c.run(':put [:len [/file/find where name~"^tmpfs/"]]'), '0\n');
    } finally {
      await srv.close();
    }
  });

  test('certificate-renew-issued renews what expires within three weeks, revokes the old one and exports the new one', async () => {
    await c.run(`/certificate/add name=ca common-name="Script CA" key-usage=key-cert-sign,crl-sign
      /certificate/sign ca
      /certificate/add name=srv common-name=srv.example subject-alt-name=DNS:srv.example days-valid=10 key-usage=digital-signature,tls-server
      /certificate/sign srv ca=ca
      /certificate/add name=later common-name=later.example days-valid=365
      /certificate/sign later ca=ca
      :global CertIssuedExportPass; :set ($CertIssuedExportPass->"srv.example") "v3ry-s3cret"`);
    const oldFingerprint = (await c.run(':put [/certificate/get srv fingerprint]')).trim();
    assert.match(await c.run('/system/script/run certificate-renew-issued'), /Issued a new certificate for 'srv\.example', exported to 'cert-issued\/srv\.example\.p12'\./);
    // The old row: revoked (flag R), renamed after today's date; the new one under the old name.
    const revokedName = (await c.run(':put [/certificate/get [find where fingerprint=' + JSON.stringify(oldFingerprint) + '] name]')).trim();
    assert.match(revokedName, /^srv-revoked-2026-01-01$/);
    assert.match(await c.run(`:put [/certificate/get ${revokedName} revoked]`), /^2026-01-01 00:00:00\n$/, 'revoked (its revocation time)');
    assert.equal(await c.run(':put [/certificate/get srv ca]; :put [/certificate/get srv subject-alt-name]'), 'ca\nDNS:srv.example\n');
    assert.notEqual((await c.run(':put [/certificate/get srv fingerprint]')).trim(), oldFingerprint);
    // `later` does not expire soon: untouched.
    assert.equal(await c.run(':put [:len [/certificate/find where name~"^later"]]'), '1\n');
    // The exported bundle opens with its passphrase and chains to the CA, as openssl sees it.
    const dir = tempDir('rospki-eworm-');
    try {
      const p12 = path.join(t.app.dataDir.filesDir, 'cert-issued', 'srv.example.p12');
      const pem = openssl(['pkcs12', '-in', p12, '-passin', 'pass:v3ry-s3cret', '-nokeys', '-clcerts']);
      fs.writeFileSync(path.join(dir, 'srv.pem'), pem);
      await c.run('/certificate/export-certificate ca file-name=ca-export');
      const caPem = fs.readFileSync(path.join(t.app.dataDir.filesDir, 'ca-export.crt'));
      fs.writeFileSync(path.join(dir, 'ca.pem'), caPem);
      assert.match(openssl(['verify', '-CAfile', path.join(dir, 'ca.pem'), path.join(dir, 'srv.pem')]), /: OK/);
      assert.match(openssl(['x509', '-in', path.join(dir, 'srv.pem'), '-noout', '-subject']), /CN ?= ?srv\.example/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  test('check-certificates fetches the renewed certificate, imports it with its key, rebinds www-ssl and takes the old name', async () => {
    // A certificate of an outside CA (openssl) that expires within CertRenewTime (2w), bound to
    // www-ssl; its renewal (same names, a year) waits on a web server as PEM with the key
    // encrypted by a passphrase of CertRenewPass, where the script looks for it.
    const dir = tempDir('rospki-check-certificates-');
    const srv = await startServer();
    try {
      const f = (name: string) => path.join(dir, name);
      // `openssl ca` sets the validity by dates around the appliance's fixed clock (2026-01-01).
      fs.writeFileSync(f('index.txt'), '');
      fs.writeFileSync(f('ca.cnf'), `[ca]\ndefault_ca=outside\n[outside]\ndatabase=${f('index.txt')}\nnew_certs_dir=${dir}\nrand_serial=yes\nunique_subject=no\ndefault_md=sha256\npolicy=any\n[any]\ncommonName=supplied\n[root]\nbasicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n[server]\nsubjectAltName=DNS:web.example\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\n`);
      const sign = (name: string, end: string, opts: string[]) => {
        openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', name === 'ca' ? '/CN=Outside CA' : '/CN=web.example']);
        openssl(['ca', '-batch', '-notext', '-config', f('ca.cnf'), '-in', f(`${name}.csr`), '-out', f(`${name}.crt`), '-startdate', '20251201000000Z', '-enddate', end, ...opts]);
      };
      sign('ca', '20360101000000Z', ['-selfsign', '-keyfile', f('ca.key'), '-extensions', 'root']);
      sign('old', '20260111000000Z', ['-cert', f('ca.crt'), '-keyfile', f('ca.key'), '-extensions', 'server']);
      sign('new', '20270101000000Z', ['-cert', f('ca.crt'), '-keyfile', f('ca.key'), '-extensions', 'server']);
      openssl(['pkcs8', '-topk8', '-in', f('new.key'), '-passout', 'pass:v3ry-s3cr3t', '-out', f('new.enc')]);
      fs.writeFileSync(path.join(t.app.dataDir.filesDir, 'web.pem'), Buffer.concat([f('old.crt'), f('old.key')].map((x) => fs.readFileSync(x))), { mode: 0o600 });
      fs.writeFileSync(path.join(t.app.dataDir.filesDir, 'outside-ca.crt'), fs.readFileSync(f('ca.crt')), { mode: 0o600 });
      await c.run(`/certificate/import file-name=outside-ca.crt passphrase=""
        /certificate/import file-name=web.pem passphrase="" name=web
        /ip/service/set www-ssl certificate=web`);
      const oldFingerprint = (await c.run(':put [/certificate/get web fingerprint]')).trim();
      const renewed = Buffer.concat([f('new.crt'), f('new.enc')].map((x) => fs.readFileSync(x)));
      srv.routes.set('/certs/web.example.pem', (_q, r) => r.end(renewed));
      // No DNS service runs in this appliance (:resolve answers from this host only), so the
      // check that the router is online (default route, time, resolving eworm's own name) is
      // declared done here, as it is on a connected router.
      await c.run(`:global CertRenewUrl "${srv.url('/certs/')}"; :global WaitFullyConnected do={ :return true }`);
      await c.run('/system/script/run check-certificates');
      assert.deepEqual(srv.requests, ['GET /certs/web.example.p12', 'GET /certs/web.example.pem']);
      // The renewed certificate, with its key, under the old name and bound to www-ssl; the old one gone.
      assert.equal(await c.run(':put [/certificate/get web private-key]; :put [/ip/service/get www-ssl certificate]'), 'true\nweb\n');
      assert.notEqual((await c.run(':put [/certificate/get web fingerprint]')).trim(), oldFingerprint);
      assert.equal(await c.run(`:put [:len [/certificate/find where fingerprint="${oldFingerprint}"]]`), '0\n');
      assert.match(await c.run(':put [/certificate/get web expires-after]'), /^5[12]w/);
      assert.match(await c.run('/log/print where message~"check-certificates"'), /The certificate 'web' has been renewed\./);
      // The downloaded file was removed by the script ($RmFile).
      assert.equal(await c.run(':put [:len [/file/find where name~"web.example"]]'), '0\n');
    } finally {
      await srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  test('ipsec-to-dns adds a DNS entry per IPsec peer above its marker (add place-before=), and removes it when the peer goes', async () => {
    // An entry of the user's own, then the script's disabled NXDOMAIN marker below it (first run).
    await c.run('/ip/dns/static/add name=own.example address=192.0.2.9');
    await c.run(':global Domain "vpn.example"; :global PrefixInZone true; :global HostNameInZone false');
    // A road warrior connected, as the IPsec service records it from charon (CN=… identity, mode-config address).
    const peer = await t.app.store.write((tx) => tx.insert(IPSEC_ACTIVE_PEERS_PATH, {
      id: 'CN=laptop.example.org', 'remote-address': '198.51.100.7', 'dynamic-address': '10.0.88.2', state: 'established', side: 'responder',
    }));
    await c.run('/system/script/run ipsec-to-dns');
    const names = ':foreach E in=[ /ip/dns/static/find ] do={ :put [ /ip/dns/static/get $E name ] }';
    // In list order: the new entry went before the marker, not to the end.
    assert.equal(await c.run(names), 'own.example\nlaptop.ipsec.vpn.example\n--- ipsec-to-dns above ---\n');
    assert.equal(await c.run(`:local E [ /ip/dns/static/find where name="laptop.ipsec.vpn.example" ]
      :put [ /ip/dns/static/get $E address ]; :put [ /ip/dns/static/get $E ttl ]; :put [ /ip/dns/static/get $E comment ]`),
    '10.0.88.2\n00:05:00\nmanaged by ipsec-to-dns for laptop.example.org\n');
    assert.equal(await c.run(':put [ /ip/dns/static/get [ find where name="--- ipsec-to-dns above ---" ] type ]; :put [ /ip/dns/static/get [ find where type=NXDOMAIN ] disabled ]'), 'NXDOMAIN\ntrue\n');
    assert.match(await c.run('/log/print where message~"ipsec-to-dns"'), /Added disabled static dns record with name '--- ipsec-to-dns above ---'\./);
    // Run again with the peer still there: nothing changes (one marker, one entry).
    await c.run('/system/script/run ipsec-to-dns');
    assert.equal(await c.run(names), 'own.example\nlaptop.ipsec.vpn.example\n--- ipsec-to-dns above ---\n');
    // The peer has gone: its entry goes too.
    await t.app.store.write((tx) => tx.remove(IPSEC_ACTIVE_PEERS_PATH, peer));
    await c.run('/system/script/run ipsec-to-dns');
    assert.equal(await c.run(names), 'own.example\n--- ipsec-to-dns above ---\n');
    assert.match(await c.run('/log/print where message~"ipsec-to-dns"'), /Peer laptop\.example\.org \(laptop\.ipsec\.vpn\.example\) has gone, deleting DNS entry\./);
  });

  test('check-routeros-update reaches no update server: it says so and installs nothing', async () => {
    await c.run(':global WaitFullyConnected do={ :return true }');
    await c.run('/system/script/run check-routeros-update');
    // check-for-updates recorded why there is no latest version; the script saw the empty version.
    assert.equal(await c.run(':put [ /system/package/update/get status ]; :put [ :len [ /system/package/update/get latest-version ] ]'), `${NO_UPDATE_SERVER}\n0\n`);
    assert.match(await c.run('/log/print where message~"check-routeros-update"'), /check-routeros-update: Received an empty version string from server\./);
    assert.doesNotMatch(await c.run('/log/print where message~"check-routeros-update"'), /error|failed/i);
    // The command it installs with is there and refuses, never a pretend update.
    assert.match(await c.run(':onerror E { /system/package/update/install without-paging } do={ :put $E }'), /no update server reachable from rospki/);
    // Its neighbour check finds no neighbour, and its question on a terminal gets no key here.
    assert.equal(await c.run(':put [ :len [ /ip/neighbor/find where platform="MikroTik" ] ]; :put [ /terminal/inkey timeout=1s ]'), '0\n65535\n');
    // On a terminal the key typed is the answer: `y` is yes to its "[y/N]" (`% 32 = 25`).
    let out = '';
    const terminal = await ConsoleSession.open(t.app, { user: 'admin', output: (x) => { out += x; }, prompt: async () => 'y' });
    assert.ok((await terminal.run(':put (([ /terminal/inkey timeout=60 ] % 32) = 25)')).ok, out);
    assert.equal(out, 'true\n');
  });

  test('netwatch-notify runs over /tool netwatch: entries without a probe result (unknown) are left alone', async () => {
    await c.run('/tool/netwatch/add host=192.0.2.1 comment="notify, name=gateway, resolve=gw.example"; /tool/netwatch/add host=192.0.2.2 type=tcp-conn port=443 comment="notify, name=web"');
    await c.run('/system/script/run netwatch-notify');
    // No netwatch runs in this appliance (the daemon starts it): every entry stays `unknown`, which the script skips (no state kept, no notification).
    assert.equal(await c.run(':foreach H in=[ /tool/netwatch/find ] do={ :put [ /tool/netwatch/get $H status ] }'), 'unknown\nunknown\n');
    assert.equal(await c.run(':global NetwatchNotify; :put [ :typeof $NetwatchNotify ]; :put [ :len $NetwatchNotify ]'), 'array\n0\n');
    // Nothing said about a host, no error: only the script's own debug line.
    assert.doesNotMatch(await c.run('/log/print where message~"netwatch-notify"'), /netwatch-notify: |error/);
    assert.equal(await c.run(':put [ :typeof [ /tool/netwatch/get [ find where comment~"gateway" ] host ] ]'), 'ip\n');
  });

  test('netwatch-notify over probed entries: a service that answers counts up, one that does not counts down', async () => {
    const open = net.createServer((sock) => sock.destroy());
    await new Promise<void>((r) => open.listen(0, '127.0.0.1', r));
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const nw = startNetwatch(t.app, { pollMs: 100 });
    try {
      const now = 'interval=1s start-delay=0s startup-delay=0s timeout=1s';
      // The comments as netwatch-notify's manual writes them (a space after each comma).
      await c.run(`/tool/netwatch/add host=127.0.0.1 type=tcp-conn port=${(open.address() as net.AddressInfo).port} ${now} comment="notify, name=svc-up"
        /tool/netwatch/add host=127.0.0.1 type=tcp-conn port=${closedPort} ${now} comment="notify, name=svc-down"`);
      const deadline = Date.now() + 20_000;
      while ((await c.run(':put [ :len [ /tool/netwatch/find where comment~"svc-" status!="unknown" ] ]')) !== '2\n') {
        assert.ok(Date.now() < deadline, 'both entries tested');
        await new Promise((r) => setTimeout(r, 50));
      }
      await c.run('/system/script/run netwatch-notify');
      assert.equal(await c.run(':global NetwatchNotify; :put ($NetwatchNotify->"svc-up"->"count-up"); :put ($NetwatchNotify->"svc-down"->"count-down")'), '1\n1\n');
      assert.match(await c.run('/log/print where message~"svc-down"'), /The service 'svc-down' \(127\.0\.0\.1\) is down for 1 checks, 4 to go\./);
    } finally {
      await nw.stop();
      await c.run('/tool/netwatch/remove [ find where comment~"svc-" ]');
      open.close();
    }
  });

  test('backup-upload saves a backup, an export and global-config-overlay in tmpfs and uploads them over sftp and ftp', async () => {
    // The server: a second appliance with its ssh (SFTP) and ftp services, user `backup`.
    const peer = await startSshApp();
    try {
      const ftpPort = await freePort();
      await peer.run('/ip/service', 'set', { numbers: 'ftp', port: String(ftpPort), disabled: 'no' });
      await peer.services.reconcile();
      await peer.run('/user', 'add', { name: 'backup', group: 'full', password: 'up-load' });
      await peer.run('/file', 'add', { name: 'sftp', type: 'directory' });
      await peer.run('/file', 'add', { name: 'ftp', type: 'directory' });
      await c.run('/ppp/secret/add name=vpnuser password=ppp-s3cret');
      // A tmpfs as $MkTmpfs makes it (the $FetchHuge test above leaves a small one).
      await c.run('/disk/remove [find where slot=tmpfs]');
      // No default route, internet DNS nor NTP here (as for check-certificates above).
      await c.run(':global WaitFullyConnected do={ :return true }');
      for (const [dir, url] of [['sftp', `sftp://127.0.0.1:${peer.sshPort}/sftp`], ['ftp', `ftp://127.0.0.1:${ftpPort}/ftp`]] as const) {
        // As the manual configures it: global-config-overlay, loaded by global-config.
        const overlay = [
          ':global BackupSendBinary true;', ':global BackupSendExport true;', ':global BackupSendGlobalConfig true;',
          ':global BackupPassword "v3ry-s3cr3t";', `:global BackupUploadUrl "${url}";`, ':global BackupUploadUser "backup";',
          ':global BackupUploadPass "up-load";', '',
        ].join('\n');
        const exists = await c.run(':put [:len [/system/script/find where name=global-config-overlay]]');
        if (exists === '0\n') await t.run('/system/script', 'add', { name: 'global-config-overlay', source: overlay });
        else await t.run('/system/script', 'set', { numbers: 'global-config-overlay', source: overlay });
        await c.run('/system/script/run global-config');
        await c.run('/system/script/run backup-upload');
        const log = await c.run('/log/print where message~"backup-upload"');
        const got = (ext: string) => {
          const file = path.join(peer.app.dataDir.filesDir, dir, `MikroTik-example-com.${ext}`);
          assert.ok(fs.existsSync(file), `${dir}: no .${ext} arrived\n${log}`);
          return fs.readFileSync(file);
        };
        // A rospki backup, which the peer loads back with the password (and not without it).
        assert.ok(got('backup').subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC));
        await assert.rejects(peer.run('/system/backup', 'load', { name: `${dir}/MikroTik-example-com.backup`, password: 'wrong' }));
        // The export, with the sensitive values the script asked for; the overlay as it is.
        assert.match(got('rsc').toString(), /\/ppp secret add name=vpnuser password=ppp-s3cret/);
        assert.match(got('conf').toString(), /:global BackupUploadUrl "\w*ftp:\/\/127\.0\.0\.1/);
        // tmpfs is cleaned; nothing failed; no credential in the log.
        assert.equal(await c.run(':put [:len [/file/find where name~"^tmpfs/backup-upload"]]'), '0\n');
        assert.doesNotMatch(log, /failed|error|up-load|v3ry-s3cr3t/i, log);
        assert.match(log, /\$RmFile: Removing file: tmpfs\/backup-upload\/MikroTik-example-com\.conf\n(?:.*\n)*.*\$RmDir: Removing directory: tmpfs\/backup-upload\n/);
      }
      // The backup restores on the peer with its password (the peer becomes the backed-up router).
      await assert.rejects(peer.run('/ppp/secret', 'get', { number: 'vpnuser', 'value-name': 'password' }));
      await peer.run('/system/backup', 'load', { name: 'sftp/MikroTik-example-com.backup', password: 'v3ry-s3cr3t' });
      assert.equal(await peer.run('/ppp/secret', 'get', { number: 'vpnuser', 'value-name': 'password' }).then((r) => String(r.ret)), 'ppp-s3cret');
    } finally {
      await peer.stop();
    }
  });

  test('netwatch-dns: after the settle time, sets the DoH server netwatch finds up and that answers its check; disables it when it goes down; one with an untrusted certificate is not set', async () => {
    // The DoH server's certificate is issued by a CA of this appliance (SAN IP:127.0.0.1, the
    // URL's host), so fetch's check-certificate=yes-without-crl trusts it through rospki's trust.
    const pki = await issueDohCertificate(t, 'nwdns-doh');
    const doh = await startDohServer({ key: pki.key, cert: pki.cert, http1Only: true });
    const url = `https://127.0.0.1:${doh.port}/dns-query`;
    const nw = startNetwatch(t.app, { pollMs: 100 });
    const log = async () => c.run('/log/print where message~"netwatch-dns"');
    try {
      await c.run(`/tool/netwatch/add host=127.0.0.1 type=tcp-conn port=${doh.port} interval=1s start-delay=0s startup-delay=0s timeout=1s \\
        comment="doh, doh-url=${url}, doh-cert=doh test root"`);
      const waitStatus = async (status: string) => {
        const deadline = Date.now() + 20_000;
        while ((await c.run(':put [ /tool/netwatch/get [ find where comment~"doh-url" ] status ]')) !== `${status}\n`) {
          assert.ok(Date.now() < deadline, `netwatch says ${status}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await waitStatus('up');
      // A router up for less than 5m30s: the script waits for netwatch to settle and sets nothing.
      await c.run('/system/script/run netwatch-dns');
      assert.match(await log(), /netwatch-dns: System just booted, giving netwatch 00:0[0-5]:\d\d to settle\./);
      assert.equal(await c.run(':put [ :len [ /ip/dns/get use-doh-server ] ]'), '0\n');
      assert.equal(doh.queries, 0);
      // Six minutes later the check query goes out (GET ?dns=…) and its TXT answer says OK.
      t.clock.advance(6 * 60_000);
      await c.run('/system/script/run netwatch-dns');
      assert.equal(await c.run(':put [ /ip/dns/get use-doh-server ]; :put [ /ip/dns/get verify-doh-cert ]'), `${url}\ntrue\n`);
      assert.equal(doh.queries, 1);
      assert.match(await log(), new RegExp(`netwatch-dns: Setting DoH server: ${url.replace(/[.:/]/g, '\\$&')}`));
      assert.doesNotMatch(await log(), /warning|failed|error/i);
      // The server goes away: netwatch sees it down, the script disables it and sets no other.
      await doh.close();
      await waitStatus('down');
      await c.run('/system/script/run netwatch-dns');
      assert.equal(await c.run(':put [ :len [ /ip/dns/get use-doh-server ] ]'), '0\n');
      assert.match(await log(), new RegExp(`netwatch-dns: Current DoH server is down or not resolving, disabling: ${url.replace(/[.:/]/g, '\\$&')}`));
      // A DoH server up for netwatch whose certificate comes from a CA this router does not trust
      // (trusted=no): the check request fails (check-certificate), so it is not set.
      await c.run(`/certificate/add name=stranger-ca common-name="Stranger CA" key-usage=key-cert-sign,crl-sign
        /certificate/sign stranger-ca
        /certificate/set stranger-ca trusted=no
        /certificate/add name=stranger common-name=stranger.test subject-alt-name=IP:127.0.0.1 key-usage=digital-signature,tls-server
        /certificate/sign stranger ca=stranger-ca`);
      const strangerPki = await t.app.store.read((tx) => {
        const row = (n: string) => tx.findBy(CERT_PATH, 'name', n)[0]!;
        const key = privateKey(t.app.env, tx, row('stranger').id, String(row('stranger').data.fingerprint))!;
        return { key: key.export({ type: 'pkcs8', format: 'pem' }) as string, cert: toPem(certificateDer(tx, row('stranger').id)!) + toPem(certificateDer(tx, row('stranger-ca').id)!) };
      });
      const stranger = await startDohServer({ ...strangerPki, http1Only: true });
      try {
        const strangerUrl = `https://127.0.0.1:${stranger.port}/dns-query`;
        await c.run(`/tool/netwatch/remove [ find where comment~"doh-url" ]
          /tool/netwatch/add host=127.0.0.1 type=tcp-conn port=${stranger.port} interval=1s start-delay=0s startup-delay=0s timeout=1s comment="doh, doh-url=${strangerUrl}"`);
        await waitStatus('up');
        await c.run('/system/script/run netwatch-dns');
        assert.equal(await c.run(':put [ :len [ /ip/dns/get use-doh-server ] ]'), '0\n');
        assert.match(await log(), new RegExp(`netwatch-dns: Request to DoH server ${strangerUrl.replace(/[.:/]/g, '\\$&')} failed: .*no trusted CA certificate found`));
        assert.equal(stranger.queries, 0);
      } finally {
        await stranger.close();
      }
    } finally {
      await nw.stop();
      await doh.close();
      await c.run('/tool/netwatch/remove [ find where comment~"doh-url" ]; /ip/dns/set use-doh-server=""');
    }
  });

  test('netwatch-dns: /ip dns servers follow the netwatch entries marked dns that are up, else those marked dns-fallback', async () => {
    // Two listeners stand for DNS servers netwatch probes (tcp-conn): one on 127.0.0.1, the fallback on ::1.
    const listen = async (host: string) => {
      const srv = net.createServer((sock) => sock.destroy());
      await new Promise<void>((r) => srv.listen(0, host, r));
      return srv;
    };
    const primary = await listen('127.0.0.1');
    const fallback = await listen('::1');
    const port = (srv: net.Server) => (srv.address() as net.AddressInfo).port;
    const nw = startNetwatch(t.app, { pollMs: 100 });
    const now = 'interval=1s start-delay=0s startup-delay=0s timeout=1s';
    const statuses = () => c.run(':foreach H in=[ /tool/netwatch/find where comment~"^dns" ] do={ :put [ /tool/netwatch/get $H status ] }');
    const waitStatuses = async (want: string) => {
      const deadline = Date.now() + 20_000;
      while ((await statuses()) !== want) {
        assert.ok(Date.now() < deadline, `netwatch says ${want}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      t.clock.advance(6 * 60_000);
      await c.run(`/tool/netwatch/add host=127.0.0.1 type=tcp-conn port=${port(primary)} ${now} comment="dns"
        /tool/netwatch/add host=::1 type=tcp-conn port=${port(fallback)} ${now} comment="dns-fallback"`);
      await waitStatuses('up\nup\n');
      await c.run('/system/script/run netwatch-dns');
      assert.equal(await c.run(':put [ /ip/dns/get servers ]'), '127.0.0.1\n');
      // Unchanged servers are not set again ([/ip/dns/get servers] equals its array of hosts): one line only.
      await c.run('/system/script/run netwatch-dns');
      const updates = (await c.run('/log/print where message~"netwatch-dns: Updating"')).match(/Updating DNS servers: 127\.0\.0\.1\n/g);
      assert.equal(updates?.length, 1);
      // The primary goes away: the fallback takes over.
      await new Promise<void>((r) => primary.close(() => r()));
      await waitStatuses('down\nup\n');
      await c.run('/system/script/run netwatch-dns');
      assert.equal(await c.run(':put [ /ip/dns/get servers ]'), '::1\n');
      assert.match(await c.run('/log/print where message~"netwatch-dns"'), /netwatch-dns: Updating DNS servers to fallback: ::1\n/);
    } finally {
      await nw.stop();
      primary.close();
      fallback.close();
      await c.run('/tool/netwatch/remove [ find where comment~"^dns" ]; /ip/dns/set servers=""');
    }
  });

  test("address-list add dynamic=yes (netwatch-notify's probe entries): kept in RAM, flag D, never exported, not changed by set", async () => {
    await c.run(`/ip/firewall/address-list/add address=gw.example list=netwatch-notify-probe dynamic=yes timeout=30s
      /ipv6/firewall/address-list/add address=gw.example list=netwatch-notify-probe dynamic=yes timeout=30s
      /ip/firewall/address-list/add address=192.0.2.50 list=kept
      /ip/firewall/address-list/add address=192.0.2.51 list=kept dynamic=yes`);
    assert.equal(await c.run(':foreach E in=[ /ip/firewall/address-list/find where list~"^(kept|netwatch)" ] do={ :put ([ /ip/firewall/address-list/get $E address ] . " " . [ /ip/firewall/address-list/get $E dynamic ]) }'),
      'gw.example true\n192.0.2.50 false\n192.0.2.51 true\n');
    assert.equal(await c.run(':put [ /ipv6/firewall/address-list/get [ find where list=netwatch-notify-probe ] dynamic ]'), 'true\n');
    const exported = await c.run('/ip/firewall/address-list/export');
    assert.match(exported, /add address=192\.0\.2\.50 list=kept/);
    assert.doesNotMatch(exported, /192\.0\.2\.51|gw\.example/);
    assert.match(await c.run(':onerror E { /ip/firewall/address-list/set [ find where address=192.0.2.50 ] dynamic=yes } do={ :put $E }'), /can not change dynamic/);
    assert.match(await c.run(':onerror E { /ipv6/firewall/address-list/add address=192.0.2.1 list=v6 } do={ :put $E }'), /invalid value for argument address/);
  });
});

// netwatch-dns exists so that the router's own resolver uses a DoH server that works: here the
// daemon's DNS service runs beside the script (no plain servers, so only the DoH server can
// answer), and what it sets is what the router's `:resolve` then goes through.
describe("eworm-de's netwatch-dns, unmodified, before rospki's DNS resolver", () => {
  test('the DoH server it sets answers the router\'s questions; the next run finds it resolving and keeps it', async () => {
    const t = await startDnsApp();
    const doh = { server: undefined as Awaited<ReturnType<typeof startDohServer>> | undefined };
    const nw = startNetwatch(t.app, { pollMs: 100 });
    try {
      const c = await installEworm(t);
      const pki = await issueDohCertificate(t);
      // Its first check fails (503): the script's :retry asks again, for the .net name.
      const server = doh.server = await startDohServer({ key: pki.key, cert: pki.cert, failFirst: 1 });
      const url = `https://127.0.0.1:${server.port}/dns-query`;
      await c.run(`/tool/netwatch/add host=127.0.0.1 type=tcp-conn port=${server.port} interval=1s start-delay=0s startup-delay=0s timeout=1s \\
        comment="doh, doh-url=${url}"
        :global PrintDebugOverride; :set ($PrintDebugOverride->"netwatch-dns") true`);
      const deadline = Date.now() + 20_000;
      while ((await c.run(':put [ /tool/netwatch/get [ find ] status ]')) !== 'up\n') {
        assert.ok(Date.now() < deadline, 'netwatch says up');
        await new Promise((r) => setTimeout(r, 50));
      }
      t.clock.advance(6 * 60_000);
      // No upstream yet: the router resolves nothing.
      assert.equal(await c.run(':onerror E { :put [ :resolve before.doh.test ] } do={ :put $E }'), 'failure: dns server failure\n');
      await c.run('/system/script/run netwatch-dns');
      assert.equal(await c.run(':put [ /ip/dns/get use-doh-server ]; :put [ /ip/dns/get verify-doh-cert ]'), `${url}\ntrue\n`);
      assert.deepEqual(server.asked, ['doh-check.eworm.de', 'doh-check.eworm.net']);
      await t.services.reconcile();
      // The router's own question goes to that server (its chain judged by the trust store `dns`).
      const checks = server.queries;
      assert.equal(await c.run(':put [ :resolve through-doh.doh.test ]'), '192.0.2.11\n');
      assert.equal(server.queries, checks + 1);
      assert.match(await c.run('/ip/dns/cache/print'), /through-doh\.doh\.test +A +192\.0\.2\.11/);
      // Run again: the current DoH server is up and $IsDNSResolving resolves through it, so it stays.
      await c.run('/system/script/run netwatch-dns');
      assert.equal(await c.run(':put [ /ip/dns/get use-doh-server ]'), `${url}\n`);
      const log = await c.run('/log/print where message~"netwatch-dns"');
      assert.match(log, new RegExp(`netwatch-dns: Current DoH server is still up and resolving: ${url.replace(/[.:/]/g, '\\$&')}`));
      assert.doesNotMatch(log, /disabling|warning|failed/i);
      assert.equal(server.queries, checks + 2, 'low-ttl.eworm.de asked through it');
    } finally {
      await nw.stop();
      await doh.server?.close();
      await t.stop();
    }
  });
});

// check-certificates (eworm-de) warns of certificates about to expire, except those a SCEP server of
// this router renews (`/certificate/scep-server find where ca-cert=…`, issue 15). Before it looks, it
// waits until the router is "fully connected": a default route, time, and `:resolve
// low-ttl.eworm.de`. Tests never leave loopback, so it runs in a cold `rospki -e` inside its own
// network and mount namespaces: only lo, a default route over it, and a hosts table naming
// eworm's two test names, the names rospki's `:resolve` answers from where no DNS service runs
// (src/console/resolve.ts).
// The script itself runs unmodified, as /system script, with the real clock.
describe("eworm-de's check-certificates, unmodified, offline", () => {
  test('warns of a certificate about to expire and skips the one its SCEP server renews', { timeout: 120_000 }, (t) => {
    const probe = spawnSync('unshare', ['--mount', '--net', '--propagation', 'private', '--', 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
    if (probe.status !== 0) { t.skip(missingTools(`needs unshare --mount --net and ip (iproute2): ${(probe.stderr || String(probe.error)).trim()}`)); return; }
    const dir = tempDir('rospki-eworm-check-');
    try {
      const data = path.join(dir, 'data');
      fs.mkdirSync(path.join(data, 'files'), { recursive: true, mode: 0o700 });
      for (const name of ['global-config', 'global-functions', 'check-certificates']) {
        fs.copyFileSync(path.join(FIXTURES, 'eworm', `${name}.rsc`), path.join(data, 'files', `${name}.rsc`));
        fs.chmodSync(path.join(data, 'files', `${name}.rsc`), 0o600);
      }
      fs.writeFileSync(path.join(dir, 'hosts'), '127.0.0.1 localhost\n127.0.0.1 low-ttl.eworm.de low-ttl.eworm.net\n');
      const script = `:foreach Name in={"global-config";"global-functions";"check-certificates"} do={
          /system/script/add name=$Name owner=admin source=[ /file/get ($Name . ".rsc") contents ] \\
            policy=ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon
        }
        /certificate/add name=scep-ca common-name="SCEP CA" key-usage=key-cert-sign,crl-sign
        /certificate/sign scep-ca
        /certificate/scep-server/add ca-cert=scep-ca path=/scep/devices
        /certificate/add name=device common-name=device.example days-valid=3
        /certificate/sign device ca=scep-ca
        /certificate/add name=other-ca common-name="Other CA" key-usage=key-cert-sign,crl-sign
        /certificate/sign other-ca
        /certificate/add name=plain common-name=plain.example days-valid=3
        /certificate/sign plain ca=other-ca
        /system/script/run global-config
        /system/script/run global-functions
        :global PrintDebugOverride; :set ($PrintDebugOverride->"check-certificates") true
        /system/script/run check-certificates
        :put ("plain: " . [ /certificate/get plain invalid-after ])
        :foreach L in=[ /log/find where message~"certificate '" ] do={ :put ("log: " . [ /log/get $L message ]) }`;
      const r = spawnSync('unshare', ['--mount', '--net', '--propagation', 'private', '--', '/bin/sh', '-c',
        'ip link set lo up && ip route add default via 127.0.0.1 dev lo && mount --bind "$0" /etc/hosts && exec node "$1" --data "$2" -e "$3"',
        path.join(dir, 'hosts'), BIN, data, script], { encoding: 'utf8', timeout: 100_000 });
      const out = `${r.stdout}${r.stderr}`;
      assert.equal(r.status, 0, out);
      const invalidAfter = /^plain: (.+)$/m.exec(out)?.[1];
      assert.ok(invalidAfter, out);
      // The certificate of the CA without a SCEP server: warned of (in /log, as the script logs it).
      assert.match(out, new RegExp(`^log: check-certificates: The certificate 'plain' is about to expire, it is invalid after ${invalidAfter}\\.$`, 'm'));
      // The one issued by the CA a SCEP server of this router serves: skipped as handled by SCEP.
      assert.match(out, /Certificate 'device' is handled by SCEP, skipping\./);
      assert.doesNotMatch(out, /The certificate 'device'/);
      assert.doesNotMatch(out, /The certificate '(scep-ca|other-ca)'/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('scripts in the forms of the IKEv2 auto-script (input on the terminal, rollback lists, menu blocks)', () => {
  test('imported as an export of /system script, run from a terminal, it builds the IPsec server and its undo script', async () => {
    const t = await openTestApp();
    try {
      putFiles(t, path.join(FIXTURES, 'forms'), ['ikev2-server.rsc']);
      let out = '';
      const questions: string[] = [];
      const answers = ['vpn.example', '203.0.113.7'];
      const cs = await ConsoleSession.open(t.app, {
        user: 'admin', output: (text) => { out += text; },
        prompt: async (question) => { questions.push(question); return answers.shift() ?? ''; },
      });
      const run = async (source: string) => {
        out = '';
        const r = await cs.run(source);
        assert.ok(r.ok, `${source}: ${r.ok ? '' : r.error}\n${out}`);
        return out;
      };
      assert.equal(await run('/import file-name=ikev2-server.rsc'), 'Script file loaded and executed successfully\n');
      const printed = await run('/system script run ikev2-setup');
      assert.deepEqual(questions, [
        'Domain name of this server (empty: /ip cloud)\nvalue: ',
        'Public address (empty: resolve the name)\nvalue: ',
      ]);
      assert.match(printed, /IKEv2 server vpn\.example on 203\.0\.113\.7 is ready \(5 steps to undo\)\n$/);
      assert.equal(await run(':put [/ip ipsec identity get [find peer="peer-203.0.113.7"] certificate]'), 'vpn.example\n');
      assert.equal(await run(':put [/ip ipsec policy get [find template=yes group="group-vpn.example"] proposal]'), 'proposal-vpn.example\n');
      assert.equal(await run(':put [/ip pool get pool-vpn.example ranges]'), '10.0.88.2-10.0.88.254\n');
      assert.equal(await run(':put [/certificate get vpn.example subject-alt-name]'), 'DNS:vpn.example;IP:203.0.113.7\n');
      // The CA file it exported is the CA openssl verifies the server certificate with.
      const dir = tempDir('rospki-ikev2-');
      try {
        await run('/certificate export-certificate vpn.example file-name=server');
        fs.copyFileSync(path.join(t.app.dataDir.filesDir, 'CA.vpn.example.crt'), path.join(dir, 'ca.pem'));
        fs.copyFileSync(path.join(t.app.dataDir.filesDir, 'server.crt'), path.join(dir, 'server.pem'));
        assert.match(openssl(['verify', '-CAfile', path.join(dir, 'ca.pem'), path.join(dir, 'server.pem')]), /: OK/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      // The undo script it wrote removes what it made, newest first.
      assert.match(await run('/system script run ikev2-remove'), /removing IKEv2/);
      assert.equal(await run(':put [:len [/ip pool find name=pool-vpn.example]]; :put [:len [/interface bridge find name=bridge-vpn]]'), '0\n0\n');
    } finally {
      t.close();
    }
  });
});

describe('scripts in the forms of OpenVPN setup guides (a .rsc of pasted lines)', () => {
  test('imported whole: certificates (a user copied from a signed template), exports, PPP, the OpenVPN server and a NAT rule', async () => {
    const t = await openTestApp();
    try {
      putFiles(t, path.join(FIXTURES, 'forms'), ['ovpn-guide.rsc']);
      const c = await console_(t);
      // Every line is checked before any runs: one unknown menu (`/ip firewall nat`) would stop it all.
      assert.match(await c.run('/import file-name=ovpn-guide.rsc'), /Script file loaded and executed successfully\n$/);
      assert.equal(await c.run(':put [/certificate get USER01 ca]; :put [/certificate get USER01 key-usage]; :put [/certificate get USER01 organization]'), 'CA\ntls-client\nGuide\n');
      assert.equal(await c.run(':put [/interface ovpn-server server get [find] certificate]'), 'SERVER\n');
      assert.equal(await c.run(':put [/ip firewall nat get [find comment="OPENVPN -> LAN"] action]'), 'masquerade\n');
      assert.ok(fs.existsSync(path.join(t.app.dataDir.filesDir, 'cert_export_USER01.key')));
    } finally {
      t.close();
    }
  });
});
