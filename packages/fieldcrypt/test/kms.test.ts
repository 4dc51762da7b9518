/**
 * The local root-key provider: round trip, one typed error for wrong AAD / wrong key / tampering /
 * truncation, a distinct message for another root key id, input validation, redaction.
 */
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { generateKeyString } from "../src/keyring/index.js";
import { localRootKey } from "../src/kms/index.js";
import { keyBytes, keyString, rejection } from "./helpers.js";

const ROOT = keyBytes(0x5a);
const AAD = Buffer.from("dk-1\0tenant-a");

describe("localRootKey", () => {
  const root = localRootKey("root-1", ROOT);

  it("round-trips a data key, with a fresh nonce per wrap", async () => {
    const dataKey = randomBytes(32);
    const a = await root.wrap(dataKey, AAD);
    const b = await root.wrap(dataKey, AAD);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(a.length).toBe(4 + 1 + 6 + 12 + 32 + 16);
    expect(Buffer.from(a).subarray(0, 11).toString("latin1")).toBe("FCW\x01\x06root-1");
    expect(Buffer.from(await root.unwrap(a, AAD)).equals(dataKey)).toBe(true);
    expect(Buffer.from(await root.unwrap(b, AAD)).equals(dataKey)).toBe(true);
    expect(Buffer.from(a).includes(dataKey)).toBe(false);
  });

  it("accepts a key string and bytes alike", async () => {
    const fromString = localRootKey("root-1", keyString(ROOT));
    const wrapped = await root.wrap(keyBytes(1), AAD);
    expect(Buffer.from(await fromString.unwrap(wrapped, AAD)).equals(keyBytes(1))).toBe(true);
    expect(localRootKey("r", generateKeyString()).id).toBe("r");
    expect(localRootKey("arn:aws:kms:eu-west-1:111122223333:key/abc", ROOT).id).toContain("arn:aws");
  });

  const FAILED_CODE = { code: "ERR_UNWRAP_FAILED", rootKeyId: "root-1" };
  const FAILED = { code: "ERR_UNWRAP_FAILED", message: 'root key "root-1" could not unwrap the data key' };

  it("wrong AAD, wrong key, tampering and truncation give one opaque error", async () => {
    const wrapped = Buffer.from(await root.wrap(keyBytes(7), AAD));
    const cases: Uint8Array[] = [];
    for (let bit = 0; bit < wrapped.length * 8; bit++) {
      const copy = Buffer.from(wrapped);
      copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
      // A flip in the id's length or bytes may name another (printable) root key id: same code.
      if (bit >= 8 * 4 && bit < 8 * 11) expect(await rejection(root.unwrap(copy, AAD))).toMatchObject(FAILED_CODE);
      else cases.push(copy);
    }
    for (let n = 0; n < wrapped.length; n++) cases.push(wrapped.subarray(0, n));
    for (const bad of cases) {
      const e = await rejection(root.unwrap(bad, AAD));
      expect({ code: e.code, message: e.message }).toEqual(FAILED);
      expect(e.cause).toBeUndefined();
    }
    for (const aad of [Buffer.from("dk-1\0tenant-b"), Buffer.alloc(0), Buffer.concat([AAD, Buffer.of(0)])]) {
      const e = await rejection(root.unwrap(wrapped, aad));
      expect({ code: e.code, message: e.message }).toEqual(FAILED);
    }
    const sameIdOtherKey = localRootKey("root-1", keyBytes(0x5b));
    const e = await rejection(sameIdOtherKey.unwrap(wrapped, AAD));
    expect({ code: e.code, message: e.message }).toEqual(FAILED);
  });

  it("names the root key a data key is wrapped with when it is another one", async () => {
    const wrapped = await localRootKey("root-0", keyBytes(0x11)).wrap(keyBytes(7), AAD);
    const e = await rejection(root.unwrap(wrapped, AAD));
    expect(e).toMatchObject({
      code: "ERR_UNWRAP_FAILED",
      message: 'the data key is wrapped by root key "root-0", not "root-1"',
      rootKeyId: "root-1",
    });
  });

  it("validates its arguments without echoing them", async () => {
    const secret = "FIELDCRYPT-SECRET-KEY-1-tooshort";
    expect(() => localRootKey("root-1", secret)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_KEY", message: expect.not.stringContaining("tooshort") }),
    );
    expect(() => localRootKey("root 1", ROOT)).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_KEY",
        message: "root key id must be 1-128 printable ASCII characters without spaces (got a string of 6 characters)",
      }),
    );
    expect(() => localRootKey("r", keyBytes(1).subarray(0, 16))).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_KEY", message: "root key r: key bytes must be 32 bytes (got 16)" }),
    );
    expect(await rejection(root.wrap("key" as never, AAD))).toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: "dataKey must be a Uint8Array (got string)",
    });
    expect(await rejection(root.wrap(Buffer.alloc(0), AAD))).toMatchObject({ code: "ERR_INVALID_OPTION" });
    expect(await rejection(root.unwrap(Buffer.alloc(60), "aad" as never))).toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: "aad must be a Uint8Array (got string)",
    });
  });

  it("redacts its key in inspect, JSON and toString", () => {
    const texts = [inspect(root), inspect({ nested: root }), JSON.stringify(root), String(root)];
    for (const text of texts) {
      expect(text).toContain("redacted");
      expect(text).not.toContain(ROOT.toString("hex"));
      expect(text).not.toContain(ROOT.toString("base64url"));
      expect(text).not.toContain("90, 90");
    }
    expect(JSON.parse(JSON.stringify(root))).toEqual({ id: "root-1", type: "local", material: "[redacted]" });
    expect(Object.keys(root)).toEqual(["id"]);
  });
});

describe("localRootKey options object", () => {
  it("takes { id, key } like every other provider; the deprecated positional form is the same key", async () => {
    const secret = generateKeyString();
    const byOptions = localRootKey({ id: "root-2026", key: secret });
    const positional = localRootKey("root-2026", secret);
    expect(byOptions.id).toBe("root-2026");
    const aad = Buffer.from("fieldcrypt_keys:dk-1");
    const wrapped = await byOptions.wrap(keyBytes(5), aad);
    expect(Buffer.from(await positional.unwrap(wrapped, aad))).toEqual(keyBytes(5));
  });

  it("refuses options without a key or with a bad id, naming the id only", () => {
    expect(() => localRootKey({ id: "root-1" } as never)).toThrow(expect.objectContaining({ code: "ERR_INVALID_KEY" }));
    expect(() => localRootKey({ id: "bad id!", key: generateKeyString() })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_KEY" }),
    );
    expect(() => localRootKey(null as never)).toThrow(expect.objectContaining({ code: "ERR_INVALID_KEY" }));
  });
});
