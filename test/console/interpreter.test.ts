import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RosError } from '../../src/errors.js';
import { ItemId, RosArray, type Value } from '../../src/menu/values.js';
import { harness } from './fakes.js';

const argsOf = (m: ReadonlyMap<string, Value>): Record<string, string> =>
  Object.fromEntries([...m].map(([k, v]) => [k, v === null ? 'null' : v instanceof RosArray ? `[${v.values().join(',')}]` : String(v)]));

describe('interpreter: variables and scopes', () => {
  it('scopes :local to its block: after it the name reads as nothing (M-SCRIPT "Scopes")', async () => {
    const h = harness();
    assert.equal(await h.run('{ :local a 3; { :local b 4; :put ($a+$b) } }'), '7\n');
    assert.equal(await h.run('{ :local a 3; { :local b 4 }; :put ($a+$b) }'), '3\n');
    // A name declared nowhere in the text is refused before anything runs.
    assert.equal(await h.error('{ :local a 3; :put ($a+$c) }'), 'syntax error (line 1 column 25)');
  });

  it('treats each run() as its own scope, but keeps globals', async () => {
    const h = harness();
    await h.run(':local myVar a');
    assert.equal(await h.error(':put $myVar'), 'syntax error (line 1 column 7)');
    await h.run(':global g 42');
    assert.equal(await h.run(':put $g'), '42\n');
    assert.equal(h.interp.globals.get('g'), 42);
  });

  it(':global without a value keeps an existing value', async () => {
    const h = harness();
    await h.run(':global g 1');
    assert.equal(await h.run(':global g; :put $g'), '1\n');
  });

  it(':set changes the nearest variable; :set of an unknown name is an error', async () => {
    const h = harness();
    assert.equal(await h.run(':local a 1; { :set a 2 }; :put $a'), '2\n');
    assert.equal(await h.error(':set nope 1'), 'syntax error (line 1 column 6)');
  });

  it('checks the whole line before running any of it', async () => {
    const h = harness();
    assert.equal(await h.error(':put 1; :put $nope'), 'syntax error (line 1 column 15)');
    assert.deepEqual(h.out, []);
  });

  it('reads $"name-with-dash"', async () => {
    const h = harness();
    assert.equal(await h.run(':local "rx-bits" 5; :put $"rx-bits"'), '5\n');
  });
});

