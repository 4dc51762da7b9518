/**
 * Property tests (fast-check): every supported value round-trips to the same type under arbitrary
 * contexts, in both forms and both algorithms; two encryptions differ; the header reads back;
 * isCell tells cells from other strings and bytes; text and binary forms are the same bytes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CellContext,
  type CellValue,
  decrypt,
  encrypt,
  inspectCell,
  isCell,
  type RowKey,
  type RowKeyPart,
} from "../src/cell/index.js";
import { createKeyring } from "../src/keyring/index.js";
import { keyBytes, seal } from "./helpers.js";

const NUM_RUNS = 200;

const keyring = createKeyring([
  { id: "old.key-1", secret: keyBytes(0x0a) },
  { id: "prop_v2", secret: keyBytes(0x0b), primary: true },
  { id: "scoped", secret: keyBytes(0x0c), scope: "tenant-scoped", primary: true },
]);

const utf8Length = (s: string): number => Buffer.byteLength(s, "utf8");

/** Full-Unicode strings (any code point), well-formed by construction and checked. */
const unicodeString = (constraints: { minLength?: number; maxLength?: number } = {}) =>
  fc.string({ unit: "binary", ...constraints }).filter((s) => s.isWellFormed());

const contextString = unicodeString({ minLength: 1, maxLength: 40 }).filter((s) => utf8Length(s) <= 1024);

const rowKeyPart: fc.Arbitrary<RowKeyPart> = fc.oneof(
  contextString,
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.bigInt(),
);

const rowKey: fc.Arbitrary<RowKey | undefined> = fc.oneof(
  fc.constant(undefined),
  rowKeyPart,
  fc.array(rowKeyPart, { minLength: 1, maxLength: 4 }),
);

const context: fc.Arbitrary<CellContext> = fc.record(
  {
    scope: fc.oneof(contextString, fc.constant("tenant-scoped")),
    table: contextString,
    column: contextString,
    rowKey,
  },
  { requiredKeys: ["table", "column"] },
);

const form = fc.constantFrom("text" as const, "binary" as const);
const algorithm = fc.constantFrom("XAES-256-GCM" as const, "AES-256-GCM" as const);

/** Encrypts in the given form and algorithm, decrypts, and returns [cell, decrypted]. */
function roundTrip(
  value: CellValue,
  ctx: CellContext,
  f: "text" | "binary",
  alg: "XAES-256-GCM" | "AES-256-GCM",
): [string | Buffer, CellValue] {
  const cell =
    f === "binary"
      ? encrypt(keyring, value, ctx, { form: "binary", algorithm: alg })
      : encrypt(keyring, value, ctx, { algorithm: alg });
  if (f === "binary") expect(Buffer.isBuffer(cell)).toBe(true);
  else expect(typeof cell === "string" && cell.startsWith("fc1.")).toBe(true);
  return [cell, decrypt(keyring, cell, ctx)];
}

function expectedKeyId(ctx: CellContext): string {
  return ctx.scope === "tenant-scoped" ? "scoped" : "prop_v2";
}

