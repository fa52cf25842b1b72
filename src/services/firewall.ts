// rospki's firewall (issue 13 §6): `/ip firewall filter` rules of chain `input` decide which
// connections and datagrams rospki's OWN listeners take — www, www-ssl, api, api-ssl, ssh, ftp
// (and its data connections), telnet, and the UDP services (DNS, NTP, IPsec …) that call
// admitDatagram(). It filters nothing else: rospki is no packet filter of the host it runs on,
// and a connection to a port rospki does not serve never reaches it.
//
// One InputFirewall per daemon (ServiceContext.firewall). The decision itself is the pure
// decide() of menus/ip/firewall-match.ts over the rules in order; here it is made cheap and put
// into effect:
//  - the rules and address lists are read from the store's cache once per change (the cache
//    hands out the same row array while a menu is unchanged, so that identity is the version
//    check), address lists indexed once (AddressListIndex), expiring entries honoured;
//  - `drop` (and `tarpit`) closes the connection without a byte, `reject` resets it (TCP RST);
//    for a datagram both mean it is ignored (rospki cannot send ICMP);
//  - counters: a connection counts as one packet, the size of the SYN Linux sends (60 bytes over
//    IPv4, 80 over IPv6); a datagram counts its IP length. rospki sees connections, not packets,
//    so nothing after the first packet is counted (and `connection-state` is `new`, or `related`
//    for an FTP data connection). Counts, /log lines (`log=yes`, `action=log`) and address-list
//    entries (`add-src-to-address-list`) are written in one transaction at most every flushMs;
//    an entry added that way matches the next connection at once, before it is written.

import type dgram from 'node:dgram';
import type net from 'node:net';
import type { Environment } from '../menu/types.js';
import {
  addCounts, addressLists, ADDRESS_LIST_PATH, filterRules, FILTER_PATH, recordEffects, type RuleCount,
} from '../menus/ip/firewall.js';
import { AddressListIndex, decide, type AddressListEntry, type Connection, type Decision, type FilterRule, type Verdict } from '../menus/ip/firewall-match.js';
import type { StoredRow } from '../store/store.js';
import { plainAddress } from './auth.js';

/** Bytes a TCP connection counts: the SYN Linux sends (IP header + TCP header with its options). */
export const SYN_BYTES = { 4: 60, 6: 80 } as const;
/** IP and UDP headers a datagram's payload is counted with. */
export const UDP_HEADER_BYTES = { 4: 28, 6: 48 } as const;

/** /log lines and address-list entries waiting for the next write, at most (a flood writes no more). */
const MAX_PENDING_EFFECTS = 256;

/** A datagram arriving at one of rospki's UDP services. */
export interface InputDatagram {
  readonly srcAddress: string;
  readonly srcPort: number;
  /** The local address it was sent to (the socket's bound address when not known better). */
  readonly dstAddress: string;
  readonly dstPort: number;
  /** Payload bytes (the IP and UDP headers are added). */
  readonly length: number;
}

interface Rules {
  readonly filterRows: readonly StoredRow[];
  readonly listRows: readonly StoredRow[];
  readonly rules: FilterRule[];
  /** Whether any enabled rule is in `input`: when none is, everything is accepted uncounted. */
  readonly active: boolean;
  readonly lists: AddressListIndex;
  /** Router-clock time the first address-list entry expires (Infinity: none). */
  readonly until: number;
}

export interface FirewallOptions {
  /** Counters, /log lines and address-list entries are written at most this often (ms). */
  flushMs: number;
  /** Unexpected errors (a rule set that cannot be read): the daemon's log. */
  internalError(e: unknown): void;
}

