// Real RouterOS API clients against api and api-ssl: python3-librouteros (Debian, run with
// /usr/bin/python3) and ansible's community.routeros.api (Debian ansible), recipes from
// ../shared/peers.md §3. Skipped when the Debian packages are not installed (.ci/run installs them).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { tempDir } from '../support/app.js';
import { makeChain, run, startServiceApp, type ServiceApp } from '../services/support.js';
import { startServer } from '../menus/crl-support.js';
import { needs } from '../support/tools.js';


let s: ServiceApp;
let dir: string;
let rootFile: string;

before(async () => {
  s = await startServiceApp();
  dir = tempDir('rospki-api-clients-');
  const chain = await makeChain(s);
  rootFile = path.join(dir, 'root.pem');
  fs.writeFileSync(rootFile, chain.rootPem + chain.interPem);
});
after(async () => { await s.stop(); fs.rmSync(dir, { recursive: true, force: true }); });

/** A librouteros session script: print, add, query, update, sign, remove, a trap. */
const SCRIPT = String.raw`
import ssl, sys, json
from librouteros import connect
from librouteros.query import Key
from librouteros.exceptions import TrapError
port, mode, cafile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
kw = dict(port=port, timeout=30)
if mode != 'plain':
    ctx = ssl.create_default_context(cafile=cafile if mode == 'cert' else None)
    if mode == 'adh':
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers('ADH:@SECLEVEL=0')
    kw['ssl_wrapper'] = lambda s: ctx.wrap_socket(s, server_hostname='router.test')
api = connect(host='127.0.0.1', username='admin', password='secret', **kw)
out = {}
if mode != 'plain':
    out['cipher'] = api.protocol.transport.sock.cipher()[0]
out['version'] = list(api('/system/resource/print'))[0]['version']
certs = api.path('certificate')
name = 'lr-' + mode
new_id = certs.add(**{'name': name, 'common-name': name + '.router.test', 'key-size': 'prime256v1', 'days-valid': 30, 'trusted': False})
out['id'] = new_id
n, cn, iid = Key('name'), Key('common-name'), Key('.id')
out['query'] = list(certs.select(iid, n, cn).where(n == name))
out['empty'] = list(certs.select(iid).where(n == 'no-such'))
out['sign'] = list(api('/certificate/sign', **{'.id': new_id, 'ca': 'inter'}))
certs.update(**{'.id': new_id, 'trusted': True})
out['trusted'] = [r['trusted'] for r in certs.select(Key('trusted')).where(iid == new_id)]
try:
    list(api('/certificate/bogus'))
except TrapError as e:
    out['trap'] = str(e)
certs.remove(new_id)
out['after'] = len(list(certs.select(iid).where(n == name)))
print(json.dumps(out))
`;

