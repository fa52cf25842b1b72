// /tool netwatch (manual "Netwatch", 7.4+ probe types): entries are kept, printed, found and
// exported with RouterOS's properties, and the daemon probes them (services/netwatch.ts): every
// enabled entry is tested each `interval`, its `status` goes up or down, the up-, down- and
// test-script run, and the results of the last test are shown (rtt-avg, tcp-connect-time,
// http-status-code, …). `status` is `unknown` until an entry's first test completes, after a
// change of what it probes, while it is disabled and while no daemon probes it.
//
// The results are stored in the entry's row (written by the daemon that holds the netwatch duty),
// not kept in the probing process's memory: a read costs nothing extra, and every instance of a
// PostgreSQL store shows the same status, whichever of them probes.

import { invalidValue, notEnoughPermissions } from '../../errors.js';
import { boolType, dateType, durationType, enumType, intType, refType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, Policy, PropertyDecl, PropType } from '../../menu/types.js';
import { IpAddress, valueToString } from '../../menu/values.js';
import { commentProperty, disabledNo } from '../../menu/common-props.js';
import { propValue } from '../../menu/generic.js';
import type { RowData } from '../../store/store.js';

export const NETWATCH_PATH = '/tool/netwatch';
/** /certificate (not imported from menus/certificate: that folder imports this one's). */
const CERT_MENU = '/certificate';

/** The host: an address (`ipv4[@vrf]`, `ipv6[@vrf]`, `fe80::1%ether1`) or, for type=dns, a name; an address reads back as an IP. */
const hostType: PropType<string> = {
  ...stringType,
  quoted: false,
  help: 'IP[@vrf] | IPv6[%interface] | domain name',
  parse(v, _ctx, name) {
    const text = valueToString(v).trim();
    if (text === '' || /\s/.test(text) || text.startsWith('-')) throw invalidValue(name);
    return text;
  },
  script: (v) => IpAddress.parse(v) ?? v,
};

/** An IP address (dns-server, src-address): nothing the probes could take for an option. */
const addressType: PropType<string> = {
  ...stringType,
  quoted: false,
  help: 'IP address',
  parse(v, _ctx, name) {
    const text = valueToString(v).trim();
    if (text === '') return text;
    if (!IpAddress.parse(text.replace(/@[\w.-]+$/, ''))) throw invalidValue(name);
    return text;
  },
  script: (v) => IpAddress.parse(v) ?? v,
};

/** `85.0%`: a percentage with one decimal (thr-loss-percent, loss-percent). */
const percentType: PropType<number> = {
  help: 'percent: 0..100',
  parse(v, _ctx, name) {
    const n = typeof v === 'number' ? v : Number(valueToString(v).trim().replace(/%$/, ''));
    if (!Number.isFinite(n) || n < 0 || n > 100) throw invalidValue(name);
    return Math.round(n * 10) / 10;
  },
  display: (v) => `${v.toFixed(1)}%`,
  api: (v) => `${v.toFixed(1)}%`,
  script: (v) => `${v.toFixed(1)}%`,
};

const text = (name: string, help: string): PropertyDecl<string> => ({ name, type: stringType, help });
const time = (name: string, def: number, help: string): PropertyDecl<number> => ({ name, type: durationType(), default: def, help });
const MAX_U32 = 4294967295;

