// The FTP service (/ip service ftp; services spec §8): plain FTP (RFC 959) into and out of the
// /file store, as RouterOS serves it — the guide's Example 5 uploads certificates this way.
//
//  - Commands: RFC 959 (USER PASS QUIT NOOP SYST TYPE MODE STRU PWD CWD CDUP PASV PORT LIST NLST
//    RETR STOR APPE REST DELE MKD RMD RNFR RNTO STAT HELP ALLO ABOR), RFC 2428 (EPSV, EPSV ALL,
//    EPRT), RFC 3659 (SIZE, MDTM, MLSD, MLST), RFC 2389 (FEAT, OPTS UTF8). Names are UTF-8.
//    Transfers are binary in every TYPE (TYPE A is accepted and sends the bytes as they are, as
//    vsftpd does by default). No TLS: RouterOS's FTP is plain (AUTH is refused).
//  - The store folder is `/`. Every name goes through the one path-safety rule of the /file store
//    (FileStore.check): `..`, NUL bytes, backslashes, symbolic links and over-long names
//    are refused (553/550, logged `file access refused for U (ftp): …`); only CWD and CDUP walk up
//    with `..`, and stop at the root. Replies name only /file names, never a host path or errno.
//  - Logins: /user through ctx.auth.login (per-address lockout, failure delay, /log lines), the
//    user's group must hold `ftp`; downloads also need `read`, uploads, removals, renames and new
//    folders `write` — the rights of the session are checked at every command, so a disabled,
//    demoted or removed user loses them at once. Three failed logins close the connection.
//  - Limits: a connection waits in the service's ConnectionGate until it logs in (login deadline,
//    pre-auth pool); max-sessions counts logged-in connections; a logged-in connection idle for
//    idleTimeoutMs with no transfer running is closed (421).
//  - Data connections: passive (PASV, EPSV) on a fresh port of the control connection's local
//    address, taken only from the control connection's peer, through the firewall's input chain
//    as `related` traffic, within DATA_CONNECT_MS; active (PORT, EPRT) only to the control
//    connection's peer on a port ≥ 1024 (no FTP bounce).
//  - Uploads go into the store's upload as they arrive (FileStore.upload), never past
//    maxUploadBytes, and replace the target only when complete: a refused or broken upload leaves
//    nothing. An uploaded `*.auto.rsc` is run as the uploader (auto-import.ts). The store may be
//    the data directory or PostgreSQL (issue 17): only its FileStore primitives are used.

import net from 'node:net';
import type { TimeZone } from '../clock.js';
import { effectivePolicies, logFileRefusal } from '../menu/executor.js';
import type { Policy, Session } from '../menu/types.js';
import { UnsafeFileName, type FileStat } from '../store/files.js';
import { ROUTEROS_VERSION_NUMBER } from '../version.js';
import { plainAddress } from './auth.js';
import { isAutoImport, runAutoImport } from './auto-import.js';
import type { ServiceContext } from './context.js';
import type { ConnectionGate } from './gate.js';
import { paceReading } from './pacing.js';
import { fileFailure, FileRefusal, openForDownload, openForUpload, refuseFolderPathAsFile, UploadTooLarge } from './ssh-files.js';
import { longname } from './ssh-sftp.js';

/** A passive data port waits this long for the client's connection; an active one to connect. */
const DATA_CONNECT_MS = 30_000;
/** Longest command line (a name of 1024 bytes and its command fit; the store refuses longer names). */
const MAX_LINE = 8 * 1024;
/** Commands waiting while one runs (a transfer): more is a flood, and closes the connection. */
const MAX_QUEUED = 64;
/** Bytes read from the store per write of a download. */
const READ_CHUNK = 64 * 1024;
/** Failed logins on one connection before it is closed (vsftpd's max_login_fails). */
const MAX_LOGIN_FAILURES = 3;

/** RFC 2389 FEAT lines. */
const FEATURES = ['EPRT', 'EPSV', 'MDTM', 'MLST type*;size*;modify*;perm*;', 'PASV', 'REST STREAM', 'SIZE', 'TVFS', 'UTF8'];

/** Commands a client may send before it logged in. */
const BEFORE_LOGIN = new Set(['USER', 'PASS', 'QUIT', 'NOOP', 'FEAT', 'SYST', 'HELP', 'OPTS', 'AUTH']);

interface Login {
  readonly user: string;
  readonly policies: ReadonlySet<Policy>;
  readonly stamp?: string;
}

