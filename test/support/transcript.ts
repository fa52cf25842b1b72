// Transcript tests: a file shows a console screen — prompts, commands and their exact output —
// and the test replays the commands on a fresh data directory and compares byte for byte.
//
//   #! width=120                 optional header lines: terminal width, clock
//   #! time=2026-01-01T00:00:00Z
//   [admin@MikroTik] > /system identity set name=R1
//   [admin@R1] > :put [/system identity get name]
//   R1
//
// Output that cannot be fixed in advance (serial numbers, key ids, fingerprints) is written
// as a placeholder `{{regex}}`, e.g. `skid={{[0-9A-F]{40}}}`; everything else is literal.
//
// A command line ending in `\` continues on the next line. Errors appear as the console
// prints them, and the session goes on (an interactive console does not stop).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Appliance } from '../../src/appliance.js';
import { FixedClock } from '../../src/clock.js';
import { ConsoleSession } from '../../src/console/session.js';

const PROMPT = /^\[([^@\]]+)@([^\]]*)\] (?:(\/\S*))?> ?(.*)$/;

export interface TranscriptStep { prompt: string; command: string; expected: string }

export function parseTranscript(text: string): { width: number; time: string; steps: TranscriptStep[] } {
  let width = 80;
  let time = '2026-01-01T00:00:00Z';
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const steps: TranscriptStep[] = [];
  let i = 0;
  for (; i < lines.length && lines[i]!.startsWith('#!'); i++) {
    const m = /^#!\s*(\w+)=(\S+)/.exec(lines[i]!);
    if (m?.[1] === 'width') width = Number(m[2]);
    if (m?.[1] === 'time') time = m[2]!;
  }
  for (; i < lines.length; i++) {
    const m = PROMPT.exec(lines[i]!);
    if (!m) throw new Error(`transcript line ${i + 1} is not a prompt: ${lines[i]}`);
    const prompt = lines[i]!.slice(0, lines[i]!.length - m[4]!.length);
    let command = m[4]!;
    while (command.endsWith('\\') && i + 1 < lines.length) command += `\n${lines[++i]}`;
    const out: string[] = [];
    while (i + 1 < lines.length && !PROMPT.test(lines[i + 1]!)) out.push(lines[++i]!);
    steps.push({ prompt, command, expected: out.map((l) => `${l}\n`).join('') });
  }
  return { width, time, steps };
}

/** Replays a transcript and returns the screen it produced, for comparison with the file. */
export async function replayTranscript(text: string): Promise<string> {
  const { width, time, steps } = parseTranscript(text);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-transcript-'));
  const app = await Appliance.open(dir, { clock: new FixedClock(Date.parse(time)) });
  try {
    let screen = '';
    const header = text.split('\n').filter((l) => l.startsWith('#!'));
    for (const h of header) screen += `${h}\n`;
    const session = await ConsoleSession.open(app, { width, output: (t) => { screen += t; } });
    for (const step of steps) {
      screen += `${await session.prompt()}${step.command}\n`;
      const outcome = await session.run(step.command);
      if (!outcome.ok) screen += `${outcome.error}\n`;
    }
    return screen;
  } finally {
    app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether the screen matches the transcript text, `{{regex}}` placeholders included. */
export function matchesTranscript(screen: string, text: string): boolean {
  if (!text.includes('{{')) return screen === text;
  let pattern = '';
  let rest = text;
  for (let at = rest.indexOf('{{'); at >= 0; at = rest.indexOf('{{')) {
    const end = rest.indexOf('}}', at + 2);
    if (end < 0) break;
    // `}}}` closes a placeholder that itself ends in `}` (a regex quantifier).
    let close = end;
    while (rest[close + 2] === '}') close++;
    pattern += escapeRegExp(rest.slice(0, at)) + `(?:${rest.slice(at + 2, close)})`;
    rest = rest.slice(close + 2);
  }
  pattern += escapeRegExp(rest);
  return new RegExp(`^${pattern}$`).test(screen);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
