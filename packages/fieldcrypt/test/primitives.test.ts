/**
 * Standard known-answer vectors for the primitives under the cell format: Wycheproof AES-256-GCM
 * (96-bit IV) and HKDF-SHA-256, and C2SP XAES-256-GCM (fixed vectors, intermediates, and the
 * accumulated randomized test over 10,000 iterations).
 */
import { createHash, createSecretKey, hkdfSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aesGcmOpen, aesGcmSeal } from "../src/internal/aes-256-gcm.js";
import { hkdfSha256 } from "../src/internal/hkdf.js";
import { XaesKey, xaesOpen, xaesSeal } from "../src/internal/xaes-256-gcm.js";
import { HAS_SHARED_VECTORS, SHARED_VECTORS_DIR } from "./helpers.js";

const hex = (s: string): Buffer => Buffer.from(s, "hex");

function readJson<T>(...path: string[]): T {
  return JSON.parse(readFileSync(join(SHARED_VECTORS_DIR, ...path), "utf8")) as T;
}

interface WycheproofFile<T> {
  readonly algorithm: string;
  readonly numberOfTests: number;
  readonly testGroups: readonly ({ readonly tests: readonly T[] } & Record<string, unknown>)[];
}

interface AeadTest {
  readonly tcId: number;
  readonly comment: string;
  readonly flags: readonly string[];
  readonly key: string;
  readonly iv: string;
  readonly aad: string;
  readonly msg: string;
  readonly ct: string;
  readonly tag: string;
  readonly result: "valid" | "invalid" | "acceptable";
}

interface HkdfTest {
  readonly tcId: number;
  readonly ikm: string;
  readonly salt: string;
  readonly info: string;
  readonly size: number;
  readonly okm: string;
  readonly result: "valid" | "invalid" | "acceptable";
}

interface XaesVector {
  readonly tcId: number;
  readonly key: string;
  readonly nonce: string;
  readonly plaintext: string;
  readonly aad: string;
  readonly ct_and_tag: string;
  readonly intermediate: { readonly derived_key: string; readonly derived_nonce: string };
  readonly result: "valid";
}

interface XaesFile {
  readonly algorithm: string;
  readonly tests: readonly XaesVector[];
  readonly accumulated: {
    readonly rng_stream_prefix: string;
    readonly iterations_10000: string;
    readonly iterations_1000000: string;
  };
}

// CI has the shared vectors; elsewhere the suites are skipped with the path in their name.
const describeVectors = HAS_SHARED_VECTORS ? describe : describe.skip;
const SKIPPED = HAS_SHARED_VECTORS ? "" : ` [skipped: shared vectors folder not found at ${SHARED_VECTORS_DIR}]`;

