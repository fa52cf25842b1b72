// Legacy SCP (`scp -O`, and the acme.sh-era tools): the exec commands `scp -t <target>` (sink,
// upload) and `scp -f <path>…` (source, download) over the /file store. The protocol:
//
//   sink:    server \0; client `C0644 <size> <name>\n`, server \0, client <data> \0, server \0;
//            `T<mtime> 0 <atime> 0\n` before a file (-p), `D0755 0 <dir>\n` … `E\n` with -r.
//   source:  client \0; server `C…\n`, client \0, server <data> \0, client \0 …
//   errors:  `\x01scp: <message>\n` (the transfer goes on) or `\x02…` (fatal).
//
// Names from the client are single path components; targets and sources go through
// resolveFile, so nothing outside the store is read or written. Uploads replace a file of the
// same name atomically (writeStoreFile). Source paths may use `*`, `?` and `[…]` in their last
// part (a real shell would expand them; `scp -O router:'*.pem' .` relies on it).

import fs from 'node:fs';
import path from 'node:path';
import type ssh2 from 'ssh2';
import { logFileRefusal } from '../menu/executor.js';
import { UnsafeFileName } from '../store/files.js';
import type { ServiceContext } from './context.js';
import { endChannel, type SshUser } from './ssh.js';

/** Largest single upload kept in memory. */
const MAX_UPLOAD = 256 * 1024 * 1024;

/** Splits a command line as a POSIX shell would (quotes and backslashes; no expansion). */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      cur += line.slice(i + 1, end < 0 ? line.length : end);
      i = end < 0 ? line.length : end;
      has = true;
    } else if (c === '"') {
      i++;
      for (; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) i++;
        cur += line[i];
      }
      has = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

/** Bytes from the channel, read as the protocol needs them. */
class Reader {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(channel: ssh2.ServerChannel) {
    channel.on('data', (d: Buffer) => { this.chunks.push(d); this.size += d.length; this.notify(); });
    channel.on('end', () => { this.ended = true; this.notify(); });
    channel.on('close', () => { this.ended = true; this.notify(); });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.size < n) {
      if (this.ended) return false;
      await new Promise<void>((r) => { this.wake = r; });
    }
    return true;
  }

  private take(n: number): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks = n < all.length ? [all.subarray(n)] : [];
    this.size = all.length - n;
    return all.subarray(0, n);
  }

  /** n bytes, or undefined at the end of input. */
  async bytes(n: number): Promise<Buffer | undefined> {
    return (await this.fill(n)) ? this.take(n) : undefined;
  }

  /** One line without its `\n`, or undefined at the end of input. */
  async line(max = 64 * 1024): Promise<string | undefined> {
    for (;;) {
      const all = Buffer.concat(this.chunks);
      this.chunks = all.length ? [all] : [];
      const nl = all.indexOf(0x0a);
      if (nl >= 0) return this.take(nl + 1).subarray(0, nl).toString('utf8');
      if (all.length > max || !(await this.fill(all.length + 1))) return undefined;
    }
  }
}

class ScpFatal extends Error {}

