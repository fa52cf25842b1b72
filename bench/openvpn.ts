// OpenVPN connection set-ups per second with client certificates (issue 13: aim ≥ 0.95×):
// the OpenVPN server a `rospki serve` daemon supervises (its logins checked against /ppp secret
// over the management socket, /log written) beside the same openvpn binary started by hand on the
// same files (configuration, certificate, key, CAs, CRL) with a management responder that lets
// everyone in. Each set-up is a real `openvpn --client --dev null` on 127.0.0.1 that logs in
// (TLS with its certificate, user and password, configuration pulled) and is then stopped; both
// servers take turns, one set-up each, and each is judged by its median set-up time.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Appliance } from '../src/appliance.js';
import { FixedClock } from '../src/clock.js';
import { certificateDer, privateKey } from '../src/menus/certificate/keys.js';
import { CERT_PATH } from '../src/menus/certificate/properties.js';
import { OVPN_SERVER_PATH } from '../src/menus/interface/ovpn.js';
import { BIN, freePort, median, nowMs, waitPort, type Line } from './support.js';

/** Set-ups per server; the two servers take turns, one set-up each, so drift hits both alike. */
const SET_UPS = 80;

const pem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

/** One client that logs in and is stopped; throws when it did not get in. */
function setUp(port: number, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('openvpn', [
      '--client', '--dev', 'null', '--proto', 'tcp-client', '--remote', '127.0.0.1', String(port), '--nobind',
      '--ca', path.join(dir, 'ca.crt'), '--cert', path.join(dir, 'alice.crt'), '--key', path.join(dir, 'alice.key'),
      '--auth-user-pass', path.join(dir, 'login.txt'), '--remote-cert-tls', 'server', '--ifconfig-noexec', '--route-noexec',
      '--connect-retry-max', '1', '--verb', '3',
    ], { stdio: ['ignore', 'pipe', 'ignore'] });
    let log = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Initialization Sequence Completed')) child.kill('SIGTERM');
    });
    child.on('exit', () => {
      clearTimeout(timer);
      if (log.includes('Initialization Sequence Completed')) resolve();
      else reject(new Error(`openvpn client failed: ${log.slice(-600)}`));
    });
  });
}

/** Milliseconds one set-up took. */
async function timed(port: number, dir: string): Promise<number> {
  const start = nowMs();
  await setUp(port, dir);
  return nowMs() - start;
}

/** The management side of the hand-started openvpn: releases the hold and lets every login in. */
function letEveryoneIn(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const end = Date.now() + 15_000;
    const attempt = () => {
      const s = net.connect(socketPath);
      s.once('connect', () => {
        let buffered = '';
        s.setEncoding('utf8');
        s.on('data', (d: string) => {
          buffered += d;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line.startsWith('>HOLD:')) s.write('hold release\n');
            const m = /^>CLIENT:(?:CONNECT|REAUTH),(\d+),(\d+)/.exec(line);
            if (m) s.write(`client-auth-nt ${m[1]} ${m[2]}\n`);
          }
        });
        resolve(s);
      });
      s.once('error', () => { s.destroy(); if (Date.now() > end) reject(new Error('no management socket')); else setTimeout(attempt, 50); });
    };
    attempt();
  });
}

