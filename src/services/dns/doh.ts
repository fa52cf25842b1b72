// The DNS-over-HTTPS client (RFC 8484) behind `/ip dns use-doh-server` and the DoH servers of
// `/ip dns forwarders`. Queries go as POST with `application/dns-message` bodies (§4.1; POST
// rather than GET: no URL length limit and nothing for HTTP caches to keep, the ID is 0 as §4.1
// asks). Like RouterOS on ARM64/x86 (manual, DNS): HTTP/2 when the server offers it through ALPN —
// one connection, queries multiplexed, at most doh-max-concurrent-queries at once — else HTTP/1.1
// with up to doh-max-server-connections kept-alive connections.
//
// Node does not judge the server's certificate (rejectUnauthorized is off): with verify-doh-cert
// the one trust engine does, for the trust-store component `dns` (trusted rows, built-in roots
// per /certificate settings, CRLs with crl-use), before a single query is sent. A connection is
// judged again before its next query once the configuration changed (trustChanged), so a CA made
// untrusted or a revoked certificate stops answers at once. Failures reach /log as RouterOS
// writes them (services spec §6.3): `DoH server connection error: <reason>`.

import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { MAX_MESSAGE } from './wire.js';

export interface DohSettings {
  readonly url: string;
  readonly verify: boolean;
  readonly maxConnections: number;
  readonly maxConcurrent: number;
  readonly timeoutMs: number;
}

export interface DohDeps {
  /** An address for the URL's host name (static entries, plain servers), or undefined. */
  resolve(host: string): Promise<string | undefined>;
  /** The trust engine's verdict on a presented chain: undefined when trusted, else its text. */
  verify(chain: Buffer[], host: string): Promise<string | undefined>;
  /** One `dns,error` line for /log. */
  log(message: string): void;
}

interface ResponseMeta {
  status?: number;
  type?: string;
}

/** A query that failed; `message` is the reason as the log line ends. */
export class DohError extends Error {}

/** The DoH server's host name resolves to nothing: the resolver uses its plain servers instead (spec §6.3). */
export class DohUnresolved extends Error {}

interface Connection {
  readonly socket: tls.TLSSocket;
  readonly chain: Buffer[];
  /** The configuration generation the chain was last judged in, and when (Date.now()). */
  generation: number;
  judgedAt: number;
}

