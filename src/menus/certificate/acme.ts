// /certificate enable-ssl-certificate, add-acme and acme-renew (spec §5, issue 14): certificates
// from an ACME CA (Let's Encrypt by default). Each blocks until its job ends (acme-issue.ts),
// showing `progress:` lines on a terminal and as API/REST monitor records, and fails as a script
// error so `:do {} on-error={}` works. A job outlives a caller that stops waiting (Ctrl-C, API
// /cancel, the REST time limit): its result lands in the row, in acme-status and in /log.

import { argumentError, failure, noSuchItem } from '../../errors.js';
import { propValue, resolveItems, typeContext } from '../../menu/generic.js';
import { boolType, itemsType, presenceType, stringListType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandCall, CommandDecl, CommandResult, Environment } from '../../menu/types.js';
import { ItemId, RosArray, type Value } from '../../menu/values.js';
import { decodeBase64Any } from '../../acme/index.js';
import { ACME, ACME_KIND, acmeKind } from './acme-state.js';
import {
  EAB_BLOB, LETS_ENCRYPT_DIRECTORY, rowJob, sealEab, sslJob, waitForJob, type Eab,
} from './acme-issue.js';
import { CERT, CERT_PATH } from './properties.js';

/** /ip cloud, read through the registry: menus/ip refers to this folder, never the other way round. */
const CLOUD_PATH = '/ip/cloud';

const bare = { ...stringType, quoted: false };

const dnsNameArg: ArgDecl<string> = { name: 'dns-name', type: bare, help: 'Name for the certificate (default: /ip cloud dns-name)' };
const directoryArg: ArgDecl<string> = { name: 'directory-url', type: bare, help: `ACME directory (default Let's Encrypt, ${LETS_ENCRYPT_DIRECTORY})` };
const eabKidArg: ArgDecl<string> = { name: 'eab-kid', type: bare, help: 'External account binding: key id from the CA' };
const eabHmacArg: ArgDecl<string> = { name: 'eab-hmac-key', type: stringType, sensitive: true, help: 'External account binding: MAC key from the CA (base64url)' };
const eabB64Arg: ArgDecl<string> = { name: 'eab-key-b64', type: stringType, sensitive: true, help: 'External account binding: MAC key from the CA (base64)' };
const resetArg: ArgDecl<boolean> = { name: 'reset-private-key', type: boolType, help: 'A new certificate key and a new ACME account' };
const asValueArg: ArgDecl<boolean> = { name: 'as-value', type: presenceType, flagOnly: true };

// ---------------------------------------------------------------------------------------------
// Checks shared by the commands

/** RFC 1035 §2.3.1 host names (letters, digits, hyphens; 63 per label, 253 in all), an optional leading `*.`. */
export function checkDomainName(text: string, arg: string): string {
  const name = text.trim().toLowerCase().replace(/\.$/, '');
  const labels = (name.startsWith('*.') ? name.slice(2) : name).split('.');
  const ok = name.length > 0 && name.length <= 253 && labels.length >= 2
    && labels.every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l)) && !/^[0-9.]+$/.test(name);
  if (!ok) throw failure(`invalid ${arg} "${text}": expected a DNS name like router.example.com`);
  return name;
}

/** RFC 8555 §6.1: the directory is an https URL. */
function checkDirectory(text: string | undefined): string {
  const url = text ?? LETS_ENCRYPT_DIRECTORY;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw failure(`invalid directory-url "${url}": expected an https:// URL`);
  }
  if (parsed.protocol !== 'https:') throw failure(`invalid directory-url "${url}": ACME is spoken over https only (RFC 8555 §6.1)`);
  return parsed.toString();
}

/** eab-kid with eab-hmac-key (or eab-key-b64), both or neither. */
function eabOf(call: CommandCall): Eab | undefined {
  const kid = call.args.get(eabKidArg);
  const keyText = call.args.get(eabHmacArg) ?? call.args.get(eabB64Arg);
  if ((kid === undefined || kid === '') && (keyText === undefined || keyText === '')) return undefined;
  if (!kid || !keyText) throw failure('external account binding needs both eab-kid= and eab-hmac-key=');
  const macKey = decodeBase64Any(keyText);
  if (!macKey || macKey.length < 16) throw failure('invalid eab-hmac-key: expected the base64url MAC key the CA gave');
  return { kid, macKey };
}

/** `[/ip cloud get dns-name]`, when DDNS gives one (the cloud menu's own declaration computes it). */
async function cloudDnsName(env: Environment): Promise<string | undefined> {
  const menu = env.registry.menu(CLOUD_PATH);
  const prop = menu?.properties.find((p) => p.name === 'dns-name');
  if (!menu || !prop?.compute) return undefined;
  await menu.prepare?.(env);
  return env.store.read((tx) => {
    const row = tx.get(CLOUD_PATH, 1);
    const v = row ? prop.compute!(row.data, typeContext(env, tx)) : undefined;
    return typeof v === 'string' && v !== '' ? v : undefined;
  });
}

const progressBlock = (text: string): Array<[string, Value]> => [['progress', text]];

/** The final line: a block on the console, the value of `[…]` and of as-value, a record over the API. */
function finished(call: CommandCall, text: string): CommandResult {
  const block = progressBlock(text);
  if (call.args.flag(asValueArg)) return { ret: RosArray.fromRecord(block) };
  return { block, ret: RosArray.fromRecord(block) };
}

