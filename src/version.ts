// The RouterOS version rospki reports (`/system resource get version`): clients pick their
// code paths from it (date formats, REST on www), so it names the behaviour we reproduce.
export const ROSPKI_ROUTEROS_VERSION = '7.23.3 (stable)';
export const ROSPKI_VERSION = '0.1.0';
/** The version number alone (`7.23.3`): package lists, update checks, export headers. */
export const ROUTEROS_VERSION_NUMBER = ROSPKI_ROUTEROS_VERSION.replace(/ \(.*\)$/, '');
/** The release channel in the version (`stable`), as /system package update shows it. */
export const ROUTEROS_CHANNEL = /\(([^)]*)\)/.exec(ROSPKI_ROUTEROS_VERSION)?.[1] ?? 'stable';
/** When that version was built, as /system resource and /system package show it. */
export const ROUTEROS_BUILD_TIME = '2026-11-01 00:00:00';
