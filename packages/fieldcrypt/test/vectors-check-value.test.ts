/**
 * Key check values (spec/keys-v1.md) against spec/vectors/keys/check-values.json, whose values were
 * computed by Python's hmac/hashlib, not by fieldcrypt: the internal function and `key.checkValue`
 * of a keyring built from the same bytes.
 */
import { createSecretKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkValueOf, isCheckValue } from "../src/keyring/check-value.js";
import { createKeyring } from "../src/keyring/index.js";

interface Vectors {
  readonly label: string;
  readonly cases: readonly { name: string; key: string; checkValue: string }[];
}

const vectors = JSON.parse(
  readFileSync(new URL("../../../spec/vectors/keys/check-values.json", import.meta.url), "utf8"),
) as Vectors;

describe("key check value vectors (made by Python's hmac)", () => {
  it("has the label of the spec and at least four cases", () => {
    expect(vectors.label).toBe("fieldcrypt-v1-key-check-value");
    expect(vectors.cases.length).toBeGreaterThanOrEqual(4);
  });

  for (const c of vectors.cases) {
    it(`${c.name}: checkValueOf and key.checkValue give the vector's value`, () => {
      const bytes = Buffer.from(c.key, "hex");
      expect(checkValueOf(createSecretKey(bytes))).toBe(c.checkValue);
      expect(isCheckValue(c.checkValue)).toBe(true);
      const ring = createKeyring([{ id: "k", secret: new Uint8Array(bytes), primary: true }]);
      expect(ring.get("k")?.checkValue).toBe(c.checkValue);
    });
  }

  it("is not a check value: other prefixes, lengths and alphabets", () => {
    for (const bad of [
      "kcv2:x7Qz5MfT2CWn1vdMBAv-LA",
      "kcv1:x7Qz5MfT2CWn1vdMBAv-L",
      "kcv1:x7Qz5MfT2CWn1vdMBAv+LA",
      "",
      7,
    ]) {
      expect(isCheckValue(bad)).toBe(false);
    }
  });
});
