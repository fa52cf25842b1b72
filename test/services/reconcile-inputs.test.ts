// The services reconcile after a commit only when it changed something they read (issue 10,
// services/inputs.ts): issuing certificates no service uses costs the services no store access at
// all, while a change of what a listener serves (its certificate, the chain it builds, its /ip
// service row) reaches the very next handshake, with no reconcile call and no wait.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import type { ReadTx, WriteTx } from '../../src/store/store.js';
import { importFile, ossl, putFile } from '../menus/import-support.js';
import { tempDir } from '../support/app.js';
import { makeChain, startServiceApp, type ServiceApp } from './support.js';

let s: ServiceApp;
let chain: Awaited<ReturnType<typeof makeChain>>;

/** Store reads and writes made by code of src/services/ (by their call stacks), while counting. */
const byServices = { reads: 0, writes: 0, counting: false };

function fromServices(): boolean {
  const stack = new Error().stack ?? '';
  return /[/\\]src[/\\]services[/\\]/.test(stack);
}

before(async () => {
  Error.stackTraceLimit = 100;
  // No poll during the test: what runs is what the change hook ran.
  s = await startServiceApp({ services: { pollMs: 3_600_000 } });
  const store = s.app.store;
  const read = store.read.bind(store);
  const write = store.write.bind(store);
  store.read = <T>(fn: (tx: ReadTx) => T): Promise<T> => {
    if (byServices.counting && fromServices()) byServices.reads++;
    return read(fn);
  };
  store.write = <T>(fn: (tx: WriteTx) => T): Promise<T> => {
    if (byServices.counting && fromServices()) byServices.writes++;
    return write(fn);
  };
  chain = await makeChain(s);
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv', disabled: 'no' });
  await s.services.reconcile();
});
after(async () => { await s.stop(); });

/** Lets every reaction to the last commits run (no timer of a service is due within this). */
const settle = () => new Promise((r) => setTimeout(r, 200));

/** The certificates www-ssl presents to a new connection, leaf first (fingerprints). */
async function served(): Promise<string[]> {
  const socket = tls.connect({ port: s.ports['www-ssl'], host: '127.0.0.1', servername: 'router.test', rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
  const out: string[] = [];
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    out.push(cert.fingerprint256);
    cert = cert.issuerCertificate;
  }
  socket.destroy();
  return out;
}

const fp = (pem: string) => new X509Certificate(pem).fingerprint256;

test('issuing certificates no service uses makes the services read and write nothing', async () => {
  await settle();
  byServices.reads = byServices.writes = 0;
  byServices.counting = true;
  try {
    for (let i = 0; i < 5; i++) {
      await s.run('/certificate', 'add', { name: `leaf${i}`, 'common-name': `leaf${i}`, 'key-size': 'prime256v1' });
      await s.run('/certificate', 'sign', { number: `leaf${i}`, ca: 'inter' });
    }
    await settle();
  } finally {
    byServices.counting = false;
  }
  assert.deepEqual(byServices, { reads: 0, writes: 0, counting: false });
  // The count is of something: a change of what www-ssl serves is read by the services.
  byServices.counting = true;
  try {
    await s.run('/ip/service', 'set', { numbers: 'www-ssl', 'tls-version': 'only-1.2' });
    await settle();
  } finally {
    byServices.counting = false;
  }
  assert.ok(byServices.reads > 0, 'the listeners read /ip service after it changed');
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', 'tls-version': 'any' });
});

test('a swapped certificate serves the very next handshake, with no reconcile call and no wait', async () => {
  assert.equal((await served())[0], fp(chain.leafPem));
  const second = await makeChain(s, { leaf: 'srv2' });
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv2' });
  assert.equal((await served())[0], fp(second.leafPem));
  await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv' });
  assert.equal((await served())[0], fp(chain.leafPem));
});

test('a CA that arrives later completes the chain at the next handshake', async () => {
  // A leaf whose issuer the store does not hold yet (made by openssl, imported with its key).
  const dir = tempDir('rospki-reconcile-');
  try {
    const o = (args: string[]) => ossl(dir, args);
    const ca = ['subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid', 'basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
    fs.writeFileSync(path.join(dir, 'ca.ext'), ca.join('\n'));
    fs.writeFileSync(path.join(dir, 'leaf.ext'), ['subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid', 'subjectAltName=DNS:router.test',
      'keyUsage=digitalSignature', 'extendedKeyUsage=serverAuth'].join('\n'));
    const key = (name: string) => o(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
    key('root2'); key('inter2'); key('leaf2');
    o(['req', '-x509', '-new', '-key', 'root2.key', '-subj', '/CN=root2', '-days', '30', '-out', 'root2.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    o(['req', '-new', '-key', 'inter2.key', '-subj', '/CN=inter2', '-out', 'inter2.csr']);
    o(['x509', '-req', '-in', 'inter2.csr', '-CA', 'root2.pem', '-CAkey', 'root2.key', '-CAcreateserial', '-days', '30', '-extfile', 'ca.ext', '-out', 'inter2.pem']);
    o(['req', '-new', '-key', 'leaf2.key', '-subj', '/CN=router.test', '-out', 'leaf2.csr']);
    o(['x509', '-req', '-in', 'leaf2.csr', '-CA', 'inter2.pem', '-CAkey', 'inter2.key', '-CAcreateserial', '-days', '30', '-extfile', 'leaf.ext', '-out', 'leaf2.pem']);
    for (const f of ['leaf2.pem', 'leaf2.key', 'inter2.pem']) putFile(s, f, fs.readFileSync(path.join(dir, f)));
    await importFile(s, { 'file-name': 'leaf2.pem', passphrase: '' });
    await importFile(s, { 'file-name': 'leaf2.key', passphrase: '' });
    await s.run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'leaf2.pem_0' });
    const leaf = fp(fs.readFileSync(path.join(dir, 'leaf2.pem'), 'utf8'));
    assert.deepEqual(await served(), [leaf]);
    await importFile(s, { 'file-name': 'inter2.pem', passphrase: '' });
    assert.deepEqual(await served(), [leaf, fp(fs.readFileSync(path.join(dir, 'inter2.pem'), 'utf8'))]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
