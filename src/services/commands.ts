// What REST and the binary API share: turning a request into an executor Command and its
// CommandResult into API records (spec §8.4, §9.3). Both front ends build Commands directly;
// neither goes through console text (design.md).

import { argumentError, RosError } from '../errors.js';
import type { Appliance } from '../appliance.js';
import { apiString, networkText, printRecords } from '../menu/render.js';
import type { CommandDecl, Session } from '../menu/types.js';
import type { ReadMark } from '../store/store.js';
import { ItemId, RosArray, type Value } from '../menu/values.js';
import { compileQuery, type ApiRecord } from './query.js';

export interface CommandInput {
  /** Menu path `/certificate`. */
  path: string;
  /** Command name `print`. */
  command: string;
  /** Arguments as the client sent them (`.id` allowed: it names the items). */
  args: Map<string, Value>;
  /** API query words (`?name=x`, `?#|`) or REST `.query` items. */
  query?: readonly string[];
  /** `.proplist`: keep only these keys of each record. */
  proplist?: readonly string[];
  /** When the request arrived (Store.mark; CommandRequest.since). */
  since?: ReadMark;
}

export interface CommandReply {
  /** `!re` records / REST array items. */
  records: ApiRecord[];
  /** `!done =ret=` / REST `{"ret":…}`. */
  ret?: string;
  /** Whether the command was a print (an empty one answers `!empty` over the API). */
  isPrint: boolean;
}

/** The argument that `.id` stands for: the command's item argument (`numbers`, or `number` for sign/get). */
export function itemArgName(command: CommandDecl): string | undefined {
  const positional = command.args.find((a) => a.positional === 0 && (a.name === 'numbers' || a.name === 'number'));
  return positional?.name ?? command.args.find((a) => a.name === 'numbers' || a.name === 'number')?.name;
}

export function splitProplist(v: unknown): string[] {
  const parts = Array.isArray(v) ? v.map(String) : String(v ?? '').split(',');
  return parts.map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * Runs one command for a network front end. Throws RosError.
 *
 * A monitor command (fetch) reports its states as it runs, each numbered with `.section`
 * (spec §8.4, §9.3): given `onRecord`, each goes there at once (the API sends it as a `!re`);
 * without it they are collected (REST answers with the whole array). The final state follows
 * with the next `.section`.
 */
export async function runCommand(app: Appliance, session: Session, input: CommandInput, onRecord?: (rec: ApiRecord) => void): Promise<CommandReply> {
  if (!app.registry.menu(input.path)) {
    throw new RosError('argument', `no such command or directory (${input.path.split('/').pop() || input.command})`, 0);
  }
  // `listen` (API only, wherever print exists, spec §9.4) is print follow-only: nothing at first,
  // then each row added or changed, and each one removed as `.dead=yes`, until /cancel.
  const listen = input.command === 'listen' && onRecord !== undefined;
  const command = app.registry.command(input.path, input.command === 'getall' || listen ? 'print' : input.command);
  if (!command) throw new RosError('argument', `no such command or directory (${input.command})`, 0);
  const args = new Map(input.args);
  if (listen) args.set('follow-only', true);
  if (args.has('.id')) {
    const id = args.get('.id');
    args.delete('.id');
    const name = itemArgName(command);
    if (!name) throw argumentError('unknown parameter .id');
    args.set(name, id);
  }
  let proplist = input.proplist;
  if (args.has('.proplist')) { proplist = splitProplist(args.get('.proplist')); args.delete('.proplist'); }
  const isPrint = command.name === 'print';
  const query = compileQuery(input.query ?? []);
  let countOnly = false;
  if (isPrint && args.has('count-only')) {
    const v = args.get('count-only');
    countOnly = v !== false && v !== 'false' && v !== 'no';
    args.delete('count-only');
  }
  if (!isPrint && query) throw argumentError('query words apply to print only');
  const shown = (rec: ApiRecord): ApiRecord => (proplist ? pick(rec, proplist) : rec);
  let section = 0;
  const numbered = (rec: ApiRecord): ApiRecord => ({ '.section': String(section++), ...shown(rec) });
  const reported: ApiRecord[] = [];
  const runAs: Session = {
    ...session,
    progress: !command.monitor ? session.progress : (fields, record) => {
      const rec = numbered(record ?? blockRecord(fields));
      if (onRecord) onRecord(rec); else reported.push(rec);
    },
    // A following print's parts go out as they come, through the same query and proplist as
    // print's records; a removed row as `.id` and `.dead=yes`, when the query took it as it was.
    stream: onRecord && isPrint ? (part) => {
      const changed = part.print ? printRecords(part.print) : [];
      for (const rec of query ? changed.filter(query) : changed) onRecord(shown(rec));
      const removed = part.removed ? printRecords(part.removed) : [];
      removed.forEach((rec, i) => {
        if (!query || query(rec)) onRecord({ '.id': new ItemId(part.removed!.rows[i]!.id).toString(), '.dead': 'yes' });
      });
    } : undefined,
  };
  // The query still filters the records below; the equality it implies only spares print the
  // rows that can not match (`GET /rest/certificate?name=x` over 100,000 certificates).
  const equals = isPrint ? query?.equals : undefined;
  const where = equals ? Object.assign(() => true, { equals }) : undefined;
  const result = await app.executor.run({ path: input.path, command: command.name, args, session: runAs, since: input.since, where });
  let records: ApiRecord[] = [];
  if (result.print) records = printRecords(result.print);
  else if (result.records) records = result.records;
  else if (result.block) records = [blockRecord(result.block)];
  // A value that is a record (import's counts, `/file read`'s data) goes out as a record, not as
  // its values joined by `;` without their names; once, also when a block showed it already.
  const recordRet = !result.print && isRecord(result.ret) ? result.ret : undefined;
  if (recordRet && records.length === 0) records = [blockRecord(recordRet.entries().map(([k, v]) => [String(k), v] as const))];
  if (query) records = records.filter(query);
  if (countOnly) return { records: [], ret: String(records.length), isPrint };
  records = command.monitor ? [...reported, ...records.map(numbered)] : records.map(shown);
  // A command that shows a whole text (export) hands it over as its value.
  const ret = result.text !== undefined && result.ret === undefined ? networkText(result.text)
    : result.ret === undefined || result.print || recordRet ? undefined : apiRet(result.ret);
  return { records, ret, isPrint };
}

/** A `key: value` block as one API record (lists joined with `,`). */
function blockRecord(block: ReadonlyArray<readonly [string, Value]>): ApiRecord {
  const rec: Record<string, string> = {};
  for (const [k, v] of block) rec[k] = v instanceof RosArray ? v.values().map(apiString).join(',') : apiString(v);
  return rec;
}

/** A keyed array with no unkeyed elements: what `as-value` makes of a `key: value` block. */
function isRecord(v: Value | undefined): v is RosArray {
  return v instanceof RosArray && v.list.length === 0 && v.map.size > 0;
}

function apiRet(v: Value): string {
  // `find` returns ids joined with `;` (RouterOS API `=ret=*1;*2`); arrays of values likewise.
  return v instanceof RosArray ? v.values().map(apiString).join(';') : apiString(v);
}

function pick(rec: ApiRecord, names: readonly string[]): ApiRecord {
  const out: Record<string, string> = {};
  for (const k of Object.keys(rec)) if (names.includes(k) || k === '.section') out[k] = rec[k]!;
  return out;
}
