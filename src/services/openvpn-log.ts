// What of openvpn's own log (verb 3, no timestamps) reaches /log, and why a daemon stopped.
// One failed connection makes half a dozen lines (VERIFY ERROR, OpenSSL: error…, TLS_ERROR…,
// TLS Error: TLS handshake failed, Fatal TLS error…, SIGUSR1[soft,tls-error]); /log gets one
// line per failure with the most telling reason. Everything else is noise for /log.

import { OPENVPN_CIPHER } from '../menus/interface/ovpn.js';

export interface OvpnLogEntry {
  readonly topics: string;
  readonly message: string;
}

/** A peer's pending reasons are forgotten beyond this many peers (bounded memory). */
const MAX_PEERS = 1024;

/**
 * A client refused for its data cipher (`client1/127.0.0.1:48958 PUSH: No common cipher between
 * server and client. Server data-ciphers: 'AES-256-GCM:AES-128-CBC', client supported ciphers
 * 'BF-CBC'`): the login itself was accepted (and logged), so without this line /log would show a
 * login and a logout and not why.
 */
const NO_COMMON_CIPHER = /^(\S+) PUSH: No common cipher between server and client\. Server data-ciphers: '([^']*)'.*client supported ciphers? '([^']*)'/;

/** OpenVPN's cipher names as RouterOS's (`BF-CBC` → `blowfish128`); others as they are. */
const ROUTEROS_CIPHER = new Map(Object.entries(OPENVPN_CIPHER).map(([ros, ovpn]) => [ovpn.toUpperCase(), ros]));
const routerosCiphers = (list: string): string => list.split(':').filter(Boolean).map((c) => ROUTEROS_CIPHER.get(c.toUpperCase()) ?? c).join(',');

/** `127.0.0.1:47224 ` or `client/127.0.0.1:47224 ` before a per-connection message. */
const PEER_LINE = /^(\S+) ((?:VERIFY ERROR|OpenSSL|TLS Error|TLS_ERROR|VERIFY X509NAME ERROR|WARNING): .*)$/;

export class OvpnLogReader {
  /** The first telling reason of each peer's failure in progress. */
  private readonly reasons = new Map<string, string>();
  /** Why the daemon could not start or stopped (for `status`), once a fatal line was seen. */
  fatal: string | undefined;
  /** `Initialization Sequence Completed` was seen. */
  initialized = false;

  /**
   * `label` names the row in /log lines (`ovpn-server1`); `runDir` is removed from any text
   * (no host path is ever shown).
   */
  constructor(public label: string, private readonly runDir: string) {}

  /** Forget the state of a previous run of the daemon. */
  restart(): void {
    this.reasons.clear();
    this.fatal = undefined;
    this.initialized = false;
  }

  /** Reads one line; returns what goes to /log. */
  read(raw: string): OvpnLogEntry[] {
    const line = raw.split(this.runDir).join('').replace(/\s+$/, '');
    if (line === 'Initialization Sequence Completed') {
      this.initialized = true;
      return [];
    }
    const cipher = NO_COMMON_CIPHER.exec(line);
    if (cipher) {
      return [{
        topics: 'ovpn,error',
        message: `${this.label}: ${peerAddress(cipher[1]!)}: no data cipher in common with the client: it offers ${routerosCiphers(cipher[3]!)}, the server allows ${routerosCiphers(cipher[2]!)}`,
      }];
    }
    const peer = PEER_LINE.exec(line);
    if (peer) return this.peerLine(peerAddress(peer[1]!), peer[2]!);
    const fatal = fatalReason(line);
    if (fatal) {
      this.fatal = fatal;
      return [{ topics: 'ovpn,error', message: `${this.label}: ${fatal}` }];
    }
    // A client's own failures (no peer prefix in point-to-point/client mode).
    if (/^(VERIFY ERROR|OpenSSL|TLS Error|VERIFY X509NAME ERROR): /.test(line)) return this.peerLine('server', line);
    return [];
  }

  private peerLine(peer: string, text: string): OvpnLogEntry[] {
    const verify = /^VERIFY ERROR: depth=\d+, error=(.*)$/.exec(text) ?? /^VERIFY X509NAME ERROR: (.*)$/.exec(text);
    if (verify) {
      this.remember(peer, `certificate refused: ${verify[1]}`);
      return [];
    }
    const openssl = /^OpenSSL: error:[0-9A-F]+:[^:]*:[^:]*:([^:]+)/.exec(text);
    if (openssl) {
      this.remember(peer, openssl[1]!.trim());
      return [];
    }
    const tls = /^TLS Error: (TLS handshake failed|TLS key negotiation failed to occur within \d+ seconds)/.exec(text);
    if (tls) {
      const reason = this.reasons.get(peer);
      this.reasons.delete(peer);
      return [{ topics: 'ovpn,error', message: `${this.label}: ${peer}: ${tls[1]}${reason ? `: ${reason}` : ''}` }];
    }
    return [];
  }

  private remember(peer: string, reason: string): void {
    if (this.reasons.has(peer)) return; // the first reason is the cause, the rest follow from it
    if (this.reasons.size >= MAX_PEERS) this.reasons.clear();
    this.reasons.set(peer, reason);
  }
}

/** `client/127.0.0.1:47224` → `127.0.0.1:47224`; `[AF_INET]…` prefixes dropped. */
function peerAddress(label: string): string {
  return label.slice(label.lastIndexOf('/') + 1).replace(/^\[AF_INET6?\]/, '');
}

/** Why openvpn cannot go on, in words for `status` and /log; undefined for any other line. */
export function fatalReason(line: string): string | undefined {
  let m = /Socket bind failed on local address \S*?:(\d+): (.*?)(?: \(errno=\d+\))?$/.exec(line);
  if (m) return `cannot bind to port ${m[1]}: ${m[2]}`;
  if (/Cannot open TUN\/TAP dev|Cannot ioctl TUNSETIFF|Cannot allocate TUN\/TAP dev/.test(line)) {
    return 'the host has no usable TUN/TAP device (OpenVPN servers need one)';
  }
  m = /^Options error: (.*)$/.exec(line);
  if (m) return `openvpn refused its configuration: ${m[1]}`;
  m = /^(?:ERROR|FATAL): (.*)$/.exec(line);
  if (m) return m[1];
  return undefined;
}
