// One connection to PostgreSQL for the store (postgres.ts): connects on first use, and again after
// it was lost (PostgreSQL restarting, a network failure), never more often than every RETRY_MS,
// so a command during an outage fails at once with a clear error instead of waiting, and the
// first one after it works again. Queries are pipelined (pg's pipeline mode): a transaction's
// statements go out together and cost one round trip.
//
// Errors leave as RosErrors that say what happened without the connection's password:
// `the database is not reachable (connection refused)`, `… (password authentication failed for
// user "rospki")`. Session settings bound what a lost instance can hold: a transaction left idle
// (the instance froze) is ended by the server after IDLE_IN_TRANSACTION_MS, so the write lock
// it held is free again; TCP keepalives let the server notice a vanished peer.

import { createHash } from 'node:crypto';
import pg from 'pg';
import { RosError } from '../errors.js';

/** After a failed connection attempt, commands fail at once for this long before the next attempt. */
const RETRY_MS = 500;
/** Defaults a URL may override (`?connect_timeout=`, `?query_timeout=` in ms, pg's names). */
const CONNECT_TIMEOUT_MS = 10_000;
const QUERY_TIMEOUT_MS = 30_000;
/** Server-side limits of each session (see the top of this file). */
const IDLE_IN_TRANSACTION_MS = 10_000;
const LOCK_TIMEOUT_MS = 20_000;
/**
 * plan_cache_mode: a prepared statement always runs its generic plan (made for no particular
 * values). In the default mode PostgreSQL picks, per statement, between that plan and one made
 * for each execution's values by comparing estimated costs, and the pick does not last: while the
 * tables were small it kept the generic plan of the catch-up, then the estimate for a growing
 * table made it plan every execution (≈ 0.3 ms of the server's CPU each, several per command).
 * Every statement of the store finds its rows by key or by a range of versions, which the generic
 * plans do by index (the catch-up is written so that its generic plan does: postgres.ts).
 *
 * enable_seqscan off: a generic plan guesses ten entries in each list a batch's statement joins
 * with a table (the rows it updates, the blobs it removes), and while a table was small or not
 * analysed (up to some thousands of rows) it hashed the list and scanned the whole table at every
 * commit, the commit's largest cost. Off, a table is scanned only when no index can serve, which
 * in these statements never happens; load(), which reads everything, turns it back on. jit off:
 * the statements are small, and a plan with a disabled scan (rospki_head has one row) costs
 * enough to have each execution compiled (0.1 s).
 */
export const SESSION_SETUP = [
  'SET plan_cache_mode = force_generic_plan',
  'SET enable_seqscan = off', 'SET jit = off',
  `SET idle_in_transaction_session_timeout = ${IDLE_IN_TRANSACTION_MS}`,
  `SET lock_timeout = ${LOCK_TIMEOUT_MS}`,
  'SET tcp_keepalives_idle = 10', 'SET tcp_keepalives_interval = 5', 'SET tcp_keepalives_count = 3',
].join('; ');

/**
 * Statements that PostgreSQL plans (SELECT, WITH, INSERT, UPDATE, DELETE) are prepared once per
 * connection under a name made from their text: PostgreSQL then parses and plans each only once
 * (the store sends the same dozen statements thousands of times; parsing and planning them again
 * was a good part of the server's CPU per command). Transaction control, settings and DDL are
 * sent as they are.
 */
const statementNames = new Map<string, string>();
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) statementNames.set(text, (name = `rospki_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`));
  return name;
}
const PLANNED = /^\s*(SELECT|WITH|INSERT|UPDATE|DELETE)\b/i;

/** A query as pg takes it: named (prepared) when PostgreSQL plans it. */
function queryConfig(text: string, values: unknown[] | undefined): pg.QueryConfig {
  return PLANNED.test(text) ? { text, values: values ?? [], name: statementName(text) } : { text, values };
}

