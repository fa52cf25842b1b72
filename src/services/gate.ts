// Who may hold a connection to www, www-ssl, api and api-ssl (issue 11). RouterOS's
// `max-sessions` counts sessions; a connection that never logs in must not take one, or twenty
// idle TCP connections lock everybody out. So:
//
//  - a connection is *waiting* until it logs in (API `/login`, a REST request whose credentials
//    are accepted). It must do so within `loginTimeoutMs` of its TCP connect, TLS handshake and
//    request headers included, or it is closed;
//  - at most `preAuthPool` connections wait at once. One more closes the oldest waiting
//    connection of the address that has the most of them: a flood from one address displaces
//    its own connections, and a real client's connection, being the newest, survives until it
//    has logged in;
//  - a login turns the connection into a *session*; sessions are counted against
//    max-sessions (read live) and a login over it is refused. Sessions then follow the
//    service's idle timeouts.
//
// Connections are known by remote address and port, which a TLS socket shares with the TCP
// socket under it: the handlers see the former, the listener the latter.

import type net from 'node:net';
import { plainAddress } from './auth.js';

export interface GateOptions {
  /** Connections waiting to log in, at most. */
  preAuthPool: number;
  /** A waiting connection is closed this long after it connected. */
  loginTimeoutMs: number;
  /**
   * An expired connection still writing an answer (a CRL, the landing page) is closed when the
   * answer is written, or at the latest this long after it expired (default: loginTimeoutMs).
   */
  answerGraceMs?: number;
  /** The service's max-sessions now. */
  maxSessions(): number;
}

interface Entry {
  readonly key: string;
  readonly address: string;
  readonly socket: net.Socket;
  /** `expired`: out of the pool, closing; it can no longer become a session. */
  state: 'waiting' | 'session' | 'expired';
  timer?: NodeJS.Timeout;
  /** Requests being answered (HTTP): an expired connection finishes them first. */
  busy: number;
}

export type Promotion = 'session' | 'already' | 'full' | 'unknown';

export class ConnectionGate {
  /** Waiting connections in connect order (Map keeps insertion order). */
  private readonly waiting = new Map<string, Entry>();
  private readonly byKey = new Map<string, Entry>();
  private readonly waitingPerAddress = new Map<string, number>();
  private sessionCount = 0;

  constructor(private readonly opts: GateOptions) {}

  get sessions(): number { return this.sessionCount; }
  get waitingCount(): number { return this.waiting.size; }

  /** Takes a new TCP connection in as waiting (displacing one when the pool is full). */
  admit(socket: net.Socket): void {
    const key = keyOf(socket);
    if (key === undefined) { socket.destroy(); return; }
    while (this.waiting.size >= Math.max(1, this.opts.preAuthPool) && this.displaceOne());
    const entry: Entry = { key, address: plainAddress(socket.remoteAddress), socket, state: 'waiting', busy: 0 };
    entry.timer = setTimeout(() => this.expire(entry), this.opts.loginTimeoutMs);
    entry.timer.unref();
    this.waiting.set(key, entry);
    this.byKey.set(key, entry);
    this.waitingPerAddress.set(entry.address, (this.waitingPerAddress.get(entry.address) ?? 0) + 1);
    socket.once('close', () => this.release(entry));
  }

  /**
   * A login succeeded on the connection of `socket` (the TCP socket or the TLS socket on it):
   * make it a session unless max-sessions are taken. 'already' for a session logging in again.
   */
  promote(socket: net.Socket): Promotion {
    const key = keyOf(socket);
    const entry = key === undefined ? undefined : this.byKey.get(key);
    if (!entry || entry.state === 'expired') return 'unknown';
    if (entry.state === 'session') return 'already';
    if (this.sessionCount >= this.opts.maxSessions()) return 'full';
    this.leaveWaiting(entry);
    entry.state = 'session';
    this.sessionCount++;
    return 'session';
  }

  /**
   * A request is being answered on the connection of `socket` (HTTP: an unauthenticated CRL
   * download). If the connection's time runs out meanwhile, it is closed once the answer is
   * written, or one more loginTimeoutMs later at the latest. Call the returned function at its end.
   */
  begin(socket: net.Socket): () => void {
    const key = keyOf(socket);
    const entry = key === undefined ? undefined : this.byKey.get(key);
    if (!entry) return () => {};
    entry.busy++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      entry.busy--;
      if (entry.state === 'expired' && entry.busy === 0) entry.socket.destroy();
    };
  }

  /** Expires the oldest waiting connection of the busiest address; false when none waits. */
  private displaceOne(): boolean {
    let heaviest = '';
    let most = 0;
    for (const [address, n] of this.waitingPerAddress) if (n > most) { most = n; heaviest = address; }
    for (const entry of this.waiting.values()) {
      if (entry.address !== heaviest) continue;
      this.expire(entry);
      return true;
    }
    return false;
  }

  private expire(entry: Entry): void {
    if (entry.state !== 'waiting') return;
    // Out of the pool at once, whatever the socket does next.
    this.leaveWaiting(entry);
    entry.state = 'expired';
    if (entry.busy === 0) { entry.socket.destroy(); return; }
    setTimeout(() => entry.socket.destroy(), this.opts.answerGraceMs ?? this.opts.loginTimeoutMs).unref();
  }

  private leaveWaiting(entry: Entry): void {
    clearTimeout(entry.timer);
    if (!this.waiting.delete(entry.key)) return;
    const n = (this.waitingPerAddress.get(entry.address) ?? 1) - 1;
    if (n <= 0) this.waitingPerAddress.delete(entry.address);
    else this.waitingPerAddress.set(entry.address, n);
  }

  private release(entry: Entry): void {
    this.leaveWaiting(entry);
    if (this.byKey.get(entry.key) === entry) this.byKey.delete(entry.key);
    if (entry.state === 'session') this.sessionCount--;
    entry.state = 'expired';
  }
}

function keyOf(socket: net.Socket): string | undefined {
  const { remoteAddress, remotePort } = socket;
  return remoteAddress === undefined || remotePort === undefined ? undefined : `${remoteAddress}|${remotePort}`;
}
