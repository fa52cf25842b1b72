// /interface dot1x client on Debian's wpa_supplicant, judged by a real authenticator: hostapd
// (driver=wired, its own EAP server) on the other end of a veth pair, in a network namespace of
// its own (the supplicant's end stays in the host's, where rospki sees it in /interface, and is
// removed at the end). EAP-TLS with a certificate rospki issued, PEAP with MS-CHAPv2 and a
// password; refused: a client certificate of another CA, a wrong password, an authentication
// server whose certificate no CA trusted for dot1x signed. The row shows the supplicant's state,
// /log its outcomes, and nothing is left on disk once the client is disabled.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { DOT1X_CLIENT_PATH } from '../../src/menus/interface/dot1x.js';
import { openssl, tempDir } from '../support/app.js';
import { freePort, freeUdpPort, startServiceApp, type ServiceApp } from '../services/support.js';
import { mayUse, missingTools, needs } from '../support/tools.js';
import { exportPem, processesIn, until } from './openvpn-support.js';

const tag = randomBytes(3).toString('hex');
/** The authenticator's end (in its namespace) and the supplicant's (in the host's). */
const AUTH_END = `rpk${tag}a`;
const CLIENT_END = `rpk${tag}b`;
const NETNS = `rospki-dot1x-${tag}`;

/** Why the test cannot run here: tools, or no right to make a veth pair and a namespace. */
function cannotRun(): string | false {
  const tools = needs('wpa_supplicant', 'hostapd', 'ip', 'openssl');
  if (tools) return tools;
  if (process.getuid?.() !== 0) return missingTools('needs root (a veth pair and a network namespace; wpa_supplicant opens a raw socket)');
  const r = spawnSync('ip', ['netns', 'add', NETNS], { encoding: 'utf8' });
  if (r.status !== 0) return missingTools(`needs ip netns add: ${r.stderr.trim()}`);
  const v = spawnSync('ip', ['link', 'add', CLIENT_END, 'type', 'veth', 'peer', 'name', AUTH_END, 'netns', NETNS], { encoding: 'utf8' });
  if (v.status !== 0) {
    spawnSync('ip', ['netns', 'del', NETNS]);
    return missingTools(`needs a veth pair: ${v.stderr.trim()}`);
  }
  return false;
}
const skip = cannotRun();

let s: ServiceApp;
let dir: string;
let hostapd: ChildProcess | undefined;
let hostapdLog = '';

const cli = async (line: string): Promise<string> => {
  let out = '';
  const cs = await ConsoleSession.open(s.app, { user: 'admin', output: (text) => { out += text; } });
  const r = await cs.run(line);
  assert.ok(r.ok, `${line}: ${r.error}`);
  return out;
};
const client = () => s.app.store.read((tx) => tx.findBy(DOT1X_CLIENT_PATH, 'interface', CLIENT_END)[0]?.data);
const logText = () => s.app.store.read((tx) => tx.list('/log').map((r) => `${String(r.data.topics)} ${String(r.data.message)}`).join('\n'));
const status = async (want: string) => until(async () => (await client())?.status === want, `status ${want} (now ${String((await client())?.status)})`, 30_000);
/** A disabled client: the daemon reports nothing of it (the menu shows `disabled`). */
const stopped = async () => { const c = await client(); return c?.disabled === true && c.status === undefined; };

/**
 * A port the authenticator has no history of: after a rejection an authenticator holds the port
 * for its quiet period (IEEE 802.1X-2004 §8.2.4.1.2, hostapd: 60 s) and ignores the supplicant;
 * a new MAC address is a new supplicant to it.
 */
