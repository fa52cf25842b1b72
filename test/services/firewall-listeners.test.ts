// /ip firewall filter chain=input decides which connections rospki's own listeners take (issue
// 13 §6), judged with curl: a drop rule on the www port makes curl fail (the connection closed
// without a byte), a reject resets it, removing the rule restores it; counters count; an
// address-list rule blocks only the listed source (127.0.0.2 as a second loopback source);
// rules for a port nobody serves harm nothing. The UDP hook is checked on a real datagram.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, beforeEach, test } from 'node:test';
import { FILTER_PATH } from '../../src/menus/ip/firewall.js';
import { InputFirewall, SYN_BYTES } from '../../src/services/firewall.js';
import { basic, run, startServiceApp, type ServiceApp } from './support.js';

let s: ServiceApp;
before(async () => { s = await startServiceApp(); });
// A failed test must not leave its rules to the next one.
beforeEach(async () => {
  await s.app.store.write((tx) => { for (const r of tx.list(FILTER_PATH)) tx.remove(FILTER_PATH, r.id); });
});
after(async () => { await s?.stop(); });

/** curl's exit status and HTTP status for the REST landing of www, from `source`. */
async function curl(source = '127.0.0.1'): Promise<{ status: number; http: string; stderr: string }> {
  const r = await run('curl', ['-sS', '--max-time', '10', '--interface', source, '-o', '/dev/null', '-w', '%{http_code}',
    '-H', `authorization: ${basic()}`, `http://127.0.0.1:${s.ports.www}/rest/system/identity`]);
  return { status: r.status, http: r.stdout, stderr: r.stderr };
}

/**
 * A dropped connection is closed without a byte: curl sees nothing (52), or a reset (56) when its
 * request had already arrived (the kernel resets a socket closed with unread data).
 */
function assertDropped(r: { status: number; stderr: string }): void {
  assert.ok([52, 56].includes(r.status), `${r.status} ${r.stderr}`);
}

/** Adds a rule and returns its id. */
async function addRule(args: Record<string, string>): Promise<number> {
  const r = await s.run(FILTER_PATH, 'add', args);
  return Number(String(r.ret).replace('*', '0x'));
}

const counters = (id: number) => s.app.store.read((tx) => {
  const d = tx.get(FILTER_PATH, id)!.data;
  return { packets: Number(d.packets ?? 0), bytes: Number(d.bytes ?? 0) };
});

/** Counters are written every 100 ms: wait (bounded) until they reach `packets`. */
async function countedTo(id: number, packets: number): Promise<{ packets: number; bytes: number }> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    const c = await counters(id);
    if (c.packets >= packets) return c;
    await new Promise((r) => setTimeout(r, 50));
  }
  return counters(id);
}

test('a drop rule on the www port makes curl fail at once; removing it restores www; counters count', async () => {
  assert.equal((await curl()).http, '200');
  const id = await addRule({ chain: 'input', protocol: 'tcp', 'dst-port': String(s.ports.www), action: 'drop' });
  const started = Date.now();
  const dropped = await curl();
  assertDropped(dropped);
  assert.ok(Date.now() - started < 10_000);
  await curl();
  const c = await countedTo(id, 2);
  assert.deepEqual(c, { packets: 2, bytes: 2 * SYN_BYTES[4] });
  // Other services are not touched by it.
  const api = await run('curl', ['-sS', '--max-time', '5', `telnet://127.0.0.1:${s.ports.api}`], { input: '' });
  assert.notEqual(api.status, 52);
  await s.run(FILTER_PATH, 'remove', { numbers: `*${id.toString(16)}` });
  assert.equal((await curl()).http, '200');
  // print stats shows them as RouterOS does.
  const stats = await s.run(FILTER_PATH, 'print', { stats: '' });
  assert.ok(stats.print);
});

