// The budget of a user's global variables (src/console/globals.ts): every write path is counted,
// the count follows changes exactly (no drift from overwriting), and a refused write changes
// nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RosError } from '../../src/errors.js';
import { GLOBALS_BUDGET_BYTES, GlobalVariables, valueSize } from '../../src/console/globals.js';
import { Interpreter } from '../../src/console/interpreter.js';
import { toScriptString } from '../../src/console/expr.js';
import { FakeExecutor, FakeRegistry, fakeSession } from './fakes.js';

function withBudget(budget: number) {
  const globals = new GlobalVariables(budget);
  const registry = new FakeRegistry();
  const out: string[] = [];
  const interp = new Interpreter({
    registry, executor: new FakeExecutor(registry), session: fakeSession(), output: (t) => out.push(t),
    log: () => {}, sleep: async () => {}, globals,
  });
  return {
    globals,
    async run(source: string): Promise<string> {
      const before = out.length;
      await interp.run(source);
      return out.slice(before).join('');
    },
    async error(source: string): Promise<string> {
      try { await interp.run(source); } catch (e) { if (e instanceof RosError) return e.consoleText(); throw e; }
      throw new Error(`no error from: ${source}`);
    },
    /** The count kept, against the values measured anew. */
    measured(): number {
      let total = 0;
      for (const [k, v] of globals) total += k.length + valueSize(v);
      return total;
    },
  };
}

const FULL = 'failure: not enough memory for global variables (at most 1KiB per user)';

describe('global variables: a budget per user', () => {
  it('is 4 MiB by default', () => {
    assert.equal(new GlobalVariables().budget, GLOBALS_BUDGET_BYTES);
    assert.equal(GLOBALS_BUDGET_BYTES, 4 * 1024 * 1024);
  });

  it(':global and :set that would pass it are refused and change nothing', async () => {
    const h = withBudget(1024);
    await h.run(':global g "abc"');
    assert.match(await h.error(':global g [:pick "x" 0 0]; :global big "' + 'y'.repeat(2000) + '"'), /^failure: not enough memory for global variables/);
    assert.equal(h.globals.has('big'), false);
    assert.equal(await h.error(':global g; :while (true) do={ :set g ($g . "0123456789012345678901234567890123456789") }'), FULL);
    const kept = String(h.globals.get('g'));
    assert.ok(kept.length > 900 && kept.length <= 1024, `the last value that fitted stays (${kept.length})`);
    assert.equal(h.globals.usedBytes, h.measured());
    // Freed room is room again.
    await h.run(':set g ""; :global other "' + 'z'.repeat(500) + '"');
    assert.equal(h.globals.usedBytes, h.measured());
  });

  it(':set ($g->k) is counted element by element, overwriting does not drift, a refused one changes nothing', async () => {
    const h = withBudget(1024);
    await h.run(':global a [:toarray ""]; :for i from=0 to=9 do={ :set ($a->$i) "0123456789" }');
    assert.equal(h.globals.usedBytes, h.measured());
    for (let i = 0; i < 50; i++) await h.run(':global a; :set ($a->3) "abc"; :set ($a->"k") "0123456789"; :set ($a->"n"->"m") 1');
    assert.equal(h.globals.usedBytes, h.measured());
    const before = toScriptString(h.globals.get('a'));
    assert.equal(await h.error(':global a; :set ($a->"x"->"y") "' + 'q'.repeat(2000) + '"'), FULL);
    assert.equal(toScriptString(h.globals.get('a')), before, 'no intermediate array was left');
    assert.equal(await h.error(':global a; :local i 100; :while (true) do={ :set ($a->$i) "0123456789"; :set i ($i + 1) }'), FULL);
    assert.equal(h.globals.usedBytes, h.measured());
    assert.ok(h.globals.usedBytes <= 1024);
  });

  it('a function argument or loop variable is a copy: changing it changes no global', async () => {
    const h = withBudget(1024);
    const out = await h.run([
      ':global g {1;2}',
      ':global f do={ :set ($a->5) "changed" }',
      '$f a=$g',
      ':global h {{1};{2}}',
      ':foreach e in=$h do={ :set ($e->3) "changed" }',
      ':put [:len $g]; :put [:len ($h->0)]',
    ].join('\n'));
    assert.equal(out, '2\n1\n');
    assert.equal(h.globals.usedBytes, h.measured());
  });

  it('removing a global frees its share', async () => {
    const h = withBudget(1024);
    await h.run(':global g "' + 'x'.repeat(900) + '"');
    assert.match(await h.error(':global h "' + 'x'.repeat(200) + '"'), /not enough memory/);
    h.globals.delete('g');
    await h.run(':global h "' + 'x'.repeat(200) + '"');
    assert.equal(h.globals.usedBytes, h.measured());
  });
});
