// /interface ovpn-server server on Debian's openvpn, judged by a real openvpn 2.6 client
// (`--dev null`): a client certificate rospki issued plus a /ppp secret logs in; no certificate,
// one of another CA, a revoked one (at its next connection, without a restart) and a wrong
// password are refused; a swapped server certificate is what the next client sees; the row shows
// the daemon's state, /log its logins and refusals, and nothing is left behind when it stops.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { OVPN_CLIENT_PATH, OVPN_SERVER_PATH } from '../../src/menus/interface/ovpn.js';
import { openssl, tempDir } from '../support/app.js';
import { freePort, freeUdpPort, startServiceApp, type ServiceApp } from '../services/support.js';
import { needs } from '../support/tools.js';
import { exportPem, openvpnConnect, processesIn, until, type Attempt } from './openvpn-support.js';

const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'rospki.js');

let s: ServiceApp;
let dir: string;
let port: number;
const files: Record<string, { cert: string; key: string }> = {};
let caFile: string;

const cli = async (line: string): Promise<string> => {
  let out = '';
  const cs = await ConsoleSession.open(s.app, { user: 'admin', output: (text) => { out += text; } });
  const r = await cs.run(line);
  assert.ok(r.ok, `${line}: ${r.error}`);
  return out;
};

const server = () => s.app.store.read((tx) => tx.findBy(OVPN_SERVER_PATH, 'name', 'ovpn1')[0]!.data);
const logText = () => s.app.store.read((tx) => tx.list('/log').map((r) => `${String(r.data.topics)} ${String(r.data.message)}`).join('\n'));
const runDir = async () => path.join(s.dir, 'run', `ovpn-server-${await s.app.store.read((tx) => tx.findBy(OVPN_SERVER_PATH, 'name', 'ovpn1')[0]!.id)}`);

/** Waits until the server row says it runs (the daemon listens, rospki attached). */
const running = () => until(async () => (await server()).running === true, 'the OpenVPN server to run');

before(async () => {
  s = await startServiceApp();
  dir = tempDir('rospki-ovpn-');
  port = await freePort();
  await cli('/certificate add name=ca common-name=vpn-ca key-usage=key-cert-sign,crl-sign key-size=prime256v1; /certificate sign ca');
  for (const [name, usage] of [['vpn', 'tls-server'], ['vpn2', 'tls-server'], ['alice', 'tls-client'], ['bob', 'tls-client']]) {
    await cli(`/certificate add name=${name} common-name=${name}.example.com key-size=prime256v1 key-usage=digital-signature,key-encipherment,${usage}; /certificate sign ${name} ca=ca`);
  }
  for (const name of ['alice', 'bob']) files[name] = await exportPem(s, name, dir);
  caFile = (await exportPem(s, 'ca', dir)).cert;
  // A CA rospki knows nothing of, and a client certificate it issued.
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, 'other.key'),
    '-out', path.join(dir, 'other.crt'), '-subj', '/CN=other CA', '-days', '30', '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=keyCertSign,cRLSign']);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, 'mallory.key'), '-out', path.join(dir, 'mallory.csr'), '-subj', '/CN=mallory']);
  openssl(['x509', '-req', '-in', path.join(dir, 'mallory.csr'), '-CA', path.join(dir, 'other.crt'), '-CAkey', path.join(dir, 'other.key'),
    '-CAcreateserial', '-out', path.join(dir, 'mallory.crt'), '-days', '30']);
  await cli('/ppp secret add name=alice password=alice-pw service=ovpn; /ppp secret add name=bob password=bob-pw');
  await cli(`/interface ovpn-server server add name=ovpn1 port=${port} certificate=vpn require-client-certificate=yes auth=sha256 cipher=aes256-gcm,aes128-cbc disabled=no`);
  await running();
});

