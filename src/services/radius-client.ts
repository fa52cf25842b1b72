// A RADIUS client for the router's own logins (/user aaa use-radius=yes): one PAP Access-Request
// (RFC 2865) over UDP to each /radius server whose service includes `login`, in order.
//
//  - The request carries User-Name, User-Password (hidden as RFC 2865 §5.2 says), Service-Type
//    Login, NAS-Identifier (/system identity), NAS-IP-Address or NAS-IPv6-Address (the socket's
//    own address), Calling-Station-Id (the client's address) and Message-Authenticator (RFC 3579
//    §3.2) as its first attribute.
//  - A reply counts only when it comes from the server's address and port (a connected socket),
//    has the request's identifier, a well-formed length and attributes, the right Response
//    Authenticator (RFC 2865 §3) and exactly one valid Message-Authenticator: BlastRADIUS
//    (CVE-2024-3596, RFC 9765) forges replies without one, so a reply lacking it is refused.
//  - A server that does not answer gets the request again every `timeout`, SENDS times in all;
//    then the next server is asked. Whatever goes wrong is a failure, never a throw.
//  - RadSec (protocol=radsec) is not spoken here: such servers are skipped (the caller logs it).

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { IpAddress } from '../menu/values.js';

/** Sends of one request to one server (the first and two retransmissions; UNCONFIRMED for RouterOS). */
export const SENDS = 3;
/** RFC 2865 §3: a packet is 20..4096 octets. */
const MAX_PACKET = 4096;
/** RFC 2865 §5.2: the hidden password is at most 128 octets. */
const MAX_PASSWORD = 128;
/** RFC 2865 §5: an attribute's value is at most 253 octets. */
const MAX_VALUE = 253;

const CODE = { accessRequest: 1, accessAccept: 2, accessReject: 3, accessChallenge: 11 } as const;
const ATTR = {
  userName: 1, userPassword: 2, nasIpAddress: 4, serviceType: 6, vendorSpecific: 26,
  callingStationId: 31, nasIdentifier: 32, messageAuthenticator: 80, nasIpv6Address: 95,
} as const;
/** Service-Type Login (RFC 2865 §5.6). */
const SERVICE_LOGIN = 1;
/** MikroTik's vendor number and its Mikrotik-Group attribute (the vendor dictionary). */
export const MIKROTIK_VENDOR = 14988;
export const MIKROTIK_GROUP = 3;

export interface RadiusServer {
  readonly address: string;
  readonly port: number;
  readonly secret: string;
  /** Time before the request is sent again (ms). */
  readonly timeoutMs: number;
  readonly srcAddress?: string;
}

export interface LoginRequest {
  readonly user: string;
  readonly password: string;
  readonly nasIdentifier: string;
  readonly callingStation: string;
}

export type RadiusAnswer =
  | { kind: 'accept'; group?: string }
  | { kind: 'reject' }
  /** No valid answer from any server: `reason` per server, for /log. */
  | { kind: 'failed'; reasons: string[] };

function attribute(type: number, value: Buffer): Buffer {
  if (value.length > MAX_VALUE) throw new RangeError('attribute too long');
  return Buffer.concat([Buffer.from([type, value.length + 2]), value]);
}

/** RFC 2865 §5.2: the password padded to 16s, each block XORed with MD5(secret + previous). */
export function hidePassword(password: Buffer, secret: Buffer, authenticator: Buffer): Buffer {
  const length = Math.max(16, Math.ceil(password.length / 16) * 16);
  const padded = Buffer.alloc(length);
  password.copy(padded);
  const out = Buffer.alloc(length);
  let previous = authenticator;
  for (let i = 0; i < length; i += 16) {
    const b = createHash('md5').update(secret).update(previous).digest();
    for (let j = 0; j < 16; j++) out[i + j] = padded[i + j]! ^ b[j]!;
    previous = out.subarray(i, i + 16);
  }
  return out;
}

/** An Access-Request: its bytes and Request Authenticator. */
export function accessRequest(id: number, req: LoginRequest, secret: Buffer, nasAddress: string): { packet: Buffer; authenticator: Buffer } {
  const authenticator = randomBytes(16);
  const ip = IpAddress.parse(nasAddress);
  const nasIp = !ip ? Buffer.alloc(0) : attribute(ip.family === 4 ? ATTR.nasIpAddress : ATTR.nasIpv6Address, Buffer.from(ip.bytes));
  const service = Buffer.alloc(4);
  service.writeUInt32BE(SERVICE_LOGIN);
  const attrs = Buffer.concat([
    attribute(ATTR.messageAuthenticator, Buffer.alloc(16)),
    attribute(ATTR.userName, Buffer.from(req.user, 'utf8')),
    attribute(ATTR.userPassword, hidePassword(Buffer.from(req.password, 'utf8'), secret, authenticator)),
    attribute(ATTR.serviceType, service),
    attribute(ATTR.nasIdentifier, Buffer.from(req.nasIdentifier.slice(0, 64), 'utf8')),
    nasIp,
    ...(req.callingStation ? [attribute(ATTR.callingStationId, Buffer.from(req.callingStation, 'utf8'))] : []),
  ]);
  const packet = Buffer.concat([Buffer.from([CODE.accessRequest, id, 0, 0]), authenticator, attrs]);
  packet.writeUInt16BE(packet.length, 2);
  // Message-Authenticator: HMAC-MD5 over the packet with its own value zero (RFC 3579 §3.2).
  createHmac('md5', secret).update(packet).digest().copy(packet, 20 + 2);
  return { packet, authenticator };
}

/**
 * Checks a reply to the request (`id`, `requestAuth`): the answer, or why it does not count.
 * Any malformation is a reason, never a throw (the reply comes from the network).
 */
