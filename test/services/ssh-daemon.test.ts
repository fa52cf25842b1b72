// The ssh service of a real `rospki serve` daemon in its own process, driven by OpenSSH's client:
// what the daemon writes on stderr (nothing, for ordinary logins and sessions), a long PTY
// session, and the history file of SSH consoles.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { openTestApp } from '../support/app.js';
import { PASSWORD } from './support.js';
import { keyAuth, passwordAuth, ssh, startSshDaemon, type SshDaemon } from './ssh-support.js';
import { needs } from '../support/tools.js';

const skip = needs('ssh', 'ssh-keygen');
let d: SshDaemon;
before(async () => { if (!skip) d = await startSshDaemon(); });
after(async () => { await d?.stop(); });

test('public-key logins (ssh -i) leave the daemon\'s stderr clean, also after a key that does not fit', { skip }, async () => {
  // A second key that admin does not have, offered first: refused, then the right one logs in.
  const other = path.join(d.home, 'id_other');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
  const both = { args: [...keyAuth(d).args.filter((a) => a !== d.key && a !== '-i'), '-i', other, '-i', d.key], env: {} };
  for (let i = 0; i < 4; i++) {
    const r = await ssh(d, `:put key-${i}`, i % 2 ? both : keyAuth(d));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `key-${i}\n`);
  }
  const pw = await ssh(d, ':put pw', passwordAuth(d, PASSWORD));
  assert.equal(pw.stdout, 'pw\n');
  assert.equal(d.stderr(), '');
});

test('a PTY session of 30 lines: no listener piles up (no MaxListenersExceededWarning), every line answered', { skip }, async () => {
  const lines = Array.from({ length: 30 }, (_, i) => `:put "line-${i + 1}"`);
  const r = await ssh(d, '', keyAuth(d), 'admin', ['-tt'], `${lines.join('\r')}\r/quit\r`);
  assert.equal(r.status, 0, r.stderr);
  // Output lines (the echo of each typed line has the quotes).
  for (let i = 1; i <= 30; i++) assert.ok(r.stdout.includes(`line-${i}\r\n`), `line-${i} answered`);
  assert.doesNotMatch(d.stderr(), /MaxListenersExceeded|memory leak/);
  assert.equal(d.stderr(), '');
});

test('a PTY session ends at /quit inside a longer line: what came before it runs, nothing after it, exit 0', { skip }, async () => {
  const r = await ssh(d, '', keyAuth(d), 'admin', ['-tt'], ':put before-quit; /quit; :put same-line\r:put next-line\r');
  assert.equal(r.status, 0, r.stderr);
  // Each typed line is echoed once; only what ran printed its word a second time.
  const times = (word: string) => r.stdout.split(word).length - 1;
  assert.equal(times('before-quit'), 2, r.stdout);
  assert.equal(times('same-line'), 1, 'the rest of the line is not run');
  assert.equal(times('next-line'), 1, 'the next line is not run');
});

test('a console session reports /quit wherever it comes; :exit only ends the line', async () => {
  const t = await openTestApp();
  try {
    const cs = await ConsoleSession.open(t.app, { output: () => {} });
    assert.deepEqual(await cs.run(':put a; /quit'), { ok: true, quit: true });
    assert.deepEqual(await cs.run(':if (true) do={ /quit }'), { ok: true, quit: true });
    assert.deepEqual(await cs.run(':put a; :exit'), { ok: true });
    assert.deepEqual(await cs.run(':put a'), { ok: true });
  } finally {
    t.close();
  }
});

test('the console session of a shell: each line\'s abort listener on the connection\'s signal is removed when it ends', async () => {
  const t = await openTestApp();
  try {
    const connection = new AbortController();
    const cs = await ConsoleSession.open(t.app, { output: () => {}, signal: connection.signal });
    for (let i = 0; i < 30; i++) {
      assert.equal((await cs.run(`:put ${i}`)).ok, true);
      assert.equal(getEventListeners(connection.signal, 'abort').length, 0);
    }
    // A failing line too.
    assert.equal((await cs.run('/certificate remove nosuch')).ok, false);
    assert.equal(getEventListeners(connection.signal, 'abort').length, 0);
  } finally {
    t.close();
  }
});

test('an SSH console keeps lines with a sensitive argument out of history-ssh-<user>', { skip }, async () => {
  const typed = [
    '/system identity print',
    '/user add name=bob group=read password=bob-secret-1',
    '/certificate add name=h common-name=h key-size=prime256v1',
    '/certificate sign h',
    '/certificate export-certificate h export-pass=exp-secret-2',
    '/certificate',
    'export-certificate h type=pkcs12 export-passphrase=exp-secret-3',
    '/user set bob pass=bob-secret-4',
    ':put [/certificate import file-name=none.p12 passphrase="imp-secret-5"]',
    '/file print',
  ];
  const r = await ssh(d, '', keyAuth(d), 'admin', ['-tt'], `${typed.join('\r')}\r/quit\r`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\/certificate> /, 'the lines ran (the prompt moved to /certificate)');
  const history = fs.readFileSync(path.join(d.dir, 'history-ssh-admin'), 'utf8');
  for (const kept of ['/system identity print', '/certificate add name=h', '/certificate sign h', '/file print']) assert.ok(history.includes(kept), `${kept} kept: ${history}`);
  assert.doesNotMatch(history, /secret/);
  assert.equal(fs.statSync(path.join(d.dir, 'history-ssh-admin')).mode & 0o777, 0o600);
});
