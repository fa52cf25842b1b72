// The SSTP wire format ([MS-SSTP] 2.2) and its crypto binding ([MS-SSTP] 3.2.5.2): packets
// (a 4-byte header, then a PPP frame or a control message with attributes), and the check of the
// Call Connected message that binds the PPP authentication to the TLS server certificate.
// Pure: no sockets, no store.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The HTTP request that opens an SSTP connection ([MS-SSTP] 2.2.2, 3.2.4.1). */
export const SSTP_METHOD = 'SSTP_DUPLEX_POST';
export const SSTP_URI = '/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/';

export const SSTP_VERSION = 0x10;

/** Control message types ([MS-SSTP] 2.2.9). */
export const MSG = {
  callConnectRequest: 0x0001,
  callConnectAck: 0x0002,
  callConnectNak: 0x0003,
  callConnected: 0x0004,
  callAbort: 0x0005,
  callDisconnect: 0x0006,
  callDisconnectAck: 0x0007,
  echoRequest: 0x0008,
  echoResponse: 0x0009,
} as const;

/** Attribute ids ([MS-SSTP] 2.2.10). */
export const ATTR = {
  encapsulatedProtocolId: 1,
  statusInfo: 2,
  cryptoBinding: 3,
  cryptoBindingRequest: 4,
} as const;

/** Status values of the Status Info attribute ([MS-SSTP] 2.2.6). */
export const STATUS = {
  noError: 0x00,
  valueNotSupported: 0x04,
  unacceptedFrameReceived: 0x05,
  retryCountExceeded: 0x06,
  invalidFrameReceived: 0x07,
  negotiationTimeout: 0x08,
  requiredAttributeMissing: 0x0a,
} as const;

/** Certificate hash protocols ([MS-SSTP] 2.2.7): a bitmask in the request, one value in the binding. */
export const HASH = { sha1: 0x01, sha256: 0x02 } as const;

/** The one protocol SSTP carries ([MS-SSTP] 2.2.5). */
export const PROTOCOL_PPP = 0x0001;

export interface Attribute {
  readonly id: number;
  readonly value: Buffer;
}

export type Packet =
  | { readonly control: false; readonly data: Buffer }
  | { readonly control: true; readonly type: number; readonly attributes: readonly Attribute[]; readonly raw: Buffer };

/** The largest packet: the length field has 12 bits ([MS-SSTP] 2.2.3). */
export const MAX_PACKET = 0x0fff;

/** Splits a byte stream into packets. Throws on a malformed one (the caller aborts the call). */
export class PacketReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Packet[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const out: Packet[] = [];
    while (this.buffered.length >= 4) {
      if (this.buffered[0] !== SSTP_VERSION) throw new Error(`unsupported SSTP version 0x${this.buffered[0]!.toString(16)}`);
      const length = this.buffered.readUInt16BE(2) & MAX_PACKET;
      if (length < 4) throw new Error('packet shorter than its header');
      if (this.buffered.length < length) break;
      const raw = this.buffered.subarray(0, length);
      this.buffered = this.buffered.subarray(length);
      out.push(parsePacket(raw));
    }
    return out;
  }
}

function parsePacket(raw: Buffer): Packet {
  if ((raw[1]! & 0x01) === 0) return { control: false, data: raw.subarray(4) };
  if (raw.length < 8) throw new Error('control message shorter than its header');
  const type = raw.readUInt16BE(4);
  const count = raw.readUInt16BE(6);
  const attributes: Attribute[] = [];
  let at = 8;
  for (let i = 0; i < count; i++) {
    if (at + 4 > raw.length) throw new Error('attribute beyond the message');
    const length = raw.readUInt16BE(at + 2) & MAX_PACKET;
    if (length < 4 || at + length > raw.length) throw new Error('attribute length out of range');
    attributes.push({ id: raw[at + 1]!, value: raw.subarray(at + 4, at + length) });
    at += length;
  }
  return { control: true, type, attributes, raw };
}

/** A control message with its attributes. */
export function controlPacket(type: number, attributes: readonly Attribute[] = []): Buffer {
  const body = attributes.map((a) => {
    const head = Buffer.alloc(4);
    head[1] = a.id;
    head.writeUInt16BE(4 + a.value.length, 2);
    return Buffer.concat([head, a.value]);
  });
  const length = 8 + body.reduce((n, b) => n + b.length, 0);
  const head = Buffer.alloc(8);
  head[0] = SSTP_VERSION;
  head[1] = 0x01;
  head.writeUInt16BE(length, 2);
  head.writeUInt16BE(type, 4);
  head.writeUInt16BE(attributes.length, 6);
  return Buffer.concat([head, ...body]);
}

