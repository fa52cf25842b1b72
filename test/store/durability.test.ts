// Durable acknowledgement (issue 10 item 4): a command is reported done only once its change is
// committed, so a daemon killed with SIGKILL in the middle of signing loses nothing it
// acknowledged. Several real `rospki -e` clients sign through a real daemon; the test kills the
// daemon at the very moment it reads an acknowledgement, then checks every acknowledged
// certificate in the reopened data directory: present, signed by the CA, its key unsealed and
// matching the certificate. (When writes were acknowledged before their group commit, each run
// lost a few hundred acknowledged certificates here.)
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import * as path from 'node:path';
import { test } from 'node:test';
import { DER_BLOB, KEY_BLOB } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { SqliteStore, openDataDir } from '../../src/store/index.js';
import { tempDir } from './helpers.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/rospki.js');
const CLIENTS = 4;
/** Kill rounds: each restarts the daemon and kills it again after more acknowledgements. */
const ROUNDS = 3;
/** Acknowledgements to wait for (over all clients) before each kill. */
const ACKS_PER_ROUND = 60;
const TIMEOUT_MS = 30_000;
/** Bounds each client's loop; far more than a round needs. */
const MAX_PER_CLIENT = 20_000;

function rospki(dir: string, script: string): string {
  const r = spawnSync(process.execPath, [BIN, '--data', dir, '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `rospki -e ${script}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Starts `rospki serve` and resolves once it serves its control socket. */
function startDaemon(dir: string): Promise<ChildProcess> {
  const daemon = spawn(process.execPath, [BIN, 'serve', '--data', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => { daemon.kill('SIGKILL'); reject(new Error('the daemon did not start')); }, 30_000);
    daemon.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; });
    daemon.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('serving')) { clearTimeout(timer); resolve(daemon); }
    });
    daemon.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the daemon exited ${code}: ${err}`)); });
  });
}

interface Client {
  /** Resolves once the client runs its script through the daemon. */
  ready: Promise<void>;
  /** Names whose `sign` the daemon reported done. */
  acknowledged: string[];
  exited: Promise<void>;
  kill(): void;
}

/**
 * A `rospki -e` client that adds and signs certificates `<prefix>N` until the daemon dies. Its
 * first line, `ready`, shows that it connected to the daemon (a client that found no daemon
 * would run the script on the data directory itself).
 */
function startClient(dir: string, prefix: string, onAck: () => void): Client {
  const script = `:put ready
  :for i from=1 to=${MAX_PER_CLIENT} do={
    /certificate add name="${prefix}$i" common-name="${prefix}$i" key-size=prime256v1
    /certificate sign "${prefix}$i" ca=ca
    :put "done ${prefix}$i"
  }`;
  const child = spawn(process.execPath, [BIN, '--data', dir, '-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  const acknowledged: string[] = [];
  let partial = '';
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => { onReady = resolve; });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') onReady();
      const m = /^done (\S+)$/.exec(line);
      if (m) { acknowledged.push(m[1]!); onAck(); }
    }
  });
  return {
    ready, acknowledged,
    exited: new Promise((resolve) => child.once('close', () => resolve())),
    kill: () => child.kill('SIGKILL'),
  };
}

/** One round: clients sign until ACKS_PER_ROUND acknowledgements arrived, then SIGKILL. */
async function signAndKill(dir: string, round: number): Promise<string[]> {
  const daemon = await startDaemon(dir);
  const died = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  let acks = 0;
  let armed = false;
  const onAck = () => {
    // SIGKILL at once, from inside the handler that read the acknowledgement: no commit still
    // pending behind it gets a chance to finish.
    if (++acks >= ACKS_PER_ROUND && armed) daemon.kill('SIGKILL');
  };
  const clients = Array.from({ length: CLIENTS }, (_, c) => startClient(dir, `r${round}c${c}n`, onAck));
  // Every client must be connected before the daemon may die: one that started later would find
  // no daemon and sign on its own.
  const timeout = setTimeout(() => { daemon.kill('SIGKILL'); for (const c of clients) c.kill(); }, TIMEOUT_MS);
  await Promise.race([Promise.all(clients.map((c) => c.ready)), died]);
  armed = true;
  await died;
  // Lines already on their way were acknowledged before the kill too: wait for every client
  // (each exits once it finds the daemon gone).
  await Promise.all(clients.map((c) => c.exited));
  clearTimeout(timeout);
  assert.ok(acks >= ACKS_PER_ROUND, `round ${round}: only ${acks} acknowledgements before the daemon died`);
  return clients.flatMap((c) => c.acknowledged);
}

test('kill -9 while several clients sign through the daemon loses no acknowledged certificate', { timeout: 4 * TIMEOUT_MS }, async (t) => {
  const dir = tempDir(t);
  // Services off: this test needs the control socket only, not ports shared with other tests.
  rospki(dir, '/ip service disable [find]');
  rospki(dir, '/certificate add name=ca common-name=ca key-size=prime256v1 key-usage=key-cert-sign,crl-sign; /certificate sign ca');

  const acknowledged: string[] = [];
  for (let round = 0; round < ROUNDS; round++) acknowledged.push(...await signAndKill(dir, round));

  // A fresh process opens what the killed daemon left (the WAL is recovered).
  const count = Number(rospki(dir, ':put [/certificate print count-only]').trim());
  assert.ok(count >= acknowledged.length + 1, `${count} certificates stored, ${acknowledged.length} acknowledged`);

  const dataDir = openDataDir(dir);
  const store = SqliteStore.open(dataDir);
  t.after(() => store.close());
  const missing: string[] = [];
  await store.read((tx) => {
    const caRow = tx.findBy(CERT_PATH, 'name', 'ca')[0]!;
    const ca = new X509Certificate(tx.getBlob(CERT_PATH, caRow.id, DER_BLOB)!);
    for (const name of acknowledged) {
      const row = tx.findBy(CERT_PATH, 'name', name)[0];
      const der = row && tx.getBlob(CERT_PATH, row.id, DER_BLOB);
      const sealed = row && tx.getBlob(CERT_PATH, row.id, KEY_BLOB);
      if (!row || !der || !sealed) { missing.push(name); continue; }
      assert.equal(row.data['private-key'], true, name);
      const cert = new X509Certificate(der);
      assert.equal(cert.subject, `CN=${name}`);
      assert.ok(cert.verify(ca.publicKey), `${name} is signed by the CA`);
      const key = createPrivateKey({ key: store.unseal(sealed), format: 'der', type: 'pkcs8' });
      assert.deepEqual(
        createPublicKey(key).export({ format: 'der', type: 'spki' }),
        cert.publicKey.export({ format: 'der', type: 'spki' }),
        `${name}: the stored key belongs to the certificate`,
      );
    }
  });
  assert.deepEqual(missing, [], `acknowledged but lost after kill -9 (${missing.length} of ${acknowledged.length})`);
});
