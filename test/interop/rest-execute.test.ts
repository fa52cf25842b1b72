// REST with curl where RouterOS's captures and manual show the exact answer: POST /rest/execute
// (console text as the logged-in user: output as `ret` with as-string, a job id without it; a
// failure with where it failed), POST /rest/export (the script text as `ret`) and DELETE on a
// menu without `remove` (406). Also /execute and /export over the binary API.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MAX_JOBS_PER_USER, MAX_RUNNING_JOBS } from '../../src/menus/system/execute.js';
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

test('execute with as-string: a runtime error names its command, argument and line (RSK capture)', async () => {
  assert.deepEqual(await curl('POST', '/execute', { script: '/ip service set www-ssl certificate=nope', 'as-string': '' }), {
    status: 200, text: '{"ret":"input does not match any value of certificate (/ip/service/set (certificate); line 1)"}',
  });
  const second = await curl('POST', '/execute', { script: ':local a 1\n/user set nobody name=x', 'as-string': '' });
  assert.deepEqual(JSON.parse(second.text), { ret: 'no such item (/user/set; line 2)' });
  // A syntax error already says where: nothing is added.
  const syntax = await curl('POST', '/execute', { script: ':put ok\n/system script set x comment= disabled=no', 'as-string': '' });
  assert.deepEqual(JSON.parse(syntax.text), { ret: 'expected end of command (line 2 column 39)' });
});

/** An export's text without its first line (the date and time it was made). */
const body = (text: string): string => text.slice(text.indexOf('\n') + 1);

test('POST /rest/export answers the export script as ret, CRLF line ends; file= writes it and answers []', async () => {
  await s.run('/system/identity', 'set', { name: 'exported-router' });
  await s.run('/system/script', 'add', { name: 'two-lines', source: ':put one\n:put "two words"' });
  const r = await curl('POST', '/export', {});
  assert.equal(r.status, 200);
  const ret: string = JSON.parse(r.text).ret;
  assert.match(ret, /^# \d{4}-\d\d-\d\d \d\d:\d\d:\d\d by RouterOS 7\.\d+/);
  assert.doesNotMatch(ret, /(^|[^\r])\n/, 'every line ends with CRLF');
  assert.match(ret, /\r\n\/system identity\r\nset name=exported-router\r\n/);
  assert.match(ret, /add name=two-lines .*source=":put one\\n:put \\"two words\\""/);
  assert.doesNotMatch(ret, /BEGIN|PRIVATE/);
  // The same text the console prints.
  const consoleText = (await s.run('/', 'export', {})).text!;
  assert.equal(body(ret), body(consoleText).replace(/\n/g, '\r\n'));
  // Its options and a menu's own export.
  const terse = JSON.parse((await curl('POST', '/export', { terse: '' })).text).ret as string;
  assert.match(terse, /\r\n\/system identity set name=exported-router\r\n/);
  const menu = JSON.parse((await curl('POST', '/system/identity/export', {})).text).ret as string;
  assert.deepEqual(body(menu).split('\r\n'), ['# software id =', '#', '/system identity', 'set name=exported-router', '']);
  // Into a file: no text in the answer, the file in /file.
  assert.deepEqual(await curl('POST', '/export', { file: 'rest-backup' }), { status: 200, text: '[]' });
  assert.equal(body((await s.app.env.files.read('rest-backup.rsc')).toString('utf8')), body(consoleText));
  // A read user may export; writing a file needs write.
  assert.equal((await curl('POST', '/export', {}, 'reader:pw')).status, 200);
  assert.match(JSON.parse((await curl('POST', '/export', { file: 'x' }, 'reader:pw')).text).detail, /not enough permissions/);
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

test('background jobs: at most 16 per user and 64 at once; a stopped job ends', async () => {
  const c = await ApiClient.connect(s.ports.api);
  await c.login();
  const jobs = () => runningJobs(s.app.env);
  for (let i = jobs().length; i < MAX_JOBS_PER_USER; i++) {
    assert.equal((await c.talk('/execute', '=script=:delay 60s'))[0]![0], '!done');
  }
  assert.equal(attrs((await c.talk('/execute', '=script=:delay 60s'))[0]!).message, 'failure: too many jobs running', 'one user holds at most 16');
  // Other users fill the rest.
  for (let u = 1; jobs().length < MAX_RUNNING_JOBS; u++) {
    await s.run('/user', 'add', { name: `jobs${u}`, group: 'full', password: 'pw' });
    for (let i = 0; i < MAX_JOBS_PER_USER && jobs().length < MAX_RUNNING_JOBS; i++) {
      assert.match(JSON.parse((await curl('POST', '/execute', { script: ':delay 60s' }, `jobs${u}:pw`)).text).ret, /^\*/);
    }
  }
  await s.run('/user', 'add', { name: 'late', group: 'full', password: 'pw' });
  assert.equal(JSON.parse((await curl('POST', '/execute', { script: ':put 1' }, 'late:pw')).text).detail, 'failure: too many jobs running');
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
  const failed = await c.talk('/execute', '=script=:error boom', '=as-string=');
  assert.deepEqual(failed, [['!done', '=ret=boom (:error; line 1)']]);
  const job = await c.talk('/execute', '=script=:put ignored');
  assert.match(attrs(job[0]!).ret!, /^\*[0-9A-F]+$/);
  c.close();
});

test('/export over the binary API: the script text as =ret=; a menu\'s export; file= answers a bare !done', async () => {
  const c = await ApiClient.connect(s.ports.api);
  await c.login();
  await s.run('/system/identity', 'set', { name: 'api-exported' });
  const reply = await c.talk('/export', '=verbose=');
  assert.equal(reply.length, 1);
  assert.equal(reply[0]![0], '!done');
  const ret = attrs(reply[0]!).ret!;
  assert.match(ret, /^# .* by RouterOS 7\./);
  assert.match(ret, /\r\n\/system identity\r\nset name=api-exported\r\n/);
  assert.match(ret, /\r\n\/certificate settings\r\nset /, 'verbose writes defaults too');
  const menu = attrs((await c.talk('/system/identity/export'))[0]!).ret!;
  assert.match(menu, /\r\n\/system identity\r\nset name=api-exported\r\n$/);
  assert.deepEqual(await c.talk('/export', '=file=api-backup'), [['!done']]);
  assert.match((await s.app.env.files.read('api-backup.rsc')).toString('utf8'), /\n\/system identity\nset name=api-exported\n/);
  c.close();
});
