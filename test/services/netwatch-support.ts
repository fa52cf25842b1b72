// What the netwatch daemon tests share: a fresh appliance for every test with netwatch running
// on it and an admin console, and a bounded wait.
import assert from 'node:assert/strict';
import { afterEach, beforeEach } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { NETWATCH_PATH } from '../../src/menus/tool/netwatch.js';
import { startNetwatch, type RunningNetwatch } from '../../src/services/netwatch.js';
import { openTestApp, type TestApp } from '../support/app.js';

export async function until(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface NetwatchFixture {
  /** This test's appliance and netwatch (read them inside a test: each test gets new ones). */
  readonly t: TestApp;
  readonly nw: RunningNetwatch;
  /** A console line as admin: its output (the test fails on an error). */
  cli(line: string): Promise<string>;
  /** A console line as admin, its result as it is (for lines that must fail). */
  run(line: string): ReturnType<ConsoleSession['run']>;
  /** `get` of property `prop` of the entry named `name`, as `:put` prints it. */
  get(name: string, prop: string): Promise<string>;
  /** Netwatch stopped and started again on the same appliance, with `dnsPort` if given. */
  restart(opts?: { dnsPort?: number }): Promise<void>;
}

/** Registers the hooks of a describe block: every test of it gets a fresh appliance and netwatch. */
export function netwatchFixture(): NetwatchFixture {
  let t: TestApp;
  let nw: RunningNetwatch;
  let cs: ConsoleSession;
  let out = '';
  beforeEach(async () => {
    t = await openTestApp();
    nw = startNetwatch(t.app, { pollMs: 100 });
    cs = await ConsoleSession.open(t.app, { output: (s) => { out += s; } });
  });
  afterEach(async () => {
    await nw.stop();
    t.close();
  });
  const cli = async (line: string): Promise<string> => {
    out = '';
    const r = await cs.run(line);
    assert.ok(r.ok, `${line}: ${r.error}`);
    return out;
  };
  return {
    get t() { return t; },
    get nw() { return nw; },
    cli,
    run: (line) => cs.run(line),
    get: async (name, prop) => (await cli(`:put [${NETWATCH_PATH}/get [find name=${name}] ${prop}]`)).replace(/\n$/, ''),
    async restart(opts = {}) {
      await nw.stop();
      nw = startNetwatch(t.app, { pollMs: 100, ...opts });
    },
  };
}
