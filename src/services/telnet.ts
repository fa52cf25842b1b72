// The telnet service (/ip service telnet; services spec §8): RouterOS's console over plain
// Telnet (RFC 854), the same console SSH gives (ConsoleSession and the line editor of repl.ts).
//
//  - Telnet: the network virtual terminal with minimal option negotiation. The server offers
//    WILL ECHO (RFC 857: it echoes, so a password is not shown) and WILL SUPPRESS-GO-AHEAD
//    (RFC 858), and asks DO NAWS (RFC 1073: the window size sets the console width); any other
//    option is refused once (RFC 854's rule against loops: a request is answered only when it
//    changes something). IAC IAC is a 0xFF byte both ways; CR NUL and CR LF are the end of a line;
//    IAC IP is Ctrl-C; other commands (NOP, AYT, …) are ignored.
//  - Login: `Login: ` and `Password: ` prompts as on RouterOS, checked by ctx.auth.login (failure
//    delay, per-address lockout, /log lines); the user's group must hold `telnet` (the session's
//    channel, so losing it ends its rights at once). Three failures close the connection.
//    `admin+200w` style names set the console width, as over SSH.
//  - Limits: the connection waits in the service's ConnectionGate until it logged in (login
//    deadline, pre-auth pool); max-sessions counts logged-in connections; a logged-in console
//    idle for idleTimeoutMs with no command running is closed.

import path from 'node:path';
import type net from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Completion } from '../console/complete.js';
import { promptOn, runRepl, type TerminalAsker } from '../console/repl.js';
import { ConsoleSession, LocalConsole, type ConsoleBackend, type RunOutcome } from '../console/session.js';
import { USER_PATH } from '../menus/user/user.js';
import { plainAddress } from './auth.js';
import type { ServiceContext } from './context.js';
import type { ConnectionGate } from './gate.js';
import { outputDrained } from './pacing.js';
import { parseLoginName } from './ssh.js';

const IAC = 255;
const DONT = 254;
const DO = 253;
const WONT = 252;
const WILL = 251;
const SB = 250;
const SE = 240;
const IP = 244;
const OPT_ECHO = 1;
const OPT_SGA = 3;
const OPT_NAWS = 31;

/** Failed logins on one connection before it is closed. */
const MAX_LOGIN_FAILURES = 3;
/** Longest login name or password line. */
const MAX_LOGIN_LINE = 1024;
/** Longest option subnegotiation kept (NAWS needs 4 bytes). */
const MAX_SUBNEGOTIATION = 64;

export class TelnetService {
  constructor(private readonly ctx: ServiceContext) {}

  /** A new connection, past the firewall and the allow-list, already in its gate. */
  handle(socket: net.Socket, gate: ConnectionGate): void {
    if (socket.destroyed) return;
    new TelnetConnection(this.ctx, socket, gate).start();
  }
}

/** The bytes of one side of a Telnet connection, options taken out (RFC 854). */
class TelnetDecoder {
  private state: 'data' | 'iac' | 'option' | 'sb' | 'sb-iac' = 'data';
  private command = 0;
  private sub: number[] = [];
  private lastCr = false;

  constructor(private readonly handlers: {
    data(bytes: Buffer): void;
    option(command: number, option: number): void;
    subnegotiation(bytes: number[]): void;
  }) {}

  push(chunk: Buffer): void {
    // Plain text (no IAC, no CR to pair) goes on as it is: no per-byte work for a flood.
    if (this.state === 'data' && !this.lastCr && !chunk.includes(IAC) && !chunk.includes(13)) {
      if (chunk.length > 0) this.handlers.data(chunk);
      return;
    }
    const out: number[] = [];
    for (const b of chunk) {
      switch (this.state) {
        case 'data':
          if (b === IAC) { this.state = 'iac'; break; }
          // CR NUL and CR LF end a line (RFC 854): the console sees one CR.
          if (this.lastCr && (b === 0 || b === 10)) { this.lastCr = false; break; }
          this.lastCr = b === 13;
          out.push(b);
          break;
        case 'iac':
          this.state = 'data';
          if (b === IAC) out.push(IAC);
          else if (b >= WILL && b <= DONT) { this.command = b; this.state = 'option'; } else if (b === SB) { this.sub = []; this.state = 'sb'; } else if (b === IP) out.push(3);
          break;
        case 'option':
          this.state = 'data';
          if (out.length > 0) this.handlers.data(Buffer.from(out.splice(0)));
          this.handlers.option(this.command, b);
          break;
        case 'sb':
          if (b === IAC) this.state = 'sb-iac';
          else if (this.sub.length < MAX_SUBNEGOTIATION) this.sub.push(b);
          break;
        case 'sb-iac':
          if (b === SE) { this.state = 'data'; this.handlers.subnegotiation(this.sub); } else { this.state = 'sb'; if (b === IAC && this.sub.length < MAX_SUBNEGOTIATION) this.sub.push(IAC); }
          break;
      }
    }
    if (out.length > 0) this.handlers.data(Buffer.from(out));
  }
}

