// Auto import (RouterOS configuration management, M-CFG; services spec §8): a script file whose
// name ends in `.auto.rsc`, once uploaded with FTP or SFTP, is run as `/import` would run it, as
// the user who uploaded it (with that connection's rights, checked at every command), and what
// came of it is written beside it as `<name>.auto.log`: the lines the script printed and
// `Script file loaded and executed successfully`, or the error that stopped it.

import type { Policy } from '../menu/types.js';
import type { ServiceContext } from './context.js';

/** `setup.auto.rsc`, in any case (a file system of RouterOS keeps the name as written). */
export const isAutoImport = (name: string): boolean => /\.auto\.rsc$/i.test(name);

/** `setup.auto.rsc` → `setup.auto.log`. */
export const autoImportLog = (name: string): string => name.replace(/\.rsc$/i, '.log');

export interface Uploader {
  readonly user: string;
  /** The policies of the connection's login (the ceiling; the user's group narrows them live). */
  readonly policies: ReadonlySet<Policy>;
  readonly stamp?: string;
  /** The front end's own policy (`ftp`): the script loses its rights when the user loses it. */
  readonly channel: Policy;
  readonly via: string;
  readonly address: string;
}

/** Runs an uploaded `.auto.rsc` file and writes its `.auto.log`; never throws. */
export async function runAutoImport(ctx: ServiceContext, name: string, by: Uploader): Promise<void> {
  const { app } = ctx;
  let lines: string[];
  try {
    const session = await app.session(by.user, by.via, {
      policies: by.policies, channel: by.channel, stamp: by.stamp, address: by.address,
    });
    const result = await app.executor.run({ path: '/', command: 'import', args: new Map([['file-name', name]]), session });
    lines = result.messages ?? [];
  } catch (e) {
    lines = [app.executor.toRosError(e, `auto import ${name}`).consoleText()];
  }
  try {
    await app.env.files.write(autoImportLog(name), lines.map((l) => `${l}\n`).join(''), app.clock.now());
    await app.store.write((tx) => app.env.log(tx, 'system,info', `${name} uploaded by ${by.user} (${by.via}) was run: ${lines.at(-1) ?? ''}`));
  } catch (e) {
    ctx.internalError(e);
  }
}
