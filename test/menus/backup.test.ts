// /system backup (services spec §9.1): save and load through the console as a user types them
// (the password and confirmation prompts), everything back after a load (a CA that still signs,
// a certificate whose exported key matches it, users, scripts, sealed secrets), bad files refused
// with nothing changed, the file as a secret file, and REST without a terminal.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { holdsSecret } from '../../src/menu/secret-files.js';
import { startServiceApp, basic, PASSWORD, type ServiceApp } from '../services/support.js';
import { WebClient } from '../services/web-support.js';
import { Appliance } from '../../src/appliance.js';
import { openTestApp, openssl, tempDir, type TestApp } from '../support/app.js';
import { postgresMissing, startPgCluster, type PgCluster } from '../support/postgres.js';

/** A console that answers prompts from a queue (and records what was asked). */
async function console_(t: TestApp, opts: { user?: string; terminal?: boolean } = {}) {
  let screen = '';
  const answers: string[] = [];
  const asked: string[] = [];
  const session = await ConsoleSession.open(t.app, {
    user: opts.user ?? 'admin', output: (s) => { screen += s; }, width: 120,
    prompt: opts.terminal === false ? undefined : async (question) => {
      asked.push(question);
      const a = answers.shift();
      if (a === undefined) throw new Error(`unexpected prompt ${question}`);
      return a;
    },
  });
  return {
    asked, answers,
    /** Runs a line; returns what it printed (with `failure: …` when it failed). */
    async run(line: string, ...reply: string[]): Promise<string> {
      answers.push(...reply);
      screen = '';
      const outcome = await session.run(line);
      assert.equal(answers.length, 0, `unanswered prompts left after ${line}`);
      return outcome.ok ? screen : `${screen}${outcome.error}\n`;
    },
    /** Runs a line that must succeed (a sign prints `progress: done`). */
    async must(line: string, ...reply: string[]): Promise<void> {
      answers.push(...reply);
      const outcome = await session.run(line);
      assert.ok(outcome.ok, `${line}: ${outcome.ok ? '' : outcome.error}`);
    },
  };
}

/**
 * Everything the store holds but the log, to compare before and after a load (a sealed blob by
 * what it holds: a password backup's keys are sealed again, with new nonces), as a digest.
 */
async function state(t: TestApp): Promise<string> {
  const { store } = t.app;
  const open = (b: Buffer) => { try { return `sealed:${store.unseal(b).toString('base64')}`; } catch { return b.toString('base64'); } };
  const text = await store.write((tx) => JSON.stringify(tx.menus().filter((m) => m !== '/log').sort()
    .map((m) => [m, tx.list(m).map((r) => [r.id, r.data, tx.blobNames(m, r.id).sort().map((n) => open(tx.getBlob(m, r.id, n)!))])])));
  return createHash('sha256').update(text).digest('hex');
}

const file = (t: TestApp, name: string) => path.join(t.app.dataDir.filesDir, name);

