// The firewall's rule language as pure functions (src/menus/ip/firewall-match.ts): matcher
// values and the decision of the input chain for one connection (issue 13 §6 calls it).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decide, formatAddressMatcher, formatPorts, parseAddressMatcher, parsePorts, parseProtocol,
  type AddressListEntry, type Connection, type FilterRule,
} from '../../src/menus/ip/firewall-match.js';

const web: Connection = { protocol: 'tcp', srcAddress: '192.168.88.10', srcPort: 50000, dstAddress: '192.168.88.1', dstPort: 80 };
let nextId = 1;
const rule = (r: Omit<FilterRule, 'id' | 'chain'> & { chain?: string }): FilterRule => ({ id: nextId++, chain: 'input', ...r });

test('address matchers: addresses, prefixes and ranges, shown the way RouterOS shows them', () => {
  const canon = (t: string) => { const m = parseAddressMatcher(t); return m && formatAddressMatcher(m); };
  assert.equal(canon('10.1.2.3'), '10.1.2.3');
  assert.equal(canon('10.1.2.3/32'), '10.1.2.3');
  assert.equal(canon('10.1.2.3/8'), '10.0.0.0/8');
  assert.equal(canon('10.0.0.1-10.0.0.9'), '10.0.0.1-10.0.0.9');
  assert.equal(canon('2001:DB8::1/64'), '2001:db8::/64');
  assert.equal(canon('10.0.0.9-10.0.0.1'), undefined, 'a range runs upwards');
  assert.equal(canon('10.0.0.1-::1'), undefined, 'one family per range');
  assert.equal(canon('10.0.0.256'), undefined);
  assert.equal(canon('router.example'), undefined);
});

test('ports and protocols', () => {
  assert.deepEqual(parsePorts('80,443,8000-8080'), [[80, 80], [443, 443], [8000, 8080]]);
  assert.equal(formatPorts(parsePorts(' 80 , 443 ')!), '80,443');
  assert.equal(parsePorts('8080-80'), undefined);
  assert.equal(parsePorts('65536'), undefined);
  assert.equal(parsePorts('http'), undefined);
  assert.equal(parsePorts(Array.from({ length: 16 }, (_, i) => String(i + 1)).join(',')), undefined, 'at most 15 ports');
  assert.equal(parseProtocol('tcp'), 'tcp');
  assert.equal(parseProtocol('6'), 'tcp', 'a number with a name is shown by name');
  assert.equal(parseProtocol('253'), '253');
  assert.equal(parseProtocol('256'), undefined);
  assert.equal(parseProtocol('tcpx'), undefined);
});

test('the first matching rule decides; no rule, no action: accept', () => {
  assert.deepEqual(decide([], 'input', web, []), { verdict: 'accept', rule: undefined, matched: [], logs: [], listed: [] });
  const drop = rule({ action: 'drop', protocol: 'tcp', dstPort: '80' });
  const accept = rule({ action: 'accept', protocol: 'tcp' });
  const d = decide([drop, accept], 'input', web, []);
  assert.equal(d.verdict, 'drop');
  assert.equal(d.rule, drop.id);
  assert.deepEqual(d.matched, [drop.id]);
  // A rule without action acts as accept (spec §7.5).
  const bare = rule({ protocol: 'tcp' });
  assert.deepEqual(decide([bare, drop], 'input', web, []), { verdict: 'accept', rule: bare.id, matched: [bare.id], logs: [], listed: [] });
  assert.equal(decide([rule({ action: 'reject' })], 'input', web, []).verdict, 'reject');
  assert.equal(decide([rule({ action: 'tarpit' })], 'input', web, []).verdict, 'drop');
});

test('disabled rules, other chains and non-matching matchers are passed over', () => {
  const rules = [
    rule({ action: 'drop', disabled: true }),
    rule({ action: 'drop', chain: 'forward' }),
    rule({ action: 'drop', protocol: 'udp' }),
    rule({ action: 'drop', dstPort: '443' }),
    rule({ action: 'drop', srcAddress: '10.0.0.0/8' }),
    rule({ action: 'drop', dstAddress: '192.168.88.2' }),
    rule({ action: 'drop', srcPort: '1-1024' }),
    rule({ action: 'drop', inInterface: 'ether1' }),
    rule({ action: 'drop', connectionState: ['established', 'related'] }),
  ];
  const d = decide(rules, 'input', web, []);
  assert.equal(d.verdict, 'accept');
  assert.deepEqual(d.matched, []);
});

