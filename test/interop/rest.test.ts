// REST (spec §8) on www, with Node's fetch and with curl: auth, policies, verbs, status codes,
// error JSON, values as strings, .proplist/.query, limits, malformed input.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { ApiClient, attrs, basic, run, startServiceApp, type ServiceApp } from '../services/support.js';
import { openssl, tempDir } from '../support/app.js';

let s: ServiceApp;
let base: string;
before(async () => {
  s = await startServiceApp();
  base = `http://127.0.0.1:${s.ports.www}`;
});
after(async () => { await s.stop(); });

async function rest(method: string, path: string, body?: unknown, auth = basic(), headers: Record<string, string> = {}) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { ...(auth ? { authorization: auth } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, text, json: text ? JSON.parse(text) : undefined, headers: r.headers };
}

test('authentication: none → 401 with WWW-Authenticate; wrong → 401; empty password → 401', async () => {
  const none = await rest('GET', '/rest/system/resource', undefined, '');
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /^Basic/);
  assert.equal(none.text, '{"error":401,"message":"Unauthorized"}');
  assert.equal((await rest('GET', '/rest/system/resource', undefined, basic('admin', 'wrong'))).status, 401);
  await s.run('/user', 'add', { name: 'empty', group: 'full' });
  assert.equal((await rest('GET', '/rest/system/resource', undefined, basic('empty', ''))).status, 401);
});

test('GET /rest/system/resource: one object, values as strings', async () => {
  const r = await rest('GET', '/rest/system/resource');
  assert.equal(r.status, 200);
  assert.match(r.json.version, /^7\.\d+\.\d+ \(stable\)$/);
  for (const k of ['uptime', 'cpu', 'free-memory', 'total-memory', 'architecture-name', 'board-name']) assert.equal(typeof r.json[k], 'string', k);
});

test('PUT add → 201 + Location; GET list/one; PATCH; POST sign; DELETE → 204, again → 404', async () => {
  const put = await rest('PUT', '/rest/certificate', { name: 'ca', 'common-name': 'ca', 'key-usage': ['key-cert-sign', 'crl-sign'], 'key-size': 'prime256v1', 'days-valid': 3650 });
  assert.equal(put.status, 201, put.text);
  assert.equal(put.json['.id'], '*1');
  assert.equal(put.json['key-usage'], 'key-cert-sign,crl-sign');
  assert.equal(put.json['days-valid'], '3650');
  assert.match(put.headers.get('location') ?? '', /\/rest\/certificate\/\*1$/);
  const keys = Object.keys(put.json);
  assert.equal(keys[0], '.id');
  assert.deepEqual(keys.slice(1), [...keys.slice(1)].sort());
  assert.equal(put.json.fingerprint, undefined, 'templates have no fingerprint');
  assert.equal(put.json.ca, undefined, 'absent, not empty');

  const sign = await rest('POST', '/rest/certificate/sign', { number: '*1' });
  assert.equal(sign.status, 200, sign.text);
  await rest('PUT', '/rest/certificate', { name: 'leaf', 'common-name': 'leaf', 'key-size': 'prime256v1' });
  assert.equal((await rest('POST', '/rest/certificate/sign', { '.id': 'leaf', ca: 'ca' })).status, 200);

  const list = await rest('GET', '/rest/certificate');
  assert.equal(list.json.length, 2);
  assert.equal(list.json[1].ca, 'ca');
  assert.equal(list.json[0].ca, undefined);
  assert.match(list.json[0].fingerprint, /^[0-9a-f]{64}$/);
  const one = await rest('GET', '/rest/certificate/*2');
  assert.equal(one.json.name, 'leaf');
  assert.equal((await rest('GET', '/rest/certificate/leaf')).json['.id'], '*2');
  assert.equal((await rest('GET', '/rest/certificate/*99')).status, 404);
  assert.equal((await rest('GET', '/rest/certificate/*99')).text, '{"error":404,"message":"Not Found"}');
  assert.deepEqual((await rest('GET', '/rest/certificate/nosuch')).json, { detail: 'no such command or directory (nosuch)', error: 400, message: 'Bad Request' });

  const filtered = await rest('GET', '/rest/certificate?name=leaf&.proplist=name,fingerprint');
  assert.deepEqual(Object.keys(filtered.json[0]), ['.id', 'fingerprint', 'name']);
  assert.equal(filtered.json.length, 1);
  assert.equal((await rest('GET', '/rest/certificate?trusted=true&name=ca')).json.length, 1);
  assert.equal((await rest('GET', '/rest/certificate?trusted=false&name=ca')).json.length, 0);

  const patched = await rest('PATCH', '/rest/certificate/*2', { name: 'leaf2', trusted: 'yes' });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.json.name, 'leaf2');
  assert.equal(patched.json.trusted, 'true');

  const printed = await rest('POST', '/rest/certificate/print', { '.proplist': ['name'], '.query': ['name=ca', 'name=leaf2', '#|'] });
  assert.deepEqual(printed.json, [{ name: 'ca' }, { name: 'leaf2' }]);
  const counted = await rest('POST', '/rest/certificate/print', { 'count-only': '' });
  assert.deepEqual(counted.json, { ret: '2' });

  const del = await rest('DELETE', '/rest/certificate/*2');
  assert.equal(del.status, 204);
  assert.equal(del.text, '');
  assert.equal((await rest('DELETE', '/rest/certificate/*2')).status, 404);
});

