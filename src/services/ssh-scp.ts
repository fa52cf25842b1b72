// Legacy SCP (`scp -O`, and the acme.sh-era tools): the exec commands `scp -t <target>` (sink,
// upload) and `scp -f <path>…` (source, download) over the /file store. The protocol:
//
//   sink:    server \0; client `C0644 <size> <name>\n`, server \0, client <data> \0, server \0;
//            `T<mtime> 0 <atime> 0\n` before a file (-p), `D0755 0 <dir>\n` … `E\n` with -r.
//   source:  client \0; server `C…\n`, client \0, server <data> \0, client \0 …
//   errors:  `\x01scp: <message>\n` (the transfer goes on) or `\x02…` (fatal).
//
// Names from the client are single path components; targets and sources go through the
// store's name rule, so nothing outside the store is read or written. Uploads stream into the
// store's upload (FileStore.upload) and replace a file of the same name atomically; a file larger
// than ServiceOptions.maxUploadBytes is refused from its header before any byte is sent.
// Downloads are read from the store piece by piece. Errors name only /file names (ssh-files.ts). Source paths may use `*`, `?`
// and `[…]` in their last part (a real shell would expand them; `scp -O router:'*.pem' .`
// relies on it).

import type ssh2 from 'ssh2';
import { effectivePolicies, logFileRefusal } from '../menu/executor.js';
import type { Policy, Session } from '../menu/types.js';
import { fsError, UnsafeFileName, type FileReader, type FileStat, type FileUpload } from '../store/files.js';
import type { ServiceContext } from './context.js';
import { fileFailure, FileRefusal, openForDownload, refuseFolderPathAsFile, UploadTooLarge } from './ssh-files.js';
import { endChannel, type SshUser } from './ssh.js';
import { linearRegExp } from '../menu/regex.js';

/** Input kept before the channel is paused (SSH flow control then holds the client back). */
const HIGH_WATER = 1024 * 1024;
/** Bytes read from the store per write when sending a file. */
const CHUNK = 64 * 1024;

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

/** Bytes from the channel, read as the protocol needs them; at most HIGH_WATER kept. */
class Reader {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(private readonly channel: ssh2.ServerChannel) {
    channel.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.size += d.length;
      if (this.size > HIGH_WATER) channel.pause();
      this.notify();
    });
    channel.on('end', () => { this.ended = true; this.notify(); });
    channel.on('close', () => { this.ended = true; this.notify(); });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Waits for more input; false at its end. */
  private async more(): Promise<boolean> {
    if (this.ended) return false;
    if (this.channel.isPaused()) this.channel.resume();
    await new Promise<void>((r) => { this.wake = r; });
    return true;
  }

  /** Up to n bytes of what has arrived (at least one). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    const part = first.length <= n ? first : first.subarray(0, n);
    if (part === first) this.chunks.shift(); else this.chunks[0] = first.subarray(n);
    this.size -= part.length;
    return part;
  }

  /** One byte, or undefined at the end of input. */
  async byte(): Promise<number | undefined> {
    while (this.size === 0) if (!(await this.more())) return undefined;
    return this.take(1)[0];
  }

  /** One line without its `\n`, or undefined at the end of input (or past `max`). */
  async line(max = 64 * 1024): Promise<string | undefined> {
    const parts: Buffer[] = [];
    let length = 0;
    for (;;) {
      while (this.size === 0) if (!(await this.more())) return undefined;
      const nl = this.chunks[0]!.indexOf(0x0a);
      const part = this.take(nl >= 0 ? nl + 1 : this.chunks[0]!.length);
      parts.push(part);
      length += part.length;
      if (nl >= 0) return Buffer.concat(parts, length).subarray(0, length - 1).toString('utf8');
      if (length > max) return undefined;
    }
  }

  /** Hands the next n bytes to `sink` as they arrive, nothing kept; false at the end of input. */
  async stream(n: number, sink: (chunk: Buffer) => Promise<void>): Promise<boolean> {
    let left = n;
    while (left > 0) {
      while (this.size === 0) if (!(await this.more())) return false;
      const part = this.take(left);
      left -= part.length;
      await sink(part);
    }
    return true;
  }
}

/** The client ended the transfer (or broke the protocol): stop without another message. */
class ScpFatal extends Error {}
/** A refusal with a message of ours (`protocol error: …`), fatal for the transfer. */
class ScpError extends Error {}

/** Resolves when the channel can take more output (or is gone). */
function drained(channel: ssh2.ServerChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { channel.off('drain', done); channel.off('close', done); resolve(); };
    channel.on('drain', done);
    channel.on('close', done);
  });
}

