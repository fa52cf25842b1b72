// The daemons rospki supervises (openvpn, strongSwan's charon) on the router clock. rospki keeps
// its own clock (clock.ts OffsetClock: `/system clock set` and the NTP client move an offset over
// the host's clock, which is never changed), while a daemon reads the host's: it would judge
// certificate and CRL dates by another clock than the router's. RouterOS has one clock.
//
// So every supervised daemon starts with libfaketime preloaded (supervisor.ts, one rule for all),
// reading its offset from one file of the data directory, `run/router-clock`, which this class
// rewrites (atomically) whenever the router clock moves:
//
//  - a relative offset (`+86400.250` seconds): the daemon's clock runs at the host's pace, moved
//    by as much as the router clock is, and follows a change without a restart;
//  - FAKETIME_CACHE_DURATION=0: libfaketime reads the file again once per second of real time —
//    a change reaches the daemons within a second. Measured here: 0.8 µs per clock_gettime(),
//    against 8 µs with FAKETIME_NO_CACHE=1 (which opens the file at every call);
//  - the monotonic clock moves with it (no FAKETIME_DONT_FAKE_MONOTONIC): libfaketime 0.9.10 with
//    that setting breaks absolute waits on the monotonic clock — measured: clock_nanosleep()
//    answers EINVAL and pthread_cond_timedwait() on a CLOCK_MONOTONIC condvar (strongSwan's
//    scheduler, libstrongswan's condvar) times out at once, so charon would spin. Faked, the
//    waits stay right (libfaketime turns their deadlines back into real ones) while the offset
//    stays; when the router clock is moved, timers set before are counted on the moved clock
//    (docs/compatibility.md, Clocks: what was measured with charon);
//  - NO_FAKE_STAT=1: file times stay the host's, so a rewritten CRL file always looks newer to
//    openvpn (supervisor.ts moves its modification time forward), whatever the clock did between;
//  - the file says `+0.000` when the clocks agree (an empty or missing file would keep the last
//    offset libfaketime read). The daemons always run with it: the offset may change at any time,
//    and the environment of a running process cannot.
//
// Without libfaketime on the host the daemons run on the host's clock as before, with one /log
// warning (docs/compatibility.md, "Clocks").

import fs from 'node:fs';
import path from 'node:path';
import { hostOffsetMs, type Clock } from '../clock.js';
import { LIBFAKETIME, findLibfaketime } from '../menus/host/programs.js';

/** The offset file's name in the run folder. */
export const ROUTER_CLOCK_FILE = 'router-clock';

/** libfaketime's relative offset: seconds with milliseconds, signed (`+0.000`, `-3600.500`). */
export function faketimeOffset(ms: number): string {
  const rounded = Math.round(ms);
  return `${rounded < 0 ? '-' : '+'}${(Math.abs(rounded) / 1000).toFixed(3)}`;
}

export class DaemonClock {
  private unsubscribe: (() => void) | undefined;
  private written: string | undefined;
  private warned = false;
  private stopped = false;

  /**
   * `runRoot`: the data directory's `run` folder; `warn`: where the one warning goes when the
   * host has no libfaketime; `library`: finds it (tests name another).
   */
  constructor(
    readonly runRoot: string,
    private readonly clock: Clock,
    private readonly warn: (message: string) => void,
    private readonly library: () => string | undefined = findLibfaketime,
  ) {}

  get file(): string {
    return path.join(this.runRoot, ROUTER_CLOCK_FILE);
  }

  /**
   * The environment a daemon starts with (added over rospki's own, without the FAKETIME settings
   * rospki may have inherited: FAKETIME would win over the file). Empty without libfaketime.
   */
  environment(base: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
    const library = this.library();
    if (!library) {
      if (!this.warned) {
        this.warned = true;
        this.warn(`${path.basename(LIBFAKETIME.file)} of Debian package ${LIBFAKETIME.package} not found: openvpn and charon judge `
          + 'certificate and CRL dates by the host clock, not the router clock');
      }
      return {};
    }
    this.follow();
    const env: Record<string, string | undefined> = {};
    for (const name of Object.keys(base)) if (/^FAKETIME/.test(name)) env[name] = undefined;
    return {
      ...env,
      LD_PRELOAD: [library, base.LD_PRELOAD].filter(Boolean).join(' '),
      FAKETIME_TIMESTAMP_FILE: this.file,
      FAKETIME_CACHE_DURATION: '0',
      NO_FAKE_STAT: '1',
    };
  }

  /** Writes the offset now and at every move of the clock, from the first daemon on. */
  private follow(): void {
    if (this.stopped) return;
    this.write();
    // Called by whoever moved the clock (`/system clock set`): a file that can not be written
    // must not fail that; the daemons keep the last offset, and /log says why.
    this.unsubscribe ??= this.clock.onChange?.(() => {
      try {
        this.write();
      } catch (e) {
        this.warn(`${this.file} could not be written (${(e as Error).message}): openvpn and charon keep their previous offset from the host's clock`);
      }
    });
  }

  /** The offset file, replaced in one rename (a daemon never reads half of it). */
  private write(): void {
    if (this.stopped) return;
    const text = `${faketimeOffset(hostOffsetMs(this.clock))}\n`;
    if (text === this.written && fs.existsSync(this.file)) return;
    fs.mkdirSync(this.runRoot, { recursive: true, mode: 0o700 });
    const fresh = `${this.file}.new`;
    fs.writeFileSync(fresh, text, { mode: 0o600 });
    fs.renameSync(fresh, this.file);
    this.written = text;
  }

  /** Stops following the clock and removes the file (every daemon has stopped). */
  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    try {
      fs.rmSync(this.file, { force: true });
    } catch {
      // not ours to remove (the run folder was replaced): nothing reads it any more
    }
  }
}
