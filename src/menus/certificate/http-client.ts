// The HTTP(S) client behind /tool fetch, netwatch's http(s)-get and the certificate subsystem's
// CRL, ACME and SCEP downloads: node:http/https with bounded size and idle time, redirects,
// gzip/deflate. It lives beside /certificate because /tool fetch reads client certificates from
// there (tls-material.ts): /tool imports /certificate, never the other way round. TLS peers are NOT verified by Node (rejectUnauthorized is
// off): the caller's verify() — the trust engine — decides on the presented chain before a
// single byte of the request is sent, so one engine decides for every client.

import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import http2, { type IncomingHttpHeaders as Http2Headers } from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { failure, RosError } from '../../errors.js';
import { ROSPKI_ROUTEROS_VERSION } from '../../version.js';

export interface HttpRequestOptions {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Largest body accepted (after decompression); more → `maximum message size exceeded`. */
  maxBytes: number;
  /** No byte for this long → `connection timeout`. */
  idleTimeoutMs: number;
  /** Overall bound on one request. */
  totalTimeoutMs?: number;
  maxRedirects: number;
  /** Decides on the TLS peer: throws (a RosError) to refuse. chain[0] is the leaf (DER). */
  verifyTls?: (chain: Buffer[], host: string) => Promise<void>;
  onProgress?: (downloaded: number, total: number | undefined) => void;
  signal?: AbortSignal;
  /** Settle at the status line, without reading the body or following redirects (netwatch). */
  statusOnly?: boolean;
  /** The client certificate and key (PEM) a TLS server may ask for. */
  clientCert?: { cert: string; key: string };
  /** Source address of the connection. */
  localAddress?: string;
  /**
   * http1_1 (default); http2: offer h2 in TLS ALPN, HTTP/1.1 when the server does not take it;
   * http2-forced: h2 only (over plain http with prior knowledge, RFC 9113 §3.3).
   */
  httpVersion?: 'http1_1' | 'http2' | 'http2-forced';
  /** The address family a host name is resolved to (fetch's ip-type=); either when unset. */
  family?: 4 | 6;
  /** Compress the body and say so in Content-Encoding (RFC 9110 §8.4.1; deflate is the zlib format). */
  contentEncoding?: 'gzip' | 'deflate';
  /** Answer a Digest challenge (a 401 with `WWW-Authenticate: Digest …`) once with these (RFC 7616). */
  digest?: { user: string; password: string };
}

export interface HttpResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  /** The header lines as the server sent them (names in its case, in its order). */
  headerLines: string[];
  body: Buffer;
  url: string;
}

/** A status line's reason: the server's phrase, else the standard one (HTTP/2 sends none). */
function reasonOf(res: Pick<HttpResponse, 'status' | 'statusText'>): string {
  return res.statusText || http.STATUS_CODES[res.status] || '';
}

/**
 * A failure after the server answered carries what `:onerror err,attr` binds to `attr`: `code`
 * (the HTTP status) and `http-headers` (its `Name: value` lines) — RouterOS 7.2x, the fetch
 * manual's example (`$attr->"code"` is 404 after `failure: Status 404, Not Found`).
 */
export function answeredFailure(message: string, res: Pick<HttpResponse, 'status' | 'headerLines'>): RosError {
  const e = failure(message);
  e.attributes = { code: res.status, 'http-headers': res.headerLines };
  return e;
}

/** An HTTP status of 400 or more: `failure: Status 404, Not Found` (RouterOS 7.2x). */
export function statusFailure(res: HttpResponse): RosError {
  return answeredFailure(`Status ${res.status}, ${reasonOf(res)}`, res);
}

/** `Name: value` lines of Node's raw header list. */
function headerLinesOf(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push(`${raw[i]}: ${raw[i + 1]}`);
  return out;
}

export const USER_AGENT = `RouterOS ${ROSPKI_ROUTEROS_VERSION.replace(/ \(.*\)$/, '')}`;