/** What a console writes, as Telnet: LF as CR LF (the NVT's end of line), 0xFF doubled. */
class TelnetOutput extends Writable {
  isTTY = true;

  constructor(private readonly socket: net.Socket, public columns: number, public rows: number) {
    super({ decodeStrings: false });
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    sendText(this.socket, chunk.toString());
    done();
  }

  resize(cols: number, rows: number): void {
    if (cols > 0) this.columns = cols;
    if (rows > 0) this.rows = rows;
    this.emit('resize');
  }
}

function sendText(socket: net.Socket, text: string): void {
  if (!socket.writable) return;
  // Writes of one turn (the line editor echoes key by key) leave as one write, not thousands.
  if (!socket.writableCorked) {
    socket.cork();
    process.nextTick(() => socket.uncork());
  }
  const bytes = Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');
  socket.write(bytes.includes(IAC) ? Buffer.from([...bytes].flatMap((b) => (b === IAC ? [IAC, IAC] : [b]))) : bytes);
}

class TelnetConnection {
  private readonly address: string;
  private readonly decoder: TelnetDecoder;
  /** Options this side has on (WILL sent and not refused) and asked of the client (DO sent). */
  private readonly ours = new Set<number>([OPT_ECHO, OPT_SGA]);
  private readonly asked = new Set<number>([OPT_NAWS]);
  /** Options refused once already (never refused again: no loops). */
  private readonly refused = new Set<string>();
  private columns = 80;
  private rows = 24;
  private output: TelnetOutput | undefined;
  /** Where decoded bytes go: the login's line reader (through `typed`), then the console. */
  private sink: (bytes: Buffer) => void = (bytes) => {
    if (this.typed.length > MAX_LOGIN_LINE * 4) return; // nobody types that much before logging in
    this.typed += this.utf8.write(bytes);
    this.wake?.();
  };
  /** Text typed during the login and not read yet. */
  private typed = '';
  private readonly utf8 = new StringDecoder('utf8');
  private wake: (() => void) | undefined;
  private readonly controller = new AbortController();
  private busy = 0;

  constructor(private readonly ctx: ServiceContext, private readonly socket: net.Socket, private readonly gate: ConnectionGate) {
    this.address = plainAddress(socket.remoteAddress);
    this.decoder = new TelnetDecoder({
      data: (bytes) => this.sink(bytes),
      option: (command, option) => this.option(command, option),
      subnegotiation: (bytes) => this.subnegotiation(bytes),
    });
  }

  start(): void {
    const { socket } = this;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('close', () => this.controller.abort());
    socket.write(Buffer.from([IAC, WILL, OPT_ECHO, IAC, WILL, OPT_SGA, IAC, DO, OPT_NAWS]));
    this.login().catch((e) => { this.ctx.internalError(e); socket.destroy(); });
  }

  private option(command: number, option: number): void {
    const once = (reply: number) => {
      const key = `${reply}:${option}`;
      if (this.refused.has(key)) return;
      this.refused.add(key);
      this.socket.write(Buffer.from([IAC, reply, option]));
    };
    if (command === DO && !this.ours.has(option)) once(WONT);
    else if (command === DONT) this.ours.delete(option);
    else if (command === WILL && !this.asked.has(option)) once(DONT);
    else if (command === WONT) this.asked.delete(option);
  }

  /** NAWS: IAC SB NAWS width(2) height(2) IAC SE. */
  private subnegotiation(bytes: number[]): void {
    if (bytes[0] !== OPT_NAWS || bytes.length < 5) return;
    const cols = bytes[1]! * 256 + bytes[2]!;
    const rows = bytes[3]! * 256 + bytes[4]!;
    if (cols > 0) this.columns = Math.min(cols, 4096);
    if (rows > 0) this.rows = rows;
    this.output?.resize(this.columns, this.rows);
  }

  /** Reads one line of the login; `echo` shows what is typed (not for the password). */
  private readLine(prompt: string, echo: boolean): Promise<string | undefined> {
    sendText(this.socket, prompt);
    return new Promise((resolve) => {
      let line = '';
      const finish = (value: string | undefined) => {
        this.wake = undefined;
        this.socket.off('close', onClose);
        resolve(value);
      };
      const onClose = () => finish(undefined);
      this.socket.once('close', onClose);
      // Typed text waits in `typed` (a client may send the password with the name): each call
      // takes one line of it and leaves the rest to what reads next.
      const consume = () => {
        while (this.typed.length > 0) {
          const c = this.typed[0]!;
          this.typed = this.typed.slice(1);
          if (c === '\r' || c === '\n') { sendText(this.socket, '\n'); finish(line); return; }
          if (c === '\x03' || c === '\x04') { finish(undefined); return; }
          if (c === '\x7f' || c === '\b') {
            if (line.length > 0) { line = line.slice(0, -1); if (echo) sendText(this.socket, '\b \b'); }
            continue;
          }
          if (c < ' ' || line.length >= MAX_LOGIN_LINE) continue;
          line += c;
          if (echo) sendText(this.socket, c);
        }
      };
      this.wake = consume;
      consume();
    });
  }

