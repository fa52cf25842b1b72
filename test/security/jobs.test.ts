// Background jobs are shared: at most MAX_RUNNING_JOBS run at once. A read user's loop of
// `:execute ":delay 1h"` took all 64 slots, and the admin's own `:execute` was refused
// (`too many jobs running`) until someone removed them. Each user now holds at most
// MAX_JOBS_PER_USER of them, so a lesser user can not take every slot from the others.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { MAX_JOBS_PER_USER } from '../../src/menus/system/execute.js';
import { runningJobs, stopJob } from '../../src/menus/system/script-job.js';
import { openTestApp } from '../support/app.js';

test('a read user can not take every background job slot', async () => {
  const t = await openTestApp();
  try {
    const admin = await ConsoleSession.open(t.app, { user: 'admin', output: () => {} });
    assert.ok((await admin.run('/user group add name=viewers policy=read,test; /user add name=viewer group=viewers password=x')).ok);
    let out = '';
    const viewer = await ConsoleSession.open(t.app, { user: 'viewer', output: (x) => { out += x; } });
    const r = await viewer.run(':for i from=1 to=70 do={ :execute ":delay 1h" }');
    assert.match(r.error ?? out, /too many jobs running/);
    assert.equal(runningJobs(t.app.env).filter((j) => j.owner === 'viewer').length, MAX_JOBS_PER_USER);
    const mine = await admin.run(':execute ":delay 1h"');
    assert.ok(mine.ok, `the admin still starts a job: ${mine.error}`);
    assert.equal(runningJobs(t.app.env).filter((j) => j.owner === 'admin').length, 1);
    for (const job of runningJobs(t.app.env)) stopJob(t.app.env, job.id);
  } finally {
    t.close();
  }
});
