/**
 * Producers of the legacy formats, written from their descriptions with node:crypto and
 * deterministic IVs, so that the fuzzer's originals replay byte for byte. Every original is opened
 * by the library's decoder before fuzzing starts, which checks these producers too.
 */
import { createCipheriv, createHash, createHmac } from "node:crypto";

/** Base64url with `=` padding, as Python's `base64.urlsafe_b64encode` writes it. */
export function paddedBase64url(bytes: Buffer): string {
  return bytes.toString("base64url").padEnd(Math.ceil(bytes.length / 3) * 4, "=");
}

/** A Fernet token's bytes: `0x80 ‖ timestamp ‖ IV ‖ AES-128-CBC(ct) ‖ HMAC-SHA256` (fernet/spec). */
export function fernetTokenBytes(key: Buffer, plaintext: string, iv: Buffer, seconds: number): Buffer {
  const cipher = createCipheriv("aes-128-cbc", key.subarray(16, 32), iv);
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(seconds));
  const signed = Buffer.concat([Buffer.of(0x80), ts, iv, ct]);
  return Buffer.concat([signed, createHmac("sha256", key.subarray(0, 16)).update(signed).digest()]);
}

/** AES-GCM `nonce ‖ ct ‖ tag` (or `nonce ‖ tag ‖ ct`), the key size choosing AES-128/192/256. */
export function gcmSeal(
  key: Buffer,
  nonce: Buffer,
  plaintext: string,
  aad: Buffer | undefined,
  layout: "nonce-ct-tag" | "nonce-tag-ct" = "nonce-ct-tag",
): Buffer {
  const cipher = createCipheriv(`aes-${key.length * 8}-gcm` as "aes-256-gcm", key, nonce);
  if (aad !== undefined) cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  const tag = cipher.getAuthTag();
  return Buffer.concat(layout === "nonce-ct-tag" ? [nonce, ct, tag] : [nonce, tag, ct]);
}

/** A cloak key string, `k1.aesgcm256.<base64url(key)>=`, as `cloak generate` prints it. */
export function cloakKeyText(key: Buffer): string {
  return `k1.aesgcm256.${paddedBase64url(key)}`;
}

/** Cloak's key fingerprint: 8 hex digits of SHA-256 over the key text. */
export function cloakFingerprint(keyText: string): string {
  return createHash("sha256").update(keyText, "utf8").digest("hex").slice(0, 8);
}

/** A cloak string from the fingerprint and `iv ‖ ct ‖ tag`: `v1.aesgcm256.<fp>.<iv>.<ct ‖ tag>`. */
export function cloakString(fingerprint: string, sealed: Buffer): string {
  const iv = sealed.subarray(0, 12).toString("base64url");
  return `v1.aesgcm256.${fingerprint}.${iv}.${paddedBase64url(sealed.subarray(12))}`;
}
