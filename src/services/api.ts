// The binary API session (spec §9) on api (TCP) and api-ssl (TLS): /login, commands with
// `=arg=value`, `.tag`, `=.proplist=`, `?` queries, /cancel, /quit; several tagged commands in
// flight on one connection. Replies `!re`, `!done`, `!trap`, `!fatal`, and `!empty` for a print
// with no rows (RouterOS 7.18+).

import type net from 'node:net';
import { RosError, ErrorCategory } from '../errors.js';
import type { Session } from '../menu/types.js';
import type { Value } from '../menu/values.js';
import type { ServiceContext } from './context.js';
import type { ConnectionGate } from './gate.js';
import { outputDrained, paceReading } from './pacing.js';
import { runCommand } from './commands.js';
import { ProtocolError, SentenceDecoder, encodeSentence, encodeSentences, type DecoderLimits } from './words.js';

/** Before login only a short /login fits. */
const LOGIN_LIMITS: DecoderLimits = { maxWord: 4096, maxSentence: 16 * 1024, maxWords: 16 };
/** After login: large enough for file contents, bounded all the same. */
const SESSION_LIMITS: DecoderLimits = { maxWord: 8 * 1024 * 1024, maxSentence: 16 * 1024 * 1024, maxWords: 10_000 };
/** Commands of one connection running at once. */
const MAX_IN_FLIGHT = 64;

interface InFlight {
  controller: AbortController;
  /**
   * Set when /cancel interrupted it: its `!trap interrupted` went out with the /cancel's reply,
   * so when it ends only its `!done` follows (or its own other failure, then `!done`).
   */
  cancelled: boolean;
}

/**
 * One API connection. Until `/login` succeeds it is a waiting connection of `gate` (closed
 * after loginTimeoutMs, see gate.ts); then a session, closed after idleTimeoutMs of silence.
 */
