// Where the trust engine (src/trust/engine.ts) finds anchors, issuers, settings and CRLs: the
// /certificate rows, /certificate settings, the built-in roots, the CRLs local CAs publish and
// the ones /certificate crl downloaded. The appliance builds its TrustEngine over these, so the
// engine itself imports no menu (design.md: data flows down).

import { createHash } from 'node:crypto';
import type { Environment } from '../../menu/types.js';
import { parseCrl, type CrlInfo } from '../../pki/crl.js';
import type { CertInfo } from '../../pki/index.js';
import type { ReadTx, RowData, StoredRow } from '../../store/store.js';
import type { CertificateView, StoredCandidate, TrustSettings, TrustSources } from '../../trust/engine.js';
import { builtinRoots } from './builtin.js';
import { publishedCrl } from './crl-publish.js';
import { CRL_MENU_PATH, downloadCrl, loadedCrl, reconcileCrlRows } from './crl.js';
import { certificateDer } from './keys.js';
import { CERT_PATH } from './properties.js';
import { builtinsTrustedFor, readSettings } from './settings.js';

/** Whether a certificate's trust-store admits a component (spec §1.4: `all` or the component; unset = all). */
export function trustStoreAllows(trustStore: unknown, service: string): boolean {
  if (!Array.isArray(trustStore)) return true;
  return trustStore.includes('all') || trustStore.includes(service);
}

/** Whether a row is an anchor for a component: trusted=yes, not revoked, its trust-store admits it. */
const trustedForService = (data: RowData, service: string): boolean =>
  data.trusted === true && typeof data.revoked !== 'number' && trustStoreAllows(data['trust-store'], service);

/**
 * The signed certificates trusted for a component (services spec §1.4), for a daemon that is
 * given its CAs as files (OpenVPN's --ca, charon's cacerts).
 */
export function trustedCertificates(tx: ReadTx, service: string): StoredRow[] {
  return tx.findBy(CERT_PATH, 'trusted', true).filter((r) => typeof r.data.fingerprint === 'string' && trustedForService(r.data, service));
}

/**
 * The trust engine's anchor rule for a row: a trusted certificate anchors a chain when it is a
 * CA or self-signed; a trusted leaf does not (rospki marks the certificates its CAs issue trusted,
 * so a leaf anchor would let a peer in by its own certificate while its CA is not trusted).
 */
const anchorRow = (r: StoredRow): boolean => r.data.authority === true || !r.data.akid || r.data.akid === r.data.skid;

/**
 * The anchors for a component as the trust engine picks them (src/trust/engine.ts isAnchor), for
 * a daemon that judges peers itself (OpenVPN's --ca, charon's CA certificates).
 */
export function trustAnchors(tx: ReadTx, service: string): StoredRow[] {
  return trustedCertificates(tx, service).filter(anchorRow);
}

export function certificateTrustSources(env: Environment): TrustSources {
  const parsedLocal = env.cache.table<string, CrlInfo>('trust.local-crls');
  const parseLocal = (der: Buffer): CrlInfo | undefined => {
    const key = createHash('sha256').update(der).digest('hex');
    let info = parsedLocal.get(key);
    if (!info) {
      try { info = parseCrl(der); } catch { return undefined; }
      if (parsedLocal.size > 64) parsedLocal.clear();
      parsedLocal.set(key, info);
    }
    return info;
  };

  return {
    async settings(service: string): Promise<TrustSettings> {
      const { s, zone } = await env.store.read((tx) => ({ s: readSettings(tx), zone: env.zone(tx) }));
      return { crlUse: s.crlUse, crlDownload: s.crlDownload, builtins: builtinsTrustedFor(s, service), zone };
    },

    withView<T>(fn: (view: CertificateView) => T): Promise<T> {
      return env.store.read((tx) => fn({
        trustedAnchor: (fingerprint, service) => tx.findBy(CERT_PATH, 'fingerprint', fingerprint)
          .some((r) => trustedForService(r.data, service)),
        issuerCandidates(akid, service): StoredCandidate[] {
          const rows = akid ? tx.findBy(CERT_PATH, 'skid', akid) : tx.findBy(CERT_PATH, 'authority', true);
          return rows.filter((r) => typeof r.data.fingerprint === 'string').map((r) => ({
            fingerprint: String(r.data.fingerprint),
            trusted: trustedForService(r.data, service),
            der: () => certificateDer(tx, r.id),
          }));
        },
      }));
    },

    builtinRoots,

    async crls(cert: CertInfo, issuer: CertInfo): Promise<CrlInfo[]> {
      const out: CrlInfo[] = [];
      // 1. The issuer is a local CA: its own CRL (renewed when due).
      const localId = await env.store.read((tx) => tx.findBy(CERT_PATH, 'fingerprint', issuer.fingerprint)
        .find((r) => r.data.authority === true && r.data['private-key'] !== undefined)?.id);
      if (localId !== undefined) {
        const der = await publishedCrl({ env }, `/crl/${localId}.crl`);
        const info = der && parseLocal(der);
        if (info) out.push(info);
      }
      // 2. Downloaded CRLs: the certificate's own distribution points first, then any other.
      await env.store.read((tx) => {
        const rows = tx.list(CRL_MENU_PATH);
        const own = (r: (typeof rows)[number]): boolean => cert.crlDistributionPoints.includes(String(r.data.url));
        for (const r of [...rows.filter(own), ...rows.filter((r) => !own(r))]) {
          const crl = loadedCrl(env, tx, r.id);
          if (crl) out.push(crl);
        }
      });
      return out;
    },

    async download(cert: CertInfo): Promise<void> {
      await reconcileCrlRows(env);
      const ids = await env.store.read((tx) => tx.list(CRL_MENU_PATH)
        .filter((r) => cert.crlDistributionPoints.includes(String(r.data.url))).map((r) => r.id));
      for (const id of ids) await downloadCrl(env, id);
    },
  };
}
