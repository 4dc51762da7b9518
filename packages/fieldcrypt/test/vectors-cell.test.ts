/**
 * The frozen cell format v1 vectors (spec/vectors/cell-v1.json, made by scripts/generate-vectors.mjs)
 * run through the public API: every case's outcome, the header inspectCell reports, and, for valid
 * cases, that encrypting the same value with the case's nonce gives the identical cell.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { encryptWithNonce } from "../src/cell/encrypt.js";
import { type CellContext, type CellValue, decrypt, inspectCell, isCell, type RowKeyPart } from "../src/cell/index.js";
import { isFieldcryptError } from "../src/errors/index.js";
import { createKeyring, type Keyring } from "../src/keyring/index.js";

/**
 * SHA-256 of the vector file. The vectors are frozen: a change to the format needs a new version
 * and a new file, not an edit of this one. `node scripts/generate-vectors.mjs --check` must pass.
 */
const FROZEN_SHA256 = "16fe3fe33fd5a1e81d93a617e9669a69ecf5a4ecabd57f49438927dfe5a7f826";

type JsonContext = { table: string; column: string; scope?: string; rowKey?: RowKeyPart | RowKeyPart[] };
type Header = {
  form: "text" | "binary";
  version: 1;
  algorithm: "XAES-256-GCM" | "AES-256-GCM";
  keyId: string;
  type: string;
  payloadBytes: number;
  cellBytes: number;
};
type Expected = { type: string; value: unknown; iso?: string };
type VectorCase = {
  id: string;
  description: string;
  keys: Record<string, string>;
  keyScopes?: Record<string, string>;
  context: JsonContext;
  algorithm: "XAES-256-GCM" | "AES-256-GCM";
  form: "text" | "binary";
  cell: string;
  nonce?: string;
  result: "valid" | "decryption-failed" | "key-not-found" | "invalid-cell";
  error?: string;
  message?: string;
  expected?: Expected;
  payload?: string;
  header: Header | null;
};

const fileUrl = new URL("../../../spec/vectors/cell-v1.json", import.meta.url);
const raw = readFileSync(fileUrl);
const vectors = JSON.parse(raw.toString("utf8")) as { counts: Record<string, number>; cases: VectorCase[] };
const cases = vectors.cases;
const byResult = (result: VectorCase["result"]) => cases.filter((c) => c.result === result);

function keyringOf(c: VectorCase, primary?: string): Keyring {
  return createKeyring(
    Object.entries(c.keys).map(([id, secret]) => ({
      id,
      secret,
      scope: c.keyScopes?.[id],
      primary: id === primary,
    })),
  );
}

function cellOf(c: VectorCase): string | Buffer {
  return c.form === "binary" ? Buffer.from(c.cell, "hex") : c.cell;
}

function contextOf(c: VectorCase): CellContext {
  return { ...c.context };
}

/** The value a valid case decrypts to, rebuilt from its JSON encoding. */
function expectedValue(expected: Expected): CellValue {
  const v = expected.value;
  switch (expected.type) {
    case "string":
      return v as string;
    case "bytes":
      return Uint8Array.from(Buffer.from(v as string, "hex"));
    case "json":
      return v as CellValue;
    case "number":
      return typeof v === "number" ? v : v === "-0" ? -0 : Number(v);
    case "bigint":
      return BigInt(v as string);
    case "boolean":
      return v as boolean;
    case "date":
      return new Date(v as number);
    default:
      throw new Error(`unknown type ${expected.type}`);
  }
}

function expectSameValue(actual: unknown, expected: Expected): void {
  const want = expectedValue(expected);
  switch (expected.type) {
    case "string":
      expect(typeof actual).toBe("string");
      expect(actual).toBe(want);
      break;
    case "bytes":
      expect(actual).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(actual as Uint8Array).toString("hex")).toBe(expected.value);
      break;
    case "json":
      expect(actual).toStrictEqual(want);
      break;
    case "number":
      expect(typeof actual).toBe("number");
      expect(Object.is(actual, want)).toBe(true);
      break;
    case "bigint":
      expect(typeof actual).toBe("bigint");
      expect(actual).toBe(want);
      break;
    case "boolean":
      expect(actual).toBe(want);
      break;
    case "date":
      expect(actual).toBeInstanceOf(Date);
      expect((actual as Date).getTime()).toBe((want as Date).getTime());
      break;
  }
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error, got a value");
}

