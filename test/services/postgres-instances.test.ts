// What the instances of one PostgreSQL store share beyond the rows of the menus (issue 17): state
// that lived in one process and so let each instance behave on its own. Two appliances on one
// database of a real private cluster (test/support/postgres.ts) stand for two instances.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { ACME_TLS_ALPN, tlsAlpnCertificate } from '../../src/acme/challenges.js';
import { Appliance } from '../../src/appliance.js';
import { acmeResponder, shareTlsAlpn, SHARED_TLSALPN01_PATH } from '../../src/menus/certificate/acme-responder.js';
import { CRL_MENU_PATH, loadedCrl } from '../../src/menus/certificate/crl.js';
import { crlUrl } from '../../src/menus/certificate/sign.js';
import { SERVICE_PATH, SERVICE_STATE_PATH } from '../../src/menus/ip/service.js';
import { pemEncode } from '../../src/pki/index.js';
import { runCommand } from '../../src/services/commands.js';
import { startServices, type RunningServices } from '../../src/services/index.js';
import { Authenticator, LOGIN_FAILURES_PATH } from '../../src/services/auth.js';
import { startNetwatch } from '../../src/services/netwatch.js';
import { tempDir } from '../support/app.js';
import { postgresMissing, startPgCluster, type PgCluster } from '../support/postgres.js';
import { freePort } from './support.js';

const skip = postgresMissing();
const PASSWORD = 'right-pw-71';

