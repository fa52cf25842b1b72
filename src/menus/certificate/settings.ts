// /certificate settings (spec §4.1): the singleton deciding CRL use and download and which
// services may use the built-in root CAs. Printed as the right-aligned key: value block (list
// values one per line), exported with `/certificate settings export`.
//
// builtin-trust-anchors (7.19/7.20) is an alias: `trusted` sets builtin-trust-store=all,
// `not-trusted` sets builtin-trust-store=untrusted; reading it gives `trusted` unless the
// built-ins are untrusted. It is not printed or exported (7.21+ print it no longer).

import { genericCommands, newRowData, propValue, typeContext } from '../../menu/generic.js';
import { boolType, enumSetType, enumType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, PropType, PropertyDecl } from '../../menu/types.js';
import type { ReadTx, RowData } from '../../store/store.js';
import { TRUST_STORE_COMPONENTS } from './properties.js';

export const SETTINGS_PATH = '/certificate/settings';

/** What `default` means for builtin-trust-store (7.22 current-defaults). */
export const BUILTIN_DEFAULT_COMPONENTS = ['fetch', 'mqtt', 'email', 'netwatch', 'container', 'lora', 'dns', 'www', 'reverse-proxy'] as const;

/** `all`, `default` and `untrusted` stand alone; components combine. */
const builtinStoreType: PropType<string[]> = (() => {
  const set = enumSetType(['all', 'default', 'untrusted', ...TRUST_STORE_COMPONENTS]);
  return {
    ...set,
    parse(v, ctx, name) {
      const parsed = set.parse(v, ctx, name);
      for (const single of ['all', 'untrusted', 'default']) if (parsed.includes(single)) return [single];
      return parsed;
    },
  };
})();

export interface CertificateSettings {
  crlUse: boolean;
  crlDownload: boolean;
  crlStore: 'ram' | 'system';
  builtinTrustStore: string[];
}

const SETTINGS = {
  builtinTrustStore: { name: 'builtin-trust-store', type: builtinStoreType, default: ['default'], help: 'Services that may use the built-in root CAs' } as PropertyDecl<string[]>,
  crlDownload: { name: 'crl-download', type: boolType, default: false, help: 'Download CRLs of trusted certificates' } as PropertyDecl<boolean>,
  crlUse: { name: 'crl-use', type: boolType, default: false, help: 'Check certificates against CRLs' } as PropertyDecl<boolean>,
  crlStore: { name: 'crl-store', type: enumType(['ram', 'system']), default: 'ram', help: 'Where downloaded CRLs are kept' } as PropertyDecl<string>,
};

export function readSettings(tx: ReadTx): CertificateSettings {
  const row = tx.get(SETTINGS_PATH, 1)?.data ?? {};
  return {
    crlUse: propValue(SETTINGS.crlUse, row),
    crlDownload: propValue(SETTINGS.crlDownload, row),
    crlStore: propValue(SETTINGS.crlStore, row) === 'system' ? 'system' : 'ram',
    builtinTrustStore: propValue(SETTINGS.builtinTrustStore, row),
  };
}

/** Whether the built-in roots are trust anchors for a service (`fetch`, `www`, …). */
export function builtinsTrustedFor(settings: CertificateSettings, service: string): boolean {
  const s = settings.builtinTrustStore;
  if (s.includes('all')) return true;
  if (s.includes('untrusted')) return false;
  if (s.includes('default')) return (BUILTIN_DEFAULT_COMPONENTS as readonly string[]).includes(service);
  return s.includes(service);
}

const anchorsOf = (row: RowData): string => (propValue(SETTINGS.builtinTrustStore, row).includes('untrusted') ? 'not-trusted' : 'trusted');

const properties: MenuDecl['properties'] = [
  SETTINGS.builtinTrustStore,
  SETTINGS.crlDownload,
  SETTINGS.crlUse,
  SETTINGS.crlStore,
  { name: 'current-defaults', type: enumSetType([...TRUST_STORE_COMPONENTS]), access: 'ro', detail: 'never', compute: () => [...BUILTIN_DEFAULT_COMPONENTS] },
  { name: 'builtin-trust-anchors', type: enumType(['trusted', 'not-trusted']), access: 'ro', detail: 'never', compute: anchorsOf },
];

const base: MenuDecl = {
  path: SETTINGS_PATH,
  kind: 'singleton',
  help: 'Certificate settings',
  verbs: ['print', 'get', 'export'],
  properties,
};

/** `set`, with builtin-trust-anchors=trusted|not-trusted turned into builtin-trust-store. */
const anchorsArg: ArgDecl<string> = { name: 'builtin-trust-anchors', type: enumType(['trusted', 'not-trusted']), help: 'Alias of builtin-trust-store (7.19/7.20)' };
const genericSet = genericCommands({ ...base, verbs: ['set'] })[0]!;
const setCommand: CommandDecl = {
  ...genericSet,
  args: [...genericSet.args, anchorsArg],
  async run(call) {
    let args = call.args;
    const anchors = args.get(anchorsArg);
    if (anchors !== undefined) {
      args = args.only(args.names().filter((n) => n !== anchorsArg.name));
      if (!args.has('builtin-trust-store')) args = args.with([['builtin-trust-store', anchors === 'trusted' ? ['all'] : ['untrusted']]]);
    }
    return genericSet.run({ ...call, command: genericSet, args });
  },
};

export const settingsMenu: MenuDecl = {
  ...base,
  commands: [setCommand],
  async prepare(env: Environment) {
    // Data directories created before this menu existed have no row yet.
    const missing = await env.store.read((tx) => !tx.get(SETTINGS_PATH, 1));
    if (missing) {
      await env.store.write((tx) => {
        if (!tx.get(SETTINGS_PATH, 1)) tx.insert(SETTINGS_PATH, newRowData(settingsMenu, typeContext(env, tx)));
      });
    }
  },
};
