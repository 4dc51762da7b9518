import { randomBytes } from "node:crypto";
import { InvalidKey } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";

/** Every key string starts with this; it is meant to look dangerous in a diff, a log or a ticket. */
export const KEY_STRING_PREFIX = "FIELDCRYPT-SECRET-KEY-1-";
export const KEY_BYTES = 32;
/** 43 base64url characters; the last one carries 4 bits, so its low 2 bits must be zero (canonical). */
const KEY_STRING_RE = /^FIELDCRYPT-SECRET-KEY-1-[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
export const KEY_STRING_RULE = `must be ${KEY_STRING_PREFIX} followed by 43 base64url characters (32 bytes)`;

/**
 * Generates a new random 256-bit key as a key string `FIELDCRYPT-SECRET-KEY-1-<43 base64url chars>`.
 * Exported from `fieldcrypt/keyring`.
 *
 * @example
 * ```ts
 * import { generateKeyString } from "fieldcrypt/keyring";
 * const secret = generateKeyString(); // store it in your secret manager, never in the database
 * ```
 */
export function generateKeyString(): string {
  const bytes = randomBytes(KEY_BYTES);
  const text = KEY_STRING_PREFIX + bytes.toString("base64url");
  bytes.fill(0);
  return text;
}

/**
 * Decodes a key string or checks raw key bytes, returning a fresh 32-byte Buffer the caller owns
 * (and should wipe). `where` names the key in messages ("key v1", "FIELDCRYPT_KEYS entry #2").
 * @internal
 */
export function decodeKeySecret(secret: unknown, where: string): Buffer {
  if (typeof secret === "string") {
    if (!KEY_STRING_RE.test(secret)) {
      const hint = secret.startsWith(KEY_STRING_PREFIX)
        ? ` (got ${secret.length - KEY_STRING_PREFIX.length} characters after the prefix, or characters outside base64url)`
        : "";
      throw new InvalidKey(`${where}: key string ${KEY_STRING_RULE}${hint}`);
    }
    return Buffer.from(secret.slice(KEY_STRING_PREFIX.length), "base64url");
  }
  if (secret instanceof Uint8Array) {
    if (secret.length !== KEY_BYTES) {
      throw new InvalidKey(`${where}: key bytes must be 32 bytes (got ${secret.length})`);
    }
    return Buffer.from(secret);
  }
  throw new InvalidKey(`${where}: key must be a key string or a 32-byte Uint8Array (got ${describeType(secret)})`);
}