/** Each property once; the service reads them through these declarations. */
export const NW = {
  name: { name: 'name', type: stringType, help: 'Name of the entry' } as PropertyDecl<string>,
  host: { name: 'host', type: hostType, required: true, help: 'Host to probe (for type=dns: the name to look up)' } as PropertyDecl<string>,
  type: { name: 'type', type: enumType(['simple', 'icmp', 'tcp-conn', 'http-get', 'https-get', 'dns']), default: 'simple', help: 'Kind of probe' } as PropertyDecl<string>,
  interval: time('interval', 10e9, 'Time between probes'),
  timeout: time('timeout', 3e9, 'How long to wait for an answer'),
  startDelay: time('start-delay', 3e9, 'Wait before the first probe after the entry is added, enabled or changed'),
  startupDelay: time('startup-delay', 300e9, 'Wait before the first probe after the daemon starts'),
  srcAddress: { name: 'src-address', type: addressType, help: 'Source address of the probes (not an address of this host: down)' } as PropertyDecl<string>,
  upScript: text('up-script', 'Run when the host goes up'),
  downScript: text('down-script', 'Run when the host goes down'),
  testScript: text('test-script', 'Run after each test'),
  // ICMP (type=icmp; simple sends one echo)
  packetCount: { name: 'packet-count', type: intType(1, 100), default: 10, help: 'Echo requests per test (icmp)' } as PropertyDecl<number>,
  packetInterval: { name: 'packet-interval', type: durationType(10e6, 5e9), default: 50e6, help: 'Time between echo requests (icmp)' } as PropertyDecl<number>,
  packetSize: { name: 'packet-size', type: intType(44, 10000), default: 54, help: 'Size of the IP packet (icmp; IPv6 adds 20)' } as PropertyDecl<number>,
  ttl: { name: 'ttl', type: intType(1, 255), help: 'Time to live of the echo requests (icmp)' } as PropertyDecl<number>,
  // The manual: an ICMP "time exceeded" counts as a valid response (with a low ttl: "monitor
  // Internet connectivity, without relying on a specific endpoint"), and the two early options
  // end a test "if it is already known" the host will be up or down (services/netwatch.ts).
  acceptIcmpTimeExceeded: { name: 'accept-icmp-time-exceeded', type: boolType, default: false, help: 'Count an ICMP time exceeded as a response (icmp)' } as PropertyDecl<boolean>,
  earlyFailureDetection: { name: 'early-failure-detection', type: boolType, default: false, help: 'End the test once it is sure to be down (icmp)' } as PropertyDecl<boolean>,
  earlySuccessDetection: { name: 'early-success-detection', type: boolType, default: false, help: 'End the test once it is sure to be up (icmp)' } as PropertyDecl<boolean>,
  thrMax: time('thr-max', 1e9, 'Fail when rtt-max is above (icmp)'),
  thrAvg: time('thr-avg', 100e6, 'Fail when rtt-avg is above (icmp)'),
  thrStdev: time('thr-stdev', 250e6, 'Fail when rtt-stdev is above (icmp)'),
  thrJitter: time('thr-jitter', 1e9, 'Fail when rtt-jitter is above (icmp)'),
  thrLossCount: { name: 'thr-loss-count', type: intType(0, MAX_U32), default: MAX_U32, help: 'Fail when loss-count is above (icmp)' } as PropertyDecl<number>,
  thrLossPercent: { name: 'thr-loss-percent', type: percentType, default: 85, help: 'Fail when loss-percent is above (icmp)' } as PropertyDecl<number>,
  // TCP and HTTP(S)
  port: { name: 'port', type: intType(1, 65535), help: 'Port (tcp-conn, http-get: 80, https-get: 443)' } as PropertyDecl<number>,
  thrTcpConnTime: time('thr-tcp-conn-time', 10e9, 'Fail when tcp-connect-time is above (tcp-conn)'),
  httpCodeMin: { name: 'http-code-min', type: intType(0, 999), default: 100, help: 'Lowest answer that counts as up (http-get, https-get)' } as PropertyDecl<number>,
  httpCodeMax: { name: 'http-code-max', type: intType(0, 999), default: 299, help: 'Highest answer that counts as up (http-get, https-get)' } as PropertyDecl<number>,
  httpCodes: { name: 'http-codes', type: stringType, help: 'Answers that count as up, e.g. 200,301-302 (instead of http-code-min..max)' } as PropertyDecl<string>,
  thrHttpTime: time('thr-http-time', 10e9, 'Fail when http-resp-time is above (http-get, https-get)'),
  checkCertificate: { name: 'check-certificate', type: enumType(['no', 'yes', 'yes-without-crl']), default: 'no', help: 'Judge the server certificate with the trust store netwatch (https-get)' } as PropertyDecl<string>,
  certificate: { name: 'certificate', type: refType(CERT_MENU, { none: true }), default: 0, help: 'Client certificate (https-get)' } as PropertyDecl<number>,
  // DNS
  dnsServer: { name: 'dns-server', type: addressType, help: 'Server to ask (default: the first of /ip dns servers)' } as PropertyDecl<string>,
  recordType: { name: 'record-type', type: enumType(['A', 'AAAA', 'MX', 'NS']), default: 'A', help: 'Record to ask for (dns)' } as PropertyDecl<string>,
  disabled: disabledNo,
};

const ro = <S>(name: string, type: PropType<S>, help: string): PropertyDecl<S> => ({ name, type, access: 'ro', help });
const countType = intType(0, Number.MAX_SAFE_INTEGER);

