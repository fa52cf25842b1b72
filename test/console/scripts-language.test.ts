// The console language as real RouterOS scripts write it (eworm-de's routeros-scripts, the
// IKEv2 setup scripts, Let's Encrypt renewal scripts): the forms are written here anew, one
// test per form, against the small menu layer of fakes.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RosError } from '../../src/errors.js';
import { IpAddress, RosArray } from '../../src/menu/values.js';
import { hostsAddresses, resolveName } from '../../src/console/resolve.js';
import { harness } from './fakes.js';

describe('scripts: continuation lines', () => {
  it('joins after name=, inside strings and blocks, and keeps error positions of the text as written', async () => {
    const h = harness();
    await h.run('/system script add name=a source=\\\n    ":put \\"one\\"\\r\\\n    \\n:put two"');
    const added = h.exec.calls.at(-1)!;
    assert.equal(added.args.get('source'), ':put "one"\r\n:put two');
    assert.equal(await h.run(':if (true) do={\n  :put (1 + \\\n      2)\n}'), '3\n');
    assert.equal(await h.error(':put 1\n/certificate add name=x \\\n    bogus=1'), 'expected end of command (line 3 column 5)');
  });

  it('a comment is never continued: the next line is a command of its own', async () => {
    const h = harness();
    assert.equal(await h.run('# a comment \\\n:put next'), 'next\n');
    assert.equal(await h.error('# comment \\\ncontinued'), 'bad command name continued (line 2 column 1)');
  });
});

describe('scripts: code that runs later resolves its commands when it runs', () => {
  it('an unknown menu in a branch never taken is no error; in a branch taken it is bad command name', async () => {
    const h = harness();
    assert.equal(await h.run(':if (false) do={ /system routerboard get model }; :put fine'), 'fine\n');
    assert.equal(await h.error(':put before; :if (true) do={\n  /system routerboard get model\n}'), 'bad command name routerboard (line 2 column 11)');
    assert.deepEqual(h.out.slice(-1), ['before\n']);
  });

  it('is caught by on-error and :onerror like any failure', async () => {
    const h = harness();
    assert.equal(await h.run(':do { /nosuch menu } on-error={ :put caught }'), 'caught\n');
    assert.equal(await h.run(':onerror e { /nosuch } do={ :put $e }'), 'bad command name nosuch (line 1 column 15)\n');
  });

  it('function bodies and :parse text resolve when called; a path going on after an unknown name is a syntax error now', async () => {
    const h = harness();
    assert.equal(await h.run(':global f do={ /nosuch print }; :put defined'), 'defined\n');
    assert.equal(await h.error('$f'), 'bad command name nosuch (line 1 column 17)');
    assert.equal(await h.error(':put [:parse "/nonsense/command"]'), 'syntax error (line 1 column 10)');
    assert.equal(await h.error(':if (false) do={ /system/nonsense/get }'), 'syntax error (line 1 column 34)');
    // A line's own commands still must exist before any of it runs.
    assert.equal(await h.error(':put first; /nosuch'), 'bad command name nosuch (line 1 column 14)');
    assert.ok(!h.out.includes('first\n'));
  });

  it('[find …] inside the arguments of an unknown command belongs to that menu', async () => {
    const h = harness();
    assert.equal(await h.run(':if (false) do={ :local n [/nosuch get value-name=network [find where interface=x]] }; :put ok'), 'ok\n');
  });
});

describe('scripts: variables', () => {
  it('a name declared in a block that ended reads as nothing (M-SCRIPT "Scopes")', async () => {
    const h = harness();
    assert.equal(await h.run(':do { :local cert [/certificate find name=none] } on-error={}\n:put [:len $cert]'), '0\n');
  });

  it('code that runs later looks names up when it runs; :set $name sets name', async () => {
    const h = harness();
    assert.equal(await h.run(':local x 1; :if (true) do={ :set $x 5 }; :put $x'), '5\n');
    assert.equal(await h.run(':if (false) do={ :put $neverDeclared }; :put ok'), 'ok\n');
  });
});