after(async () => {
  await s.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a client with a certificate rospki issued and its /ppp secret logs in', async () => {
  const r = await openvpnConnect({ port, dir, ca: caFile, ...files.alice!, user: 'alice', password: 'alice-pw' });
  assert.ok(r.connected, r.log);
  assert.match(r.log, /VERIFY OK: depth=0, CN=vpn\.example\.com/);
  assert.match(r.log, /Peer Connection Initiated/);
  await until(async () => /ovpn,info ovpn1: alice logged in, 127\.0\.0\.1/.test(await logText()), 'the login in /log');
  const secret = await s.app.store.read((tx) => tx.findBy('/ppp/secret', 'name', 'alice')[0]!.data);
  assert.equal(secret['last-caller-id'], '127.0.0.1');
  const row = await cli('/interface ovpn-server server print');
  assert.match(row, /^ 0   name="ovpn1" /m, 'running: not flagged I');
  assert.match(row, /status="running"/);
});

test('refused: no client certificate, one of another CA, a wrong password, a user of another service', async () => {
  const none = await openvpnConnect({ port, dir, ca: caFile, user: 'alice', password: 'alice-pw' });
  assert.ok(!none.connected, none.log);
  const foreign = await openvpnConnect({ port, dir, ca: caFile, cert: path.join(dir, 'mallory.crt'), key: path.join(dir, 'mallory.key'), user: 'alice', password: 'alice-pw' });
  assert.ok(!foreign.connected, foreign.log);
  assert.doesNotMatch(foreign.log, /Peer Connection Initiated/, 'refused in the TLS handshake');
  const wrong = await openvpnConnect({ port, dir, ca: caFile, ...files.alice!, user: 'alice', password: 'guess' });
  assert.ok(!wrong.connected, wrong.log);
  assert.match(wrong.log, /AUTH_FAILED/);
  const stranger = await openvpnConnect({ port, dir, ca: caFile, ...files.alice!, user: 'nobody', password: 'x' });
  assert.match(stranger.log, /AUTH_FAILED/);
  const noPassword = await openvpnConnect({ port, dir, ca: caFile, ...files.alice! });
  assert.ok(!noPassword.connected, 'RouterOS has no certificate-only login');
  await until(async () => {
    const log = await logText();
    return /ovpn,error ovpn1: 127\.0\.0\.1:\d+: user alice authentication failed/.test(log)
      && /ovpn,error ovpn1: 127\.0\.0\.1:\d+: TLS handshake failed: certificate refused: unable to get local issuer certificate/.test(log);
  }, 'the refusals in /log');
  assert.doesNotMatch(await logText(), /guess/, 'no password in /log');
  // bob may use any service, alice only ovpn: both log in.
  assert.ok((await openvpnConnect({ port, dir, ca: caFile, ...files.bob!, user: 'bob', password: 'bob-pw' })).connected);
  await cli('/ppp secret set bob service=sstp');
  assert.match((await openvpnConnect({ port, dir, ca: caFile, ...files.bob!, user: 'bob', password: 'bob-pw' })).log, /AUTH_FAILED/);
  await cli('/ppp secret set bob service=any disabled=yes');
  assert.match((await openvpnConnect({ port, dir, ca: caFile, ...files.bob!, user: 'bob', password: 'bob-pw' })).log, /AUTH_FAILED/);
  await cli('/ppp secret set bob disabled=no');
});

test('issued-revoke refuses the client at its next connection, without restarting the server', async () => {
  assert.ok((await openvpnConnect({ port, dir, ca: caFile, ...files.bob!, user: 'bob', password: 'bob-pw' })).connected);
  const run = await runDir();
  const [pid] = processesIn(run);
  assert.ok(pid, 'the daemon runs in its runtime folder');
  await cli('/certificate issued-revoke bob');
  // The CRL file is rewritten in place (the daemon keeps running); wait until it lists bob.
  const serial = await s.app.store.read((tx) => String(tx.findBy(CERT_PATH, 'name', 'bob')[0]!.data['serial-number']));
  await until(() => {
    try {
      return openssl(['crl', '-in', path.join(run, 'crl.pem'), '-noout', '-text']).toLowerCase().includes(serial.replace(/:/g, '').toLowerCase());
    } catch {
      return false;
    }
  }, 'the CRL to list bob');
  const r = await openvpnConnect({ port, dir, ca: caFile, ...files.bob!, user: 'bob', password: 'bob-pw' });
  assert.ok(!r.connected, r.log);
  await until(async () => /ovpn,error ovpn1: 127\.0\.0\.1:\d+: TLS handshake failed: certificate refused: certificate revoked/.test(await logText()), 'the revocation in /log');
  assert.deepEqual(processesIn(run), [pid], 'the same daemon: no restart for a CRL');
  assert.ok((await openvpnConnect({ port, dir, ca: caFile, ...files.alice!, user: 'alice', password: 'alice-pw' })).connected, 'alice still logs in');
});

