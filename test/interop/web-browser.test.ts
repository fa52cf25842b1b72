/// <reference lib="dom" />
// The web interface in a real browser (issue 16): Debian chromium driven by playwright-core
// against the daemon's services on 127.0.0.1. A person's path through it: log in with the
// keyboard, make a CA and a server certificate with the forms, bind it to www-ssl and come back
// over HTTPS with it, export a PKCS#12 to the browser and check it with openssl, import it into a
// second data directory through that router's page, revoke, remove with the confirmation that
// names the cascade, a read-only user, and a forged form from another origin.
//
// ROSPKI_WEB_SCREENSHOTS=docs/web keeps the screenshots of the main screens there (README).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { browserMissing, byText, launchChromium, type Browser, type Page } from '../support/browser.js';
import { openssl, toPem } from '../support/app.js';
import { freePort, PASSWORD, run, startServiceApp, type ServiceApp } from '../services/support.js';
import { missingTools, needs } from '../support/tools.js';

const missing = needs('chromium') || await browserMissing().then((why) => why !== undefined && missingTools(why));
const WAIT = { timeout: 60_000 };

describe('web interface in chromium', { skip: missing }, () => {
  let browser: Browser;
  let s1: ServiceApp;
  let s2: ServiceApp;
  let page: Page;
  let www: string;
  let work: string;
  const shots = process.env.ROSPKI_WEB_SCREENSHOTS;
  const shot = async (p: Page, name: string) => {
    await p.screenshot({ path: path.join(shots ?? work, `${name}.png`), fullPage: false });
  };
  const names = async (s: ServiceApp) => (await s.run(CERT_PATH, 'print', {})).print!.rows.map((r) => String(r.data.name));
  const text = (p: Page) => p.evaluate(() => document.body.innerText);

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-web-'));
    if (shots) fs.mkdirSync(shots, { recursive: true });
    [s1, s2] = await Promise.all([startServiceApp(), startServiceApp()]);
    await s1.run('/user', 'add', { name: 'reader', group: 'read', password: 'readpw' });
    www = `http://127.0.0.1:${s1.ports.www}`;
    browser = await launchChromium();
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 }, acceptDownloads: true });
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await s1?.stop();
    await s2?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  /** Clicks what leads to another page and waits until that page has loaded at `url`. */
  async function follow(p: Page, selector: string, url: RegExp): Promise<void> {
    await p.evaluate(() => { (window as unknown as { stale: boolean }).stale = true; });
    await p.click(selector);
    await p.waitForFunction(() => !(window as unknown as { stale?: boolean }).stale && document.readyState === 'complete', undefined, WAIT);
    await p.waitForURL(url, WAIT);
  }

  /** Submits the command form on the page and waits for where it leads. */
  const submit = (p: Page, url: RegExp) => follow(p, 'form.cmd button[type="submit"]', url);

  async function openItem(p: Page, menuUrl: string, name: string): Promise<void> {
    await p.goto(`${menuUrl}?q=${encodeURIComponent(name)}`);
    await follow(p, await byText(p, '#items a', name), /\?item=\*/);
  }

  test('log in with the keyboard; plain www says it is not encrypted', async () => {
    const r = await page.goto(`${www}/`);
    assert.equal(r?.status(), 200);
    assert.match(await page.textContent('.plain') ?? '', /Not encrypted/);
    await shot(page, 'login');
    // The user field has the focus; Tab moves to the password; Enter submits.
    await page.waitForFunction(() => document.activeElement?.id === 'user');
    await page.keyboard.type('admin');
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/webfig\/certificate$/, WAIT);
    assert.match(await text(page), /Flags: K - PRIVATE-KEY/);
  });

  test('a CA and a server certificate through the forms (add, sign with live progress)', async () => {
    await follow(page, 'a[href="/webfig/certificate?run=add"]', /run=add/);
    await page.fill('#f-name', 'ca');
    await page.fill('#f-common-name', 'Lab CA');
    await page.selectOption('#f-key-size', 'prime256v1');
    await page.check('input[name="key-usage"][value="key-cert-sign"]');
    await page.check('input[name="key-usage"][value="crl-sign"]');
    await page.fill('#f-days-valid', '3650');
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, 'add');
    await submit(page, /\?item=\*/);
    assert.match(await text(page), /certificate added/);
    await follow(page, 'a[href^="/webfig/certificate?run=sign&numbers="]', /run=sign/);
    await page.fill('#f-ca-crl-host', '127.0.0.1');
    await submit(page, /result=1/);
    assert.match(await text(page), /progress\s+done/);

    await page.goto(`${www}/webfig/certificate?run=add`);
    await page.fill('#f-name', 'srv');
    await page.fill('#f-common-name', 'router.test');
    await page.fill('#f-subject-alt-name', 'DNS:router.test,IP:127.0.0.1');
    await page.selectOption('#f-key-size', '2048');
    await submit(page, /\?item=\*/);
    await follow(page, 'a[href^="/webfig/certificate?run=sign&numbers="]', /run=sign/);
    await page.selectOption('#f-ca', 'ca');
    await shot(page, 'sign');
    // The form streams the executor's progress (RSA key generation) into its live region.
    await follow(page, 'form.cmd button[type="submit"]', /result=1/);
    assert.match(await text(page), /progress\s+done/);
    await page.goto(`${www}/webfig/certificate`);
    await shot(page, 'certificates');
    const rows = await page.evaluate(() => Array.from(document.querySelectorAll('#items tbody tr')).map((tr) => (tr as HTMLElement).innerText.replace(/\s+/g, ' ').trim()));
    assert.ok(rows.some((r) => /^0 KLAT ca /.test(r)), rows.join('\n'));
    assert.ok(rows.some((r) => /^1 KLAIT srv /.test(r)), rows.join('\n'));
  });

  test('bind it to www-ssl, then the page over HTTPS presents it', async () => {
    await openItem(page, `${www}/webfig/ip/service`, 'www-ssl');
    await page.selectOption('#f-certificate', 'srv');
    await page.selectOption('#f-disabled', 'no');
    await submit(page, /\?item=\*/);
    assert.match(await text(page), /changes applied/);
    await shot(page, 'service');
    await s1.services.reconcile();
    const caPem = await s1.app.store.read((tx) => toPem(certificateDer(tx, tx.findBy(CERT_PATH, 'name', 'ca')[0]!.id)!));
    fs.writeFileSync(path.join(work, 'ca.pem'), caPem);
    const port = s1.ports['www-ssl'];
    const check = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'router.test', '-CAfile', path.join(work, 'ca.pem'), '-verify_return_error', '-verify_hostname', 'router.test'], { input: '' });
    assert.match(check.stdout, /Verification: OK/, check.stdout + check.stderr);
    const r = await page.goto(`https://router.test:${port}/`);
    assert.equal(r?.status(), 200);
    assert.equal(await page.evaluate(() => document.querySelector('.plain')), null, 'no plain-text warning over HTTPS');
    await page.fill('#user', 'admin');
    await page.fill('#password', PASSWORD);
    await follow(page, 'form.login button', /^https:\/\/router\.test:\d+\/webfig\/certificate$/);
  });

  test('export a PKCS#12 to the browser; openssl reads it with the passphrase', async () => {
    const https = `https://router.test:${s1.ports['www-ssl']}`;
    await openItem(page, `${https}/webfig/certificate`, 'srv');
    await follow(page, 'a[href^="/webfig/certificate?run=export-certificate"]', /run=export-certificate/);
    await page.selectOption('#f-type', 'pkcs12');
    await page.fill('#f-export-passphrase', 'webpass123');
    await page.fill('#f-file-name', 'srv-web');
    await submit(page, /result=1/);
    const download = page.waitForEvent('download', WAIT);
    await page.click('ul.files a');
    const d = await download;
    assert.equal(d.suggestedFilename(), 'srv-web.p12');
    const p12 = path.join(work, 'srv-web.p12');
    await d.saveAs(p12);
    const leaf = openssl(['pkcs12', '-in', p12, '-passin', 'pass:webpass123', '-nokeys', '-clcerts']);
    assert.match(openssl(['x509', '-noout', '-subject'], leaf), /CN ?= ?router\.test/);
    assert.match(openssl(['pkcs12', '-in', p12, '-passin', 'pass:webpass123', '-nocerts', '-nodes']), /BEGIN PRIVATE KEY/);
    assert.notEqual((await run('openssl', ['pkcs12', '-in', p12, '-passin', 'pass:wrong', '-noout'])).status, 0, 'a wrong passphrase fails');
  });

  test('import it into a second data directory through that router\'s page', async () => {
    const other = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const p = await other.newPage();
    const base = `http://127.0.0.1:${s2.ports.www}`;
    await p.goto(`${base}/webfig/certificate?run=import`);
    await p.waitForURL(/\.login/, WAIT);
    await p.fill('#user', 'admin');
    await p.fill('#password', PASSWORD);
    await follow(p, 'form.login button', /run=import/);
    await p.setInputFiles('#upload-file', path.join(work, 'srv-web.p12'));
    await follow(p, 'form.upload button', /file-name=srv-web\.p12/);
    assert.equal(await p.evaluate(() => (document.querySelector('#f-file-name') as HTMLInputElement).value), 'srv-web.p12');
    await p.fill('#f-passphrase', 'webpass123');
    await shot(p, 'import');
    await submit(p, /result=1/);
    const summary = await text(p);
    assert.match(summary, /certificates-imported\s+2/);
    assert.match(summary, /private-keys-imported\s+1/);
    assert.match(summary, /decryption-failures\s+0/);
    await shot(p, 'import-summary');
    assert.deepEqual((await names(s2)).sort(), ['srv-web.p12_0', 'srv-web.p12_1']);
    await other.close();
  });

  test('issued-revoke: the certificate shows R and filters by it', async () => {
    await openItem(page, `${www}/webfig/certificate`, 'srv');
    await follow(page, 'a[href^="/webfig/certificate?run=issued-revoke"]', /run=issued-revoke/);
    await submit(page, /result=1/);
    await page.goto(`${www}/webfig/certificate`);
    await page.selectOption('#flag', 'R');
    await page.waitForURL(/flag=R/, WAIT);
    const rows = await page.evaluate(() => Array.from(document.querySelectorAll('#items tbody tr')).map((tr) => (tr as HTMLElement).innerText.replace(/\s+/g, ' ').trim()));
    assert.equal(rows.length, 1);
    assert.match(rows[0]!, /^1 KLART srv /);
  });

  test('a read-only user sees no action, and a forged change is refused by the executor', async () => {
    const ro = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const p = await ro.newPage();
    await p.goto(`${www}/webfig/.login`);
    await p.fill('#user', 'reader');
    await p.fill('#password', 'readpw');
    await follow(p, 'form.login button', /\/webfig\/certificate$/);
    assert.equal(await p.evaluate(() => document.querySelectorAll('.toolbar a').length), 0);
    await openItem(p, `${www}/webfig/certificate`, 'ca');
    assert.equal(await p.evaluate(() => document.querySelectorAll('form.cmd').length), 0, 'no edit form');
    const landed = await p.evaluate(async () => {
      const body = new URLSearchParams({ _csrf: document.body.dataset.csrf ?? '', name: 'ro-try', 'common-name': 'x' });
      const r = await fetch('/webfig/certificate?run=add', { method: 'POST', body });
      return r.text();
    });
    assert.match(landed, /not enough permissions \(9\)/);
    assert.ok(!(await names(s1)).includes('ro-try'));
    await ro.close();
  });

  test('a form from another origin is refused (origin check), even with the session cookie', async () => {
    const evilPort = await freePort();
    const evil = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!DOCTYPE html><form id="f" method="post" action="${www}/webfig/certificate?run=add"><input name="name" value="evil"><input name="common-name" value="evil"></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => evil.listen(evilPort, '127.0.0.1', r));
    try {
      await page.goto(`http://127.0.0.1:${evilPort}/`);
      await page.waitForURL((u) => u.port === String(s1.ports.www), WAIT);
      assert.match(await text(page), /cross-origin/);
      assert.ok(!(await names(s1)).includes('evil'));
    } finally {
      evil.close();
    }
  });

  test('remove asks first, naming the certificates it takes along and the service that loses its certificate', async () => {
    await openItem(page, `${www}/webfig/certificate`, 'ca');
    await follow(page, 'a[href^="/webfig/certificate?run=remove"]', /run=remove/);
    const notice = await page.textContent('.notice') ?? '';
    assert.match(notice, /This also removes 1 more:\s*certificate srv/);
    assert.match(notice, /ip\/service www-ssl \(certificate\)/);
    await shot(page, 'remove');
    await submit(page, /\/webfig\/certificate$/);
    assert.deepEqual(await names(s1), []);
    const service = (await s1.run('/ip/service', 'print', {})).print!.rows.find((r) => r.data.name === 'www-ssl')!;
    assert.equal(service.data.certificate, 0);
  });

  test('readable on a phone: the menus wrap above the content', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const p = await phone.newPage();
    await p.goto(`${www}/webfig/.login`);
    await p.fill('#user', 'admin');
    await p.fill('#password', PASSWORD);
    await follow(p, 'form.login button', /\/webfig\/certificate$/);
    await p.goto(`${www}/webfig/ip/service`);
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than the phone`);
    await shot(p, 'phone');
    await phone.close();
  });
});
