// The ACME protocol (RFC 8555): one method per resource, each naming the section it implements.
// Policy (which challenge, what to store, back-off between attempts) lives with the caller; this
// layer only speaks the protocol: nonces (§7.2) with the badNonce retry (§6.5), signed requests
// (§6.2) and POST-as-GET (§6.3), polling with Retry-After (§7.5.1, §7.4), and RFC 9773's
// renewal information. The transport is injected, so the caller decides how TLS peers are
// judged (rospki: its one trust engine) and how connections fail.

import type { KeyObject } from 'node:crypto';
import { externalAccountBinding, base64url, jwkThumbprint, publicJwk, signJws, type Jwk } from './jws.js';
import { AcmeProblem, retryAfterMs, type ProblemDocument } from './problem.js';
import type { Account, Authorization, Challenge, Directory, Order, RenewalInfo } from './types.js';

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST';
  url: string;
  body?: Buffer;
  headers?: Record<string, string>;
}

export interface HttpResponse {
  status: number;
  /** Header names in lower case (as node:http gives them). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer;
}

/** Sends one request; throws on transport failures (no connection, TLS peer refused, timeout). */
export type HttpTransport = (req: HttpRequest, signal?: AbortSignal) => Promise<HttpResponse>;

export interface AcmeClientOptions {
  directoryUrl: string;
  http: HttpTransport;
  accountKey: KeyObject;
  /** The account's URL (the JWS `kid`), once registered. */
  accountUrl?: string;
  signal?: AbortSignal;
  /** How often a request rejected for its nonce is sent again with a fresh one (RFC 8555 §6.5). */
  nonceRetries?: number;
}

/** Polling an order or an authorization did not end in time. */
export class AcmeTimeout extends Error {
  constructor(what: string) {
    super(`${what} timed out`);
    this.name = 'AcmeTimeout';
  }
}

/** The caller's signal aborted a request or a wait. */
export class AcmeAborted extends Error {
  constructor() {
    super('aborted');
    this.name = 'AcmeAborted';
  }
}

const header = (res: HttpResponse, name: string): string | undefined => {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Polling pace: the server's Retry-After within these bounds, else a gentle ramp. */
const POLL_FIRST_MS = 100;
const POLL_MAX_MS = 3000;
const RETRY_AFTER_CAP_MS = 30_000;

export class AcmeClient {
  readonly jwk: Jwk;
  /** RFC 7638 thumbprint of the account key: the second half of every key authorization. */
  readonly thumbprint: string;
  accountUrl: string | undefined;
  private dir: Directory | undefined;
  private readonly nonces: string[] = [];
  private readonly nonceRetries: number;

  constructor(private readonly opts: AcmeClientOptions) {
    this.jwk = publicJwk(opts.accountKey);
    this.thumbprint = jwkThumbprint(this.jwk);
    this.accountUrl = opts.accountUrl;
    this.nonceRetries = opts.nonceRetries ?? 8;
  }

  /** RFC 8555 §8.1: token "." thumbprint. */
  keyAuthorization(token: string): string {
    return `${token}.${this.thumbprint}`;
  }

  /** RFC 8555 §7.1.1: the directory (fetched once per client). */
  async directory(): Promise<Directory> {
    if (this.dir) return this.dir;
    const res = await this.send({ method: 'GET', url: this.opts.directoryUrl, headers: { Accept: 'application/json' } });
    if (res.status !== 200) throw this.problemOf(res);
    const dir = this.json<Directory>(res);
    if (typeof dir.newNonce !== 'string' || typeof dir.newAccount !== 'string' || typeof dir.newOrder !== 'string') {
      throw new AcmeProblem({ detail: 'the directory names no newNonce, newAccount or newOrder: not an ACME directory' }, res.status);
    }
    this.dir = dir;
    return dir;
  }

  /**
   * RFC 8555 §7.3: registers the account key (agreeing to the terms of service), or finds the
   * account it already has (200 instead of 201). With `eab`, the binding of §7.3.4.
   */
  async newAccount(opts: { eab?: { kid: string; macKey: Buffer }; onlyReturnExisting?: boolean } = {}): Promise<{ url: string; account: Account; created: boolean }> {
    const dir = await this.directory();
    const payload: Record<string, unknown> = opts.onlyReturnExisting ? { onlyReturnExisting: true } : { termsOfServiceAgreed: true };
    if (opts.eab && !opts.onlyReturnExisting) payload.externalAccountBinding = externalAccountBinding(this.jwk, opts.eab.kid, opts.eab.macKey, dir.newAccount);
    const res = await this.post(dir.newAccount, payload, true);
    const url = header(res, 'location');
    if (!url) throw new AcmeProblem({ detail: 'the server gave the new account no Location' }, res.status);
    this.accountUrl = url;
    return { url, account: this.json<Account>(res), created: res.status === 201 };
  }

  /** RFC 8555 §7.3.3: the account object (POST-as-GET to its URL). */
  async account(): Promise<Account> {
    return this.json<Account>(await this.post(this.requireAccount(), undefined));
  }

  /** RFC 8555 §7.3.6: deactivates the account; the server refuses its key from then on. */
  async deactivateAccount(): Promise<Account> {
    return this.json<Account>(await this.post(this.requireAccount(), { status: 'deactivated' }));
  }

  /** RFC 8555 §7.4 (and RFC 9773 §5: `replaces` names the certificate this order renews). */
  async newOrder(names: readonly string[], opts: { replaces?: string } = {}): Promise<{ url: string; order: Order }> {
    const dir = await this.directory();
    const payload: Record<string, unknown> = { identifiers: names.map((value) => ({ type: 'dns', value })) };
    if (opts.replaces) payload.replaces = opts.replaces;
    const res = await this.post(dir.newOrder, payload);
    const url = header(res, 'location');
    if (!url) throw new AcmeProblem({ detail: 'the server gave the new order no Location' }, res.status);
    return { url, order: this.json<Order>(res) };
  }

  async order(url: string): Promise<Order> {
    return this.json<Order>(await this.post(url, undefined));
  }

  /** RFC 8555 §7.5. */
  async authorization(url: string): Promise<Authorization> {
    return this.json<Authorization>(await this.post(url, undefined));
  }

  /** RFC 8555 §7.5.1: tells the server the challenge is ready to be validated (payload `{}`). */
  async respond(challenge: Challenge): Promise<Challenge> {
    return this.json<Challenge>(await this.post(challenge.url, {}));
  }

  /** Polls an authorization until it is no longer pending (RFC 8555 §7.5.1), until `deadline` (epoch ms). */
  async waitAuthorization(url: string, deadline: number): Promise<Authorization> {
    return this.poll(url, (a: Authorization) => a.status !== 'pending', deadline, 'validation');
  }

  /** RFC 8555 §7.4: finalizes a ready order with a CSR (DER). */
  async finalize(order: Order, csrDer: Buffer): Promise<Order> {
    return this.json<Order>(await this.post(order.finalize, { csr: base64url(csrDer) }));
  }

  /** Polls an order until it leaves `waiting` (RFC 8555 §7.1.6). */
  async waitOrder(url: string, waiting: ReadonlyArray<Order['status']>, deadline: number): Promise<Order> {
    return this.poll(url, (o: Order) => !waiting.includes(o.status), deadline, 'the order');
  }

  /** RFC 8555 §7.4.2: the certificate chain, PEM, leaf first. */
  async certificateChain(url: string): Promise<string> {
    const res = await this.post(url, undefined, false, { Accept: 'application/pem-certificate-chain' });
    return res.body.toString('utf8');
  }

  /** RFC 9773 §4: the window in which the CA suggests renewing a certificate (unauthenticated GET). */
  async renewalInfo(certId: string): Promise<RenewalInfo> {
    const dir = await this.directory();
    if (!dir.renewalInfo) throw new AcmeProblem({ detail: 'the server offers no renewal information' }, 404);
    const res = await this.send({ method: 'GET', url: `${dir.renewalInfo.replace(/\/$/, '')}/${certId}`, headers: { Accept: 'application/json' } });
    if (res.status !== 200) throw this.problemOf(res);
    const info = this.json<{ suggestedWindow?: { start?: string; end?: string }; explanationURL?: string }>(res);
    const start = Date.parse(info.suggestedWindow?.start ?? '');
    const end = Date.parse(info.suggestedWindow?.end ?? '');
    if (Number.isNaN(start) || Number.isNaN(end) || end < start) {
      throw new AcmeProblem({ detail: 'the renewal information has no valid suggestedWindow' }, res.status);
    }
    return { start, end, explanationUrl: info.explanationURL, retryAfterMs: retryAfterMs(header(res, 'retry-after'), header(res, 'date')) };
  }

  // -------------------------------------------------------------------------------------------

  private requireAccount(): string {
    if (!this.accountUrl) throw new Error('no ACME account registered');
    return this.accountUrl;
  }

  private async send(req: HttpRequest): Promise<HttpResponse> {
    if (this.opts.signal?.aborted) throw new AcmeAborted();
    const res = await this.opts.http(req, this.opts.signal);
    const nonce = header(res, 'replay-nonce');
    // RFC 8555 §6.5.1: a nonce is base64url; anything else is not kept.
    if (nonce && /^[A-Za-z0-9_-]+$/.test(nonce)) this.nonces.push(nonce);
    return res;
  }

  /** RFC 8555 §7.2: a fresh nonce, from an earlier response or from newNonce. */
  private async nonce(): Promise<string> {
    const kept = this.nonces.pop();
    if (kept) return kept;
    const dir = await this.directory();
    const res = await this.send({ method: 'HEAD', url: dir.newNonce });
    const got = this.nonces.pop();
    if (!got) throw new AcmeProblem({ detail: 'the server gave no Replay-Nonce' }, res.status);
    return got;
  }

  /**
   * A signed POST (RFC 8555 §6.2) with the account's kid, or the jwk for newAccount; payload
   * undefined is POST-as-GET. A badNonce answer is retried with the nonce it carries (§6.5).
   */
  private async post(url: string, payload: unknown, useJwk = false, headers: Record<string, string> = {}): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const nonce = await this.nonce();
      const protectedHeader: Record<string, unknown> = useJwk ? { nonce, url, jwk: this.jwk } : { nonce, url, kid: this.requireAccount() };
      const body = Buffer.from(JSON.stringify(signJws(this.opts.accountKey, protectedHeader, payload)));
      const res = await this.send({ method: 'POST', url, body, headers: { 'Content-Type': 'application/jose+json', ...headers } });
      if (res.status < 400) return res;
      const problem = this.problemOf(res);
      if (problem.is('badNonce') && attempt < this.nonceRetries) continue;
      throw problem;
    }
  }

