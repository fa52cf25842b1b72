// Builds dist/ for the `rospki` command: one ES module bundle of src/ with a chunk per lazily
// loaded part (services, ssh, fetch), packages left in node_modules. A bundle starts faster than
// ~80 separate modules (cold `rospki -e` is measured by `npm run bench`); type checking is
// `npm run typecheck`, part of `npm test`.
import { build } from 'esbuild';
import fs from 'node:fs';

fs.rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: ['src/cli.ts'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  outdir: 'dist',
  logLevel: 'warning',
});
