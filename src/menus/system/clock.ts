// /system clock — the one clock every expiry check and the scheduler read (design.md rule 5),
// and the router's time zone, in which every date is shown (TypeContext.zone).
//
// `date` and `time` are local time in the zone; setting them moves an offset kept in the store,
// so certificates, CRLs, `expires-after` and the scheduler follow it. `time-zone-name` is
// `manual` (the offset and daylight saving of /system clock manual) or an IANA name, read from
// the IANA database through Intl. With `time-zone-autodetect=yes` the zone is the host's (RouterOS
// asks its cloud where it is; rospki asks the machine it runs on). Stored dates stay epoch ms.

import {
  formatDate, formatOffset, ianaZone, isTimeZoneName, localToEpoch, manualZone, OffsetClock, parseDay, parseOffset,
  parseTimeOfDay, timeZoneNames, UTC_ZONE, type Clock, type TimeZone,
} from '../../clock.js';
import { invalidValue } from '../../errors.js';
import { boolType, matchChoice, stringType } from '../../menu/proptypes.js';
import { newRowData, propValue, typeContext } from '../../menu/generic.js';
import type { ArgDecl, CommandDecl, Environment, MenuDecl, PropertyDecl, PropType } from '../../menu/types.js';
import { Duration, valueToString } from '../../menu/values.js';
import type { ReadTx, RowData } from '../../store/store.js';

export const CLOCK_PATH = '/system/clock';
export const CLOCK_MANUAL_PATH = '/system/clock/manual';

const bare: PropType<string> = { ...stringType, quoted: false };

/** `time-zone-name`: `manual` or an IANA name as the database spells it (case-sensitive). */
const zoneNameType: PropType<string> = {
  ...bare,
  help: 'manual | time zone name (Europe/Riga)',
  parse(v, _ctx, name) {
    const text = valueToString(v).trim();
    if (text === 'manual') return text;
    if (isTimeZoneName(text) && text.split('/').every((part) => /^[A-Z]/.test(part))) return text;
    return matchChoice(text, ['manual', ...timeZoneNames()], name);
  },
  choices: () => ['manual', ...timeZoneNames()],
};

/** `+HH:MM` offsets of /system clock manual, kept as milliseconds. */
const offsetType: PropType<number> = {
  help: '[+|-]HH:MM',
  parse(v, _ctx, name) {
    const ms = parseOffset(valueToString(v));
    if (ms === undefined) throw invalidValue(name);
    return ms;
  },
  display: (v) => formatOffset(v),
  api: (v) => formatOffset(v),
  script: (v) => formatOffset(v),
};

/** A local date and time of /system clock manual (`dst-start`), kept as written: `YYYY-MM-DD HH:MM:SS`. */
const localDateTimeType: PropType<string> = {
  ...stringType,
  help: 'YYYY-MM-DD HH:MM:SS',
  parse(v, _ctx, name) {
    const [day, time = '00:00:00'] = valueToString(v).trim().split(/\s+/);
    const d = parseDay(day ?? '');
    const t = parseTimeOfDay(time);
    if (d === undefined || t === undefined) throw invalidValue(name);
    return formatDate(d + t);
  },
};

/** `time`: the wall clock, printed `HH:MM:SS`, a time value in scripts (as RouterOS). */
const timeOfDayType: PropType<string> = {
  ...bare,
  help: 'HH:MM:SS',
  script: (v) => Duration.fromMs(parseTimeOfDay(v) ?? 0),
};

const CLOCK = {
  autodetect: { name: 'time-zone-autodetect', type: boolType, default: true } as PropertyDecl<boolean>,
  zoneName: { name: 'time-zone-name', type: zoneNameType, default: 'manual' } as PropertyDecl<string>,
};

const MANUAL = {
  timeZone: { name: 'time-zone', type: offsetType, default: 0 } as PropertyDecl<number>,
  dstDelta: { name: 'dst-delta', type: offsetType, default: 0 } as PropertyDecl<number>,
  dstStart: { name: 'dst-start', type: localDateTimeType, default: '1970-01-01 00:00:00' } as PropertyDecl<string>,
  dstEnd: { name: 'dst-end', type: localDateTimeType, default: '1970-01-01 00:00:00' } as PropertyDecl<string>,
};

/** Wall-clock ms (`Date.UTC` of the fields) of a stored `YYYY-MM-DD HH:MM:SS`. */
const wallOf = (text: string): number => {
  const [day, time] = text.split(' ');
  return (parseDay(day ?? '') ?? 0) + (parseTimeOfDay(time ?? '') ?? 0);
};

/** The zone a clock row (and the manual row) name, with the host's zone when autodetect is on. */
function zoneOf(clockRow: RowData, manualRow: RowData, clock: Clock): TimeZone {
  const detected = propValue(CLOCK.autodetect, clockRow) ? clock.hostZone?.() : undefined;
  const name = detected ?? propValue(CLOCK.zoneName, clockRow);
  if (name !== 'manual' && isTimeZoneName(name)) return ianaZone(name);
  const offset = propValue(MANUAL.timeZone, manualRow);
  const deltaMs = propValue(MANUAL.dstDelta, manualRow);
  if (offset === 0 && deltaMs === 0) return UTC_ZONE;
  return manualZone(offset, { deltaMs, start: wallOf(propValue(MANUAL.dstStart, manualRow)), end: wallOf(propValue(MANUAL.dstEnd, manualRow)) });
}

/** The router's zone in a transaction: what Environment.zone answers. */
export function routerZone(tx: ReadTx, clock: Clock): TimeZone {
  return zoneOf(tx.get(CLOCK_PATH, 1)?.data ?? {}, tx.get(CLOCK_MANUAL_PATH, 1)?.data ?? {}, clock);
}

