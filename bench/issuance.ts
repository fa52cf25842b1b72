// EC P-256 issuance through every front end of a running daemon (issue 10 "Speed"): add + sign
// of one certificate per iteration —
//   * the console: one `rospki -e` script with a `:for` loop, going through the daemon;
//   * REST: 4 clients in parallel (PUT /rest/certificate, POST /rest/certificate/sign);
//   * the binary API: 4 connections in parallel (/certificate/add, /certificate/sign);
// each beside the raw single-core limit measured in the same run (keygen + one signature with
// node:crypto, nothing else) and beside `cfssl serve` (Debian golang-cfssl) issuing the same
// kind of certificate over /api/v1/cfssl/newcert with 4 requests in flight.
//
// For profiling: ROSPKI_BENCH_PROFILE=<dir> runs the daemon with --cpu-prof into <dir>, and
// ROSPKI_BENCH_PARTS=console,rest,api picks the front ends measured (all by default), and
// ROSPKI_BENCH_BIN=<bin/rospki.js of another build> measures that build instead.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { encodeSentence, SentenceDecoder } from '../src/services/words.js';
import { BIN as OWN_BIN, cpuUsPer, freePort, nowMs, rawKeygenSign, requestJson, threadCpuMs, waitPort, type Line, type RawFigure } from './support.js';

/** ROSPKI_BENCH_BIN=<path to bin/rospki.js> measures another build (e.g. an older commit's) the same way. */
const BIN = process.env.ROSPKI_BENCH_BIN ?? OWN_BIN;

const N = 2000;

/** Runs `count` jobs with `inFlight` of them at a time; returns jobs per second. */
async function parallel(count: number, inFlight: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = nowMs();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) await job(next++);
  }));
  return count / ((nowMs() - start) / 1000);
}

/** A bare API connection: one command at a time, replies up to `!done`. */
class Api {
  private readonly decoder = new SentenceDecoder({ maxWord: 1 << 20, maxSentence: 1 << 22, maxWords: 1 << 16 });
  private waiting: ((s: string[]) => void)[] = [];
  private queued: string[][] = [];
  constructor(private readonly socket: net.Socket) {
    socket.on('data', (c) => { for (const s of this.decoder.push(c)) { const w = this.waiting.shift(); if (w) w(s); else this.queued.push(s); } });
  }
  static async open(port: number): Promise<Api> {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
    return new Api(s);
  }
  private read(): Promise<string[]> {
    const q = this.queued.shift();
    return q ? Promise.resolve(q) : new Promise((resolve) => this.waiting.push(resolve));
  }
  async talk(...words: string[]): Promise<string[][]> {
    this.socket.write(encodeSentence(words));
    const out: string[][] = [];
    for (;;) {
      const s = await this.read();
      out.push(s);
      if (s[0] === '!done' || s[0] === '!fatal') return out;
    }
  }
  close(): void { this.socket.destroy(); }
}

