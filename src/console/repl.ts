// The interactive terminal console: RouterOS prompt, history, tab completion, `?` help,
// Ctrl-C cancels the line, `/quit` or Ctrl-D leaves (issue 2 §2).

import fs from 'node:fs';
import readline from 'node:readline';
import type { ConsoleBackend } from '../control.js';

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
}

export interface TerminalAsker {
  ask?: (question: string, masked: boolean) => Promise<string>;
}

/** Runs until the user leaves. */
export async function runRepl(backend: ConsoleBackend, opts: ReplOptions): Promise<void> {
  const history = loadHistory(opts.historyFile);
  const rl = readline.createInterface({
    input: opts.input,
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
  if (opts.asker) opts.asker.ask = (question, masked) => askWithReadline(rl, question, masked);

  let busy = false;
  rl.on('SIGINT', () => {
    // Ctrl-C aborts the running command, or cancels the line being typed.
    if (busy) { backend.interrupt(); return; }
    opts.output.write('\n');
    (rl as unknown as { line: string }).line = '';
    rl.prompt();
  });

  const write = (text: string) => opts.output.write(text);
  rl.setPrompt(await backend.prompt());
  rl.prompt();
  try {
    for await (const line of rl) {
      const trimmed = line.trim();
      if (trimmed === '/quit' || trimmed === 'quit') break;
      if (trimmed !== '') {
        // The terminal keeps being read while the command runs, so Ctrl-C reaches it; lines
        // typed meanwhile wait their turn.
        busy = true;
        const outcome = await backend.run(line, write).catch((e: Error) => ({ ok: false, error: e.message }));
        // A command stopped by Ctrl-C just gives the prompt back, as on RouterOS.
        if (!outcome.ok && outcome.error && outcome.error !== 'interrupted') write(`${outcome.error}\n`);
        busy = false;
      }
      rl.setPrompt(await backend.prompt());
      rl.prompt();
    }
  } finally {
    if (opts.asker) opts.asker.ask = undefined;
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
