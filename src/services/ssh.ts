// The SSH service (/ip service ssh) on the ssh2 library: RouterOS's console over SSH.
//
//  - Logins against /user: password (never an empty one) or a public key from /user ssh-keys;
//    the `ssh` policy is required; failures are delayed and logged like the other services.
//    `admin+cet1024w` style login names carry RouterOS console options (the part after `+`:
//    `<n>w` terminal width, others accepted and ignored).
//  - exec: `ssh router '/certificate print; /ip service print'` runs the text as one script,
//    prints what the console prints and exits 0, or 1 after the first error (printed on stdout
//    like `rospki -e`). Without a TTY (cron jobs) the same.
//  - shell on a PTY: the interactive console (prompt, completion, history, `?`, window size,
//    Ctrl-C); without a PTY, standard input is read to its end and run as one script.
//  - `scp -t`/`scp -f` exec commands: legacy SCP into and out of the /file store (ssh-scp.ts);
//    the `sftp` subsystem (ssh-sftp.ts), which OpenSSH 9's scp uses by default.
//
// Host keys come from /ip ssh (sealed in the store, made on first start). Settings are read for
// every new connection, so /ip ssh changes apply to the next connection without a restart.
//
// Limits (issue 11): a connection must log in within loginTimeoutMs and waits meanwhile in a
// small pool that never counts towards max-sessions (idle TCP connections cannot lock ssh out);
// max-sessions counts logged-in connections; a logged-in connection idle for idleTimeoutMs is
// closed; every failed login, by password or by key, is counted per source address by the
// authenticator; uploads are bounded by maxUploadBytes (ssh-files.ts).

import path from 'node:path';
import type net from 'node:net';
import { Writable } from 'node:stream';
import ssh2 from 'ssh2';
import type { Completion } from '../console/complete.js';
import { ConsoleSession, type RunOutcome } from '../console/session.js';
import { promptOn, runRepl, type TerminalAsker } from '../console/repl.js';
import { LocalConsole, type ConsoleBackend } from '../console/session.js';
import type { Policy } from '../menu/types.js';
import { SERVICE_PATH } from '../menus/ip/service.js';
import { readHostKeys, SSH_PATH, type HostKey } from '../menus/ip/ssh.js';
import { SSH_KEYS_PATH, userKeys } from '../menus/user/ssh-keys.js';
import { credentialStamp, USER_PATH, userPolicies } from '../menus/user/user.js';
import { addressAllowed, plainAddress } from './auth.js';
import { outputDrained } from './pacing.js';
import type { ServiceContext } from './context.js';
import { runScp } from './ssh-scp.js';
import { serveSftp } from './ssh-sftp.js';

/** What RouterOS announces (`SSH-2.0-ROSSSH`). */
const IDENT = 'ROSSSH';
const AUTH_METHODS: ssh2.AuthenticationType[] = ['publickey', 'password'];
/** Failed authentication attempts before the connection is closed (OpenSSH's MaxAuthTries). */
const MAX_AUTH_FAILURES = 6;
/** Connections that have not logged in yet, at most (OpenSSH's MaxStartups begins at 10). */
const PRE_AUTH_POOL = 10;
/** Session channels open at once on one connection (OpenSSH's MaxSessions). */
const MAX_CHANNELS = 10;
/** Standard input of a shell without a terminal, run as one script when it ends. */
const MAX_SCRIPT_BYTES = 8 * 1024 * 1024;

const STRONG = {
  kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256', 'ecdh-sha2-nistp384', 'ecdh-sha2-nistp521',
    'diffie-hellman-group-exchange-sha256', 'diffie-hellman-group16-sha512', 'diffie-hellman-group18-sha512', 'diffie-hellman-group14-sha256'],
  cipher: ['chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-gcm@openssh.com', 'aes256-ctr', 'aes192-ctr', 'aes128-ctr'],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'],
  serverHostKey: ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256'],
};
/** strong-crypto=no also offers the SHA-1 and CBC algorithms old clients need. */
const LEGACY = {
  kex: [...STRONG.kex, 'diffie-hellman-group14-sha1', 'diffie-hellman-group-exchange-sha1', 'diffie-hellman-group1-sha1'],
  cipher: [...STRONG.cipher, 'aes256-cbc', 'aes192-cbc', 'aes128-cbc', '3des-cbc'],
  hmac: [...STRONG.hmac, 'hmac-sha1-etm@openssh.com', 'hmac-sha1'],
  serverHostKey: [...STRONG.serverHostKey, 'ssh-rsa'],
};

