// DNS over HTTPS through rospki (issue 13, speed): queries per second that rospki's DNS listener
// forwards over DoH to a DoH server on 127.0.0.1 with the cache off (cache-max-ttl=0s), beside
// the same queries sent straight to that server over one HTTP/2 connection with as many in
// flight; and the latency of an answer from rospki's cache beside a bare UDP round trip.

import dgram from 'node:dgram';
import http2 from 'node:http2';
import { encodeMessage, message, TYPE } from '../src/services/dns/wire.js';
import { startDohServer } from '../test/interop/doh-server.js';
import { cli, issueDohCertificate, startDnsApp } from '../test/interop/doh-support.js';
import { median, nowMs, type Line } from './support.js';

const QUERIES = 3000;
const IN_FLIGHT = 32;

const query = (id: number, name: string) => encodeMessage(message({ id, questions: [{ name, type: TYPE.A, class: 1 }] }));

/** A UDP client with many queries in flight, matched by ID. */
function udpClient(port: number) {
  const socket = dgram.createSocket('udp4');
  const waiting = new Map<number, () => void>();
  socket.on('message', (m) => { const id = m.readUInt16BE(0); waiting.get(id)?.(); waiting.delete(id); });
  return {
    ask(id: number, name: string): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiting.delete(id); reject(new Error(`no answer for ${name}`)); }, 10_000);
        waiting.set(id, () => { clearTimeout(timer); resolve(); });
        socket.send(query(id, name), port, '127.0.0.1');
      });
    },
    close: () => socket.close(),
  };
}

/** Runs `count` tasks with `inFlight` at once; returns the rate per second. */
async function rate(count: number, inFlight: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = nowMs();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) await task(next++);
  }));
  return count / ((nowMs() - start) / 1000);
}

export async function benchDns(line: Line): Promise<void> {
  const t = await startDnsApp();
  const doh = await startDohServer(await issueDohCertificate(t));
  try {
    await cli(t, `/ip dns static add name=doh.router.test address=127.0.0.1; /ip dns set use-doh-server=https://doh.router.test:${doh.port}/dns-query verify-doh-cert=yes cache-max-ttl=0s max-concurrent-queries=1000`);
    await t.services.reconcile();
    const client = udpClient(t.dnsPort);
    let id = 0;
    // Straight to the DoH server: one HTTP/2 connection (trusting rospki's root), RFC 8484 POST.
    const { rootPem } = await issueDohCertificate(t, 'doh-bench-ref');
    const session = http2.connect(`https://127.0.0.1:${doh.port}`, { ca: rootPem });
    const direct = (name: string) => new Promise<void>((resolve, reject) => {
      const body = query(0, name);
      const s = session.request({ ':method': 'POST', ':path': '/dns-query', 'content-type': 'application/dns-message', 'content-length': body.length });
      s.on('data', () => {});
      s.on('end', () => resolve());
      s.on('error', reject);
      s.end(body);
    });
    // Warm up both paths (JIT, connections).
    await rate(500, IN_FLIGHT, (i) => client.ask(id++ & 0xffff, `w${i}.doh.test`));
    await rate(500, IN_FLIGHT, (i) => direct(`w${i}.doh.test`));
    const through: number[] = [];
    const straight: number[] = [];
    for (let round = 0; round < 3; round++) {
      through.push(await rate(QUERIES, IN_FLIGHT, (i) => client.ask(id++ & 0xffff, `r${round}n${i}.doh.test`)));
      straight.push(await rate(QUERIES, IN_FLIGHT, (i) => direct(`s${round}n${i}.doh.test`)));
    }
    const r = median(through);
    const s = median(straight);
    line(`DoH forwarder, cache off, ${IN_FLIGHT} in flight (queries/s)`, r.toFixed(0), `straight ${s.toFixed(0)}/s`, r / s, 'report');

    // A cached answer: one query at a time, the same name, beside a bare UDP echo round trip.
    await cli(t, '/ip dns set cache-max-ttl=1w');
    await t.services.reconcile();
    await client.ask(id++ & 0xffff, 'cached.doh.test');
    const cached: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const start = nowMs();
      await client.ask(id++ & 0xffff, 'cached.doh.test');
      cached.push(nowMs() - start);
    }
    const echo = dgram.createSocket('udp4');
    await new Promise<void>((res) => echo.bind(0, '127.0.0.1', res));
    echo.on('message', (m, r2) => echo.send(m, r2.port, r2.address));
    const echoClient = udpClient(echo.address().port);
    const bare: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const start = nowMs();
      await echoClient.ask(id++ & 0xffff, 'cached.doh.test');
      bare.push(nowMs() - start);
    }
    echoClient.close();
    echo.close();
    const c = median(cached);
    const b = median(bare);
    line('cached DNS answer latency (median of 2000)', `${(c * 1000).toFixed(0)} µs`, `udp echo ${(b * 1000).toFixed(0)} µs`, c / b, 'report');
    session.close();
    client.close();
  } finally {
    await doh.close();
    await t.stop();
  }
}
