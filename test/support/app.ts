// Test helpers: a fresh appliance on a temporary data directory, commands through the executor,
// and the real openssl CLI to judge what rospki makes.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Appliance } from '../../src/appliance.js';
import { FixedClock } from '../../src/clock.js';
import type { CommandResult, Session } from '../../src/menu/types.js';
import type { Value } from '../../src/menu/values.js';

export const T0 = Date.parse('2026-01-01T00:00:00Z');

export interface TestApp {
  app: Appliance;
  dir: string;
  clock: FixedClock;
  session: Session;
  run(path: string, command: string, args?: Record<string, Value>): Promise<CommandResult>;
  close(): void;
}

export async function openTestApp(opts: { time?: number; dir?: string } = {}): Promise<TestApp> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-test-'));
  const clock = new FixedClock(opts.time ?? T0);
  const app = await Appliance.open(dir, { clock });
  const session = await app.session('admin', 'test');
  return {
    app, dir, clock, session,
    run: (p, command, args = {}) => app.executor.run({ path: p, command, args: new Map(Object.entries(args)), session }),
    close: () => { app.close(); if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

export function tempDir(prefix = 'rospki-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Runs openssl with arguments; returns stdout (throws with stderr on failure). */
export function openssl(args: string[], input?: string | Buffer): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs openssl and returns status and combined output without throwing. */
export function opensslStatus(args: string[]): { status: number; output: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

export function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
