// A small DNS-over-HTTPS server (RFC 8484, POST and GET) on 127.0.0.1 for the DoH tests and the
// bench: node's HTTP/2 server (HTTP/1.1 too, or only it), serving the certificate it is given.
// It answers from a fixed zone so a client can tell its answers apart:
//   <anything>.doh.test  A     192.0.2.<length of the first label>, TTL 300
//   <anything>.doh.test  AAAA  2001:db8::<length>, TXT "via doh"
//   nx.doh.test          NXDOMAIN with an SOA (negative TTL 60)
//   slow.doh.test        answered after 30 s (a client's timeout)
//   doh-check.eworm.de   TXT "doh-check-OK" (and .net): the names eworm's netwatch-dns asks
//   low-ttl.eworm.de     A 192.0.2.53, TTL 60 (and .net): what eworm's $IsDNSResolving resolves
//   anything else        REFUSED

import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type net from 'node:net';
import {
  decodeMessage, encodeMessage, message, nameToWire, RCODE, TYPE, txtData, type Message, type ResourceRecord,
} from '../../src/services/dns/wire.js';

export interface DohServer {
  readonly port: number;
  /** Queries answered so far. */
  readonly queries: number;
  /** The question names of the queries, in order (those failed on purpose too). */
  readonly asked: string[];
  /** ALPN protocols the connections spoke (`h2`, `http/1.1`). */
  readonly protocols: Set<string>;
  close(): Promise<void>;
}

const SOA = Buffer.concat([nameToWire('ns.doh.test'), nameToWire('admin.doh.test'), Buffer.from([0, 0, 0, 1, 0, 0, 14, 16, 0, 0, 7, 8, 0, 9, 58, 128, 0, 0, 0, 60])]);

/** The zone's answer to a query. */
export function dohAnswer(q: Message): Message | 'slow' {
  const question = q.questions[0];
  const base = { id: q.id, response: true, recursionDesired: q.recursionDesired, recursionAvailable: true, questions: q.questions };
  if (!question) return message({ ...base, rcode: RCODE.FORMERR });
  const name = question.name.toLowerCase();
  if (name === 'slow.doh.test') return 'slow';
  if (name === 'doh-check.eworm.de' || name === 'doh-check.eworm.net') {
    return message({ ...base, answers: question.type === TYPE.TXT ? [{ name: question.name, type: TYPE.TXT, class: 1, ttl: 300, data: txtData('doh-check-OK') }] : [] });
  }
  if (name === 'low-ttl.eworm.de' || name === 'low-ttl.eworm.net') {
    return message({ ...base, answers: question.type === TYPE.A ? [{ name: question.name, type: TYPE.A, class: 1, ttl: 60, data: Buffer.from([192, 0, 2, 53]) }] : [] });
  }
  if (name === 'nx.doh.test') {
    return message({ ...base, rcode: RCODE.NXDOMAIN, authorities: [{ name: 'doh.test', type: TYPE.SOA, class: 1, ttl: 60, data: SOA }] });
  }
  if (!name.endsWith('.doh.test')) return message({ ...base, rcode: RCODE.REFUSED });
  const n = Math.min(254, name.split('.')[0]!.length);
  const answers: ResourceRecord[] = [];
  if (question.type === TYPE.A) answers.push({ name: question.name, type: TYPE.A, class: 1, ttl: 300, data: Buffer.from([192, 0, 2, n]) });
  if (question.type === TYPE.AAAA) {
    const data = Buffer.alloc(16);
    data.writeUInt16BE(0x2001, 0);
    data.writeUInt16BE(0x0db8, 2);
    data[15] = n;
    answers.push({ name: question.name, type: TYPE.AAAA, class: 1, ttl: 300, data });
  }
  if (question.type === TYPE.TXT) answers.push({ name: question.name, type: TYPE.TXT, class: 1, ttl: 300, data: txtData('via doh') });
  return message({ ...base, answers });
}

/** failFirst: that many queries get HTTP 503 before any is answered (a client's retry). */
export async function startDohServer(opts: { key: string; cert: string; http1Only?: boolean; failFirst?: number }): Promise<DohServer> {
  let queries = 0;
  let failures = opts.failFirst ?? 0;
  const asked: string[] = [];
  const protocols = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    const reply = (status: number, body?: Buffer) => {
      if (body) {
        res.writeHead(status, { 'content-type': 'application/dns-message', 'content-length': body.length, 'cache-control': 'max-age=0' });
        res.end(body);
      } else {
        res.writeHead(status);
        res.end();
      }
    };
    const url = new URL(req.url ?? '/', 'https://doh.test');
    const answer = (wire: Buffer) => {
      let q: Message;
      try { q = decodeMessage(wire); } catch { reply(400); return; }
      asked.push(q.questions[0]?.name ?? '');
      if (failures > 0) { failures--; reply(503); return; }
      const a = dohAnswer(q);
      queries++;
      if (a === 'slow') {
        const t = setTimeout(() => { timers.delete(t); reply(200, encodeMessage(dohAnswer({ ...q, questions: [{ ...q.questions[0]!, name: 'late.doh.test' }] }) as Message)); }, 30_000);
        timers.add(t);
        return;
      }
      reply(200, encodeMessage(a));
    };
    if (url.pathname !== '/dns-query') { reply(404); return; }
    if (req.method === 'GET') {
      const dns = url.searchParams.get('dns');
      if (!dns) { reply(400); return; }
      answer(Buffer.from(dns, 'base64url'));
      return;
    }
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/dns-message') { reply(415); return; }
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => { size += c.length; if (size <= 65535) parts.push(c); });
    req.on('end', () => { if (size > 65535) reply(413); else answer(Buffer.concat(parts)); });
  };
  const server = opts.http1Only
    ? https.createServer({ key: opts.key, cert: opts.cert }, handler)
    : http2.createSecureServer({ key: opts.key, cert: opts.cert, allowHTTP1: true }, handler);
  const sockets = new Set<net.Socket>();
  server.on('secureConnection', (s: net.Socket & { alpnProtocol?: string | false }) => {
    protocols.add(s.alpnProtocol || 'http/1.1');
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get queries() { return queries; },
    asked,
    protocols,
    close: () => new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
  };
}
