// /ip dhcp-server and /ip dhcp-server network: DHCP server configuration, kept and exported.
// rospki serves no DHCP (nothing listens on port 67), so a server that is not disabled can not
// run: it is flagged I (invalid), as RouterOS flags a server that can not work
// (docs/compatibility.md).

import { boolType, durationType, enumType, intType, ipv4NetworkType, refType, stringListType, stringType } from '../../menu/proptypes.js';
import { propValue } from '../../menu/generic.js';
import type { MenuDecl, PropType, PropertyDecl, TypeContext } from '../../menu/types.js';
import { valueToString } from '../../menu/values.js';
import { POOL_PATH } from './pool.js';

export const DHCP_SERVER_PATH = '/ip/dhcp-server';

const bare: PropType<string> = { ...stringType, quoted: false };

/** address-pool: a pool by name, or `static-only` (leases only to static entries). */
const addressPoolType: PropType<number> = (() => {
  const ref = refType(POOL_PATH, { none: true });
  const shown = (v: number, ctx: TypeContext) => (v === 0 ? 'static-only' : ref.display(v, ctx));
  return {
    ...ref,
    help: 'pool name | static-only',
    parse: (v, ctx, name) => (valueToString(v) === 'static-only' ? 0 : ref.parse(v, ctx, name)),
    display: shown,
    api: shown,
    script: shown,
    choices: (ctx) => ['static-only', ...ref.choices!(ctx).filter((c) => c !== 'none')],
  };
})();

/** `dhcp1`, `dhcp2` …: the first free name (RouterOS names a server added without one so). */
function nextName(ctx: TypeContext): string {
  const taken = new Set(ctx.tx.list(DHCP_SERVER_PATH).map((r) => String(r.data.name)));
  let n = 1;
  while (taken.has(`dhcp${n}`)) n++;
  return `dhcp${n}`;
}

const DISABLED: PropertyDecl<boolean> = { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' };

export const dhcpServerMenu: MenuDecl = {
  path: DHCP_SERVER_PATH,
  kind: 'list',
  help: 'DHCP servers',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  columns: ['name', 'interface', 'address-pool', 'lease-time'],
  legendStyle: 'column',
  properties: [
    { name: 'name', type: stringType, default: nextName, unique: true, help: 'Name of the server' },
    {
      name: 'interface', type: { ...bare, choices: (ctx) => ctx.tx.list('/interface').map((r) => String(r.data.name)) },
      required: true, help: 'Interface the server answers on',
    },
    { name: 'relay', type: bare, help: 'Address of the relay this server answers for' },
    { name: 'lease-time', type: durationType(10e9), default: 30 * 60e9, help: 'How long a lease lasts' },
    { name: 'address-pool', type: addressPoolType, default: 0, help: 'Pool the addresses come from' },
    { name: 'authoritative', type: enumType(['yes', 'no', 'after-2sec-delay', 'after-10sec-delay']), default: 'yes' },
    { name: 'add-arp', type: boolType, default: false, help: 'Add ARP entries for leases' },
    { name: 'always-broadcast', type: boolType, default: false },
    { name: 'use-radius', type: enumType(['no', 'yes', 'accounting']), default: 'no' },
    { name: 'lease-script', type: stringType, default: '', help: 'Script run when a lease changes' },
    { name: 'comment', type: stringType },
    DISABLED,
    // No DHCP server runs in rospki: an enabled one can not work.
    { name: 'invalid', type: boolType, access: 'ro', compute: (row) => !propValue(DISABLED, row), flag: { letter: 'I', sharesColumnWith: 'X' }, detail: 'never' },
  ],
};


export const dhcpNetworkMenu: MenuDecl = {
  path: `${DHCP_SERVER_PATH}/network`,
  kind: 'list',
  help: 'Networks the DHCP servers describe to clients',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'comment', 'export'],
  columns: ['address', 'gateway', 'dns-server'],
  properties: [
    { name: 'address', type: ipv4NetworkType, required: true, unique: true, help: 'The network' },
    { name: 'gateway', type: stringListType, help: 'Default gateways given to clients' },
    { name: 'netmask', type: intType(0, 32), help: 'Prefix length given to clients (0: that of address)' },
    { name: 'dns-server', type: stringListType, help: 'DNS servers given to clients' },
    { name: 'domain', type: stringType, help: 'DNS domain given to clients' },
    { name: 'ntp-server', type: stringListType, help: 'NTP servers given to clients' },
    { name: 'comment', type: stringType },
  ],
};