/** `cfssl serve` with an EC P-256 CA and a leaf profile; newcert requests, 4 in flight. */
async function cfsslRate(dir: string, count: number): Promise<number | undefined> {
  if (spawnSync('sh', ['-c', 'command -v cfssl']).status !== 0) return undefined;
  const ca = path.join(dir, 'cfssl');
  fs.mkdirSync(ca);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem',
    '-subj', '/CN=cfssl bench CA', '-days', '30'], { cwd: ca, stdio: 'pipe' });
  fs.writeFileSync(path.join(ca, 'cfg.json'), JSON.stringify({ signing: { default: { expiry: '8760h' }, profiles: { leaf: { expiry: '8760h', usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'] } } } }));
  const port = await freePort();
  const child = spawn('cfssl', ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', 'ca.pem', '-ca-key', 'ca-key.pem', '-config', 'cfg.json', '-loglevel', '5'], { cwd: ca, stdio: 'ignore' });
  try {
    await waitPort(port);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const one = async (i: number) => {
      const r = await requestJson(agent, `http://127.0.0.1:${port}`, 'POST', '/api/v1/cfssl/newcert', { request: { CN: `h${i}`, hosts: [`h${i}`], key: { algo: 'ecdsa', size: 256 } }, profile: 'leaf' });
      if (r.status !== 200) throw new Error(`cfssl answered ${r.status}: ${r.text.slice(0, 200)}`);
    };
    await parallel(200, 4, one); // warm up
    const rate = await parallel(count, 4, one);
    agent.destroy();
    return rate;
  } finally {
    child.kill();
  }
}

export async function benchIssuance(line: Line): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-issue-'));
  const ports = { www: await freePort(), api: await freePort() };
  const children: ChildProcess[] = [];
  const cli = (script: string) => {
    const r = spawnSync('node', [BIN, '--data', dir, '-e', script], { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`rospki -e failed: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  try {
    cli(`/user set admin password=bench; /ip service set www port=${ports.www}; /ip service set api port=${ports.api}; /ip service disable api-ssl;`
      + ' /certificate add name=ca common-name="bench CA" key-size=prime256v1 key-usage=key-cert-sign,crl-sign; /certificate sign ca');
    const profile = process.env.ROSPKI_BENCH_PROFILE;
    const daemon = spawn('node', [...(profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profile)}`] : []), BIN, 'serve', '--data', dir], { stdio: 'ignore', env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' } });
    children.push(daemon);
    await waitPort(ports.www);
    await waitPort(ports.api);

    rawKeygenSign(500);
    const cfssl = await cfsslRate(dir, N);
    // The machine is shared and its load drifts by minutes: the raw limit is measured right
    // before and right after each front end, and its mean is that front end's reference. Beside
    // the rates, the daemon's main-thread CPU per certificate against raw's CPU per keygen+sign:
    // what a certificate costs the thread that does the work, which load disturbs far less.
    let rawBefore: RawFigure = { rate: 0, cpuUs: undefined }; // set by ref.before()
    let daemonCpuBefore: number | undefined;
    const ref: Ref = (rate: number, what: string) => {
      const daemonCpuAfter = threadCpuMs(daemon.pid!);
      const rawAfter = rawKeygenSign(3000);
      const raw = (rawBefore.rate + rawAfter.rate) / 2;
      line(what, rate.toFixed(0), `raw ${raw.toFixed(0)}/s`, rate / raw, '≥ 0.3× raw single core');
      if (cfssl !== undefined) line('  beside cfssl serve (4 in flight)', rate.toFixed(0), `cfssl ${cfssl.toFixed(0)}/s`, rate / cfssl, '≥ 2× cfssl');
      if (daemonCpuBefore !== undefined && daemonCpuAfter !== undefined && rawBefore.cpuUs !== undefined && rawAfter.cpuUs !== undefined) {
        const daemonUs = cpuUsPer(daemonCpuBefore, daemonCpuAfter, N)!;
        const rawUs = (rawBefore.cpuUs + rawAfter.cpuUs) / 2;
        line('  daemon main-thread CPU per add+sign, µs', daemonUs.toFixed(0), `raw ${rawUs.toFixed(0)} µs`, rawUs / daemonUs, 'information (0.3× ⇔ ≤ raw/0.3)');
      }
      rawBefore = rawAfter;
    };
    ref.before = () => { rawBefore = rawKeygenSign(3000); daemonCpuBefore = threadCpuMs(daemon.pid!); };

    const parts = new Set((process.env.ROSPKI_BENCH_PARTS ?? 'console,rest,api').split(','));

    // The console: one -e script through the daemon (warm-up loop first, then the timed one).
    const loop = (prefix: string, count: number) =>
      `:for i from=1 to=${count} do={ /certificate add name="${prefix}$i" common-name="${prefix}$i" key-size=prime256v1; /certificate sign "${prefix}$i" ca=ca }`;
    if (parts.has('console')) {
      cli(loop('w', 1000));
      ref.before();
      const start = nowMs();
      cli(loop('c', N));
      ref(N / ((nowMs() - start) / 1000), 'EC P-256 add+sign, console (-e through the daemon) /s');
    }

    if (parts.has('rest')) await benchRest(ports.www, ref);
    if (parts.has('api')) await benchApi(ports.api, ref);
  } finally {
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill();
    })));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Prints a rate beside the raw limit measured around it (call before() when timing starts). */
type Ref = ((rate: number, what: string) => void) & { before: () => void };

/** REST, 4 clients on keep-alive connections. */
async function benchRest(port: number, ref: Ref): Promise<void> {
  const auth = `Basic ${Buffer.from('admin:bench').toString('base64')}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const restOne = (prefix: string) => async (i: number) => {
    const a = await requestJson(agent, `http://127.0.0.1:${port}`, 'PUT', '/rest/certificate', { name: `${prefix}${i}`, 'common-name': `${prefix}${i}`, 'key-size': 'prime256v1' }, auth);
    if (a.status !== 201 && a.status !== 200) throw new Error(`REST add: ${a.status} ${a.text}`);
    const s = await requestJson(agent, `http://127.0.0.1:${port}`, 'POST', '/rest/certificate/sign', { number: `${prefix}${i}`, ca: 'ca' }, auth);
    if (s.status !== 200) throw new Error(`REST sign: ${s.status} ${s.text}`);
  };
  await parallel(400, 4, restOne('rw'));
  ref.before();
  ref(await parallel(N, 4, restOne('r')), 'EC P-256 add+sign, REST (4 clients) /s');
  agent.destroy();
}

/** The API, 4 connections, each with one command at a time. */
async function benchApi(port: number, ref: Ref): Promise<void> {
  const conns = await Promise.all([0, 1, 2, 3].map(() => Api.open(port)));
  for (const c of conns) await c.talk('/login', '=name=admin', '=password=bench');
  // One connection per worker: each keeps its own.
  const perConnection = (prefix: string) => async (count: number) => {
    let next = 0;
    const start = nowMs();
    await Promise.all(conns.map(async (c) => {
      while (next < count) {
        const i = next++;
        const a = await c.talk('/certificate/add', `=name=${prefix}${i}`, `=common-name=${prefix}${i}`, '=key-size=prime256v1');
        const s = await c.talk('/certificate/sign', `=number=${prefix}${i}`, '=ca=ca');
        if (a.at(-1)![0] !== '!done' || s.some((w) => w[0] === '!trap')) throw new Error(`API: ${JSON.stringify([a, s])}`);
      }
    }));
    return count / ((nowMs() - start) / 1000);
  };
  await perConnection('aw')(400);
  ref.before();
  ref(await perConnection('a')(N), 'EC P-256 add+sign, API (4 connections) /s');
  for (const c of conns) c.close();
}
