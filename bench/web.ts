// The web interface with 10,000 certificates (issue 16), against a real `rospki serve` daemon on
// 127.0.0.1: how long until the certificates page is usable in headless chromium — first
// contentful paint, and the table ready (the page and its stylesheet and script loaded) — beside
// the time REST takes to return the same list (GET /rest/certificate, all 10,000).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Appliance } from '../src/appliance.js';
import { FixedClock } from '../src/clock.js';
import { CERT_PATH } from '../src/menus/certificate/properties.js';
import { browserMissing, launchChromium } from '../test/support/browser.js';
import { BIN, freePort, median, nowMs, waitPort, type Line } from './support.js';

const CERTS = 10_000;
const RUNS = 7;

export async function benchWeb(line: Line): Promise<void> {
  const missing = await browserMissing();
  if (missing) { console.log(`web: skipped (${missing})`); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-web-'));
  const port = await freePort();
  {
    const app = await Appliance.open(dir, { clock: new FixedClock(Date.now()) });
    const session = await app.session('admin', 'bench');
    const run = (p: string, command: string, args: Record<string, string>) => app.executor.run({ path: p, command, args: new Map(Object.entries(args)), session });
    await run('/user', 'set', { numbers: 'admin', password: 'bench' });
    await run('/ip/service', 'set', { numbers: 'www', port: String(port) });
    await run(CERT_PATH, 'add', { name: 'ca', 'common-name': 'bench CA', 'key-size': 'prime256v1', 'key-usage': 'key-cert-sign,crl-sign' });
    await run(CERT_PATH, 'sign', { number: 'ca' });
    const model = await app.store.read((tx) => tx.findBy(CERT_PATH, 'name', 'ca')[0]!);
    await app.store.write((tx) => {
      for (let i = 1; i < CERTS; i++) tx.insert(CERT_PATH, { ...model.data, name: `cert-${i}`, 'common-name': `host${i}.example.com` });
    });
    app.close();
  }
  const children: ChildProcess[] = [];
  const browser = await launchChromium();
  try {
    children.push(spawn('node', [BIN, 'serve', '--data', dir], { stdio: 'ignore', env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' } }));
    await waitPort(port);
    const base = `http://127.0.0.1:${port}`;

    // REST: the same 10,000 rows as JSON (one connection per request, as the page's first load).
    const auth = `Basic ${Buffer.from('admin:bench').toString('base64')}`;
    const rest = async () => {
      const t = nowMs();
      const r = await fetch(`${base}/rest/certificate`, { headers: { authorization: auth } });
      const rows = await r.json() as unknown[];
      if (r.status !== 200 || rows.length !== CERTS) throw new Error(`REST answered ${r.status} with ${rows.length}`);
      return nowMs() - t;
    };

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${base}/webfig/.login`);
    await page.fill('#user', 'admin');
    await page.fill('#password', 'bench');
    await page.click('form.login button');
    await page.waitForURL(/\/webfig\/certificate$/, { timeout: 60_000 });
    const load = async () => {
      await page.goto(`${base}/webfig/certificate`);
      return page.evaluate(async () => {
        const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
        // The paint entry may come a frame after load: wait for it (bounded).
        const fcp = await new Promise<number>((resolve) => {
          new PerformanceObserver((list) => {
            const e = list.getEntriesByName('first-contentful-paint')[0];
            if (e) resolve(e.startTime);
          }).observe({ type: 'paint', buffered: true });
          setTimeout(() => resolve(-1), 10_000);
        });
        const rows = document.querySelectorAll('#items tbody tr').length;
        const total = /(\d+) items/.exec(document.querySelector('.count')?.textContent ?? '')?.[1];
        // Usable: loaded (stylesheet and script included) and painted, whichever comes last.
        return { fcp, ready: Math.max(nav.loadEventEnd, fcp), rows, total: Number(total) };
      });
    };
    await rest();
    await load();
    const restTimes: number[] = [];
    const fcps: number[] = [];
    const readies: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      restTimes.push(await rest());
      const m = await load();
      if (m.rows !== 100 || m.total !== CERTS) throw new Error(`the page showed ${m.rows} rows of ${m.total}`);
      if (m.fcp < 0) throw new Error('chromium reported no first contentful paint');
      fcps.push(m.fcp);
      readies.push(m.ready);
    }
    const restMs = median(restTimes);
    line(`web: first contentful paint (${CERTS.toLocaleString('en')} certs)`, `${median(fcps).toFixed(0)} ms`, `REST ${restMs.toFixed(0)} ms`, median(fcps) / restMs, '≤ 1.5×');
    line(`web: certificates table ready (${CERTS.toLocaleString('en')} certs)`, `${median(readies).toFixed(0)} ms`, `REST ${restMs.toFixed(0)} ms`, median(readies) / restMs, '≤ 1.5×');
    await context.close();
  } finally {
    await browser.close();
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise<void>((r) => { if (c.exitCode !== null || c.signalCode !== null) r(); else c.once('exit', () => r()); })));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