interface Settings {
  strong: boolean;
  preferred: string;
  keys: HostKey[];
  maxSessions: number;
  signature: string;
}

/** A logged-in user of one connection. */
export interface SshUser {
  name: string;
  policies: ReadonlySet<Policy>;
  /** Credential stamp at login (Session.stamp). */
  stamp?: string;
  address: string;
  /** Console width from the login name (`admin+200w`). */
  width?: number;
}

/** `admin+cet1024w` → user `admin`, width 1024 (RouterOS login options). */
export function parseLoginName(login: string, exists: (name: string) => boolean): { user: string; width?: number } {
  if (exists(login)) return { user: login };
  const plus = login.lastIndexOf('+');
  if (plus <= 0) return { user: login };
  const opts = login.slice(plus + 1);
  if (!/^[a-z0-9]*$/i.test(opts)) return { user: login };
  const w = /(\d+)w/.exec(opts);
  return { user: login.slice(0, plus), width: w ? Math.min(Math.max(Number(w[1]), 20), 4096) : undefined };
}

/** A connection that has not logged in yet. */
interface Pending {
  readonly socket: net.Socket;
  /** `address|port` of the client: how ssh2's connection event finds it. */
  readonly peer: string;
  /** The client has spoken SSH (sent its version): kept before silent TCP when the pool is full. */
  spoke: boolean;
  readonly timer: NodeJS.Timeout;
  /** /ip service ssh max-sessions when the connection came (read with the settings). */
  maxSessions: number;
}

/** How the authentication of one request ended. */
type Decision =
  | { kind: 'accept'; user: SshUser }
  /**
   * The offered key would do (SSH_MSG_USERAUTH_PK_OK, RFC 4252 §7): ssh2's accept() of a request
   * without a signature sends it, and that request is answered; the signed one comes next.
   */
  | { kind: 'key-fits' }
  /** `recorded`: counted as a failed login (logged, delayed, per source address) already. */
  | { kind: 'reject'; recorded: boolean; keyOffered?: string };

export class SshService {
  private server: ssh2.Server | undefined;
  private signature = '';
  /** Connections that have not logged in, oldest first. */
  private readonly pending = new Set<Pending>();
  private readonly pendingByPeer = new Map<string, Pending>();
  /** Logged-in connections (these count towards max-sessions). */
  private sessions = 0;

  constructor(private readonly ctx: ServiceContext) {}

  /** A new TCP connection (already past the service's address allow-list). */
  handle(socket: net.Socket): void {
    socket.on('error', () => {});
    // ssh2 writes every SSH packet on its own. With Nagle's algorithm a small packet that follows
    // one not yet acknowledged waits for the peer's delayed ACK (40 ms on Linux): each exec's
    // reply, exit status and close would pay it.
    socket.setNoDelay(true);
    coalesceWrites(socket);
    // The service manager may still drop the socket (allow-list) after this listener ran: only
    // then does it take a place in the pool.
    setImmediate(() => {
      if (socket.destroyed) return;
      const pending = this.admit(socket);
      this.settings().then((s) => {
        if (socket.destroyed) return;
        pending.maxSessions = s.maxSessions;
        this.serverFor(s).injectSocket(socket);
      }).catch((e) => { this.ctx.internalError(e); socket.destroy(); });
    });
  }

  /**
   * A connection that has not logged in waits in a small pool (OpenSSH's MaxStartups): it is
   * closed when it has not logged in within loginTimeoutMs, and when the pool is full the oldest
   * one makes room — first those that never spoke SSH. Idle TCP connections therefore never
   * lock ssh out, and they do not count towards max-sessions.
   */
  private admit(socket: net.Socket): Pending {
    if (this.pending.size >= PRE_AUTH_POOL) {
      let victim: Pending | undefined;
      for (const p of this.pending) if (!p.spoke) { victim = p; break; }
      victim ??= this.pending.values().next().value!;
      this.release(victim);
      victim.socket.destroy();
    }
    const timer = setTimeout(() => socket.destroy(), this.ctx.options.loginTimeoutMs);
    timer.unref();
    const pending: Pending = { socket, peer: peerKey(socket.remoteAddress, socket.remotePort), spoke: false, timer, maxSessions: Infinity };
    this.pending.add(pending);
    this.pendingByPeer.set(pending.peer, pending);
    socket.once('close', () => this.release(pending));
    return pending;
  }

