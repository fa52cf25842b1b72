// Where rospki answers ACME challenges (issue 14 §3): one responder per appliance holding the
// pending HTTP-01 key authorizations (RFC 8555 §8.3) and TLS-ALPN-01 certificates (RFC 8737).
//
//  * The daemon's listeners consult it: www answers `/.well-known/acme-challenge/<token>`
//    (services/http.ts) and www-ssl presents the challenge certificate to a handshake that asks
//    for the name with ALPN `acme-tls/1` (the hooks below, installed by services/tls.ts).
//  * Before a challenge is chosen, the port the CA will connect to is probed on this host with a
//    probe of our own: answered by us (www / www-ssl of this appliance) → used as is; nothing
//    listens → a temporary listener answers challenges only, for as long as the order needs it
//    (RouterOS opens one for HTTP-01 when www is disabled); something else answers → that
//    challenge can not be used, and the error says so.
//
// The ports are the CA's: 80 for HTTP-01, 443 for TLS-ALPN-01. Tests and routers behind a port
// forward give others with ROSPKI_ACME_HTTP01_PORT / ROSPKI_ACME_TLSALPN01_PORT; listeners bind
// where the services do (ROSPKI_LISTEN_ADDRESS, default every address).

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { ACME_TLS_ALPN, HTTP01_PATH, isToken, tlsAlpnCertificate } from '../../acme/index.js';
import type { Environment } from '../../menu/types.js';
import { pemEncode } from '../../pki/index.js';

export type ChallengeType = 'http-01' | 'tls-alpn-01';

/** The TLS context presenting the TLS-ALPN-01 certificate of `name` (a fresh key each time). */
function challengeContext(name: string, keyAuthorization: string, now: number): tls.SecureContext {
  const cert = tlsAlpnCertificate(name, keyAuthorization, now);
  return tls.createSecureContext({
    cert: pemEncode('CERTIFICATE', cert.der), key: cert.key.export({ type: 'pkcs8', format: 'pem' }) as string,
  });
}

/** The ports challenges are answered on, and the address listeners bind to. */
export interface ChallengePorts {
  readonly 'http-01': number;
  readonly 'tls-alpn-01': number;
  readonly host: string;
}

function portFrom(name: string, fallback: number): number {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : fallback;
}

export function challengePorts(): ChallengePorts {
  return {
    'http-01': portFrom('ROSPKI_ACME_HTTP01_PORT', 80),
    'tls-alpn-01': portFrom('ROSPKI_ACME_TLSALPN01_PORT', 443),
    host: process.env.ROSPKI_LISTEN_ADDRESS || '::',
  };
}

/** Whether the CA can be answered on a port, and for how long (release when the order is done). */
export type Reach =
  | { ok: true; type: ChallengeType; port: number; via: 'service' | 'temporary'; release(): void }
  | { ok: false; type: ChallengeType; port: number; reason: string };

interface TemporaryListener {
  server: net.Server;
  sockets: Set<net.Socket>;
  users: number;
}

/** TLS server hooks answering TLS-ALPN-01 (RFC 8737 §3) beside a service's own certificate. */
export type AcmeTlsHooks = Required<Pick<tls.TlsOptions, 'SNICallback' | 'ALPNCallback'>>;

export class ChallengeResponder {
  private readonly tokens = new Map<string, string>();
  private readonly certificates = new Map<string, tls.SecureContext>();
  private readonly temporary = new Map<string, Promise<TemporaryListener>>();
  /** Whether a handshake asked for acme-tls/1 (TLS 1.3 sends ALPN before the name callback). */
  private readonly askedAcme = new WeakMap<object, boolean>();

  /** The key authorization for an HTTP-01 token, or undefined. */
  httpAnswer(token: string): string | undefined {
    return this.tokens.get(token);
  }

  /** Serves an HTTP-01 answer until the returned function is called. */
  addHttp(token: string, keyAuthorization: string): () => void {
    if (!isToken(token)) throw new Error('not an ACME token');
    this.tokens.set(token, keyAuthorization);
    return () => { if (this.tokens.get(token) === keyAuthorization) this.tokens.delete(token); };
  }

