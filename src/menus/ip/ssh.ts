// /ip ssh — the SSH server's settings and its host keys. The keys (ed25519 and RSA) are made on
// first use, kept sealed (store.seal, AES-256-GCM) as blobs of the singleton row, and stay the
// same across restarts; `regenerate-host-key` replaces them. The fingerprints are shown as
// OpenSSH prints them (`SHA256:…`), so users can check what `ssh` reports on first connect.

import { createHash, createPublicKey } from 'node:crypto';
import { createRequire } from 'node:module';
import type ssh2Types from 'ssh2';

/** ssh2 is loaded on first use: every `rospki -e` would otherwise pay for it at start-up. */
export const loadSsh2 = (): typeof ssh2Types => createRequire(import.meta.url)('ssh2') as typeof ssh2Types;
import { boolType, enumType, intType, stringType } from '../../menu/proptypes.js';
import { newRowData, typeContext } from '../../menu/generic.js';
import type { Environment, MenuDecl } from '../../menu/types.js';
import type { ReadTx } from '../../store/store.js';

export const SSH_PATH = '/ip/ssh';

export const HOST_KEY_TYPES = ['ed25519', 'rsa'] as const;
export type HostKeyType = (typeof HOST_KEY_TYPES)[number];

const blobName = (type: HostKeyType) => `host-key-${type}`;
const fingerprintProp = (type: HostKeyType) => `${type}-host-key-fingerprint`;

/** `SHA256:…` of an SSH public key blob, as `ssh-keygen -l` and `ssh` print it. */
export function sshFingerprint(publicBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicBlob).digest('base64').replace(/=+$/, '')}`;
}

/** Bits of an SSH public key (RSA modulus; 256 for ed25519; curve size for ECDSA). */
export function sshKeyBits(key: ssh2Types.ParsedKey): number {
  if (key.type === 'ssh-ed25519') return 256;
  if (key.type.startsWith('ecdsa-sha2-nistp')) return Number(key.type.slice('ecdsa-sha2-nistp'.length));
  try {
    const details = createPublicKey(key.getPublicPEM()).asymmetricKeyDetails;
    return details?.modulusLength ?? 0;
  } catch {
    return 0;
  }
}

export interface HostKey {
  type: HostKeyType;
  /** OpenSSH-format private key text. */
  privateKey: string;
  fingerprint: string;
}

/** The host keys, unsealed, or [] when not made yet. */
export function readHostKeys(env: Environment, tx: ReadTx): HostKey[] {
  const row = tx.get(SSH_PATH, 1);
  if (!row) return [];
  const out: HostKey[] = [];
  for (const type of HOST_KEY_TYPES) {
    const sealed = tx.getBlob(SSH_PATH, 1, blobName(type));
    if (!sealed) continue;
    out.push({ type, privateKey: env.store.unseal(sealed).toString('utf8'), fingerprint: String(row.data[fingerprintProp(type)] ?? '') });
  }
  return out;
}

/**
 * Tries for a host key whose OpenSSH form ssh2 itself can read. ssh2 1.x's generateKeyPairSync
 * strips every leading zero byte of an ed25519 public key (meant for the BIT STRING's unused-bits
 * byte, lib/keygen.js), so about one key in 256 is written 31 bytes long and `parseKey` calls it
 * malformed; a fresh key is as good, so it tries again (a bounded number of times).
 */
const HOST_KEY_ATTEMPTS = 8;

export function generateHostKey(type: HostKeyType, rsaBits: number,
  make = (): string => (type === 'rsa' ? loadSsh2().utils.generateKeyPairSync('rsa', { bits: rsaBits }) : loadSsh2().utils.generateKeyPairSync('ed25519')).private,
): { privateKey: string; fingerprint: string } {
  let failure: Error | undefined;
  for (let attempt = 0; attempt < HOST_KEY_ATTEMPTS; attempt++) {
    const privateKey = make();
    const parsed = loadSsh2().utils.parseKey(privateKey);
    if (!(parsed instanceof Error)) return { privateKey, fingerprint: sshFingerprint(parsed.getPublicSSH()) };
    failure = parsed;
  }
  throw failure!;
}

/**
 * Makes the /ip ssh row and the host keys when missing (first start). Keys are generated
 * outside the transaction; when another process made them meanwhile, its keys are kept.
 */
export async function ensureHostKeys(env: Environment, regenerate = false): Promise<void> {
  const state = await env.store.read((tx) => {
    const row = tx.get(SSH_PATH, 1);
    return { row: !!row, bits: Number(row?.data['host-key-size'] ?? 2048), missing: HOST_KEY_TYPES.filter((t) => !tx.getBlob(SSH_PATH, 1, blobName(t))) };
  });
  const wanted = regenerate ? [...HOST_KEY_TYPES] : state.missing;
  if (state.row && wanted.length === 0) return;
  const made = wanted.map((type) => ({ type, ...generateHostKey(type, state.bits) }));
  await env.store.write((tx) => {
    let row = tx.get(SSH_PATH, 1);
    if (!row) {
      tx.insert(SSH_PATH, newRowData(sshMenu, typeContext(env, tx)));
      row = tx.get(SSH_PATH, 1)!;
    }
    const data = { ...row.data };
    for (const m of made) {
      if (!regenerate && tx.getBlob(SSH_PATH, 1, blobName(m.type))) continue;
      tx.setBlob(SSH_PATH, 1, blobName(m.type), env.store.seal(Buffer.from(m.privateKey, 'utf8')));
      data[fingerprintProp(m.type)] = m.fingerprint;
    }
    tx.update(SSH_PATH, 1, data);
    if (made.length > 0) env.log(tx, 'system,info', `ssh: ${regenerate ? 'regenerated' : 'generated'} host keys (${made.map((m) => `${m.type} ${m.fingerprint}`).join(', ')})`);
  });
}

export const sshMenu: MenuDecl = {
  path: SSH_PATH,
  kind: 'singleton',
  help: 'SSH server settings',
  verbs: ['print', 'get', 'set', 'export'],
  properties: [
    { name: 'forwarding-enabled', type: enumType(['no', 'local', 'remote', 'both']), default: 'no', help: 'Port forwarding (rospki never forwards)' },
    { name: 'always-allow-password-login', type: boolType, default: false, help: 'Allow password login also for users that have SSH keys' },
    { name: 'strong-crypto', type: boolType, default: true, help: 'Only SHA-2 key exchange, MACs and host-key signatures (no: also SHA-1 and CBC)' },
    { name: 'allow-none-crypto', type: boolType, default: false, help: 'Accepted for compatibility; "none" ciphers are never offered' },
    { name: 'host-key-size', type: intType(1024, 8192), default: 2048, help: 'RSA host key size (used by regenerate-host-key)' },
    { name: 'host-key-type', type: enumType(['rsa', 'ed25519']), default: 'ed25519', help: 'Host key offered first' },
    { name: 'ed25519-host-key-fingerprint', type: stringType, access: 'ro' },
    { name: 'rsa-host-key-fingerprint', type: stringType, access: 'ro' },
  ],
  async prepare(env) {
    await ensureHostKeys(env);
  },
  commands: [
    {
      name: 'regenerate-host-key',
      help: 'Make new host keys (clients will see a changed host key)',
      args: [],
      policy: 'write',
      async run({ env }) {
        await ensureHostKeys(env, true);
        return {};
      },
    },
  ],
};
