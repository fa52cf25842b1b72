// PEM armour: RFC 7468 (textual encodings of PKIX structures; §2 general rules, §5 CERTIFICATE,
// §6 X509 CRL, §7 CERTIFICATE REQUEST, §10 PRIVATE KEY, §11 ENCRYPTED PRIVATE KEY) and the
// RFC 1421-style headers (Proc-Type, DEK-Info) of traditional "RSA/EC PRIVATE KEY" files.

import { PkiError } from './errors.js';

export const PEM_LABEL = {
  CERTIFICATE: 'CERTIFICATE',
  PRIVATE_KEY: 'PRIVATE KEY',
  ENCRYPTED_PRIVATE_KEY: 'ENCRYPTED PRIVATE KEY',
  CERTIFICATE_REQUEST: 'CERTIFICATE REQUEST',
  X509_CRL: 'X509 CRL',
  RSA_PRIVATE_KEY: 'RSA PRIVATE KEY',
  EC_PRIVATE_KEY: 'EC PRIVATE KEY',
  PUBLIC_KEY: 'PUBLIC KEY',
} as const;

export interface PemBlock {
  label: string;
  der: Buffer;
  /** RFC 1421 headers (e.g. Proc-Type, DEK-Info); empty for RFC 7468 blocks. */
  headers: Record<string, string>;
  /** The block's text exactly as found, BEGIN to END line (for passing to node:crypto). */
  text: string;
}

/** DER → PEM with 64-character lines and a trailing newline. */
export function pemEncode(label: string, der: Uint8Array, headers?: Record<string, string>): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let out = `-----BEGIN ${label}-----\n`;
  if (headers && Object.keys(headers).length) {
    for (const [k, v] of Object.entries(headers)) out += `${k}: ${v}\n`;
    out += '\n';
  }
  for (let i = 0; i < b64.length; i += 64) out += b64.slice(i, i + 64) + '\n';
  return out + `-----END ${label}-----\n`;
}

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** All PEM blocks in `text` in file order (text outside the blocks is ignored). */
export function pemDecode(text: string | Uint8Array): PemBlock[] {
  const s = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('latin1');
  const out: PemBlock[] = [];
  for (const m of s.matchAll(BLOCK_RE)) {
    const label = m[1]!, endLabel = m[3]!;
    if (label !== endLabel) throw new PkiError('bad-pem', `PEM block "BEGIN ${label}" ends with "END ${endLabel}"`);
    let body = m[2]!;
    const headers: Record<string, string> = {};
    if (body.includes(':')) {
      // RFC 1421 headers end at the first empty line
      const lines = body.split(/\r?\n/);
      let i = 0;
      while (i < lines.length && lines[i]!.trim() === '') i++;
      let sawHeader = false;
      while (i < lines.length) {
        const hm = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(lines[i]!);
        if (!hm) break;
        headers[hm[1]!] = hm[2]!.trim();
        sawHeader = true;
        i++;
      }
      if (sawHeader) body = lines.slice(i).join('\n');
    }
    const b64 = body.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new PkiError('bad-pem', `PEM block "${label}" has invalid base64`);
    const der = Buffer.from(b64, 'base64');
    if (der.length === 0) throw new PkiError('bad-pem', `PEM block "${label}" is empty`);
    out.push({ label, der, headers, text: m[0] });
  }
  return out;
}

/** The first block with `label` (any label when omitted); throws when there is none. */
export function pemDecodeOne(text: string | Uint8Array, label?: string): PemBlock {
  const b = pemDecode(text).find((x) => label === undefined || x.label === label);
  if (!b) throw new PkiError('bad-pem', label ? `no "${label}" PEM block found` : 'no PEM block found');
  return b;
}

/** True when the bytes/text look like PEM (contain a BEGIN line). */
/**
 * Whether text holds a private key in any PEM flavour (PKCS#8, encrypted PKCS#8, PKCS#1, SEC1,
 * OpenSSH): such a file is secret even when it sits in a file store.
 */
export function containsPrivateKey(text: string): boolean {
  return /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text);
}

/** The label of an OpenVPN static key (tls-auth, tls-crypt: `openvpn --genkey secret`), hex inside, not base64. */
export const OPENVPN_STATIC_KEY_LABEL = 'OpenVPN Static key V1';

/** Whether text holds an OpenVPN static key: as secret as a private key (a .ovpn file with <tls-crypt>). */
export function containsStaticKey(text: string): boolean {
  return text.includes(`-----BEGIN ${OPENVPN_STATIC_KEY_LABEL}-----`);
}

export function isPem(data: string | Uint8Array): boolean {
  const s = typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, Math.min(data.byteLength, 1 << 16)).toString('latin1');
  return s.includes('-----BEGIN ');
}
