// The differential fuzz run (fuzz.test.ts): mutants of the corpus go to rospki (in a worker
// process watched for hangs) and to OpenSSL (in bulk), and every disagreement is reported.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { compareFacts, type Kind } from './fuzz-facts.js';
import { largestIteration, mutateDer, mutatePem, remac, rng, type Rand } from './fuzz-mutate.js';
import { opensslVerdicts, pkcs12Verdict, type OpensslVerdict } from './fuzz-openssl.js';
import type { Verdict } from './fuzz-rospki.js';
import { pemDecode, pemEncode } from '../../src/pki/index.js';
import { MAX_ITERATIONS } from '../../src/pki/pkcs12.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface Seed { name: string; kind: Kind; data: Buffer; password?: string }

export interface Finding {
  kind: Kind;
  seed: string;
  file: string;
  problem: 'crash' | 'hang' | 'slow' | 'accepts-what-openssl-refuses' | 'different-facts';
  detail: string;
}

export interface FuzzReport {
  mutants: number;
  /** pemArmour: read by rospki, and by OpenSSL only once the PEM is written canonically (RFC 7468 §3 lax). */
  perKind: Record<string, { mutants: number; bothAccept: number; bothRefuse: number; onlyOpenssl: number; pemArmour: number }>;
  findings: Finding[];
  dir: string;
}

/** Key derivation a PKCS#12 mutant may ask OpenSSL for (it has no limit; rospki has one). */
const OPENSSL_P12_ITERATIONS = 200_000;

function pemDer(data: Buffer): Buffer | undefined {
  const m = /-----BEGIN [A-Z0-9 ]+-----\r?\n([A-Za-z0-9+/=\s]+?)-----END /.exec(data.toString('latin1'));
  return m && !/:/.test(m[1]!) ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : undefined;
}

function mutant(r: Rand, seed: Seed): Buffer {
  // PEM seeds are also mutated as text (armour, base64, line breaks: pem.ts against OpenSSL's
  // PEM reader); encrypted PEM keys always (the DER inside is ciphertext).
  const pem = seed.data.includes('-----BEGIN ');
  if (pem && seed.kind !== 'p12' && (pemDer(seed.data) === undefined || r.chance(seed.kind === 'key' ? 0.5 : 0.25))) {
    return Buffer.from(mutatePem(r, seed.data.toString('latin1')), 'latin1');
  }
  const der = pemDer(seed.data) ?? seed.data;
  let m = mutateDer(r, der);
  if (seed.kind === 'p12' && r.chance(0.75)) m = remac(m, seed.password ?? '', OPENSSL_P12_ITERATIONS);
  return m;
}

/** The block rospki reads in a PEM file, written again in canonical PEM (64-column base64, LF). */
function canonicalPem(kind: Kind, data: Buffer): string {
  const labels = { cert: ['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE'], crl: ['X509 CRL'], csr: ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'] }[kind as 'cert'] ?? [];
  const block = pemDecode(data).find((b) => labels.includes(b.label))!;
  return pemEncode(block.label, block.der);
}

/**
 * rospki's verdicts from a worker process; a job with no answer within `hangMs` is a hang. When a
 * worker dies or stops answering, the job it was on is run again alone in a fresh worker: only if
 * that one dies or hangs too is the job a crash or a hang.
 */
async function rospkiVerdicts(jobs: Array<{ file: string; kind: Kind; password?: string }>, hangMs: number): Promise<Array<Verdict | { outcome: 'hang' }>> {
  const results: Array<Verdict | { outcome: 'hang' }> = new Array(jobs.length);
  let next = 0;
  while (next < jobs.length) {
    const stop = await workerRun(jobs, next, jobs.length, results, hangMs);
    if (stop === jobs.length) break;
    // The worker died or hung at job `stop` (as far as its answers tell): that job alone.
    const again = await workerRun(jobs, stop, stop + 1, results, hangMs);
    if (again === stop) results[stop] ??= { outcome: 'hang' };
    next = stop + 1;
  }
  return results;
}

/** Runs jobs [from, to) in one worker; returns the first job without an answer (`to` when all answered). */
async function workerRun(jobs: Array<{ file: string; kind: Kind; password?: string }>, from: number, to: number,
  results: Array<Verdict | { outcome: 'hang' }>, hangMs: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fuzz-rospki.ts')], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {}); // the worker died: that is reported below
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const lines = createInterface({ input: child.stdout });
  const done = await new Promise<number>((resolve) => {
    let answered = from;
    const kill = () => { child.kill('SIGKILL'); resolve(answered); };
    // The first answer waits for the worker to start as well.
    let timer = setTimeout(kill, hangMs + 10_000);
    lines.on('line', (line) => {
      const v = JSON.parse(line) as Verdict & { id: number };
      results[v.id] = v;
      answered = v.id + 1;
      clearTimeout(timer);
      if (answered === to) { child.stdin.end(); resolve(answered); } else timer = setTimeout(kill, hangMs);
    });
    // 'close', not 'exit': only then has every answer the worker wrote been read.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // The worker died by itself (not killed for hanging) on job `answered`.
      if (answered < to && signal !== 'SIGKILL') results[answered] = { outcome: 'crash', error: `worker exited (${code ?? signal}): ${stderr}`, ms: 0 };
      resolve(answered);
    });
    for (let i = from; i < to; i++) child.stdin.write(`${JSON.stringify({ id: i, ...jobs[i] })}\n`);
  });
  child.kill('SIGKILL');
  return done;
}

/**
 * Makes `count` mutants from the seeds (spread over the kinds as `weights` says), runs both sides
 * and returns every finding. Deterministic for one seed value.
 */
