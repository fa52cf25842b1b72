// The SSTP wire format and crypto binding ([MS-SSTP]): packets split from a byte stream, control
// messages built, and the Compound MAC checked against the test vectors of sstp-client's
// sstp-cmac.c (HMAC-SHA1-160 and HMAC-SHA256-256 over a Call Connected message, MS-CHAPv2 keys).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  ATTR, HASH, KEYLESS_HLAK, MSG, PacketReader, checkCallConnected, compoundMac, controlPacket, cryptoBindingRequest, statusInfo,
} from '../../src/services/sstp-protocol.js';
import { sstpCiphers } from '../../src/services/sstp.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// sstp-cmac.c sstp_test_sha1: the Call Connected message with the MAC zeroed, the MPPE keys, the MAC.
const SHA1_MESSAGE = hex(`10 01 00 70 00 04 00 01 00 03 00 68 00 00 00 01
  0F 1A 2D 58 D4 A3 E3 00 0F AD 3C E4 90 6E 07 B7 07 AA 9E 44 1C CE AC 5C BD 7B 2C C1 C9 D8 6C DF
  58 26 B6 29 BD A5 9B 8E 6F D8 DC D2 62 2F D3 4C 53 48 05 A5 00 00 00 00 00 00 00 00 00 00 00 00
  ${'00 '.repeat(32)}`);
const SHA1_HLAK = Buffer.concat([hex('4B 31 28 F4 39 25 D9 00 6E EF B1 C4 E8 65 15 A1'), hex('D8 8E 56 BA B3 CA 2B DF 03 73 B7 F5 A8 A1 3B 19')]);
const SHA1_MAC = hex('69 91 5D D5 83 D8 06 2F EF 16 F6 1D B2 F0 32 90 EC 27 CB 6C');

const SHA256_MESSAGE = hex(`10 01 00 70 00 04 00 01 00 03 00 68 00 00 00 02
  41 2B 48 9A EB D7 EC C7 D0 89 66 F2 6B E7 CD 72 B2 31 A0 E9 21 0D 7C 91 B3 08 86 2B 03 44 C4 35
  79 93 EF 31 4C 49 3D AC E9 F0 2D 60 E7 E6 1C 84 B6 69 0A AF E9 D7 AE EA 92 CB BE 8A D5 99 42 2D
  ${'00 '.repeat(32)}`);
const SHA256_HLAK = Buffer.concat([hex('2A 1B B4 0D 55 AB 0F 5E F3 2F 06 F2 B3 CC 73 C4'), hex('8F D3 FA C4 1D 7A 13 15 A1 92 28 D9 02 4C A1 64')]);
const SHA256_MAC = hex('52 A6 8E FD 8C FF BF 52 77 0B 8F 0F E8 EC 73 71 65 83 AF 6D 61 1E B6 D1 79 B3 B2 08 40 98 54 49');

test('the Compound MAC matches sstp-client\'s test vectors (SHA1 and SHA256)', () => {
  assert.deepEqual(compoundMac(SHA1_MESSAGE, HASH.sha1, SHA1_HLAK), SHA1_MAC);
  assert.deepEqual(compoundMac(SHA256_MESSAGE, HASH.sha256, SHA256_HLAK), SHA256_MAC);
});

/** A Call Connected message as a client builds it: nonce, certificate hash, MAC under `hlak`. */
function callConnected(nonce: Buffer, cert: Buffer, hlak: Buffer, protocol: number = HASH.sha256): Buffer {
  const value = Buffer.alloc(100);
  value[3] = protocol;
  nonce.copy(value, 4);
  createHash(protocol === HASH.sha256 ? 'sha256' : 'sha1').update(cert).digest().copy(value, 36);
  const packet = controlPacket(MSG.callConnected, [{ id: ATTR.cryptoBinding, value }]);
  compoundMac(packet, protocol, hlak).copy(packet, 80);
  return packet;
}

test('Call Connected: the binding is accepted only with our nonce, our certificate and the right keys', () => {
  const nonce = Buffer.alloc(32, 1);
  const cert = Buffer.from('the server certificate');
  const expect = { nonce, certificateDer: cert, offered: HASH.sha1 | HASH.sha256, hlak: KEYLESS_HLAK };
  const check = (packet: Buffer) => checkCallConnected(new PacketReader().push(packet)[0]!, expect);
  assert.deepEqual(check(callConnected(nonce, cert, KEYLESS_HLAK)), { ok: true, protocol: 'SHA256' });
  assert.deepEqual(check(callConnected(nonce, cert, KEYLESS_HLAK, HASH.sha1)), { ok: true, protocol: 'SHA1' });
  assert.deepEqual(check(callConnected(Buffer.alloc(32, 2), cert, KEYLESS_HLAK)), { ok: false, reason: 'wrong nonce' });
  assert.deepEqual(check(callConnected(nonce, Buffer.from('a MITM certificate'), KEYLESS_HLAK)), { ok: false, reason: 'the client saw another server certificate' });
  assert.deepEqual(check(callConnected(nonce, cert, Buffer.alloc(32, 9))), { ok: false, reason: 'wrong compound MAC' });
  assert.deepEqual(checkCallConnected(new PacketReader().push(callConnected(nonce, cert, KEYLESS_HLAK))[0]!, { ...expect, offered: HASH.sha1 }),
    { ok: false, reason: 'hash protocol 2 was not offered' });
});

test('packets: split from a stream in any pieces; malformed ones throw', () => {
  const ack = controlPacket(MSG.callConnectAck, [cryptoBindingRequest(Buffer.alloc(32, 3))]);
  assert.equal(ack.length, 48, 'the 48 bytes sstpc logs as CONNECT ACK');
  const abort = controlPacket(MSG.callAbort, [statusInfo(ATTR.cryptoBinding, 7)]);
  const stream = Buffer.concat([ack, Buffer.from([0x10, 0x00, 0x00, 0x06, 0xff, 0x03]), abort]);
  const reader = new PacketReader();
  const packets = [...stream].flatMap((b) => reader.push(Buffer.from([b])));
  assert.equal(packets.length, 3);
  assert.deepEqual(packets.map((p) => (p.control ? p.type : 'data')), [MSG.callConnectAck, 'data', MSG.callAbort]);
  assert.deepEqual(packets[1]!.control ? undefined : packets[1]!.data, Buffer.from([0xff, 0x03]));
  assert.throws(() => new PacketReader().push(Buffer.from([0x20, 0x01, 0x00, 0x08])), /unsupported SSTP version/);
  assert.throws(() => new PacketReader().push(Buffer.from([0x10, 0x01, 0x00, 0x02])), /shorter than its header/);
  assert.throws(() => new PacketReader().push(Buffer.from([0x10, 0x01, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x09])), /attribute length/);
});

test('ciphers and pfs as TLS suites', () => {
  assert.deepEqual(sstpCiphers(['aes256-sha', 'aes256-gcm-sha384'], 'no'),
    { ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384:AES256-GCM-SHA384:ECDHE-ECDSA-AES256-SHA:AES256-SHA', tls13: false });
  assert.deepEqual(sstpCiphers(['aes256-sha'], 'yes'), { ciphers: 'ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:DHE-RSA-AES256-SHA:AES256-SHA', tls13: false });
  assert.deepEqual(sstpCiphers(['aes256-gcm-sha384'], 'required'),
    { ciphers: 'TLS_AES_256_GCM_SHA384:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384', tls13: true });
});
