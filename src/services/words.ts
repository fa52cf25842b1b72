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

/** Collects bytes and yields complete sentences (words decoded as UTF-8, like RouterOS 7). */
export class SentenceDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private words: string[] = [];
  private sentenceBytes = 0;

  constructor(public limits: DecoderLimits) {}

  /** Feeds bytes; returns the sentences completed by them. Throws ProtocolError. */
  push(chunk: Buffer): string[][] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: string[][] = [];
    let pos = 0;
    for (;;) {
      const head = readLength(this.buf, pos);
      if (!head) break;
      const [len, size] = head;
      if (len > this.limits.maxWord) throw new ProtocolError('word too long');
      if (this.sentenceBytes + len > this.limits.maxSentence) throw new ProtocolError('sentence too long');
      if (this.buf.length < pos + size + len) break;
      const start = pos + size;
      pos = start + len;
      if (len === 0) {
        if (this.words.length > 0) out.push(this.words);
        this.words = [];
        this.sentenceBytes = 0;
        continue;
      }
      if (this.words.length >= this.limits.maxWords) throw new ProtocolError('too many words');
      this.words.push(this.buf.toString('utf8', start, pos));
      this.sentenceBytes += len;
    }
    this.buf = pos === 0 ? this.buf : this.buf.subarray(pos);
    return out;
  }
}

function readLength(b: Buffer, pos: number): [number, number] | undefined {
  if (b.length <= pos) return undefined;
  const c = b[pos]!;
  if (c < 0x80) return [c, 1];
  if (c < 0xc0) return b.length < pos + 2 ? undefined : [((c & 0x3f) << 8) | b[pos + 1]!, 2];
  if (c < 0xe0) return b.length < pos + 3 ? undefined : [((c & 0x1f) << 16) | (b[pos + 1]! << 8) | b[pos + 2]!, 3];
  if (c < 0xf0) {
    return b.length < pos + 4 ? undefined : [((c & 0x0f) * 0x1000000) + (b[pos + 1]! << 16) + (b[pos + 2]! << 8) + b[pos + 3]!, 4];
  }
  if (c === 0xf0) return b.length < pos + 5 ? undefined : [b.readUInt32BE(pos + 1), 5];
  throw new ProtocolError('reserved control byte');
}