/** A reply whose code is not the usual one of its command (FileRefusal's kinds are SFTP's). */
class FtpReply extends Error {
  constructor(readonly code: number, message: string) { super(message); }
}

/** Text a client sent, safe to put in a reply line (no CR/LF, no control characters). */
function shown(text: string): string {
  const clean = text.replace(/[\x00-\x1f\x7f]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}

/** A folder as a 257/250 reply quotes it (RFC 959 Appendix II: `"` doubled), control characters as `?`. */
function quotedPath(name: string): string {
  return `"/${name.replace(/[\x00-\x1f\x7f]/g, '?').replace(/"/g, '""')}"`;
}

/** `YYYYMMDDHHMMSS` in UTC (RFC 3659 time-val). */
function timeVal(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** The store-relative name of a path as given (`/a/./b` → `a/b`); `..` is left for the store to refuse. */
function joinName(cwd: string, arg: string): string {
  const joined = arg.startsWith('/') ? arg : `${cwd}/${arg}`;
  return joined.split('/').filter((s) => s !== '' && s !== '.').join('/');
}

/** A folder walked to (CWD, CDUP): `..` goes up and stops at the root, as in a chroot. */
function walk(cwd: string, arg: string): string {
  const out: string[] = arg.startsWith('/') ? [] : cwd.split('/').filter(Boolean);
  for (const s of arg.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') out.pop(); else out.push(s);
  }
  return out.join('/');
}

export class FtpService {
  private readonly sessions = new Set<FtpSession>();

  constructor(private readonly ctx: ServiceContext) {}

  /** A new control connection, past the firewall and the allow-list, already in its gate. */
  handle(socket: net.Socket, gate: ConnectionGate): void {
    if (socket.destroyed) return;
    const session = new FtpSession(this.ctx, socket, gate);
    this.sessions.add(session);
    socket.once('close', () => this.sessions.delete(session));
    session.start();
  }

  /** Ends every session (its data connections and passive ports with it). */
  stop(): void {
    for (const s of this.sessions) s.close();
  }
}

class FtpSession {
  private readonly remote: string;
  private readonly local: string;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly queue: string[] = [];
  private running = false;
  private closed = false;
  private pendingUser: string | undefined;
  private login: Login | undefined;
  private session: Session | undefined;
  private failures = 0;
  private cwd = '';
  private restOffset = 0;
  private renameFrom: string | undefined;
  private epsvAll = false;
  /** Where the next transfer's data connection comes from. */
  private data: PassivePort | { kind: 'active'; host: string; port: number } | undefined;
  /** The data connection of the transfer running now (ABOR, close). */
  private transfer: net.Socket | undefined;
  private aborted = false;
  private pace: () => void = () => {};

  constructor(private readonly ctx: ServiceContext, private readonly socket: net.Socket, private readonly gate: ConnectionGate) {
    this.remote = plainAddress(socket.remoteAddress);
    this.local = plainAddress(socket.localAddress);
  }

  start(): void {
    const { socket } = this;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    // Replies the peer does not read pause reading its commands (pacing.ts).
    this.pace = paceReading(socket);
    socket.on('close', () => this.cleanup());
    // Commands sent before the greeting wait for it.
    this.running = true;
    void this.ctx.app.identity().then((identity) => {
      this.reply(220, `${shown(identity)} FTP server (MikroTik ${ROUTEROS_VERSION_NUMBER}) ready`);
      this.running = false;
      void this.pump();
    }, (e) => { this.ctx.internalError(e); this.close(); });
  }

  close(): void {
    this.socket.destroy();
    this.cleanup();
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    this.transfer?.destroy();
    this.dropData();
    if (this.login) this.ctx.app.logLogin(this.login.user, 'ftp', true, this.remote).catch(() => {});
  }

  private reply(code: number, text: string): void {
    if (this.closed || !this.socket.writable) return;
    const lines = text.split('\n');
    const last = lines.pop()!;
    this.socket.write(lines.map((l, i) => (i === 0 ? `${code}-${l}\r\n` : ` ${l}\r\n`)).join('') + `${code} ${last}\r\n`);
    this.pace();
  }

  /** Control bytes: Telnet commands (RFC 959 §4.1: the control connection speaks Telnet) dropped, lines split. */
  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const lf = this.buffer.indexOf(0x0a);
      if (lf < 0) break;
      const raw = this.buffer.subarray(0, lf);
      this.buffer = this.buffer.subarray(lf + 1);
      this.line(stripTelnet(raw).toString('utf8').replace(/\r$/, ''));
      if (this.closed) return;
    }
    if (this.buffer.length > MAX_LINE) {
      this.reply(500, 'command line too long');
      this.close();
    }
  }

  private line(text: string): void {
    if (text.length > MAX_LINE) { this.reply(500, 'command line too long'); this.close(); return; }
    // ABOR is answered while a transfer runs (RFC 959 §4.1.3); everything else waits its turn.
    if (this.transfer && /^\s*ABOR\s*$/i.test(text)) {
      this.aborted = true;
      this.transfer.destroy();
      return;
    }
    if (this.queue.length >= MAX_QUEUED) { this.close(); return; }
    this.queue.push(text);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.closed) await this.command(this.queue.shift()!);
    } finally {
      this.running = false;
    }
  }

  private async command(text: string): Promise<void> {
    const space = text.indexOf(' ');
    const verb = (space < 0 ? text : text.slice(0, space)).toUpperCase();
    const arg = space < 0 ? '' : text.slice(space + 1);
    if (!this.login && !BEFORE_LOGIN.has(verb)) { this.reply(530, 'Please login with USER and PASS'); return; }
    // The name of a rename is good for the next command only (RFC 959: RNFR, then RNTO).
    const renameFrom = this.renameFrom;
    this.renameFrom = undefined;
    try {
      if (this.login) await this.checkAlive();
      await this.dispatch(verb, arg, renameFrom);
    } catch (e) {
      await this.failed(e, verb, arg);
    }
  }

  /** A refusal or failure as a reply naming only the /file name. */
  private async failed(e: unknown, verb: string, arg: string): Promise<void> {
    if (e instanceof FtpReply) { this.reply(e.code, e.message); return; }
    if (e instanceof UnsafeFileName && this.login) await logFileRefusal(this.ctx.app.env, { user: this.login.user, via: 'ftp' }, e);
    const name = joinName(this.cwd, arg) || '/';
    const f = fileFailure(e, name, (x) => this.ctx.internalError(x));
    const storing = ['STOR', 'APPE', 'MKD', 'XMKD', 'RNTO'].includes(verb);
    const code = e instanceof UploadTooLarge ? 552 : e instanceof UnsafeFileName && storing ? 553 : 550;
    this.reply(code, f.named ? f.text : `${shown(name)}: ${f.text}`);
  }

  /** Logged-in connections idle this long without a transfer are closed. */
  private idle(): void {
    this.socket.setTimeout(this.ctx.options.idleTimeoutMs);
    this.socket.on('timeout', () => {
      if (this.transfer || this.running) { this.socket.setTimeout(this.ctx.options.idleTimeoutMs); return; }
      this.reply(421, 'Timeout');
      this.socket.end();
      setTimeout(() => this.close(), 1000).unref();
    });
  }

  /** The session's rights now: none once the user is disabled, removed, demoted or re-passworded. */
  private async rights(): Promise<ReadonlySet<Policy>> {
    const { app } = this.ctx;
    return app.store.read((tx) => effectivePolicies(app.env, tx, this.session!));
  }

  /** The router's zone: LIST lines show times in it (MDTM and MLSD stay UTC, RFC 3659 §2.3). */
  private async zone(): Promise<TimeZone> {
    const { app } = this.ctx;
    return app.store.read((tx) => app.env.zone(tx));
  }

  /** Every command of a logged-in session needs the `ftp` policy, as it is now. */
  private async checkAlive(): Promise<void> {
    if (!(await this.rights()).has('ftp')) throw new FtpReply(530, 'not enough permissions (9)');
  }

  private async need(policy: Policy): Promise<void> {
    if (!(await this.rights()).has(policy)) throw new FtpReply(550, 'not enough permissions (9)');
  }

  /** A store name, checked; '' is the store's root folder. */
  private resolve(name: string): string {
    return name === '' ? '' : this.ctx.app.files.check(name);
  }

  /** What is at a name (a link is not in the store). */
  private async stat(name: string): Promise<FileStat> {
    const st = await this.ctx.app.files.stat(name);
    if (!st) throw new FileRefusal('no-such-file', 'no such file');
    return st;
  }

  private async dispatch(verb: string, arg: string, renameFrom: string | undefined): Promise<void> {
    switch (verb) {
      case 'USER': return this.user(arg);
      case 'PASS': return this.pass(arg);
      case 'QUIT':
        this.reply(221, 'Goodbye');
        this.socket.end();
        setTimeout(() => this.close(), 1000).unref();
        return;
      case 'NOOP': return this.reply(200, 'NOOP command successful');
      case 'SYST': return this.reply(215, 'UNIX Type: L8');
      case 'FEAT': return this.reply(211, ['Features:', ...FEATURES, 'End'].join('\n'));
      case 'OPTS': return this.opts(arg);
      case 'HELP': return this.reply(214, 'The following commands are recognized:\nABOR ALLO APPE CDUP CWD DELE EPRT EPSV FEAT HELP LIST MDTM MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PORT PWD QUIT REST RETR RMD RNFR RNTO SIZE STAT STOR STRU SYST TYPE USER\nHelp OK');
      case 'AUTH': return this.reply(502, 'TLS is not available: this FTP server is plain, as RouterOS\'s');
      case 'PWD': case 'XPWD': return this.reply(257, `${quotedPath(this.cwd)} is the current directory`);
      case 'CWD': case 'XCWD': return this.changeDir(arg);
      case 'CDUP': case 'XCUP': return this.changeDir('..');
      case 'TYPE': {
        const t = arg.trim().toUpperCase();
        if (t === 'I' || t === 'L 8') return this.reply(200, 'Type set to I');
        if (t === 'A' || t === 'A N') return this.reply(200, 'Type set to A');
        return this.reply(504, 'Type not supported');
      }
      case 'MODE': return arg.trim().toUpperCase() === 'S' ? this.reply(200, 'Mode set to S') : this.reply(504, 'Only stream mode is supported');
      case 'STRU': return arg.trim().toUpperCase() === 'F' ? this.reply(200, 'Structure set to F') : this.reply(504, 'Only file structure is supported');
      case 'ALLO': {
        // A client that announces the size learns at once that it is too large.
        const size = Number(/^\s*(\d+)/.exec(arg)?.[1] ?? 0);
        return size > this.ctx.options.maxUploadBytes ? this.reply(552, 'file too large') : this.reply(202, 'ALLO command ignored');
      }
      case 'REST': {
        if (!/^\d{1,15}$/.test(arg.trim())) return this.reply(501, 'REST needs a byte offset');
        this.restOffset = Number(arg.trim());
        return this.reply(350, `Restarting at ${this.restOffset}. Send STOR or RETR to start the transfer`);
      }
      case 'ABOR': return this.reply(225, 'No transfer to abort');
      case 'PASV': return this.passive(false, arg);
      case 'EPSV': return this.passive(true, arg);
      case 'PORT': return this.active(arg, false);
      case 'EPRT': return this.active(arg, true);
      case 'LIST': return this.list(arg, 'long');
      case 'NLST': return this.list(arg, 'names');
      case 'MLSD': return this.list(arg, 'facts');
      case 'MLST': return this.mlst(arg);
      case 'STAT': return this.status(arg);
      case 'SIZE': {
        const st = await this.stat(this.resolve(joinName(this.cwd, arg)));
        if (st.kind !== 'file') throw new FileRefusal('failure', 'not a regular file');
        return this.reply(213, String(st.size));
      }
      case 'MDTM': {
        const name = this.resolve(joinName(this.cwd, arg));
        return this.reply(213, timeVal((await this.stat(name)).mtime));
      }
      case 'RETR': return this.retrieve(arg);
      case 'STOR': return this.store(arg, false);
      case 'APPE': return this.store(arg, true);
      case 'DELE': {
        await this.need('write');
        const name = this.resolve(joinName(this.cwd, arg));
        if (name === '' || (await this.stat(name)).kind !== 'file') throw new FileRefusal('failure', 'not a regular file');
        await this.ctx.app.files.unlink(name);
        return this.reply(250, 'DELE command successful');
      }
      case 'MKD': case 'XMKD': {
        await this.need('write');
        const name = this.resolve(joinName(this.cwd, arg));
        if (name === '') throw new FileRefusal('failure', 'file exists');
        await this.ctx.app.files.mkdirOne(name, this.ctx.app.clock.now());
        return this.reply(257, `${quotedPath(name)} created`);
      }
      case 'RMD': case 'XRMD': {
        await this.need('write');
        const name = this.resolve(joinName(this.cwd, arg));
        if (name === '' || (await this.stat(name)).kind !== 'directory') throw new FileRefusal('failure', 'not a directory');
        await this.ctx.app.files.rmdir(name);
        return this.reply(250, 'RMD command successful');
      }
      case 'RNFR': {
        await this.need('write');
        const name = this.resolve(joinName(this.cwd, arg));
        if (name === '') throw new FileRefusal('failure', 'invalid rename');
        await this.stat(name);
        this.renameFrom = name;
        return this.reply(350, 'Ready for RNTO');
      }
      case 'RNTO': {
        if (renameFrom === undefined) return this.reply(503, 'RNFR first');
        await this.need('write');
        const from = this.resolve(renameFrom);
        const to = this.resolve(joinName(this.cwd, arg));
        if (to === '') throw new FileRefusal('failure', 'invalid rename');
        if (to.startsWith(`${from}/`)) throw new FileRefusal('failure', 'a folder can not be moved into itself');
        await this.stat(from);
        if (await this.ctx.app.files.stat(to)) throw new FileRefusal('failure', 'file exists');
        await this.ctx.app.files.rename(from, to);
        return this.reply(250, 'Rename successful');
      }
      case 'SITE': case 'STOU': case 'SMNT': case 'REIN': case 'ACCT':
        return this.reply(502, `${verb} not implemented`);
      default:
        return this.reply(500, `${shown(verb)} not understood`);
    }
  }

  private user(arg: string): void {
    if (this.login) { this.reply(530, 'Already logged in'); return; }
    this.pendingUser = arg;
    this.reply(331, `Password required for ${shown(arg)}`);
  }

  private async pass(password: string): Promise<void> {
    if (this.login) { this.reply(230, 'Already logged in'); return; }
    const user = this.pendingUser;
    this.pendingUser = undefined;
    if (user === undefined) { this.reply(503, 'Login with USER first'); return; }
    const { auth } = this.ctx;
    const r = await auth.login(user, password, this.remote, 'ftp');
    if (this.closed) return;
    let ok = r.ok;
    if (r.ok && !r.policies.has('ftp')) {
      // Right password, but no file transfer for this group: a failed login like a wrong password.
      await auth.recordFailure(user, this.remote, 'ftp');
      ok = false;
    }
    if (this.closed) return;
    if (!ok || !r.ok) {
      this.reply(530, 'Login incorrect');
      if (++this.failures >= MAX_LOGIN_FAILURES) this.close();
      return;
    }
    const promotion = this.gate.promote(this.socket);
    if (promotion === 'full') { this.reply(421, 'too many sessions'); this.close(); return; }
    if (promotion === 'unknown') { this.close(); return; }
    this.login = { user, policies: r.policies, stamp: r.stamp };
    this.session = {
      user, via: 'ftp', policies: r.policies, channel: 'ftp', stamp: r.stamp, address: this.remote, lastPrint: new Map(), width: 80,
    };
    this.idle();
    this.reply(230, `User ${shown(user)} logged in`);
    await auth.logLogin(user, this.remote, 'ftp').catch((e) => this.ctx.internalError(e));
  }

  private opts(arg: string): void {
    const [name, value] = arg.trim().split(/\s+/, 2).map((s) => s.toUpperCase());
    if (name === 'UTF8' || name === 'UTF-8') { this.reply(200, `UTF8 set to ${value === 'OFF' ? 'off (names stay UTF-8)' : 'on'}`); return; }
    if (name === 'MLST') { this.reply(200, 'MLST OPTS type;size;modify;perm;'); return; }
    this.reply(501, 'Option not understood');
  }

  private async changeDir(arg: string): Promise<void> {
    const target = walk(this.cwd, arg);
    const name = this.resolve(target);
    if ((await this.stat(name)).kind !== 'directory') throw new FileRefusal('failure', 'not a directory');
    this.cwd = name;
    this.reply(250, `CWD command successful, ${quotedPath(name)} is the current directory`);
  }

  // ------------------------------------------------------------------------------------------
  // Data connections

  private dropData(): void {
    if (this.data?.kind === 'passive') this.data.close();
    this.data = undefined;
  }

  private async passive(extended: boolean, arg: string): Promise<void> {
    const family = this.local.includes(':') ? 2 : 1;
    if (extended) {
      const a = arg.trim().toUpperCase();
      if (a === 'ALL') { this.epsvAll = true; this.reply(200, 'EPSV ALL ok'); return; }
      if (a !== '' && a !== String(family)) { this.reply(522, `Network protocol not supported, use (${family})`); return; }
    } else {
      if (this.epsvAll) { this.reply(501, 'PASV not allowed after EPSV ALL'); return; }
      if (family === 2) { this.reply(500, 'PASV is for IPv4: use EPSV'); return; }
    }
    this.dropData();
    const port = await PassivePort.open(this.local, this.remote, this.ctx);
    if (this.closed) { port.close(); return; }
    this.data = port;
    if (extended) { this.reply(229, `Entering Extended Passive Mode (|||${port.port}|)`); return; }
    const hostParts = this.local.split('.').join(',');
    this.reply(227, `Entering Passive Mode (${hostParts},${port.port >> 8},${port.port & 0xff}).`);
  }

  /** PORT h1,h2,h3,h4,p1,p2 / EPRT |af|addr|port|: only back to the client itself (no FTP bounce). */
  private active(arg: string, extended: boolean): void {
    if (this.epsvAll) { this.reply(501, `${extended ? 'EPRT' : 'PORT'} not allowed after EPSV ALL`); return; }
    let host: string | undefined;
    let port = 0;
    if (extended) {
      const d = arg.trim()[0];
      const parts = d ? arg.trim().split(d) : [];
      if (parts.length === 5 && /^[12]$/.test(parts[1]!) && /^\d{1,5}$/.test(parts[3]!)) {
        if (parts[1] !== (this.remote.includes(':') ? '2' : '1')) { this.reply(522, `Network protocol not supported, use (${this.remote.includes(':') ? 2 : 1})`); return; }
        host = parts[2];
        port = Number(parts[3]);
      }
    } else {
      const n = arg.trim().split(',');
      if (n.length === 6 && n.every((x) => /^\d{1,3}$/.test(x) && Number(x) < 256)) {
        host = n.slice(0, 4).join('.');
        port = Number(n[4]) * 256 + Number(n[5]);
      }
    }
    if (!host || port < 1024 || port > 65535 || plainAddress(host) !== this.remote) { this.reply(500, 'Illegal PORT command'); return; }
    this.dropData();
    this.data = { kind: 'active', host: this.remote, port };
    this.reply(200, `${extended ? 'EPRT' : 'PORT'} command successful`);
  }

  /** The data connection for the transfer about to start (425 when there is none). */
  private async openData(): Promise<net.Socket> {
    const data = this.data;
    this.data = undefined;
    if (!data) throw new FtpReply(425, 'Use PASV or EPSV first');
    if (data.kind === 'passive') {
      const socket = await data.take();
      if (!socket) throw new FtpReply(425, 'Can\'t open data connection');
      return socket;
    }
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: data.host, port: data.port, localAddress: this.local });
      const timer = setTimeout(() => { socket.destroy(); reject(new FtpReply(425, 'Can\'t open data connection')); }, DATA_CONNECT_MS);
      socket.once('connect', () => { clearTimeout(timer); resolve(socket); });
      socket.once('error', () => { clearTimeout(timer); reject(new FtpReply(425, 'Can\'t open data connection')); });
    });
  }

  /**
   * Runs a transfer on the data connection: 150 first, then `move` (which throws on failure),
   * 226 when it went through. An ABOR or a broken data connection ends it with 426.
   */
  private async transferOn(opening: string, move: (data: net.Socket) => Promise<void>): Promise<boolean> {
    const data = await this.openData();
    data.on('error', () => {});
    data.setTimeout(this.ctx.options.idleTimeoutMs, () => data.destroy());
    this.transfer = data;
    this.aborted = false;
    this.reply(150, opening);
    try {
      await move(data);
      this.reply(226, 'Transfer complete');
      return true;
    } catch (e) {
      data.destroy();
      if (this.aborted) {
        this.reply(426, 'Connection closed; transfer aborted');
        this.reply(226, 'ABOR command successful');
        return false;
      }
      if (e instanceof UploadTooLarge || e instanceof FtpReply || e instanceof FileRefusal || e instanceof UnsafeFileName) throw e;
      const code = (e as NodeJS.ErrnoException)?.code;
      if (code && ['ENOSPC', 'EDQUOT', 'EFBIG'].includes(code)) throw e;
      this.reply(426, 'Connection closed; transfer aborted');
      return false;
    } finally {
      this.transfer = undefined;
      this.aborted = false;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Listings

  /** What a listing shows of a folder or a file: [name, stats], links and temporary files left out. */
  private async entries(arg: string): Promise<{ dir: boolean; items: Array<[string, FileStat]> }> {
    // `LIST -la` and the like: options of ls, which clients send out of habit.
    const path = arg.trim().startsWith('-') ? arg.trim().replace(/^(-\S+\s*)+/, '') : arg;
    const name = this.resolve(joinName(this.cwd, path));
    const st = await this.stat(name);
    if (st.kind !== 'directory') return { dir: false, items: [[name.slice(name.lastIndexOf('/') + 1), st]] };
    const items = (await this.ctx.app.files.readdir(name)).map((e): [string, FileStat] => [e.name, e.stat]);
    return { dir: true, items };
  }

  private facts(name: string, st: FileStat, type?: string, rights?: ReadonlySet<Policy>): string {
    const write = rights?.has('write');
    const directory = st.kind === 'directory';
    const perm = directory ? `el${write ? 'cmpdf' : ''}` : `${rights?.has('read') ? 'r' : ''}${write ? 'awdf' : ''}`;
    const size = directory ? '' : `size=${st.size};`;
    return `type=${type ?? (directory ? 'dir' : 'file')};${size}modify=${timeVal(st.mtime)};perm=${perm}; ${name}`;
  }

  private async list(arg: string, style: 'long' | 'names' | 'facts'): Promise<void> {
    const { dir, items } = await this.entries(arg);
    if (style === 'facts' && !dir) throw new FileRefusal('failure', 'not a directory');
    const rights = await this.rights();
    const zone = await this.zone();
    const lines = items.map(([n, st]) => (style === 'names' ? n : style === 'long' ? longname(n, st, this.login!.user, zone) : this.facts(n, st, undefined, rights)));
    const text = Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'utf8');
    await this.transferOn(`Opening data connection for ${style === 'facts' ? 'MLSD' : 'file list'}`, async (data) => {
      await new Promise<void>((resolve, reject) => {
        data.once('error', reject);
        data.once('close', () => reject(new Error('closed')));
        data.end(text, () => resolve());
      });
    });
  }

  private async mlst(arg: string): Promise<void> {
    const name = joinName(this.cwd, arg);
    const st = await this.stat(this.resolve(name));
    this.reply(250, `Listing /${shown(name)}\n${this.facts(`/${name}`, st, undefined, await this.rights())}\nEnd`);
  }

  private async status(arg: string): Promise<void> {
    if (arg.trim() === '') {
      const mode = this.data?.kind ?? 'none';
      this.reply(211, `FTP server status:\nLogged in as ${shown(this.login!.user)}\nData connection: ${mode}\nEnd of status`);
      return;
    }
    const { items } = await this.entries(arg);
    const zone = await this.zone();
    this.reply(213, ['Status follows:', ...items.map(([n, st]) => longname(n, st, this.login!.user, zone)), 'End of status'].join('\n'));
  }

  // ------------------------------------------------------------------------------------------
  // Transfers

  private async retrieve(arg: string): Promise<void> {
    await this.need('read');
    const offset = this.restOffset;
    this.restOffset = 0;
    const name = this.resolve(joinName(this.cwd, arg));
    if (name === '') throw new FileRefusal('failure', 'not a regular file');
    // Never through a link, even one planted after the check (O_NOFOLLOW on disk); a private key
    // only with `sensitive` (ssh-files.ts).
    const file = await openForDownload(this.ctx.app.files, name, await this.rights(), this.ctx.app.registry);
    try {
      if (offset > file.size) throw new FtpReply(554, 'Restart offset past the end of the file');
      await this.transferOn(`Opening BINARY mode data connection for ${shown(name)} (${file.size - offset} bytes)`, async (data) => {
        for (let at = offset; at < file.size;) {
          const chunk = await file.read(at, Math.min(READ_CHUNK, file.size - at));
          if (chunk.length === 0) break; // the file got shorter meanwhile
          if (!data.writable) throw new Error('the data connection closed');
          at += chunk.length;
          if (!data.write(chunk)) await drained(data);
        }
        await new Promise<void>((resolve, reject) => {
          if (!data.writable) { reject(new Error('the data connection closed')); return; }
          data.once('error', reject);
          data.once('close', () => reject(new Error('the data connection closed')));
          data.end(() => resolve());
        });
      });
    } finally {
      await file.close();
    }
  }

  private async store(arg: string, append: boolean): Promise<void> {
    await this.need('write');
    const restart = this.restOffset;
    this.restOffset = 0;
    const { app, options } = this.ctx;
    const name = this.resolve(joinName(this.cwd, arg));
    if (name === '') throw new FileRefusal('failure', 'is a directory');
    await refuseFolderPathAsFile(app.files, arg, name);
    const keep = append || restart > 0;
    const upload = await openForUpload(app.files, name, options.maxUploadBytes, keep, await this.rights(), app.registry);
    let offset = append ? upload.size() : restart;
    let done = false;
    try {
      const ok = await this.transferOn(`Opening BINARY mode data connection for ${shown(name)}`, async (data) => {
        for await (const chunk of data as AsyncIterable<Buffer>) {
          await upload.write(chunk, offset);
          offset += chunk.length;
        }
        // A restarted upload keeps what came before the offset, and nothing after what it sent.
        if (restart > 0) await upload.truncate(offset);
        if (this.aborted) throw new Error('aborted');
        await upload.commit(app.clock.now());
        done = true;
      });
      if (ok && isAutoImport(name)) {
        const by = { user: this.login!.user, policies: this.login!.policies, stamp: this.login!.stamp, channel: 'ftp' as const, via: 'ftp', address: this.remote };
        runAutoImport(this.ctx, name, by).catch((e) => this.ctx.internalError(e));
      }
    } finally {
      if (!done) await upload.abort();
    }
  }
}

