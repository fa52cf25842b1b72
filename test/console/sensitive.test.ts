// Lines with a sensitive argument stay out of the console history (RouterOS hides them): which
// lines carry one, judged from the menu declarations, and the history files of the local
// terminal and of a console of the daemon, typed on a real pseudo-terminal.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { carriesSensitiveArgument, promptPath } from '../../src/console/sensitive.js';
import { stringType } from '../../src/menu/proptypes.js';
import { Registry } from '../../src/menu/registry.js';
import type { MenuDecl } from '../../src/menu/types.js';
import { ALL_MENUS } from '../../src/menus/index.js';
import { tempDir } from '../support/app.js';

const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'rospki.js');
const dirs: string[] = [];
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

describe('carriesSensitiveArgument', () => {
  const registry = new Registry(ALL_MENUS);
  const hidden = (line: string, at = '/') => carriesSensitiveArgument(line, registry, at);

  test('arguments declared sensitive, and write-only properties (passwords), by full name or abbreviation', () => {
    assert.ok(hidden('/certificate export-certificate ca export-passphrase=s3cret12'));
    assert.ok(hidden('/cert export-c ca type=pkcs12 export-pass=s3cret12'));
    assert.ok(hidden('/certificate import file-name=a.p12 passphrase=x'));
    assert.ok(hidden('/certificate create-certificate-request key-passphrase=x'));
    assert.ok(hidden('/tool fetch url=http://127.0.0.1/ user=u password=p'));
    // A password in a URL's userinfo, wherever the URL is (fetch takes credentials from it).
    assert.ok(hidden('/tool fetch url=sftp://backup:s3cret@127.0.0.1/x.backup upload=yes src-path=x.backup'));
    assert.ok(hidden(':global BackupUploadUrl "ftp://u:p@127.0.0.1/dir"'));
    assert.ok(!hidden('/tool fetch url=sftp://backup@127.0.0.1/x.backup'), 'a user without a password is no secret');
    assert.ok(!hidden('/tool fetch url=http://127.0.0.1:8080/a@b'), 'a port is no password');
    assert.ok(hidden('/user set admin password=x'));
    assert.ok(hidden('/user add name=u group=read pass=x'));
    assert.ok(hidden('/user/add name=u group=read password=""'));
  });

  test('relative to the menu of the prompt, inside [ ], { } and scripts, and in lines that do not parse', () => {
    assert.ok(hidden('export-certificate ca export-pass=x', '/certificate'));
    assert.ok(hidden('set admin pass=x', '/user'));
    assert.ok(hidden('/certificate; export-certificate ca export-pass=x'), 'a bare path moves the next command');
    assert.ok(hidden(':put [/certificate import file-name=a passphrase="x"]'));
    assert.ok(hidden(':foreach c in=[/certificate find] do={ /certificate export-certificate $c export-passphrase=$p }'));
    assert.ok(hidden('/system script add name=s source="/user set admin password=x"'));
    assert.ok(hidden('/certificate import file-name=a passphrase="unterminated'));
  });

  test('ordinary lines are kept', () => {
    for (const line of ['/certificate print', '/user print detail', '/user set admin comment=pass', ':put "passphrase"',
      '/certificate export-certificate ca', '/ip service set ssh port=2222', ':put my-password=1', '/user add name=password group=read']) {
      assert.equal(hidden(line), false, line);
    }
    assert.equal(hidden('set 0 comment=x', '/user'), false);
  });

  test('comes from the declarations: a new menu\'s sensitive property and positional argument count at once', () => {
    const vault: MenuDecl = {
      path: '/test/vault', kind: 'singleton', verbs: ['print', 'set'],
      properties: [{ name: 'token', type: stringType, sensitive: true }, { name: 'label', type: stringType }],
      commands: [{ name: 'unlock', policy: 'write', args: [{ name: 'pin', type: stringType, positional: 0, sensitive: true }], run: async () => ({}) }],
    };
    const withVault = new Registry([...ALL_MENUS, vault]);
    assert.ok(carriesSensitiveArgument('/test vault set token=abc', withVault));
    assert.ok(carriesSensitiveArgument('/test/vault unlock 1234', withVault));
    assert.ok(carriesSensitiveArgument('unl 1234', withVault, '/test/vault'));
    assert.equal(carriesSensitiveArgument('/test/vault set label=abc', withVault), false);
    assert.equal(carriesSensitiveArgument('/test/vault print', withVault), false);
    assert.equal(carriesSensitiveArgument('/test vault set token=abc', registry), false, 'unknown to rospki\'s own menus');
  });

  test('promptPath reads the menu from the prompt', () => {
    assert.equal(promptPath('[admin@MikroTik] > '), '/');
    assert.equal(promptPath('[admin@My Router] /certificate/crl> '), '/certificate/crl');
  });
});