function freshPort(): void {
  const mac = `02:${randomBytes(5).toString('hex').replace(/(..)(?!$)/g, '$1:')}`;
  const r = spawnSync('ip', ['link', 'set', 'dev', CLIENT_END, 'address', mac], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** (Re)starts hostapd on the authenticator's end with `server` (cert and key files) as its certificate. */
async function startHostapd(server: { cert: string; key: string }): Promise<void> {
  await stopHostapd();
  const conf = path.join(dir, 'hostapd.conf');
  fs.writeFileSync(conf, [
    `interface=${AUTH_END}`, 'driver=wired', 'ieee8021x=1', 'eapol_version=2', 'use_pae_group_addr=1',
    'eap_server=1', `eap_user_file=${path.join(dir, 'eap_users')}`,
    `ca_cert=${path.join(dir, 'ca.crt')}`, `server_cert=${server.cert}`, `private_key=${server.key}`,
    'logger_stdout=-1', 'logger_stdout_level=1',
  ].join('\n'));
  hostapdLog = '';
  hostapd = spawn('ip', ['netns', 'exec', NETNS, 'hostapd', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  hostapd.stdout!.on('data', (d) => { hostapdLog += d; });
  hostapd.stderr!.on('data', (d) => { hostapdLog += d; });
  await until(() => /interface state .*->ENABLED|ENABLED/.test(hostapdLog) || hostapd!.exitCode !== null, 'hostapd to start');
  assert.equal(hostapd.exitCode, null, `hostapd: ${hostapdLog}`);
}

async function stopHostapd(): Promise<void> {
  if (!hostapd || hostapd.exitCode !== null) return;
  const exited = new Promise((r) => hostapd!.once('exit', r));
  hostapd.kill('SIGTERM');
  await exited;
}

/** A fresh authentication: the supplicant restarts (disable, enable). */
async function restartClient(): Promise<void> {
  await cli(`/interface dot1x client disable [find interface=${CLIENT_END}]`);
  await until(stopped, 'the client to stop');
  await cli(`/interface dot1x client enable [find interface=${CLIENT_END}]`);
}

before(async () => {
  if (skip) return;
  spawnSync('ip', ['link', 'set', CLIENT_END, 'up']);
  spawnSync('ip', ['netns', 'exec', NETNS, 'ip', 'link', 'set', AUTH_END, 'up']);
  s = await startServiceApp();
  dir = tempDir('rospki-dot1x-');
  await cli('/certificate add name=ca common-name=dot1x-ca key-usage=key-cert-sign,crl-sign key-size=prime256v1; /certificate sign ca');
  await cli('/certificate add name=radius common-name=radius.example.com key-size=prime256v1 key-usage=digital-signature,tls-server; /certificate sign radius ca=ca');
  await cli('/certificate add name=laptop common-name=laptop.example.com key-size=prime256v1 key-usage=digital-signature,tls-client; /certificate sign laptop ca=ca');
  // A self-signed client certificate the authenticator's CA did not issue.
  await cli('/certificate add name=stray common-name=stray.example.com key-size=prime256v1 key-usage=digital-signature,tls-client; /certificate sign stray');
  fs.copyFileSync((await exportPem(s, 'ca', dir)).cert, path.join(dir, 'ca.crt'));
  // Who may log in, and how (hostapd's eap_user format): the laptop by its certificate, alice
  // with PEAP and MS-CHAPv2 inside.
  fs.writeFileSync(path.join(dir, 'eap_users'), [
    '"laptop.example.com" TLS', '"stray.example.com" TLS', '"alice" PEAP', '"alice" MSCHAPV2 "alice-pw" [2]', '"anonymous" PEAP',
  ].join('\n'));
  await startHostapd(await exportPem(s, 'radius', dir));
});

after(async () => {
  if (skip) return;
  await stopHostapd();
  await stopChild(supplicant);
  await stopChild(radius);
  await s?.stop();
  spawnSync('ip', ['link', 'del', CLIENT_END]);
  spawnSync('ip', ['netns', 'del', NETNS]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('EAP-TLS with a certificate rospki issued: authenticated, as the authenticator says too', { skip }, async () => {
  await cli(`/interface dot1x client add interface=${CLIENT_END} eap-methods=eap-tls certificate=laptop`);
  await status('authenticated');
  await until(() => /\bauthorizing port/.test(hostapdLog), 'hostapd to authorize the port');
  await until(async () => new RegExp(`dot1x,info ${CLIENT_END}: authenticated`).test(await logText()), 'the line in /log');
  const out = await cli('/interface dot1x client print');
  assert.match(out, /status="?authenticated/);
  // The far end goes down (a cable pulled): no event of wpa_supplicant's says so, the carrier does.
  spawnSync('ip', ['netns', 'exec', NETNS, 'ip', 'link', 'set', AUTH_END, 'down']);
  await status('interface is down');
  spawnSync('ip', ['netns', 'exec', NETNS, 'ip', 'link', 'set', AUTH_END, 'up']);
  await status('authenticated');
  // Its runtime folder is private, and holds the key only while the supplicant runs.
  const id = await s.app.store.read((tx) => tx.findBy(DOT1X_CLIENT_PATH, 'interface', CLIENT_END)[0]!.id);
  const run = path.join(s.dir, 'run', `dot1x-client-${id}`);
  assert.equal(fs.statSync(run).mode & 0o777, 0o700);
  assert.equal(fs.statSync(path.join(run, 'key.pem')).mode & 0o777, 0o600);
  assert.ok(processesIn(run).length > 0, 'wpa_supplicant runs in the folder');
  await cli(`/interface dot1x client disable [find interface=${CLIENT_END}]`);
  await until(async () => (await stopped()) && !fs.existsSync(run) && processesIn(run).length === 0, 'the folder and the daemon to be gone');
  assert.match(await cli('/interface dot1x client print'), /status="?disabled/);
});

test('refused: a client certificate of another CA', { skip }, async () => {
  await cli(`/interface dot1x client set [find interface=${CLIENT_END}] certificate=stray disabled=no`);
  await status('rejected');
  await until(async () => new RegExp(`dot1x,error ${CLIENT_END}: authentication rejected`).test(await logText()), 'the rejection in /log');
  freshPort();
  await cli(`/interface dot1x client set [find interface=${CLIENT_END}] certificate=laptop`);
  await status('authenticated');
});

test('PEAP with MS-CHAPv2: the password logs in, a wrong one is rejected; it is not shown', { skip }, async () => {
  freshPort();
  await cli(`/interface dot1x client set [find interface=${CLIENT_END}] eap-methods=eap-peap identity=alice anon-identity=anonymous password=alice-pw`);
  await status('authenticated');
  assert.doesNotMatch(await cli('/interface dot1x client print detail'), /alice-pw/);
  await cli(`/interface dot1x client set [find interface=${CLIENT_END}] password=wrong`);
  await status('rejected');
});

test('an authentication server whose certificate no CA trusted for dot1x signed is refused', { skip }, async () => {
  // A CA rospki knows nothing of, and a server certificate it issued.
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, 'other.key'),
    '-out', path.join(dir, 'other.crt'), '-subj', '/CN=other CA', '-days', '30', '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=keyCertSign,cRLSign']);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, 'evil.key'), '-out', path.join(dir, 'evil.csr'), '-subj', '/CN=evil']);
  openssl(['x509', '-req', '-in', path.join(dir, 'evil.csr'), '-CA', path.join(dir, 'other.crt'), '-CAkey', path.join(dir, 'other.key'),
    '-CAcreateserial', '-out', path.join(dir, 'evil.crt'), '-days', '30']);
  try {
    await startHostapd({ cert: path.join(dir, 'evil.crt'), key: path.join(dir, 'evil.key') });
    // EAP-TLS again, under the certificate's name (alice is a PEAP user to the authenticator).
    await cli(`/interface dot1x client set [find interface=${CLIENT_END}] eap-methods=eap-tls certificate=laptop identity="" anon-identity=""`);
    await restartClient();
    await status('rejected');
    await until(async () => new RegExp(`dot1x,error ${CLIENT_END}: server certificate refused: [^\\n]*CN=(evil|other CA)`).test(await logText()), 'the refusal in /log')
      .catch(async (e) => { throw new Error(`${String(e)}: ${(await logText()).split('\n').filter((l) => l.startsWith('dot1x')).slice(-4).join(' | ')}`); });
    assert.doesNotMatch(hostapdLog, /\bauthorizing port/);
  } finally {
    await startHostapd(await exportPem(s, 'radius', dir));
  }
  await restartClient();
  await status('authenticated');
});

test('why a client cannot run: no CA trusted for dot1x, an interface this host does not have', { skip }, async () => {
  // Every certificate trusted for dot1x (the self-signed stray one is too) stops being so.
  await cli('/certificate set ca,stray trusted=no');
  await status('not running: no CA certificate is trusted for dot1x');
  assert.match(await cli('/interface dot1x client print'), /^ *\d+ +I /m);
  freshPort();
  await cli('/certificate set ca trusted=yes');
  await status('authenticated');
  await cli('/interface dot1x client add interface=rpk-none0 eap-methods=eap-tls certificate=laptop');
  await until(async () => (await s.app.store.read((tx) => tx.findBy(DOT1X_CLIENT_PATH, 'interface', 'rpk-none0')[0]?.data))?.status
    === 'not running: interface rpk-none0 does not exist on this host', 'the missing interface in status');
  await cli('/interface dot1x client remove [find interface=rpk-none0]');
});

// The authenticator: rospki's /interface dot1x server (hostapd) on the host's end, a real
// supplicant (wpa_supplicant) on the other, and the RADIUS server hostapd can also be (driver=none,
// its own EAP server) on 127.0.0.1, which knows the laptop's certificate.

let radius: ChildProcess | undefined;
let radsec: ChildProcess | undefined;
/** radsecproxy (the RadSec part); CI installs it, elsewhere the part is left out. */
const needsRadsec = !skip && mayUse('radsecproxy');
let supplicant: ChildProcess | undefined;
let supplicantLog = '';

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** A supplicant on the far end, with `cert` (a certificate of the appliance) for EAP-TLS. */
async function startSupplicant(cert: string): Promise<void> {
  await stopChild(supplicant);
  const files = await exportPem(s, cert, dir);
  const conf = path.join(dir, 'wpa.conf');
  fs.writeFileSync(conf, [
    'ap_scan=0', 'network={', '\tkey_mgmt=IEEE8021X', '\teap=TLS', `\tidentity="${cert}.example.com"`,
    `\tca_cert="${path.join(dir, 'ca.crt')}"`, `\tclient_cert="${files.cert}"`, `\tprivate_key="${files.key}"`, '\teapol_flags=0', '}',
  ].join('\n'));
  supplicantLog = '';
  supplicant = spawn('ip', ['netns', 'exec', NETNS, 'wpa_supplicant', '-D', 'wired', '-i', AUTH_END, '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  supplicant.stdout!.on('data', (d) => { supplicantLog += d; });
  supplicant.stderr!.on('data', (d) => { supplicantLog += d; });
}

const stateRows = () => s.app.store.read((tx) => tx.list('/interface/dot1x/server/state').map((r) => r.data));
const serverRow = () => s.app.store.read((tx) => tx.findBy('/interface/dot1x/server', 'interface', CLIENT_END)[0]?.data);

test('the authenticator relays to RADIUS: a supplicant with a certificate the RADIUS server trusts is authorized, another rejected', { skip }, async () => {
  // The ends change roles: no supplicant of rospki and no authenticator of the test remain.
  await cli(`/interface dot1x client remove [find interface=${CLIENT_END}]`);
  await stopHostapd();
  freshPort();
  const radiusPort = await freeUdpPort();
  fs.writeFileSync(path.join(dir, 'radius-clients'), '127.0.0.1/32 radius-secret\n');
  const server = await exportPem(s, 'radius', dir);
  fs.writeFileSync(path.join(dir, 'radius.conf'), [
    'driver=none', 'interface=lo', `radius_server_clients=${path.join(dir, 'radius-clients')}`, `radius_server_auth_port=${radiusPort}`,
    'eap_server=1', `eap_user_file=${path.join(dir, 'eap_users')}`, `ca_cert=${path.join(dir, 'ca.crt')}`,
    `server_cert=${server.cert}`, `private_key=${server.key}`, 'logger_stdout=-1', 'logger_stdout_level=1',
  ].join('\n'));
  let radiusLog = '';
  radius = spawn('hostapd', [path.join(dir, 'radius.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  radius.stdout!.on('data', (d) => { radiusLog += d; });
  radius.stderr!.on('data', (d) => { radiusLog += d; });
  await until(() => /AP-ENABLED/.test(radiusLog) || radius!.exitCode !== null, 'the RADIUS server to start');
  assert.equal(radius.exitCode, null, radiusLog);

  await cli(`/interface dot1x server add interface=${CLIENT_END}`);
  await until(async () => (await serverRow())?.status === 'not running: no RADIUS server for dot1x (/radius service=dot1x)', 'the missing RADIUS server in status');
  await cli(`/radius add address=127.0.0.1 secret=radius-secret service=dot1x authentication-port=${radiusPort}`);
  assert.doesNotMatch(await cli('/radius print detail'), /radius-secret/);
  await until(async () => (await serverRow())?.status === 'running', 'the authenticator to run');

  await startSupplicant('laptop');
  await until(async () => (await stateRows()).some((r) => r.status === 'authorized' && r['user-name'] === 'laptop.example.com'), 'the laptop authorized');
  assert.match(supplicantLog, /CTRL-EVENT-EAP-SUCCESS/);
  assert.match(radiusLog, /CTRL-EVENT-EAP-SUCCESS/, 'the RADIUS server decided');
  await until(async () => new RegExp(`dot1x,info ${CLIENT_END}: [0-9a-f:]{17} laptop.example.com authorized`).test(await logText()), 'the authorization in /log');
  const out = await cli('/interface dot1x server state print');
  assert.match(out, new RegExp(`${CLIENT_END} +[0-9A-F:]{17} +authorized +laptop\\.example\\.com`));

  // A certificate the RADIUS server's CA did not issue: rejected at the RADIUS server.
  const before = (await stateRows()).length;
  await stopChild(supplicant);
  spawnSync('ip', ['netns', 'exec', NETNS, 'ip', 'link', 'set', 'dev', AUTH_END, 'address', `02:${randomBytes(5).toString('hex').replace(/(..)(?!$)/g, '$1:')}`]);
  await startSupplicant('stray');
  await until(async () => (await stateRows()).some((r) => r.status === 'rejected' && r['user-name'] === 'stray.example.com'), 'the stray certificate rejected');
  assert.ok((await stateRows()).length >= before);
  assert.doesNotMatch(supplicantLog, /CTRL-EVENT-EAP-SUCCESS/);

  // RadSec (RFC 6614): the same RADIUS server behind a RadSec server (radsecproxy, which asks
  // for a client certificate of the appliance's CA); rospki relays over TLS with /radius certificate=.
  if (needsRadsec) {
    const tlsPort = await freePort();
    fs.writeFileSync(path.join(dir, 'radsec-server.conf'), [
      `ListenTLS 127.0.0.1:${tlsPort}`, 'LogLevel 3',
      'tls default {', `    CACertificateFile ${path.join(dir, 'ca.crt')}`, `    CertificateFile ${server.cert}`, `    CertificateKeyFile ${server.key}`, '}',
      'client rospki {', '    host 127.0.0.1', '    type tls', '    secret radsec', '    CertificateNameCheck off', '}',
      'server hostapd {', '    host 127.0.0.1', `    port ${radiusPort}`, '    type udp', '    secret radius-secret', '}',
      'realm * {', '    server hostapd', '}',
    ].join('\n'));
    let radsecLog = '';
    radsec = spawn('radsecproxy', ['-f', '-c', path.join(dir, 'radsec-server.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    radsec.stdout!.on('data', (d) => { radsecLog += d; });
    radsec.stderr!.on('data', (d) => { radsecLog += d; });
    await until(() => /listening for tls/.test(radsecLog) || radsec!.exitCode !== null, 'the RadSec server to start');
    await cli(`/radius set [find] protocol=radsec authentication-port=${tlsPort} secret=""`);
    await until(async () => /RadSec: no certificate/.test(String((await serverRow())?.status)), 'the missing RadSec certificate in status');
    await cli('/radius set [find] certificate=laptop');
    await until(async () => (await serverRow())?.status === 'running', 'the authenticator to run over RadSec');
    await stopChild(supplicant);
    freshPort();
    await startSupplicant('laptop');
    await until(async () => (await stateRows()).some((r) => r.status === 'authorized' && r['user-name'] === 'laptop.example.com'), 'the laptop authorized over RadSec');
    await until(() => /client rospki, subject CN=laptop\.example\.com up/.test(radsecLog), 'the RadSec server to see the laptop certificate');
    await until(async () => /radius,info radius 127\.0\.0\.1: RadSec connection to .* up, server CN=radius\.example\.com/.test(await logText()), 'the RadSec connection in /log');
    // Its key exists unsealed only in the relay's private folder while it runs.
    const relayDir = fs.readdirSync(path.join(s.dir, 'run')).find((d) => d.startsWith('dot1x-radsec-'));
    assert.ok(relayDir, 'the relay\'s runtime folder');
    assert.equal(fs.statSync(path.join(s.dir, 'run', relayDir, 'key.pem')).mode & 0o777, 0o600);
  }

  // Disabled: hostapd stops and its clients leave the state menu.
  await cli(`/interface dot1x server disable [find interface=${CLIENT_END}]`);
  await until(async () => (await stateRows()).length === 0 && (await serverRow())?.status === undefined, 'the authenticator and its clients gone');
  await stopChild(supplicant);
  await stopChild(radius);
  await stopChild(radsec);
  assert.ok(!fs.readdirSync(path.join(s.dir, 'run')).some((d) => d.startsWith('dot1x-')), 'no runtime folder left');
});
