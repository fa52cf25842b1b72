// A console whose client does not read its output does not fill the daemon's memory: a read
// user ran `:while (true) do={ :put … }` over SSH or telnet with a client that never reads,
// and every line was buffered in the daemon (390 MB in 8 s over SSH). The script now waits at
// its next statement while 1 MiB of output is unsent (Session.outputDrained, pacing.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, startDaemon, type Daemon } from './daemon.js';
import { freePort } from '../services/support.js';
import { passwordAuth } from '../services/ssh-support.js';
import { tempDir } from '../support/app.js';
import { PythonClient } from '../support/python-client.js';
import { needs } from '../support/tools.js';

const PW = 'Reader-pass1';
const skip = needs('ssh', 'ssh-keygen', 'python3');

/** The daemon's resident memory now (kB), from /proc. */
function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

describe('console output a client does not read', { skip }, () => {
  let d: Daemon;
  let sshPort: number;
  let telnetPort: number;
  let home: string;
  before(async () => {
    sshPort = await freePort();
    telnetPort = await freePort();
    d = await startDaemon([
      `/ip service set ssh port=${sshPort} disabled=no`,
      `/ip service set telnet port=${telnetPort} disabled=no`,
      `/user add name=reader group=read password=${PW}`,
    ].join('\n'));
    home = tempDir('rospki-ssh-client-');
  });
  after(async () => {
    await d.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  test('ssh: an endless :put to a client that never reads', async () => {
    const auth = passwordAuth({ sshPort, home, key: '' }, PW);
    const line = 'x'.repeat(200);
    const child = spawn('ssh', [...auth.args, '-p', String(sshPort), 'reader@127.0.0.1', `:while (true) do={ :put "${line}" }`],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...auth.env } });
    child.stdout.pause();
    await growthWhile(child);
  });


  /**
   * A python telnet client that logs in as the read user, then runs `attack` (python lines with
   * the socket `s`) after printing "running"; resolves with the child once it got that far.
   */
  async function telnetClient(attack: string[]): Promise<PythonClient> {
    const script = [
      'import socket, sys, time',
      's = socket.socket()',
      's.settimeout(20)',
      `s.connect(('127.0.0.1', ${telnetPort}))`,
      'def until(word):',
      '    seen = b""',
      '    while word not in seen:',
      '        d = s.recv(4096)',
      '        if not d: sys.exit(1)',
      '        seen += d',
      'until(b"ogin:")',
      's.sendall(b"reader\\r\\n")',
      'until(b"assword:")',
      `s.sendall(b"${PW}\\r\\n")`,
      'until(b"> ")',
      ...attack,
    ];
    const client = new PythonClient(script);
    await client.printed('running');
    return client;
  }

  /** Python lines that send `chunk` `times` times, ignoring a full socket, then wait. */
  const flood = (chunk: string, times: number): string[] => [
    `chunk = ${chunk}`,
    's.settimeout(1)',
    `for i in range(${times}):`,
    '    try:',
    '        s.sendall(chunk)',
    '    except OSError:',
    '        pass',
    'time.sleep(60)',
  ];

  test('telnet: an endless :put to a client that never reads', async () => {
    const line = 'x'.repeat(200);
    await growthWhile(await telnetClient([
      `s.sendall(b':while (true) do={ :put "${line}" }\\r\\n')`,
      'print("running", flush=True)',
      'time.sleep(60)',
    ]));
  });

  test('telnet: input typed ahead while a command runs, never taken, does not fill the memory', async () => {
    await growthWhile(await telnetClient([
      's.sendall(b":delay 60s\\r\\n")',
      'print("running", flush=True)',
      ...flood('(b"x" * 79 + b"\\r\\n") * 4096', 2000),
    ]));
  });

  test('telnet: one endless line (no newline) neither fills the memory nor stops the daemon', async () => {
    const child = await telnetClient(['print("running", flush=True)', ...flood('b"x" * 65536', 1000)]);
    await new Promise((r) => setTimeout(r, 3000));
    const [status] = await d.rest('admin', ADMIN_PASSWORD, 'GET', '/system/identity', undefined, 10);
    assert.equal(status, 200, 'the daemon answers while the line comes in');
    await growthWhile(child);
  });

  /** The daemon's growth over 8 s of the flood, then the client goes; the daemon still answers. */
  async function growthWhile(client: { kill(): unknown }): Promise<void> {
    const start = rssKiB(d.pid);
    let peak = start;
    const until = Date.now() + 8000;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      peak = Math.max(peak, rssKiB(d.pid));
    }
    await client.kill();
    assert.ok(peak - start < 64 * 1024, `the daemon grew by ${Math.round((peak - start) / 1024)} MB`);
    const [status] = await d.rest('admin', ADMIN_PASSWORD, 'GET', '/system/identity', undefined, 30);
    assert.equal(status, 200);
  }
});

test('a network console refuses an entry longer than 16 KiB (one line or an open block) and goes on', async () => {
  const { PassThrough, Writable } = await import('node:stream');
  const { runRepl, MAX_ENTRY_CHARS } = await import('../../src/console/repl.js');
  const { ConsoleSession, LocalConsole } = await import('../../src/console/session.js');
  const { openTestApp } = await import('../support/app.js');
  const t = await openTestApp();
  try {
    const cs = await ConsoleSession.open(t.app, { user: 'admin', output: () => {} });
    const input = new PassThrough();
    let shown = '';
    const output = Object.assign(new Writable({ write(c: Buffer, _e, cb) { shown += c.toString(); cb(); } }), { columns: 80, isTTY: true });
    const done = runRepl(new LocalConsole(cs), { input, output });
    input.write(`:put "${'a'.repeat(MAX_ENTRY_CHARS + 100)}"\r`);
    input.write(':put {\r');
    for (let i = 0; i < 2000; i++) input.write(`${'b'.repeat(20)}\r`);
    input.write('}\r:put "still here"\r/quit\r');
    await done;
    const text = shown.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    assert.equal(text.match(/input line too long/g)?.length, 2, 'both entries refused');
    assert.ok(!/^a{1000,}\r?$/m.test(text), 'the long line did not run');
    assert.ok(/> still here\r?\n/.test(text), `the console goes on: ${JSON.stringify(text.slice(-300))}`);
  } finally {
    t.close();
  }
});
