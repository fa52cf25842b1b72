// design.md "Data flows down": front ends → menus → domain/store, never back, and no cycles
// between folders. Read from the import statements of src/ (type imports count too: they tie
// the code together just the same).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const SRC = path.resolve('src');

/** The layers, lowest first; a module may import its own layer and the ones below. */
const LAYERS: ReadonlyArray<readonly string[]> = [
  ['errors', 'clock', 'version'],
  ['pki'],
  ['acme'],
  ['store'],
  ['trust'],
  ['menu'],
  ['menus'],
  ['console'],
  ['appliance'],
  ['services', 'control'],
  ['cli'],
];

/** `menus/certificate`, `store`, `cli` … the unit a source file belongs to. */
function unitOf(file: string): string {
  const parts = path.relative(SRC, file).split(path.sep);
  if (parts.length === 1) return parts[0]!.replace(/\.ts$/, '');
  return parts[0] === 'menus' && parts.length > 2 ? `menus/${parts[1]}` : parts[0]!;
}

const layerOf = (unit: string): number => LAYERS.findIndex((l) => l.includes(unit.split('/')[0]!));

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sources(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

function imports(): Array<{ from: string; to: string; file: string }> {
  const out: Array<{ from: string; to: string; file: string }> = [];
  for (const file of sources(SRC)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*from '(\.[^']+)'|import\('(\.[^']+)'\)/g)) {
      const target = path.resolve(path.dirname(file), (m[1] ?? m[2])!).replace(/\.js$/, '.ts');
      out.push({ from: unitOf(file), to: unitOf(target), file: path.relative(SRC, file) });
    }
  }
  return out;
}

test('every unit of src/ has a layer', () => {
  for (const file of sources(SRC)) assert.notEqual(layerOf(unitOf(file)), -1, `${path.relative(SRC, file)} (${unitOf(file)}) is in no layer`);
});

test('nothing imports upward', () => {
  const upward = imports().filter((i) => layerOf(i.to) > layerOf(i.from)).map((i) => `${i.file} → ${i.to}`);
  assert.deepEqual(upward, []);
});

test('the domain imports nothing of ours but the base; the store only errors', () => {
  const pki = imports().filter((i) => i.from === 'pki' && i.to !== 'pki').map((i) => `${i.file} → ${i.to}`);
  assert.deepEqual(pki, []);
  // The ACME protocol knows the PKI only: transport, trust and storage are its caller's.
  const acme = imports().filter((i) => i.from === 'acme' && !['acme', 'pki'].includes(i.to)).map((i) => `${i.file} → ${i.to}`);
  assert.deepEqual(acme, []);
  const store = imports().filter((i) => i.from === 'store' && !['store', 'errors'].includes(i.to)).map((i) => `${i.file} → ${i.to}`);
  assert.deepEqual(store, []);
});

test('no import cycles between folders (menus/* included)', () => {
  const edges = new Map<string, Set<string>>();
  for (const i of imports()) if (i.from !== i.to) (edges.get(i.from) ?? edges.set(i.from, new Set()).get(i.from)!).add(i.to);
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (u: string, trail: string[]): void => {
    if (state.get(u) === 'done') return;
    if (state.get(u) === 'open') { cycles.push([...trail.slice(trail.indexOf(u)), u].join(' → ')); return; }
    state.set(u, 'open');
    for (const v of edges.get(u) ?? []) visit(v, [...trail, u]);
    state.set(u, 'done');
  };
  for (const u of edges.keys()) visit(u, []);
  assert.deepEqual(cycles, []);
});