describe('scripts: :onerror, :do, loops, :exit', () => {
  it(':onerror with the code by name or by position, returning whether it failed', async () => {
    const h = harness();
    assert.equal(await h.run(':onerror e in={ :error "boom" } do={ :put "got $e" }'), 'got boom\n');
    assert.equal(await h.run(':onerror e { :error "boom" } do={ :put "got $e" }'), 'got boom\n');
    assert.equal(await h.run(':put [:onerror e { :put fine } do={ :put never }]'), 'fine\nfalse\n');
    assert.equal(await h.run(':if ([:onerror e { :error x } do={}]) do={ :put failed }'), 'failed\n');
  });

  it(':onerror e,attr binds the attributes of the error as an array', async () => {
    const h = harness();
    h.exec.handler = (req) => {
      if (req.command !== 'fetch') return undefined;
      const e = new RosError('failure', 'Status 404, Not Found');
      e.attributes = { status: '404' };
      throw e;
    };
    assert.equal(await h.run(':onerror e,a { /tool fetch "http://127.0.0.1/x" } do={ :put $e; :put ($a->"status") }'), 'failure: Status 404, Not Found\n404\n');
  });

  it('onerror without a colon, code parameters written `do {…}`, :retry with :return inside a function', async () => {
    const h = harness();
    assert.equal(await h.run('onerror Err { :error fail } do={ :put "E $Err" }'), 'E fail\n');
    assert.equal(await h.run(':if (1 = 1) do {\n  :put yes\n} else {\n  :put no\n}'), 'yes\n');
    assert.equal(await h.run(':if (1 = 2) do { :put yes } else { :put no }'), 'no\n');
    assert.equal(await h.run(':global g do={ :retry { :return 7 } delay=1ms max=3 }; :put [$g]'), '7\n');
  });

  it(':break and :continue in :for, :foreach, :while and :do while=; :exit ends the script quietly', async () => {
    const h = harness();
    assert.equal(await h.run(':for i from=1 to=5 do={ :if ($i = 2) do={ :continue }; :if ($i = 4) do={ :break }; :put $i }'), '1\n3\n');
    assert.equal(await h.run(':foreach k,v in={a=1;b=2;c=3} do={ :if ($k = "b") do={ :break }; :put "$k=$v" }'), 'a=1\n');
    assert.equal(await h.run(':local n 0; :while (true) do={ :set n ($n + 1); :if ($n > 2) do={ :break } }; :put $n'), '3\n');
    assert.equal(await h.run(':local n 0; :do { :set n ($n + 1); :if ($n = 3) do={ :break } } while=(true); :put $n'), '3\n');
    assert.equal(await h.run(':put one; :global ex do={ :exit }; $ex; :put never'), 'one\n');
  });

  it('loops take on-error={…}', async () => {
    const h = harness();
    assert.equal(await h.run(':foreach x in={1;2} do={ :put $x; :error stop } on-error={ :put handled }'), '1\nhandled\n');
  });
});

describe('scripts: menu blocks', () => {
  it('a menu path followed by a block runs the block in that menu, then the prompt stays', async () => {
    const h = harness();
    await h.run('/system/script { add name=a source=x; add name=b source=y }');
    assert.deepEqual(h.exec.calls.map((c) => [c.path, c.command, c.args.get('name')]), [['/system/script', 'add', 'a'], ['/system/script', 'add', 'b']]);
    await h.run('/certificate {\n  add name=c common-name=c\n  :put [:len [find]]\n}');
    assert.equal(h.out.at(-1), '1\n');
    assert.equal(h.interp.currentPath, '/');
  });
});

describe('scripts: :convert', () => {
  it('between raw text, base64, base32, hex, url, numbers and byte arrays', async () => {
    const h = harness();
    assert.equal(await h.run(':put [:convert "abcd" to=base64]; :put [:convert from=base64 "YWJjZA=="]'), 'YWJjZA==\nabcd\n');
    // No from=: the value as the console shows it (001 is the number 1, text "1").
    assert.equal(await h.run(':put [:convert 001 to=hex]'), '31\n');
    assert.equal(await h.run(':put [:convert from=hex to=raw "4d696b726f54696b"]'), 'MikroTik\n');
    assert.equal(await h.run(':put [:convert from=num to=hex 65280]; :put [:convert from=hex to=num "ff00"]'), 'ff00\n65280\n');
    assert.equal(await h.run(':put [:convert to=url "ISRG Root X1"]; :put [:convert from=url "a%20b%2Fc"]'), 'ISRG%20Root%20X1\na b/c\n');
    assert.equal(await h.run(':put [:convert to=base32 "foobar"]; :put [:convert from=base32 "MZXW6YTBOI======"]'), 'MZXW6YTBOI======\nfoobar\n');
    assert.equal(await h.run(':put [:convert to=byte-array "AB"]; :put [:convert from=byte-array to=raw {72;105}]'), '65;66\nHi\n');
    assert.equal(await h.run(':put [:convert to=bit-array-msb "A"]'), '0;1;0;0;0;0;0;1\n');
  });

  it('with transform=: case, line ends, reverse, rot13, digests', async () => {
    const h = harness();
    assert.equal(await h.run(':put [:convert transform=lc "AAA"]; :put [:convert transform=ucfirst "abc"]; :put [:convert transform=reverse "abc"]; :put [:convert transform=rot13 "Hello"]'), 'aaa\nAbc\ncba\nUryyb\n');
    assert.equal(await h.run(':put [:convert transform=md5 to=hex "abc"]'), '900150983cd24fb0d6963f7d28e17f72\n');
    assert.equal(await h.run(':put [:len [:convert transform=sha512 to=hex "abc"]]'), '128\n');
    assert.equal(await h.run(':put [:len [:convert transform=crlf "a\\nb"]]; :put [:len [:convert transform=lf "a\\r\\nb"]]'), '4\n3\n');
  });

  it('refuses what it can not read', async () => {
    const h = harness();
    assert.equal(await h.error(':put [:convert from=hex "xyz"]'), 'failure: invalid value for hex');
    assert.equal(await h.run(':do { :put [:convert from=base64 to=raw "!!"] } on-error={ :put refused }'), 'refused\n');
  });
});

