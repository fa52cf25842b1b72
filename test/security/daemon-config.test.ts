// Nothing a user sets becomes a directive of a host daemon. `connect-to` of an OpenVPN client was
// written bare into openvpn.conf (`remote <connect-to> <port>`), so a `write` user without
// `sensitive` or `policy` set `connect-to="127.0.0.1\nwritepid /any/path\n#"` (or
// `script-security 2` with `up`/`tls-verify` programs) and rospki's openvpn, running as rospki's
// user, wrote files and ran programs of theirs: every key and secret.key with them. connect-to
// (and export-client-configuration's server-address) now take an IP address or a DNS name only,
// and the configuration writer refuses any other host word, for rows stored before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { clientConfig } from '../../src/services/openvpn-config.js';
import { openTestApp } from '../support/app.js';

const INJECTED = [
  '"127.0.0.1\\nwritepid /tmp/rospki-owned.pid\\n#"',
  '"127.0.0.1 1194\\nscript-security 2\\nup /bin/true"',
  '"vpn.example.com\\rup x"',
  '"a b"',
  '"x\\"y"',
  '""',
];

test('connect-to and server-address take a host only: no OpenVPN directive from a write user', async () => {
  const t = await openTestApp();
  try {
    const admin = await ConsoleSession.open(t.app, { user: 'admin', output: () => {} });
    assert.ok((await admin.run('/user group add name=writers policy=read,write,test; /user add name=wr group=writers password=x')).ok);
    let out = '';
    const wr = await ConsoleSession.open(t.app, { user: 'wr', output: (x) => { out += x; } });
    for (const value of INJECTED) {
      const r = await wr.run(`/interface ovpn-client add name=evil connect-to=${value} user=u`);
      assert.match(r.error ?? out, /invalid value for argument connect-to/, value);
    }
    assert.equal(await t.app.store.read((tx) => tx.list('/interface/ovpn-client').length), 0, 'nothing stored');
    for (const host of ['vpn.example.com', '127.0.0.1', '2001:db8::1', 'vpn-1.example.com.']) {
      const r = await wr.run(`/interface ovpn-client add name=ok connect-to=${host} user=u disabled=yes; /interface ovpn-client remove ok`);
      assert.ok(r.ok, `${host}: ${r.error}`);
    }
    assert.ok((await wr.run('/interface ovpn-client add name=c connect-to=vpn.example.com user=u disabled=yes')).ok);
    const set = await wr.run(`/interface ovpn-client set c connect-to=${INJECTED[0]}`);
    assert.match(set.error ?? '', /invalid value for argument connect-to/);
    const exported = await wr.run(`/interface ovpn-server server export-client-configuration server-address=${INJECTED[1]} ca-certificate=x.crt client-certificate=y.crt`);
    assert.match(exported.error ?? '', /invalid value for argument server-address/);
    // A row stored before the check: the configuration writer refuses it.
    const base = { port: 1194, protocol: 'tcp', mode: 'ip', certificate: false, verifyName: false, cipher: 'aes256-gcm', auth: 'sha256', tlsVersion: 'any' } as const;
    assert.throws(() => clientConfig({ ...base, connectTo: '127.0.0.1\nwritepid /tmp/x' }, '/run/m.sock'), /connect-to is not an IP address or a DNS name/);
    assert.match(clientConfig({ ...base, connectTo: 'vpn.example.com' }, '/run/m.sock'), /^remote vpn\.example\.com 1194$/m);
  } finally {
    t.close();
  }
});
