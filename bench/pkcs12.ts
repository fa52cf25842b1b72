// Bench (issue 4): export and re-import of 1,000 PKCS#12 bundles through the command layer
// (export-certificate type=pkcs12 with a passphrase, then import into a second data directory),
// per bundle, beside `openssl pkcs12 -export` per bundle measured in the same run.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Appliance } from '../src/appliance.js';
import { FixedClock } from '../src/clock.js';
import { CERT_PATH } from '../src/menus/certificate/properties.js';

import type { Line } from './support.js';

const now = (): bigint => process.hrtime.bigint();
const ms = (ns: bigint): number => Number(ns) / 1e6;

export async function benchPkcs12(line: Line, n = 1000, opensslRuns = 100): Promise<void> {
  const dirA = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-p12a-'));
  const dirB = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-p12b-'));
  const a = await Appliance.open(dirA, { clock: new FixedClock(Date.now()) });
  const b = await Appliance.open(dirB, { clock: new FixedClock(Date.now()) });
  try {
    const sa = await a.session('admin', 'bench');
    const sb = await b.session('admin', 'bench');
    const runA = (command: string, args: Record<string, string>) =>
      a.executor.run({ path: CERT_PATH, command, args: new Map(Object.entries(args)), session: sa });
    await runA('add', { name: 'ca', 'common-name': 'bench CA', 'key-size': 'prime256v1', 'key-usage': 'key-cert-sign,crl-sign' });
    await runA('sign', { number: 'ca' });
    for (let i = 0; i < n; i++) {
      await runA('add', { name: `c${i}`, 'common-name': `c${i}.example.com`, 'key-size': 'prime256v1', 'key-usage': 'digital-signature,tls-server' });
      await runA('sign', { number: `c${i}`, ca: 'ca' });
    }
    // Export: certificate + CA chain + key, modern profile (PBES2/AES-256, 2048 iterations).
    let start = now();
    for (let i = 0; i < n; i++) {
      await runA('export-certificate', { numbers: `c${i}`, type: 'pkcs12', 'export-passphrase': 'bench-pass', 'file-name': `c${i}` });
    }
    const exportMs = ms(now() - start) / n;
    for (let i = 0; i < n; i++) fs.copyFileSync(path.join(a.dataDir.filesDir, `c${i}.p12`), path.join(b.dataDir.filesDir, `c${i}.p12`));
    start = now();
    for (let i = 0; i < n; i++) {
      await b.executor.run({ path: CERT_PATH, command: 'import', args: new Map([['file-name', `c${i}.p12`], ['passphrase', 'bench-pass']]), session: sb });
    }
    const importMs = ms(now() - start) / n;
    const imported = await b.store.read((tx) => tx.list(CERT_PATH).length);
    if (imported !== n + 1) throw new Error(`expected ${n + 1} certificates after re-import, found ${imported}`);

    // Reference: openssl pkcs12 -export per bundle (one process each, same material, same profile).
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-p12o-'));
    execFileSync('openssl', ['pkcs12', '-in', path.join(a.dataDir.filesDir, 'c0.p12'), '-passin', 'pass:bench-pass', '-nodes', '-out', path.join(work, 'in.pem')]);
    const times: number[] = [];
    for (let i = 0; i < opensslRuns; i++) {
      const t0 = now();
      execFileSync('openssl', ['pkcs12', '-export', '-in', path.join(work, 'in.pem'), '-passout', 'pass:bench-pass', '-out', path.join(work, `o${i}.p12`)]);
      times.push(ms(now() - t0));
    }
    const opensslMs = times.reduce((x, y) => x + y, 0) / times.length;
    fs.rmSync(work, { recursive: true, force: true });
    line(`PKCS#12 export (cert+chain+key, n=${n}), per bundle`, `${exportMs.toFixed(2)} ms`, `openssl ${opensslMs.toFixed(2)} ms`, exportMs / opensslMs, '≤ 1× openssl -export');
    line(`PKCS#12 re-import (n=${n}), per bundle`, `${importMs.toFixed(2)} ms`, `openssl ${opensslMs.toFixed(2)} ms`, importMs / opensslMs, '≤ 1× openssl -export');
  } finally {
    a.close();
    b.close();
    fs.rmSync(dirA, { recursive: true, force: true });
    fs.rmSync(dirB, { recursive: true, force: true });
  }
}