  private release(pending: Pending): void {
    clearTimeout(pending.timer);
    this.pending.delete(pending);
    if (this.pendingByPeer.get(pending.peer) === pending) this.pendingByPeer.delete(pending.peer);
  }

  private async settings(): Promise<Settings> {
    const { app } = this.ctx;
    return app.store.read((tx) => {
      const row = tx.get(SSH_PATH, 1)?.data ?? {};
      const keys = readHostKeys(app.env, tx);
      const strong = row['strong-crypto'] !== false;
      const preferred = String(row['host-key-type'] ?? 'ed25519');
      // The row always has it (ensureServiceRows); without one, nothing limits.
      const service = tx.list(SERVICE_PATH).find((r) => r.data.name === 'ssh');
      const maxSessions = Number(service?.data['max-sessions'] ?? Infinity);
      return { strong, preferred, keys, maxSessions, signature: JSON.stringify([strong, preferred, keys.map((k) => k.fingerprint)]) };
    });
  }

  private serverFor(s: Settings): ssh2.Server {
    if (this.server && this.signature === s.signature) return this.server;
    if (s.keys.length === 0) throw new Error('ssh: no host keys');
    const algos = s.strong ? STRONG : LEGACY;
    const ordered = [...s.keys].sort((a, b) => (a.type === s.preferred ? -1 : b.type === s.preferred ? 1 : 0));
    const server = new ssh2.Server({
      hostKeys: ordered.map((k) => k.privateKey),
      ident: IDENT,
      algorithms: {
        kex: algos.kex as ssh2.KexAlgorithm[],
        cipher: algos.cipher as ssh2.CipherAlgorithm[],
        hmac: algos.hmac as ssh2.MacAlgorithm[],
        serverHostKey: algos.serverHostKey as ssh2.ServerHostKeyAlgorithm[],
        compress: ['none'],
      },
    }, (client, info) => this.onClient(client, info));
    server.on('error', () => {});
    this.server = server;
    this.signature = s.signature;
    return server;
  }

  private onClient(client: ssh2.Connection, info: ssh2.ClientInfo): void {
    const { ctx } = this;
    const address = info.ip;
    const pending = this.pendingByPeer.get(peerKey(info.ip, info.port));
    if (!pending) { client.end(); return; } // made room for a newer one meanwhile
    pending.spoke = true;
    const { socket } = pending;
    const conn: Connection = { busy: 0 };
    let user: SshUser | undefined;
    let failures = 0;
    /** Whether a failed login was recorded for this connection, and the user of a refused key. */
    let recorded = false;
    let keyOffered: string | undefined;
    let channels = 0;
    const sessions = new Set<AbortController>();

    client.on('error', () => {});
    client.on('authentication', (auth) => {
      this.decide(auth, address).then((d) => {
        if (socket.destroyed) return;
        if (d.kind === 'key-fits') { auth.accept(); return; }
        if (d.kind === 'accept') {
          this.release(pending);
          // max-sessions counts logged-in connections only (see admit()).
          if (this.sessions >= pending.maxSessions) {
            keyOffered = undefined; // the login itself was good: no failure to count
            client.end();
            return;
          }
          this.sessions++;
          user = d.user;
          auth.accept();
          this.idleAfterLogin(client, socket, conn);
          ctx.auth.logLogin(user.name, address, 'ssh').catch((e) => ctx.internalError(e));
          return;
        }
        recorded ||= d.recorded;
        keyOffered = d.keyOffered ?? keyOffered;
        // Every refused request but `none` counts (OpenSSH's MaxAuthTries).
        if (auth.method !== 'none') failures++;
        if (failures >= MAX_AUTH_FAILURES) { client.end(); return; }
        auth.reject(AUTH_METHODS);
      }).catch((e) => { ctx.internalError(e); if (!socket.destroyed) auth.reject(AUTH_METHODS); });
    });
    client.on('session', (accept, reject) => {
      // OpenSSH's MaxSessions: channels of one connection (ControlMaster multiplexes them).
      if (!user || channels >= MAX_CHANNELS) { reject(); return; }
      channels++;
      const controller = new AbortController();
      sessions.add(controller);
      const session = accept();
      session.once('close', () => { channels--; sessions.delete(controller); controller.abort(); });
      this.onSession(session, user, controller.signal, conn);
    });
    client.on('close', () => {
      for (const c of sessions) c.abort();
      if (user) {
        this.sessions--;
        ctx.app.logLogin(user.name, 'ssh', true, plainAddress(address)).catch(() => {});
      } else if (keyOffered !== undefined && !recorded) {
        // Keys were offered and none logged in: one failed login for this address, as a wrong
        // password would be (counted across connections by the authenticator).
        this.recordFailure(keyOffered, address).catch((e) => ctx.internalError(e));
      }
    });
  }