export function serveApiConnection(socket: net.Socket, ctx: ServiceContext, via: 'api' | 'api-ssl', gate: ConnectionGate): void {
  const address = socket.remoteAddress ?? '';
  const decoder = new SentenceDecoder(LOGIN_LIMITS);
  let session: Session | undefined;
  let loggingIn = false;
  let closed = false;
  let failures = 0;
  const inFlight = new Map<string, InFlight>();
  let untagged = 0;

  socket.setNoDelay(true);
  socket.on('timeout', () => socket.destroy());
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    for (const f of inFlight.values()) f.controller.abort();
  });

  /** Set once the data handler is (paceReading after it); checks unsent answers after a write. */
  let pace = (): void => {};
  const send = (words: string[], tag?: string): void => {
    if (closed || socket.destroyed) return;
    if (tag !== undefined && tag !== '') words.push(`.tag=${tag}`);
    socket.write(encodeSentence(words));
    pace();
  };
  const trap = (e: unknown, tag: string | undefined): void => {
    const err = e instanceof RosError ? e : undefined;
    if (!err) ctx.internalError(e);
    const message = err ? err.consoleText() : 'failure: internal error';
    const category = err ? err.category : ErrorCategory.General;
    send(['!trap', `=category=${category}`, `=message=${message}`], tag);
    send(['!done'], tag);
  };
  const fatal = (message: string): void => {
    send(['!fatal', message]);
    closed = true;
    socket.end();
  };

  socket.on('data', (chunk: Buffer) => {
    let sentences: string[][];
    try {
      sentences = decoder.push(chunk);
    } catch (e) {
      if (e instanceof ProtocolError) { fatal(e.message); return; }
      throw e;
    }
    for (const s of sentences) handle(s);
  });
  // Answers the peer does not read pause reading (pacing.ts); replies sent later check too.
  pace = paceReading(socket);

  function handle(words: string[]): void {
    if (closed) return;
    const [first, ...rest] = words as [string, ...string[]];
    // The tag first, wherever it stands: every reply to the sentence carries it, a trap too.
    const tagWord = rest.filter((w) => w.startsWith('.tag=')).pop();
    const tag = tagWord?.slice(5);
    const args = new Map<string, Value>();
    const query: string[] = [];
    for (const w of rest) {
      if (w.startsWith('=')) {
        const eq = w.indexOf('=', 1);
        if (eq < 0) args.set(w.slice(1), '');
        else args.set(w.slice(1, eq), w.slice(eq + 1));
      } else if (w.startsWith('.tag=')) continue;
      else if (w.startsWith('?')) query.push(w);
      else { trap(new RosError('argument', `unknown word ${w.slice(0, 64)}`, ErrorCategory.Api), tag); return; }
    }
    if (!first.startsWith('/')) { trap(new RosError('argument', 'no such command', ErrorCategory.MissingItem), tag); return; }
    if (first === '/quit') { fatal('session terminated on request'); return; }
    if (first === '/login') { void login(args, tag); return; }
    if (!session) { trap(new RosError('failure', 'not logged in', ErrorCategory.Api), tag); return; }
    if (first === '/cancel') { cancel(args.get('tag'), tag); return; }
    const key = tag !== undefined && tag !== '' ? `t:${tag}` : `u:${untagged++}`;
    if (inFlight.size >= MAX_IN_FLIGHT) { trap(new RosError('failure', 'too many commands in flight', ErrorCategory.Api), tag); return; }
    if (inFlight.has(key)) { trap(new RosError('failure', 'a command with this tag is running', ErrorCategory.Api), tag); return; }
    const slash = first.lastIndexOf('/');
    const path = slash <= 0 ? '/' : first.slice(0, slash);
    const command = first.slice(slash + 1);
    const flight: InFlight = { controller: new AbortController(), cancelled: false };
    inFlight.set(key, flight);
    const record = (rec: Readonly<Record<string, string>>): string[] => ['!re', ...Object.entries(rec).map(([k, v]) => `=${k}=${v}`)];
    void (async () => {
      try {
        // A monitor's states go out as they come (spec §9.3), until it is cancelled.
        const streamed = (rec: Readonly<Record<string, string>>) => { if (!flight.cancelled) send(record(rec), tag); };
        const reply = await runCommand(ctx.app, { ...session!, signal: flight.controller.signal }, { path, command, args, query }, streamed);
        if (closed) return;
        if (flight.cancelled) { send(['!done'], tag); return; }
        // One write for the whole reply: a print of 1,000 rows is 1,000 sentences.
        const parts: string[][] = [];
        const add = (words: string[]) => {
          if (tag !== undefined && tag !== '') words.push(`.tag=${tag}`);
          parts.push(words);
        };
        for (const rec of reply.records) add(record(rec));
        if (reply.isPrint && reply.records.length === 0 && reply.ret === undefined) add(['!empty']);
        add(reply.ret !== undefined ? ['!done', `=ret=${reply.ret}`] : ['!done']);
        if (!socket.destroyed) { socket.write(encodeSentences(parts)); pace(); }
      } catch (e) {
        // Cancelled: its interruption was reported with the /cancel; any other failure follows.
        if (flight.cancelled && e instanceof RosError && e.kind === 'interrupted') send(['!done'], tag);
        else trap(e, tag);
      } finally {
        inFlight.delete(key);
      }
    })();
  }

  /**
   * `/cancel [=tag=X]`, in RouterOS's order (librouteros docs/api_analysis.rst, "Canceling
   * listen" and "Canceling fetch"): the cancelled command's `!trap =category=2
   * =message=interrupted`, then the /cancel's own `!done`, then — when the cancelled command has
   * stopped — its `!done`. Until then its tag stays in use.
   */
  function cancel(target: Value, tag: string | undefined): void {
    const targets = target === undefined
      ? [...inFlight.entries()]
      : [...inFlight.entries()].filter(([key]) => key === `t:${String(target)}`);
    if (target !== undefined && targets.length === 0) {
      trap(new RosError('argument', 'unknown command tag', ErrorCategory.ArgumentValue), tag);
      return;
    }
    for (const [key, f] of targets) {
      if (f.cancelled) continue;
      f.cancelled = true;
      f.controller.abort();
      send(['!trap', `=category=${ErrorCategory.Interrupted}`, '=message=interrupted'], key.startsWith('t:') ? key.slice(2) : undefined);
    }
    send(['!done'], tag);
  }

  /**
   * `/login`, also on a session: a wrong one traps (and counts towards the three that end the
   * connection) and leaves the session as it was; a right one makes the session that user's.
   */
  async function login(args: Map<string, Value>, tag: string | undefined): Promise<void> {
    if (loggingIn) { trap(new RosError('failure', 'login in progress', ErrorCategory.Api), tag); return; }
    loggingIn = true;
    try {
      const name = String(args.get('name') ?? '');
      const password = String(args.get('password') ?? '');
      const result = name === '' ? { ok: false as const } : await ctx.auth.login(name, password, address, via === 'api-ssl' ? 'api-ssl' : 'api');
      if (closed) return;
      if (!result.ok || !result.policies.has('api')) {
        failures++;
        send(['!trap', '=message=invalid user name or password (6)'], tag);
        send(['!done'], tag);
        if (failures >= 3) fatal('too many login failures');
        return;
      }
      const admitted = gate.promote(socket);
      if (admitted === 'full') { trap(new RosError('failure', 'too many sessions', ErrorCategory.Api), tag); return; }
      if (admitted === 'unknown') { socket.destroy(); return; } // its time ran out meanwhile
      await ctx.auth.logLogin(name, address, via);
      session = {
        user: name, policies: result.policies, stamp: result.stamp, via: 'api', channel: 'api', address, lastPrint: new Map(), width: 80,
        // A listen sends nothing more while the client has not taken what it sent (follow.ts).
        outputDrained: outputDrained(socket),
      };
      decoder.limits = SESSION_LIMITS;
      socket.setTimeout(ctx.options.idleTimeoutMs);
      send(['!done'], tag);
    } catch (e) {
      trap(e, tag);
    } finally {
      loggingIn = false;
    }
  }
}
