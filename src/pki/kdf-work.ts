// Password-based key derivation work (PBKDF2, RFC 8018 §5.2; the iterated hash of the PKCS#12
// KDF, RFC 7292 Appendix B.2), kept apart from the parsers that need it: a parser is a
// generator that yields each derivation and receives its result, so one parser runs either in
// place (runKdf) or with the work on a worker thread (runKdfAsync) while the event loop — every
// service of the daemon — goes on. A budget caps the rounds one run may ask for.
//
// The worker is one thread, started on first use and kept (not holding the process open while
// idle); runs queue on it, so hostile files take at most one core however many are imported.

import * as nodeCrypto from 'node:crypto';
import { PkiError } from './errors.js';
import { WorkerThread } from './worker-thread.js';

/** One derivation. */
export type KdfWork =
  /** H^iterations(input): the PKCS#12 KDF's A_i (RFC 7292 B.2 step 6a). */
  | { kind: 'chain'; digest: string; input: Buffer; iterations: number }
  /** PBKDF2 with HMAC-`digest` (RFC 8018 §5.2). */
  | { kind: 'pbkdf2'; password: Buffer; salt: Buffer; iterations: number; keyLen: number; digest: string };

/** A parser: yields work, receives its result, returns T. */
export type KdfSteps<T> = Generator<KdfWork, T, Buffer>;

/**
 * Does one derivation. Self-contained on purpose — it only uses its `crypto` argument — because
 * its source is also the worker's (see WORKER_SOURCE): the same code in both places.
 */
function computeKdfWork(crypto: typeof nodeCrypto, work: KdfWork): Buffer {
  if (work.kind === 'pbkdf2') return crypto.pbkdf2Sync(work.password, work.salt, work.iterations, work.keyLen, work.digest);
  let a: Buffer = crypto.createHash(work.digest).update(work.input).digest();
  // crypto.hash (one call per round) is about twice as fast as createHash here.
  for (let r = 1; r < work.iterations; r++) a = crypto.hash(work.digest, a, 'buffer') as unknown as Buffer;
  return a;
}

/** Counts rounds against a run's budget; over it, the run is refused before the work starts. */
function spend(spent: number, work: KdfWork, budget: number): number {
  const total = spent + work.iterations;
  if (total > budget) throw new PkiError('unsupported', `PKCS#12 key derivation needs more than ${budget} iterations in total`);
  return total;
}

/** Runs a parser with its derivations in place (on the calling thread). */
export function runKdf<T>(steps: KdfSteps<T>, budget: number): T {
  let spent = 0;
  let step = steps.next(undefined as unknown as Buffer);
  while (!step.done) {
    spent = spend(spent, step.value, budget);
    step = steps.next(computeKdfWork(nodeCrypto, step.value));
  }
  return step.value;
}

/** Runs a parser with its derivations on the worker thread. */
export async function runKdfAsync<T>(steps: KdfSteps<T>, budget: number): Promise<T> {
  let spent = 0;
  let step = steps.next(undefined as unknown as Buffer);
  while (!step.done) {
    spent = spend(spent, step.value, budget);
    step = steps.next(await kdfThread.run({ work: step.value }));
  }
  return step.value;
}

const WORKER_SOURCE = `'use strict';
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const compute = ${computeKdfWork.toString()};
parentPort.on('message', ({ id, work }) => {
  let reply;
  try {
    const out = compute(crypto, work);
    reply = { id, out };
  } catch (e) {
    reply = { id, error: String((e && e.message) || e) };
  }
  parentPort.postMessage(reply);
});
`;

const kdfThread = new WorkerThread(WORKER_SOURCE, (why) => new PkiError('unsupported', `key derivation failed: ${why}`));
