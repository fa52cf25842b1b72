// Runs every test/transcripts/*.transcript (see test/support/transcript.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { matchesTranscript, replayTranscript } from './support/transcript.js';

const dir = path.join(import.meta.dirname, 'transcripts');
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.transcript')).sort()) {
  test(`transcript ${file}`, async () => {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    const screen = await replayTranscript(text);
    // UPDATE_TRANSCRIPTS=1 rewrites files without placeholders, to review the diff by hand.
    if (process.env.UPDATE_TRANSCRIPTS === '1' && !text.includes('{{')) fs.writeFileSync(path.join(dir, file), screen);
    else if (!matchesTranscript(screen, text)) assert.equal(screen, text);
  });
}
