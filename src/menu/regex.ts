// Regular expressions that users write — the script operator `~`, `where name~"…"` filters,
// `/ip dns static regexp=` (matched against the names anyone queries), SCP's file globs — must
// not be able to keep the daemon's one thread busy for minutes by backtracking (ReDoS:
// `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" ~ "(a+)+\$"` froze every service). They run on V8's usual
// backtracking engine, and a match that backtracks more than BACKTRACKS_BEFORE_LINEAR times is
// run again on V8's linear-time engine (matching costs at most pattern × subject steps there).
// The linear engine alone (the `l` flag) was 15–40× slower on ordinary patterns: `print where
// common-name~"host9999[0-9]"` spent 160 of its 170 ms over 100,000 certificates matching
// (docs/bench.md). What the linear engine can not run — backreferences, lookaround, huge counted
// repetitions — none of which POSIX extended regular expressions (RouterOS's) have, is refused
// as a pattern that does not compile, so every pattern has its linear fallback.

import v8 from 'node:v8';

/** V8's own default: well under a millisecond of backtracking before the linear engine takes over. */
const BACKTRACKS_BEFORE_LINEAR = 50_000;

// The `l` flag and the fallback exist only behind these V8 flags. They change nothing for other
// regular expressions but give them the same bound when they can run on the linear engine.
v8.setFlagsFromString('--enable-experimental-regexp-engine');
v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
v8.setFlagsFromString(`--regexp-backtracks-before-fallback=${BACKTRACKS_BEFORE_LINEAR}`);

/**
 * A RegExp of `source` (JavaScript syntax) whose every match takes linear time at worst; throws
 * SyntaxError when the linear engine can not run it.
 */
export function linearRegExp(source: string, flags = ''): RegExp {
  void new RegExp(source, `${flags}l`);
  return new RegExp(source, flags);
}
