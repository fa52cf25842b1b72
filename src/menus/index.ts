// Every menu rospki has. Adding a menu is one import and one line here.
import type { MenuDecl } from '../menu/types.js';
import { certificateMenu } from './certificate/menu.js';
import { serviceMenu } from './ip/service.js';
import { fileMenu } from './file/menu.js';
import { logMenu } from './log.js';
import { clockMenu } from './system/clock.js';
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
import { pppProfileMenu } from './ppp/profile.js';
import { pppSecretMenu } from './ppp/secret.js';
import { OVPN_MENUS } from './interface/ovpn.js';
import { SSTP_MENUS } from './interface/sstp.js';
import { DOT1X_MENUS } from './interface/dot1x.js';
import { wifiSecurityMenu } from './interface/wifi.js';
import { IPSEC_MENUS } from './ip/ipsec.js';
import { hotspotProfileMenu } from './ip/hotspot.js';
import { DNS_MENUS } from './ip/dns.js';

export const ALL_MENUS: readonly MenuDecl[] = [
  // The root menu first: other menus would create it as a plain directory.
  rootMenu,
  identityMenu, clockMenu, resourceMenu, userMenu, groupMenu, logMenu, certificateMenu, serviceMenu, fileMenu,
  settingsMenu, crlMenu, builtinMenu, toolMenu, sshMenu, sshKeysMenu, scriptMenu, routerboardMenu,
  // The menus that hold certificate references (services spec §2–§7). Last, after `/interface`
  // itself (a menu declared after its sub-menus would find its path taken by a plain directory);
  // /ppp profile before the menus whose default-profile refers to its built-in rows.
  pppProfileMenu, pppSecretMenu, ...OVPN_MENUS, ...SSTP_MENUS, ...DOT1X_MENUS, wifiSecurityMenu,
  ...IPSEC_MENUS, hotspotProfileMenu, ...DNS_MENUS,
];