test('negation with !, ranges, port lists, protocol numbers, the interface when known', () => {
  const hit = (r: Omit<FilterRule, 'id' | 'chain'>, c: Connection = web) => decide([rule({ action: 'drop', ...r })], 'input', c, []).verdict === 'drop';
  assert.ok(hit({ protocol: '!udp' }));
  assert.ok(!hit({ protocol: '!tcp' }));
  assert.ok(hit({ protocol: '6' }));
  assert.ok(hit({ dstPort: '22,80,443' }));
  assert.ok(hit({ dstPort: '!22' }));
  assert.ok(hit({ dstPort: '1-100' }));
  assert.ok(hit({ srcAddress: '192.168.88.5-192.168.88.20' }));
  assert.ok(hit({ srcAddress: '!10.0.0.0/8' }));
  assert.ok(!hit({ srcAddress: '!192.168.88.0/24' }));
  assert.ok(hit({ connectionState: ['new'] }));
  assert.ok(hit({ inInterface: 'ether1' }, { ...web, inInterface: 'ether1' }));
  assert.ok(hit({ inInterface: '!ether1' }, { ...web, inInterface: 'bridge' }));
  assert.ok(!hit({ inInterface: 'ether1' }), 'an unknown interface matches no named one');
  // Node reports IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d.
  assert.ok(hit({ srcAddress: '192.168.88.0/24' }, { ...web, srcAddress: '::ffff:192.168.88.10' }));
  assert.ok(hit({ srcAddress: '::1' }, { ...web, srcAddress: '::1' }));
  assert.ok(!hit({ srcAddress: '127.0.0.1' }, { ...web, srcAddress: '::1' }), 'families never match each other');
});

test('address lists: only enabled entries of the named list; a DNS name matches nothing', () => {
  const lists: AddressListEntry[] = [
    { list: 'trusted', address: '192.168.88.0/24' },
    { list: 'blocked', address: '192.168.88.10', disabled: true },
    { list: 'blocked', address: 'bad.example' },
    { list: 'blocked', address: '10.0.0.1-10.0.0.5' },
  ];
  const drop = rule({ action: 'drop', srcAddressList: 'blocked' });
  assert.equal(decide([drop], 'input', web, lists).verdict, 'accept');
  assert.equal(decide([drop], 'input', { ...web, srcAddress: '10.0.0.3' }, lists).verdict, 'drop');
  const onlyTrusted = rule({ action: 'drop', srcAddressList: '!trusted' });
  assert.equal(decide([onlyTrusted], 'input', web, lists).verdict, 'accept');
  assert.equal(decide([onlyTrusted], 'input', { ...web, srcAddress: '172.16.0.1' }, lists).verdict, 'drop');
  assert.equal(decide([rule({ action: 'drop', dstAddressList: 'trusted' })], 'input', web, lists).verdict, 'drop');
});

test('jump, return, passthrough and log count on; add-src-to-address-list reports the address', () => {
  const count = rule({ action: 'passthrough' });
  const logged = rule({ action: 'log', logPrefix: 'IN' });
  const jump = rule({ action: 'jump', jumpTarget: 'mgmt' });
  const back = rule({ chain: 'mgmt', action: 'return', srcAddress: '10.0.0.0/8' });
  const list = rule({ chain: 'mgmt', action: 'add-src-to-address-list', addressList: 'seen', addressListTimeout: 3600e9 });
  const dropWeb = rule({ chain: 'mgmt', action: 'drop', dstPort: '80', protocol: 'tcp', log: true });
  const after = rule({ action: 'accept' });
  const rules = [count, logged, jump, back, list, dropWeb, after];
  const d = decide(rules, 'input', web, []);
  assert.equal(d.verdict, 'drop');
  assert.equal(d.rule, dropWeb.id);
  assert.deepEqual(d.matched, [count.id, logged.id, jump.id, list.id, dropWeb.id]);
  assert.deepEqual(d.logs, [{ rule: logged.id, prefix: 'IN' }, { rule: dropWeb.id, prefix: '' }]);
  assert.deepEqual(d.listed, [{ rule: list.id, list: 'seen', address: '192.168.88.10', timeout: 3600e9 }]);
  // From 10.x the jumped-to chain returns at once and the rule after the jump decides.
  const back10 = decide(rules, 'input', { ...web, srcAddress: '10.1.1.1' }, []);
  assert.equal(back10.verdict, 'accept');
  assert.equal(back10.rule, after.id);
});

test('a jump loop ends (bounded) instead of hanging', () => {
  const a = rule({ chain: 'a', action: 'jump', jumpTarget: 'b' });
  const b = rule({ chain: 'b', action: 'jump', jumpTarget: 'a' });
  const enter = rule({ action: 'jump', jumpTarget: 'a' });
  const d = decide([enter, a, b], 'input', web, []);
  assert.equal(d.verdict, 'accept');
  assert.ok(d.matched.length < 40, `stopped after ${d.matched.length} jumps`);
});