test('a new server certificate restarts the daemon; the next client sees it', async () => {
  await cli('/interface ovpn-server server set ovpn1 certificate=vpn2');
  await until(async () => {
    const r = await openvpnConnect({ port, dir, ca: caFile, ...files.alice!, user: 'alice', password: 'alice-pw', timeoutMs: 15_000 });
    return r.connected && /VERIFY OK: depth=0, CN=vpn2\.example\.com/.test(r.log);
  }, 'a client to see vpn2', 60_000);
});

test('the runtime folder is private while the daemon runs and gone when the server is disabled', async () => {
  await running();
  const run = await runDir();
  assert.equal(fs.statSync(run).mode & 0o777, 0o700);
  for (const f of fs.readdirSync(run)) if (f.endsWith('.pem')) assert.equal(fs.statSync(path.join(run, f)).mode & 0o777, 0o600, f);
  assert.match(fs.readFileSync(path.join(run, 'openvpn.conf'), 'utf8'), /^verify-client-cert require$/m);
  await cli('/interface ovpn-server server disable ovpn1');
  await until(async () => !fs.existsSync(run) && processesIn(run).length === 0, 'the daemon to stop and its folder to go');
  const row = await server();
  assert.equal(row.running, undefined);
  assert.equal(await cli(':put [/interface ovpn-server server get ovpn1 status]'), '\n', 'a disabled server has no status');
  await cli('/interface ovpn-server server enable ovpn1');
  await running();
});

test('require-client-certificate=no: a password alone logs in', async () => {
  await cli('/interface ovpn-server server set ovpn1 require-client-certificate=no');
  await until(async () => {
    const r = await openvpnConnect({ port, dir, ca: caFile, user: 'alice', password: 'alice-pw', timeoutMs: 15_000 });
    return r.connected;
  }, 'a client without a certificate to log in', 60_000);
  await cli('/interface ovpn-server server set ovpn1 require-client-certificate=yes');
  await running();
});

test('protocol=udp with tls-version=only-1.2 and one cipher: a UDP client logs in over TLS 1.2; TLS 1.3 only or another cipher is refused', async () => {
  const udp = await freeUdpPort();
  await cli(`/interface ovpn-server server add name=ovpn3 protocol=udp port=${udp} certificate=vpn tls-version=only-1.2 cipher=aes128-gcm auth=sha256 disabled=no`);
  try {
    await until(async () => (await cli(':put [/interface ovpn-server server get ovpn3 status]')) === 'running\n', 'the UDP server to run');
    const login = { port: udp, dir, ca: caFile, ...files.alice!, user: 'alice', password: 'alice-pw', timeoutMs: 20_000 };
    const udpProto = ['--proto', 'udp', '--explicit-exit-notify', '1'];
    // The first datagrams may meet the daemon as it starts: wait (bounded) until a client gets in.
    let ok: Attempt = { connected: false, log: '' };
    await until(async () => (ok = await openvpnConnect({ ...login, extra: udpProto })).connected, 'a UDP client to log in', 60_000)
      .catch((e: Error) => assert.fail(`${e.message}\n${ok.log}`));
    assert.match(ok.log, /Control Channel: TLSv1\.2/);
    // The data channel's cipher, as the server pushed it: the client's own "Data Channel: cipher"
    // line may come after "Initialization Sequence Completed", where the client is stopped.
    assert.match(ok.log, /Data Channel: cipher 'AES-128-GCM'|PUSH_REPLY,[^\n]*\bcipher AES-128-GCM\b/);
    // Over UDP a refused handshake gets no answer: the client gives up after its hand-window.
    const tls13 = await openvpnConnect({ ...login, extra: [...udpProto, '--tls-version-min', '1.3', '--hand-window', '5'] });
    assert.ok(!tls13.connected, tls13.log);
    await until(async () => /ovpn,error ovpn3: 127\.0\.0\.1:\d+: TLS handshake failed: unsupported protocol/.test(await logText()), 'the TLS version refusal in /log');
    const cipher = await openvpnConnect({ ...login, extra: [...udpProto, '--data-ciphers', 'AES-256-GCM'] });
    assert.ok(!cipher.connected, cipher.log);
    assert.match(cipher.log, /AUTH_FAILED,Data channel cipher negotiation failed \(no shared cipher\)/);
  } finally {
    await cli('/interface ovpn-server server remove ovpn3');
  }
});

