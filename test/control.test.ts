// The daemon's control socket (src/control.ts): console output goes out in batches (a script
// printing a line per command must not cost a socket write per line), in order, and output of a
// script that is still running reaches the client while it runs.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from './support/app.js';

const BIN = path.join(import.meta.dirname, '..', 'bin', 'rospki.js');
process.env.ROSPKI_LISTEN_ADDRESS ??= '127.0.0.1';

type Message = Record<string, unknown> & { t: string };

/** A raw control-socket client that records every message. */
class Client {
  readonly messages: Message[] = [];
  private buffer = '';
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        this.messages.push(JSON.parse(this.buffer.slice(0, nl)) as Message);
        this.buffer = this.buffer.slice(nl + 1);
      }
      this.wake?.();
    });
  }

  static async connect(socketPath: string): Promise<Client> {
    const socket = net.connect(socketPath);
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    return new Client(socket);
  }

  send(m: Message): void { this.socket.write(`${JSON.stringify(m)}\n`); }

  /** Waits (bounded) until a message satisfies check. */
  async until(check: (m: Message) => boolean, ms = 30_000): Promise<Message> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.messages.find(check);
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no such message; got ${JSON.stringify(this.messages).slice(0, 500)}`);
      await new Promise<void>((resolve) => { this.wake = resolve; setTimeout(resolve, 100); });
    }
  }

  close(): void { this.socket.destroy(); }
}

describe('control socket output', () => {
  let daemon: ChildProcess;
  let socketPath: string;
  let dir: string;
  before(async () => {
    dir = tempDir('rospki-control-');
    daemon = spawn('node', [BIN, 'serve', '--data', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    daemon.stdout!.on('data', (c) => { out += c; });
    socketPath = path.join(dir, 'control.sock');
    const end = Date.now() + 30_000;
    while (!out.includes('serving')) {
      if (Date.now() > end) throw new Error('the daemon did not start');
      await new Promise((r) => setTimeout(r, 25));
    }
  });
  after(async () => {
    const exited = new Promise((resolve) => daemon.once('exit', resolve));
    daemon.kill('SIGTERM');
    // A client left open by a failed test keeps a clean stop waiting: kill it then.
    const killer = setTimeout(() => daemon.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a line per command goes out in batches, in order, before done', async (t) => {
    const client = await Client.connect(socketPath);
    t.after(() => client.close());
    client.send({ t: 'open', width: 80 });
    await client.until((m) => m.t === 'ready');
    const lines = 2000;
    client.send({ t: 'run', source: `:for i from=1 to=${lines} do={ :put $i }` });
    const done = await client.until((m) => m.t === 'done');
    assert.equal(done.ok, true);
    const outs = client.messages.filter((m) => m.t === 'out');
    const doneAt = client.messages.indexOf(done);
    assert.ok(client.messages.slice(doneAt + 1).every((m) => m.t !== 'out'), 'no output after done');
    assert.equal(outs.map((m) => m.text).join(''), Array.from({ length: lines }, (_, i) => `${i + 1}\n`).join(''));
    assert.ok(outs.length < lines / 4, `${outs.length} messages for ${lines} lines`);
  });

  test('output of a script still running reaches the client while it runs', async (t) => {
    const client = await Client.connect(socketPath);
    t.after(() => client.close());
    client.send({ t: 'open', width: 80 });
    await client.until((m) => m.t === 'ready');
    client.send({ t: 'run', source: ':put first; :delay 3s; :put second' });
    const first = await client.until((m) => m.t === 'out');
    assert.equal(first.text, 'first\n');
    assert.ok(!client.messages.some((m) => m.t === 'done'), 'first arrived before the script ended');
    await client.until((m) => m.t === 'done');
    assert.equal(client.messages.filter((m) => m.t === 'out').map((m) => m.text).join(''), 'first\nsecond\n');
  });
});
