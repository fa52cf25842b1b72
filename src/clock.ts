// One injectable clock (design.md rule 5). Expiry, expires-after, renewal, CRL next-update and
// the scheduler read it, so tests can move time and `/system clock` can show and set it.
//
// Time zones: dates are stored as epoch milliseconds everywhere; only their display depends on
// the router's zone (`/system clock time-zone-name`), which reaches every printer through the
// type context (TypeContext.zone), never through a process-wide setting.

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * The IANA zone of the host rospki runs on, for `time-zone-autodetect` (RouterOS asks its
   * cloud where it is; rospki asks the host). Undefined when the host names none.
   */
  hostZone?(): string | undefined;
  /** Calls `listener` whenever the clock is moved (set, advanced); returns the unsubscriber. */
  onChange?(listener: () => void): () => void;
  /**
   * Milliseconds the clock has run since it started: `/system resource uptime`. Time passing
   * moves it, setting the time (`/system clock set`, a FixedClock's `ms`) does not, as a
   * router's uptime does not follow its clock. Without it, this process's own running time.
   */
  elapsed?(): number;
  /**
   * How far the clock is from the host's (ms), exactly: `now() - Date.now()` would be two reads,
   * off by one when a millisecond ends between them. Without it, that difference is taken.
   */
  hostOffsetMs?(): number;
}

/** How far `clock` is from the host's clock, in ms. */
export function hostOffsetMs(clock: Clock): number {
  return clock.hostOffsetMs?.() ?? clock.now() - Date.now();
}

/** `/system resource uptime` in ms: how long the clock (the "router") has been running. */
export function uptimeMs(clock: Clock): number {
  return clock.elapsed?.() ?? performance.now();
}

/** Listeners of a clock that can be moved. */
class Movable {
  private readonly listeners = new Set<() => void>();
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }
  protected moved(): void {
    for (const l of [...this.listeners]) l();
  }
}

/**
 * The host's zone as the process sees it; UTC counts as none (containers default to it). V8
 * reads the zone once and again only when process.env.TZ is assigned, so the answer is kept per
 * value of TZ (a new Intl.DateTimeFormat costs tens of µs, and every /log entry asks).
 */
export function hostTimeZone(): string | undefined {
  const tz = process.env.TZ;
  if (zoneCache && zoneCache.tz === tz) return zoneCache.zone;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  zoneCache = { tz, zone: zone && !/^(Etc\/)?(UTC|UCT|Universal|Zulu|GMT)$/.test(zone) ? zone : undefined };
  return zoneCache.zone;
}
let zoneCache: { tz: string | undefined; zone: string | undefined } | undefined;

// performance.now() counts from the start of this process (performance.timeOrigin), never backwards.
export const systemClock: Clock = { now: () => Date.now(), hostZone: hostTimeZone, elapsed: () => performance.now() };

/** A clock that runs from the system clock plus an offset; `/system clock set` changes the offset. */
export class OffsetClock extends Movable implements Clock {
  constructor(private offset = 0, private readonly base: Clock = systemClock) {
    super();
    base.onChange?.(() => this.moved());
  }
  get offsetMs(): number { return this.offset; }
  set offsetMs(ms: number) { this.offset = ms; this.moved(); }
  now(): number { return this.base.now() + this.offset; }
  hostZone(): string | undefined { return this.base.hostZone?.(); }
  elapsed(): number { return uptimeMs(this.base); }
  set(epochMs: number): void { this.offsetMs = epochMs - this.base.now(); }
  hostOffsetMs(): number { return this.base === systemClock ? this.offset : hostOffsetMs(this.base) + this.offset; }
}

/** A clock that stands still until moved: for tests. ROSPKI_FAKE_TIME pins it from outside. */
export class FixedClock extends Movable implements Clock {
  /** Time that passed (advance), not time set: the uptime of a test's router. */
  private ran = 0;
  constructor(private current: number, private readonly zone?: string) { super(); }
  get ms(): number { return this.current; }
  set ms(ms: number) { this.current = ms; this.moved(); }
  now(): number { return this.current; }
  hostZone(): string | undefined { return this.zone; }
  elapsed(): number { return this.ran; }
  /** Time passes: the date and the uptime move on together (a negative step moves the date only). */
  advance(ms: number): void {
    if (ms > 0) this.ran += ms;
    this.ms = this.current + ms;
  }
}

// ---------------------------------------------------------------------------------------------
// Time zones

/** A zone: how far local time is from UTC at a moment, and whether daylight saving is on. */
export interface TimeZone {
  /** `manual` or an IANA name (`Europe/Riga`). */
  readonly name: string;
  /** Milliseconds to add to UTC for local time at `ms`. */
  offsetAt(ms: number): number;
  dstAt(ms: number): boolean;
}

/** The zone of a fresh router: `manual` with offset +00:00 and no daylight saving. */
export const UTC_ZONE: TimeZone = { name: 'manual', offsetAt: () => 0, dstAt: () => false };