export async function runScp(channel: ssh2.ServerChannel, command: string, opts: { ctx: ServiceContext; user: SshUser }): Promise<void> {
  const { ctx, user } = opts;
  const { app } = ctx;
  const { files } = app;
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
  const session: Session = {
    user: user.name, via: 'ssh', channel: 'ssh', policies: user.policies, stamp: user.stamp, lastPrint: new Map(), width: 80,
  };
  let status = 0;
  const send = (data: Buffer | string) => { if (channel.writable) channel.write(data); };
  const sendAll = async (data: Buffer) => {
    if (!channel.writable) throw new ScpFatal();
    if (!channel.write(data)) await drained(channel);
  };
  /** A failure on one file: reported (`\x01`), and the transfer goes on. */
  const warn = async (name: string, e: unknown) => {
    if (e instanceof UnsafeFileName) await logFileRefusal(app.env, session, e);
    const f = fileFailure(e, name, (x) => ctx.internalError(x));
    status = 1;
    send(`\x01scp: ${f.named ? f.text : `${name}: ${f.text}`}\n`);
  };
  /** A /file path of the client (`.` and empty segments dropped; '' is the store's root), checked. */
  const resolve = (name: string): string => {
    const clean = name.split('/').filter((s) => s !== '' && s !== '.').join('/');
    return clean === '' ? '' : files.check(clean);
  };
  const isDir = async (name: string): Promise<boolean> => (await files.stat(name))?.kind === 'directory';

  // What the user's group grants now (the SSH connection may be old): a disabled, demoted or
  // re-passworded user transfers nothing.
  /** What the user's group grants now: checked again at every file, as FTP checks every command. */
  const liveRights = (): Promise<ReadonlySet<Policy>> => app.store.read((tx) => effectivePolicies(app.env, tx, session));
  /** Refuses a file of the transfer when the user lost `ftp` or `policy` since it began. */
  const stillMay = async (policy: Policy): Promise<ReadonlySet<Policy>> => {
    const now = await liveRights();
    if (!now.has('ftp') || !now.has(policy)) throw new FileRefusal('permission', 'not enough permissions (9)');
    return now;
  };
  const rights = await liveRights();
  if (!rights.has('ftp') || (flags.has('t') && !rights.has('write')) || (flags.has('f') && !rights.has('read'))) {
    send('\x02scp: not enough permissions (9)\n');
    endChannel(channel, 1);
    return;
  }

  try {
    if (flags.has('t')) await sink(paths[0] ?? '.');
    else if (flags.has('f')) await source(paths);
    else throw new ScpError('expected -t or -f');
  } catch (e) {
    status = 1;
    if (e instanceof ScpError) send(`\x02scp: ${e.message}\n`);
    else if (!(e instanceof ScpFatal)) {
      if (e instanceof UnsafeFileName) await logFileRefusal(app.env, session, e);
      const f = fileFailure(e, '', (x) => ctx.internalError(x));
      send(`\x02scp: ${f.text}\n`);
    }
  }
  endChannel(channel, status);

  // -------------------------------------------------------------------------------------------

  async function sink(target: string): Promise<void> {
    const t = resolve(target);
    const targetIsDir = t === '' || await isDir(t);
    if (flags.has('d') && !targetIsDir) throw new ScpError(`${target}: not a directory`);
    const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);
    // The folder names arrive in (store-relative); undefined: the target itself is the name.
    let cwd: string | undefined = targetIsDir ? t : undefined;
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
      if ((kind !== 'C' && kind !== 'D') || !m) throw new ScpError(`protocol error: unexpected <${kind}>`);
      const size = Number(m[2]);
      const name = m[3]!;
      if (name.includes('/') || name === '..' || name === '.') throw new ScpError(`protocol error: unexpected filename: ${name}`);
      const dest = cwd !== undefined ? join(cwd, name) : t;
      if (kind === 'C' && cwd === undefined) {
        // `scp f host:nodir/`: the target names a folder that is not there (OpenSSH's scp -t fails too).
        try { await refuseFolderPathAsFile(files, target, t); } catch (e) { await warn(target, e); continue; }
      }
      if (kind === 'D') {
        if (!flags.has('r')) throw new ScpError('received directory without -r');
        try {
          const d = resolve(dest);
          await files.mkdir(d);
          stack.push(cwd);
          cwd = d;
          send('\0');
        } catch (e) {
          // The client skips this folder and what is in it.
          await warn(dest, e);
        }
        continue;
      }
      await receiveFile(dest, size);
    }
  }

  /** One file after its `C` line: refused before any byte, or streamed into the store. */
  async function receiveFile(dest: string, size: number): Promise<void> {
    let upload: FileUpload;
    try {
      // An empty name (the store itself) is not a file.
      if (dest === '') throw new FileRefusal('failure', 'is a directory');
      await stillMay('write');
      if (size > ctx.options.maxUploadBytes) { await warn(dest, new UploadTooLarge()); return; }
      upload = await files.upload(dest, ctx.options.maxUploadBytes);
    } catch (e) {
      await warn(dest, e);
      return;
    }
    send('\0');
    // A write that fails (disk full) still reads the rest, so the protocol stays in step.
    let failed: unknown;
    let offset = 0;
    let complete = false;
    try {
      complete = await reader.stream(size, async (chunk) => {
        if (failed === undefined) {
          try { await upload.write(chunk, offset); } catch (e) { failed = e; }
        }
        offset += chunk.length;
      });
      const end = complete ? await reader.byte() : undefined;
      if (end === undefined) throw new ScpFatal();
      if (end !== 0) {
        // The client could not read its file: its message follows; nothing is kept.
        await reader.line();
        status = 1;
        await upload.abort();
        if (end === 2) throw new ScpFatal();
        return;
      }
      if (failed !== undefined) throw failed;
      await upload.commit(app.clock.now());
      send('\0');
    } catch (e) {
      await upload.abort();
      if (e instanceof ScpFatal) throw e;
      await warn(dest, e);
    }
  }

  async function ack(): Promise<void> {
    const b = await reader.byte();
    if (b === undefined) throw new ScpFatal();
    if (b === 0) return;
    await reader.line();
    if (b === 2) throw new ScpFatal();
    status = 1;
  }

  async function source(list: string[]): Promise<void> {
    await ack();
    for (const p of list) {
      let matches: string[];
      try {
        matches = await expand(p);
      } catch (e) {
        await warn(p, e);
        continue;
      }
      if (matches.length === 0) { await warn(p, new FileRefusal('no-such-file', 'no such file')); continue; }
      for (const m of matches) await sendEntry(m);
    }
  }

  async function sendEntry(name: string): Promise<void> {
    let st: FileStat | undefined;
    try { st = await files.stat(name); } catch (e) { await warn(name, e); return; }
    if (!st) { await warn(name, fsError('ENOENT')); return; }
    const base = name.slice(name.lastIndexOf('/') + 1) || name;
    if (flags.has('p')) {
      const time = Math.floor(st.mtime / 1000);
      send(`T${time} 0 ${time} 0\n`);
      await ack();
    }
    if (st.kind === 'directory') {
      if (!flags.has('r')) { await warn(name, new FileRefusal('failure', 'not a regular file')); return; }
      let entries: { name: string }[];
      try { entries = await files.readdir(name); } catch (e) { await warn(name, e); return; }
      send(`D0755 0 ${base}\n`);
      await ack();
      for (const e of entries) await sendEntry(name === '' ? e.name : `${name}/${e.name}`);
      send('E\n');
      await ack();
      return;
    }
    let file: FileReader;
    // Never through a link; a secret (a private key, sensitive values) only with `sensitive` (ssh-files.ts).
    try { file = await openForDownload(files, name, await stillMay('read'), app.registry); } catch (e) { await warn(name, e); return; }
    try {
      const { size } = file;
      send(`C0644 ${size} ${base}\n`);
      await ack();
      let sent = 0;
      let shrunk = false;
      while (sent < size) {
        const want = Math.min(CHUNK, size - sent);
        let chunk = shrunk ? Buffer.alloc(0) : await file.read(sent, want);
        // The file got shorter while it was sent: the promised size is kept (zeros), then reported.
        if (chunk.length === 0) { shrunk = true; chunk = Buffer.alloc(want); }
        await sendAll(Buffer.from(chunk));
        sent += chunk.length;
      }
      if (shrunk) { status = 1; send(`\x01scp: ${name}: file changed while it was read\n`); } else send('\0');
      await ack();
    } finally {
      await file.close();
    }
  }

  /** A source path, with `*`/`?`/`[…]` in its last part matched against the store. */
  async function expand(p: string): Promise<string[]> {
    const clean = p.split('/').filter((s) => s !== '' && s !== '.').join('/');
    const slash = clean.lastIndexOf('/');
    const last = clean.slice(slash + 1);
    if (!/[*?[]/.test(last)) {
      const r = resolve(clean);
      if (r === '') return flags.has('r') ? [r] : [];
      return (await files.stat(r)) ? [r] : [];
    }
    const dir = resolve(clean.slice(0, Math.max(slash, 0)));
    const re = globRegExp(last);
    let names: string[];
    try { names = (await files.readdir(dir)).map((e) => e.name); } catch { return []; }
    const out: string[] = [];
    for (const n of names) {
      if (!re.test(n) || (n.startsWith('.') && !last.startsWith('.'))) continue;
      out.push(resolve(dir ? `${dir}/${n}` : n));
    }
    return out;
  }
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
  return linearRegExp(`${re}$`);
}
