// www and www-ssl: the web interface at `/` and `/webfig` (web/server.ts), REST at `/rest`
// (spec §8), the CRLs of local CAs at `/crl/<CA id>.crl` (spec §4.2), ACME HTTP-01 answers at
// `/.well-known/acme-challenge/` (RFC 8555 §8.3, issue 14) and the SCEP servers at their /scep/
// paths (spec §4.3, issue 15).

import { acmeResponder, answerHttp01, sharedHttp01Answer } from '../menus/certificate/acme-responder.js';
import { publishedCrl } from '../menus/certificate/crl-publish.js';
import { DEFAULT_SCEP_LIMITS, answerScepPath, isScepRequestPath } from '../menus/certificate/scep-http.js';
import type http from 'node:http';
import { RosError } from '../errors.js';
import type { MenuDecl, Session } from '../menu/types.js';
import type { ReadMark } from '../store/store.js';
import { RosArray, ItemId, type Value } from '../menu/values.js';
import { plainAddress } from './auth.js';
import { runCommand, splitProplist, itemArgName, type CommandInput, type CommandReply } from './commands.js';
import type { ServiceContext } from './context.js';
import type { ConnectionGate } from './gate.js';
import type { ApiRecord } from './query.js';
import { handleWeb } from './web/server.js';

const REASONS: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

/** An HTTP error as RouterOS writes it: `{"detail":…,"error":N,"message":…}` (keys alphabetical). */
class HttpError extends Error {
  constructor(readonly status: number, readonly detail?: string) {
    super(detail ?? REASONS[status] ?? String(status));
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Before answering a request whose body has not all arrived: the body is not read (it may be
 * endless), so the connection closes after the answer instead of draining it.
 */
function closeIfBodyPending(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (!req.complete && !res.headersSent) res.setHeader('Connection', 'close');
}

function sendError(res: http.ServerResponse, status: number, detail?: string): void {
  const body: Record<string, unknown> = {};
  if (detail !== undefined) body.detail = detail;
  body.error = status;
  body.message = REASONS[status] ?? 'Error';
  const headers: Record<string, string> = status === 401 ? { 'WWW-Authenticate': 'Basic realm="RouterOS"' } : {};
  sendJson(res, status, body, headers);
}

function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(html) });
  res.end(html);
}

/** What a request handler of www and www-ssl needs beyond the shared context. */
interface Front {
  ctx: ServiceContext;
  via: 'www' | 'www-ssl';
  /** Connections of this service: a request with accepted credentials makes its connection a session. */
  gate: ConnectionGate;
}

/** The request handler of www and www-ssl. */
export function httpHandler(ctx: ServiceContext, via: 'www' | 'www-ssl', gate: ConnectionGate): http.RequestListener {
  const front: Front = { ctx, via, gate };
  return (req, res) => {
    res.once('close', gate.begin(req.socket));
    handle(front, req, res).catch((e) => {
      // A RosError outside a command (the store unreachable while the login is checked: issue 17)
      // is no bug: the router cannot serve now, and says why.
      if (e instanceof RosError && !res.headersSent) {
        closeIfBodyPending(req, res);
        sendError(res, 503, e.consoleText());
        return;
      }
      ctx.internalError(e);
      closeIfBodyPending(req, res);
      if (!res.headersSent) sendError(res, 500, 'internal error');
      else res.destroy();
    });
  };
}

/**
 * `Expect: 100-continue` (RFC 9110 §10.1.1): a body over the limit is refused before the
 * client sends it; anything else is told to continue.
 */
export function checkContinue(ctx: ServiceContext, handler: http.RequestListener): http.RequestListener {
  return (req, res) => {
    if (declaredLength(req) > ctx.options.maxBodyBytes) {
      res.setHeader('Connection', 'close');
      sendError(res, 413, 'request too large');
      return;
    }
    res.writeContinue();
    handler(req, res);
  };
}

function declaredLength(req: http.IncomingMessage): number {
  const n = Number(req.headers['content-length'] ?? 0);
  return Number.isFinite(n) ? n : Infinity;
}

