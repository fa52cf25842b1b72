// PKI validation and decoding errors (used by every module implementing RFC 5280 / X.690 here).
// src/pki imports nothing else of the project, so it carries its own error type; the front ends
// translate PkiError into RosError (message is user-facing, code is for programs).

export type PkiErrorCode =
  | 'bad-der'          // malformed DER / not the expected ASN.1 structure
  | 'bad-pem'          // malformed PEM armour
  | 'bad-name'         // subject field not encodable (e.g. country not a PrintableString)
  | 'bad-san'          // subject-alt-name entry malformed or of unknown type
  | 'bad-key-usage'    // unknown key-usage name
  | 'bad-key-size'     // unknown key-size value
  | 'bad-digest'       // unknown digest, or digest not usable with the key type (EC + md5)
  | 'bad-validity'     // days-valid / notBefore out of range
  | 'bad-key'          // key cannot be used (type unsupported, wrong kind of key, import failure)
  | 'unsupported';     // a structure we understand but do not support

export class PkiError extends Error {
  readonly code: PkiErrorCode;
  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PkiError';
    this.code = code;
  }
}

export const isPkiError = (e: unknown): e is PkiError => e instanceof PkiError;