export async function runFuzz(opts: {
  seeds: Seed[]; count: number; seed: number; weights: Partial<Record<Kind, number>>;
  /** Per input: slower than this is a finding; no answer in hangMs is a hang. */
  slowMs: number; hangMs: number;
}): Promise<FuzzReport> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-pki-fuzz-'));
  const r = rng(opts.seed);
  const kinds = Object.keys(opts.weights) as Kind[];
  const total = kinds.reduce((a, k) => a + opts.weights[k]!, 0);
  type Job = { kind: Kind; seed: Seed; group: string; file: string; name: string; password?: string };
  const jobs: Job[] = [];
  for (const kind of kinds) {
    const seeds = opts.seeds.filter((s) => s.kind === kind);
    const n = Math.round((opts.count * opts.weights[kind]!) / total);
    for (let i = 0; i < n && seeds.length; i++) {
      const seed = seeds[i % seeds.length]!;
      let data = mutant(r, seed);
      // A PKCS#12 mutant asking for much key derivation costs seconds in both readers: such
      // inputs are made again, unless they ask for more than rospki's per-count limit (refused at once).
      for (let tries = 0; kind === 'p12' && tries < 20; tries++) {
        const most = largestIteration(data);
        if (most <= 20_000 || most > MAX_ITERATIONS) break;
        data = mutant(r, seed);
      }
      // OpenSSL has no bound on PKCS#12 key derivation: costly mutants go to rospki only.
      const opensslToo = kind !== 'p12' || largestIteration(data) <= OPENSSL_P12_ITERATIONS;
      const group = `${kind}-${opensslToo ? Buffer.from(seed.password ?? '').toString('hex') || 'nopass' : 'rospki-only'}`;
      fs.mkdirSync(path.join(dir, group), { recursive: true });
      const name = `m${String(jobs.length).padStart(5, '0')}`;
      const file = path.join(dir, group, name);
      fs.writeFileSync(file, data);
      jobs.push({ kind, seed, group, file, name, password: seed.password });
    }
  }
  const [ros, ossl] = await Promise.all([
    rospkiVerdicts(jobs.map((j) => ({ file: j.file, kind: j.kind, password: j.password })), opts.hangMs),
    (async () => {
      const verdicts = new Map<string, OpensslVerdict>();
      const groups = [...new Set(jobs.map((j) => j.group))].filter((g) => !g.endsWith('rospki-only'));
      for (const g of groups) {
        const job = jobs.find((j) => j.group === g)!;
        const v = await opensslVerdicts(job.kind, path.join(dir, g), job.password);
        for (const [f, verdict] of v) verdicts.set(`${g}/${f}`, verdict);
      }
      return verdicts;
    })(),
  ]);
  for (const [i, j] of jobs.entries()) {
    const key = `${j.group}/${j.name}`;
    if (j.kind === 'p12' && ros[i]!.outcome === 'ok' && ossl.get(key)?.accepted === false) ossl.set(key, await pkcs12Verdict(j.file, j.password ?? ''));
  }
  // PEM armour rospki reads and OpenSSL's PEM reader does not (blank lines, lone CRs, long
  // lines: RFC 7468 §3's lax grammar allows whitespace anywhere in the base64 text) is a
  // difference in the armour only when OpenSSL reads the same DER in canonical PEM with the same
  // facts: those inputs are asked again in that form.
  const armour = new Map<string, OpensslVerdict>();
  const laxPem = jobs.filter((j, i) => ros[i]!.outcome === 'ok' && ossl.get(`${j.group}/${j.name}`)?.accepted === false && j.kind !== 'key'
    && fs.readFileSync(j.file).includes('-----BEGIN '));
  for (const kind of new Set(laxPem.map((j) => j.kind))) {
    const sub = path.join(dir, `canonical-${kind}`);
    fs.mkdirSync(sub);
    for (const j of laxPem.filter((x) => x.kind === kind)) fs.writeFileSync(path.join(sub, j.name), canonicalPem(kind, fs.readFileSync(j.file)));
    for (const [name, v] of await opensslVerdicts(kind, sub)) armour.set(`${kind}/${name}`, v);
  }
  const report: FuzzReport = { mutants: jobs.length, perKind: {}, findings: [], dir };
  jobs.forEach((j, i) => {
    const stats = (report.perKind[j.kind] ??= { mutants: 0, bothAccept: 0, bothRefuse: 0, onlyOpenssl: 0, pemArmour: 0 });
    stats.mutants++;
    const v = ros[i]!;
    const o = ossl.get(`${j.group}/${j.name}`);
    const finding = (problem: Finding['problem'], detail: string) => report.findings.push({ kind: j.kind, seed: j.seed.name, file: j.file, problem, detail });
    if (v.outcome === 'hang') return finding('hang', `no verdict within ${opts.hangMs} ms`);
    if (v.outcome === 'crash') return finding('crash', v.error);
    if (v.ms > opts.slowMs) finding('slow', `${Math.round(v.ms)} ms`);
    if (!o) return; // rospki only (PKCS#12 asking for more key derivation than OpenSSL is given)
    const canonical = armour.get(`${j.kind}/${j.name}`);
    if (v.outcome === 'ok' && !o.accepted && canonical?.accepted && compareFacts(v.facts, canonical.facts!).length === 0) {
      stats.pemArmour++;
      return;
    }
    if (v.outcome === 'ok' && !o.accepted) return finding('accepts-what-openssl-refuses', JSON.stringify(v.facts));
    if (v.outcome === 'ok' && o.accepted) {
      stats.bothAccept++;
      const diffs = compareFacts(v.facts, o.facts!);
      if (diffs.length) finding('different-facts', diffs.join('; '));
    } else if (o.accepted) stats.onlyOpenssl++;
    else stats.bothRefuse++;
  });
  return report;
}
