// /terminal inkey: waits for one key on the terminal and returns its code (scripts ask "[y/N]"
// and test `([/terminal inkey timeout=60] % 32) = 25`). rospki's terminals read lines, not keys:
// the first character of the line typed is the key (Enter alone: 13). Where there is no terminal
// (scheduler, `-e`, REST, the API) no key can come, and it returns 65535 at once, as RouterOS
// returns when its timeout passes without a key.

import { durationType } from '../menu/proptypes.js';
import type { ArgDecl, CommandDecl, MenuDecl } from '../menu/types.js';

/** What inkey returns when no key came (RouterOS: 0xFFFF). */
export const NO_KEY = 65535;

const timeoutArg: ArgDecl<number> = { name: 'timeout', type: durationType(), help: 'How long to wait for a key' };

const inkeyCommand: CommandDecl = {
  name: 'inkey', help: 'Read a key from the terminal', policy: 'read', args: [timeoutArg],
  async run(call) {
    const prompt = call.session.prompt;
    if (!prompt) return { ret: NO_KEY };
    const line = await prompt.call(call.session, '', false);
    return { ret: line === '' ? 13 : line.codePointAt(0)! };
  },
};

export const terminalMenu: MenuDecl = {
  path: '/terminal',
  kind: 'dir',
  help: 'Terminal',
  properties: [],
  verbs: [],
  commands: [inkeyCommand],
};