describe('/system backup', () => {
  let t: TestApp;
  let c: Awaited<ReturnType<typeof console_>>;
  before(async () => {
    t = await openTestApp({ time: Date.now() });
    c = await console_(t);
    for (const line of [
      '/system identity set name=r1',
      '/certificate add name=ca common-name=CA key-usage=key-cert-sign,crl-sign key-size=prime256v1 days-valid=3650',
      '/certificate sign ca',
      '/certificate add name=srv common-name=srv.example key-size=prime256v1',
      '/certificate sign srv ca=ca',
      '/user add name=bob group=read password=bob-password',
      '/user group add name=nosens policy=read,write,ftp,local,test',
      '/user add name=eve group=nosens password=eve-password',
      '/system script add name=hello source=":put hello"',
      '/ppp secret add name=p1 password=ppp-secret-1',
    ]) await c.must(line);
  });
  after(() => t.close());

  test('print does not exist', async () => {
    assert.equal(await c.run('/system backup print'), 'bad command name print (line 1 column 16)\n');
  });

  test('save: the reply, the file in /file as type backup, .backup appended, no secret in the clear', async () => {
    assert.equal(await c.run('/system backup save name=plain'), 'Configuration backup saved\n');
    assert.equal(await c.run('/system backup save name=enc.backup password=backup-pw'), 'Configuration backup saved\n');
    assert.match(await c.run('/file print'), /plain\.backup\s+backup\s/);
    assert.match(await c.run('/file print'), /enc\.backup\s+backup\s/);
    // The default name: identity-date-time.
    assert.equal(await c.run('/system backup save'), 'Configuration backup saved\n');
    assert.ok(fs.readdirSync(t.app.dataDir.filesDir).some((f) => /^r1-\d{8}-\d{4}\.backup$/.test(f)));
    // rc4 is refused (insecure), nothing written.
    assert.match(await c.run('/system backup save name=weak password=x encryption=rc4'), /failure: rc4 encryption is not supported/);
    assert.ok(!fs.existsSync(file(t, 'weak.backup')));
    // No secret of the store in the clear in either file: the private key (as the store holds
    // it, opened), the PPP secret.
    const key = await t.app.store.write((tx) => {
      const row = tx.findBy('/certificate', 'name', 'srv')[0]!;
      const opened = tx.blobNames('/certificate', row.id).map((n) => {
        try { return t.app.store.unseal(tx.getBlob('/certificate', row.id, n)!); } catch { return undefined; }
      });
      return opened.find((b) => b !== undefined);
    });
    assert.ok(key, 'the certificate has a sealed key');
    for (const name of ['plain.backup', 'enc.backup']) {
      const bytes = fs.readFileSync(file(t, name));
      const { gunzipSync } = await import('node:zlib');
      const n = bytes.readUInt16BE(16);
      const text = name === 'plain.backup' ? gunzipSync(bytes.subarray(18 + n)).toString() : bytes.toString('latin1');
      assert.doesNotMatch(text, /ppp-secret-1/);
      assert.ok(!text.includes(key.toString('base64')) && !bytes.includes(key), `${name}: no key in the clear`);
      if (name === 'plain.backup') assert.match(text, /"srv\.example"|srv/); // readable structure, secrets sealed
    }
  });

  test('load without a password: prompts, restores everything, the CA signs and the key matches', async () => {
    const before = await state(t);
    for (const line of [
      '/certificate remove srv', '/certificate add name=extra common-name=extra key-size=prime256v1', '/certificate sign extra ca=ca',
      '/user remove bob', '/system script set hello source=":put changed"', '/system identity set name=changed',
      '/ppp secret set p1 password=other',
    ]) await c.must(line);
    // Saying no changes nothing.
    await c.must('/system backup load name=plain', '', 'n');
    assert.deepEqual(c.asked.splice(0), ['password: ', 'Restore and reboot? [y/N]: ']);
    assert.notEqual(await state(t), before);
    assert.equal(await c.run('/system backup load name=plain', '', 'y'), 'Restoring system configuration\nSystem configuration restored, rebooting now\n');
    c.asked.length = 0;
    assert.equal(await state(t), before, 'the store is as it was saved');
    assert.match(await c.run('/certificate print proplist=name'), /ca\s*\n.*srv/s);
    assert.doesNotMatch(await c.run('/certificate print proplist=name'), /extra/);
    assert.match(await c.run(':put [/system script get hello source]'), /:put hello/);
    assert.match(await c.run(':put [/system identity get name]'), /^r1/);
    assert.ok(await t.app.store.read((tx) => tx.findBy('/user', 'name', 'bob').length === 1));
    assert.equal(await t.app.store.read((tx) => tx.findBy('/ppp/secret', 'name', 'p1')[0]?.data.password), 'ppp-secret-1');
    // The restored CA still signs, and the restored key belongs to its certificate.
    await c.must('/certificate add name=after common-name=after key-size=prime256v1');
    await c.must('/certificate sign after ca=ca');
    await c.must('/certificate export-certificate ca,srv,after export-passphrase=export-pw');
    const dir = t.app.dataDir.filesDir;
    const pub = (args: string[]) => openssl(args.map((a) => (a.startsWith('@') ? path.join(dir, a.slice(1)) : a)));
    assert.equal(pub(['pkey', '-in', '@cert_export_srv.key', '-passin', 'pass:export-pw', '-pubout']), pub(['x509', '-in', '@cert_export_srv.crt', '-noout', '-pubkey']));
    assert.match(pub(['verify', '-CAfile', '@cert_export_ca.crt', '@cert_export_after.crt']), /OK/);
    assert.match(pub(['verify', '-CAfile', '@cert_export_ca.crt', '@cert_export_srv.crt']), /OK/);
  });

  test('load with a password given: only the confirmation is asked; a wrong one changes nothing', async () => {
    assert.equal(await c.run('/system backup save name=enc2 password=pw2'), 'Configuration backup saved\n');
    const saved = await state(t);
    await c.must('/certificate remove after');
    const changed = await state(t);
    assert.match(await c.run('/system backup load name=enc2 password=wrong'), /^failure: wrong password, or the backup file is damaged\n$/);
    assert.deepEqual(c.asked.splice(0), [], 'refused before asking to restore');
    assert.equal(await state(t), changed);
    // Omitted on a terminal: asked for.
    assert.match(await c.run('/system backup load name=enc2', 'wrong again'), /failure: wrong password/);
    assert.equal(await state(t), changed);
    assert.equal(await c.run('/system backup load name=enc2.backup password=pw2', 'yes'), 'Restoring system configuration\nSystem configuration restored, rebooting now\n');
    // The omitted password of the second load, then this load's confirmation only.
    assert.deepEqual(c.asked.splice(0), ['password: ', 'Restore and reboot? [y/N]: ']);
    assert.equal(await state(t), saved);
  });

  test('bad files are refused with a RouterOS error and change nothing', async () => {
    c.asked.length = 0;
    const bytes = fs.readFileSync(file(t, 'plain.backup'));
    const enc = fs.readFileSync(file(t, 'enc.backup'));
    const flip = (b: Buffer, at: number) => { const x = Buffer.from(b); x[at]! ^= 0x40; return x; };
    const bad: Array<[string, Buffer | string, RegExp]> = [
      ['text.backup', '/user add name=x group=full\n', /failure: text\.backup is not a backup file/],
      ['cut.backup', bytes.subarray(0, bytes.length - 40), /failure: backup file is damaged or was changed/],
      ['short.backup', bytes.subarray(0, 17), /failure: backup file is truncated/],
      ['tampered.backup', flip(bytes, bytes.length - 3), /failure: backup file is damaged or was changed/],
      ['tampered-enc.backup', flip(enc, enc.length - 30), /failure: wrong password, or the backup file is damaged/],
      ['newer.backup', Buffer.concat([bytes.subarray(0, 14), Buffer.of(9), bytes.subarray(15)]), /failure: backup file format 9 is newer than this rospki reads \(1\): upgrade rospki/],
    ];
    const before = await state(t);
    for (const [name, data] of bad) fs.writeFileSync(file(t, name), data);
    for (const [name, , expected] of bad) {
      const pw = name.includes('enc') ? ' password=backup-pw' : ' password=""';
      assert.match(await c.run(`/system backup load name=${name}${pw}`), expected, name);
      assert.equal(await state(t), before, `${name}: nothing changed`);
    }
    assert.match(await c.run('/system backup load name=missing password=""'), /input does not match any value of name/);
    assert.deepEqual(c.asked, [], 'no file was good enough to ask about');
    assert.equal(await state(t), before);
  });

  test('a device-bound file does not load on another data directory; a password file does, keys and all', async () => {
    const other = await openTestApp({ time: Date.now() });
    try {
      const o = await console_(other);
      for (const name of ['plain.backup', 'enc.backup']) fs.copyFileSync(file(t, name), path.join(other.app.dataDir.filesDir, name));
      const before = await state(other);
      assert.match(await o.run('/system backup load name=plain password=""'), /failure: backup file was saved on another device or is damaged/);
      assert.equal(await state(other), before);
      assert.match(await o.run('/system backup load name=enc password=backup-pw', 'y'), /System configuration restored, rebooting now/);
      assert.match(await o.run(':put [/system identity get name]'), /^r1/);
      await o.must('/certificate add name=there common-name=there key-size=prime256v1');
      await o.must('/certificate sign there ca=ca');
      await o.must('/certificate export-certificate srv export-passphrase=export-pw');
      const dir = other.app.dataDir.filesDir;
      assert.equal(openssl(['pkey', '-in', path.join(dir, 'cert_export_srv.key'), '-passin', 'pass:export-pw', '-pubout']),
        openssl(['x509', '-in', path.join(dir, 'cert_export_srv.crt'), '-noout', '-pubkey']));
    } finally {
      other.close();
    }
  });

  test('policies: a user without sensitive can neither save, load nor read a backup file', async () => {
    const eve = await console_(t, { user: 'eve' });
    assert.match(await eve.run('/system backup save name=mine'), /not enough permissions/);
    assert.match(await eve.run('/system backup load name=plain password=""'), /not enough permissions/);
    assert.match(await eve.run('/file read file=plain.backup offset=0 chunk-size=64'), /not enough permissions/);
    assert.ok(holdsSecret(fs.readFileSync(file(t, 'plain.backup')), t.app.registry));
    // By its first bytes, whatever its name.
    fs.copyFileSync(file(t, 'enc.backup'), file(t, 'innocent.txt'));
    assert.match(await eve.run('/file read file=innocent.txt offset=0 chunk-size=64'), /not enough permissions/);
    // The read group has sensitive (RouterOS's default): bob can read it.
    const bob = await console_(t, { user: 'bob' });
    assert.doesNotMatch(await bob.run('/file read file=plain.backup offset=0 chunk-size=64'), /not enough permissions/);
  });
});