test('reject resets the connection; a disabled rule does nothing; an accept before it wins', async () => {
  const id = await addRule({ chain: 'input', protocol: 'tcp', 'dst-port': String(s.ports.www), action: 'reject', 'reject-with': 'tcp-reset' });
  // A reset: during curl's connect (7, as if nothing listened: what tcp-reset looks like from a
  // router too) or once it sent its request (55, 56) — never an answer, never a clean close.
  const rejected = await curl();
  assert.ok([7, 55, 56].includes(rejected.status), `${rejected.status} ${rejected.stderr}`);
  assert.match(rejected.stderr, /reset|Couldn't connect/i);
  await s.run(FILTER_PATH, 'disable', { numbers: `*${id.toString(16)}` });
  assert.equal((await curl()).http, '200');
  await s.run(FILTER_PATH, 'enable', { numbers: `*${id.toString(16)}` });
  const accept = await s.run(FILTER_PATH, 'add', { chain: 'input', 'src-address': '127.0.0.1', action: 'accept', 'place-before': `*${id.toString(16)}` });
  assert.equal((await curl()).http, '200');
  await s.run(FILTER_PATH, 'remove', { numbers: `${String(accept.ret)},*${id.toString(16)}` });
});

test('src-address-list blocks only the listed source (127.0.0.2), add-src-to-address-list and log record it', async () => {
  await s.run('/ip/firewall/address-list', 'add', { list: 'blocked', address: '127.0.0.2' });
  const drop = await addRule({ chain: 'input', 'src-address-list': 'blocked', action: 'drop' });
  const listed = await addRule({ chain: 'input', action: 'add-src-to-address-list', 'address-list': 'seen', 'address-list-timeout': '1h', log: 'yes', 'log-prefix': 'www' });
  assertDropped(await curl('127.0.0.2'));
  assert.equal((await curl('127.0.0.1')).http, '200');
  await countedTo(listed, 1);
  await countedTo(drop, 1);
  assert.deepEqual(await counters(drop), { packets: 1, bytes: SYN_BYTES[4] });
  const seen = await s.app.store.read((tx) => tx.list('/ip/firewall/address-list').filter((r) => r.data.list === 'seen').map((r) => r.data.address));
  assert.deepEqual(seen, ['127.0.0.1']);
  const log = await s.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
  assert.ok(log.some((l) => new RegExp(`^www input: proto TCP, 127\\.0\\.0\\.1:\\d+->127\\.0\\.0\\.1:${s.ports.www}$`).test(l)), log.join('\n'));
  // Once listed, a rule on the new list matches the next connection at once.
  const seenDrop = await addRule({ chain: 'input', 'src-address-list': 'seen', action: 'drop', 'place-before': `*${drop.toString(16)}` });
  assertDropped(await curl('127.0.0.1'));
  for (const id of [seenDrop, drop, listed]) await s.run(FILTER_PATH, 'remove', { numbers: `*${id.toString(16)}` });
  assert.equal((await curl('127.0.0.2')).http, '200');
});

test('rules for a port no service listens on (a disabled service) harm nothing', async () => {
  const id = await addRule({ chain: 'input', protocol: 'tcp', 'dst-port': String(s.ports['www-ssl']), action: 'drop' });
  const r = await run('curl', ['-sS', '--max-time', '5', `https://127.0.0.1:${s.ports['www-ssl']}/`]);
  assert.equal(r.status, 7); // connection refused: nothing listens, as before the rule
  assert.equal((await curl()).http, '200');
  assert.deepEqual(await counters(id), { packets: 0, bytes: 0 });
  await s.run(FILTER_PATH, 'remove', { numbers: `*${id.toString(16)}` });
});

test('UDP services ask admitMessage() for every datagram: a drop rule on the port, counted with its IP length', async () => {
  const firewall = new InputFirewall(s.app.env, { flushMs: 10, internalError: (e) => { throw e; } });
  const server = dgram.createSocket('udp4');
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
  const port = server.address().port;
  const verdicts: boolean[] = [];
  const got = new Promise<void>((resolve) => {
    server.on('message', (message, remote) => {
      verdicts.push(firewall.admitMessage(server, message, remote));
      if (verdicts.length === 2) resolve();
    });
  });
  const client = dgram.createSocket('udp4');
  const send = (text: string) => new Promise<void>((r) => client.send(Buffer.from(text), port, '127.0.0.1', () => r()));
  await send('before the rule');
  // The rule comes only after the first datagram was judged (30 s at most).
  for (const deadline = Date.now() + 30_000; verdicts.length < 1 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(verdicts, [true]);
  const id = await addRule({ chain: 'input', protocol: 'udp', 'dst-port': String(port), action: 'drop' });
  await send('after');
  await got;
  assert.deepEqual(verdicts, [true, false]);
  await firewall.stop();
  assert.deepEqual(await counters(id), { packets: 1, bytes: 'after'.length + 28 });
  client.close();
  server.close();
  await s.run(FILTER_PATH, 'remove', { numbers: `*${id.toString(16)}` });
});
