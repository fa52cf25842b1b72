// `print follow`, `print follow-only` and `print interval=` on the console (spec §3.5; the Log
// manual: `print follow where topics~".info"` "will detect new log entries until Ctrl+C is
// pressed"): a console's output grows as another session changes the menu, until interrupted;
// the follower then leaves no store listener behind.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConsoleSession, type RunOutcome } from '../../src/console/session.js';
import type { ChangeSet } from '../../src/store/changes.js';
import { openTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
/** Store listeners subscribed and not yet released (a follower must release its own). */
let listening = 0;

before(async () => {
  t = await openTestApp({ time: Date.now() });
  const store = t.app.store;
  const inner = store.onChange!.bind(store);
  store.onChange = (listener: (change: ChangeSet) => void) => {
    listening++;
    const off = inner(listener);
    return () => { listening--; off(); };
  };
});
after(() => t.close());

/** Waits (bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A console whose output is collected; `start` runs a line without waiting for it. */
async function watcher(opts: { user?: string; terminal?: boolean } = {}) {
  let out = '';
  const cs = await ConsoleSession.open(t.app, {
    user: opts.user ?? 'admin', width: 200, output: (text) => { out += text; },
    prompt: opts.terminal ? async () => '' : undefined,
  });
  return {
    cs,
    get out() { return out; },
    start(line: string): Promise<RunOutcome> { return cs.run(line); },
  };
}

/** A /log line, committed before this returns (`:log` of a console commits in the background). */
async function logLine(message: string): Promise<void> {
  await t.app.store.write((tx) => t.app.env.log(tx, 'script,info', message));
}

/** Another session's command line (the changes a follower sees). */
async function other(line: string): Promise<void> {
  const cs = await ConsoleSession.open(t.app, { user: 'admin', output: () => {} });
  const r = await cs.run(line);
  assert.ok(r.ok, `${line}: ${r.error}`);
}

test('print follow: the rows, then each row added or changed by another session, until Ctrl-C', async () => {
  await other('/certificate add name=fol-a common-name=fol-a.test');
  const before = listening;
  const w = await watcher();
  const running = w.start('/certificate print follow where name~"^fol-"');
  await until(() => w.out.includes('fol-a.test'), 'the first print');
  // The first print is a whole table: its Columns line and header.
  assert.match(w.out, /^Columns: NAME, TRUST-STORE, COMMON-NAME\n# NAME/m);
  assert.equal(listening, before + 1);
  await other('/certificate add name=fol-b common-name=fol-b.test');
  await until(() => w.out.includes('fol-b.test'), 'the added row');
  await other('/certificate set fol-a common-name=fol-a2.test');
  await until(() => w.out.includes('fol-a2.test'), 'the changed row');
  // A row the where does not take is not shown.
  await other('/certificate add name=other-c common-name=other-c.test');
  await other('/certificate set fol-b common-name=fol-b2.test');
  await until(() => w.out.includes('fol-b2.test'), 'the second change');
  assert.doesNotMatch(w.out, /other-c/);
  // Rows after the first print come without a header again, each on its own line, numbered as print numbers them.
  assert.equal(w.out.match(/^Columns:/gm)?.length, 1, w.out);
  assert.equal(w.out, [
    'Columns: NAME, TRUST-STORE, COMMON-NAME',
    '# NAME   TRUST-STORE  COMMON-NAME',
    '0 fol-a  all          fol-a.test ',
    '1 fol-b  all          fol-b.test ',
    '0 fol-a  all          fol-a2.test',
    '1 fol-b  all          fol-b2.test',
    '',
  ].join('\n'));
  w.cs.interrupt();
  const r = await running;
  assert.deepEqual(r, { ok: false, error: 'interrupted' });
  assert.equal(listening, before, 'the follower released its store listener');
  // Nothing more is printed once it stopped.
  const stopped = w.out;
  await other('/certificate set fol-a common-name=fol-a3.test');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(w.out, stopped);
  await other('/certificate remove [find where name~"^(fol-|other-)"]');
});

test('/log print follow-only where: only new lines that match, from now on', async () => {
  await logLine('fo-hello 0');
  const w = await watcher();
  const running = w.start('/log print follow-only where message~"fo-hello"');
  // follow-only prints nothing at first; a change arriving is the only way to see it listens:
  // log a matching line until one shows (each round's line is different).
  for (let i = 1; !w.out.includes('fo-hello'); i++) {
    assert.ok(i < 200, 'the follower never showed a line');
    await logLine(`fo-other ${i}`);
    await logLine(`fo-hello ${i}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await logLine('fo-hello last');
  await until(() => w.out.includes('fo-hello last'), 'the last line');
  w.cs.interrupt();
  await running;
  assert.doesNotMatch(w.out, /fo-hello 0/, 'lines from before are not shown');
  assert.doesNotMatch(w.out, /fo-other/, 'lines the where does not take are not shown');
  // /log's own layout: `time topics message`, one line per entry, no header.
  for (const line of w.out.trimEnd().split('\n')) assert.match(line, /^\d\d:\d\d:\d\d script,info fo-hello \S+$/);
});

test('print interval=: the whole print again every interval; a terminal clears the screen between rounds', async () => {
  await other('/certificate add name=int-a common-name=int-a.test');
  const plain = await watcher();
  const running = plain.start('/certificate print interval=100ms where name="int-a"');
  await until(() => (plain.out.match(/^Columns:/gm)?.length ?? 0) >= 3, 'three rounds');
  plain.cs.interrupt();
  await running;
  assert.doesNotMatch(plain.out, /\x1b/, 'no terminal control outside a terminal');

  const term = await watcher({ terminal: true });
  const again = term.start('/certificate print interval=100ms where name="int-a"');
  await until(() => term.out.includes('\x1b[H\x1b[2J'), 'a redraw');
  term.cs.interrupt();
  await again;
  assert.ok(term.out.startsWith('Columns:'), 'the first round is not preceded by a clear');
  await other('/certificate remove int-a');
});

test('follow hides sensitive and secret values as print does; show-sensitive needs the sensitive policy', async () => {
  await other('/interface/wifi/security add name=fol-w authentication-types=wpa2-psk passphrase=fol-secret-pp');
  const w = await watcher();
  const running = w.start('/interface/wifi/security print follow detail where name~"^fol-"');
  await until(() => w.out.includes('fol-w'), 'the first print');
  await other('/interface/wifi/security set fol-w passphrase=fol-secret-2 eap-username=fol-user');
  await until(() => w.out.includes('fol-user'), 'the change');
  w.cs.interrupt();
  await running;
  assert.doesNotMatch(w.out, /fol-secret/);
  // show-sensitive: shown to a user with the policy ...
  const s = await watcher();
  const shown = s.start('/interface/wifi/security print follow detail show-sensitive where name~"^fol-"');
  await until(() => s.out.includes('fol-secret-2'), 'the sensitive value');
  s.cs.interrupt();
  await shown;
  // ... refused to one without it, before anything is printed.
  await other('/user/group add name=fol-nosens policy=read,local,api; /user add name=fol-u group=fol-nosens password=x');
  const u = await watcher({ user: 'fol-u' });
  const refused = await u.start('/interface/wifi/security print follow show-sensitive');
  assert.equal(refused.ok, false);
  assert.match(refused.error ?? '', /not enough permissions/);
  assert.equal(u.out, '');
  await other('/interface/wifi/security remove fol-w');
});

test('a follower whose user is disabled meanwhile stops at the next change', async () => {
  await other('/user add name=fol-d group=read password=x');
  const w = await watcher({ user: 'fol-d' });
  const before = listening;
  const running = w.start('/log print follow-only where message~"fol-d-line"');
  await until(() => listening === before + 1, 'the follower to listen');
  await other('/user disable fol-d');
  await logLine('fol-d-line 1');
  const r = await running;
  assert.equal(r.ok, false);
  assert.match(r.error ?? '', /not enough permissions/);
  assert.doesNotMatch(w.out, /fol-d-line/);
  assert.equal(listening, before);
});

test('follow needs somewhere to stream to: refused without one (REST, [ ]), and with count-only or as-value', async () => {
  await assert.rejects(t.run('/log', 'print', { follow: true }), /follow, follow-only and interval need a console or the API/);
  const w = await watcher();
  const r = await w.start('/log print follow count-only');
  assert.equal(r.ok, false);
  assert.match(r.error ?? '', /can not be combined with count-only/);
  const sub = await w.start(':put [/log print follow-only]');
  assert.equal(sub.ok, false);
  assert.match(sub.error ?? '', /need a console or the API/);
  const short = await w.start('/log print interval=10ms');
  assert.equal(short.ok, false);
  assert.match(short.error ?? '', /out of range|value of interval/);
});

test('a follow in a background job (:execute) runs until the job is removed, then lets go of the store', async () => {
  const before = listening;
  await other(':execute script="/log print follow-only where message~\\"job-fol\\""');
  await until(() => listening === before + 1, 'the job to follow');
  await other('/system script job remove [find where type=command]');
  await until(() => listening === before, 'the job to stop following');
});
