// DNS over HTTPS end to end: `dig` asks rospki (UDP and TCP, 127.0.0.1, a free port), rospki
// forwards over DoH (RFC 8484) to a node HTTPS server on 127.0.0.1 serving a certificate rospki
// issued. The one trust engine decides (trust-store `dns`): answered when trusted; SERVFAIL and
// RouterOS's log line (services spec §6.3) when the issuing CA is not trusted, when the
// certificate has expired on rospki's clock, when it is revoked (crl-use=yes).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { cli, digAnswers, digStatus, issueDohCertificate, startDnsApp, type DnsApp } from './doh-support.js';
import { startDohServer, type DohServer } from './doh-server.js';
import { needs } from '../support/tools.js';

describe('DoH forwarding through rospki', { skip: needs('dig') }, () => {
  let t: DnsApp;
  let doh: DohServer;
  let n = 0;
  /** A name nothing has asked for yet (the cache must not answer it). */
  const fresh = () => `q${++n}x.doh.test`;

  const logLines = async (): Promise<string[]> => (await cli(t, '/log print where topics~"dns"')).split('\n').filter(Boolean);
  /** Applies a configuration change now (the daemon does so on its own within milliseconds). */
  const settle = () => t.services.reconcile();

  before(async () => {
    t = await startDnsApp();
    const cert = await issueDohCertificate(t);
    doh = await startDohServer(cert);
    // The documented way to reach a DoH server by name without plain servers: a static entry.
    await cli(t, `/ip dns static add name=doh.router.test address=127.0.0.1; /ip dns set use-doh-server=https://doh.router.test:${doh.port}/dns-query verify-doh-cert=yes`);
    await settle();
  });
  after(async () => {
    await doh.close();
    await t.stop();
  });

  test('answered when the issuing CA is trusted, over UDP and TCP, through HTTP/2', async () => {
    const name = fresh();
    const udp = await t.dig(name, 'A');
    assert.equal(digStatus(udp), 'NOERROR', udp);
    assert.deepEqual(digAnswers(udp), [`${name}. 300 IN A 192.0.2.${name.split('.')[0]!.length}`]);
    const six = fresh();
    const tcp = await t.dig(six, 'AAAA', '+tcp');
    assert.equal(digStatus(tcp), 'NOERROR', tcp);
    assert.deepEqual(digAnswers(tcp), [`${six}. 300 IN AAAA 2001:db8::${six.split('.')[0]!.length}`]);
    assert.match(tcp, /\(TCP\)/);
    const txt = await t.dig(fresh(), 'TXT');
    assert.deepEqual(digAnswers(txt).map((l) => l.split(' ').slice(3).join(' ')), ['TXT "via doh"']);
    assert.deepEqual([...doh.protocols], ['h2']);
    const nx = await t.dig('nx.doh.test', 'A');
    assert.equal(digStatus(nx), 'NXDOMAIN');
  });

  test('a cached answer comes without asking the DoH server again; /ip dns cache shows it, flush empties it', async () => {
    const name = fresh();
    await t.dig(name, 'A');
    const asked = doh.queries;
    const again = await t.dig(name, 'A');
    assert.equal(digStatus(again), 'NOERROR');
    assert.match(digAnswers(again)[0]!, / (300|29\d|28\d) IN A 192\.0\.2\.\d+$/);
    assert.equal(doh.queries, asked, 'the cache answered');
    const cache = await cli(t, '/ip dns cache print where name~"doh.test"');
    assert.match(cache, new RegExp(`${name.replace(/\./g, '\\.')} +A +192\\.0\\.2\\.\\d+ +[45]m`));
    assert.match(await cli(t, '/ip dns cache all print where type=A'), /192\.0\.2\./);
    assert.notEqual(await cli(t, ':put [/ip dns get cache-used]'), '0\n');
    await cli(t, '/ip dns cache flush');
    assert.equal(await cli(t, ':put [:len [/ip dns cache find]]'), '0\n');
    await t.dig(name, 'A');
    assert.equal(doh.queries, asked + 1, 'after flush the DoH server is asked again');
  });

  test('refused (SERVFAIL) with the log line when the issuing CAs are not trusted, answered again once they are', async () => {
    // The intermediate is an anchor of its own while trusted (a local CA): neither may be.
    await cli(t, '/certificate set inter,root trusted=no');
    await settle();
    const out = await t.dig(fresh(), 'A');
    assert.equal(digStatus(out), 'SERVFAIL', out);
    assert.ok((await logLines()).some((l) => l.endsWith('dns,error DoH server connection error: SSL: ssl: no trusted CA certificate found (6)')), (await logLines()).join('\n'));
    // Trusted, but not for DNS (7.21+ trust-store): still refused.
    await cli(t, '/certificate set inter,root trusted=yes trust-store=www');
    await settle();
    assert.equal(digStatus(await t.dig(fresh(), 'A')), 'SERVFAIL');
    await cli(t, '/certificate set inter,root trust-store=dns');
    await settle();
    assert.equal(digStatus(await t.dig(fresh(), 'A')), 'NOERROR');
  });

  test('verify-doh-cert=no answers whatever the certificate', async () => {
    await cli(t, '/certificate set inter,root trusted=no; /ip dns set verify-doh-cert=no');
    await settle();
    assert.equal(digStatus(await t.dig(fresh(), 'A')), 'NOERROR');
    await cli(t, '/certificate set inter,root trusted=yes; /ip dns set verify-doh-cert=yes');
    await settle();
  });

  test('refused once rospki\'s clock is past the certificate\'s end', async () => {
    assert.equal(digStatus(await t.dig(fresh(), 'A')), 'NOERROR');
    const saved = t.clock.ms;
    t.clock.advance(31 * 86_400_000); // the DoH certificate is valid for 30 days
    try {
      const out = await t.dig(fresh(), 'A');
      assert.equal(digStatus(out), 'SERVFAIL', out);
      assert.ok((await logLines()).some((l) => /DoH server connection error: SSL: ssl: cert not valid \(after: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d < now: /.test(l)));
    } finally {
      t.clock.ms = saved;
    }
    assert.equal(digStatus(await t.dig(fresh(), 'A')), 'NOERROR');
  });

  test('refused once the certificate is revoked and crl-use=yes', async () => {
    await cli(t, '/certificate settings set crl-use=yes');
    await settle();
    assert.equal(digStatus(await t.dig(fresh(), 'A')), 'NOERROR', 'the CRLs of root and inter say nothing against it');
    await cli(t, '/certificate issued-revoke doh');
    await settle();
    const out = await t.dig(fresh(), 'A');
    assert.equal(digStatus(out), 'SERVFAIL', out);
    assert.ok((await logLines()).some((l) => l.endsWith('DoH server connection error: SSL: handshake failed: certificate revoked (6)')));
    await cli(t, '/certificate settings set crl-use=no');
    await settle();
  });
});

describe('DoH over HTTP/1.1, timeouts, and a DoH host that does not resolve', { skip: needs('dig') }, () => {
  let t: DnsApp;
  let doh: DohServer;

  before(async () => {
    t = await startDnsApp();
    doh = await startDohServer({ ...(await issueDohCertificate(t)), http1Only: true });
  });
  after(async () => {
    await doh.close();
    await t.stop();
  });

  test('a server without HTTP/2 is asked over HTTP/1.1 (kept-alive connections)', async () => {
    await cli(t, `/ip dns set use-doh-server=https://127.0.0.1:${doh.port}/dns-query verify-doh-cert=yes cache-max-ttl=0s`);
    await t.services.reconcile();
    for (let i = 0; i < 3; i++) assert.equal(digStatus(await t.dig(`h1n${i}.doh.test`, 'A')), 'NOERROR');
    assert.deepEqual([...doh.protocols], ['http/1.1']);
  });

  test('an answer that does not come within doh-timeout is SERVFAIL with the log line', async () => {
    await cli(t, '/ip dns set doh-timeout=1s');
    await t.services.reconcile();
    const out = await t.dig('slow.doh.test', 'A');
    assert.equal(digStatus(out), 'SERVFAIL', out);
    const log = await cli(t, '/log print where topics~"dns"');
    assert.match(log, /dns,error DoH server connection error: Idle timeout - waiting data/);
  });

  test('a DoH host name that resolves to nothing leaves the plain servers (none here: SERVFAIL)', async () => {
    await cli(t, '/ip dns set use-doh-server=https://unknown.router.test/dns-query');
    await t.services.reconcile();
    assert.equal(digStatus(await t.dig('x.doh.test', 'A')), 'SERVFAIL');
    assert.equal((await t.app.store.read((tx) => tx.findBy(CERT_PATH, 'name', 'doh').length)), 1);
  });
});
