// One injectable clock (design.md rule 5). Expiry, expires-after, renewal and CRL next-update
// read it, so tests can move time and `/system clock` can show it.

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that runs from the system clock plus an offset; `/system clock set` changes the offset. */
export class OffsetClock implements Clock {
  constructor(public offsetMs = 0, private readonly base: Clock = systemClock) {}
  now(): number { return this.base.now() + this.offsetMs; }
  set(epochMs: number): void { this.offsetMs = epochMs - this.base.now(); }
}

/** A clock that stands still until moved: for tests. ROSPKI_FAKE_TIME pins it from outside. */
export class FixedClock implements Clock {
  constructor(public ms: number) {}
  now(): number { return this.ms; }
  advance(ms: number): void { this.ms += ms; }
}

/**
 * How RouterOS 7.10+ writes a date: `YYYY-MM-DD HH:MM:SS` (spec §2.2), in UTC (the router's zone
 * is UTC unless /system clock says otherwise, docs/compatibility.md).
 */
export function formatDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}