describe("round trips", () => {
  it("strings (full Unicode, well-formed)", () => {
    fc.assert(
      fc.property(unicodeString({ maxLength: 200 }), context, form, algorithm, (value, ctx, f, alg) => {
        const [cell, out] = roundTrip(value, ctx, f, alg);
        expect(out).toBe(value);
        expect(inspectCell(cell)).toMatchObject({ type: "string", payloadBytes: utf8Length(value) });
      }),
      {
        numRuns: NUM_RUNS,
        examples: [
          ["\u{1F600}\u{10FFFF}\0é\uFEFF", { table: "t\u{1F600}", column: "\0", scope: "é" }, "text", "XAES-256-GCM"],
          ["", { table: "t", column: "c", rowKey: ["\u{10FFFF}", -1, -1n] }, "binary", "AES-256-GCM"],
        ],
      },
    );
  });

  it("the empty string is encrypted, not stored as NULL", () => {
    const ctx = { table: "t", column: "c" };
    const cell = encrypt(keyring, "", ctx);
    expect(typeof cell).toBe("string");
    expect(decrypt(keyring, cell, ctx)).toBe("");
    expect(encrypt(keyring, null, ctx)).toBeNull();
    expect(decrypt(keyring, null, ctx)).toBeNull();
  });

  it("Uint8Array (including views into a larger buffer) decrypts to the same bytes", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.nat({ max: 16 }),
        context,
        form,
        algorithm,
        (bytes, pad, ctx, f, alg) => {
          const backing = new Uint8Array(pad + bytes.length + pad).fill(0xee);
          backing.set(bytes, pad);
          const view = backing.subarray(pad, pad + bytes.length);
          const [cell, out] = roundTrip(view, ctx, f, alg);
          expect(out).toBeInstanceOf(Uint8Array);
          expect(Buffer.from(out as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
          expect(inspectCell(cell)).toMatchObject({ type: "bytes", payloadBytes: bytes.length });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("JSON objects and arrays (JSON.stringify semantics: -0 inside JSON becomes 0)", () => {
    const jsonContainer = fc
      .jsonValue()
      .filter((v): v is object => typeof v === "object" && v !== null) as fc.Arbitrary<CellValue>;
    fc.assert(
      fc.property(jsonContainer, context, form, algorithm, (value, ctx, f, alg) => {
        const [cell, out] = roundTrip(value, ctx, f, alg);
        const text = JSON.stringify(value);
        expect(out).toStrictEqual(JSON.parse(text));
        expect(JSON.stringify(out)).toBe(text);
        expect(Array.isArray(out)).toBe(Array.isArray(value));
        expect(inspectCell(cell)).toMatchObject({ type: "json", payloadBytes: utf8Length(text) });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("JSON: undefined members are dropped and -0 becomes 0, as JSON.stringify does", () => {
    const ctx = { table: "t", column: "c" };
    expect(decrypt(keyring, encrypt(keyring, { a: undefined, b: -0, c: [-0] } as never, ctx), ctx)).toStrictEqual({
      b: 0,
      c: [0],
    });
  });

  it("doubles, including -0, NaN and ±Infinity (compared with Object.is)", () => {
    const special = fc.constantFrom(-0, 0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);
    fc.assert(
      fc.property(fc.oneof(fc.double(), special), context, form, algorithm, (value, ctx, f, alg) => {
        const [cell, out] = roundTrip(value, ctx, f, alg);
        expect(Object.is(out, value)).toBe(true);
        expect(inspectCell(cell)).toMatchObject({ type: "number", payloadBytes: 8 });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("bigints", () => {
    fc.assert(
      fc.property(fc.bigInt(), context, form, algorithm, (value, ctx, f, alg) => {
        const [cell, out] = roundTrip(value, ctx, f, alg);
        expect(out).toBe(value);
        expect(inspectCell(cell)).toMatchObject({ type: "bigint", payloadBytes: value.toString().length });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("booleans", () => {
    fc.assert(
      fc.property(fc.boolean(), context, form, algorithm, (value, ctx, f, alg) => {
        const [cell, out] = roundTrip(value, ctx, f, alg);
        expect(out).toBe(value);
        expect(inspectCell(cell)).toMatchObject({ type: "boolean", payloadBytes: 1 });
      }),
      { numRuns: 50 },
    );
  });

  it("valid Dates (the whole ±8.64e15 ms range)", () => {
    const extremes = fc.constantFrom(new Date(8.64e15), new Date(-8.64e15), new Date(0), new Date(-1));
    fc.assert(
      fc.property(
        fc.oneof(fc.date({ noInvalidDate: true }), extremes),
        context,
        form,
        algorithm,
        (value, ctx, f, alg) => {
          const [cell, out] = roundTrip(value, ctx, f, alg);
          expect(out).toBeInstanceOf(Date);
          expect((out as Date).getTime()).toBe(value.getTime());
          expect(inspectCell(cell)).toMatchObject({ type: "date", payloadBytes: 8 });
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("cells", () => {
  const anyValue: fc.Arbitrary<CellValue> = fc.oneof(
    unicodeString({ maxLength: 50 }),
    fc.uint8Array({ maxLength: 50 }),
    fc.double(),
    fc.bigInt(),
    fc.boolean(),
    fc.date({ noInvalidDate: true }),
    fc.array(fc.jsonValue(), { maxLength: 5 }) as fc.Arbitrary<CellValue>,
  );

  it("two encryptions of the same value differ, and both decrypt", () => {
    fc.assert(
      fc.property(anyValue, context, form, algorithm, (value, ctx, f, alg) => {
        const a = seal(keyring, value, ctx, f, alg);
        const b = seal(keyring, value, ctx, f, alg);
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
        expect(decrypt(keyring, a, ctx)).toStrictEqual(decrypt(keyring, b, ctx));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("inspectCell reports form, version, algorithm, key id, type and sizes", () => {
    fc.assert(
      fc.property(anyValue, context, form, algorithm, (value, ctx, f, alg) => {
        const cell = seal(keyring, value, ctx, f, alg);
        const info = inspectCell(cell);
        const binary = typeof cell === "string" ? Buffer.from(cell.slice(4), "base64url") : cell;
        const keyId = expectedKeyId(ctx);
        const nonceBytes = alg === "XAES-256-GCM" ? 24 : 12;
        expect(info).toStrictEqual({
          form: f,
          version: 1,
          algorithm: alg,
          keyId,
          type: info.type,
          payloadBytes: binary.length - (5 + keyId.length + nonceBytes + 16),
          cellBytes: binary.length,
        });
        expect(info.payloadBytes).toBeGreaterThanOrEqual(0);
        const expectedType =
          typeof value === "string"
            ? "string"
            : value instanceof Uint8Array
              ? "bytes"
              : value instanceof Date
                ? "date"
                : Array.isArray(value)
                  ? "json"
                  : typeof value;
        expect(info.type).toBe(expectedType);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("isCell is true for cells in both forms", () => {
    fc.assert(
      fc.property(anyValue, context, form, algorithm, (value, ctx, f, alg) => {
        expect(isCell(seal(keyring, value, ctx, f, alg))).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it("isCell is false (and never throws) for strings not starting with fc1.", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), unicodeString(), fc.string({ unit: "binary" })), (s) => {
        fc.pre(!s.startsWith("fc1."));
        expect(isCell(s)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it("isCell is false (and never throws) for byte arrays not starting with 0xFC", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        fc.pre(bytes[0] !== 0xfc);
        expect(isCell(bytes)).toBe(false);
        expect(isCell(Buffer.from(bytes))).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it("isCell is false for values that are neither strings nor byte arrays", () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        fc.pre(typeof v !== "string" && !(v instanceof Uint8Array));
        expect(isCell(v)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("text form = fc1. + base64url of the binary form: same bytes, same layout, both decrypt", () => {
    fc.assert(
      fc.property(anyValue, context, algorithm, (value, ctx, alg) => {
        const text = encrypt(keyring, value, ctx, { algorithm: alg });
        const binary = encrypt(keyring, value, ctx, { form: "binary", algorithm: alg });
        const decoded = Buffer.from(text.slice(4), "base64url");
        // Parse ∘ serialize is the identity, in both directions.
        expect(`fc1.${decoded.toString("base64url")}`).toBe(text);
        expect(decoded.length).toBe(binary.length);
        expect(decoded.subarray(0, 5 + expectedKeyId(ctx).length)).toStrictEqual(
          binary.subarray(0, 5 + expectedKeyId(ctx).length),
        );
        expect(inspectCell(decoded)).toStrictEqual({ ...inspectCell(text), form: "binary" });
        expect(decrypt(keyring, decoded, ctx)).toStrictEqual(decrypt(keyring, text, ctx));
        const binaryAsText = `fc1.${binary.toString("base64url")}`;
        expect(decrypt(keyring, binaryAsText, ctx)).toStrictEqual(decrypt(keyring, binary, ctx));
        // A plain Uint8Array (not a Buffer) is a binary cell too.
        expect(decrypt(keyring, new Uint8Array(binary), ctx)).toStrictEqual(decrypt(keyring, binary, ctx));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("a binary cell read at an offset inside a larger buffer decrypts", () => {
    fc.assert(
      fc.property(anyValue, context, algorithm, fc.nat({ max: 64 }), (value, ctx, alg, pad) => {
        const binary = encrypt(keyring, value, ctx, { form: "binary", algorithm: alg });
        const backing = Buffer.alloc(pad + binary.length + pad, 0xfc);
        binary.copy(backing, pad);
        const view = backing.subarray(pad, pad + binary.length);
        expect(decrypt(keyring, view, ctx)).toStrictEqual(decrypt(keyring, binary, ctx));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