  /**
   * After login: a connection with no traffic and no command running for idleTimeoutMs is
   * closed, like an idle API session (docs/compatibility.md).
   */
  private idleAfterLogin(client: ssh2.Connection, socket: net.Socket, conn: Connection): void {
    socket.setTimeout(this.ctx.options.idleTimeoutMs);
    socket.on('timeout', () => {
      // Output still corked (coalesceWrites) is traffic that has not reset the timer yet: a
      // command that ended in this very turn of timers has not gone out to its client.
      if (conn.busy > 0 || socket.writableCorked > 0 || socket.writableLength > 0) socket.setTimeout(this.ctx.options.idleTimeoutMs);
      else client.end();
    });
  }

  /**
   * A failed login decided here (a key that does not verify, a password refused because the user
   * logs in with keys, a user without the `ssh` policy) goes through the authenticator's own door:
   * a login without a password never succeeds, so it is logged, delayed and counted per source
   * address exactly like a wrong password.
   */
  private async recordFailure(name: string, address: string): Promise<void> {
    await this.ctx.auth.recordFailure(name, address, 'ssh');
  }

  /**
   * Checks one authentication request. Every request gets exactly one answer: accept, reject,
   * or for a public key without a signature the "this key would do" reply.
   */
  private async decide(auth: ssh2.AuthContext, address: string): Promise<Decision> {
    const { app } = this.ctx;
    const info = await app.store.read((tx) => {
      const names = (n: string) => tx.findBy(USER_PATH, 'name', n).length > 0;
      const login = parseLoginName(auth.username, names);
      const row = tx.findBy(USER_PATH, 'name', login.user)[0];
      const alwaysAllowPassword = tx.get(SSH_PATH, 1)?.data['always-allow-password-login'] === true;
      if (!row) return { login, alwaysAllowPassword };
      return {
        login, alwaysAllowPassword, id: row.id, policies: userPolicies(tx, login.user), stamp: credentialStamp(tx, login.user),
        allowed: addressAllowed(row.data.address as string[] | undefined, address),
        keys: userKeys(tx, row.id), hasKeys: tx.findBy(SSH_KEYS_PATH, 'user', row.id).length > 0,
      };
    });
    const name = info.login.user;
    const refuse = async (): Promise<Decision> => {
      await this.recordFailure(name, address);
      return { kind: 'reject', recorded: true };
    };
    if (auth.method === 'password') {
      // RouterOS: a user with keys logs in with them only, unless always-allow-password-login.
      if (info.hasKeys && !info.alwaysAllowPassword) return refuse();
      const r = await this.ctx.auth.login(name, auth.password, address, 'ssh');
      if (!r.ok) return { kind: 'reject', recorded: true }; // logged, delayed and counted by the authenticator
      if (!r.policies.has('ssh')) return refuse();
      return { kind: 'accept', user: { name, policies: r.policies, stamp: r.stamp, address, width: info.login.width } };
    }
    if (auth.method === 'publickey') {
      // A locked-out address gets in with no credential at all, keys included (issue 11).
      const usable = info.policies?.has('ssh') && info.allowed && !this.ctx.auth.isLockedOut(address);
      const match = usable ? info.keys?.find((k) => k.equals(auth.key.data)) : undefined;
      // A key that does not fit: the client tries its next one.
      if (!match) return { kind: 'reject', recorded: false, keyOffered: name };
      if (!auth.signature || !auth.blob) return { kind: 'key-fits' };
      const key = ssh2.utils.parseKey(`${auth.key.algo.startsWith('rsa-sha2') ? 'ssh-rsa' : auth.key.algo} ${auth.key.data.toString('base64')}`);
      if (key instanceof Error || !key.verify(auth.blob, auth.signature, auth.hashAlgo)) return refuse();
      return { kind: 'accept', user: { name, policies: info.policies!, stamp: info.stamp, address, width: info.login.width } };
    }
    return { kind: 'reject', recorded: false };
  }

