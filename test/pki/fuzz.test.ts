// Differential fuzz test of rospki's own parsers (issue 10 item 6): thousands of mutants of the
// real-world corpus (test/fixtures/pki) go to rospki and to OpenSSL. rospki must never crash (a
// PkiError is its only way to refuse), never hang or take long over one input, never read what
// OpenSSL refuses, and show the same facts as OpenSSL from what both read.
//
// Deterministic: the same seed makes the same mutants. More locally:
//   ROSPKI_PKI_FUZZ=50000 ROSPKI_PKI_FUZZ_SEED=7 node --import tsx --test test/pki/fuzz.test.ts
// A failure names each input and keeps them in the directory it prints.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { loadFixtures } from './fixtures.js';
import { runFuzz } from './fuzz-run.js';

const COUNT = Number(process.env.ROSPKI_PKI_FUZZ ?? 4000);
const SEED = Number(process.env.ROSPKI_PKI_FUZZ_SEED ?? 0x5eed);
/** Per input: slower than this is a finding (typical: under a millisecond; key pair checks and
 *  PKCS#12 key derivation a few, on a busy machine a few hundred). */
const SLOW_MS = 5_000;
/** No verdict from the worker within this: a hang. */
const HANG_MS = 60_000;

test(`differential fuzz: ${COUNT} mutants of the corpus against OpenSSL (seed ${SEED})`, { timeout: 600_000 }, async (t) => {
  const started = performance.now();
  const seeds = loadFixtures().filter((f) => f.expect !== 'limit').map((f) => ({ name: f.file, kind: f.kind, data: f.data, password: f.password }));
  const report = await runFuzz({
    seeds, count: COUNT, seed: SEED, slowMs: SLOW_MS, hangMs: HANG_MS,
    weights: { cert: 5, crl: 2, csr: 1, key: 1.5, p12: 1.5, p7s: 1.5, p7m: 1 },
  });
  t.diagnostic(`${report.mutants} mutants in ${Math.round(performance.now() - started)} ms: ${JSON.stringify(report.perKind)}`);
  const lines = report.findings.map((f) => `${f.problem} (${f.kind}, from ${f.seed}): ${f.file}\n    ${f.detail.slice(0, 400)}`);
  if (lines.length === 0) fs.rmSync(report.dir, { recursive: true, force: true });
  assert.equal(lines.length, 0, `${lines.length} findings (inputs kept in ${report.dir}):\n${lines.slice(0, 25).join('\n')}`);
  // The mutants reach the parsers' depths: for every kind some are read by both readers (their
  // facts compared) and some are refused by both.
  for (const [kind, s] of Object.entries(report.perKind)) {
    assert.ok(s.bothAccept > 0 && s.bothRefuse > 0, `${kind}: ${JSON.stringify(s)}`);
  }
});
