// A lesser user never reaches more (issue 11): global variables live in the daemon's memory, and
// a read user who grew one until the heap was half full was stopped, but the global stayed, so
// every long-running script of every user then stopped at its next turn ("not enough memory")
// until a policy user removed it. Now a user's globals have a budget (4 MiB): the :set that
// would pass it stops the script with an error, and other users' scripts run on. Run against a
// real daemon with a small heap (so the old behaviour shows quickly), as a read-only user.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, startDaemon, type Daemon } from './daemon.js';

const PW = 'Looker-pass1';
const FULL = /not enough memory for global variables \(at most 4MiB per user\)/;

describe('a global grown without end is stopped at its budget', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon([
      '/user group add name=looker policy=read,api,rest-api',
      `/user add name=looker group=looker password=${PW}`,
      `/user add name=writer group=write password=${PW}`,
    ].join('\n'), { env: { NODE_OPTIONS: '--max-old-space-size=200' } });
  });
  after(async () => { await d.stop(); });

  /** A script of another user that runs for many turns (each 10 ms) and finishes. */
  async function longScriptRuns(): Promise<void> {
    const [status, body] = await d.rest('writer', PW, 'POST', '/execute',
      { script: ':local s 0; :for i from=1 to=300000 do={ :set s ($s + $i) }; :put $s', 'as-string': '' }, 120);
    assert.equal(status, 200, `another user's long script runs to its end (${body})`);
    assert.match(body, /45000150000/);
  }

  const chunk = 'x'.repeat(1000);
  for (const [what, grow] of [
    ['a string', `:global g ""; :while (true) do={ :set g ($g . "${chunk}") }`],
    ['an array', `:global a [:toarray ""]; :local i 0; :while (true) do={ :set ($a->$i) "${chunk}"; :set i ($i + 1) }`],
  ] as const) {
    test(`${what}: the read user's script stops with the error; the daemon runs others' scripts`, async () => {
      const [status, body] = await d.rest('looker', PW, 'POST', '/execute', { script: grow, 'as-string': '' }, 120);
      // `as-string` gives the script's error as its value: `(:set; line 1)`.
      assert.equal(status, 200, body);
      assert.match(body, FULL);
      // The global holds what fitted: the user still has it, no more than the budget.
      const [s2, b2] = await d.rest('looker', PW, 'POST', '/execute',
        { script: what === 'a string' ? ':global g; :put [:len $g]' : ':global a; :put [:len $a]', 'as-string': '' }, 30);
      assert.equal(s2, 200, b2);
      const length = Number(/(\d+)/.exec(b2)?.[1]) * (what === 'a string' ? 1 : chunk.length);
      assert.ok(length > 4_000_000 && length <= 4 * 1024 * 1024, `kept ${length} characters`);
      await longScriptRuns();
      assert.ok(d.alive());
      // A policy user frees the budget as before.
      const [s3, b3] = await d.rest('admin', ADMIN_PASSWORD, 'POST', '/execute', { script: '/system script environment remove [find user=looker]', 'as-string': '' }, 30);
      assert.equal(s3, 200, b3);
    });
  }
});