  private onSession(session: ssh2.Session, user: SshUser, signal: AbortSignal, conn: Connection): void {
    let pty: { cols: number; rows: number } | undefined;
    let output: PtyOutput | undefined;
    session.on('pty', (accept, _reject, info) => {
      pty = { cols: info.cols || 80, rows: info.rows || 24 };
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      if (pty) { pty.cols = info.cols || pty.cols; pty.rows = info.rows || pty.rows; }
      output?.resize(info.cols, info.rows);
      accept?.();
    });
    session.on('env', (accept) => accept?.());
    session.on('signal', (accept) => accept?.());
    session.on('exec', (accept, _reject, info) => {
      const channel = accept();
      channel.on('error', () => {});
      const command = info.command.trim();
      if (/^scp(\s|$)/.test(command)) {
        void busy(conn, () => runScp(channel, command, { ctx: this.ctx, user })).catch((e) => { this.ctx.internalError(e); endChannel(channel, 1); });
        return;
      }
      void busy(conn, () => this.exec(channel, info.command, user, pty, signal)).catch((e) => { this.ctx.internalError(e); endChannel(channel, 1); });
    });
    session.on('shell', (accept) => {
      const channel = accept();
      channel.on('error', () => {});
      if (pty) {
        output = new PtyOutput(channel, pty.cols, pty.rows);
        void this.shell(channel, output, user, signal, conn).catch((e) => { this.ctx.internalError(e); endChannel(channel, 1); });
      } else {
        // No terminal: standard input is a script, run when it ends.
        const chunks: Buffer[] = [];
        let size = 0;
        channel.on('data', (d: Buffer) => { size += d.length; if (size <= MAX_SCRIPT_BYTES) chunks.push(d); });
        channel.on('end', () => {
          if (size > MAX_SCRIPT_BYTES) {
            if (channel.writable) channel.write('failure: script too large\n');
            endChannel(channel, 1);
            return;
          }
          void busy(conn, () => this.exec(channel, Buffer.concat(chunks).toString('utf8'), user, undefined, signal)).catch((e) => { this.ctx.internalError(e); endChannel(channel, 1); });
        });
      }
    });
    session.on('sftp', (accept) => {
      const sftp = accept();
      serveSftp(sftp, { ctx: this.ctx, user });
    });
    session.on('subsystem', (_accept, reject) => reject?.());
  }

  private async console(channel: ssh2.ServerChannel, user: SshUser, width: number, output: (text: string) => void, signal: AbortSignal, terminal?: TerminalAsker): Promise<ConsoleSession> {
    const cs = await ConsoleSession.open(this.ctx.app, {
      user: user.name, via: 'ssh', channel: 'ssh', stamp: user.stamp, width: user.width ?? width, output, signal, liveProgress: terminal !== undefined,
      address: plainAddress(user.address), clearHistory: terminal ? () => terminal.clearHistory?.() : undefined,
      prompt: terminal ? promptOn(terminal) : undefined,
      // A client that does not read holds its scripts, not the daemon's memory (pacing.ts).
      outputDrained: outputDrained(channel),
    });
    return cs;
  }

  private async exec(channel: ssh2.ServerChannel, source: string, user: SshUser, pty: { cols: number } | undefined, signal: AbortSignal): Promise<void> {
    const write = (text: string) => { if (text && channel.writable) channel.write(pty ? toCrlf(text) : text); };
    // A command that runs until stopped (`ssh router '/log print follow'`) stops when its channel
    // closes, also when the connection carries on with others.
    const ended = new AbortController();
    const stop = (): void => ended.abort();
    channel.once('close', stop);
    signal.addEventListener('abort', stop, { once: true });
    try {
      const cs = await this.console(channel, user, pty?.cols ?? 80, write, ended.signal);
      // With a terminal (`ssh -t`), Ctrl-C reaches us as a byte: it interrupts, as at the prompt.
      if (pty) channel.on('data', (d: Buffer) => { if (d.includes(0x03)) cs.interrupt(); });
      const outcome = await cs.run(source);
      if (!outcome.ok && outcome.error) write(`${outcome.error}\n`);
      endChannel(channel, outcome.ok ? 0 : 1);
    } finally {
      signal.removeEventListener('abort', stop);
      channel.off('close', stop);
    }
  }

