// Store changes made in the daemon's own process reach the services through onChange: a burst
// of commits (certificates issued one after another) is applied by a few reconciles, not one
// per commit, and the last change of the burst is applied all the same.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { freePort, startServiceApp } from './support.js';

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

test('a burst of commits is applied by few reconciles, the last change included', async (t) => {
  // No poll during the test: only onChange brings the services up to date.
  const s = await startServiceApp({ services: { pollMs: 600_000 } });
  t.after(() => s.stop());
  const before = s.services.reconciles;
  const commits = 300;
  for (let i = 0; i < commits; i++) await s.run('/system/identity', 'set', { name: `router-${i}` });
  const port = await freePort();
  await s.run('/ip/service', 'set', { numbers: 'www', port: String(port) });
  const end = Date.now() + 20_000;
  while (!(await listening(port))) {
    assert.ok(Date.now() < end, 'the port change of the burst was applied');
    await new Promise((r) => setTimeout(r, 20));
  }
  const ran = s.services.reconciles - before;
  assert.ok(ran >= 1 && ran < commits / 3, `${ran} reconciles for ${commits + 1} commits`);
});