test('errors: unknown parameter, bad value, unknown command, GET on a command, singletons', async () => {
  assert.deepEqual((await rest('PUT', '/rest/certificate', { name: 'x', nonexistent: '1' })).json,
    { detail: 'unknown parameter nonexistent', error: 400, message: 'Bad Request' });
  assert.equal((await rest('PUT', '/rest/certificate', { name: 'y', 'key-size': 'huge' })).json.detail, 'input does not match any value of key-size');
  assert.deepEqual((await rest('POST', '/rest/certificate/remove2', {})).json,
    { detail: 'no such command or directory (remove2)', error: 400, message: 'Bad Request' });
  assert.equal((await rest('GET', '/rest/certificate/print')).status, 400);
  assert.equal((await rest('GET', '/rest/nowhere')).status, 400);
  assert.equal((await rest('PATCH', '/rest/system/identity', { name: 'x' })).json.detail, 'missing or invalid resource identifier');
  assert.deepEqual((await rest('POST', '/rest/system/identity/set', { name: 'R1' })).json, []);
  assert.deepEqual((await rest('GET', '/rest/system/identity')).json, { name: 'R1' });
});

test('malformed requests: bad JSON, exponent, wrong content type, OPTIONS, too large, raw garbage', async () => {
  assert.deepEqual((await rest('PUT', '/rest/certificate', '{"name":')).json, { detail: 'Failed to parse json', error: 400, message: 'Bad Request' });
  assert.equal((await rest('PUT', '/rest/certificate', '{"days-valid":1e3}')).status, 400);
  assert.equal((await rest('PUT', '/rest/certificate', '[1,2]')).status, 400);
  assert.equal((await rest('PUT', '/rest/certificate', '{"name":{"a":1}}')).status, 400);
  const wrongType = await fetch(`${base}/rest/certificate`, { method: 'PUT', headers: { authorization: basic(), 'content-type': 'text/plain' }, body: '{"name":"z"}' });
  assert.equal(wrongType.status, 415);
  assert.equal((await rest('OPTIONS', '/rest/certificate')).status, 503);
  const big = await rest('PUT', '/rest/certificate', JSON.stringify({ name: 'x'.repeat(9 * 1024 * 1024) }));
  assert.equal(big.status, 413);
  // Bytes that are not HTTP at all: a 400 and a closed socket, and the service still answers.
  const sock = net.connect(s.ports.www, '127.0.0.1');
  const reply = await new Promise<string>((resolve) => {
    let text = '';
    sock.on('data', (d) => { text += d; });
    sock.on('close', () => resolve(text));
    sock.on('error', () => resolve(text));
    sock.write('\x00\x01\x02 garbage\r\n\r\n');
  });
  assert.match(reply, /^HTTP\/1\.1 400/);
  assert.equal((await rest('GET', '/rest/system/resource')).status, 200);
});

