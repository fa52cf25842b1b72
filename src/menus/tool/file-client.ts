// The FTP and SFTP clients behind /tool fetch mode=ftp|sftp (manual "Fetch": "copy files to/from
// a network device via HTTP, HTTPS, FTP or SFTP"). One file down or up per call, every wait
// bounded by the idle timeout and the whole by a total one, downloads bounded in size.
//
// SFTP: the ssh2 dependency's client. RouterOS keeps no known_hosts for fetch, so the server's
// host key is not checked (as check-certificate=no for https): the password goes to whoever
// answers on that address — documented in docs/security.md.
// FTP: a small passive-mode client (RFC 959 USER, PASS, TYPE I or A, RETR, STOR, QUIT; RFC 2428
// EPSV, PASV when the server has none). No TLS: RouterOS's fetch speaks plain FTP too.
//
// Failures read as RouterOS's for HTTP: `closing connection: <reason> host:port (n)`; the
// credentials never appear in a message.

import dns from 'node:dns/promises';
import net from 'node:net';
import { failure, RosError } from '../../errors.js';
import { connectionFailed, isConnectError } from '../certificate/http-client.js';

export interface TransferTarget {
  scheme: 'ftp' | 'sftp';
  host: string;
  port: number;
  user: string;
  password: string;
  /** The remote path as the URL gives it (decoded; `/x` is `x` in the login folder for FTP). */
  path: string;
  idleTimeoutMs: number;
  totalTimeoutMs: number;
  /** FTP: TYPE A (ascii=yes) instead of TYPE I; lines end in CRLF on the wire, LF here (RFC 959 §3.1.1.1). */
  ascii?: boolean;
  /** The local address of every connection (src-address=). */
  localAddress?: string;
  /** The address family the host name is resolved to (ip-type=); either when unset. */
  family?: 4 | 6;
  signal?: AbortSignal;
  onProgress?: (bytes: number, total: number | undefined) => void;
}

/** The longest control reply line (and reply) an FTP server may send. */
const MAX_REPLY = 8192;
/** The size of one SFTP write. */
const CHUNK = 32 * 1024;

function closing(reason: string, t: Pick<TransferTarget, 'host' | 'port'>, code = 4): RosError {
  // A reason from the server is shown as it came, cut short and on one line.
  const clean = reason.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').trim().slice(0, 200);
  return failure(`closing connection: <${clean}> ${t.host}:${t.port} (${code})`);
}

/** Runs `work` with the abort signal and the total deadline; `cleanup` always runs. */
function bounded<T>(t: TransferTarget, work: (fail: (e: unknown) => void) => Promise<T>, cleanup: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const end = (err: unknown, value?: T) => {
      if (done) return;
      done = true;
      clearTimeout(total);
      t.signal?.removeEventListener('abort', onAbort);
      cleanup();
      if (err) reject(err); else resolve(value as T);
    };
    const onAbort = () => end(new RosError('interrupted', 'interrupted'));
    const total = setTimeout(() => end(failure('connection timeout')), t.totalTimeoutMs);
    total.unref?.();
    if (t.signal?.aborted) { onAbort(); return; }
    t.signal?.addEventListener('abort', onAbort);
    work((e) => end(e)).then((v) => end(undefined, v), (e) => end(e));
  });
}

// ---------------------------------------------------------------------------------------------
// SFTP

/** ssh2 resolves a name itself, and its forceIPv4/6 fail with a bare message: ip-type= resolves here. */
async function sshHost(t: TransferTarget): Promise<string> {
  if (!t.family || net.isIP(t.host)) return t.host;
  try {
    return (await dns.lookup(t.host, { family: t.family })).address;
  } catch {
    throw connectionFailed(t.host, t.port);
  }
}

