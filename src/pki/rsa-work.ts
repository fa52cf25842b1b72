// The raw RSA private operation (m = c^d mod n, cms.ts RsaPrivateOperation) on worker threads:
// a SCEP server decrypts one content-encryption key per request, for anyone who sends one, and
// that is the costliest step an unauthenticated peer can cause. Run here, it never holds the
// event loop — every other service of the daemon — and requests use the machine's cores.
// (Signatures need no worker: node:crypto's sign() with a callback runs on libuv's threadpool.)
//
// The pattern of kdf-work.ts: the worker's source is a function of this file (the same code in
// both places), run by WorkerThread (started on first use, never holding the process open idle).
// A key goes to a worker once (PKCS#8, inside this process), then by its number.

import * as nodeCrypto from 'node:crypto';
import { availableParallelism } from 'node:os';
import { PkiError } from './errors.js';
import type { RsaPrivateOperation } from './cms.js';
import { WorkerThread } from './worker-thread.js';

/** The raw private operation on `input`. */
interface RsaJob { id: number; keyId: number; pkcs8?: Uint8Array; input: Uint8Array }

/**
 * The worker's handler: self-contained (it uses only its arguments), because its source text is
 * also the worker's (WORKER_SOURCE).
 */
function handleRsaJob(crypto: typeof nodeCrypto, keys: Map<number, nodeCrypto.KeyObject>, job: RsaJob): Uint8Array {
  let key = keys.get(job.keyId);
  if (!key) {
    if (!job.pkcs8) throw new Error('unknown key');
    key = crypto.createPrivateKey({ key: Buffer.from(job.pkcs8), format: 'der', type: 'pkcs8' });
    keys.set(job.keyId, key);
  }
  return crypto.privateDecrypt({ key, padding: crypto.constants.RSA_NO_PADDING }, Buffer.from(job.input));
}

const WORKER_SOURCE = `'use strict';
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const handle = ${handleRsaJob.toString()};
const keys = new Map();
parentPort.on('message', (job) => {
  let reply;
  try {
    reply = { id: job.id, out: handle(crypto, keys, job) };
  } catch (e) {
    reply = { id: job.id, error: String((e && e.message) || e) };
  }
  parentPort.postMessage(reply);
});
`;

/** A worker thread with the keys it holds (a new worker after a crash holds none). */
class RsaThread {
  readonly known = new Set<number>();
  readonly thread = new WorkerThread(WORKER_SOURCE, (why) => new PkiError('bad-key', `RSA operation failed: ${why}`), () => this.known.clear());
}

/** A pool of RSA worker threads: operation(key) gives the RsaPrivateOperation of a key on it. */
export class RsaWorkers {
  private readonly threads: RsaThread[];
  private readonly keyIds = new WeakMap<nodeCrypto.KeyObject, { id: number; pkcs8: Buffer }>();
  private nextKey = 1;

  constructor(size = Math.max(1, Math.min(4, availableParallelism()))) {
    this.threads = Array.from({ length: size }, () => new RsaThread());
  }

  /** The raw private operation of `key` (an RSA private key), run on the least busy worker. */
  operation(key: nodeCrypto.KeyObject): RsaPrivateOperation {
    return (input) => this.run(key, input);
  }

  private run(key: nodeCrypto.KeyObject, input: Buffer): Promise<Buffer> {
    let k = this.keyIds.get(key);
    if (!k) {
      k = { id: this.nextKey++, pkcs8: key.export({ type: 'pkcs8', format: 'der' }) };
      this.keyIds.set(key, k);
    }
    const { id, pkcs8 } = k;
    let thread = this.threads[0]!;
    for (const t of this.threads) if (t.thread.pending < thread.thread.pending) thread = t;
    const first = !thread.known.has(id);
    thread.known.add(id);
    return thread.thread.run({ keyId: id, pkcs8: first ? pkcs8 : undefined, input });
  }
}
