// /system backup (services spec §9.1): `save` writes the whole configuration of this rospki —
// every stored menu's rows, certificates with their private keys, users, scripts — to a
// `.backup` file in /file; `load` puts one back in one transaction and "reboots" as far as a
// process can: the services follow the new configuration at once (they reconcile on every
// store change), the router clock takes the restored offset, and every session's rights are
// the restored users' from its next command on (the executor checks them at each command).
// No `print` (T7231: `bad command name print`). The file format: src/store/backup.ts. It lives
// beside log.ts rather than in system/: it names the log and the other run-time menus, and
// menus/system may not import this folder (architecture test: no cycles).
//
// Policies (rospki's choice, docs/compatibility.md): save needs read, write, policy and
// sensitive (the file holds every secret and user); load replaces users and groups too, so it
// needs all of those and reboot. The file is a secret file (src/menu/secret-files.ts): only
// users with `sensitive` can read or download it.

import { OffsetClock, formatDate } from '../clock.js';
import { failure } from '../errors.js';
import { sealedFields } from '../menu/sealed.js';
import { boolType, enumType, stringType } from '../menu/proptypes.js';
import type { ArgDecl, CommandCall, CommandDecl, CommandResult, MenuDecl } from '../menu/types.js';
import { BackupError, backupNeedsPassword, decodeBackup, encodeBackup, isBackupFile, restore, snapshot, type BackupContents } from '../store/backup.js';
import type { RowData } from '../store/store.js';
import { ROSPKI_VERSION } from '../version.js';
import { FILE_PATH } from './file/menu.js';
import { INSTALLATION_PATH } from './host/installation.js';
import { IPSEC_ACTIVE_PEERS_PATH, IPSEC_INSTALLED_SA_PATH } from './ip/ipsec.js';
import { isDynamicService, SERVICE_PATH, SERVICE_STATE_PATH } from './ip/service.js';
import { LOG_PATH } from './log.js';
import { LOGIN_FAILURES_PATH } from './user/user.js';
import { CLOCK_PATH } from './system/clock.js';
import { routerIdentity } from './system/identity.js';

export const BACKUP_PATH = '/system/backup';
export const BACKUP_EXTENSION = '.backup';

/**
 * Stored menus that are not configuration: neither saved nor replaced by a load. The log is
 * history (a load adds to it); /file rows mirror the file store, whose files a backup does not
 * hold (as on RouterOS); the installation id is this device's identity; the rest is run-time
 * state the services keep (connections, listeners, IPsec SAs, failed logins).
 */
const RUNTIME_MENUS: ReadonlySet<string> = new Set([
  LOG_PATH, FILE_PATH, INSTALLATION_PATH, SERVICE_STATE_PATH, IPSEC_ACTIVE_PEERS_PATH, IPSEC_INSTALLED_SA_PATH, LOGIN_FAILURES_PATH,
]);

/** Whether a stored row is configuration (saved, and replaced by a load). */
export function isConfiguration(menu: string, data: RowData): boolean {
  if (RUNTIME_MENUS.has(menu)) return false;
  // /ip service's dynamic rows are open connections and listeners of the running services.
  return !(menu === SERVICE_PATH && isDynamicService(data));
}

/** The largest backup file load reads. */
const MAX_FILE = 1 << 30;

const nameArg: ArgDecl<string> = { name: 'name', type: stringType, help: 'File name (`.backup` is added); default identity-date-time' };
const passwordArg: ArgDecl<string> = { name: 'password', type: stringType, sensitive: true, help: 'Encrypt the backup with this password' };
const encryptionArg: ArgDecl<string> = { name: 'encryption', type: enumType(['aes-sha256', 'rc4']), help: 'Encryption of a password backup (aes-sha256)' };
const dontEncryptArg: ArgDecl<boolean> = { name: 'dont-encrypt', type: boolType, help: 'Save unencrypted even with a password' };

/** `MikroTik-20260101-1200.backup`: RouterOS's default name, in the router's time zone. */
function defaultName(identity: string, now: number, zone: Parameters<typeof formatDate>[1]): string {
  const [day, time] = formatDate(now, zone).split(' ') as [string, string];
  return `${identity}-${day.replace(/-/g, '')}-${time.slice(0, 5).replace(':', '')}${BACKUP_EXTENSION}`;
}