/** bigint columns (versions, ids) as numbers: they stay far below 2^53. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** The store's database could not be reached or answered with a failure: nothing was changed. */
export class StoreUnavailable extends RosError {
  constructor(readonly reason: string) {
    super('failure', `the database is not reachable (${reason})`);
  }
}

/** Socket errors: the connection is gone or could not be made. */
const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
]);

/** Whether an error means the connection is gone (as opposed to a statement's failure). */
export function connectionLost(e: unknown): boolean {
  if (e instanceof StoreUnavailable) return true;
  const err = e as { code?: string; message?: string } | undefined;
  const code = err?.code ?? '';
  // 57P01-03: the server shuts down or restarts; 08xxx: connection exceptions.
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
  if (NETWORK_CODES.has(code)) return true;
  return /Connection terminated|Query read timeout|not queryable|Client has encountered a connection error/i.test(err?.message ?? '');
}

/** A failure as the user reads it: what went wrong, never a password or a host path. */
export function reasonOf(e: unknown): string {
  const err = e as { code?: string; message?: string } | undefined;
  const code = err?.code ?? '';
  const message = err?.message ?? String(e);
  switch (code) {
    case 'ECONNREFUSED': return 'connection refused';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'host not found';
    case 'ETIMEDOUT': case 'EHOSTUNREACH': case 'ENETUNREACH': return 'host unreachable';
    case 'ECONNRESET': case 'EPIPE': return 'connection lost';
    case 'ENOENT': return 'no server at that socket';
    case '57P01': case '57P02': return 'the database server is shutting down';
    case '57P03': return 'the database server is starting up or shutting down';
    case '53300': return 'too many connections';
    case '55P03': return 'timed out waiting for another instance to finish writing';
    case '57014': return 'a statement took too long';
    case '25P03': return 'the transaction was idle too long';
    case '3D000': case '28P01': case '28000': case '42501': return message; // no such database, wrong password, no pg_hba entry, permission denied
    default: break;
  }
  if (/client password must be a string|password must be a string/i.test(message)) return 'a password is needed: give it in the URL, PGPASSWORD or ~/.pgpass';
  if (/timeout expired|Connection terminated due to connection timeout/i.test(message)) return 'connection timed out';
  if (/Query read timeout/i.test(message)) return 'no answer from the database';
  if (/Connection terminated/i.test(message)) return 'connection lost';
  if (/self[- ]signed|certificate/i.test(message)) return `TLS: ${message}`;
  // Server errors carry their own text; anything else is named by its code only.
  return code && !NETWORK_CODES.has(code) && !/^E[A-Z]+$/.test(code) ? message : code ? code.toLowerCase() : 'connection failed';
}

/** `postgres://user@host:port/db`: a store URL to show (no password, no parameters). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

export interface LinkOptions {
  url: string;
  /** Name shown in pg_stat_activity. */
  applicationName: string;
  /** Called once whenever an established connection is lost (advisory locks went with it). */
  onLost?: () => void;
  /** Pipeline mode (the store's connection); plain for LISTEN. */
  pipeline?: boolean;
}

export class PgLink {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private failedAt = 0;
  private lastFailure: StoreUnavailable | undefined;
  private closed = false;
  /** Counts connections made: a change means the session (and its locks) is new. */
  generation = 0;
  /**
   * When (performance.now()) the newest request that was answered on this session was sent: the
   * session, and the session-level locks it holds, existed at some instant after it (the sole
   * writer's lease, postgres-writers.ts).
   */
  confirmedAt = -Infinity;

  constructor(private readonly options: LinkOptions) {}

  /** The connected client, connecting first when needed (fails fast while the server is away). */
  connect(): Promise<pg.Client> {
    if (this.closed) return Promise.reject(new StoreUnavailable('the store is closed'));
    if (this.client) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    if (this.lastFailure && Date.now() - this.failedAt < RETRY_MS) return Promise.reject(this.lastFailure);
    this.connecting = this.open().finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** A statement on the connection; connection failures become StoreUnavailable. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    const client = await this.connect();
    const sentAt = performance.now();
    try {
      const result = await client.query<R>(queryConfig(text, values));
      this.confirmed(client, sentAt);
      return result;
    } catch (e) {
      throw this.translate(e, client);
    }
  }