describe('state shared by the instances of a PostgreSQL store', { skip }, () => {
  let cluster: PgCluster;
  let root: string;
  let url: string;
  let a: Appliance;
  let b: Appliance;
  before(async () => {
    cluster = await startPgCluster();
    root = tempDir('rospki-pg-instances-');
    url = await cluster.newDatabase();
    a = await Appliance.open(path.join(root, 'a'), { store: url });
    fs.mkdirSync(path.join(root, 'b'), { mode: 0o700 });
    fs.copyFileSync(path.join(root, 'a', 'secret.key'), path.join(root, 'b', 'secret.key'));
    b = await Appliance.open(path.join(root, 'b'), { store: url });
    const session = await a.session('admin', 'test');
    const r = await a.executor.run({ path: '/user', command: 'set', args: new Map([['numbers', 'admin'], ['password', PASSWORD]]), session });
    assert.ok(!('error' in r), JSON.stringify(r));
  });
  after(async () => {
    for (const app of [a, b]) if (app) { app.close(); await app.closed(); }
    cluster?.destroy();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  async function head(): Promise<number> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try { return Number((await c.query('SELECT version FROM rospki_head')).rows[0].version); } finally { await c.end(); }
  }

  test('netwatch: one instance probes; the other shows the same status from the stored row', async () => {
    let accepted = 0;
    const server = net.createServer((sock) => { accepted++; sock.destroy(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const na = startNetwatch(a, { pollMs: 100 });
    const nb = startNetwatch(b, { pollMs: 100 });
    const session = await b.session('admin', 'test');
    const run = (app: Appliance, command: string, args: Record<string, string>) =>
      app.executor.run({ path: '/tool/netwatch', command, args: new Map(Object.entries(args)), session });
    let id = '';
    const value = async (app: Appliance, prop: string) => (await run(app, 'get', { number: id, 'value-name': prop }) as { ret?: unknown }).ret;
    try {
      id = String((await run(b, 'add', {
        host: '127.0.0.1', type: 'tcp-conn', port: String((server.address() as net.AddressInfo).port),
        interval: '1s', 'start-delay': '0s', 'startup-delay': '0s',
      }) as { ret?: unknown }).ret);
      const end = Date.now() + 30_000;
      while (Number(await value(b, 'done-tests') ?? 0) < 3) {
        assert.ok(Date.now() < end, 'three tests');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal([na.probing, nb.probing].filter(Boolean).length, 1, 'exactly one instance probes');
      const done = Number(await value(a, 'done-tests'));
      assert.ok(accepted <= done + 1, `${accepted} connections for ${done} tests: probed once, not by both`);
      assert.equal(await value(a, 'status'), 'up');
      assert.equal(await value(b, 'status'), 'up');
    } finally {
      await na.stop();
      await nb.stop();
      server.close();
    }
  });

  test('failed logins count together on every instance: spreading them gains an attacker nothing', async () => {
    const opts = { failureDelayMs: 0, cacheMs: 0, lockoutAfter: 4, lockoutMs: 600_000 };
    const onA = new Authenticator(a, opts);
    const onB = new Authenticator(b, opts);
    // A successful login writes nothing (no commit), on either instance.
    const before = await head();
    assert.equal((await onA.login('admin', PASSWORD, '192.0.2.50', 'rest')).ok, true);
    assert.equal((await onB.login('admin', PASSWORD, '192.0.2.50', 'api')).ok, true);
    assert.equal(await head(), before, 'a successful login is no write');
    // Two failures on each instance: the fourth locks the address out on both.
    for (const [auth, i] of [[onA, 0], [onB, 1], [onA, 2]] as const) {
      assert.equal((await auth.login('admin', `guess-${i}`, '192.0.2.50', 'rest')).ok, false);
    }
    assert.equal((await onB.login('admin', PASSWORD, '192.0.2.50', 'rest')).ok, true, 'three failures do not lock yet');
    assert.equal((await onB.login('admin', 'guess-3', '192.0.2.50', 'ssh')).ok, false);
    assert.equal((await onA.login('admin', PASSWORD, '192.0.2.50', 'rest')).ok, false, 'locked on A by failures on both');
    assert.equal((await onB.login('admin', PASSWORD, '192.0.2.50', 'api')).ok, false, 'locked on B');
    assert.equal(onA.isLockedOut('192.0.2.50'), true);
    assert.equal(onB.isLockedOut('192.0.2.50'), true);
    // A third instance started now knows it too; another address is not locked.
    const onC = new Authenticator(b, opts);
    assert.equal((await onC.login('admin', PASSWORD, '192.0.2.50', 'rest')).ok, false);
    assert.equal((await onA.login('admin', PASSWORD, '192.0.2.51', 'rest')).ok, true);
    const rows = await a.store.read((tx) => tx.list(LOGIN_FAILURES_PATH).map((r) => r.data));
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.source, '192.0.2.50');
    assert.equal(rows[0]!.count, 4, 'each failure counted once, whichever instance saw it');
    const log = await a.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
    assert.equal(log.filter((m) => m.startsWith('too many login failures from 192.0.2.50')).length, 1, log.join('\n'));
  });

  test('a TLS-ALPN-01 challenge kept by one instance\'s order is answered by the other\'s www-ssl', async () => {
    // B's www-ssl as services/tls.ts makes it: its own certificate, and the responder's hooks.
    const own = tlsAlpnCertificate('own.invalid', 'not a challenge', Date.now());
    const server = tls.createServer({
      cert: pemEncode('CERTIFICATE', own.der), key: own.key.export({ type: 'pkcs8', format: 'pem' }) as string,
      ...acmeResponder(b.env).tlsHooks,
    }, (socket) => socket.end());
    server.on('tlsClientError', () => {});
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.2', resolve));
    try {
      const handshake = (servername: string, maxVersion: tls.SecureVersion) => new Promise<{ alpn: string | false | null; der: Buffer }>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.2', port, servername, ALPNProtocols: [ACME_TLS_ALPN], rejectUnauthorized: false, maxVersion });
        s.once('secureConnect', () => { resolve({ alpn: s.alpnProtocol, der: s.getPeerX509Certificate()!.raw }); s.destroy(); });
        s.once('error', reject);
      });
      const keyAuthorization = 'tokenTOKENtoken123.thumbprint';
      const digest = createHash('sha256').update(keyAuthorization).digest();
      // Nothing pending: B's own certificate.
      assert.ok(!(await handshake('host.example', 'TLSv1.3')).der.includes(digest));
      const remove = await shareTlsAlpn(a.env, 'Host.Example', keyAuthorization);
      for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
        const r = await handshake('host.example', version);
        assert.equal(r.alpn, ACME_TLS_ALPN, version);
        const cert = new X509Certificate(r.der);
        assert.equal(cert.subjectAltName, 'DNS:host.example', version);
        assert.ok(r.der.includes(digest), `${version}: the acmeIdentifier holds SHA-256 of the key authorization`);
      }
      // Another name is not answered with it.
      assert.ok(!(await handshake('other.example', 'TLSv1.3')).der.includes(digest));
      remove();
      const end = Date.now() + 20_000;
      while ((await b.store.read((tx) => tx.list(SHARED_TLSALPN01_PATH).length)) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      assert.ok(!(await handshake('host.example', 'TLSv1.3')).der.includes(digest), 'gone once the order removed it');
    } finally {
      server.close();
    }
  });

  test('a CRL downloaded with crl-store=ram on one instance is the one every instance checks against', async () => {
    const session = await a.session('admin', 'test');
    const run = async (p: string, command: string, args: Record<string, string>) => {
      const r = await a.executor.run({ path: p, command, args: new Map(Object.entries(args)), session });
      assert.ok(!('error' in r), JSON.stringify(r));
      return r;
    };
    assert.equal(await a.store.read((tx) => tx.get('/certificate/settings', 1)?.data['crl-store'] ?? 'ram'), 'ram');
    await run('/certificate', 'add', { name: 'crl-ca', 'common-name': 'crl-ca', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1' });
    await run('/certificate', 'sign', { number: 'crl-ca', 'ca-crl-host': '127.0.0.1' });
    const caId = await a.store.read((tx) => tx.findBy('/certificate', 'name', 'crl-ca')[0]!.id);
    // The CA's own publication point: read straight from the CA, no network.
    await run(CRL_MENU_PATH, 'add', { url: crlUrl('127.0.0.1', caId) });
    await run(CRL_MENU_PATH, 'download', {});
    const id = await a.store.read((tx) => tx.findBy(CRL_MENU_PATH, 'url', crlUrl('127.0.0.1', caId))[0]!.id);
    const onA = await a.store.read((tx) => loadedCrl(a.env, tx, id));
    const onB = await b.store.read((tx) => loadedCrl(b.env, tx, id));
    assert.ok(onA, 'loaded on A');
    assert.ok(onB, 'the same CRL on B, which did not download it');
    assert.equal(onB.fingerprint, onA.fingerprint);
  });

  test('each instance shows its own service state; instances that disagree do not overwrite each other', async () => {
    const session = await a.session('admin', 'test');
    const run = async (app: Appliance, p: string, command: string, args: Record<string, string>) => {
      const r = await app.executor.run({ path: p, command, args: new Map(Object.entries(args)), session: app === a ? session : await b.session('admin', 'test') });
      assert.ok(!('error' in r), String((r as { error?: unknown }).error));
      return r;
    };
    const port = await freePort();
    // Another program holds the port on B's address: B's www cannot bind, A's can.
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.2', resolve));
    await run(a, SERVICE_PATH, 'set', { numbers: 'www', port: String(port) });
    await run(a, SERVICE_PATH, 'disable', { numbers: 'api,api-ssl,ssh,ftp,telnet' });
    const running: RunningServices[] = [];
    try {
      running.push(await startServices(a, { host: '127.0.0.1', pollMs: 100 }));
      running.push(await startServices(b, { host: '127.0.0.2', pollMs: 100 }));
      const www = async (app: Appliance) => (await runCommand(app, await app.session('admin', 'test'), { path: SERVICE_PATH, command: 'print', args: new Map() })).records
        .find((r) => r.name === 'www')!;
      const end = Date.now() + 20_000;
      while ((await www(b)).invalid !== 'true' && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      const onB = await www(b);
      assert.equal(onB.invalid, 'true', JSON.stringify(onB));
      assert.match(onB.comment ?? '', new RegExp(`cannot bind to port ${port}`));
      const onA = await www(a);
      assert.equal(onA.invalid, 'false', JSON.stringify(onA));
      assert.equal(onA.comment, undefined);
      // Settled: no more writes (each instance writing its state over the other's never ends).
      const settledAt = await head();
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await head(), settledAt, 'the instances stopped writing');
      const log = await a.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
      assert.equal(log.filter((m) => m.startsWith(`www: cannot bind to port ${port}`)).length, 1, log.join('\n'));
      // The shared row carries no instance's state.
      const shared = await a.store.read((tx) => tx.findBy(SERVICE_PATH, 'name', 'www')[0]!.data);
      assert.equal(shared.invalid, undefined);
      assert.equal(shared.comment, undefined);
      // B stops: its state goes with it.
      await running.pop()!.stop();
      assert.equal(await a.store.read((tx) => tx.list(SERVICE_STATE_PATH).filter((r) => r.data.instance === b.store.instances!.self).length), 0);
    } finally {
      for (const r of running) await r.stop();
      squatter.close();
    }
  });
});
