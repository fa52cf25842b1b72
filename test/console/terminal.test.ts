// The interactive console on real terminals: the local terminal, a second terminal attached to
// a running daemon (control socket) and an OpenSSH PTY shell. A pseudo-terminal of the given
// size (python3's pty module, no COLUMNS in the environment) drives each one by expectation:
// wait for a text on the screen, then type. Checks RouterOS's continuation prompt (`{... `,
// `{(\... `), pasted multi-line blocks, and tables laid out at the terminal's own width, also
// after the window is resized. `/console clear-history` forgets what was typed on each of them.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { BIN, keyAuth, ssh, startSshDaemon, waitUntil } from '../services/ssh-support.js';
import { esc, onTerminal, type Step } from '../support/terminal.js';
import { needs } from '../support/tools.js';

const CN = 'a-rather-long-common-name-for-a-lab-vpn-gateway.example.net';

/**
 * The same session on every terminal: a block over three lines, a pasted multi-line script
 * with a continued line, a table at 200 columns, then at 80 after a resize.
 */
function session(prompt: string): Step[] {
  const p = esc(prompt);
  return [
    // Ctrl-C drops an entry that is not complete yet.
    { expect: p, send: ':if (true) do={\r' },
    { expect: '\\{\\.\\.\\. $', send: '\u0003' },
    { expect: p, send: ':put dropped\r' },
    { expect: `dropped\\r?\\n${p}`, send: '{\r' },
    { expect: '\\{\\.\\.\\. $', send: ':put (\\\r' },
    { expect: '\\{\\(\\\\\\.\\.\\. $', send: '1+2)}\r' },
    { expect: `\\r?\\n3\\r?\\n${p}`, send: `/certificate add name=wide common-name=${CN} subject-alt-name=DNS:${CN} \\\r    trusted=no\r:put [/certificate get wide trusted]\r` },
    { expect: `false\\r?\\n${p}`, send: '/certificate print\r' },
    { expect: `TRUST-STORE  COMMON-NAME[^\\n]*\\n[^\\n]*${esc(CN)}[^\\n]*\\n${p}`, send: '', resize: [80, 40] },
    // The line editor redraws its prompt when the window change reaches the console; the
    // console took the new width in the same moment, so the next table follows it.
    { expect: p, send: '/certificate print\r' },
    { expect: `TRU  COMMON-NAME[^\\n]*\\n[^\\n]*${esc(CN)}[^\\n]*\\n${p}`, send: '/quit\r' },
  ];
}

/**
 * `/console clear-history`: what was typed before is gone from the line editor (the up arrow
 * recalls nothing, so nothing runs) and from the history file the terminal writes.
 */
function clearHistorySession(prompt: string): Step[] {
  const p = esc(prompt);
  return [
    { expect: p, send: ':put typed-before\r' },
    { expect: `typed-before\r?\n${p}`, send: '/console clear-history\r' },
    { expect: p, send: '\u001b[A\r' },
    { expect: p, send: ':put after\r' },
    { expect: `after\r?\n${p}`, send: '/quit\r' },
  ];
}

function assertHistoryCleared(screen: string, historyFile: string): void {
  assert.equal(screen.split('clear-history').length, 2, `the up arrow recalled nothing:\n${screen}`);
  const history = fs.readFileSync(historyFile, 'utf8');
  assert.doesNotMatch(history, /typed-before|clear-history/);
  assert.match(history, /:put after/);
}

