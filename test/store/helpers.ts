import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const worker = path.join(repo, 'test/store/fixtures/worker.ts');

/** A fresh temporary directory, removed when the test ends. */
export function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-store-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Worker {
  /** Resolves with the first stdout line equal to `line`. */
  waitFor(line: string): Promise<void>;
  send(text: string): void;
  /** Resolves with all stdout when the process exits with 0; rejects otherwise. */
  done: Promise<string>;
}

/** Starts test/store/fixtures/worker.ts in a second Node process. */
export function startWorker(...args: string[]): Worker {
  return startWorkerWith({}, ...args);
}

/**
 * The same, optionally under a file size limit (`ulimit -f`, in bytes): a write past it fails
 * with EFBIG, which SQLite reports as a full disk.
 */
export function startWorkerWith(opts: { fileSizeLimit?: number }, ...args: string[]): Worker {
  const node = [process.execPath, '--import', 'tsx', worker, ...args];
  const child = opts.fileSizeLimit === undefined
    ? spawn(node[0]!, node.slice(1), { cwd: repo })
    // POSIX sh counts ulimit -f in 512-byte blocks.
    : spawn('sh', ['-c', `ulimit -f ${Math.ceil(opts.fileSizeLimit / 512)} && exec "$@"`, 'sh', ...node], { cwd: repo });
  child.stdin.on('error', () => {}); // the worker may close its stdin first
  let out = '';
  let err = '';
  const waiters: { line: string; resolve: () => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    const lines = out.split('\n');
    for (const w of [...waiters]) if (lines.includes(w.line)) w.resolve();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const done = new Promise<string>((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker exited ${code}: ${err}`)))),
  );
  return {
    waitFor: (line) =>
      new Promise<void>((resolve, reject) => {
        if (out.split('\n').includes(line)) return resolve();
        waiters.push({ line, resolve });
        done.catch(reject);
      }),
    send: (text) => child.stdin.write(text),
    done,
  };
}