  /** Presents a TLS-ALPN-01 certificate for `name` until the returned function is called. */
  addTlsAlpn(name: string, keyAuthorization: string, now: number): () => void {
    const context = challengeContext(name, keyAuthorization, now);
    const key = name.toLowerCase();
    this.certificates.set(key, context);
    return () => { if (this.certificates.get(key) === context) this.certificates.delete(key); };
  }

  /**
   * The hooks a TLS listener installs: an `acme-tls/1` handshake for a name with a pending
   * challenge gets the challenge certificate and that protocol; every other handshake gets the
   * listener's own certificate and http/1.1. TLS 1.3 offers ALPN before the name callback runs,
   * so the choice is exact; under TLS 1.2 the name callback runs first and a pending name gets
   * the challenge certificate for the seconds the challenge lasts. Node calls both with the
   * handshake's socket as `this`.
   */
  readonly tlsHooks: AcmeTlsHooks;

  /**
   * `shared`: on a store several instances share, the certificate for a name whose challenge
   * another instance's order keeps in the store (shareTlsAlpn), or undefined. The CA may reach any
   * instance, so each one's www-ssl answers every pending challenge; an acme-tls/1 handshake for a
   * name without a challenge here then looks in the store (only validators offer acme-tls/1).
   */
  constructor(shared?: (name: string) => Promise<tls.SecureContext | undefined>) {
    const { certificates, askedAcme } = this;
    this.tlsHooks = {
      ALPNCallback(this: unknown, { servername, protocols }: { servername: string; protocols: string[] }) {
        const acme = protocols.includes(ACME_TLS_ALPN) && typeof servername === 'string'
          && (certificates.has(servername.toLowerCase()) || shared !== undefined);
        if (this && typeof this === 'object') askedAcme.set(this, acme);
        if (acme) return ACME_TLS_ALPN;
        return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
      },
      SNICallback(this: unknown, servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) {
        const name = servername.toLowerCase();
        const context = certificates.get(name);
        const asked = this && typeof this === 'object' ? askedAcme.get(this) : undefined;
        if (context || !shared || asked === false) { cb(null, context && asked !== false ? context : undefined); return; }
        shared(name).then((c) => cb(null, c), () => cb(null, undefined));
      },
    };
  }

  /**
   * Whether challenges of `type` can be answered on `port`: probed with a probe of our own, then
   * a temporary listener when nothing listens there.
   */
  async reach(type: ChallengeType, ports: ChallengePorts, now: number): Promise<Reach> {
    const port = ports[type];
    const probed = await this.probe(type, port, ports.host, now);
    if (probed === 'ours') {
      // Ours: the service of this appliance, or a temporary listener another order opened.
      const temp = this.temporary.get(`${type}/${port}`);
      if (temp) {
        const l = await temp;
        l.users++;
        return { ok: true, type, port, via: 'temporary', release: () => this.release(type, port, l) };
      }
      return { ok: true, type, port, via: 'service', release: () => {} };
    }
    if (probed !== 'free') return { ok: false, type, port, reason: probed };
    try {
      const l = await this.openTemporary(type, port, ports.host);
      l.users++;
      return { ok: true, type, port, via: 'temporary', release: () => this.release(type, port, l) };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'EACCES' ? 'permission denied' : code === 'EADDRINUSE' ? 'address in use' : code ?? 'can not listen';
      return { ok: false, type, port, reason: `can not listen on it (${why})` };
    }
  }

  /** 'ours', 'free' (nothing listens), or why the port can not be used. */
  private async probe(type: ChallengeType, port: number, host: string, now: number): Promise<'ours' | 'free' | string> {
    const address = probeAddress(host);
    if (type === 'http-01') {
      const token = randomBytes(24).toString('base64url');
      const answer = `${token}.${randomBytes(16).toString('base64url')}`;
      const remove = this.addHttp(token, answer);
      try {
        return await probeHttp(address, port, `${HTTP01_PATH}${token}`, answer);
      } finally {
        remove();
      }
    }
    const name = `probe-${randomBytes(8).toString('hex')}.acme.invalid`;
    const answer = randomBytes(16).toString('base64url');
    const remove = this.addTlsAlpn(name, answer, now);
    try {
      return await probeTls(address, port, name);
    } finally {
      remove();
    }
  }

