// The C2SP CCTV age vectors (spec/vectors/stream/cctv-age): every kept file gives its expected
// outcome, and what was released before a payload failure matches the vector's payload hash.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decryptStream, generateIdentity, parseIdentity } from "../src/stream/index.js";
import { runThrough } from "./stream-helpers.js";

const dir = new URL("../../../spec/vectors/stream/cctv-age/", import.meta.url);
const EXPECTED_CODE: Record<string, string | undefined> = {
  success: undefined,
  "no match": "ERR_DECRYPTION_FAILED",
  "HMAC failure": "ERR_DECRYPTION_FAILED",
  "payload failure": "ERR_DECRYPTION_FAILED",
  "header failure": "ERR_INVALID_STREAM",
};

function parseVector(bytes: Buffer) {
  const split = bytes.indexOf("\n\n");
  const fields = new Map<string, string[]>();
  for (const line of bytes.subarray(0, split).toString("utf8").split("\n")) {
    const [k, v] = [line.slice(0, line.indexOf(": ")), line.slice(line.indexOf(": ") + 2)];
    fields.set(k, [...(fields.get(k) ?? []), v]);
  }
  let body = bytes.subarray(split + 2);
  if (fields.get("compressed")?.[0] === "zlib") body = inflateSync(body);
  return { fields, body };
}

const names = readdirSync(dir).filter((n) => n !== "SOURCE.md");

describe("C2SP CCTV age vectors", () => {
  it("are all present", () => expect(names.length).toBe(67));
  for (const name of names) {
    it(name, async () => {
      const { fields, body } = parseVector(readFileSync(new URL(name, dir)));
      const expect_ = fields.get("expect")?.[0] as string;
      const identities = (fields.get("identity") ?? []).map(parseIdentity);
      if (identities.length === 0) identities.push(generateIdentity());
      const { out, error } = await runThrough(decryptStream(identities), body, 4099);
      expect((error as { code?: string } | undefined)?.code, String(error)).toBe(EXPECTED_CODE[expect_]);
      if (fields.has("payload"))
        expect(createHash("sha256").update(out).digest("hex")).toBe(fields.get("payload")?.[0]);
      else expect(out.length).toBe(0);
    });
  }
});
