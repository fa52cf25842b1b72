// The vici client against the protocol description (strongSwan
// src/libcharon/plugins/vici/README.md): the README's encoding example byte for byte, the
// packet framing, malformed input, and a conversation with a small vici server on a unix
// socket (commands one at a time, events in the middle of a streaming command, unknown
// commands and events, a server that hangs up).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  MAX_SEGMENT, PacketReader, PacketType, ViciClient, ViciError, assertSuccess, decodeMessage, encodeMessage, encodePacket, type ViciPacket,
} from '../../src/services/ipsec/vici.js';

const bytes = (...parts: Array<number | string>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p, 'ascii'))));

// README "Encoding example".
const README_EXAMPLE = bytes(
  3, 4, 'key1', 0, 6, 'value1',
  1, 8, 'section1',
  1, 11, 'sub-section',
  3, 4, 'key2', 0, 6, 'value2',
  2,
  4, 5, 'list1',
  5, 0, 5, 'item1',
  5, 0, 5, 'item2',
  6,
  2,
);
const README_TREE = { key1: 'value1', section1: { 'sub-section': { key2: 'value2' }, list1: ['item1', 'item2'] } };

test('the README example encodes and decodes byte for byte', () => {
  assert.deepEqual(encodeMessage(README_TREE), README_EXAMPLE);
  assert.deepEqual(decodeMessage(README_EXAMPLE), README_TREE);
});

test('values are blobs: binary values, empty lists and values, raw decoding', () => {
  const blob = Buffer.from([0, 1, 2, 255]);
  const encoded = encodeMessage({ data: blob, empty: '', none: [] });
  assert.deepEqual(encoded, Buffer.concat([bytes(3, 4, 'data', 0, 4), blob, bytes(3, 5, 'empty', 0, 0, 4, 4, 'none', 6)]));
  const raw = decodeMessage(encoded, { raw: true });
  assert.deepEqual(raw.data, blob);
  assert.deepEqual(raw.none, []);
  assert.equal(decodeMessage(encoded).empty, '');
});

test('malformed messages are refused', () => {
  const bad: Array<[Buffer, RegExp]> = [
    [bytes(3, 4, 'ke'), /truncated/],
    [bytes(3, 4, 'key1', 0, 9, 'short'), /truncated/],
    [bytes(1, 1, 's'), /section not closed/],
    [bytes(2), /section end without a section/],
    [bytes(5, 0, 1, 'x'), /list item outside a list/],
    [bytes(4, 1, 'l', 5, 0, 1, 'x'), /list not closed/],
    [bytes(4, 1, 'l', 3, 1, 'k', 0, 1, 'v', 6), /list not closed/],
    [bytes(6), /list end without a list/],
    [bytes(9), /unknown element type 9/],
  ];
  for (const [data, error] of bad) assert.throws(() => decodeMessage(data), (e: unknown) => e instanceof ViciError && error.test(e.message), String(error));
  assert.throws(() => encodeMessage({ ['x'.repeat(256)]: 'v' }), /name too long/);
  assert.throws(() => encodeMessage({ k: Buffer.alloc(65536) }), /longer than 65535/);
});

test('packets: a length header, the type, a name for the named types only', () => {
  const req = encodePacket({ type: PacketType.CMD_REQUEST, name: 'version', body: Buffer.alloc(0) });
  assert.deepEqual(req, bytes(0, 0, 0, 9, 0, 7, 'version'));
  const res = encodePacket({ type: PacketType.CMD_RESPONSE, body: bytes(3, 1, 'k', 0, 1, 'v') });
  assert.deepEqual(res, bytes(0, 0, 0, 7, 1, 3, 1, 'k', 0, 1, 'v'));
  // Split anywhere, joined again by the reader; several packets in one chunk.
  const reader = new PacketReader();
  const stream = Buffer.concat([req, res, req]);
  const got: ViciPacket[] = [];
  for (let i = 0; i < stream.length; i += 3) got.push(...reader.push(stream.subarray(i, i + 3)));
  assert.deepEqual(got.map((p) => [p.type, p.name]), [[0, 'version'], [1, undefined], [0, 'version']]);
  assert.deepEqual(decodeMessage(got[1]!.body), { k: 'v' });
  assert.throws(() => new PacketReader().push(bytes(0, 8, 0, 1, 1)), /over the 512 KiB limit/);
  assert.throws(() => new PacketReader().push(bytes(0, 0, 0, 1, 8)), /unknown packet type 8/);
  assert.throws(() => encodePacket({ type: PacketType.CMD_RESPONSE, body: Buffer.alloc(MAX_SEGMENT) }), /over the 512 KiB limit/);
});

test('assertSuccess: success=yes passes, else the daemon\'s errmsg', () => {
  assert.deepEqual(assertSuccess('load-conn', { success: 'yes' }), { success: 'yes' });
  assert.throws(() => assertSuccess('load-conn', { success: 'no', errmsg: 'invalid value for: mode' }), /^ViciError: load-conn: invalid value for: mode$/);
  assert.throws(() => assertSuccess('load-key', {}), /load-key: failed/);
});

