import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { CommandStmt } from '../../src/console/ast.js';
import { Scope } from '../../src/console/builtins.js';
import { parse } from '../../src/console/parser.js';
import type { RowView } from '../../src/menu/types.js';
import { Duration, IpAddress, RosArray, type Value } from '../../src/menu/values.js';
import { harness, view, type FakeRow } from './fakes.js';

const DAY = 86400e9;

function rows(): FakeRow[] {
  const mk = (id: number, data: Record<string, Value>): FakeRow => ({ id, data });
  return [
    mk(1, { name: 'ca', 'common-name': 'ca', 'private-key': true, revoked: false, trusted: true, 'expires-after': new Duration(3650 * DAY), 'key-usage': RosArray.of(['key-cert-sign', 'crl-sign']) }),
    mk(2, { name: 'vpn-1', 'common-name': 'vpn.example', 'subject-alt-name': 'DNS:vpn.example', 'private-key': true, revoked: false, trusted: false, 'expires-after': new Duration(10 * DAY), ca: 'ca', address: IpAddress.parse('10.1.2.3') }),
    mk(3, { name: 'old', 'common-name': '', 'private-key': false, revoked: true, trusted: false, 'expires-after': new Duration(2 * DAY), ca: 'ca', address: IpAddress.parse('192.168.1.1') }),
    mk(4, { name: 'tmpl', 'private-key': false, revoked: false, trusted: false, 'days-valid': 365, comment: 'hello world' }),
  ];
}

async function match(filter: string, extra = ''): Promise<string[]> {
  const h = harness();
  if (extra) await h.run(extra);
  const stmt = parse(`/certificate print where ${filter}`).body[0] as CommandStmt;
  const scope = new Scope();
  for (const [k, v] of h.interp.globals) scope.vars.set(k, v);
  const pred = await h.interp.compileWhere(stmt.where!.expr, scope);
  return rows().filter((r) => pred(view(r)) === true).map((r) => String(r.data.name));
}

describe('where: property tests and logic', () => {
  it('a bare flag is a flag test, a bare property a non-empty test', async () => {
    assert.deepEqual(await match('private-key'), ['ca', 'vpn-1']);
    assert.deepEqual(await match('!private-key'), ['old', 'tmpl']);
    assert.deepEqual(await match('ca'), ['vpn-1', 'old']);
    assert.deepEqual(await match('common-name'), ['ca', 'vpn-1']);
  });

  it('ANDs juxtaposed terms, with or/and/not/parentheses', async () => {
    assert.deepEqual(await match('!revoked expires-after<3w (common-name or subject-alt-name)'), ['vpn-1']);
    assert.deepEqual(await match('revoked or trusted'), ['ca', 'old']);
    assert.deepEqual(await match('private-key and not trusted'), ['vpn-1']);
    assert.deepEqual(await match('private-key && !(name=ca)'), ['vpn-1']);
    assert.deepEqual(await match('(name=ca)=false private-key'), ['vpn-1']);
  });
});

describe('where: comparisons', () => {
  it('compares strings, with a blank before =', async () => {
    assert.deepEqual(await match('name=ca'), ['ca']);
    assert.deepEqual(await match('name ="vpn-1"'), ['vpn-1']);
    assert.deepEqual(await match('name!=ca !revoked'), ['vpn-1', 'tmpl']);
    assert.deepEqual(await match('comment="hello world"'), ['tmpl']);
    assert.deepEqual(await match('"common-name"="ca"'), ['ca']);
  });

  it('coerces yes/no and numbers to the property type', async () => {
    assert.deepEqual(await match('trusted=yes'), ['ca']);
    assert.deepEqual(await match('private-key=no'), ['old', 'tmpl']);
    assert.deepEqual(await match('days-valid>300'), ['tmpl']);
    assert.deepEqual(await match('days-valid=365'), ['tmpl']);
  });

  it('compares durations', async () => {
    assert.deepEqual(await match('expires-after<3w'), ['vpn-1', 'old']);
    assert.deepEqual(await match('expires-after>=10d'), ['ca', 'vpn-1']);
    assert.deepEqual(await match('expires-after<1d00:00:00'), []);
  });

  it('matches POSIX regexes', async () => {
    assert.deepEqual(await match('name~"^vpn"'), ['vpn-1']);
    assert.deepEqual(await match('common-name~"[[:alpha:]]+\\\\.example$"'), ['vpn-1']);
    assert.deepEqual(await match('key-usage~"crl"'), ['ca']);
  });

  it('tests addresses with in', async () => {
    assert.deepEqual(await match('address in 10.0.0.0/8'), ['vpn-1']);
    assert.deepEqual(await match('address in "192.168.0.0/16"'), ['old']);
  });

  it('treats an unset property as empty', async () => {
    assert.deepEqual(await match('common-name=""'), ['old', 'tmpl']);
    assert.deepEqual(await match('!(common-name=[])'), ['ca', 'vpn-1']);
  });

  it('uses variables and command substitution', async () => {
    assert.deepEqual(await match('name=$n', ':global n "old"'), ['old']);
    assert.deepEqual(await match('expires-after<[:totime "5d"]'), ['old']);
    assert.deepEqual(await match('name=("vpn-" . 1)'), ['vpn-1']);
  });
});

