// The RADIUS client's packets (services/radius-client.ts): User-Password hiding (RFC 2865 §5.2)
// undone by the reverse operation, the request's Message-Authenticator (RFC 3579 §3.2), and
// replies from the network — every malformed one is a reason, never a throw (fuzzed).
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { accessRequest, checkReply, hidePassword, MIKROTIK_GROUP, MIKROTIK_VENDOR, requestFits } from '../../src/services/radius-client.js';

const SECRET = Buffer.from('s3cret');
const REQ = { user: 'alice', password: 'correct horse battery staple', nasIdentifier: 'MikroTik', callingStation: '192.0.2.7' };

/** RFC 2865 §5.2 backwards: what the server does. */
function revealPassword(hidden: Buffer, secret: Buffer, authenticator: Buffer): string {
  const out = Buffer.alloc(hidden.length);
  let previous = authenticator;
  for (let i = 0; i < hidden.length; i += 16) {
    const b = createHash('md5').update(secret).update(previous).digest();
    for (let j = 0; j < 16; j++) out[i + j] = hidden[i + j]! ^ b[j]!;
    previous = hidden.subarray(i, i + 16);
  }
  return out.toString('utf8').replace(/\0+$/, '');
}

function attributes(packet: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (let at = 20; at < packet.length; at += packet[at + 1]!) m.set(packet[at]!, packet.subarray(at + 2, at + packet[at + 1]!));
  return m;
}

/** A signed Access-Accept to a request, with Mikrotik-Group when given. */
function reply(req: Buffer, code: number, group?: string): Buffer {
  const vsa = group === undefined ? Buffer.alloc(0) : (() => {
    const sub = Buffer.concat([Buffer.from([MIKROTIK_GROUP, Buffer.byteLength(group) + 2]), Buffer.from(group)]);
    const v = Buffer.alloc(4); v.writeUInt32BE(MIKROTIK_VENDOR);
    return Buffer.concat([Buffer.from([26, sub.length + 6]), v, sub]);
  })();
  const p = Buffer.concat([Buffer.from([code, req[1]!, 0, 0]), req.subarray(4, 20), Buffer.from([80, 18]), Buffer.alloc(16), vsa]);
  p.writeUInt16BE(p.length, 2);
  createHmac('md5', SECRET).update(p).digest().copy(p, 22);
  createHash('md5').update(p.subarray(0, 4)).update(req.subarray(4, 20)).update(p.subarray(20)).update(SECRET).digest().copy(p, 4);
  return p;
}

describe('RADIUS client packets', () => {
  test('an Access-Request: the password hidden as RFC 2865 §5.2 says, a valid Message-Authenticator first, the NAS attributes', () => {
    const { packet, authenticator } = accessRequest(7, REQ, SECRET, '127.0.0.1');
    assert.equal(packet[0], 1);
    assert.equal(packet[1], 7);
    assert.equal(packet.readUInt16BE(2), packet.length);
    assert.equal(packet[20], 80, 'Message-Authenticator is the first attribute');
    const a = attributes(packet);
    assert.equal(a.get(1)!.toString(), 'alice');
    assert.equal(a.get(2)!.length % 16, 0);
    assert.equal(revealPassword(a.get(2)!, SECRET, authenticator), REQ.password);
    assert.deepEqual([...a.get(4)!], [127, 0, 0, 1]);
    assert.equal(a.get(6)!.readUInt32BE(0), 1, 'Service-Type Login');
    assert.equal(a.get(32)!.toString(), 'MikroTik');
    assert.equal(a.get(31)!.toString(), '192.0.2.7');
    const zeroed = Buffer.from(packet);
    zeroed.fill(0, 22, 38);
    assert.deepEqual(createHmac('md5', SECRET).update(zeroed).digest(), packet.subarray(22, 38));
    const v6 = attributes(accessRequest(1, REQ, SECRET, '::1').packet).get(95)!;
    assert.deepEqual([...v6], [...Buffer.alloc(15), 1]);
  });

  test('hiding pads to 16 octets and chains the blocks', () => {
    const auth = randomBytes(16);
    assert.equal(hidePassword(Buffer.from(''), SECRET, auth).length, 16);
    const long = 'x'.repeat(40);
    assert.equal(revealPassword(hidePassword(Buffer.from(long), SECRET, auth), SECRET, auth), long);
    assert.equal(requestFits({ ...REQ, password: 'p'.repeat(128) }), true);
    assert.equal(requestFits({ ...REQ, password: 'p'.repeat(129) }), false);
    assert.equal(requestFits({ ...REQ, user: 'u'.repeat(254) }), false);
  });

  test('replies: Accept with its group, Reject, a wrong secret, another identifier', () => {
    const { packet, authenticator } = accessRequest(9, REQ, SECRET, '127.0.0.1');
    assert.deepEqual(checkReply(reply(packet, 2, 'full'), 9, authenticator, SECRET), { kind: 'accept', group: 'full' });
    assert.deepEqual(checkReply(reply(packet, 2), 9, authenticator, SECRET), { kind: 'accept' });
    assert.deepEqual(checkReply(reply(packet, 3), 9, authenticator, SECRET), { kind: 'reject' });
    assert.deepEqual(checkReply(reply(packet, 11), 9, authenticator, SECRET), { kind: 'reject' }, 'a challenge can not be answered');
    assert.match(String(checkReply(reply(packet, 2, 'full'), 9, authenticator, Buffer.from('other'))), /Response Authenticator/);
    assert.match(String(checkReply(reply(packet, 2, 'full'), 10, authenticator, SECRET)), /another request/);
  });

  test('fuzz: truncated, bit-flipped and random replies are reasons, never throws, never an Accept', () => {
    const { packet, authenticator } = accessRequest(9, REQ, SECRET, '127.0.0.1');
    const good = reply(packet, 2, 'full');
    let seed = 12345;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    for (let i = 0; i < 5000; i++) {
      let m: Buffer;
      switch (i % 4) {
        case 0: m = good.subarray(0, rand(good.length)); break;
        case 1: m = Buffer.from(good); m[rand(m.length)]! ^= 1 << rand(8); break;
        case 2: m = randomBytes(rand(300)); if (m.length > 1) m[1] = 9; break;
        default: m = Buffer.concat([good, randomBytes(rand(40))]); m.writeUInt16BE(Math.min(m.length, good.length + rand(40)), 2);
      }
      const r = checkReply(m, 9, authenticator, SECRET);
      if (i % 4 === 3 && m.readUInt16BE(2) === good.length) continue; // padding past Length is allowed
      assert.ok(typeof r === 'string', `mutation ${i} was believed: ${m.toString('hex')}`);
    }
  });
});
