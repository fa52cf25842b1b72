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

import path from 'node:path';
import type net from 'node:net';
import { Writable } from 'node:stream';
import ssh2 from 'ssh2';
import { ConsoleSession } from '../console/session.js';
import { runRepl } from '../console/repl.js';
import { LocalConsole } from '../control.js';
import type { Policy } from '../menu/types.js';
import { readHostKeys, SSH_PATH, type HostKey } from '../menus/ip/ssh.js';
import { SSH_KEYS_PATH, userKeys } from '../menus/user/ssh-keys.js';
import { USER_PATH, userPolicies } from '../menus/user/user.js';
import { addressAllowed, plainAddress } from './auth.js';
import type { ServiceContext } from './context.js';
import { runScp } from './ssh-scp.js';
import { serveSftp } from './ssh-sftp.js';

/** What RouterOS announces (`SSH-2.0-ROSSSH`). */
const IDENT = 'ROSSSH';
const AUTH_METHODS: ssh2.AuthenticationType[] = ['publickey', 'password'];
/** Failed authentication attempts before the connection is closed (OpenSSH's MaxAuthTries). */
const MAX_AUTH_FAILURES = 6;

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
  signature: string;
}

/** A logged-in user of one connection. */
export interface SshUser {
  name: string;
  policies: ReadonlySet<Policy>;
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

/** How the authentication of one request ended. */
type Decision =
  | { kind: 'accept'; user: SshUser }
  /**
   * The offered key would do (SSH_MSG_USERAUTH_PK_OK, RFC 4252 §7): ssh2's accept() of a request
   * without a signature sends it, and that request is answered; the signed one comes next.
   */
  | { kind: 'key-fits' }
  | { kind: 'reject' };

export class SshService {
  private server: ssh2.Server | undefined;
  private signature = '';

  constructor(private readonly ctx: ServiceContext) {}

  /** A new TCP connection (already past the service's address allow-list). */
  handle(socket: net.Socket): void {
    socket.on('error', () => {});
    // The service manager may still drop the socket (allow-list) after this listener ran.
    setImmediate(() => {
      if (socket.destroyed) return;
      this.settings().then((s) => {
        if (socket.destroyed) return;
        this.serverFor(s).injectSocket(socket);
      }).catch((e) => { this.ctx.internalError(e); socket.destroy(); });
    });
  }

  private async settings(): Promise<Settings> {
    const { app } = this.ctx;
    return app.store.read((tx) => {
      const row = tx.get(SSH_PATH, 1)?.data ?? {};
      const keys = readHostKeys(app.env, tx);
      const strong = row['strong-crypto'] !== false;
      const preferred = String(row['host-key-type'] ?? 'ed25519');
      return { strong, preferred, keys, signature: JSON.stringify([strong, preferred, keys.map((k) => k.fingerprint)]) };
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
    }, (client, info) => this.onClient(client, info.ip));
    server.on('error', () => {});
    this.server = server;
    this.signature = s.signature;
    return server;
  }

