// /ip service ftp against real clients: curl (ftp://, EPSV) and Python's ftplib (PASV, MLSD,
// SIZE, MDTM, rename, mkdir). Files land in /file where /certificate import reads them; hostile
// names are refused without a host path in any reply; uploads over the limit leave nothing; the
// `ftp` policy and the login deadline hold; an uploaded *.auto.rsc runs as its uploader.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { ServiceOptions } from '../../src/services/index.js';
import { openssl, tempDir } from '../support/app.js';
import { freePort, PASSWORD, run, startServiceApp, type ServiceApp } from '../services/support.js';
import { needs, PYTHON } from '../support/tools.js';

const skip = needs('python3', 'curl');
const LIMIT = 64 * 1024;
/**
 * The login deadline of the appliance of the deadline test only. The other tests keep the default
 * (30 s): a login (scrypt, and the failure delay when it fails) on a loaded machine can take longer
 * than a short deadline, which then closes the connection before the 230 or 530 answer.
 */
const LOGIN_TIMEOUT = 1500;

let s: ServiceApp;
let port: number;
let work: string;
let files: string;
before(async () => {
  ({ s, port } = await startFtpApp({ maxUploadBytes: LIMIT }));
  work = tempDir('rospki-ftp-');
  files = s.app.dataDir.filesDir;
  fs.mkdirSync(files, { recursive: true });
  fs.symlinkSync('/etc', path.join(files, 'etc-link'));
  await s.run('/user', 'add', { name: 'writer', group: 'write', password: 'w-secret' });
  await s.run('/user/group', 'add', { name: 'ftponly', policy: 'ftp,read' });
  await s.run('/user', 'add', { name: 'reader', group: 'ftponly', password: 'r-secret' });
});
after(async () => {
  await s?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

async function startFtpApp(services: Partial<ServiceOptions>): Promise<{ s: ServiceApp; port: number }> {
  const app = await startServiceApp({ services });
  const ftpPort = await freePort();
  await app.run('/ip/service', 'set', { numbers: 'ftp', port: String(ftpPort), disabled: 'no' });
  await app.services.reconcile();
  return { s: app, port: ftpPort };
}

const url = (p = '', user = 'admin', password = PASSWORD) => `ftp://${user}:${password}@127.0.0.1:${port}/${p}`;
const local = (name: string) => path.join(work, name);
const tempFiles = () => fs.readdirSync(files, { recursive: true }).map(String).filter((n) => n.includes('.rospki-'));

/** No reply may show where the data directory is, nor an errno. */
function assertClean(text: string): void {
  assert.ok(!text.includes(s.dir), `host path shown: ${text}`);
  assert.ok(!text.includes(fs.realpathSync(s.dir)), `host path shown: ${text}`);
  assert.doesNotMatch(text, /\bE[A-Z]{3,}\b|errno|files\//, text);
}

/** Runs a Python script with ftplib connected (and logged in as `user` unless null); its stdout is JSON. */
async function ftplib(body: string, user: [string, string] | null = ['admin', PASSWORD]): Promise<any> {
  const script = [
    'import ftplib, io, json, sys',
    `f = ftplib.FTP(timeout=20)`,
    `f.connect('127.0.0.1', ${port})`,
    user ? `f.login(${JSON.stringify(user[0])}, ${JSON.stringify(user[1])})` : '',
    'def reply(fn):',
    '    try:',
    '        return str(fn())',
    '    except ftplib.all_errors as e:',
    '        return str(e)',
    'def store(name):',
    "    return reply(lambda: f.storbinary('STOR ' + name, io.BytesIO(b'x')) and 'stored')",
    body,
  ].join('\n');
  const r = await run(PYTHON, ['-c', script], { timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('curl: upload, list, download, and /certificate import of the uploaded file', { skip }, async () => {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=uploaded.test',
    '-keyout', local('up.key'), '-out', local('up.crt'), '-days', '10']);
  const up = await run('curl', ['-sS', '-T', local('up.crt'), url()]);
  assert.equal(up.status, 0, up.stderr);
  assert.equal(fs.readFileSync(path.join(files, 'up.crt'), 'utf8'), fs.readFileSync(local('up.crt'), 'utf8'));
  const list = await run('curl', ['-sS', url()]);
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /^-rw-r--r-- .* up\.crt\r?$/m);
  assert.doesNotMatch(list.stdout, /etc-link/); // links are not in the store
  const names = await run('curl', ['-sS', '--list-only', url()]);
  assert.match(names.stdout, /^up\.crt\r?$/m);
  const down = await run('curl', ['-sS', url('up.crt')]);
  assert.equal(down.stdout, fs.readFileSync(local('up.crt'), 'utf8'));
  // What the guide's Example 5 does next.
  const imported = await s.run('/certificate', 'import', { 'file-name': 'up.crt', passphrase: '' });
  assert.deepEqual(Object.fromEntries(imported.block ?? []), { 'certificates-imported': 1, 'private-keys-imported': 0, 'files-imported': 1, 'decryption-failures': 0, 'keys-with-no-certificate': 0 });
  const cn = await s.app.store.read((tx) => tx.list('/certificate').map((r) => r.data['common-name']));
  assert.ok(cn.includes('uploaded.test'));
  // Active mode, back to the client itself (curl -P -).
  const active = await run('curl', ['-sS', '-P', '127.0.0.1', url('up.crt')]);
  assert.equal(active.status, 0, active.stderr);
  assert.equal(active.stdout, fs.readFileSync(local('up.crt'), 'utf8'));
});

test('ftplib: mkdir, upload, size, mdtm, mlsd, rename, download, delete, rmdir; times are the router clock', { skip }, async () => {
  const out = await ftplib(`
data = bytes(range(256)) * 40
out = {}
out['welcome'] = f.getwelcome()
out['mkd'] = f.mkd('certs')
out['mkd2'] = f.mkd('we"ird')
f.cwd('certs')
out['pwd'] = f.pwd()
f.storbinary('STOR blob.bin', io.BytesIO(data))
out['size'] = f.size('blob.bin')
out['mdtm'] = f.sendcmd('MDTM blob.bin')
out['mlsd'] = [[n, fa['type'], fa.get('size')] for n, fa in f.mlsd()]
out['rename'] = f.rename('blob.bin', 'renamed.bin')
got = io.BytesIO()
f.retrbinary('RETR /certs/renamed.bin', got.write)
out['same'] = got.getvalue() == data
got = io.BytesIO()
f.sendcmd('TYPE I')
f.retrbinary('RETR renamed.bin', got.write, rest=1000)
out['rest'] = got.getvalue() == data[1000:]
f.cwd('..')
out['nlst'] = f.nlst()
out['dele'] = f.delete('certs/renamed.bin')
out['rmd2'] = f.rmd('we"ird')
out['rmd'] = f.rmd('certs')
out['quit'] = f.quit()
print(json.dumps(out))
`);
  assert.match(out.welcome, /^220 MikroTik FTP server \(MikroTik 7\.\d+\.\d+\) ready$/);
  assert.equal(out.mkd, '/certs');
  assert.equal(out.mkd2, '/we"ird'); // RFC 959 Appendix II: the quote doubled in the reply, undone by the client
  assert.equal(out.pwd, '/certs');
  assert.equal(out.size, 10240);
  const clock = new Date(s.clock.now()).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  assert.equal(out.mdtm, `213 ${clock}`);
  assert.deepEqual(out.mlsd, [['blob.bin', 'file', '10240']]);
  assert.match(out.rename, /^250 /);
  assert.equal(out.same, true);
  assert.equal(out.rest, true);
  assert.ok(out.nlst.includes('certs'));
  assert.match(out.dele, /^250 /);
  assert.match(out.rmd, /^250 /);
  assert.match(out.quit, /^221 /);
  assert.equal(fs.existsSync(path.join(files, 'certs')), false);
  // Logged like the other front ends.
  const log = await s.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
  assert.ok(log.includes('user admin logged in from 127.0.0.1 via ftp'), log.join('\n'));
});

test('hostile names: .., absolute paths, links, NUL-free over-long names and backslashes are refused, no host path shown', { skip }, async () => {
  fs.writeFileSync(path.join(files, 'inside.txt'), 'inside\n');
  const out = await ftplib(`
long = 'L' * 300
cmds = ['RETR ../../etc/passwd', 'RETR /../etc/passwd', 'RETR /etc/passwd', 'RETR etc-link/passwd', 'SIZE etc-link/passwd',
        'CWD etc-link', 'DELE ../inside.txt', 'MKD ../escape', 'RNFR inside.txt', 'RNTO ../moved.txt', 'RETR ' + long,
        'MKD ' + long, 'RETR a\\\\b', 'LIST ../..', 'MLST ..', 'CWD /../../..']
out = [[c[:40], reply(lambda c=c: f.sendcmd(c))] for c in cmds]
out.append(['PWD', f.pwd()])
out.append(['STOR ..', store('../up.txt')])
out.append(['STOR long', store(long)])
out.append(['STOR link', store('etc-link/evil')])
print(json.dumps(out))
`);
  const text = JSON.stringify(out);
  assertClean(text);
  const by = new Map<string, string>(out.map(([c, r]: [string, string]) => [c, r]));
  assert.match(by.get('RETR ../../etc/passwd')!, /^550 invalid file name "\.\.\/\.\.\/etc\/passwd": names outside of the file store are not allowed$/);
  assert.match(by.get('RETR /../etc/passwd')!, /^550 invalid file name "\.\.\/etc\/passwd": names outside/);
  // An absolute path is a path in the store: there is no etc/passwd there.
  assert.equal(by.get('RETR /etc/passwd'), '550 etc/passwd: no such file');
  assert.match(by.get('RETR etc-link/passwd')!, /^550 invalid file name "etc-link\/passwd": symbolic links are not followed$/);
  assert.match(by.get('SIZE etc-link/passwd')!, /^550 .*symbolic links are not followed$/);
  assert.match(by.get('CWD etc-link')!, /^550 /);
  assert.match(by.get('DELE ../inside.txt')!, /^550 invalid file name/);
  assert.match(by.get('MKD ../escape')!, /^553 invalid file name/);
  assert.match(by.get('RNFR inside.txt')!, /^350 /);
  assert.match(by.get('RNTO ../moved.txt')!, /^553 invalid file name/);
  assert.match(by.get(`RETR ${'L'.repeat(35)}`)!, /^550 invalid file name "L{64}…": name too long$/);
  assert.match(by.get(`MKD ${'L'.repeat(36)}`)!, /^553 invalid file name "L{64}…": name too long$/);
  assert.match(by.get('RETR a\\b')!, /^550 invalid file name "a\\b": backslashes are not allowed$/);
  assert.match(by.get('LIST ../..')!, /^550 /);
  // CWD walks up to the root and no further, as in a chroot.
  assert.match(by.get('CWD /../../..')!, /^250 /);
  assert.equal(by.get('PWD'), '/');
  assert.match(by.get('STOR ..')!, /^553 invalid file name/);
  assert.match(by.get('STOR long')!, /^553 invalid file name "L{64}…": name too long$/);
  assert.match(by.get('STOR link')!, /^553 invalid file name "etc-link\/evil": symbolic links are not followed$/);
  assert.equal(fs.readFileSync(path.join(files, 'inside.txt'), 'utf8'), 'inside\n');
  assert.equal(fs.existsSync('/etc/evil'), false);
  assert.deepEqual(tempFiles(), []);
  const log = await s.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
  assert.ok(log.some((l) => /^file access refused for admin \(ftp\): invalid file name "\.\.\/\.\.\/etc\/passwd"/.test(l)), log.join('\n'));
});

test('STOR into a folder that does not exist (a name ending in /) is refused and makes no file, as scp and sftp', { skip }, async () => {
  fs.writeFileSync(path.join(files, 'plain.txt'), 'plain\n');
  const out = await ftplib(`
print(json.dumps([store('nodir/'), store('plain.txt/')]))
`);
  assert.match(out[0], /^550 .*no such file$/);
  assert.match(out[1], /^550 .*not a directory$/);
  assert.equal(fs.existsSync(path.join(files, 'nodir')), false);
  assert.equal(fs.readFileSync(path.join(files, 'plain.txt'), 'utf8'), 'plain\n');
});

test('an upload over the size limit is refused and leaves nothing, not even a temporary file', { skip }, async () => {
  fs.writeFileSync(local('big.bin'), Buffer.alloc(LIMIT * 3, 7));
  const r = await run('curl', ['-sS', '-T', local('big.bin'), url('big.bin')]);
  assert.notEqual(r.status, 0);
  assertClean(r.stderr);
  assert.equal(fs.existsSync(path.join(files, 'big.bin')), false);
  assert.deepEqual(tempFiles(), []);
  // ftplib: the refusal names the file; a file at the limit goes through.
  const out = await ftplib(`
out = {}
try:
    f.storbinary('STOR big2.bin', io.BytesIO(b'y' * ${LIMIT * 2}))
    out['big'] = 'stored'
except ftplib.all_errors as e:
    out['big'] = str(e)
out['allo'] = reply(lambda: f.sendcmd('ALLO ${LIMIT * 2}'))
f.storbinary('STOR fits.bin', io.BytesIO(b'z' * ${LIMIT}))
out['fits'] = f.size('fits.bin')
print(json.dumps(out))
`);
  // The server refuses mid-stream and drops the data connection: the client sees either the
  // reset or the 552 reply, never success.
  assert.notEqual(out.big, 'stored');
  assert.equal(out.allo, '552 file too large');
  assert.equal(out.fits, LIMIT);
  assert.equal(fs.existsSync(path.join(files, 'big2.bin')), false);
  assert.deepEqual(tempFiles(), []);
});

test('policies: ftp to log in at all, read to download, write to change the store', { skip }, async () => {
  // `write` has !ftp: a right password is still a failed login.
  const refused = await run('curl', ['-sS', url('', 'writer', 'w-secret')]);
  assert.equal(refused.status, 67, refused.stderr); // CURLE_LOGIN_DENIED
  const log = await s.app.store.read((tx) => tx.list('/log').map((r) => String(r.data.message)));
  assert.ok(log.includes('login failure for user writer from 127.0.0.1 via ftp'), log.join('\n'));
  const wrong = await run('curl', ['-sS', url('', 'admin', 'wrong')]);
  assert.equal(wrong.status, 67);
  // ftp,read: lists and downloads, changes nothing.
  fs.writeFileSync(path.join(files, 'readme.txt'), 'read me\n');
  const out = await ftplib(`
out = {}
out['list'] = f.nlst()
got = io.BytesIO()
f.retrbinary('RETR readme.txt', got.write)
out['got'] = got.getvalue().decode()
out['stor'] = reply(lambda: f.storbinary('STOR new.txt', io.BytesIO(b'x')))
out['dele'] = reply(lambda: f.delete('readme.txt'))
out['mkd'] = reply(lambda: f.mkd('d'))
out['rnfr'] = reply(lambda: f.sendcmd('RNFR readme.txt'))
print(json.dumps(out))
`, ['reader', 'r-secret']);
  assert.ok(out.list.includes('readme.txt'));
  assert.equal(out.got, 'read me\n');
  for (const k of ['stor', 'dele', 'mkd', 'rnfr']) assert.equal(out[k], '550 not enough permissions (9)', k);
  assert.equal(fs.existsSync(path.join(files, 'new.txt')), false);
  // Rights are checked at every command: a disabled user's open session loses them at once.
  const sock = await rawLogin('reader', 'r-secret');
  await s.run('/user', 'disable', { numbers: 'reader' });
  assert.match(await sock.command('NOOP'), /^530 not enough permissions \(9\)/);
  sock.close();
  await s.run('/user', 'enable', { numbers: 'reader' });
});

/** A bare control connection: greeting read, then USER/PASS. */
async function rawLogin(user: string, password: string): Promise<{ command(line: string): Promise<string>; close(): void; socket: net.Socket }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  let buffer = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (d: string) => { buffer += d; for (const w of waiters.splice(0)) w(); });
  socket.on('error', () => {});
  const nextReply = async (): Promise<string> => {
    for (let i = 0; i < 200; i++) {
      const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buffer);
      if (m) { const end = m.index + m[0].length; const r = buffer.slice(0, end); buffer = buffer.slice(end); return r.trim(); }
      await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 100); });
    }
    throw new Error(`no reply in ${buffer}`);
  };
  await nextReply();
  const command = async (line: string) => { socket.write(`${line}\r\n`); return nextReply(); };
  assert.match(await command(`USER ${user}`), /^331 /);
  assert.match(await command(`PASS ${password}`), /^230 /);
  return { command, close: () => socket.destroy(), socket };
}