async function librouteros(port: number, mode: 'plain' | 'cert' | 'adh') {
  const r = await run('/usr/bin/python3', ['-c', SCRIPT, String(port), mode, rootFile], { timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

test('librouteros over api: print, add, query, empty query, sign, update, remove, trap', { skip: needs('librouteros') }, async () => {
  const out = await librouteros(s.ports.api, 'plain');
  assert.match(String(out.version), /^7\./);
  assert.match(String(out.id), /^\*[0-9A-F]+$/);
  assert.deepEqual(out.query, [{ '.id': out.id, name: 'lr-plain', 'common-name': 'lr-plain.router.test' }]);
  assert.deepEqual(out.empty, []);
  assert.deepEqual(out.trusted, [true]);
  assert.match(String(out.trap), /no such command or directory \(bogus\)/);
  assert.equal(out.after, 0);
});

test('librouteros over api-ssl: anonymous DH with certificate=none, verified TLS with a certificate', { skip: needs('librouteros') }, async () => {
  const adh = await librouteros(s.ports['api-ssl'], 'adh');
  assert.match(String(adh.cipher), /^ADH-/);
  await s.run('/ip/service', 'set', { numbers: 'api-ssl', certificate: 'srv' });
  const verified = await librouteros(s.ports['api-ssl'], 'cert');
  assert.doesNotMatch(String(verified.cipher), /ADH/);
  assert.equal(verified.after, 0);
  await s.run('/ip/service', 'set', { numbers: 'api-ssl', certificate: 'none' });
});

/** librouteros calling a monitor (/tool/fetch), a failing one, /execute and /export. */
const MONITOR_SCRIPT = String.raw`
import sys, json
from librouteros import connect
from librouteros.exceptions import TrapError
api = connect(host='127.0.0.1', username='admin', password='secret', port=int(sys.argv[1]), timeout=30)
out = {'fetch': list(api('/tool/fetch', url=sys.argv[2], output='user'))}
try:
    list(api('/tool/fetch', url=sys.argv[3], output='user'))
except TrapError as e:
    out['trap'] = str(e)
out['execute'] = list(api('/execute', script=':put hi', **{'as-string': ''}))
out['failed'] = list(api('/execute', script='/ip service set www-ssl certificate=nope', **{'as-string': ''}))
out['export'] = list(api('/export'))
out['identity'] = list(api.path('system', 'identity')('export', terse=''))
print(json.dumps(out))
`;

test('librouteros: a fetch answers its states with .section, a failed one traps, /execute and /export return their text', { skip: needs('librouteros') }, async () => {
  await s.run('/system/identity', 'set', { name: 'lr-router' });
  const srv = await startServer();
  srv.routes.set('/page', (_q, r) => r.end('page body'));
  try {
    const r = await run('/usr/bin/python3', ['-c', MONITOR_SCRIPT, String(s.ports.api), srv.url('/page'), srv.url('/missing')], { timeoutMs: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    type Records = Array<Record<string, unknown>>;
    const out = JSON.parse(r.stdout) as { fetch: Records; trap: string; execute: Records; failed: Records; export: Records; identity: Records };
    assert.deepEqual(out.fetch[0], { '.section': 0, status: 'connecting' });
    assert.deepEqual(out.fetch.map((rec) => rec['.section']), out.fetch.map((_, i) => i));
    const last = out.fetch.at(-1)!;
    assert.equal(last.status, 'finished');
    assert.equal(last.data, 'page body');
    assert.equal(out.trap, 'failure: Status 404, Not Found');
    assert.deepEqual(out.execute, [{ ret: 'hi\r\n' }]);
    assert.deepEqual(out.failed, [{ ret: 'input does not match any value of certificate (/ip/service/set (certificate); line 1)' }]);
    assert.equal(out.export.length, 1);
    assert.match(String(out.export[0]!.ret), /^# .* by RouterOS 7\.[\s\S]*\r\n\/system identity\r\nset name=lr-router\r\n/);
    assert.doesNotMatch(String(out.export[0]!.ret), /BEGIN/);
    assert.match(String(out.identity[0]!.ret), /\r\n\/system identity set name=lr-router\r\n$/);
  } finally {
    await srv.close();
  }
});

test('librouteros: import answers its counts as one record, not again as a =ret= of bare numbers', { skip: needs('librouteros') }, async () => {
  fs.writeFileSync(path.join(s.app.dataDir.filesDir, 'api-import.pem'), fs.readFileSync(rootFile));
  const script = String.raw`
import sys, json
from librouteros import connect
api = connect(host='127.0.0.1', username='admin', password='secret', port=int(sys.argv[1]), timeout=30)
out = {'import': list(api('/certificate/import', **{'file-name': 'api-import.pem', 'passphrase': ''}))}
out['as-value'] = list(api('/certificate/import', **{'file-name': 'api-import.pem', 'passphrase': '', 'as-value': ''}))
out['read'] = list(api('/file/read', **{'file': 'api-import.pem', 'chunk-size': '10', 'as-value': ''}))
print(json.dumps(out))
`;
  const r = await run('/usr/bin/python3', ['-c', script, String(s.ports.api)], { timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  // Both certificates of the file are already there (makeChain): counted, not added again.
  const counts = { 'certificates-imported': 2, 'private-keys-imported': 0, 'files-imported': 1, 'decryption-failures': 0, 'keys-with-no-certificate': 0 };
  assert.deepEqual(out.import, [counts]);
  assert.deepEqual(out['as-value'], [counts]);
  assert.deepEqual(out.read, [{ data: '-----BEGIN' }]);
});

test('ansible community.routeros.api lists, adds, queries and removes certificates (api and api-ssl)', { skip: needs('ansible-playbook', 'librouteros') }, async () => {
  const inventory = path.join(dir, 'inventory.ini');
  fs.writeFileSync(inventory, '[routers]\nrospki ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n');
  const playbook = path.join(import.meta.dirname, 'fixtures', 'api-ansible.yml');
  const env = { ANSIBLE_LOCAL_TEMP: path.join(dir, 'ansible-tmp'), ANSIBLE_HOME: path.join(dir, 'ansible-home'), ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: '0' };
  const plain = await run('ansible-playbook', ['-i', inventory, playbook, '-e', `ros_port=${s.ports.api}`], { env, timeoutMs: 180_000 });
  assert.equal(plain.status, 0, plain.stdout + plain.stderr);
  assert.match(plain.stdout, /failed=0/);
  await s.run('/ip/service', 'set', { numbers: 'api-ssl', certificate: 'srv' });
  const secure = await run('ansible-playbook', ['-i', inventory, playbook, '-e', `ros_port=${s.ports['api-ssl']}`, '-e', 'ros_tls=true', '-e', `ros_ca=${rootFile}`], { env, timeoutMs: 180_000 });
  assert.equal(secure.status, 0, secure.stdout + secure.stderr);
  assert.match(secure.stdout, /failed=0/);
});

/**
 * librouteros listening (its docs/api_analysis.rst "Canceling listen"): the client's own words and
 * sentence reader; each sentence goes out as a JSON line; after the `.dead` it cancels the listen
 * and reads the trap and both `!done`s (librouteros types the values: `.dead=yes` reads as True,
 * `category=2` as 2). Untagged: librouteros reads no `.tag` words (its parse_word
 * takes only `=key=value`), so /cancel without a tag cancels every command of the connection.
 */
const LISTEN_SCRIPT = String.raw`
import sys, json
from librouteros import connect
api = connect(host='127.0.0.1', username='admin', password='secret', port=int(sys.argv[1]), timeout=30)
api.protocol.writeSentence('/certificate/listen', '=.proplist=.id,name,common-name', '?name=lr-listen')
while True:
    word, attrs = api.readSentence()
    print(json.dumps([word, attrs]), flush=True)
    if attrs.get('.dead') is True:
        break
api.protocol.writeSentence('/cancel')
for _ in range(3):
    print(json.dumps(list(api.readSentence())), flush=True)
`;

test('librouteros: /certificate/listen sees a changed row and a removal as .dead, then /cancel ends it', { skip: needs('librouteros') }, async () => {
  await s.run('/certificate', 'add', { name: 'lr-listen', 'common-name': 'lr-listen.test' });
  const child = spawn('/usr/bin/python3', ['-c', LISTEN_SCRIPT, String(s.ports.api)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<[string, Record<string, unknown>]> = [];
  let stderr = '';
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      lines.push(JSON.parse(buffered.slice(0, nl)) as [string, Record<string, unknown>]);
      buffered = buffered.slice(nl + 1);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    // listen says nothing until something changes: change (differently each round, a row the
    // query leaves out first) until its first record comes, a bounded number of times.
    for (let round = 0; lines.length === 0; round++) {
      assert.ok(round < 200, `no record from listen; stderr: ${stderr}`);
      await s.run('/certificate', 'add', { name: `lr-other-${round}`, 'common-name': 'other.test' });
      await s.run('/certificate', 'set', { numbers: 'lr-listen', 'common-name': `lr-round${round}.test` });
      await new Promise((r) => setTimeout(r, 50));
    }
    const [word, first] = lines[0]!;
    assert.equal(word, '!re');
    assert.equal(first.name, 'lr-listen');
    assert.match(String(first['common-name']), /^lr-round\d+\.test$/);
    assert.deepEqual(Object.keys(first).sort(), ['.id', 'common-name', 'name']);
    await s.run('/certificate', 'remove', { numbers: 'lr-listen' });
    assert.equal(await exited, 0, stderr + JSON.stringify(lines));
    const records = lines.filter(([w]) => w === '!re');
    assert.ok(records.every(([, a]) => a.name === 'lr-listen' || a['.dead'] === true), JSON.stringify(records));
    assert.deepEqual(records.at(-1), ['!re', { '.id': first['.id'], '.dead': true }]);
    assert.deepEqual(lines.slice(-3), [['!trap', { category: 2, message: 'interrupted' }], ['!done', {}], ['!done', {}]]);
  } finally {
    child.kill();
    await s.run('/certificate', 'remove', { numbers: '[find where name~"^lr-other-"]' }).catch(() => {});
  }
});
