// Regular expressions that users write — the script operator `~`, `where name~"…"` filters,
// `/ip dns static regexp=` (matched against the names anyone queries), SCP's file globs — run on
// V8's linear-time engine (the `l` flag): matching costs at most pattern × subject steps, so no
// pattern can keep the daemon's one thread busy for minutes by backtracking (ReDoS:
// `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" ~ "(a+)+\$"` froze every service). What that engine can not
// run — backreferences, lookaround, huge counted repetitions — none of which POSIX extended
// regular expressions (RouterOS's) have, is refused as a pattern that does not compile.

import v8 from 'node:v8';

// The `l` flag exists only behind this V8 flag; it changes nothing for other regular expressions.
v8.setFlagsFromString('--enable-experimental-regexp-engine');

/** A linear-time RegExp of `source` (JavaScript syntax); throws SyntaxError when it has none. */
export function linearRegExp(source: string, flags = ''): RegExp {
  return new RegExp(source, `${flags}l`);
}
