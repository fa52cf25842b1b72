// The web interface on www and www-ssl (issue 16): WebFig for certificates. Server-side HTML
// pages under /webfig, a small script that only adds live progress and auto-submitting filters,
// no framework and nothing loaded from elsewhere. Every change is a command run by the executor
// with a Session of channel `web`, exactly as REST, the API and the console run it; the page only
// hides what the user's live policies cannot do, and the executor refuses it anyway.
//
// Requests:
//   GET  /webfig/.static/<asset>           the stylesheet and the script (no login)
//   GET  /, /webfig/.login                 login page;  POST /webfig/.login: log in
//   POST /webfig/.logout                   end the session
//   GET  /webfig/<menu path>               a list (table), a singleton (its form) or a directory
//        ?item=*ID                         one item: what print detail shows, its edit form, its commands
//        ?run=<command>[&numbers=*ID]      a command's form (remove: what else it removes)
//        ?result=1                         the outcome of the last command (summary, files to download)
//   POST /webfig/<menu path>?run=<command> run it (303 to the outcome; with `Accept:
//                                          application/x-ndjson`, progress lines first)
//   GET  /webfig/.download?name=<file>     a /file entry (read + ftp; a private key also sensitive)
//   POST /webfig/.upload                   into /file (write + ftp)
//
// Changes are refused unless the request carries the session's CSRF token and comes from this
// page's origin (Origin, else Referer, must match the Host it was sent to; Sec-Fetch-Site must not
// say cross-site); the session cookie is HttpOnly and SameSite=Strict (and Secure with the
// __Host- prefix on www-ssl).

import fs from 'node:fs';
import type http from 'node:http';
import { RosError } from '../../errors.js';
import { effectivePolicies, logFileRefusal } from '../../menu/executor.js';
import { UnsafeFileName } from '../../store/files.js';
import type { ReadMark } from '../../store/store.js';
import { holdsSecret } from '../../menu/secret-files.js';
import { removalEffects, resolveItems, typeContext } from '../../menu/generic.js';
import { detailModel, tableModel } from '../../menu/render.js';
import { boolType } from '../../menu/proptypes.js';
import type { CommandDecl, CommandResult, MenuDecl, Policy, PrintOutput, Session } from '../../menu/types.js';
import { ItemId, RosArray, valueToString, type Value } from '../../menu/values.js';
import { fileFailure } from '../ssh-files.js';
import { plainAddress } from '../auth.js';
import type { ServiceContext } from '../context.js';
import type { ConnectionGate } from '../gate.js';
import { errorField, formArgs, isItemsArg, type FieldState } from './forms.js';
import { esc, menuUrl, page, query, STATIC } from './html.js';
import {
  commandButtons, commandForm, detailView, formArgsOf, isItemCommand, listQuery, listTable, loginForm, menuLinks, offered, pairs, removalNotice,
} from './pages.js';
import { csrfMatches, parseCookies, sessionCookie, COOKIE_NAME, WebSessions, type WebSession } from './sessions.js';

export interface WebFront {
  ctx: ServiceContext;
  via: 'www' | 'www-ssl';
  gate: ConnectionGate;
  /** When the request arrived (Store.mark): its reads see what was committed before. */
  since: ReadMark;
}

/** A login form's body is small; nothing larger is read before a session exists. */
const MAX_LOGIN_BODY = 4096;

/** One store of sessions per running service set (www and www-ssl share it; cookies do not mix). */
const SESSIONS = new WeakMap<ServiceContext, WebSessions>();
export function webSessions(ctx: ServiceContext): WebSessions {
  let s = SESSIONS.get(ctx);
  if (!s) { s = new WebSessions(); SESSIONS.set(ctx, s); }
  return s;
}

/** What a POST leaves for the page it redirects to: shown once, on that page only. */
interface Flash {
  url: string;
  ok?: string;
  error?: string;
  /** The field the error names, and what the form held (sensitive values never kept). */
  field?: string;
  values?: Record<string, string>;
  result?: { title: string; back: string; block?: Array<[string, string]>; messages?: string[]; ret?: string; files?: string[] };
}
const FLASH = new WeakMap<WebSession, Flash>();

// ---------------------------------------------------------------------------------------------
// Static assets: files of the repository (src/services/web/static), found from src/ (tsx) and dist/.

const ASSET_TYPES: Record<string, string> = { 'web.css': 'text/css; charset=utf-8', 'web.js': 'text/javascript; charset=utf-8' };
let assetCache: Map<string, Buffer> | undefined;
function asset(name: string): Buffer | undefined {
  if (!assetCache) {
    assetCache = new Map();
    const dirs = [new URL('./static/', import.meta.url), new URL('../src/services/web/static/', import.meta.url)];
    for (const n of Object.keys(ASSET_TYPES)) {
      for (const d of dirs) {
        try { assetCache.set(n, fs.readFileSync(new URL(n, d))); break; } catch { /* next place */ }
      }
    }
  }
  return assetCache.get(name);
}