async function sftpSession(t: TransferTarget, fail: (e: unknown) => void, track: (c: { end(): void }) => void) {
  const host = await sshHost(t);
  const { default: ssh2 } = await import('ssh2');
  const client = new ssh2.Client();
  track(client);
  // One 'error' listener for the client's whole life: ssh2 may emit more than one (a timeout,
  // then the lost connection), and an unheard one would end the daemon.
  let ready = false;
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => { ready = true; resolve(); });
    client.on('error', (e: Error & { level?: string; code?: string }) => {
      if (ready) { fail(/keepalive/i.test(e.message) ? failure('connection timeout') : closing(e.message, t, 5)); return; }
      if (e.level === 'client-authentication') reject(closing('authentication failed', t));
      else if (isConnectError(e)) reject(connectionFailed(t.host, t.port));
      else if (/timed out/i.test(e.message)) reject(failure('connection timeout'));
      else reject(closing(e.message, t, 5));
    });
    client.once('close', () => reject(closing('connection closed', t, 5)));
    client.connect({
      host, port: t.port, localAddress: t.localAddress, username: t.user, password: t.password,
      readyTimeout: t.idleTimeoutMs, tryKeyboard: false,
      // A server that goes silent mid-transfer: three unanswered keepalives over the idle time end it.
      keepaliveInterval: Math.max(1000, Math.floor(t.idleTimeoutMs / 3)), keepaliveCountMax: 3,
      // No known_hosts for fetch (see the top of this file).
      hostVerifier: () => true,
    });
  });
  client.on('close', () => fail(closing('connection closed', t, 5)));
  return new Promise<import('ssh2').SFTPWrapper>((resolve, reject) => {
    client.sftp((err, sftp) => {
      if (err) { reject(closing(`sftp: ${err.message}`, t, 5)); return; }
      sftp.on('error', (e: Error) => fail(closing(e.message, t, 5)));
      resolve(sftp);
    });
  });
}

/** An SFTP status error in RouterOS's words. */
function sftpFailure(e: Error & { code?: number }, t: TransferTarget): RosError {
  // SSH_FX_NO_SUCH_FILE (2), SSH_FX_PERMISSION_DENIED (3) (draft-ietf-secsh-filexfer-02 §7).
  const reason = e.code === 2 ? 'no such file' : e.code === 3 ? 'permission denied' : e.message;
  return closing(reason, t, 5);
}