/** Status Info ([MS-SSTP] 2.2.6): the attribute it is about, and the status. */
export function statusInfo(attributeId: number, status: number): Attribute {
  const value = Buffer.alloc(8);
  value[3] = attributeId;
  value.writeUInt32BE(status, 4);
  return { id: ATTR.statusInfo, value };
}

/** Crypto Binding Request ([MS-SSTP] 2.2.8): the hash protocols the server takes, and its nonce. */
export function cryptoBindingRequest(nonce: Buffer, protocols: number = HASH.sha1 | HASH.sha256): Attribute {
  const value = Buffer.alloc(36);
  value[3] = protocols;
  nonce.copy(value, 4);
  return { id: ATTR.cryptoBindingRequest, value };
}

/** Value length of the Crypto Binding attribute ([MS-SSTP] 2.2.7). */
const BINDING_LENGTH = 100;
/** Where the Compound MAC starts inside the Call Connected packet: header 8 + attribute header 4 + 68. */
const MAC_OFFSET = 80;

/** The string the Compound MAC Key is derived with ([MS-SSTP] 3.2.5.2.3). */
const CMK_SEED = Buffer.from('SSTP inner method derived CMK', 'ascii');

/**
 * The Compound MAC of a Call Connected packet ([MS-SSTP] 3.2.5.2.3–4): CMK = HMAC(HLAK, seed |
 * LEN (little-endian) | 0x01), MAC = HMAC(CMK, packet with the MAC field zeroed).
 */
export function compoundMac(packet: Buffer, protocol: number, hlak: Buffer): Buffer {
  const alg = protocol === HASH.sha256 ? 'sha256' : 'sha1';
  const size = protocol === HASH.sha256 ? 32 : 20;
  const cmk = createHmac(alg, hlak).update(CMK_SEED).update(Buffer.from([size, 0, 1])).digest();
  const zeroed = Buffer.from(packet);
  zeroed.fill(0, MAC_OFFSET, MAC_OFFSET + 32);
  return createHmac(alg, cmk).update(zeroed).digest();
}

/**
 * The HLAK when the PPP authentication gives no keys (PAP, CHAP, or no PPP run by rospki):
 * 32 zero bytes ([MS-SSTP] 3.2.5.2.4).
 */
export const KEYLESS_HLAK = Buffer.alloc(32);

export type BindingCheck = { ok: true; protocol: 'SHA1' | 'SHA256' } | { ok: false; reason: string };

/**
 * Checks a Call Connected message: one Crypto Binding attribute with an offered hash protocol,
 * the server's nonce, the hash of the server's certificate as the client saw it (a man in the
 * middle presents another), and the Compound MAC under `hlak`.
 */
export function checkCallConnected(packet: Packet, expect: { nonce: Buffer; certificateDer: Buffer; offered: number; hlak: Buffer }): BindingCheck {
  if (!packet.control || packet.type !== MSG.callConnected) return { ok: false, reason: 'not a Call Connected message' };
  const binding = packet.attributes.find((a) => a.id === ATTR.cryptoBinding);
  if (!binding) return { ok: false, reason: 'no crypto binding attribute' };
  if (binding.value.length !== BINDING_LENGTH) return { ok: false, reason: 'crypto binding of a wrong length' };
  const protocol = binding.value[3]!;
  if ((protocol !== HASH.sha1 && protocol !== HASH.sha256) || (protocol & expect.offered) === 0) {
    return { ok: false, reason: `hash protocol ${protocol} was not offered` };
  }
  const size = protocol === HASH.sha256 ? 32 : 20;
  if (!timingSafeEqual(binding.value.subarray(4, 36), expect.nonce)) return { ok: false, reason: 'wrong nonce' };
  const certHash = createHash(protocol === HASH.sha256 ? 'sha256' : 'sha1').update(expect.certificateDer).digest();
  if (!timingSafeEqual(binding.value.subarray(36, 36 + size), certHash)) {
    return { ok: false, reason: 'the client saw another server certificate' };
  }
  const mac = compoundMac(packet.raw, protocol, expect.hlak);
  if (!timingSafeEqual(binding.value.subarray(68, 68 + size), mac)) return { ok: false, reason: 'wrong compound MAC' };
  return { ok: true, protocol: protocol === HASH.sha256 ? 'SHA256' : 'SHA1' };
}