describe('interpreter: values and operators', () => {
  it('does arithmetic and string concatenation', async () => {
    const h = harness();
    assert.equal(await h.run(':put (1+2*3); :put (7/2); :put (7%3); :put (-5+2)'), '7\n3\n1\n-3\n');
    assert.equal(await h.run(':local n 5; :put ("n=" . $n . "!")'), 'n=5!\n');
    assert.equal(await h.run(':put ("10" + 1)'), '11\n');
  });

  it('does time arithmetic and prints times the script way', async () => {
    const h = harness();
    assert.equal(await h.run(':put (1d+2h)'), '1d02:00:00\n');
    assert.equal(await h.run(':put (3w2d - 1d)'), '3w1d00:00:00\n');
    assert.equal(await h.run(':put (1h * 3); :put (90s); :put 1s500ms; :put (2h / 2)'), '03:00:00\n00:01:30\n00:00:01.500\n01:00:00\n');
    assert.equal(await h.run(':put (1h > 30m); :put (00:10:00 = 10m)'), 'true\ntrue\n');
  });

  it('compares, negates and combines', async () => {
    const h = harness();
    assert.equal(await h.run(':put (1 < 2 && "a" = "a"); :put (!true || false); :put (not (1 = 2))'), 'true\nfalse\ntrue\n');
    assert.equal(await h.run(':put ("vpn-1" ~ "^vpn"); :put (10.1.2.3 in 10.0.0.0/8); :put (192.168.1.1 in 10.0.0.0/8)'), 'true\ntrue\nfalse\n');
  });

  it('does IP arithmetic and bitwise operators', async () => {
    const h = harness();
    assert.equal(await h.run(':put (192.168.1.1 + 10); :put (10.0.0.5 - 10.0.0.1); :put (192.168.88.77 & 255.255.255.0)'), '192.168.1.11\n4\n192.168.88.0\n');
    assert.equal(await h.run(':put (6 | 1); :put (1 << 4); :put (0xFF)'), '7\n16\n255\n');
  });

  it('builds arrays, reads them with -> and joins them with ;', async () => {
    const h = harness();
    assert.equal(await h.run(':local a {1;2;3}; :put $a; :put ($a->0); :put [:len $a]'), '1;2;3\n1\n3\n');
    assert.equal(await h.run(':local m {name="r1";ip=10.0.0.1}; :put ($m->"name"); :put $m'), 'r1\nip=10.0.0.1;name=r1\n');
    assert.equal(await h.run(':local a {1;2}; :set a ($a, 3); :put $a'), '1;2;3\n');
    assert.equal(await h.run(':local n {a={b=1}}; :put ($n->"a"->"b")'), '1\n');
  });

  it('sets array elements with :set ($a->k)', async () => {
    const h = harness();
    assert.equal(await h.run(':local m {name="r1"}; :set ($m->"name") "r2"; :set ($m->"x") 5; :put $m'), 'name=r2;x=5\n');
    assert.equal(await h.run(':local a [:toarray ""]; :set ($a->0) "x"; :set ($a->1) "y"; :put $a'), 'x;y\n');
  });

  it('copies arrays on assignment', async () => {
    const h = harness();
    assert.equal(await h.run(':local a {1;2}; :local b $a; :set ($b->0) 9; :put $a; :put $b'), '1;2\n9;2\n');
  });

  it('distributes . over arrays', async () => {
    const h = harness();
    assert.equal(await h.run(':local v {"a";"b"}; :put ("value=" . $v); :put ("value=" . [:tostr $v])'), 'value=a;value=b\nvalue=a;b\n');
  });

  it('interpolates variables and expressions in strings', async () => {
    const h = harness();
    assert.equal(await h.run(':local k "x"; :local v 3; :put "$k=$v sum=$($v+1) len=$[:len "abcd"] \\$k"'), 'x=3 sum=4 len=4 $k\n');
  });
});

describe('interpreter: flow control and functions', () => {
  it('runs :if / else', async () => {
    const h = harness();
    assert.equal(await h.run(':local x 11; :if ($x > 10) do={ :put "big" } else={ :put "small" }'), 'big\n');
    assert.equal(await h.run(':if (false) do={ :put 1 }'), '');
  });

  it('loops with :foreach, :for, :while and :do while=', async () => {
    const h = harness();
    assert.equal(await h.run(':foreach v in={"a";"b"} do={ :put $v }'), 'a\nb\n');
    assert.equal(await h.run(':foreach k,v in={x=1;y=2} do={ :put "$k:$v" }'), 'x:1\ny:2\n');
    assert.equal(await h.run(':foreach k,v in={"p";"q"} do={ :put "$k:$v" }'), '0:p\n1:q\n');
    assert.equal(await h.run(':for i from=1 to=3 do={ :put $i }'), '1\n2\n3\n');
    assert.equal(await h.run(':for i from=3 to=1 do={ :put $i }'), '3\n2\n1\n');
    assert.equal(await h.run(':for i from=0 to=10 step=5 do={ :put $i }'), '0\n5\n10\n');
    assert.equal(await h.run(':local c 0; :while ($c < 3) do={ :set c ($c + 1) }; :put $c'), '3\n');
    assert.equal(await h.run(':local c 0; :do { :set c ($c + 1) } while=($c < 5); :put $c'), '5\n');
  });

  it('defines and calls functions with positional and named arguments', async () => {
    const h = harness();
    await h.run(':global add do={ :return ($1 + $2) }');
    assert.equal(await h.run(':put [$add 1 2]'), '3\n');
    await h.run(':global greet do={ :return ("hi " . $name) }');
    assert.equal(await h.run(':put [$greet name=bob]'), 'hi bob\n');
    await h.run(':global who do={ :put $0 }');
    assert.equal(await h.run('$who'), '$who\n');
    // a function statement with arguments
    await h.run(':global say do={ :put ("said " . $1) }');
    assert.equal(await h.run('$say hello'), 'said hello\n');
  });

  it('functions do not see the caller\'s locals', async () => {
    const h = harness();
    await h.run(':global f do={ :return $secret }');
    assert.equal(await h.run(':local secret 1; :put [:typeof [$f]]'), 'nothing\n');
  });

  it(':parse makes a function', async () => {
    const h = harness();
    assert.equal(await h.run(':local fn [:parse ":put (1 + 2)"]; $fn'), '3\n');
  });

  it('catches errors with :do on-error and :onerror', async () => {
    const h = harness();
    assert.equal(await h.run(':do { :error "boom" } on-error={ :put "caught" }'), 'caught\n');
    assert.equal(await h.run(':onerror e in={ :error "bad thing" } do={ :put "got: $e" }'), 'got: bad thing\n');
    assert.equal(await h.run(':put [:onerror e in={ :put 1 } do={ :put 2 }]'), '1\nfalse\n');
    assert.equal(await h.run(':do { /certificate get nosuch name } on-error={ :put "no item" }'), 'no item\n');
  });

  it(':error stops the script with its message', async () => {
    const h = harness();
    assert.equal(await h.error(':put 1; :error "stop here"; :put 2'), 'stop here');
    assert.deepEqual(h.out, ['1\n']);
  });

  it(':return at top level ends the script quietly', async () => {
    const h = harness();
    assert.equal(await h.run(':put 1; :return 5; :put 2'), '1\n');
  });

  it(':retry retries, then runs on-error', async () => {
    const h = harness();
    await h.run(':global n 0');
    assert.equal(await h.run(':retry command={ :set n ($n+1); :error "x" } delay=1 max=3 on-error={ :put "gave up after $n" }'), 'gave up after 3\n');
  });
});

