// One worker thread that runs jobs posted to it and answers each with bytes (kdf-work.ts,
// rsa-work.ts). The worker starts on first use, is held open only while work is pending (an
// idle worker never keeps a process alive) and is started anew after a crash, which fails the
// jobs it had. Its source is plain JavaScript run without the parent's loader hooks
// (execArgv: []) and with little memory; it answers `{ id, out }` or `{ id, error }`.

import { Worker } from 'node:worker_threads';

interface Pending {
  resolve(out: Buffer): void;
  reject(e: Error): void;
}

export class WorkerThread {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, Pending>();
  private nextId = 1;

  /**
   * `failure` turns the worker's error text (or why it was lost) into the error a job rejects
   * with; `onLost` runs when the worker is gone (what it held is gone with it).
   */
  constructor(private readonly source: string, private readonly failure: (why: string) => Error, private readonly onLost?: () => void) {}

  /** Jobs posted and not yet answered. */
  get pending(): number {
    return this.jobs.size;
  }

  /** Posts `{ ...payload, id }` to the worker; resolves with its `out`. */
  run(payload: object): Promise<Buffer> {
    const worker = this.worker ?? this.start();
    if (this.jobs.size === 0) worker.ref();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      worker.postMessage({ ...payload, id });
    });
  }

  private start(): Worker {
    const worker = new Worker(this.source, { eval: true, execArgv: [], resourceLimits: { maxOldGenerationSizeMb: 32 } });
    // Listeners before unref(): on Node 20 a 'message' listener added later references it again.
    worker.on('message', (m: { id: number; out?: Uint8Array; error?: string }) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      this.jobs.delete(m.id);
      if (this.jobs.size === 0) worker.unref();
      if (m.out) job.resolve(Buffer.from(m.out.buffer, m.out.byteOffset, m.out.byteLength));
      else job.reject(this.failure(m.error ?? 'unknown error'));
    });
    const lost = (why: string) => {
      if (this.worker === worker) this.worker = undefined;
      this.onLost?.();
      for (const job of this.jobs.values()) job.reject(this.failure(why));
      this.jobs.clear();
    };
    worker.on('error', (e) => lost(e.message));
    worker.on('exit', () => lost('the worker stopped'));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
