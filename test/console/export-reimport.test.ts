// rospki's own export wraps long lines with `\` and a 4-space indent, anywhere but at a blank
// or inside an escape (src/menu/generic.ts): inside words, right after `=`, inside strings. The
// console must read every such line back as it was: export, import the file into an empty
// data directory, export again — the same text.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { openTestApp, type TestApp } from '../support/app.js';

async function consoleOf(t: TestApp): Promise<{ run(text: string): Promise<string> }> {
  let out = '';
  const cs = await ConsoleSession.open(t.app, { width: 80, output: (text) => { out += text; }, operator: true });
  return {
    async run(text) {
      out = '';
      const r = await cs.run(text);
      assert.ok(r.ok, `${text}\n${r.error}`);
      return out;
    },
  };
}

const withoutHeader = (exported: string): string => exported.replace(/^# .* by RouterOS .*\n/, '');

test('export wraps long lines with \\ and re-importing them gives back the same configuration', async () => {
  const a = await openTestApp();
  const b = await openTestApp();
  try {
    const ca = await consoleOf(a);
    // Values long enough to be wrapped inside words, after `=` and inside strings with escapes.
    await ca.run([
      '/system script add name=long-one owner=admin policy=read,write,test comment="a comment that is long enough to push the line past eighty columns for sure" \\',
      '    source=":log info \\"hello from a script\\"\\r\\n:foreach i in={1;2;3} do={ :put (\\"item \\" . \\$i) }\\r\\n# end \\\\ of it"',
      '/system script add name=a-script-name-that-is-quite-long-indeed-for-wrapping-purposes-only source=":put [:len \\"äöü and more text to wrap around the eighty column border\\"]"',
      '/user group add name=operators-with-a-long-group-name policy=read,write,test,sensitive,ftp,reboot,password comment="group comment, long as well, so that it wraps"',
    ].join('\n'));
    const scripts = await ca.run('/system script export');
    const groups = await ca.run('/user group export');
    assert.match(scripts, /\\\n {4}\S/, 'the export wrapped lines');
    fs.mkdirSync(b.app.dataDir.filesDir, { recursive: true });
    fs.writeFileSync(path.join(b.app.dataDir.filesDir, 'cfg.rsc'), scripts);
    fs.writeFileSync(path.join(b.app.dataDir.filesDir, 'groups.rsc'), groups);

    const cb = await consoleOf(b);
    assert.equal(await cb.run('/import cfg.rsc dry-run'), 'No syntax errors found in the import file\n');
    assert.equal(await cb.run('/import cfg.rsc'), 'Script file loaded and executed successfully\n');
    await cb.run('/import groups.rsc');
    assert.equal(withoutHeader(await cb.run('/system script export')), withoutHeader(scripts));
    assert.equal(withoutHeader(await cb.run('/user group export')), withoutHeader(groups));
    assert.equal(await cb.run(':put [/system script get long-one source]'), ':log info "hello from a script"\r\n:foreach i in={1;2;3} do={ :put ("item " . $i) }\r\n# end \\ of it\n');
    assert.equal(await cb.run('/system script run long-one'), 'item 1\nitem 2\nitem 3\n');
  } finally {
    a.close();
    b.close();
  }
});
