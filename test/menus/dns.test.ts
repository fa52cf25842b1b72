// /ip dns as scripts see it (src/menus/ip/dns.ts): the list of servers is an array of addresses.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { openTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
before(async () => { t = await openTestApp(); });
after(() => t.close());

async function run(source: string): Promise<string> {
  let out = '';
  const cs = await ConsoleSession.open(t.app, { user: 'admin', output: (x) => { out += x; } });
  const r = await cs.run(source);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return out;
}

test('[/ip dns get servers] is an array of ip and ip6 values, one server too; it compares equal to the same list built in a script', async () => {
  // eworm's netwatch-dns compares the netwatch hosts it collects ($DnsServers, ip values) with
  // [/ip/dns/get servers] and sets the servers only when they differ.
  await run('/ip/dns/set servers=192.0.2.53');
  assert.equal(await run(':local C [/ip/dns/get servers]; :put [:typeof $C]; :put [:len $C]; :put [:typeof ($C->0)]; :put $C'), 'array\n1\nip\n192.0.2.53\n');
  assert.equal(await run(':local S ({}); :set S ($S, 192.0.2.53); :put ($S = [/ip/dns/get servers]); :put ($S != [/ip/dns/get servers])'), 'true\nfalse\n');
  await run('/ip/dns/set servers=192.0.2.53,2001:db8::53');
  assert.equal(await run(':foreach S in=[/ip/dns/get servers] do={ :put [:typeof $S] }; :put [:tostr [/ip/dns/get servers]]'), 'ip\nip6\n192.0.2.53;2001:db8::53\n');
  assert.equal(await run(':put ({192.0.2.53; 2001:db8::53} = [/ip/dns/get servers])'), 'true\n');
  // Set back from such an array, unchanged.
  await run(':local C [/ip/dns/get servers]; /ip/dns/set servers=$C');
  assert.equal(await run(':put [/ip/dns/get servers]'), '192.0.2.53;2001:db8::53\n');
  await run('/ip/dns/set servers=""');
  assert.equal(await run(':put [:typeof [/ip/dns/get servers]]; :put [:len [/ip/dns/get servers]]'), 'array\n0\n');
});
