// This installation's identity. A RouterOS device derives stable names from its serial number
// and software id (`/ip cloud dns-name`, `/system license system-id`); rospki has neither, so it
// makes one random id per data directory, keeps it in the store (outside every menu, so no
// export or import carries it to another installation) and derives those names from it.

import { createHash, randomBytes } from 'node:crypto';
import type { Environment } from '../../menu/types.js';
import type { ReadTx } from '../../store/store.js';

export const INSTALLATION_PATH = '/.installation';

/** The installation id (32 hex digits), or undefined before ensureInstallationId ran. */
export function installationIdOf(tx: ReadTx): string | undefined {
  const id = tx.get(INSTALLATION_PATH, 1)?.data.id;
  return typeof id === 'string' ? id : undefined;
}

/** Makes the installation id once (a menu's prepare calls it before anything reads it). */
export async function ensureInstallationId(env: Environment): Promise<void> {
  if (await env.store.read((tx) => installationIdOf(tx) !== undefined)) return;
  await env.store.write((tx) => {
    if (!installationIdOf(tx)) tx.insert(INSTALLATION_PATH, { id: randomBytes(16).toString('hex') });
  });
}

/** Bytes derived from the installation id for one purpose: the names never reveal the id itself. */
function derived(id: string, purpose: string): Buffer {
  return createHash('sha256').update(`rospki ${purpose}\0${id}`).digest();
}

/** `/ip cloud dns-name`: 12 lower-case hex digits under sn.mynetname.net, like a serial-based name. */
export function cloudDnsName(id: string): string {
  return `${derived(id, 'cloud').subarray(0, 6).toString('hex')}.sn.mynetname.net`;
}

/** `/system license system-id`: 11 characters of base64 like a CHR's (`6lR1ZP/sgeh`). */
export function licenseSystemId(id: string): string {
  return derived(id, 'license').subarray(0, 9).toString('base64').slice(0, 11);
}