  private async poll<T extends { status: string }>(url: string, done: (x: T) => boolean, deadline: number, what: string): Promise<T> {
    let delay = POLL_FIRST_MS;
    for (;;) {
      const res = await this.post(url, undefined);
      const obj = this.json<T>(res);
      if (done(obj)) return obj;
      const asked = retryAfterMs(header(res, 'retry-after'), header(res, 'date'));
      const wait = asked !== undefined ? Math.min(Math.max(asked, POLL_FIRST_MS), RETRY_AFTER_CAP_MS) : delay;
      if (Date.now() + wait > deadline) throw new AcmeTimeout(what);
      await this.sleep(wait);
      delay = Math.min(Math.round(delay * 1.5), POLL_MAX_MS);
    }
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.opts.signal;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) { reject(new AcmeAborted()); return; }
      const onAbort = () => { clearTimeout(t); reject(new AcmeAborted()); };
      const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private json<T>(res: HttpResponse): T {
    try {
      return JSON.parse(res.body.toString('utf8')) as T;
    } catch {
      throw new AcmeProblem({ detail: `the server answered HTTP ${res.status} with something that is not JSON` }, res.status);
    }
  }

  /** The problem document of an error answer (RFC 8555 §6.7), or one made from its status. */
  private problemOf(res: HttpResponse): AcmeProblem {
    const retry = retryAfterMs(header(res, 'retry-after'), header(res, 'date'));
    let doc: ProblemDocument = { detail: `HTTP ${res.status}` };
    try {
      const parsed = JSON.parse(res.body.toString('utf8')) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) doc = parsed as ProblemDocument;
    } catch {
      // not a problem document: the status says it all
    }
    return new AcmeProblem(doc, res.status, retry);
  }
}
