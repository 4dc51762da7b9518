/**
 * X25519 identities (private) and recipients (public) in age's string forms:
 * `AGE-SECRET-KEY-1…` and `age1…`. Exported from `fieldcrypt/stream`.
 */

import type { KeyObject } from "node:crypto";
import { randomBytes } from "node:crypto";
import { InvalidKey } from "../errors/index.js";
import { bech32Decode, bech32Encode } from "./bech32.js";
import { x25519PrivateKey, x25519PublicBytes } from "./primitives.js";

const inspect = Symbol.for("nodejs.util.inspect.custom");

/** A public X25519 recipient: safe to print, share and log. */
export class X25519Recipient {
  /** The 32 raw public key bytes. */
  readonly publicKey: Uint8Array;
  constructor(publicKey: Uint8Array) {
    if (publicKey.length !== 32) throw new InvalidKey("an X25519 recipient must be 32 bytes");
    this.publicKey = Uint8Array.from(publicKey);
  }
  /** The `age1…` string. */
  toString(): string {
    return bech32Encode("age", this.publicKey);
  }
  toJSON(): string {
    return this.toString();
  }
}

/**
 * A private X25519 identity. Redacts itself in `util.inspect`, `toJSON` and `toString`; the
 * secret string comes only from {@link formatIdentityInsecure}.
 */
export class X25519Identity {
  /** @internal The private KeyObject (never the raw bytes on the object). */
  readonly privateKey: KeyObject;
  /** The matching public recipient. */
  readonly recipient: X25519Recipient;
  readonly #raw: Buffer;
  constructor(raw: Uint8Array) {
    if (raw.length !== 32) throw new InvalidKey("an X25519 identity must be 32 bytes");
    this.#raw = Buffer.from(raw);
    this.privateKey = x25519PrivateKey(this.#raw);
    this.recipient = new X25519Recipient(x25519PublicBytes(this.privateKey));
  }
  toString(): string {
    return `X25519Identity(${this.recipient.toString()}, [redacted])`;
  }
  toJSON(): { type: string; recipient: string } {
    return { type: "X25519Identity", recipient: this.recipient.toString() };
  }
  [inspect](): string {
    return this.toString();
  }
  /** @internal */
  static rawOf(identity: X25519Identity): Buffer {
    return identity.#raw;
  }
}

/**
 * A fresh random identity. Exported from `fieldcrypt/stream`.
 * @example
 * ```ts
 * const id = generateIdentity();
 * const recipient = id.recipient.toString(); // "age1…": give it to whoever encrypts for you
 * ```
 */
export function generateIdentity(): X25519Identity {
  return new X25519Identity(randomBytes(32));
}

/** Parses an `AGE-SECRET-KEY-1…` string (the input is never echoed in errors). Exported from `fieldcrypt/stream`. */
export function parseIdentity(text: string): X25519Identity {
  const decoded = typeof text === "string" ? bech32Decode(text.trim()) : undefined;
  if (
    decoded === undefined ||
    decoded.hrp !== "age-secret-key-" ||
    decoded.bytes.length !== 32 ||
    text.trim() !== text.trim().toUpperCase()
  ) {
    throw new InvalidKey("an age identity must be an AGE-SECRET-KEY-1… Bech32 string of 32 bytes");
  }
  return new X25519Identity(decoded.bytes);
}

/** Parses an `age1…` recipient string; a bad public recipient is quoted, as age does. Exported from `fieldcrypt/stream`. */
export function parseRecipient(text: string): X25519Recipient {
  const decoded = typeof text === "string" ? bech32Decode(text) : undefined;
  if (decoded === undefined || decoded.hrp !== "age" || decoded.bytes.length !== 32 || text !== text.toLowerCase()) {
    const shown = typeof text === "string" ? JSON.stringify(text.slice(0, 100)) : `a ${typeof text}`;
    throw new InvalidKey(`${shown} is not an age X25519 recipient (age1… Bech32 of 32 bytes)`);
  }
  return new X25519Recipient(decoded.bytes);
}

/**
 * The `AGE-SECRET-KEY-1…` string of an identity: secret. The only way to read it; grep for it in
 * review. Exported from `fieldcrypt/stream`.
 */
export function formatIdentityInsecure(identity: X25519Identity): string {
  return bech32Encode("AGE-SECRET-KEY-", X25519Identity.rawOf(identity)).toUpperCase();
}