describe("cell format v1 vectors (spec/vectors/cell-v1.json)", () => {
  it("is the frozen file", () => {
    expect(createHash("sha256").update(raw).digest("hex")).toBe(FROZEN_SHA256);
  });

  it("has unique ids, consistent counts, and every kind of outcome", () => {
    expect(new Set(cases.map((c) => c.id)).size).toBe(cases.length);
    expect(vectors.counts.total).toBe(cases.length);
    for (const result of ["valid", "decryption-failed", "key-not-found", "invalid-cell"] as const) {
      expect(byResult(result).length).toBe(vectors.counts[result]);
      expect(byResult(result).length).toBeGreaterThan(0);
    }
    const types = new Set(byResult("valid").map((c) => c.expected?.type));
    expect([...types].sort()).toEqual(["bigint", "boolean", "bytes", "date", "json", "number", "string"]);
  });

  it.each(byResult("valid"))("valid: $id", (c) => {
    const keyring = keyringOf(c);
    const cell = cellOf(c);
    const context = contextOf(c);
    const expected = c.expected as Expected;
    expectSameValue(decrypt(keyring, cell, context), expected);

    expect(isCell(cell)).toBe(true);
    expect(inspectCell(cell)).toEqual(c.header);

    // Re-producible: the same key, context, options and nonce give the identical cell.
    const header = c.header as Header;
    const again = encryptWithNonce(
      keyringOf(c, header.keyId),
      expectedValue(expected),
      context,
      { algorithm: c.algorithm, form: c.form },
      Buffer.from(c.nonce as string, "hex"),
    );
    if (c.form === "binary") expect(Buffer.from(again as Buffer).toString("hex")).toBe(c.cell);
    else expect(again).toBe(c.cell);

    // Integer row-key parts bind as decimal strings: number, bigint and string spellings agree.
    const rowKey = c.context.rowKey;
    if (rowKey !== undefined) {
      const parts = Array.isArray(rowKey) ? rowKey : [rowKey];
      const asBigint = parts.map((p) => (typeof p === "number" ? BigInt(p) : p));
      const asString = parts.map((p) => String(p));
      expectSameValue(decrypt(keyring, cell, { ...context, rowKey: asBigint }), expected);
      expectSameValue(decrypt(keyring, cell, { ...context, rowKey: asString }), expected);
    }
  });

  it.each(cases.filter((c) => c.result !== "valid"))("$result: $id", (c) => {
    const cell = cellOf(c);
    const error = thrown(() => decrypt(keyringOf(c), cell, contextOf(c)));
    expect(isFieldcryptError(error)).toBe(true);
    expect((error as { code: string }).code).toBe(c.error);
    if (c.result === "decryption-failed") {
      expect((error as Error).message).toBe("decryption failed");
      expect(c.message).toBe("decryption failed");
      expect((error as Error).cause).toBeUndefined();
    }
    if (c.result === "key-not-found") {
      expect((error as Error).message).toBe(`key ${JSON.stringify(c.header?.keyId)} is not in the keyring`);
    }

    if (c.header === null) {
      expect(isCell(cell)).toBe(false);
      const inspectError = thrown(() => inspectCell(cell));
      expect((inspectError as { code: string }).code).toBe("ERR_INVALID_CELL");
    } else {
      expect(isCell(cell)).toBe(true);
      expect(inspectCell(cell)).toEqual(c.header);
    }
  });
});

describe("cell format v1 rules that vectors cannot carry", () => {
  const keyring = createKeyring([
    { id: "k1", secret: "FIELDCRYPT-SECRET-KEY-1-AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", primary: true },
  ]);
  const context = { table: "clinic_notes", column: "body" };

  it("never encrypts SQL NULL, and decrypts null to null", () => {
    expect(encryptWithNonce(keyring, null, context, undefined, undefined)).toBeNull();
    expect(decrypt(keyring, null, context)).toBeNull();
  });

  it("refuses a payload over 64 MiB with ERR_VALUE_TOO_LARGE before any key is used", () => {
    const header = Buffer.of(0xfc, 0x01, 0x01, 0x01, 0x02, 0x6b, 0x39); // key id "k9" is not in the keyring
    const cell = Buffer.concat([header, Buffer.alloc(24 + 64 * 1024 * 1024 + 1 + 16)]);
    const error = thrown(() => decrypt(keyring, cell, context));
    expect((error as { code: string }).code).toBe("ERR_VALUE_TOO_LARGE");
    expect(isCell(cell)).toBe(false);
  });
});
