// RouterOS API word framing (spec §9.1): a word is a length prefix (1–5 bytes) and bytes; a
// sentence is words ending with an empty word. The decoder is incremental and bounded: a word
// or sentence over the limits, or a reserved control byte (≥ 0xF8), is a protocol error.

export class ProtocolError extends Error {}

export function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x4000) return Buffer.from([(n >> 8) | 0x80, n & 0xff]);
  if (n < 0x200000) return Buffer.from([(n >> 16) | 0xc0, (n >> 8) & 0xff, n & 0xff]);
  if (n < 0x10000000) return Buffer.from([((n >>> 24) & 0xff) | 0xe0, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0xf0;
  b.writeUInt32BE(n, 1);
  return b;
}

function lengthPrefix(n: number): string {
  const c = String.fromCharCode;
  if (n < 0x80) return c(n);
  if (n < 0x4000) return c((n >> 8) | 0x80, n & 0xff);
  if (n < 0x200000) return c((n >> 16) | 0xc0, (n >> 8) & 0xff, n & 0xff);
  if (n < 0x10000000) return c(((n >>> 24) & 0xff) | 0xe0, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  return c(0xf0, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * Several sentences in one buffer (a print of 1,000 rows is one write). Built as one latin1
 * string (a byte per char) and converted once: far cheaper than a native call per word.
 */
export function encodeSentences(sentences: ReadonlyArray<readonly string[]>): Buffer {
  let out = '';
  for (const words of sentences) {
    for (const w of words) {
      const bytes = ASCII.test(w) ? w : Buffer.from(w, 'utf8').toString('latin1');
      out += lengthPrefix(bytes.length) + bytes;
    }
    out += '\0';
  }
  return Buffer.from(out, 'latin1');
}

export function encodeSentence(words: readonly string[]): Buffer {
  return encodeSentences([words]);
}

export interface DecoderLimits {
  /** Longest word accepted, bytes. */
  maxWord: number;
  /** Most bytes in one sentence (all words). */
  maxSentence: number;
  /** Most words in one sentence. */
  maxWords: number;
}

/** A word's buffer starts at most this big and doubles as bytes arrive (memory follows input). */
const FIRST_WORD_BUFFER = 64 * 1024;

/**
 * Collects bytes and yields complete sentences (words decoded as UTF-8, like RouterOS 7).
 * Linear in its input however it is chunked: every byte is copied at most once into the word
 * it belongs to (plus the doubling of a large word's buffer), so a client trickling a byte at
 * a time costs no more CPU than one sending it whole.
 */
export class SentenceDecoder {
  /** Length prefix bytes seen so far (at most 5). */
  private readonly head = Buffer.alloc(5);
  private headLength = 0;
  /** The word being filled, when its bytes span chunks. */
  private word: Buffer | undefined;
  private wordLength = 0;
  private filled = 0;
  private words: string[] = [];
  private sentenceBytes = 0;

  constructor(public limits: DecoderLimits) {}

  /** Feeds bytes; returns the sentences completed by them. Throws ProtocolError. */
  push(chunk: Buffer): string[][] {
    const out: string[][] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.word) {
        pos = this.fill(chunk, pos);
        continue;
      }
      this.head[this.headLength++] = chunk[pos++]!;
      const size = prefixSize(this.head[0]!);
      if (this.headLength < size) continue;
      const len = lengthOf(this.head, size);
      this.headLength = 0;
      if (len === 0) {
        if (this.words.length > 0) out.push(this.words);
        this.words = [];
        this.sentenceBytes = 0;
        continue;
      }
      if (len > this.limits.maxWord) throw new ProtocolError('word too long');
      if (this.sentenceBytes + len > this.limits.maxSentence) throw new ProtocolError('sentence too long');
      if (this.words.length >= this.limits.maxWords) throw new ProtocolError('too many words');
      this.sentenceBytes += len;
      if (chunk.length - pos >= len) {
        // The whole word is in this chunk: no copy at all.
        this.words.push(chunk.toString('utf8', pos, pos + len));
        pos += len;
        continue;
      }
      this.word = Buffer.allocUnsafe(Math.min(len, FIRST_WORD_BUFFER));
      this.wordLength = len;
      this.filled = 0;
    }
    return out;
  }

  /** Copies bytes of the pending word from chunk at pos; returns the new position. */
  private fill(chunk: Buffer, pos: number): number {
    let word = this.word!;
    const n = Math.min(this.wordLength - this.filled, chunk.length - pos);
    if (this.filled + n > word.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.wordLength, Math.max(word.length * 2, this.filled + n)));
      word.copy(grown, 0, 0, this.filled);
      word = this.word = grown;
    }
    chunk.copy(word, this.filled, pos, pos + n);
    this.filled += n;
    if (this.filled === this.wordLength) {
      this.words.push(word.toString('utf8', 0, this.wordLength));
      this.word = undefined;
    }
    return pos + n;
  }
}

/** How many bytes the length prefix starting with c has (spec §9.1). */
function prefixSize(c: number): number {
  if (c < 0x80) return 1;
  if (c < 0xc0) return 2;
  if (c < 0xe0) return 3;
  if (c < 0xf0) return 4;
  if (c === 0xf0) return 5;
  throw new ProtocolError('reserved control byte');
}

/** The word length a complete prefix of `size` bytes encodes. */
function lengthOf(h: Buffer, size: number): number {
  switch (size) {
    case 1: return h[0]!;
    case 2: return ((h[0]! & 0x3f) << 8) | h[1]!;
    case 3: return ((h[0]! & 0x1f) << 16) | (h[1]! << 8) | h[2]!;
    case 4: return ((h[0]! & 0x0f) * 0x1000000) + (h[1]! << 16) + (h[2]! << 8) + h[3]!;
    default: return h.readUInt32BE(1);
  }
}
