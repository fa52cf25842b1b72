/// <reference lib="dom" />
// Headless Debian chromium driven by playwright-core (shared/peers.md §6) for the web interface's
// browser tests and the `web` bench. playwright-core downloads no browser: it drives
// /usr/bin/chromium. It is looked for in the project's node_modules, then where the peers'
// install script puts it ($PEERS_NODE_MODULES, default ~/.cache/rospki-peers). Without either
// (or without chromium) the callers skip, saying what to install.
//
// The interfaces below are the part of playwright-core's API the tests use (CSS selectors, which
// Playwright waits for), so the tests type-check whether or not the package is installed.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface Download {
  suggestedFilename(): string;
  saveAs(path: string): Promise<void>;
}

export interface Page {
  goto(url: string): Promise<{ status(): number } | null>;
  url(): string;
  fill(selector: string, value: string): Promise<void>;
  click(selector: string): Promise<void>;
  check(selector: string): Promise<void>;
  selectOption(selector: string, value: string): Promise<unknown>;
  textContent(selector: string): Promise<string | null>;
  waitForSelector(selector: string, opts?: { timeout?: number }): Promise<unknown>;
  waitForURL(url: RegExp | ((url: URL) => boolean), opts?: { timeout?: number }): Promise<void>;
  waitForFunction(fn: string | ((arg: any) => unknown), arg?: unknown, opts?: { timeout?: number }): Promise<unknown>;
  evaluate<T>(fn: string | ((arg: any) => T | Promise<T>), arg?: unknown): Promise<T>;
  setInputFiles(selector: string, file: string): Promise<void>;
  waitForEvent(event: 'download', opts?: { timeout?: number }): Promise<Download>;
  screenshot(opts: { path?: string; fullPage?: boolean }): Promise<Buffer>;
  keyboard: { press(key: string): Promise<void>; type(text: string): Promise<void> };
  close(): Promise<void>;
}

export interface BrowserContext {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export interface Browser {
  newContext(opts?: { ignoreHTTPSErrors?: boolean; viewport?: { width: number; height: number }; acceptDownloads?: boolean }): Promise<BrowserContext>;
  close(): Promise<void>;
}

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Why browser tests cannot run here, or undefined when they can. */
export async function browserMissing(): Promise<string | undefined> {
  if (!fs.existsSync(CHROMIUM)) return `no ${CHROMIUM}: apt-get install chromium`;
  return (await playwright()) ? undefined : 'playwright-core is not installed: npm install --save-dev --save-exact playwright-core@1.65.1 (or bash shared/peers/install-peers.sh)';
}

let loaded: Promise<{ chromium: { launch(opts: object): Promise<Browser> } } | undefined> | undefined;
function playwright() {
  loaded ??= (async () => {
    const peers = process.env.PEERS_NODE_MODULES ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'rospki-peers');
    const name = 'playwright-core';
    const places = [name, pathToFileURL(path.join(peers, 'node_modules', name, 'index.js')).href, pathToFileURL(path.join(peers, 'node_modules', name, 'index.mjs')).href];
    for (const place of places) {
      try {
        const mod = await import(place);
        const chromium = mod.chromium ?? mod.default?.chromium;
        if (chromium) return { chromium };
      } catch { /* try the next place */ }
    }
    return undefined;
  })();
  return loaded;
}

/**
 * Chromium, headless, that reaches nothing but this machine: every host name maps to 127.0.0.1
 * (so `https://router.test:PORT/` works) and background networking is off (peers.md §6).
 */
export async function launchChromium(): Promise<Browser> {
  const pw = await playwright();
  if (!pw) throw new Error('playwright-core is not installed');
  return pw.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--host-resolver-rules=MAP * 127.0.0.1',
      '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** Marks the first element matching `selector` whose text is `text`, and returns a selector for it. */
export async function byText(page: Page, selector: string, text: string): Promise<string> {
  await page.waitForFunction(([sel, t]: [string, string]) => Array.from(document.querySelectorAll(sel)).some((e) => e.textContent?.trim() === t), [selector, text]);
  const mark = `pick-${Math.random().toString(36).slice(2)}`;
  await page.evaluate(([sel, t, m]: [string, string, string]) => {
    const el = Array.from(document.querySelectorAll(sel)).find((e) => e.textContent?.trim() === t)!;
    el.setAttribute('data-pick', m);
  }, [selector, text, mark]);
  return `[data-pick="${mark}"]`;
}
