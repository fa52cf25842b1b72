// The real-world corpus under test/fixtures/pki: one row per file in its README.md table (the
// one declaration of each file's expected outcome, password and source).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kind } from './fuzz-facts.js';

export const FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/pki');

/**
 * ok: both rospki and OpenSSL read it, with the same facts. reject: both refuse it.
 * stricter: rospki refuses what OpenSSL reads (the README and docs/compatibility.md say why).
 * limit: rospki refuses it by a resource limit; OpenSSL, which has none, is not asked.
 */
export type Expect = 'ok' | 'reject' | 'stricter' | 'limit';

export interface Fixture {
  file: string;
  path: string;
  kind: Kind;
  expect: Expect;
  /** undefined: none given; '' the empty password. */
  password?: string;
  data: Buffer;
}

const KIND_BY_EXT: Record<string, Kind> = { '.crt': 'cert', '.crl': 'crl', '.csr': 'csr', '.key': 'key', '.p12': 'p12', '.p7s': 'p7s', '.p7m': 'p7m' };

/** The recipient every `.p7m` of the corpus is encrypted for (a SCEP CA: its certificate and key). */
export const CMS_RECIPIENT = { certificate: path.join(FIXTURES_DIR, 'ok-scep-ca.crt'), key: path.join(FIXTURES_DIR, 'ok-scep-ca.key') };

/** The rows of the README table: `| file | expect | password | source | licence | about |`. */
export function loadFixtures(): Fixture[] {
  const readme = fs.readFileSync(path.join(FIXTURES_DIR, 'README.md'), 'utf8');
  const out: Fixture[] = [];
  for (const line of readme.split('\n')) {
    const m = /^\| `([^`]+)` \| (ok|reject|stricter|limit) \| ([^|]*) \|/.exec(line);
    if (!m) continue;
    const file = m[1]!;
    const kind = KIND_BY_EXT[path.extname(file)];
    if (!kind) throw new Error(`${file}: no kind for its extension`);
    if (!file.startsWith(`${m[2]}-`)) throw new Error(`${file}: the name must start with its expected outcome ${m[2]}-`);
    const pw = m[3]!.trim();
    const password = pw === '' ? undefined : pw === '(empty)' ? '' : pw.replace(/^`|`$/g, '');
    out.push({ file, path: path.join(FIXTURES_DIR, file), kind, expect: m[2] as Expect, password, data: fs.readFileSync(path.join(FIXTURES_DIR, file)) });
  }
  return out;
}