  private onClient(client: ssh2.Connection, ip: string): void {
    const { ctx } = this;
    const address = ip;
    let user: SshUser | undefined;
    let failures = 0;
    const loginTimer = setTimeout(() => { if (!user) client.end(); }, ctx.options.loginTimeoutMs);
    loginTimer.unref();
    const sessions = new Set<AbortController>();

    client.on('error', () => {});
    client.on('authentication', (auth) => {
      this.decide(auth, address).then((d) => {
        if (d.kind === 'key-fits') { auth.accept(); return; }
        if (d.kind === 'accept') {
          user = d.user;
          clearTimeout(loginTimer);
          auth.accept();
          ctx.auth.logLogin(user.name, address, 'ssh').catch((e) => ctx.internalError(e));
          return;
        }
        if (auth.method !== 'none' && auth.method !== 'publickey') failures++;
        if (failures >= MAX_AUTH_FAILURES) { client.end(); return; }
        auth.reject(AUTH_METHODS);
      }).catch((e) => { ctx.internalError(e); auth.reject(AUTH_METHODS); });
    });
    client.on('session', (accept) => {
      if (!user) return;
      const controller = new AbortController();
      sessions.add(controller);
      const session = accept();
      this.onSession(session, user, controller.signal);
    });
    client.on('close', () => {
      clearTimeout(loginTimer);
      for (const c of sessions) c.abort();
      if (user) ctx.app.logLogin(user.name, 'ssh', true, plainAddress(address)).catch(() => {});
    });
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
        login, alwaysAllowPassword, id: row.id, policies: userPolicies(tx, login.user),
        allowed: addressAllowed(row.data.address as string[] | undefined, address),
        keys: userKeys(tx, row.id), hasKeys: tx.findBy(SSH_KEYS_PATH, 'user', row.id).length > 0,
      };
    });
    const name = info.login.user;
    const fail = async (): Promise<Decision> => {
      await app.store.write((tx) => app.env.log(tx, 'system,error,critical', `login failure for user ${name} from ${plainAddress(address)} via ssh`));
      await new Promise((r) => setTimeout(r, this.ctx.options.loginFailureDelayMs));
      return { kind: 'reject' };
    };
    if (auth.method === 'password') {
      if (info.hasKeys && !info.alwaysAllowPassword) return fail();
      const r = await this.ctx.auth.login(name, auth.password, address, 'ssh');
      if (!r.ok) return { kind: 'reject' }; // logged and delayed by the authenticator
      if (!r.policies.has('ssh')) return fail();
      return { kind: 'accept', user: { name, policies: r.policies, address, width: info.login.width } };
    }
    if (auth.method === 'publickey') {
      const usable = info.policies?.has('ssh') && info.allowed;
      const match = usable ? info.keys?.find((k) => k.equals(auth.key.data)) : undefined;
      // A key that does not fit: the client tries its next one.
      if (!match) return { kind: 'reject' };
      if (!auth.signature || !auth.blob) return { kind: 'key-fits' };
      const key = ssh2.utils.parseKey(`${auth.key.algo.startsWith('rsa-sha2') ? 'ssh-rsa' : auth.key.algo} ${auth.key.data.toString('base64')}`);
      if (key instanceof Error || !key.verify(auth.blob, auth.signature, auth.hashAlgo)) return fail();
      return { kind: 'accept', user: { name, policies: info.policies!, address, width: info.login.width } };
    }
    return { kind: 'reject' };
  }

  private onSession(session: ssh2.Session, user: SshUser, signal: AbortSignal): void {
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
        void runScp(channel, command, { ctx: this.ctx, user }).catch((e) => { this.ctx.internalError(e); endChannel(channel, 1); });
        return;
      }
      void this.exec(channel, info.command, user, pty, signal).catch((e) => { this.ctx.internalError(e); endChannel(channel, 1); });
    });
    session.on('shell', (accept) => {
      const channel = accept();
      channel.on('error', () => {});
      if (pty) {
        output = new PtyOutput(channel, pty.cols, pty.rows);
        void this.shell(channel, output, user, signal).catch((e) => { this.ctx.internalError(e); endChannel(channel, 1); });
      } else {
        // No terminal: standard input is a script, run when it ends.
        const chunks: Buffer[] = [];
        let size = 0;
        channel.on('data', (d: Buffer) => { size += d.length; if (size <= 8 * 1024 * 1024) chunks.push(d); });
        channel.on('end', () => {
          void this.exec(channel, Buffer.concat(chunks).toString('utf8'), user, undefined, signal).catch((e) => { this.ctx.internalError(e); endChannel(channel, 1); });
        });
      }
    });
    session.on('sftp', (accept) => {
      const sftp = accept();
      serveSftp(sftp, { ctx: this.ctx, user });
    });
    session.on('subsystem', (_accept, reject) => reject?.());
  }

  private async console(user: SshUser, width: number, output: (text: string) => void, signal: AbortSignal, interactive: boolean): Promise<ConsoleSession> {
    const cs = await ConsoleSession.open(this.ctx.app, {
      user: user.name, via: 'ssh', width: user.width ?? width, output, signal, liveProgress: interactive,
      address: plainAddress(user.address),
    });
    return cs;
  }

  private async exec(channel: ssh2.ServerChannel, source: string, user: SshUser, pty: { cols: number } | undefined, signal: AbortSignal): Promise<void> {
    const write = (text: string) => { if (text && channel.writable) channel.write(pty ? toCrlf(text) : text); };
    const cs = await this.console(user, pty?.cols ?? 80, write, signal, false);
    const outcome = await cs.run(source);
    if (!outcome.ok && outcome.error) write(`${outcome.error}\n`);
    endChannel(channel, outcome.ok ? 0 : 1);
  }

  private async shell(channel: ssh2.ServerChannel, output: PtyOutput, user: SshUser, signal: AbortSignal): Promise<void> {
    const cs = await this.console(user, output.columns, () => {}, signal, true);
    output.onResize = (cols) => { (cs.session as { width: number }).width = user.width ?? cols; };
    const safeName = user.name.replace(/[^A-Za-z0-9_.-]/g, '_');
    await runRepl(new LocalConsole(cs), {
      input: channel as unknown as NodeJS.ReadableStream,
      output,
      historyFile: path.join(this.ctx.app.dataDir.root, `history-ssh-${safeName}`),
      registry: this.ctx.app.registry,
    });
    endChannel(channel, 0);
  }
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