/** The peer's chain as DER, leaf first (Node links issuerCertificate; a root links to itself). */
function peerChain(socket: tls.TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let cert = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (cert && cert.raw && out.length < 16) {
    const fp = cert.fingerprint256;
    if (seen.has(fp)) break;
    seen.add(fp);
    out.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return out;
}

/**
 * Errors of the connect itself: refused, no route, a local (src-) address that is not this
 * host's or not of the peer's family, or a name without an address (of the ip-type asked). They read as `connection failed`, for every scheme.
 */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EINVAL', 'EAFNOSUPPORT', 'ENOTFOUND']);
export const isConnectError = (e: { code?: string }): boolean => CONNECT_ERRORS.has(e.code ?? '');

/** RouterOS's text for a peer that refused or could not be reached (every /tool fetch scheme). */
export function connectionFailed(host: string, port: number): RosError {
  return failure(`closing connection: <connection failed> ${host}:${port} (140)`);
}

/** What a TLS connection offers in ALPN (RFC 7301) for each http-version. */
const ALPN: Record<NonNullable<HttpRequestOptions['httpVersion']>, string[]> = {
  http1_1: ['http/1.1'], http2: ['h2', 'http/1.1'], 'http2-forced': ['h2'],
};

function oneRequest(opts: HttpRequestOptions, url: URL): Promise<HttpResponse> {
  const https = url.protocol === 'https:';
  const port = url.port ? Number(url.port) : https ? 443 : 80;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise<HttpResponse>((resolve, reject) => {
    let done = false;
    let socket: net.Socket | undefined;
    const timers: NodeJS.Timeout[] = [];
    const finish = (err: unknown, res?: HttpResponse) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) { socket?.destroy(); reject(err); } else resolve(res!);
    };
    const onAbort = () => finish(new RosError('interrupted', 'interrupted'));
    if (opts.signal?.aborted) { onAbort(); return; }
    opts.signal?.addEventListener('abort', onAbort);
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => finish(failure('connection timeout')), opts.idleTimeoutMs);
      idle.unref?.();
      timers.push(idle);
    };
    touch();
    if (opts.totalTimeoutMs) {
      const t = setTimeout(() => finish(failure('connection timeout')), opts.totalTimeoutMs);
      t.unref?.();
      timers.push(t);
    }

    const headers: Record<string, string> = {
      Host: url.host, 'User-Agent': USER_AGENT, 'Accept-Encoding': 'deflate, gzip', Accept: '*/*', ...opts.headers,
    };
    if (opts.body) {
      headers['Content-Length'] = String(opts.body.length);
      if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    }

    /** The response, over either protocol: status line, headers, then the body within the bounds. */
    const receive = (head: Omit<HttpResponse, 'body' | 'url'>, res: NodeJS.ReadableStream, close: () => void) => {
      touch();
      const answer = (body: Buffer) => { close(); finish(undefined, { ...head, body, url: url.toString() }); };
      if (opts.statusOnly) { answer(Buffer.alloc(0)); return; }
      const total = head.headers['content-length'] !== undefined ? Number(head.headers['content-length']) : undefined;
      if (total !== undefined && total > opts.maxBytes && !head.headers['content-encoding']) {
        finish(failure('maximum message size exceeded'));
        return;
      }
      const parts: Buffer[] = [];
      let got = 0;
      res.on('data', (chunk: Buffer) => {
        touch();
        got += chunk.length;
        if (got > opts.maxBytes) { finish(failure('maximum message size exceeded')); return; }
        parts.push(chunk);
        opts.onProgress?.(got, total);
      });
      res.on('error', (e: Error) => finish(failure(`closing connection: <${e.message}> ${host}:${port} (5)`)));
      res.on('end', () => {
        let body = Buffer.concat(parts);
        const enc = String(head.headers['content-encoding'] ?? '').toLowerCase();
        try {
          if (enc === 'gzip' || enc === 'x-gzip') body = zlib.gunzipSync(body, { maxOutputLength: opts.maxBytes });
          else if (enc === 'deflate') body = zlib.inflateSync(body, { maxOutputLength: opts.maxBytes });
        } catch (e) {
          finish(failure((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ? 'maximum message size exceeded' : 'closing connection: <bad content encoding> (5)'));
          return;
        }
        answer(body);
      });
    };
    const requestFailed = (e: Error) => finish(done ? undefined : failure(`closing connection: <${e.message}> ${host}:${port} (5)`));

    const send = (sock: net.Socket) => {
      const req = http.request({
        method: (opts.method ?? 'GET').toUpperCase(), path: `${url.pathname}${url.search}`, headers,
        createConnection: () => sock,
      });
      req.on('error', requestFailed);
      req.on('response', (res) => receive({
        status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, headerLines: headerLinesOf(res.rawHeaders),
      }, res, () => sock.destroy()));
      if (opts.body) req.write(opts.body);
      req.end();
    };

    /** HTTP/2 (RFC 9113) on a connection that agreed to it: the same request as pseudo-headers. */
    const send2 = (sock: net.Socket) => {
      const session = http2.connect(url.origin, { createConnection: () => sock });
      session.on('error', requestFailed);
      // Host becomes :authority; connection-specific fields are not allowed (RFC 9113 §8.2.2).
      const fields = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^(host|connection|keep-alive|transfer-encoding|upgrade)$/i.test(k)));
      const req = session.request({
        ':method': (opts.method ?? 'GET').toUpperCase(), ':path': `${url.pathname}${url.search}`, ':authority': url.host, ':scheme': url.protocol.replace(':', ''), ...fields,
      }, { endStream: !opts.body });
      req.on('error', requestFailed);
      req.on('response', (h: Http2Headers) => {
        const plain = Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith(':'))) as IncomingHttpHeaders;
        const lines = Object.entries(plain).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${String(x)}`));
        receive({ status: Number(h[':status'] ?? 0), statusText: '', headers: plain, headerLines: lines }, req, () => { session.destroy(); sock.destroy(); });
      });
      if (opts.body) req.end(opts.body);
    };

    if (https) {
      const servername = net.isIP(host) ? undefined : host;
      // localAddress and family reach the TCP connect (tls.connect passes its options on; the types omit them).
      const options: tls.ConnectionOptions & { localAddress?: string; family?: number } = {
        host, port, servername, rejectUnauthorized: false, ALPNProtocols: ALPN[opts.httpVersion ?? 'http1_1'], localAddress: opts.localAddress, family: opts.family,
        ...(opts.clientCert ? { cert: opts.clientCert.cert, key: opts.clientCert.key } : {}),
      };
      const s = tls.connect(options);
      socket = s;
      // http2-forced: a server that takes no h2 refuses the handshake (RFC 7301 §3.2) or picks none.
      const noHttp2 = () => failure(`closing connection: <server does not speak http2> ${host}:${port} (5)`);
      s.on('error', (e: NodeJS.ErrnoException) => {
        if (isConnectError(e)) finish(connectionFailed(host, port));
        else if (e.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') finish(noHttp2());
        else finish(failure(`ssl connection error: ${e.code === 'ECONNRESET' ? 'connection reset' : 'handshake failed: ' + e.message} (6)`));
      });
      const go = () => {
        if (s.alpnProtocol === 'h2') send2(s);
        else if (opts.httpVersion === 'http2-forced') finish(noHttp2());
        else send(s);
      };
      s.once('secureConnect', () => {
        touch();
        const verify = opts.verifyTls;
        if (!verify) { go(); return; }
        verify(peerChain(s), host).then(() => { if (!done) go(); }, (e) => finish(e));
      });
    } else {
      const s = net.connect({ host, port, localAddress: opts.localAddress, family: opts.family });
      socket = s;
      s.on('error', () => finish(connectionFailed(host, port)));
      s.once('connect', () => { touch(); (opts.httpVersion === 'http2-forced' ? send2 : send)(s); });
    }
  });
}

/** The parameters of one challenge: `Digest realm="x", qop="auth"` (RFC 7616 §3.3; RFC 7235 §2.1). */
function challengeParams(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    out.set(m[1]!.toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
  }
  return out;
}

/** The hashes RFC 7616 §3.2 defines (with their -sess forms); SHA-256 is preferred over MD5. */
const DIGEST_HASHES: Record<string, string> = { 'SHA-256': 'sha256', MD5: 'md5' };

/**
 * The Authorization for the Digest challenges of a 401 (RFC 7616 §3.4): the strongest algorithm
 * offered, qop=auth (or none for an RFC 2069 server); undefined when there is none we speak.
 */
function digestAuthorization(res: HttpResponse, creds: { user: string; password: string }, method: string, url: URL): string | undefined {
  const challenges = res.headerLines
    .filter((l) => /^www-authenticate:/i.test(l))
    .flatMap((l) => l.slice(l.indexOf(':') + 1).split(/,\s*(?=[A-Za-z][\w-]*\s+[\w-]+=)/))
    .filter((c) => /^\s*digest\s/i.test(c))
    .map((c) => challengeParams(c.replace(/^\s*digest\s+/i, '')))
    .filter((p) => p.has('nonce') && p.has('realm'));
  const usable = (p: Map<string, string>) => {
    const alg = (p.get('algorithm') ?? 'MD5').toUpperCase().replace(/-SESS$/, '');
    const qops = p.has('qop') ? p.get('qop')!.split(',').map((q) => q.trim()) : [];
    return DIGEST_HASHES[alg] !== undefined && (qops.length === 0 || qops.includes('auth'));
  };
  const rank = (p: Map<string, string>) => ((p.get('algorithm') ?? 'MD5').toUpperCase().startsWith('SHA-256') ? 0 : 1);
  const c = challenges.filter(usable).sort((a, b) => rank(a) - rank(b))[0];
  if (!c) return undefined;
  const algorithm = c.get('algorithm') ?? 'MD5';
  const H = (text: string) => createHash(DIGEST_HASHES[algorithm.toUpperCase().replace(/-SESS$/, '')]!).update(text, 'utf8').digest('hex');
  const realm = c.get('realm')!;
  const nonce = c.get('nonce')!;
  const uri = `${url.pathname}${url.search}`;
  const cnonce = randomBytes(16).toString('hex');
  const nc = '00000001';
  let ha1 = H(`${creds.user}:${realm}:${creds.password}`);
  if (/-sess$/i.test(algorithm)) ha1 = H(`${ha1}:${nonce}:${cnonce}`);
  const ha2 = H(`${method.toUpperCase()}:${uri}`);
  const qop = c.has('qop') ? 'auth' : undefined;
  const response = qop ? H(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : H(`${ha1}:${nonce}:${ha2}`);
  const q = (v: string) => `"${v.replace(/(["\\])/g, '\\$1')}"`;
  const parts = [`username=${q(creds.user)}`, `realm=${q(realm)}`, `uri=${q(uri)}`, `algorithm=${algorithm}`, `nonce=${q(nonce)}`];
  if (qop) parts.push(`nc=${nc}`, `cnonce=${q(cnonce)}`, `qop=${qop}`);
  parts.push(`response=${q(response)}`);
  if (c.has('opaque')) parts.push(`opaque=${q(c.get('opaque')!)}`);
  return `Digest ${parts.join(', ')}`;
}