const timeArg: ArgDecl<number> = {
  name: 'time', help: 'Local time HH:MM:SS',
  type: {
    ...offsetType, help: 'HH:MM:SS',
    parse(v, _ctx, name) {
      const ms = v instanceof Duration ? v.ms % 86_400_000 : parseTimeOfDay(valueToString(v));
      if (ms === undefined) throw invalidValue(name);
      return ms;
    },
  },
};
const dateArg: ArgDecl<number> = {
  name: 'date', help: 'Local date YYYY-MM-DD',
  type: {
    ...offsetType, help: 'YYYY-MM-DD',
    parse(v, _ctx, name) {
      const ms = parseDay(valueToString(v));
      if (ms === undefined) throw invalidValue(name);
      return ms;
    },
  },
};
const autodetectArg: ArgDecl<boolean> = { name: CLOCK.autodetect.name, type: boolType, help: 'Take the time zone from the host' };
const zoneNameArg: ArgDecl<string> = { name: CLOCK.zoneName.name, type: zoneNameType, help: 'manual, or a time zone of the IANA database' };

/**
 * `set`: time and date are local time in the zone the command leaves (so `set time-zone-name=X
 * time=…` means time in X). Naming a zone turns autodetect off, unless the command says otherwise.
 */
const setCommand: CommandDecl = {
  name: 'set',
  help: 'Change clock settings',
  policy: 'write',
  args: [timeArg, dateArg, zoneNameArg, autodetectArg],
  async run(call) {
    const { env, args } = call;
    await env.store.write((tx) => {
      const row = tx.get(CLOCK_PATH, 1);
      const data: RowData = { ...(row?.data ?? {}) };
      if (args.has(zoneNameArg)) {
        data[CLOCK.zoneName.name] = args.get(zoneNameArg);
        if (!args.has(autodetectArg)) data[CLOCK.autodetect.name] = false;
      }
      if (args.has(autodetectArg)) data[CLOCK.autodetect.name] = args.get(autodetectArg);
      if (args.has(timeArg) || args.has(dateArg)) {
        const zone = zoneOf(data, tx.get(CLOCK_MANUAL_PATH, 1)?.data ?? {}, env.clock);
        const now = env.clock.now();
        const [day, time] = formatDate(now, zone).split(' ') as [string, string];
        const target = localToEpoch((args.get(dateArg) ?? parseDay(day)!) + (args.get(timeArg) ?? parseTimeOfDay(time)!), zone);
        // Only whole seconds are set: the running clock keeps its sub-second phase.
        const offset = (env.clock instanceof OffsetClock ? env.clock.offsetMs : 0) + target - Math.floor(now / 1000) * 1000;
        data['offset-ms'] = offset;
        if (env.clock instanceof OffsetClock) env.clock.offsetMs = offset;
      }
      if (row) tx.update(CLOCK_PATH, 1, data); else tx.insert(CLOCK_PATH, data);
      env.log(tx, 'system,info', `system time changed by ${call.session.user}`);
    });
    return {};
  },
};

export const clockMenu: MenuDecl = {
  path: CLOCK_PATH,
  kind: 'singleton',
  help: 'System clock',
  verbs: ['print', 'get', 'export'],
  properties: [
    { name: 'time', type: timeOfDayType, access: 'ro', compute: (_row, ctx) => formatDate(ctx.clock.now(), ctx.zone).slice(11) },
    { name: 'date', type: bare, access: 'ro', compute: (_row, ctx) => formatDate(ctx.clock.now(), ctx.zone).slice(0, 10) },
    CLOCK.autodetect,
    CLOCK.zoneName,
    { name: 'gmt-offset', type: bare, access: 'ro', compute: (_row, ctx) => formatOffset(ctx.zone.offsetAt(ctx.clock.now())) },
    { name: 'dst-active', type: boolType, access: 'ro', compute: (_row, ctx) => ctx.zone.dstAt(ctx.clock.now()) },
  ],
  commands: [setCommand],
  async prepare(env: Environment) {
    await ensureRow(env, CLOCK_PATH);
    // An autodetected zone is written down, as RouterOS does (its export shows the name).
    const host = env.clock.hostZone?.();
    if (!host) return;
    const stale = await env.store.read((tx) => {
      const data = tx.get(CLOCK_PATH, 1)?.data ?? {};
      return propValue(CLOCK.autodetect, data) && propValue(CLOCK.zoneName, data) !== host;
    });
    if (stale) {
      await env.store.write((tx) => {
        const row = tx.get(CLOCK_PATH, 1)!;
        tx.update(CLOCK_PATH, 1, { ...row.data, [CLOCK.zoneName.name]: host });
      });
    }
  },
};

/** /system clock manual: the offset and daylight saving of `time-zone-name=manual`. */
export const clockManualMenu: MenuDecl = {
  path: CLOCK_MANUAL_PATH,
  kind: 'singleton',
  help: 'Manual time zone',
  verbs: ['print', 'get', 'set', 'export'],
  properties: [MANUAL.timeZone, MANUAL.dstDelta, MANUAL.dstStart, MANUAL.dstEnd],
  async prepare(env: Environment) {
    await ensureRow(env, CLOCK_MANUAL_PATH);
  },
};

/** Data directories made before a clock menu existed get its row on first use. */
async function ensureRow(env: Environment, path: string): Promise<void> {
  if (await env.store.read((tx) => !!tx.get(path, 1))) return;
  await env.store.write((tx) => {
    if (tx.get(path, 1)) return;
    tx.insert(path, newRowData(env.registry.menu(path)!, typeContext(env, tx)));
  });
}
