// /certificate enable-ssl-certificate, add-acme and acme-renew (issue 14) against Let's Encrypt's
// pebble in its hostile default (5 % of nonces refused; no authorization reuse): HTTP-01 on a
// temporary listener, TLS-ALPN-01 when port 80 is taken or closed to the CA, several names,
// renewal in place, and every failure a user must be able to act on. The console runs the
// commands (its exact lines are checked); openssl judges every certificate against pebble's root.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { AcmeClient, renewalCertId } from '../../src/acme/index.js';
import { ConsoleSession } from '../../src/console/session.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { importPkcs8Der } from '../../src/pki/index.js';
import type { RowData } from '../../src/store/store.js';
import { startAcmeProxy, type AcmeProxy } from '../support/acme-proxy.js';
import { openTestApp, opensslStatus, tempDir, toPem, type TestApp } from '../support/app.js';
import { acmeAccounts, forgetAuthorizations, PEBBLE_TOOLS, startPebble, type Pebble } from '../support/pebble.js';
import { freePort } from '../services/support.js';
import { needs } from '../support/tools.js';

const skip = needs(...PEBBLE_TOOLS);

/** Console lines as the console prints them (liveProgress: the progress lines too). */
async function con(t: TestApp, line: string, progress = false): Promise<{ ok: boolean; out: string; progress: string[] }> {
  let out = '';
  const lines: string[] = [];
  const cs = await ConsoleSession.open(t.app, {
    output: (s) => {
      // A live progress line is redrawn in place (no newline): keep each one apart.
      for (const part of s.split('\r\x1b[K')) {
        const live = /^  progress: ([^\n]*)$/.exec(part);
        if (live) lines.push(live[1]!); else out += part;
      }
    },
    liveProgress: progress,
  });
  const r = await cs.run(line);
  return { ok: r.ok, out: out + (r.error ? `${r.error}\n` : ''), progress: lines };
}

async function row(t: TestApp, name: string): Promise<{ id: number; data: RowData }> {
  const r = await t.app.store.read((tx) => tx.findBy(CERT_PATH, 'name', name)[0]);
  assert.ok(r, `certificate ${name} exists`);
  return r;
}

const rowsOf = (t: TestApp) => t.app.store.read((tx) => tx.list(CERT_PATH).map((r) => ({ id: r.id, data: r.data })));
const wwwSslCertificate = (t: TestApp) => t.app.store.read((tx) => tx.findBy('/ip/service', 'name', 'www-ssl')[0]!.data);

