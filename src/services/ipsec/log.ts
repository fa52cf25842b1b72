// charon's log lines (strongswan.conf filelog on standard error: `09[IKE] <conn|3> text`)
// turned into /log entries of topic `ipsec` in RouterOS's words where spec §4.8 has them
// (`can't verify peer's certificate from store`, `got fatal error: AUTHENTICATION_FAILED`,
// `peer's ID does not match certificate`, `<ip> failed to get valid proposal.`, `killing ike2
// SA: …`) and short plain texts elsewhere. Everything else charon says is left out.
//
// charon handles one IKE message on one worker thread from start to end, so what a thread said
// earlier (the packet's source, the certificate received, a revocation) explains what it says
// next.

export interface LogEntry {
  topics: string;
  message: string;
}

interface ThreadMemory {
  remote?: string;
  subject?: string;
  /** Why the peer's certificate failed, in OpenSSL's verify words as RouterOS prints them. */
  certificateProblem?: string;
}

/** `09[IKE] <identity-1|3> text`: thread, group, the IKE_SA's connection (once known), text. */
const LINE = /^(\d+)\[(\w+)\] (?:<(?:([^|>]*)\|)?\d*> )?(.*)$/;

/** OpenSSL verify errors RouterOS reports (`certificate signature failure(7)` in spec §4.8). */
const VERIFY = {
  revoked: 'certificate revoked(23)',
  noCrl: 'unable to get certificate CRL(3)',
  noIssuer: 'unable to get local issuer certificate(20)',
  expired: 'certificate has expired(10)',
  notYetValid: 'certificate is not yet valid(9)',
} as const;

export class CharonLog {
  private readonly threads = new Map<string, ThreadMemory>();

  /** `now`: the clock charon runs on (the router's: daemon-clock.ts), to tell expired from not yet valid. */
  /**
   * `versionOf`: the IKE version of a connection charon names (1 or 2): IKEv1 SAs are
   * ISAKMP-SAs in RouterOS's log (its IKEv1 daemon's words; forms UNCONFIRMED).
   */
  constructor(private readonly now: () => number = Date.now, private readonly versionOf: (conn: string) => 1 | 2 = () => 2) {}

