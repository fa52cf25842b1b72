// /tool fetch (spec §10.3): HTTP(S), FTP and SFTP downloads into /file or to the caller, and
// FTP/SFTP uploads of a /file (manual "Fetch": upload=yes with src-path). HTTPS peers are judged
// by the one trust engine (src/trust/engine.ts) when check-certificate is yes or yes-without-crl;
// `no` accepts any peer, as RouterOS does. The FTP and SFTP clients are file-client.ts.

import path from 'node:path';
import { failure, invalidValue, notEnoughPermissions } from '../../errors.js';
import type { Args } from '../../menu/args.js';
import { holdsSecret } from '../../menu/secret-files.js';
import { durationType, enumSetType, enumType, intType, ipAddressType, presenceType, refType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, CommandResult, MenuDecl, Session } from '../../menu/types.js';
import { Duration, RosArray, type Value } from '../../menu/values.js';
import type { CheckMode } from '../../trust/engine.js';
import { CERT_PATH } from '../certificate/properties.js';
import { tlsMaterial } from '../certificate/tls-material.js';

/** output=user returns at most this much data (spec §10.3). */
export const USER_DATA_LIMIT = 64512;
export const USER_WITH_HEADERS_LIMIT = 20480;
/** output=file: the largest download kept (bounded so a stray URL can not fill the disk). */
export const FILE_LIMIT = 1024 * 1024 * 1024;

const bare = { ...stringType, quoted: false };

/** An argument as text (they are all strings or numbers once parsed). */
function arg(call: { args: Args }, name: string): string | undefined {
  const v = call.args.value(name);
  return v === undefined || v === null ? undefined : String(v);
}

/** The schemes fetch speaks; tftp (an enum value of mode) is not among them. */
const SCHEMES = new Set(['http', 'https', 'ftp', 'sftp']);

/**
 * The URL from url=, or from the v6 form mode= address= port= src-path= host= (for an upload the
 * remote file is dst-path, src-path being the local one: the manual's "upload file to another
 * router" example).
 */
