/**
 * HKDF-SHA256 (RFC 5869), extract then expand, on node:crypto HMAC-SHA256.
 *
 * node:crypto's hkdfSync refuses an `info` longer than 1024 bytes, and a field subkey's info holds
 * a table and a column name of up to 1024 bytes each; so HKDF is spelled out from its two HMAC
 * steps here. Checked against every Wycheproof HKDF-SHA256 vector in the test suite.
 */
import { createHmac, type KeyObject } from "node:crypto";

const HASH_BYTES = 32;

/** OKM = HKDF-SHA256(IKM, salt, info, length); an empty salt means 32 zero bytes (RFC 5869 §2.2). */
export function hkdfSha256(ikm: KeyObject | Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Buffer {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_BYTES) {
    throw new RangeError("HKDF-SHA256 output length must be 0-8160 bytes");
  }
  const ikmBytes = ikm instanceof Uint8Array ? ikm : ikm.export();
  const prk = createHmac("sha256", salt.length === 0 ? Buffer.alloc(HASH_BYTES) : salt)
    .update(ikmBytes)
    .digest();
  if (ikmBytes !== ikm) ikmBytes.fill(0);
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; i <= Math.ceil(length / HASH_BYTES); i++) {
    previous = createHmac("sha256", prk).update(previous).update(info).update(Buffer.of(i)).digest();
    blocks.push(previous);
  }
  prk.fill(0);
  const okm = Buffer.concat(blocks).subarray(0, length);
  for (const block of blocks) block.fill(0);
  return Buffer.from(okm);
}
