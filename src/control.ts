// The local control socket (issue 2 §2): when a daemon runs on a data directory, `rospki -e`,
// `.rsc` files, piped scripts and other consoles go through it, so the daemon sees every
// change at once. Unix socket `<DIR>/control.sock`, owner-only. Messages are JSON lines:
//
//   client → daemon: {t:'open', width}  {t:'run', source}  {t:'complete', line}
//                    {t:'help', line}  {t:'answer', value}  {t:'interrupt'}  {t:'resize', width}
//   daemon → client: {t:'ready', prompt}  {t:'out', text}  {t:'done', ok, error?, quit?, prompt}
//                    {t:'completion', candidates, partial}  {t:'help', text}
//                    {t:'ask', question, masked}  {t:'clear-history'}

import fs from 'node:fs';
import net from 'node:net';
import type { Appliance } from './appliance.js';
import type { Completion } from './console/complete.js';
import { ConsoleSession, type ConsoleBackend, type RunOutcome } from './console/session.js';
import { outputDrained } from './services/pacing.js';

export { LocalConsole, type ConsoleBackend } from './console/session.js';

type Message = Record<string, unknown> & { t: string };

function lineReader(socket: net.Socket, onMessage: (m: Message) => void): void {
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      try { onMessage(JSON.parse(line) as Message); } catch { socket.destroy(); return; }
    }
  });
}

const send = (socket: net.Socket, m: Message): void => { if (!socket.destroyed) socket.write(`${JSON.stringify(m)}\n`); };

/**
 * How long console output may wait for more to go out with it; what fills OUTPUT_BATCH goes at
 * once. A terminal (interactive) gets it within a frame; a script's output (`rospki -e`, a file)
 * may wait longer: nobody watches it line by line, and each write wakes the client up.
 */
const OUTPUT_DELAY_MS = { interactive: 4, script: 25 } as const;
const OUTPUT_BATCH = 16_384;

/**
 * Console output of one client, sent in batches: a script that prints a line per command (a
 * `:for` loop of `sign`) would otherwise cost a socket write and a wake-up of the client per
 * line, measured as the largest single cost of such a loop. Output waits at most
 * OUTPUT_DELAY_MS, and every other message (done, ask, …) sends what waits first, so the order
 * of what the client sees is unchanged.
 */
class OutputBatcher {
  private pending = '';
  private timer: NodeJS.Timeout | undefined;

  /** Set by the client's `open` (scripts until then). */
  delayMs: number = OUTPUT_DELAY_MS.script;

  constructor(private readonly socket: net.Socket) {}

  out(text: string): void {
    this.pending += text;
    if (this.pending.length >= OUTPUT_BATCH) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.delayMs);
  }

  /** Sends what waits, then m (when given). */
  send(m?: Message): void {
    this.flush();
    if (m) send(this.socket, m);
  }

  private flush(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    send(this.socket, { t: 'out', text });
  }
}

/** Serves consoles over the control socket. Returns a function that stops it. */
export async function serveControl(app: Appliance, socketPath: string): Promise<() => Promise<void>> {
  await removeStaleSocket(socketPath);
  const server = net.createServer((socket) => handleClient(app, socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Created owner-only: the umask keeps group and others out from the first moment.
    const old = process.umask(0o177);
    server.listen(socketPath, () => { process.umask(old); resolve(); });
  });
  fs.chmodSync(socketPath, 0o600);
  return () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    try { fs.unlinkSync(socketPath); } catch { /* already gone */ }
  });
}

