// No script stops the daemon. rospki serves every connection, job and service on one thread, and
// any user who may log in runs console text (`/execute` needs no policy of its own: REST, the
// API, SSH and telnet consoles). Each attack here froze or ended a real `rospki serve` daemon
// before it was fixed; each is run as a read-only user (group `looker`: read, api, rest-api)
// or a write user, against the daemon in its own process, with curl bounded in time.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, startDaemon, type Daemon } from './daemon.js';

const PW = 'Looker-pass1';

describe('no script stops the daemon', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon([
      '/user group add name=looker policy=read,api,rest-api',
      `/user add name=looker group=looker password=${PW}`,
      `/user add name=writer group=write password=${PW}`,
    ].join('\n'));
  });
  after(async () => { await d.stop(); });

  /** The daemon answers admin at once (10 s is generous: a frozen daemon never answers). */
  async function answers(): Promise<void> {
    const [status, body] = await d.rest('admin', ADMIN_PASSWORD, 'GET', '/system/identity', undefined, 10);
    assert.equal(status, 200, `the daemon answers (${body})`);
    assert.ok(d.alive(), 'the daemon runs');
  }

  const jobs = async (): Promise<Array<Record<string, string>>> => {
    const [status, body] = await d.rest('admin', ADMIN_PASSWORD, 'GET', '/system/script/job', undefined, 10);
    assert.equal(status, 200, body);
    return JSON.parse(body) as Array<Record<string, string>>;
  };

  test('an endless loop in a background job: the daemon keeps answering, and removing the job stops it', async () => {
    for (const loop of [':while (true) do={}', ':local i 0; :while (true) do={ :set i ($i + 1) }', ':for i from=1 to=1000000000000 do={}']) {
      const [status, body] = await d.rest('looker', PW, 'POST', '/execute', { script: loop }, 10);
      assert.equal(status, 200, body);
      const id = (JSON.parse(body) as { ret: string }).ret;
      await answers();
      assert.ok((await jobs()).some((j) => j['.id'] === id), `job ${id} of ${loop} runs`);
      const [removed, text] = await d.rest('admin', ADMIN_PASSWORD, 'POST', '/system/script/job/remove', { numbers: id }, 10);
      assert.equal(removed, 200, text);
      const end = Date.now() + 15_000;
      while ((await jobs()).some((j) => j['.id'] === id)) {
        assert.ok(Date.now() < end, `job ${id} ended`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  test('a function that calls itself ends with an error, not with the daemon', async () => {
    const [status, body] = await d.rest('looker', PW, 'POST', '/execute',
      { script: ':global f do={ :global f; [$f] }; [$f]', 'as-string': '' }, 60);
    assert.equal(status, 200, body);
    assert.match(body, /too many nested calls/);
    await answers();
  });

  test('scripts that run themselves (/system script run, /import) end with an error', async () => {
    const [s1, b1] = await d.rest('writer', PW, 'PUT', '/system/script', { name: 'again', source: '/system script run again' });
    assert.equal(s1, 201, b1);
    const [s2, b2] = await d.rest('writer', PW, 'POST', '/system/script/run', { number: 'again' }, 120);
    assert.equal(s2, 400, b2);
    assert.match(b2, /too many nested calls/);
    await answers();
    const [s3, b3] = await d.rest('writer', PW, 'PUT', '/file', { name: 'again.rsc', contents: '/import again.rsc\n' });
    assert.equal(s3, 201, b3);
    const [s4, b4] = await d.rest('writer', PW, 'POST', '/import', { 'file-name': 'again.rsc' }, 120);
    assert.equal(s4, 400, b4);
    assert.match(b4, /too many nested calls/);
    await answers();
  });

  test('a regular expression that backtracks without end answers at once (ReDoS)', async () => {
    const evil = `:put ("${'a'.repeat(40)}!" ~ "(a+)+\\$"); :put ("${'a'.repeat(40)}" ~ "^(a|aa)+\\$")`;
    const [status, body] = await d.rest('looker', PW, 'POST', '/execute', { script: evil, 'as-string': '' }, 10);
    assert.equal(status, 200, body);
    assert.deepEqual(JSON.parse(body), { ret: 'false\r\ntrue\r\n' });
    // A `where` filter of a print takes the same engine.
    const [s2, b2] = await d.rest('looker', PW, 'POST', '/execute',
      { script: `:put [:len [/user find where name~"^(l|o|k|e|r|lo|ok)+(l|o|k|e|r|lo|ok)+\\$"]]`, 'as-string': '' }, 10);
    assert.equal(s2, 200, b2);
    assert.deepEqual(JSON.parse(b2), { ret: '1\r\n' });
    await answers();
  });
});

describe('a script that fills the memory is stopped, not the daemon', () => {
  let d: Daemon;
  before(async () => {
    // A small heap, so that the test is quick; the rule is a share of whatever the heap may hold.
    d = await startDaemon([
      '/user group add name=looker policy=read,api,rest-api',
      `/user add name=looker group=looker password=${PW}`,
    ].join('\n'), { env: { NODE_OPTIONS: '--max-old-space-size=200' } });
  });
  after(async () => { await d.stop(); });

  test('an array that grows without end', async () => {
    const grow = ':local a [:toarray ""]; :local i 0; :while (true) do={ :set ($a->$i) [:toarray "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"]; :set i ($i + 1) }';
    const [status, body] = await d.rest('looker', PW, 'POST', '/execute', { script: grow, 'as-string': '' }, 120);
    assert.equal(status, 400, body);
    assert.match(body, /not enough memory/);
    const [s2, b2] = await d.rest('admin', ADMIN_PASSWORD, 'GET', '/system/identity', undefined, 30);
    assert.equal(s2, 200, b2);
    assert.ok(d.alive());
  });
});