describe('scripts: more global commands of RouterOS 7.2x', () => {
  it(':tolf, :tocrlf, :tonsec, :rndstr, :timestamp, :toarray delimiter=, :beep', async () => {
    const h = harness();
    assert.equal(await h.run(':put [:len [:tolf "a\\r\\nb\\r\\n"]]; :put [:len [:tocrlf "a\\nb\\r\\n"]]'), '4\n6\n');
    assert.equal(await h.run(':put [:tonsec [:totime "1s"]]; :put [:typeof [:tonsec 1s]]'), '1000000000\nnum\n');
    assert.equal(await h.run(':put [:len [:rndstr]]; :put [:rndstr from="x" length=3]'), '16\nxxx\n');
    assert.equal(await h.run(':put [:typeof [:timestamp]]'), 'time\n');
    assert.equal(await h.run(':put [:len [:toarray "a;b;c" delimiter=";"]]'), '3\n');
    // Spaces around the elements go: eworm's `comment="notify, name=x"` reads as `name=x`.
    assert.equal(await h.run(':local a [:toarray "notify, name=x , 2"]; :put ($a->1 . "|"); :put [:typeof ($a->2)]'), 'name=x|\nnum\n');
    assert.equal(await h.run(':put ([:toarray "a; b" delimiter=";"]->1 . "|")'), 'b|\n');
    assert.equal(await h.run(':beep frequency=440 length=1ms; :put done'), 'done\n');
  });

  it(':pick, :find and :len by position and by RouterOS argument names; [ … ]->0', async () => {
    const h = harness();
    assert.equal(await h.run(':put [:pick "certificate" 0 4]; :put [:find in="abc" key="c"]; :put [:pick counter="abc" begin=1]'), 'cert\n2\nb\n');
    h.exec.addRow('/certificate', { name: 'first' });
    h.exec.addRow('/certificate', { name: 'second' });
    assert.equal(await h.run(':put ([/certificate find]->1); :put ([:toarray "a,b"]->0); :put ({ "de"; "net" }->1)'), '*2\na\nnet\n');
  });
});

describe('scripts: :resolve', () => {
  it('answers names of this host only (hosts table, localhost) and fails as RouterOS for others', async () => {
    const table = '127.0.0.1 localhost\n::1 localhost ip6-localhost\n192.0.2.7 lab.example lab # comment\n';
    assert.deepEqual(hostsAddresses(table, 'LAB.example.').map(String), ['192.0.2.7']);
    assert.equal(String(await resolveName('localhost')), '127.0.0.1');
    assert.equal(String(await resolveName('localhost', 'ipv6')), '::1');
    assert.equal(String(await resolveName('192.0.2.1')), '192.0.2.1');
    await assert.rejects(resolveName('nothing-here.invalid'), (e: unknown) => e instanceof RosError && e.consoleText() === 'failure: dns name does not exist');
    const h = harness();
    assert.equal(await h.run(':put [:resolve localhost]; :put [:resolve domain-name=localhost type=ipv6]; :put [:typeof [:resolve localhost]]'), '127.0.0.1\n::1\nip\n');
    assert.equal(await h.error(':put [:resolve "nothing-here.invalid"]'), 'failure: dns name does not exist');
    assert.equal(await h.error(':resolve localhost type=bogus'), 'input does not match any value of type');
    assert.ok(IpAddress.parse('::1') && RosArray);
  });

  it('with the router\'s resolver: names the host does not know are asked there, by family in the order type= prefers', async () => {
    const asked: string[] = [];
    const zone: Record<string, string[]> = { 'v4.example/4': ['192.0.2.4'], 'v6.example/6': ['2001:db8::6'], 'both.example/4': ['192.0.2.8'], 'both.example/6': ['2001:db8::8'] };
    const lookup = async (name: string, family: 4 | 6) => {
      asked.push(`${name}/${family}`);
      return { failed: name === 'broken.example', addresses: zone[`${name}/${family}`] ?? [] };
    };
    const r = (name: string, type?: 'any' | 'any6' | 'ipv4' | 'ipv6') => resolveName(name, type, { lookup }).then(String, (e: RosError) => e.consoleText());
    assert.equal(await r('v4.example'), '192.0.2.4');
    assert.equal(await r('v6.example'), '2001:db8::6');
    assert.equal(await r('both.example', 'any6'), '2001:db8::8');
    assert.equal(await r('both.example', 'ipv4'), '192.0.2.8');
    assert.equal(await r('v4.example', 'ipv6'), 'failure: dns name does not exist');
    assert.equal(await r('broken.example'), 'failure: dns server failure');
    // Addresses and this host's own names never reach the resolver.
    asked.length = 0;
    assert.equal(await r('localhost'), '127.0.0.1');
    assert.equal(await r('192.0.2.1'), '192.0.2.1');
    assert.deepEqual(asked, []);
  });
});