/** One passive data port: a listener on the control connection's local address for one connection. */
class PassivePort {
  readonly kind = 'passive' as const;
  private accepted: net.Socket | undefined;
  private waiter: ((s: net.Socket | undefined) => void) | undefined;
  private done = false;
  private readonly timer: NodeJS.Timeout;

  private constructor(private readonly server: net.Server, readonly port: number) {
    this.timer = setTimeout(() => this.close(), DATA_CONNECT_MS);
    this.timer.unref();
  }

  static open(local: string, peer: string, ctx: ServiceContext): Promise<PassivePort> {
    const server = net.createServer();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: local, port: 0 }, () => {
        server.off('error', reject);
        server.on('error', () => {});
        const port = new PassivePort(server, (server.address() as net.AddressInfo).port);
        server.on('connection', (s: net.Socket) => {
          s.on('error', () => {});
          // Only the client of the control connection may connect (no port stealing), once, and
          // only what the input chain lets in (an FTP data connection is `related` traffic).
          if (port.done || plainAddress(s.remoteAddress) !== peer) { s.destroy(); return; }
          if (!ctx.firewall.admitConnection(s, 'related')) return;
          port.arrived(s);
        });
        resolve(port);
      });
    });
  }

  private arrived(s: net.Socket): void {
    this.done = true;
    this.server.close();
    clearTimeout(this.timer);
    if (this.waiter) { this.waiter(s); this.waiter = undefined; } else this.accepted = s;
  }

  /** The data connection, once the client made it (undefined when it did not in time). */
  take(): Promise<net.Socket | undefined> {
    if (this.accepted) { const s = this.accepted; this.accepted = undefined; return Promise.resolve(s); }
    if (this.done) return Promise.resolve(undefined);
    return new Promise((resolve) => { this.waiter = resolve; });
  }

  close(): void {
    clearTimeout(this.timer);
    this.server.close();
    this.accepted?.destroy();
    this.accepted = undefined;
    this.done = true;
    this.waiter?.(undefined);
    this.waiter = undefined;
  }
}

/**
 * A control line without its Telnet commands: IAC IAC is a 0xFF byte, IAC WILL/WONT/DO/DONT x
 * and IAC x are dropped (ftplib's abort() sends IAC IP IAC DM before ABOR).
 */
function stripTelnet(line: Buffer): Buffer {
  if (!line.includes(0xff)) return line;
  const out: number[] = [];
  for (let i = 0; i < line.length; i++) {
    const b = line[i]!;
    if (b !== 0xff) { out.push(b); continue; }
    const next = line[i + 1];
    if (next === 0xff) { out.push(0xff); i++; } else if (next !== undefined && next >= 251 && next <= 254) i += 2; else i++;
  }
  return Buffer.from(out);
}

/** Resolves when a data connection can take more (or is gone: the write that follows fails). */
function drained(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { socket.off('drain', done); socket.off('close', done); resolve(); };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