export async function runScp(channel: ssh2.ServerChannel, command: string, opts: { ctx: ServiceContext; user: SshUser }): Promise<void> {
  const { ctx, user } = opts;
  const { app } = ctx;
  const filesDir = app.dataDir.filesDir;
  const words = shellWords(command).slice(1);
  const flags = new Set<string>();
  const paths: string[] = [];
  let endOfFlags = false;
  for (const w of words) {
    if (!endOfFlags && w === '--') { endOfFlags = true; continue; }
    if (!endOfFlags && w.startsWith('-') && w.length > 1) { for (const f of w.slice(1)) flags.add(f); continue; }
    paths.push(w);
  }
  const reader = new Reader(channel);
  const session = { user: user.name, via: 'ssh', policies: user.policies, lastPrint: new Map(), width: 80 };
  let status = 0;
  const send = (data: Buffer | string) => { if (channel.writable) channel.write(data); };
  const warn = (message: string) => { status = 1; send(`\x01scp: ${message}\n`); };
  /** resolveFile with the refusal logged. */
  const resolve = async (name: string) => {
    try {
      const clean = name.split('/').filter((s) => s !== '' && s !== '.').join('/');
      if (clean === '') return { name: '', full: path.resolve(filesDir) };
      return app.files.hostPath(clean);
    } catch (e) {
      if (e instanceof UnsafeFileName) await logFileRefusal(app.env, session, e);
      throw e;
    }
  };

  if (!user.policies.has('ftp') || (flags.has('t') && !user.policies.has('write')) || (flags.has('f') && !user.policies.has('read'))) {
    send('\x02scp: not enough permissions (9)\n');
    endChannel(channel, 1);
    return;
  }

  try {
    if (flags.has('t')) await sink(paths[0] ?? '.');
    else if (flags.has('f')) await source(paths);
    else { send('\x02scp: expected -t or -f\n'); status = 1; }
  } catch (e) {
    if (!(e instanceof ScpFatal)) {
      status = 1;
      send(`\x02scp: ${(e as Error).message}\n`);
    }
    status = 1;
  }
  endChannel(channel, status);

  // -------------------------------------------------------------------------------------------

  async function sink(target: string): Promise<void> {
    const t = await resolve(target);
    const targetIsDir = t.name === '' || isDir(t.full);
    if (flags.has('d') && !targetIsDir) throw new Error(`${target}: Not a directory`);
    const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);
    // The folder names arrive in (store-relative); undefined: the target itself is the name.
    let cwd: string | undefined = targetIsDir ? t.name : undefined;
    const stack: Array<string | undefined> = [];
    send('\0');
    for (;;) {
      const line = await reader.line();
      if (line === undefined || line === '') return;
      const kind = line[0];
      const rest = line.slice(1);
      if (kind === '\x01' || kind === '\x02') { status = 1; if (kind === '\x02') throw new ScpFatal(); continue; }
      if (kind === 'T') { send('\0'); continue; }
      if (kind === 'E') { cwd = stack.pop(); send('\0'); continue; }
      const m = /^([0-7]{4}) (\d+) (.+)$/.exec(rest);
      if ((kind !== 'C' && kind !== 'D') || !m) throw new Error(`protocol error: unexpected <${kind}>`);
      const size = Number(m[2]);
      const name = m[3]!;
      if (name.includes('/') || name === '..' || name === '.') throw new Error(`protocol error: unexpected filename: ${name}`);
      const dest = cwd !== undefined ? join(cwd, name) : t.name;
      if (kind === 'D') {
        if (!flags.has('r')) throw new Error('received directory without -r');
        const d = await resolve(dest);
        fs.mkdirSync(d.full, { recursive: true, mode: 0o700 });
        stack.push(cwd);
        cwd = d.name;
        send('\0');
        continue;
      }
      if (size > MAX_UPLOAD) throw new Error(`${name}: file too large`);
      send('\0');
      const data = await reader.bytes(size);
      const end = await reader.bytes(1);
      if (!data || !end) throw new ScpFatal();
      try {
        await app.files.write(dest, data, app.clock.now());
        send('\0');
      } catch (e) {
        if (e instanceof UnsafeFileName) await logFileRefusal(app.env, session, e);
        warn(`${dest}: ${(e as Error).message}`);
      }
    }
  }

  async function ack(): Promise<void> {
    const b = await reader.bytes(1);
    if (!b) throw new ScpFatal();
    if (b[0] === 0) return;
    await reader.line();
    if (b[0] === 2) throw new ScpFatal();
    status = 1;
  }

  async function source(list: string[]): Promise<void> {
    await ack();
    for (const p of list) {
      const matches = await expand(p);
      if (matches.length === 0) { warn(`${p}: No such file or directory`); continue; }
      for (const m of matches) await sendEntry(m.name, m.full);
    }
  }

  async function sendEntry(name: string, full: string): Promise<void> {
    let st: fs.Stats;
    try { st = fs.lstatSync(full); } catch { warn(`${name}: No such file or directory`); return; }
    const base = name.slice(name.lastIndexOf('/') + 1) || name;
    if (flags.has('p')) {
      send(`T${Math.floor(st.mtimeMs / 1000)} 0 ${Math.floor(st.atimeMs / 1000)} 0\n`);
      await ack();
    }
    if (st.isDirectory()) {
      if (!flags.has('r')) { warn(`${name}: not a regular file`); return; }
      send(`D0755 0 ${base}\n`);
      await ack();
      for (const n of fs.readdirSync(full).sort()) {
        if (n.endsWith('.tmp') && n.includes('.rospki-')) continue;
        const st2 = fs.lstatSync(path.join(full, n));
        if (st2.isSymbolicLink()) continue;
        await sendEntry(`${name}/${n}`, path.join(full, n));
      }
      send('E\n');
      await ack();
      return;
    }
    if (!st.isFile()) { warn(`${name}: not a regular file`); return; }
    const data = fs.readFileSync(full);
    send(`C0644 ${data.length} ${base}\n`);
    await ack();
    send(data);
    send('\0');
    await ack();
  }

  /** A source path, with `*`/`?`/`[…]` in its last part matched against the store. */
  async function expand(p: string): Promise<Array<{ name: string; full: string }>> {
    const clean = p.split('/').filter((s) => s !== '' && s !== '.').join('/');
    const slash = clean.lastIndexOf('/');
    const last = clean.slice(slash + 1);
    if (!/[*?[]/.test(last)) {
      const r = await resolve(clean);
      if (r.name === '') return flags.has('r') ? [r] : [];
      return fs.existsSync(r.full) ? [r] : [];
    }
    const dir = await resolve(clean.slice(0, Math.max(slash, 0)));
    const re = globRegExp(last);
    let names: string[];
    try { names = fs.readdirSync(dir.full).sort(); } catch { return []; }
    const out: Array<{ name: string; full: string }> = [];
    for (const n of names) {
      if (!re.test(n) || (n.startsWith('.') && !last.startsWith('.'))) continue;
      if (n.endsWith('.tmp') && n.includes('.rospki-')) continue;
      out.push(await resolve(dir.name ? `${dir.name}/${n}` : n));
    }
    return out;
  }
}

function isDir(full: string): boolean {
  try { return fs.lstatSync(full).isDirectory(); } catch { return false; }
}

/** A shell glob (one path component) as a regular expression. */
export function globRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) { re += '\\['; continue; }
      let set = glob.slice(i + 1, end);
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      re += `[${set.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}