async function handle(front: Front, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const { ctx } = front;
  const url = req.url ?? '/';
  const qmark = url.indexOf('?');
  const rawPath = qmark < 0 ? url : url.slice(0, qmark);
  if (rawPath === '/rest' || rawPath.startsWith('/rest/')) {
    try {
      await handleRest(front, req, res, rawPath.slice(5), qmark < 0 ? '' : url.slice(qmark + 1));
    } catch (e) {
      if (e instanceof HttpError) { closeIfBodyPending(req, res); sendError(res, e.status, e.detail); return; }
      throw e;
    }
    return;
  }
  if (isScepRequestPath(rawPath)) {
    await handleScep(front, req, res, rawPath, qmark < 0 ? '' : url.slice(qmark + 1));
    return;
  }
  // The web interface (web/server.ts) at `/` and `/webfig/…`.
  if (await handleWeb({ ctx, via: front.via, gate: front.gate, since: ctx.app.store.mark() }, req, res, rawPath, qmark < 0 ? '' : url.slice(qmark + 1))) return;
  // No other page takes a body: one still arriving is not read.
  closeIfBodyPending(req, res);
  if (req.method !== 'GET' && req.method !== 'HEAD') { sendHtml(res, 405, '<h1>405 Method Not Allowed</h1>\n'); return; }
  if (rawPath.startsWith('/crl/')) {
    // Local CAs publish their CRLs at the URL written into their certificates (spec §4.2).
    const der = await publishedCrl(ctx.app, rawPath);
    if (!der) { sendHtml(res, 404, '<h1>404 Not Found</h1>\n'); return; }
    res.writeHead(200, { 'Content-Type': 'application/pkix-crl', 'Content-Length': der.length, 'Cache-Control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : der);
    return;
  }
  const acme = answerHttp01(acmeResponder(ctx.app.env), rawPath) ?? await sharedHttp01Answer(ctx.app.env, rawPath);
  if (acme !== undefined) {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(acme) });
    res.end(req.method === 'HEAD' ? undefined : acme);
    return;
  }
  sendHtml(res, 404, '<h1>404 Not Found</h1>\n');
}

// ---------------------------------------------------------------------------------------------
// SCEP (RFC 8894 §4.1): unauthenticated, so the body is bounded by the SCEP limits, not REST's

async function handleScep(front: Front, req: http.IncomingMessage, res: http.ServerResponse, path: string, query: string): Promise<void> {
  const limits = { ...DEFAULT_SCEP_LIMITS, ...front.ctx.options.scep };
  const plain = (status: number, text: string) => {
    closeIfBodyPending(req, res);
    res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  let body: Buffer | undefined;
  if (req.method === 'POST') {
    if (declaredLength(req) > limits.maxBodyBytes) { plain(413, 'message too large\n'); return; }
    try {
      body = await readBody(req, limits.maxBodyBytes);
    } catch (e) {
      if (e instanceof HttpError) { plain(e.status, `${e.detail ?? e.message}\n`); return; }
      throw e;
    }
  } else if (req.method === 'GET' || req.method === 'HEAD') {
    closeIfBodyPending(req, res);
  } else {
    plain(405, 'method not allowed\n');
    return;
  }
  const answer = await answerScepPath(front.ctx.app.env, { method: req.method, path, query, body, remote: plainAddress(req.socket.remoteAddress) }, limits);
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': answer.body.length });
  res.end(req.method === 'HEAD' ? undefined : answer.body);
}

// ---------------------------------------------------------------------------------------------
// REST

async function authenticate(front: Front, req: http.IncomingMessage, since: ReadMark): Promise<Session> {
  const { ctx, via } = front;
  const header = req.headers.authorization;
  const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!m) throw new HttpError(401);
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new HttpError(401);
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  const address = req.socket.remoteAddress ?? '';
  const result = await ctx.auth.login(user, password, address, 'rest', since);
  if (!result.ok || !result.policies.has('rest-api')) throw new HttpError(401);
  // RouterOS's web server logs into the API as the user: without `api` that fails.
  if (!result.policies.has('api')) throw new HttpError(500, 'std failure: not allowed (9)');
  // The connection becomes one of the service's max-sessions (gate.ts).
  if (front.gate.promote(req.socket) === 'full') throw new HttpError(503, 'too many sessions');
  if (result.fresh) await ctx.auth.logLogin(user, address, `${via === 'www-ssl' ? 'rest (https)' : 'rest'}`);
  return { user, policies: result.policies, stamp: result.stamp, via: 'rest', channel: 'rest-api', address: plainAddress(address), lastPrint: new Map(), width: 80 };
}

