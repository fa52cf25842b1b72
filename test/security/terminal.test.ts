// What the console prints never drives the terminal of whoever reads it: control characters
// in a value (a DNS answer an upstream server sent, cached and shown by `/ip dns cache all
// print`; a script a write user named) come out as `\XX`, in tables, terse lines and
// `key: value` blocks as print detail already quoted them.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, test } from 'node:test';
import { decodeMessage, encodeMessage, message, TYPE, txtData } from '../../src/services/dns/wire.js';
import { cli, startDnsApp, type DnsApp } from '../interop/doh-support.js';
import { run } from '../services/support.js';

const EVIL = '\x1b]0;owned\x07\x1b[2J\x9b2J';
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

let t: DnsApp;
let upstream: dgram.Socket;
before(async () => {
  // An upstream DNS server (anyone's, on the Internet) answering a TXT question with escapes.
  upstream = dgram.createSocket('udp4');
  await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', r));
  upstream.on('message', (msg, peer) => {
    const q = decodeMessage(msg);
    const question = q.questions[0]!;
    const reply = message({
      id: q.id, response: true, recursionDesired: q.recursionDesired, recursionAvailable: true, questions: q.questions,
      answers: [{ name: question.name, type: TYPE.TXT, class: 1, ttl: 300, data: txtData(`x${EVIL}y`) }],
    });
    upstream.send(encodeMessage(reply), peer.port, peer.address);
  });
  t = await startDnsApp({ upstreamPort: upstream.address().port });
  await cli(t, '/ip dns set servers=127.0.0.1');
  await t.services.reconcile();
});
after(async () => {
  await t?.stop();
  upstream?.close();
});

test('a DNS answer with escapes, cached, prints without them', async () => {
  const r = await run('dig', ['@127.0.0.1', '-p', String(t.dnsPort), '+time=8', '+tries=1', 'evil.example', 'TXT'], { timeoutMs: 30_000 });
  assert.match(r.stdout, /status: NOERROR/);
  for (const line of ['/ip dns cache all print', '/ip dns cache all print terse', '/ip dns cache all print detail', '/ip dns cache all print value-list']) {
    const out = await cli(t, line);
    assert.match(out, /evil\.example/, line);
    assert.doesNotMatch(out, CONTROL, `${line}: ${JSON.stringify(out)}`);
    assert.match(out, /\\1B\]0;owned\\07\\1B\[2J/, line);
  }
});

test('a script named with escapes by a write user prints without them', async () => {
  await cli(t, '/user add name=writer group=write password=x');
  const { ConsoleSession } = await import('../../src/console/session.js');
  const writer = await ConsoleSession.open(t.app, { user: 'writer', output: () => {} });
  assert.ok((await writer.run('/system script add name="s\\1B[2J\\1B]0;owned\\07" source=":put 1" comment="c\\1B[5m"')).ok);
  for (const line of ['/system script print', '/system script print terse', '/system script print detail', '/system identity print']) {
    const out = await cli(t, line);
    assert.doesNotMatch(out, CONTROL, `${line}: ${JSON.stringify(out)}`);
  }
  await cli(t, '/system identity set name="r\\1B[2J"');
  assert.equal(await cli(t, '/system identity print'), '  name: r\\1B[2J\n');
});
