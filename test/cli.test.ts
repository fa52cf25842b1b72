// The process contract of issue 2: `rospki -e`, `.rsc` files, piped stdin, the daemon and its
// control socket, clean shutdown, and the interactive console on a real pseudo-terminal.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { SqliteStore } from '../src/store/sqlite.js';
import { openDataDir } from '../src/store/datadir.js';
import { tempDir } from './support/app.js';
import { esc, onTerminal, type Step } from './support/terminal.js';
import { needs } from './support/tools.js';

const BIN = path.join(import.meta.dirname, '..', 'bin', 'rospki.js');
// Daemons started here open their /ip services (www 80, api 8728, api-ssl 8729): on loopback only.
process.env.ROSPKI_LISTEN_ADDRESS ??= '127.0.0.1';
const dirs: string[] = [];
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

function dataDir(): string {
  const d = tempDir('rospki-cli-');
  dirs.push(d);
  return d;
}

function rospki(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync('node', [BIN, ...args], {
    input: opts.input ?? '', encoding: 'utf8', env: { ...process.env, ...opts.env }, timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function waitFor(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('rospki -e, files and stdin', () => {
  test('runs commands and exits 0; the data directory is created with defaults', () => {
    const dir = dataDir();
    const r = rospki(['--data', dir, '-e', ':put [/system identity get name]; /user print count-only']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'MikroTik\n1\n');
    assert.equal(r.status, 0);
    assert.ok(fs.statSync(path.join(dir, 'files')).isDirectory());
    assert.equal(fs.statSync(path.join(dir, 'secret.key')).mode & 0o777, 0o600);
  });

  test('stops at the first error, prints it, exits 1', () => {
    const dir = dataDir();
    const r = rospki(['--data', dir, '-e', ':put one\n/user add name=x group=nosuch\n:put two']);
    assert.equal(r.stdout, 'one\ninput does not match any value of group\n');
    assert.equal(r.status, 1);
    const syntax = rospki(['--data', dir, '-e', ':put (1 + )']);
    assert.equal(syntax.stdout, 'syntax error (line 1 column 11)\n');
    assert.equal(syntax.status, 1);
  });

  test(':resolve without a daemon asks the router\'s resolver of this process: the static entries a script just added', () => {
    const dir = dataDir();
    const r = rospki(['--data', dir, '-e', [
      '/ip dns static add name=ca.lab.test address=10.1.2.3',
      '/ip dns static add name=ca.lab.test type=AAAA address=2001:db8::5',
      ':put [:resolve ca.lab.test]',
      ':put [:resolve ca.lab.test type=ipv6]',
      '/ip dns static set [find address=10.1.2.3] address=10.9.9.9',
      ':put [:resolve ca.lab.test]',
      ':put [:resolve nothere.lab.test]',
    ].join('\n')]);
    // No servers set: a name not in the table fails as upstream trouble, as in the daemon.
    assert.equal(r.stdout, '10.1.2.3\n2001:db8::5\n10.9.9.9\nfailure: dns server failure\n');
    assert.equal(r.status, 1);
  });

  test('ROSPKI_DATA chooses the data directory; COLUMNS sets the width', () => {
    const dir = dataDir();
    rospki(['-e', '/user add name=averyveryverylongusername group=read comment="a comment that is long"'], { env: { ROSPKI_DATA: dir } });
    const narrow = rospki(['-e', '/user print detail'], { env: { ROSPKI_DATA: dir, COLUMNS: '40' } });
    assert.ok(narrow.stdout.split('\n').every((l) => l.length <= 40), narrow.stdout);
    const wide = rospki(['-e', '/user print detail'], { env: { ROSPKI_DATA: dir, COLUMNS: '200' } });
    assert.match(wide.stdout, /name="averyveryverylongusername" group=read inactivity-timeout=10m inactivity-policy=none address="" \n/);
  });

  test('runs a .rsc file and piped standard input', () => {
    const dir = dataDir();
    const file = path.join(dir, 'setup.rsc');
    fs.writeFileSync(file, '# setup\n/system identity\nset name=from-file\n:put [get name]\n');
    const r = rospki(['--data', dir, file]);
    assert.equal(r.stdout, 'from-file\n');
    assert.equal(r.status, 0);
    const piped = rospki(['--data', dir], { input: ':put [/system identity get name]\n/user print count-only\n' });
    assert.equal(piped.stdout, 'from-file\n1\n');
    assert.equal(piped.status, 0);
    const missing = rospki(['--data', dir, path.join(dir, 'nope.rsc')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /cannot read/);
  });

  test('a failing command leaves the store unchanged', () => {
    const dir = dataDir();
    assert.equal(rospki(['--data', dir, '-e', '/user add name=ops group=full']).status, 0);
    // ops is removed first, then admin — now the last full user — is refused: the whole
    // command rolls back, so ops is still there.
    const r = rospki(['--data', dir, '-e', '/user remove ops,admin']);
    assert.equal(r.stdout, 'failure: can not remove the last full user\n');
    assert.equal(r.status, 1);
    assert.equal(rospki(['--data', dir, '-e', ':put [/user print count-only]']).stdout, '2\n');
    assert.equal(rospki(['--data', dir, '-e', ':put [/user get ops group]']).stdout, 'full\n');
    // A failed add changes nothing either, and the log does not record it.
    const before = rospki(['--data', dir, '-e', ':put [/log print count-only]']).stdout;
    assert.equal(rospki(['--data', dir, '-e', '/user add name=ops group=read']).status, 1);
    assert.equal(rospki(['--data', dir, '-e', ':put [/log print count-only]']).stdout, before);
  });

  test('usage errors', () => {
    const r = rospki(['--bogus']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown argument --bogus/);
    assert.match(rospki(['--help']).stdout, /rospki serve/);
  });
});

describe('the daemon', () => {
  let daemon: ChildProcess | undefined;
  after(() => daemon?.kill('SIGKILL'));

  test('serves consoles over its socket, sees other processes at once, stops cleanly', async () => {
    const dir = dataDir();
    let out = '';
    daemon = spawn('node', [BIN, 'serve', '--data', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stdout!.on('data', (c) => { out += c; });
    const socket = path.join(dir, 'control.sock');
    await waitFor(() => fs.existsSync(socket) && out.includes('serving'), 'the daemon');
    assert.equal(fs.statSync(socket).mode & 0o777, 0o600);

    // A second daemon on the same directory refuses to start.
    const second = rospki(['serve', '--data', dir]);
    assert.equal(second.status, 1);
    assert.match(second.stderr, /already runs/);

    // -e goes through the daemon; globals live in the daemon's session only per connection.
    assert.equal(rospki(['--data', dir, '-e', '/system identity set name=via-daemon']).status, 0);
    assert.equal(rospki(['--data', dir, '-e', ':put [/system identity get name]']).stdout, 'via-daemon\n');

    // A process that writes the database directly: the daemon sees the change at once.
    const store = SqliteStore.open(openDataDir(dir));
    await store.write((tx) => tx.update('/system/identity', 1, { ...tx.get('/system/identity', 1)!.data, name: 'direct' }));
    store.close();
    assert.equal(rospki(['--data', dir, '-e', ':put [/system identity get name]']).stdout, 'direct\n');

    // Errors through the daemon: same text, exit 1.
    const bad = rospki(['--data', dir, '-e', '/user set nobody comment=x']);
    assert.equal(bad.stdout, 'no such item\n');
    assert.equal(bad.status, 1);

    const exited = new Promise<number | null>((resolve) => daemon!.once('exit', (code) => resolve(code)));
    daemon.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(!fs.existsSync(socket), 'the socket is removed');
    assert.match(out, /stopped/);
    daemon = undefined;
    // Without a daemon, -e opens the directory itself and sees everything.
    assert.equal(rospki(['--data', dir, '-e', ':put [/system identity get name]']).stdout, 'direct\n');
  });

  test('a stale socket left by a killed daemon does not block the next one', async () => {
    const dir = dataDir();
    daemon = spawn('node', [BIN, 'serve', '--data', dir], { stdio: 'ignore' });
    const socket = path.join(dir, 'control.sock');
    await waitFor(() => fs.existsSync(socket), 'the daemon');
    const killed = new Promise((resolve) => daemon!.once('exit', resolve));
    daemon.kill('SIGKILL');
    await killed;
    assert.ok(fs.existsSync(socket));
    // -e without a live daemon works on the directory directly.
    assert.equal(rospki(['--data', dir, '-e', ':put ok']).stdout, 'ok\n');
    daemon = spawn('node', [BIN, 'serve', '--data', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    daemon.stdout!.on('data', (c) => { out += c; });
    await waitFor(() => out.includes('serving'), 'the restarted daemon');
    assert.equal(rospki(['--data', dir, '-e', ':put ok']).stdout, 'ok\n');
    daemon.kill('SIGTERM');
    await new Promise((resolve) => daemon!.once('exit', resolve));
    daemon = undefined;
  });
});

test('-e with print follow runs until Ctrl-C, alone and through a daemon; then says interrupted and exits 1', async () => {
  const dir = dataDir();
  assert.equal(rospki(['--data', dir, '-e', ':log info "cli-follow line"']).status, 0);
  const follow = async (): Promise<{ code: number | null; out: string }> => {
    const child = spawn('node', [BIN, '--data', dir, '-e', '/log print follow where message~"cli-follow"'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => out.includes('cli-follow line'), 'the first print');
    child.kill('SIGINT');
    return { code: await exited, out };
  };
  const alone = await follow();
  assert.equal(alone.code, 1);
  assert.match(alone.out, /^\d\d:\d\d:\d\d script,info cli-follow line\ninterrupted\n$/);
  const daemon = spawn('node', [BIN, 'serve', '--data', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    let out = '';
    daemon.stdout!.on('data', (c) => { out += c; });
    await waitFor(() => out.includes('serving'), 'the daemon');
    const through = await follow();
    assert.equal(through.code, 1);
    assert.match(through.out, /cli-follow line\ninterrupted\n$/);
    // The daemon goes on serving: its console stopped following.
    assert.equal(rospki(['--data', dir, '-e', ':put ok']).stdout, 'ok\n');
  } finally {
    const stopped = new Promise((resolve) => daemon.once('exit', resolve));
    daemon.kill('SIGTERM');
    await stopped;
  }
});

describe('the interactive console (on a pseudo-terminal)', { skip: needs('python3', 'openssl') }, () => {
  // python3's pty module gives rospki a real terminal; each keystroke goes in once the screen
  // shows what it answers (test/support/terminal.ts), the screen comes out.
  test('prompt, commands, menu changes, tab completion, ? help, Ctrl-C, a masked passphrase prompt and /quit', () => {
    const dir = dataDir();
    const top = esc('[admin@MikroTik] > ');
    const identity = esc('[admin@MikroTik] /system/identity> ');
    const steps: Step[] = [
      { expect: top, send: '/system identity print\r' },
      { expect: `name: MikroTik[\\s\\S]*${top}`, send: '/system\r' },
      { expect: esc('[admin@MikroTik] /system> '), send: 'iden\t' },
      { expect: 'identity', send: '\r' },
      { expect: identity, send: '?' },
      { expect: `set -- [\\s\\S]*${identity}`, send: 'garbage line' },
      { expect: 'garbage line', send: '\u0003' },
      { expect: identity, send: 'print\r' },
      { expect: `name: MikroTik[\\s\\S]*${identity}`, send: ':delay 20s; :put "not reached"\r' },
      // The line is taken (its newline echoed): the command runs, and Ctrl-C interrupts it.
      { expect: '"not reached"\\r*\\n', send: '\u0003' },
      { expect: identity, send: ':put "back at the prompt"\r' },
      { expect: `\\nback at the prompt\\r*\\n[\\s\\S]*${identity}`, send: '/certificate import file-name=bundle.p12\r' },
      { expect: 'passphrase: ', send: 's3cret-pass\r' },
      { expect: `private-keys-imported[\\s\\S]*${identity}`, send: '/quit\r' },
    ];
    // A PKCS#12 bundle in the /file store, made by openssl: import asks for its passphrase.
    fs.mkdirSync(path.join(dir, 'files'), { recursive: true });
    const key = path.join(dir, 'k.pem');
    const crt = path.join(dir, 'c.pem');
    spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', crt, '-subj', '/CN=bundle', '-days', '30']);
    spawnSync('openssl', ['pkcs12', '-export', '-inkey', key, '-in', crt, '-out', path.join(dir, 'files', 'bundle.p12'), '-passout', 'pass:s3cret-pass']);
    const screen = onTerminal(['node', BIN, '--data', dir], 80, steps);
    assert.match(screen, /\[admin@MikroTik\] > /);
    assert.match(screen, /name: MikroTik/);
    assert.match(screen, /\[admin@MikroTik\] \/system> /);
    assert.match(screen, /identity/, 'tab completed the menu name');
    assert.match(screen, /\[admin@MikroTik\] \/system\/identity> /);
    assert.match(screen, /print -- /, '? lists the commands');
    assert.match(screen, /set -- /);
    assert.doesNotMatch(screen, /bad command name garbage/, 'Ctrl-C dropped the line');
    // Output lines (not the echo of the typed commands, which carry quotes).
    assert.match(screen, /^back at the prompt\r?$/m);
    assert.doesNotMatch(screen, /^not reached\r?$/m, 'Ctrl-C interrupted the running command');
    // The passphrase prompt masks what is typed and keeps it out of the history.
    assert.match(screen, /passphrase: \*+/);
    assert.doesNotMatch(screen, /s3cret-pass/);
    assert.match(screen, /certificates-imported: 1/);
    assert.match(screen, /private-keys-imported: 1/);
    // History survives the session.
    const history = fs.readFileSync(path.join(dir, 'history'), 'utf8');
    assert.match(history, /\/system identity print/);
    assert.doesNotMatch(history, /s3cret-pass/);
  });
});