test('policies: rest-api needed (401); api needed (500); write needed (500 not enough permissions)', async () => {
  await s.run('/user/group', 'add', { name: 'norest', policy: 'read,write,api' });
  await s.run('/user/group', 'add', { name: 'noapi', policy: 'read,write,rest-api' });
  await s.run('/user', 'add', { name: 'u1', group: 'norest', password: 'pw' });
  await s.run('/user', 'add', { name: 'u2', group: 'noapi', password: 'pw' });
  await s.run('/user', 'add', { name: 'u3', group: 'read', password: 'pw' });
  assert.equal((await rest('GET', '/rest/certificate', undefined, basic('u1', 'pw'))).status, 401);
  const noapi = await rest('GET', '/rest/certificate', undefined, basic('u2', 'pw'));
  assert.equal(noapi.status, 500);
  assert.equal(noapi.json.detail, 'std failure: not allowed (9)');
  assert.equal((await rest('GET', '/rest/certificate', undefined, basic('u3', 'pw'))).status, 200);
  const denied = await rest('POST', '/rest/certificate/add', { name: 'nope' }, basic('u3', 'pw'));
  assert.deepEqual(denied.json, { detail: 'not enough permissions (9)', error: 500, message: 'Internal Server Error' });
  // Sensitive values need the sensitive policy.
  await s.run('/user/group', 'add', { name: 'nosens', policy: 'read,api,rest-api' });
  await s.run('/user', 'add', { name: 'u4', group: 'nosens', password: 'pw' });
  assert.equal((await rest('POST', '/rest/certificate/print', { 'show-sensitive': '' }, basic('u4', 'pw'))).status, 500);
  // A user address allow-list.
  await s.run('/user', 'add', { name: 'u5', group: 'full', password: 'pw', address: '10.0.0.0/8' });
  assert.equal((await rest('GET', '/rest/certificate', undefined, basic('u5', 'pw'))).status, 401);
});

test('logins are logged once per cached session; landing page at /', async () => {
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /RouterOS/);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  const logs = (await s.run('/log', 'print', {})).print!.rows.map((r) => String(r.data.message));
  assert.equal(logs.filter((m) => m === 'user admin logged in from 127.0.0.1 via rest').length, 1);
  assert.ok(logs.some((m) => m.startsWith('login failure for user admin from 127.0.0.1 via rest')));
});

test('curl: list, add, PATCH, DELETE over plain HTTP', async () => {
  const common = ['-sS', '-u', 'admin:secret', '-H', 'content-type: application/json'];
  const add = await run('curl', [...common, '-X', 'PUT', '-w', '\n%{http_code}', `${base}/rest/certificate`, '-d', '{"name":"curl","common-name":"curl.router.test"}']);
  assert.equal(add.status, 0, add.stderr);
  const [body, code] = add.stdout.split('\n');
  assert.equal(code, '201');
  const id = JSON.parse(body!)['.id'];
  const get = await run('curl', [...common, `${base}/rest/certificate?name=curl`]);
  assert.equal(JSON.parse(get.stdout)[0]['common-name'], 'curl.router.test');
  const patch = await run('curl', [...common, '-X', 'PATCH', `${base}/rest/certificate/${id}`, '-d', '{"common-name":"c2"}']);
  assert.equal(JSON.parse(patch.stdout)['common-name'], 'c2');
  const del = await run('curl', [...common, '-X', 'DELETE', '-o', '/dev/null', '-w', '%{http_code}', `${base}/rest/certificate/${id}`]);
  assert.equal(del.stdout, '204');
});