test('a foreign CA trusted for ovpn: its clients log in without a CRL of it, and are refused once a downloaded CRL lists them', async () => {
  await s.app.files.write('other.crt', fs.readFileSync(path.join(dir, 'other.crt')), s.app.clock.now());
  await cli('/certificate import file-name=other.crt passphrase=""');
  const name = (await cli(':put [/certificate get [find common-name="other CA"] name]')).trim();
  await cli(`/certificate set ${name} trusted=yes`);
  const mallory = { port, dir, ca: caFile, cert: path.join(dir, 'mallory.crt'), key: path.join(dir, 'mallory.key'), user: 'alice', password: 'alice-pw', timeoutMs: 15_000 };
  // The new CA restarts the daemon: wait (bounded) until a client of it gets in.
  await until(async () => (await openvpnConnect(mallory)).connected, 'a client of the foreign CA to log in', 60_000);
  // The foreign CA revokes mallory (openssl ca) and publishes its CRL on 127.0.0.1; rospki downloads it.
  const caDir = path.join(dir, 'other-ca');
  fs.mkdirSync(caDir);
  fs.writeFileSync(path.join(caDir, 'index.txt'), '');
  fs.writeFileSync(path.join(caDir, 'ca.cnf'), `[ca]\ndefault_ca = other\n[other]\ndatabase = ${path.join(caDir, 'index.txt')}\ndefault_md = sha256\ndefault_crl_days = 30\n`);
  const caArgs = ['-config', path.join(caDir, 'ca.cnf'), '-cert', path.join(dir, 'other.crt'), '-keyfile', path.join(dir, 'other.key')];
  openssl(['ca', ...caArgs, '-revoke', path.join(dir, 'mallory.crt')]);
  openssl(['ca', ...caArgs, '-gencrl', '-out', path.join(caDir, 'other.crl')]);
  const crlServer = http.createServer((_req, res) => res.end(fs.readFileSync(path.join(caDir, 'other.crl'))));
  await new Promise<void>((resolve) => crlServer.listen(0, '127.0.0.1', () => resolve()));
  try {
    const url = `http://127.0.0.1:${(crlServer.address() as net.AddressInfo).port}/other.crl`;
    const revocations = async () => (await logText()).match(/ovpn,error ovpn1: 127\.0\.0\.1:\d+: TLS handshake failed: certificate refused: certificate revoked/g)?.length ?? 0;
    const before1 = await revocations();
    await cli(`/certificate crl add url="${url}"; /certificate crl download`);
    await until(async () => !(await openvpnConnect(mallory)).connected && (await revocations()) > before1, 'mallory to be refused as revoked', 60_000);
    assert.ok((await openvpnConnect({ port, dir, ca: caFile, ...files.alice!, user: 'alice', password: 'alice-pw' })).connected, 'alice still logs in');
  } finally {
    crlServer.close();
    await cli(`/certificate crl remove [find]; /certificate remove ${name}`);
  }
});