/** A data directory whose services stay off (a terminal console starts the enabled ones). */
function quietDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-term-'));
  const r = spawnSync('node', [BIN, '--data', dir, '-e', '/ip service set [find] disabled=yes'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return dir;
}

const skip = needs('python3');

describe('the console on a terminal (pty)', { skip }, () => {
  const dirs: string[] = [];
  let daemon: ChildProcess | undefined;
  after(() => {
    daemon?.kill('SIGTERM');
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test('local terminal: continuation prompts, a pasted block, the terminal width and a resize', () => {
    const dir = quietDataDir();
    dirs.push(dir);
    const screen = onTerminal(['node', BIN, '--data', dir], 200, session('[admin@MikroTik] > '));
    assert.match(screen, /\{\.\.\. :put \(\\/);
  });

  test('local terminal and a console attached to a daemon: /console clear-history', async () => {
    const dir = quietDataDir();
    dirs.push(dir);
    assertHistoryCleared(onTerminal(['node', BIN, '--data', dir], 100, clearHistorySession('[admin@MikroTik] > ')), path.join(dir, 'history'));
    const served = quietDataDir();
    dirs.push(served);
    const d = spawn('node', [BIN, 'serve', '--data', served], { stdio: 'ignore' });
    try {
      await waitUntil(() => fs.existsSync(path.join(served, 'control.sock')), 'the daemon');
      assertHistoryCleared(onTerminal(['node', BIN, '--data', served], 100, clearHistorySession('[admin@MikroTik] > ')), path.join(served, 'history'));
    } finally {
      d.kill('SIGTERM');
    }
  });

  test('COLUMNS still wins over the terminal size', () => {
    const dir = quietDataDir();
    dirs.push(dir);
    const screen = onTerminal(['node', BIN, '--data', dir], 200, [
      { expect: esc('[admin@MikroTik] > '), send: `/certificate add name=wide common-name=${CN} subject-alt-name=DNS:${CN}\r/certificate print\r` },
      { expect: `TRU  COMMON-NAME[^\\n]*\\n[^\\n]*${esc(CN)}`, send: '/quit\r' },
    ], { COLUMNS: '80' });
    assert.doesNotMatch(screen, /TRUST-STORE  COMMON-NAME/);
  });

  test('a console attached to a running daemon (control socket) does the same', async () => {
    const dir = quietDataDir();
    dirs.push(dir);
    daemon = spawn('node', [BIN, 'serve', '--data', dir], { stdio: 'ignore' });
    await waitUntil(() => fs.existsSync(path.join(dir, 'control.sock')), 'the daemon');
    onTerminal(['node', BIN, '--data', dir], 200, session('[admin@MikroTik] > '));
    // The daemon kept what the console did.
    const r = spawnSync('node', [BIN, '--data', dir, '-e', ':put [/certificate get wide common-name]'], { encoding: 'utf8' });
    assert.equal(r.stdout, `${CN}\n`);
  });
});

/** A script with a continued line after `name=`, one inside a string and one inside a block. */
const CONTINUED = [
  '/system script add name=joined policy=\\',
  '    read,write source=":put \\"from a str\\',
  '    ing\\""',
  ':if (true) do={',
  '  :put ([/system script get joined policy]->1 . " " . [:len \\',
  '      [/system script find]])',
  '}',
  '/system script run joined',
  '[:parse ":put (1 + \\\n    2)"]',
].join('\n');
const CONTINUED_OUT = 'write 1\nfrom a string\n3\n';

describe('continuation lines wherever console text comes from', () => {
  const dirs: string[] = [];
  after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

  test('-e, a .rsc file and piped standard input', () => {
    for (const how of ['-e', 'file', 'stdin'] as const) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-join-'));
      dirs.push(dir);
      const file = path.join(dir, 'joined.rsc');
      fs.writeFileSync(file, CONTINUED);
      const args = how === '-e' ? ['--data', dir, '-e', CONTINUED] : how === 'file' ? ['--data', dir, file] : ['--data', dir];
      const r = spawnSync('node', [BIN, ...args], { encoding: 'utf8', input: how === 'stdin' ? CONTINUED : undefined });
      assert.equal(r.stdout, CONTINUED_OUT, `${how}: ${r.stderr}`);
      assert.equal(r.status, 0);
    }
  });
});

describe('the console in an SSH PTY shell (OpenSSH)', { skip: needs('ssh', 'ssh-keygen', 'python3') }, () => {
  test('continuation prompts, a pasted block, the window size and window changes; /console clear-history', async () => {
    const d = await startSshDaemon();
    try {
      const auth = keyAuth(d);
      onTerminal(['ssh', '-tt', ...auth.args, '-p', String(d.sshPort), 'admin@127.0.0.1'], 200, session('[admin@MikroTik] > '));
      const cleared = onTerminal(['ssh', '-tt', ...auth.args, '-p', String(d.sshPort), 'admin@127.0.0.1'], 100, clearHistorySession('[admin@MikroTik] > '));
      await waitUntil(() => fs.existsSync(path.join(d.dir, 'history-ssh-admin')), 'the history file');
      assertHistoryCleared(cleared, path.join(d.dir, 'history-ssh-admin'));
      // An exec channel reads continued lines like every other way in.
      const exec = await ssh(d, CONTINUED, auth);
      assert.equal(exec.stdout, CONTINUED_OUT, exec.stderr);
      assert.equal(exec.status, 0);
    } finally {
      await d.stop();
    }
  });
});
