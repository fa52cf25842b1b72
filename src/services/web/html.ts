// HTML building blocks of the web page: escaping and the page shell. Every value shown goes
// through esc(); no markup comes from data.

import { ROSPKI_ROUTEROS_VERSION } from '../../version.js';

/** Text or attribute value, escaped for HTML. */
export function esc(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A URL query string from pairs (empty values left out). */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The page's URL of a menu: `/certificate/settings` → `/webfig/certificate/settings`. */
export const menuUrl = (path: string): string => `/webfig${path === '/' ? '/' : path}`;

export const STATIC = '/webfig/.static';

export interface Shell {
  title: string;
  identity: string;
  /** Logged in: the user, the CSRF token (logout form) and the menu links. */
  user?: { name: string; csrf: string; nav: Array<{ href: string; label: string; current: boolean }> };
  /** Plain www: the page says the connection is not encrypted. */
  plain: boolean;
  /** A message at the top of the content (done, error), announced to screen readers. */
  flash?: { kind: 'ok' | 'error'; text: string };
  body: string;
}

export function page(s: Shell): string {
  const nav = s.user ? `<nav class="side" aria-label="Menus"><ul>${s.user.nav.map((n) =>
    `<li><a href="${esc(n.href)}"${n.current ? ' aria-current="page"' : ''}>${esc(n.label)}</a></li>`).join('')}</ul></nav>` : '';
  const who = s.user ? `<form class="logout" method="post" action="/webfig/.logout"><input type="hidden" name="_csrf" value="${esc(s.user.csrf)}">`
    + `<span class="who">${esc(s.user.name)}</span> <button type="submit">Log out</button></form>` : '';
  const plain = s.plain ? '<p class="plain" role="note"><strong>Not encrypted:</strong> this page is served over plain HTTP (www). '
    + 'Passwords, passphrases and keys travel in clear text; use www-ssl (HTTPS).</p>' : '';
  const flash = s.flash ? `<p class="flash ${s.flash.kind}" role="${s.flash.kind === 'error' ? 'alert' : 'status'}">${esc(s.flash.text)}</p>` : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(s.title)} — ${esc(s.identity)}</title>
<link rel="stylesheet" href="${STATIC}/web.css"><script src="${STATIC}/web.js" defer></script></head>
<body${s.user ? ` data-csrf="${esc(s.user.csrf)}"` : ''}><a class="skip" href="#main">Skip to content</a>
<header class="top"><span class="brand">${esc(s.identity)}</span><span class="ver">RouterOS ${esc(ROSPKI_ROUTEROS_VERSION)} · rospki</span>${who}</header>
${plain}<div class="frame">${nav}<main id="main" tabindex="-1">${flash}${s.body}</main></div>
</body></html>
`;
}