// ---------------------------------------------------------------------------------------------
// Responses

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

/**
 * Answers. A body that has not all been read (a refused or unauthenticated POST) is never read:
 * the connection closes after the answer instead.
 */
function send(res: http.ServerResponse, status: number, body: string | Buffer, type = 'text/html; charset=utf-8', headers: Record<string, string | string[]> = {}): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  if (res.req && !res.req.complete) headers = { ...headers, Connection: 'close' };
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': bytes.length, ...headers });
  res.end(res.req?.method === 'HEAD' ? undefined : bytes);
}

function redirect(res: http.ServerResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  if (res.req && !res.req.complete) headers = { ...headers, Connection: 'close' };
  res.writeHead(303, { ...SECURITY_HEADERS, Location: location, 'Content-Length': 0, ...headers });
  res.end();
}

/** Only paths of this page are followed after login (never another site). */
function safeNext(next: string | null | undefined): string {
  return next && /^\/webfig\/[^\\]*$/.test(next) && !next.startsWith('//') ? next : '/webfig/';
}

// ---------------------------------------------------------------------------------------------
// Bodies

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) { resolve(undefined); return; }
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) { req.pause(); req.removeAllListeners('data'); resolve(undefined); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A form body (urlencoded or multipart) as FormData; undefined when too large or malformed. */
async function readForm(req: http.IncomingMessage, limit: number): Promise<FormData | undefined> {
  const body = await readBody(req, limit);
  if (!body) return undefined;
  const type = String(req.headers['content-type'] ?? 'application/x-www-form-urlencoded');
  try {
    return await new Request('http://web/', { method: 'POST', headers: { 'content-type': type }, body: new Uint8Array(body) }).formData();
  } catch {
    return undefined;
  }
}

const formText = (form: FormData, name: string): string | undefined => {
  const v = form.get(name);
  return typeof v === 'string' ? v : undefined;
};

/**
 * Whether a changing request comes from this page (RFC 6454 origin of the page that sent it):
 * Origin, else the Referer's origin, must be this service's scheme and the Host asked for.
 */
function sameOrigin(front: WebFront, req: http.IncomingMessage): boolean {
  if (req.headers['sec-fetch-site'] !== undefined && !['same-origin', 'none'].includes(String(req.headers['sec-fetch-site']))) return false;
  const expected = `${front.via === 'www-ssl' ? 'https' : 'http'}://${String(req.headers.host ?? '')}`;
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') return origin === expected;
  const referer = req.headers.referer;
  if (typeof referer !== 'string') return false;
  try { return new URL(referer).origin === expected; } catch { return false; }
}

// ---------------------------------------------------------------------------------------------
// Entry

/** Serves a request for `/` or `/webfig…`; false when the path is not the web page's. */
export async function handleWeb(front: WebFront, req: http.IncomingMessage, res: http.ServerResponse, rawPath: string, queryString: string): Promise<boolean> {
  if (rawPath !== '/' && rawPath !== '/index.html' && rawPath !== '/webfig' && !rawPath.startsWith('/webfig/')) return false;
  const method = req.method ?? 'GET';
  const params = new URLSearchParams(queryString);
  if (rawPath.startsWith(`${STATIC}/`)) {
    const name = rawPath.slice(STATIC.length + 1);
    const body = ASSET_TYPES[name] ? asset(name) : undefined;
    if (!body || (method !== 'GET' && method !== 'HEAD')) { send(res, 404, '<h1>404 Not Found</h1>'); return true; }
    send(res, 200, body, ASSET_TYPES[name], { 'Cache-Control': 'public, max-age=300' });
    return true;
  }
  const { ctx, via } = front;
  const address = plainAddress(req.socket.remoteAddress);
  const sessions = webSessions(ctx);
  const cookie = parseCookies(req.headers.cookie).get(COOKIE_NAME[via]);
  if (rawPath === '/webfig/.login' && method === 'POST') { await login(front, req, res); return true; }
  let ws = sessions.get(cookie, via, address);
  let live: ReadonlySet<Policy> | undefined;
  if (ws) {
    live = await ctx.app.store.read((tx) => effectivePolicies(ctx.app.env, tx, sessionOf(ws!)), front.since);
    // A password change, a disabled user or a lost `web` policy ends the session (credential stamp).
    if (live.size === 0) { sessions.end(cookie); ws = undefined; }
  }
  if (!ws || !live) {
    if (method === 'GET' || method === 'HEAD') {
      if (rawPath === '/' || rawPath === '/index.html' || rawPath === '/webfig/.login') {
        await sendLogin(front, res, 200, { next: safeNext(params.get('next')), error: cookie ? 'Your session has ended; log in again.' : undefined });
      } else {
        redirect(res, `/webfig/.login${query({ next: `${rawPath}${queryString ? `?${queryString}` : ''}` })}`);
      }
      return true;
    }
    send(res, 403, page({ title: 'Forbidden', identity: await ctx.app.identity(), plain: via === 'www', body: '<h1>Not logged in</h1><p><a href="/webfig/.login">Log in</a></p>' }), undefined, { Connection: 'close' });
    return true;
  }
  // A logged-in browser's connection is one of the service's sessions (max-sessions, gate.ts).
  if (front.gate.promote(req.socket) === 'full') {
    send(res, 503, '<h1>503 Service Unavailable</h1><p>too many sessions</p>', undefined, { Connection: 'close' });
    return true;
  }
  const user: User = { ws, policies: live, cookie: cookie! };
  if (method === 'POST') {
    if (!sameOrigin(front, req)) { await refuse(front, res, user, 'the request did not come from this page (cross-origin)'); return true; }
    const form = await readForm(req, ctx.options.maxBodyBytes);
    if (!form) { await refuse(front, res, user, 'request too large or malformed', 413); return true; }
    const token = formText(form, '_csrf') ?? (typeof req.headers['x-csrf-token'] === 'string' ? req.headers['x-csrf-token'] : undefined);
    if (!csrfMatches(ws, token)) { await refuse(front, res, user, 'the form is out of date or forged (CSRF token missing or wrong); reload the page'); return true; }
    if (rawPath === '/webfig/.logout') {
      sessions.end(cookie);
      redirect(res, '/webfig/.login', { 'Set-Cookie': sessionCookie(via, '') });
      return true;
    }
    if (rawPath === '/webfig/.upload') { await upload(front, res, user, form); return true; }
    const menu = menuOf(front, rawPath);
    const command = params.get('run');
    if (!menu || !command) { send(res, 404, '<h1>404 Not Found</h1>'); return true; }
    await runFromForm(front, req, res, user, menu, command, params, form);
    return true;
  }
  if (method !== 'GET' && method !== 'HEAD') { send(res, 405, '<h1>405 Method Not Allowed</h1>'); return true; }
  if (rawPath === '/webfig/.download') { await download(front, res, user, params.get('name') ?? ''); return true; }
  if (rawPath === '/' || rawPath === '/index.html' || rawPath === '/webfig' || rawPath === '/webfig/' || rawPath === '/webfig/.login') {
    redirect(res, '/webfig/certificate');
    return true;
  }
  if (rawPath === '/webfig/.menus') { await menusPage(front, res, user); return true; }
  const menu = menuOf(front, rawPath);
  if (!menu) { await show(front, res, user, 404, 'Not found', '<h1>No such menu</h1>'); return true; }
  await menuPage(front, res, user, menu, params, `${rawPath}${queryString ? `?${queryString}` : ''}`);
  return true;
}

interface User {
  ws: WebSession;
  /** Policies now (the executor's live view): what the page offers. */
  policies: ReadonlySet<Policy>;
  cookie: string;
}

function sessionOf(ws: WebSession, extra: Partial<Session> = {}): Session {
  return { user: ws.user, policies: ws.policies, stamp: ws.stamp, via: 'web', channel: 'web', address: ws.address, lastPrint: ws.lastPrint, width: 80, ...extra };
}

function menuOf(front: WebFront, rawPath: string): MenuDecl | undefined {
  let path: string;
  try { path = decodeURIComponent(rawPath.slice('/webfig'.length)) || '/'; } catch { return undefined; }
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return front.ctx.app.registry.menu(path);
}

function mayRun(user: User, command: CommandDecl): boolean {
  const required = typeof command.policy === 'string' ? [command.policy] : command.policy;
  return required.every((p) => user.policies.has(p));
}

/** The side menu: the certificate menus (and whatever lands below /certificate), files, services, all menus. */
function nav(front: WebFront, current: string): Array<{ href: string; label: string; current: boolean }> {
  const { registry } = front.ctx.app;
  const paths = ['/certificate', ...registry.children('/certificate').map((c) => `/certificate/${c}`), '/file', '/ip/service'];
  const links = paths.filter((p) => registry.menu(p)).map((p) => ({ href: menuUrl(p), label: p.slice(1), current: p === current }));
  links.push({ href: '/webfig/.menus', label: 'all menus', current: current === '.menus' });
  return links;
}

async function show(front: WebFront, res: http.ServerResponse, user: User, status: number, title: string, body: string, current = '', flash?: Flash): Promise<void> {
  const flashBox = flash?.ok ? { kind: 'ok' as const, text: flash.ok } : flash?.error && !flash.field ? { kind: 'error' as const, text: flash.error } : undefined;
  send(res, status, page({
    title, identity: await front.ctx.app.identity(), plain: front.via === 'www', flash: flashBox, body,
    user: { name: user.ws.user, csrf: user.ws.csrf, nav: nav(front, current) },
  }));
}

async function refuse(front: WebFront, res: http.ServerResponse, user: User, why: string, status = 403): Promise<void> {
  await show(front, res, user, status, 'Refused', `<h1>Refused</h1><p class="err" role="alert">${esc(why)}</p>`);
}

/** The flash left for this URL, taken once. */
function takeFlash(ws: WebSession, url: string): Flash | undefined {
  const f = FLASH.get(ws);
  if (!f || f.url !== url) return undefined;
  FLASH.delete(ws);
  return f;
}

// ---------------------------------------------------------------------------------------------
// Login

async function sendLogin(front: WebFront, res: http.ServerResponse, status: number, opts: { next: string; error?: string; user?: string }): Promise<void> {
  const identity = await front.ctx.app.identity();
  send(res, status, page({
    title: 'RouterOS router configuration page', identity, plain: front.via === 'www',
    body: `<div class="login-box"><p class="lead">${esc(identity)}: certificates, files and services of this RouterOS-compatible router (rospki). REST stays at <code>/rest</code>.</p>${loginForm(opts)}</div>`,
  }));
}

async function login(front: WebFront, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const { ctx, via } = front;
  if (!sameOrigin(front, req)) { await sendLogin(front, res, 403, { next: '/webfig/', error: 'The login did not come from this page (cross-origin).' }); return; }
  const form = await readForm(req, MAX_LOGIN_BODY);
  if (!form) { await sendLogin(front, res, 413, { next: '/webfig/', error: 'request too large' }); return; }
  const user = formText(form, 'user') ?? '';
  const next = safeNext(formText(form, 'next'));
  const address = req.socket.remoteAddress ?? '';
  // The Authenticator checks the password, the user's address list and the lockout, and slows failures.
  const result = await ctx.auth.login(user, formText(form, 'password') ?? '', address, 'web');
  if (!result.ok) { await sendLogin(front, res, 401, { next, user, error: 'Login failed: incorrect user name or password.' }); return; }
  if (!result.policies.has('web')) { await sendLogin(front, res, 403, { next, user, error: 'Login failed: this user may not use the web interface (policy web).' }); return; }
  if (front.gate.promote(req.socket) === 'full') { send(res, 503, '<h1>503 Service Unavailable</h1><p>too many sessions</p>', undefined, { Connection: 'close' }); return; }
  const { cookie } = webSessions(ctx).create({ user, policies: result.policies, stamp: result.stamp, address: plainAddress(address), via });
  await ctx.auth.logLogin(user, address, via === 'www-ssl' ? 'web (https)' : 'web');
  redirect(res, next, { 'Set-Cookie': sessionCookie(via, cookie) });
}

// ---------------------------------------------------------------------------------------------
// Pages

async function print(front: WebFront, user: User, menu: MenuDecl, item?: number): Promise<PrintOutput> {
  const args = new Map<string, Value>();
  if (item !== undefined) { args.set('from', new ItemId(item)); args.set('detail', true); }
  const result = await front.ctx.app.executor.run({ path: menu.path, command: 'print', args, session: sessionOf(user.ws), since: front.since });
  return result.print!;
}

const title = (path: string): string => (path === '/' ? 'all menus' : path.slice(1));

async function menusPage(front: WebFront, res: http.ServerResponse, user: User): Promise<void> {
  const all = front.ctx.app.registry.all().filter((m) => m.kind !== 'dir').map((m) => m.path).sort();
  const body = `<h1>All menus</h1><p>Every menu of this router; each page is drawn from the menu's declaration.</p><ul class="allmenus">${all.map((p) => `<li><a href="${esc(menuUrl(p))}">${esc(p.slice(1))}</a></li>`).join('')}</ul>`;
  await show(front, res, user, 200, 'All menus', body, '.menus');
}

async function menuPage(front: WebFront, res: http.ServerResponse, user: User, menu: MenuDecl, params: URLSearchParams, url: string): Promise<void> {
  const { registry } = front.ctx.app;
  const flash = takeFlash(user.ws, url);
  const run = params.get('run');
  try {
    if (run) { await commandPage(front, res, user, menu, run, params, flash); return; }
    if (params.get('result') !== null) { await resultPage(front, res, user, menu, flash); return; }
    const commands = offered(registry.commands(menu.path), (c) => mayRun(user, c));
    const subs = menuLinks(menu.path, registry.children(menu.path));
    const itemText = params.get('item');
    if (menu.kind === 'list' && itemText) {
      const id = ItemId.parse(itemText);
      if (!id) throw new RosError('argument', 'no such item');
      await itemPage(front, res, user, menu, id.n, commands, flash);
      return;
    }
    if (menu.kind === 'dir') {
      await show(front, res, user, 200, title(menu.path), `<h1>${esc(title(menu.path))}</h1>${subs || '<p>Nothing here.</p>'}`, menu.path, flash);
      return;
    }
    const out = await print(front, user, menu);
    if (menu.kind === 'singleton') {
      await singletonPage(front, res, user, menu, out, commands, subs, flash);
      return;
    }
    const model = tableModel(out);
    const ids = out.rows.map((r) => r.id);
    const toolbar = commandButtons(menu.path, commands.filter((c) => !isItemCommand(c) || c.name === 'add'));
    const upload = menu.path === '/file' && user.policies.has('write') && user.policies.has('ftp') ? uploadForm(user, '/webfig/file', 'name') : '';
    const body = `<h1>${esc(title(menu.path))}</h1>${menu.help ? `<p>${esc(menu.help)}</p>` : ''}${subs}${toolbar}${upload}${listTable(menu, model, ids, listQuery(params))}`;
    await show(front, res, user, 200, title(menu.path), body, menu.path, flash);
  } catch (e) {
    if (!(e instanceof RosError)) throw e;
    await show(front, res, user, e.kind === 'permission' ? 403 : 400, title(menu.path), `<h1>${esc(title(menu.path))}</h1><p class="err" role="alert">${esc(e.consoleText())}</p>`, menu.path);
  }
}

/** The current value of each writable property as the set form shows it. */
function currentValues(out: PrintOutput, menu: MenuDecl): Map<string, string> {
  const row = out.rows[0];
  const values = new Map<string, string>();
  if (!row) return values;
  for (const p of menu.properties) {
    if (p.access === 'ro' || p.access === 'wo' || p.sensitive || p.compute) continue;
    const v = row.data[p.name];
    values.set(p.name, v === undefined || v === null ? '' : p.type.display(v, out.ctx));
  }
  return values;
}

/** The edit form: the `set` command's arguments, filled with the item's values. */
function setForm(front: WebFront, user: User, menu: MenuDecl, out: PrintOutput, action: string, flash?: Flash): string {
  const set = front.ctx.app.registry.command(menu.path, 'set');
  if (!set || !mayRun(user, set)) return '';
  const row = out.rows[0];
  const current = currentValues(out, menu);
  const args = formArgsOf(set, (p) => user.policies.has(p as Policy)).filter((a) => !isItemsArg(a) && current.has(a.name));
  const states = new Map<string, FieldState>();
  for (const a of args) {
    const prop = menu.properties.find((p) => p.name === a.name);
    const writable = !prop?.writableWhen || !row || prop.writableWhen(row.data);
    const original = current.get(a.name) ?? '';
    states.set(a.name, {
      value: flash?.values?.[a.name] ?? original, original, disabled: !writable,
      error: flash?.field === a.name ? flash.error : undefined,
    });
  }
  const formError = flash?.error && !flash.field ? flash.error : undefined;
  return `<section aria-labelledby="edit-h"><h2 id="edit-h">Edit</h2>${commandForm({ menu, command: set, args, states, csrf: user.ws.csrf, action, submit: 'Apply', ctx: out.ctx, error: formError })}</section>`;
}

async function singletonPage(front: WebFront, res: http.ServerResponse, user: User, menu: MenuDecl, out: PrintOutput, commands: CommandDecl[], subs: string, flash?: Flash): Promise<void> {
  const [row] = detailModel(out);
  const form = setForm(front, user, menu, out, menuUrl(menu.path) + query({ run: 'set' }), flash);
  const others = commandButtons(menu.path, commands.filter((c) => c.name !== 'set'));
  const body = `<h1>${esc(title(menu.path))}</h1>${subs}${form || (row ? detailView(menu, row) : '')}${others}`;
  await show(front, res, user, 200, title(menu.path), body, menu.path, flash?.field ? undefined : flash);
}

async function itemPage(front: WebFront, res: http.ServerResponse, user: User, menu: MenuDecl, id: number, commands: CommandDecl[], flash?: Flash): Promise<void> {
  const out = await print(front, user, menu, id);
  const [row] = detailModel(out);
  const itemId = new ItemId(id).toString();
  if (!row) throw new RosError('argument', 'no such item');
  const name = menu.key ? String(out.rows[0]!.data[menu.key] ?? itemId) : itemId;
  const rowCommands = commands.filter((c) => isItemCommand(c) && c.name !== 'set' && c.name !== 'add');
  const download = menu.path === '/file' && out.rows[0]!.data.type !== 'directory' && user.policies.has('ftp')
    ? `<p><a class="button" href="/webfig/.download${esc(query({ name }))}" download>Download ${esc(name)}</a></p>` : '';
  const form = setForm(front, user, menu, out, menuUrl(menu.path) + query({ run: 'set', numbers: itemId }), flash);
  const body = `<p class="crumb"><a href="${esc(menuUrl(menu.path))}">${esc(title(menu.path))}</a> / ${esc(name)}</p><h1>${esc(name)}</h1>`
    + `${commandButtons(menu.path, rowCommands, itemId)}${download}<section aria-labelledby="detail-h"><h2 id="detail-h">Properties</h2>${detailView(menu, row)}</section>${form}`;
  await show(front, res, user, 200, `${name} — ${title(menu.path)}`, body, menu.path, flash?.field ? undefined : flash);
}

function uploadForm(user: User, next: string, field: string): string {
  return `<form class="upload" method="post" action="/webfig/.upload" enctype="multipart/form-data" aria-labelledby="upload-h">
<h2 id="upload-h">Upload a file into /file</h2><input type="hidden" name="_csrf" value="${esc(user.ws.csrf)}"><input type="hidden" name="next" value="${esc(next)}"><input type="hidden" name="field" value="${esc(field)}">
<div class="field"><label for="upload-file">File</label><input id="upload-file" name="file" type="file" required></div>
<div class="field"><label for="upload-name">Name in /file</label><input id="upload-name" name="name" placeholder="the file's own name" autocomplete="off"><small>Folders with <code>/</code>.</small></div>
<div class="actions"><button type="submit">Upload</button></div></form>`;
}

/** Commands that take a key or a key generation: the form shows live progress. */
const slowCommand = (c: CommandDecl): boolean => ['sign', 'create-certificate-request', 'sign-certificate-request'].includes(c.name) || c.monitor === true;

async function commandPage(front: WebFront, res: http.ServerResponse, user: User, menu: MenuDecl, name: string, params: URLSearchParams, flash?: Flash): Promise<void> {
  const { app } = front.ctx;
  const command = app.registry.command(menu.path, name);
  if (!command || !offered([command], () => true).length) throw new RosError('argument', `no such command or directory (${name})`);
  if (!mayRun(user, command)) throw new RosError('permission', 'not enough permissions (9)');
  const items = params.get('numbers') ?? '';
  const view = app.store.view();
  const ctx = typeContext(app.env, view);
  // add: a property the menu requires is marked so (the executor checks it).
  const args = formArgsOf(command, (p) => user.policies.has(p as Policy))
    .map((a) => (command.name === 'add' && menu.properties.find((p) => p.name === a.name)?.required ? { ...a, required: true } : a));
  // The item the command acts on, by name; what else a remove takes along.
  let itemName = '';
  let notice = '';
  if (items && menu.kind === 'list') {
    const ids = await app.store.read((tx) => resolveItems(menu, items, sessionOf(user.ws), tx), front.since);
    itemName = await app.store.read((tx) => ids.map((i) => (menu.key ? String(tx.get(menu.path, i)?.data[menu.key] ?? new ItemId(i)) : new ItemId(i).toString())).join(', '), front.since);
    if (command.name === 'remove') notice = removalNotice(await app.store.read((tx) => removalEffects(app.env, menu, ids, tx), front.since));
  }
  const states = new Map<string, FieldState>();
  const adding = command.name === 'add';
  for (const a of args) {
    const prop = adding ? menu.properties.find((p) => p.name === a.name) : undefined;
    const placeholder = prop && prop.default !== undefined && typeof prop.default !== 'function' ? prop.type.display(prop.default, ctx) : undefined;
    const given = flash?.values?.[a.name] ?? (a.sensitive ? undefined : params.get(a.name) ?? undefined);
    const state: FieldState = { value: given, placeholder, error: flash?.field === a.name ? flash.error : undefined };
    if (isItemsArg(a) && items) { state.fixed = itemName; state.value = items; }
    if (a.type === boolType && given === undefined) state.value = '';
    states.set(a.name, state);
  }
  const action = menuUrl(menu.path) + query({ run: name, numbers: items || undefined });
  const formError = flash?.error && !flash.field ? flash.error : undefined;
  const upload = command.name === 'import' && args.some((a) => a.name === 'file-name') && user.policies.has('ftp')
    ? uploadForm(user, menuUrl(menu.path) + query({ run: name }), 'file-name') : '';
  const back = items ? menuUrl(menu.path) + query({ item: items }) : menuUrl(menu.path);
  const heading = `${name}${itemName ? ` ${itemName}` : ''}`;
  const body = `<p class="crumb"><a href="${esc(menuUrl(menu.path))}">${esc(title(menu.path))}</a>${itemName ? ` / <a href="${esc(back)}">${esc(itemName)}</a>` : ''}</p>`
    + `<h1>${esc(heading)}</h1>${command.help ? `<p>${esc(command.help)}</p>` : ''}${notice}${upload}`
    + commandForm({ menu, command, args, states, csrf: user.ws.csrf, action, submit: name === 'remove' ? `Remove ${itemName}` : name, error: formError, ctx, progress: slowCommand(command) });
  await show(front, res, user, 200, `${heading} — ${title(menu.path)}`, body, menu.path);
}

async function resultPage(front: WebFront, res: http.ServerResponse, user: User, menu: MenuDecl, flash?: Flash): Promise<void> {
  const r = flash?.result;
  if (!r) { redirect(res, menuUrl(menu.path)); return; }
  const parts = [`<h1>${esc(r.title)}</h1><p class="flash ok" role="status">done</p>`];
  if (r.block?.length) parts.push(pairs(r.block.map(([name, text]) => ({ name, text }))));
  if (r.ret !== undefined && r.ret !== '') parts.push(`<p>Result: <output>${esc(r.ret)}</output></p>`);
  for (const m of r.messages ?? []) if (m !== '') parts.push(`<p class="msg">${esc(m)}</p>`);
  if (r.files?.length) {
    // Downloads are file transfers: offered to users with `ftp` (the server checks it anyway).
    const canDownload = user.policies.has('ftp');
    const item = (f: string) => (canDownload ? `<a class="button" href="/webfig/.download${esc(query({ name: f }))}" download>Download ${esc(f)}</a>` : `<code>${esc(f)}</code>`);
    parts.push(`<section aria-labelledby="files-h"><h2 id="files-h">Files written</h2><ul class="files">${r.files.map((f) => `<li>${item(f)}</li>`).join('')}</ul>${canDownload ? '' : '<p>In /file; downloading needs the ftp policy.</p>'}</section>`);
  }
  parts.push(`<p><a href="${esc(r.back)}">Back</a></p>`);
  await show(front, res, user, 200, r.title, parts.join(''), menu.path);
}

// ---------------------------------------------------------------------------------------------
// Running a command

async function runFromForm(front: WebFront, req: http.IncomingMessage, res: http.ServerResponse, user: User, menu: MenuDecl, name: string, params: URLSearchParams, form: FormData): Promise<void> {
  const { app } = front.ctx;
  const command = app.registry.command(menu.path, name);
  const items = params.get('numbers') ?? '';
  const formUrl = menuUrl(menu.path) + query({ run: name, numbers: items || undefined });
  const itemUrl = items ? menuUrl(menu.path) + query({ item: items }) : menuUrl(menu.path);
  // The edit form lives on the item's page (or the singleton's): its errors go back there.
  const errorUrl = name === 'set' ? itemUrl : formUrl;
  const streaming = String(req.headers.accept ?? '').includes('application/x-ndjson');
  if (streaming) res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'application/x-ndjson; charset=utf-8' });
  const finish = (location: string) => {
    if (streaming) res.end(`${JSON.stringify({ location })}\n`);
    else redirect(res, location);
  };
  if (!command || !offered([command], () => true).length) {
    FLASH.set(user.ws, { url: menuUrl(menu.path), error: `no such command or directory (${name})` });
    finish(menuUrl(menu.path));
    return;
  }
  const args = formArgs(formArgsOf(command, () => true), form);
  if (items && command.args.some(isItemsArg)) args.set(command.args.find(isItemsArg)!.name, items);
  const controller = new AbortController();
  const onClose = () => { if (!res.writableFinished) controller.abort(); };
  res.once('close', onClose);
  const session = sessionOf(user.ws, {
    signal: controller.signal,
    // The executor's commands report progress (sign: generating key, signing) as they do for the console.
    progress: streaming ? (fields) => { res.write(`${JSON.stringify({ progress: fields.map(([k, v]) => `${k}: ${valueToString(v)}`).join(', ') })}\n`); } : undefined,
  });
  let result: CommandResult;
  try {
    result = await app.executor.run({ path: menu.path, command: command.name, args, session, since: front.since });
  } catch (e) {
    res.off('close', onClose);
    const err = e instanceof RosError ? e : app.executor.toRosError(e, `${menu.path} ${name}`);
    const names = command.args.map((a) => a.name);
    const values: Record<string, string> = {};
    for (const a of command.args) {
      const v = args.get(a.name);
      if (!a.sensitive && v !== undefined && !isItemsArg(a)) values[a.name] = valueToString(v);
    }
    FLASH.set(user.ws, { url: errorUrl, error: err.consoleText(), field: errorField(err.message, names), values });
    finish(errorUrl);
    return;
  }
  res.off('close', onClose);
  if (name === 'add' && result.ret instanceof ItemId) {
    const url = menuUrl(menu.path) + query({ item: result.ret.toString() });
    FLASH.set(user.ws, { url, ok: `${menu.path.slice(1)} added` });
    finish(url);
    return;
  }
  if (['set', 'enable', 'disable'].includes(name) && !result.block && !result.messages?.length) {
    FLASH.set(user.ws, { url: itemUrl, ok: name === 'set' ? 'changes applied' : `${name}d` });
    finish(itemUrl);
    return;
  }
  if (name === 'remove') {
    FLASH.set(user.ws, { url: menuUrl(menu.path), ok: 'removed' });
    finish(menuUrl(menu.path));
    return;
  }
  const url = menuUrl(menu.path) + query({ result: 1 });
  FLASH.set(user.ws, {
    url,
    result: {
      title: `${name}${items ? ` ${items}` : ''}`, back: itemUrl,
      block: result.block?.map(([k, v]) => [k, v instanceof RosArray ? v.values().map(valueToString).join(',') : typeof v === 'boolean' ? (v ? 'yes' : 'no') : valueToString(v)]),
      messages: result.text ? [...(result.messages ?? []), result.text] : result.messages, ret: result.block || result.ret === undefined ? undefined : retText(result.ret), files: result.files,
    },
  });
  finish(url);
}

