// fieldcrypt/stream: round-trips at chunk boundaries, every failure mode, keys and Bech32 (BIP-173).
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { bech32Decode, bech32DecodeWords } from "../src/stream/bech32.js";
import {
  decryptStream,
  encryptStream,
  formatIdentityInsecure,
  generateIdentity,
  parseIdentity,
  parseRecipient,
} from "../src/stream/index.js";
import { runThrough } from "./stream-helpers.js";

const K = 64 * 1024;
const id = generateIdentity();

async function seal(plain: Uint8Array, piece?: number): Promise<Buffer> {
  const { out, error } = await runThrough(encryptStream([id.recipient]), plain, piece);
  expect(error).toBeUndefined();
  return out;
}
async function open(file: Uint8Array, piece?: number) {
  return runThrough(decryptStream([id]), file, piece);
}
function headerLength(file: Buffer): number {
  return file.indexOf("\n", file.indexOf("\n---") + 1) + 1 + 16;
}

describe("round-trips", () => {
  for (const size of [0, 1, K - 1, K, K + 1, 3 * K, 3 * K + 5]) {
    it(`${size} bytes`, async () => {
      const plain = randomBytes(size);
      const file = await seal(plain);
      expect(file.length).toBe(headerLength(file) + size + 16 * Math.max(1, Math.ceil(size / K)));
      for (const piece of [1 + (size % 13), K + 16, 1 << 20]) {
        const { out, error } = await open(file, piece);
        expect(error).toBeUndefined();
        expect(out.equals(plain)).toBe(true);
      }
    });
  }
  it("two encryptions differ", async () => {
    const plain = Buffer.from("same");
    expect((await seal(plain)).equals(await seal(plain))).toBe(false);
  });
});

describe("failures", () => {
  const plain = randomBytes(3 * K + 100);
  const code = (e: unknown) => (e as { code?: string }).code;
  it("truncation at chunk boundaries and inside chunks fails, releasing only authentic chunks", async () => {
    const file = await seal(plain);
    const h = headerLength(file);
    for (const cut of [h - 17, h - 1])
      expect(code((await open(file.subarray(0, cut))).error)).toBe("ERR_INVALID_STREAM");
    for (const cut of [h, h + 1, h + K + 16, h + K + 17, h + 2 * (K + 16), file.length - 1]) {
      const { out, error } = await open(file.subarray(0, cut));
      expect(code(error), `cut ${cut}`).toBe("ERR_DECRYPTION_FAILED");
      expect(plain.subarray(0, out.length).equals(out)).toBe(true);
      expect(out.length % K).toBe(0);
    }
  });
  it("a file that is exactly whole chunks cut before its last chunk fails", async () => {
    const even = randomBytes(2 * K);
    const file = await seal(even);
    const { error } = await open(file.subarray(0, headerLength(file) + K + 16));
    expect(code(error)).toBe("ERR_DECRYPTION_FAILED");
  });
  it("swapped chunks fail", async () => {
    const file = await seal(plain);
    const h = headerLength(file);
    const a = file.subarray(h, h + K + 16);
    const b = file.subarray(h + K + 16, h + 2 * (K + 16));
    const swapped = Buffer.concat([file.subarray(0, h), b, a, file.subarray(h + 2 * (K + 16))]);
    const { out, error } = await open(swapped);
    expect(code(error)).toBe("ERR_DECRYPTION_FAILED");
    expect(out.length).toBe(0);
  });
  it("extended streams fail (appended bytes, appended chunk)", async () => {
    const file = await seal(plain);
    for (const extra of [Buffer.from([0]), randomBytes(K + 16)]) {
      const { error } = await open(Buffer.concat([file, extra]));
      expect(code(error)).toBe("ERR_DECRYPTION_FAILED");
    }
  });
  it("a bit flip anywhere in the payload or the header MAC fails", async () => {
    const file = await seal(randomBytes(K + 3));
    const h = headerLength(file);
    for (const at of [h - 16, h - 1, h, h + 100, h + K + 15, h + K + 16, file.length - 1, h - 20]) {
      const bad = Buffer.from(file);
      bad[at] = (bad[at] as number) ^ 1;
      const { out, error } = await open(bad);
      expect(["ERR_DECRYPTION_FAILED", "ERR_INVALID_STREAM"]).toContain(code(error));
      if (at < h + K + 16) expect(out.length).toBe(0);
    }
  });
  it("a wrong identity fails with the opaque error", async () => {
    const file = await seal(plain);
    const { error } = await runThrough(decryptStream([generateIdentity()]), file);
    expect(code(error)).toBe("ERR_DECRYPTION_FAILED");
    expect((error as Error).message).toBe("decryption failed");
  });
  it("a malformed header is ERR_INVALID_STREAM and does not quote the input", async () => {
    const { error } = await open(Buffer.from("age-encryption.org/v2\n-> X25519 abc\n--- xyz\nSECRET"));
    expect(code(error)).toBe("ERR_INVALID_STREAM");
    expect((error as Error).message).not.toContain("SECRET");
    const cut = await open(Buffer.from("age-encryption.org/v1\n-> X25519"));
    expect(code(cut.error)).toBe("ERR_INVALID_STREAM");
  });
  it("refuses a header over 1 MiB instead of buffering it", async () => {
    const { error } = await open(Buffer.alloc(2 << 20, 0x41), 64 * 1024);
    expect(code(error)).toBe("ERR_INVALID_STREAM");
  });
});

