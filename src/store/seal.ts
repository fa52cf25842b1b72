// Private data (keys) is sealed at rest with AES-256-GCM under a key derived from the data
// directory's secret. Format: version byte (1) | 12-byte random nonce | ciphertext | 16-byte tag.
// The version byte is authenticated too (as AAD), so it cannot be swapped unnoticed.

import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomFillSync, type KeyObject } from 'node:crypto';

const FORMAT = 1;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER = Buffer.of(FORMAT);

const openError = () => new Error('sealed data cannot be opened: wrong secret or damaged data');

/** Seals and unseals with one secret; derives the AES key once. */
export class Sealer {
  private readonly key: KeyObject;
  /** Random bytes drawn 4 KiB at a time: one CSPRNG call per ~340 nonces, not one per seal. */
  private pool = Buffer.alloc(0);
  private poolOffset = 0;

  constructor(secret: Buffer) {
    if (secret.length < 16) throw new Error('seal secret is too short');
    this.key = createSecretKey(Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'rospki seal v1', 32)));
  }

  private nonce(): Buffer {
    if (this.poolOffset + NONCE_LENGTH > this.pool.length) {
      this.pool = randomFillSync(Buffer.allocUnsafe(4096));
      this.poolOffset = 0;
    }
    const nonce = this.pool.subarray(this.poolOffset, this.poolOffset + NONCE_LENGTH);
    this.poolOffset += NONCE_LENGTH;
    return nonce;
  }

  seal(plain: Buffer): Buffer {
    const nonce = this.nonce();
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce, { authTagLength: TAG_LENGTH });
    cipher.setAAD(HEADER);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([HEADER, nonce, body, cipher.getAuthTag()]);
  }

  unseal(sealed: Buffer): Buffer {
    if (sealed.length < 1 + NONCE_LENGTH + TAG_LENGTH) throw openError();
    if (sealed[0] !== FORMAT) throw new Error(`sealed data has unknown format version ${sealed[0]}`);
    const nonce = sealed.subarray(1, 1 + NONCE_LENGTH);
    const body = sealed.subarray(1 + NONCE_LENGTH, sealed.length - TAG_LENGTH);
    const tag = sealed.subarray(sealed.length - TAG_LENGTH);
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonce, { authTagLength: TAG_LENGTH });
    decipher.setAAD(HEADER);
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      throw openError();
    }
  }
}

export function seal(secret: Buffer, plain: Buffer): Buffer {
  return new Sealer(secret).seal(plain);
}

export function unseal(secret: Buffer, sealed: Buffer): Buffer {
  return new Sealer(secret).unseal(sealed);
}
