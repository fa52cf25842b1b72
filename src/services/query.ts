// API query words (spec §9.5), also used by REST `.query`: a stack machine over the records'
// API strings. The stack starts as an infinite `true`; a record matches when no `false` remains.

import { RosError, ErrorCategory } from '../errors.js';

export type ApiRecord = Readonly<Record<string, string>>;
type Op = (rec: ApiRecord, stack: boolean[]) => void;

/**
 * Compiled query words. `equals`: a `name=text` every matching record has (RowPredicate.equals,
 * so that print reads only the rows an index finds for it): the first such word, when no `?#`
 * operation can make the words anything but their conjunction. Never empty text, nor `true` or
 * `false`, which also match `yes` and `no` (norm).
 */
export type Query = ((rec: ApiRecord) => boolean) & { readonly equals?: { readonly name: string; readonly text: string } };
type Word = Op & { readonly equals?: Query['equals']; readonly stackOps?: true };

const pop = (stack: boolean[]): boolean => (stack.length > 0 ? stack.pop()! : true);
const at = (stack: boolean[], index: number): boolean => (index < stack.length ? stack[stack.length - 1 - index]! : true);

/** API booleans compare as RouterOS parses them: `yes` ≡ `true`, `no` ≡ `false`. */
function norm(v: string): string {
  return v === 'yes' ? 'true' : v === 'no' ? 'false' : v;
}

function compare(a: string, b: string): number {
  if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

function bad(word: string): RosError {
  return new RosError('argument', `invalid query word ${word}`, ErrorCategory.Api);
}

/** Compiles query words (with or without their leading `?`). Throws RosError on a bad word. */
export function compileQuery(words: readonly string[]): Query | undefined {
  if (words.length === 0) return undefined;
  const ops: Word[] = words.map((w) => compileWord(w.startsWith('?') ? w.slice(1) : w, w));
  const conjunction = ops.every((op) => !op.stackOps);
  const equals = conjunction ? ops.find((op) => op.equals)?.equals : undefined;
  return Object.assign((rec: ApiRecord) => {
    const stack: boolean[] = [];
    for (const op of ops) op(rec, stack);
    return stack.every((v) => v);
  }, equals ? { equals } : {});
}

function compileWord(body: string, word: string): Word {
  if (body.startsWith('#')) return Object.assign(compileStackOps(body.slice(1), word), { stackOps: true as const });
  if (body.startsWith('-')) {
    const name = body.slice(1);
    if (name === '') throw bad(word);
    return (rec, stack) => { stack.push(rec[name] === undefined); };
  }
  let kind: '=' | '<' | '>' = '=';
  let rest = body;
  if (body.startsWith('<') || body.startsWith('>')) { kind = body[0] as '<' | '>'; rest = body.slice(1); }
  else if (body.startsWith('=')) rest = body.slice(1);
  const eq = rest.indexOf('=');
  if (eq < 0) {
    if (kind !== '=' || rest === '' || body.startsWith('=')) throw bad(word);
    return (rec, stack) => { stack.push(rec[rest] !== undefined); };
  }
  const name = rest.slice(0, eq);
  const text = rest.slice(eq + 1);
  const value = norm(text);
  if (name === '') throw bad(word);
  if (kind === '=') {
    const op: Op = (rec, stack) => { stack.push(norm(rec[name] ?? '') === value && (rec[name] !== undefined || value === '')); };
    return text !== '' && value === text && text !== 'true' && text !== 'false' ? Object.assign(op, { equals: { name, text } }) : op;
  }
  const sign = kind === '<' ? -1 : 1;
  return (rec, stack) => {
    const v = rec[name];
    stack.push(v !== undefined && Math.sign(compare(norm(v), value)) === sign);
  };
}

/** `?#ops`: digits = stack index (0 = top), `!` `&` `|` `.` (spec §9.5). */
function compileStackOps(ops: string, word: string): Op {
  if (ops === '') throw bad(word);
  if (!/^[0-9!&|.]+$/.test(ops)) throw bad(word);
  return (_rec, stack) => {
    let i = 0;
    let prevWasIndex = false;
    while (i < ops.length) {
      const c = ops[i]!;
      if (c >= '0' && c <= '9') {
        let j = i;
        while (j < ops.length && ops[j]! >= '0' && ops[j]! <= '9') j++;
        const index = Number(ops.slice(i, j));
        const v = at(stack, index);
        if (j === ops.length) { stack.length = 0; stack.push(v); } else stack.push(v);
        i = j;
        prevWasIndex = true;
        continue;
      }
      if (c === '!') stack.push(!pop(stack));
      else if (c === '&') { const b = pop(stack); const a = pop(stack); stack.push(a && b); }
      else if (c === '|') { const b = pop(stack); const a = pop(stack); stack.push(a || b); }
      else if (c === '.' && !prevWasIndex) stack.push(at(stack, 0));
      prevWasIndex = false;
      i++;
    }
  };
}
