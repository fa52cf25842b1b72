// The services beyond the daemon's own listeners (issue 13 and later): OpenVPN, IPsec, the DNS
// forwarder, the NTP client, FTP … Each is a ManagedService the ServiceManager (index.ts) creates
// at start, asks to reconcile whenever the store changes (and on its poll), and stops at the end.
// A new service is one factory in MANAGED_SERVICES; nothing else in index.ts changes.

import { acmeRenewalService } from './acme-renewal.js';
import type { ServiceContext } from './context.js';
import { ScepWork } from './scep.js';
import { dnsService } from './dns/service.js';
import { dot1xService } from './dot1x.js';
import { ntpService } from './ntp.js';
import { ipsecService } from './ipsec/service.js';
import { openVpnService } from './openvpn.js';
import { sstpService } from './sstp.js';

export interface ManagedService {
  /** Brings what runs in line with the store (menus, bound certificates, CRLs); never throws. */
  reconcile(): Promise<void>;
  /** Stops everything it runs (daemons, listeners) and removes its runtime files. */
  stop(): Promise<void>;
}

export type ManagedServiceFactory = (ctx: ServiceContext) => ManagedService;

/** Every managed service, in start order. */
export const MANAGED_SERVICES: ManagedServiceFactory[] = [
  dnsService,
  ntpService,
  ipsecService, // IPsec IKEv2 on strongSwan's charon (ipsec/service.ts)
  openVpnService, // OpenVPN on Debian's openvpn (openvpn.ts)
  sstpService, // SSTP: rospki's own TLS listener and call set-up (sstp.ts)
  dot1xService, // 802.1X supplicants on Debian's wpa_supplicant (dot1x.ts)
  acmeRenewalService, // ACME renewals (acme-renewal.ts)
  // SCEP clients: pending requests polled, renewals at 75 % (issue 15)
  (ctx) => new ScepWork(ctx),
];