function handleClient(app: Appliance, socket: net.Socket): void {
  let consoleSession: ConsoleSession | undefined;
  let pendingAnswer: ((value: string) => void) | undefined;
  let queue = Promise.resolve();
  const out = new OutputBatcher(socket);
  // The client going away ends what its console runs: a command that runs until stopped
  // (`rospki -e '/log print follow'`, then Ctrl-C) stops with it, not in the daemon for ever.
  const ended = new AbortController();
  socket.once('close', () => ended.abort());
  socket.on('error', () => socket.destroy());
  lineReader(socket, (m) => {
    if (m.t === 'answer') { pendingAnswer?.(String(m.value ?? '')); pendingAnswer = undefined; return; }
    if (m.t === 'interrupt') { consoleSession?.interrupt(); return; }
    if (m.t === 'resize') { consoleSession?.setWidth(Number(m.width)); return; }
    // Requests of one client run in order.
    queue = queue.then(async () => {
      if (m.t === 'open') {
        out.delayMs = m.interactive ? OUTPUT_DELAY_MS.interactive : OUTPUT_DELAY_MS.script;
        consoleSession = await ConsoleSession.open(app, {
          via: 'console', operator: true, signal: ended.signal,
          // Output the client has not taken holds a streaming command back (follow.ts, pacing.ts).
          outputDrained: outputDrained(socket),
          width: Number(m.width) || 80,
          output: (text) => { if (text) out.out(text); },
          liveProgress: Boolean(m.interactive),
          prompt: m.interactive ? (question, masked) => new Promise<string>((resolve) => {
            pendingAnswer = resolve;
            out.send({ t: 'ask', question, masked });
          }) : undefined,
          // The history belongs to the terminal on the other side of the socket.
          clearHistory: m.interactive ? () => send(socket, { t: 'clear-history' }) : undefined,
        });
        if (m.interactive) {
          await app.logLogin('admin', 'local');
          socket.once('close', () => { app.logLogin('admin', 'local', true).catch(() => {}); });
        }
        out.send({ t: 'ready', prompt: await consoleSession.prompt() });
        return;
      }
      if (!consoleSession) { socket.destroy(); return; }
      if (m.t === 'run') {
        const outcome = await consoleSession.run(String(m.source ?? ''));
        out.send({ t: 'done', ...outcome, prompt: await consoleSession.prompt() });
      } else if (m.t === 'complete') {
        out.send({ t: 'completion', ...(await consoleSession.complete(String(m.line ?? ''))) });
      } else if (m.t === 'help') {
        out.send({ t: 'help', text: await consoleSession.help(String(m.line ?? '')) });
      }
    }).catch(() => { out.send(); socket.destroy(); });
  });
}

/** A socket file left by a daemon that died is removed; a live one means a daemon runs. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  if (!fs.existsSync(socketPath)) return;
  if (await isAlive(socketPath)) throw new Error(`a rospki daemon already runs on this data directory (${socketPath})`);
  fs.unlinkSync(socketPath);
}

function isAlive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Connects to a running daemon, or returns undefined when none runs. */
export async function connectControl(socketPath: string, opts: RemoteOptions): Promise<ConsoleBackend | undefined> {
  if (!fs.existsSync(socketPath)) return undefined;
  const socket = await new Promise<net.Socket | undefined>((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(undefined));
  });
  if (!socket) return undefined;
  return RemoteConsole.start(socket, opts);
}

interface RemoteOptions {
  width: number;
  interactive: boolean;
  /** Questions of a command, asked on this terminal. */
  ask?: (question: string, masked: boolean) => Promise<string>;
  /** `/console clear-history` typed on this terminal. */
  clearHistory?: () => void;
}

class RemoteConsole implements ConsoleBackend {
  private waiting: ((m: Message) => void) | undefined;
  private output: (text: string) => void = () => {};
  private lastPrompt = '';
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket, private readonly opts: RemoteOptions) {
    lineReader(socket, (m) => this.onMessage(m));
    socket.on('close', () => {
      this.closedError = new Error('the rospki daemon closed the connection');
      const w = this.waiting;
      this.waiting = undefined;
      w?.({ t: 'closed' });
    });
    socket.on('error', () => {});
  }

  static async start(socket: net.Socket, opts: RemoteOptions): Promise<RemoteConsole> {
    const remote = new RemoteConsole(socket, opts);
    const ready = await remote.request({ t: 'open', width: opts.width, interactive: opts.interactive });
    remote.lastPrompt = String(ready.prompt ?? '');
    return remote;
  }

  private onMessage(m: Message): void {
    if (m.t === 'out') { this.output(String(m.text)); return; }
    if (m.t === 'ask') {
      const reply = this.opts.ask ? this.opts.ask(String(m.question), Boolean(m.masked)) : Promise.resolve('');
      void reply.then((value) => send(this.socket, { t: 'answer', value }));
      return;
    }
    if (m.t === 'clear-history') { this.opts.clearHistory?.(); return; }
    const w = this.waiting;
    this.waiting = undefined;
    w?.(m);
  }

  private request(m: Message): Promise<Message> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.waiting = (reply) => (reply.t === 'closed' ? reject(this.closedError) : resolve(reply));
      send(this.socket, m);
    });
  }

  async run(source: string, output: (text: string) => void): Promise<RunOutcome> {
    this.output = output;
    const done = await this.request({ t: 'run', source });
    this.lastPrompt = String(done.prompt ?? this.lastPrompt);
    return { ok: Boolean(done.ok), error: done.error === undefined ? undefined : String(done.error), quit: done.quit === true };
  }

  async prompt(): Promise<string> { return this.lastPrompt; }

  interrupt(): void { send(this.socket, { t: 'interrupt' }); }

  resize(width: number): void { send(this.socket, { t: 'resize', width }); }

  async complete(line: string): Promise<Completion> {
    const m = await this.request({ t: 'complete', line });
    return { candidates: (m.candidates as string[]) ?? [], partial: String(m.partial ?? '') };
  }

  async help(line: string): Promise<string> {
    return String((await this.request({ t: 'help', line })).text ?? '');
  }

  close(): void { this.socket.end(); }
}