/** openssl verify of a stored certificate with its stored chain, against pebble's root. */
async function verifyChain(t: TestApp, pebble: Pebble, name: string): Promise<void> {
  const dir = tempDir('rospki-acme-');
  try {
    const { leaf, inters } = await t.app.store.read((tx) => {
      const r = tx.findBy(CERT_PATH, 'name', name)[0]!;
      const inter = tx.findBy(CERT_PATH, 'skid', r.data.akid)[0]!;
      return { leaf: certificateDer(tx, r.id)!, inters: certificateDer(tx, inter.id)! };
    });
    fs.writeFileSync(path.join(dir, 'leaf.pem'), toPem(leaf));
    fs.writeFileSync(path.join(dir, 'inter.pem'), toPem(inters));
    fs.writeFileSync(path.join(dir, 'root.pem'), await pebble.rootPem());
    const v = opensslStatus(['verify', '-purpose', 'sslserver', '-CAfile', path.join(dir, 'root.pem'), '-untrusted', path.join(dir, 'inter.pem'), path.join(dir, 'leaf.pem')]);
    assert.equal(v.status, 0, v.output);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A server on a port that is not rospki: HTTP answering 404 to everything. */
async function squat(port: number): Promise<{ close(): Promise<void> }> {
  const server = http.createServer((_req, res) => { res.writeHead(404); res.end('not here'); });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { close: () => new Promise<void>((resolve) => { server.close(() => resolve()); for (const s of sockets) s.destroy(); }) };
}

/** Whether something listens on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function trust(t: TestApp, pebble: Pebble): Promise<void> {
  await t.app.files.write('pebble-minica.pem', Buffer.from(pebble.minicaPem), t.app.clock.now());
  const r = await con(t, '/certificate import file-name=pebble-minica.pem passphrase=""');
  assert.ok(r.ok, r.out);
}

function usePorts(pebble: Pebble, http01 = pebble.httpPort, tlsalpn = pebble.tlsPort): void {
  process.env.ROSPKI_ACME_HTTP01_PORT = String(http01);
  process.env.ROSPKI_ACME_TLSALPN01_PORT = String(tlsalpn);
  process.env.ROSPKI_LISTEN_ADDRESS = '127.0.0.1';
}

describe('ACME certificates from pebble', { skip }, () => {
  let pebble: Pebble;
  let t: TestApp;
  let dir: string;

  before(async () => {
    pebble = await startPebble();
    dir = pebble.directory;
    usePorts(pebble);
    t = await openTestApp({ time: Date.now() });
    await trust(t, pebble);
  });
  after(async () => {
    t?.close();
    await pebble?.stop();
  });
  // Every test starts with no valid authorization at pebble: each name it orders gets a challenge.
  beforeEach(async () => { await forgetAuthorizations(pebble, t.app); });

  test('enable-ssl-certificate: HTTP-01 on a temporary listener; letsencrypt-autogen_<UTC>, its intermediate beside it, bound to www-ssl (not enabled)', async () => {
    const r = await con(t, `:put ([/certificate enable-ssl-certificate dns-name=router.test directory-url=${dir} as-value]->"progress")`);
    assert.equal(r.out, '[success] ssl certificate updated\n');
    const rows = await rowsOf(t);
    const leaf = rows.find((x) => /^letsencrypt-autogen_\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(String(x.data.name)));
    assert.ok(leaf, rows.map((x) => x.data.name).join(', '));
    assert.deepEqual(leaf.data['domain-names'], ['router.test']);
    assert.equal(leaf.data['acme-status'], 'valid');
    assert.equal(leaf.data['common-name'], 'router.test');
    assert.equal(leaf.data.trusted, false);
    const inter = rows.find((x) => x.data.skid === leaf.data.akid)!;
    assert.match(String(inter.data.name), /^Pebble Intermediate CA [0-9a-f]+_\d+$/);
    assert.equal(inter.data.trusted, false, 'an intermediate from the network is no trust anchor');
    const svc = await wwwSslCertificate(t);
    assert.equal(svc.certificate, leaf.id);
    assert.equal(svc.disabled, true, 'the service is not enabled by it (spec §5.1)');
    await verifyChain(t, pebble, String(leaf.data.name));
    // The key is sealed at rest, and it is the certificate's.
    const sealed = await t.app.store.read((tx) => tx.getBlob(CERT_PATH, leaf.id, 'key')!);
    const key = importPkcs8Der(t.app.store.unseal(sealed));
    assert.ok(!sealed.includes(key.export({ type: 'pkcs8', format: 'der' }).subarray(-32)));
    // The flags and the detail a user sees.
    const detail = await con(t, `/certificate print detail where name="${String(leaf.data.name)}"`);
    assert.match(detail.out, /^ \d+ K {6}a {2}name="letsencrypt-autogen_/m);
    assert.match(detail.out, /domain-names=router\.test directory-url=https:\/\/127\.0\.0\.1:\d+\/dir\s+acme-status=valid\s+acme-next-renewal=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    const due = Number(leaf.data['invalid-before']) + 0.8 * (Number(leaf.data['invalid-after']) - Number(leaf.data['invalid-before']));
    const shown = await con(t, `:put [/certificate get "${String(leaf.data.name)}" acme-next-renewal]`);
    assert.equal(Date.parse(`${shown.out.trim().replace(' ', 'T')}Z`), Math.floor(due / 1000) * 1000);
    const log = await con(t, '/log print where topics~"acme"');
    assert.match(log.out, /acme,info ssl certificate updated\n/);
    assert.match(log.out, /acme,info next cert update scheduled at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n/);
    assert.equal(await listening(pebble.httpPort), false, 'the temporary listener is closed again');
  });

  test('run again, it renews in place: same row, name and binding, a new serial, the same key and account', async () => {
    const before = (await rowsOf(t)).find((x) => x.data['.acme'] === 'ssl')!;
    const accounts = await t.app.store.read((tx) => tx.list('/.acme-account').length);
    const r = await con(t, `/certificate enable-ssl-certificate dns-name=router.test directory-url=${dir}`, true);
    assert.ok(r.ok, r.out);
    assert.equal(r.out, '  progress: [success] ssl certificate updated\n');
    assert.deepEqual(r.progress.slice(0, 1), [`connecting to ${new URL(dir).host}`]);
    assert.ok(r.progress.includes('validating router.test (http-01 on port ' + pebble.httpPort + ' via a temporary listener)'), r.progress.join('\n'));
    const after = (await t.app.store.read((tx) => tx.get(CERT_PATH, before.id)))!;
    assert.equal(after.data.name, before.data.name);
    assert.notEqual(after.data['serial-number'], before.data['serial-number']);
    assert.notEqual(after.data.fingerprint, before.data.fingerprint);
    assert.equal(after.data.skid, before.data.skid, 'a renewal keeps the key');
    assert.equal((await wwwSslCertificate(t)).certificate, before.id);
    assert.equal(await t.app.store.read((tx) => tx.list('/.acme-account').length), accounts, 'the account is reused');
  });

  test('reset-private-key=yes: a new key, a new account and a new certificate, bound in place of the old one', async () => {
    const old = (await rowsOf(t)).find((x) => x.data['.acme'] === 'ssl')!;
    const r = await con(t, `/certificate enable-ssl-certificate dns-name=router.test directory-url=${dir} reset-private-key=yes`);
    assert.ok(r.ok, r.out);
    const now = (await rowsOf(t)).find((x) => x.data['.acme'] === 'ssl')!;
    assert.notEqual(now.id, old.id);
    assert.notEqual(now.data.skid, old.data.skid);
    assert.equal((await wwwSslCertificate(t)).certificate, now.id);
    const oldNow = await row(t, String(old.data.name));
    assert.equal(oldNow.data['.acme'], undefined, 'the earlier certificate is no longer renewed');
    const accounts = await t.app.store.read((tx) => tx.list('/.acme-account').map((a) => a.data.status));
    assert.deepEqual(accounts, ['replaced', 'valid']);
  });

  test('add-acme with several names: TLS-ALPN-01 when another program holds the HTTP-01 port', async () => {
    const other = await squat(pebble.httpPort);
    try {
      const r = await con(t, `:put [/certificate add-acme name=multi domain-names=a.router.test,b.router.test directory-url=${dir}]`, true);
      assert.match(r.out, /^\*[0-9A-F]+\n$/);
      assert.ok(r.progress.includes(`validating a.router.test (tls-alpn-01 on port ${pebble.tlsPort} via a temporary listener)`), r.progress.join('\n'));
    } finally {
      await other.close();
    }
    const m = await row(t, 'multi');
    assert.equal(m.data['subject-alt-name'], 'DNS:a.router.test,DNS:b.router.test');
    assert.deepEqual(m.data['domain-names'], ['a.router.test', 'b.router.test']);
    assert.equal(m.data['acme-status'], 'valid');
    assert.equal((await con(t, ':put [/certificate get multi acme-managed]')).out, 'true\n');
    await verifyChain(t, pebble, 'multi');
  });

  test('acme-renew forces a renewal; a certificate not managed by ACME is refused', async () => {
    const before = await row(t, 'multi');
    const r = await con(t, '/certificate acme-renew multi');
    assert.equal(r.out, '  progress: [success] certificate renewed\n');
    const after = await row(t, 'multi');
    assert.equal(after.id, before.id);
    assert.notEqual(after.data['serial-number'], before.data['serial-number']);
    assert.equal((await con(t, '/certificate acme-renew pebble-minica.pem_0')).out, 'failure: certificate pebble-minica.pem_0 is not managed by ACME\n');
  });

  test('no challenge can be answered: the failure names each port and why; nothing is added', async () => {
    const a = await squat(pebble.httpPort);
    const b = await squat(pebble.tlsPort);
    const count = (await rowsOf(t)).length;
    try {
      const r = await con(t, `/certificate enable-ssl-certificate dns-name=other.router.test directory-url=${dir}`);
      assert.equal(r.out, `failure: other.router.test: no challenge can be answered: http-01 needs port ${pebble.httpPort}, another program answers on it; tls-alpn-01 needs port ${pebble.tlsPort}, another program answers on it\n`);
    } finally {
      await a.close();
      await b.close();
    }
    assert.equal((await rowsOf(t)).length, count);
    assert.match((await con(t, '/log print where topics~"error"')).out, /acme,error failed to update ssl certificate: other\.router\.test: no challenge can be answered/);
  });

  test('a wildcard name needs DNS-01: a clear failure; the ACME client stays, failed', async () => {
    const r = await con(t, `/certificate add-acme name=wild domain-names=*.router.test directory-url=${dir}`);
    assert.equal(r.out, 'failure: *.router.test: the ACME server offers dns-01, rospki answers http-01 and tls-alpn-01 (a wildcard name is validated with dns-01, which rospki can not answer)\n');
    const w = await row(t, 'wild');
    assert.equal(w.data['acme-status'], 'failed');
    assert.match(String(w.data['acme-error']), /wildcard/);
    assert.ok((await con(t, '/certificate remove wild')).ok);
  });

  test('port 80 closed to the CA: the order is tried again with TLS-ALPN-01, and succeeds', async () => {
    // rospki answers HTTP-01 on a port the CA does not reach (as behind a closed firewall).
    usePorts(pebble, await freePort());
    try {
      const r = await con(t, `/certificate enable-ssl-certificate dns-name=router.test directory-url=${dir}`, true);
      assert.ok(r.ok, r.out);
      assert.ok(r.progress.some((p) => /^the CA could not reach port \d+: trying tls-alpn-01 on port \d+$/.test(p)), r.progress.join('\n'));
      assert.ok(r.progress.includes(`validating router.test (tls-alpn-01 on port ${pebble.tlsPort} via a temporary listener)`));
    } finally {
      usePorts(pebble);
    }
  });

  test('a failed challenge: the server\'s detail, the previous certificate still bound and unchanged', async () => {
    const before = (await rowsOf(t)).find((x) => x.data['.acme'] === 'ssl')!;
    usePorts(pebble, await freePort());
    const blocker = await squat(pebble.tlsPort);
    try {
      const r = await con(t, `/certificate enable-ssl-certificate dns-name=router.test directory-url=${dir}`);
      assert.match(r.out, new RegExp(`^failure: router\\.test: http-01 validation on port \\d+ failed \\(the CA could not connect to port \\d+\\): .*connection refused.*; then router\\.test: no challenge can be answered: tls-alpn-01 needs port ${pebble.tlsPort}, another program answers on it\\n$`, 'i'));
    } finally {
      await blocker.close();
      usePorts(pebble);
    }
    const after = await t.app.store.read((tx) => tx.get(CERT_PATH, before.id)!);
    assert.equal(after.data.fingerprint, before.data.fingerprint);
    assert.equal((await wwwSslCertificate(t)).certificate, before.id);
    assert.equal(after.data['acme-status'], 'failed');
    assert.match(String(after.data['acme-error']), /connection refused/i);
    assert.ok(Number(after.data['.acme-retry-at']) > t.app.clock.now(), 'it is tried again later');
    // The next success clears it.
    assert.ok((await con(t, `/certificate enable-ssl-certificate dns-name=router.test directory-url=${dir}`)).ok);
    const cleared = await t.app.store.read((tx) => tx.get(CERT_PATH, before.id)!);
    assert.equal(cleared.data['acme-status'], 'valid');
    assert.equal(cleared.data['acme-error'], undefined);
  });

  test('a name the CA can not resolve: a clear failure', async () => {
    await pebble.challtest('/set-servfail', { host: 'nowhere.router.test' });
    const r = await con(t, `/certificate enable-ssl-certificate dns-name=nowhere.router.test directory-url=${dir}`);
    assert.match(r.out, /^failure: nowhere\.router\.test: the name does not resolve for the CA: .*could not resolve.*\n$/i);
  });

  test('unreachable, untrusted and non-https directories', async () => {
    const closed = await freePort();
    assert.equal((await con(t, `/certificate enable-ssl-certificate dns-name=router.test directory-url=https://127.0.0.1:${closed}/dir`)).out,
      `failure: ACME server 127.0.0.1:${closed} is not reachable: closing connection: <connection failed> 127.0.0.1:${closed} (140)\n`);
    assert.equal((await con(t, '/certificate enable-ssl-certificate dns-name=router.test directory-url=http://127.0.0.1/dir')).out,
      'failure: invalid directory-url "http://127.0.0.1/dir": ACME is spoken over https only (RFC 8555 §6.1)\n');
    assert.equal((await con(t, '/certificate enable-ssl-certificate dns-name=bad..name')).out,
      'failure: invalid dns-name "bad..name": expected a DNS name like router.example.com\n');
    const fresh = await openTestApp({ time: Date.now() });
    try {
      assert.equal((await con(fresh, `/certificate enable-ssl-certificate dns-name=router.test directory-url=${dir}`)).out,
        `failure: ACME server ${new URL(dir).host} is not reachable: ssl connection error: handshake failed: unable to get local issuer certificate (6)\n`);
      // Without dns-name the /ip cloud name is used; without DDNS there is none.
      assert.equal((await con(fresh, '/certificate enable-ssl-certificate')).out,
        'failure: no dns-name given and /ip cloud has none: give dns-name=, or /ip cloud set ddns-enabled=yes\n');
    } finally {
      fresh.close();
    }
  });

  test('without dns-name: the /ip cloud name, and a script error :do {} on-error={} catches', async () => {
    assert.ok((await con(t, '/ip cloud set ddns-enabled=yes')).ok);
    const cloud = (await con(t, ':put [/ip cloud get dns-name]')).out.trim();
    assert.match(cloud, /^[0-9a-f]{12}\.sn\.mynetname\.net$/);
    const r = await con(t, `/certificate enable-ssl-certificate directory-url=${dir}`);
    assert.ok(r.ok, r.out);
    const ssl = (await rowsOf(t)).find((x) => x.data['.acme'] === 'ssl')!;
    assert.deepEqual(ssl.data['domain-names'], [cloud]);
    const caught = await con(t, `:do { /certificate enable-ssl-certificate dns-name=router.test directory-url=https://127.0.0.1:${await freePort()}/dir } on-error={ :put "caught" }`);
    assert.equal(caught.out, 'caught\n');
  });

  test('a deactivated account: a clear failure, then a new account at the next attempt', async () => {
    const [account] = await acmeAccounts(t.app);
    assert.ok(account);
    const https = await import('node:https');
    const client = new AcmeClient({
      directoryUrl: dir, accountKey: account.key, accountUrl: account.url,
      http: (req) => new Promise((resolve, reject) => {
        const q = https.request(req.url, { method: req.method, headers: req.headers, ca: pebble.minicaPem }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
        });
        q.on('error', reject);
        q.end(req.body);
      }),
    });
    assert.equal((await client.deactivateAccount()).status, 'deactivated');
    const r = await con(t, '/certificate acme-renew multi');
    assert.match(r.out, /^failure: the ACME account is deactivated or revoked \(.+\); a new account is registered at the next attempt\n$/);
    assert.equal((await row(t, 'multi')).data['acme-status'], 'failed');
    const again = await con(t, '/certificate acme-renew multi');
    assert.ok(again.ok, again.out);
    const statuses = await t.app.store.read((tx) => tx.list('/.acme-account').map((a) => a.data.status));
    assert.deepEqual(statuses.slice(-2), ['deactivated', 'valid']);
  });

  describe('beside a front that adds what pebble 2.4 lacks', () => {
    let proxy: AcmeProxy;
    before(async () => { proxy = await startAcmeProxy(pebble); });
    after(async () => { await proxy?.stop(); });

    test('rate limited: the failure says until when; the renewal waits that long', async () => {
      proxy.rateLimitSeconds = 7200;
      try {
        const r = await con(t, `/certificate add-acme name=limited domain-names=limited.router.test directory-url=${proxy.directory}`);
        assert.match(r.out, /^failure: rate limited by the ACME server until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d: too many new orders recently: see https:\/\/letsencrypt\.org\/docs\/rate-limits\/\n$/);
        const l = await row(t, 'limited');
        assert.equal(Number(l.data['.acme-retry-at']), t.app.clock.now() + 7_200_000, 'Retry-After decides the next attempt');
      } finally {
        proxy.rateLimitSeconds = undefined;
      }
      assert.ok((await con(t, '/certificate acme-renew limited')).ok);
      assert.equal((await row(t, 'limited')).data['acme-status'], 'valid');
    });

    test('ACME Renewal Information (RFC 9773): the CA\'s window sets the next renewal', async () => {
      const now = t.app.clock.now();
      proxy.window = { start: now + 10 * 86_400_000, end: now + 11 * 86_400_000 };
      const r = await con(t, `/certificate add-acme name=ari domain-names=ari.router.test directory-url=${proxy.directory}`);
      assert.ok(r.ok, r.out);
      const a = await row(t, 'ari');
      const at = Number(a.data['.acme-ari-at']);
      assert.ok(at >= proxy.window.start && at <= proxy.window.end, 'a moment inside the window');
      const der = await t.app.store.read((tx) => certificateDer(tx, a.id)!);
      assert.equal(proxy.asked.at(-1), renewalCertId(der), 'asked for this certificate (RFC 9773 §4.1 id)');
      assert.equal(Number(a.data['.acme-ari-check']), now + 21_600_000, 'asked again after Retry-After');
      const shown = (await con(t, ':put [/certificate get ari acme-next-renewal]')).out.trim();
      assert.equal(Date.parse(`${shown.replace(' ', 'T')}Z`), Math.floor(at / 1000) * 1000);
    });
  });
});

describe('external account binding (pebble with EAB required, refusing 30 % of nonces)', { skip }, () => {
  const KID = 'kid-1';
  const KEY = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
  let pebble: Pebble;
  let t: TestApp;

  before(async () => {
    // Hostile beyond the default 5 %: every refused nonce is retried with the fresh one (RFC 8555 §6.5).
    pebble = await startPebble({ eab: { [KID]: KEY }, env: { PEBBLE_WFE_NONCEREJECT: '30' } });
    usePorts(pebble);
    t = await openTestApp({ time: Date.now() });
    await trust(t, pebble);
  });
  after(async () => {
    t?.close();
    await pebble?.stop();
  });

  test('without it, with a wrong key, then right', async () => {
    const d = pebble.directory;
    assert.equal((await con(t, `/certificate enable-ssl-certificate dns-name=router.test directory-url=${d}`)).out,
      'failure: the ACME server requires external account binding: give eab-kid= and eab-hmac-key=\n');
    assert.equal((await con(t, `/certificate enable-ssl-certificate dns-name=router.test directory-url=${d} eab-kid=${KID}`)).out,
      'failure: external account binding needs both eab-kid= and eab-hmac-key=\n');
    const wrong = await con(t, `/certificate enable-ssl-certificate dns-name=router.test directory-url=${d} eab-kid=${KID} eab-hmac-key=${'A'.repeat(64)}`);
    assert.match(wrong.out, /^failure: the ACME server refused the external account binding \(eab-kid=kid-1\): .+\n$/);
    assert.equal(await t.app.store.read((tx) => tx.list(CERT_PATH).filter((r) => r.data['.acme']).length), 0, 'nothing half-imported');
    const right = await con(t, `/certificate enable-ssl-certificate dns-name=router.test directory-url=${d} eab-kid=${KID} eab-hmac-key=${KEY}`);
    assert.ok(right.ok, right.out);
    // add-acme takes the RouterOS 7.22 name of the key (eab-key-b64); the account is reused anyway.
    const b64 = Buffer.from(KEY, 'base64url').toString('base64');
    const added = await con(t, `/certificate add-acme domain-names=eab.router.test directory-url=${d} eab-kid=${KID} eab-key-b64="${b64}"`);
    assert.ok(added.ok, added.out);
    await verifyChain(t, pebble, 'eab.router.test');
  });
});
