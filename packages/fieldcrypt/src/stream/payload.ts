/** The age STREAM payload: 64 KiB ChaCha20-Poly1305 chunks with a counter nonce and a last-chunk flag. */
import { hkdf32 } from "./primitives.js";

/** Plaintext bytes per chunk. */
export const CHUNK = 64 * 1024;
/** Ciphertext bytes per full chunk (plaintext + Poly1305 tag). */
export const SEALED_CHUNK = CHUNK + 16;
/** Bytes of the payload nonce that starts the payload. */
export const PAYLOAD_NONCE = 16;

/** payload key = HKDF-SHA-256(ikm = file key, salt = nonce, info = "payload"). */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return hkdf32(fileKey, nonce, "payload");
}

/** The 12-byte chunk nonce: 11-byte big-endian counter, then 0x01 for the last chunk, 0x00 otherwise. */
export function chunkNonce(counter: number, last: boolean): Buffer {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError("chunk counter out of range");
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(Math.floor(counter / 2 ** 40), 1, 5);
  nonce.writeUIntBE(counter % 2 ** 40, 6, 5);
  nonce[11] = last ? 1 : 0;
  return nonce;
}
