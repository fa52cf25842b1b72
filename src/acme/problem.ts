// ACME errors: RFC 8555 §6.7 (problem documents, RFC 7807, with the urn:ietf:params:acme:error:
// types and subproblems) and RFC 9110 §10.2.3 (Retry-After: seconds or an HTTP date).

/** The ACME error types of RFC 8555 §6.7 (and RFC 9773's alreadyReplaced) by their short name. */
export type ProblemName =
  | 'accountDoesNotExist' | 'alreadyRevoked' | 'badCSR' | 'badNonce' | 'badPublicKey' | 'badRevocationReason'
  | 'badSignatureAlgorithm' | 'caa' | 'compound' | 'connection' | 'dns' | 'externalAccountRequired'
  | 'incorrectResponse' | 'invalidContact' | 'malformed' | 'orderNotReady' | 'rateLimited' | 'rejectedIdentifier'
  | 'serverInternal' | 'tls' | 'unauthorized' | 'unsupportedContact' | 'unsupportedIdentifier' | 'userActionRequired'
  | 'alreadyReplaced';

const PREFIX = 'urn:ietf:params:acme:error:';

export interface ProblemDocument {
  type?: string;
  detail?: string;
  status?: number;
  identifier?: { type: string; value: string };
  subproblems?: ProblemDocument[];
}

/** A problem the server answered with (or an HTTP error it gave without a problem document). */
export class AcmeProblem extends Error {
  readonly type: string;
  readonly detail: string;
  readonly status: number;
  readonly subproblems: readonly ProblemDocument[];
  /** The wait the server asked for (Retry-After), in ms from when it answered. */
  readonly retryAfterMs?: number;

  constructor(doc: ProblemDocument, status: number, retryAfterMs?: number) {
    super(doc.detail || doc.type || `HTTP ${status}`);
    this.name = 'AcmeProblem';
    this.type = doc.type ?? '';
    this.detail = doc.detail ?? '';
    this.status = doc.status ?? status;
    this.subproblems = doc.subproblems ?? [];
    this.retryAfterMs = retryAfterMs;
  }

  /** `rateLimited` for `urn:ietf:params:acme:error:rateLimited`; '' for other namespaces. */
  get short(): string {
    return this.type.startsWith(PREFIX) ? this.type.slice(PREFIX.length) : '';
  }

  is(name: ProblemName): boolean {
    return this.type === PREFIX + name;
  }

  /** The detail with the subproblems' details (RFC 8555 §6.7.1), as one line for a user. */
  text(): string {
    const own = this.detail || this.short || `HTTP ${this.status}`;
    const subs = this.subproblems.map((s) => (s.identifier ? `${s.identifier.value}: ` : '') + (s.detail ?? s.type ?? '')).filter((s) => s !== '');
    return subs.length ? `${own} (${subs.join('; ')})` : own;
  }
}

/** A problem document of an authorization's challenge (RFC 8555 §8: `error` of a challenge). */
export function challengeProblem(doc: ProblemDocument | undefined): AcmeProblem {
  return new AcmeProblem(doc ?? { type: `${PREFIX}incorrectResponse`, detail: 'the challenge was not accepted' }, doc?.status ?? 403);
}

/**
 * Retry-After (RFC 9110 §10.2.3) as ms from the response: delay-seconds, or an HTTP date judged
 * against the response's own Date header (so a wrong local clock does not matter). Undefined
 * when absent or unreadable.
 */
export function retryAfterMs(value: string | undefined, dateHeader?: string): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  const base = dateHeader !== undefined && !Number.isNaN(Date.parse(dateHeader)) ? Date.parse(dateHeader) : Date.now();
  return Math.max(0, at - base);
}
