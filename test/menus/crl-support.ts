// Helpers for CRL and fetch tests: an "external" CA outside rospki (keys in the test), its
// certificates put into /certificate as an import would, and a small HTTP server on 127.0.0.1.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { certificateFacts } from '../../src/menus/certificate/facts.js';
import { DER_BLOB } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { issueCertificate, parseCertificate, type IssuedCertificate } from '../../src/pki/certificate.js';
import { buildCrl, encodeCrlEntries } from '../../src/pki/crl.js';
import type { TestApp } from '../support/app.js';

const DAY = 86_400_000;

export interface ExternalCa {
  ca: IssuedCertificate;
  key: KeyObject;
  leaf(cn: string, opts?: { san?: string; cdp?: string; notBefore?: number; days?: number; publicKey?: KeyObject }): IssuedCertificate;
  crl(revoked: string[], opts?: { thisUpdate?: number; nextUpdate?: number; number?: number }): Buffer;
}

export function externalCa(cn: string, now: number): ExternalCa {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ca = issueCertificate({ subject: { commonName: cn }, keyUsage: 'key-cert-sign,crl-sign', daysValid: 3650, digest: 'sha256', notBefore: now - DAY, subjectPublicKey: publicKey, issuer: { kind: 'self', privateKey } });
  const issuer = { kind: 'ca' as const, nameDer: ca.subjectNameDer, skid: ca.skidBytes, privateKey };
  return {
    ca, key: privateKey,
    leaf(name, opts = {}) {
      const pk = opts.publicKey ?? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
      return issueCertificate({
        subject: { commonName: name }, subjectAltName: opts.san, keyUsage: 'digital-signature,tls-server', daysValid: opts.days ?? 365,
        digest: 'sha256', notBefore: opts.notBefore ?? now - DAY, subjectPublicKey: pk, issuer, crlDistributionPoint: opts.cdp,
      });
    },
    crl(revoked, opts = {}) {
      const thisUpdate = opts.thisUpdate ?? now - 3600_000;
      return buildCrl({
        issuerNameDer: ca.subjectNameDer, authorityKeyId: ca.skidBytes, privateKey, thisUpdate, nextUpdate: opts.nextUpdate ?? thisUpdate + 7 * DAY,
        crlNumber: opts.number ?? 1, entries: encodeCrlEntries(revoked.map((serial) => ({ serial, revokedAt: thisUpdate }))),
      });
    },
  };
}

/** Puts a certificate into /certificate as an import would (trusted, no key). */
export async function putCertificate(t: TestApp, name: string, der: Buffer, trusted = true): Promise<number> {
  const info = parseCertificate(der);
  return t.app.store.write((tx) => {
    const id = tx.insert(CERT_PATH, { ...certificateFacts(info), name, trusted, 'trust-store': ['all'] });
    tx.setBlob(CERT_PATH, id, DER_BLOB, der);
    return id;
  });
}

export interface TestServer {
  port: number;
  url(path: string): string;
  routes: Map<string, (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void>;
  requests: string[];
  close(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const routes: TestServer['routes'] = new Map();
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`);
      const route = routes.get((req.url ?? '').split('?')[0]!);
      if (route) route(req, res, Buffer.concat(parts));
      else { res.statusCode = 404; res.statusMessage = 'Not Found'; res.end('not found'); }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port, routes, requests,
    url: (p) => `http://127.0.0.1:${port}${p}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