const save: CommandDecl = {
  name: 'save',
  help: 'Save the whole configuration to a backup file',
  policy: ['read', 'write', 'policy', 'sensitive'],
  args: [nameArg, passwordArg, encryptionArg, dontEncryptArg],
  async run(call: CommandCall): Promise<CommandResult> {
    const { env, args } = call;
    // rc4 is broken (RFC 7465): rospki writes no file that only looks protected.
    if (args.get(encryptionArg) === 'rc4') throw failure('rc4 encryption is not supported by rospki (insecure): use encryption=aes-sha256');
    const given = args.get(passwordArg);
    const password = given && !args.get(dontEncryptArg) ? given : undefined;
    const now = env.clock.now();
    const fields = sealedFields(env.registry.all());
    const { contents, name } = await env.store.write((tx) => {
      const identity = routerIdentity(tx);
      let name = args.get(nameArg) || defaultName(identity, now, env.zone(tx));
      if (!name.toLowerCase().endsWith(BACKUP_EXTENSION)) name += BACKUP_EXTENSION;
      name = env.files.check(name);
      const contents = snapshot(tx, env.store, fields, isConfiguration, { software: ROSPKI_VERSION, saved: now, identity }, password !== undefined);
      return { contents, name };
    });
    const file = await encodeBackup(contents, env.store, password);
    const written = await env.files.write(name, file, now);
    await env.store.write((tx) => env.log(tx, 'system,info', `configuration backup ${written} saved by ${call.session.user}`));
    return { messages: ['Configuration backup saved'], files: [written] };
  },
};

const loadNameArg: ArgDecl<string> = { name: 'name', type: stringType, required: true, help: 'Backup file to load' };
const loadPasswordArg: ArgDecl<string> = { name: 'password', type: stringType, sensitive: true, help: 'Password of an encrypted backup' };
const upgradeArg: ArgDecl<boolean> = { name: 'force-v6-to-v7-configuration-upgrade', type: boolType, help: 'Accepted; rospki backups are all of v7' };

/** The /file a load means: the name, or with `.backup` added, or the one file it starts. */
async function backupFile(call: CommandCall, input: string): Promise<string> {
  const { files } = call.env;
  if (await files.kind(input) === 'file') return files.check(input);
  if (!input.toLowerCase().endsWith(BACKUP_EXTENSION) && await files.kind(input + BACKUP_EXTENSION) === 'file') return files.check(input + BACKUP_EXTENSION);
  return files.match(input, 'name');
}

const load: CommandDecl = {
  name: 'load',
  help: 'Restore the configuration from a backup file and reboot',
  policy: ['read', 'write', 'policy', 'sensitive', 'reboot'],
  args: [loadNameArg, loadPasswordArg, upgradeArg],
  async run(call: CommandCall): Promise<CommandResult> {
    const { env, args, session } = call;
    const name = await backupFile(call, args.get(loadNameArg)!);
    const bytes = await env.files.read(name, MAX_FILE);
    if (!isBackupFile(bytes)) throw failure(`${name} is not a backup file`);
    let password = args.get(loadPasswordArg);
    let contents: BackupContents;
    try {
      // On a terminal an omitted password is asked for (services spec §9.1), as RouterOS does.
      if (password === undefined && session.prompt) password = await session.prompt('password: ', true);
      if (!backupNeedsPassword(bytes)) password = undefined;
      contents = await decodeBackup(bytes, env.store, password || undefined);
    } catch (e) {
      if (e instanceof BackupError) throw failure(e.message);
      throw e;
    }
    // Front ends without a terminal (scripts run by the scheduler, REST, the API, SSH exec)
    // can not answer: they go on, as RouterOS does for `/system backup load` in a script.
    if (session.prompt) {
      const answer = await session.prompt('Restore and reboot? [y/N]: ', false);
      if (!/^y/i.test(answer.trim())) return {};
    }
    const result = await env.store.write((tx) => {
      let restored: ReturnType<typeof restore>;
      try {
        restored = restore(tx, contents, env.store, isConfiguration);
      } catch (e) {
        if (e instanceof BackupError) throw failure(e.message);
        throw e;
      }
      env.log(tx, 'system,info,critical', `configuration restored from backup ${name} by ${session.user} (${restored.rows} rows)`);
      return { offset: Number(tx.get(CLOCK_PATH, 1)?.data['offset-ms'] ?? 0) };
    });
    // The "reboot": what the appliance reads at start-up and keeps outside the store.
    if (env.clock instanceof OffsetClock) env.clock.offsetMs = result.offset;
    return { messages: ['Restoring system configuration', 'System configuration restored, rebooting now'] };
  },
};

export const backupMenu: MenuDecl = {
  path: BACKUP_PATH,
  kind: 'dir',
  help: 'Configuration backup',
  properties: [],
  verbs: [],
  commands: [save, load],
};
