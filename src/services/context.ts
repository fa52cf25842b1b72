// What every listener of the daemon shares: the appliance, the login checker and the limits.

import type { Appliance } from '../appliance.js';
import type { Authenticator } from './auth.js';
import type { ScepLimits } from '../menus/certificate/scep-service.js';
import type { DaemonClock } from './daemon-clock.js';
import type { InputFirewall } from './firewall.js';

export interface ServiceOptions {
  /**
   * Address the listeners bind to. RouterOS listens on every interface and filters with
   * `address`; rospki does the same by default (`::`, dual stack). ROSPKI_LISTEN_ADDRESS or
   * this option narrows it (tests use 127.0.0.1).
   */
  host: string;
  /** Delay before a failed login is answered (ms). */
  loginFailureDelayMs: number;
  /** Failed logins from one address (IPv6: its /64) that lock it out, across services (auth.ts). */
  loginLockoutAfter: number;
  /** The first lockout of an address; later ones are longer (auth.ts). */
  loginLockoutMs: number;
  /**
   * A connection that has not logged in within this of its TCP connect is closed: API
   * `/login`, a REST request with accepted credentials, TLS handshake and headers included
   * (gate.ts).
   */
  loginTimeoutMs: number;
  /** Connections of one service waiting to log in, at most; they do not count as sessions. */
  preAuthPool: number;
  /** An API session idle this long is closed; an HTTP socket idle this long mid-request too. */
  idleTimeoutMs: number;
  /** REST command limit (RouterOS: 60 s, then `Session closed`). */
  restTimeoutMs: number;
  /** Largest REST request body. */
  maxBodyBytes: number;
  /** Largest file an SCP or SFTP upload may write into /file (streamed to disk, never held in memory). */
  maxUploadBytes: number;
  /** How often other processes' changes to the store are looked for. */
  pollMs: number;
  /** Bounds of the SCEP servers (default DEFAULT_SCEP_LIMITS; tests lower them). */
  scep?: Partial<ScepLimits>;
  /**
   * The port the DNS service answers on (UDP and TCP) while `/ip dns allow-remote-requests=yes`:
   * 53 as on RouterOS; ROSPKI_DNS_PORT or this option moves it (tests, a host whose 53 is taken).
   */
  dnsPort: number;
  /** The port of the `/ip dns servers` and FWD addresses (53; tests run their upstream elsewhere). */
  dnsUpstreamPort: number;
}

export const DEFAULT_SERVICE_OPTIONS: ServiceOptions = {
  host: process.env.ROSPKI_LISTEN_ADDRESS || '::',
  loginFailureDelayMs: 1000,
  loginLockoutAfter: 10,
  loginLockoutMs: 60_000,
  loginTimeoutMs: 30_000,
  preAuthPool: 16,
  idleTimeoutMs: 600_000,
  restTimeoutMs: 60_000,
  maxBodyBytes: 8 * 1024 * 1024,
  maxUploadBytes: 64 * 1024 * 1024,
  pollMs: 500,
  dnsPort: Number(process.env.ROSPKI_DNS_PORT) || 53,
  dnsUpstreamPort: 53,
};

/** Why a listener could not open its port, as /ip service shows it (`cannot bind to port 53: Address in use (12)`). */
export function bindReason(port: number, e: NodeJS.ErrnoException): string {
  const text = e.code === 'EADDRINUSE' ? 'Address in use (12)'
    : e.code === 'EACCES' ? 'Permission denied (13)'
      : e.code === 'EADDRNOTAVAIL' ? 'Cannot assign requested address (99)'
        : `${e.code ?? e.message}`;
  return `cannot bind to port ${port}: ${text}`;
}

export interface ServiceContext {
  readonly app: Appliance;
  readonly auth: Authenticator;
  readonly options: ServiceOptions;
  /**
   * `/ip firewall filter` chain=input for rospki's own listeners (firewall.ts): every TCP listener
   * of index.ts asks it before taking a connection; a UDP service calls
   * `firewall.admitMessage(socket, message, remote)` (or admitDatagram) for every datagram and
   * ignores the datagram when it answers false.
   */
  readonly firewall: InputFirewall;
  /** The router clock the supervised daemons run on (daemon-clock.ts): every Supervisor gets it. */
  readonly daemonClock: DaemonClock;
  /** Unexpected errors: written to the daemon's stderr, never to clients. */
  internalError(e: unknown): void;
}
