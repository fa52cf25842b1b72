// `:convert` (M-SCRIPT "Global commands", RouterOS 7.13+): a value is read in its `from=`
// format into bytes, optionally transformed (`transform=`), and written in its `to=` format.
//
//   from=  base32 base64 byte-array hex num raw url        (none: the value as the console shows it)
//   to=    base32 base64 bit-array-lsb bit-array-msb byte-array hex num raw url   (none: raw)
//   transform=  lc uc lcfirst ucfirst crlf lf reverse rot13 md5 sha512 none
//               ed25519-private-to-ed25519-public ed25519-private-to-x25519-private
//               ed25519-public-to-x25519-public x25519-private-to-x25519-public
//
// Strings of rospki are Unicode text; as bytes, text is UTF-8 unless every character fits one
// byte (then it is those bytes, so binary data read with `to=raw` converts back unchanged).

import crypto from 'node:crypto';
import { RosError } from '../errors.js';
import { RosArray, type Value } from '../menu/values.js';
import { toScriptString } from './expr.js';

export const CONVERT_FROM = ['base32', 'base64', 'byte-array', 'hex', 'num', 'raw', 'url'] as const;
export const CONVERT_TO = ['base32', 'base64', 'bit-array-lsb', 'bit-array-msb', 'byte-array', 'hex', 'num', 'raw', 'url'] as const;
export const CONVERT_TRANSFORMS = [
  'crlf', 'ed25519-private-to-ed25519-public', 'ed25519-private-to-x25519-private', 'ed25519-public-to-x25519-public',
  'lc', 'lcfirst', 'lf', 'md5', 'none', 'reverse', 'rot13', 'sha512', 'uc', 'ucfirst', 'x25519-private-to-x25519-public',
] as const;

export interface ConvertOptions {
  readonly from?: string;
  readonly to?: string;
  readonly transform?: string;
}

const invalid = (what: string): RosError => new RosError('failure', `invalid value for ${what}`);

/** Bytes of console text (see the file comment). */
export function textBytes(text: string): Buffer {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\xff]*$/.test(text) ? Buffer.from(text, 'latin1') : Buffer.from(text, 'utf8');
}

/** Console text of bytes: UTF-8 when they are valid UTF-8 with something beyond ASCII, else one character per byte. */
export function bytesText(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes);
  if (buf.some((b) => b >= 0x80)) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buf);
    } catch { /* not UTF-8 */ }
  }
  return buf.toString('latin1');
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Encode(bytes: Buffer): string {
  let out = '';
  let bits = 0, acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) { out += BASE32[(acc >>> (bits - 5)) & 31]; bits -= 5; }
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

