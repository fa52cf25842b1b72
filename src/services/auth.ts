// Network logins (REST Basic auth, API /login, SSH passwords; the web page later) against /user:
// the password hash, the user's `address` allow-list and the group's policies. Empty passwords
// never log in over the network. A verified password is remembered for a while (RouterOS's web
// server caches a REST login for 10 minutes) so that scrypt runs once per session, not per
// request; changing the password (a new hash) invalidates the cache entry at once.
//
// Failed logins (issue 11):
//  - cost the same as a successful one: an unknown or disabled user, an empty password or an
//    address outside the user's list are still checked with scrypt (against a dummy hash), so
//    the answer's timing does not tell whether the user exists;
//  - are answered after a delay, which is a timer, not work; at most `maxDelayed` failures wait
//    at once, beyond that they are answered at once;
//  - are counted per source address (an IPv6 address by its /64) across connections and
//    services. `lockoutAfter` failures lock the address out for `lockoutMs`; while locked, its
//    logins are refused without looking at the password, even a right one. Each further
//    failure after that locks it again, twice as long every `lockoutAfter` failures, up to 16×.
//    An address's failures are forgotten `forgetMs` after its last one. Only the address is
//    locked, never the user: the real admin still logs in from another address;
//  - are logged as `login failure for user U from A via V` (once per checked attempt; attempts
//    of a locked address are not logged) and the lockout once; /log keeps them in a budget of
//    their own (menus/log.ts), so they never push other lines out.

import { createHash } from 'node:crypto';
import type { Appliance } from '../appliance.js';
import type { Policy } from '../menu/types.js';
import { IpAddress, IpPrefix } from '../menu/values.js';
import { credentialStamp, USER_PATH, userPolicies } from '../menus/user/user.js';
import { verifyPasswordAsync } from '../store/password.js';

export interface AuthOptions {
  /** Delay before answering a failed login. */
  failureDelayMs: number;
  /** How long a verified password stays trusted. */
  cacheMs: number;
  /** Failures from one address that lock it out. */
  lockoutAfter: number;
  /** First lockout; later ones double every lockoutAfter failures, up to 16×. */
  lockoutMs: number;
  /** An address's failures are forgotten this long after its last one. */
  forgetMs: number;
  /** Failed logins waiting out their delay at once, at most. */
  maxDelayed: number;
}

export const DEFAULT_AUTH_OPTIONS: AuthOptions = {
  failureDelayMs: 1000,
  cacheMs: 600_000,
  lockoutAfter: 10,
  lockoutMs: 60_000,
  forgetMs: 15 * 60_000,
  maxDelayed: 64,
};

export type LoginResult =
  | { ok: true; user: string; policies: ReadonlySet<Policy>; /** Session.stamp: rights end when the password changes. */ stamp?: string }
  | { ok: false };

/** Normalises `::ffff:127.0.0.1` to `127.0.0.1`. */
export function plainAddress(remote: string | undefined): string {
  if (!remote) return '';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}

/** Whether an address is inside an allow-list of prefixes (empty list = anyone). */
export function addressAllowed(prefixes: readonly string[] | undefined, remote: string): boolean {
  if (!prefixes || prefixes.length === 0) return true;
  const ip = IpAddress.parse(plainAddress(remote));
  if (!ip) return false;
  return prefixes.some((p) => IpPrefix.parse(p)?.contains(ip) ?? false);
}

/**
 * Whose failures count together: an IPv4 address, or the /64 of an IPv6 address (one host
 * usually has a whole /64 to pick addresses from).
 */
export function failureSource(remote: string): string {
  const plain = plainAddress(remote);
  const ip = IpAddress.parse(plain);
  if (!ip || ip.family === 4) return plain;
  const net = Uint8Array.from(ip.bytes);
  net.fill(0, 8);
  return `${new IpAddress(6, net).toString()}/64`;
}

