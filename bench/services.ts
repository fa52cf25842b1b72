// Network services under load (issue 5), against a real `rospki serve` daemon in its own
// process on 127.0.0.1, so clients and server do not share an event loop:
//   * TLS handshakes per second on www-ssl beside `openssl s_server` with the same certificate
//     (both measured with `openssl s_time -new`, one full handshake per connection);
//   * GET /rest/certificate and API /certificate/print with 1,000 certificates: requests per
//     second and median latency.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Appliance } from '../src/appliance.js';
import { FixedClock } from '../src/clock.js';
import { certificateDer, privateKey } from '../src/menus/certificate/keys.js';
import { CERT_PATH } from '../src/menus/certificate/properties.js';
import { encodeSentence, SentenceDecoder } from '../src/services/words.js';
import { BIN, freePort, median, nowMs, waitPort, type Line } from './support.js';



/** `openssl s_time -new` for a few seconds: full handshakes per second. */
function sTime(port: number, seconds: number): number {
  const r = spawnSync('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(seconds)], { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
  const m = /(\d+) connections in ([\d.]+) real seconds/.exec(r.stdout);
  if (!m) throw new Error(`s_time failed: ${r.stdout}${r.stderr}`);
  return Number(m[1]) / Number(m[2]);
}

export async function benchServices(line: Line): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-svc-'));
  const ports = { www: await freePort(), 'www-ssl': await freePort(), api: await freePort(), 'api-ssl': await freePort() };
  const certFile = path.join(dir, 'srv.pem');
  const keyFile = path.join(dir, 'srv.key');
  // Prepare the data directory: a server certificate on www-ssl, 1,000 certificates, a password.
  {
    const app = await Appliance.open(dir, { clock: new FixedClock(Date.now()) });
    const session = await app.session('admin', 'bench');
    const run = (p: string, command: string, args: Record<string, string>) => app.executor.run({ path: p, command, args: new Map(Object.entries(args)), session });
    await run('/user', 'set', { numbers: 'admin', password: 'bench' });
    await run(CERT_PATH, 'add', { name: 'srv', 'common-name': 'router.test', 'key-size': 'prime256v1', 'subject-alt-name': 'DNS:router.test' });
    await run(CERT_PATH, 'sign', { number: 'srv' });
    for (const [name, port] of Object.entries(ports)) await run('/ip/service', 'set', { numbers: name, port: String(port) });
    await run('/ip/service', 'set', { numbers: 'www-ssl', certificate: 'srv', disabled: 'no' });
    const model = await app.store.read((tx) => tx.findBy(CERT_PATH, 'name', 'srv')[0]!);
    await app.store.write((tx) => {
      for (let i = 1; i < 1000; i++) tx.insert(CERT_PATH, { ...model.data, name: `cert-${i}`, 'common-name': `host${i}.example.com` });
    });
    await app.store.read((tx) => {
      const der = certificateDer(tx, model.id)!;
      fs.writeFileSync(certFile, `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`);
      fs.writeFileSync(keyFile, privateKey(app.env, tx, model.id, String(model.data.fingerprint))!.export({ type: 'pkcs8', format: 'pem' }) as string);
    });
    app.close();
  }
  const children: ChildProcess[] = [];
  try {
    const daemon = spawn('node', [BIN, 'serve', '--data', dir], { stdio: 'ignore', env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' } });
    children.push(daemon);
    const sslPort = await freePort();
    const ref = spawn('openssl', ['s_server', '-accept', String(sslPort), '-cert', certFile, '-key', keyFile, '-naccept', '1000000', '-quiet'], { stdio: 'ignore' });
    children.push(ref);
    await waitPort(ports['www-ssl']);
    await waitPort(sslPort);

    // TLS handshakes: alternate, twice each, keep the better run of each (noise).
    sTime(ports['www-ssl'], 1); sTime(sslPort, 1); // warm up
    const ours = Math.max(sTime(ports['www-ssl'], 3), sTime(ports['www-ssl'], 3));
    const theirs = Math.max(sTime(sslPort, 3), sTime(sslPort, 3));
    line('www-ssl TLS handshakes /s (openssl s_time -new)', ours.toFixed(0), `s_server ${theirs.toFixed(0)}/s`, ours / theirs, '≥ 0.7×');

    // REST: sequential requests on one keep-alive connection, then 4 in flight.
    const auth = `Basic ${Buffer.from('admin:bench').toString('base64')}`;
    const url = `http://127.0.0.1:${ports.www}/rest/certificate`;
    const get = async () => {
      const r = await fetch(url, { headers: { authorization: auth } });
      const body = await r.json() as unknown[];
      if (r.status !== 200 || body.length !== 1000) throw new Error(`REST answered ${r.status} with ${body.length}`);
    };
    for (let i = 0; i < 5; i++) await get();
    const restTimes: number[] = [];
    for (let i = 0; i < 40; i++) { const t = nowMs(); await get(); restTimes.push(nowMs() - t); }
    const n = 80;
    let t0 = nowMs();
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => { while (next++ < n) await get(); }));
    const restRate = n / ((nowMs() - t0) / 1000);
    line('GET /rest/certificate (1,000 certs), median', `${median(restTimes).toFixed(1)} ms`, `${restRate.toFixed(1)} req/s @4`, restRate * median(restTimes) / 1000, 'report');

    // API: one session, sequential prints, then 4 tagged prints in flight.
    const sock = net.connect(ports.api, '127.0.0.1');
    await new Promise<void>((r, j) => { sock.once('connect', r); sock.once('error', j); });
    const decoder = new SentenceDecoder({ maxWord: 1 << 24, maxSentence: 1 << 26, maxWords: 1 << 20 });
    const pending: Array<{ tag: string; rows: number; resolve: (rows: number) => void }> = [];
    sock.on('data', (chunk) => {
      for (const s of decoder.push(chunk)) {
        const tag = s.find((w) => w.startsWith('.tag='))?.slice(5) ?? '';
        const p = pending.find((x) => x.tag === tag);
        if (!p) continue;
        if (s[0] === '!re') p.rows++;
        else if (s[0] === '!done' || s[0] === '!trap') { pending.splice(pending.indexOf(p), 1); p.resolve(p.rows); }
      }
    });
    let seq = 0;
    const call = (...words: string[]) => new Promise<number>((resolve) => {
      const tag = String(seq++);
      pending.push({ tag, rows: 0, resolve });
      sock.write(encodeSentence([...words, `.tag=${tag}`]));
    });
    await call('/login', '=name=admin', '=password=bench');
    const print = async () => { const rows = await call('/certificate/print'); if (rows !== 1000) throw new Error(`API print gave ${rows}`); };
    for (let i = 0; i < 5; i++) await print();
    const apiTimes: number[] = [];
    for (let i = 0; i < 40; i++) { const t = nowMs(); await print(); apiTimes.push(nowMs() - t); }
    t0 = nowMs();
    next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => { while (next++ < n) await print(); }));
    const apiRate = n / ((nowMs() - t0) / 1000);
    sock.destroy();
    line('API /certificate/print (1,000 certs), median', `${median(apiTimes).toFixed(1)} ms`, `${apiRate.toFixed(1)} req/s @4`, apiRate * median(apiTimes) / 1000, 'report');
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise<void>((r) => { if (c.exitCode !== null || c.signalCode !== null) r(); else c.once('exit', () => r()); })));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
