// /console: the console's own commands. `clear-history` forgets the command history of the
// terminal it is typed on — in memory and in the history file the terminal keeps — so a line
// that carried a secret can be taken back (C16 of clients.md ends its pasted setup with it).
// Where there is no terminal (SSH exec, `-e`, REST, the API) there is no history: it does nothing.

import type { CommandDecl, MenuDecl } from '../menu/types.js';

const clearHistoryCommand: CommandDecl = {
  name: 'clear-history', help: 'Forget the command history of this terminal', policy: 'read', args: [],
  async run(call) {
    call.session.clearHistory?.();
    return {};
  },
};

/**
 * `/quit` (root menu, `quit -- Quit console`): ends the console session. A terminal's line
 * editor ends at a bare `/quit` itself; elsewhere (SSH exec, `-e`, piped input) the rest of the
 * input is not run and the session ends with status 0. Oxidized's RouterOS model sends it over
 * SSH exec before it logs out; scripts piped into `ssh -T` end with it.
 */
export const quitCommand: CommandDecl = {
  name: 'quit', help: 'Quit console', policy: [], args: [],
  async run() {
    return { quit: true };
  },
};

export const consoleMenu: MenuDecl = {
  path: '/console',
  kind: 'dir',
  help: 'Console',
  properties: [],
  verbs: [],
  commands: [clearHistoryCommand],
};