describe('interpreter: menus and commands', () => {
  it('navigates with a bare path, .. and absolute paths', async () => {
    const h = harness();
    await h.run('/certificate');
    assert.equal(h.interp.currentPath, '/certificate');
    await h.run('settings');
    assert.equal(h.interp.currentPath, '/certificate/settings');
    await h.run('..');
    assert.equal(h.interp.currentPath, '/certificate');
    await h.run('/system identity');
    assert.equal(h.interp.currentPath, '/system/identity');
    await h.run('/');
    assert.equal(h.interp.currentPath, '/');
  });

  it('runs a command with a leading / without leaving the current menu', async () => {
    const h = harness();
    await h.run('/certificate');
    await h.run('/system identity set name=r1');
    assert.equal(h.interp.currentPath, '/certificate');
    assert.deepEqual([h.exec.calls[0]!.path, h.exec.calls[0]!.command], ['/system/identity', 'set']);
  });

  it('accepts /a/b/cmd, /a b cmd and / a b cmd', async () => {
    const h = harness();
    await h.run('/certificate/settings/print');
    await h.run('/certificate settings print');
    await h.run('/ certificate settings print');
    assert.deepEqual(h.exec.calls.map((c) => `${c.path} ${c.command}`), Array(3).fill('/certificate/settings print'));
  });

  it('matches unambiguous prefixes of menus, commands and argument names', async () => {
    const h = harness();
    await h.run('/cert pri det');
    await h.run('/certificate add na=x common=y');
    assert.deepEqual([h.exec.calls[0]!.path, h.exec.calls[0]!.command, [...h.exec.calls[0]!.args.keys()]], ['/certificate', 'print', ['detail']]);
    assert.deepEqual(argsOf(h.exec.calls[1]!.args), { name: 'x', 'common-name': 'y' });
  });

  it('maps positional args, flags, unset and empty values', async () => {
    const h = harness();
    await h.run('/certificate set 0,1 !comment name=');
    assert.deepEqual(argsOf(h.exec.calls[0]!.args), { numbers: '0,1', comment: 'null', name: '' });
    await h.run('/certificate print as-value detail');
    assert.deepEqual(argsOf(h.exec.calls[1]!.args), { 'as-value': 'true', detail: 'true' });
    await h.run('/tool fetch "https://x/y" dst-path=a.crt');
    assert.deepEqual(argsOf(h.exec.calls[2]!.args), { url: 'https://x/y', 'dst-path': 'a.crt' });
  });

  it('passes bare words as written and variables typed', async () => {
    const h = harness();
    await h.run(':local d 3650; /certificate add name=0123 days-valid=$d');
    const args = h.exec.calls[0]!.args;
    assert.equal(args.get('name'), '0123');
    assert.equal(args.get('days-valid'), 3650);
  });

  it('passes enum values as written: the executor applies the one prefix rule', async () => {
    const h = harness();
    await h.run('/certificate add name=a key-usage=key-cert,crl,tls-s trusted=y');
    assert.deepEqual(argsOf(h.exec.calls[0]!.args), { name: 'a', 'key-usage': 'key-cert,crl,tls-s', trusted: 'y' });
  });

  it('resolves [find] inside arguments in the command\'s menu', async () => {
    const h = harness();
    h.exec.addRow('/certificate', { name: 'srv', 'common-name': 'srv.example' });
    assert.equal(await h.run(':put [/certificate get [find name=srv] common-name]'), 'srv.example\n');
  });

  it('returns command values into [ ] and prints results', async () => {
    const h = harness();
    assert.equal(await h.run(':put [/certificate add name=ca]'), '*1\n');
    assert.equal(await h.run('/certificate print'), '0 ca\n');
    assert.equal(await h.run('/certificate print count-only'), '1\n');
    assert.equal(await h.run(':put [/certificate print count-only]'), '1\n');
  });

  it('iterates print as-value output', async () => {
    const h = harness();
    h.exec.addRow('/certificate', { name: 'a' });
    h.exec.addRow('/certificate', { name: 'b' });
    assert.equal(await h.run(':foreach c in=[/certificate print as-value] do={ :put ($c->"name") }'), 'a\nb\n');
  });

  it('serializes print as-value to JSON', async () => {
    const h = harness();
    h.exec.addRow('/certificate', { name: 'x', disabled: false });
    assert.equal(await h.run(':put [:serialize to=json value=[/certificate print as-value]]'), '[{".id":"*1","disabled":false,"name":"x"}]\n');
  });

  it('lets executor errors through unchanged and stops at the first', async () => {
    const h = harness();
    h.exec.handler = (req) => { if (req.command === 'sign') throw new RosError('failure', 'CA has no private key'); return undefined; };
    assert.equal(await h.error('/certificate sign srv ca=ca; :put after'), 'failure: CA has no private key');
    assert.deepEqual(h.out, []);
    assert.equal(await h.error('/certificate get nosuch name'), 'no such item');
  });
});