test('POST import and /file/read with as-value: the value is a record with its names, not its values joined by ;', async () => {
  await rest('PUT', '/rest/certificate', { name: 'asv', 'common-name': 'asv', 'key-size': 'prime256v1' });
  await rest('POST', '/rest/certificate/sign', { number: 'asv' });
  await rest('POST', '/rest/certificate/export-certificate', { numbers: 'asv', 'file-name': 'asv' });
  const counts = { 'certificates-imported': '1', 'private-keys-imported': '0', 'files-imported': '1', 'decryption-failures': '0', 'keys-with-no-certificate': '0' };
  const plain = await rest('POST', '/rest/certificate/import', { 'file-name': 'asv.crt', passphrase: '' });
  assert.deepEqual(plain.json, [counts]);
  const asValue = await rest('POST', '/rest/certificate/import', { 'file-name': 'asv.crt', passphrase: '', 'as-value': '' });
  assert.deepEqual(asValue.json, [counts]);
  const read = await rest('POST', '/rest/file/read', { file: 'asv.crt', 'chunk-size': '10', 'as-value': '' });
  assert.deepEqual(read.json, [{ data: '-----BEGIN' }]);
});

test('POST /rest/tool/fetch: a monitor command answers with every state, numbered by .section', async () => {
  const r = await rest('POST', '/rest/tool/fetch', { url: `${base}/`, output: 'user' });
  assert.equal(r.status, 200, r.text);
  assert.ok(Array.isArray(r.json));
  assert.deepEqual(r.json[0], { '.section': '0', status: 'connecting' });
  assert.deepEqual(r.json.map((rec: Record<string, string>) => rec['.section']), r.json.map((_: unknown, i: number) => String(i)));
  const last = r.json[r.json.length - 1];
  assert.equal(last.status, 'finished');
  assert.match(last.duration, /^\d+s$/);
  assert.match(last.downloaded, /^\d+$/, 'sizes in KiB without a unit');
  assert.match(last.data, /<html/i);
  assert.equal(Object.keys(last)[0], '.section');
});

