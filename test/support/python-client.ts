// A raw-socket attacker or slow client written in a few lines of Python, run as a child process
// (test/security: clients that never read, trickle bytes or hold slots). Its stdout and stderr
// are collected as they come, so a test can wait for a line the script prints ("sent",
// "running") and then measure the daemon while the client keeps misbehaving.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { PYTHON } from './tools.js';

export class PythonClient {
  readonly child: ChildProcessWithoutNullStreams;
  out = '';
  err = '';
  /** Settles with the exit code once the process has exited and its output is read. */
  readonly exited: Promise<number | null>;

  /** Starts `python3 -c` with the script's lines. */
  constructor(script: readonly string[]) {
    this.child = spawn(PYTHON, ['-c', script.join('\n')], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => { this.out += d.toString(); });
    this.child.stderr.on('data', (d: Buffer) => { this.err += d.toString(); });
    this.exited = new Promise((resolve) => this.child.once('close', resolve));
  }

  /** Waits (polling) until ok() holds; fails, naming `what` and the script's stderr, if it exits first or after ms. */
  async waitFor(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
    const until = Date.now() + ms;
    while (!ok()) {
      assert.ok(Date.now() < until && this.child.exitCode === null, `${what} (${this.err})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits until the script has printed `word`. */
  printed(word: string, ms?: number): Promise<void> {
    return this.waitFor(`the client printed "${word}"`, () => this.out.includes(word), ms);
  }

  /** Sends the script a line on stdin and lets it run to its end; kills it after graceMs. */
  async finish(line: string, graceMs = 10_000): Promise<number | null> {
    this.child.stdin.end(`${line}\n`);
    const killer = setTimeout(() => this.child.kill(), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(killer);
    }
  }

  /** Kills the client and waits for it to be gone. */
  async kill(): Promise<void> {
    this.child.kill();
    await this.exited;
  }
}