describe('interpreter: console errors (spec §6.1)', () => {
  it('bad command name with the column of the word', async () => {
    const h = harness();
    assert.equal(await h.error('/certificate bogus'), 'bad command name bogus (line 1 column 14)');
    assert.equal(await h.error('/certificate/bogus'), 'bad command name bogus (line 1 column 14)');
    assert.equal(await h.error('this'), 'bad command name this (line 1 column 1)');
    assert.equal(await h.error(':put 1\n  :bogus'), 'bad command name bogus (line 2 column 4)');
    assert.equal(await h.error('/certificate print\n/certificate frob'), 'bad command name frob (line 2 column 14)');
  });

  it('expected end of command for unknown arguments and stray =', async () => {
    const h = harness();
    assert.equal(await h.error('/certificate add name=x bogus=1'), 'expected end of command (line 1 column 25)');
    assert.equal(await h.error('/system identity set name = 1'), 'expected end of command (line 1 column 27)');
    assert.equal(await h.error(':put 1 2'), 'expected end of command (line 1 column 8)');
    assert.equal(await h.error('/certificate print bogus'), 'expected end of command (line 1 column 20)');
  });

  it('syntax errors point at the offending token', async () => {
    const h = harness();
    assert.equal(await h.error(':put $x'), 'syntax error (line 1 column 7)');
    assert.equal(await h.error(':put (1 +)'), 'syntax error (line 1 column 10)');
    assert.equal(await h.error(':put "abc'), 'syntax error (line 1 column 10)');
  });

  it('errors carry line and column fields', async () => {
    const h = harness();
    try {
      await h.interp.run('\n\n/certificate zz');
      assert.fail('no error');
    } catch (e) {
      assert.ok(e instanceof RosError);
      assert.deepEqual([e.kind, e.line, e.column], ['syntax', 3, 14]);
    }
  });
});

