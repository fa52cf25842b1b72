// SCEP enrolments per second (issue 15): the same client load against rospki's SCEP server (a
// `rospki serve` daemon in its own process, www on 127.0.0.1) and against micromdm's scepserver
// (Debian `scep`) in the same run. The load: RSA-2048 client keys made beforehand, each a
// PKCSReq with a challenge password (one-time passwords for rospki, made beforehand too;
// micromdm's one static challenge), AES-256 envelope, SHA-256, sent by POST one after another
// (node:http, keep-alive: see post). An enrolment counts once its CertRep says SUCCESS (signed by the server, for this
// transaction and nonce); the first reply of each server is also opened and its certificate
// checked against the request's key. Both CAs are RSA-2048. Aim: rospki ≥ 2× micromdm.
// Also printed: the time per enrolment of each server, and the floor of one enrolment — the three
// RSA-2048 private operations a server does (decrypt the envelope's key, sign the certificate,
// sign the CertRep) with node:crypto on one thread, measured in the same run. rospki's daemon is
// measured warm (WARM_UP below), as a server that has been running a while.
//
// For profiling: ROSPKI_BENCH_PROFILE=<dir> runs the daemon with --cpu-prof into <dir>, and
// ROSPKI_BENCH_BIN=<bin/rospki.js of another build> measures that build instead, and
// ROSPKI_BENCH_COMPARE=<bin/rospki.js of another build> measures that one too, in the same
// rotation (before/after on a noisy machine); ROSPKI_BENCH_ROUNDS=<n> sets the rounds.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { constants, generateKeyPair, generateKeyPairSync, privateDecrypt, publicEncrypt, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Appliance } from '../src/appliance.js';
import { exportSpkiDer, issueCertificate, parseCertificate } from '../src/pki/index.js';
import { createCsr } from '../src/pki/csr.js';
import { createRequest, degenerateContents, openMessageData, parsePkiMessage, transactionIdFor } from '../src/pki/scep-message.js';
import { certificateDer } from '../src/menus/certificate/keys.js';
import { CERT_PATH } from '../src/menus/certificate/properties.js';
import { BIN as OWN_BIN, freePort, nowMs, processCpuMs, waitPort, type Line } from './support.js';

/** ROSPKI_BENCH_BIN=<path to bin/rospki.js> measures another build (e.g. an older commit's) the same way. */
const BIN = process.env.ROSPKI_BENCH_BIN ?? OWN_BIN;

/** Enrolments per measured round, rounds per server (alternating). */
const PER_ROUND = 30;
const ROUNDS = Math.max(1, Number(process.env.ROSPKI_BENCH_ROUNDS ?? 2));
/**
 * Enrolments before the measured rounds: a rospki daemon's rate keeps rising over its first
 * ~150 (V8 compiling its hot paths: 153, 193, 224 … 250/s in rounds of 30 from a cold start),
 * while micromdm's (Go, compiled ahead) is flat from the start and its file depot only grows, so
 * it gets the few it needs to open its connections.
 */
const WARM_UP = { rospki: 150, micromdm: 4 };
/**
 * Enrolments in flight beside micromdm: one. Its file depot reads and writes the serial file
 * without a lock, so concurrent enrolments fail there ("could not convert  to serial number").
 * rospki is also measured with CONCURRENT in flight (the clients of an MDM roll-out), beside itself.
 */
const IN_FLIGHT = 1;
const CONCURRENT = 8;
const MICROMDM_CHALLENGE = 'bench-secret';

interface ClientKey { privateKey: KeyObject; spki: Buffer }

const have = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

function makeKey(): Promise<ClientKey> {
  return new Promise((resolve, reject) => generateKeyPair('rsa', { modulusLength: 2048 }, (err, publicKey, privateKey) => {
    if (err) reject(err); else resolve({ privateKey, spki: exportSpkiDer(publicKey) });
  }));
}

/** One prepared enrolment: the pkiMessage, and what its answer is checked against. */
interface Enrolment { der: Buffer; senderNonce: Buffer; transactionId: string; signer: { certificate: Buffer; privateKey: KeyObject }; spki: Buffer }

