// A small HTTPS front of pebble (test/support/pebble.ts) for what pebble 2.4 can not do: its
// directory, with RFC 9773's renewalInfo added (answered here with a chosen window), and, when
// asked, a newOrder that answers `rateLimited` with Retry-After. Everything else in the directory
// still names pebble itself, so the signed requests reach pebble unchanged (the JWS `url` must
// be the URL pebble sees). It listens on 127.0.0.1 with pebble's own TLS certificate.

import fs from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import type { Pebble } from './pebble.js';

export interface AcmeProxy {
  directory: string;
  /** The renewal window served for every certificate (epoch ms), or none: 404. */
  window?: { start: number; end: number };
  /** newOrder answers `rateLimited` with this Retry-After (seconds) while set. */
  rateLimitSeconds?: number;
  /** The certificate ids renewalInfo was asked for. */
  readonly asked: string[];
  stop(): Promise<void>;
}

function fetchJson(url: string, ca: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => { try { resolve(JSON.parse(Buffer.concat(parts).toString('utf8'))); } catch (e) { reject(e); } });
    }).on('error', reject);
  });
}

export async function startAcmeProxy(pebble: Pebble): Promise<AcmeProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: AcmeProxy = { directory: '', asked: [], stop: async () => {} };
  const server = https.createServer({
    cert: fs.readFileSync(path.join(pebble.folder, 'cert.pem')), key: fs.readFileSync(path.join(pebble.folder, 'key.pem')),
  }, (req, res) => {
    const origin = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const url = req.url ?? '/';
    req.resume();
    if (req.method === 'GET' && url === '/dir') {
      fetchJson(pebble.directory, pebble.minicaPem).then((dir) => {
        dir.renewalInfo = `${origin}/renewal-info`;
        if (proxy.rateLimitSeconds !== undefined) dir.newOrder = `${origin}/order-plz`;
        const body = JSON.stringify(dir);
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      }, () => { res.writeHead(502); res.end(); });
      return;
    }
    if (req.method === 'GET' && url.startsWith('/renewal-info/')) {
      proxy.asked.push(url.slice('/renewal-info/'.length));
      if (!proxy.window) { res.writeHead(404); res.end(); return; }
      const body = JSON.stringify({
        suggestedWindow: { start: new Date(proxy.window.start).toISOString(), end: new Date(proxy.window.end).toISOString() },
        explanationURL: `${origin}/why`,
      });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Retry-After': '21600', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (req.method === 'POST' && url === '/order-plz') {
      const body = JSON.stringify({
        type: 'urn:ietf:params:acme:error:rateLimited', status: 429,
        detail: 'too many new orders recently: see https://letsencrypt.org/docs/rate-limits/',
      });
      res.writeHead(429, { 'Content-Type': 'application/problem+json', 'Retry-After': String(proxy.rateLimitSeconds ?? 3600), 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.directory = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/dir`;
  proxy.stop = () => new Promise<void>((resolve) => { server.close(() => resolve()); for (const s of sockets) s.destroy(); });
  return proxy;
}
