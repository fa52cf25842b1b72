// Helpers for service tests: an appliance with its services on free high ports of 127.0.0.1,
// a CA and a server certificate for TLS, and a bare binary-API client.

import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { startServices, type RunningServices, type ServiceOptions } from '../../src/services/index.js';
import { certificateDer } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { encodeSentence, SentenceDecoder } from '../../src/services/words.js';
import { openTestApp, toPem, type TestApp } from '../support/app.js';

export const PASSWORD = 'secret';

/** Ports freePort() gave this process: the OS may offer a just-closed port again at once. */
const handedOut = new Set<number>();

/**
 * A port nothing listens on right now (the OS picks it), and never one this process was given
 * before: callers take several in a row before anything listens on them (pebble once got the
 * same port for its ACME and management listeners, and could not start).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: the OS kept offering ports this process was already given');
}

/** A UDP port nothing uses on 127.0.0.1 right now (IKE is UDP). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Moves the IKE daemon a test may start (an enabled ike2 peer) off ports 500 and 4500. */
export async function useFreeIpsecPorts(t: TestApp): Promise<number> {
  const ike = await freeUdpPort();
  await t.run('/ip/ipsec/settings', 'set', { 'ike-port': String(ike), 'nat-t-port': String(await freeUdpPort()) });
  return ike;
}

export interface ServiceApp extends TestApp {
  services: RunningServices;
  ports: Record<'www' | 'www-ssl' | 'api' | 'api-ssl', number>;
  stop(): Promise<void>;
}

/**
 * A fresh appliance, admin's password set, services on free ports (www-ssl still disabled).
 * `services` overrides the service options (limits and timeouts) of the test.
 */
export async function startServiceApp(opts: { enableWwwSsl?: boolean; services?: Partial<ServiceOptions> } = {}): Promise<ServiceApp> {
  const t = await openTestApp({ time: Date.now() });
  await t.run('/user', 'set', { numbers: 'admin', password: PASSWORD });
  const ports = { www: await freePort(), 'www-ssl': await freePort(), api: await freePort(), 'api-ssl': await freePort() };
  for (const [name, port] of Object.entries(ports)) await t.run('/ip/service', 'set', { numbers: name, port: String(port) });
  if (opts.enableWwwSsl) await t.run('/ip/service', 'enable', { numbers: 'www-ssl' });
  const services = await startServices(t.app, { host: '127.0.0.1', loginFailureDelayMs: 50, pollMs: 100, ...opts.services });
  return {
    ...t, services, ports,
    async stop() { await services.stop(); t.close(); },
  };
}

/** CA `root` → `inter` → server `srv` (SAN router.test, 127.0.0.1), all EC, signed in the appliance. */
export async function makeChain(t: TestApp, opts: { leaf?: string; cn?: string } = {}): Promise<{ rootPem: string; interPem: string; leafPem: string }> {
  const leaf = opts.leaf ?? 'srv';
  const has = await t.app.store.read((tx) => tx.findBy(CERT_PATH, 'name', 'root').length > 0);
  if (!has) {
    await t.run(CERT_PATH, 'add', { name: 'root', 'common-name': 'test root', 'key-size': 'prime256v1', 'key-usage': 'key-cert-sign,crl-sign', 'days-valid': '30' });
    await t.run(CERT_PATH, 'sign', { number: 'root' });
    await t.run(CERT_PATH, 'add', { name: 'inter', 'common-name': 'test intermediate', 'key-size': 'prime256v1', 'key-usage': 'key-cert-sign,crl-sign', 'days-valid': '30' });
    await t.run(CERT_PATH, 'sign', { number: 'inter', ca: 'root' });
  }
  await t.run(CERT_PATH, 'add', {
    name: leaf, 'common-name': opts.cn ?? 'router.test', 'key-size': 'prime256v1', 'days-valid': '30',
    'subject-alt-name': 'DNS:router.test,DNS:www.router.test,IP:127.0.0.1', 'key-usage': 'digital-signature,key-encipherment,tls-server',
  });
  await t.run(CERT_PATH, 'sign', { number: leaf, ca: 'inter' });
  const pem = (name: string) => t.app.store.read((tx) => toPem(certificateDer(tx, tx.findBy(CERT_PATH, 'name', name)[0]!.id)!));
  return { rootPem: await pem('root'), interPem: await pem('inter'), leafPem: await pem(leaf) };
}

/** Runs a program without blocking the event loop (the services run in this process). */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, env: { ...process.env, ...opts.env }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? (err as unknown as { code: number }).code : -1) : 0, stdout, stderr });
    });
    // A program may exit before it reads its input (openssl s_client failing a handshake): its
    // closed pipe is no error of the test.
    child.stdin?.on('error', () => {});
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** A minimal binary-API client: send sentences, read replies one sentence at a time. */
export class ApiClient {
  private readonly decoder = new SentenceDecoder({ maxWord: 1 << 24, maxSentence: 1 << 26, maxWords: 1 << 20 });
  private readonly queue: string[][] = [];
  private waiters: Array<(s: string[] | undefined) => void> = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      for (const s of this.decoder.push(chunk)) this.deliver(s);
    });
    socket.on('close', () => { this.closed = true; for (const w of this.waiters.splice(0)) w(undefined); });
    socket.on('error', () => {});
  }

  static async connect(port: number, socket?: net.Socket): Promise<ApiClient> {
    const s = socket ?? net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('secureConnect', resolve); s.once('error', reject); });
    return new ApiClient(s);
  }

  private deliver(s: string[]): void {
    const w = this.waiters.shift();
    if (w) w(s); else this.queue.push(s);
  }

  send(...words: string[]): void {
    this.socket.write(encodeSentence(words));
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Next reply sentence, or undefined when the connection closed. */
  read(timeoutMs = 10_000): Promise<string[] | undefined> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const waiter = (s: string[] | undefined): void => { clearTimeout(timer); resolve(s); };
      // A read that timed out takes no later sentence: that one is for the next read.
      const timer = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== waiter); reject(new Error('API read timed out')); }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Sends a command and reads replies up to and including `!done` (or `!fatal`). */
  async talk(...words: string[]): Promise<string[][]> {
    this.send(...words);
    const out: string[][] = [];
    for (;;) {
      const s = await this.read();
      if (!s) return out;
      out.push(s);
      if (s[0] === '!done' || s[0] === '!fatal') return out;
    }
  }

  async login(user = 'admin', password = PASSWORD): Promise<string[][]> {
    return this.talk('/login', `=name=${user}`, `=password=${password}`);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** `=k=v` words of a reply sentence as an object. */
export function attrs(sentence: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of sentence.slice(1)) {
    if (!w.startsWith('=')) continue;
    const eq = w.indexOf('=', 1);
    out[w.slice(1, eq)] = w.slice(eq + 1);
  }
  return out;
}

export function basic(user = 'admin', password = PASSWORD): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
