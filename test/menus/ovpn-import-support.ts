// Helpers of the import-ovpn-configuration tests: a PKI made by openssl (CA, server, client, and
// the client's key encrypted), a static key made by openvpn, and .ovpn files from them.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openssl } from '../support/app.js';

export interface OvpnPki {
  dir: string;
  ca: string;
  caKey: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string; encryptedKey: string };
  /** Another client's key: not the key of client.cert. */
  strayKey: string;
  /** `openvpn --genkey secret` output. */
  staticKey: string;
}

const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, f), 'utf8');

/** Makes the PKI in `dir` (openssl 3: `req -x509 -CA` signs with extensions). */
export function makeOvpnPki(dir: string, passphrase = 'key-pass-1'): OvpnPki {
  const p = (f: string) => path.join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-subj', '/CN=Import Test CA', '-days', '30',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=keyCertSign,cRLSign']);
  const leaf = (name: string, eku: string, extra: string[] = []) => openssl(['req', '-x509', ...ec, '-keyout', p(`${name}.key`), '-out', p(`${name}.crt`),
    '-subj', `/CN=${name}`, '-days', '30', '-CA', p('ca.crt'), '-CAkey', p('ca.key'),
    '-addext', 'basicConstraints=critical,CA:false', '-addext', 'keyUsage=digitalSignature', '-addext', `extendedKeyUsage=${eku}`, ...extra]);
  leaf('server', 'serverAuth', ['-addext', 'subjectAltName=IP:127.0.0.1']);
  leaf('client', 'clientAuth');
  leaf('stray', 'clientAuth');
  openssl(['pkey', '-in', p('client.key'), '-aes256', '-passout', `pass:${passphrase}`, '-out', p('client-enc.key')]);
  execFileSync('openvpn', ['--genkey', 'secret', p('static.key')]);
  return {
    dir,
    ca: read(dir, 'ca.crt'), caKey: p('ca.key'),
    server: { cert: p('server.crt'), key: p('server.key') },
    client: { cert: read(dir, 'client.crt'), key: read(dir, 'client.key'), encryptedKey: read(dir, 'client-enc.key') },
    strayKey: read(dir, 'stray.key'),
    staticKey: read(dir, 'static.key'),
  };
}

/** A client .ovpn file: directives, then inline blocks (tag → text). */
export function ovpnText(directives: string[], blocks: Record<string, string>): string {
  const inline = Object.entries(blocks).map(([tag, text]) => `<${tag}>\n${text.trim()}\n</${tag}>`);
  return [...directives, ...inline, ''].join('\n');
}

/** The hex of a static key (what must never be found in the clear). */
export const staticKeyHex = (key: string): string[] =>
  key.replace(/^#.*$/gm, '').replace(/-----[^-]+-----/g, '').split(/\s+/).filter((l) => /^[0-9a-f]{32}$/.test(l));