  private async login(): Promise<void> {
    const { ctx, socket } = this;
    for (let failures = 0; failures < MAX_LOGIN_FAILURES;) {
      const login = await this.readLine('Login: ', true);
      if (login === undefined) { socket.destroy(); return; }
      const password = await this.readLine('Password: ', false);
      if (password === undefined) { socket.destroy(); return; }
      const { user, width } = await ctx.app.store.read((tx) => parseLoginName(login, (n) => tx.findBy(USER_PATH, 'name', n).length > 0));
      const r = await ctx.auth.login(user, password, this.address, 'telnet');
      let ok = r.ok;
      if (r.ok && !r.policies.has('telnet')) {
        // Right password, but no telnet for this group: a failed login like a wrong password.
        await ctx.auth.recordFailure(user, this.address, 'telnet');
        ok = false;
      }
      if (socket.destroyed) return;
      if (!ok || !r.ok) {
        failures++;
        sendText(socket, 'Login failed, incorrect username or password\n\n');
        continue;
      }
      const promotion = this.gate.promote(socket);
      if (promotion !== 'session') {
        if (promotion === 'full') sendText(socket, 'too many sessions\n');
        socket.end();
        return;
      }
      await ctx.auth.logLogin(user, this.address, 'telnet').catch((e) => ctx.internalError(e));
      socket.once('close', () => { ctx.app.logLogin(user, 'telnet', true, this.address).catch(() => {}); });
      await this.console(user, r.stamp, width);
      return;
    }
    socket.end();
  }

  private async console(user: string, stamp: string | undefined, width: number | undefined): Promise<void> {
    const { ctx, socket } = this;
    const input = new PassThrough();
    // What was typed after the password is the console's first input.
    if (this.typed.length > 0) input.write(this.typed);
    this.typed = '';
    // Typed ahead while a command runs, input waits in `input`: past its high-water mark the
    // socket is no longer read until the console takes it (a client can not fill the memory).
    input.on('drain', () => socket.resume());
    this.sink = (bytes) => { if (!input.write(bytes)) socket.pause(); };
    socket.once('close', () => input.end());
    const output = new TelnetOutput(socket, this.columns, this.rows);
    this.output = output;
    const terminal: TerminalAsker = {};
    const cs = await ConsoleSession.open(ctx.app, {
      user, via: 'telnet', channel: 'telnet', stamp, width: width ?? this.columns, output: () => {},
      signal: this.controller.signal, liveProgress: true, address: this.address,
      clearHistory: () => terminal.clearHistory?.(), prompt: promptOn(terminal),
      // A client that does not read holds its scripts, not the daemon's memory (pacing.ts).
      outputDrained: outputDrained(socket),
    });
    output.on('resize', () => { (cs.session as { width: number }).width = width ?? output.columns; });
    // A logged-in console with no traffic and no command running for idleTimeoutMs is closed.
    socket.setTimeout(ctx.options.idleTimeoutMs);
    socket.on('timeout', () => {
      if (this.busy > 0) socket.setTimeout(ctx.options.idleTimeoutMs);
      else socket.end();
    });
    const safeName = user.replace(/[^A-Za-z0-9_.-]/g, '_');
    await runRepl(new BusyTracking(new LocalConsole(cs), this), {
      input: input as unknown as NodeJS.ReadableStream,
      output,
      historyFile: path.join(ctx.app.dataDir.root, `history-telnet-${safeName}`),
      registry: ctx.app.registry,
      asker: terminal,
    });
    socket.end();
  }

  enter(): void { this.busy++; }
  leave(): void { this.busy--; }
}

/** A console whose running commands keep the connection from idling out. */
class BusyTracking implements ConsoleBackend {
  constructor(private readonly inner: ConsoleBackend, private readonly conn: { enter(): void; leave(): void }) {}
  async run(source: string, output: (text: string) => void): Promise<RunOutcome> {
    this.conn.enter();
    try { return await this.inner.run(source, output); } finally { this.conn.leave(); }
  }
  interrupt(): void { this.inner.interrupt(); }
  prompt(): Promise<string> { return this.inner.prompt(); }
  complete(line: string): Promise<Completion> { return this.inner.complete(line); }
  help(line: string): Promise<string> { return this.inner.help(line); }
  close(): void { this.inner.close(); }
}
