// Test helper: run the real `openssl` CLI on files in a temp dir (the judge for every certificate).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pemEncode } from '../../src/pki/index.js';

export class TmpDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'rospki-pki-'));
  path(name: string): string { return join(this.dir, name); }
  writeCert(name: string, der: Buffer): string {
    const p = this.path(name);
    writeFileSync(p, pemEncode('CERTIFICATE', der));
    return p;
  }
  write(name: string, data: string | Buffer): string {
    const p = this.path(name);
    writeFileSync(p, data);
    return p;
  }
  cleanup(): void { rmSync(this.dir, { recursive: true, force: true }); }
}

/** Runs openssl; returns stdout+stderr and the exit status (never throws). */
export function openssl(...args: string[]): { out: string; status: number } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { out: (r.stdout ?? '') + (r.stderr ?? ''), status: r.status ?? -1 };
}

export function opensslOk(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export const x509Text = (file: string) => opensslOk('x509', '-in', file, '-text', '-noout');

/** `openssl x509 -fingerprint -sha256` as lower-case hex without colons. */
export function opensslFingerprint(file: string): string {
  const out = opensslOk('x509', '-in', file, '-noout', '-fingerprint', '-sha256');
  return out.split('=')[1]!.trim().replace(/:/g, '').toLowerCase();
}

export function opensslSerial(file: string): string {
  return opensslOk('x509', '-in', file, '-noout', '-serial').trim().replace(/^serial=/, '');
}

/** The hex after a "X509v3 <name>:" line in -text output, colons removed, upper-case. */
export function extLine(text: string, header: string): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(header));
  if (i < 0) return '';
  return lines[i + 1]!.trim();
}
