// Web page sessions (issue 16): a random cookie names a session held in memory. What a session
// may do is decided by the executor at every command (its policies at login, narrowed by the
// user's group now, and nothing once the password changed: Session.stamp), so a session here
// only remembers who logged in and its CSRF token.
//
// Limits: sessions exist only after a successful login (which the Authenticator slows and
// locks out), at most MAX_SESSIONS in all and MAX_PER_USER per user (the least recently used
// makes room), each ending after IDLE_MS without a request or LIFETIME_MS after login. Nothing
// is kept for requests without a valid cookie.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Policy, Session } from '../../menu/types.js';

export interface WebSessionLimits {
  /** Sessions held at once, at most. */
  maxSessions: number;
  /** Sessions of one user at once, at most. */
  maxPerUser: number;
  /** A session unused this long ends (RouterOS WebFig logs out after its idle time too). */
  idleMs: number;
  /** A session ends this long after login, used or not. */
  lifetimeMs: number;
}

export const DEFAULT_WEB_LIMITS: WebSessionLimits = {
  maxSessions: 256,
  maxPerUser: 16,
  idleMs: 10 * 60_000,
  lifetimeMs: 12 * 60 * 60_000,
};

export interface WebSession {
  readonly user: string;
  /** Policies at login; the executor narrows them at every command. */
  readonly policies: ReadonlySet<Policy>;
  /** The user's credential stamp at login: a password change ends the session. */
  readonly stamp?: string;
  /** Where it logged in from; a cookie shown from another address is not accepted. */
  readonly address: string;
  /** The service it logged in on: a www session is never valid on www-ssl, nor the reverse. */
  readonly via: 'www' | 'www-ssl';
  /** Sent with every change (form field `_csrf` or header `X-CSRF-Token`). */
  readonly csrf: string;
  readonly created: number;
  lastUsed: number;
  /** Row numbers of the last print per menu (console item numbers) for this session's commands. */
  readonly lastPrint: Session['lastPrint'];
}

/** The cookie of each service: `__Host-` binds the www-ssl one to HTTPS, this host and path `/`. */
export const COOKIE_NAME: Record<WebSession['via'], string> = { www: 'rospki-web', 'www-ssl': '__Host-rospki-web' };

const token = (): string => randomBytes(32).toString('base64url');
/** Sessions are kept by the hash of their cookie: the map's lookups reveal nothing of a valid one. */
const keyOf = (cookie: string): string => createHash('sha256').update(cookie).digest('base64url');

export class WebSessions {
  /** In order of last use (a Map keeps insertion order; a use re-inserts). */
  private readonly byKey = new Map<string, WebSession>();
  private readonly limits: WebSessionLimits;

  constructor(limits: Partial<WebSessionLimits> = {}, private readonly now: () => number = Date.now) {
    this.limits = { ...DEFAULT_WEB_LIMITS, ...limits };
  }

  get size(): number { return this.byKey.size; }

  /** A new session; returns its cookie value. */
  create(fields: Pick<WebSession, 'user' | 'policies' | 'stamp' | 'address' | 'via'>): { cookie: string; session: WebSession } {
    this.sweep();
    const mine = [...this.byKey.entries()].filter(([, s]) => s.user === fields.user);
    if (mine.length >= this.limits.maxPerUser) this.byKey.delete(mine[0]![0]);
    if (this.byKey.size >= this.limits.maxSessions) this.byKey.delete(this.byKey.keys().next().value!);
    const cookie = token();
    const t = this.now();
    const session: WebSession = { ...fields, csrf: token(), created: t, lastUsed: t, lastPrint: new Map() };
    this.byKey.set(keyOf(cookie), session);
    return { cookie, session };
  }

  /** The live session a cookie names on this service and from this address, or undefined. */
  get(cookie: string | undefined, via: WebSession['via'], address: string): WebSession | undefined {
    if (!cookie || cookie.length > 100) return undefined;
    const key = keyOf(cookie);
    const s = this.byKey.get(key);
    if (!s) return undefined;
    const t = this.now();
    if (t - s.lastUsed > this.limits.idleMs || t - s.created > this.limits.lifetimeMs) { this.byKey.delete(key); return undefined; }
    if (s.via !== via || s.address !== address) return undefined;
    s.lastUsed = t;
    this.byKey.delete(key);
    this.byKey.set(key, s);
    return s;
  }

  end(cookie: string | undefined): void {
    if (cookie) this.byKey.delete(keyOf(cookie));
  }

  /** Drops sessions whose time is up (oldest use first, so it stops at the first live one). */
  private sweep(): void {
    const t = this.now();
    for (const [key, s] of this.byKey) {
      if (t - s.lastUsed <= this.limits.idleMs && t - s.created <= this.limits.lifetimeMs) break;
      this.byKey.delete(key);
    }
  }
}

/** Whether a request's CSRF token is the session's (constant time). */
export function csrfMatches(session: WebSession, given: string | undefined): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `name=value` pairs of a Cookie header. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

/** Set-Cookie for a session (empty value and Max-Age=0 to end it). */
export function sessionCookie(via: WebSession['via'], value: string): string {
  const attrs = [`${COOKIE_NAME[via]}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
  if (via === 'www-ssl') attrs.push('Secure');
  if (value === '') attrs.push('Max-Age=0');
  return attrs.join('; ');
}