describe('where: through find and print', () => {
  it('find takes a filter with or without where', async () => {
    const h = harness();
    for (const r of rows()) h.exec.addRow('/certificate', r.data);
    assert.equal(await h.run(':put [/certificate find name=ca]'), '*1\n');
    assert.equal(await h.run(':put [/certificate find where !revoked expires-after<3w]'), '*2\n');
    assert.equal(await h.run(':put [/certificate find common-name ="ca"]'), '*1\n');
    assert.equal(await h.run(':put [/certificate find]'), '*1;*2;*3;*4\n');
    assert.equal(await h.run('/certificate print count-only where private-key'), '2\n');
  });

  it('where is refused by commands without it', async () => {
    const h = harness();
    assert.equal(await h.error('/certificate remove where name=x'), 'expected end of command (line 1 column 21)');
  });
});

// Speed is measured by `npm run bench` (print where over 100,000 certificates); this test
// checks that the compiled filter gives the right answer over a large table.
describe('where: large tables', () => {
  it('filters 100,000 rows exactly like the plain comparison', async () => {
    const h = harness();
    const stmt = parse('/certificate print where !revoked expires-after<3w (common-name or subject-alt-name) name~"^c"').body[0] as CommandStmt;
    const pred = await h.interp.compileWhere(stmt.where!.expr, new Scope());
    const data: RowView[] = [];
    for (let i = 0; i < 100_000; i++) {
      const d: Record<string, Value> = {
        name: `c${i}`, 'common-name': i % 3 ? `host${i}` : '', revoked: i % 7 === 0,
        'expires-after': new Duration((i % 40) * DAY), address: new IpAddress(4, Uint8Array.of(10, 0, i >> 8 & 255, i & 255)),
      };
      data.push({ id: i + 1, get: (n) => d[n] });
    }
    let hits = 0;
    for (const r of data) if (pred(r) === true) hits++;
    let expected = 0;
    for (let i = 0; i < 100_000; i++) {
      const cn = i % 3 ? `host${i}` : '';
      if (!(i % 7 === 0) && (i % 40) < 21 && cn !== '' && `c${i}`.startsWith('c')) expected++;
    }
    assert.equal(hits, expected);
  });
});


describe('where: the equality an index may serve (RowPredicate.equals)', () => {
  async function compile(filter: string) {
    const h = harness();
    const stmt = parse(`/certificate print where ${filter}`).body[0] as CommandStmt;
    return { pred: await h.interp.compileWhere(stmt.where!.expr, new Scope()), h };
  }

  it('is given for a property compared with a non-empty constant, alone or and-ed', async () => {
    assert.deepEqual((await compile('name="vpn-1"')).pred.equals, { name: 'name', text: 'vpn-1' });
    assert.deepEqual((await compile('name=vpn-1')).pred.equals, { name: 'name', text: 'vpn-1' });
    assert.deepEqual((await compile('trusted && (days-valid=365)')).pred.equals, { name: 'days-valid', text: '365' });
    assert.deepEqual((await compile('"common-name"="ca" && trusted')).pred.equals, { name: 'common-name', text: 'ca' });
  });

  it('is not given where the filter does not imply it', async () => {
    for (const f of ['name!="ca"', 'name="ca" || trusted', '!(name="ca")', 'name=""', 'name~"ca"', 'name<"ca"', 'trusted']) {
      assert.equal((await compile(f)).pred.equals, undefined, f);
    }
  });

  it('the filter still tests every row as before', async () => {
    assert.deepEqual(await match('name="vpn-1"'), ['vpn-1']);
    assert.deepEqual(await match('name="vpn-1" && trusted'), []);
  });
});