test('/interface ovpn-client connects to the server and shows R', async () => {
  await cli(`/interface ovpn-client add name=out1 connect-to=127.0.0.1 port=${port} user=alice password=alice-pw certificate=alice cipher=aes256-gcm auth=sha256 disabled=no`);
  await until(async () => (await cli(':put [/interface ovpn-client get out1 running]')) === 'true\n', 'the client to connect');
  assert.equal(await cli(':put [/interface ovpn-client get out1 status]'), 'connected\n');
  assert.match(await cli('/interface ovpn-client print'), /^ 0  R   name="out1"/m);
  await cli('/interface ovpn-client set out1 password=wrong');
  await until(async () => (await cli(':put [/interface ovpn-client get out1 status]')) === 'not running: authentication failed\n', 'the refusal');
  await cli('/interface ovpn-client remove out1');
});

test('a client whose cipher the server does not allow: the server\'s reason in status and /log; fixed, it connects at once', async () => {
  // ovpn1 allows aes256-gcm and aes128-cbc: blowfish128 has no data cipher in common with it.
  await cli(`/interface ovpn-client add name=out2 connect-to=127.0.0.1 port=${port} user=alice password=alice-pw certificate=alice cipher=blowfish128 auth=sha256 disabled=no`);
  try {
    const reason = 'Data channel cipher negotiation failed (no shared cipher)';
    await until(async () => (await cli(':put [/interface ovpn-client get out2 status]')) === `not running: ${reason}\n`, 'the refusal with its reason');
    await until(async () => (await logText()).includes(`ovpn,error out2: the server refused user alice: ${reason}`), 'the reason in /log');
    // The server's side says it too (its login was accepted, then the cipher refused).
    await until(async () => /ovpn,error ovpn1: 127\.0\.0\.1:\d+: no data cipher in common with the client: it offers blowfish128, the server allows aes256-gcm,aes128-cbc/.test(await logText()), 'the server\'s line in /log');
    // A second refusal (openvpn asks for the password again after 5 s) makes the back-off 10 s.
    await until(async () => (await logText()).split(`out2: the server refused user alice: ${reason}`).length > 2, 'a second refusal', 20_000);
    // A new configuration is tried at once, not after the back-off of the old one's refusals.
    const changed = Date.now();
    await cli('/interface ovpn-client set out2 cipher=aes256-gcm');
    await until(async () => (await cli(':put [/interface ovpn-client get out2 status]')) === 'connected\n', 'the client to connect', 20_000).catch(async (e) => { console.log(await cli(':put [/interface ovpn-client get out2 status]'), await logText()); throw e; });
    assert.ok(Date.now() - changed < 8000, `connected ${Date.now() - changed} ms after the change`);
    // The old openvpn, stopped by rospki while it waited for the password, is not an error.
    assert.doesNotMatch(await logText(), /ovpn,error out2: could not read/);
  } finally {
    await cli('/interface ovpn-client remove out2');
  }
});

test('two /interface ovpn-client rows are connected at once; neither opens a TUN device', async () => {
  await cli(`/interface ovpn-client add name=both1 connect-to=127.0.0.1 port=${port} user=alice password=alice-pw certificate=alice cipher=aes256-gcm auth=sha256 disabled=no`);
  await cli(`/interface ovpn-client add name=both2 connect-to=127.0.0.1 port=${port} user=alice password=alice-pw certificate=alice cipher=aes128-cbc auth=sha256 disabled=no`);
  try {
    for (const name of ['both1', 'both2']) {
      await until(async () => (await cli(`:put [/interface ovpn-client get ${name} status]`)) === 'connected\n', `${name} to connect`);
    }
    // --dev null is the control plane only: no client's openvpn holds the TUN/TAP device open (the
    // host's device list is no proof: other tests' servers and veth pairs come and go meanwhile).
    const ids = await s.app.store.read((tx) => ['both1', 'both2'].map((n) => tx.findBy(OVPN_CLIENT_PATH, 'name', n)[0]!.id));
    const pids = ids.flatMap((id) => processesIn(path.join(s.dir, 'run', `ovpn-client-${id}`)));
    assert.equal(pids.length, 2, 'one openvpn per client');
    const opened = pids.flatMap((pid) => fs.readdirSync(`/proc/${pid}/fd`).map((fd) => { try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } }));
    assert.ok(opened.some((f) => f.startsWith('socket:')), 'the fds were read');
    assert.deepEqual(opened.filter((f) => f === '/dev/net/tun'), []);
  } finally {
    await cli('/interface ovpn-client remove both1; /interface ovpn-client remove both2');
  }
});

