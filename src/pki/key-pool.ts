// EC keys made ahead on a second core (issue 10 "Speed"). Each `sign` of an EC template needs a
// new key: node's ECDH generator takes ~0.03–0.04 ms of the event loop for P-256, a tenth of
// what a certificate costs through the console. A worker thread keeps a few keys of each curve
// in use ready, in batches (one message per BATCH keys, so handing them over costs next to
// nothing), and a key is taken from there when one is ready, else made inline as before.
//
// A key is used once and never leaves memory before it is (it is sealed with the rest of the
// certificate, as a key made inline is). Keys wait at most KEY_POOL_MAX_AGE_MS: a process that
// issues nothing for a while holds none (a copy of a running machine, e.g. a VM snapshot
// restored twice, would otherwise hand the same waiting keys to two CAs); the slots of used and
// expired keys are zeroed. At most KEY_POOL_CAP keys of a curve exist ahead (waiting or being
// made), and a batch is asked for only when a key is taken: a daemon that stops issuing stops
// making keys at once, an idle one makes none. The worker starts once issuing is frequent
// (KEY_POOL_START_AFTER keys in this process: a one-shot `rospki -e` or a test making a few keys
// does not pay for a thread), it never keeps the process alive, and should it fail every key
// is made inline.
//
// Measured (docs/bench.md, 2026-12-02): waiting for keys is not what bounds issuing. Through the
// console loop the daemon takes every key from here at once and is busy all the time; what a
// certificate costs is the store, the services' reconcile after each commit and the script.

import { Worker } from 'node:worker_threads';
import { ecCoordinateSize, ecKeyFromParts, type EcCurve, type RawEcKey } from './key.js';

/** Keys per message from the worker. */
const BATCH = 16;
/** Keys of a curve made ahead at most: waiting, plus a batch being made. */
export const KEY_POOL_CAP = 32;
/** How long a key may wait. */
export const KEY_POOL_MAX_AGE_MS = 1000;
/** EC keys made in this process before the worker starts. */
export const KEY_POOL_START_AFTER = 32;

// Plain CommonJS evaluated from this string, so the bundle needs no entry point of its own; the
// worker gets none of the process's node options (--input-type=module would make it ESM).
// Each key: the public point (1 + 2 × coord bytes), then d left-padded to coord bytes.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createECDH } = require('node:crypto');
parentPort.on('message', ({ curve, count, coord }) => {
  const pointBytes = 1 + 2 * coord;
  const size = pointBytes + coord;
  const keys = new Uint8Array(count * size);
  for (let i = 0; i < count; i++) {
    const ecdh = createECDH(curve);
    keys.set(ecdh.generateKeys(), i * size);
    const d = ecdh.getPrivateKey();
    keys.set(d, i * size + size - d.length);
  }
  parentPort.postMessage({ curve, keys }, [keys.buffer]);
});
`;

interface Batch {
  keys: Uint8Array;
  next: number;
  count: number;
  arrived: number;
}

class EcKeyPool {
  private worker: Worker | undefined;
  private failed = false;
  private made = 0;
  private readonly ready = new Map<EcCurve, Batch[]>();
  private readonly asked = new Set<EcCurve>();
  /** Keys handed out from the pool so far, and batches asked for (tests, diagnostics). */
  taken = 0;
  batches = 0;

  /** A key made ahead, or undefined (none ready: make one inline). */
  take(curve: EcCurve): RawEcKey | undefined {
    if (++this.made >= KEY_POOL_START_AFTER && !this.worker && !this.failed) this.start();
    if (!this.worker) return undefined;
    const key = this.next(curve);
    if (this.waiting(curve) + BATCH <= KEY_POOL_CAP) this.ask(curve);
    if (key) this.taken++;
    return key;
  }

  /** Starts the worker now, whatever the count (tests). */
  start(): void {
    if (this.worker || this.failed) return;
    try {
      const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
      worker.on('message', (m: { curve: EcCurve; keys: Uint8Array }) => this.arrived(m.curve, m.keys));
      worker.on('error', (e) => this.fail(e));
      worker.on('exit', (code) => { if (this.worker === worker) this.fail(new Error(`exited (${code})`)); });
      // After the listeners: adding a 'message' listener refs the worker's port again (node 20),
      // and a daemon would then never exit after SIGTERM.
      worker.unref();
      this.worker = worker;
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private next(curve: EcCurve): RawEcKey | undefined {
    const batches = this.ready.get(curve);
    if (!batches) return undefined;
    const now = performance.now();
    const coord = ecCoordinateSize(curve);
    const pointBytes = 1 + 2 * coord;
    const size = pointBytes + coord;
    while (batches.length > 0) {
      const batch = batches[0]!;
      if (now - batch.arrived > KEY_POOL_MAX_AGE_MS || batch.next >= batch.count) {
        batch.keys.fill(0);
        batches.shift();
        continue;
      }
      const at = batch.next++ * size;
      const key = ecKeyFromParts(curve, batch.keys.subarray(at, at + pointBytes), batch.keys.subarray(at + pointBytes, at + size));
      batch.keys.fill(0, at, at + size);
      return key;
    }
    return undefined;
  }

  /** Keys of `curve` ready to be taken. */
  waiting(curve: EcCurve): number {
    const now = performance.now();
    let n = 0;
    for (const b of this.ready.get(curve) ?? []) if (now - b.arrived <= KEY_POOL_MAX_AGE_MS) n += b.count - b.next;
    return n;
  }

  private ask(curve: EcCurve): void {
    if (this.asked.has(curve) || !this.worker) return;
    this.asked.add(curve);
    this.batches++;
    this.worker.postMessage({ curve, count: BATCH, coord: ecCoordinateSize(curve) });
  }

  private arrived(curve: EcCurve, keys: Uint8Array): void {
    this.asked.delete(curve);
    let batches = this.ready.get(curve);
    if (!batches) this.ready.set(curve, (batches = []));
    batches.push({ keys, next: 0, count: keys.length / (1 + 3 * ecCoordinateSize(curve)), arrived: performance.now() });
  }

  get started(): boolean {
    return this.worker !== undefined;
  }

  private fail(e: Error): void {
    if (this.failed) return;
    this.failed = true;
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    for (const batches of this.ready.values()) for (const b of batches) b.keys.fill(0);
    this.ready.clear();
    process.emitWarning(`rospki: key worker failed, EC keys are made on the main thread: ${e.message}`);
  }
}

const POOL = new EcKeyPool();

/** An EC key made ahead by the worker, or undefined when none is ready. */
export function takeReadyEcKey(curve: EcCurve): RawEcKey | undefined {
  return POOL.take(curve);
}

/** Starts the key worker now (tests); keys of a curve are made once that curve is asked for. */
export function startKeyWorker(): void {
  POOL.start();
}

/** What the pool did so far (tests, diagnostics). */
export interface KeyPoolStats {
  /** Whether the worker runs. */
  started: boolean;
  /** Keys handed out from the pool. */
  taken: number;
  /** Batches asked of the worker. */
  batches: number;
  /** Keys of each curve ready to be taken now. */
  waiting: Record<EcCurve, number>;
}

export function keyPoolStats(): KeyPoolStats {
  return {
    started: POOL.started, taken: POOL.taken, batches: POOL.batches,
    waiting: { prime256v1: POOL.waiting('prime256v1'), secp384r1: POOL.waiting('secp384r1'), secp521r1: POOL.waiting('secp521r1') },
  };
}
