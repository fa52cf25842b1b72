// /user ssh-keys — public keys that let a user log in over SSH without a password.
// `import public-key-file=<file in /file> user=<name>` reads OpenSSH one-line keys (every key
// line of the file), RFC 4716 (`---- BEGIN SSH2 PUBLIC KEY ----`) or a PEM public key;
// `add user= key="ssh-ed25519 AAAA… comment"` takes the line itself (RouterOS 7.12+).

import { failure } from '../../errors.js';
import { bareStringType, intType, refType, stringType } from '../../menu/proptypes.js';
import type { CommandCall, CommandResult, MenuDecl } from '../../menu/types.js';
import { valueToString } from '../../menu/values.js';
import type { ReadTx, WriteTx } from '../../store/store.js';

import { guarded, matchFileName, readStoreFile } from '../file/files.js';
import { loadSsh2, sshFingerprint, sshKeyBits } from '../ip/ssh.js';
import { USER_PATH } from './user.js';

export const SSH_KEYS_PATH = '/user/ssh-keys';

export interface ParsedPublicKey {
  type: string;
  blob: Buffer;
  comment: string;
  bits: number;
}

const KEY_TYPES: Record<string, string> = {
  'ssh-rsa': 'rsa', 'ssh-ed25519': 'ed25519', 'ssh-dss': 'dsa',
  'ecdsa-sha2-nistp256': 'ecdsa', 'ecdsa-sha2-nistp384': 'ecdsa', 'ecdsa-sha2-nistp521': 'ecdsa',
};

function parseOne(text: string): ParsedPublicKey {
  const parsed = loadSsh2().utils.parseKey(text);
  if (parsed instanceof Error || parsed.isPrivateKey()) throw failure('unable to load key file (wrong format or bad passphrase)!');
  if (parsed.type === 'ssh-dss') throw failure('DSA keys are not supported');
  return { type: parsed.type, blob: parsed.getPublicSSH(), comment: parsed.comment ?? '', bits: sshKeyBits(parsed) };
}

/** Every public key in a file's text. */
export function parsePublicKeys(text: string): ParsedPublicKey[] {
  if (/-----BEGIN|---- BEGIN SSH2/.test(text)) return [parseOne(text)];
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw failure('unable to load key file (wrong format or bad passphrase)!');
  return lines.map((line) => {
    // authorized_keys lines may carry options before the key type.
    const at = line.search(/(^|\s)(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp\d+)\s/);
    return parseOne(at > 0 ? line.slice(at).trim() : line);
  });
}

function addKeys(tx: WriteTx, userId: number, keys: readonly ParsedPublicKey[]): number {
  let added = 0;
  for (const k of keys) {
    const text = `${k.type} ${k.blob.toString('base64')}`;
    if (tx.findBy(SSH_KEYS_PATH, 'key', text).some((r) => r.data.user === userId)) continue; // already there
    tx.insert(SSH_KEYS_PATH, {
      user: userId, key: text, 'key-type': KEY_TYPES[k.type] ?? k.type, bits: k.bits,
      'key-owner': k.comment, fingerprint: sshFingerprint(k.blob),
    });
    added++;
  }
  return added;
}

function userArg(call: CommandCall, tx: ReadTx): number {
  return refType(USER_PATH).parse(call.args.get('user'), { tx, clock: call.env.clock, registry: call.env.registry }, 'user');
}

/** Public keys (type + blob) that may log in as this user id. */
export function userKeys(tx: ReadTx, userId: number): Buffer[] {
  return tx.findBy(SSH_KEYS_PATH, 'user', userId).map((r) => Buffer.from(String(r.data.key).split(' ')[1] ?? '', 'base64'));
}

export const sshKeysMenu: MenuDecl = {
  path: SSH_KEYS_PATH,
  kind: 'list',
  help: 'Public keys for SSH logins',
  verbs: ['print', 'get', 'remove', 'find'],
  columns: ['user', 'key-type', 'bits', 'key-owner'],
  detailOrder: ['user', 'key-type', 'bits', 'key-owner', 'fingerprint'],
  properties: [
    { name: 'user', type: refType(USER_PATH), access: 'ro' },
    { name: 'key-type', type: bareStringType, access: 'ro' },
    { name: 'bits', type: intType(0, 65535, { numeric: true }), access: 'ro' },
    { name: 'key-owner', type: stringType, access: 'ro' },
    { name: 'fingerprint', type: stringType, access: 'ro' },
    { name: 'key', type: stringType, access: 'ro', detail: 'never' },
  ],
  commands: [
    {
      name: 'import',
      help: 'Import public keys from a file in /file',
      policy: 'write',
      args: [
        { name: 'public-key-file', type: stringType, required: true, help: 'File in /file (OpenSSH, RFC 4716 or PEM public key)' },
        { name: 'user', type: refType(USER_PATH), required: true, help: 'User the keys log in as' },
      ],
      async run(call): Promise<CommandResult> {
        const { env, session } = call;
        return guarded(env, session, async () => {
          const file = matchFileName(env.dataDir.filesDir, valueToString(call.args.get('public-key-file')));
          const keys = parsePublicKeys(readStoreFile(env.dataDir.filesDir, file).data.toString('utf8'));
          await env.store.write((tx) => addKeys(tx, userArg(call, tx), keys));
          return {};
        });
      },
    },
    {
      name: 'add',
      help: 'Add a public key given as an OpenSSH key line',
      policy: 'write',
      args: [
        { name: 'user', type: refType(USER_PATH), required: true, help: 'User the key logs in as' },
        { name: 'key', type: stringType, required: true, help: 'ssh-ed25519 AAAA… comment' },
      ],
      async run(call): Promise<CommandResult> {
        const keys = parsePublicKeys(valueToString(call.args.get('key')));
        await call.env.store.write((tx) => addKeys(tx, userArg(call, tx), keys));
        return {};
      },
    },
  ],
};