test('the router clock ahead of the host\'s: the CRL it signs is valid to openvpn too, and clients still log in', async () => {
  await cli('/certificate add name=carl common-name=carl.example.com key-size=prime256v1 key-usage=digital-signature,tls-client; /certificate sign carl ca=ca');
  const run = await runDir();
  const crlText = () => { try { return openssl(['crl', '-in', path.join(run, 'crl.pem'), '-noout', '-text']); } catch { return ''; } };
  const start = s.clock.ms;
  s.clock.ms = Date.now() + 2 * 86_400_000; // /system clock set two days ahead, or an NTP server that says so
  try {
    // A revocation signs the CA's CRL again, now, and openvpn gets it in place.
    const serial = await s.app.store.read((tx) => String(tx.findBy(CERT_PATH, 'name', 'carl')[0]!.data['serial-number']));
    await cli('/certificate issued-revoke carl');
    await until(() => crlText().toLowerCase().includes(serial.replace(/:/g, '').toLowerCase()), 'the CRL to list carl');
    // The CRL's this-update is the router's time, two days ahead of the host's: openvpn runs on the
    // router clock (daemon-clock.ts), which it sees within a second of the move; until then it may
    // find that CRL "not yet valid". (On the host's clock it would refuse every client.)
    let r: Attempt = { connected: false, log: '' };
    await until(async () => (r = await openvpnConnect({ port, dir, ca: caFile, ...files.alice!, user: 'alice', password: 'alice-pw' })).connected,
      'alice to log in', 60_000).catch((e: Error) => assert.fail(`${e.message}\n${r.log}`));
  } finally {
    s.clock.ms = start;
  }
});

test('the CA no longer trusted (or not for ovpn): the server says why it does not run; trusted again, clients log in', async () => {
  for (const [untrust, trust] of [['trusted=no', 'trusted=yes'], ['trust-store=ipsec', 'trust-store=all']] as const) {
    await cli(`/certificate set ca ${untrust}`);
    await until(async () => (await server()).status === 'not running: no CA certificate is trusted for ovpn', `the reason (${untrust})`);
    await cli(`/certificate set ca ${trust}`);
    await running();
    await until(async () => (await openvpnConnect({ port, dir, ca: caFile, ...files.alice!, user: 'alice', password: 'alice-pw' })).connected, 'alice to log in');
  }
});