describe('interpreter: builtins', () => {
  it(':len, :pick, :find, :typeof', async () => {
    const h = harness();
    assert.equal(await h.run(':put [:len "hello"]; :put [:pick "hello" 1 3]; :put [:pick "hello" 1]; :put [:find "hello" "l"]'), '5\nel\ne\n2\n');
    assert.equal(await h.run(':put [:typeof [:find "abc" "x"]]; :put [:find "abcabc" "b" 1]; :put [:pick {1;2;3} 1 3]'), 'nil\n4\n2;3\n');
    assert.equal(await h.run(':put [:typeof 1]; :put [:typeof "a"]; :put [:typeof true]; :put [:typeof 1h]; :put [:typeof {1}]; :put [:typeof $nothing]'.replace('$nothing', '[:nothing]')), 'num\nstr\nbool\ntime\narray\nnothing\n');
    assert.equal(await h.run(':put [:typeof 1.2.3.4]; :put [:typeof 10.0.0.0/8]; :put [:typeof ::1]; :put [:typeof *1A]'), 'ip\nip-prefix\nip6\nid\n');
  });

  it('conversions', async () => {
    const h = harness();
    assert.equal(await h.run(':put ([:tonum "42"] + 1); :put [:totime "1h30m"]; :put [:toip "10.0.0.1"]; :put [:tobool "yes"]'), '43\n01:30:00\n10.0.0.1\ntrue\n');
    assert.equal(await h.run(':put [:len [:toarray "a,b,c"]]; :put [:tostr {1;2}]; :put [:typeof [:toip6 "fe80::1"]]'), '3\n1;2\nip6\n');
  });

  it(':serialize and :deserialize JSON', async () => {
    const h = harness();
    assert.equal(await h.run(':put [:serialize to=json value={name="test";value=42;on=true}]'), '{"name":"test","on":true,"value":42}\n');
    assert.equal(await h.run(':put [:serialize to=json value={"1";"x"}]'), '[1,"x"]\n');
    assert.equal(await h.run(':put [:serialize to=json value={"1";"x"} options=json.no-string-conversion]'), '["1","x"]\n');
    assert.equal(await h.run(':local p [:deserialize from=json value="{\\"name\\":\\"t\\",\\"n\\":[1,2]}"]; :put ($p->"name"); :put ($p->"n")'), 't\n1;2\n');
  });

  it(':log goes to the log callback', async () => {
    const h = harness();
    await h.run(':log info "hello"; :log warning ("w" . 1)');
    assert.deepEqual(h.logs, [['info', 'hello'], ['warning', 'w1']]);
  });

  it(':delay accepts times and bare seconds', async () => {
    const h = harness();
    const waits: number[] = [];
    const { Interpreter } = await import('../../src/console/interpreter.js');
    const i = new Interpreter({
      registry: h.interp.registry, executor: h.exec, session: h.interp.session, output: () => {},
      sleep: async (ms) => { waits.push(ms); },
    });
    await i.run(':delay 500ms; :delay 2; :delay 1s');
    assert.deepEqual(waits, [500, 2000, 1000]);
  });

  it(':time measures a block', async () => {
    const h = harness();
    assert.equal(await h.run(':put [:typeof [:time { :put x }]]'), 'x\ntime\n');
  });

  it(':execute as-string returns the output', async () => {
    const h = harness();
    assert.equal(await h.run(':put [:execute script=":put hi" as-string]'), 'hi\n\n');
    // (background jobs: test/menus/script.test.ts, on a real appliance)
  });

  it(':environment print lists globals', async () => {
    const h = harness();
    await h.run(':global a 1; :global b "x"');
    assert.equal(await h.run(':environment print'), 'a=1\nb=x\n');
  });

  it('ids returned by find are ItemIds', async () => {
    const h = harness();
    h.exec.addRow('/certificate', { name: 'a' });
    await h.run(':global ids [/certificate find]');
    const ids = h.interp.globals.get('ids');
    assert.ok(ids instanceof RosArray && ids.values()[0] instanceof ItemId);
  });
});
