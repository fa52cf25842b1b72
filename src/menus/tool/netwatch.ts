// /tool netwatch (manual "Netwatch", 7.4+ probe types): the entries and their scripts are kept,
// printed, found and exported with RouterOS's properties. rospki probes no host (it sends no
// ICMP and runs no monitor), so every entry shows `status=unknown`, what RouterOS shows before
// an entry's first probe completes: scripts that act on up/down (eworm's netwatch-notify: `find
// where … status!="unknown"`) see nothing to act on, never a made-up result. `since`,
// `done-tests` and `failed-tests` stay empty for the same reason.

import { invalidValue } from '../../errors.js';
import { dateType, durationType, enumType, intType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropType } from '../../menu/types.js';
import { IpAddress, valueToString } from '../../menu/values.js';
import { commentProperty, disabledNo } from '../../menu/common-props.js';

export const NETWATCH_PATH = '/tool/netwatch';

/** The host: an address (`ipv4[@vrf]`, `ipv6[@vrf]`, `fe80::1%ether1`) or, for type=dns, a name; an address reads back as an IP. */
const hostType: PropType<string> = {
  ...stringType,
  quoted: false,
  help: 'IP[@vrf] | IPv6[%interface] | domain name',
  parse(v, _ctx, name) {
    const text = valueToString(v).trim();
    if (text === '' || /\s/.test(text)) throw invalidValue(name);
    return text;
  },
  script: (v) => IpAddress.parse(v) ?? v,
};

const script = (name: string, help: string) => ({ name, type: stringType, help });

export const netwatchMenu: MenuDecl = {
  path: NETWATCH_PATH,
  kind: 'list',
  help: 'Monitor hosts (rospki sends no probes: status stays unknown)',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  columns: ['name', 'host', 'type', 'since', 'status'],
  properties: [
    { name: 'name', type: stringType, help: 'Name of the entry' },
    { name: 'host', type: hostType, required: true, help: 'Host to probe' },
    { name: 'type', type: enumType(['simple', 'icmp', 'tcp-conn', 'http-get', 'https-get', 'dns']), default: 'simple', help: 'Kind of probe' },
    { name: 'interval', type: durationType(), default: 10e9, help: 'Time between probes' },
    { name: 'timeout', type: durationType(), default: 3e9, help: 'How long to wait for an answer' },
    { name: 'start-delay', type: durationType(), default: 3e9, help: 'Wait before the first probe after the entry changes' },
    { name: 'startup-delay', type: durationType(), default: 300e9, help: 'Wait before the first probe after boot' },
    { name: 'port', type: intType(1, 65535), help: 'Port (tcp-conn, http-get, https-get)' },
    { name: 'http-codes', type: stringType, help: 'Answers that count as up (http-get, https-get)' },
    { name: 'src-address', type: stringType, help: 'Source address of the probes' },
    script('up-script', 'Run when the host goes up'),
    script('down-script', 'Run when the host goes down'),
    script('test-script', 'Run after each probe'),
    commentProperty,
    disabledNo,
    // Set by probes; rospki runs none (see above).
    { name: 'status', type: enumType(['unknown', 'up', 'down']), access: 'ro', compute: () => 'unknown' },
    { name: 'since', type: dateType, access: 'ro' },
    { name: 'done-tests', type: intType(0, Number.MAX_SAFE_INTEGER), access: 'ro' },
    { name: 'failed-tests', type: intType(0, Number.MAX_SAFE_INTEGER), access: 'ro' },
  ],
};
