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
