// The one trust engine (issue 6): decides whether a peer's certificate chain is acceptable, for
// /tool fetch now and every TLS client later (DoH, ACME, SCEP client). Anchors are trusted
// certificates whose trust-store admits the service, plus the built-in roots where the settings
// allow them for that service. Validity is judged against the router clock, names with the
// leaf's SAN (CN when there is none), and revocation with CRLs when crl-use=yes (local CAs' own
// CRLs first, then downloaded ones, downloading on demand when crl-download=yes). Refusals carry
// RouterOS's texts (spec §6.1).
//
// The engine knows only pki/: where certificates, settings and CRLs come from is the
// TrustSources it is given (the /certificate menu provides them), so it imports no menu.

import { X509Certificate, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import net from 'node:net';
import { formatDate, type Clock, type TimeZone } from '../clock.js';
import { failure } from '../errors.js';
import { parseCertificate, verifyCertificateSignature, type CertInfo } from '../pki/index.js';
import type { CrlInfo } from '../pki/crl.js';

/** RouterOS's texts (spec §6.1; `certificate revoked` and `before:` are UNCONFIRMED wording). */
export const TRUST_ERRORS = {
  noTrustedCa: 'SSL: ssl: no trusted CA certificate found (6)',
  noLocalIssuer: 'ssl connection error: handshake failed: unable to get local issuer certificate (6)',
  noCrl: 'SSL: handshake failed: unable to get certificate CRL (6)',
  revoked: 'SSL: handshake failed: certificate revoked (6)',
  nameMismatch: "SSL: server's IP or DNS name does not match certificate (6)",
  noCertificate: 'ssl connection error: handshake failed: no peer certificate (6)',
} as const;

/** Dates in these texts are shown in the router's zone, like every date (/system clock). */
export const expiredText = (notAfter: number, now: number, zone: TimeZone): string => `SSL: ssl: cert not valid (after: ${formatDate(notAfter, zone)} < now: ${formatDate(now, zone)})`;
export const notYetValidText = (notBefore: number, now: number, zone: TimeZone): string => `SSL: ssl: cert not valid (before: ${formatDate(notBefore, zone)} > now: ${formatDate(now, zone)})`;

export type CheckMode = 'yes' | 'yes-without-crl';

export interface TrustRequest {
  /** DER certificates as the peer presented them, leaf first. */
  chain: readonly Buffer[];
  /** Host name or IP address the client connected to; omitted → no name check. */
  host?: string;
  /** trust-store component asking: `fetch`, `www`, `dns`, … */
  service: string;
  /** `yes-without-crl` skips revocation checks (RouterOS: "without CRL validation"). */
  mode: CheckMode;
}

export type TrustResult =
  | { ok: true; path: CertInfo[]; anchor: CertInfo }
  | { ok: false; error: string; path: CertInfo[] };

// ---------------------------------------------------------------------------------------------
// Where certificates come from

/** A certificate the configuration holds, as chain building sees it. */
export interface StoredCandidate {
  readonly fingerprint: string;
  /** Trusted for the asking service: trusted=yes, not revoked, trust-store admits the service. */
  readonly trusted: boolean;
  der(): Buffer | undefined;
}

/** A consistent, synchronous view of the configured certificates (one store read). */
export interface CertificateView {
  /** Whether a configured certificate with this fingerprint is a trusted anchor for the service. */
  trustedAnchor(fingerprint: string, service: string): boolean;
  /** Possible issuers: certificates whose skid is `akid`, or every CA when akid is unknown. */
  issuerCandidates(akid: string | undefined, service: string): StoredCandidate[];
}

export interface TrustSettings {
  /** crl-use: check revocation. */
  readonly crlUse: boolean;
  /** crl-download: fetch missing CRLs from the distribution points. */
  readonly crlDownload: boolean;
  /** Whether the built-in roots are anchors for this service. */
  readonly builtins: boolean;
  /** The router's time zone (/system clock): dates in refusal texts are shown in it. */
  readonly zone: TimeZone;
}

export interface TrustSources {
  settings(service: string): Promise<TrustSettings>;
  withView<T>(fn: (view: CertificateView) => T): Promise<T>;
  builtinRoots(): readonly CertInfo[];
  /** CRLs that may cover `cert` (issued by `issuer`), best first: the local CA's own, then downloaded ones. */
  crls(cert: CertInfo, issuer: CertInfo): Promise<CrlInfo[]>;
  /** Downloads the CRLs of the certificate's distribution points (crl-download=yes). */
  download(cert: CertInfo): Promise<void>;
}

interface Candidate { cert: CertInfo; trusted: boolean }

/** Memo tables with a bound, so a long-running daemon does not grow without limit. */
class Memo<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly limit: number) {}
  get(k: string): V | undefined { return this.map.get(k); }
  set(k: string, v: V): void {
    if (this.map.size >= this.limit) this.map.clear();
    this.map.set(k, v);
  }
}