  private async shell(channel: ssh2.ServerChannel, output: PtyOutput, user: SshUser, signal: AbortSignal, conn: Connection): Promise<void> {
    const terminal: TerminalAsker = {};
    const cs = await this.console(channel, user, output.columns, () => {}, signal, terminal);
    output.onResize = (cols) => { (cs.session as { width: number }).width = user.width ?? cols; };
    const safeName = user.name.replace(/[^A-Za-z0-9_.-]/g, '_');
    await runRepl(new BusyConsole(new LocalConsole(cs), conn), {
      input: channel as unknown as NodeJS.ReadableStream,
      output,
      historyFile: path.join(this.ctx.app.dataDir.root, `history-ssh-${safeName}`),
      registry: this.ctx.app.registry,
      asker: terminal,
    });
    endChannel(channel, 0);
  }
}

/** What the idle timeout of a logged-in connection needs to know. */
interface Connection {
  /** Commands and transfers running now. */
  busy: number;
}

async function busy<T>(conn: Connection, fn: () => Promise<T>): Promise<T> {
  conn.busy++;
  try {
    return await fn();
  } finally {
    conn.busy--;
  }
}

/** A console whose running commands keep its connection from idling out. */
class BusyConsole implements ConsoleBackend {
  constructor(private readonly inner: ConsoleBackend, private readonly conn: Connection) {}
  run(source: string, output: (text: string) => void): Promise<RunOutcome> { return busy(this.conn, () => this.inner.run(source, output)); }
  interrupt(): void { this.inner.interrupt(); }
  prompt(): Promise<string> { return this.inner.prompt(); }
  complete(line: string): Promise<Completion> { return this.inner.complete(line); }
  help(line: string): Promise<string> { return this.inner.help(line); }
  close(): void { this.inner.close(); }
}

/**
 * ssh2 writes each SSH packet to the socket on its own, and with TCP_NODELAY each is a system
 * call and a TCP segment that wakes the client: an exec's answer (channel success, data,
 * exit-status, EOF, close) was five. The packets written in one turn of the event loop leave
 * together: the socket is corked at the first write and uncorked by a setImmediate, once the
 * callbacks and promise continuations of that turn have run (one writev). Nothing waits past
 * the end of the turn that wrote it; a turn with pending immediates does not block for I/O.
 */
function coalesceWrites(socket: net.Socket): void {
  const write = socket.write;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>): boolean {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return (write as (...a: Parameters<net.Socket['write']>) => boolean).apply(this, args);
  } as net.Socket['write'];
}

function peerKey(address: string | undefined, port: number | undefined): string {
  return `${address ?? ''}|${port ?? 0}`;
}

/** Ends an exec/shell channel with an exit status. */
export function endChannel(channel: ssh2.ServerChannel, status: number): void {
  if (channel.destroyed) return;
  try {
    channel.exit(status);
    channel.end();
  } catch {
    // the client went away
  }
}

/** A terminal turns `\n` into `\r\n` (ONLCR); a PTY of ours must do the same. */
function toCrlf(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}

/** The PTY side readline writes to: columns/rows and `resize` like a TTY stream. */
class PtyOutput extends Writable {
  isTTY = true;
  onResize: ((cols: number, rows: number) => void) | undefined;

  constructor(private readonly channel: ssh2.ServerChannel, public columns: number, public rows: number) {
    super({ decodeStrings: false });
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    if (this.channel.writable) this.channel.write(toCrlf(chunk.toString()));
    done();
  }

  resize(cols: number, rows: number): void {
    if (cols > 0) this.columns = cols;
    if (rows > 0) this.rows = rows;
    this.onResize?.(this.columns, this.rows);
    this.emit('resize');
  }
}