/** A PKCSReq as a client builds it (RFC 8894 §3.3.1): CSR with the challenge, signed by a self-signed certificate of the key. */
function enrolment(key: ClientKey, cn: string, challenge: string, ca: Buffer): Enrolment {
  const csr = createCsr({ subject: { commonName: cn }, challengePassword: challenge, digest: 'sha256', privateKey: key.privateKey, publicKey: key.spki, keyUsage: 'digital-signature,key-encipherment,tls-client' });
  const certificate = issueCertificate({
    subject: { commonName: cn }, keyUsage: 'digital-signature,key-encipherment', daysValid: 1, digest: 'sha256', notBefore: Date.now() - 3600_000,
    subjectPublicKey: key.spki, issuer: { kind: 'self', privateKey: key.privateKey },
  }).der;
  const transactionId = transactionIdFor(key.spki);
  const r = createRequest({
    messageType: 'PKCSReq', transactionId, messageData: csr, recipient: ca, cipher: 'aes-256-cbc',
    signer: { certificate, privateKey: key.privateKey, digest: 'sha256' },
  });
  return { der: r.der, senderNonce: r.senderNonce, transactionId, signer: { certificate, privateKey: key.privateKey }, spki: key.spki };
}

/**
 * The client's HTTP: node:http over keep-alive connections (one per enrolment in flight, per
 * server). undici's fetch cost the client ≈ 1.5 ms more per enrolment here (measured against a
 * server answering a canned CertRep at once: fetch 3.0–3.7 ms per exchange with the CertRep
 * check, node:http 1.9 ms), a constant inside every server's figure that hid how the servers differ.
 */
const agents = new Map<string, http.Agent>();

function post(url: string, body: Buffer): Promise<{ status: number; body: Buffer }> {
  const origin = new URL(url).origin;
  let agent = agents.get(origin);
  if (!agent) agents.set(origin, agent = new http.Agent({ keepAlive: true }));
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/x-pki-message', 'content-length': body.length } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** POSTs one enrolment and checks its CertRep; `open` also decrypts it and checks the certificate. */
async function enrol(url: string, ca: Buffer, e: Enrolment, open: boolean): Promise<void> {
  const { status, body } = await post(`${url}?operation=PKIOperation`, e.der);
  if (status !== 200) throw new Error(`PKIOperation answered ${status}: ${body.toString('utf8', 0, 200)}`);
  const rep = parsePkiMessage(body, [ca]);
  if (!rep.signatureValid || rep.transactionId !== e.transactionId || !rep.recipientNonce?.equals(e.senderNonce)) throw new Error('a CertRep that is not for this request');
  if (rep.pkiStatus !== 'SUCCESS') throw new Error(`${url}: CertRep ${rep.pkiStatus} ${rep.failInfo ?? ''} ${rep.failInfoText ?? ''}`);
  if (!open) return;
  const inner = await openMessageData(rep, { certificate: e.signer.certificate, privateKey: e.signer.privateKey });
  const mine = degenerateContents(inner.data).certificates.find((c) => parseCertificate(c).publicKey.equals(e.spki));
  if (!mine) throw new Error('the reply holds no certificate for the request\'s key');
}

/** All enrolments with IN_FLIGHT at a time; enrolments per second. */
async function load(url: string, ca: Buffer, list: Enrolment[], openFirst: boolean, inFlight = IN_FLIGHT): Promise<number> {
  let next = 0;
  const start = nowMs();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= list.length) return;
      await enrol(url, ca, list[i]!, openFirst && i === 0);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return list.length / ((nowMs() - start) / 1000);
}

/**
 * The floor of one enrolment, in ms: the three RSA-2048 private operations of a server (PKCS#1
 * v1.5 decryption of a content-encryption key, two SHA-256 signatures) on this thread, the best
 * of a few rounds (the machine is shared).
 */
function rsaFloorMs(): number {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  // node 20 refuses PKCS#1 v1.5 decryption; the raw operation (what cms.ts does) costs the same.
  const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, Buffer.concat([Buffer.from([0]), Buffer.alloc(255, 7)]));
  const tbs = Buffer.alloc(800, 1);
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const n = 20;
    const start = nowMs();
    for (let i = 0; i < n; i++) {
      privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, wrapped);
      sign('sha256', tbs, privateKey);
      sign('sha256', tbs, privateKey);
    }
    best = Math.min(best, (nowMs() - start) / n);
  }
  return best;
}


