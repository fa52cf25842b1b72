// rospki's DNS listener with `dig`: /ip dns static (A, AAAA, CNAME, TXT, MX, NXDOMAIN, FWD,
// regexp, match-subdomain, TTL, PTR for static addresses), plain `servers` (a small UDP/TCP DNS
// server on 127.0.0.1 as the upstream), truncation and the retry over TCP, and the limits: a
// malformed query, max-concurrent-tcp-sessions, allow-remote-requests=no, a port that is taken.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { decodeMessage, encodeMessage, message, RCODE, TYPE, type Message } from '../../src/services/dns/wire.js';
import { dohAnswer } from '../interop/doh-server.js';
import { cli, digAnswers, digStatus, startDnsApp, type DnsApp } from '../interop/doh-support.js';
import { freePort, startServiceApp } from './support.js';
import { needs } from '../support/tools.js';

/** A plain DNS server (UDP and TCP) answering from the DoH test zone; counts what it was asked. */
async function startPlainUpstream(): Promise<{ port: number; asked: string[]; close(): Promise<void> }> {
  const asked: string[] = [];
  const answer = (wire: Buffer): Buffer | undefined => {
    let q: Message;
    try { q = decodeMessage(wire); } catch { return undefined; }
    asked.push(q.questions[0]?.name ?? '');
    const a = dohAnswer(q);
    return a === 'slow' ? undefined : encodeMessage(a);
  };
  for (;;) {
    const port = await freePort();
    const udp = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => { udp.once('error', () => resolve(false)); udp.bind(port, '127.0.0.1', () => resolve(true)); });
    if (!ok) { udp.close(); continue; }
    udp.on('message', (msg, r) => { const a = answer(msg); if (a) udp.send(a, r.port, r.address); });
    const tcp = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', (d) => { const a = answer(d.subarray(2)); if (a) { const l = Buffer.alloc(2); l.writeUInt16BE(a.length); s.end(Buffer.concat([l, a])); } });
    });
    await new Promise<void>((r) => tcp.listen(port, '127.0.0.1', r));
    return { port, asked, close: () => new Promise<void>((r) => { udp.close(); tcp.close(() => r()); }) };
  }
}

