// /system script policies and /import through the console session (the transcript
// test/transcripts/script.transcript shows the console output).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { openTestApp } from '../support/app.js';

async function consoleAs(t: Awaited<ReturnType<typeof openTestApp>>, user: string) {
  let out = '';
  const cs = await ConsoleSession.open(t.app, { user, output: (text) => { out += text; } });
  return { cs, take: () => { const o = out; out = ''; return o; } };
}

test('run needs every policy of the script unless dont-require-permissions=yes, which runs it with its own policies', async () => {
  const t = await openTestApp();
  try {
    const admin = await consoleAs(t, 'admin');
    assert.ok((await admin.cs.run('/user group add name=runner policy=read,test; /user add name=op group=runner password=x')).ok);
    assert.ok((await admin.cs.run('/system script add name=rename source="/system identity set name=renamed"')).ok);
    assert.ok((await admin.cs.run('/system script add name=limited policy=read source="/system identity set name=nope"')).ok);
    const op = await consoleAs(t, 'op');
    assert.deepEqual(await op.cs.run('/system script run rename'), { ok: false, error: 'not enough permissions (9)' });
    // It runs with op's permissions (read, test): its write is refused inside.
    assert.deepEqual(await op.cs.run('/system script run limited'), { ok: false, error: 'not enough permissions (9)' });
    assert.ok((await admin.cs.run('/system script set rename dont-require-permissions=yes')).ok);
    assert.deepEqual(await op.cs.run('/system script run rename'), { ok: true });
    assert.equal(await t.app.identity(), 'renamed');
    assert.ok((await admin.cs.run(':put [/system script get rename owner]')).ok);
    assert.equal(admin.take(), 'admin\n');
  } finally {
    t.close();
  }
});

test('/import: CRLF files, continuation lines, globals shared with later scripts, dry-run changes nothing', async () => {
  const t = await openTestApp();
  try {
    fs.mkdirSync(t.app.dataDir.filesDir, { recursive: true });
    fs.writeFileSync(path.join(t.app.dataDir.filesDir, 'init.rsc'), '# set up\r\n:global greeting "hi"\r\n/system identity \\\r\n    set name=from-rsc\r\n');
    fs.writeFileSync(path.join(t.app.dataDir.filesDir, 'dry.rsc'), '/system identity set name=dry\n');
    const admin = await consoleAs(t, 'admin');
    assert.deepEqual(await admin.cs.run('/import file-name=init.rsc'), { ok: true });
    assert.equal(admin.take(), 'Script file loaded and executed successfully\n');
    assert.equal(await t.app.identity(), 'from-rsc');
    assert.ok((await admin.cs.run('/system script add name=g source=":global greeting; :put \\$greeting"; /system script run g')).ok);
    assert.equal(admin.take(), 'hi\n');
    assert.ok((await admin.cs.run('/import file-name=dry.rsc dry-run')).ok);
    assert.equal(await t.app.identity(), 'from-rsc');
  } finally {
    t.close();
  }
});

test('globals belong to a user: shared by their scripts and consoles, not seen by another user; environment lists and removes them', async () => {
  const t = await openTestApp();
  try {
    const admin = await consoleAs(t, 'admin');
    assert.ok((await admin.cs.run('/user add name=other group=full password=x')).ok);
    assert.ok((await admin.cs.run('/system script add name=setter source=":global Ready true; :global Token \\"s3cret\\""')).ok);
    assert.ok((await admin.cs.run('/system script run setter')).ok);
    // the same user's console sees what the script set (eworm's global-functions relies on it)
    assert.ok((await admin.cs.run(':global Ready; :global Token; :put "$Ready $Token"')).ok);
    assert.equal(admin.take(), 'true s3cret\n');
    const other = await consoleAs(t, 'other');
    assert.ok((await other.cs.run(':global Ready; :put [:typeof $Ready]')).ok);
    assert.equal(other.take(), 'nothing\n');
    assert.ok((await admin.cs.run('/system script environment print')).ok);
    assert.match(admin.take(), /Ready +admin +true/);
    // values are secrets to those without the sensitive policy
    assert.ok((await admin.cs.run('/user group add name=readers policy=read,test; /user add name=reader group=readers password=x')).ok);
    const reader = await consoleAs(t, 'reader');
    assert.ok((await reader.cs.run(':put [:len [/system script environment find name=Token]]; /system script environment print')).ok);
    const seen = reader.take();
    assert.match(seen, /^1\n/);
    assert.doesNotMatch(seen, /s3cret/);
    // another user's globals are not a writer's to remove (no `policy`); with its own among them, nothing goes
    assert.ok((await admin.cs.run('/user group add name=writers policy=read,write,test; /user add name=writer group=writers password=x')).ok);
    const writer = await consoleAs(t, 'writer');
    assert.ok((await writer.cs.run(':global Mine 1')).ok);
    const refused = await writer.cs.run('/system script environment remove [find]');
    assert.ok(!refused.ok);
    assert.match(String(refused.error), /not enough permissions/);
    // admin's Ready and Token, other's (declared) Ready, writer's Mine: all still there
    assert.ok((await admin.cs.run(':put [:len [/system script environment find]]')).ok);
    assert.equal(admin.take(), '4\n');
    assert.ok((await writer.cs.run('/system script environment remove [find user=writer]; :global Mine; :put [:typeof $Mine]')).ok);
    assert.equal(writer.take(), 'nothing\n');
    assert.ok((await admin.cs.run('/system script environment remove [find name=Token]; :global Token; :put [:typeof $Token]')).ok);
    assert.equal(admin.take(), 'nothing\n');
  } finally {
    t.close();
  }
});

