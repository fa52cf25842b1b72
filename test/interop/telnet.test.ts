// /ip service telnet against Python's telnetlib (a real Telnet client: it refuses every option
// the server offers, which the server must live with) and a raw socket for the negotiation
// itself: the console behind a `Login:`/`Password:` prompt, the `telnet` policy, failed logins
// logged and counted, the login deadline, `/console clear-history`. The raw-socket tests run
// without telnetlib too.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { ServiceOptions } from '../../src/services/index.js';
import { freePort, PASSWORD, run, startServiceApp, type ServiceApp } from '../services/support.js';
import { waitUntil } from '../services/ssh-support.js';
import { needs, PYTHON } from '../support/tools.js';

const skip = needs('telnetlib');
/**
 * The login deadline of the appliance of the deadline test only. The other tests keep the default
 * (30 s): three failed logins (scrypt and the failure delay each) on a loaded machine can take
 * longer than a short deadline, which then closes the connection before the third answer.
 */
const LOGIN_TIMEOUT = 1500;

let s: ServiceApp;
let port: number;
before(async () => {
  ({ s, port } = await startTelnetApp());
  await s.run('/user/group', 'add', { name: 'nottelnet', policy: 'read,write,ssh' });
  await s.run('/user', 'add', { name: 'nt', group: 'nottelnet', password: 'nt-secret' });
  await s.run('/user', 'add', { name: 'op', group: 'write', password: 'op-secret' });
});
after(async () => { await s?.stop(); });

async function startTelnetApp(services: Partial<ServiceOptions> = {}): Promise<{ s: ServiceApp; port: number }> {
  const app = await startServiceApp({ services });
  const telnetPort = await freePort();
  await app.run('/ip/service', 'set', { numbers: 'telnet', port: String(telnetPort), disabled: 'no' });
  await app.services.reconcile();
  return { s: app, port: telnetPort };
}

/** A telnetlib session: logs in with each [user, password] in turn, then sends `lines`; prints JSON. */
async function telnet(logins: Array<[string, string]>, lines: string[]): Promise<{ transcript: string; closed: boolean }> {
  const script = String.raw`
import json, sys, telnetlib
logins, lines = json.loads(sys.argv[1]), json.loads(sys.argv[2])
t = telnetlib.Telnet('127.0.0.1', int(sys.argv[3]), timeout=20)
out = b''
closed = False
try:
    for user, password in logins:
        out += t.read_until(b'Login: ', 30)
        t.write(user.encode() + b'\r\n')
        out += t.read_until(b'Password: ', 30)
        t.write(password.encode() + b'\r\n')
    out += t.read_until(b'> ', 30)
    for line in lines:
        t.write(line.encode() + b'\r\n')
        out += t.read_until(b'> ', 30)
    out += t.read_all()
    closed = True
except EOFError:
    closed = True
print(json.dumps({'transcript': out.decode('utf-8', 'replace'), 'closed': closed}))
`;
  const r = await run(PYTHON, ['-W', 'ignore', '-c', script, JSON.stringify(logins), JSON.stringify(lines), String(port)], { timeoutMs: 90_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** What a terminal would show: escape sequences of the line editor taken out. */
const screen = (text: string) => text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');

test('telnetlib: login, the console, /quit', { skip }, async () => {
  const { transcript, closed } = await telnet([['admin', PASSWORD]], [':put "hello over telnet"', '/system identity print', '/quit']);
  const text = screen(transcript);
  assert.match(text, /^Login: admin\nPassword: \n/);
  assert.ok(!text.includes(PASSWORD), 'the password is never echoed');
  assert.match(text, /\[admin@MikroTik\] > :put "hello over telnet"\nhello over telnet\n/);
  assert.match(text, /\n {2}name: MikroTik\n/);
  assert.ok(closed);
  const log = await s.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
  assert.ok(log.includes('user admin logged in from 127.0.0.1 via telnet'), log.join('\n'));
});

test('/console clear-history forgets what was typed before, in the history file too', { skip }, async () => {
  const { transcript } = await telnet([['op', 'op-secret']], [':put typed-before', '/console clear-history', ':put after', '/quit']);
  assert.match(screen(transcript), /\nafter\n/);
  const file = path.join(s.app.dataDir.root, 'history-telnet-op');
  // The console writes its history when the session ends, after the client has gone.
  await waitUntil(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(':put after'), 'the history file');
  assert.doesNotMatch(fs.readFileSync(file, 'utf8'), /typed-before|clear-history/);
});

test('failed logins: a wrong password, a user without the telnet policy; three close the connection', { skip }, async () => {
  const { transcript, closed } = await telnet([['admin', 'wrong'], ['nt', 'nt-secret'], ['nosuch', 'x']], []);
  const text = screen(transcript);
  assert.equal((text.match(/^Login failed, incorrect username or password$/gm) ?? []).length, 3, text);
  assert.ok(closed);
  assert.doesNotMatch(text, /\] > /);
  const log = await s.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
  for (const user of ['admin', 'nt', 'nosuch']) assert.ok(log.includes(`login failure for user ${user} from 127.0.0.1 via telnet`), user);
  // A user of the built-in write group holds telnet.
  const ok = await telnet([['op', 'op-secret']], [':put [/system identity get name]', '/quit']);
  assert.match(screen(ok.transcript), /\[op@MikroTik\] > :put \[\/system identity get name\]\nMikroTik\n/);
});

/** A raw Telnet client: collects every byte the server sends. */
function rawClient(to = port): Promise<{ socket: net.Socket; received: () => Buffer; waitFor: (test: (b: Buffer) => boolean) => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(to, '127.0.0.1');
    let got = Buffer.alloc(0);
    const waiters: Array<() => void> = [];
    socket.on('data', (d) => { got = Buffer.concat([got, d]); for (const w of waiters.splice(0)) w(); });
    socket.on('error', () => {});
    const waitFor = async (ok: (b: Buffer) => boolean) => {
      for (let i = 0; i < 200 && !ok(got); i++) await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 100); });
      assert.ok(ok(got), `not received: ${JSON.stringify(got.toString('latin1'))}`);
    };
    socket.once('connect', () => resolve({ socket, received: () => got, waitFor }));
    socket.once('error', reject);
  });
}