export class InputFirewall {
  private cached: Rules | undefined;
  private readonly counts = new Map<number, RuleCount>();
  private effects: Array<{ decision: Decision; conn: Connection }> = [];
  /** Address-list entries added by rules and not written yet: they match already. */
  private pendingEntries: AddressListEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly env: Environment, private readonly opts: FirewallOptions) {}

  /**
   * A new TCP connection to one of rospki's listeners: decides, counts, and carries out a refusal
   * (`drop`: closed without a byte; `reject`: reset). True when the service may take it.
   * `related`: a connection a service expects (an FTP data connection).
   */
  admitConnection(socket: net.Socket, state: 'new' | 'related' = 'new'): boolean {
    const src = plainAddress(socket.remoteAddress);
    const dst = plainAddress(socket.localAddress);
    const verdict = this.verdict(() => ({
      protocol: 'tcp', srcAddress: src, srcPort: socket.remotePort, dstAddress: dst, dstPort: socket.localPort ?? 0,
      inInterface: loopbackInterface(dst), state,
    }), SYN_BYTES[src.includes(':') ? 6 : 4]);
    if (verdict === 'accept') return true;
    socket.on('error', () => {});
    if (verdict === 'reject') socket.resetAndDestroy();
    else socket.destroy();
    return false;
  }

  /**
   * A datagram to one of rospki's UDP services (DNS, NTP, IPsec …): true when the service may
   * answer it. A refused datagram is ignored; call it once per datagram, before any work.
   */
  admitDatagram(d: InputDatagram): boolean {
    const src = plainAddress(d.srcAddress);
    const dst = plainAddress(d.dstAddress);
    return this.verdict(() => ({
      protocol: 'udp', srcAddress: src, srcPort: d.srcPort, dstAddress: dst, dstPort: d.dstPort, inInterface: loopbackInterface(dst),
    }), d.length + UDP_HEADER_BYTES[src.includes(':') ? 6 : 4]) === 'accept';
  }

  /** admitDatagram() for a `dgram` socket's `message` event. */
  admitMessage(socket: dgram.Socket, message: Buffer, remote: dgram.RemoteInfo): boolean {
    const local = socket.address();
    return this.admitDatagram({ srcAddress: remote.address, srcPort: remote.port, dstAddress: local.address, dstPort: local.port, length: message.length });
  }

  /** The verdict for one connection or datagram; its counts and effects are queued. */
  private verdict(describe: () => Connection, bytes: number): Verdict {
    let rules: Rules;
    try {
      rules = this.rules();
    } catch (e) {
      // The rules cannot be read (the store is closing): refuse rather than guess.
      this.opts.internalError(e);
      return 'drop';
    }
    if (!rules.active) return 'accept';
    const conn = describe();
    const decision = decide(rules.rules, 'input', conn, rules.lists);
    if (decision.matched.length === 0) return decision.verdict;
    for (const id of decision.matched) {
      const c = this.counts.get(id);
      if (c) { c.packets++; c.bytes += bytes; } else this.counts.set(id, { packets: 1, bytes });
    }
    if ((decision.logs.length > 0 || decision.listed.length > 0) && this.effects.length < MAX_PENDING_EFFECTS) {
      this.effects.push({ decision, conn });
      for (const l of decision.listed) {
        const entry = { list: l.list, address: l.address };
        this.pendingEntries.push(entry);
        rules.lists.add(entry);
      }
    }
    this.schedule();
    return decision.verdict;
  }

  /** The rules and lists now, read again only when a menu changed or a list entry expired. */
  private rules(): Rules {
    const tx = this.env.store.view();
    const filterRows = tx.list(FILTER_PATH);
    const listRows = tx.list(ADDRESS_LIST_PATH);
    const now = this.env.clock.now();
    const c = this.cached;
    if (c && c.filterRows === filterRows && c.listRows === listRows && now < c.until) return c;
    const rules = filterRules(tx);
    const { entries, until } = addressLists(tx, now);
    const lists = new AddressListIndex(entries);
    for (const e of this.pendingEntries) lists.add(e);
    this.cached = { filterRows, listRows, rules, active: rules.some((r) => r.chain === 'input' && !r.disabled), lists, until };
    return this.cached;
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.opts.flushMs);
    this.timer.unref();
  }

  /** Writes what was counted (one transaction); tests call it to see counters at once. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    if (this.counts.size === 0 && this.effects.length === 0) return Promise.resolve();
    const counts = new Map(this.counts);
    const effects = this.effects;
    const written = this.pendingEntries;
    this.counts.clear();
    this.effects = [];
    this.flushing = this.env.store.write((tx) => {
      addCounts(tx, counts);
      for (const { decision, conn } of effects) recordEffects(this.env, tx, decision, conn);
    }).then(() => {
      // Written: the store has these entries now (the next read of the lists finds them).
      this.pendingEntries = this.pendingEntries.filter((e) => !written.includes(e));
    }, (e) => this.opts.internalError(e)).finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  /** Writes what is left; nothing is counted after. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

/** RouterOS names the loopback interface `lo`: `in-interface=lo` rules match local connections. */
function loopbackInterface(local: string): string | undefined {
  return local === '::1' || local.startsWith('127.') ? 'lo' : undefined;
}
