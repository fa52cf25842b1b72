// What a script printed is its caller's, never /log's: a scheduled event or a background job of
// an admin that printed a secret (`:put [/ppp secret get vpn1 password]`) and then failed put
// that secret into the failure's /log line, which every read user prints. /log now gets the
// error alone (RosError.scriptError); the caller of `/system script run` still sees what was printed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { startScheduler } from '../../src/menus/system/scheduler.js';
import { runningJobs } from '../../src/menus/system/script-job.js';
import { openTestApp } from '../support/app.js';

const SECRET = 'Ppp-Secret-4711';

test('a failing script\'s output (a secret it printed) never reaches /log', async () => {
  const t = await openTestApp();
  const sched = startScheduler(t.app);
  try {
    let out = '';
    const admin = await ConsoleSession.open(t.app, { user: 'admin', output: (x) => { out += x; } });
    const cli = async (line: string) => { const r = await admin.run(line); assert.ok(r.ok, `${line}: ${r.error}`); };
    await cli(`/ppp secret add name=vpn1 password=${SECRET}`);
    await cli('/user group add name=viewers policy=read,test; /user add name=viewer group=viewers password=x');
    await cli('/system script add name=leaky source=":put [/ppp secret get vpn1 password]; :error boom"');
    await cli('/system script add name=outer source=":put [/ppp secret get vpn1 password]; /system script run leaky"');
    await cli('/system scheduler add name=stored interval=1h on-event=leaky');
    await cli('/system scheduler add name=nested interval=1h on-event=outer');
    await cli('/system scheduler add name=inline interval=1h on-event=":put [/ppp secret get vpn1 password]; :error boom"');
    await sched.tick();
    await cli(':execute ":put [/ppp secret get vpn1 password]; :error boom"');
    const lines = () => t.app.store.read((tx) => tx.list('/log').filter((r) => (r.data.topics as string[]).includes('script')).map((r) => String(r.data.message)));
    const end = Date.now() + 20_000;
    while ((await lines()).filter((l) => l.includes('boom')).length < 4 || runningJobs(t.app.env).length > 0) {
      assert.ok(Date.now() < end, `the failures in /log: ${JSON.stringify(await lines())}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const logged = await lines();
    assert.deepEqual(logged.filter((l) => l.includes('boom')).sort(),
      ['(scheduler:inline) boom', '(scheduler:nested) boom', '(scheduler:stored) boom', 'script error: boom (:error; line 1)']);
    let seen = '';
    const viewer = await ConsoleSession.open(t.app, { user: 'viewer', output: (x) => { seen += x; } });
    assert.ok((await viewer.run('/log print')).ok);
    assert.doesNotMatch(seen, new RegExp(SECRET), 'a read user prints no secret from /log');
    // Whoever runs the script still sees what it printed.
    out = '';
    const r = await admin.run('/system script run leaky');
    assert.match(`${out}${r.error ?? ''}`, new RegExp(`${SECRET}[\\s\\S]*boom`));
  } finally {
    await sched.stop();
    t.close();
  }
});