describeVectors(`Wycheproof aes_gcm_test.json through aesGcmSeal/aesGcmOpen (keySize 256, ivSize 96)${SKIPPED}`, () => {
  const file = HAS_SHARED_VECTORS
    ? readJson<WycheproofFile<AeadTest>>("wycheproof", "testvectors_v1", "aes_gcm_test.json")
    : undefined;
  const groups = (file?.testGroups ?? []).filter((g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128);
  const cases = groups.flatMap((g) => g.tests);

  it("has the expected number of cases (39 valid, 27 invalid)", () => {
    expect(file?.algorithm).toBe("AES-GCM");
    expect(cases.filter((t) => t.result === "valid")).toHaveLength(39);
    expect(cases.filter((t) => t.result === "invalid")).toHaveLength(27);
    expect(cases.filter((t) => t.result === "acceptable")).toHaveLength(0);
  });

  it("every case gives its expected outcome", () => {
    let valid = 0;
    let invalid = 0;
    for (const t of cases) {
      const key = hex(t.key);
      const iv = hex(t.iv);
      const aad = hex(t.aad);
      const msg = hex(t.msg);
      const sealed = Buffer.concat([hex(t.ct), hex(t.tag)]);
      const label = `tcId ${t.tcId} (${t.comment})`;
      const opened = aesGcmOpen(key, iv, sealed, aad);
      const resealed = aesGcmSeal(key, iv, msg, aad);
      if (t.result === "valid") {
        expect(resealed.toString("hex"), label).toBe(sealed.toString("hex"));
        expect(opened?.toString("hex"), label).toBe(msg.toString("hex"));
        valid++;
      } else {
        expect(opened, label).toBeNull();
        // An invalid case is a manipulated ct/tag: sealing the message must not reproduce it.
        expect(resealed.toString("hex"), label).not.toBe(sealed.toString("hex"));
        invalid++;
      }
    }
    expect({ valid, invalid }).toEqual({ valid: 39, invalid: 27 });
  });

  it("refuses the other IV sizes of the file (the cell format only uses 96-bit GCM nonces)", () => {
    const others = (file?.testGroups ?? []).filter((g) => g.keySize === 256 && g.ivSize !== 96).flatMap((g) => g.tests);
    expect(others.length).toBeGreaterThan(0);
    for (const t of others) {
      const sealed = Buffer.concat([hex(t.ct), hex(t.tag)]);
      expect(aesGcmOpen(hex(t.key), hex(t.iv), sealed, hex(t.aad)), `tcId ${t.tcId}`).toBeNull();
      expect(() => aesGcmSeal(hex(t.key), hex(t.iv), hex(t.msg), hex(t.aad))).toThrow(RangeError);
    }
  });
});

describeVectors(`Wycheproof hkdf_sha256_test.json through hkdfSync and internal/hkdf.ts${SKIPPED}`, () => {
  const file = HAS_SHARED_VECTORS
    ? readJson<WycheproofFile<HkdfTest>>("wycheproof", "testvectors_v1", "hkdf_sha256_test.json")
    : undefined;
  const cases = (file?.testGroups ?? []).flatMap((g) => g.tests);

  it("every case gives its expected outcome (83 valid, 3 invalid)", () => {
    expect(file?.algorithm).toBe("HKDF-SHA-256");
    expect(cases).toHaveLength(file?.numberOfTests ?? -1);
    let valid = 0;
    let invalid = 0;
    for (const t of cases) {
      const derive = () => Buffer.from(hkdfSync("sha256", hex(t.ikm), hex(t.salt), hex(t.info), t.size));
      if (t.result === "valid") {
        expect(derive().toString("hex"), `tcId ${t.tcId}`).toBe(t.okm);
        valid++;
      } else {
        expect(derive, `tcId ${t.tcId}`).toThrow();
        invalid++;
      }
    }
    expect({ valid, invalid }).toEqual({ valid: 83, invalid: 3 });
  });

  it("every case gives its expected outcome through hkdfSha256 (the field-key derivation), bytes and KeyObject", () => {
    let ran = 0;
    for (const t of cases) {
      for (const ikm of [hex(t.ikm), createSecretKey(hex(t.ikm))]) {
        const derive = () => hkdfSha256(ikm, hex(t.salt), hex(t.info), t.size);
        if (t.result === "valid") expect(derive().toString("hex"), `tcId ${t.tcId}`).toBe(t.okm);
        else expect(derive, `tcId ${t.tcId}`).toThrow(RangeError);
      }
      ran++;
    }
    expect(ran).toBe(86);
  });
});

describe("hkdfSha256 beyond the vectors", () => {
  it("equals node:crypto hkdfSync wherever hkdfSync accepts the input", () => {
    for (let i = 0; i < 200; i++) {
      const ikm = randomBytes(i % 70);
      const salt = randomBytes((i * 7) % 80);
      const info = randomBytes((i * 13) % 1025);
      const length = 1 + ((i * 31) % 300);
      expect(hkdfSha256(ikm, salt, info, length)).toStrictEqual(
        Buffer.from(hkdfSync("sha256", ikm, salt, info, length)),
      );
    }
  });

  it("takes info over 1024 bytes (hkdfSync refuses it); an empty salt is 32 zero bytes", () => {
    const ikm = randomBytes(32);
    const info = randomBytes(2080);
    expect(() => hkdfSync("sha256", ikm, Buffer.alloc(0), info, 32)).toThrow(RangeError);
    const okm = hkdfSha256(ikm, Buffer.alloc(0), info, 32);
    expect(okm).toHaveLength(32);
    expect(hkdfSha256(ikm, Buffer.alloc(32), info, 32)).toStrictEqual(okm);
    expect(hkdfSha256(ikm, Buffer.alloc(0), Buffer.concat([info, Buffer.of(0)]), 32)).not.toStrictEqual(okm);
    // Output is a prefix-consistent stream: a shorter output is a prefix of a longer one.
    expect(hkdfSha256(ikm, Buffer.alloc(0), info, 100).subarray(0, 32)).toStrictEqual(okm);
  });

  it("refuses lengths outside 0..8160", () => {
    for (const length of [-1, 8161, 1.5, Number.NaN]) {
      expect(() => hkdfSha256(Buffer.alloc(32), Buffer.alloc(0), Buffer.alloc(0), length)).toThrow(RangeError);
    }
    expect(hkdfSha256(Buffer.alloc(32), Buffer.alloc(0), Buffer.alloc(0), 0)).toHaveLength(0);
    expect(hkdfSha256(Buffer.alloc(32), Buffer.alloc(0), Buffer.alloc(0), 8160)).toHaveLength(8160);
  });
});

describeVectors(`C2SP XAES-256-GCM through XaesKey/xaesSeal/xaesOpen${SKIPPED}`, () => {
  const file = HAS_SHARED_VECTORS ? readJson<XaesFile>("c2sp", "xaes_256_gcm.json") : undefined;
  const vectors = file?.tests ?? [];

  it("has the 2 fixed vectors", () => {
    expect(file?.algorithm).toBe("XAES-256-GCM");
    expect(vectors.map((v) => v.tcId)).toEqual([1, 2]);
  });

  for (const tcId of [1, 2]) {
    it(`fixed vector ${tcId}: derived key and nonce, seal, open, tamper`, () => {
      const v = vectors.find((x) => x.tcId === tcId);
      expect(v).toBeDefined();
      if (v === undefined) return;
      const key = new XaesKey(hex(v.key));
      const nonce = hex(v.nonce);
      const plaintext = hex(v.plaintext);
      const aad = hex(v.aad);
      expect(key.deriveKey(nonce, 0).toString("hex")).toBe(v.intermediate.derived_key);
      expect(nonce.subarray(12, 24).toString("hex")).toBe(v.intermediate.derived_nonce);
      // deriveKey reads the nonce at an offset: the same key from a nonce embedded in a cell.
      const embedded = Buffer.concat([Buffer.from("header"), nonce, Buffer.from("trailer")]);
      expect(key.deriveKey(embedded, 6).toString("hex")).toBe(v.intermediate.derived_key);

      const sealed = xaesSeal(key, nonce, plaintext, aad);
      expect(sealed.toString("hex")).toBe(v.ct_and_tag);
      expect(xaesOpen(key, nonce, hex(v.ct_and_tag), aad)?.toString("hex")).toBe(v.plaintext);

      const flipped = Buffer.from(sealed);
      flipped[0] = (flipped[0] as number) ^ 1;
      expect(xaesOpen(key, nonce, flipped, aad)).toBeNull();
      expect(xaesOpen(key, nonce, sealed, Buffer.concat([aad, Buffer.of(0)]))).toBeNull();
      const otherNonce = Buffer.from(nonce);
      otherNonce[0] = (otherNonce[0] as number) ^ 1; // first half: changes the derived key only
      expect(xaesOpen(key, otherNonce, sealed, aad)).toBeNull();
      expect(xaesOpen(key, nonce, sealed.subarray(0, 15), aad)).toBeNull();
      expect(xaesOpen(key, nonce.subarray(0, 12), sealed, aad)).toBeNull();
    });
  }

  it("accumulated randomized test: 10,000 iterations match iterations_10000", () => {
    const iterations = 10_000;
    const maxPerIteration = 32 + 24 + 1 + 255 + 1 + 255;
    const stream = createHash("shake128", { outputLength: iterations * maxPerIteration }).digest();
    expect(stream.subarray(0, 16).toString("hex")).toBe(file?.accumulated.rng_stream_prefix);
    let pos = 0;
    const read = (n: number): Buffer => {
      const out = stream.subarray(pos, pos + n);
      pos += n;
      if (out.length !== n) throw new Error("RNG stream exhausted");
      return out;
    };
    const hash = createHash("shake128", { outputLength: 32 });
    let opened = 0;
    for (let i = 0; i < iterations; i++) {
      const key = new XaesKey(read(32));
      const nonce = read(24);
      const plaintext = read(read(1)[0] as number);
      const aad = read(read(1)[0] as number);
      const sealed = xaesSeal(key, nonce, plaintext, aad);
      expect(sealed.length).toBe(plaintext.length + 16);
      hash.update(sealed);
      if (i % 97 === 0) {
        expect(xaesOpen(key, nonce, sealed, aad)?.equals(plaintext)).toBe(true);
        const tampered = Buffer.from(sealed);
        const at = i % tampered.length;
        tampered[at] = (tampered[at] as number) ^ 0x80;
        expect(xaesOpen(key, nonce, tampered, aad)).toBeNull();
        opened++;
      }
    }
    expect(opened).toBe(104);
    expect(hash.digest("hex")).toBe(file?.accumulated.iterations_10000);
  });
});
