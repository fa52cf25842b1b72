// The interactive terminal console: RouterOS prompt, history, tab completion, `?` help,
// Ctrl-C cancels the line, `/quit` or Ctrl-D leaves (issue 2 §2). A line that carries a
// sensitive argument (a passphrase, a password) is kept out of the history, in memory and in
// the history file, as RouterOS does (sensitive.ts decides from the menu declarations).
//
// An entry that is not complete — an open `{`, `(`, `[` or string, or a line ending in `\` —
// goes on on the next line under RouterOS's continuation prompt, which lists what is open and
// a trailing backslash: `{... `, `{(\... ` (M-CONSOLE, "Command line interface"). Pasted
// multi-line blocks arrive the same way, line by line, and run when they are complete.

import fs from 'node:fs';
import readline from 'node:readline';
import { Transform, type TransformCallback } from 'node:stream';
import type { ConsoleBackend, RunOutcome } from './session.js';
import { Registry } from '../menu/registry.js';
import { ALL_MENUS } from '../menus/index.js';
import { pendingInput } from './lexer.js';
import { carriesSensitiveArgument, promptPath, type MenuTree } from './sensitive.js';

const HISTORY_LINES = 1000;

export interface ReplOptions {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream;
  historyFile?: string;
  /**
   * Filled in while the console runs: asks a question on this terminal (`passphrase: `) through
   * the console's own line editor, so typed secrets are masked and never echoed or kept in history.
   */
  asker?: TerminalAsker;
  /** Menus the console runs against (which arguments are sensitive); default: every menu of rospki. */
  registry?: MenuTree;
  /** Tables follow the width of the output terminal when it changes (no fixed COLUMNS). */
  followWidth?: boolean;
}

/** RouterOS's continuation prompt: what is still open, a trailing backslash, `... `. */
export function continuationPrompt(pending: { open: string; backslash: boolean }): string {
  return `${pending.open}${pending.backslash ? '\\' : ''}... `;
}

export interface TerminalAsker {
  ask?: (question: string, masked: boolean) => Promise<string>;
  /** Filled in while the console runs: forgets its history, in memory and in the history file. */
  clearHistory?: () => void;
}

/**
 * The `prompt` of a console session on a network terminal (SSH PTY, telnet): its questions
 * (`passphrase: `, a missing `numbers: `, `Restore and reboot? [y/N]: `, `/terminal inkey`) are
 * asked on that terminal while its line editor runs, as RouterOS asks them over SSH.
 */
export function promptOn(terminal: TerminalAsker): (question: string, masked: boolean) => Promise<string> {
  return (question, masked) => (terminal.ask ? terminal.ask(question, masked) : Promise.resolve(''));
}

/**
 * The longest entry a network console takes: one line, or the lines of an entry still open (a
 * `{` never closed). Longer is refused with an error, as a paste that went wrong; a script that
 * long goes through `/import` or an SSH exec. Without a bound, one line without a newline kept
 * the line editor busy for seconds per chunk (the daemon stopped answering), and an open entry
 * grew, parsed again at every line, without end.
 */
export const MAX_ENTRY_CHARS = 16 * 1024;
/** A network console's input reaches the line editor this many bytes per event-loop turn. */
const INPUT_SLICE = 4096;

/**
 * Network input for the line editor: bytes of a line past MAX_ENTRY_CHARS are dropped (the
 * line, at the bound, is then refused), and a large chunk is handed on a slice per turn, so
 * nothing else waits for the line editor longer than a slice takes.
 */
class InputLimiter extends Transform {
  private lineLength = 0;

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    void (async () => {
      for (let at = 0; at < bytes.length; at += INPUT_SLICE) {
        if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        const kept = this.limit(bytes.subarray(at, at + INPUT_SLICE));
        if (kept.length > 0) this.push(kept);
      }
      callback();
    })();
  }

  private limit(piece: Buffer): Buffer {
    const kept: Buffer[] = [];
    let from = 0;
    for (let i = 0; i < piece.length; i++) {
      const b = piece[i]!;
      if (b === 0x0d || b === 0x0a || b === 0x03) {
        this.lineLength = 0;
        if (from < 0) from = i;
      } else if (++this.lineLength > MAX_ENTRY_CHARS && from >= 0) {
        kept.push(piece.subarray(from, i));
        from = -1;
      }
    }
    if (from === 0) return piece;
    if (from > 0) kept.push(piece.subarray(from));
    return Buffer.concat(kept);
  }
}

