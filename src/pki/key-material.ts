// Whether bytes hold a private key: the one rule for files that only users with the `sensitive`
// policy may read — `/file` contents, and downloads over the web page, FTP, SFTP and SCP (a
// RouterOS user expects `sensitive` to guard keys, issue 11). Nothing is decrypted: an encrypted
// key or a PKCS#12 bundle counts too (its passphrase can be guessed offline once it is out).

import { createPrivateKey } from 'node:crypto';
import { containsPrivateKey, containsStaticKey } from './pem.js';
import { looksLikePkcs12 } from './pkcs12.js';

/** DER keys and PKCS#12 bundles are small: larger files are searched for PEM key blocks only. */
export const BINARY_KEY_LIMIT = 1 << 20;

/** Bytes read as text at a time when looking for PEM key blocks; pieces overlap by more than a BEGIN line. */
export const PEM_SCAN_PIECE = 1 << 20;
export const PEM_SCAN_OVERLAP = 128;

/**
 * A PEM private key block of any kind (PKCS#8 plain or encrypted, PKCS#1, SEC1, OpenSSH), or an
 * OpenVPN static key (a .ovpn file's <tls-auth> or <tls-crypt>), in
 * bytes, read as Latin-1 (so that any bytes around it do not matter), a piece at a time.
 */
export function pemKeyIn(data: Uint8Array): boolean {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at < buf.length; at += PEM_SCAN_PIECE - PEM_SCAN_OVERLAP) {
    const text = buf.toString('latin1', at, Math.min(buf.length, at + PEM_SCAN_PIECE));
    if (containsPrivateKey(text) || containsStaticKey(text)) return true;
    if (at + PEM_SCAN_PIECE >= buf.length) break;
  }
  return false;
}

/**
 * Whether a whole file's bytes hold a private key: a PEM key block anywhere, or (files up to
 * BINARY_KEY_LIMIT) a DER PKCS#8 key plain or encrypted, a DER PKCS#1 or SEC1 key, or PKCS#12.
 */
export function holdsPrivateKey(data: Uint8Array): boolean {
  return pemKeyIn(data) || binaryKey(data);
}

/** A DER key or a PKCS#12 bundle (the whole file; a SEQUENCE first). */
export function binaryKey(data: Uint8Array): boolean {
  if (data.length === 0 || data.length > BINARY_KEY_LIMIT || data[0] !== 0x30) return false;
  if (looksLikePkcs12(data)) return true;
  const der = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch (e) {
      // An encrypted PKCS#8 key is recognised without a passphrase (no key derivation runs).
      if ((e as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE') return true;
    }
  }
  return false;
}
