// A client of OpenVPN's management interface (openvpn/doc/management-notes.txt) on the unix
// socket of the private runtime folder: releases the hold once rospki is attached, takes the
// client-auth requests of a server (CLIENT:CONNECT / REAUTH with their ENV block) and the
// password requests and state changes of a client.

import net from 'node:net';
import { managementQuote } from './openvpn-config.js';

/** A CLIENT:CONNECT or CLIENT:REAUTH request: answer with allow() or deny() exactly once. */
export interface ClientAuthRequest {
  readonly kind: 'CONNECT' | 'REAUTH';
  readonly cid: string;
  readonly kid: string;
  /** The ENV lines (username, password, common_name, untrusted_ip, untrusted_port, tls_* …). */
  readonly env: ReadonlyMap<string, string>;
}

export interface ManagementEvents {
  /** A server asks whether a client may log in. */
  clientAuth?(request: ClientAuthRequest): void;
  /** A client of a server finished logging in (CLIENT:ESTABLISHED). */
  established?(cid: string, env: ReadonlyMap<string, string>): void;
  /** A client of a server went away (CLIENT:DISCONNECT). */
  disconnected?(cid: string, env: ReadonlyMap<string, string>): void;
  /** A client needs its username and password (`>PASSWORD:Need 'Auth' username/password`). */
  passwordNeeded?(): void;
  /**
   * The server refused a client's login (`>PASSWORD:Verification Failed: 'Auth' ['<reason>']`):
   * `reason` is the text of the server's AUTH_FAILED ('' when it sent none).
   */
  passwordRefused?(reason: string): void;
  /** A client's state (`>STATE:…,CONNECTED,SUCCESS,…` → `CONNECTED`). */
  state?(name: string, detail: string): void;
  /** The socket closed (openvpn stopped). */
  closed?(): void;
}

/** Longest line accepted from openvpn; anything longer is cut off (bounded memory). */
const MAX_LINE = 64 * 1024;
/** ENV lines of one notification, at most. */
const MAX_ENV = 512;

export class ManagementClient {
  private buffered = '';
  private pending: { head: string; args: string[]; env: Map<string, string> } | undefined;
  private done = false;

  private constructor(private readonly socket: net.Socket, private readonly events: ManagementEvents) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.data(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.done) return;
      this.done = true;
      this.events.closed?.();
    });
  }

  /**
   * Connects to the socket openvpn makes after it starts, trying until `deadline` (ms since the
   * epoch) or until `cancelled()`; undefined when it never came.
   */
  static async connect(path: string, events: ManagementEvents, deadline: number, cancelled: () => boolean): Promise<ManagementClient | undefined> {
    while (Date.now() < deadline && !cancelled()) {
      const socket = await new Promise<net.Socket | undefined>((resolve) => {
        const s = net.connect(path);
        s.once('connect', () => { s.removeAllListeners('error'); resolve(s); });
        s.once('error', () => { s.destroy(); resolve(undefined); });
      });
      if (socket) {
        if (cancelled()) { socket.destroy(); return undefined; }
        return new ManagementClient(socket, events);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return undefined;
  }

  /** Sends one command line (management commands are single lines). */
  send(command: string): void {
    if (!this.done && !this.socket.destroyed) this.socket.write(`${command.replace(/[\r\n]/g, ' ')}\n`);
  }

  allow(request: ClientAuthRequest): void {
    this.send(`client-auth-nt ${request.cid} ${request.kid}`);
  }

  /** Refuses a login; `reason` goes to openvpn's log, `clientReason` to the client (AUTH_FAILED,<text>). */
  deny(request: ClientAuthRequest, reason: string, clientReason: string): void {
    this.send(`client-deny ${request.cid} ${request.kid} ${managementQuote(reason)} ${managementQuote(clientReason)}`);
  }

  /** Gives a client its username and password (two commands, as management-notes.txt says). */
  givePassword(user: string, password: string): void {
    this.send(`username "Auth" ${managementQuote(user)}`);
    this.send(`password "Auth" ${managementQuote(password)}`);
  }

  close(): void {
    this.done = true;
    this.socket.destroy();
  }

  private data(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl).replace(/\r$/, '');
      this.buffered = this.buffered.slice(nl + 1);
      this.line(line);
    }
    if (this.buffered.length > MAX_LINE) this.buffered = '';
  }

  private line(line: string): void {
    if (!line.startsWith('>')) return; // SUCCESS:/ERROR: replies to our commands
    const colon = line.indexOf(':');
    const source = line.slice(1, colon);
    const rest = line.slice(colon + 1);
    switch (source) {
      case 'HOLD':
        this.send('hold release');
        return;
      case 'PASSWORD':
        if (rest.startsWith('Verification Failed')) this.events.passwordRefused?.(refusalReason(rest));
        else if (rest.startsWith("Need 'Auth'")) this.events.passwordNeeded?.();
        return;
      case 'STATE': {
        // >STATE:<time>,<name>,<detail>,…
        const [, name = '', detail = ''] = rest.split(',');
        this.events.state?.(name, detail);
        return;
      }
      case 'CLIENT':
        this.clientLine(rest);
        return;
      default:
    }
  }

  /** `>CLIENT:CONNECT,{CID},{KID}` … `>CLIENT:ENV,name=value` … `>CLIENT:ENV,END`. */
  private clientLine(rest: string): void {
    if (rest.startsWith('ENV,')) {
      const p = this.pending;
      if (!p) return;
      const kv = rest.slice(4);
      if (kv === 'END') {
        this.pending = undefined;
        this.notify(p.head, p.args, p.env);
        return;
      }
      const eq = kv.indexOf('=');
      if (eq > 0 && p.env.size < MAX_ENV) p.env.set(kv.slice(0, eq), kv.slice(eq + 1));
      return;
    }
    const [head = '', ...args] = rest.split(',');
    this.pending = { head, args, env: new Map() };
  }

  private notify(head: string, args: string[], env: Map<string, string>): void {
    switch (head) {
      case 'CONNECT':
      case 'REAUTH':
        this.events.clientAuth?.({ kind: head, cid: args[0] ?? '', kid: args[1] ?? '', env });
        return;
      case 'ESTABLISHED':
        this.events.established?.(args[0] ?? '', env);
        return;
      case 'DISCONNECT':
        this.events.disconnected?.(args[0] ?? '', env);
        return;
      default:
    }
  }
}

/** Longest refusal reason kept: it is the remote server's text, shown in /log and `status`. */
const MAX_REASON = 200;

/**
 * The reason of `Verification Failed: 'Auth' ['Data channel cipher negotiation failed (no shared
 * cipher)']` (a server refuses for other causes than the password: a cipher, a client-deny
 * text); control characters dropped, cut to MAX_REASON.
 */
export function refusalReason(rest: string): string {
  const m = /\['(.*)'\]\s*$/.exec(rest);
  // eslint-disable-next-line no-control-regex
  return m ? m[1]!.replace(/[\x00-\x1f\x7f]/g, '').trim().slice(0, MAX_REASON) : '';
}