/** Runs until the user leaves. */
export async function runRepl(backend: ConsoleBackend, opts: ReplOptions): Promise<void> {
  const registry = opts.registry ?? defaultRegistry();
  // A network console's input is bounded (the local terminal is the operator's own, in raw mode).
  const limiter = (opts.input as { isTTY?: boolean }).isTTY ? undefined : new InputLimiter();
  const input = limiter ? opts.input.pipe(limiter) : opts.input;
  // A history file written before sensitive lines were kept out is cleaned on the way in.
  const history = loadHistory(opts.historyFile).filter((l) => !carriesSensitiveArgument(l, registry));
  const rl = readline.createInterface({
    input,
    output: opts.output,
    terminal: true,
    history,
    historySize: HISTORY_LINES,
    removeHistoryDuplicates: true,
    completer: (line: string, callback: (err: Error | null, result: [string[], string]) => void) => {
      backend.complete(line).then(
        (c) => callback(null, [c.candidates, c.partial]),
        () => callback(null, [[], line]),
      );
    },
  });
  installHelpKey(rl, backend, opts.output);
  if (opts.asker) {
    opts.asker.ask = (question, masked) => askWithReadline(rl, question, masked);
    opts.asker.clearHistory = () => {
      (rl as unknown as { history: string[] }).history.length = 0;
      saveHistory(opts.historyFile, []);
    };
  }

  let busy = false;
  /** Lines of an entry that is not complete yet. */
  let entry: string[] = [];
  let prompt = await backend.prompt();
  rl.on('SIGINT', () => {
    // Ctrl-C aborts the running command, or cancels the entry being typed.
    if (busy) { backend.interrupt(); return; }
    opts.output.write('\n');
    (rl as unknown as { line: string }).line = '';
    entry = [];
    rl.setPrompt(prompt);
    rl.prompt();
  });

  const output = opts.output as NodeJS.WritableStream & { columns?: number; on?: (e: string, f: () => void) => unknown; off?: (e: string, f: () => void) => unknown };
  const onResize = (): void => { if (output.columns) backend.resize?.(output.columns); };
  if (opts.followWidth) output.on?.('resize', onResize);

  const write = (text: string) => opts.output.write(text);
  rl.setPrompt(prompt);
  rl.prompt();
  try {
    for await (const line of rl) {
      if (entry.length === 0) {
        const trimmed = line.trim();
        if (trimmed === '/quit' || trimmed === 'quit') break;
      }
      entry.push(line);
      const source = entry.join('\n');
      if (limiter && (Buffer.byteLength(line) >= MAX_ENTRY_CHARS || source.length > MAX_ENTRY_CHARS)) {
        entry = [];
        write(`input line too long (more than ${MAX_ENTRY_CHARS} characters): not run\n`);
        rl.setPrompt(prompt);
        rl.prompt();
        continue;
      }
      const pending = pendingInput(source);
      if (pending) {
        rl.setPrompt(continuationPrompt(pending));
        rl.prompt();
        continue;
      }
      const lines = entry;
      entry = [];
      // Judged as a whole, in the menu the prompt showed when the entry began.
      if (carriesSensitiveArgument(source, registry, promptPath(prompt))) for (const l of lines) forget(rl, l);
      if (source.trim() !== '') {
        // The terminal keeps being read while the command runs, so Ctrl-C reaches it; lines
        // typed meanwhile wait their turn.
        busy = true;
        const outcome = await backend.run(source, write).catch((e: Error): RunOutcome => ({ ok: false, error: e.message }));
        // A command stopped by Ctrl-C just gives the prompt back, as on RouterOS.
        if (!outcome.ok && outcome.error && outcome.error !== 'interrupted') write(`${outcome.error}\n`);
        busy = false;
        // `/quit` inside a longer line or a block (`:put done; /quit`) ends the session too.
        if (outcome.quit) break;
      }
      prompt = await backend.prompt();
      rl.setPrompt(prompt);
      rl.prompt();
    }
  } finally {
    if (opts.followWidth) output.off?.('resize', onResize);
    if (opts.asker) { opts.asker.ask = undefined; opts.asker.clearHistory = undefined; }
    saveHistory(opts.historyFile, (rl as unknown as { history: string[] }).history);
    rl.close();
    opts.output.write('\n');
  }
}

