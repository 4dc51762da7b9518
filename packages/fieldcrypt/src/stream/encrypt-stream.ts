/** Streaming age encryption as a Web Streams TransformStream. Exported from `fieldcrypt/stream`. */
import { randomBytes } from "node:crypto";
import { InvalidOption } from "../errors/index.js";
import { writeHeader } from "./header.js";
import type { X25519Recipient } from "./keys.js";
import { CHUNK, chunkNonce, PAYLOAD_NONCE, payloadKey } from "./payload.js";
import { chachaSeal } from "./primitives.js";

/** Options of {@link encryptStream}. */
export interface EncryptStreamOptions {
  /** @internal Fixed file key (test vectors only). */
  readonly fileKey?: Uint8Array;
}

/**
 * A TransformStream that encrypts bytes into an age v1 file for `recipients` (X25519). Memory is
 * one 64 KiB chunk whatever the size: a full chunk is sealed as non-final only once more input
 * arrives, so the last chunk is always flagged last (and never empty unless the payload is).
 * The output opens with `age -d -i key.txt`. Exported from `fieldcrypt/stream`.
 *
 * @example
 * ```ts
 * await file.stream().pipeThrough(encryptStream([parseRecipient("age1…")])).pipeTo(out)
 * ```
 */
export function encryptStream(
  recipients: readonly X25519Recipient[],
  options: EncryptStreamOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  const sealer = createSealer(recipients, options);
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      controller.enqueue(sealer.header);
    },
    transform(bytes, controller) {
      sealer.push(bytes, (c) => controller.enqueue(c));
    },
    flush(controller) {
      sealer.end((c) => controller.enqueue(c));
    },
  });
}

/** @internal The encryptor shared by the Web and Node forms: the header, then push/end emit sealed chunks. */
export interface Sealer {
  readonly header: Buffer;
  push(bytes: Uint8Array, emit: (chunk: Buffer) => void): void;
  end(emit: (chunk: Buffer) => void): void;
}

/** @internal */
export function createSealer(recipients: readonly X25519Recipient[], options: EncryptStreamOptions = {}): Sealer {
  if (!Array.isArray(recipients) || recipients.length === 0) {
    throw new InvalidOption("encryptStream needs at least one recipient");
  }
  const fileKey = options.fileKey ?? randomBytes(16);
  const nonce = randomBytes(PAYLOAD_NONCE);
  const key = payloadKey(fileKey, nonce);
  const pending = Buffer.allocUnsafe(CHUNK);
  let filled = 0;
  let counter = 0;
  return {
    header: Buffer.concat([writeHeader(fileKey, recipients), nonce]),
    push(bytes, emit) {
      let offset = 0;
      while (offset < bytes.length) {
        if (filled === CHUNK) {
          emit(chachaSeal(key, chunkNonce(counter++, false), pending));
          filled = 0;
        }
        const n = Math.min(CHUNK - filled, bytes.length - offset);
        pending.set(bytes.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
      }
    },
    end(emit) {
      emit(chachaSeal(key, chunkNonce(counter, true), pending.subarray(0, filled)));
    },
  };
}