/**
 * The body, read as it streams in and refused (413) as soon as it passes the limit. Reading
 * then stops (the request is paused, not destroyed, so the 413 still goes out) and the
 * connection closes after the answer without reading the rest (closeIfBodyPending).
 */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) { chunks.push(chunk); return; }
      stop();
      req.pause();
      reject(new HttpError(413, 'request too large'));
    };
    const onEnd = () => { stop(); resolve(Buffer.concat(chunks)); };
    const onError = (e: Error) => { stop(); reject(e); };
    const onClose = () => { stop(); reject(new HttpError(400, 'request body incomplete')); };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** JSON body → object. RouterOS refuses exponents (`Failed to parse json`). */
function parseBody(req: http.IncomingMessage, body: Buffer): Record<string, unknown> {
  const text = body.toString('utf8').trim();
  if (text === '') return {};
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError(415);
  let parsed: unknown;
  try {
    if (/[0-9][eE][+-]?[0-9]/.test(text.replace(/"(?:[^"\\]|\\.)*"/g, '""'))) throw new Error('exponent');
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'Failed to parse json');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new HttpError(400, 'Failed to parse json');
  return parsed as Record<string, unknown>;
}

/** A JSON value → a command argument (strings, numbers and booleans; arrays become lists). */
function argValue(name: string, v: unknown): Value {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v === null) return '';
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) {
    return RosArray.of(v.map((x) => String(x)));
  }
  throw new RosError('argument', `invalid value for argument ${name}`);
}

/** What a request names, and when it arrived (Store.mark: every read it makes sees what was committed before). */
interface Target {
  path: string;
  menu: MenuDecl;
  rest: string[];
  since: ReadMark;
}

function resolveTarget(ctx: ServiceContext, segments: string[], since: ReadMark): Target {
  for (let i = segments.length; i >= 0; i--) {
    const path = `/${segments.slice(0, i).join('/')}`;
    const menu = ctx.app.registry.menu(path);
    if (menu) return { path, menu, rest: segments.slice(i), since };
  }
  throw new HttpError(400, `no such command or directory (${segments[0] ?? ''})`);
}

/** Runs `command` on the request's menu, its reads as of the request's arrival. */
function runOn(ctx: ServiceContext, session: Session, target: Target, command: string, input: Omit<CommandInput, 'path' | 'command' | 'since'>): Promise<CommandReply> {
  return runCommand(ctx.app, session, { ...input, path: target.path, command, since: target.since });
}

function decodeSegments(path: string): string[] {
  const parts = path.split('/').filter((s) => s !== '');
  try {
    return parts.map((s) => decodeURIComponent(s));
  } catch {
    throw new HttpError(400, 'no such command prefix');
  }
}

/**
 * Runs fn, or answers `Session closed` after restTimeoutMs (fn is told through its signal). One
 * promise and one timer per request: this runs for every REST call.
 */
function withTimeout<T>(ctx: ServiceContext, session: Session, fn: (s: Session) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { controller.abort(); reject(new HttpError(400, 'Session closed')); }, ctx.options.restTimeoutMs);
    fn({ ...session, signal: controller.signal }).then(
      (v) => { clearTimeout(timer); resolve(v); },
      (e: unknown) => { clearTimeout(timer); reject(e); },
    );
  });
}

function rosErrorStatus(e: RosError): number {
  return e.kind === 'permission' ? 500 : 400;
}

