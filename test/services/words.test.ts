// The API sentence decoder (spec §9.1) is linear in its input however the bytes are chunked
// (issue 11: a trickle of bytes cost seconds of CPU when every chunk re-copied the buffer).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeSentences, ProtocolError, SentenceDecoder, type DecoderLimits } from '../../src/services/words.js';

const WIDE: DecoderLimits = { maxWord: 8 * 1024 * 1024, maxSentence: 16 * 1024 * 1024, maxWords: 10_000 };

const SENTENCES = [
  ['/login', '=name=admin', '=password=secret'],
  ['/certificate/print', '=.proplist=name,common-name', '?name=ca', '.tag=7'],
  ['/file/set', `=contents=${'x'.repeat(0x90)}`, `=big=${'y'.repeat(0x4100)}`, `=bigger=${'z'.repeat(0x200100)}`],
  ['/system/identity/set', '=name=Rīga ✓ 路由器'],
];

function decodeIn(bytes: Buffer, sizes: (i: number) => number): string[][] {
  const d = new SentenceDecoder(WIDE);
  const out: string[][] = [];
  for (let pos = 0, i = 0; pos < bytes.length; i++) {
    const n = Math.max(1, sizes(i));
    out.push(...d.push(bytes.subarray(pos, pos + n)));
    pos += n;
  }
  return out;
}

test('any chunking gives the same sentences: whole, one byte, primes, UTF-8 split across chunks', () => {
  const bytes = encodeSentences(SENTENCES);
  assert.deepEqual(decodeIn(bytes, () => bytes.length), SENTENCES);
  assert.deepEqual(decodeIn(bytes.subarray(0, 200_000), () => 1), SENTENCES.slice(0, 2));
  assert.deepEqual(decodeIn(bytes, (i) => [1, 2, 3, 5, 7, 4093, 65_537][i % 7]!), SENTENCES);
  assert.deepEqual(decodeIn(bytes, (i) => 1 + ((i * 7919) % 300_000)), SENTENCES);
});

test('limits and reserved bytes still end the session, however the bytes come', () => {
  const small: DecoderLimits = { maxWord: 16, maxSentence: 40, maxWords: 3 };
  const cases: Array<[string, Buffer]> = [
    ['word too long', encodeSentences([['x'.repeat(17)]])],
    ['sentence too long', encodeSentences([['a'.repeat(16), 'b'.repeat(16), 'c'.repeat(16)]])],
    ['too many words', encodeSentences([['a', 'b', 'c', 'd']])],
    ['reserved control byte', Buffer.from([0xf8, 0, 0, 0, 0])],
  ];
  for (const [message, bytes] of cases) {
    for (const step of [1, bytes.length]) {
      const d = new SentenceDecoder(small);
      assert.throws(() => {
        for (let pos = 0; pos < bytes.length; pos += step) d.push(bytes.subarray(pos, pos + step));
      }, (e) => e instanceof ProtocolError && e.message === message, `${message} in chunks of ${step}`);
    }
  }
});

test('a 1 MiB word trickled one byte per chunk costs bounded CPU (linear, not quadratic)', () => {
  const word = `=contents=${'q'.repeat(1024 * 1024)}`;
  const bytes = encodeSentences([['/file/set', word]]);
  const d = new SentenceDecoder(WIDE);
  // A quadratic decoder copies ~5·10^11 bytes here; a linear one ~10^6. The bound is ~50×
  // what the linear one needs on a loaded machine, and the loop stops as soon as it is passed.
  const boundMicros = 3_000_000;
  const start = process.cpuUsage();
  const spent = () => { const u = process.cpuUsage(start); return u.user + u.system; };
  let got: string[][] = [];
  for (let pos = 0; pos < bytes.length; pos++) {
    got = got.concat(d.push(bytes.subarray(pos, pos + 1)));
    if ((pos & 0xfff) === 0 && spent() > boundMicros) assert.fail(`over ${boundMicros / 1e6} s of CPU after ${pos} of ${bytes.length} bytes`);
  }
  assert.ok(spent() <= boundMicros);
  assert.equal(got.length, 1);
  assert.equal(got[0]![1], word);
});