/** One HTTP(S) exchange, following up to maxRedirects redirects. */
export async function httpRequest(opts: HttpRequestOptions): Promise<HttpResponse> {
  let url = new URL(opts.url);
  let method = opts.method;
  let body = opts.body;
  if (body && opts.contentEncoding) {
    body = opts.contentEncoding === 'gzip' ? zlib.gzipSync(body) : zlib.deflateSync(body);
    opts = { ...opts, headers: { ...opts.headers, 'Content-Encoding': opts.contentEncoding } };
  }
  for (let hop = 0; ; hop++) {
    let res = await oneRequest({ ...opts, method, body }, url);
    // A Digest challenge is answered once; a second 401 is the answer (RFC 7616 §3.4).
    const authorization = res.status === 401 && opts.digest ? digestAuthorization(res, opts.digest, method ?? 'GET', url) : undefined;
    if (authorization) res = await oneRequest({ ...opts, method, body, headers: { ...opts.headers, Authorization: authorization } }, url);
    if (opts.statusOnly) return res;
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && location) {
      const notFollowed = () => answeredFailure(`Fetch failed with status ${res.status} (Location: "${location}")`, res);
      // With redirects off (count 0) RouterOS names the status and where it points; a limit
      // reached while following (a loop) fails with the last status line, as in the API capture
      // of librouteros's docs/api_analysis.rst (`failure: 301 Moved Permanently`).
      if (opts.maxRedirects === 0) throw notFollowed();
      if (hop >= opts.maxRedirects) throw answeredFailure(`${res.status} ${reasonOf(res)}`, res);
      url = new URL(location, url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw notFollowed();
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method?.toUpperCase() === 'POST')) { method = 'GET'; body = undefined; }
      continue;
    }
    return res;
  }
}
