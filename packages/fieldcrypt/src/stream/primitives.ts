/** The age primitives from node:crypto: HKDF-SHA-256, HMAC-SHA-256, ChaCha20-Poly1305, X25519. */

import type { KeyObject } from "node:crypto";
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
} from "node:crypto";

const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_X25519 = Buffer.from("302a300506032b656e032100", "hex");
const TAG = 16;

/** HKDF-SHA-256 with a 32-byte output, as every age derivation uses. */
export function hkdf32(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync("sha256", ikm, salt, info, 32));
}

/** HMAC-SHA-256. */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** ChaCha20-Poly1305 seal: ciphertext || 16-byte tag. */
export function chachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG });
  const head = c.update(plaintext);
  const tail = c.final();
  return Buffer.concat([head, tail, c.getAuthTag()]);
}

/** ChaCha20-Poly1305 open; `undefined` when the tag does not verify. */
export function chachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < TAG) return undefined;
  const d = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG });
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  const head = d.update(sealed.subarray(0, sealed.length - TAG));
  try {
    return Buffer.concat([head, d.final()]);
  } catch {
    return undefined;
  }
}

/** An X25519 private KeyObject from its 32 raw bytes. */
export function x25519PrivateKey(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: "der", type: "pkcs8" });
}

/** An X25519 public KeyObject from its 32 raw bytes. */
export function x25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519, raw]), format: "der", type: "spki" });
}

/** The 32 raw bytes of an X25519 public key. */
export function x25519PublicBytes(key: KeyObject): Buffer {
  return createPublicKey(key).export({ format: "der", type: "spki" }).subarray(SPKI_X25519.length);
}

/** X25519(private, public); `undefined` for an all-zero shared secret (low-order point), which age aborts on. */
export function x25519(privateKey: KeyObject, publicRaw: Uint8Array): Buffer | undefined {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey: x25519PublicKey(publicRaw) });
  } catch {
    return undefined;
  }
  return shared.every((b) => b === 0) ? undefined : shared;
}
