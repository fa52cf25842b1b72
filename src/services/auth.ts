// Network logins (REST Basic auth, API /login) against /user: the password hash, the user's
// `address` allow-list and the group's policies. Empty passwords never log in over the network.
// Failures are delayed and logged; a verified password is remembered for a while (RouterOS's
// web server caches a REST login for 10 minutes) so that scrypt runs once per session, not per
// request. Changing the password (a new hash) invalidates the cache entry at once.

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
}

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

interface Verified {
  hash: string;
  until: number;
}

export class Authenticator {
  private readonly verified = new Map<string, Verified>();

  constructor(private readonly app: Appliance, private readonly opts: AuthOptions) {}

  /**
   * Checks a login. `via` names the front end in /log (`api`, `rest`); `fresh` says whether to
   * log a successful login (API connections log each login; REST logs when its cache misses).
   */
  async login(user: string, password: string, address: string, via: string): Promise<LoginResult & { fresh?: boolean }> {
    const state = await this.app.store.read((tx) => {
      const row = tx.findBy(USER_PATH, 'name', user)[0];
      if (!row) return undefined;
      return {
        hash: String(row.data.password ?? ''), address: row.data.address as string[] | undefined,
        policies: userPolicies(tx, user), stamp: credentialStamp(tx, user),
      };
    });
    let ok = !!state && !!state.policies && state.hash !== '' && password !== '' && addressAllowed(state.address, address);
    let fresh = true;
    if (ok) {
      const key = `${user}\0${createHash('sha256').update(password).digest('base64')}`;
      const hit = this.verified.get(key);
      const now = Date.now();
      if (hit && hit.hash === state!.hash && hit.until > now) fresh = false;
      else {
        ok = await verifyPasswordAsync(password, state!.hash);
        if (ok) {
          if (this.verified.size > 1000) this.verified.clear();
          this.verified.set(key, { hash: state!.hash, until: now + this.opts.cacheMs });
        }
      }
    }
    const from = plainAddress(address);
    if (!ok) {
      await this.app.store.write((tx) => this.app.env.log(tx, 'system,error,critical', `login failure for user ${user} from ${from} via ${via}`));
      await new Promise((r) => setTimeout(r, this.opts.failureDelayMs));
      return { ok: false };
    }
    return { ok: true, user, policies: state!.policies!, stamp: state!.stamp, fresh };
  }

  /** Records a successful login: /log line and the user's last-logged-in. */
  async logLogin(user: string, address: string, via: string): Promise<void> {
    await this.app.store.write((tx) => {
      this.app.env.log(tx, 'system,info,account', `user ${user} logged in from ${plainAddress(address)} via ${via}`);
      const row = tx.findBy(USER_PATH, 'name', user)[0];
      if (row) tx.update(USER_PATH, row.id, { ...row.data, 'last-logged-in': this.app.clock.now() });
    });
  }
}