/** The one record of an item (after add/set), or 404. */
async function oneRecord(ctx: ServiceContext, session: Session, target: Target, id: number, proplist?: string[]): Promise<ApiRecord> {
  const reply = await runOn(ctx, session, target, 'print', { args: new Map([['from', new ItemId(id)]]), proplist });
  const rec = reply.records[0];
  if (!rec) throw new HttpError(404);
  return rec;
}

/** `*1A` or a name → row id; undefined when it names nothing. */
async function findItem(ctx: ServiceContext, target: Target, text: string): Promise<number | undefined> {
  return ctx.app.store.read((tx) => {
    const id = ItemId.parse(text);
    if (id) return tx.get(target.path, id.n) ? id.n : undefined;
    const key = target.menu.key;
    return key ? tx.findBy(target.path, key, text)[0]?.id : undefined;
  }, target.since);
}

async function handleRest(front: Front, req: http.IncomingMessage, res: http.ServerResponse, path: string, queryString: string): Promise<void> {
  const { ctx, via } = front;
  const method = req.method ?? 'GET';
  if (method === 'OPTIONS') throw new HttpError(503);
  // A body declared over the limit is refused before any login work.
  if (declaredLength(req) > ctx.options.maxBodyBytes) throw new HttpError(413, 'request too large');
  const since = ctx.app.store.mark();
  const session = await authenticate(front, req, since);
  const body = parseBody(req, await readBody(req, ctx.options.maxBodyBytes));
  const segments = decodeSegments(path);
  const target = resolveTarget(ctx, segments, since);
  try {
    await withTimeout(ctx, session, async (s) => {
      switch (method) {
        case 'GET': case 'HEAD': return restGet(ctx, s, target, queryString, res);
        case 'PUT': return restPut(ctx, s, target, body, req, res, via);
        case 'PATCH': return restPatch(ctx, s, target, body, res);
        case 'DELETE': return restDelete(ctx, s, target, res);
        case 'POST': return restPost(ctx, s, target, body, res);
        default: throw new HttpError(405);
      }
    });
  } catch (e) {
    if (e instanceof RosError) { sendError(res, rosErrorStatus(e), e.consoleText()); return; }
    throw e;
  }
}

async function restGet(ctx: ServiceContext, session: Session, target: Target, queryString: string, res: http.ServerResponse): Promise<void> {
  const { menu, rest } = target;
  const params = new URLSearchParams(queryString);
  let proplist: string[] | undefined;
  const filters: string[] = [];
  for (const [k, v] of params) {
    if (k === '.proplist') proplist = splitProplist(v);
    else filters.push(`?=${k}=${v}`);
  }
  if (proplist && menu.kind === 'list' && !proplist.includes('.id')) proplist = ['.id', ...proplist];
  if (menu.kind === 'dir') throw new HttpError(400, `no such command or directory (${rest[0] ?? target.path.split('/').pop()})`);
  if (rest.length === 0) {
    const reply = await runOn(ctx, session, target, 'print', { args: new Map(), query: filters, proplist });
    sendJson(res, 200, menu.kind === 'singleton' ? (reply.records[0] ?? {}) : reply.records);
    return;
  }
  if (rest.length === 1 && menu.kind === 'list') {
    const id = await findItem(ctx, target, rest[0]!);
    if (id === undefined) {
      if (ItemId.parse(rest[0]!)) throw new HttpError(404);
      if (ctx.app.registry.command(target.path, rest[0]!)) throw new HttpError(400, 'no such command');
      throw new HttpError(400, `no such command or directory (${rest[0]})`);
    }
    sendJson(res, 200, await oneRecord(ctx, session, target, id, proplist));
    return;
  }
  if (rest.length === 1 && ctx.app.registry.command(target.path, rest[0]!)) throw new HttpError(400, 'no such command');
  throw new HttpError(400, `no such command or directory (${rest[0]})`);
}