async function getCaCert(url: string): Promise<Buffer> {
  const res = await fetch(`${url}?operation=GetCACert`);
  if (res.status !== 200) throw new Error(`GetCACert answered ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** rospki: a data directory with an RSA-2048 CA, /scep/bench on www and enough one-time passwords. */
async function prepareRospki(dir: string, port: number, otps: number): Promise<string[]> {
  const app = await Appliance.open(dir);
  try {
    const session = await app.session('admin', 'bench');
    const run = async (p: string, command: string, args: Record<string, string>) => app.executor.run({ path: p, command, args: new Map(Object.entries(args)), session });
    await run('/ip/service', 'set', { numbers: 'www', port: String(port) });
    await run(CERT_PATH, 'add', { name: 'ca', 'common-name': 'bench SCEP CA', 'key-size': '2048', 'key-usage': 'key-cert-sign,crl-sign' });
    await run(CERT_PATH, 'sign', { number: 'ca' });
    await run('/certificate/scep-server', 'add', { 'ca-cert': 'ca', path: '/scep/bench' });
    const passwords: string[] = [];
    for (let i = 0; i < otps; i++) passwords.push(String((await run('/certificate/scep-server/otp', 'generate', { 'minutes-valid': '60' })).ret));
    // The CA as GetCACert gives it (checked against the daemon's answer below).
    return [await app.store.read((tx) => certificateDer(tx, tx.findBy(CERT_PATH, 'name', 'ca')[0]!.id)!.toString('base64')), ...passwords];
  } finally {
    app.close();
  }
}

export async function benchScep(line: Line): Promise<void> {
  if (!have('scepserver')) { console.log('scep: skipped (apt-get install scep)'); return; }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-scep-'));
  const children: ChildProcess[] = [];
  try {
    const warmUp = (name: string) => (name === 'micromdm' ? WARM_UP.micromdm : WARM_UP.rospki);
    const perServer = WARM_UP.rospki + PER_ROUND * ROUNDS;
    const rospkiTotal = perServer + PER_ROUND * ROUNDS; // and the concurrent rounds
    // Client keys, made beforehand: one set, each key enrols once at each server.
    const keys = await Promise.all(Array.from({ length: rospkiTotal }, makeKey));

    const compareBin = process.env.ROSPKI_BENCH_COMPARE;
    let compare: { url: string; otps: string[]; pid?: number } | undefined;
    if (compareBin) {
      const dir = path.join(root, 'compare');
      const port = await freePort();
      const [, ...cOtps] = await prepareRospki(dir, port, perServer);
      children.push(spawn('node', [compareBin, 'serve', '--data', dir], { stdio: 'ignore', env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' } }));
      await waitPort(port);
      compare = { url: `http://127.0.0.1:${port}/scep/bench`, otps: cOtps, pid: children.at(-1)!.pid };
    }

    const rospkiDir = path.join(root, 'rospki');
    const rospkiPort = await freePort();
    const [caB64, ...otps] = await prepareRospki(rospkiDir, rospkiPort, rospkiTotal);
    const profile = process.env.ROSPKI_BENCH_PROFILE;
    const daemon = spawn('node', [...(profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profile)}`] : []), BIN, 'serve', '--data', rospkiDir], { stdio: 'ignore', env: { ...process.env, ROSPKI_LISTEN_ADDRESS: '127.0.0.1' } });
    children.push(daemon);

    const mdmDir = path.join(root, 'micromdm');
    const mdmPort = await freePort();
    const init = spawnSync('scepserver', ['ca', '-init', '-depot', path.join(mdmDir, 'depot'), '-keySize', '2048', '-organization', 'bench CA'], { encoding: 'utf8', timeout: 60_000 });
    if (init.status !== 0) throw new Error(`scepserver ca -init failed: ${init.stderr}`);
    // scepserver has no bind address flag (it listens on *:port); only 127.0.0.1 is contacted.
    const mdm = spawn('scepserver', ['-depot', path.join(mdmDir, 'depot'), '-port', String(mdmPort), '-challenge', MICROMDM_CHALLENGE], { stdio: 'ignore' });
    children.push(mdm);
    await waitPort(rospkiPort);
    await waitPort(mdmPort);

    const servers: Record<string, { url: string; challenge: (i: number) => string; rates: number[]; pid?: number; cpu: number[] }> = {
      rospki: { url: `http://127.0.0.1:${rospkiPort}/scep/bench`, challenge: (i: number) => otps[i]!, rates: [], pid: daemon.pid, cpu: [] },
      micromdm: { url: `http://127.0.0.1:${mdmPort}/scep`, challenge: () => MICROMDM_CHALLENGE, rates: [], pid: mdm.pid, cpu: [] },
    };
    if (compare) servers.compare = { url: compare.url, challenge: (i: number) => compare.otps[i]!, rates: [], pid: compare.pid, cpu: [] };
    const prepared: Record<string, { ca: Buffer; list: Enrolment[] }> = {};
    for (const [name, s] of Object.entries(servers)) {
      const ca = await getCaCert(s.url);
      if (name === 'rospki' && ca.toString('base64') !== caB64) throw new Error('rospki\'s GetCACert is not its CA');
      prepared[name] = { ca, list: keys.slice(0, name === 'rospki' ? rospkiTotal : warmUp(name) + PER_ROUND * ROUNDS).map((k, i) => enrolment(k, `${name}-${i}.bench.test`, s.challenge(i), ca)) };
    }
    // Warm up, then the rounds alternate between the servers; the better round of each counts (noise).
    for (const [name, s] of Object.entries(servers)) await load(s.url, prepared[name]!.ca, prepared[name]!.list.slice(0, warmUp(name)), true);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, s] of Object.entries(servers)) {
        const from = warmUp(name) + r * PER_ROUND;
        const cpuBefore = processCpuMs(s.pid);
        s.rates.push(await load(s.url, prepared[name]!.ca, prepared[name]!.list.slice(from, from + PER_ROUND), false));
        const cpuAfter = processCpuMs(s.pid);
        if (cpuBefore !== undefined && cpuAfter !== undefined) s.cpu.push((cpuAfter - cpuBefore) / PER_ROUND);
      }
    }
    const concurrent: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const from = perServer + r * PER_ROUND;
      concurrent.push(await load(servers.rospki!.url, prepared.rospki!.ca, prepared.rospki!.list.slice(from, from + PER_ROUND), false, CONCURRENT));
    }
    const floor = rsaFloorMs();
    const ours = Math.max(...servers.rospki!.rates);
    const theirs = Math.max(...servers.micromdm!.rates);
    line('SCEP enrolments /s (RSA-2048, OTP, POST, one at a time)', ours.toFixed(1), `micromdm ${theirs.toFixed(1)}/s`, ours / theirs, '≥ 2×');
    line('SCEP ms per enrolment, one at a time', `${(1000 / ours).toFixed(1)} ms`, `micromdm ${(1000 / theirs).toFixed(1)} ms`, (1000 / ours) / (1000 / theirs), 'information');
    line('SCEP floor: 3 RSA-2048 private ops, node:crypto', `${floor.toFixed(1)} ms`, `rospki ${(1000 / ours).toFixed(1)} ms`, floor / (1000 / ours), 'information');
    const cpuOurs = servers.rospki!.cpu.length ? Math.min(...servers.rospki!.cpu) : NaN;
    const cpuTheirs = servers.micromdm!.cpu.length ? Math.min(...servers.micromdm!.cpu) : NaN;
    line('SCEP server CPU ms per enrolment (all threads)', `${cpuOurs.toFixed(2)} ms`, `micromdm ${cpuTheirs.toFixed(2)} ms`, cpuOurs / cpuTheirs, 'information');
    if (servers.compare) {
      const other = Math.max(...servers.compare.rates);
      line('SCEP enrolments /s, this build vs ROSPKI_BENCH_COMPARE', ours.toFixed(1), `compared ${other.toFixed(1)}/s`, ours / other, 'information');
      line('SCEP enrolments /s, ROSPKI_BENCH_COMPARE vs micromdm', other.toFixed(1), `micromdm ${theirs.toFixed(1)}/s`, other / theirs, 'information');
      const cpuOther = servers.compare.cpu.length ? Math.min(...servers.compare.cpu) : NaN;
      line('SCEP server CPU ms per enrolment, this build vs COMPARE', `${cpuOurs.toFixed(2)} ms`, `compared ${cpuOther.toFixed(2)} ms`, cpuOurs / cpuOther, 'information');
    }
    line(`SCEP enrolments /s, rospki with ${CONCURRENT} in flight`, Math.max(...concurrent).toFixed(1), `1 at a time ${ours.toFixed(1)}/s`, Math.max(...concurrent) / ours, 'information');
  } finally {
    for (const a of agents.values()) a.destroy();
    agents.clear();
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    fs.rmSync(root, { recursive: true, force: true });
  }
}