  private openTemporary(type: ChallengeType, port: number, host: string): Promise<TemporaryListener> {
    const key = `${type}/${port}`;
    let opening = this.temporary.get(key);
    if (opening) return opening;
    opening = (async () => {
      const sockets = new Set<net.Socket>();
      const server: net.Server = type === 'http-01'
        ? http.createServer((req, res) => this.answerHttp(req, res))
        : tls.createServer({ ...this.tlsHooks }, (socket) => socket.end());
      server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
      if (server instanceof tls.Server) server.on('tlsClientError', () => {});
      server.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host, ipv6Only: false }, () => { server.off('error', reject); resolve(); });
      });
      return { server, sockets, users: 0 };
    })();
    this.temporary.set(key, opening);
    opening.catch(() => { if (this.temporary.get(key) === opening) this.temporary.delete(key); });
    return opening;
  }

  private release(type: ChallengeType, port: number, l: TemporaryListener): void {
    if (--l.users > 0) return;
    this.temporary.delete(`${type}/${port}`);
    l.server.close();
    for (const s of l.sockets) s.destroy();
  }

  /** A temporary HTTP-01 listener answers challenges and nothing else. */
  private answerHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const answer = req.method === 'GET' || req.method === 'HEAD' ? answerHttp01(this, req.url ?? '') : undefined;
    res.shouldKeepAlive = false;
    if (answer === undefined) { res.writeHead(404, { 'Content-Type': 'text/plain' }); res.end('Not Found\n'); return; }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(answer) });
    res.end(req.method === 'HEAD' ? undefined : answer);
  }

  /** Closes every temporary listener (the daemon stops). */
  closeAll(): void {
    for (const [key, opening] of this.temporary) {
      this.temporary.delete(key);
      void opening.then((l) => { l.server.close(); for (const s of l.sockets) s.destroy(); }, () => {});
    }
  }
}

/** The appliance's responder (one per appliance, in its cache). */
export function acmeResponder(env: Pick<Environment, 'cache' | 'store' | 'clock'>): ChallengeResponder {
  const table = env.cache.table<string, ChallengeResponder>('acme');
  let r = table.get('responder');
  if (!r) table.set('responder', (r = new ChallengeResponder(env.store.instances ? sharedTlsAlpn(env) : undefined)));
  return r;
}

/** The HTTP-01 answer for a request path (`/.well-known/acme-challenge/<token>`), or undefined. */
export function answerHttp01(responder: ChallengeResponder, path: string): string | undefined {
  const token = http01Token(path);
  return token === undefined ? undefined : responder.httpAnswer(token);
}

function http01Token(path: string): string | undefined {
  const rawPath = path.split('?')[0]!;
  return rawPath.startsWith(HTTP01_PATH) ? rawPath.slice(HTTP01_PATH.length) : undefined;
}

/**
 * Store rows of the pending HTTP-01 answers of a store several instances share (issue 17): the CA
 * may reach any instance (a load balancer, DNS naming them all), so each one's www answers them.
 */
export const SHARED_HTTP01_PATH = '/certificate/acme-http01';

/**
 * Store rows of the pending TLS-ALPN-01 challenges of a shared store: the name being validated and
 * its key authorization. Each instance makes its own certificate from them (RFC 8737 §3: the
 * validator checks the name and the digest of the key authorization, not the key), so no
 * private key is stored.
 */
export const SHARED_TLSALPN01_PATH = '/certificate/acme-tlsalpn01';

/** Keeps a row in a shared store until the returned function is called; nothing with one daemon. */
async function shareRow(env: Environment, path: string, data: Record<string, string>): Promise<() => void> {
  if (!env.store.instances) return () => {};
  const id = await env.store.write((tx) => tx.insert(path, data));
  return () => {
    void env.store.write((tx) => { if (tx.get(path, id)) tx.remove(path, id); }).catch(() => {});
  };
}

