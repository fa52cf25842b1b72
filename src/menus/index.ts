// Every menu rospki has. Adding a menu is one import and one line here.
import type { MenuDecl } from '../menu/types.js';
import { certificateMenu } from './certificate/menu.js';
import { serviceMenu } from './ip/service.js';
import { fileMenu } from './file/menu.js';
import { logMenu } from './log.js';
import { clockManualMenu, clockMenu } from './system/clock.js';
import { identityMenu } from './system/identity.js';
import { resourceMenu } from './system/resource.js';
import { groupMenu } from './user/group.js';
import { userMenu } from './user/user.js';
import { crlMenu } from './certificate/crl.js';
import { settingsMenu } from './certificate/settings.js';
import { builtinMenu } from './certificate/builtin.js';
import { toolMenu } from './tool/fetch.js';
import { sshMenu } from './ip/ssh.js';
import { sshKeysMenu } from './user/ssh-keys.js';
import { rootMenu, scriptMenu } from './system/script.js';
import { routerboardMenu } from './system/routerboard.js';
import { schedulerMenu } from './system/scheduler.js';
import { jobMenu } from './system/script-job.js';

export const ALL_MENUS: readonly MenuDecl[] = [
  // The root menu first: other menus would create it as a plain directory.
  rootMenu,
  identityMenu, clockMenu, resourceMenu, userMenu, groupMenu, logMenu, certificateMenu, serviceMenu, fileMenu,
  settingsMenu, crlMenu, builtinMenu, toolMenu, sshMenu, sshKeysMenu, scriptMenu, routerboardMenu,
  clockManualMenu, schedulerMenu, jobMenu,
];