function base32Decode(text: string): Buffer {
  const clean = text.replace(/=+$/, '').toUpperCase();
  const out: number[] = [];
  let bits = 0, acc = 0;
  for (const c of clean) {
    const v = BASE32.indexOf(c);
    if (v < 0) throw invalid('base32');
    acc = ((acc << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) { out.push((acc >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return Buffer.from(out);
}

/** A number as big-endian bytes, as few as hold it (two's complement over 8 bytes when negative). */
function numberBytes(n: number): Buffer {
  let v = BigInt.asUintN(64, BigInt(Math.trunc(n)));
  if (v === 0n) return Buffer.from([0]);
  const out: number[] = [];
  while (v > 0n) { out.unshift(Number(v & 0xffn)); v >>= 8n; }
  return Buffer.from(out);
}

function bytesNumber(bytes: Buffer): number {
  if (bytes.length > 8) throw invalid('num');
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return Number(BigInt.asIntN(64, v));
}

function decode(value: Value, from: string | undefined): Buffer {
  if (from === undefined) {
    // No format given: the value as the console shows it; an array of numbers as bytes.
    if (value instanceof RosArray) return arrayBytes(value);
    return textBytes(toScriptString(value));
  }
  const text = (): string => toScriptString(value);
  switch (from) {
    case 'raw': return textBytes(text());
    case 'base64': {
      const t = text().replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(t)) throw invalid('base64');
      return Buffer.from(t, 'base64');
    }
    case 'base32': return base32Decode(text().replace(/\s+/g, ''));
    case 'hex': {
      let t = text().replace(/\s+/g, '');
      if (!/^[0-9A-Fa-f]*$/.test(t)) throw invalid('hex');
      if (t.length % 2) t = `0${t}`;
      return Buffer.from(t, 'hex');
    }
    case 'url': {
      try {
        return textBytes(decodeURIComponent(text()));
      } catch {
        throw invalid('url');
      }
    }
    case 'num': {
      const n = typeof value === 'number' ? value : Number(text().trim());
      if (!Number.isFinite(n)) throw invalid('num');
      return numberBytes(n);
    }
    case 'byte-array': return arrayBytes(value);
  }
  throw invalid('from');
}

function arrayBytes(value: Value): Buffer {
  const items = value instanceof RosArray ? value.values() : [value];
  return Buffer.from(items.map((v) => {
    const n = typeof v === 'number' ? v : Number(toScriptString(v));
    if (!Number.isInteger(n) || n < 0 || n > 255) throw invalid('byte-array');
    return n;
  }));
}

const mapText = (bytes: Buffer, f: (s: string) => string): Buffer => textBytes(f(bytesText(bytes)));

function transform(bytes: Buffer, how: string | undefined): Buffer {
  switch (how) {
    case undefined: case 'none': return bytes;
    case 'lc': return mapText(bytes, (s) => s.toLowerCase());
    case 'uc': return mapText(bytes, (s) => s.toUpperCase());
    case 'lcfirst': return mapText(bytes, (s) => s.slice(0, 1).toLowerCase() + s.slice(1));
    case 'ucfirst': return mapText(bytes, (s) => s.slice(0, 1).toUpperCase() + s.slice(1));
    case 'reverse': return mapText(bytes, (s) => [...s].reverse().join(''));
    case 'rot13': return mapText(bytes, (s) => s.replace(/[A-Za-z]/g, (c) => {
      const base = c <= 'Z' ? 65 : 97;
      return String.fromCharCode(((c.charCodeAt(0) - base + 13) % 26) + base);
    }));
    case 'crlf': return mapText(bytes, (s) => s.replace(/\r?\n/g, '\r\n'));
    case 'lf': return mapText(bytes, (s) => s.replace(/\r\n/g, '\n'));
    case 'md5': return crypto.createHash('md5').update(bytes).digest();
    case 'sha512': return crypto.createHash('sha512').update(bytes).digest();
    case 'ed25519-private-to-ed25519-public': return publicOf('ed25519', bytes);
    case 'x25519-private-to-x25519-public': return publicOf('x25519', bytes);
    case 'ed25519-private-to-x25519-private': {
      // RFC 8032 §5.1.5: the scalar is the clamped first half of SHA-512 of the seed.
      const h = crypto.createHash('sha512').update(key32(bytes)).digest().subarray(0, 32);
      h[0] = h[0]! & 248;
      h[31] = (h[31]! & 127) | 64;
      return Buffer.from(h);
    }
    case 'ed25519-public-to-x25519-public': return edwardsToMontgomery(key32(bytes));
  }
  throw invalid('transform');
}

function key32(bytes: Buffer): Buffer {
  if (bytes.length !== 32) throw invalid('transform');
  return bytes;
}

/** Raw public key of a raw 32-byte private key (RFC 8410 PKCS#8 wrapping for node's crypto). */
function publicOf(curve: 'ed25519' | 'x25519', priv: Buffer): Buffer {
  const prefix = Buffer.from(curve === 'ed25519' ? '302e020100300506032b657004220420' : '302e020100300506032b656e04220420', 'hex');
  const key = crypto.createPrivateKey({ key: Buffer.concat([prefix, key32(priv)]), format: 'der', type: 'pkcs8' });
  const spki = crypto.createPublicKey(key).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(spki.length - 32));
}

/** RFC 7748 §4.1: u = (1 + y) / (1 - y) mod p for an Edwards25519 public key. */
function edwardsToMontgomery(pub: Buffer): Buffer {
  const p = (1n << 255n) - 19n;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? pub[i]! & 0x7f : pub[i]!);
  const inv = modPow((1n - y + p) % p, p - 2n, p);
  let u = ((1n + y) * inv) % p;
  const out = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) { out[i] = Number(u & 0xffn); u >>= 8n; }
  return out;
}

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  for (; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
  }
  return r;
}

function encode(bytes: Buffer, to: string | undefined): Value {
  switch (to) {
    case undefined: case 'raw': return bytesText(bytes);
    case 'hex': return bytes.toString('hex');
    case 'base64': return bytes.toString('base64');
    case 'base32': return base32Encode(bytes);
    // RFC 3986 §2.3: unreserved characters stay, every other byte is %XX.
    case 'url': return [...bytes].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
    case 'num': return bytesNumber(bytes);
    case 'byte-array': return RosArray.of([...bytes]);
    case 'bit-array-msb': case 'bit-array-lsb': {
      const bits: number[] = [];
      for (const b of bytes) {
        for (let i = 0; i < 8; i++) bits.push(to === 'bit-array-msb' ? (b >> (7 - i)) & 1 : (b >> i) & 1);
      }
      return RosArray.of(bits);
    }
  }
  throw invalid('to');
}

/** `:convert value from= to= transform=`. */
export function convert(value: Value, opts: ConvertOptions): Value {
  // A number converted to a number with nothing in between stays that number.
  if (opts.from === 'num' && opts.to === 'num' && (opts.transform ?? 'none') === 'none' && typeof value === 'number') return value;
  return encode(transform(decode(value, opts.from), opts.transform), opts.to);
}
