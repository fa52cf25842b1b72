// A peer that asks without reading the answers must not fill rospki's memory with them: a
// line-based or sentence-based service (API, FTP, telnet) answers every request, and a request
// can be a few bytes while its answer is many (`/x` → `!trap … not logged in`, `NOOP` → a
// 200 line; 18× before any login). So reading from the peer waits while more than `limit`
// bytes of answers are still unsent, and goes on once they are taken ('drain'). The kernel's
// buffers and one chunk's answers come on top: bounded, whatever the peer sends.

import type net from 'node:net';

/** Unsent answers above this pause reading (one large reply fits under it). */
export const UNSENT_LIMIT = 1 << 20;

/**
 * Paces reading from `socket` by what it has not taken. Returns a check to call after writes
 * made outside a 'data' handler (replies of commands that finished later). Register it after
 * the service's own 'data' handler, so that a chunk's answers count.
 */
export function paceReading(socket: net.Socket, limit = UNSENT_LIMIT): () => void {
  let paused = false;
  const check = (): void => {
    if (!paused && socket.writableLength > limit && !socket.destroyed) {
      paused = true;
      socket.pause();
    }
  };
  socket.on('data', check);
  socket.on('drain', () => {
    if (!paused) return;
    paused = false;
    socket.resume();
  });
  return check;
}

/** What a stream the daemon writes to shows of its backlog (a socket, an SSH channel). */
interface Backlog {
  readonly writableLength: number;
  readonly destroyed: boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/**
 * Session.outputDrained for a console writing to `stream`: while more than `limit` bytes are
 * unsent, a promise that settles when they are taken (or the stream closes).
 */
export function outputDrained(stream: Backlog, limit = UNSENT_LIMIT): () => Promise<void> | undefined {
  return () => {
    if (stream.destroyed || stream.writableLength <= limit) return undefined;
    return new Promise<void>((resolve) => {
      const done = (): void => { stream.off('drain', done); stream.off('close', done); resolve(); };
      stream.once('drain', done);
      stream.once('close', done);
    });
  };
}
