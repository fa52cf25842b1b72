// /certificate import file-name= [passphrase=] [name=] [trusted=] [trust-store=] [no-key-export=]
// (spec §1.7, §3.6 rule 11, clients.md #1, #2, #6, #22, #25).
//
// All parsing and decryption happen first, outside the store; then one write transaction adds
// the certificates and attaches the keys, so an import is never half done. Certificates already
// present (same fingerprint) are not added again, and a key for a certificate that already has
// it changes nothing: importing the same file twice is harmless. The file stays in /file
// (RouterOS ≤ 7.15.2; see docs/compatibility.md).

import type { KeyObject } from 'node:crypto';
import { failure, RosError } from '../../errors.js';
import { boolType, presenceType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandCall, CommandDecl, CommandResult } from '../../menu/types.js';
import { RosArray, type Value } from '../../menu/values.js';
import type { RowData, WriteTx } from '../../store/store.js';
import {
  computeSkid, der as derCodec, exportPkcs8Der, exportSpkiDer, importPkcs8Der, importPrivateKey, isPem, parseCertificate,
  pemDecode, PkiError, type CertInfo,
} from '../../pki/index.js';
import { decryptPrivateKeyInfoAsync, isPkcs12PasswordError, looksLikePkcs12, parsePkcs12Async } from '../../pki/pkcs12.js';
import { certificateFacts } from './facts.js';
import { DER_BLOB, storeKey } from './keys.js';
import { CERT, CERT_PATH } from './properties.js';

/** Row field (not a property) marking a key imported with no-key-export=yes. */
export const NO_KEY_EXPORT = '.no-key-export';

/** The summary keys, in RouterOS order (spec §1.7, §3.6 rule 11). */
export const IMPORT_SUMMARY_KEYS = [
  'certificates-imported', 'private-keys-imported', 'files-imported', 'decryption-failures', 'keys-with-no-certificate',
] as const;

export interface ParsedKey {
  /** Unencrypted PKCS#8. */
  pkcs8: Buffer;
  /** SubjectPublicKeyInfo DER of the key. */
  spki: Buffer;
}

export interface ParsedImport {
  certificates: CertInfo[];
  keys: ParsedKey[];
  decryptionFailures: number;
}

const readTlvSafe = derCodec.readTlv;

const corrupt = (file: string, why: string) => failure(`unable to import ${file}: ${why}`);

function keyFacts(key: KeyObject): ParsedKey {
  return { pkcs8: exportPkcs8Der(key), spki: exportSpkiDer(key) };
}