// python3's pty module gives rospki a real terminal. Each line is typed once the prompt is back.
const DRIVER = String.raw`
import os, pty, sys, time, select, json, re
lines = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.environ['COLUMNS'] = '100'
    os.execvp('node', ['node'] + sys.argv[2:])
out = b''
ansi = re.compile(rb'\x1b\[[0-9;?]*[A-Za-z]')
def until_prompt(t=30):
    global out
    end = time.time() + t
    while time.time() < end:
        if re.search(rb'\] [^\r\n]*> $', ansi.sub(b'', out)):
            return
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            out += data
    raise SystemExit('no prompt; screen: %r' % out)
for line in lines:
    until_prompt()
    out = b''
    os.write(fd, (line + '\r').encode())
end = time.time() + 30
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            if not os.read(fd, 65536):
                break
        except OSError:
            break
print(os.waitpid(pid, 0)[1])
`;

/** Types lines into `rospki --data dir` on a pseudo-terminal; returns the history file. */
function typeLines(dir: string, lines: string[]): string {
  const r = spawnSync('/usr/bin/python3', ['-c', DRIVER, JSON.stringify([...lines, '/quit']), BIN, '--data', dir], {
    encoding: 'utf8', timeout: 90_000, env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' },
  });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return fs.readFileSync(path.join(dir, 'history'), 'utf8');
}

/** A data directory whose services stay off (the console is all these tests need). */
function quietDataDir(): string {
  const dir = tempDir('rospki-history-');
  dirs.push(dir);
  const r = spawnSync('node', [BIN, '--data', dir, '-e', '/ip service disable [find]'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return dir;
}

const TYPED = [
  '/system identity print',
  '/user add name=carol group=read password=carol-secret-1',
  '/certificate add name=c common-name=c key-size=prime256v1',
  '/certificate sign c',
  '/certificate export-certificate c export-passphrase=exp-secret-2',
  '/certificate',
  'export-certificate c type=pkcs12 export-pass=exp-secret-3',
  '/user set carol pass=carol-secret-4',
  '/file print',
];

function checkHistory(history: string): void {
  for (const kept of ['/system identity print', '/certificate add name=c', '/certificate sign c', '/file print']) {
    assert.ok(history.includes(kept), `${kept} kept in ${history}`);
  }
  assert.doesNotMatch(history, /secret/);
}

describe('history files of terminal consoles', () => {
  test('the local terminal: sensitive lines are never saved, and an old history is cleaned', () => {
    const dir = quietDataDir();
    fs.writeFileSync(path.join(dir, 'history'), '/user set admin password=old-secret-0\n:put "from before"\n', { mode: 0o600 });
    const history = typeLines(dir, TYPED);
    checkHistory(history);
    assert.match(history, /:put "from before"/);
  });

  test('a console of the running daemon (control socket)', async () => {
    const dir = quietDataDir();
    const daemon = spawn('node', [BIN, 'serve', '--data', dir], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' } });
    try {
      let out = '';
      daemon.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
      const end = Date.now() + 30_000;
      while (!out.includes('serving')) {
        if (Date.now() > end) throw new Error('the daemon did not start');
        await new Promise((r) => setTimeout(r, 25));
      }
      checkHistory(typeLines(dir, TYPED));
    } finally {
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
  });
});
