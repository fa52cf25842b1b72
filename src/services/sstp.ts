// The SSTP server (/interface sstp-server server, services spec §3) as far as it goes without
// PPP: rospki listens itself (no Debian SSTP server exists) with TLS and the bound certificate,
// takes the HTTPS `SSTP_DUPLEX_POST` request, and runs the SSTP call set-up of [MS-SSTP]: Call
// Connect Request → Call Connect Ack with a Crypto Binding Request (a fresh nonce) → Call
// Connected, whose crypto binding is checked (nonce, hash of the server certificate the client
// saw, Compound MAC), then echo keepalives and disconnects. verify-client-certificate asks every
// client for a certificate and judges it with the one trust engine (trust-store `sstp`). Every
// connection meets /ip firewall filter chain=input before its TLS handshake.
//
// What does not run: PPP. rospki has no PPP implementation and no pppd integration (pppd needs
// the kernel's /dev/ppp), so PPP frames are dropped, no /ppp secret is checked and the Compound
// MAC is checked under the key-less HLAK ([MS-SSTP] 3.2.5.2.4: 32 zero bytes, as after PAP or
// CHAP). A real client negotiates LCP in vain and is aborted when the negotiation timer expires
// (docs/compatibility.md).

import { randomBytes, X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { propValue } from '../menu/generic.js';
import { SERVICE_PATH } from '../menus/ip/service.js';
import { RUNNING_KEY, SERVICE_STATUS, STATUS_KEY } from '../menus/interface/service-state.js';
import { SSTP_SERVER, SSTP_SERVER_PATH } from '../menus/interface/sstp.js';
import type { RowData } from '../store/store.js';
import { plainAddress } from './auth.js';
import { StoreBatch } from './batch.js';
import type { ServiceContext } from './context.js';
import { ConnectionGate } from './gate.js';
import type { ManagedService } from './managed.js';
import {
  ATTR, HASH, KEYLESS_HLAK, MSG, PROTOCOL_PPP, PacketReader, SSTP_METHOD, SSTP_URI, STATUS, checkCallConnected,
  controlPacket, cryptoBindingRequest, statusInfo, type Packet,
} from './sstp-protocol.js';
import { planTls } from './tls.js';

/** The trust-store component SSTP asks for (services spec §1.4). */
const COMPONENT = 'sstp';
/** Hash protocols the server accepts in the crypto binding. */
const OFFERED = HASH.sha1 | HASH.sha256;
/** Call Connected must come this long after the Call Connect Ack ([MS-SSTP] 3.2.1: 60 s negotiation timer). */
const NEGOTIATION_MS = 60_000;
/**
 * Connections whose call is not connected yet, at most (gate.ts: one more displaces the oldest of
 * the address holding the most). Larger than the HTTP services' pool: every SSTP client waits
 * here through its whole PPP negotiation.
 */
const SETUP_POOL = 64;
/** Call Connect Requests refused before the call is aborted ([MS-SSTP] 3.2.1: 3 retries). */
const MAX_NAKS = 3;
/** The HTTP request may be this long. */
const MAX_REQUEST = 8 * 1024;

/** TLS 1.2 suites of the `ciphers` setting, by their OpenSSL names without the key exchange. */
const SUITES = [['aes256-gcm-sha384', 'AES256-GCM-SHA384'], ['aes256-sha', 'AES256-SHA']] as const;

/**
 * TLS suites of the `ciphers` and `pfs` settings (spec §3.1, §3.3): `no` offers the RSA key
 * exchange, `yes` adds ECDHE and DHE, `required` keeps ECDHE only. An EC key has no suite without
 * forward secrecy, so ECDHE-ECDSA is always offered. TLS 1.3 (forward secret by design) is offered
 * with pfs=yes|required when aes256-gcm-sha384 is allowed (TLS_AES_256_GCM_SHA384).
 */
export function sstpCiphers(ciphers: readonly string[], pfs: string): { ciphers: string; tls13: boolean } {
  const out: string[] = [];
  const tls13 = pfs !== 'no' && ciphers.includes('aes256-gcm-sha384');
  if (tls13) out.push('TLS_AES_256_GCM_SHA384');
  for (const [name, suite] of SUITES) {
    if (!ciphers.includes(name)) continue;
    out.push(`ECDHE-ECDSA-${suite}`);
    if (pfs !== 'no') out.push(`ECDHE-RSA-${suite}`);
    if (pfs === 'yes') out.push(`DHE-RSA-${suite}`);
    if (pfs !== 'required') out.push(suite);
  }
  return { ciphers: out.join(':'), tls13 };
}

interface Wanted {
  readonly port: number;
  readonly options?: tls.SecureContextOptions & { signature: string; certificateDer: Buffer };
  readonly reason?: string;
  readonly verifyClient: boolean;
  readonly keepaliveMs: number | undefined;
}

export class SstpService implements ManagedService {
  private readonly batch: StoreBatch;
  /** The TLS side (its secure context is swapped in place); it does not listen itself. */
  private server: tls.Server | undefined;
  /** The TCP listener: a connection meets the firewall's input chain before any TLS. */
  private listener: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Bounds the connections still setting up their call; a connected call leaves it. */
  private gate: ConnectionGate | undefined;
  private port: number | undefined;
  private signature: string | undefined;
  /** The listener asks clients for certificates (a TLS server option, not a context one). */
  private requestCert = false;
  private live: Wanted | undefined;
  private state: { running: boolean; status: string } | undefined;
  private readonly connections = new Set<SstpConnection>();
  private stopped = false;

  constructor(readonly ctx: ServiceContext) {
    this.batch = new StoreBatch(ctx.app, 'sstp', ctx.internalError);
  }

  /** A call is connected: it no longer counts against the set-up pool. */
  callConnected(socket: net.Socket): void {
    this.gate?.promote(socket);
  }

  get settings(): Wanted | undefined {
    return this.live;
  }

  log(topics: string, message: string): void {
    this.batch.log(topics, message);
  }

  async reconcile(): Promise<void> {
    if (this.stopped) return;
    try {
      const wanted = await this.wanted();
      this.live = wanted;
      if (!wanted || !wanted.options) {
        await this.close();
        this.state = wanted ? { running: false, status: SERVICE_STATUS.notRunning(wanted.reason ?? 'no certificate') } : undefined;
        if (wanted?.reason) this.logOnce(`not running: ${wanted.reason}`);
      } else if (this.server && this.port === wanted.port && this.requestCert === wanted.verifyClient) {
        if (this.signature !== wanted.options.signature) {
          this.server.setSecureContext(wanted.options);
          this.signature = wanted.options.signature;
        }
        this.state = { running: true, status: SERVICE_STATUS.running };
      } else {
        await this.close();
        this.state = await this.listen(wanted);
      }
      await this.writeState();
    } catch (e) {
      this.ctx.internalError(e);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.close();
    this.state = undefined;
    await this.writeState();
    await this.batch.flush();
  }

  private lastLogged: string | undefined;
  private logOnce(message: string): void {
    if (message === this.lastLogged) return;
    this.lastLogged = message;
    this.batch.log('sstp,error', `sstp-server: ${message}`);
  }

  private async wanted(): Promise<Wanted | undefined> {
    const { env } = this.ctx.app;
    return env.store.read((tx) => {
      const row = tx.get(SSTP_SERVER_PATH, 1)?.data;
      if (!row || !propValue(SSTP_SERVER.enabled, row)) return undefined;
      const port = propValue(SSTP_SERVER.port, row);
      const verifyClient = propValue(SSTP_SERVER.verifyClientCertificate, row);
      const keepalive = propValue(SSTP_SERVER.keepaliveTimeout, row);
      const keepaliveMs = keepalive === 'disabled' ? undefined : keepalive * 1000;
      const certId = propValue(SSTP_SERVER.certificate, row);
      // certificate=none is anonymous Diffie-Hellman between RouterOS devices (spec §3.3): not here.
      if (!certId) return { port, verifyClient, keepaliveMs, reason: 'no certificate (anonymous SSTP is not implemented)' };
      const tlsVersion = propValue(SSTP_SERVER.tlsVersion, row);
      const plan = planTls(env, tx, COMPONENT, certId, tlsVersion === 'only-1.2' ? 'only-1.2' : 'any');
      if (plan.kind !== 'cert') return { port, verifyClient, keepaliveMs, reason: plan.kind === 'none' ? plan.reason : 'no certificate' };
      const suites = sstpCiphers(propValue(SSTP_SERVER.ciphers, row), propValue(SSTP_SERVER.pfs, row));
      const certificateDer = Buffer.from(new X509Certificate(String(plan.options.cert)).raw);
      return {
        port, verifyClient, keepaliveMs,
        options: {
          ...plan.options, ciphers: suites.ciphers, dhparam: 'auto', certificateDer,
          ...(suites.tls13 ? {} : { maxVersion: 'TLSv1.2' as const }),
          signature: `${plan.signature}|${suites.ciphers}|${verifyClient}`,
        },
      };
    });
  }

  private async listen(w: Wanted): Promise<{ running: boolean; status: string }> {
    const options = w.options!;
    const server = tls.createServer({
      ...options, requestCert: w.verifyClient, rejectUnauthorized: false, handshakeTimeout: this.ctx.options.loginTimeoutMs,
    }, (socket) => {
      // The certificate this handshake presented (a swap since the listener started is fine).
      const presented = socket.getCertificate();
      const der = presented && 'raw' in presented && presented.raw ? presented.raw : options.certificateDer;
      const connection = new SstpConnection(this, socket, der);
      this.connections.add(connection);
      socket.once('close', () => this.connections.delete(connection));
    });
    server.on('tlsClientError', (e, socket) => {
      this.log('sstp,error', `${remote(socket)}: TLS handshake failed: ${tlsReason(e)}`);
    });
    server.on('error', (e) => this.ctx.internalError(e));
    // The connections' own timers end a slow handshake or call set-up; the gate's deadline is a
    // backstop past them.
    const gate = new ConnectionGate({
      preAuthPool: SETUP_POOL, loginTimeoutMs: this.ctx.options.loginTimeoutMs + 2 * NEGOTIATION_MS, maxSessions: () => Number.POSITIVE_INFINITY,
    });
    const listener = net.createServer((socket) => {
      // /ip firewall filter chain=input first, as on a router (firewall.ts: drop closes, reject resets).
      if (!this.ctx.firewall.admitConnection(socket)) return;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      gate.admit(socket);
      server.emit('connection', socket);
    });
    listener.on('error', (e) => this.ctx.internalError(e));
    try {
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen({ port: w.port, host: this.ctx.options.host, ipv6Only: false }, () => { listener.off('error', reject); resolve(); });
      });
    } catch (e) {
      const reason = bindReason(w.port, e as NodeJS.ErrnoException);
      this.logOnce(`not running: ${reason}`);
      return { running: false, status: SERVICE_STATUS.notRunning(reason) };
    }
    this.server = server;
    this.listener = listener;
    this.gate = gate;
    this.requestCert = w.verifyClient;
    this.port = (listener.address() as net.AddressInfo).port;
    this.signature = options.signature;
    this.lastLogged = undefined;
    this.log('sstp,info', `sstp-server: listening on port ${this.port}`);
    return { running: true, status: SERVICE_STATUS.running };
  }

  /** Stops listening and ends every connection. */
  private async close(): Promise<void> {
    const listener = this.listener;
    this.server = undefined;
    this.listener = undefined;
    this.gate = undefined;
    this.port = undefined;
    this.signature = undefined;
    for (const c of this.connections) c.destroy();
    for (const socket of this.sockets) socket.destroy(); // handshakes under way too
    if (listener) await new Promise<void>((resolve) => listener.close(() => resolve()));
  }

  /** `running`/`status` of the server row, and its dynamic /ip service row (spec §3.1, §8). */
  private async writeState(): Promise<void> {
    const { store } = this.ctx.app;
    const want = this.state;
    const port = want?.running ? this.port : undefined;
    const serviceRow = (rows: ReadonlyArray<{ id: number; data: RowData }>) => rows.find((r) => r.data.dynamic === true && r.data.name === 'sstp-server');
    const stale = await store.read((tx) => {
      const row = tx.get(SSTP_SERVER_PATH, 1)?.data;
      const svc = serviceRow(tx.list(SERVICE_PATH));
      return (row !== undefined && (row[RUNNING_KEY] !== want?.running || row[STATUS_KEY] !== want?.status))
        || (svc?.data.port !== port);
    });
    if (!stale) return;
    await store.write((tx) => {
      const row = tx.get(SSTP_SERVER_PATH, 1);
      if (row) {
        const data: RowData = { ...row.data };
        if (want) {
          data[RUNNING_KEY] = want.running;
          data[STATUS_KEY] = want.status;
        } else {
          delete data[RUNNING_KEY];
          delete data[STATUS_KEY];
        }
        tx.update(SSTP_SERVER_PATH, 1, data);
      }
      const svc = serviceRow(tx.list(SERVICE_PATH));
      if (svc && svc.data.port !== port) tx.remove(SERVICE_PATH, svc.id);
      if (port !== undefined && svc?.data.port !== port) tx.insert(SERVICE_PATH, { name: 'sstp-server', port, proto: 'tcp', dynamic: true });
    });
  }
}