const KEY_LABELS = new Set(['PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'DSA PRIVATE KEY']);
const CERT_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE']);

/** A certificate from DER that may carry trailing data (OpenSSL's TRUSTED CERTIFICATE aux). */
function certificateFrom(der: Buffer): CertInfo {
  const t = readTlvSafe(der);
  return parseCertificate(Buffer.from(der.subarray(0, t.end)));
}

/**
 * An encrypted PKCS#8 key: decrypted with its key derivation on the worker thread and under the
 * PKCS#12 iteration limits (issue 11: a hostile key file must not freeze the daemon). undefined
 * for a wrong passphrase (a decryption failure, as RouterOS counts it).
 */
async function decryptKey(der: Buffer, passphrase: string): Promise<KeyObject | undefined> {
  try {
    return importPkcs8Der(await decryptPrivateKeyInfoAsync(der, passphrase));
  } catch (e) {
    if (isPkcs12PasswordError(e)) return undefined;
    throw e;
  }
}

/** Whether a DER blob is an EncryptedPrivateKeyInfo (RFC 5958 §3): SEQUENCE { AlgId, OCTET STRING }. */
function looksLikeEncryptedKey(der: Buffer): boolean {
  try {
    const outer = readTlvSafe(der);
    if (outer.tag !== 0x30 || outer.end !== der.length) return false;
    const alg = readTlvSafe(der, outer.contentStart, outer.end);
    if (alg.tag !== 0x30) return false;
    const oidT = readTlvSafe(der, alg.contentStart, alg.end);
    if (oidT.tag !== 0x06) return false;
    const data = readTlvSafe(der, alg.end, outer.end);
    return data.tag === 0x04 && data.end === outer.end;
  } catch {
    return false;
  }
}

/**
 * Everything a file holds: PEM (any number of certificate and key blocks), a DER certificate,
 * a PKCS#12 bundle or a DER key. A wrong passphrase counts as a decryption failure; anything
 * unreadable throws a failure naming the file and the reason.
 */
export async function parseImportFile(file: string, data: Buffer, passphrase: string): Promise<ParsedImport> {
  const out: ParsedImport = { certificates: [], keys: [], decryptionFailures: 0 };
  try {
    if (isPem(data)) {
      let blocks;
      try {
        blocks = pemDecode(data);
      } catch (e) {
        throw corrupt(file, (e as Error).message);
      }
      for (const b of blocks) {
        if (CERT_LABELS.has(b.label)) {
          out.certificates.push(certificateFrom(b.der));
        } else if (KEY_LABELS.has(b.label)) {
          if (b.label === 'ENCRYPTED PRIVATE KEY') {
            const key = await decryptKey(b.der, passphrase);
            if (key) out.keys.push(keyFacts(key)); else out.decryptionFailures++;
            continue;
          }
          // Traditional PEM encryption (DEK-Info) derives its key with one MD5 round: cheap.
          const encrypted = /ENCRYPTED/.test(b.headers['Proc-Type'] ?? '');
          let key: KeyObject;
          try {
            key = importPrivateKey(b.text, passphrase);
          } catch (e) {
            if (encrypted) { out.decryptionFailures++; continue; }
            throw corrupt(file, `${b.label.toLowerCase()} block: ${(e as Error).message}`);
          }
          out.keys.push(keyFacts(key));
        }
        // CERTIFICATE REQUEST, X509 CRL, PUBLIC KEY, parameters: nothing to import
      }
      if (out.certificates.length === 0 && out.keys.length === 0 && out.decryptionFailures === 0) {
        throw corrupt(file, 'no certificates or private keys found');
      }
      return out;
    }
    if (data.length === 0) throw corrupt(file, 'the file is empty');
    let t;
    try {
      t = readTlvSafe(data);
    } catch (e) {
      throw corrupt(file, `not PEM, and not DER (${(e as Error).message}); truncated or corrupt?`);
    }
    if (t.end !== data.length) throw corrupt(file, 'trailing data after the DER structure');
    if (looksLikePkcs12(data)) {
      let p12;
      try {
        p12 = await parsePkcs12Async(data, passphrase);
      } catch (e) {
        // Without a passphrase RouterOS reports all zeros, with a wrong one a decryption failure
        // (spec §3.6 rule 11; issue 12; clients.md: check-certificates tries passphrases until
        // decryption-failures is 0).
        if (isPkcs12PasswordError(e)) { out.decryptionFailures = passphrase === '' ? 0 : 1; return out; }
        throw corrupt(file, (e as Error).message);
      }
      const leafIds = new Set(p12.keys.map((k) => k.localKeyId?.toString('hex')).filter((x) => x !== undefined));
      // The certificate that belongs to a key comes first (named _0), the chain after it.
      const ordered = [...p12.certificates].sort((a, b) =>
        Number(leafIds.has(b.localKeyId?.toString('hex') ?? '-')) - Number(leafIds.has(a.localKeyId?.toString('hex') ?? '-')));
      for (const c of ordered) out.certificates.push(parseCertificate(c.der));
      for (const k of p12.keys) {
        try {
          out.keys.push(keyFacts(importPkcs8Der(k.pkcs8)));
        } catch (e) {
          throw corrupt(file, `private key: ${(e as Error).message}`);
        }
      }
      return out;
    }
    let cert: CertInfo | undefined;
    try {
      cert = parseCertificate(data);
    } catch {
      cert = undefined;
    }
    if (cert) { out.certificates.push(cert); return out; }
    if (looksLikeEncryptedKey(data)) {
      const key = await decryptKey(data, passphrase);
      if (key) out.keys.push(keyFacts(key)); else out.decryptionFailures++;
      return out;
    }
    try {
      out.keys.push(keyFacts(importPrivateKey(data, passphrase)));
    } catch {
      if (looksLikeEncryptedKey(data)) { out.decryptionFailures++; return out; }
      throw corrupt(file, 'not a certificate, private key or PKCS#12 bundle (DER)');
    }
    return out;
  } catch (e) {
    if (e instanceof RosError) throw e;
    if (e instanceof PkiError) throw corrupt(file, e.message);
    throw corrupt(file, (e as Error).message ?? String(e));
  }
}

export interface ImportOptions {
  file: string;
  name?: string;
  trusted?: boolean;
  trustStore?: string[];
  noKeyExport?: boolean;
}

export interface ImportCounts {
  certificates: number;
  keys: number;
  files: number;
  decryptionFailures: number;
  keysWithoutCertificate: number;
}

/** `<file>_<n>` or `<name>` / `<name>_<n>`, moved on to the next free number when taken. */
function allocateName(tx: WriteTx, opts: ImportOptions, index: number): string {
  const stem = opts.name ?? opts.file;
  let n = index;
  let candidate = opts.name !== undefined && index === 0 ? opts.name : `${stem}_${n}`;
  while (tx.findBy(CERT_PATH, 'name', candidate).length > 0) candidate = `${stem}_${++n}`;
  return candidate;
}

/** Row id of a stored certificate whose public key is `spki`. */
function certificateForKey(tx: WriteTx, spki: Buffer): number | undefined {
  const matches = (id: number): boolean => {
    const der = tx.getBlob(CERT_PATH, id, DER_BLOB);
    if (!der) return false;
    try {
      return parseCertificate(der).publicKey.equals(spki);
    } catch {
      return false;
    }
  };
  // Fast path: the usual SKID (RFC 5280 method 1) of the key.
  const skid = computeSkid(spki).toString('hex').toUpperCase();
  for (const r of tx.findBy(CERT_PATH, 'skid', skid)) if (matches(r.id)) return r.id;
  for (const r of tx.list(CERT_PATH)) {
    if (r.data.fingerprint !== undefined && r.data.skid !== skid && matches(r.id)) return r.id;
  }
  return undefined;
}

/** Adds what was parsed, inside the caller's transaction. */
export function applyImport(call: Pick<CommandCall, 'env' | 'session'>, tx: WriteTx, parsed: ParsedImport, opts: ImportOptions): ImportCounts {
  const { env } = call;
  const counts: ImportCounts = { certificates: 0, keys: 0, files: 0, decryptionFailures: parsed.decryptionFailures, keysWithoutCertificate: 0 };
  const seen = new Set<string>();
  let index = 0;
  for (const info of parsed.certificates) {
    if (seen.has(info.fingerprint)) continue;
    seen.add(info.fingerprint);
    const existing = tx.findBy(CERT_PATH, 'fingerprint', info.fingerprint)[0];
    if (existing) {
      const data: RowData = { ...existing.data };
      if (opts.trusted !== undefined) data.trusted = opts.trusted;
      if (opts.trustStore !== undefined) data['trust-store'] = opts.trustStore;
      if (opts.trusted !== undefined || opts.trustStore !== undefined) tx.update(CERT_PATH, existing.id, data);
    } else {
      const name = allocateName(tx, opts, index);
      const id = tx.insert(CERT_PATH, {
        name, 'trust-store': opts.trustStore ?? CERT.trustStore.default, ...certificateFacts(info),
        trusted: opts.trusted ?? true, 'private-key': false,
      });
      tx.setBlob(CERT_PATH, id, DER_BLOB, info.der);
      env.log(tx, 'certificate,info', `certificate ${name} imported from ${opts.file} by ${call.session.user}`);
    }
    counts.certificates++;
    index++;
  }
  const seenKeys = new Set<string>();
  for (const key of parsed.keys) {
    const k = key.spki.toString('base64');
    if (seenKeys.has(k)) continue;
    seenKeys.add(k);
    const id = certificateForKey(tx, key.spki);
    if (id === undefined) { counts.keysWithoutCertificate++; continue; }
    const row = tx.get(CERT_PATH, id)!;
    storeKey(env.store, tx, id, key.pkcs8);
    const data: RowData = { ...row.data, 'private-key': true };
    if (opts.noKeyExport) data[NO_KEY_EXPORT] = true;
    tx.update(CERT_PATH, id, data);
    if (row.data['private-key'] !== true) {
      env.log(tx, 'certificate,info', `private key of ${String(row.data.name)} imported from ${opts.file} by ${call.session.user}`);
    }
    counts.keys++;
  }
  counts.files = counts.certificates + counts.keys > 0 ? 1 : 0;
  return counts;
}

export function summary(counts: ImportCounts): Array<[string, Value]> {
  return [
    ['certificates-imported', counts.certificates],
    ['private-keys-imported', counts.keys],
    ['files-imported', counts.files],
    ['decryption-failures', counts.decryptionFailures],
    ['keys-with-no-certificate', counts.keysWithoutCertificate],
  ];
}


const fileNameArg: ArgDecl<string> = { name: 'file-name', type: stringType, required: true, help: 'File in /file' };
const passphraseArg: ArgDecl<string> = { name: 'passphrase', type: stringType, sensitive: true, help: 'Passphrase of the keys or the PKCS#12 bundle' };
const nameArg: ArgDecl<string> = { name: 'name', type: stringType, help: 'Name of the first certificate; the others get name_1, name_2, …' };
const trustedArg: ArgDecl<boolean> = { name: 'trusted', type: boolType, help: 'Trust the imported certificates (default yes)' };
const trustStoreArg: ArgDecl<string[]> = { name: 'trust-store', type: CERT.trustStore.type, help: 'Services that may use them as trust anchors' };
const noKeyExportArg: ArgDecl<boolean> = { name: 'no-key-export', type: boolType, help: 'The imported keys can never be exported' };
const asValueArg: ArgDecl<boolean> = { name: 'as-value', type: presenceType, flagOnly: true };

export const importCommand: CommandDecl = {
  name: 'import',
  help: 'Import certificates and keys from a PEM, DER or PKCS#12 file in /file',
  policy: 'write',
  args: [fileNameArg, passphraseArg, nameArg, trustedArg, trustStoreArg, noKeyExportArg, asValueArg],
  async run(call): Promise<CommandResult> {
    const { env, session, args } = call;
    const file = await env.files.match(args.get(fileNameArg)!);
    const data = await env.files.read(file);
    let passphrase = args.get(passphraseArg);
    if (passphrase === undefined) passphrase = session.prompt ? await session.prompt('passphrase: ', true) : '';
    const opts: ImportOptions = {
      file, name: args.get(nameArg), trusted: args.get(trustedArg), trustStore: args.get(trustStoreArg), noKeyExport: args.get(noKeyExportArg),
    };
    if (opts.name === '') throw failure('name must not be empty');
    const parsed = await parseImportFile(file, data, passphrase);
    const counts = await env.store.write((tx) => applyImport(call, tx, parsed, opts));
    const block = summary(counts);
    if (args.flag(asValueArg)) return { ret: RosArray.fromRecord(block) };
    // One empty line follows the block (spec §3.6 rule 11).
    return { block, messages: [''], ret: RosArray.fromRecord(block) };
  },
};