function bodyArgs(body: Record<string, unknown>): { args: Map<string, Value>; proplist?: string[]; query?: string[] } {
  const args = new Map<string, Value>();
  let proplist: string[] | undefined;
  let query: string[] | undefined;
  for (const [k, v] of Object.entries(body)) {
    if (k === '.proplist') proplist = splitProplist(v);
    else if (k === '.query') {
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new RosError('argument', 'invalid value for argument .query');
      query = v as string[];
    } else args.set(k, argValue(k, v));
  }
  return { args, proplist, query };
}

async function restPut(ctx: ServiceContext, session: Session, target: Target, body: Record<string, unknown>, req: http.IncomingMessage, res: http.ServerResponse, via: string): Promise<void> {
  if (target.menu.kind !== 'list' || target.rest.length > 0) throw new HttpError(400, 'missing or invalid resource identifier');
  const { args } = bodyArgs(body);
  const reply = await runOn(ctx, session, target, 'add', { args });
  const id = ItemId.parse(reply.ret ?? '');
  if (!id) throw new HttpError(500, 'internal error');
  const rec = await oneRecord(ctx, session, target, id.n);
  const scheme = via === 'www-ssl' ? 'https' : 'http';
  const host = String(req.headers.host ?? 'router');
  sendJson(res, 201, rec, { Location: `${scheme}://${host}/rest${target.path}/${id.toString()}` });
}

async function itemOf(ctx: ServiceContext, session: Session, target: Target, method: string): Promise<number> {
  if (target.rest.length !== 1) throw new HttpError(400, 'missing or invalid resource identifier');
  // DELETE runs `remove`: where a menu has none, RouterOS answers 406 (its REST manual: deleting
  // an interface gives {"error":406,"message":"Not Acceptable","detail":"no such command or directory (remove)"}).
  if (method === 'DELETE' && !ctx.app.registry.command(target.path, 'remove')) throw new HttpError(406, 'no such command or directory (remove)');
  if (target.menu.kind !== 'list' || !ctx.app.registry.command(target.path, method === 'PATCH' ? 'set' : 'remove') || !session.policies.has('write')) {
    throw new HttpError(400, 'missing or invalid resource identifier');
  }
  const id = await findItem(ctx, target, target.rest[0]!);
  if (id === undefined) {
    if (ItemId.parse(target.rest[0]!)) throw new HttpError(404);
    throw new HttpError(400, 'missing or invalid resource identifier');
  }
  return id;
}

async function restPatch(ctx: ServiceContext, session: Session, target: Target, body: Record<string, unknown>, res: http.ServerResponse): Promise<void> {
  const id = await itemOf(ctx, session, target, 'PATCH');
  const { args } = bodyArgs(body);
  args.delete('.id');
  args.set('numbers', new ItemId(id));
  await runOn(ctx, session, target, 'set', { args });
  sendJson(res, 200, await oneRecord(ctx, session, target, id));
}

async function restDelete(ctx: ServiceContext, session: Session, target: Target, res: http.ServerResponse): Promise<void> {
  const id = await itemOf(ctx, session, target, 'DELETE');
  await runOn(ctx, session, target, 'remove', { args: new Map([['numbers', new ItemId(id)]]) });
  res.writeHead(204);
  res.end();
}

async function restPost(ctx: ServiceContext, session: Session, target: Target, body: Record<string, unknown>, res: http.ServerResponse): Promise<void> {
  if (target.rest.length !== 1) {
    throw new HttpError(400, target.rest.length === 0 ? 'no such command' : `no such command or directory (${target.rest[0]})`);
  }
  const command = target.rest[0]!;
  const { args, proplist, query } = bodyArgs(body);
  const decl = ctx.app.registry.command(target.path, command);
  // `.id` names the items of item commands (`{".id":"*1"}` ≡ `{"numbers":"*1"}`).
  if (decl && args.has('.id') && !itemArgName(decl)) args.delete('.id');
  const reply: CommandReply = await runOn(ctx, session, target, command, { args, proplist, query });
  if (reply.records.length > 0) { sendJson(res, 200, reply.records); return; }
  if (reply.ret !== undefined) { sendJson(res, 200, { ret: reply.ret }); return; }
  sendJson(res, 200, []);
}
