// The follower behind print follow and the API's listen (src/menu/follow.ts), through the
// executor as every front end runs it: a client that does not take its output holds the next part
// back, and the changes made meanwhile come as one part with each row as it is then (bounded by
// the rows, not by the changes); a removed row comes as `removed`; the end is `interrupted`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CommandResult, Session } from '../../src/menu/types.js';
import type { Value } from '../../src/menu/values.js';
import { ChangeSet } from '../../src/store/changes.js';
import { openTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
before(async () => { t = await openTestApp({ time: Date.now() }); });
after(() => t.close());

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a client that does not read: changes wait as row ids and come as one part, each row as it is then', async () => {
  await t.run('/certificate', 'add', { name: 'bf-a', 'common-name': 'bf-a0.test' });
  await t.run('/certificate', 'add', { name: 'bf-gone', 'common-name': 'bf-gone.test' });
  const parts: CommandResult[] = [];
  const controller = new AbortController();
  let blocked: Promise<void> | undefined;
  let release = (): void => {};
  let asked = 0;
  const session: Session = {
    ...t.session, signal: controller.signal,
    stream: (part) => { parts.push(part); },
    outputDrained: () => { asked++; return blocked; },
  };
  const running = t.app.executor.run({ path: '/certificate', command: 'print', args: new Map<string, Value>([['follow', true]]), session });
  await until(() => parts.length === 1, 'the first print');
  assert.deepEqual(parts[0]!.print!.rows.map((r) => r.data.name), ['bf-a', 'bf-gone']);
  // The client stops reading: nothing more goes out, however much changes.
  blocked = new Promise<void>((resolve) => { release = resolve; });
  for (let i = 1; i <= 20; i++) await t.run('/certificate', 'set', { numbers: 'bf-a', 'common-name': `bf-a${i}.test` });
  await t.run('/certificate', 'add', { name: 'bf-b', 'common-name': 'bf-b.test' });
  await t.run('/certificate', 'remove', { numbers: 'bf-gone' });
  await until(() => asked > 0, 'the follower to wait for the client');
  assert.equal(parts.length, 1);
  blocked = undefined;
  release();
  await until(() => parts.length === 2, 'the held part');
  const part = parts[1]!;
  assert.deepEqual(part.print!.rows.map((r) => [r.data.name, r.data['common-name']]), [['bf-a', 'bf-a20.test'], ['bf-b', 'bf-b.test']]);
  assert.equal(part.print!.continued, true);
  assert.deepEqual(part.removed!.rows.map((r) => r.data.name), ['bf-gone']);
  controller.abort();
  await assert.rejects(running, /interrupted/);
  assert.equal(parts.length, 2);
});

test('from= follows only the rows it named', async () => {
  await t.run('/certificate', 'add', { name: 'fr-a', 'common-name': 'fr-a.test' });
  await t.run('/certificate', 'add', { name: 'fr-b', 'common-name': 'fr-b.test' });
  const parts: CommandResult[] = [];
  const controller = new AbortController();
  const session: Session = { ...t.session, signal: controller.signal, stream: (part) => { parts.push(part); } };
  const running = t.app.executor.run({ path: '/certificate', command: 'print', args: new Map<string, Value>([['follow', true], ['from', 'fr-b']]), session });
  await until(() => parts.length === 1, 'the first print');
  assert.deepEqual(parts[0]!.print!.rows.map((r) => r.data.name), ['fr-b']);
  await t.run('/certificate', 'set', { numbers: 'fr-a', 'common-name': 'fr-a2.test' });
  await t.run('/certificate', 'set', { numbers: 'fr-b', 'common-name': 'fr-b2.test' });
  await until(() => parts.length === 2, 'the change');
  assert.deepEqual(parts[1]!.print!.rows.map((r) => r.data['common-name']), ['fr-b2.test']);
  controller.abort();
  await assert.rejects(running, /interrupted/);
});

test('a store that can only say "everything changed" (PostgreSQL catching up): only rows that differ are shown, removed ones as removed', async () => {
  await t.run('/certificate', 'add', { name: 'ev-a', 'common-name': 'ev-a.test' });
  await t.run('/certificate', 'add', { name: 'ev-b', 'common-name': 'ev-b.test' });
  await t.run('/certificate', 'add', { name: 'ev-c', 'common-name': 'ev-c.test' });
  const store = t.app.store;
  const inner = store.onChange!.bind(store);
  store.onChange = (listener) => inner(() => listener(new ChangeSet(true)));
  try {
    const parts: CommandResult[] = [];
    const controller = new AbortController();
    const session: Session = { ...t.session, signal: controller.signal, stream: (part) => { parts.push(part); } };
    const args = new Map<string, Value>([['follow', true]]);
    const running = t.app.executor.run({
      path: '/certificate', command: 'print', args, session,
      where: (row) => String(row.get('name')).startsWith('ev-'),
    });
    await until(() => parts.length === 1, 'the first print');
    assert.deepEqual(parts[0]!.print!.rows.map((r) => r.data.name), ['ev-a', 'ev-b', 'ev-c']);
    await t.run('/certificate', 'set', { numbers: 'ev-b', 'common-name': 'ev-b2.test' });
    await until(() => parts.length === 2, 'the change');
    assert.deepEqual(parts[1]!.print!.rows.map((r) => r.data['common-name']), ['ev-b2.test']);
    await t.run('/certificate', 'remove', { numbers: 'ev-a' });
    await until(() => parts.length === 3, 'the removal');
    assert.equal(parts[2]!.print, undefined);
    assert.deepEqual(parts[2]!.removed!.rows.map((r) => r.data.name), ['ev-a']);
    // A change to a row the filter does not take shows nothing.
    await t.run('/certificate', 'add', { name: 'other-d', 'common-name': 'd.test' });
    await t.run('/certificate', 'add', { name: 'ev-e', 'common-name': 'ev-e.test' });
    await until(() => parts.length === 4, 'the new row');
    assert.deepEqual(parts[3]!.print!.rows.map((r) => r.data.name), ['ev-e']);
    controller.abort();
    await assert.rejects(running, /interrupted/);
  } finally {
    delete (store as { onChange?: unknown }).onChange;
  }
});
