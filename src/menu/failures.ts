// One error type leaves the menu layer (design.md rule 3): whatever a command throws becomes a
// RosError here, and every edge only formats a RosError (console `failure: …`, REST JSON, API
// `!trap`, SSH exit status). Known errors of the layers below carry user-facing text (PkiError);
// anything else is a bug: it is reported with its stack to the daemon's log under a short
// reference, and the user sees only that reference — never a stack, an internal message or a
// host path.

import { RosError } from '../errors.js';
import { isPkiError } from '../pki/errors.js';

/** Reports an unexpected error (stack to the operator's log) and returns its reference. */
export type InternalErrorReporter = (error: unknown, where: string) => string;

/** The RosError the user sees for anything a command threw. */
export function toRosError(e: unknown, report: InternalErrorReporter, where: string): RosError {
  if (e instanceof RosError) return e;
  if (isPkiError(e)) return new RosError('failure', e.message);
  if ((e as Error | undefined)?.name === 'AbortError') return new RosError('interrupted', 'interrupted');
  return internalError(report(e, where));
}

/** What an unexpected error shows: only its reference. */
export function internalError(ref: string): RosError {
  return new RosError('failure', `internal error (ref ${ref})`);
}
