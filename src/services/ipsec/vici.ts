// A client of strongSwan's VICI, the Versatile IKE Control Interface (strongSwan
// src/libcharon/plugins/vici/README.md): how rospki configures and watches the charon it
// supervises, over a unix socket in its private runtime folder.
//
// Three layers, as the README describes them:
//  - transport: byte sequences, each after a 32-bit big-endian length (at most 512 KiB);
//  - packets: a type octet, a name (8-bit length) for the named types, then a message;
//  - messages: a tree of sections, key/values and lists. Values are blobs; vici's own are
//    strings (numbers too), so values decode as UTF-8 text unless asked to stay raw.
//
// Commands carry no sequence number, so one runs at a time per connection; event
// registrations are answered the same way and queue with them. Events may arrive at any
// moment, also in the middle of a command (that is how list-sas streams its SAs).

import net from 'node:net';

/** Packet types (README "Packet layer"). */
export const PacketType = {
  CMD_REQUEST: 0,
  CMD_RESPONSE: 1,
  CMD_UNKNOWN: 2,
  EVENT_REGISTER: 3,
  EVENT_UNREGISTER: 4,
  EVENT_CONFIRM: 5,
  EVENT_UNKNOWN: 6,
  EVENT: 7,
} as const;

/** Message element types (README "Message format"). */
const Element = {
  SECTION_START: 1,
  SECTION_END: 2,
  KEY_VALUE: 3,
  LIST_START: 4,
  LIST_ITEM: 5,
  LIST_END: 6,
} as const;

/** The transport's limit on one byte sequence. */
export const MAX_SEGMENT = 512 * 1024;

export type ViciValue = string | Buffer;
/** A message (or section): key → value, list of values, or sub-section, in the order sent. */
export interface ViciMessage {
  [key: string]: ViciValue | ViciValue[] | ViciMessage;
}

/** A failed vici exchange: the daemon's own errmsg, an unknown command, a broken connection. */
export class ViciError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ViciError';
  }
}

// ---------------------------------------------------------------------------------------------
// Message encoding

function nameBytes(name: string): Buffer {
  const b = Buffer.from(name, 'utf8');
  if (b.length > 255) throw new ViciError(`vici: name too long: ${name.slice(0, 40)}…`);
  return b;
}

function valueBytes(value: ViciValue): Buffer {
  const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (b.length > 0xffff) throw new ViciError(`vici: value of ${b.length} bytes is longer than 65535`);
  return b;
}

/** Encodes a message tree (README "Message format"). */
export function encodeMessage(message: ViciMessage): Buffer {
  const out: Buffer[] = [];
  const named = (type: number, name: string): void => {
    const n = nameBytes(name);
    out.push(Buffer.from([type, n.length]), n);
  };
  const valued = (value: ViciValue): void => {
    const v = valueBytes(value);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(v.length);
    out.push(len, v);
  };
  const section = (m: ViciMessage): void => {
    for (const [key, value] of Object.entries(m)) {
      if (Array.isArray(value)) {
        named(Element.LIST_START, key);
        for (const item of value) {
          out.push(Buffer.from([Element.LIST_ITEM]));
          valued(item);
        }
        out.push(Buffer.from([Element.LIST_END]));
      } else if (typeof value === 'string' || Buffer.isBuffer(value)) {
        named(Element.KEY_VALUE, key);
        valued(value);
      } else {
        named(Element.SECTION_START, key);
        section(value);
        out.push(Buffer.from([Element.SECTION_END]));
      }
    }
  };
  section(message);
  return Buffer.concat(out);
}

/**
 * Decodes a message tree. Values are UTF-8 strings, or Buffers with `raw` (certificate data
 * of list-certs). Throws ViciError on anything malformed: truncation, an unbalanced section,
 * an item outside a list, a nested list.
 */
