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
//  - are counted per source address (an IPv6 address by its /64) across connections, services
//    and instances: the counts are rows of the store (LOGIN_FAILURES_PATH), updated in the write
//    that logs the failure (no write of its own; a successful login writes nothing), so several
//    instances on one PostgreSQL database count together and an attacker gains nothing by
//    spreading attempts over them (issue 17). `lockoutAfter` failures lock the address out for
//    `lockoutMs`; while locked, its logins are refused without looking at the password, even a
//    right one (they cost a read of the store, no write). Each further
//    failure after that locks it again, twice as long every `lockoutAfter` failures, up to 16×.
//    An address's failures are forgotten `forgetMs` after its last one. Only the address is
//    locked, never the user: the real admin still logs in from another address;
//  - are logged as `login failure for user U from A via V` (once per checked attempt; attempts
//    of a locked address are not logged) and the lockout once; /log keeps them in a budget of
//    their own (menus/log.ts), so they never push other lines out.

import { createHash } from 'node:crypto';
import type { Appliance } from '../appliance.js';
import type { Policy } from '../menu/types.js';
import type { ReadMark, ReadTx, WriteTx } from '../store/store.js';
import { IpAddress, IpPrefix } from '../menu/values.js';
import { credentialStamp, LOGIN_FAILURES_PATH, USER_PATH, userPolicies } from '../menus/user/user.js';
import { RADIUS_STAMP, radiusGroupName, radiusGroupPolicies, radiusLoginsOn } from '../menus/user/aaa.js';
import { RADIUS, RADIUS_PATH, radiusServes } from '../menus/radius.js';
import { propValue } from '../menu/generic.js';
import { verifyPasswordAsync } from '../store/password.js';
import { radiusLogin, requestFits, type RadiusServer } from './radius-client.js';
import { routerIdentity } from '../menus/system/identity.js';

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
function logName(user: string, max = 64): string {
  const clean = user.replace(/[\x00-\x1f\x7f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** `1m`, `2m`, `16m`: a lockout's length as /log says it. */
function minutes(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.ceil(ms / 1000)}s`;
}

/** RADIUS Access-Requests in flight at once, at most (beyond: the login fails at once). */
const MAX_RADIUS_REQUESTS = 64;
/** A RADIUS server's `timeout` used per send, at most: a login waits servers × SENDS × this at worst. */
const MAX_RADIUS_TIMEOUT_MS = 10_000;

interface RadiusState {
  servers: RadiusServer[];
  /** Servers for login spoken over RadSec: skipped. */
  radsec: string[];
  nasIdentifier: string;
  /** A cached RADIUS login of this name and password: its group and what it grants now. */
  cached?: { group: string; policies: Set<Policy> | undefined };
}

interface Verified {
  hash: string;
  until: number;
}

// The failed-login counts (LOGIN_FAILURES_PATH): declared beside /user, whose backups leave them out.
export { LOGIN_FAILURES_PATH };

/** Addresses whose failures are remembered, at most (the oldest are forgotten first). */
const MAX_SOURCES = 10_000;
/** Forgotten rows removed by one failure's write, at most (bounds that write). */
const PRUNE_PER_WRITE = 64;

/** Whether the source is locked out now, as the store says. */
function lockedIn(tx: ReadTx, source: string, now: number): boolean {
  const row = tx.findBy(LOGIN_FAILURES_PATH, 'source', source)[0];
  return !!row && Number(row.data['locked-until'] ?? 0) > now;
}

export class Authenticator {
  private readonly verified = new Map<string, Verified>();
  private delayed = 0;
  private asking = 0;
  private readonly radsecNoted = new Set<string>();
  private readonly opts: AuthOptions;

  constructor(private readonly app: Appliance, opts: Partial<AuthOptions> = {}) {
    this.opts = { ...DEFAULT_AUTH_OPTIONS, ...opts };
  }

  /**
   * Checks a login. `via` names the front end in /log (`api`, `rest`, `ssh`); `fresh` says
   * whether to log a successful login (API connections log each login; REST logs when its
   * cache misses).
   */
  async login(user: string, password: string, address: string, via: string, since?: ReadMark): Promise<LoginResult & { fresh?: boolean }> {
    const source = failureSource(address);
    const key = `${user}\0${createHash('sha256').update(password).digest('base64')}`;
    const state = await this.app.store.read((tx) => {
      if (lockedIn(tx, source, Date.now())) return 'locked' as const;
      const row = tx.findBy(USER_PATH, 'name', user)[0];
      // A local user always wins; only a name that is not one is asked of RADIUS (/user aaa).
      if (!row) return radiusLoginsOn(tx) ? { radius: this.radiusState(tx, user, key) } : undefined;
      return {
        hash: String(row.data.password ?? ''), address: row.data.address as string[] | undefined,
        policies: userPolicies(tx, user), stamp: credentialStamp(tx, user),
      };
    }, since);
    if (state === 'locked') {
      // Nothing is checked: a locked address learns nothing and costs nothing but the delay.
      await this.delay();
      return { ok: false };
    }
    if (state && 'radius' in state && state.radius) return this.loginByRadius(user, password, address, source, via, key, state.radius);
    const usable = !!state && !!state.policies && state.hash !== '' && password !== '' && addressAllowed(state.address, address);
    let ok = false;
    let fresh = true;
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

  /** What a RADIUS login needs from the store: the servers, the NAS identity, a cached login's rights. */
  private radiusState(tx: ReadTx, user: string, key: string): RadiusState {
    const servers: RadiusServer[] = [];
    const radsec: string[] = [];
    for (const row of tx.list(RADIUS_PATH)) {
      if (!radiusServes(row.data, 'login')) continue;
      const address = propValue(RADIUS.address, row.data);
      if (propValue(RADIUS.protocol, row.data) === 'radsec') { radsec.push(address); continue; }
      const src = propValue(RADIUS.srcAddress, row.data);
      servers.push({
        address, port: propValue(RADIUS.authenticationPort, row.data), secret: propValue(RADIUS.secret, row.data),
        timeoutMs: Math.min(MAX_RADIUS_TIMEOUT_MS, Math.max(10, propValue(RADIUS.timeout, row.data) / 1e6)),
        ...(src ? { srcAddress: src } : {}),
      });
    }
    const hit = this.verified.get(key);
    const group = hit && hit.until > Date.now() && hit.hash.startsWith(RADIUS_STAMP) ? hit.hash.slice(RADIUS_STAMP.length) : undefined;
    return {
      servers, radsec, nasIdentifier: routerIdentity(tx),
      cached: group !== undefined ? { group, policies: radiusGroupPolicies(tx, user, group) } : undefined,
    };
  }

  /**
   * A name that is not a local user, with use-radius=yes: asked of the /radius servers (service
   * login) unless a cached login of the same password still holds. The group is the Accept's
   * Mikrotik-Group, else default-group; one that does not exist (or is excluded) refuses the
   * login. Every failure is the usual one: counted, logged, delayed.
   */
  private async loginByRadius(
    user: string, password: string, address: string, source: string, via: string, key: string, state: RadiusState,
  ): Promise<LoginResult & { fresh?: boolean }> {
    const stampOf = (group: string) => `${RADIUS_STAMP}${group}`;
    if (state.cached?.policies) {
      return { ok: true, user, policies: state.cached.policies, stamp: stampOf(state.cached.group), fresh: false };
    }
    for (const a of state.radsec) await this.noteRadsec(a);
    const req = { user, password, nasIdentifier: state.nasIdentifier, callingStation: plainAddress(address) };
    let reason: string | undefined;
    if (password === '' || !requestFits(req)) reason = undefined; // refused like a wrong password
    else if (state.servers.length === 0) reason = 'no RADIUS server for login';
    else if (this.asking >= MAX_RADIUS_REQUESTS) reason = 'too many RADIUS requests at once';
    else {
      this.asking++;
      let answer;
      try {
        answer = await radiusLogin(state.servers, req);
      } finally {
        this.asking--;
      }
      if (answer.kind === 'failed') reason = `no valid RADIUS answer: ${answer.reasons.join('; ')}`;
      else if (answer.kind === 'accept') {
        const granted = await this.app.store.read((tx) => {
          const group = radiusGroupName(tx, answer.group);
          return { group, policies: group !== undefined ? radiusGroupPolicies(tx, user, group) : undefined };
        });
        if (granted.group !== undefined && granted.policies) {
          if (this.verified.size > 1000) this.verified.clear();
          this.verified.set(key, { hash: stampOf(granted.group), until: Date.now() + this.opts.cacheMs });
          return { ok: true, user, policies: granted.policies, stamp: stampOf(granted.group), fresh: true };
        }
        reason = `RADIUS group ${logName(granted.group ?? '')} does not exist or is excluded`;
      }
    }
    await this.failed(user, address, source, via, reason);
    return { ok: false };
  }

  /** A RadSec server named for login is skipped (rospki's logins speak UDP only): said once per address. */
  private async noteRadsec(address: string): Promise<void> {
    if (this.radsecNoted.has(address)) return;
    this.radsecNoted.add(address);
    await this.app.store.write((tx) => {
      this.app.env.log(tx, 'radius,warning', `RADIUS server ${address} skipped for logins: RadSec is not spoken for logins`);
    });
  }

  /**
   * A login refused by the front end itself (an SSH key signature that does not verify, a user
   * with keys trying a password): counted, logged and delayed exactly like a wrong password.
   */
  async recordFailure(user: string, address: string, via: string): Promise<void> {
    await this.failed(user, address, failureSource(address), via);
  }

  /**
   * Whether logins from this address are refused now (a key login must not bypass the lockout).
   * It looks at the store's view: the caller has just read the store (its user's keys).
   */
  isLockedOut(address: string): boolean {
    return lockedIn(this.app.store.view(), failureSource(address), Date.now());
  }

  /** Records a successful login: /log line and the user's last-logged-in. */
  async logLogin(user: string, address: string, via: string): Promise<void> {
    await this.app.store.write((tx) => {
      this.app.env.log(tx, 'system,info,account', `user ${user} logged in from ${plainAddress(address)} via ${via}`);
      const row = tx.findBy(USER_PATH, 'name', user)[0];
      if (row) tx.update(USER_PATH, row.id, { ...row.data, 'last-logged-in': this.app.clock.now() });
    });
  }

  /** Counts, logs and delays a failed login. */
  private async failed(user: string, address: string, source: string, via: string, reason?: string): Promise<void> {
    const from = plainAddress(address);
    // A RADIUS login's reason is on the same line: it stays in the failed-login budget of /log.
    const why = reason ? ` (${logName(reason, 240)})` : '';
    await this.app.store.write((tx) => {
      const lockout = this.count(tx, source, Date.now());
      this.app.env.log(tx, 'system,error,critical', `login failure for user ${logName(user)} from ${from} via ${via}${why}`);
      if (lockout !== undefined) {
        this.app.env.log(tx, 'system,error,critical', `too many login failures from ${source}, its logins are refused for ${minutes(lockout)}`);
      }
    });
    await this.delay();
  }

  /** Counts one failure of `source` in its row; the lockout it starts (ms), if any. */
  private count(tx: WriteTx, source: string, now: number): number | undefined {
    const row = tx.findBy(LOGIN_FAILURES_PATH, 'source', source)[0];
    let count = Number(row?.data.count ?? 0);
    let lockedUntil = Number(row?.data['locked-until'] ?? 0);
    if (row && this.forgotten(row.data, now)) { count = 0; lockedUntil = 0; }
    count++;
    let lockout: number | undefined;
    const { lockoutAfter } = this.opts;
    if (count >= lockoutAfter) {
      lockout = this.opts.lockoutMs * 2 ** Math.min(4, Math.floor((count - lockoutAfter) / lockoutAfter));
      lockedUntil = now + lockout;
    }
    const data = { source, count, last: now, 'locked-until': lockedUntil };
    if (row) tx.update(LOGIN_FAILURES_PATH, row.id, data);
    else {
      this.prune(tx, now);
      tx.insert(LOGIN_FAILURES_PATH, data);
    }
    return lockout;
  }

  /** Whether a source's failures are forgotten: none for forgetMs, and not locked. */
  private forgotten(data: Readonly<Record<string, unknown>>, now: number): boolean {
    return now - Number(data.last ?? 0) > this.opts.forgetMs && Number(data['locked-until'] ?? 0) <= now;
  }

  /** Before a new source's row: drops forgotten rows (a few), and the oldest beyond MAX_SOURCES. */
  private prune(tx: WriteTx, now: number): void {
    const rows = tx.list(LOGIN_FAILURES_PATH);
    let left = rows.length;
    let dropped = 0;
    for (const r of rows) {
      if (dropped >= PRUNE_PER_WRITE) break;
      if (this.forgotten(r.data, now)) { tx.remove(LOGIN_FAILURES_PATH, r.id); dropped++; left--; }
    }
    if (left < MAX_SOURCES) return;
    const oldest = rows.filter((r) => tx.get(LOGIN_FAILURES_PATH, r.id))
      .sort((a, b) => Number(a.data.last) - Number(b.data.last))
      .slice(0, left - MAX_SOURCES + 1);
    for (const r of oldest) tx.remove(LOGIN_FAILURES_PATH, r.id);
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