describe("keys", () => {
  it("parse ∘ format is identity and the secret is redacted", () => {
    const secret = formatIdentityInsecure(id);
    expect(secret).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    const again = parseIdentity(secret);
    expect(again.recipient.toString()).toBe(id.recipient.toString());
    expect(parseRecipient(id.recipient.toString()).publicKey).toEqual(id.recipient.publicKey);
    for (const shown of [inspect(id), JSON.stringify(id), String(id), inspect({ id }, { depth: 5 })]) {
      expect(shown).not.toContain(secret);
      expect(shown).not.toContain(secret.slice(16, 40).toLowerCase());
    }
  });
  it("the age spec's X25519 example pair matches", () => {
    const spec = parseIdentity("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX");
    expect(spec.recipient.toString()).toBe("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj");
  });
  it("bad strings are refused; secrets are never echoed, public recipients are", () => {
    const secret = formatIdentityInsecure(id);
    const bad = `${secret.slice(0, -1)}${secret.endsWith("Q") ? "P" : "Q"}`;
    expect(() => parseIdentity(bad)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_KEY", message: expect.not.stringContaining(bad) }),
    );
    expect(() => parseRecipient("age1nope")).toThrow(
      '"age1nope" is not an age X25519 recipient (age1… Bech32 of 32 bytes)',
    );
    expect(() => parseRecipient(id.recipient.toString().toUpperCase())).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_KEY" }),
    );
  });
});

describe("Bech32 (BIP-173 vectors)", () => {
  const valid = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
  ];
  const invalid = [
    "\x201nwldj5", // HRP character out of range
    "\x7f1axkwrx",
    "pzry9x0s0muk", // no separator
    "1pzry9x0s0muk", // empty HRP
    "x1b4n0q5v", // invalid data character
    "li1dgmt3", // too short checksum
    "de1lg7wt\xff", // invalid character in checksum
    "A1G7SGD8", // checksum calculated with uppercase form of HRP
    "10a06t8", // empty HRP
    "1qzzfhee", // empty HRP
    "A12uEL5L", // mixed case
  ];
  for (const s of valid)
    it(`accepts ${JSON.stringify(s.slice(0, 20))}`, () => expect(bech32DecodeWords(s)).toBeDefined());
  for (const s of invalid) it(`refuses ${JSON.stringify(s)}`, () => expect(bech32DecodeWords(s)).toBeUndefined());
  it("refuses non-zero padding bits when converting to bytes", () => {
    expect(bech32Decode("a12uel5l")?.bytes.length).toBe(0);
  });
});