export function decodeMessage(data: Buffer, opts: { raw?: boolean } = {}): ViciMessage {
  const root: ViciMessage = {};
  const stack: ViciMessage[] = [root];
  let list: ViciValue[] | undefined;
  let at = 0;
  const need = (n: number): void => {
    if (at + n > data.length) throw new ViciError('vici: truncated message');
  };
  const readName = (): string => {
    need(1);
    const len = data[at++]!;
    need(len);
    const name = data.toString('utf8', at, at + len);
    at += len;
    return name;
  };
  const readValue = (): ViciValue => {
    need(2);
    const len = data.readUInt16BE(at);
    at += 2;
    need(len);
    const v = data.subarray(at, at + len);
    at += len;
    return opts.raw ? Buffer.from(v) : v.toString('utf8');
  };
  while (at < data.length) {
    const type = data[at++]!;
    const current = stack[stack.length - 1]!;
    if (list && type !== Element.LIST_ITEM && type !== Element.LIST_END) throw new ViciError('vici: list not closed');
    switch (type) {
      case Element.SECTION_START: {
        const name = readName();
        const section: ViciMessage = {};
        current[name] = section;
        stack.push(section);
        break;
      }
      case Element.SECTION_END:
        if (stack.length === 1) throw new ViciError('vici: section end without a section');
        stack.pop();
        break;
      case Element.KEY_VALUE: {
        const name = readName();
        current[name] = readValue();
        break;
      }
      case Element.LIST_START: {
        const name = readName();
        list = [];
        current[name] = list;
        break;
      }
      case Element.LIST_ITEM:
        if (!list) throw new ViciError('vici: list item outside a list');
        list.push(readValue());
        break;
      case Element.LIST_END:
        if (!list) throw new ViciError('vici: list end without a list');
        list = undefined;
        break;
      default:
        throw new ViciError(`vici: unknown element type ${type}`);
    }
  }
  if (list) throw new ViciError('vici: list not closed');
  if (stack.length !== 1) throw new ViciError('vici: section not closed');
  return root;
}

// ---------------------------------------------------------------------------------------------
// Packets

export interface ViciPacket {
  type: number;
  /** For the named types: CMD_REQUEST, EVENT_REGISTER, EVENT_UNREGISTER, EVENT. */
  name?: string;
  /** The message bytes (empty for registrations and their answers). */
  body: Buffer;
}

const NAMED = new Set<number>([PacketType.CMD_REQUEST, PacketType.EVENT_REGISTER, PacketType.EVENT_UNREGISTER, PacketType.EVENT]);

/** One packet framed for the transport: length, type, optional name, message. */
export function encodePacket(packet: ViciPacket): Buffer {
  const head = [packet.type];
  let name: Buffer = Buffer.alloc(0);
  if (NAMED.has(packet.type)) {
    name = nameBytes(packet.name ?? '');
    head.push(name.length);
  }
  const length = head.length + name.length + packet.body.length;
  if (length > MAX_SEGMENT) throw new ViciError(`vici: packet of ${length} bytes is over the 512 KiB limit`);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(length);
  return Buffer.concat([len, Buffer.from(head), name, packet.body]);
}

/** Splits a byte stream into packets (transport and packet layers). */
export class PacketReader {
  private buffered: Buffer = Buffer.alloc(0);

  /** Adds bytes; returns the packets now complete. Throws ViciError on a bad frame. */
  push(chunk: Buffer): ViciPacket[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const packets: ViciPacket[] = [];
    while (this.buffered.length >= 4) {
      const length = this.buffered.readUInt32BE(0);
      if (length > MAX_SEGMENT) throw new ViciError(`vici: segment of ${length} bytes is over the 512 KiB limit`);
      if (length < 1) throw new ViciError('vici: empty segment');
      if (this.buffered.length < 4 + length) break;
      const seg = this.buffered.subarray(4, 4 + length);
      this.buffered = this.buffered.subarray(4 + length);
      packets.push(parsePacket(seg));
    }
    return packets;
  }
}

function parsePacket(seg: Buffer): ViciPacket {
  const type = seg[0]!;
  if (type > PacketType.EVENT) throw new ViciError(`vici: unknown packet type ${type}`);
  if (!NAMED.has(type)) return { type, body: Buffer.from(seg.subarray(1)) };
  if (seg.length < 2 || seg.length < 2 + seg[1]!) throw new ViciError('vici: truncated packet name');
  const nameEnd = 2 + seg[1]!;
  return { type, name: seg.toString('ascii', 2, nameEnd), body: Buffer.from(seg.subarray(nameEnd)) };
}

// ---------------------------------------------------------------------------------------------
// The client

export type EventHandler = (message: ViciMessage, name: string) => void;

interface Pending {
  expect: readonly number[];
  resolve(p: ViciPacket): void;
  reject(e: Error): void;
}

export interface ViciClientOptions {
  /** A command or registration not answered within this fails (and closes the connection). */
  timeoutMs?: number;
}

/** `success = yes`, else a ViciError with the daemon's errmsg (README: load-*, initiate …). */
export function assertSuccess(command: string, reply: ViciMessage): ViciMessage {
  if (reply.success === 'yes') return reply;
  const why = typeof reply.errmsg === 'string' && reply.errmsg ? reply.errmsg : 'failed';
  throw new ViciError(`${command}: ${why}`);
}

export class ViciClient {
  private readonly reader = new PacketReader();
  private readonly handlers = new Map<string, Set<EventHandler>>();
  private pending: Pending | undefined;
  /** Commands and registrations run one after another (no sequence numbers in vici). */
  private queue: Promise<unknown> = Promise.resolve();
  private failure: Error | undefined;
  private readonly timeoutMs: number;

