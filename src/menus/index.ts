// Every menu rospki has. Adding a menu is one import and one line here.
import type { CommandDecl, MenuDecl } from '../menu/types.js';
import { certificateMenu } from './certificate/menu.js';
import { serviceMenu } from './ip/service.js';
import { fileMenu } from './file/menu.js';
import { logMenu } from './log.js';
import { clockManualMenu, clockMenu } from './system/clock.js';
import { identityMenu } from './system/identity.js';
import { resourceMenu } from './system/resource.js';
import { groupMenu } from './user/group.js';
import { aaaMenu } from './user/aaa.js';
import { userMenu } from './user/user.js';
import { crlMenu } from './certificate/crl.js';
import { settingsMenu } from './certificate/settings.js';
import { builtinMenu } from './certificate/builtin.js';
import { toolMenu } from './tool/fetch.js';
import { consoleMenu, quitCommand } from './console.js';
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
import { cloudAdvancedMenu, cloudMenu } from './ip/cloud.js';
import { addressListMenu, firewallFilterMenu, firewallNatMenu, ipv6AddressListMenu } from './ip/firewall.js';
import { addressMenu } from './ip/address.js';
import { routeMenu } from './ip/route.js';
import { poolMenu, poolUsedMenu } from './ip/pool.js';
import { dhcpNetworkMenu, dhcpServerMenu } from './ip/dhcp-server.js';
import { ntpClientMenu, ntpServersMenu } from './system/ntp.js';
import { licenseMenu } from './system/license.js';
import { packageMenu, packageUpdateMenu } from './system/package.js';
import { deviceModeMenu } from './system/device-mode.js';
import { historyMenu } from './system/history.js';
import { noteMenu } from './system/note.js';
import { snmpMenu } from './snmp.js';
import { diskMenu } from './disk.js';
import { interfaceMenu } from './interface/interface.js';
import { pingCommand } from './ping.js';

/** A directory menu with one more command of its own (`/ping` at the root and in /tool). */
const withCommand = (menu: MenuDecl, command: CommandDecl): MenuDecl => ({ ...menu, commands: [...(menu.commands ?? []), command] });
import { schedulerMenu } from './system/scheduler.js';
import { jobMenu } from './system/script-job.js';
import { otpMenu, requestsMenu, scepServerMenu } from './certificate/scep-server.js';
import { raMenu } from './certificate/scep-ra.js';
import { environmentMenu } from './system/script-environment.js';
import { bridgeMenu } from './interface/bridge.js';
import { neighborMenu } from './ip/neighbor.js';
import { terminalMenu } from './terminal.js';
import { netwatchMenu } from './tool/netwatch.js';
import { backupMenu } from './backup.js';
import { RADIUS_MENUS } from './radius.js';

export const ALL_MENUS: readonly MenuDecl[] = [
  // The root menu (with /ping). A declared menu replaces the directory its sub-menus imply, so order is free.
  withCommand(withCommand(rootMenu, pingCommand), quitCommand),
  identityMenu, clockMenu, resourceMenu, userMenu, groupMenu, aaaMenu, logMenu, certificateMenu, serviceMenu, fileMenu,
  settingsMenu, crlMenu, builtinMenu, withCommand(toolMenu, pingCommand), sshMenu, sshKeysMenu, scriptMenu, routerboardMenu,
  // The menus that hold certificate references (services spec §2–§7); /ppp profile before the
  // menus whose default-profile refers to its built-in rows.
  pppProfileMenu, pppSecretMenu, ...OVPN_MENUS, ...SSTP_MENUS, ...DOT1X_MENUS, wifiSecurityMenu,
  ...IPSEC_MENUS, hotspotProfileMenu, ...DNS_MENUS, ...RADIUS_MENUS,
  // Menus real scripts touch (issue 12): this host's facts and configuration held honestly.
  cloudMenu, cloudAdvancedMenu, firewallFilterMenu, firewallNatMenu, addressListMenu, ipv6AddressListMenu, addressMenu, routeMenu, poolMenu, poolUsedMenu,
  dhcpServerMenu, dhcpNetworkMenu, ntpClientMenu, ntpServersMenu, licenseMenu, packageMenu, packageUpdateMenu,
  deviceModeMenu, historyMenu, noteMenu, snmpMenu, diskMenu, interfaceMenu, bridgeMenu,
  clockManualMenu, schedulerMenu, jobMenu, environmentMenu, consoleMenu, neighborMenu, terminalMenu, netwatchMenu, backupMenu,
  // SCEP (spec §4.3)
  scepServerMenu, otpMenu, requestsMenu, raMenu,
];
