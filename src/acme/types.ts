// ACME resources as the server sends them: RFC 8555 §7.1 (directory, account, order,
// authorization, challenge objects) and RFC 9773 §4.2 (renewal information).

import type { ProblemDocument } from './problem.js';

/** RFC 8555 §7.1.1, plus RFC 9773 §3's renewalInfo. */
export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert?: string;
  keyChange?: string;
  renewalInfo?: string;
  meta?: {
    termsOfService?: string;
    website?: string;
    caaIdentities?: string[];
    externalAccountRequired?: boolean;
  };
}

/** RFC 8555 §7.1.2. */
export interface Account {
  status: 'valid' | 'deactivated' | 'revoked';
  contact?: string[];
  orders?: string;
}

export interface Identifier {
  type: 'dns' | 'ip' | string;
  value: string;
}

/** RFC 8555 §7.1.3. */
export interface Order {
  status: 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
  expires?: string;
  identifiers: Identifier[];
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: ProblemDocument;
}

/** RFC 8555 §7.1.4. */
export interface Authorization {
  identifier: Identifier;
  status: 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
  expires?: string;
  challenges: Challenge[];
  wildcard?: boolean;
}

/** RFC 8555 §8 (http-01 §8.3, dns-01 §8.4) and RFC 8737 (tls-alpn-01). */
export interface Challenge {
  type: 'http-01' | 'dns-01' | 'tls-alpn-01' | string;
  url: string;
  status: 'pending' | 'processing' | 'valid' | 'invalid';
  token?: string;
  validated?: string;
  error?: ProblemDocument;
}

/** RFC 9773 §4.2: when the CA suggests renewing, in epoch ms. */
export interface RenewalInfo {
  start: number;
  end: number;
  explanationUrl?: string;
  /** The server's Retry-After for the next look, in ms. */
  retryAfterMs?: number;
}
