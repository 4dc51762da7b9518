/** Streaming age decryption as a Web Streams TransformStream. Exported from `fieldcrypt/stream`. */
import { DecryptionFailed, InvalidOption, InvalidStream } from "../errors/index.js";
import { findHeaderEnd, MAX_HEADER_BYTES, readHeader } from "./header.js";
import type { X25519Identity } from "./keys.js";
import { chunkNonce, PAYLOAD_NONCE, payloadKey, SEALED_CHUNK } from "./payload.js";
import { chachaOpen } from "./primitives.js";

/**
 * A TransformStream that decrypts an age v1 file with one of `identities` (X25519). It releases
 * a chunk only after its tag verified, and holds one sealed chunk back to know which is the last:
 * a truncated, reordered, extended or tampered stream errors with `ERR_DECRYPTION_FAILED` (a
 * malformed header with `ERR_INVALID_STREAM`). Chunks released before the error are authentic, but
 * the stream as a whole is only valid once it closes without error. Exported from `fieldcrypt/stream`.
 *
 * @example
 * ```ts
 * await encrypted.pipeThrough(decryptStream([parseIdentity(secret)])).pipeTo(out)
 * ```
 */
export function decryptStream(identities: readonly X25519Identity[]): TransformStream<Uint8Array, Uint8Array> {
  const opener = createOpener(identities);
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(bytes, controller) {
      opener.push(bytes, (c) => controller.enqueue(c));
    },
    flush(controller) {
      opener.end((c) => controller.enqueue(c));
    },
  });
}

/** @internal The decryptor shared by the Web and Node forms: push/end emit authenticated plaintext. */
export interface Opener {
  push(bytes: Uint8Array, emit: (chunk: Buffer) => void): void;
  end(emit: (chunk: Buffer) => void): void;
}

/** @internal */
export function createOpener(identities: readonly X25519Identity[]): Opener {
  if (!Array.isArray(identities) || identities.length === 0) {
    throw new InvalidOption("decryptStream needs at least one identity");
  }
  let buf: Buffer = Buffer.alloc(0);
  let fileKey: Buffer | undefined;
  let key: Buffer | undefined;
  let counter = 0;
  const open = (sealed: Buffer, last: boolean): Buffer => {
    const plain = chachaOpen(key as Buffer, chunkNonce(counter++, last), sealed);
    if (plain === undefined) throw new DecryptionFailed();
    return plain;
  };
  let ended = false;
  // A full-size chunk is either a non-final chunk or the final one; like the reference
  // implementation, try non-final first. Either way its tag verified before it is released,
  // and after a final chunk any further byte is an error.
  const openFull = (sealed: Buffer): Buffer => {
    const plain = chachaOpen(key as Buffer, chunkNonce(counter, false), sealed);
    if (plain !== undefined) {
      counter++;
      return plain;
    }
    ended = true;
    return open(sealed, true);
  };
  return {
    push(bytes, emit) {
      // A view for this call only; the undecrypted rest is copied, as the caller may reuse its buffer.
      const piece = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      buf = buf.length === 0 ? piece : Buffer.concat([buf, piece]);
      if (fileKey === undefined) {
        const end = findHeaderEnd(buf);
        if (end < 0) {
          if (buf.length > MAX_HEADER_BYTES) throw new InvalidStream("invalid age header: longer than 1 MiB");
          if (buf === piece) buf = Buffer.from(piece);
          return;
        }
        fileKey = readHeader(buf.subarray(0, end), identities);
        buf = Buffer.from(buf.subarray(end));
      }
      if (key === undefined) {
        if (buf.length < PAYLOAD_NONCE) {
          buf = Buffer.from(buf);
          return;
        }
        key = payloadKey(fileKey, buf.subarray(0, PAYLOAD_NONCE));
        buf = Buffer.from(buf.subarray(PAYLOAD_NONCE));
      }
      let offset = 0;
      while (buf.length - offset >= SEALED_CHUNK && !ended) {
        emit(openFull(buf.subarray(offset, offset + SEALED_CHUNK)));
        offset += SEALED_CHUNK;
      }
      if (ended && buf.length > offset) throw new DecryptionFailed();
      buf = Buffer.from(buf.subarray(offset));
    },
    end(emit) {
      if (fileKey === undefined) throw new InvalidStream("invalid age header: the input ends inside the header");
      if (key === undefined)
        throw new InvalidStream("invalid age file: the input ends before the 16-byte payload nonce");
      if (ended && buf.length === 0) return;
      if (ended || buf.length < 16 || (buf.length === 16 && counter > 0)) throw new DecryptionFailed();
      emit(open(buf, true));
    },
  };
}