/**
 * Keeps an HTTP-01 answer in a shared store until the returned function is called (beside the
 * responder's own, which answers on this instance). Nothing on a store with one daemon.
 */
export async function shareHttp01(env: Environment, token: string, keyAuthorization: string): Promise<() => void> {
  if (!isToken(token)) throw new Error('not an ACME token');
  return shareRow(env, SHARED_HTTP01_PATH, { token, answer: keyAuthorization });
}

/** As shareHttp01, for a TLS-ALPN-01 challenge of `name`: every instance's www-ssl presents it. */
export async function shareTlsAlpn(env: Environment, name: string, keyAuthorization: string): Promise<() => void> {
  return shareRow(env, SHARED_TLSALPN01_PATH, { name: name.toLowerCase(), answer: keyAuthorization });
}

/** Most challenge certificates made from shared rows that an instance keeps at once. */
const SHARED_CERTIFICATES_KEPT = 64;

/** The `shared` lookup of a responder (ChallengeResponder's constructor): a fresh read of the store. */
function sharedTlsAlpn(env: Pick<Environment, 'store' | 'clock'>): (name: string) => Promise<tls.SecureContext | undefined> {
  // Made once per challenge, not per handshake (a validator connects from several places).
  const made = new Map<string, tls.SecureContext>();
  return async (name) => {
    const answer = await env.store.read((tx) => {
      const a = tx.findBy(SHARED_TLSALPN01_PATH, 'name', name)[0]?.data.answer;
      return typeof a === 'string' ? a : undefined;
    });
    if (answer === undefined) return undefined;
    const key = `${name}\n${answer}`;
    let context = made.get(key);
    if (!context) {
      context = challengeContext(name, answer, env.clock.now());
      if (made.size >= SHARED_CERTIFICATES_KEPT) made.clear();
      made.set(key, context);
    }
    return context;
  };
}

/** The answer another instance of a shared store keeps for a `/.well-known/acme-challenge/` path. */
export async function sharedHttp01Answer(env: Environment, path: string): Promise<string | undefined> {
  const token = http01Token(path);
  if (!env.store.instances || token === undefined || !isToken(token)) return undefined;
  return env.store.read((tx) => {
    const answer = tx.findBy(SHARED_HTTP01_PATH, 'token', token)[0]?.data.answer;
    return typeof answer === 'string' ? answer : undefined;
  });
}

/** Where this host reaches its own listeners: loopback for a wildcard bind. */
function probeAddress(host: string): string {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === '' || h === '::' || h === '0.0.0.0') return '127.0.0.1';
  return h;
}

const PROBE_TIMEOUT_MS = 3000;

function probeHttp(address: string, port: number, path: string, expected: string): Promise<'ours' | 'free' | string> {
  return new Promise((resolve) => {
    const req = http.request({ host: address, port, path, method: 'GET', agent: false, timeout: PROBE_TIMEOUT_MS, headers: { Host: 'acme-probe.invalid' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { if (body.length < 4096) body += c; });
      res.on('end', () => resolve(res.statusCode === 200 && body === expected ? 'ours' : 'another program answers on it'));
      res.on('error', () => resolve('another program answers on it'));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? 'free' : 'connections to it are refused or time out'));
    req.end();
  });
}

/** Ours when the handshake for the probe's unique name comes back with its certificate and acme-tls/1. */
function probeTls(address: string, port: number, servername: string): Promise<'ours' | 'free' | string> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (v: string) => { if (!settled) { settled = true; socket.destroy(); resolve(v); } };
    const socket = tls.connect({ host: address, port, servername, ALPNProtocols: [ACME_TLS_ALPN], rejectUnauthorized: false, timeout: PROBE_TIMEOUT_MS });
    socket.once('secureConnect', () => {
      const san = socket.getPeerCertificate()?.subjectaltname ?? '';
      done(socket.alpnProtocol === ACME_TLS_ALPN && san === `DNS:${servername}` ? 'ours' : 'another program answers on it');
    });
    socket.once('timeout', () => done('connections to it are refused or time out'));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'free' : e.code === 'ECONNRESET' || e.code === undefined ? 'connections to it are refused or time out' : 'another program answers on it'));
  });
}
