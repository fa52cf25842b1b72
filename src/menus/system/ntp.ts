// /system ntp client (services spec §7.4, CERT-SPEC §10.5) and its `servers` sub-menu. The
// daemon's NTP service (src/services/ntp.ts, an SNTP client) polls the servers while
// `enabled=yes` and moves rospki's clock offset, never the host's. It writes what it knows into
// the client row (NTP_STATE): `status` (`synchronized`, or `waiting` while no server answers;
// `stopped` when disabled), synced-server, synced-stratum, system-offset and, from the second
// answer on, freq-drift. Without a daemon nothing polls: an enabled client is `waiting`.

import net from 'node:net';
import { invalidValue } from '../../errors.js';
import { boolType, enumType, intType, stringListType, stringType } from '../../menu/proptypes.js';
import { propValue } from '../../menu/generic.js';
import type { MenuDecl, PropType, PropertyDecl } from '../../menu/types.js';
import { RosArray, valueToString } from '../../menu/values.js';
import { ensureSingletonRow, resetCommand } from '../host/rows.js';

export const NTP_CLIENT_PATH = '/system/ntp/client';
export const NTP_SERVERS_PATH = `${NTP_CLIENT_PATH}/servers`;

/** What the NTP service writes into the client row (and removes when it stops or is disabled). */
export const NTP_STATE = ['status', 'synced-server', 'synced-stratum', 'system-offset', 'freq-drift'] as const;
export type NtpState = Partial<Record<(typeof NTP_STATE)[number], string | number>>;

const bare: PropType<string> = { ...stringType, quoted: false };

/**
 * `host`, `host:port`, `[v6]:port`, `v6` → host and port (123 unless given; the port is a rospki
 * addition for servers that are not on 123); undefined when it is none of them.
 */
export function ntpServerAddress(text: string): { host: string; port: number } | undefined {
  const t = text.trim();
  let host = t;
  let port = 123;
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(t);
  const hostPort = /^([^:]+):(\d{1,5})$/.exec(t);
  if (bracket) { host = bracket[1]!; port = bracket[2] ? Number(bracket[2]) : 123; } else if (hostPort) { host = hostPort[1]!; port = Number(hostPort[2]); }
  host = host.replace(/%.*$/, '');
  if (host === '' || port < 1 || port > 65535 || !(net.isIP(host) || /^[A-Za-z0-9.-]+$/.test(host))) return undefined;
  return { host, port };
}

/**
 * The client's `servers`: a comma list of ntpServerAddress, `""` the empty list. An empty or
 * malformed entry (`servers=,,,`, `a,,b`) is refused, not dropped, so nothing changes.
 */
const serverListType: PropType<string[]> = {
  ...stringListType,
  help: 'IP address or DNS name[,…]',
  parse(v, _ctx, name) {
    const parts = (v instanceof RosArray ? v.values().map(valueToString) : valueToString(v).split(',')).map((s) => s.trim());
    if (parts.length === 1 && parts[0] === '') return [];
    if (parts.some((p) => !ntpServerAddress(p))) throw invalidValue(name);
    return parts;
  },
};

export const NTP_ENABLED: PropertyDecl<boolean> = { name: 'enabled', type: boolType, default: false, help: 'Run the NTP client' };

const clientProperties: PropertyDecl[] = [
  NTP_ENABLED,
  { name: 'mode', type: enumType(['unicast', 'broadcast', 'multicast', 'manycast']), default: 'unicast', help: 'How servers are found' },
  { name: 'servers', type: serverListType, default: [], help: 'NTP servers: addresses or DNS names' },
  { name: 'vrf', type: enumType(['main']), default: 'main' },
  // Written by the NTP service (src/services/ntp.ts).
  { name: 'freq-drift', type: bare, access: 'ro' },
  {
    name: 'status', type: bare, access: 'ro',
    compute: (row) => (propValue(NTP_ENABLED, row) ? (typeof row.status === 'string' ? row.status : 'waiting') : 'stopped'),
  },
  { name: 'synced-server', type: bare, access: 'ro' },
  { name: 'synced-stratum', type: intType(0, 16), access: 'ro' },
  { name: 'system-offset', type: bare, access: 'ro' },
];

const clientBase: MenuDecl = {
  path: NTP_CLIENT_PATH,
  kind: 'singleton',
  help: 'NTP client',
  verbs: ['print', 'get', 'set', 'export'],
  properties: clientProperties,
};

export const ntpClientMenu: MenuDecl = {
  ...clientBase,
  commands: [
    resetCommand(clientBase),
    // SNTP measures the drift afresh from the next answers: forgetting it is removing it.
    {
      name: 'reset-freq-drift', help: 'Forget the measured frequency drift', policy: 'write', args: [],
      run: async (call) => {
        await call.env.store.write((tx) => {
          const row = tx.get(NTP_CLIENT_PATH, 1);
          if (!row || row.data['freq-drift'] === undefined) return;
          const data = { ...row.data };
          delete data['freq-drift'];
          tx.update(NTP_CLIENT_PATH, row.id, data);
        });
        return {};
      },
    },
  ],
  async prepare(env) {
    await ensureSingletonRow(env, ntpClientMenu);
  },
};

/** `/system ntp client servers`: one row per server with its polling settings (7.x). */
export const ntpServersMenu: MenuDecl = {
  path: NTP_SERVERS_PATH,
  kind: 'list',
  help: 'NTP servers of the client',
  key: 'address',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  columns: ['address', 'resolved-address', 'min-poll', 'max-poll'],
  properties: [
    { name: 'address', type: bare, required: true, unique: true, help: 'Server address or DNS name' },
    { name: 'auth-key', type: bare, default: 'none', help: 'Key to authenticate the server' },
    { name: 'iburst', type: boolType, default: true, help: 'Send a burst of packets first' },
    { name: 'min-poll', type: intType(3, 17, { numeric: true }), default: 6, help: 'Shortest poll interval (log2 seconds)' },
    { name: 'max-poll', type: intType(3, 17, { numeric: true }), default: 10, help: 'Longest poll interval (log2 seconds)' },
    // Filled in by a client that resolved the name; none runs yet.
    { name: 'resolved-address', type: bare, access: 'ro' },
    { name: 'comment', type: stringType },
    { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' },
    // Servers learnt from DHCP (use-peer-ntp): rospki runs no DHCP client, so none.
    { name: 'dynamic', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'D' }, detail: 'never' },
  ],
};
