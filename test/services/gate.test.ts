// The connection gate of www, www-ssl, api and api-ssl (issue 11): who is displaced when the
// pool of connections waiting to log in is full, sessions against max-sessions, deadlines.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { test } from 'node:test';
import { ConnectionGate } from '../../src/services/gate.js';

let nextPort = 40000;

/** What the gate uses of a socket: address, port, destroy() and 'close'. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  readonly remotePort = nextPort++;
  constructor(readonly remoteAddress: string) { super(); }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    queueMicrotask(() => this.emit('close'));
  }
}

const sock = (address: string) => new FakeSocket(address) as unknown as net.Socket & FakeSocket;
const settle = () => new Promise((r) => setImmediate(r));

/** The gate's timers do not hold the process (a listening server does): hold it meanwhile. */
function holdLoop<T>(p: Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 1000);
  return p.finally(() => clearInterval(hold));
}

test('a full pool displaces the oldest waiting connection of the address with the most', async () => {
  const gate = new ConnectionGate({ preAuthPool: 4, loginTimeoutMs: 60_000, maxSessions: () => 20 });
  const flood = [sock('192.0.2.66'), sock('192.0.2.66'), sock('192.0.2.66')];
  const real = sock('198.51.100.7');
  gate.admit(flood[0]!);
  gate.admit(real);
  gate.admit(flood[1]!);
  gate.admit(flood[2]!);
  const more = [sock('192.0.2.66'), sock('192.0.2.66'), sock('192.0.2.66')];
  for (const s of more) gate.admit(s);
  await settle();
  assert.equal(real.destroyed, false, 'the other address keeps its connection');
  assert.deepEqual(flood.map((s) => s.destroyed), [true, true, true], 'the flood displaced itself, oldest first');
  assert.equal(gate.waitingCount, 4);
  // The real client logs in: a session, out of the pool.
  assert.equal(gate.promote(real), 'session');
  assert.equal(gate.promote(real), 'already');
  assert.equal(gate.sessions, 1);
  assert.equal(gate.waitingCount, 3);
});

test('from one address, the newest connection survives a flood as long as the pool is not refilled', async () => {
  const gate = new ConnectionGate({ preAuthPool: 3, loginTimeoutMs: 60_000, maxSessions: () => 20 });
  const idle = Array.from({ length: 10 }, () => sock('127.0.0.1'));
  for (const s of idle) gate.admit(s);
  const client = sock('127.0.0.1');
  gate.admit(client);
  await settle();
  assert.equal(client.destroyed, false);
  assert.equal(gate.promote(client), 'session');
  assert.equal(idle.filter((s) => !s.destroyed).length, 2);
});

test('max-sessions is read live; a closed session frees its place; an expired connection cannot log in', async () => {
  let max = 1;
  const gate = new ConnectionGate({ preAuthPool: 8, loginTimeoutMs: 50, maxSessions: () => max });
  const a = sock('127.0.0.1');
  const b = sock('127.0.0.1');
  gate.admit(a);
  gate.admit(b);
  assert.equal(gate.promote(a), 'session');
  assert.equal(gate.promote(b), 'full');
  max = 2;
  assert.equal(gate.promote(b), 'session');
  a.destroy();
  await settle();
  assert.equal(gate.sessions, 1);
  const late = sock('127.0.0.1');
  gate.admit(late);
  await holdLoop(new Promise<void>((resolve) => late.once('close', () => resolve())));
  assert.equal(gate.promote(late), 'unknown');
  assert.equal(b.destroyed, false, 'a session has no login deadline');
});

test('an expired connection answering a request is closed when the answer is written', async () => {
  // The grace is long: whatever the machine's load, the answer ends before it does.
  const gate = new ConnectionGate({ preAuthPool: 8, loginTimeoutMs: 30, answerGraceMs: 60_000, maxSessions: () => 20 });
  const s = sock('127.0.0.1');
  gate.admit(s);
  const done = gate.begin(s);
  // Expired: out of the pool (bounded wait for the login timer, however late it fires).
  await holdLoop((async () => { for (let i = 0; i < 500 && gate.waitingCount > 0; i++) await new Promise((r) => setTimeout(r, 10)); })());
  assert.equal(gate.waitingCount, 0, 'the login deadline passed');
  assert.equal(s.destroyed, false, 'still writing its answer');
  done();
  assert.equal(s.destroyed, true);
});
