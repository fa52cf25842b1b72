// Secrets never reach disk and never leak to a user without `sensitive` by another door: a
// global variable's value (often a token) is kept in memory only, as RouterOS keeps globals in
// RAM; a hidden value can not be guessed through `find where`, `print where` or `get`.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { openTestApp, type TestApp } from '../support/app.js';

async function consoleAs(t: TestApp, user: string) {
  let out = '';
  const cs = await ConsoleSession.open(t.app, { user, output: (text) => { out += text; } });
  const run = async (line: string): Promise<string> => {
    const r = await cs.run(line);
    assert.ok(r.ok, `${line}: ${r.ok ? '' : r.error}\n${out}`);
    const o = out;
    out = '';
    return o;
  };
  return { cs, run };
}

/** Every byte under the data directory (database, WAL, history, files). */
function everythingOnDisk(dir: string): Buffer {
  const parts: Buffer[] = [];
  for (const name of fs.readdirSync(dir, { recursive: true }).map(String)) {
    const full = path.join(dir, name);
    if (fs.lstatSync(full).isFile()) parts.push(fs.readFileSync(full));
  }
  return Buffer.concat(parts);
}

test('a global variable\'s value never reaches the database, also once /system script environment listed it', async () => {
  const t = await openTestApp();
  try {
    const admin = await consoleAs(t, 'admin');
    const token = 'tok-9f3a7c1e5b2d';
    await admin.run(`:global NotifyToken "${token}"`);
    const shown = await admin.run('/system script environment print show-sensitive');
    assert.match(shown, new RegExp(token), 'the owner with sensitive sees it');
    assert.equal(await admin.run(':put [/system script environment get [find name=NotifyToken] value]'), `${token}\n`);
    await admin.run('/system script environment print detail');
    assert.ok(!everythingOnDisk(t.dir).includes(token), 'the token is nowhere in the data directory');
    // a changed value is shown as it is now
    await admin.run(':global NotifyToken "second"');
    assert.equal(await admin.run(':put [/system script environment get [find name=NotifyToken] value]'), 'second\n');
  } finally {
    t.close();
  }
});

test('a hidden value can not be guessed with where: environment values, PPP and IPsec secrets, key file contents', async () => {
  const t = await openTestApp();
  try {
    fs.mkdirSync(t.app.dataDir.filesDir, { recursive: true, mode: 0o700 });
    const admin = await consoleAs(t, 'admin');
    await admin.run('/user group add name=peek policy=read,write,test; /user add name=peek group=peek password=x');
    await admin.run(':global Secret "abc123"');
    await admin.run('/ppp secret add name=vpnuser password=pw-abc123');
    await admin.run('/ip ipsec identity add peer=[/ip ipsec peer add name=p1 address=192.0.2.1] secret=psk-abc123');
    await admin.run('/file add name=k.pem contents="-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEIPbb\\n-----END PRIVATE KEY-----\\n"');
    const peek = await consoleAs(t, 'peek');
    const guesses: Array<[string, string, string]> = [
      ['/system script environment', 'value="abc123"', 'value="zzz"'],
      ['/system script environment', 'value~"^ab"', 'value~"^zz"'],
      ['/ppp secret', 'password="pw-abc123"', 'password="zzz"'],
      ['/ppp secret', 'password~"^pw-a"', 'password~"^zz"'],
      ['/ip ipsec identity', 'secret~"^psk"', 'secret~"^zz"'],
      ['/file', 'contents~"PRIVATE"', 'contents~"zzz"'],
    ];
    for (const [menu, right, wrong] of guesses) {
      const ask = (expr: string) => peek.run(`:put [:len [${menu} find where ${expr}]]; ${menu} print count-only where ${expr}`);
      assert.equal(await ask(right), await ask(wrong), `${menu} ${right}: a right guess looks like a wrong one`);
      assert.equal(await ask(right), '0\n0\n');
      // The owner of the secrets, with `sensitive`, filters on them as before.
      assert.equal(await admin.run(`:put [:len [${menu} find where ${right}]]`), '1\n', `${menu} ${right} as admin`);
    }
  } finally {
    t.close();
  }
});

test('values of sensitive properties are sealed in the database and its WAL, and read back open (issue 11)', async () => {
  const t = await openTestApp();
  let reopened: TestApp | undefined;
  try {
    const admin = await consoleAs(t, 'admin');
    await admin.run('/ppp secret add name=vpnuser password=ppp-Plain-7d1c');
    await admin.run('/ip ipsec identity add peer=[/ip ipsec peer add name=p1 address=192.0.2.1 ppk-secret=ppk-Plain-3e9a] secret=psk-Plain-5b2f');
    const otp = (await admin.run(':put [/certificate scep-server otp generate]')).trim();
    assert.match(otp, /^[A-Z2-7]{20}$/);
    const secrets = ['ppp-Plain-7d1c', 'ppk-Plain-3e9a', 'psk-Plain-5b2f', otp];
    // While the daemon runs, the changes sit in rospki.db-wal: both are looked at.
    assert.ok(fs.existsSync(path.join(t.dir, 'rospki.db-wal')));
    const disk = everythingOnDisk(t.dir);
    for (const s of secrets) assert.ok(!disk.includes(s), `${s} is not on disk in the clear`);
    // Read back open: print show-sensitive, get, and where on the value (a sensitive user).
    assert.match(await admin.run('/ppp secret print detail show-sensitive'), /ppp-Plain-7d1c/);
    assert.equal(await admin.run(':put [/ip ipsec identity get [find] secret]'), 'psk-Plain-5b2f\n');
    assert.equal(await admin.run(':put [/ip ipsec peer get p1 ppk-secret]'), 'ppk-Plain-3e9a\n');
    assert.equal(await admin.run(`:put [:len [/certificate scep-server otp find where password="${otp}"]]`), '1\n');
    t.app.close();
    // A restart reads them from the database: open again.
    reopened = await openTestApp({ dir: t.dir });
    const again = await consoleAs(reopened, 'admin');
    assert.equal(await again.run(':put [/ppp secret get vpnuser password]'), 'ppp-Plain-7d1c\n');
    assert.match(await again.run('/export show-sensitive'), /secret=psk-Plain-5b2f/);
    for (const s of secrets) assert.ok(!everythingOnDisk(t.dir).includes(s), `${s} is not on disk after a restart`);
  } finally {
    reopened?.close();
    t.close();
  }
});
