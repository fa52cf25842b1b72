// What every bench section shares: the result line, medians, timers, loopback ports.
import { generateKeyPairSync, sign } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

/** Prints one figure beside its reference measured in the same run, as a ratio. */
export type Line = (what: string, value: string, reference: string, ratio: number, aim: string) => void;

export const ROOT = path.resolve(import.meta.dirname, '..');
export const BIN = path.join(ROOT, 'bin', 'rospki.js');

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The time on a CPU (ms) of one thread so far: the first field of its schedstat (ns). */
function schedstatMs(pid: number, tid: number | string): number {
  return Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

/**
 * CPU time (ms) one thread has used so far: a process's main thread when tid is left out (Linux);
 * undefined elsewhere or once it is gone. CPU per operation tells what a server costs apart from
 * how a shared machine schedules it.
 */
export function threadCpuMs(pid: number, tid = pid): number | undefined {
  try {
    return schedstatMs(pid, tid);
  } catch {
    return undefined;
  }
}

/** CPU µs per operation of a thread between two threadCpuMs readings, over `count` operations. */
export function cpuUsPer(startMs: number | undefined, endMs: number | undefined, count: number): number | undefined {
  return startMs === undefined || endMs === undefined ? undefined : ((endMs - startMs) * 1000) / count;
}

/** The raw limit: keygen + one signature per second, and its CPU µs each, on this thread. */
export interface RawFigure { rate: number; cpuUs: number | undefined }

/** EC P-256 keygen + one signature over a certificate-sized TBS, `count` times on this thread. */
export function rawKeygenSign(count: number): RawFigure {
  const tbs = Buffer.alloc(600, 7);
  const cpuBefore = threadCpuMs(process.pid);
  const start = nowMs();
  for (let i = 0; i < count; i++) sign('sha256', tbs, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey);
  const rate = count / ((nowMs() - start) / 1000);
  return { rate, cpuUs: cpuUsPer(cpuBefore, threadCpuMs(process.pid), count) };
}

/** CPU time (ms) a process has used so far, all its threads (Linux); undefined elsewhere. */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    let ms = 0;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) ms += schedstatMs(pid, tid);
    return ms;
  } catch {
    return undefined;
  }
}

/**
 * One JSON request over `agent` (keep-alive) with node:http, to `base` (`http://host:port`). The
 * benches' load generators share the machine's cores with the servers they measure, so they use
 * this rather than fetch (undici), whose client costs ≈ 1.5 ms more per request here (docs/bench.md,
 * SCEP): the same for every server measured, but CPU taken from them on 2 cores.
 */
export function requestJson(agent: http.Agent, base: string, method: string, path: string, body: unknown, auth?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(`${base}${path}`, { method, agent, headers: {
      'content-type': 'application/json', 'content-length': data.length, ...(auth ? { authorization: auth } : {}),
    } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** A free TCP port on 127.0.0.1 (the network rule: benches talk to loopback only). */
export { freePort } from '../test/services/support.js';

/** Waits (bounded) until something listens on 127.0.0.1:port. */
export async function waitPort(port: number, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}
