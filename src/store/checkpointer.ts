// WAL checkpoints off the event loop. With synchronous=NORMAL a COMMIT only appends to the WAL;
// the copying back into the database and the fsyncs happen at checkpoints, which SQLite runs
// inside the COMMIT that crosses wal_autocheckpoint, on the thread that commits: measured here,
// that doubled the mean cost of a COMMIT (about 25 µs → 45–55 µs for an add or a sign). Since
// every acknowledged write waits for its COMMIT, a second connection in a worker thread copies
// the WAL instead (PASSIVE checkpoints: they never block a writer or a reader).
//
// The WAL starts over from its beginning only when a writer begins while every frame is
// already copied, which a worker running beside steady commits rarely achieves. So once the
// worker reports a long WAL, the main connection runs one PASSIVE checkpoint itself right after
// a COMMIT (resetDue): only the frames written since the worker's pass are left to copy, and
// the next write transaction restarts the WAL. The main connection's wal_autocheckpoint stays
// as a backstop should the worker fail.

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Ask the worker for a checkpoint after this many commits (an add or a sign appends 5–8 pages). */
const CHECKPOINT_EVERY_COMMITS = 64;
/**
 * WAL frames (pages, 16 MB) past which the main connection finishes a pass so the WAL restarts:
 * that pass costs the event loop two fsyncs (measured 4–11 ms on a busy machine), so not often.
 */
const RESET_FRAMES = 4_000;
/** The main connection's own wal_autocheckpoint (pages): the backstop. */
export const BACKSTOP_AUTOCHECKPOINT_PAGES = 10_000;
/** How long close() waits for the worker to close its connection. */
const CLOSE_WAIT_MS = 5_000;

// The worker is plain CommonJS evaluated from this string, so the esbuild bundle needs no extra
// entry point; it loads the same better-sqlite3 as the main thread.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const closed = new Int32Array(workerData.closed);
let db;
try {
  db = new Database(workerData.dbPath, { fileMustExist: true, timeout: 0 });
  db.pragma('synchronous = NORMAL');
} catch {
  db = undefined;
}
parentPort.on('message', (m) => {
  if (m === 'checkpoint') {
    // Busy (another checkpoint runs, in this or another process) is fine: it happens anyway.
    let frames = 0;
    try { frames = db.pragma('wal_checkpoint(PASSIVE)')[0].log; } catch {}
    parentPort.postMessage(frames);
  } else if (m === 'close') {
    try { db?.close(); } catch {}
    Atomics.store(closed, 0, 1);
    Atomics.notify(closed, 0);
    parentPort.close();
  }
});
`;

export class Checkpointer {
  private worker: Worker | undefined;
  private closedFlag: Int32Array | undefined;
  private failed = false;
  private commitsSinceRequest = 0;
  private inFlight = false;
  /**
   * The WAL is long and the worker idle: the store should run one checkpoint itself after its
   * next COMMIT (see the top of this file), then report it with reset().
   */
  resetDue = false;
  /** Checkpoints the worker finished (for tests and diagnostics). */
  checkpoints = 0;

  constructor(private readonly dbPath: string) {}

  /** Called after each successful COMMIT; starts the worker on first need. */
  committed(): void {
    if (++this.commitsSinceRequest < CHECKPOINT_EVERY_COMMITS || this.inFlight || this.resetDue || this.failed) return;
    this.commitsSinceRequest = 0;
    this.inFlight = true;
    this.start().postMessage('checkpoint');
  }

  /** The store ran its checkpoint: the worker may be asked again. */
  reset(): void {
    this.resetDue = false;
  }

  /** Closes the worker's connection before returning, so the caller's close is the last one. */
  close(): void {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    if (this.failed) { void worker.terminate(); return; }
    worker.postMessage('close');
    // The main thread may block here: this runs once, at shutdown.
    if (Atomics.wait(this.closedFlag!, 0, 0, CLOSE_WAIT_MS) === 'timed-out') void worker.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const shared = new SharedArrayBuffer(4);
    this.closedFlag = new Int32Array(shared);
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, {
      eval: true, execArgv: [], workerData: { driver, dbPath: this.dbPath, closed: shared },
    });
    worker.on('message', (frames: number) => {
      this.inFlight = false;
      this.checkpoints++;
      if (frames >= RESET_FRAMES) this.resetDue = true;
    });
    // A failing worker only means checkpoints fall back to the backstop on the main thread.
    worker.on('error', (e) => {
      this.failed = true;
      process.emitWarning(`rospki store: checkpoint worker failed: ${e.message}`);
    });
    worker.unref(); // never keeps the process alive
    return (this.worker = worker);
  }
}