/** An SFTP path: the URL's path without its first slash is relative to the login folder. */
const sftpPath = (p: string) => p.replace(/^\//, '') || '.';

/**
 * Logs in, opens the URL's file (`r` or `w`) and runs `work` on it, within the transfer's bounds
 * (the connection ends when they are passed or the transfer ends).
 */
function withSftpFile<T>(t: TransferTarget, flags: 'r' | 'w',
  work: (sftp: Awaited<ReturnType<typeof sftpSession>>, handle: Buffer) => Promise<T>): Promise<T> {
  let client: { end(): void } | undefined;
  return bounded(t, async (fail) => {
    const sftp = await sftpSession(t, fail, (c) => { client = c; });
    const handle = await new Promise<Buffer>((resolve, reject) => sftp.open(sftpPath(t.path), flags, (e, h) => (e ? reject(sftpFailure(e, t)) : resolve(h))));
    return work(sftp, handle);
  }, () => client?.end());
}

export function sftpDownload(t: TransferTarget, maxBytes: number): Promise<Buffer> {
  return withSftpFile(t, 'r', async (sftp, handle) => {
    const size = await new Promise<number | undefined>((resolve) => sftp.fstat(handle, (e, st) => resolve(e ? undefined : st.size)));
    if (size !== undefined && size > maxBytes) throw failure('maximum message size exceeded');
    const parts: Buffer[] = [];
    let got = 0;
    for (;;) {
      const buf = Buffer.alloc(CHUNK);
      const n = await new Promise<number>((resolve, reject) =>
        sftp.read(handle, buf, 0, CHUNK, got, (e, bytes) => (e ? reject(sftpFailure(e, t)) : resolve(bytes))));
      if (n <= 0) break;
      got += n;
      if (got > maxBytes) throw failure('maximum message size exceeded');
      parts.push(buf.subarray(0, n));
      t.onProgress?.(got, size);
    }
    await new Promise<void>((resolve) => sftp.close(handle, () => resolve()));
    return Buffer.concat(parts);
  });
}

export function sftpUpload(t: TransferTarget, data: Buffer): Promise<void> {
  return withSftpFile(t, 'w', async (sftp, handle) => {
    for (let at = 0; at < data.length; at += CHUNK) {
      const n = Math.min(CHUNK, data.length - at);
      await new Promise<void>((resolve, reject) => sftp.write(handle, data, at, n, at, (e) => (e ? reject(sftpFailure(e, t)) : resolve())));
      t.onProgress?.(at + n, data.length);
    }
    // The close answers only once the server has the file: its status is the upload's.
    await new Promise<void>((resolve, reject) => sftp.close(handle, (e) => (e ? reject(sftpFailure(e, t)) : resolve())));
  });
}

// ---------------------------------------------------------------------------------------------
// FTP

/** A control connection: one reply at a time (RFC 959 §4.2, multi-line `123-` … `123 `). */
class Control {
  private buffer = '';
  private waiting: { resolve: (r: { code: number; text: string }) => void; reject: (e: unknown) => void } | undefined;
  private replies: Array<{ code: number; text: string }> = [];
  private error: unknown;
  private lines: string[] = [];
  private idle: NodeJS.Timeout | undefined;

  constructor(readonly socket: net.Socket, private readonly t: TransferTarget) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.take(chunk));
    socket.on('error', () => this.fail(closing('connection closed', t, 5)));
    socket.on('close', () => this.fail(closing('connection closed', t, 5)));
  }

  private take(chunk: string): void {
    this.buffer += chunk;
    if (this.buffer.length > MAX_REPLY) { this.fail(closing('reply too long', this.t, 5)); return; }
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      this.lines.push(line);
      const first = /^(\d{3})([ -])/.exec(this.lines[0]!);
      if (!first) { this.fail(closing('bad reply', this.t, 5)); return; }
      // The reply ends at a line of the same code followed by a space.
      if (line.startsWith(`${first[1]} `) || (this.lines.length === 1 && first[2] === ' ')) {
        this.replies.push({ code: Number(first[1]), text: this.lines.join(' ').replace(/^\d{3}[ -]/, '') });
        this.lines = [];
      } else if (this.lines.length > 100) { this.fail(closing('reply too long', this.t, 5)); return; }
    }
    this.deliver();
  }

  private fail(e: unknown): void {
    this.error ??= e;
    this.deliver();
  }

  private deliver(): void {
    const w = this.waiting;
    if (!w) return;
    const r = this.replies.shift();
    if (r) { this.waiting = undefined; clearTimeout(this.idle); w.resolve(r); return; }
    if (this.error) { this.waiting = undefined; clearTimeout(this.idle); w.reject(this.error); }
  }

  /** The next reply; a preliminary 1xx is returned too (the caller waits again). */
  reply(): Promise<{ code: number; text: string }> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.idle = setTimeout(() => this.fail(failure('connection timeout')), this.t.idleTimeoutMs);
      this.idle.unref?.();
      this.deliver();
    });
  }

  async command(line: string, ok: (code: number) => boolean): Promise<{ code: number; text: string }> {
    // No CR or LF may reach the server inside an argument (a second command).
    if (/[\r\n]/.test(line)) throw failure('line breaks are not allowed in an ftp name, user or password');
    this.socket.write(`${line}\r\n`);
    const r = await this.reply();
    if (!ok(r.code)) throw closing(`${r.code} ${r.text}`, this.t);
    return r;
  }
}

function connect(host: string, port: number, t: TransferTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, localAddress: t.localAddress, family: t.family });
    const timer = setTimeout(() => { s.destroy(); reject(failure('connection timeout')); }, t.idleTimeoutMs);
    s.once('connect', () => { clearTimeout(timer); s.removeAllListeners('error'); resolve(s); });
    s.once('error', () => { clearTimeout(timer); reject(connectionFailed(host, port)); });
  });
}

async function ftpLogin(t: TransferTarget, track: (s: net.Socket) => void): Promise<Control> {
  const socket = await connect(t.host, t.port, t);
  track(socket);
  const c = new Control(socket, t);
  const hello = await c.reply();
  if (hello.code !== 220) throw closing(`${hello.code} ${hello.text}`, t);
  const u = await c.command(`USER ${t.user || 'anonymous'}`, (code) => code === 230 || code === 331);
  if (u.code === 331) await c.command(`PASS ${t.password}`, (code) => code === 230 || code === 202);
  await c.command(t.ascii ? 'TYPE A' : 'TYPE I', (code) => code === 200);
  return c;
}

/**
 * ASCII type (RFC 959 §3.1.1.1): the wire carries NVT-ASCII, lines ending in CRLF; here they end
 * in LF, as in the classic ftp client's ascii mode. latin1 keeps every other byte as it is.
 */