/** The results of the last test and the state they add up to: written by the probing daemon only. */
export const RESULT = {
  status: { name: 'status', type: enumType(['unknown', 'up', 'down']), access: 'ro', compute: (row: RowData) => row.status ?? 'unknown', help: 'up, down, or unknown before the first test' } as PropertyDecl<string>,
  since: ro('since', dateType, 'When status last changed'),
  doneTests: ro('done-tests', countType, 'Tests done'),
  failedTests: ro('failed-tests', countType, 'Tests that failed'),
  sentCount: ro('sent-count', countType, 'Echo requests sent (icmp)'),
  responseCount: ro('response-count', countType, 'Echo replies received (icmp)'),
  lossCount: ro('loss-count', countType, 'Echo requests without a reply (icmp)'),
  lossPercent: ro('loss-percent', percentType, 'Share of lost echo requests (icmp)'),
  rttAvg: ro('rtt-avg', durationType(), 'Average round trip (icmp)'),
  rttMin: ro('rtt-min', durationType(), 'Shortest round trip (icmp)'),
  rttMax: ro('rtt-max', durationType(), 'Longest round trip (icmp)'),
  rttJitter: ro('rtt-jitter', durationType(), 'rtt-max minus rtt-min (icmp)'),
  rttStdev: ro('rtt-stdev', durationType(), 'Standard deviation of the round trips (icmp)'),
  tcpConnectTime: ro('tcp-connect-time', durationType(), 'Time to connect (tcp-conn)'),
  httpStatusCode: ro('http-status-code', intType(0, 999), 'Status of the answer (http-get, https-get)'),
  httpRespTime: ro('http-resp-time', durationType(), 'Time until the answer (http-get, https-get)'),
  ip: ro('ip', stringType, 'Addresses found (dns, A)'),
  ip6: ro('ip6', stringType, 'Addresses found (dns, AAAA)'),
  mailServers: ro('mail-servers', stringType, 'Mail servers found (dns, MX)'),
  nameServers: ro('name-servers', stringType, 'Name servers found (dns, NS)'),
};

/** Every stored result (what a reset clears). */
export const RESULT_NAMES: readonly string[] = Object.values(RESULT).map((p) => p.name);
/** What a test writes (the per-type results; a test clears those of the last one first). */
export const TEST_RESULT_NAMES: readonly string[] = RESULT_NAMES.filter((n) => !['status', 'since', 'done-tests', 'failed-tests'].includes(n));

const SCRIPTS: readonly PropertyDecl[] = [NW.upScript, NW.downScript, NW.testScript];
/** What is probed: every setting but the name and the scripts (comment and results are not in NW). */
const PROBED = Object.values(NW).filter((p) => p !== NW.name && !SCRIPTS.includes(p));

/** What an entry probes, defaults applied: a change of it (set host=…, disable) starts the entry anew. */
export function probeKey(row: RowData): string {
  return JSON.stringify(PROBED.map((p) => row[p.name] ?? p.default ?? null));
}

/** The policies netwatch scripts run with (manual: "limited to read,write,test,reboot"). */
export const NETWATCH_SCRIPT_POLICIES: readonly Policy[] = ['read', 'write', 'test', 'reboot'];

export const netwatchMenu: MenuDecl = {
  path: NETWATCH_PATH,
  kind: 'list',
  help: 'Monitor hosts',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  columns: ['name', 'host', 'type', 'since', 'status'],
  properties: [
    ...Object.values(NW).filter((p) => p !== NW.disabled), commentProperty, NW.disabled,
    ...Object.values(RESULT),
  ],
  /**
   * The scripts run as *sys with read, write, test and reboot (services/netwatch.ts): nobody
   * reaches more through them than they hold, so only a user who holds all four may give or
   * change one (the rule of /system script and /system scheduler). Nor may another user change
   * what an entry with scripts probes (or enable it): that would choose when the scripts of
   * someone who holds more run, e.g. a down-script that reboots, by pointing the entry at a host
   * the user can take down at will. Removing or disabling one stops its scripts: `write` does.
   */
  authorize({ before, after }, _tx, call) {
    if (!after) return;
    const given = SCRIPTS.some((p) => (after[p.name] ?? '') !== (before?.[p.name] ?? '') && String(after[p.name] ?? '') !== '');
    const scripted = before !== undefined && SCRIPTS.some((p) => String(before[p.name] ?? '') !== '');
    const repointed = scripted && probeKey(before) !== probeKey(after) && !propValue(NW.disabled, after);
    if ((given || repointed) && NETWATCH_SCRIPT_POLICIES.some((p) => !call.policies.has(p))) throw notEnoughPermissions();
  },
  /** A change of what is probed (or disabling) forgets the last results: status is unknown again. */
  validate(row, tx, _env, id) {
    // Only type=dns looks a name up (manual: "domain name (for type=dns)"); the others probe an address.
    const host = String(row[NW.host.name] ?? '').replace(/@[\w.-]+$/, '').replace(/%[\w.-]+$/, '');
    if (row[NW.type.name] !== 'dns' && !IpAddress.parse(host)) throw invalidValue(NW.host.name);
    const before = id === undefined ? undefined : tx.get(NETWATCH_PATH, id)?.data;
    if (!before || probeKey(before) !== probeKey(row)) for (const n of RESULT_NAMES) delete row[n];
  },
};