/** Whether the IANA database (through Intl) knows the zone name, exactly as written. */
export function isTimeZoneName(name: string): boolean {
  if (name === '' || name === 'manual') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Every zone name the IANA database offers (for completion and the one prefix rule). */
export function timeZoneNames(): string[] {
  return Intl.supportedValuesOf('timeZone');
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const zones = new Map<string, TimeZone>();

/** Local wall-clock fields of `ms` in an IANA zone, read through Intl. */
function wallClock(ms: number, name: string): number {
  let f = formatters.get(name);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: name, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(name, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(ms)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
}

/** An IANA zone (`Europe/Riga`); daylight saving is on when the offset exceeds the year's least. */
export function ianaZone(name: string): TimeZone {
  let zone = zones.get(name);
  if (!zone) {
    const offsetAt = (ms: number): number => wallClock(Math.floor(ms / 1000) * 1000, name) - Math.floor(ms / 1000) * 1000;
    zone = {
      name,
      offsetAt,
      dstAt(ms) {
        const year = new Date(ms + offsetAt(ms)).getUTCFullYear();
        const standard = Math.min(offsetAt(Date.UTC(year, 0, 1)), offsetAt(Date.UTC(year, 6, 1)));
        return offsetAt(ms) > standard;
      },
    };
    zones.set(name, zone);
  }
  return zone;
}

/**
 * `time-zone-name=manual` (/system clock manual): a fixed offset, plus `dst-delta` between
 * `dst-start` and `dst-end` (local standard time; equal dates mean no daylight saving).
 */
export function manualZone(offsetMs: number, dst?: { deltaMs: number; start: number; end: number }): TimeZone {
  const active = (ms: number): boolean => !!dst && dst.deltaMs !== 0 && dst.start < dst.end && ms + offsetMs >= dst.start && ms + offsetMs < dst.end;
  return { name: 'manual', offsetAt: (ms) => offsetMs + (active(ms) ? dst!.deltaMs : 0), dstAt: active };
}

/** `+03:00`, `-04:30`: RouterOS's gmt-offset form. */
export function formatOffset(ms: number): string {
  const minutes = Math.round(Math.abs(ms) / 60_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${ms < 0 ? '-' : '+'}${p(Math.floor(minutes / 60))}:${p(minutes % 60)}`;
}

/** `+HH:MM`, `-HH:MM`, `HH:MM` → milliseconds; undefined when it is not one. */
export function parseOffset(text: string): number | undefined {
  const m = /^([+-])?(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!m || Number(m[3]) > 59 || Number(m[2]) > 14) return undefined;
  const ms = (Number(m[2]) * 60 + Number(m[3])) * 60_000;
  return m[1] === '-' ? -ms : ms;
}

/**
 * How RouterOS 7.10+ writes a date: `YYYY-MM-DD HH:MM:SS` (spec §2.2), in the router's zone
 * (UTC on a fresh router: time-zone-name=manual, +00:00).
 */
export function formatDate(ms: number, zone: TimeZone = UTC_ZONE): string {
  const d = new Date(ms + zone.offsetAt(ms));
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/**
 * `2023-04-02T02:05:37Z`: UTC in RFC 3339 form, whole seconds. Only where RouterOS itself writes
 * UTC with its `Z` (ACME: certificate names and the renewal log line, spec §5.1); every other
 * date a user reads goes through formatDate in the router's zone.
 */
export function formatUtcStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The moment a local wall-clock time (`Date.UTC` of its fields) names in a zone. Around a
 * daylight-saving change a skipped time moves forward and a repeated one takes its first moment.
 */
export function localToEpoch(wall: number, zone: TimeZone): number {
  let guess = wall - zone.offsetAt(wall);
  guess = wall - zone.offsetAt(guess);
  const earlier = wall - zone.offsetAt(guess - 3_600_000);
  return earlier < guess && earlier + zone.offsetAt(earlier) === wall ? earlier : guess;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * A date as RouterOS takes it: `2026-03-04` (7.10+) or `mar/04/2026` (older scripts, any case).
 * Returns `Date.UTC` of midnight, or undefined.
 */
export function parseDay(text: string): number | undefined {
  const t = text.trim();
  let y: number, m: number, d: number;
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(t);
  const old = /^([A-Za-z]{3})\/(\d{1,2})\/(\d{4})$/.exec(t);
  if (iso) [y, m, d] = [Number(iso[1]), Number(iso[2]), Number(iso[3])];
  else if (old && MONTHS.includes(old[1]!.toLowerCase())) [y, m, d] = [Number(old[3]), MONTHS.indexOf(old[1]!.toLowerCase()) + 1, Number(old[2])];
  else return undefined;
  const ms = Date.UTC(y, m - 1, d);
  const back = new Date(ms);
  return back.getUTCMonth() === m - 1 && back.getUTCDate() === d && y >= 1970 ? ms : undefined;
}

/** `HH:MM:SS` or `HH:MM` → milliseconds after midnight, or undefined. */
export function parseTimeOfDay(text: string): number | undefined {
  const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3] ?? 0) > 59) return undefined;
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3] ?? 0)) * 1000;
}