test('openvpn runs on the router clock: a client certificate expired by it is refused, one issued with the clock ahead of the host\'s is accepted', { skip: needs('libfaketime') }, async () => {
  const DAY = 86_400_000;
  await cli('/certificate add name=dave common-name=dave.example.com key-size=prime256v1 key-usage=digital-signature,tls-client days-valid=1; /certificate sign dave ca=ca');
  await cli('/ppp secret add name=dave password=dave-pw service=ovpn; /ppp secret add name=erin password=erin-pw service=ovpn');
  const dave = await exportPem(s, 'dave', dir);
  const connect = (who: { cert: string; key: string }, user: string) => openvpnConnect({ port, dir, ca: caFile, ...who, user, password: `${user}-pw` });
  // Valid today. (An earlier test moved the clock back: openvpn follows within a second.)
  let before: Attempt = { connected: false, log: '' };
  await until(async () => (before = await connect(dave, 'dave')).connected, 'dave to log in today', 60_000)
    .catch((e: Error) => assert.fail(`${e.message}\n${before.log}`));
  const [pid] = processesIn(await runDir());
  const start = s.clock.ms;
  try {
    // `/system clock set` two days on: dave's certificate (one day) has expired on the router.
    s.clock.ms = Date.now() + 2 * DAY;
    // openvpn sees the new time within a second (daemon-clock.ts): until then dave may still get in.
    await until(async () => {
      if ((await connect(dave, 'dave')).connected) return false;
      return /ovpn,error ovpn1: 127\.0\.0\.1:\d+: TLS handshake failed: certificate refused: certificate has expired: CN=dave\.example\.com/.test(await logText());
    }, 'dave to be refused as expired', 60_000);
    // The others still log in: the CRL rospki signed at the router's time is in force for openvpn.
    const alice = await connect(files.alice!, 'alice');
    assert.ok(alice.connected, alice.log);
    // A certificate issued now, by the router clock (not-before two days ahead of the host's).
    await cli('/certificate add name=erin common-name=erin.example.com key-size=prime256v1 key-usage=digital-signature,tls-client; /certificate sign erin ca=ca');
    const erin = await connect(await exportPem(s, 'erin', dir), 'erin');
    assert.ok(erin.connected, `valid on the router clock: ${erin.log}`);
    assert.deepEqual(processesIn(await runDir()), [pid], 'the daemon followed the clock without a restart');
  } finally {
    s.clock.ms = start;
  }
  // Back on the host's time (the CRL is signed again, with a this-update not in openvpn's future).
  await until(async () => (await connect(files.alice!, 'alice')).connected, 'alice to log in on the host\'s time again', 60_000);
});

