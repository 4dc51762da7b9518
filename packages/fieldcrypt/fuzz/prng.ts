/**
 * The fuzzer's randomness: sfc32 (Chris Doty-Humphrey's Small Fast Counter generator, 32-bit
 * variant, from PractRand), seeded per case from SHA-256 so that any single case can be replayed
 * from (seed, label) alone:
 *
 *   state = the first 16 bytes of SHA-256("fieldcrypt-fuzz/v1" ‖ 0x00 ‖ seed ‖ 0x00 ‖ label),
 *           read as four big-endian u32 words a, b, c, d; then 12 outputs are discarded.
 *
 * `label` is `<target>/<index>` for the mutation at `index` of a target, and `<target>/setup/…`
 * for the values, keys and nonces of its original (unmutated) inputs.
 */
import { createHash } from "node:crypto";

const DOMAIN = "fieldcrypt-fuzz/v1";

/** A seeded sfc32 stream with the few draws the mutators need. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: string, label: string) {
    const state = createHash("sha256").update(`${DOMAIN}\0${seed}\0${label}`, "utf8").digest();
    this.#a = state.readUInt32BE(0);
    this.#b = state.readUInt32BE(4);
    this.#c = state.readUInt32BE(8);
    this.#d = state.readUInt32BE(12);
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** The next 32-bit output of sfc32. */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n) (n ≥ 1). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** An integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[this.int(items.length)] as T;
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}