  /**
   * Sends statements at once (one round trip) and waits for all of them: the results in order,
   * or the first failure (later ones are then moot: the transaction is aborted).
   */
  async pipeline(statements: readonly { text: string; values?: unknown[] }[]): Promise<pg.QueryResult[]> {
    const client = await this.connect();
    // pg writes each statement to the socket on its own; corked, they leave in one write, and
    // the server reads them at once instead of waking up for each.
    const stream = (client as unknown as { connection?: { stream?: { cork?(): void; uncork?(): void } } }).connection?.stream;
    const sentAt = performance.now();
    stream?.cork?.();
    let sent: Promise<pg.QueryResult>[];
    try {
      sent = statements.map((s) => client.query(queryConfig(s.text, s.values)));
    } finally {
      stream?.uncork?.();
    }
    const settled = await Promise.allSettled(sent);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw this.translate(failed.reason, client);
    this.confirmed(client, sentAt);
    return settled.map((s) => (s as PromiseFulfilledResult<pg.QueryResult>).value);
  }

  /** Sends a statement without waiting for it (ROLLBACK of a batch that changed nothing). */
  send(text: string): void {
    const client = this.client;
    if (!client) return;
    client.query(text).catch((e: unknown) => { this.translate(e, client); });
  }

  /** Drops the connection now (its transaction and locks end on the server). */
  drop(): void {
    const client = this.client;
    if (!client) return;
    this.lost(client);
    client.end().catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    if (client) await client.end().catch(() => {});
  }

  private confirmed(client: pg.Client, sentAt: number): void {
    if (client === this.client && sentAt > this.confirmedAt) this.confirmedAt = sentAt;
  }

  /** The error a caller sees; a lost connection is dropped so the next use connects again. */
  private translate(e: unknown, client: pg.Client): Error {
    if (e instanceof StoreUnavailable) return e;
    if (connectionLost(e)) {
      this.lost(client);
      return new StoreUnavailable(reasonOf(e));
    }
    return e instanceof Error ? e : new Error(String(e));
  }

  private async open(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.options.url,
      application_name: this.options.applicationName,
      types: TYPES,
      pipeline: this.options.pipeline ?? true,
      keepAlive: true,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      ...urlTimeouts(this.options.url),
    });
    // A connection error after connect is also reported through the queries it fails; without a
    // listener an 'error' event would end the process.
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(SESSION_SETUP);
    } catch (e) {
      client.end().catch(() => {});
      this.failedAt = Date.now();
      this.lastFailure = new StoreUnavailable(reasonOf(e));
      throw this.lastFailure;
    }
    if (this.closed) {
      client.end().catch(() => {});
      throw new StoreUnavailable('the store is closed');
    }
    this.lastFailure = undefined;
    this.generation++;
    this.confirmedAt = -Infinity;
    this.client = client;
    return client;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.failedAt = Date.now();
    this.lastFailure = new StoreUnavailable('connection lost');
    this.options.onLost?.();
  }
}

/** `connect_timeout` (seconds, libpq's name) and `query_timeout` (ms) given in the URL. */
function urlTimeouts(url: string): { connectionTimeoutMillis?: number; query_timeout?: number } {
  const out: { connectionTimeoutMillis?: number; query_timeout?: number } = {};
  try {
    const p = new URL(url).searchParams;
    const connect = Number(p.get('connect_timeout'));
    if (connect > 0) out.connectionTimeoutMillis = connect * 1000;
    const query = Number(p.get('query_timeout'));
    if (query > 0) out.query_timeout = query;
  } catch { /* pg reports a malformed URL itself */ }
  return out;
}