test('negotiation: WILL ECHO, WILL SGA, DO NAWS; an unknown option refused once; NAWS taken; CR NUL ends a line; UTF-8 text', async () => {
  const c = await rawClient();
  await c.waitFor((b) => b.includes(Buffer.from('Login: ')));
  const start = c.received();
  assert.ok(start.subarray(0, 9).equals(Buffer.from([255, 251, 1, 255, 251, 3, 255, 253, 31])), start.toString('hex'));
  // DO TERMINAL-TYPE twice: WONT once. NAWS 200x50. Then the login, typed with CR NUL.
  c.socket.write(Buffer.from([255, 253, 24, 255, 253, 24, 255, 251, 31, 255, 250, 31, 0, 200, 0, 50, 255, 240]));
  c.socket.write(Buffer.concat([Buffer.from('admin\r\0'), Buffer.from(`${PASSWORD}\r\n`)]));
  await c.waitFor((b) => b.includes(Buffer.from('] > ')));
  const all = c.received();
  assert.equal(all.indexOf(Buffer.from([255, 252, 24])), all.lastIndexOf(Buffer.from([255, 252, 24])));
  assert.ok(all.includes(Buffer.from([255, 252, 24])));
  // UTF-8 text both ways; an IAC NOP inside the line is taken out.
  const before = all.length;
  c.socket.write(Buffer.concat([Buffer.from(':put "\u00ff'), Buffer.from([255, 241]), Buffer.from(`${'w'.repeat(120)}"\r\n`)]));
  await c.waitFor((b) => b.subarray(before).includes(Buffer.from(`\u00ff${'w'.repeat(120)}\r\n`)));
  c.socket.write('/quit\r\n');
  await new Promise<void>((r) => { if (c.socket.destroyed) r(); else c.socket.once('close', () => r()); });
});

test('an idle connection that never logs in is closed at the login deadline', async () => {
  const short = await startTelnetApp({ loginTimeoutMs: LOGIN_TIMEOUT });
  try {
    const c = await rawClient(short.port);
    await c.waitFor((b) => b.includes(Buffer.from('Login: ')));
    const started = Date.now();
    await new Promise<void>((r) => { if (c.socket.destroyed) r(); else c.socket.once('close', () => r()); });
    assert.ok(Date.now() - started < LOGIN_TIMEOUT + 10_000);
  } finally {
    await short.s.stop();
  }
});
