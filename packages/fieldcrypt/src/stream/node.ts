/** Node stream helpers: native Transforms over the same encryptor and decryptor. Exported from `fieldcrypt/stream`. */

import type { Readable, Writable } from "node:stream";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createOpener } from "./decrypt-stream.js";
import { createSealer, type EncryptStreamOptions } from "./encrypt-stream.js";
import type { X25519Identity, X25519Recipient } from "./keys.js";

/**
 * A Node Transform (for `stream.pipeline`) that encrypts to `recipients`. Exported from `fieldcrypt/stream`.
 * @example
 * ```ts
 * await pipeline(createReadStream("dump.sql"), createEncryptTransform([recipient]), createWriteStream("dump.sql.age"))
 * ```
 */
export function createEncryptTransform(
  recipients: readonly X25519Recipient[],
  options?: EncryptStreamOptions,
): Transform {
  const sealer = createSealer(recipients, options);
  let started = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (!started) this.push(sealer.header);
      started = true;
      sealer.push(chunk, (c) => this.push(c));
      done();
    },
    flush(done) {
      if (!started) this.push(sealer.header);
      sealer.end((c) => this.push(c));
      done();
    },
  });
}

/**
 * A Node Transform (for `stream.pipeline`) that decrypts with one of `identities`; it errors with
 * `ERR_DECRYPTION_FAILED` / `ERR_INVALID_STREAM` as `decryptStream` does. Exported from `fieldcrypt/stream`.
 */
export function createDecryptTransform(identities: readonly X25519Identity[]): Transform {
  const opener = createOpener(identities);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        opener.push(chunk, (c) => this.push(c));
      } catch (e) {
        done(e as Error);
        return;
      }
      done();
    },
    flush(done) {
      try {
        opener.end((c) => this.push(c));
      } catch (e) {
        done(e as Error);
        return;
      }
      done();
    },
  });
}

/** Encrypts `input` into `output` (async I/O, constant memory). Exported from `fieldcrypt/stream`. */
export async function encryptFile(
  input: Readable,
  output: Writable,
  recipients: readonly X25519Recipient[],
): Promise<void> {
  await pipeline(input, createEncryptTransform(recipients), output);
}

/**
 * Decrypts `input` into `output`. On error `output` has received only authenticated chunks, but
 * it is incomplete: discard it. Exported from `fieldcrypt/stream`.
 */
export async function decryptFile(
  input: Readable,
  output: Writable,
  identities: readonly X25519Identity[],
): Promise<void> {
  await pipeline(input, createDecryptTransform(identities), output);
}