describe('DNS static entries and plain servers', { skip: needs('dig') }, () => {
  let t: DnsApp;
  let upstream: Awaited<ReturnType<typeof startPlainUpstream>>;

  before(async () => {
    upstream = await startPlainUpstream();
    t = await startDnsApp({ upstreamPort: upstream.port });
    await cli(t, [
      '/ip dns static add name=a.router.test address=10.1.2.3',
      '/ip dns static add name=a.router.test address=10.1.2.4 ttl=5m',
      '/ip dns static add name=six.router.test type=AAAA address=2001:db8::6',
      '/ip dns static add name=alias.router.test type=CNAME cname=www.doh.test',
      '/ip dns static add name=txt.router.test type=TXT text="hello world"',
      '/ip dns static add name=router.test type=MX mx-exchange=mail.router.test mx-preference=10',
      '/ip dns static add regexp="^ads[0-9]*\\\\.router\\\\.test\\$" type=NXDOMAIN',
      '/ip dns static add name=sub.router.test match-subdomain=yes address=10.9.9.9',
      '/ip dns static add name=off.router.test address=10.0.0.1 disabled=yes',
      `/ip dns static add name=fwd.doh.test match-subdomain=yes type=FWD forward-to=127.0.0.1`,
      `/ip dns static add name=big.router.test type=TXT text="${'x'.repeat(1500)}"`,
    ].join('\n'));
    await t.services.reconcile();
  });
  after(async () => {
    await t.stop();
    await upstream.close();
  });

  test('static A, AAAA, TXT, MX answers with their TTLs; both A entries for a name', async () => {
    assert.deepEqual(digAnswers(await t.dig('A.Router.Test', 'A')).sort(), ['A.Router.Test. 300 IN A 10.1.2.4', 'A.Router.Test. 86400 IN A 10.1.2.3']);
    assert.deepEqual(digAnswers(await t.dig('six.router.test', 'AAAA')), ['six.router.test. 86400 IN AAAA 2001:db8::6']);
    assert.deepEqual(digAnswers(await t.dig('txt.router.test', 'TXT')), ['txt.router.test. 86400 IN TXT "hello world"']);
    assert.deepEqual(digAnswers(await t.dig('router.test', 'MX')), ['router.test. 86400 IN MX 10 mail.router.test.']);
    assert.deepEqual(digAnswers(await t.dig('deep.sub.router.test', 'A')), ['deep.sub.router.test. 86400 IN A 10.9.9.9']);
    assert.deepEqual(digAnswers(await t.dig('-x', '10.1.2.3')), ['3.2.1.10.in-addr.arpa. 86400 IN PTR a.router.test.']);
  });

  test('the list order decides: an entry placed before (add place-before=) answers first, move puts it back after', async () => {
    // An NXDOMAIN entry first in the list decides for the name; placed above it, an A entry answers.
    await cli(t, '/ip dns static add name=order.router.test type=NXDOMAIN');
    assert.equal(digStatus(await t.dig('order.router.test', 'A')), 'NXDOMAIN');
    await cli(t, '/ip dns static add name=order.router.test address=10.7.7.7 place-before=[find name=order.router.test]');
    assert.deepEqual(digAnswers(await t.dig('order.router.test', 'A')), ['order.router.test. 86400 IN A 10.7.7.7']);
    await cli(t, '/ip dns static move [find name=order.router.test address=10.7.7.7]');
    assert.equal(digStatus(await t.dig('order.router.test', 'A')), 'NXDOMAIN');
  });

  test('NXDOMAIN by regexp; another type of a static name is "ok" without records; a disabled entry answers nothing', async () => {
    assert.equal(digStatus(await t.dig('ads12.router.test', 'A')), 'NXDOMAIN');
    const aaaa = await t.dig('a.router.test', 'AAAA');
    assert.equal(digStatus(aaaa), 'NOERROR');
    assert.deepEqual(digAnswers(aaaa), []);
    assert.equal(digStatus(await t.dig('off.router.test', 'A')), 'SERVFAIL', 'no servers yet: nothing to ask');
  });

  test('FWD sends a name to its server; CNAME is followed through the plain servers once they are set', async () => {
    assert.deepEqual(digAnswers(await t.dig('x.fwd.doh.test', 'A')), ['x.fwd.doh.test. 300 IN A 192.0.2.1']);
    assert.ok(upstream.asked.includes('x.fwd.doh.test'));
    await cli(t, '/ip dns set servers=127.0.0.1');
    await t.services.reconcile();
    assert.deepEqual(digAnswers(await t.dig('alias.router.test', 'A')), ['alias.router.test. 86400 IN CNAME www.doh.test.', 'www.doh.test. 300 IN A 192.0.2.3']);
    assert.deepEqual(digAnswers(await t.dig('plain.doh.test', 'A')), ['plain.doh.test. 300 IN A 192.0.2.5']);
    assert.equal(digStatus(await t.dig('nx.doh.test', 'A')), 'NXDOMAIN');
  });

  test('an answer too big for UDP is truncated; dig asks again over TCP and gets it whole', async () => {
    const out = await t.dig('big.router.test', 'TXT', '+noedns');
    assert.match(out, /Truncated, retrying in TCP mode/);
    assert.equal(digAnswers(out).length, 1);
    assert.ok(digAnswers(out)[0]!.length > 1500);
  });

  test('malformed queries: FORMERR when the header can be read, nothing for less', async () => {
    const sock = dgram.createSocket('udp4');
    try {
      const replies: Buffer[] = [];
      sock.on('message', (m) => replies.push(m));
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      sock.send(Buffer.from([1, 2, 3]), t.dnsPort, '127.0.0.1');
      const junk = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 0x0c, 0, 1])]);
      sock.send(junk, t.dnsPort, '127.0.0.1');
      const end = Date.now() + 10_000;
      while (replies.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.equal(replies.length, 1, 'one reply: the short datagram gets none');
      const reply = decodeMessage(replies[0]!);
      assert.equal(reply.id, 0x1234);
      assert.equal(reply.rcode, RCODE.FORMERR);
      // A well-formed query on the same socket is still answered.
      sock.send(encodeMessage(message({ id: 9, questions: [{ name: 'a.router.test', type: TYPE.A, class: 1 }] })), t.dnsPort, '127.0.0.1');
      while (replies.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.equal(decodeMessage(replies[1]!).answers.length, 2);
    } finally {
      sock.close();
    }
  });

  test('max-concurrent-tcp-sessions: a connection beyond it closes the one idle the longest (RFC 7766 §6.2.3)', async () => {
    await cli(t, '/ip dns set max-concurrent-tcp-sessions=2');
    await t.services.reconcile();
    const open = (): Promise<net.Socket> => new Promise((resolve, reject) => {
      const s = net.connect(t.dnsPort, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
    const closed = (s: net.Socket) => new Promise<void>((resolve) => { s.on('close', () => resolve()); s.on('error', () => {}); });
    const a = await open();
    const aClosed = closed(a);
    const b = await open();
    let c: net.Socket | undefined;
    try {
      // The server counts a connection once it accepted it: ask on both so both are counted.
      const ask = (s: net.Socket) => new Promise<void>((resolve) => {
        const q = encodeMessage(message({ id: 1, questions: [{ name: 'a.router.test', type: TYPE.A, class: 1 }] }));
        const l = Buffer.alloc(2); l.writeUInt16BE(q.length);
        s.once('data', () => resolve());
        s.write(Buffer.concat([l, q]));
      });
      await ask(a);
      await ask(b);
      c = await open();
      await aClosed;
      await ask(c);
      assert.equal(b.destroyed || c.destroyed, false);
    } finally {
      a.destroy();
      b.destroy();
      c?.destroy();
      await cli(t, '/ip dns set max-concurrent-tcp-sessions=20');
    }
  });

  test(':resolve asks the router\'s resolver (static entries, then the servers), also while allow-remote-requests=no', async () => {
    await cli(t, '/ip dns set servers=127.0.0.1');
    await t.services.reconcile();
    assert.equal(await cli(t, ':put [:resolve a.router.test]; :put [:resolve six.router.test]; :put [:resolve domain-name=six.router.test type=ipv4]'),
      '10.1.2.3\n2001:db8::6\nfailure: dns name does not exist\n');
    assert.equal(await cli(t, ':put [:resolve resolve-me.doh.test]; :put [:typeof [:resolve resolve-me.doh.test]]'), '192.0.2.10\nip\n');
    assert.ok(upstream.asked.includes('resolve-me.doh.test'), 'asked upstream');
    assert.equal(await cli(t, ':put [:resolve ads7.router.test]'), 'failure: dns name does not exist\n');
    // This host's own table still answers first (localhost).
    assert.equal(await cli(t, ':put [:resolve localhost]'), '127.0.0.1\n');
    // The router resolves for itself whether or not it answers others (manual, DNS).
    await cli(t, '/ip dns set allow-remote-requests=no');
    await t.services.reconcile();
    assert.equal(await cli(t, ':put [:resolve a.router.test]'), '10.1.2.3\n');
    // No upstream to ask: the server failure is not a missing name.
    await cli(t, '/ip dns set servers=""');
    await t.services.reconcile();
    assert.equal(await cli(t, ':put [:resolve nowhere.doh.test]'), 'failure: dns server failure\n');
    await cli(t, '/ip dns set allow-remote-requests=yes servers=127.0.0.1');
    await t.services.reconcile();
  });

  test(':resolve server= server-port= asks that server alone: no static entry, no cache', async () => {
    const at = `server=127.0.0.1 server-port=${upstream.port}`;
    // The static entry is not the answer: the server is asked, and it refuses the name.
    assert.equal(await cli(t, `:put [:resolve a.router.test ${at}]`), 'failure: dns server failure\n');
    assert.ok(upstream.asked.includes('a.router.test'), 'the server was asked');
    assert.equal(await cli(t, `:put [:resolve nx.doh.test ${at}]`), 'failure: dns name does not exist\n');
    const before = upstream.asked.filter((n) => n === 'resolve-me.doh.test').length;
    assert.equal(await cli(t, `:put [:resolve resolve-me.doh.test ${at}]; :put [:resolve domain-name=resolve-me.doh.test ${at}]`), '192.0.2.10\n192.0.2.10\n');
    assert.equal(upstream.asked.filter((n) => n === 'resolve-me.doh.test').length, before + 2, 'asked each time');
    // Nobody listens there: the server failed, the name is not known missing.
    assert.equal(await cli(t, `:put [:resolve resolve-me.doh.test server=127.0.0.1 server-port=${await freePort()}]`), 'failure: dns server failure\n');
    assert.equal(await cli(t, ':put [:resolve x.test server=dns.example]'), 'invalid value for argument server\n');
    assert.equal(await cli(t, ':put [:resolve x.test server=127.0.0.1 server-port=70000]'), 'invalid value for argument server-port\n');
  });

  test('allow-remote-requests=no: nothing listens', async () => {
    await cli(t, '/ip dns set allow-remote-requests=no');
    await t.services.reconcile();
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(t.dnsPort, '127.0.0.1', () => { s.destroy(); resolve(false); });
      s.on('error', () => resolve(true));
    });
    assert.equal(refused, true);
    await cli(t, '/ip dns set allow-remote-requests=yes');
    await t.services.reconcile();
    assert.equal(digStatus(await t.dig('a.router.test', 'A')), 'NOERROR');
  });
});

test('a DNS port that is taken shows in /ip dns status and /log', async () => {
  const blocker = net.createServer();
  const port = await freePort();
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
  const t = await startServiceApp({ services: { dnsPort: port } });
  try {
    await cli(t, '/ip dns set allow-remote-requests=yes');
    await t.services.reconcile();
    assert.equal(await cli(t, ':put [/ip dns get status]'), `cannot bind to port ${port}: Address in use (12)\n`);
    assert.match(await cli(t, '/log print where topics~"dns"'), new RegExp(`dns,error cannot bind to port ${port}: Address in use \\(12\\)`));
    await t.services.stop();
    assert.equal(await t.app.store.read((tx) => tx.get('/ip/dns', 1)?.data.status), undefined, 'no stale reason once stopped');
  } finally {
    await t.stop();
    blocker.close();
  }
});