function remote(socket: net.Socket): string {
  const address = plainAddress(socket.remoteAddress);
  return address.includes(':') ? `[${address}]:${socket.remotePort ?? 0}` : `${address}:${socket.remotePort ?? 0}`;
}

function tlsReason(e: Error & { code?: string; reason?: string }): string {
  return (e.reason ?? e.message).replace(/^.*routines:/i, '').replace(/:.*$/, '').trim() || 'handshake failed';
}

function bindReason(port: number, e: NodeJS.ErrnoException): string {
  if (e.code === 'EADDRINUSE') return `cannot bind to port ${port}: Address already in use`;
  if (e.code === 'EACCES') return `cannot bind to port ${port}: Permission denied`;
  return `cannot bind to port ${port}: ${e.code ?? e.message}`;
}

// ---------------------------------------------------------------------------------------------
// One connection

type Phase = 'verifying' | 'http' | 'connect-request' | 'connected-pending' | 'connected' | 'closing';

class SstpConnection {
  private phase: Phase = 'verifying';
  private request: Buffer = Buffer.alloc(0);
  private readonly reader = new PacketReader();
  private nonce: Buffer | undefined;
  private naks = 0;
  private timer: NodeJS.Timeout | undefined;
  private echoPending = false;
  private readonly peer: string;

