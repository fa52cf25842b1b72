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

export const consoleMenu: MenuDecl = {
  path: '/console',
  kind: 'dir',
  help: 'Console',
  properties: [],
  verbs: [],
  commands: [clearHistoryCommand],
};