  private constructor(private readonly socket: net.Socket, opts: ViciClientOptions) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    socket.on('data', (chunk: Buffer) => {
      let packets: ViciPacket[];
      try {
        packets = this.reader.push(chunk);
      } catch (e) {
        this.fail(e as Error);
        return;
      }
      for (const p of packets) this.dispatch(p);
    });
    socket.on('error', (e) => this.fail(new ViciError(`vici: ${e.message}`)));
    socket.on('close', () => this.fail(new ViciError('vici: connection closed')));
  }

  /** Connects to a vici socket (a unix socket path). */
  static connect(socketPath: string, opts: ViciClientOptions = {}): Promise<ViciClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      const onError = (e: Error): void => reject(new ViciError(`vici: cannot connect: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new ViciClient(socket, opts));
      });
    });
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** Runs a command; resolves with its response message. */
  request(command: string, message: ViciMessage = {}): Promise<ViciMessage> {
    return this.exchange({ type: PacketType.CMD_REQUEST, name: command, body: encodeMessage(message) }, [PacketType.CMD_RESPONSE, PacketType.CMD_UNKNOWN])
      .then((p) => {
        if (p.type === PacketType.CMD_UNKNOWN) throw new ViciError(`vici: unknown command ${command}`);
        return decodeMessage(p.body);
      });
  }

  /**
   * A streaming command (list-sas → list-sa events, list-conns → list-conn …): registers for
   * `event`, runs the command, unregisters, and returns the events received meanwhile and
   * the response.
   */
  async stream(command: string, event: string, message: ViciMessage = {}): Promise<{ events: ViciMessage[]; response: ViciMessage }> {
    const events: ViciMessage[] = [];
    const collect: EventHandler = (m) => events.push(m);
    await this.subscribe(event, collect);
    try {
      const response = await this.request(command, message);
      return { events, response };
    } finally {
      await this.unsubscribe(event, collect).catch(() => {});
    }
  }

  /** Receives `event` until unsubscribed (the first handler of a name registers it with the daemon). */
  async subscribe(event: string, handler: EventHandler): Promise<void> {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
      try {
        await this.register(PacketType.EVENT_REGISTER, event);
      } catch (e) {
        this.handlers.delete(event);
        throw e;
      }
    }
    set.add(handler);
  }

  async unsubscribe(event: string, handler: EventHandler): Promise<void> {
    const set = this.handlers.get(event);
    if (!set?.delete(handler) || set.size > 0) return;
    this.handlers.delete(event);
    if (!this.closed) await this.register(PacketType.EVENT_UNREGISTER, event);
  }

  close(): void {
    this.fail(new ViciError('vici: connection closed'));
  }

  private async register(type: number, event: string): Promise<void> {
    const p = await this.exchange({ type, name: event, body: Buffer.alloc(0) }, [PacketType.EVENT_CONFIRM, PacketType.EVENT_UNKNOWN]);
    if (p.type === PacketType.EVENT_UNKNOWN) throw new ViciError(`vici: unknown event ${event}`);
  }

  /** Sends one packet and waits for the answer of one of the `expect` types, in turn. */
  private exchange(packet: ViciPacket, expect: readonly number[]): Promise<ViciPacket> {
    const run = (): Promise<ViciPacket> => new Promise<ViciPacket>((resolve, reject) => {
      if (this.failure) { reject(this.failure); return; }
      const timer = setTimeout(() => this.fail(new ViciError(`vici: no answer to ${packet.name ?? 'request'} within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.pending = {
        expect,
        resolve: (p) => { clearTimeout(timer); resolve(p); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      try {
        this.socket.write(encodePacket(packet));
      } catch (e) {
        this.pending = undefined;
        clearTimeout(timer);
        reject(e);
      }
    });
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => {});
    return result;
  }

  private dispatch(p: ViciPacket): void {
    if (p.type === PacketType.EVENT) {
      const set = this.handlers.get(p.name ?? '');
      if (!set) return;
      let message: ViciMessage;
      try {
        message = decodeMessage(p.body);
      } catch (e) {
        this.fail(e as Error);
        return;
      }
      for (const h of [...set]) h(message, p.name ?? '');
      return;
    }
    const pending = this.pending;
    if (!pending || !pending.expect.includes(p.type)) {
      this.fail(new ViciError(`vici: unexpected packet type ${p.type}`));
      return;
    }
    this.pending = undefined;
    pending.resolve(p);
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e;
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(this.failure);
    this.handlers.clear();
    if (!this.socket.destroyed) this.socket.destroy();
  }
}
