// /user ssh-keys — public keys that let a user log in over SSH without a password.
// `import public-key-file=<file in /file> user=<name>` reads OpenSSH one-line keys (every key
// line of the file), RFC 4716 (`---- BEGIN SSH2 PUBLIC KEY ----`) or a PEM public key;
// `add user= key="ssh-ed25519 AAAA… comment"` takes the line itself (RouterOS 7.12+).

import { failure, noMatch, notEnoughPermissions } from '../../errors.js';
import { bareStringType, intType, refType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandCall, CommandResult, MenuDecl } from '../../menu/types.js';
import type { ReadTx, WriteTx } from '../../store/store.js';
import { loadSsh2, sshFingerprint, sshKeyBits } from '../ip/ssh.js';
import { mayManageUser, USER_PATH } from './user.js';

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

const userArg: ArgDecl<number> = { name: 'user', type: refType(USER_PATH), required: true, help: 'User the keys log in as' };
const keyFileArg: ArgDecl<string> = { name: 'public-key-file', type: stringType, required: true, help: 'File in /file (OpenSSH, RFC 4716 or PEM public key)' };
const keyArg: ArgDecl<string> = { name: 'key', type: stringType, required: true, help: 'ssh-ed25519 AAAA… comment' };

/**
 * A user's own keys need `write`; another user's need `policy` too, and only for users whose
 * group grants nothing the caller lacks (a key for admin is admin's account, issue 11).
 */
function mayManageKeysOf(tx: ReadTx, userId: unknown, call: Pick<CommandCall, 'session' | 'policies'>): void {
  const user = typeof userId === 'number' ? tx.get(USER_PATH, userId) : undefined;
  if (user?.data.name === call.session.user) return;
  if (!call.policies.has('policy')) throw notEnoughPermissions();
  mayManageUser(tx, user?.data, call.policies);
}

/** The user the keys are for, checked again inside the write (it may have been removed since). */
function userOf(call: CommandCall, tx: ReadTx): number {
  const id = call.args.get(userArg)!;
  if (!tx.get(USER_PATH, id)) throw noMatch('user');
  mayManageKeysOf(tx, id, call);
  return id;
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
  authorize({ before, after }, tx, call) {
    for (const row of [before, after]) if (row) mayManageKeysOf(tx, row.user, call);
  },
  columns: ['user', 'key-type', 'bits', 'key-owner'],
  properties: [
    { name: 'user', type: refType(USER_PATH, { onRemove: 'cascade' }), access: 'ro' },
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
      args: [keyFileArg, userArg],
      async run(call): Promise<CommandResult> {
        const { env } = call;
        const file = await env.files.match(call.args.get(keyFileArg)!);
        const keys = parsePublicKeys((await env.files.read(file, 1024 * 1024)).toString('utf8'));
        await env.store.write((tx) => addKeys(tx, userOf(call, tx), keys));
        return {};
      },
    },
    {
      name: 'add',
      help: 'Add a public key given as an OpenSSH key line',
      policy: 'write',
      args: [{ ...userArg, help: 'User the key logs in as' }, keyArg],
      async run(call): Promise<CommandResult> {
        const keys = parsePublicKeys(call.args.get(keyArg)!);
        await call.env.store.write((tx) => addKeys(tx, userOf(call, tx), keys));
        return {};
      },
    },
  ],
};
