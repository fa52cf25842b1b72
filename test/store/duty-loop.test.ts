// The loop of a singleton duty (src/store/duty-loop.ts) on a real SQLite store, whose duties are
// process-local: the first loop holds the duty, a second one waits for it.
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { test } from 'node:test';
import { DutyLoop, type DutyLoopOptions } from '../../src/store/duty-loop.js';
import { openDataDir, SqliteStore, type Store } from '../../src/store/index.js';
import { tempDir } from './helpers.js';

async function waitFor(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const gates: Array<() => void> = [];

/** A promise to settle by hand. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => { open = r; });
  gates.push(open);
  return { promise, open };
}

/** Stops the loop when the test ends; a test that failed half-way left gates shut: open them first. */
function stopAfter(t: { after(fn: () => Promise<void>): void }, loop: { stop(): Promise<void> }): void {
  t.after(async () => {
    for (const open of gates.splice(0)) open();
    await loop.stop();
  });
}

/** Whether `p` has settled once the pending callbacks have run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => { done = true; }, () => { done = true; });
  await tick();
  await tick();
  return done;
}

function openStore(t: { after(fn: () => void): void }): Store {
  const store = SqliteStore.open(openDataDir(tempDir(t)));
  t.after(() => store.close());
  return store;
}

/** A loop whose looks are counted (and may be held up by `looks.hold`). */
function countingLoop<T = undefined>(store: Store, extra: Partial<DutyLoopOptions> = {}) {
  const looks = { count: 0, hold: undefined as Promise<void> | undefined, signal: undefined as AbortSignal | undefined };
  const loop: DutyLoop<number, T> = new DutyLoop<number, T>(store, {
    duty: 'test-duty',
    async look(signal) {
      looks.count++;
      looks.signal = signal;
      await looks.hold;
    },
    report: (e) => { throw e; },
    ...extra,
  });
  return { loop, looks };
}

/** A loop that holds its duty and has made its first look (stopped when the test ends). */
async function lookingLoop<T = undefined>(t: { after(fn: () => Promise<void> | void): void }, store: Store, extra: Partial<DutyLoopOptions> = {}) {
  const counted = countingLoop<T>(store, extra);
  stopAfter(t, counted.loop);
  await waitFor(() => counted.looks.count === 1, 'the first look');
  return counted;
}

/** Two loops of one duty on one store, once the first (the holder) has looked. */
async function twoLoops(t: { after(fn: () => Promise<void> | void): void }) {
  const store = openStore(t);
  const a = countingLoop(store);
  const b = countingLoop(store);
  stopAfter(t, a.loop);
  stopAfter(t, b.loop);
  await waitFor(() => a.looks.count === 1, 'the holder to look');
  return { a, b };
}

test('the looks asked for during a look share the one look that follows it', async (t) => {
  const { loop, looks } = countingLoop(openStore(t));
  stopAfter(t, loop);
  // Activation plans a first look; the test asks for the rest.
  await waitFor(() => looks.count === 1, 'the first look');
  const first = gate();
  looks.hold = first.promise;
  const p1 = loop.look();
  await tick();
  assert.equal(looks.count, 2);
  const second = gate();
  looks.hold = second.promise;
  const p2 = loop.look();
  const p3 = loop.look();
  assert.equal(p2, p3, 'the looks asked for meanwhile share one');
  await tick();
  assert.equal(looks.count, 2, 'no second look runs beside the first');
  first.open();
  await p1;
  await waitFor(() => looks.count === 3, 'the look that follows');
  assert.equal(await settled(p2), false, 'p2 waits for the look that follows, not the one under way');
  second.open();
  await p2;
  await tick();
  assert.equal(looks.count, 3, 'one look served both');
});

test('wake plans a look only while the loop holds the duty; the next holder takes over', async (t) => {
  const { a, b } = await twoLoops(t);
  assert.equal(a.loop.active, true);
  assert.equal(b.loop.active, false);
  b.loop.wake(0);
  a.loop.wake(0);
  // Timers of one delay fire in the order they were set: had b planned a look, it ran by now.
  await waitFor(() => a.looks.count === 2, 'the holder to look when woken');
  await tick();
  assert.equal(b.looks.count, 0, 'a loop that does not hold the duty plans no look');
  await a.loop.stop();
  assert.equal(a.loop.active, false);
  a.loop.wake(0);
  await waitFor(() => b.looks.count === 1, 'the next holder to look');
  assert.equal(b.loop.active, true);
  b.loop.wake(0);
  await waitFor(() => b.looks.count === 2, 'the new holder to look when woken');
  assert.equal(a.looks.count, 2, 'a stopped loop plans no look');
});

test('looks wait for activate; stop aborts the running jobs and waits for them and the look under way', async (t) => {
  const events: string[] = [];
  const activated = gate();
  const { loop, looks } = countingLoop(openStore(t), {
    activate: () => activated.promise,
    deactivate: () => { events.push('deactivate'); },
  });
  stopAfter(t, loop);
  const early = loop.look();
  assert.equal(await settled(early), false, 'a look waits for activate');
  assert.equal(looks.count, 0, 'no look before activate has finished');
  activated.open();
  await early;
  assert.equal(looks.count, 1);
  await waitFor(() => looks.count === 2, 'the look activation planned');

  let signal: AbortSignal | undefined;
  const jobEnd = gate();
  const job = loop.run(7, async (s) => {
    signal = s;
    // (The gate only frees the job after a failure: stopAfter opens it.)
    await Promise.race([new Promise<void>((r) => s.addEventListener('abort', () => r(), { once: true })), gate().promise]);
    events.push('job aborted');
    await jobEnd.promise;
    events.push('job ended');
  }, undefined);
  assert.equal(loop.has(7), true);
  const lookEnd = gate();
  looks.hold = lookEnd.promise;
  const look = loop.look();

  const stopped = loop.stop();
  await waitFor(() => signal?.aborted === true, 'the job to be aborted');
  lookEnd.open();
  await look;
  assert.equal(await settled(stopped), false, 'stop waits for the aborted job');
  jobEnd.open();
  await stopped;
  await job;
  assert.deepEqual(events, ['job aborted', 'job ended', 'deactivate']);
  assert.equal(loop.has(7), false);
  assert.equal(loop.size, 0);
});

test('stop waits for the look under way', async (t) => {
  const { loop, looks } = await lookingLoop(t, openStore(t));
  const lookEnd = gate();
  looks.hold = lookEnd.promise;
  void loop.look();
  const stopped = loop.stop();
  assert.equal(await settled(stopped), false, 'stop waits for the look');
  lookEnd.open();
  await stopped;
});

test('idle waits for every job, also one started while it waits', async (t) => {
  const { loop } = await lookingLoop<string>(t, openStore(t));
  await loop.idle();
  const firstEnd = gate();
  const secondEnd = gate();
  void loop.run(1, async () => {
    await firstEnd.promise;
    void loop.run(2, () => secondEnd.promise, 'second');
  }, 'first');
  assert.deepEqual(loop.tags(), ['first']);
  const idle = loop.idle();
  assert.equal(await settled(idle), false, 'idle waits while a job runs');
  firstEnd.open();
  await waitFor(() => loop.has(2) && !loop.has(1), 'the second job');
  assert.deepEqual(loop.tags(), ['second']);
  assert.equal(await settled(idle), false, 'idle waits for the job started meanwhile');
  secondEnd.open();
  await idle;
  assert.equal(loop.size, 0);
});

test('wakeOnJobEnd: a job that ends brings the next look', async (t) => {
  const store = openStore(t);
  const { loop, looks } = await lookingLoop(t, store, { wakeOnJobEnd: true });
  const end = gate();
  void loop.run(1, () => end.promise, undefined);
  end.open();
  await waitFor(() => looks.count === 2, 'the look after the job');

  // Without it, a job's end plans nothing (the loop's own look plans the next).
  const other = countingLoop(openStore(t));
  stopAfter(t, other.loop);
  await waitFor(() => other.looks.count === 1, 'the first look');
  const end2 = gate();
  const job = other.loop.run(1, () => end2.promise, undefined);
  end2.open();
  await job;
  // A look the job's end had planned would fire before this timer of the same delay.
  await new Promise((r) => setTimeout(r, 0));
  await tick();
  assert.equal(other.looks.count, 1, 'the job planned no look of its own');
});

test('a look under way when the duty is lost starts no job after it', async (t) => {
  const store = openStore(t);
  const { loop, looks } = await lookingLoop(t, store);
  const held = gate();
  looks.hold = held.promise;
  const look = loop.look();
  await tick();
  // The duty is given up while the look waits (for its read, in the scheduler and netwatch).
  const stopping = loop.stop();
  await tick();
  assert.equal(loop.active, false);
  held.open();
  await look;
  let started = false;
  await loop.run(1, async () => { started = true; }, undefined);
  assert.equal(started, false, 'no job starts once the duty is lost');
  assert.equal(loop.size, 0);
  await stopping;
});

test("a look's signal is aborted when the duty is lost, before the look under way is awaited", async (t) => {
  const { a, b } = await twoLoops(t);
  assert.equal(a.looks.signal?.aborted, false, 'the holder looks with a live signal');
  // A look asked of a loop that never held the duty has nothing to do: its signal says so.
  await b.loop.look();
  assert.equal(b.looks.signal?.aborted, true, 'a look outside a holding gets an aborted signal');
  const held = gate();
  a.looks.hold = held.promise;
  const look = a.loop.look();
  await tick();
  const signal = a.looks.signal!;
  const stopping = a.loop.stop();
  await tick();
  assert.equal(signal.aborted, true, 'the look under way is told the duty is lost');
  assert.equal(await settled(stopping), false, 'stop waits for that look');
  held.open();
  await look;
  await stopping;
  // The next holder's looks get a signal of their own.
  await waitFor(() => b.looks.count === 2, 'the next holder to look');
  assert.equal(b.looks.signal?.aborted, false, 'a new holding gives a new signal');
});

test('firstLookMs: the first look after the duty is got waits that long', async (t) => {
  const { loop, looks } = countingLoop(openStore(t), { firstLookMs: 50 });
  stopAfter(t, loop);
  assert.equal(loop.active, true);
  // A look planned at once would fire before this timer of the same delay.
  await new Promise((r) => setTimeout(r, 0));
  await tick();
  assert.equal(looks.count, 0, 'no look at once');
  await waitFor(() => looks.count === 1, 'the first look');
});
