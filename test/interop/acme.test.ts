// The whole of issue 14 as a user meets it: a `rospki serve` daemon in its own process, pebble as
// the CA, `rospki -e` through the control socket, openssl s_client as the browser. The daemon's
// www answers HTTP-01; enable-ssl-certificate binds the certificate to www-ssl; `/system clock
// set` 80 days on makes the daemon renew it in place, and s_client sees the new serial on the same
// listener; acme-renew forces one more; a failure is a script error `:do {} on-error={}` catches.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Appliance } from '../../src/appliance.js';
import { PEBBLE_TOOLS, startPebble, type Pebble } from '../support/pebble.js';
import { tempDir } from '../support/app.js';
import { freePort, run } from '../services/support.js';
import { needs } from '../support/tools.js';

const BIN = path.resolve('bin/rospki.js');
const skip = needs(...PEBBLE_TOOLS);

describe('a rospki daemon gets, serves and renews a certificate from pebble', { skip }, () => {
  let pebble: Pebble;
  let dir: string;
  let daemon: ChildProcess;
  let ports: { www: number; 'www-ssl': number };
  let env: NodeJS.ProcessEnv;
  let rootFile: string;

  const rospki = (line: string) => run('node', [BIN, '--data', dir, '-e', line], { env, timeoutMs: 120_000 });
  /** s_client verifies www-ssl's chain against pebble's root; the serial it served. */
  const served = async (): Promise<string | undefined> => {
    const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${ports['www-ssl']}`, '-servername', 'router.test',
      '-CAfile', rootFile, '-verify_return_error', '-verify_hostname', 'router.test'], { input: '', timeoutMs: 20_000 });
    if (r.status !== 0) return undefined;
    assert.match(r.stdout, /Verification: OK/);
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(r.stdout)![0];
    return (await run('openssl', ['x509', '-noout', '-serial'], { input: leaf })).stdout.trim().replace(/^serial=/, '').toLowerCase();
  };
  const until = async (what: string, check: () => Promise<boolean>, ms = 60_000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const put = async (expr: string) => (await rospki(`:put ${expr}`)).stdout.trim();

  before(async () => {
    dir = tempDir('rospki-acme-daemon-');
    ports = { www: await freePort(), 'www-ssl': await freePort() };
    pebble = await startPebble({ httpPort: ports.www, tlsPort: ports['www-ssl'] });
    rootFile = path.join(dir, '..', `${path.basename(dir)}-root.pem`);
    fs.writeFileSync(rootFile, await pebble.rootPem());
    // Set up before the daemon runs: ports, no API listeners, the clock in UTC, pebble's HTTPS CA trusted.
    const app = await Appliance.open(dir);
    const session = await app.session('admin', 'test', { operator: true });
    const cmd = (p: string, c: string, args: Record<string, string>) => app.executor.run({ path: p, command: c, args: new Map(Object.entries(args)), session });
    await cmd('/ip/service', 'set', { numbers: 'www', port: String(ports.www) });
    await cmd('/ip/service', 'set', { numbers: 'www-ssl', port: String(ports['www-ssl']) });
    await cmd('/ip/service', 'set', { numbers: 'api,api-ssl', disabled: 'yes' });
    await cmd('/system/clock', 'set', { 'time-zone-autodetect': 'no', 'time-zone-name': 'manual' });
    await app.files.write('minica.pem', Buffer.from(pebble.minicaPem), Date.now());
    await cmd('/certificate', 'import', { 'file-name': 'minica.pem', passphrase: '' });
    app.close();
    env = {
      ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1',
      ROSPKI_ACME_HTTP01_PORT: String(ports.www), ROSPKI_ACME_TLSALPN01_PORT: String(ports['www-ssl']),
    };
    daemon = spawn('node', [BIN, 'serve', '--data', dir], { stdio: ['ignore', 'pipe', 'pipe'], env });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('daemon did not start')), 30_000);
      daemon.stdout!.setEncoding('utf8');
      daemon.stdout!.on('data', (c: string) => { if (c.includes('serving')) { clearTimeout(timer); resolve(); } });
      daemon.once('exit', () => { clearTimeout(timer); reject(new Error('daemon exited')); });
    });
  });
  after(async () => {
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('close', r));
    }
    await pebble?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (rootFile) fs.rmSync(rootFile, { force: true });
  });

  test('enable-ssl-certificate through the daemon, www-ssl enabled afterwards serves the chain', async () => {
    const r = await rospki(`/certificate enable-ssl-certificate dns-name=router.test directory-url=${pebble.directory}`);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, '  progress: [success] ssl certificate updated\n');
    const name = await put('[/certificate get [/ip service get www-ssl certificate] name]');
    assert.match(name, /^letsencrypt-autogen_\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(await put('[/ip service get www-ssl disabled]'), 'true');
    assert.equal((await rospki('/ip service set www-ssl disabled=no')).status, 0);
    await until('www-ssl serves', async () => (await served()) !== undefined);
    assert.equal(await served(), await put(`[/certificate get "${name}" serial-number]`));
  });

  test('/system clock set 80 days on: the daemon renews in place; the same listener serves the new serial', async () => {
    const name = await put('[/certificate get [/ip service get www-ssl certificate] name]');
    const before = await served();
    const at = new Date(Date.now() + 80 * 86_400_000).toISOString();
    const moved = await rospki(`/system clock set date=${at.slice(0, 10)} time=${at.slice(11, 19)}`);
    assert.equal(moved.status, 0, moved.stdout);
    await until('the renewal', async () => (await put(`[/certificate get "${name}" serial-number]`)) !== before);
    const renewed = await put(`[/certificate get "${name}" serial-number]`);
    assert.equal(await put('[/certificate get [/ip service get www-ssl certificate] name]'), name, 'same name, same binding');
    await until('the new serial served', async () => (await served()) === renewed);
    const log = (await rospki('/log print where topics~"acme"')).stdout;
    assert.equal(log.match(/acme,info ssl certificate updated/g)?.length, 2, log);
  });

  test('acme-renew forces a renewal; a failure is a script error on-error catches', async () => {
    const name = await put('[/certificate get [/ip service get www-ssl certificate] name]');
    const before = await put(`[/certificate get "${name}" serial-number]`);
    const r = await rospki(`/certificate acme-renew "${name}"`);
    assert.equal(r.stdout, '  progress: [success] certificate renewed\n');
    assert.notEqual(await put(`[/certificate get "${name}" serial-number]`), before);
    const closed = await freePort();
    const caught = await rospki(`:do { /certificate enable-ssl-certificate dns-name=other.router.test directory-url=https://127.0.0.1:${closed}/dir } on-error={ :put "caught" }`);
    assert.equal(caught.stdout, 'caught\n');
    const failing = await rospki(`/certificate enable-ssl-certificate dns-name=other.router.test directory-url=https://127.0.0.1:${closed}/dir`);
    assert.equal(failing.status, 1);
    assert.equal(failing.stdout, `failure: ACME server 127.0.0.1:${closed} is not reachable: closing connection: <connection failed> 127.0.0.1:${closed} (140)\n`);
    assert.equal(await put('[/certificate get [/ip service get www-ssl certificate] name]'), name, 'the previous certificate stays bound');
  });
});
