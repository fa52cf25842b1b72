// src/acme without a server: JWS and thumbprints against the RFCs' own vectors, the EAB binding,
// the TLS-ALPN-01 certificate judged by openssl, RFC 9773's certificate id, problem documents and
// Retry-After, and the client's nonce handling and request bodies against a scripted transport.
import assert from 'node:assert/strict';
import { createHash, createHmac, generateKeyPairSync, verify } from 'node:crypto';
import { test } from 'node:test';
import {
  AcmeClient, AcmeProblem, decodeBase64Any, externalAccountBinding, jwkThumbprint, publicJwk, renewalCertId, retryAfterMs,
  signJws, tlsAlpnCertificate, type HttpRequest, type HttpResponse,
} from '../../src/acme/index.js';
import { importPkcs8Der, issueCertificate, parseCertificate } from '../../src/pki/index.js';
import { openssl } from '../support/app.js';

test('RFC 7638 §3.1: the JWK thumbprint of the example RSA key', () => {
  const jwk = {
    kty: 'RSA', e: 'AQAB',
    n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  };
  assert.equal(jwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
});

test('ES256 JWS: protected header, empty payload for POST-as-GET, R||S signature that verifies', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jws = signJws(privateKey, { nonce: 'n1', url: 'https://ca/x', kid: 'https://ca/acct/1' }, undefined);
  assert.equal(jws.payload, '');
  assert.deepEqual(JSON.parse(Buffer.from(jws.protected, 'base64url').toString()), { alg: 'ES256', nonce: 'n1', url: 'https://ca/x', kid: 'https://ca/acct/1' });
  const sig = Buffer.from(jws.signature, 'base64url');
  assert.equal(sig.length, 64, 'RFC 7518 §3.4: 32-byte R and S');
  assert.ok(verify('sha256', Buffer.from(`${jws.protected}.`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig));
  const withBody = signJws(privateKey, { nonce: 'n2', url: 'u', jwk: publicJwk(privateKey) }, { termsOfServiceAgreed: true });
  assert.deepEqual(JSON.parse(Buffer.from(withBody.payload, 'base64url').toString()), { termsOfServiceAgreed: true });
  // RS256 for an RSA account key
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const r = signJws(rsa.privateKey, { nonce: 'n', url: 'u' }, {});
  assert.equal(JSON.parse(Buffer.from(r.protected, 'base64url').toString()).alg, 'RS256');
  assert.ok(verify('sha256', Buffer.from(`${r.protected}.${r.payload}`), rsa.publicKey, Buffer.from(r.signature, 'base64url')));
});

test('RFC 8555 §7.3.4: the external account binding is an HS256 JWS over the account key', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwk = publicJwk(privateKey);
  const mac = decodeBase64Any('zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W')!;
  const eab = externalAccountBinding(jwk, 'kid-1', mac, 'https://ca/new-acct');
  assert.deepEqual(JSON.parse(Buffer.from(eab.protected, 'base64url').toString()), { alg: 'HS256', kid: 'kid-1', url: 'https://ca/new-acct' });
  assert.deepEqual(JSON.parse(Buffer.from(eab.payload, 'base64url').toString()), jwk);
  assert.equal(eab.signature, createHmac('sha256', mac).update(`${eab.protected}.${eab.payload}`).digest('base64url'));
  // Both alphabets, with or without padding; not base64 at all → undefined.
  assert.deepEqual(decodeBase64Any('+/+/'), Buffer.from('fbffbf', 'hex'));
  assert.deepEqual(decodeBase64Any('-_-_=='), Buffer.from('fbffbf', 'hex'));
  assert.equal(decodeBase64Any('not base64!'), undefined);
});

test('RFC 8737: the TLS-ALPN-01 certificate has only the name and the critical acmeIdentifier (openssl)', () => {
  const cert = tlsAlpnCertificate('router.test', 'token.thumb', Date.now());
  const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], cert.der);
  assert.match(text, /X509v3 Subject Alternative Name: \n\s+DNS:router\.test\n/);
  assert.match(text, /1\.3\.6\.1\.5\.5\.7\.1\.31: critical/);
  // The extension holds OCTET STRING(SHA-256("token.thumb")).
  const ext = parseCertificate(cert.der).extensions.find((e) => e.oid === '1.3.6.1.5.5.7.1.31')!;
  assert.deepEqual(ext.value, Buffer.concat([Buffer.from([0x04, 0x20]), createHash('sha256').update('token.thumb').digest()]));
  assert.equal(openssl(['x509', '-inform', 'DER', '-noout', '-checkend', '0'], cert.der).trim(), 'Certificate will not expire');
});

