// An *.auto.rsc uploaded over SFTP runs like one uploaded over FTP (M-CFG: "after uploading to
// the router with FTP or SFTP"), as the uploader, and leaves its *.auto.log; judged with
// OpenSSH's sftp.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { importAdminKey, sftpBatch, startSshApp, type SshApp } from '../services/ssh-support.js';
import { needs } from '../support/tools.js';

const skip = needs('sftp', 'ssh-keygen');
let s: SshApp;
before(async () => {
  if (skip) return;
  s = await startSshApp();
  await importAdminKey(s);
});
after(async () => { await s?.stop(); });

test('sftp put of x.auto.rsc runs it and writes x.auto.log', { skip }, async () => {
  const script = path.join(s.home, 'net.auto.rsc');
  fs.writeFileSync(script, '/system identity set name=from-sftp\n');
  const r = await sftpBatch(s, `put ${script} net.auto.rsc\n`);
  assert.equal(r.status, 0, r.stderr);
  const log = path.join(s.app.dataDir.filesDir, 'net.auto.log');
  for (let i = 0; i < 600 && !fs.existsSync(log); i++) await new Promise((res) => setTimeout(res, 50)); // 30 s at most
  assert.equal(fs.readFileSync(log, 'utf8'), 'Script file loaded and executed successfully\n');
  assert.equal(await s.app.identity(), 'from-sftp');
  // A plain .rsc is only a file.
  fs.writeFileSync(path.join(s.home, 'plain.rsc'), '/system identity set name=never\n');
  assert.equal((await sftpBatch(s, `put ${path.join(s.home, 'plain.rsc')} plain.rsc\n`)).status, 0);
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(await s.app.identity(), 'from-sftp');
  assert.equal(fs.existsSync(path.join(s.app.dataDir.filesDir, 'plain.log')), false);
});
