// CI installs what the tests run (.ci/run on a fresh Debian machine): every tool of
// test/support/tools.ts comes from a package .ci/run installs, every program a test spawns is such
// a tool (or Essential), and CI runs the tests with ROSPKI_REQUIRE_TOOLS=1 so a missing one fails
// instead of skipping.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ESSENTIAL, TOOLS } from './support/tools.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const CI_RUN = fs.readFileSync(path.join(ROOT, '.ci/run'), 'utf8');

/** The packages of .ci/run's PACKAGES=( … ) list (comments left out), which it apt-get installs. */
function installedByCi(): Set<string> {
  const list = /^PACKAGES=\(\n([\s\S]*?)^\)$/m.exec(CI_RUN);
  assert.ok(list, '.ci/run has a PACKAGES=( … ) list');
  assert.match(CI_RUN, /^apt-get (?:-o \S+ )*install -y -qq --no-install-recommends "\$\{PACKAGES\[@\]\}"/m, 'and installs it');
  const words = list[1]!.split('\n').filter((l) => !/^\s*#/.test(l)).join(' ').split(/\s+/).filter(Boolean);
  for (const w of words) assert.match(w, /^[a-z0-9][a-z0-9.+-]+$/, 'a Debian package name');
  return new Set(words);
}

function testSources(dir = path.join(ROOT, 'test')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : testSources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

test('.ci/run installs the Debian package of every tool the tests use', () => {
  const installed = installedByCi();
  const missing = Object.entries(TOOLS).filter(([, tool]) => !installed.has(tool.package)).map(([name, tool]) => `${name} (${tool.package})`);
  assert.deepEqual(missing, [], `add to .ci/run's apt-get install lines: ${missing.join(', ')}`);
});

test('every program a test spawns by name is a tool of test/support/tools.ts or Essential', () => {
  // spawn, spawnSync, execFile, execFileSync and the tests' run helper, given a program name and an argument list.
  const call = /\b(?:spawn|spawnSync|execFile|execFileSync|run)\(\s*'((?:\/usr)?(?:\/s?bin\/)?[\w.+-]+)'\s*,\s*\[/g;
  const known = new Set<string>([...Object.keys(TOOLS), ...ESSENTIAL]);
  const unknown: string[] = [];
  const seen = new Set<string>();
  for (const file of testSources()) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(call)) {
      const program = path.basename(m[1]!);
      seen.add(program);
      if (!known.has(program)) unknown.push(`${path.relative(ROOT, file)}: ${program}`);
    }
  }
  assert.deepEqual(unknown, [], 'add a row to TOOLS (test/support/tools.ts) and its package to .ci/run');
  // The scan sees the calls at all (a changed helper name would make it pass vacuously).
  for (const program of ['openssl', 'curl', 'ssh', 'python3']) assert.ok(seen.has(program), program);
});

test('CI runs the README\'s test command with missing tools failing, not skipping', () => {
  const lines = CI_RUN.split('\n').filter((l) => !/^\s*#/.test(l));
  const required = lines.findIndex((l) => /^\s*export ROSPKI_REQUIRE_TOOLS=1\s*$/.test(l));
  const npmTest = lines.findIndex((l) => /\bnpm test\b/.test(l));
  assert.ok(required >= 0, '.ci/run exports ROSPKI_REQUIRE_TOOLS=1');
  assert.ok(npmTest > required, 'before it runs npm test');
  assert.match(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'), /^npm test\b/m, 'the README names npm test');
});