// The REST flow of certbot/acme.sh deploy hooks (clients.md C10–C12: mikrotik-certbot,
// acme-deploy-mikrotik-api): key + full chain uploaded as one file with /file/add, a second
// upload answered 400 `already exists`, removed by id and sent again; imported under a versioned
// name with no-key-export; the serial compared with openssl's; bound by the id GET ?name= gives;
// older versions pruned with DELETE.
test('a certbot deploy hook over REST: upload, already exists, import under a name, compare serials, bind, prune', async () => {
  const dir = tempDir('rospki-rest-hook-');
  try {
    const f = (n: string) => path.join(dir, n);
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '30', '-subj', '/CN=Hook CA', '-addext', 'basicConstraints=critical,CA:true']);
    const issue = async (version: string) => {
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f(`${version}.key`), '-out', f(`${version}.csr`), '-subj', '/CN=hook.router.test']);
      fs.writeFileSync(f('ext'), 'subjectAltName=DNS:hook.router.test\n');
      openssl(['x509', '-req', '-in', f(`${version}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '20', '-out', f(`${version}.pem`), '-extfile', f('ext')]);
      const combined = fs.readFileSync(f(`${version}.key`), 'utf8') + fs.readFileSync(f(`${version}.pem`), 'utf8') + fs.readFileSync(f('ca.pem'), 'utf8');
      const upload = () => rest('POST', '/rest/file/add', { name: 'hook.pem', contents: combined, type: 'file' });
      let up = await upload();
      if (up.status === 400) {
        assert.match(up.json.detail, /already exists/);
        const found = await rest('GET', '/rest/file?name=hook.pem');
        assert.equal((await rest('DELETE', `/rest/file/${found.json[0]['.id']}`)).status, 204);
        up = await upload();
      }
      assert.equal(up.status, 200, up.text);
      const name = `hook_router_test_${version}`;
      const imported = await rest('POST', '/rest/certificate/import', { name, 'file-name': 'hook.pem', passphrase: '', 'no-key-export': 'yes' });
      assert.equal(imported.status, 200, imported.text);
      const cert = (await rest('GET', `/rest/certificate?name=${name}`)).json;
      assert.equal(cert.length, 1);
      assert.equal(cert[0]['private-key'], 'true');
      const serial = openssl(['x509', '-in', f(`${version}.pem`), '-noout', '-serial']).trim().split('=')[1]!;
      assert.equal(String(cert[0]['serial-number']).replace(/:/g, '').toUpperCase(), serial.toUpperCase());
      const service = (await rest('GET', '/rest/ip/service?name=www-ssl')).json;
      assert.equal((await rest('PATCH', `/rest/ip/service/${service[0]['.id']}`, { certificate: name })).status, 200);
      return name;
    };
    const first = await issue('20260101T0000');
    // The hook runs again after the next renewal: the upload meets the file it left.
    const second = await issue('20260201T0000');
    assert.equal((await rest('GET', '/rest/ip/service?name=www-ssl&.proplist=certificate')).json[0].certificate, second);
    // The chain's CA came in once, under the first name's `_1`.
    assert.deepEqual((await rest('GET', '/rest/certificate?common-name=Hook%20CA&.proplist=name')).json.map((r: Record<string, string>) => r.name), [`${first}_1`]);
    const old = (await rest('GET', `/rest/certificate?name=${first}`)).json[0];
    assert.equal((await rest('DELETE', `/rest/certificate/${old['.id']}`)).status, 204);
    assert.equal((await rest('GET', `/rest/certificate?name=${second}&.proplist=private-key`)).json[0]['private-key'], 'true');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an imported certificate without KU, EKU, SAN, SKID, AKID, CDP or CN: REST, API, get and print detail agree on what is absent', async () => {
  // Only basicConstraints: every extension a certificate may lack is missing (clients.md #11).
  const dir = tempDir();
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, 'k.pem'),
    '-out', path.join(dir, 'c.pem'), '-subj', '/O=bare', '-days', '10', '-config', '/dev/null',
    '-addext', 'subjectKeyIdentifier=none', '-addext', 'authorityKeyIdentifier=none', '-addext', 'basicConstraints=critical,CA:FALSE']);
  fs.writeFileSync(path.join(s.app.dataDir.filesDir, 'bare.crt'), fs.readFileSync(path.join(dir, 'c.pem')));
  assert.equal((await rest('POST', '/rest/certificate/import', { 'file-name': 'bare.crt', name: 'bare', passphrase: '' })).status, 200);

  // `print detail` shows subject-alt-name="" and akid="" (spec §2.1) and leaves the rest out when empty.
  const detail = await rest('POST', '/rest/execute', { script: '/certificate print detail where name=bare', 'as-string': '' });
  const shown = new Set([...String(detail.json.ret).matchAll(/([a-z-]+)=/g)].map((m) => m[1]));
  const rec = (await rest('GET', '/rest/certificate?name=bare')).json[0] as Record<string, string>;
  const api = await ApiClient.connect(s.ports.api);
  try {
    await api.login();
    const apiRec = attrs((await api.talk('/certificate/print', '?name=bare'))[0]!);
    for (const [front, r] of [['REST', rec], ['API', apiRec]] as const) {
      for (const [k, v] of Object.entries(r)) {
        if (v === '') assert.ok(shown.has(k), `${front} gives ${k}="" where print detail leaves it out`);
      }
      for (const k of ['key-usage', 'skid', 'common-name']) assert.equal(r[k], undefined, `${front}: ${k} absent`);
      assert.equal(r['subject-alt-name'], '');
      assert.equal(r.akid, '');
    }
  } finally { api.close(); }
  for (const k of ['key-usage', 'skid', 'common-name']) assert.ok(!shown.has(k), `print detail leaves ${k} out`);
  // get answers an absent property as it does any other (nothing), as `ca` on a root.
  const get = await rest('POST', '/rest/execute', {
    script: ':put [:typeof [/certificate get bare key-usage]]; :put [:typeof [/certificate get bare ca]]; :put [:typeof [/certificate get bare skid]]', 'as-string': '',
  });
  assert.equal(get.json.ret, 'nothing\r\nnothing\r\nnothing\r\n');
});
