// The one trust engine (issue 6): decides whether a peer's certificate chain is acceptable, for
// /tool fetch now and every TLS client later. Anchors are trusted /certificate rows whose
// trust-store admits the service, plus the built-in roots where /certificate settings
// builtin-trust-store allows them for that service. Validity is judged against the router
// clock, names with the leaf's SAN (CN when there is none), and revocation with CRLs when
// crl-use=yes (local CAs' own CRLs first, then /certificate crl, downloading on demand when
// crl-download=yes). Refusals carry RouterOS's texts (spec §6.1).

import { X509Certificate, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import net from 'node:net';
import { failure } from '../errors.js';
import type { Environment } from '../menu/types.js';
import { formatDate } from '../menu/proptypes.js';
import type { ReadTx } from '../store/store.js';
import { parseCertificate, verifyCertificateSignature, type CertInfo } from '../pki/index.js';
import { parseCrl, type CrlInfo } from '../pki/crl.js';
import { CERT_PATH } from '../menus/certificate/properties.js';
import { certificateDer } from '../menus/certificate/keys.js';
import { builtinRoots } from '../menus/certificate/builtin.js';
import { builtinsTrustedFor, readSettings, type CertificateSettings } from '../menus/certificate/settings.js';
import { publishedCrl } from '../menus/certificate/crl-publish.js';
import { CRL_MENU_PATH, downloadCrl, loadedCrl, reconcileCrlRows } from '../menus/certificate/crl.js';

/** RouterOS's texts (spec §6.1; `certificate revoked` and `before:` are UNCONFIRMED wording). */
export const TRUST_ERRORS = {
  noTrustedCa: 'SSL: ssl: no trusted CA certificate found (6)',
  noLocalIssuer: 'ssl connection error: handshake failed: unable to get local issuer certificate (6)',
  noCrl: 'SSL: handshake failed: unable to get certificate CRL (6)',
  revoked: 'SSL: handshake failed: certificate revoked (6)',
  nameMismatch: "SSL: server's IP or DNS name does not match certificate (6)",
  noCertificate: 'ssl connection error: handshake failed: no peer certificate (6)',
} as const;

export const expiredText = (notAfter: number, now: number): string => `SSL: ssl: cert not valid (after: ${formatDate(notAfter)} < now: ${formatDate(now)})`;
export const notYetValidText = (notBefore: number, now: number): string => `SSL: ssl: cert not valid (before: ${formatDate(notBefore)} > now: ${formatDate(now)})`;

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
// Parsing caches

const parsedByFp = new Map<string, CertInfo>();

function parseCached(der: Buffer): CertInfo {
  const info = parseCertificate(der);
  const hit = parsedByFp.get(info.fingerprint);
  if (hit) return hit;
  if (parsedByFp.size > 4096) parsedByFp.clear();
  parsedByFp.set(info.fingerprint, info);
  return info;
}

function rowCert(tx: ReadTx, id: number, fingerprint: unknown): CertInfo | undefined {
  if (typeof fingerprint === 'string') {
    const hit = parsedByFp.get(fingerprint);
    if (hit) return hit;
  }
  const der = certificateDer(tx, id);
  if (!der) return undefined;
  try { return parseCached(der); } catch { return undefined; }
}

let builtinIndex: { bySkid: Map<string, CertInfo[]>; bySubject: Map<string, CertInfo[]>; byFp: Set<string> } | undefined;

function builtins() {
  if (!builtinIndex) {
    const bySkid = new Map<string, CertInfo[]>();
    const bySubject = new Map<string, CertInfo[]>();
    const byFp = new Set<string>();
    for (const c of builtinRoots()) {
      byFp.add(c.fingerprint);
      if (c.skid) bySkid.set(c.skid, [...(bySkid.get(c.skid) ?? []), c]);
      const k = c.subjectDer.toString('hex');
      bySubject.set(k, [...(bySubject.get(k) ?? []), c]);
    }
    builtinIndex = { bySkid, bySubject, byFp };
  }
  return builtinIndex;
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
// Anchors and issuers

interface Candidate { cert: CertInfo; trusted: boolean }

function storeAllows(trustStore: unknown, service: string): boolean {
  if (!Array.isArray(trustStore)) return true;
  return trustStore.includes('all') || trustStore.includes(service);
}

/** A trusted /certificate row is an anchor when it is a CA or self-signed (a trusted leaf is not). */
function isStoreAnchor(tx: ReadTx, cert: CertInfo, service: string): boolean {
  if (!cert.isCA && !cert.selfSigned) return false;
  return tx.findBy(CERT_PATH, 'fingerprint', cert.fingerprint)
    .some((r) => r.data.trusted === true && typeof r.data.revoked !== 'number' && storeAllows(r.data['trust-store'], service));
}

/** Issuers of `cert` that verify it: trusted anchors first, then other certificates. */
function issuersOf(tx: ReadTx, cert: CertInfo, peer: readonly CertInfo[], service: string, useBuiltins: boolean): Candidate[] {
  const out: Candidate[] = [];
  const seen = new Set<string>();
  const consider = (c: CertInfo | undefined, trusted: boolean) => {
    if (!c || seen.has(c.fingerprint) || c.fingerprint === cert.fingerprint) return;
    if (!c.isCA && !c.selfSigned) return;
    if (!signedBy(cert, c)) return;
    seen.add(c.fingerprint);
    out.push({ cert: c, trusted });
  };
  // Store rows: by key id when the certificate names one, else every CA.
  const rows = cert.akid ? tx.findBy(CERT_PATH, 'skid', cert.akid) : tx.findBy(CERT_PATH, 'authority', true);
  const storeCands = rows.filter((r) => typeof r.data.fingerprint === 'string');
  for (const r of storeCands) {
    if (r.data.trusted === true && typeof r.data.revoked !== 'number' && storeAllows(r.data['trust-store'], service)) consider(rowCert(tx, r.id, r.data.fingerprint), true);
  }
  if (useBuiltins) {
    const b = builtins();
    const list = (cert.akid ? b.bySkid.get(cert.akid) : undefined) ?? b.bySubject.get(cert.issuerDer.toString('hex')) ?? [];
    for (const c of list) consider(c, true);
  }
  for (const c of peer) consider(c, false);
  for (const r of storeCands) consider(rowCert(tx, r.id, r.data.fingerprint), false);
  // Trusted first.
  return out.sort((a, b) => Number(b.trusted) - Number(a.trusted));
}

// ---------------------------------------------------------------------------------------------
// CRLs

/** The CRL that covers certificates of `issuer`, or undefined. */
async function crlFor(env: Environment, cert: CertInfo, issuer: CertInfo, settings: CertificateSettings): Promise<CrlInfo | undefined> {
  const now = env.clock.now();
  // 1. The issuer is a local CA: its own CRL (renewed when due).
  const localId = await env.store.read((tx) => tx.findBy(CERT_PATH, 'fingerprint', issuer.fingerprint)
    .find((r) => r.data.authority === true && r.data['private-key'] !== undefined)?.id);
  if (localId !== undefined) {
    const der = await publishedCrl({ env }, `/crl/${localId}.crl`);
    if (der) {
      const crl = parseCrlCached(der);
      if (crl && usable(crl, issuer, now)) return crl;
    }
  }
  // 2. Downloaded CRLs: the certificate's own distribution points first, then any of the issuer.
  const find = () => env.store.read((tx) => {
    const rows = tx.list(CRL_MENU_PATH);
    const ordered = [
      ...rows.filter((r) => cert.crlDistributionPoints.includes(String(r.data.url))),
      ...rows.filter((r) => !cert.crlDistributionPoints.includes(String(r.data.url))),
    ];
    for (const r of ordered) {
      const crl = loadedCrl(env, tx, r.id);
      if (crl && usable(crl, issuer, now)) return { crl };
    }
    return { crl: undefined, toFetch: rows.filter((r) => cert.crlDistributionPoints.includes(String(r.data.url))).map((r) => r.id) };
  });
  let found = await find();
  if (found.crl || !settings.crlDownload || cert.crlDistributionPoints.length === 0) return found.crl;
  // 3. crl-download=yes: fetch the distribution points now (bounded), then look again.
  await reconcileCrlRows(env);
  found = await find();
  if (found.crl) return found.crl;
  for (const id of found.toFetch ?? []) await downloadCrl(env, id);
  return (await find()).crl;
}

const crlCache = new Map<string, CrlInfo>();
function parseCrlCached(der: Buffer): CrlInfo | undefined {
  try {
    const info = parseCrl(der);
    const hit = crlCache.get(info.fingerprint);
    if (hit) return hit;
    if (crlCache.size > 64) crlCache.clear();
    crlCache.set(info.fingerprint, info);
    return info;
  } catch {
    return undefined;
  }
}

function usable(crl: CrlInfo, issuer: CertInfo, now: number): boolean {
  if (!crl.issuerDer.equals(issuer.subjectDer)) return false;
  if (crl.akid && issuer.skid && crl.akid !== issuer.skid) return false;
  if (crl.nextUpdate !== undefined && crl.nextUpdate < now) return false;
  return crlSignatureOk(crl, issuer);
}

const verifiedCrls = new Map<string, boolean>();
function crlSignatureOk(crl: CrlInfo, issuer: CertInfo): boolean {
  const k = `${crl.fingerprint}/${issuer.fingerprint}`;
  let ok = verifiedCrls.get(k);
  if (ok === undefined) {
    try {
      const key = createPublicKey({ key: issuer.publicKey, format: 'der', type: 'spki' });
      ok = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'].includes(crl.digest)
        && cryptoVerify(crl.digest, crl.tbs, key, crl.signature);
    } catch {
      ok = false;
    }
    if (verifiedCrls.size > 256) verifiedCrls.clear();
    verifiedCrls.set(k, ok);
  }
  return ok;
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

/** Verifies a peer's chain; never throws (see assertTrusted). */
export async function verifyPeerChain(env: Environment, req: TrustRequest): Promise<TrustResult> {
  const now = env.clock.now();
  if (req.chain.length === 0) return { ok: false, error: TRUST_ERRORS.noCertificate, path: [] };
  let peer: CertInfo[];
  try {
    peer = req.chain.map(parseCached);
  } catch {
    return { ok: false, error: 'ssl connection error: handshake failed: bad certificate (6)', path: [] };
  }
  const settings = await env.store.read((tx) => readSettings(tx));
  const useBuiltins = builtinsTrustedFor(settings, req.service);

  // 1. Chain building: leaf → … → a trusted anchor.
  const built = await env.store.read((tx) => {
    const path: CertInfo[] = [peer[0]!];
    let cur = peer[0]!;
    for (let depth = 0; depth < 10; depth++) {
      if (isStoreAnchor(tx, cur, req.service) || (useBuiltins && builtins().byFp.has(cur.fingerprint))) return { path, anchor: cur };
      const issuers = issuersOf(tx, cur, peer, req.service, useBuiltins).filter((c) => !path.some((p) => p.fingerprint === c.cert.fingerprint));
      const next = issuers[0];
      if (!next) {
        const error = cur.selfSigned ? TRUST_ERRORS.noTrustedCa : TRUST_ERRORS.noLocalIssuer;
        return { path, error };
      }
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
    if (now > c.notAfter) return { ok: false, error: expiredText(c.notAfter, now), path };
    if (now < c.notBefore) return { ok: false, error: notYetValidText(c.notBefore, now), path };
  }

  // 3. Revocation (crl-use=yes, check-certificate=yes): every certificate below the anchor.
  if (settings.crlUse && req.mode === 'yes') {
    for (let i = 0; i + 1 < path.length; i++) {
      const crl = await crlFor(env, path[i]!, path[i + 1]!, settings);
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

/** verifyPeerChain, throwing `failure: <RouterOS text>` on refusal. */
export async function assertTrusted(env: Environment, req: TrustRequest): Promise<void> {
  const r = await verifyPeerChain(env, req);
  if (!r.ok) throw failure(r.error);
}