test('RFC 9773 §4.1: the certificate id of its own example (AKI 69:88:5B…, serial 00:87:65:43:21)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const issued = issueCertificate({
    subject: { commonName: 'router.test' }, daysValid: 90, digest: 'sha256', notBefore: Date.now(), subjectPublicKey: publicKey,
    serial: Buffer.from('87654321', 'hex'),
    issuer: { kind: 'ca', nameDer: Buffer.from('3000', 'hex'), skid: Buffer.from('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', 'hex'), privateKey },
  });
  assert.equal(renewalCertId(issued.der), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  assert.match(openssl(['x509', '-inform', 'DER', '-noout', '-serial'], issued.der), /serial=87654321/i);
});

test('problem documents and Retry-After', () => {
  const p = new AcmeProblem({
    type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'some names were refused',
    subproblems: [{ type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'not allowed', identifier: { type: 'dns', value: 'bad.test' } }],
  }, 400);
  assert.ok(p.is('rejectedIdentifier'));
  assert.equal(p.short, 'rejectedIdentifier');
  assert.equal(p.text(), 'some names were refused (bad.test: not allowed)');
  assert.equal(retryAfterMs('120'), 120_000);
  assert.equal(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', 'Wed, 21 Oct 2015 07:27:00 GMT'), 60_000);
  assert.equal(retryAfterMs('soon'), undefined);
  assert.equal(retryAfterMs(undefined), undefined);
});

/** A scripted server: answers each request from a queue, records what was sent. */
function scripted(answers: Array<(req: HttpRequest) => HttpResponse>): { sent: HttpRequest[]; http: (req: HttpRequest) => Promise<HttpResponse> } {
  const sent: HttpRequest[] = [];
  let n = 0;
  return {
    sent,
    http: async (req) => {
      sent.push(req);
      const answer = answers[n++];
      if (!answer) throw new Error(`unexpected request ${req.method} ${req.url}`);
      return answer(req);
    },
  };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse =>
  ({ status, headers: { 'content-type': 'application/json', ...headers }, body: Buffer.from(JSON.stringify(body)) });
const DIR = { newNonce: 'https://ca/nonce', newAccount: 'https://ca/acct', newOrder: 'https://ca/order', renewalInfo: 'https://ca/ari' };

test('the client retries a badNonce with the nonce of the refusal, and orders with `replaces`', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const s = scripted([
    () => json(200, DIR),
    () => ({ status: 200, headers: { 'replay-nonce': 'first' }, body: Buffer.alloc(0) }),
    () => json(400, { type: 'urn:ietf:params:acme:error:badNonce', detail: 'stale' }, { 'replay-nonce': 'second' }),
    () => json(201, { status: 'pending', identifiers: [], authorizations: [], finalize: 'f' }, { location: 'https://ca/order/1', 'replay-nonce': 'third' }),
  ]);
  const client = new AcmeClient({ directoryUrl: 'https://ca/dir', http: s.http, accountKey: importPkcs8Der(privateKey.export({ type: 'pkcs8', format: 'der' })), accountUrl: 'https://ca/acct/7' });
  const { url } = await client.newOrder(['a.test'], { replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE' });
  assert.equal(url, 'https://ca/order/1');
  assert.deepEqual(s.sent.map((r) => r.method), ['GET', 'HEAD', 'POST', 'POST']);
  const bodies = s.sent.slice(2).map((r) => JSON.parse(r.body!.toString()) as { protected: string; payload: string });
  const headers = bodies.map((b) => JSON.parse(Buffer.from(b.protected, 'base64url').toString()) as Record<string, string>);
  assert.deepEqual(headers.map((h) => h.nonce), ['first', 'second']);
  assert.equal(headers[1]!.kid, 'https://ca/acct/7');
  assert.equal(s.sent[2]!.headers!['Content-Type'], 'application/jose+json');
  assert.deepEqual(JSON.parse(Buffer.from(bodies[1]!.payload, 'base64url').toString()), {
    identifiers: [{ type: 'dns', value: 'a.test' }], replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
  });
});

test('the client hands rate limits up with their Retry-After, and reads renewal windows', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const s = scripted([
    () => json(200, DIR),
    () => ({ status: 200, headers: { 'replay-nonce': 'n' }, body: Buffer.alloc(0) }),
    () => json(429, { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many' }, { 'retry-after': '3600' }),
    () => json(200, { suggestedWindow: { start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' } }, { 'retry-after': '21600' }),
  ]);
  const client = new AcmeClient({ directoryUrl: 'https://ca/dir', http: s.http, accountKey: privateKey, accountUrl: 'https://ca/acct/7' });
  await assert.rejects(client.newOrder(['a.test']), (e: unknown) => e instanceof AcmeProblem && e.is('rateLimited') && e.retryAfterMs === 3_600_000);
  const info = await client.renewalInfo('abc.def');
  assert.equal(s.sent[3]!.url, 'https://ca/ari/abc.def');
  assert.deepEqual(info, { start: Date.parse('2026-01-01T00:00:00Z'), end: Date.parse('2026-01-02T00:00:00Z'), explanationUrl: undefined, retryAfterMs: 21_600_000 });
});