/** A user name as /log shows it: control characters cannot start a fake line; long names cut. */
function logName(user: string): string {
  const clean = user.replace(/[\x00-\x1f\x7f]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}

/** `1m`, `2m`, `16m`: a lockout's length as /log says it. */
function minutes(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.ceil(ms / 1000)}s`;
}

interface Verified {
  hash: string;
  until: number;
}

interface Failures {
  count: number;
  last: number;
  lockedUntil: number;
}

/** Addresses whose failures are remembered, at most (the oldest are forgotten first). */
const MAX_SOURCES = 10_000;

export class Authenticator {
  private readonly verified = new Map<string, Verified>();
  private readonly failures = new Map<string, Failures>();
  private delayed = 0;
  private readonly opts: AuthOptions;

  constructor(private readonly app: Appliance, opts: Partial<AuthOptions> = {}) {
    this.opts = { ...DEFAULT_AUTH_OPTIONS, ...opts };
  }

  /**
   * Checks a login. `via` names the front end in /log (`api`, `rest`, `ssh`); `fresh` says
   * whether to log a successful login (API connections log each login; REST logs when its
   * cache misses).
   */
  async login(user: string, password: string, address: string, via: string): Promise<LoginResult & { fresh?: boolean }> {
    const source = failureSource(address);
    if (this.lockedOut(source)) {
      // Nothing is checked: a locked address learns nothing and costs nothing but the delay.
      await this.delay();
      return { ok: false };
    }
    const state = await this.app.store.read((tx) => {
      const row = tx.findBy(USER_PATH, 'name', user)[0];
      if (!row) return undefined;
      return {
        hash: String(row.data.password ?? ''), address: row.data.address as string[] | undefined,
        policies: userPolicies(tx, user), stamp: credentialStamp(tx, user),
      };
    });
    const usable = !!state && !!state.policies && state.hash !== '' && password !== '' && addressAllowed(state.address, address);
    let ok = false;
    let fresh = true;
    const key = `${user}\0${createHash('sha256').update(password).digest('base64')}`;
    const hit = usable ? this.verified.get(key) : undefined;
    const now = Date.now();
    if (hit && hit.hash === state!.hash && hit.until > now) {
      ok = true;
      fresh = false;
    } else {
      // Every login that is not a cache hit runs scrypt once, against a dummy hash when there is
      // no usable one: failures cost what successes cost, and take as long.
      ok = (await verifyPasswordAsync(password, usable ? state!.hash : undefined)) && usable;
      if (ok) {
        if (this.verified.size > 1000) this.verified.clear();
        this.verified.set(key, { hash: state!.hash, until: now + this.opts.cacheMs });
      }
    }
    if (!ok) {
      await this.failed(user, address, source, via);
      return { ok: false };
    }
    return { ok: true, user, policies: state!.policies!, stamp: state!.stamp, fresh };
  }

  /**
   * A login refused by the front end itself (an SSH key signature that does not verify, a user
   * with keys trying a password): counted, logged and delayed exactly like a wrong password.
   */
  async recordFailure(user: string, address: string, via: string): Promise<void> {
    await this.failed(user, address, failureSource(address), via);
  }

  /** Whether logins from this address are refused now (a key login must not bypass the lockout). */
  isLockedOut(address: string): boolean {
    return this.lockedOut(failureSource(address));
  }

  /** Records a successful login: /log line and the user's last-logged-in. */
  async logLogin(user: string, address: string, via: string): Promise<void> {
    await this.app.store.write((tx) => {
      this.app.env.log(tx, 'system,info,account', `user ${user} logged in from ${plainAddress(address)} via ${via}`);
      const row = tx.findBy(USER_PATH, 'name', user)[0];
      if (row) tx.update(USER_PATH, row.id, { ...row.data, 'last-logged-in': this.app.clock.now() });
    });
  }

  private lockedOut(source: string): boolean {
    const f = this.failures.get(source);
    return !!f && f.lockedUntil > Date.now();
  }

  /** Counts, logs and delays a failed login. */
  private async failed(user: string, address: string, source: string, via: string): Promise<void> {
    const now = Date.now();
    let f = this.failures.get(source);
    if (f && now - f.last > this.opts.forgetMs && f.lockedUntil <= now) f = undefined;
    f ??= { count: 0, last: now, lockedUntil: 0 };
    f.count++;
    f.last = now;
    // Re-inserted: the map's order is the order of last failures, the oldest forgotten first.
    this.failures.delete(source);
    this.failures.set(source, f);
    if (this.failures.size > MAX_SOURCES) this.failures.delete(this.failures.keys().next().value!);
    let lockout: number | undefined;
    const { lockoutAfter } = this.opts;
    if (f.count >= lockoutAfter) {
      lockout = this.opts.lockoutMs * 2 ** Math.min(4, Math.floor((f.count - lockoutAfter) / lockoutAfter));
      f.lockedUntil = now + lockout;
    }
    const from = plainAddress(address);
    await this.app.store.write((tx) => {
      this.app.env.log(tx, 'system,error,critical', `login failure for user ${logName(user)} from ${from} via ${via}`);
      if (lockout !== undefined) {
        this.app.env.log(tx, 'system,error,critical', `too many login failures from ${source}, its logins are refused for ${minutes(lockout)}`);
      }
    });
    await this.delay();
  }

  /** The failure delay: a timer, for at most maxDelayed logins at once. */
  private async delay(): Promise<void> {
    if (this.delayed >= this.opts.maxDelayed || this.opts.failureDelayMs <= 0) return;
    this.delayed++;
    try {
      await new Promise((r) => setTimeout(r, this.opts.failureDelayMs).unref());
    } finally {
      this.delayed--;
    }
  }
}