/** The peer's chain as DER, leaf first (Node links issuerCertificate; a root links to itself). */
function peerChain(socket: tls.TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let cert = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (cert && cert.raw && out.length < 16) {
    if (seen.has(cert.fingerprint256)) break;
    seen.add(cert.fingerprint256);
    out.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return out;
}

/** A TLS or socket error as the end of a RouterOS log line. */
function connectionText(e: NodeJS.ErrnoException, handshakeDone: boolean): string {
  switch (e.code) {
    case 'ECONNREFUSED': return 'connection refused';
    case 'ECONNRESET': case 'EPIPE': return handshakeDone ? 'remote disconnected while in HTTP exchange' : 'SSL: ssl: connection reset (6)';
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'host unreachable';
    default: return handshakeDone ? 'remote disconnected while in HTTP exchange' : `SSL: handshake failed: ${e.message} (6)`;
  }
}

/** An HTTP/1.1 agent no longer used: idle connections close now, busy ones after their answer. */
function retire(agent: http.Agent): void {
  (agent as unknown as { keepAlive: boolean }).keepAlive = false;
  for (const list of Object.values(agent.freeSockets)) for (const s of list ?? []) s.destroy();
}

/** At most this many queries wait for a free slot; more fail at once (the resolver bounds it too). */
const MAX_WAITING = 1024;
/** After a failed connection, queries fail at once for this long (unless the configuration changes). */
const FAILURE_HOLD_MS = 1000;
/** A connection's chain is judged again after this long even when nothing changed (a certificate's end passes). */
const REJUDGE_MS = 60_000;
/** The same log line at most once in this long. */
const LOG_REPEAT_MS = 10_000;

export class DohClient {
  private readonly url: URL;
  private readonly host: string;
  private readonly port: number;
  private generation = 0;
  private mode: 'unknown' | 'h2' | 'h1' = 'unknown';
  private session: http2.ClientHttp2Session | undefined;
  private sessionConn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private agent: http.Agent | undefined;
  /** A connection made while finding out the protocol, handed to the HTTP/1.1 agent first. */
  private spare: Connection | undefined;
  private failure: { text: string; until: number; generation: number } | undefined;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private lastLog = { text: '', at: 0 };
  private closed = false;

  constructor(readonly settings: DohSettings, private readonly deps: DohDeps) {
    this.url = new URL(settings.url);
    this.host = this.url.hostname.replace(/^\[|\]$/g, '');
    this.port = this.url.port ? Number(this.url.port) : 443;
  }

  /** The configuration or the clock changed (trusted CAs, CRLs, settings): judge connections again before use. */
  trustChanged(): void {
    this.generation++;
    this.failure = undefined;
    if (this.settings.verify && this.agent) {
      // HTTP/1.1 connections can not be judged between requests: new ones are made (and judged)
      // for the next queries; the old ones end once their query has its answer.
      retire(this.agent);
      this.agent = undefined;
    }
  }

  close(): void {
    this.closed = true;
    this.session?.destroy();
    this.session = undefined;
    this.agent?.destroy();
    this.agent = undefined;
    this.spare?.socket.destroy();
    this.spare = undefined;
    for (const w of this.waiting.splice(0)) w();
  }

  /** Sends one DNS message; resolves with the answer's bytes or rejects with DohError/DohUnresolved. */
  async query(wire: Buffer): Promise<Buffer> {
    if (this.closed) throw new DohError('DoH client stopped');
    const failure = this.failure;
    if (failure && failure.generation === this.generation && Date.now() < failure.until) throw new DohError(failure.text);
    await this.slot();
    try {
      return await this.withTimeout(wire);
    } finally {
      this.release();
    }
  }

  private async slot(): Promise<void> {
    if (this.active < this.settings.maxConcurrent) { this.active++; return; }
    if (this.waiting.length >= MAX_WAITING) throw new DohError('too many queries waiting');
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.closed) throw new DohError('DoH client stopped');
    this.active++;
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  private withTimeout(wire: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      let connected = false;
      const timer = setTimeout(() => {
        const text = connected ? 'Idle timeout - waiting data' : 'timeout connecting';
        this.logLine(text);
        abort.abort();
        reject(new DohError(text));
      }, this.settings.timeoutMs);
      const abort = new AbortController();
      this.exchange(wire, abort.signal, () => { connected = true; }).then(
        (answer) => { clearTimeout(timer); resolve(answer); },
        (e) => { clearTimeout(timer); reject(e); },
      );
    });
  }

  private async exchange(wire: Buffer, signal: AbortSignal, onConnected: () => void): Promise<Buffer> {
    if (this.mode !== 'h1') {
      const session = await this.h2Session();
      if (session) {
        onConnected();
        return this.h2Exchange(session, wire, signal);
      }
    }
    onConnected();
    return this.h1Exchange(wire, signal);
  }

  // ------------------------------------------------------------------------------------------
  // Connections

  /** A TLS connection to the server, judged by the trust engine when verify-doh-cert is on. */
  private connect(alpn: string[]): Promise<Connection> {
    return (async () => {
      const address = net.isIP(this.host) ? this.host : await this.deps.resolve(this.host);
      if (!address) throw new DohUnresolved(this.host);
      const generation = this.generation;
      const conn = await new Promise<Connection>((resolve, reject) => {
        const socket = tls.connect({
          host: address, port: this.port, servername: net.isIP(this.host) ? undefined : this.host,
          ALPNProtocols: alpn, rejectUnauthorized: false,
        });
        const timer = setTimeout(() => { socket.destroy(); reject(this.connectFailed('timeout connecting')); }, this.settings.timeoutMs);
        socket.once('error', (e: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          reject(e.name === 'AbortError' ? new DohError('aborted') : this.connectFailed(connectionText(e, false)));
        });
        socket.once('secureConnect', () => {
          clearTimeout(timer);
          resolve({ socket, chain: peerChain(socket), generation, judgedAt: 0 });
        });
      });
      conn.socket.on('error', () => {}); // later errors end the exchange that sees them
      const refusal = await this.judge(conn);
      if (refusal) {
        conn.socket.destroy();
        throw this.connectFailed(refusal);
      }
      return conn;
    })();
  }

  /** undefined when the connection may be used now; else the refusal (already logged by the caller). */
  private async judge(conn: Connection): Promise<string | undefined> {
    const generation = this.generation;
    const at = Date.now();
    const refusal = this.settings.verify ? await this.deps.verify(conn.chain, this.host) : undefined;
    if (!refusal) { conn.generation = generation; conn.judgedAt = at; }
    return refusal;
  }

  /** Whether a connection's verdict is out of date (the configuration or the clock moved, or it is old). */
  private stale(conn: Connection): boolean {
    return conn.generation !== this.generation || Date.now() - conn.judgedAt > REJUDGE_MS;
  }

  private connectFailed(text: string): DohError {
    this.failure = { text, until: Date.now() + FAILURE_HOLD_MS, generation: this.generation };
    this.logLine(text);
    return new DohError(text);
  }

  private logLine(text: string): void {
    const now = Date.now();
    if (text === this.lastLog.text && now - this.lastLog.at < LOG_REPEAT_MS) return;
    this.lastLog = { text, at: now };
    this.deps.log(`DoH server connection error: ${text}`);
  }

  // ------------------------------------------------------------------------------------------
  // HTTP/2

  /** The HTTP/2 session (connecting when there is none); undefined when the server speaks HTTP/1.1 only. */
  private async h2Session(): Promise<http2.ClientHttp2Session | undefined> {
    const current = this.session;
    if (current && !current.closed && !current.destroyed && this.sessionConn) {
      if (this.stale(this.sessionConn)) {
        const refusal = await this.judge(this.sessionConn);
        if (refusal) {
          current.destroy();
          if (this.session === current) this.session = undefined;
          throw this.connectFailed(refusal);
        }
      }
      return current;
    }
    this.connecting ??= this.connect(['h2', 'http/1.1']).finally(() => { this.connecting = undefined; });
    const conn = await this.connecting;
    if (this.session && !this.session.closed && !this.session.destroyed) {
      if (conn !== this.sessionConn && conn !== this.spare) conn.socket.destroy();
      return this.session;
    }
    if (conn.socket.alpnProtocol !== 'h2') {
      this.mode = 'h1';
      if (!conn.socket.destroyed) this.spare = conn;
      return undefined;
    }
    this.mode = 'h2';
    const session = http2.connect(`https://${this.url.host}`, { createConnection: () => conn.socket });
    session.on('error', () => {});
    const forget = () => { if (this.session === session) { this.session = undefined; this.sessionConn = undefined; } };
    session.once('close', forget);
    session.once('goaway', forget);
    this.session = session;
    this.sessionConn = conn;
    return session;
  }

  private h2Exchange(session: http2.ClientHttp2Session, wire: Buffer, signal: AbortSignal): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request({
          ':method': 'POST', ':path': `${this.url.pathname}${this.url.search}`, 'content-type': 'application/dns-message',
          accept: 'application/dns-message', 'content-length': wire.length,
        }, { signal });
      } catch {
        reject(new DohError(this.disconnected()));
        return;
      }
      const meta: ResponseMeta = {};
      stream.on('response', (headers) => {
        meta.status = Number(headers[':status']);
        meta.type = String(headers['content-type'] ?? '');
      });
      this.collect(stream, meta, resolve, reject);
      stream.end(wire);
    });
  }

  private disconnected(): string {
    const text = 'remote disconnected while in HTTP exchange';
    this.logLine(text);
    return text;
  }

  /** Reads a response body (bounded) and checks its status and type. */
  private collect(stream: NodeJS.ReadableStream & { destroy(e?: Error): void }, meta: ResponseMeta, resolve: (b: Buffer) => void, reject: (e: Error) => void): void {
    const parts: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (text: string, log = true) => {
      if (done) return;
      done = true;
      if (log) this.logLine(text);
      stream.destroy();
      reject(new DohError(text));
    };
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_MESSAGE) { fail('answer longer than 65535 octets'); return; }
      parts.push(chunk);
    });
    stream.on('error', (e: Error) => {
      if (e.name === 'AbortError') fail('aborted', false);
      else if (!done) { done = true; reject(new DohError(this.disconnected())); }
    });
    stream.on('end', () => {
      if (done) return;
      if (meta.status !== 200) { fail(`HTTP status ${meta.status ?? 0}`); return; }
      if (!/^application\/dns-message\b/i.test(meta.type ?? '')) { fail('answer is not application/dns-message'); return; }
      done = true;
      resolve(Buffer.concat(parts));
    });
  }

  // ------------------------------------------------------------------------------------------
  // HTTP/1.1

  private h1Agent(): http.Agent {
    if (this.agent) return this.agent;
    const agent = new http.Agent({ keepAlive: true, maxSockets: this.settings.maxConnections, maxFreeSockets: this.settings.maxConnections });
    // Each new connection is made (and judged) here; the agent keeps it alive between queries.
    (agent as unknown as { createConnection: unknown }).createConnection = (_opts: unknown, done: (e: Error | null, s?: net.Socket) => void) => {
      const spare = this.spare;
      this.spare = undefined;
      let made: Promise<Connection>;
      if (spare && !spare.socket.destroyed && !this.stale(spare)) made = Promise.resolve(spare);
      else {
        spare?.socket.destroy();
        made = this.connect(['http/1.1']);
      }
      made.then((c) => done(null, c.socket), (e: Error) => done(e));
      return undefined;
    };
    this.agent = agent;
    return agent;
  }

  private h1Exchange(wire: Buffer, signal: AbortSignal): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const req = http.request({
        agent: this.h1Agent(), method: 'POST', host: this.host, port: this.port, path: `${this.url.pathname}${this.url.search}`, signal,
        headers: {
          Host: this.url.host, 'Content-Type': 'application/dns-message', Accept: 'application/dns-message', 'Content-Length': String(wire.length),
        },
      });
      req.on('error', (e: Error) => {
        if (e instanceof DohError || e instanceof DohUnresolved) reject(e);
        else if (e.name === 'AbortError') reject(new DohError('aborted'));
        else reject(new DohError(this.disconnected()));
      });
      req.on('response', (res) => {
        this.collect(res, { status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? '') }, resolve, reject);
      });
      req.end(wire);
    });
  }
}