// ---------------------------------------------------------------------------------------------
// A small vici server: answers version, streams two list-sa events for list-sas, knows the
// list-sa and log events, never answers `hang`, and hangs up on `bye`.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vici-test-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function fakeServer(): Promise<{ path: string; server: net.Server; seen: ViciPacket[] }> {
  const socketPath = path.join(dir, `s${Math.random().toString(36).slice(2)}.sock`);
  const seen: ViciPacket[] = [];
  const server = net.createServer((s) => {
    const reader = new PacketReader();
    const registered = new Set<string>();
    const send = (p: ViciPacket) => s.write(encodePacket(p));
    const event = (name: string, m: object) => send({ type: PacketType.EVENT, name, body: encodeMessage(m as never) });
    s.on('data', (chunk: Buffer) => {
      for (const p of reader.push(chunk)) {
        seen.push(p);
        if (p.type === PacketType.EVENT_REGISTER || p.type === PacketType.EVENT_UNREGISTER) {
          const known = p.name === 'list-sa' || p.name === 'log';
          if (known && p.type === PacketType.EVENT_REGISTER) registered.add(p.name!);
          if (p.type === PacketType.EVENT_UNREGISTER) registered.delete(p.name!);
          send({ type: known ? PacketType.EVENT_CONFIRM : PacketType.EVENT_UNKNOWN, body: Buffer.alloc(0) });
        } else if (p.name === 'version') {
          send({ type: PacketType.CMD_RESPONSE, body: encodeMessage({ daemon: 'charon', version: '5.9.8' }) });
        } else if (p.name === 'list-sas') {
          // Events reach only registered clients, before the response that ends the stream.
          if (registered.has('list-sa')) {
            event('list-sa', { 'conn-1': { state: 'ESTABLISHED', 'child-sas': { 'c-1': { state: 'INSTALLED' } } } });
            event('list-sa', { 'conn-2': { state: 'CONNECTING' } });
          }
          if (registered.has('log')) event('log', { msg: 'listing' });
          send({ type: PacketType.CMD_RESPONSE, body: Buffer.alloc(0) });
        } else if (p.name === 'bye') {
          s.destroy();
        } else if (p.name === 'hang') {
          // never answered
        } else {
          send({ type: PacketType.CMD_UNKNOWN, body: Buffer.alloc(0) });
        }
      }
    });
  });
  return new Promise((resolve) => server.listen(socketPath, () => resolve({ path: socketPath, server, seen })));
}

test('a conversation: commands in turn, a streaming command, events, unknown names', async () => {
  const { path: socketPath, server, seen } = await fakeServer();
  const client = await ViciClient.connect(socketPath);
  try {
    // Two commands at once still go one after the other.
    const [v1, v2] = await Promise.all([client.request('version'), client.request('version')]);
    assert.deepEqual(v1, { daemon: 'charon', version: '5.9.8' });
    assert.deepEqual(v2, v1);

    const logs: string[] = [];
    await client.subscribe('log', (m) => logs.push(String(m.msg)));
    const { events } = await client.stream('list-sas', 'list-sa');
    assert.deepEqual(events, [
      { 'conn-1': { state: 'ESTABLISHED', 'child-sas': { 'c-1': { state: 'INSTALLED' } } } },
      { 'conn-2': { state: 'CONNECTING' } },
    ]);
    assert.deepEqual(logs, ['listing']);
    // The stream unregistered list-sa: a second list-sas without it streams nothing.
    assert.deepEqual((await client.request('list-sas')), {});
    assert.deepEqual(seen.filter((p) => p.type === PacketType.EVENT_UNREGISTER).map((p) => p.name), ['list-sa']);

    await assert.rejects(client.request('no-such-command'), /unknown command no-such-command/);
    await assert.rejects(client.subscribe('no-such-event', () => {}), /unknown event no-such-event/);
    // The connection is still good after both refusals.
    assert.equal((await client.request('version')).daemon, 'charon');
  } finally {
    client.close();
    server.close();
  }
});

test('a server that hangs up or never answers fails the command, not the process', async () => {
  const { path: socketPath, server } = await fakeServer();
  try {
    const c1 = await ViciClient.connect(socketPath);
    await assert.rejects(c1.request('bye'), /connection closed/);
    assert.equal(c1.closed, true);
    await assert.rejects(c1.request('version'), /connection closed/);

    const c2 = await ViciClient.connect(socketPath, { timeoutMs: 200 });
    const queued = c2.request('version');
    await assert.rejects(Promise.all([c2.request('hang'), queued]), /no answer to hang within 200 ms/);
    assert.equal(c2.closed, true);
  } finally {
    server.close();
  }
  await assert.rejects(ViciClient.connect(path.join(dir, 'nothing.sock')), /cannot connect: ENOENT/);
});