const fromNvt = (wire: Buffer): Buffer => Buffer.from(wire.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
const toNvt = (local: Buffer): Buffer => Buffer.from(local.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');

/** The data connection: EPSV (RFC 2428) to the control's own address, else PASV's. */
async function ftpData(c: Control, t: TransferTarget, track: (s: net.Socket) => void): Promise<net.Socket> {
  let port: number | undefined;
  c.socket.write('EPSV\r\n');
  const e = await c.reply();
  const m = e.code === 229 ? /\((.)\1\1(\d+)\1\)/.exec(e.text) : null;
  if (m) port = Number(m[2]);
  else {
    const p = await c.command('PASV', (code) => code === 227);
    const a = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(p.text);
    if (!a) throw closing(`227 ${p.text}`, t);
    // The address PASV names is ignored: the data goes to the server already talked to, so a
    // server can not point the client elsewhere (the FTP bounce of RFC 2577 §3).
    port = Number(a[5]) * 256 + Number(a[6]);
  }
  if (!port || port > 65535) throw closing('bad passive port', t, 5);
  const s = await connect(c.socket.remoteAddress ?? t.host, port, t);
  track(s);
  // Heard from now on (an unheard 'error' would end the daemon); the transfer reports its own.
  s.on('error', () => undefined);
  return s;
}

/** The FTP path: the URL's path without its first slash, relative to the login folder. */
const ftpPath = (p: string) => p.replace(/^\//, '');

export function ftpDownload(t: TransferTarget, maxBytes: number): Promise<Buffer> {
  const sockets: net.Socket[] = [];
  return bounded(t, async () => {
    const c = await ftpLogin(t, (s) => sockets.push(s));
    const size = await c.command(`SIZE ${ftpPath(t.path)}`, () => true).then((r) => (r.code === 213 ? Number(r.text.trim()) : undefined));
    if (size !== undefined && size > maxBytes) throw failure('maximum message size exceeded');
    const data = await ftpData(c, t, (s) => sockets.push(s));
    const parts: Buffer[] = [];
    let got = 0;
    const received = new Promise<void>((resolve, reject) => {
      let idle = setTimeout(() => reject(failure('connection timeout')), t.idleTimeoutMs);
      data.on('data', (chunk: Buffer) => {
        clearTimeout(idle);
        idle = setTimeout(() => reject(failure('connection timeout')), t.idleTimeoutMs);
        got += chunk.length;
        if (got > maxBytes) { clearTimeout(idle); data.destroy(); reject(failure('maximum message size exceeded')); return; }
        parts.push(chunk);
        t.onProgress?.(got, size);
      });
      data.on('error', () => { clearTimeout(idle); reject(closing('data connection failed', t, 5)); });
      data.on('end', () => { clearTimeout(idle); resolve(); });
    });
    received.catch(() => undefined);
    await c.command(`RETR ${ftpPath(t.path)}`, (code) => code === 150 || code === 125);
    await received;
    // 226: the whole file was sent (RFC 959 §4.2); a short transfer is a failure, not a file.
    const r = await c.reply();
    if (r.code !== 226 && r.code !== 250) throw closing(`${r.code} ${r.text}`, t);
    c.socket.write('QUIT\r\n');
    return t.ascii ? fromNvt(Buffer.concat(parts)) : Buffer.concat(parts);
  }, () => { for (const s of sockets) s.destroy(); });
}

export function ftpUpload(t: TransferTarget, data: Buffer): Promise<void> {
  const body = t.ascii ? toNvt(data) : data;
  const sockets: net.Socket[] = [];
  return bounded(t, async () => {
    const c = await ftpLogin(t, (s) => sockets.push(s));
    const data = await ftpData(c, t, (s) => sockets.push(s));
    await c.command(`STOR ${ftpPath(t.path)}`, (code) => code === 150 || code === 125);
    await new Promise<void>((resolve, reject) => {
      data.on('error', () => reject(closing('data connection failed', t, 5)));
      data.end(body, () => resolve());
    });
    t.onProgress?.(body.length, body.length);
    // 226: the server has the whole file (RFC 959 §4.2); anything else is the upload failing.
    const r = await c.reply();
    if (r.code !== 226 && r.code !== 250) throw closing(`${r.code} ${r.text}`, t);
    c.socket.write('QUIT\r\n');
  }, () => { for (const s of sockets) s.destroy(); });
}