function signedBy(cert: CertInfo, issuer: CertInfo): boolean {
  if (!cert.issuerDer.equals(issuer.subjectDer)) return false;
  if (verifyCertificateSignature(cert, issuer.publicKey)) return true;
  if (['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'].includes(cert.digest)) return false;
  try {
    return new X509Certificate(cert.der).verify(createPublicKey({ key: issuer.publicKey, format: 'der', type: 'spki' }));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Names

function nameMatches(leaf: CertInfo, host: string): boolean {
  const x = new X509Certificate(leaf.der);
  const bare = host.replace(/^\[|\]$/g, '');
  if (net.isIP(bare)) return x.checkIP(bare) !== undefined;
  return x.checkHost(bare.toLowerCase(), { subject: 'default', wildcards: true, partialWildcards: false }) !== undefined;
}

// ---------------------------------------------------------------------------------------------
// The decision

export class TrustEngine {
  private readonly parsed = new Memo<CertInfo>(4096);
  private readonly crlVerdicts = new Memo<boolean>(256);
  private builtinIndex: { bySkid: Map<string, CertInfo[]>; bySubject: Map<string, CertInfo[]>; byFp: Set<string> } | undefined;

  constructor(private readonly sources: TrustSources, private readonly clock: Clock) {}

  /** Verifies a peer's chain; never throws (see assertTrusted). */
  async verify(req: TrustRequest): Promise<TrustResult> {
    const now = this.clock.now();
    if (req.chain.length === 0) return { ok: false, error: TRUST_ERRORS.noCertificate, path: [] };
    let peer: CertInfo[];
    try {
      peer = req.chain.map((der) => this.parse(der));
    } catch {
      return { ok: false, error: 'ssl connection error: handshake failed: bad certificate (6)', path: [] };
    }
    const settings = await this.sources.settings(req.service);

    // 1. Chain building: leaf → … → a trusted anchor.
    const built = await this.sources.withView((view) => {
      const path: CertInfo[] = [peer[0]!];
      let cur = peer[0]!;
      for (let depth = 0; depth < 10; depth++) {
        if (this.isAnchor(view, cur, req.service, settings)) return { path, anchor: cur };
        const next = this.issuersOf(view, cur, peer, req.service, settings).find((c) => !path.some((p) => p.fingerprint === c.cert.fingerprint));
        if (!next) return { path, error: cur.selfSigned ? TRUST_ERRORS.noTrustedCa : TRUST_ERRORS.noLocalIssuer };
        path.push(next.cert);
        if (next.trusted) return { path, anchor: next.cert };
        cur = next.cert;
      }
      return { path, error: TRUST_ERRORS.noTrustedCa };
    });
    if (!('anchor' in built) || !built.anchor) return { ok: false, error: built.error ?? TRUST_ERRORS.noTrustedCa, path: built.path };
    const { path, anchor } = built;

    // 2. Validity of every certificate on the path, against the router clock.
    for (const c of path) {
      if (now > c.notAfter) return { ok: false, error: expiredText(c.notAfter, now, settings.zone), path };
      if (now < c.notBefore) return { ok: false, error: notYetValidText(c.notBefore, now, settings.zone), path };
    }

    // 3. Revocation (crl-use=yes, check-certificate=yes): every certificate below the anchor.
    if (settings.crlUse && req.mode === 'yes') {
      for (let i = 0; i + 1 < path.length; i++) {
        const crl = await this.crlFor(path[i]!, path[i + 1]!, settings, now);
        if (!crl) return { ok: false, error: TRUST_ERRORS.noCrl, path };
        if (crl.revoked.has(path[i]!.serialNumber)) return { ok: false, error: TRUST_ERRORS.revoked, path };
      }
    }

    // 4. The name the client asked for.
    if (req.host !== undefined && req.host !== '' && !nameMatches(peer[0]!, req.host)) {
      return { ok: false, error: TRUST_ERRORS.nameMismatch, path };
    }
    return { ok: true, path, anchor };
  }

  /** verify(), throwing `failure: <RouterOS text>` on refusal. */
  async assertTrusted(req: TrustRequest): Promise<void> {
    const r = await this.verify(req);
    if (!r.ok) throw failure(r.error);
  }

  private parse(der: Buffer): CertInfo {
    const info = parseCertificate(der);
    const hit = this.parsed.get(info.fingerprint);
    if (hit) return hit;
    this.parsed.set(info.fingerprint, info);
    return info;
  }

  private stored(c: StoredCandidate): CertInfo | undefined {
    const hit = this.parsed.get(c.fingerprint);
    if (hit) return hit;
    const der = c.der();
    if (!der) return undefined;
    try { return this.parse(der); } catch { return undefined; }
  }

  private builtins() {
    if (!this.builtinIndex) {
      const bySkid = new Map<string, CertInfo[]>();
      const bySubject = new Map<string, CertInfo[]>();
      const byFp = new Set<string>();
      for (const c of this.sources.builtinRoots()) {
        byFp.add(c.fingerprint);
        if (c.skid) bySkid.set(c.skid, [...(bySkid.get(c.skid) ?? []), c]);
        const k = c.subjectDer.toString('hex');
        bySubject.set(k, [...(bySubject.get(k) ?? []), c]);
      }
      this.builtinIndex = { bySkid, bySubject, byFp };
    }
    return this.builtinIndex;
  }

  /** A trusted configured certificate is an anchor when it is a CA or self-signed (a trusted leaf is not). */
  private isAnchor(view: CertificateView, cert: CertInfo, service: string, settings: TrustSettings): boolean {
    if (settings.builtins && this.builtins().byFp.has(cert.fingerprint)) return true;
    if (!cert.isCA && !cert.selfSigned) return false;
    return view.trustedAnchor(cert.fingerprint, service);
  }

  /** Issuers of `cert` that verify it: trusted anchors first, then other certificates. */
  private issuersOf(view: CertificateView, cert: CertInfo, peer: readonly CertInfo[], service: string, settings: TrustSettings): Candidate[] {
    const out: Candidate[] = [];
    const seen = new Set<string>();
    const consider = (c: CertInfo | undefined, trusted: boolean) => {
      if (!c || seen.has(c.fingerprint) || c.fingerprint === cert.fingerprint) return;
      if (!c.isCA && !c.selfSigned) return;
      if (!signedBy(cert, c)) return;
      seen.add(c.fingerprint);
      out.push({ cert: c, trusted });
    };
    const stored = view.issuerCandidates(cert.akid, service);
    for (const c of stored) if (c.trusted) consider(this.stored(c), true);
    if (settings.builtins) {
      const b = this.builtins();
      const list = (cert.akid ? b.bySkid.get(cert.akid) : undefined) ?? b.bySubject.get(cert.issuerDer.toString('hex')) ?? [];
      for (const c of list) consider(c, true);
    }
    for (const c of peer) consider(c, false);
    for (const c of stored) consider(this.stored(c), false);
    // Trusted first.
    return out.sort((a, b) => Number(b.trusted) - Number(a.trusted));
  }

  /** The CRL that covers certificates of `issuer`, or undefined. */
  private async crlFor(cert: CertInfo, issuer: CertInfo, settings: TrustSettings, now: number): Promise<CrlInfo | undefined> {
    const pick = async () => {
      return (await this.sources.crls(cert, issuer)).find((crl) => this.usable(crl, issuer, now));
    };
    const found = await pick();
    if (found || !settings.crlDownload || cert.crlDistributionPoints.length === 0) return found;
    await this.sources.download(cert);
    return pick();
  }

  private usable(crl: CrlInfo, issuer: CertInfo, now: number): boolean {
    if (!crl.issuerDer.equals(issuer.subjectDer)) return false;
    if (crl.akid && issuer.skid && crl.akid !== issuer.skid) return false;
    if (crl.nextUpdate !== undefined && crl.nextUpdate < now) return false;
    const k = `${crl.fingerprint}/${issuer.fingerprint}`;
    let ok = this.crlVerdicts.get(k);
    if (ok === undefined) {
      try {
        const key = createPublicKey({ key: issuer.publicKey, format: 'der', type: 'spki' });
        ok = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'].includes(crl.digest)
          && cryptoVerify(crl.digest, crl.tbs, key, crl.signature);
      } catch {
        ok = false;
      }
      this.crlVerdicts.set(k, ok);
    }
    return ok;
  }
}
