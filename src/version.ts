// The RouterOS version rospki reports (`/system resource get version`): clients pick their
// code paths from it (date formats, REST on www), so it names the behaviour we reproduce.
export const ROSPKI_ROUTEROS_VERSION = '7.23.3 (stable)';
export const ROSPKI_VERSION = '0.1.0';