// ---------------------------------------------------------------------------------------------
// enable-ssl-certificate

export const enableSslCertificateCommand: CommandDecl = {
  name: 'enable-ssl-certificate',
  help: 'Get a certificate for www-ssl from an ACME CA (Let\'s Encrypt) and keep it renewed',
  policy: 'write',
  monitor: true,
  args: [dnsNameArg, directoryArg, eabKidArg, eabHmacArg, resetArg, asValueArg],
  async run(call) {
    const { env, args } = call;
    const given = args.get(dnsNameArg);
    let name: string;
    if (given !== undefined && given !== '') name = checkDomainName(given, 'dns-name');
    else {
      const cloud = await cloudDnsName(env);
      if (!cloud) throw failure('no dns-name given and /ip cloud has none: give dns-name=, or /ip cloud set ddns-enabled=yes');
      name = cloud;
    }
    const directoryUrl = checkDirectory(args.get(directoryArg));
    const eab = eabOf(call);
    const reset = args.get(resetArg) === true;
    // The certificate this command keeps for the name is renewed in place (spec §5.1), unless
    // reset-private-key asks for a new one.
    const rowId = reset ? undefined : await env.store.read((tx) => tx.findBy(CERT_PATH, ACME_KIND, 'ssl')
      .find((r) => sameNames(r.data[ACME.domainNames], [name]))?.id);
    const job = sslJob(env, { kind: 'ssl', rowId, names: [name], directoryUrl, eab, reset });
    await waitForJob(job, call.session);
    return finished(call, '[success] ssl certificate updated');
  },
};

const sameNames = (stored: unknown, names: readonly string[]): boolean =>
  Array.isArray(stored) && stored.length === names.length && names.every((n) => stored.includes(n));

// ---------------------------------------------------------------------------------------------
// add-acme

const nameArg: ArgDecl<string> = { name: 'name', type: stringType, help: 'Certificate name (default: the first domain name)' };
const domainNamesArg: ArgDecl<string[]> = { name: 'domain-names', type: stringListType, required: true, help: 'Names for the certificate (a leading *. for a wildcard, where the CA allows it)' };

export const addAcmeCommand: CommandDecl = {
  name: 'add-acme',
  help: 'Add an ACME client: a certificate for the domain names, kept renewed',
  policy: 'write',
  args: [nameArg, domainNamesArg, directoryArg, eabKidArg, eabB64Arg, eabHmacArg],
  async run(call) {
    const { env, args, session } = call;
    const names = [...new Set((args.get(domainNamesArg) ?? []).map((n) => checkDomainName(n, 'domain-names')))];
    if (names.length === 0) throw argumentError('missing =domain-names=');
    if (names.length > 100) throw failure('at most 100 domain names per certificate');
    const name = args.get(nameArg) ?? names[0]!;
    if (name === '') throw failure('name must not be empty');
    const directoryUrl = checkDirectory(args.get(directoryArg));
    const eab = eabOf(call);
    const id = await env.store.write((tx) => {
      if (tx.findBy(CERT_PATH, 'name', name).length > 0) throw failure('already have such entry');
      // Until its first certificate the row is what it will be (common name, names, key size).
      const rowId = tx.insert(CERT_PATH, {
        name, 'trust-store': propValue(CERT.trustStore, {}), trusted: false, 'private-key': false,
        'common-name': names[0]!.length <= 64 ? names[0] : '', 'subject-alt-name': names.map((n) => `DNS:${n}`).join(','),
        'key-size': 'prime256v1', [ACME_KIND]: 'client', [ACME.domainNames]: names, [ACME.directoryUrl]: directoryUrl, [ACME.status]: 'pending',
      });
      if (eab) tx.setBlob(CERT_PATH, rowId, EAB_BLOB, sealEab(env, eab));
      env.log(tx, 'acme,info', `certificate ${name}: ACME client for ${names.join(', ')} added by ${session.user}`);
      return rowId;
    });
    await waitForJob(rowJob(env, id), session);
    return { ret: new ItemId(id) };
  },
};

// ---------------------------------------------------------------------------------------------
// acme-renew

const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'ACME certificates to renew now' };

export const acmeRenewCommand: CommandDecl = {
  name: 'acme-renew',
  help: 'Renew ACME certificates now',
  policy: 'write',
  monitor: true,
  args: [numbersArg, asValueArg],
  async run(call) {
    const { env, session, menu } = call;
    const ids = await env.store.read((tx) => {
      const found = resolveItems(menu, call.args.get(numbersArg), session, tx);
      if (found.length === 0) throw noSuchItem();
      for (const id of found) {
        const row = tx.get(CERT_PATH, id)!;
        if (!acmeKind(row.data)) throw failure(`certificate ${String(row.data.name)} is not managed by ACME`);
      }
      return found;
    });
    for (const id of ids) await waitForJob(rowJob(env, id), session);
    return finished(call, `[success] ${ids.length === 1 ? 'certificate' : `${ids.length} certificates`} renewed`);
  },
};

export const ACME_COMMANDS: readonly CommandDecl[] = [enableSslCertificateCommand, addAcmeCommand, acmeRenewCommand];
