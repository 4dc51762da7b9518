/**
 * Random nonces drawn from a pool filled by the OS CSPRNG (node:crypto randomFillSync) in 4 KiB
 * refills. One randomBytes(12) call costs about as much as a whole AES-GCM encryption of a short
 * value; pooling removes that per-cell cost without weakening the randomness (node:crypto's
 * randomUUID pools the same way). Bytes are handed out once and never reused;
 * nonces are public, so the pool needs no wiping.
 */
import { randomFillSync } from "node:crypto";
import { startupSnapshot } from "node:v8";

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let position = POOL_BYTES;

// A Node startup snapshot would capture the pool and hand the same nonces to every process started
// from it: empty the pool when one is serialized. (A VM or container snapshot cannot be detected from
// here; the spec says so.)
if (startupSnapshot?.isBuildingSnapshot()) {
  startupSnapshot.addSerializeCallback(() => {
    pool.fill(0);
    position = POOL_BYTES;
  });
}

/** Writes `length` (≤ 4096) fresh random bytes into `target` at `offset`. */
export function fillNonce(target: Uint8Array, offset: number, length: number): void {
  if (position + length > POOL_BYTES) {
    randomFillSync(pool);
    position = 0;
  }
  pool.copy(target, offset, position, position + length);
  position += length;
}