export function checkReply(reply: Buffer, id: number, requestAuth: Buffer, secret: Buffer): RadiusAnswer | string {
  if (reply.length < 20 || reply.length > MAX_PACKET) return 'a reply of a wrong size';
  const length = reply.readUInt16BE(2);
  if (length < 20 || length > reply.length) return 'a reply with a wrong length';
  const packet = reply.subarray(0, length); // RFC 2865 §3: octets past Length are padding
  if (packet[1] !== id) return 'a reply to another request';
  const code = packet[0];
  if (code !== CODE.accessAccept && code !== CODE.accessReject && code !== CODE.accessChallenge) return `a reply of code ${code}`;
  const expected = createHash('md5').update(packet.subarray(0, 4)).update(requestAuth).update(packet.subarray(20)).update(secret).digest();
  if (!timingSafeEqual(expected, packet.subarray(4, 20))) return 'a reply with a wrong Response Authenticator (is the secret right?)';
  let messageAuth: number | undefined;
  let group: string | undefined;
  for (let at = 20; at < length;) {
    if (at + 2 > length) return 'a reply with a truncated attribute';
    const type = packet[at]!;
    const len = packet[at + 1]!;
    if (len < 2 || at + len > length) return 'a reply with a malformed attribute';
    const value = packet.subarray(at + 2, at + len);
    if (type === ATTR.messageAuthenticator) {
      if (messageAuth !== undefined || len !== 18) return 'a reply with a malformed Message-Authenticator';
      messageAuth = at + 2;
    } else if (type === ATTR.vendorSpecific && value.length >= 6 && value.readUInt32BE(0) === MIKROTIK_VENDOR) {
      // Vendor sub-attributes: type, length (≥2), value (RFC 2865 §5.26 suggested format).
      for (let v = 4; v < value.length;) {
        if (v + 2 > value.length) return 'a reply with a malformed vendor attribute';
        const vlen = value[v + 1]!;
        if (vlen < 2 || v + vlen > value.length) return 'a reply with a malformed vendor attribute';
        if (value[v] === MIKROTIK_GROUP) group = value.subarray(v + 2, v + vlen).toString('utf8');
        v += vlen;
      }
    }
    at += len;
  }
  // BlastRADIUS: a reply without a valid Message-Authenticator is refused (RFC 9765 §5.2).
  if (messageAuth === undefined) return 'a reply without Message-Authenticator';
  const copy = Buffer.from(packet);
  requestAuth.copy(copy, 4);
  copy.fill(0, messageAuth, messageAuth + 16);
  const mac = createHmac('md5', secret).update(copy).digest();
  if (!timingSafeEqual(mac, packet.subarray(messageAuth, messageAuth + 16))) return 'a reply with a wrong Message-Authenticator';
  if (code === CODE.accessAccept) return group !== undefined ? { kind: 'accept', group } : { kind: 'accept' };
  // An Access-Challenge asks for more than a password: a login can not answer it.
  return { kind: 'reject' };
}

/** Asks one server; its answer, or why there is none. */
async function askServer(server: RadiusServer, req: LoginRequest, signal?: AbortSignal): Promise<RadiusAnswer | string> {
  const family = net.isIPv6(server.address) ? 'udp6' : 'udp4';
  const socket = dgram.createSocket({ type: family });
  const secret = Buffer.from(server.secret, 'utf8');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: 0, ...(server.srcAddress ? { address: server.srcAddress } : {}) }, () => {
        socket.connect(server.port, server.address, () => { socket.off('error', reject); resolve(); });
      });
    });
    const id = randomBytes(1)[0]!;
    const { packet, authenticator } = accessRequest(id, req, secret, socket.address().address);
    return await new Promise<RadiusAnswer | string>((resolve) => {
      let sent = 0;
      let last = 'no answer';
      let timer: NodeJS.Timeout | undefined;
      const done = (r: RadiusAnswer | string) => { clearTimeout(timer); signal?.removeEventListener('abort', abort); resolve(r); };
      const abort = () => done('interrupted');
      const send = () => {
        if (sent >= SENDS) { done(last); return; }
        sent++;
        socket.send(packet, (e) => { if (e) last = `not sent: ${e.message}`; });
        timer = setTimeout(send, Math.max(1, server.timeoutMs));
      };
      socket.on('message', (msg) => {
        const r = checkReply(msg, id, authenticator, secret);
        // A reply that does not count is ignored: the real one may still come.
        if (typeof r === 'string') last = r;
        else done(r);
      });
      socket.on('error', (e) => { last = `socket error: ${e.message}`; });
      signal?.addEventListener('abort', abort);
      send();
    });
  } catch (e) {
    return `socket error: ${(e as Error).message}`;
  } finally {
    try { socket.close(); } catch { /* never bound (a bad src-address): nothing to close */ }
  }
}

/** Whether a request can be sent at all (RFC 2865 size limits). */
export function requestFits(req: LoginRequest): boolean {
  return req.user !== '' && Buffer.byteLength(req.user) <= MAX_VALUE && Buffer.byteLength(req.password) <= MAX_PASSWORD
    && Buffer.byteLength(req.callingStation) <= MAX_VALUE;
}

/** Asks the servers in order until one answers Accept or Reject. */
export async function radiusLogin(servers: readonly RadiusServer[], req: LoginRequest, signal?: AbortSignal): Promise<RadiusAnswer> {
  const reasons: string[] = [];
  for (const server of servers) {
    const r = await askServer(server, req, signal);
    if (typeof r !== 'string') return r;
    reasons.push(`${server.address}: ${r}`);
    if (signal?.aborted) break;
  }
  return { kind: 'failed', reasons };
}
