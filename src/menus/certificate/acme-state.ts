// What an ACME-managed /certificate row keeps (issue 14, spec §5): the fields, and the one rule
// for when it is renewed next, read by `print` (acme-next-renewal) and by the daemon's renewal
// loop alike. Pure functions over row data: no menu, no store.

import type { RowData } from '../../store/store.js';

/** Row field marking an ACME-managed row: `ssl` (enable-ssl-certificate) or `client` (add-acme). */
export const ACME_KIND = '.acme';
export type AcmeKind = 'ssl' | 'client';

/** The row fields (properties shown to users, and private `.` fields). */
export const ACME = {
  domainNames: 'domain-names',
  directoryUrl: 'directory-url',
  status: 'acme-status',
  error: 'acme-error',
  /** When a failed attempt is tried again (back-off, or the server's Retry-After). */
  retryAt: '.acme-retry-at',
  /** Attempts that failed in a row. */
  failures: '.acme-failures',
  /** The server offers renewal information (RFC 9773). */
  ari: '.acme-ari',
  /** The renewal time chosen inside the server's suggested window. */
  ariAt: '.acme-ari-at',
  /** When the renewal information is asked for again. */
  ariCheck: '.acme-ari-check',
  /** When (router clock) the certificate was last issued. */
  issued: '.acme-issued',
} as const;

/** acme-status values (RouterOS's are UNCONFIRMED, spec §5.2): see docs/compatibility.md. */
export type AcmeStatus = 'pending' | 'processing' | 'valid' | 'failed';

/** Renewal at 80 % of the validity (spec §5.1, §6.2 rule 13). */
export const RENEW_AT_FRACTION = 0.8;

export const acmeKind = (row: RowData): AcmeKind | undefined =>
  row[ACME_KIND] === 'ssl' || row[ACME_KIND] === 'client' ? row[ACME_KIND] : undefined;

export const isAcmeManaged = (row: RowData): boolean => acmeKind(row) !== undefined;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * When the row is to be renewed (epoch ms, router clock): a failed attempt's retry time; else
 * the time chosen in the CA's renewal window (RFC 9773); else 80 % into the certificate's
 * validity; a row that has no certificate yet is due at once. Undefined for other rows.
 *
 * Never sooner than a tenth of the validity (at most a day) after the last issuance: a router
 * clock ahead of the CA's would otherwise find every new certificate due at once, and renew it
 * again and again.
 */
export function acmeDueAt(row: RowData): number | undefined {
  if (!isAcmeManaged(row)) return undefined;
  const retry = num(row[ACME.retryAt]);
  if (retry !== undefined) return retry;
  const nb = num(row['invalid-before']);
  const na = num(row['invalid-after']);
  if (nb === undefined || na === undefined || row.fingerprint === undefined) return 0;
  const due = num(row[ACME.ariAt]) ?? Math.floor(nb + RENEW_AT_FRACTION * (na - nb));
  const issued = num(row[ACME.issued]);
  return issued === undefined ? due : Math.max(due, issued + Math.min(DAY_MS, Math.floor((na - nb) / 10)));
}

const DAY_MS = 86_400_000;

/**
 * The wait before attempt n+1 after n failures: 10 minutes doubling to 6 hours, never shorter
 * than the server asked for (Retry-After).
 */
export function backoffMs(failures: number, retryAfterMs?: number): number {
  const own = Math.min(10 * 60_000 * 2 ** Math.max(0, failures - 1), 6 * 3_600_000);
  return Math.max(own, retryAfterMs ?? 0);
}