test('passive data ports listen on the control connection\'s local address only; PORT to another host is refused', { skip }, async () => {
  const c = await rawLogin('admin', PASSWORD);
  const pasv = await c.command('PASV');
  const m = /^227 Entering Passive Mode \((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)\.$/.exec(pasv);
  assert.ok(m, pasv);
  assert.equal(m.slice(1, 5).join('.'), '127.0.0.1');
  const epsv = await c.command('EPSV');
  assert.match(epsv, /^229 Entering Extended Passive Mode \(\|\|\|\d+\|\)$/);
  // FTP bounce: data connections only back to the client.
  assert.equal(await c.command('PORT 10,0,0,1,200,10'), '500 Illegal PORT command');
  assert.equal(await c.command('EPRT |1|127.0.0.2|51000|'), '500 Illegal PORT command');
  assert.equal(await c.command('PORT 127,0,0,1,0,21'), '500 Illegal PORT command'); // privileged port
  assert.equal(await c.command('AUTH TLS'), '502 TLS is not available: this FTP server is plain, as RouterOS\'s');
  assert.match(await c.command('FEAT'), /^211-Features:\r\n EPRT\r\n EPSV\r\n.* SIZE\r\n TVFS\r\n UTF8\r\n211 End$/s);
  c.close();
});

test('max-sessions counts logged-in connections only; a login over it is refused', { skip }, async () => {
  await s.run('/ip/service', 'set', { numbers: 'ftp', 'max-sessions': '1' });
  await s.services.reconcile();
  const idle = net.connect(port, '127.0.0.1'); // waiting to log in: not a session
  idle.on('error', () => {});
  const first = await rawLogin('admin', PASSWORD);
  const second = net.connect(port, '127.0.0.1');
  second.setEncoding('utf8');
  let text = '';
  second.on('data', (d) => { text += d; });
  second.on('error', () => {});
  for (let i = 0; i < 600 && !text.includes('220 '); i++) await new Promise((r) => setTimeout(r, 50)); // 30 s at most
  second.write(`USER admin\r\nPASS ${PASSWORD}\r\n`);
  await new Promise<void>((resolve) => second.once('close', () => resolve()));
  assert.match(text, /^421 too many sessions\r$/m);
  first.close();
  idle.destroy();
  await s.run('/ip/service', 'set', { numbers: 'ftp', 'max-sessions': '20' });
  await s.services.reconcile();
});

test('an idle connection that never logs in is closed at the login deadline', { skip }, async () => {
  const short = await startFtpApp({ loginTimeoutMs: LOGIN_TIMEOUT });
  try {
    const socket = net.connect(short.port, '127.0.0.1');
    socket.on('error', () => {});
    const greeting = await new Promise<string>((resolve) => socket.once('data', (d) => resolve(String(d))));
    assert.match(greeting, /^220 /);
    const started = Date.now();
    await new Promise<void>((resolve) => { if (socket.destroyed) resolve(); else socket.once('close', () => resolve()); });
    assert.ok(Date.now() - started < LOGIN_TIMEOUT + 10_000);
  } finally {
    await short.s.stop();
  }
});

test('commands before login are refused', { skip }, async () => {
  const c = net.connect(port, '127.0.0.1');
  c.setEncoding('utf8');
  let text = '';
  c.on('data', (d) => { text += d; });
  c.on('error', () => {});
  await new Promise<void>((resolve) => c.once('data', () => resolve()));
  c.write('LIST\r\nRETR x\r\n');
  for (let i = 0; i < 600 && (text.match(/^530 /gm) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 50)); // 30 s at most
  assert.equal((text.match(/^530 Please login with USER and PASS\r$/gm) ?? []).length, 2, text);
  c.destroy();
});

test('an uploaded *.auto.rsc runs as its uploader and writes *.auto.log', { skip }, async () => {
  fs.writeFileSync(local('setup.auto.rsc'), '/system identity set name=from-ftp\n:put "done"\n');
  const r = await run('curl', ['-sS', '-T', local('setup.auto.rsc'), url()]);
  assert.equal(r.status, 0, r.stderr);
  const logFile = path.join(files, 'setup.auto.log');
  for (let i = 0; i < 600 && !fs.existsSync(logFile); i++) await new Promise((res) => setTimeout(res, 50)); // 30 s at most
  assert.equal(fs.readFileSync(logFile, 'utf8'), 'done\nScript file loaded and executed successfully\n');
  assert.equal(await s.app.identity(), 'from-ftp');
  // A failing script: its error is the log.
  fs.writeFileSync(local('bad.auto.rsc'), '/nosuch command\n');
  await run('curl', ['-sS', '-T', local('bad.auto.rsc'), url()]);
  const badLog = path.join(files, 'bad.auto.log');
  for (let i = 0; i < 600 && !fs.existsSync(badLog); i++) await new Promise((res) => setTimeout(res, 50)); // 30 s at most
  assert.match(fs.readFileSync(badLog, 'utf8'), /^Script Error: bad command name nosuch \(line 1 column 2\)\n$/);
});

test('LIST shows times in the router zone; MDTM and MLSD stay UTC (RFC 3659)', { skip }, async () => {
  await s.run('/system/clock', 'set', { 'time-zone-name': 'Europe/Riga' });
  try {
    const out = await ftplib(`
f.storbinary('STOR zoned.txt', io.BytesIO(b'zone'))
lines = []
f.retrlines('LIST', lines.append)
out = {'list': [l for l in lines if l.endswith(' zoned.txt')], 'mdtm': f.sendcmd('MDTM zoned.txt'), 'mlsd': [fa['modify'] for n, fa in f.mlsd() if n == 'zoned.txt']}
f.delete('zoned.txt')
print(json.dumps(out))
`);
    const now = s.clock.now();
    const part = (type: string) => new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Riga', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(now).find((p) => p.type === type)!.value;
    const riga = `${part('month')} ${part('day').padStart(2)} ${part('hour')}:${part('minute')}`;
    assert.equal(out.list.length, 1, JSON.stringify(out));
    assert.match(out.list[0], new RegExp(` ${riga} zoned\\.txt$`));
    const utc = new Date(now).toISOString().replace(/[-:T]/g, '').slice(0, 14);
    assert.equal(out.mdtm, `213 ${utc}`);
    assert.deepEqual(out.mlsd, [utc]);
  } finally {
    await s.run('/system/clock', 'set', { 'time-zone-name': 'manual' });
  }
});