function retText(v: Value): string {
  return v instanceof RosArray ? v.values().map(valueToString).join(';') : typeof v === 'boolean' ? (v ? 'true' : 'false') : valueToString(v);
}

// ---------------------------------------------------------------------------------------------
// /file transfers: like SCP and SFTP they need `ftp` (with `read` to download, `write` to
// upload), and a file holding a private key needs `sensitive` as its `contents` do.

async function download(front: WebFront, res: http.ServerResponse, user: User, name: string): Promise<void> {
  const { app } = front.ctx;
  const menu = app.registry.menu('/file')!;
  try {
    if (!user.policies.has('ftp')) throw new RosError('permission', 'not enough permissions (9)');
    // The /file print brings the mirror up to date and checks `read` as every front end does.
    const out = await print(front, user, menu);
    const row = out.rows.find((r) => r.data.name === name && r.data.type !== 'directory');
    if (!row) throw new RosError('argument', 'no such item');
    const data = await app.env.files.read(name);
    // The one rule for secret files (secret-files.ts): also large, DER and PKCS#12 keys, whose
    // `contents` /file does not show at all.
    if (!user.policies.has('sensitive') && holdsSecret(data, app.registry)) throw new RosError('permission', 'not enough permissions (9)');
    const base = name.split('/').pop()!;
    send(res, 200, data, 'application/octet-stream', {
      'Content-Disposition': `attachment; filename="${base.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(base)}`,
    });
    await app.store.write((tx) => app.env.log(tx, 'system,info', `file ${name} downloaded by ${user.ws.user} (web)`));
  } catch (e) {
    const text = e instanceof RosError ? e.consoleText() : fileFailure(e, name, (x) => front.ctx.internalError(x)).text;
    await show(front, res, user, e instanceof RosError && e.kind === 'permission' ? 403 : 404, 'Download', `<h1>Download ${esc(name)}</h1><p class="err" role="alert">${esc(text)}</p>`, '/file');
  }
}