function targetUrl(call: { args: Args }, upload: boolean): URL {
  const mode = arg(call, 'mode');
  let text = arg(call, 'url');
  if (text === undefined) {
    const address = arg(call, 'address') ?? arg(call, 'host');
    if (!address) throw failure('missing url');
    const m = mode ?? 'http';
    const port = arg(call, 'port');
    const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
    const src = (arg(call, upload ? 'dst-path' : 'src-path') ?? '').replace(/^\/*/, '/');
    text = `${m}://${host}${port ? `:${port}` : ''}${src}`;
  }
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${mode ?? 'http'}://${text}`);
  } catch {
    throw invalidValue('url');
  }
  // mode=http|https given with a URL of the other scheme: mode wins.
  if (mode && call.args.has('url') && `${mode}:` !== url.protocol && (mode === 'https' || mode === 'http') && (url.protocol === 'http:' || url.protocol === 'https:')) {
    url = new URL(url.toString().replace(/^[a-z]+:/i, `${mode}:`));
  }
  const scheme = url.protocol.replace(':', '');
  if (!SCHEMES.has(scheme)) {
    throw failure(`${scheme} mode is not supported: rospki fetches over http, https, ftp and sftp`);
  }
  if (call.args.has('port') && call.args.has('url')) url.port = String(arg(call, 'port'));
  return url;
}

function headerFields(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const part of text.split(',')) {
    const at = part.indexOf(':');
    if (at <= 0) throw invalidValue('http-header-field');
    out[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return out;
}

/** Default dst-path: the last segment of the URL path (`index.html` for a bare host or folder). */
function defaultName(url: URL): string {
  const last = path.posix.basename(decodeURIComponent(url.pathname));
  return last && last !== '/' ? last : 'index.html';
}

/** The fields of a finished fetch (spec §10.3 "Result fields"), which proplist= chooses from. */
const RESULT_FIELDS = ['status', 'downloaded', 'uploaded', 'total', 'duration', 'data', 'http-headers'] as const;

const proplistArg: ArgDecl<string[]> = { name: 'proplist', type: enumSetType(RESULT_FIELDS), help: 'Result fields to give (with as-value: only these keys)' };

/** ip-type= (7.24+) as the address family a host name is resolved to; auto takes either. */
const FAMILY: Record<string, 4 | 6 | undefined> = { auto: undefined, ipv4: 4, ipv6: 6 };
const familyOf = (call: { args: Args }): 4 | 6 | undefined => FAMILY[arg(call, 'ip-type') ?? 'auto'];

/** Sizes are reported in whole KiB, rounded down (spec §10.3). */
const kibOf = (bytes: number): number => Math.floor(bytes / 1024);

/** How often a running fetch reports its state: once a second, as RouterOS does. */
const PROGRESS_INTERVAL_MS = 1000;

/** What a fetch reports as it runs and when it ends. */
interface FetchState {
  readonly status: 'connecting' | 'downloading' | 'uploading' | 'finished';
  /** Bytes so far (undefined while connecting). */
  readonly downloaded?: number;
  /** An upload counts `uploaded` bytes instead of `downloaded` (UNCONFIRMED name). */
  readonly upload?: boolean;
  /** Bytes announced by the server (Content-Length), when it did. */
  readonly total?: number;
  readonly seconds: number;
}

/**
 * The console shows sizes with their unit (`downloaded: 731KiB`, spec §10.3); the API and REST
 * give the bare number (`=downloaded=731`, librouteros docs/api_analysis.rst "Fetching from url").
 */
function stateFields(state: FetchState, unit: 'KiB' | ''): Array<[string, string]> {
  const fields: Array<[string, string]> = [['status', state.status]];
  if (state.downloaded === undefined) return fields;
  fields.push([state.upload ? 'uploaded' : 'downloaded', `${kibOf(state.downloaded)}${unit}`]);
  if (state.total !== undefined) fields.push(['total', `${kibOf(state.total)}${unit}`]);
  fields.push(['duration', new Duration(state.seconds * 1e9).toString()]);
  return fields;
}
const consoleFields = (state: FetchState) => stateFields(state, 'KiB');
const apiRecord = (state: FetchState): Record<string, string> => Object.fromEntries(stateFields(state, ''));

export const fetchCommand: CommandDecl = {
  name: 'fetch',
  monitor: true,
  help: 'Download or upload over HTTP(S), FTP or SFTP',
  policy: 'test',
  args: [
    { name: 'url', type: bare, positional: 0, help: 'URL to fetch' },
    { name: 'mode', type: enumType(['http', 'https', 'ftp', 'tftp', 'sftp']) },
    { name: 'address', type: bare },
    { name: 'host', type: bare },
    { name: 'port', type: intType(1, 65535) },
    { name: 'src-address', type: ipAddressType, help: 'Local address the connection is made from (one of this host\'s)' },
    { name: 'src-path', type: stringType },
    { name: 'dst-path', type: stringType },
    { name: 'user', type: stringType },
    { name: 'password', type: stringType, sensitive: true },
    { name: 'check-certificate', type: enumType(['no', 'yes', 'yes-without-crl']) },
    { name: 'certificate', type: refType(CERT_PATH), help: 'Client certificate (with its private key) presented to an https server that asks for one' },
    { name: 'output', type: enumType(['none', 'file', 'user', 'user-with-headers']) },
    { name: 'http-method', type: enumType(['get', 'post', 'put', 'delete', 'head', 'patch']) },
    { name: 'http-data', type: stringType },
    { name: 'http-header-field', type: stringType },
    { name: 'http-auth-scheme', type: enumType(['basic', 'digest']), help: 'basic: user and password sent with the request; digest: the answer to the server\'s Digest challenge (RFC 7616, MD5 or SHA-256)' },
    { name: 'http-content-encoding', type: enumType(['deflate', 'gzip']), help: 'Compress http-data and send it with this Content-Encoding' },
    { name: 'http-max-redirect-count', type: intType(0, 100) },
    { name: 'http-version', type: enumType(['http1_1', 'http2', 'http2-forced']), help: 'http1_1; http2: HTTP/2 when the https server agrees (ALPN h2); http2-forced: HTTP/2 only' },
    { name: 'idle-timeout', type: durationType(0, 3600e9) },
    { name: 'keep-result', type: enumType(['yes', 'no']) },
    { name: 'upload', type: enumType(['yes', 'no']) },
    { name: 'ascii', type: enumType(['yes', 'no']), help: 'ftp: transfer as text (TYPE A: CRLF line ends on the wire, LF here) instead of binary' },
    { name: 'ip-type', type: enumType(Object.keys(FAMILY)), help: 'Address family a host name is resolved to: auto (either), ipv4 or ipv6' },
    { name: 'as-value', type: presenceType, flagOnly: true },
    proplistArg,
  ],
  async run(call): Promise<CommandResult> {
    const { env, session } = call;
    const upload = arg(call, 'upload') === 'yes';
    const url = targetUrl(call, upload);
    if (url.protocol === 'ftp:' || url.protocol === 'sftp:') return transfer(call, url, upload);
    if (upload) throw failure('only [s]ftp modes support upload');
    const check = (arg(call, 'check-certificate') ?? 'no') as 'no' | CheckMode;
    let output = arg(call, 'output') ?? 'file';
    if (arg(call, 'keep-result') === 'no') output = 'none';
    const data = arg(call, 'http-data');
    if (data !== undefined && Buffer.byteLength(data) > 65535) throw failure('maximum message size exceeded');
    const method = arg(call, 'http-method') ?? (data !== undefined ? 'post' : 'get');
    const headers = headerFields(arg(call, 'http-header-field'));
    const user = arg(call, 'user');
    const password = arg(call, 'password') ?? '';
    // basic: sent with the request; digest: the answer to the server's challenge (RFC 7616).
    const digest = user !== undefined && user !== '' && arg(call, 'http-auth-scheme') === 'digest' ? { user, password } : undefined;
    if (user !== undefined && user !== '' && !digest) {
      headers.Authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    }
    const idle = call.args.has('idle-timeout') ? Number(call.args.value('idle-timeout')) / 1e6 : 10_000;
    const maxRedirects = call.args.has('http-max-redirect-count') ? Number(call.args.value('http-max-redirect-count')) : 2;
    const maxBytes = output === 'user' ? USER_DATA_LIMIT : output === 'user-with-headers' ? USER_WITH_HEADERS_LIMIT : FILE_LIMIT;
    const dst = output === 'file' ? arg(call, 'dst-path') ?? defaultName(url) : undefined;
    // Writing into /file takes the write policy, whichever command does it (issue 11).
    if (dst !== undefined) {
      env.files.check(dst);
      if (!call.policies.has('write')) throw notEnoughPermissions();
    }

    let clientCert: { cert: string; key: string } | undefined;
    if (url.protocol === 'https:' && call.args.has('certificate')) {
      const certId = Number(call.args.value('certificate'));
      const material = await env.store.read((tx) => tlsMaterial(env, tx, certId));
      // A certificate without its key (or not signed) can not be presented (spec §6.1's text).
      if (material.kind !== 'cert') throw failure('SSL: no key for certificate found (6)');
      clientCert = material;
    }

    const progress = transferProgress(session, false);
    const { httpRequest, statusFailure } = await import('../certificate/http-client.js'); // node:http, tls, zlib load only when fetching
    let res: Awaited<ReturnType<typeof httpRequest>>;
    try {
      res = await httpRequest({
        url: url.toString(), method, headers, body: data !== undefined ? Buffer.from(data) : undefined,
        maxBytes, idleTimeoutMs: idle || 10_000, maxRedirects, signal: session.signal,
        verifyTls: check === 'no' ? undefined : (chain, host) => env.trust.assertTrusted({ chain, host, service: 'fetch', mode: check }),
        onProgress: progress.bytes, clientCert, localAddress: arg(call, 'src-address'), digest,
        contentEncoding: arg(call, 'http-content-encoding') as 'gzip' | 'deflate' | undefined, family: familyOf(call),
        httpVersion: arg(call, 'http-version') as 'http1_1' | 'http2' | 'http2-forced' | undefined,
      });
    } finally {
      progress.end();
    }
    if (res.status >= 400) throw statusFailure(res);
    if (dst !== undefined) {
      await env.files.write(dst, res.body, env.clock.now());
    }
    const size = res.body.length;
    const finished: FetchState = { status: 'finished', downloaded: size, total: size, seconds: progress.seconds() };
    let text: string | undefined;
    if (output === 'user' || output === 'user-with-headers') text = res.body.toString('utf8');
    return result(call, finished, text, output === 'user-with-headers' ? res.headerLines : undefined);
  },
};

/**
 * The progress of one transfer, for every scheme: `connecting` at once, then while bytes move a
 * report at the first of them and one a second with the latest count; end() stops the ticker.
 */
function transferProgress(session: Session, upload: boolean): { bytes: (got: number, total: number | undefined) => void; seconds: () => number; end: () => void } {
  const started = performance.now();
  const seconds = () => Math.floor((performance.now() - started) / 1000);
  const report = (state: FetchState) => session.progress?.(consoleFields(state), apiRecord(state));
  report({ status: 'connecting', seconds: 0 });
  let latest: FetchState | undefined;
  let ticker: NodeJS.Timeout | undefined;
  return {
    seconds,
    bytes: (got, total) => {
      if (!session.progress) return;
      latest = { status: upload ? 'uploading' : 'downloading', upload, downloaded: got, total, seconds: seconds() };
      if (ticker) return;
      report(latest);
      ticker = setInterval(() => report({ ...latest!, seconds: seconds() }), PROGRESS_INTERVAL_MS);
      ticker.unref?.();
    },
    end: () => clearInterval(ticker),
  };
}

/** The end of a fetch: `as-value` gives the array, else the console block and the API record. */
function result(call: { args: Args }, finished: FetchState, text: string | undefined, headerLines?: string[]): CommandResult {
  const size = finished.downloaded ?? 0;
  // proplist= keeps only the fields it names, in every form of the result.
  const chosen = call.args.has(proplistArg) ? new Set(call.args.get(proplistArg)) : undefined;
  const wanted = (name: string) => !chosen || chosen.has(name);
  if (call.args.flag('as-value')) {
    const a = new RosArray();
    const put = (name: string, v: Value) => { if (wanted(name)) a.set(name, v); };
    put('status', 'finished');
    put(finished.upload ? 'uploaded' : 'downloaded', kibOf(size));
    put('total', kibOf(size));
    put('duration', new Duration(finished.seconds * 1e9));
    if (text !== undefined) put('data', text);
    if (headerLines) put('http-headers', RosArray.of(headerLines));
    return { ret: a };
  }
  const block: Array<[string, Value]> = consoleFields(finished);
  if (text !== undefined) block.push(['data', text]);
  const shown = block.filter(([name]) => wanted(name));
  const record = Object.fromEntries(Object.entries({ ...apiRecord(finished), ...(text !== undefined ? { data: text } : {}) }).filter(([name]) => wanted(name)));
  return { block: shown, records: [record] };
}

/**
 * mode=ftp|sftp (or an ftp:// or sftp:// URL): one file down into /file (or to the caller with
 * output=user), or with upload=yes a /file (src-path) up to the URL's path. user= and password=
 * win over the URL's own. Reading a file to send it is reading it: `read`, and `sensitive` for a
 * file that holds a secret (a backup, a show-sensitive export, a key: secret-files.ts), as for
 * /file read and the FTP/SFTP services.
 */
async function transfer(call: Parameters<CommandDecl['run']>[0], url: URL, upload: boolean): Promise<CommandResult> {
  const { env, session } = call;
  const scheme = url.protocol === 'ftp:' ? 'ftp' : 'sftp';
  const remote = decodeURIComponent(url.pathname);
  if (remote === '' || remote.endsWith('/')) throw failure('missing file name in url');
  let output = arg(call, 'output') ?? 'file';
  if (arg(call, 'keep-result') === 'no') output = 'none';
  if (output === 'user-with-headers') throw failure('output=user-with-headers is for http only');
  const idle = call.args.has('idle-timeout') ? Number(call.args.value('idle-timeout')) / 1e6 : 10_000;
  let data: Buffer | undefined;
  let dst: string | undefined;
  if (upload) {
    const src = arg(call, 'src-path');
    if (!src) throw failure('missing src-path');
    const name = env.files.check(src);
    if (!call.policies.has('read')) throw notEnoughPermissions();
    const kind = await env.files.kind(name);
    if (kind !== 'file') throw failure(kind === 'directory' ? 'src-path is a directory' : 'file not found');
    data = await env.files.read(name, FILE_LIMIT);
    if (!call.policies.has('sensitive') && holdsSecret(data, env.registry)) throw notEnoughPermissions();
  } else if (output === 'file') {
    dst = arg(call, 'dst-path') ?? defaultName(url);
    env.files.check(dst);
    if (!call.policies.has('write')) throw notEnoughPermissions();
  }
  const progress = transferProgress(session, upload);
  const client = await import('./file-client.js');
  const target = {
    scheme, host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : scheme === 'ftp' ? 21 : 22,
    user: arg(call, 'user') ?? decodeURIComponent(url.username),
    password: arg(call, 'password') ?? decodeURIComponent(url.password),
    path: remote, ascii: arg(call, 'ascii') === 'yes', localAddress: arg(call, 'src-address'), family: familyOf(call), idleTimeoutMs: idle || 10_000, totalTimeoutMs: Math.max(idle || 10_000, 600_000), signal: session.signal,
    onProgress: progress.bytes,
  } as const;
  const maxBytes = output === 'user' ? USER_DATA_LIMIT : FILE_LIMIT;
  let body: Buffer;
  try {
    if (data) {
      await (scheme === 'ftp' ? client.ftpUpload(target, data) : client.sftpUpload(target, data));
      body = data;
    } else {
      body = await (scheme === 'ftp' ? client.ftpDownload(target, maxBytes) : client.sftpDownload(target, maxBytes));
    }
  } finally {
    progress.end();
  }
  if (dst !== undefined) await env.files.write(dst, body, env.clock.now());
  const finished: FetchState = { status: 'finished', upload, downloaded: body.length, total: body.length, seconds: progress.seconds() };
  return result(call, finished, !upload && output === 'user' ? body.toString('utf8') : undefined);
}

export const toolMenu: MenuDecl = {
  path: '/tool',
  kind: 'dir',
  help: 'Tools',
  properties: [],
  verbs: [],
  commands: [fetchCommand],
};
