// RC2 (RFC 2268) decryption in CBC mode, for reading `openssl pkcs12 -legacy` files whose
// certificates are encrypted with pbeWithSHAAnd40BitRC2-CBC (RFC 7292 Appendix C). OpenSSL 3
// (and so node:crypto) offers RC2 only through the legacy provider, which rospki does not load.
// Decryption only: rospki never writes RC2.

import { PkiError } from './errors.js';

// RFC 2268 §2: PITABLE, a permutation of 0..255 derived from the digits of pi.
const PITABLE = Buffer.from(
  'd978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2' +
  '179a59f587b34f1361456d8d09817d32bd8f40eb86b77b0bf09521225c6b4e82' +
  '54d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626' +
  '6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed7' +
  '08e8eade8052eef784aa72ac354d6a2a961ad2715a1549744b9fd05e0418a4ec' +
  'c2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731' +
  '2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a9' +
  '0d38341bab33ffb0bb480c5fb9b1cd2ec5f3db47e5a59c770aa62068fe7fc1ad',
  'hex',
);

/** RFC 2268 §2 key expansion: 64 16-bit words from `key` with `effectiveBits` effective bits. */
function expandKey(key: Uint8Array, effectiveBits: number): Uint16Array {
  const t = key.length;
  if (t < 1 || t > 128) throw new PkiError('unsupported', `RC2 key length ${t} is not supported`);
  const l = new Uint8Array(128);
  l.set(key);
  for (let i = t; i < 128; i++) l[i] = PITABLE[(l[i - 1]! + l[i - t]!) & 0xff]!;
  const t8 = Math.ceil(effectiveBits / 8);
  const tm = 0xff >> (8 * t8 - effectiveBits);
  l[128 - t8] = PITABLE[l[128 - t8]! & tm]!;
  for (let i = 127 - t8; i >= 0; i--) l[i] = PITABLE[l[i + 1]! ^ l[i + t8]!]!;
  const k = new Uint16Array(64);
  for (let i = 0; i < 64; i++) k[i] = l[2 * i]! | (l[2 * i + 1]! << 8);
  return k;
}

const ror = (x: number, s: number): number => ((x >>> s) | (x << (16 - s))) & 0xffff;

function decryptBlock(k: Uint16Array, r: Uint16Array): void {
  let j = 63;
  const mixRound = () => {
    r[3] = ror(r[3]!, 5); r[3] = (r[3]! - k[j--]! - (r[2]! & r[1]!) - (~r[2]! & r[0]!)) & 0xffff;
    r[2] = ror(r[2]!, 3); r[2] = (r[2]! - k[j--]! - (r[1]! & r[0]!) - (~r[1]! & r[3]!)) & 0xffff;
    r[1] = ror(r[1]!, 2); r[1] = (r[1]! - k[j--]! - (r[0]! & r[3]!) - (~r[0]! & r[2]!)) & 0xffff;
    r[0] = ror(r[0]!, 1); r[0] = (r[0]! - k[j--]! - (r[3]! & r[2]!) - (~r[3]! & r[1]!)) & 0xffff;
  };
  const mashRound = () => {
    r[3] = (r[3]! - k[r[2]! & 63]!) & 0xffff;
    r[2] = (r[2]! - k[r[1]! & 63]!) & 0xffff;
    r[1] = (r[1]! - k[r[0]! & 63]!) & 0xffff;
    r[0] = (r[0]! - k[r[3]! & 63]!) & 0xffff;
  };
  for (let i = 0; i < 5; i++) mixRound();
  mashRound();
  for (let i = 0; i < 6; i++) mixRound();
  mashRound();
  for (let i = 0; i < 5; i++) mixRound();
}

/**
 * RC2-CBC decryption with PKCS#7 padding removed. Throws PkiError('bad-key') on bad padding,
 * which is what a wrong password usually produces.
 */
export function rc2CbcDecrypt(key: Uint8Array, effectiveBits: number, iv: Uint8Array, data: Uint8Array): Buffer {
  if (data.length === 0 || data.length % 8 !== 0) throw new PkiError('bad-key', 'RC2 ciphertext is not a whole number of blocks');
  if (iv.length !== 8) throw new PkiError('bad-key', 'RC2 IV must be 8 bytes');
  const k = expandKey(key, effectiveBits);
  const out = Buffer.allocUnsafe(data.length);
  const r = new Uint16Array(4);
  let prev = Buffer.from(iv);
  for (let off = 0; off < data.length; off += 8) {
    for (let i = 0; i < 4; i++) r[i] = data[off + 2 * i]! | (data[off + 2 * i + 1]! << 8);
    decryptBlock(k, r);
    for (let i = 0; i < 4; i++) {
      out[off + 2 * i] = (r[i]! & 0xff) ^ prev[2 * i]!;
      out[off + 2 * i + 1] = (r[i]! >> 8) ^ prev[2 * i + 1]!;
    }
    prev = Buffer.from(data.subarray(off, off + 8));
  }
  const pad = out[out.length - 1]!;
  if (pad < 1 || pad > 8) throw new PkiError('bad-key', 'bad decrypt');
  for (let i = out.length - pad; i < out.length; i++) if (out[i] !== pad) throw new PkiError('bad-key', 'bad decrypt');
  return out.subarray(0, out.length - pad);
}
