// ACME issuance (issue 14): one certificate for one name from pebble with HTTP-01, each client a
// fresh process with a fresh account, the rounds interleaved, against the same pebble in the
// same run (its default hostile mode: 5 % of nonces refused; no authorization reuse; no random
// validation sleep):
//   * rospki: `rospki -e '/certificate enable-ssl-certificate …'` on a prepared data directory
//     (pebble's HTTPS CA trusted); it answers HTTP-01 on a temporary listener;
//   * lego 4.9 (`--http`) and certbot 2.1 (`certonly --standalone`), each with its own listener,
//     as ../shared/peers.md runs them.
// The aim: rospki's median ≤ 1× the faster reference. Also shown: the same command inside a
// running appliance (no process start), as the daemon's renewals run.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Appliance } from '../src/appliance.js';
import { havePebble, startPebble } from '../test/support/pebble.js';
import { BIN, median, nowMs, type Line } from './support.js';

const NAME = 'bench.router.test';
const ROUNDS = 5;

const have = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** A data directory that trusts pebble's HTTPS CA (set up outside the timing). */
async function prepared(root: string, minicaPem: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(root, 'rospki-'));
  const app = await Appliance.open(dir);
  const session = await app.session('admin', 'bench', { operator: true });
  await app.files.write('minica.pem', Buffer.from(minicaPem), Date.now());
  await app.executor.run({ path: '/certificate', command: 'import', args: new Map([['file-name', 'minica.pem'], ['passphrase', '']]), session });
  app.close();
  return dir;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const start = nowMs();
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  const ms = nowMs() - start;
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stdout}${r.stderr}`);
  return ms;
}

export async function benchAcme(line: Line): Promise<void> {
  if (!havePebble()) { console.log('acme: skipped (apt-get install pebble)'); return; }
  const pebble = await startPebble();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-acme-'));
  const port = String(pebble.httpPort);
  const rospkiEnv = { ROSPKI_ACME_HTTP01_PORT: port, ROSPKI_ACME_TLSALPN01_PORT: String(pebble.tlsPort), ROSPKI_LISTEN_ADDRESS: '127.0.0.1' };
  try {
    const dirs: string[] = [];
    for (let i = 0; i < ROUNDS; i++) dirs.push(await prepared(root, pebble.minicaPem));
    const times: Record<string, number[]> = { rospki: [], lego: [], certbot: [] };
    for (let i = 0; i < ROUNDS; i++) {
      times.rospki!.push(timed('node', [BIN, '--data', dirs[i]!, '-e', `/certificate enable-ssl-certificate dns-name=${NAME} directory-url=${pebble.directory}`], rospkiEnv));
      if (have('lego')) {
        const out = fs.mkdtempSync(path.join(root, 'lego-'));
        times.lego!.push(timed('lego', ['--server', pebble.directory, '--accept-tos', '--email', 'admin@router.test', '--path', out,
          '--domains', NAME, '--key-type', 'ec256', '--http', '--http.port', `127.0.0.1:${port}`, 'run'], { LEGO_CA_CERTIFICATES: pebble.minicaFile }));
      }
      if (have('certbot')) {
        const c = fs.mkdtempSync(path.join(root, 'certbot-'));
        times.certbot!.push(timed('certbot', ['certonly', '--non-interactive', '--agree-tos', '--no-eff-email', '-m', 'admin@router.test',
          '--server', pebble.directory, '--standalone', '--http-01-address', '127.0.0.1', '--http-01-port', port,
          '--config-dir', `${c}/config`, '--work-dir', `${c}/lib`, '--logs-dir', `${c}/logs`, '--key-type', 'ecdsa', '-d', NAME], { REQUESTS_CA_BUNDLE: pebble.minicaFile }));
      }
    }
    // In a running appliance: the command alone, the account already registered (the daemon's renewals).
    const inProcess: number[] = [];
    {
      const saved = { ...process.env };
      Object.assign(process.env, rospkiEnv);
      const app = await Appliance.open(dirs[0]!);
      try {
        const session = await app.session('admin', 'bench', { operator: true });
        for (let i = 0; i < ROUNDS; i++) {
          const start = nowMs();
          await app.executor.run({ path: '/certificate', command: 'enable-ssl-certificate', args: new Map([['dns-name', NAME], ['directory-url', pebble.directory]]), session });
          inProcess.push(nowMs() - start);
        }
      } finally {
        app.close();
        for (const k of Object.keys(rospkiEnv)) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
      }
    }
    const refs = (['lego', 'certbot'] as const).filter((k) => times[k]!.length > 0).map((k) => ({ k, ms: median(times[k]!) }));
    const rospki = median(times.rospki!);
    const best = refs.sort((a, b) => a.ms - b.ms)[0];
    const refText = refs.map((r) => `${r.k} ${r.ms.toFixed(0)} ms`).join(', ') || 'none installed';
    line(`ACME issuance, HTTP-01, one name, cold process (median of ${ROUNDS})`, `${rospki.toFixed(0)} ms`, best ? `${best.k} ${best.ms.toFixed(0)} ms` : 'n/a', best ? rospki / best.ms : NaN, '≤ 1× the faster');
    console.log(`  references: ${refText}`);
    line(`ACME renewal in a running appliance (median of ${ROUNDS})`, `${median(inProcess).toFixed(0)} ms`, `cold ${rospki.toFixed(0)} ms`, median(inProcess) / rospki, 'information');
  } finally {
    await pebble.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}
