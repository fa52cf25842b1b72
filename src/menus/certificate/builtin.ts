// /certificate builtin (spec §4.4): the built-in root CAs, read-only (print, find, get). The
// roots are Node's bundled Mozilla set (rootCertificates()). They are mirrored into the store
// the first time the menu is used in a process (so print/where/REST/API work as for any list),
// and parsed once per process for the trust engine.

import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';

/** Node's bundled Mozilla roots; node:tls is loaded only when the built-ins are needed. */
const rootCertificates = (): readonly string[] => (createRequire(import.meta.url)('node:tls') as typeof import('node:tls')).rootCertificates;
import { boolType, dateType, enumSetType, intType, stringType } from '../../menu/proptypes.js';
import type { Environment, MenuDecl, PropType, PropertyDecl } from '../../menu/types.js';
import type { RowData, Store } from '../../store/store.js';
import { KEY_USAGE_NAMES, parseCertificate, pemDecode, type CertInfo } from '../../pki/index.js';
import { certificateFacts } from './facts.js';

export const BUILTIN_PATH = '/certificate/builtin';

const bare: PropType<string> = { ...stringType, quoted: false };

let parsed: CertInfo[] | undefined;

/** The built-in roots, parsed once per process (~150 certificates, a few milliseconds). */
export function builtinRoots(): readonly CertInfo[] {
  if (!parsed) {
    parsed = [];
    for (const pem of rootCertificates()) {
      try {
        for (const block of pemDecode(pem)) parsed.push(parseCertificate(block.der));
      } catch {
        // A root we cannot read is simply not offered.
      }
    }
  }
  return parsed;
}

/** Fingerprint of the whole set: the store copy is rebuilt when Node's roots change. */
function setFingerprint(): string {
  return createHash('sha256').update(rootCertificates().join('')).digest('hex');
}

// Facts of a root: absent where the certificate lacks them, never empty (clients.md #11).
const roText = (name: string, type: PropType<any> = bare, extra: Partial<PropertyDecl> = {}): PropertyDecl => ({
  name, type, access: 'ro', absentWhenEmpty: extra.detail !== 'always', ...extra,
});

const properties: PropertyDecl[] = [
  roText('common-name', stringType),
  roText('organization', stringType),
  roText('unit', stringType),
  roText('locality', stringType),
  roText('state', stringType),
  roText('country', stringType),
  roText('subject-alt-name', bare),
  roText('key-size', bare),
  roText('key-usage', enumSetType(KEY_USAGE_NAMES)),
  roText('days-valid', intType(0, 1_000_000)),
  roText('issuer', bare),
  roText('key-type', bare),
  roText('invalid-before', dateType),
  roText('invalid-after', dateType),
  roText('serial-number', stringType),
  roText('akid', bare, { detail: 'always' }),
  roText('skid', bare),
  roText('fingerprint', stringType),
  {
    name: 'expired', type: boolType, access: 'ro', detail: 'never', flag: { letter: 'E' },
    compute: (row, ctx) => typeof row['invalid-after'] === 'number' && ctx.clock.now() > row['invalid-after'],
  },
];

function rowOf(info: CertInfo): RowData {
  const f = certificateFacts(info);
  const row: RowData = {};
  for (const p of properties) if (!p.compute && f[p.name] !== undefined) row[p.name] = f[p.name];
  return row;
}

const SET_KEY = '.set';
const synced = new WeakSet<Store>();

async function syncBuiltins(env: Environment): Promise<void> {
  if (synced.has(env.store)) return;
  const want = setFingerprint();
  const current = await env.store.read((tx) => tx.list(BUILTIN_PATH));
  if (current.length === 0 || current[0]!.data[SET_KEY] !== want) {
    const rows = builtinRoots().map(rowOf);
    await env.store.write((tx) => {
      const now = tx.list(BUILTIN_PATH);
      if (now.length > 0 && now[0]!.data[SET_KEY] === want) return;
      for (const r of now) tx.remove(BUILTIN_PATH, r.id);
      for (const r of rows) tx.insert(BUILTIN_PATH, { ...r, [SET_KEY]: want });
    });
  }
  synced.add(env.store);
}

export const builtinMenu: MenuDecl = {
  path: BUILTIN_PATH,
  kind: 'list',
  help: 'Built-in root certificate authorities',
  key: 'common-name',
  verbs: ['print', 'get', 'find'],
  properties,
  columns: ['common-name', 'organization', 'invalid-after', 'skid'],
  prepare: syncBuiltins,
};