/**
 * `?` shows what may come at the cursor without changing the line (RouterOS behaviour),
 * except inside a quoted string, where it is just a character.
 */
function installHelpKey(rl: readline.Interface, backend: ConsoleBackend, output: NodeJS.WritableStream): void {
  const internal = rl as unknown as { _ttyWrite: (s: string, key: unknown) => void; line: string; cursor: number };
  const original = internal._ttyWrite.bind(rl);
  internal._ttyWrite = (s: string, key: unknown) => {
    const before = internal.line.slice(0, internal.cursor);
    const quotes = (before.match(/(?<!\\)"/g) ?? []).length;
    if (s === '?' && quotes % 2 === 0) {
      void backend.help(before).then((text) => {
        output.write(`\n${text}`);
        rl.prompt(true);
      });
      return;
    }
    original(s, key);
  };
}

let builtRegistry: Registry | undefined;
function defaultRegistry(): Registry {
  builtRegistry ??= new Registry(ALL_MENUS);
  return builtRegistry;
}

/** Takes a line readline has just put into its history back out. */
function forget(rl: readline.Interface, line: string): void {
  const history = (rl as unknown as { history: string[] }).history;
  const at = history.indexOf(line);
  if (at >= 0) history.splice(at, 1);
}

function loadHistory(file: string | undefined): string[] {
  if (!file) return [];
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').reverse().slice(0, HISTORY_LINES);
  } catch {
    return [];
  }
}

function saveHistory(file: string | undefined, history: string[] | undefined): void {
  if (!file || !history) return;
  try {
    fs.writeFileSync(file, [...history].reverse().join('\n') + '\n', { mode: 0o600 });
  } catch {
    // History is a convenience; a read-only data directory must not break leaving the console.
  }
}

/**
 * A question asked through the running line editor: with `masked`, what is typed shows as `*`,
 * and the answer is kept out of the history.
 */
function askWithReadline(rl: readline.Interface, question: string, masked: boolean): Promise<string> {
  const internal = rl as unknown as { _writeToOutput(s: string): void; line: string; history: string[] };
  const original = internal._writeToOutput.bind(rl);
  if (masked) {
    internal._writeToOutput = (s: string) => {
      if (s === '\r\n' || s === '\n') original(s);
      // A redraw (prompt and line) or an edit: show the question and one `*` per character.
      else if (s.includes('\x1b') || s.startsWith('\r') || s.startsWith(question)) original(`\r\x1b[K${question}${'*'.repeat(internal.line.length)}`);
      else original('*'.repeat(s.length));
    };
  }
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      internal._writeToOutput = original;
      if (internal.history[0] === answer) internal.history.shift();
      resolve(answer);
    });
  });
}

/** Masked input for `passphrase: ` prompts on a terminal without a running console. */
export function askMasked(input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (b: boolean) => void }, output: NodeJS.WritableStream, question: string, masked: boolean): Promise<string> {
  return new Promise((resolve) => {
    output.write(question);
    let value = '';
    const raw = Boolean(input.isTTY && input.setRawMode);
    if (raw) input.setRawMode!(true);
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') { finish(); return; }
        if (ch === '\u0003') { value = ''; finish(); return; }
        if (ch === '\u007f' || ch === '\b') {
          if (value.length > 0) { value = value.slice(0, -1); if (masked) output.write('\b \b'); }
          continue;
        }
        value += ch;
        output.write(masked ? '*' : ch);
      }
    };
    const finish = () => {
      input.removeListener('data', onData);
      if (raw) input.setRawMode!(false);
      output.write('\n');
      resolve(value);
    };
    input.on('data', onData);
  });
}