describe('/system backup over REST and the web page (no terminal)', () => {
  let s: ServiceApp;
  before(async () => { s = await startServiceApp(); });
  after(async () => { await s.stop(); });

  async function rest(method: string, p: string, body?: unknown, auth = basic()) {
    const r = await fetch(`http://127.0.0.1:${s.ports.www}${p}`, {
      method, headers: { authorization: auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, text, json: text ? JSON.parse(text) : undefined };
  }

  test('POST /rest/system/backup/save and load: done without asking; the file is not for users without sensitive', async () => {
    assert.equal((await rest('PUT', '/rest/system/script', { name: 's1', source: ':put 1' })).status, 201);
    const saved = await rest('POST', '/rest/system/backup/save', { name: 'over-rest', password: 'rest-pw' });
    assert.equal(saved.status, 200, saved.text);
    assert.ok(fs.existsSync(path.join(s.app.dataDir.filesDir, 'over-rest.backup')));
    assert.equal((await rest('DELETE', '/rest/system/script/s1')).status, 204);
    const wrong = await rest('POST', '/rest/system/backup/load', { name: 'over-rest.backup', password: 'nope' });
    assert.equal(wrong.status, 400);
    assert.match(wrong.json.detail, /wrong password/);
    const loaded = await rest('POST', '/rest/system/backup/load', { name: 'over-rest.backup', password: 'rest-pw' });
    assert.equal(loaded.status, 200, loaded.text);
    assert.equal((await rest('GET', '/rest/system/script?name=s1')).json.length, 1, 'the script is back');
    assert.equal((await rest('GET', '/rest/system/backup/print')).status >= 400, true);

    // A user with ftp but without sensitive can not download it from the web page; admin can.
    assert.equal((await rest('PUT', '/rest/user/group', { name: 'nosens', policy: 'read,write,ftp,web,rest-api,local' })).status, 201);
    assert.equal((await rest('PUT', '/rest/user', { name: 'eve', group: 'nosens', password: 'eve-pw' })).status, 201);
    const eve = new WebClient(`http://127.0.0.1:${s.ports.www}`);
    assert.equal((await eve.login('eve', 'eve-pw')).status, 303);
    assert.equal((await eve.get('/webfig/.download?name=over-rest.backup')).status, 403);
    const admin = new WebClient(`http://127.0.0.1:${s.ports.www}`);
    assert.equal((await admin.login('admin', PASSWORD)).status, 303);
    assert.equal((await admin.get('/webfig/.download?name=over-rest.backup')).status, 200);
    assert.equal((await rest('POST', '/rest/system/backup/save', { name: 'x' }, basic('eve', 'eve-pw'))).status >= 400, true);
  });
});

describe('/system backup on a PostgreSQL store (two instances)', { skip: postgresMissing() }, () => {
  let cluster: PgCluster;
  let root: string;
  let a: Appliance;
  let b: Appliance;
  before(async () => {
    cluster = await startPgCluster();
    root = tempDir('rospki-pg-backup-');
    const url = await cluster.newDatabase();
    a = await Appliance.open(path.join(root, 'a'), { store: url });
    fs.mkdirSync(path.join(root, 'b'), { mode: 0o700 });
    fs.copyFileSync(path.join(root, 'a', 'secret.key'), path.join(root, 'b', 'secret.key'));
    b = await Appliance.open(path.join(root, 'b'), { store: url });
  });
  after(async () => {
    for (const app of [a, b]) if (app) { app.close(); await app.closed(); }
    cluster?.destroy();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test('save on one instance, load without a terminal on it, the other serves the restored CA', async () => {
    const session = await a.session('admin', 'test');
    const run = async (p: string, command: string, args: Record<string, string> = {}) =>
      a.executor.run({ path: p, command, args: new Map(Object.entries(args)), session });
    await run('/certificate', 'add', { name: 'ca', 'common-name': 'PG CA', 'key-usage': 'key-cert-sign,crl-sign', 'key-size': 'prime256v1' });
    await run('/certificate', 'sign', { number: 'ca' });
    assert.deepEqual((await run('/system/backup', 'save', { name: 'pg' })).messages, ['Configuration backup saved']);
    await run('/certificate', 'remove', { numbers: 'ca' });
    await run('/system/script', 'add', { name: 'later', source: ':put 1' });
    // A session without a terminal (as REST, the API, scripts): no questions, the load goes on.
    assert.deepEqual((await run('/system/backup', 'load', { name: 'pg' })).messages,
      ['Restoring system configuration', 'System configuration restored, rebooting now']);
    const onB = await b.store.read((tx) => ({ ca: tx.findBy('/certificate', 'name', 'ca').length, script: tx.findBy('/system/script', 'name', 'later').length }));
    assert.deepEqual(onB, { ca: 1, script: 0 });
    // The other instance signs with the restored key.
    const sb = await b.session('admin', 'test');
    const runB = (p: string, command: string, args: Record<string, string>) => b.executor.run({ path: p, command, args: new Map(Object.entries(args)), session: sb });
    await runB('/certificate', 'add', { name: 'leaf', 'common-name': 'leaf', 'key-size': 'prime256v1' });
    await runB('/certificate', 'sign', { number: 'leaf', ca: 'ca' });
    await runB('/certificate', 'export-certificate', { numbers: 'ca,leaf' });
    const dir = tempDir('rospki-pg-backup-out-');
    try {
      for (const f of ['cert_export_ca.crt', 'cert_export_leaf.crt']) fs.writeFileSync(path.join(dir, f), await b.env.files.read(f));
      assert.match(openssl(['verify', '-CAfile', path.join(dir, 'cert_export_ca.crt'), path.join(dir, 'cert_export_leaf.crt')]), /OK/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