async function upload(front: WebFront, res: http.ServerResponse, user: User, form: FormData): Promise<void> {
  const { app } = front.ctx;
  const next = safeNext(formText(form, 'next') ?? '/webfig/file');
  const field = formText(form, 'field') ?? '';
  const file = form.get('file');
  const fail = (text: string) => { FLASH.set(user.ws, { url: next, error: text }); redirect(res, next); };
  if (!(user.policies.has('ftp') && user.policies.has('write'))) { fail('not enough permissions (9)'); return; }
  if (!file || typeof file === 'string') { fail('no file chosen'); return; }
  const name = (formText(form, 'name') ?? '').trim() || file.name;
  try {
    const written = await app.env.files.write(name, Buffer.from(await file.arrayBuffer()), app.clock.now());
    await app.store.write((tx) => app.env.log(tx, 'system,info', `file ${written} uploaded by ${user.ws.user} (web)`));
    const url = new URL(next, 'http://web');
    if (field) url.searchParams.set(field, written);
    const location = `${url.pathname}${url.search}`;
    FLASH.set(user.ws, { url: location, ok: `${written} uploaded (${file.size} bytes)` });
    redirect(res, location);
  } catch (e) {
    if (e instanceof UnsafeFileName) await logFileRefusal(app.env, { user: user.ws.user, via: 'web' }, e);
    fail(fileFailure(e, name, (x) => front.ctx.internalError(x)).text);
  }
}
