// User passwords are stored as salted scrypt hashes: `scrypt$N$r$p$saltB64$hashB64`.
// The parameters travel with the hash so they can be raised later without breaking old ones.

import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const DEFAULTS = { N: 1 << 14, r: 8, p: 1 };
const SALT_LENGTH = 16;
const KEY_LENGTH = 32;

interface Parsed {
  options: ScryptOptions;
  salt: Buffer;
  hash: Buffer;
}

export function hashPassword(password: string): string {
  const salt = randomBytes(SALT_LENGTH);
  const { N, r, p } = DEFAULTS;
  const hash = scryptSync(password, salt, KEY_LENGTH, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** False for a wrong password and for a stored value that is not a hash we understand. */
export function verifyPassword(password: string, stored: string): boolean {
  const parsed = parse(stored);
  if (!parsed) return false;
  return same(scryptSync(password, parsed.salt, parsed.hash.length, parsed.options), parsed.hash);
}

/**
 * A well-formed hash of no password at all (random salt and value, the default cost): what a
 * login of an unknown user is checked against, so that it takes as long as a real one.
 */
const DUMMY_HASH = `scrypt$${DEFAULTS.N}$${DEFAULTS.r}$${DEFAULTS.p}$${randomBytes(SALT_LENGTH).toString('base64')}$${randomBytes(KEY_LENGTH).toString('base64')}`;

/**
 * As verifyPassword, but runs scrypt on the thread pool (for network logins). Without a stored
 * value we understand (`undefined` for an unknown user, empty, foreign) the password is checked
 * against a dummy hash all the same and false is returned: the answer takes as long as for a
 * real user, so its timing does not tell whether the user exists.
 */
export async function verifyPasswordAsync(password: string, stored: string | undefined): Promise<boolean> {
  const real = stored === undefined ? undefined : parse(stored);
  const parsed = real ?? parse(DUMMY_HASH)!;
  const derived = await new Promise<Buffer>((resolve, reject) =>
    scrypt(password, parsed.salt, parsed.hash.length, parsed.options, (err, key) => (err ? reject(err) : resolve(key))),
  );
  return real !== undefined && same(derived, parsed.hash);
}

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function parse(stored: string): Parsed | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  // Bound the cost so a planted hash cannot make a login eat gigabytes or minutes.
  const sane = isPow2(N) && N <= 1 << 20 && int(r, 1, 32) && int(p, 1, 16);
  const salt = Buffer.from(parts[4], 'base64');
  const hash = Buffer.from(parts[5], 'base64');
  if (!sane || salt.length === 0 || hash.length < 16) return undefined;
  return { options: { N, r, p, maxmem: 256 * N * r }, salt, hash };
}

const int = (n: number, min: number, max: number) => Number.isInteger(n) && n >= min && n <= max;
const isPow2 = (n: number) => int(n, 2, 2 ** 30) && (n & (n - 1)) === 0;