export async function benchOpenvpn(line: Line): Promise<void> {
  if (spawnSync('openvpn', ['--version']).error) {
    console.log('openvpn: not installed (Debian package openvpn), section skipped');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-ovpn-'));
  const client = path.join(dir, 'client');
  const byHand = path.join(dir, 'by-hand');
  fs.mkdirSync(client);
  fs.mkdirSync(byHand, { mode: 0o700 });
  const data = path.join(dir, 'data');
  const port = await freePort();
  const refPort = await freePort();
  {
    const app = await Appliance.open(data, { clock: new FixedClock(Date.now()) });
    const session = await app.session('admin', 'bench');
    const run = async (p: string, command: string, args: Record<string, string>) => {
      const r = await app.executor.run({ path: p, command, args: new Map(Object.entries(args)), session });
      return r;
    };
    await run(CERT_PATH, 'add', { name: 'ca', 'common-name': 'bench CA', 'key-size': 'prime256v1', 'key-usage': 'key-cert-sign,crl-sign' });
    await run(CERT_PATH, 'sign', { number: 'ca' });
    for (const [name, usage] of [['vpn', 'tls-server'], ['alice', 'tls-client']]) {
      await run(CERT_PATH, 'add', { name, 'common-name': name, 'key-size': 'prime256v1', 'key-usage': `digital-signature,key-encipherment,${usage}` });
      await run(CERT_PATH, 'sign', { number: name, ca: 'ca' });
    }
    await run('/ppp/secret', 'add', { name: 'alice', password: 'bench-pw', service: 'ovpn' });
    await run(OVPN_SERVER_PATH, 'add', {
      name: 'bench', port: String(port), certificate: 'vpn', 'require-client-certificate': 'yes', cipher: 'aes256-gcm', auth: 'sha256', disabled: 'no',
    });
    await app.store.read((tx) => {
      const row = (name: string) => tx.findBy(CERT_PATH, 'name', name)[0]!;
      fs.writeFileSync(path.join(client, 'ca.crt'), pem(certificateDer(tx, row('ca').id)!));
      fs.writeFileSync(path.join(client, 'alice.crt'), pem(certificateDer(tx, row('alice').id)!));
      const key = privateKey(app.env, tx, row('alice').id, String(row('alice').data.fingerprint))!;
      fs.writeFileSync(path.join(client, 'alice.key'), key.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    });
    fs.writeFileSync(path.join(client, 'login.txt'), 'alice\nbench-pw\n', { mode: 0o600 });
    app.close();
  }
  const children: ChildProcess[] = [];
  let management: net.Socket | undefined;
  try {
    const daemon = spawn('node', [BIN, 'serve', '--data', data], { stdio: 'ignore', env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' } });
    children.push(daemon);
    await waitPort(port, 30_000); // openvpn listens once rospki attached to it
    // The same files, started by hand: the runtime folder's configuration on another port and socket.
    const runDir = path.join(data, 'run', fs.readdirSync(path.join(data, 'run')).find((d) => d.startsWith('ovpn-server-'))!);
    for (const f of fs.readdirSync(runDir)) if (f.endsWith('.pem')) fs.copyFileSync(path.join(runDir, f), path.join(byHand, f));
    const socketPath = path.join(byHand, 'management.sock');
    const conf = fs.readFileSync(path.join(runDir, 'openvpn.conf'), 'utf8')
      .replace(/^port \d+$/m, `port ${refPort}`)
      .replace(/^management .*$/m, `management "${socketPath}" unix`);
    fs.writeFileSync(path.join(byHand, 'openvpn.conf'), conf, { mode: 0o600 });
    const ref = spawn('openvpn', ['--config', 'openvpn.conf'], { cwd: byHand, stdio: 'ignore' });
    children.push(ref);
    management = await letEveryoneIn(socketPath);
    await waitPort(refPort, 30_000);

    for (let i = 0; i < 4; i++) { await timed(port, client); await timed(refPort, client); } // warm up both
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < SET_UPS; i++) {
      ours.push(await timed(port, client));
      theirs.push(await timed(refPort, client));
    }
    // Medians: a set-up that met another helper's burst of work on these 2 cores does not count.
    const oursRate = 1000 / median(ours);
    const refRate = 1000 / median(theirs);
    line(`OpenVPN set-ups /s (client cert + login, median of ${SET_UPS})`, oursRate.toFixed(1), `by hand ${refRate.toFixed(1)}/s`, oursRate / refRate, '≥ 0.95×');
  } finally {
    management?.destroy();
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise<void>((r) => { if (c.exitCode !== null || c.signalCode !== null) r(); else c.once('exit', () => r()); })));
    if (process.env.KEEP) console.log('kept', dir); else fs.rmSync(dir, { recursive: true, force: true });
  }
}
