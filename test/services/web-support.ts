// A web-interface client over plain HTTP(S) for tests: cookies kept per client, redirects not
// followed (tests look at them), the CSRF token read from the page as a browser would.

import https from 'node:https';
import http from 'node:http';

export interface WebReply {
  status: number;
  text: string;
  headers: http.IncomingHttpHeaders;
  location?: string;
}

export class WebClient {
  cookie = '';
  csrf = '';

  constructor(readonly base: string, private readonly ca?: string) {}

  get origin(): string { return new URL(this.base).origin; }

  async request(method: string, path: string, opts: { body?: string | Buffer; type?: string; headers?: Record<string, string>; origin?: string | null } = {}): Promise<WebReply> {
    const url = new URL(path, this.base);
    const headers: Record<string, string> = { ...opts.headers };
    if (this.cookie) headers.cookie = this.cookie;
    if (opts.body !== undefined) {
      headers['content-type'] = opts.type ?? 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(opts.body));
    }
    if (method === 'POST' && opts.origin !== null) headers.origin = opts.origin ?? this.origin;
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, { method, headers, ...(url.protocol === 'https:' ? { ca: this.ca, servername: 'router.test', rejectUnauthorized: !!this.ca } : {}), agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const setCookie = res.headers['set-cookie'];
          if (setCookie) {
            const [pair] = setCookie[0]!.split(';');
            this.cookie = /=$/.test(pair!) ? '' : pair!;
          }
          const text = Buffer.concat(chunks).toString('utf8');
          const m = /name="_csrf" value="([^"]+)"/.exec(text);
          if (m) this.csrf = m[1]!;
          resolve({ status: res.statusCode ?? 0, text, headers: res.headers, location: res.headers.location });
        });
      });
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  get(path: string): Promise<WebReply> {
    return this.request('GET', path);
  }

  /** A form post with the page's CSRF token (unless the fields say otherwise). */
  post(path: string, fields: Record<string, string | string[]>, opts: { csrf?: string | null; origin?: string | null; headers?: Record<string, string> } = {}): Promise<WebReply> {
    const form = new URLSearchParams();
    const token = opts.csrf === undefined ? this.csrf : opts.csrf;
    if (token !== null) form.set('_csrf', token);
    for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
    return this.request('POST', path, { body: form.toString(), origin: opts.origin, headers: opts.headers });
  }

  /** Logs in; returns the login reply (303 on success). */
  async login(user: string, password: string): Promise<WebReply> {
    return this.post('/webfig/.login', { user, password, next: '/webfig/certificate' }, { csrf: null });
  }
}

/** The text of a page without tags (for matching what a person reads). */
export function visibleText(html: string): string {
  return html.replace(/<script[\s\S]*?<\/script>/g, '').replace(/<[^>]+>/g, ' ').replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/\s+/g, ' ');
}