  constructor(private readonly service: SstpService, private readonly socket: tls.TLSSocket, private readonly certificateDer: Buffer) {
    this.peer = remote(socket);
    socket.on('error', () => {});
    socket.on('close', () => clearTimeout(this.timer));
    socket.pause();
    this.arm(service.ctx.options.loginTimeoutMs, () => this.socket.destroy());
    void this.verifyClient().then((ok) => {
      if (!ok) return;
      this.phase = 'http';
      socket.on('data', (chunk: Buffer) => this.data(chunk));
      socket.resume();
    });
  }

  destroy(): void {
    clearTimeout(this.timer);
    this.socket.destroy();
  }

  /** verify-client-certificate: the chain the client sent, judged for `sstp` (spec §3.3). */
  private async verifyClient(): Promise<boolean> {
    if (!this.service.settings?.verifyClient) return true;
    const chain: Buffer[] = [];
    let cert = this.socket.getPeerCertificate(true);
    const seen = new Set<string>();
    while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
      seen.add(cert.fingerprint256);
      chain.push(cert.raw);
      cert = cert.issuerCertificate;
    }
    if (chain.length === 0) {
      this.service.log('sstp,error', `${this.peer}: client certificate refused: no certificate`);
      this.socket.destroy();
      return false;
    }
    const verdict = await this.service.ctx.app.env.trust.verify({ chain, service: COMPONENT, mode: 'yes' });
    if (!verdict.ok) {
      this.service.log('sstp,error', `${this.peer}: client certificate refused: ${verdict.error}`);
      this.socket.destroy();
      return false;
    }
    return true;
  }

  private arm(ms: number, then: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(then, ms);
    this.timer.unref();
  }

  private data(chunk: Buffer): void {
    if (this.phase === 'http') {
      this.request = Buffer.concat([this.request, chunk]);
      const end = this.request.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.request.length > MAX_REQUEST) this.httpRefuse('400 Bad Request');
        return;
      }
      const head = this.request.subarray(0, end).toString('latin1');
      const rest = this.request.subarray(end + 4);
      this.request = Buffer.alloc(0);
      this.http(head);
      if (rest.length && (this.phase as Phase) === 'connect-request') this.packets(rest);
      return;
    }
    if (this.phase !== 'closing') this.packets(chunk);
  }

  /** [MS-SSTP] 3.2.4.1: the request line, then 200 with the "infinite" Content-Length. */
  private http(head: string): void {
    const [method, uri, version] = (head.split('\r\n')[0] ?? '').split(' ');
    if (method !== SSTP_METHOD || version !== 'HTTP/1.1') return this.httpRefuse('400 Bad Request');
    if ((uri ?? '').toLowerCase() !== SSTP_URI.toLowerCase()) return this.httpRefuse('404 Not Found');
    this.socket.write([
      'HTTP/1.1 200 OK',
      'Content-Length: 18446744073709551615',
      'Server: Microsoft-HTTPAPI/2.0',
      `Date: ${new Date().toUTCString()}`,
      '', '',
    ].join('\r\n'));
    this.phase = 'connect-request';
    this.arm(NEGOTIATION_MS, () => this.abort(STATUS.negotiationTimeout, 'no Call Connect Request'));
  }

  private httpRefuse(status: string): void {
    this.phase = 'closing';
    this.socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  }

  private packets(chunk: Buffer): void {
    let packets: Packet[];
    try {
      packets = this.reader.push(chunk);
    } catch (e) {
      return this.abort(STATUS.invalidFrameReceived, (e as Error).message);
    }
    for (const p of packets) {
      if (this.phase === 'closing') return;
      this.packet(p);
    }
  }

  private packet(p: Packet): void {
    if (!p.control) return; // a PPP frame: rospki runs no PPP (see the top of this file)
    if (this.phase === 'connected') this.keepalive();
    switch (p.type) {
      case MSG.callConnectRequest:
        return this.connectRequest(p);
      case MSG.callConnected:
        return this.connected(p);
      case MSG.echoRequest:
        this.socket.write(controlPacket(MSG.echoResponse));
        return;
      case MSG.echoResponse:
        this.echoPending = false;
        return;
      case MSG.callDisconnect:
        this.socket.write(controlPacket(MSG.callDisconnectAck));
        this.close('disconnected by the client');
        return;
      case MSG.callAbort:
        this.close('aborted by the client');
        return;
      default:
        this.abort(STATUS.unacceptedFrameReceived, `unexpected message ${p.type}`);
    }
  }

  private connectRequest(p: Packet & { control: true }): void {
    if (this.phase !== 'connect-request') return this.abort(STATUS.unacceptedFrameReceived, 'Call Connect Request out of order');
    const protocol = p.attributes.find((a) => a.id === ATTR.encapsulatedProtocolId);
    if (!protocol || protocol.value.length !== 2 || protocol.value.readUInt16BE(0) !== PROTOCOL_PPP) {
      if (++this.naks >= MAX_NAKS) return this.abort(STATUS.retryCountExceeded, 'no protocol both sides speak', ATTR.encapsulatedProtocolId);
      this.socket.write(controlPacket(MSG.callConnectNak, [statusInfo(ATTR.encapsulatedProtocolId, STATUS.valueNotSupported)]));
      return;
    }
    this.nonce = randomBytes(32);
    this.socket.write(controlPacket(MSG.callConnectAck, [cryptoBindingRequest(this.nonce, OFFERED)]));
    this.phase = 'connected-pending';
    this.arm(NEGOTIATION_MS, () => this.abort(STATUS.negotiationTimeout, 'no Call Connected (PPP is not implemented)'));
  }

  private connected(p: Packet): void {
    if (this.phase !== 'connected-pending') return this.abort(STATUS.unacceptedFrameReceived, 'Call Connected out of order');
    const verdict = checkCallConnected(p, { nonce: this.nonce!, certificateDer: this.certificateDer, offered: OFFERED, hlak: KEYLESS_HLAK });
    if (!verdict.ok) return this.abort(STATUS.invalidFrameReceived, `crypto binding refused: ${verdict.reason}`, ATTR.cryptoBinding);
    this.phase = 'connected';
    this.service.callConnected(this.socket);
    this.service.log('sstp,info', `${this.peer}: call connected, crypto binding verified (${verdict.protocol})`);
    this.keepalive();
  }

  /** Echo Request after keepalive-timeout of silence; no answer within as long again ends the call. */
  private keepalive(): void {
    const ms = this.service.settings?.keepaliveMs;
    if (ms === undefined) { clearTimeout(this.timer); return; }
    this.echoPending = false;
    this.arm(ms, () => {
      if (this.echoPending) return this.abort(STATUS.negotiationTimeout, 'no answer to keepalives');
      this.echoPending = true;
      this.socket.write(controlPacket(MSG.echoRequest));
      this.arm(ms, () => this.abort(STATUS.negotiationTimeout, 'no answer to keepalives'));
    });
  }

  /**
   * Call Abort with a status about `attribute` (0: about none) ([MS-SSTP] 3.2.5.3), then the
   * connection ends.
   */
  private abort(status: number, why: string, attribute = 0): void {
    if (this.phase === 'closing') return;
    this.service.log('sstp,error', `${this.peer}: call aborted: ${why}`);
    this.phase = 'closing';
    clearTimeout(this.timer);
    this.socket.end(controlPacket(MSG.callAbort, [statusInfo(attribute, status)]));
    // The client answers with its own Call Abort, or not: the connection ends either way.
    setTimeout(() => this.socket.destroy(), 3000).unref();
  }

  private close(why: string): void {
    const was = this.phase;
    this.phase = 'closing';
    clearTimeout(this.timer);
    if (was === 'connected') this.service.log('sstp,info', `${this.peer}: call ${why}`);
    this.socket.end();
  }
}

export const sstpService = (ctx: ServiceContext): ManagedService => new SstpService(ctx);