test(':execute starts a job listed in /system script job: its id, its file, stopped by remove', async () => {
  const t = await openTestApp();
  try {
    fs.mkdirSync(t.app.dataDir.filesDir, { recursive: true, mode: 0o700 });
    const admin = await consoleAs(t, 'admin');
    assert.ok((await admin.cs.run(':global Job [:execute {:put "started"; :delay 60s; :put "never"} file=job-out.txt]; :put $Job')).ok);
    const id = admin.take().trim();
    assert.match(id, /^\*[0-9A-F]+$/);
    assert.ok((await admin.cs.run(':put [/system script job get $Job owner]')).ok);
    assert.equal(admin.take(), 'admin\n');
    assert.ok((await admin.cs.run('/system script job remove $Job')).ok);
    const deadline = Date.now() + 20_000;
    for (;;) {
      assert.ok((await admin.cs.run(':put [:len [/system script job find]]')).ok);
      if (admin.take() === '0\n') break;
      assert.ok(Date.now() < deadline, 'the job did not stop');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // A job that ends writes what it printed to its file.
    assert.ok((await admin.cs.run(':execute {:put "one"; :put "two"} file=done.txt')).ok);
    for (;;) {
      if (fs.existsSync(path.join(t.app.dataDir.filesDir, 'done.txt'))) break;
      assert.ok(Date.now() < deadline, 'no output file');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(fs.readFileSync(path.join(t.app.dataDir.filesDir, 'done.txt'), 'utf8'), 'one\ntwo\n');
    // The name ends at its first NUL, as RouterOS's C string (eworm's backup-upload: `file=($P . ".conf\00")`).
    assert.ok((await admin.cs.run(':execute {:put "nul"} file=("cut.conf" . "\\00" . ".txt")')).ok);
    for (;;) {
      if (fs.existsSync(path.join(t.app.dataDir.filesDir, 'cut.conf'))) break;
      assert.ok(Date.now() < deadline, 'no output file cut.conf');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(fs.readFileSync(path.join(t.app.dataDir.filesDir, 'cut.conf'), 'utf8'), 'nul\n');
    // A script that does not parse is the caller's error, no job.
    assert.deepEqual(await admin.cs.run(':execute "/nonsense/command"'), { ok: false, error: 'bad command name nonsense (line 1 column 2)' });
  } finally {
    t.close();
  }
});

test('on a terminal a missing argument is asked for, also inside a script run from it (the IKEv2 auto-script reads input so)', async () => {
  const t = await openTestApp();
  try {
    let out = '';
    const questions: string[] = [];
    const answers = ['42', 'asker', 'srv.example'];
    const cs = await ConsoleSession.open(t.app, {
      user: 'admin', output: (text) => { out += text; },
      prompt: async (question) => { questions.push(question); return answers.shift() ?? ''; },
    });
    assert.ok((await cs.run(':local ask do={ :put $1; :return }; :put ("got " . [$ask "Which number?"])')).ok);
    assert.equal(out, 'Which number?\ngot 42\n');
    assert.deepEqual(questions.splice(0), ['value: ']);
    out = '';
    assert.ok((await cs.run('/system script add name=asker source=":local ask do={ :put \\$1; :return }; :put \\"hello\\"; :local h [\\$ask \\"Host name?\\"]; :put \\"host=\\$h\\""')).ok);
    // `run` without its script: `number: `; the script's own question comes after what it printed.
    assert.ok((await cs.run('/system script run')).ok);
    assert.deepEqual(questions, ['number: ', 'hello\nHost name?\nvalue: ']);
    assert.equal(out, 'host=srv.example\n');
  } finally {
    t.close();
  }
});