test('a port in use: the row says why it does not run, and /log too', async () => {
  const busy = await freePort();
  const net = await import('node:net');
  const blocker = net.createServer().listen(busy, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  try {
    await cli(`/interface ovpn-server server add name=ovpn2 port=${busy} certificate=vpn disabled=no`);
    await until(async () => (await cli(':put [/interface ovpn-server server get ovpn2 status]')).startsWith(`not running: cannot bind to port ${busy}: Address already in use`), 'the bind failure');
    assert.match(await cli('/interface ovpn-server server print where name=ovpn2'), /^ *\d+ I name="ovpn2"/m);
    await until(async () => new RegExp(`ovpn,error ovpn2: cannot bind to port ${busy}`).test(await logText()), 'the failure in /log');
  } finally {
    blocker.close();
    await cli('/interface ovpn-server server remove ovpn2');
  }
});

test('enabling without openvpn installed fails with the package to install and changes nothing', () => {
  const data = tempDir('rospki-noovpn-');
  try {
    const env = { ...process.env, ROSPKI_OPENVPN: path.join(data, 'no-openvpn-here') };
    const r = spawnSync(process.execPath, [BIN, '--data', data, '-e',
      '/interface ovpn-server server add name=x port=11940; :put [/interface ovpn-server server print count-only]; /interface ovpn-server server enable x'], { env, encoding: 'utf8' });
    assert.match(r.stdout + r.stderr, /failure: openvpn is not installed \(Debian package openvpn\)/);
    const after1 = spawnSync(process.execPath, [BIN, '--data', data, '-e', ':put [/interface ovpn-server server get x disabled]'], { env, encoding: 'utf8' });
    assert.equal(after1.stdout, 'true\n', 'still disabled');
    const add = spawnSync(process.execPath, [BIN, '--data', data, '-e', '/interface ovpn-server server add name=y disabled=no'], { env, encoding: 'utf8' });
    assert.match(add.stdout + add.stderr, /failure: openvpn is not installed \(Debian package openvpn\)/);
    const count = spawnSync(process.execPath, [BIN, '--data', data, '-e', ':put [/interface ovpn-server server print count-only]'], { env, encoding: 'utf8' });
    assert.equal(count.stdout, '1\n', 'nothing added');
  } finally {
    fs.rmSync(data, { recursive: true, force: true });
  }
});

/**
 * A reaper for the killed-rospki test: a child subreaper (prctl PR_SET_CHILD_SUBREAPER) that
 * runs one `rospki serve` per line of its stdin (printing its pid, then rospki's own `serving`
 * line once it has started) and waits for every process
 * that ends below it — the openvpn the killed rospki leaves behind becomes its child, not an
 * orphan of init (which in some sandboxes never reaps), so the test leaves no zombie either.
 */
const REAPER = `
import ctypes, os, subprocess, sys, threading
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
done = threading.Event()
def reap():
    while not done.is_set():
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            done.wait(0.05)
threading.Thread(target=reap, daemon=True).start()
for line in sys.stdin:
    p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(p.pid, flush=True)
done.set()
`;

test('an openvpn that a killed rospki left running is stopped when rospki starts again', async () => {
  const data = tempDir('rospki-orphan-');
  const p = await freePort();
  const env = { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' };
  const listening = async () => new Promise<boolean>((resolve) => {
    const c = net.connect(p, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
  const reaper = spawn('python3', ['-c', REAPER, process.execPath, BIN, 'serve', '--data', data], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const pids: number[] = [];
  let serving = 0;
  reaper.stdout.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n')) {
      if (/^\d+$/.test(l)) pids.push(Number(l));
      else if (/ serving /.test(l)) serving++;
    }
  });
  /** Starts rospki and waits until it serves (its openvpn is started by then). */
  const serve = async (): Promise<number> => {
    const before = serving;
    reaper.stdin.write('serve\n');
    await until(() => serving > before, 'rospki to serve');
    return pids[pids.length - 1]!;
  };
  const gone = (pid: number) => { try { return /^\d+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return true; } };
  try {
    const setup = spawnSync(process.execPath, [BIN, '--data', data, '-e', [
      '/ip service disable www,api,api-ssl',
      '/certificate add name=ca common-name=ca key-usage=key-cert-sign,crl-sign key-size=prime256v1', '/certificate sign ca',
      '/certificate add name=vpn common-name=vpn key-size=prime256v1', '/certificate sign vpn ca=ca',
      `/interface ovpn-server server add name=s port=${p} certificate=vpn disabled=no`,
    ].join('; ')], { env, encoding: 'utf8' });
    assert.equal(setup.status, 0, setup.stdout + setup.stderr);
    const run = path.join(data, 'run');
    const first = await serve();
    await until(listening, 'the first daemon\'s openvpn');
    const [orphan] = processesIn(run);
    assert.ok(orphan);
    process.kill(first, 'SIGKILL');
    await until(() => gone(first), 'rospki to die');
    assert.deepEqual(processesIn(run), [orphan], 'openvpn outlived rospki');
    const second = await serve();
    await until(() => gone(orphan), 'the leftover to be stopped');
    await until(async () => processesIn(run).length === 1 && await listening(), 'a new openvpn on the port');
    process.kill(second, 'SIGTERM');
    await until(() => gone(second), 'rospki to stop');
    assert.deepEqual(processesIn(run), []);
  } finally {
    for (const pid of [...pids, ...processesIn(path.join(data, 'run'))]) if (!gone(pid)) process.kill(pid, 'SIGKILL');
    reaper.stdin.end();
    await new Promise((r) => (reaper.exitCode !== null ? r(undefined) : reaper.once('exit', r)));
    fs.rmSync(data, { recursive: true, force: true });
  }
});

test('no daemon is left behind when the services stop', async () => {
  const root = path.join(s.dir, 'run');
  assert.ok(processesIn(root).length >= 1);
  await s.services.stop();
  assert.deepEqual(processesIn(root), []);
  assert.deepEqual(fs.existsSync(root) ? fs.readdirSync(root) : [], []);
  assert.equal(await cli(':put [/interface ovpn-server server get ovpn1 status]'), 'not running: the rospki daemon is not running\n');
});
