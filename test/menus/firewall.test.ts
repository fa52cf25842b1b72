// /ip firewall filter and address-list through the executor: values checked and shown
// canonical, the order (move, place-before) kept across print, export and the input decision,
// counters counted and reset, address-list timeouts that count down and expire by the clock.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { renderConsole } from '../../src/menu/render.js';
import { ADDRESS_LIST_PATH, FILTER_PATH, inputDecision, recordDecision, recordEffects } from '../../src/menus/ip/firewall.js';
import { ItemId } from '../../src/menu/values.js';
import { openTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
before(async () => { t = await openTestApp(); });
after(() => t.close());

const text = async (path: string, command: string, args: Record<string, string> = {}) => renderConsole(await t.run(path, command, args), t.session);
const failureOf = async (path: string, command: string, args: Record<string, string>) => {
  try { await t.run(path, command, args); } catch (e) { return (e as Error).message; }
  return 'no error';
};
/** What the input chain does with a connection the `web` rule (no action: accept) matches. */
const chainOrder = () => t.app.store.read((tx) => inputDecision(tx, { protocol: 'tcp', srcAddress: '10.9.9.9', dstPort: 443 }, t.clock.now()));

test('values are checked and written the way RouterOS shows them', async () => {
  await t.run(FILTER_PATH, 'add', { chain: 'input', protocol: '6', 'dst-port': '443, 80', 'src-address': '10.1.2.3/8', comment: 'web' });
  const rec = (await t.run(FILTER_PATH, 'get', { number: '0' })).ret as unknown as { get(k: string): unknown };
  assert.equal(rec.get('protocol'), 'tcp');
  assert.equal(rec.get('dst-port'), '443,80');
  assert.equal(rec.get('src-address'), '10.0.0.0/8');
  assert.equal(rec.get('action'), undefined, 'no action is filled in');
  assert.equal(rec.get('packets'), 0);
  assert.equal(await failureOf(FILTER_PATH, 'add', { chain: 'input', 'dst-port': '80' }), 'dst-port needs protocol tcp, udp, udp-lite, dccp or sctp');
  assert.equal(await failureOf(FILTER_PATH, 'add', { chain: 'input', protocol: '!tcp', 'dst-port': '80' }), 'dst-port needs protocol tcp, udp, udp-lite, dccp or sctp');
  assert.equal(await failureOf(FILTER_PATH, 'add', { chain: 'input', action: 'jump' }), 'action=jump needs jump-target');
  assert.equal(await failureOf(FILTER_PATH, 'add', { action: 'drop' }), 'missing value of chain');
  assert.equal(await failureOf(FILTER_PATH, 'add', { chain: 'input', 'src-address': '10.0.0.300' }), 'invalid value for argument src-address');
  assert.equal(await failureOf(FILTER_PATH, 'add', { chain: 'input', protocol: 'tcp', 'dst-port': '90-80' }), 'invalid value for argument dst-port');
  assert.equal(await failureOf(FILTER_PATH, 'add', { chain: 'input', action: 'dr' }), 'no error', 'enum values take the one prefix rule');
  await t.run(FILTER_PATH, 'remove', { numbers: '1' });
});

test('record print in order; move and place-before reorder print, export and the decision', async () => {
  await t.run(FILTER_PATH, 'add', { chain: 'input', action: 'accept', 'in-interface': 'lo', log: 'no', 'log-prefix': '' });
  await t.run(FILTER_PATH, 'add', { chain: 'input', action: 'drop', 'place-before': '0', disabled: 'yes' });
  assert.equal(await text(FILTER_PATH, 'print'), [
    'Flags: X - DISABLED, I - INVALID; D - DYNAMIC ',
    ' 0 X  chain=input action=drop ',
    '',
    ' 1    ;;; web',
    '      chain=input src-address=10.0.0.0/8 protocol=tcp dst-port=443,80 ',
    '',
    ' 2    chain=input action=accept in-interface=lo log=no log-prefix="" ',
    '',
  ].join('\n'));
  // The disabled drop decides nothing: the web rule accepts; enabled, the drop before it decides.
  assert.equal((await chainOrder()).rule, (await t.app.store.read((tx) => tx.findBy(FILTER_PATH, 'comment', 'web')[0]!.id)));
  assert.equal((await chainOrder()).verdict, 'accept');
  await t.run(FILTER_PATH, 'enable', { numbers: '0' });
  assert.equal((await chainOrder()).verdict, 'drop');
  await t.run(FILTER_PATH, 'move', { numbers: '0' }); // no destination: to the end
  const exported = String((await t.run(FILTER_PATH, 'export', {})).text);
  assert.deepEqual(exported.split('\n').slice(3), [
    '/ip firewall filter',
    'add chain=input comment=web dst-port=443,80 protocol=tcp src-address=10.0.0.0/8',
    'add action=accept chain=input in-interface=lo log=no',
    'add action=drop chain=input',
    '',
  ]);
  assert.equal((await chainOrder()).verdict, 'accept', 'the drop is last now');
  // Item numbers name the rows of the last print (spec §7.3), so print first.
  await t.run(FILTER_PATH, 'print', {});
  await t.run(FILTER_PATH, 'move', { numbers: '2', destination: '0' });
  assert.equal((await chainOrder()).verdict, 'drop');
  const ids = await t.app.store.read((tx) => tx.list(FILTER_PATH).map((r) => r.id));
  assert.equal(ids.length, 3, 'move keeps the rows and their ids');
});

test('print stats and counters: recordDecision counts, reset-counters clears', async () => {
  const conn = { protocol: 'tcp', srcAddress: '10.9.9.9', dstPort: 8291 };
  for (let i = 0; i < 3; i++) {
    await t.app.store.write((tx) => recordDecision(t.app.env, tx, inputDecision(tx, conn, t.clock.now()), conn, 60));
  }
  const stats = await text(FILTER_PATH, 'print', { stats: '' });
  assert.match(stats, /^Columns: CHAIN, ACTION, BYTES, PACKETS$/m);
  assert.match(stats, /^0 +input +drop +180 +3$/m);
  assert.match(stats, /^1 +input +0 +0$/m);
  const rest = (await t.run(FILTER_PATH, 'print', {})).print!;
  assert.equal(rest.rows[0]!.data.packets, 3);
  await t.run(FILTER_PATH, 'reset-counters', { numbers: '0' });
  assert.match(await text(FILTER_PATH, 'print', { stats: '' }), /^0 +input +drop +0 +0$/m);
});

test('address-list: one entry per address and list, canonical values, timeouts that count down and expire', async () => {
  await t.run(ADDRESS_LIST_PATH, 'add', { list: 'blocked', address: '10.9.9.9' });
  await t.run(ADDRESS_LIST_PATH, 'add', { list: 'blocked', address: '10.1.2.3/16', timeout: '1h' });
  await t.run(ADDRESS_LIST_PATH, 'add', { list: 'other', address: '10.9.9.9' });
  await t.run(ADDRESS_LIST_PATH, 'add', { list: 'names', address: 'router.example' });
  assert.equal(await failureOf(ADDRESS_LIST_PATH, 'add', { list: 'blocked', address: '10.9.9.9' }), 'already have such entry');
  assert.equal(await failureOf(ADDRESS_LIST_PATH, 'set', { numbers: '2', list: 'blocked' }), 'already have such entry');
  assert.equal(await failureOf(ADDRESS_LIST_PATH, 'set', { numbers: '0', comment: 'kept' }), 'no error', 'setting an entry is not a clash with itself');
  assert.equal(await failureOf(ADDRESS_LIST_PATH, 'add', { list: 'x', address: '10.0.0.1-10' }), 'invalid value for argument address');
  t.clock.advance(60_000);
  const shown = await text(ADDRESS_LIST_PATH, 'print');
  assert.match(shown, /^Flags: D - DYNAMIC$/m);
  assert.match(shown, /^1 D blocked +10\.1\.0\.0\/16 +2026-01-01 00:00:00 +59m *$/m);
  // A rule on the list drops the listed address and only that.
  const listRule = (await t.run(FILTER_PATH, 'add', { chain: 'input', action: 'reject', 'src-address-list': 'blocked', 'place-before': '0' })).ret as ItemId;
  const from = (src: string) => t.app.store.read((tx) => inputDecision(tx, { protocol: 'udp', srcAddress: src, dstPort: 161 }, t.clock.now()));
  assert.deepEqual(await from('10.1.200.1'), { verdict: 'reject', rule: listRule.n, matched: [listRule.n], logs: [], listed: [] });
  assert.equal((await from('10.2.0.1')).rule === listRule.n, false, 'not in the list');
  t.clock.advance(3600_000);
  assert.notEqual((await from('10.1.200.1')).rule, listRule.n, 'an expired entry matches no more');
  const rows = (await t.run(ADDRESS_LIST_PATH, 'print', {})).print!.rows.map((r) => r.data.address);
  assert.deepEqual(rows, ['10.9.9.9', '10.9.9.9', 'router.example'], 'and is gone from the list');
  await t.run(FILTER_PATH, 'remove', { numbers: listRule });
});

test('entries a rule adds are dynamic unless address-list-timeout=none-static', async () => {
  const conn = { protocol: 'tcp', srcAddress: '10.7.0.1', dstPort: 443 };
  const listed = (list: string, timeout: number) => ({ verdict: 'accept' as const, matched: [], logs: [], listed: [{ rule: 0, list, address: conn.srcAddress, timeout }] });
  await t.app.store.write((tx) => {
    recordEffects(t.app.env, tx, listed('ram', 0), conn); // none-dynamic
    recordEffects(t.app.env, tx, listed('timed', 3600e9), conn);
    recordEffects(t.app.env, tx, listed('kept', -1), conn); // none-static
  });
  const dynamic = await t.app.store.read((tx) => Object.fromEntries(tx.list(ADDRESS_LIST_PATH)
    .filter((r) => r.data.address === conn.srcAddress).map((r) => [String(r.data.list), r.data.dynamic])));
  assert.deepEqual(dynamic, { ram: true, timed: true, kept: false });
});
