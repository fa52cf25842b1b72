// /certificate export-certificate <items> [type=pem|pkcs12] [export-passphrase=] [file-name=]
// [pkcs12-format=modern|legacy] (spec §1.8, clients.md "below the top 25").
//
//  * pem: `<file-name>.crt` (the certificate), plus `<file-name>.key` — encrypted PKCS#8,
//    PBES2 with AES-256-CBC — only when a passphrase is given and the certificate has a key.
//  * pkcs12: `<file-name>.p12` with the certificate and its chain as far as this store knows it,
//    and the key only with a passphrase. modern = PBES2/AES-256 + HMAC-SHA256 (OpenSSL 3's
//    default); legacy = SHA-1/3DES (macOS, Windows, older OpenSSL, RouterOS itself).
// Exporting a key needs the `sensitive` policy; templates are refused.

import { failure, notEnoughPermissions } from '../../errors.js';
import { resolveItems } from '../../menu/generic.js';
import { enumType, itemsType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl } from '../../menu/types.js';
import type { Value } from '../../menu/values.js';
import type { ReadTx, StoredRow } from '../../store/store.js';
import { importPkcs8Der, pemEncode } from '../../pki/index.js';
import { buildPkcs12, type Pkcs12Format } from '../../pki/pkcs12.js';
import { NO_KEY_EXPORT } from './import.js';
import { certificateDer, KEY_BLOB } from './keys.js';
import { CERT_PATH, isTemplate } from './properties.js';

/** The certificates above `row` as far as the store knows them: local CA links, else AKID → SKID. */
export function chainOf(tx: ReadTx, row: StoredRow): Buffer[] {
  const chain: Buffer[] = [];
  const visited = new Set<number>([row.id]);
  let at = row;
  for (let depth = 0; depth < 16; depth++) {
    let next: StoredRow | undefined;
    if (typeof at.data.ca === 'number' && at.data.ca !== 0) next = tx.get(CERT_PATH, at.data.ca);
    const akid = at.data.akid;
    if (!next && typeof akid === 'string' && akid !== '' && akid !== at.data.skid) {
      next = tx.findBy(CERT_PATH, 'skid', akid).find((r) => !visited.has(r.id) && r.data.fingerprint !== undefined);
    }
    if (!next || visited.has(next.id)) break;
    const der = certificateDer(tx, next.id);
    if (!der) break;
    chain.push(der);
    visited.add(next.id);
    at = next;
  }
  return chain;
}

interface ExportJob {
  name: string;
  base: string;
  der: Buffer;
  chain: Buffer[];
  sealedKey?: Buffer;
  keyRefused: boolean;
}

const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'Certificates to export' };
const typeArg: ArgDecl<string> = { name: 'type', type: enumType(['pem', 'pkcs12']), help: 'pem (default): .crt and .key; pkcs12: .p12' };
const passphraseArg: ArgDecl<string> = { name: 'export-passphrase', type: stringType, sensitive: true, help: 'Encrypts the exported key; without it no key is exported' };
const fileNameArg: ArgDecl<string> = { name: 'file-name', type: stringType, help: 'File name without extension (default cert_export_<name>)' };
const formatArg: ArgDecl<string> = { name: 'pkcs12-format', type: enumType(['modern', 'legacy']), help: 'modern (AES-256, SHA-256 MAC) or legacy (3DES, SHA-1 MAC)' };

export const exportCertificateCommand: CommandDecl = {
  name: 'export-certificate',
  help: 'Write certificates (and, with a passphrase, their keys) to files in /file',
  policy: 'write',
  args: [numbersArg, typeArg, passphraseArg, fileNameArg, formatArg],
  async run(call) {
    const { env, session, args } = call;
    const type = args.get(typeArg) ?? 'pem';
    const format = (args.get(formatArg) ?? 'modern') as Pkcs12Format;
    const passphrase = args.get(passphraseArg) ?? '';
    const fileName = args.get(fileNameArg);
    if (fileName === '') throw failure('file-name must not be empty');
    const jobs = await env.store.read((tx) => {
      const ids = resolveItems(call.menu, args.get(numbersArg), session, tx);
      return ids.map((id): ExportJob => {
        const row = tx.get(CERT_PATH, id)!;
        if (isTemplate(row.data)) throw failure('Templates are not exportable!');
        const name = String(row.data.name);
        const der = certificateDer(tx, id);
        if (!der) throw failure(`certificate ${name} has no certificate data`);
        const wantsKey = passphrase !== '' && row.data['private-key'] === true;
        const keyRefused = wantsKey && row.data[NO_KEY_EXPORT] === true;
        const base = fileName === undefined ? `cert_export_${name}` : ids.length > 1 ? `${fileName}_${name}` : fileName;
        return {
          name, base, der, keyRefused,
          chain: type === 'pkcs12' ? chainOf(tx, row) : [],
          sealedKey: wantsKey && !keyRefused ? tx.getBlob(CERT_PATH, id, KEY_BLOB) : undefined,
        };
      });
    });
    if (jobs.some((j) => j.sealedKey) && !call.policies.has('sensitive')) throw notEnoughPermissions();
    // Check every target name before writing anything.
    for (const j of jobs) env.files.check(`${j.base}.${type === 'pem' ? 'crt' : 'p12'}`);
    const now = env.clock.now();
    const written: string[] = [];
    const messages: string[] = [];
    for (const j of jobs) {
      const pkcs8 = j.sealedKey ? env.store.unseal(j.sealedKey) : undefined;
      if (j.keyRefused) messages.push(`warning: the private key of ${j.name} was imported with no-key-export=yes and is not exported`);
      if (type === 'pem') {
        written.push(await env.files.write(`${j.base}.crt`, pemEncode('CERTIFICATE', j.der), now));
        if (pkcs8) {
          const pem = importPkcs8Der(pkcs8).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase });
          written.push(await env.files.write(`${j.base}.key`, pem, now));
        }
      } else {
        const p12 = buildPkcs12({
          certificates: [j.der, ...j.chain], privateKey: pkcs8, password: passphrase, format, friendlyName: j.name,
        });
        written.push(await env.files.write(`${j.base}.p12`, p12, now));
      }
    }
    await env.store.write((tx) => {
      for (const j of jobs) {
        env.log(tx, 'certificate,info', `certificate ${j.name} exported${j.sealedKey ? ' with its private key' : ''} to ${written.filter((w) => w.startsWith(j.base)).join(', ')} by ${session.user}`);
      }
    });
    return messages.length ? { messages, files: written } : { files: written };
  },
};
