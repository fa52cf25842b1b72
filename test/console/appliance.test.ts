// The interpreter on the real menu layer (registry, executor, renderer, store): the
// spec Appendix C session, typed line by line.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Interpreter } from '../../src/console/interpreter.js';
import { RosError } from '../../src/errors.js';
import { openTestApp, type TestApp } from '../support/app.js';

describe('console on the appliance', () => {
  let t: TestApp;
  let interp: Interpreter;
  let out = '';
  const run = async (line: string): Promise<string> => {
    out = '';
    await interp.run(line);
    return out;
  };
  const error = async (line: string): Promise<string> => {
    try {
      await interp.run(line);
    } catch (e) {
      if (e instanceof RosError) return e.consoleText();
      throw e;
    }
    return 'no error';
  };

  before(async () => {
    t = await openTestApp();
    interp = new Interpreter({
      registry: t.app.registry, executor: t.app.executor, session: { ...t.session, width: 120 },
      output: (s) => { out += s; },
    });
  });
  after(() => t.close());

  test('Appendix C: make a CA and a server certificate', async () => {
    await run('/certificate');
    assert.equal(interp.currentPath, '/certificate');
    await run('add name=ca common-name=ca key-usage=key-cert-sign,crl-sign days-valid=3650 key-size=prime256v1');
    await run('add name=srv common-name=192.168.88.1 subject-alt-name=IP:192.168.88.1 key-size=prime256v1');
    assert.match(await run('sign ca'), /progress: done/);
    assert.match(await run('sign srv ca=ca'), /progress: done/);
    const table = await run('print');
    assert.match(table, /^Flags: /);
    assert.match(table, /\n0 KA T ca +all /);
    assert.match(table, /\n1 KAIT srv +all +192\.168\.88\.1 +IP:192\.168\.88\.1 +[0-9A-F]{40}\n/);
    assert.match(table, /\n1 \S+ +srv /);
  });

  test(':put [get …], find and count-only', async () => {
    assert.match(await run(':put [get ca fingerprint]'), /^[0-9a-f]{64}\n$/);
    assert.equal(await run('print count-only where issued'), '1\n');
    assert.equal(await run(':put [find where private-key]'), '*1;*2\n');
    assert.equal(await run(':put [/certificate find name~"^s"]'), '*2\n');
    assert.equal(await run(':local n [print count-only]; :put ($n * 10)'), '20\n');
  });

  test('abbreviations and navigation', async () => {
    await run('/');
    assert.equal(await run('/cert pri count-only where name=ca'), '1\n');
    assert.equal(interp.currentPath, '/');
    assert.match(await run('/system identity print'), /name: MikroTik/);
  });

  test('errors as the console prints them', async () => {
    assert.equal(await error('/certificate set ca bogus=1'), 'expected end of command (line 1 column 21)');
    assert.equal(await error('/certificate frobnicate'), 'bad command name frobnicate (line 1 column 14)');
    assert.equal(await error('/certificate add name=ca'), 'failure: already have such entry');
    assert.equal(await error('/certificate get nosuch name'), 'no such item');
  });

  test('print as-value feeds :foreach', async () => {
    assert.equal(await run(':foreach c in=[/certificate print as-value] do={ :put ($c->"name") }'), 'ca\nsrv\n');
  });
});
