// The trust of a trust-store component as files for a daemon that judges certificates itself
// (OpenVPN's --ca and --crl-verify): the certificates trusted for the component (services spec
// §1.4: trusted=yes, trust-store `all` or naming it, and the built-in roots when
// builtin-trust-store admits it), and the CRLs of the CAs below those anchors — a local CA's
// published CRL (signed afresh when due, as www serves it) or one /certificate crl downloaded.

import { X509Certificate } from 'node:crypto';
import type { Environment } from '../menu/types.js';
import { builtinRoots } from '../menus/certificate/builtin.js';
import { publishedCrl } from '../menus/certificate/crl-publish.js';
import { CRL_MENU_PATH, crlIssuer, loadedCrl } from '../menus/certificate/crl.js';
import { certificateDer } from '../menus/certificate/keys.js';
import { CERT_PATH } from '../menus/certificate/properties.js';
import { builtinsTrustedFor, readSettings } from '../menus/certificate/settings.js';
import { trustAnchors } from '../menus/certificate/trust-sources.js';
import { pemEncode } from '../pki/pem.js';
import type { ReadTx, StoredRow } from '../store/store.js';

export interface DaemonTrust {
  /** PEM of every anchor, in store order then the built-in roots; '' when none. */
  readonly anchorsPem: string;
  /** PEM of every CA certificate of /certificate, trusted or not (a client that checks no trust). */
  readonly allCasPem: string;
  /** PEM of the CRLs in force for the CAs below the anchors; '' when none. */
  readonly crlPem: string;
}

const signed = (r: StoredRow): boolean => typeof r.data.fingerprint === 'string';
const pemOf = (ders: readonly Buffer[]): string => ders.map((d) => pemEncode('CERTIFICATE', d)).join('');

/** How far up a chain is followed (akid → skid) looking for an anchor. */
const MAX_DEPTH = 8;

interface TrustRead {
  anchors: Buffer[];
  allCas: Buffer[];
  /** Local CAs (with their key) under an anchor: their published CRL. */
  localCas: number[];
  /** Downloaded CRLs of the other CAs under an anchor, still in force. */
  downloaded: Buffer[];
}

function readTrust(env: Environment, tx: ReadTx, service: string, now: number): TrustRead {
  const anchorRows = trustAnchors(tx, service);
  const anchorIds = new Set(anchorRows.map((r) => r.id));
  const anchors = anchorRows.map((r) => certificateDer(tx, r.id)).filter((d): d is Buffer => d !== undefined);
  if (builtinsTrustedFor(readSettings(tx), service)) anchors.push(...builtinRoots().map((c) => c.der));
  const cas = tx.findBy(CERT_PATH, 'authority', true).filter(signed);
  const underAnchor = (row: StoredRow): boolean => {
    let at: StoredRow | undefined = row;
    for (let depth = 0; at && depth < MAX_DEPTH; depth++) {
      if (anchorIds.has(at.id)) return true;
      const akid: string = String(at.data.akid ?? '');
      const self: StoredRow = at;
      at = akid === '' ? undefined : tx.findBy(CERT_PATH, 'skid', akid).find((r) => r.id !== self.id && signed(r));
    }
    return false;
  };
  const relevant = cas.filter(underAnchor);
  const localCas = relevant.filter((r) => r.data['private-key'] === true).map((r) => r.id);
  const foreign = new Set(relevant.filter((r) => r.data['private-key'] !== true).map((r) => String(r.data.fingerprint)));
  const downloaded: Buffer[] = [];
  if (foreign.size > 0) {
    for (const row of tx.list(CRL_MENU_PATH)) {
      const crl = loadedCrl(env, tx, row.id);
      // A CRL past its next-update is not used (the trust engine's rule): its CA goes unchecked.
      if (!crl || (crl.nextUpdate !== undefined && crl.nextUpdate < now)) continue;
      const issuer = crlIssuer(tx, crl);
      if (issuer && foreign.has(issuer.fingerprint)) downloaded.push(crl.der);
    }
  }
  const allCas = cas.map((r) => certificateDer(tx, r.id)).filter((d): d is Buffer => d !== undefined);
  return { anchors, allCas, localCas, downloaded };
}

/** The files' contents for `service` now. Local CRLs due for renewal are signed first. */
export async function daemonTrust(env: Environment, service: string): Promise<DaemonTrust> {
  const read = await env.store.read((tx) => readTrust(env, tx, service, env.clock.now()));
  const crls: Buffer[] = [];
  for (const id of read.localCas) {
    const der = await publishedCrl({ env }, `/crl/${id}.crl`);
    if (der) crls.push(der);
  }
  crls.push(...read.downloaded);
  return {
    anchorsPem: pemOf(read.anchors),
    allCasPem: pemOf(read.allCas),
    crlPem: crls.map((d) => pemEncode('X509 CRL', d)).join(''),
  };
}

/** The first certificate of a PEM chain, as PEM (a daemon's --ca when it checks no peer at all). */
export function firstCertificatePem(chainPem: string): string {
  return new X509Certificate(chainPem).toString();
}