  /** The /log entries one charon line makes (usually none). */
  line(text: string): LogEntry[] {
    const m = LINE.exec(text);
    if (!m) return [];
    const [, thread, group, conn, msg] = m as unknown as [string, string, string, string | undefined, string];
    const v1 = conn !== undefined && this.versionOf(conn) === 1;
    let mem = this.threads.get(thread);
    if (!mem) {
      if (this.threads.size > 256) this.threads.clear();
      mem = {};
      this.threads.set(thread, mem);
    }
    let r: RegExpExecArray | null;
    if ((r = /^received packet: from ([^[\s]+)\[(\d+)\]/.exec(msg))) {
      // A new message: what this thread knew belongs to the last one.
      this.threads.set(thread, { remote: r[1] });
      return [];
    }
    if ((r = /^received end entity cert "(.*)"$/.exec(msg))) { mem.subject = r[1]; return []; }
    if (/^certificate was revoked/.test(msg)) { mem.certificateProblem = VERIFY.revoked; return []; }
    if (/^certificate status is not available/.test(msg) && !mem.certificateProblem) { mem.certificateProblem = VERIFY.noCrl; return []; }
    if (/^certificate .* (?:expired|not valid)/i.test(msg)) { mem.certificateProblem = VERIFY.expired; return []; }
    // credential_manager's lifetime check: `subject certificate invalid (valid from %T to %T)`,
    // dates in charon's local time, as Date.parse reads them (the same TZ: rospki's environment).
    if ((r = /^(?:subject|issuer) certificate invalid \(valid from (.+) to (.+)\)$/.exec(msg))) {
      mem.certificateProblem = Date.parse(r[1]!) > this.now() ? VERIFY.notYetValid : VERIFY.expired;
      return [];
    }
    if (/^no issuer certificate found for/.test(msg) && !mem.certificateProblem) { mem.certificateProblem = VERIFY.noIssuer; return []; }

    if ((r = /^no trusted \S+ public key found for '(.*)'$/.exec(msg))) {
      const problem = mem.certificateProblem ?? VERIFY.noIssuer;
      return [
        { topics: 'ipsec,error', message: `${problem} at depth:0 cert:${mem.subject ?? r[1]}` },
        { topics: 'ipsec,error', message: "can't verify peer's certificate from store" },
      ];
    }
    if (/^constraint check failed: identity/.test(msg) || /^peer's certificate does not match/.test(msg)) {
      return [{ topics: 'ipsec,error', message: "peer's ID does not match certificate" }];
    }
    if ((r = /^no matching peer config found$/.exec(msg)) || /^no peer config found$/.test(msg)) {
      return [{ topics: 'ipsec,error', message: `${mem.remote ?? 'peer'} identity not found` }];
    }
    // A pre-shared key that does not match: IKEv2's AUTH payload (RFC 7296 §2.15), IKEv1's
    // hash or the payloads encrypted under the key (RFC 2409 §5) fail to check. RouterOS's
    // text for the IKEv1 case (UNCONFIRMED for IKEv2).
    if (/^tried \d+ shared keys? for '.*' - '.*', but MAC mismatched$/.test(msg) || /^(?:calculated HASH does not match HASH payload|could not decrypt payloads)$/.test(msg)) {
      return [{ topics: 'ipsec,error', message: `${mem.remote ?? 'peer'} parsing packet failed, possible cause: wrong password` }];
    }
    if (/^no shared key found for '.*' - '.*'$/.test(msg)) {
      return [{ topics: 'ipsec,error', message: `${mem.remote ?? 'peer'} no pre-shared key found` }];
    }
    if ((r = /^received (AUTHENTICATION_FAILED|NO_PROPOSAL_CHOSEN|TS_UNACCEPTABLE) notify error$/.exec(msg))) {
      return [{ topics: 'ipsec,error', message: `got fatal error: ${r[1]}` }];
    }
    if (/^(?:no acceptable proposal found|no matching proposal found|received proposals? (?:.* )?(?:unacceptable|inacceptable))/.test(msg)) {
      return [{ topics: 'ipsec,error', message: `${mem.remote ?? 'peer'} failed to get valid proposal.` }];
    }
    if ((r = /^IKE_SA (\S+)\[\d+\] established between ([^[]+)\[(.*)\]\.\.\.([^[]+)\[(.*)\]$/.exec(msg))) {
      if (v1) return [{ topics: 'ipsec,info', message: `ISAKMP-SA established ${r[2]}-${r[4]} id:${r[5]}` }];
      return [{ topics: 'ipsec,info', message: `peer authorized: ${r[2]}-${r[4]} id:${r[5]}` }];
    }
    if ((r = /^deleting IKE_SA (\S+)\[\d+\] between ([^[]+)\[.*\]\.\.\.([^[]+)\[.*\]$/.exec(msg))) {
      if (v1) return [{ topics: 'ipsec,info', message: `ISAKMP-SA deleted ${r[2]}-${r[3]}` }];
      return [{ topics: 'ipsec,info', message: `killing ike2 SA: ${r[2]}-${r[3]}` }];
    }
    if ((r = /^CHILD_SA \S+ established with SPIs (\w+)_i (\w+)_o and TS (.*)$/.exec(msg))) {
      return [{ topics: 'ipsec,info', message: `IPsec-SA established: spi:${r[1]}/${r[2]} ${r[3]}` }];
    }
    if (group === 'NET' && /^(?:unable to bind|could not open socket)/.test(msg)) {
      return [{ topics: 'ipsec,error', message: msg }];
    }
    return [];
  }
}
