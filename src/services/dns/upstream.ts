// Plain DNS to the `/ip dns servers` (and FWD targets): UDP first from a fresh socket (a random
// source port and a random ID, RFC 5452 §9), TCP when the answer comes back truncated (RFC 7766
// §5). An answer counts only when it comes from the server asked, with the query's ID and
// question; anything else on the socket is ignored. Servers are tried in order within
// query-server-timeout each and query-total-timeout in all; the server that answered last is
// tried first next time (manual: "After that this server is used for all types of DNS requests").

import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { canonicalName, decodeMessage, encodeMessage, MAX_MESSAGE, message, WireError, type Message, type Question } from './wire.js';

export interface PlainServer {
  readonly address: string;
  readonly port: number;
}

export class UpstreamError extends Error {}

/** Whether an upstream message answers this query. */
export function answers(reply: Message, id: number, q: Question): boolean {
  const rq = reply.questions[0];
  return reply.response && reply.id === id && reply.questions.length === 1 && !!rq
    && rq.type === q.type && rq.class === q.class && canonicalName(rq.name) === canonicalName(q.name);
}

/** The query rospki sends upstream for a question (recursion desired, EDNS with our UDP size). */
export function upstreamQuery(id: number, q: Question, udpSize: number, checkingDisabled = false): Buffer {
  return encodeMessage(message({
    id, questions: [q], recursionDesired: true, checkingDisabled,
    edns: { udpSize, version: 0, dnssecOk: false, extendedRcode: 0 },
  }));
}

function udpExchange(server: PlainServer, q: Question, udpSize: number, timeoutMs: number, cd: boolean): Promise<Message> {
  const id = randomInt(0, 0x10000);
  const wire = upstreamQuery(id, q, udpSize, cd);
  return new Promise<Message>((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(server.address) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (e: Error | undefined, m?: Message) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      if (e) reject(e); else resolve(m!);
    };
    const timer = setTimeout(() => finish(new UpstreamError('timeout')), timeoutMs);
    socket.on('error', (e) => finish(new UpstreamError(e.message)));
    socket.on('message', (msg, rinfo) => {
      if (rinfo.address !== server.address || rinfo.port !== server.port) return;
      let reply: Message;
      try { reply = decodeMessage(msg); } catch { return; }
      if (answers(reply, id, q)) finish(undefined, reply);
    });
    socket.send(wire, server.port, server.address, (e) => { if (e) finish(new UpstreamError(e.message)); });
  });
}

/** One query over TCP (two-octet length prefix, RFC 1035 §4.2.2), bounded in time and size. */
export function tcpExchange(server: PlainServer, q: Question, timeoutMs: number, cd: boolean): Promise<Message> {
  const id = randomInt(0, 0x10000);
  const wire = upstreamQuery(id, q, MAX_MESSAGE, cd);
  return new Promise<Message>((resolve, reject) => {
    const socket = net.connect({ host: server.address, port: server.port });
    let buffered = Buffer.alloc(0);
    let done = false;
    const finish = (e: Error | undefined, m?: Message) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (e) reject(e); else resolve(m!);
    };
    const timer = setTimeout(() => finish(new UpstreamError('timeout')), timeoutMs);
    socket.on('error', (e) => finish(new UpstreamError(e.message)));
    socket.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(wire.length);
      socket.write(Buffer.concat([len, wire]));
    });
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > MAX_MESSAGE + 2) { finish(new UpstreamError('answer too long')); return; }
      if (buffered.length < 2) return;
      const need = buffered.readUInt16BE(0);
      if (buffered.length < need + 2) return;
      try {
        const reply = decodeMessage(buffered.subarray(2, need + 2));
        if (answers(reply, id, q)) finish(undefined, reply); else finish(new UpstreamError('unrelated answer'));
      } catch (e) {
        finish(new UpstreamError(e instanceof WireError ? 'malformed answer' : String(e)));
      }
    });
    socket.on('close', () => finish(new UpstreamError('connection closed')));
  });
}

export interface PlainOptions {
  readonly serverTimeoutMs: number;
  readonly totalTimeoutMs: number;
  readonly udpSize: number;
}

/** Asks the servers in turn; the first that answers wins and is asked first next time. */
export class PlainUpstream {
  private preferred = 0;

  constructor(private readonly servers: readonly PlainServer[], private readonly opts: PlainOptions) {}

  get empty(): boolean {
    return this.servers.length === 0;
  }

  async query(q: Question, cd = false): Promise<Message> {
    if (this.servers.length === 0) throw new UpstreamError('no DNS servers');
    const deadline = Date.now() + this.opts.totalTimeoutMs;
    let last: Error = new UpstreamError('timeout');
    for (let i = 0; i < this.servers.length; i++) {
      const index = (this.preferred + i) % this.servers.length;
      const server = this.servers[index]!;
      const left = deadline - Date.now();
      if (left <= 0) break;
      const timeout = Math.min(this.opts.serverTimeoutMs, left);
      try {
        let reply = await udpExchange(server, q, this.opts.udpSize, timeout, cd);
        if (reply.truncated) reply = await tcpExchange(server, q, Math.max(1, Math.min(timeout, deadline - Date.now())), cd);
        this.preferred = index;
        return reply;
      } catch (e) {
        last = e as Error;
      }
    }
    throw last;
  }
}
