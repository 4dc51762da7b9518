/**
 * AES-256-GCM with a 96-bit nonce and a 128-bit tag, straight from node:crypto (OpenSSL).
 * Legacy/interop algorithm of the cell format; these helpers serve vectors and interop tests.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";

export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

/** AES-256-GCM seal: returns ciphertext ‖ tag. */
export function aesGcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  if (key.length !== 32) throw new RangeError("AES-256-GCM key must be 32 bytes");
  if (nonce.length !== GCM_NONCE_BYTES) throw new RangeError("AES-256-GCM nonce must be 12 bytes");
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(aad);
  const ct = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([ct, cipher.getAuthTag()]);
}

/** AES-256-GCM open of ciphertext ‖ tag; returns null on any authentication failure. */
export function aesGcmOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | null {
  if (key.length !== 32 || nonce.length !== GCM_NONCE_BYTES || sealed.length < GCM_TAG_BYTES) return null;
  const split = sealed.length - GCM_TAG_BYTES;
  const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(split));
  const pt = decipher.update(sealed.subarray(0, split));
  try {
    decipher.final();
  } catch {
    return null;
  }
  return pt;
}
