// REST with curl where RouterOS's captures and manual show the exact answer: POST /rest/execute
// (console text as the logged-in user: output as `ret` with as-string, a job id without it) and
// DELETE on a menu without `remove` (406). Also /execute over the binary API.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MAX_RUNNING_JOBS } from '../../src/menus/system/execute.js';
import { runningJobs, stopJob } from '../../src/menus/system/script-job.js';
import { ApiClient, attrs, PASSWORD, run, startServiceApp, type ServiceApp } from '../services/support.js';

let s: ServiceApp;
before(async () => {
  s = await startServiceApp();
  await s.run('/user', 'add', { name: 'reader', group: 'read', password: 'pw' });
});
after(async () => { await s.stop(); });

/** curl as a client would call it: status line code and body. */
async function curl(method: string, path: string, body?: unknown, user = `admin:${PASSWORD}`): Promise<{ status: number; text: string }> {
  const args = ['-s', '-u', user, '-X', method, '-w', '\n%{http_code}', `http://127.0.0.1:${s.ports.www}/rest${path}`];
  if (body !== undefined) args.push('-H', 'content-type: application/json', '--data', JSON.stringify(body));
  const r = await run('curl', args);
  assert.equal(r.status, 0, r.stderr);
  const cut = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(cut + 1)), text: r.stdout.slice(0, cut) };
}

async function identity(): Promise<string> {
  return JSON.parse((await curl('GET', '/system/identity')).text).name;
}

test('execute with as-string runs now and returns the output, CRLF line ends; presence alone counts', async () => {
  assert.deepEqual(await curl('POST', '/execute', { script: ':put hello', 'as-string': '' }), { status: 200, text: '{"ret":"hello\\r\\n"}' });
  for (const flag of ['false', 0, 'true']) {
    const r = await curl('POST', '/execute', { script: ':put one; :put "two words"', 'as-string': flag });
    assert.deepEqual(JSON.parse(r.text), { ret: 'one\r\ntwo words\r\n' }, `as-string=${JSON.stringify(flag)}`);
  }
});

test('execute with as-string: a failing script answers 200 with the error as ret', async () => {
  const r = await curl('POST', '/execute', { script: '/ip service set www-ssl certificate=nope', 'as-string': '' });
  assert.equal(r.status, 200);
  assert.match(JSON.parse(r.text).ret, /^input does not match any value of certificate/);
  const printedFirst = JSON.parse((await curl('POST', '/execute', { script: ':put before; :error "stop here"', 'as-string': '' })).text).ret;
  assert.match(printedFirst, /^before\r\nstop here/);
});

test('execute without as-string starts a background job and returns its id at once', async () => {
  const r = await curl('POST', '/execute', { script: '/system identity set name=from-job' });
  assert.equal(r.status, 200);
  assert.match(JSON.parse(r.text).ret, /^\*[0-9A-F]+$/);
  // The job runs after the answer: wait for its effect (bounded).
  const deadline = Date.now() + 20_000;
  while ((await identity()) !== 'from-job') {
    assert.ok(Date.now() < deadline, 'the background job never ran');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // A script that does not parse is refused before any job starts.
  const bad = await curl('POST', '/execute', { script: ':put (' });
  assert.equal(bad.status, 400);
  assert.match(JSON.parse(bad.text).detail, /^syntax error/);
});

test('execute runs with the caller\'s policies: a read user cannot change anything through it', async () => {
  const before = await identity();
  const r = await curl('POST', '/execute', { script: '/system identity set name=by-reader', 'as-string': '' }, 'reader:pw');
  assert.equal(r.status, 200);
  assert.match(JSON.parse(r.text).ret, /not enough permissions \(9\)/);
  const reading = await curl('POST', '/execute', { script: ':put [/system identity get name]', 'as-string': '' }, 'reader:pw');
  assert.deepEqual(JSON.parse(reading.text), { ret: `${before}\r\n` });
  assert.equal(await identity(), before);
});

test('DELETE on a menu without remove: 406, RouterOS\'s body; without an id: 400', async () => {
  await s.run('/log', 'print', {});
  assert.deepEqual(await curl('DELETE', '/log/*1'), {
    status: 406, text: '{"detail":"no such command or directory (remove)","error":406,"message":"Not Acceptable"}',
  });
  assert.equal((await curl('DELETE', '/system/identity/x')).status, 406);
  assert.deepEqual(JSON.parse((await curl('DELETE', '/system/identity')).text),
    { detail: 'missing or invalid resource identifier', error: 400, message: 'Bad Request' });
  // Where remove exists, DELETE still removes (204) and a gone id is 404.
  await s.run('/certificate', 'add', { name: 'gone', 'common-name': 'gone' });
  assert.equal((await curl('DELETE', '/certificate/*1')).status, 204);
  assert.equal((await curl('DELETE', '/certificate/*1')).status, 404);
});

test('background jobs: at most 64 at once; a stopped job ends', async () => {
  const c = await ApiClient.connect(s.ports.api);
  await c.login();
  const jobs = () => runningJobs(s.app.env);
  for (let i = jobs().length; i < MAX_RUNNING_JOBS; i++) {
    assert.equal((await c.talk('/execute', '=script=:delay 60s'))[0]![0], '!done');
  }
  const refused = await c.talk('/execute', '=script=:delay 60s');
  assert.equal(attrs(refused[0]!).message, 'failure: too many jobs running');
  assert.equal(JSON.parse((await curl('POST', '/execute', { script: ':put 1' })).text).detail, 'failure: too many jobs running');
  // Running now still works: only background jobs are counted.
  assert.deepEqual(await c.talk('/execute', '=script=:put now', '=as-string='), [['!done', '=ret=now\r\n']]);
  for (const job of jobs()) stopJob(s.app.env, job.id);
  const deadline = Date.now() + 20_000;
  while (jobs().length > 0) {
    assert.ok(Date.now() < deadline, `${jobs().length} jobs did not stop`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.match(attrs((await c.talk('/execute', '=script=:put again'))[0]!).ret!, /^\*[0-9A-F]+$/);
  c.close();
});

test('/execute over the binary API: as-string gives =ret=, without it a job id', async () => {
  const c = await ApiClient.connect(s.ports.api);
  await c.login();
  const now = await c.talk('/execute', '=script=:put api', '=as-string=', '.tag=e');
  assert.deepEqual(now, [['!done', '=ret=api\r\n', '.tag=e']]);
  const job = await c.talk('/execute', '=script=:put ignored');
  assert.match(attrs(job[0]!).ret!, /^\*[0-9A-F]+$/);
  c.close();
});
